/**
 * llama.cpp's hand-written pre-tokenizer scanners (unicode.cpp's
 * unicode_regex_split_custom_*), ported line by line: each stands in for one
 * regex and must split exactly as llama.cpp's scanner does, including where
 * the scanner and the regex it replaces disagree.
 */
import { CPT_LETTER, CPT_MARK, CPT_NUMBER, CPT_WHITESPACE, toLower } from './unicode.ts';

/** A text under pre-tokenization: its code points and their category flags. */
export interface SplitText {
  readonly cpts: readonly number[];
  readonly flags: Uint16Array;
}

/** Refines a split: word lengths (in code points) in, finer word lengths out. */
export type Splitter = (t: SplitText, offsets: readonly number[]) => number[];

const OUT_OF_RANGE = -1;

/**
 * Runs a scanner over each chunk. The scanner sees code points and flags of
 * its chunk only (out of range: OUT_OF_RANGE and flags 0), like llama.cpp's
 * _get_cpt/_get_flags, and reports token ends through `add`.
 */
function perChunk(
  t: SplitText,
  offsets: readonly number[],
  scan: (
    cpt: (p: number) => number,
    flags: (p: number) => number,
    ini: number,
    end: number,
    add: (e: number) => number,
  ) => void,
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of offsets) {
    const ini = start;
    const end = start + len;
    start = end;
    let prevEnd = ini;
    const add = (e: number): number => {
      const n = e - prevEnd;
      if (n > 0) out.push(n);
      prevEnd = e;
      return n;
    };
    const cpt = (p: number) => (p >= ini && p < end ? t.cpts[p] : OUT_OF_RANGE);
    const flags = (p: number) => (p >= ini && p < end ? t.flags[p] : 0);
    scan(cpt, flags, ini, end, add);
  }
  return out;
}

const isLetter = (f: number) => (f & CPT_LETTER) !== 0;
const isNumber = (f: number) => (f & CPT_NUMBER) !== 0;
const isSpace = (f: number) => (f & CPT_WHITESPACE) !== 0;
const CR = 0x0d;
const LF = 0x0a;
const APOSTROPHE = 0x27;
const SPACE = 0x20;
const lower = (c: number) => (c === OUT_OF_RANGE ? c : toLower(c));

/**
 * Contractions 's 't 're 've 'm 'll 'd at p (case-insensitive when `fold`).
 * Returns the length matched (0, 2 or 3). Needs the next code point in range.
 */
function contraction(cpt: (p: number) => number, p: number, end: number, fold: boolean): number {
  if (cpt(p) !== APOSTROPHE || p + 1 >= end) return 0;
  const n1 = fold ? lower(cpt(p + 1)) : cpt(p + 1);
  if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) return 2; // s t m d
  if (p + 2 < end) {
    const n2 = fold ? lower(cpt(p + 2)) : cpt(p + 2);
    if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) return 3; // re ve ll
  }
  return 0;
}

/** GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
export const splitGpt2: Splitter = (t, offsets) =>
  perChunk(t, offsets, (cpt, flags, ini, end, add) => {
    for (let pos = ini; pos < end; ) {
      const c = cpt(pos);
      const f = flags(pos);
      const k = contraction(cpt, pos, end, false);
      if (k) {
        pos += add(pos + k);
        continue;
      }
      let f2 = c === SPACE ? flags(pos + 1) : f;
      if (isLetter(f2)) {
        pos += c === SPACE ? 1 : 0;
        while (isLetter(f2)) f2 = flags(++pos);
        add(pos);
        continue;
      }
      if (isNumber(f2)) {
        pos += c === SPACE ? 1 : 0;
        while (isNumber(f2)) f2 = flags(++pos);
        add(pos);
        continue;
      }
      if (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f2) {
        pos += c === SPACE ? 1 : 0;
        while (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f2) f2 = flags(++pos);
        add(pos);
        continue;
      }
      let spaces = 0;
      while (isSpace(flags(pos + spaces))) spaces++;
      if (spaces > 1 && cpt(pos + spaces) !== OUT_OF_RANGE) {
        pos += spaces - 1; // \s+(?!\S): leave the last space to the next word
        add(pos);
        continue;
      }
      if (spaces > 0) {
        pos += spaces;
        add(pos);
        continue;
      }
      add(++pos);
    }
  });

/**
 * The Llama 3 family scanner, parameterized like llama.cpp's three copies of it:
 * digits per token (3 for Llama 3, 1 for Qwen 2) and whether marks join letters (Qwen 3.5).
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
export function llama3Like(maxDigits: number, marksAreLetters: boolean): Splitter {
  const word = marksAreLetters ? CPT_LETTER | CPT_MARK : CPT_LETTER;
  return (t, offsets) =>
    perChunk(t, offsets, (cpt, flags, ini, end, add) => {
      for (let pos = ini; pos < end; ) {
        const c = cpt(pos);
        const f = flags(pos);
        const k = contraction(cpt, pos, end, true);
        if (k) {
          pos += add(pos + k);
          continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(c === CR || c === LF || isNumber(f))) {
          if (f & word || flags(pos + 1) & word) {
            pos++;
            while (flags(pos) & word) pos++;
            add(pos);
            continue;
          }
        }
        // \p{N}{1,maxDigits}
        if (isNumber(f)) {
          let from = pos;
          while (isNumber(flags(pos))) {
            if (++pos - from >= maxDigits) {
              add(pos);
              from = pos;
            }
          }
          add(pos);
          continue;
        }
        // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (note: llama.cpp tests the first code point's own flags here)
        const other = CPT_WHITESPACE | word | CPT_NUMBER;
        let f2 = c === SPACE ? flags(pos + 1) : f;
        if (!(f2 & other) && f) {
          pos += c === SPACE ? 1 : 0;
          while (!(f2 & other) && f2) f2 = flags(++pos);
          let c2 = cpt(pos);
          while (c2 === CR || c2 === LF) c2 = cpt(++pos);
          add(pos);
          continue;
        }
        let spaces = 0;
        let lastLineEnd = 0;
        while (isSpace(flags(pos + spaces))) {
          const c2 = cpt(pos + spaces);
          if (c2 === CR || c2 === LF) lastLineEnd = pos + spaces + 1;
          spaces++;
        }
        if (lastLineEnd > 0) {
          pos = lastLineEnd; // \s*[\r\n]+
          add(pos);
          continue;
        }
        if (spaces > 1 && cpt(pos + spaces) !== OUT_OF_RANGE) {
          pos += spaces - 1; // \s+(?!\S)
          add(pos);
          continue;
        }
        if (spaces > 0) {
          pos += spaces;
          add(pos);
          continue;
        }
        add(++pos);
      }
    });
}

/** Han code points, as llama.cpp's unicode_cpt_is_han. */
function isHan(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) ||
    (c >= 0x2b740 && c <= 0x2b81f) ||
    (c >= 0x2b820 && c <= 0x2ceaf) ||
    (c >= 0x2ceb0 && c <= 0x2ebef) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0x2f800 && c <= 0x2fa1f)
  );
}

/** Kimi K2: Han runs, then Llama-3-like words of non-Han letters with optional contractions. */
export const splitKimiK2: Splitter = (t, offsets) =>
  perChunk(t, offsets, (cpt, flags, ini, end, add) => {
    const nonHanLetter = (p: number) => isLetter(flags(p)) && !isHan(cpt(p));
    for (let pos = ini; pos < end; ) {
      const c = cpt(pos);
      const f = flags(pos);
      if (isHan(c)) {
        while (isHan(cpt(pos))) pos++;
        add(pos);
        continue;
      }
      const canLead = !(c === CR || c === LF || isLetter(f) || isNumber(f));
      if ((isLetter(f) && !isHan(c)) || (canLead && nonHanLetter(pos + 1))) {
        let lead = false;
        if (canLead) {
          lead = true;
          pos++;
        }
        let letters = false;
        while (nonHanLetter(pos)) {
          letters = true;
          pos++;
        }
        if (letters || (!lead && nonHanLetter(pos))) {
          if (!letters) pos++;
          while (nonHanLetter(pos)) pos++;
          pos += contraction(cpt, pos, end, true);
          add(pos);
          continue;
        }
        if (lead) pos--;
      }
      if (isNumber(f)) {
        let from = pos;
        while (isNumber(flags(pos))) {
          if (++pos - from >= 3) {
            add(pos);
            from = pos;
          }
        }
        add(pos);
        continue;
      }
      let f2 = c === SPACE ? flags(pos + 1) : f;
      if (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f2) {
        pos += c === SPACE ? 1 : 0;
        while (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f2) f2 = flags(++pos);
        let c2 = cpt(pos);
        while (c2 === CR || c2 === LF) c2 = cpt(++pos);
        add(pos);
        continue;
      }
      let spaces = 0;
      let lastLineEnd = 0;
      while (isSpace(flags(pos + spaces))) {
        const c2 = cpt(pos + spaces);
        if (c2 === CR || c2 === LF) lastLineEnd = pos + spaces + 1;
        spaces++;
      }
      if (lastLineEnd > 0) {
        pos = lastLineEnd;
        add(pos);
        continue;
      }
      if (spaces > 1 && cpt(pos + spaces) !== OUT_OF_RANGE) {
        pos += spaces - 1;
        add(pos);
        continue;
      }
      if (spaces > 0) {
        pos += spaces;
        add(pos);
        continue;
      }
      add(++pos);
    }
  });

/** AFMoE (and tiny_aya's digit rule): digit runs split into groups of three from the right. */
export const splitDigitGroups: Splitter = (t, offsets) =>
  perChunk(t, offsets, (_cpt, flags, ini, end, add) => {
    let prevEnd = ini;
    for (let pos = ini; pos < end; ) {
      if (isNumber(flags(pos))) {
        const from = pos;
        while (isNumber(flags(pos)) && pos < end) pos++;
        const count = pos - from;
        let at = from;
        if (count % 3) {
          add(at + (count % 3));
          at += count % 3;
        }
        while (at < from + count) {
          add(at + 3);
          at += 3;
        }
        prevEnd = pos;
        continue;
      }
      pos++;
    }
    if (prevEnd < end) add(end);
  });

/** [^\n]+|[\n]+ */
export const splitNewlineRuns: Splitter = (t, offsets) => {
  const out: number[] = [];
  let pos = 0;
  for (const len of offsets) {
    const end = pos + len;
    while (pos < end) {
      const nl = t.cpts[pos] === LF;
      const from = pos;
      while (pos < end && (t.cpts[pos] === LF) === nl) pos++;
      out.push(pos - from);
    }
  }
  return out;
};

/** llama.cpp's unicode_regex_split_custom: the patterns with a hand-written scanner. */
