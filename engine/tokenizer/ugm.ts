/**
 * Unigram (T5 / XLM-R style SentencePiece) as llama.cpp's llm_tokenizer_ugm
 * runs it: normalize with the model's precompiled character map (a
 * XOR-compressed double-array trie of replacements), escape spaces as "▁",
 * then find the tokenization with the best total score (Viterbi over byte
 * positions); code points no token covers become the unknown token, runs of
 * unknowns collapse into one.
 */
import { utf8Encode } from './unicode.ts';
import { ATTR_NORMAL, ATTR_UNUSED, ATTR_USER_DEFINED, type Vocab } from './vocab.ts';

const UNKNOWN_PENALTY = 10;
const ESCAPED_SPACE = [0xe2, 0x96, 0x81]; // ▁

/** A string's UTF-8 bytes as a binary string (one char per byte), which sorts in byte order. */
function byteString(text: string): string {
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  let s = '';
  for (const b of utf8Encode(text)) s += String.fromCharCode(b);
  return s;
}

function utf8Len(byte: number): number {
  const hi = byte >> 4;
  return hi < 0xc ? 1 : hi < 0xe ? 2 : hi === 0xe ? 3 : 4;
}

/**
 * The token texts (as byte strings) sorted, standing in for llama.cpp's trie:
 * the tokens that start with a given prefix form one contiguous range, which
 * narrows byte by byte; walking stops where the range empties, as the trie
 * walk stops where the path ends.
 */
class SortedTokens {
  readonly keys: string[];
  readonly ids: Int32Array;

  constructor(idOf: ReadonlyMap<string, number>) {
    // the default sort compares UTF-16 units: byte order for byte strings
    this.keys = [...idOf.keys()].sort();
    this.ids = Int32Array.from(this.keys, (k) => idOf.get(k)!);
  }

  /** First index in [lo, hi) whose byte at `depth` is >= c (a key ending before `depth` counts as -1). */
  lowerBound(lo: number, hi: number, depth: number, c: number): number {
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const k = this.keys[mid];
      const b = depth < k.length ? k.charCodeAt(depth) : -1;
      if (b < c) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class UgmTokenizer {
  private readonly sorted: SortedTokens;
  private readonly userDefined: Uint8Array[] = [];
  private readonly unknownScore: number;
  private readonly xcda: Uint32Array;
  private readonly replacements: Uint8Array;

  constructor(private readonly vocab: Vocab) {
    let min = Number.POSITIVE_INFINITY;
    // later ids win on duplicate texts, as in llama.cpp's trie
    const matchable = new Map<string, number>();
    vocab.tokens.forEach((text, id) => {
      const attr = vocab.attrs[id];
      if (attr & ATTR_NORMAL) min = Math.min(min, vocab.scores[id]);
      if (attr & (ATTR_NORMAL | ATTR_USER_DEFINED | ATTR_UNUSED)) matchable.set(byteString(text), id);
      if (attr & ATTR_USER_DEFINED) this.userDefined.push(utf8Encode(text));
    });
    this.sorted = new SortedTokens(matchable);
    this.unknownScore = (min === Number.POSITIVE_INFINITY ? 3.4028234663852886e38 : min) - UNKNOWN_PENALTY;

    const cm = vocab.precompiledCharsmap;
    if (cm && cm.length >= 4) {
      const view = new DataView(cm.buffer, cm.byteOffset, cm.byteLength);
      const blobSize = view.getUint32(0, true);
      const n = Math.floor(blobSize / 4);
      this.xcda = new Uint32Array(n);
      for (let i = 0; i < n; i++) this.xcda[i] = view.getUint32(4 + 4 * i, true);
      this.replacements = cm.subarray(4 + blobSize);
    } else {
      this.xcda = new Uint32Array(0);
      this.replacements = new Uint8Array(0);
    }
  }

  tokenize(text: string, out: number[]): void {
    const input = this.normalize(utf8Encode(text));
    const n = input.length;
    if (n === 0) return;
    const unk = this.vocab.unk;
    // best[i]: best tokenization of input[0, i): last token, where it starts, total score
    const bestToken = new Int32Array(n + 1).fill(unk);
    const bestStart = new Int32Array(n + 1);
    const bestScore = new Float64Array(n + 1).fill(-Number.MAX_VALUE);
    bestScore[0] = 0;
    for (let at = 0; at < n; ) {
      const charLen = Math.min(utf8Len(input[at]), n - at);
      const base = bestScore[at];
      let singleCharToken = false;
      const { keys, ids } = this.sorted;
      let lo = 0;
      let hi = keys.length;
      for (let end = at + 1; end <= n; end++) {
        const depth = end - at - 1;
        const c = input[end - 1];
        lo = this.sorted.lowerBound(lo, hi, depth, c);
        hi = this.sorted.lowerBound(lo, hi, depth, c + 1);
        if (lo >= hi) break; // no token continues this way
        if (keys[lo].length !== depth + 1) continue; // tokens extend it, none ends here
        const id = ids[lo];
        if (end - at === charLen) singleCharToken = true;
        const score = base + (this.vocab.attrs[id] & ATTR_USER_DEFINED ? 0 : this.vocab.scores[id]);
        if (score > bestScore[end]) {
          bestScore[end] = score;
          bestToken[end] = id;
          bestStart[end] = at;
        }
      }
      if (!singleCharToken) {
        const end = at + charLen;
        const score = base + this.unknownScore;
        if (score > bestScore[end]) {
          bestScore[end] = score;
          bestToken[end] = unk;
          bestStart[end] = at;
        }
      }
      at += charLen;
    }
    const reversed: number[] = [];
    let prevUnknown = false;
    for (let i = n; ; i = bestStart[i]) {
      const isUnknown = bestToken[i] === unk;
      if (!(prevUnknown && isUnknown)) reversed.push(bestToken[i]);
      if (bestStart[i] === 0) break;
      prevUnknown = isUnknown;
    }
    for (let i = reversed.length - 1; i >= 0; i--) out.push(reversed[i]);
  }

  /** SentencePiece normalization: the charsmap, then space escaping, prefixing and merging. */
  private normalize(input: Uint8Array): number[] {
    const v = this.vocab;
    const space = [0x20];
    const spaceBytes = v.escapeWhitespaces ? ESCAPED_SPACE : space;
    const prepend = !v.treatWhitespaceAsSuffix && v.addSpacePrefix;
    const append = v.treatWhitespaceAsSuffix && v.addSpacePrefix;
    const merge = v.removeExtraWhitespaces;
    const out: number[] = [];
    let spacePrepended = false;
    let inWord = false;
    for (let at = 0; at < input.length; ) {
      const [piece, consumed] = this.normalizePrefix(input, at);
      for (const c of piece) {
        if (c !== 0x20) {
          if (!inWord) {
            inWord = true;
            if ((prepend && !spacePrepended) || merge) {
              out.push(...spaceBytes);
              spacePrepended = true;
            }
          }
          out.push(c);
        } else {
          inWord = false;
          if (!merge) out.push(...spaceBytes);
        }
      }
      at += consumed;
    }
    if (append) out.push(...spaceBytes);
    return out;
  }

  /** The normalized form of the longest prefix at `at`, and how many input bytes it consumed. */
  private normalizePrefix(input: Uint8Array, at: number): [Uint8Array, number] {
    // user-defined tokens pass through (llama.cpp takes the longest trie path, even a partial one)
    let userLen = 0;
    for (const t of this.userDefined) {
      let k = 0;
      while (k < t.length && at + k < input.length && input[at + k] === t[k]) k++;
      userLen = Math.max(userLen, k);
    }
    if (userLen > 0) return [input.subarray(at, at + userLen), userLen];

    let longest = 0;
    let replacementAt = 0;
    const xcda = this.xcda;
    if (xcda.length > 0) {
      const base = (i: number) => (xcda[i] >>> 10) * (xcda[i] & (1 << 9) ? 256 : 1);
      let node = base(0);
      for (let p = at; p < input.length; p++) {
        const c = input[p];
        if (c === 0) break;
        node ^= c;
        if (node >= xcda.length || (xcda[node] & 0x800000ff) >>> 0 !== c) break;
        const leaf = (xcda[node] >>> 8) & 1;
        node ^= base(node);
        if (node >= xcda.length) break;
        if (leaf) {
          longest = p - at + 1;
          replacementAt = xcda[node] & 0x7fffffff;
        }
      }
    }
    if (longest > 0) {
      let end = replacementAt;
      while (end < this.replacements.length && this.replacements[end] !== 0) end++;
      return [this.replacements.subarray(replacementAt, end), longest];
    }
    const len = Math.min(utf8Len(input[at]), input.length - at);
    return [input.subarray(at, at + len), len];
  }
}
