/**
 * WordPiece (BERT) as llama.cpp's llm_tokenizer_wpm_session runs it.
 *
 * Normalize and split: (optionally) replace each code point by the first code
 * point of its NFD form and drop accent marks, lowercase, split on white space,
 * and make every punctuation mark, ASCII symbol and CJK ideograph a word of its
 * own; control characters, U+0000 and U+FFFD vanish. Then each word, prefixed
 * with "▁" (GGUF conversion turns BERT's "##" continuation convention into "▁"
 * word starts), is covered greedily by the longest matching tokens; a word that
 * cannot be covered becomes a single unknown token.
 */
import {
  CPT_CONTROL,
  CPT_MARK,
  CPT_PUNCTUATION,
  CPT_SYMBOL,
  CPT_WHITESPACE,
  codepointsOf,
  cptFlags,
  nfdFirstCodepoint,
  toLower,
  utf8Length,
} from './unicode.ts';
import type { Vocab } from './vocab.ts';

function isChineseChar(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) ||
    (c >= 0x2b740 && c <= 0x2b81f) ||
    (c >= 0x2b920 && c <= 0x2ceaf) || // sic: HF's range, not 0x2B820
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0x2f800 && c <= 0x2fa1f)
  );
}

/** Words as code point arrays. */
export function wpmPreprocess(text: string, lowercase: boolean, stripAccents: boolean): number[][] {
  const words: number[][] = [[]];
  const last = () => words[words.length - 1];
  for (let c of codepointsOf(text)) {
    if (stripAccents) c = nfdFirstCodepoint(c);
    const flags = cptFlags(c);
    if (flags & CPT_WHITESPACE) {
      if (last().length) words.push([]);
      continue;
    }
    if (c === 0 || c === 0xfffd || flags & CPT_CONTROL) continue;
    if (stripAccents && flags & CPT_MARK) continue;
    const out = lowercase ? toLower(c) : c;
    if (flags & CPT_PUNCTUATION || (c < 0x7f && flags & CPT_SYMBOL) || isChineseChar(c)) {
      if (last().length) words.push([]);
      words[words.length - 1] = [out];
      words.push([]);
    } else {
      last().push(out);
    }
  }
  if (!last().length) words.pop();
  return words;
}

const WORD_START = 0x2581; // ▁

export function wpmTokenize(vocab: Vocab, text: string, out: number[]): void {
  for (const word of wpmPreprocess(text, vocab.lowercase, vocab.stripAccents)) {
    if (word.length === 0) continue;
    const cps = [WORD_START, ...word];
    const str = String.fromCodePoint(...cps);
    // UTF-16 offset and UTF-8 byte offset of each code point boundary
    const unitAt = new Int32Array(cps.length + 1);
    const byteAt = new Int32Array(cps.length + 1);
    for (let k = 0; k < cps.length; k++) {
      unitAt[k + 1] = unitAt[k] + (cps[k] > 0xffff ? 2 : 1);
      byteAt[k + 1] = byteAt[k] + utf8Length(cps[k]);
    }
    const before = out.length;
    for (let i = 0; i < cps.length; ) {
      // longest candidate first: at most max_token_len + 1 bytes, llama.cpp's byte-based bound
      let j = i;
      while (j < cps.length && byteAt[j + 1] - byteAt[i] <= vocab.maxTokenLen + 1) j++;
      let matched = false;
      for (; j > i; j--) {
        const id = vocab.tokenToId.get(str.slice(unitAt[i], unitAt[j]));
        if (id !== undefined) {
          out.push(id);
          matched = true;
          i = j;
          break;
        }
      }
      if (!matched) {
        out.length = before; // discard the whole word
        break;
      }
    }
    if (out.length === before) out.push(vocab.unk);
  }
}
