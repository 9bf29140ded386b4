/**
 * SentencePiece BPE as llama.cpp's llm_tokenizer_spm_session runs it: start
 * from single characters, repeatedly merge the adjacent pair whose merged text
 * is the vocabulary token with the highest score (ties: leftmost), then map
 * each final piece to its token, or to <0xXX> byte tokens when it has none.
 *
 * The text arrives with spaces already escaped to "▁" (and the leading space
 * added when the vocab asks for it); that is the caller's job.
 */
import { Heap } from './heap.ts';
import { utf8Encode } from './unicode.ts';
import type { Vocab } from './vocab.ts';

interface Symbol {
  /** [start, end) in UTF-16 units of the text; end === start once merged away. */
  start: number;
  end: number;
  prev: number;
  next: number;
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  /** Text length (UTF-16 units) when queued: stale if the pair has changed since. */
  size: number;
}

const higherScoreFirst = (a: Bigram, b: Bigram) => a.score > b.score || (a.score === b.score && a.left < b.left);

export function spmTokenize(vocab: Vocab, text: string, out: number[]): void {
  // one symbol per code point
  const symbols: Symbol[] = [];
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    const n = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
    const index = symbols.length;
    symbols.push({ start: i, end: i + n, prev: index - 1, next: i + n >= text.length ? -1 : index + 1 });
    i += n;
  }
  if (symbols.length === 0) return;

  const queue = new Heap<Bigram>(higherScoreFirst);
  const tryAddBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const size = symbols[right].end - symbols[left].start;
    const id = vocab.tokenToId.get(text.slice(symbols[left].start, symbols[right].end));
    if (id === undefined) return;
    queue.push({ left, right, score: vocab.scores[id], size });
  };

  for (let i = 1; i < symbols.length; i++) tryAddBigram(i - 1, i);

  for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
    const left = symbols[b.left];
    const right = symbols[b.right];
    // skip pairs of which one side was merged since
    if (left.end === left.start || right.end === right.start) continue;
    if (right.end - left.start !== b.size || left.end !== right.start) continue;
    left.end = right.end;
    right.end = right.start;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    tryAddBigram(left.prev, b.left);
    tryAddBigram(b.left, left.next);
  }

  for (let i = 0; i !== -1; i = symbols[i].next) {
    const piece = text.slice(symbols[i].start, symbols[i].end);
    const id = vocab.tokenToId.get(piece);
    if (id !== undefined) out.push(id);
    else for (const byte of utf8Encode(piece)) out.push(byteToken(vocab, byte));
  }
}

const HEX = '0123456789ABCDEF';

/** llama_vocab::byte_to_token for SPM: "<0xXX>", else the byte itself as a token, else unk. */
export function byteToken(vocab: Vocab, byte: number): number {
  const id = vocab.tokenToId.get(`<0x${HEX[byte >> 4]}${HEX[byte & 15]}>`);
  if (id !== undefined) return id;
  if (byte < 0x80) {
    const single = vocab.tokenToId.get(String.fromCharCode(byte));
    if (single !== undefined) return single;
  }
  return vocab.unk;
}
