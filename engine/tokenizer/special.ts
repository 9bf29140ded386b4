/**
 * Special-token partitioning, llama.cpp's tokenizer_st_partition: before any
 * model-specific tokenization, occurrences of special tokens' texts are cut out
 * of the input and become those tokens. Tokens are tried longest text first.
 *
 * Which tokens: with parseSpecial, control, user-defined and unknown tokens;
 * without it, user-defined tokens only (as Hugging Face tokenizers do, where
 * added tokens are always split out). A token with the lstrip/rstrip attribute
 * also swallows the white space (C isspace) on that side.
 */
import { ATTR_CONTROL, ATTR_LSTRIP, ATTR_RSTRIP, ATTR_UNKNOWN, type Vocab } from './vocab.ts';

/** Raw text, or a token id already decided. */
export type Fragment = string | number;

const isCSpace = (code: number) => code === 0x20 || (code >= 0x09 && code <= 0x0d);

export function partitionSpecial(vocab: Vocab, text: string, parseSpecial: boolean): Fragment[] {
  if (text === '') return [];
  let fragments: Fragment[] = [text];
  for (const id of vocab.specialTokens) {
    const attr = vocab.attrs[id];
    if (!parseSpecial && attr & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
    const needle = vocab.tokens[id];
    if (!fragments.some((f) => typeof f === 'string' && f.includes(needle))) continue;
    const next: Fragment[] = [];
    for (const fragment of fragments) {
      if (typeof fragment !== 'string') {
        next.push(fragment);
        continue;
      }
      let rest = fragment;
      for (;;) {
        const at = rest.indexOf(needle);
        if (at < 0) {
          if (rest) next.push(rest);
          break;
        }
        let leftEnd = at;
        if (attr & ATTR_LSTRIP) while (leftEnd > 0 && isCSpace(rest.charCodeAt(leftEnd - 1))) leftEnd--;
        if (leftEnd > 0) next.push(rest.slice(0, leftEnd));
        next.push(id);
        let rightStart = at + needle.length;
        if (attr & ATTR_RSTRIP) while (rightStart < rest.length && isCSpace(rest.charCodeAt(rightStart))) rightStart++;
        rest = rest.slice(rightStart);
      }
    }
    fragments = next;
  }
  return fragments;
}
