/**
 * Token -> bytes, as llama.cpp's token_to_piece and detokenize produce them.
 */
import { codepointsOf, UNICODE_TO_BYTE, utf8Encode } from './unicode.ts';
import { ATTR_BYTE, ATTR_CONTROL, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_USER_DEFINED, type Vocab } from './vocab.ts';

const EMPTY = new Uint8Array(0);

/**
 * The piece of a token with special=true (llama.cpp caches exactly this):
 * special tokens as their text; normal tokens with "▁" turned back into spaces
 * (SPM, WPM, UGM, SPM-style BPE) or decoded from GPT-2's byte alphabet (BPE);
 * byte tokens <0xXX> as that byte; anything else (unused, undefined) as nothing.
 */
export function computePiece(vocab: Vocab, id: number): Uint8Array {
  const attr = vocab.attrs[id];
  const text = vocab.tokens[id];
  if (attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) return utf8Encode(text);
  if (attr & ATTR_NORMAL) {
    if (vocab.type === 'bpe' && !vocab.escapeWhitespaces) return decodeByteLevel(text);
    return utf8Encode(text.replaceAll('\u2581', ' '));
  }
  if (attr & ATTR_BYTE && vocab.type !== 'wpm') return Uint8Array.of(Number.parseInt(text.slice(3, 5), 16) & 0xff);
  return EMPTY;
}

/** GPT-2 byte-level text back to bytes; a character outside the alphabet shows as [UNK_BYTE_0x..]. */
function decodeByteLevel(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const c of codepointsOf(text)) {
    const b = UNICODE_TO_BYTE.get(c);
    if (b !== undefined) {
      bytes.push(b);
      continue;
    }
    const ch = utf8Encode(String.fromCodePoint(c));
    const hex = Array.from(ch, (x) => x.toString(16).padStart(2, '0')).join('');
    for (const x of utf8Encode(`[UNK_BYTE_0x${hex}${text}]`)) bytes.push(x);
  }
  return Uint8Array.from(bytes);
}

const SPACE = 0x20;
const QUOTE = 0x27;

/**
 * clean_up_tokenization_spaces as llama.cpp's detokenize applies it, in place:
 * " ?" " !" " ." " ," lose the space, " ' " becomes "'", and " 's" " 'm" " 're"
 * " 've" lose the space. Returns the new length.
 */
export function cleanSpaces(text: number[]): number {
  let total = text.length;
  // first pass: " ?", " !", " .", " ,"
  const total1 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total1; i++) {
    const x = text[i];
    if (text[i - 1] === SPACE && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
    text[total++] = x;
  }
  // second pass: a lone apostrophe between spaces
  const total2 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total2; i++) {
    const x = text[i];
    if (x === QUOTE && i + 1 < total2 && text[i - 1] === SPACE && text[i + 1] === SPACE) {
      total--;
      text[++i] = 0;
    }
    text[total++] = x;
  }
  // third pass: contractions
  const total3 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total3; i++) {
    const x = text[i];
    if (text[i - 1] === SPACE && x === QUOTE && i + 1 < total3) {
      const x1 = text[i + 1];
      if (x1 === 0x74 || x1 === 0x64) {
        // " 't", " 'd": kept
      } else if (x1 === 0x73 || x1 === 0x6d) {
        total--; // " 's", " 'm"
      } else if (i + 2 < total3) {
        const x2 = text[i + 2];
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) total--; // " 're", " 've"
      }
    }
    text[total++] = x;
  }
  return total;
}
