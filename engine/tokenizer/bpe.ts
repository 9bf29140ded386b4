/**
 * Byte-level BPE as llama.cpp's llm_tokenizer_bpe_session runs it: pre-tokenize
 * into words, then within each word repeatedly merge the adjacent pair with the
 * lowest merge rank (ties: leftmost), and map the final pieces to tokens.
 * Results are memoized per word: BPE never merges across words.
 */
import { Heap } from './heap.ts';
import { preTokenizerUsesByteEncoding } from './pre-table.ts';
import { preTokenize } from './pretokenize.ts';
import { CPT_WHITESPACE, codepointsOf, cptFlags, toLower, utf8Encode } from './unicode.ts';
import { mergeKey, type Vocab } from './vocab.ts';

interface Bigram {
  left: number;
  right: number;
  rank: number;
  /** End of the right symbol when queued: stale if it has grown since. */
  end: number;
}

const lowerRankFirst = (a: Bigram, b: Bigram) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

const HEX = '0123456789ABCDEF';
const WORD_CACHE_LIMIT = 50_000;
/** Longer words (a whole line for SPM-style BPE) are not worth keeping. */
const CACHED_WORD_MAX = 256;

export class BpeTokenizer {
  private readonly byteEncoded: boolean;
  private readonly cache = new Map<string, readonly number[]>();

  constructor(private readonly vocab: Vocab) {
    this.byteEncoded = preTokenizerUsesByteEncoding(vocab.preTokenizer);
  }

  tokenize(text: string, out: number[]): void {
    if (this.vocab.model === 'whitespace') this.tokenizeSegments(text, out);
    else this.tokenizeText(text, out);
  }

  /**
   * The 'whitespace' tokenizer model (jina-embeddings-v2-base-zh): white space
   * only separates segments and is dropped; each segment, lowercased if the
   * normalizer says so, is tokenized on its own.
   */
  private tokenizeSegments(text: string, out: number[]): void {
    let segment = '';
    for (const c of codepointsOf(text)) {
      if (cptFlags(c) & CPT_WHITESPACE) {
        if (segment) this.tokenizeText(segment, out);
        segment = '';
      } else segment += String.fromCodePoint(this.vocab.lowercase ? toLower(c) : c);
    }
    if (segment) this.tokenizeText(segment, out);
  }

  private tokenizeText(text: string, out: number[]): void {
    for (const word of preTokenize(text, this.vocab.preTokenizer)) {
      let ids = this.cache.get(word);
      if (!ids) {
        ids = this.tokenizeWord(word);
        if (word.length <= CACHED_WORD_MAX) {
          if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
          this.cache.set(word, ids);
        }
      }
      for (const id of ids) out.push(id);
    }
  }

  private tokenizeWord(word: string): number[] {
    const vocab = this.vocab;
    const out: number[] = [];
    const whole = vocab.tokenToId.get(word);
    // ignore_merges: a word that is a token is that token (Llama 3 and others)
    if (whole !== undefined && vocab.ignoreMerges) return [whole];
    // Gemma 4: a run of newlines that is a token stays whole
    if (whole !== undefined && vocab.preTokenizer === 'gemma4' && /^\n+$/.test(word)) return [whole];

    // symbols: one per code point, as [start, end) spans of the word
    const starts: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < word.length; ) {
      const c = word.charCodeAt(i);
      const n = c >= 0xd800 && c <= 0xdbff && i + 1 < word.length ? 2 : 1;
      starts.push(i);
      ends.push(i + n);
      i += n;
    }
    const count = starts.length;
    const prev = Array.from({ length: count }, (_, i) => i - 1);
    const next = Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));

    const queue = new Heap<Bigram>(lowerRankFirst);
    const addBigram = (left: number, right: number) => {
      if (left === -1 || right === -1) return;
      const key = mergeKey(word.slice(starts[left], ends[left]), word.slice(starts[right], ends[right]));
      const rank = key === undefined ? undefined : vocab.bpeRanks.get(key);
      if (rank === undefined) return;
      queue.push({ left, right, rank, end: ends[right] });
    };
    for (let i = 1; i < count; i++) addBigram(i - 1, i);

    for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
      const { left, right } = b;
      if (ends[left] === starts[left] || ends[right] === starts[right]) continue;
      if (ends[left] !== starts[right] || ends[right] !== b.end) continue; // outdated pair
      ends[left] = ends[right];
      ends[right] = starts[right];
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      addBigram(prev[left], left);
      addBigram(left, next[left]);
    }

    for (let i = 0; i < count; i++) {
      if (ends[i] === starts[i]) continue;
      const piece = word.slice(starts[i], ends[i]);
      const id = vocab.tokenToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // No token for the piece: fall back to its bytes. Byte-level vocabs can only
      // match ASCII bytes this way (llama.cpp looks up each raw byte as a string);
      // SPM-style BPE (Gemma 4) has <0xXX> byte tokens.
      for (const byte of utf8Encode(piece)) {
        const fallback = this.byteEncoded
          ? byte < 0x80
            ? vocab.tokenToId.get(String.fromCharCode(byte))
            : undefined
          : vocab.tokenToId.get(`<0x${HEX[byte >> 4]}${HEX[byte & 15]}>`);
        if (fallback !== undefined) out.push(fallback);
      }
    }
    return out;
  }
}
