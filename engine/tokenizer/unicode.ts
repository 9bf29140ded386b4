/**
 * Code point classification exactly as llama.cpp's unicode.cpp does it: one
 * category flag per code point from llama.cpp's own table (see unicode-data.ts
 * for why not JS's \p{...}), plus a white-space bit, simple lowercase mapping
 * and the "first code point of NFD" mapping that its BERT normalizer uses.
 */
import { FLAG_RANGES, LOWERCASE, NFD_RANGES, WHITESPACE } from './unicode-data.ts';

export const CPT_UNDEFINED = 0x0001;
export const CPT_NUMBER = 0x0002; // \p{N}
export const CPT_LETTER = 0x0004; // \p{L}
export const CPT_SEPARATOR = 0x0008; // \p{Z}
export const CPT_MARK = 0x0010; // \p{M}
export const CPT_PUNCTUATION = 0x0020; // \p{P}
export const CPT_SYMBOL = 0x0040; // \p{S}
export const CPT_CONTROL = 0x0080; // \p{C}
export const CPT_CATEGORIES = 0x00ff;
export const CPT_WHITESPACE = 0x0100; // \s as llama.cpp defines it

export const MAX_CODEPOINT = 0x10ffff;

function parseRows(s: string): number[][] {
  return s.split(',').map((row) => row.split('.').map((n) => Number.parseInt(n, 36)));
}

// Flags: a direct table for the BMP (hot path) and sorted ranges above it.
let bmpFlags: Uint16Array | undefined;
let rangeStarts: Uint32Array;
let rangeFlags: Uint16Array;

function buildFlags(): Uint16Array {
  const rows = parseRows(FLAG_RANGES);
  rangeStarts = new Uint32Array(rows.length);
  rangeFlags = new Uint16Array(rows.length);
  let start = 0;
  rows.forEach(([delta, flags], i) => {
    start += delta;
    rangeStarts[i] = start;
    rangeFlags[i] = flags;
  });
  const bmp = new Uint16Array(0x10000);
  for (let i = 0; i < rows.length && rangeStarts[i] < 0x10000; i++) {
    const end = i + 1 < rows.length ? Math.min(rangeStarts[i + 1], 0x10000) : 0x10000;
    bmp.fill(rangeFlags[i], rangeStarts[i], end);
  }
  for (const c of WHITESPACE.split(',')) bmp[Number.parseInt(c, 16)] |= CPT_WHITESPACE; // all in the BMP
  return bmp;
}

/** llama.cpp's unicode_cpt_flags_from_cpt(cpt).as_uint() restricted to the bits we use. */
export function cptFlags(cpt: number): number {
  if (!bmpFlags) bmpFlags = buildFlags();
  const bmp = bmpFlags;
  if (cpt < 0x10000) return bmp[cpt];
  if (cpt > MAX_CODEPOINT) return CPT_UNDEFINED;
  let lo = 0;
  let hi = rangeStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rangeStarts[mid] <= cpt) lo = mid;
    else hi = mid - 1;
  }
  return rangeFlags[lo];
}

let lowerMap: Map<number, number> | undefined;

/** Simple (one code point) lowercase mapping from UnicodeData.txt, as llama.cpp's unicode_tolower. */
export function toLower(cpt: number): number {
  if (!lowerMap) {
    lowerMap = new Map();
    let c = 0;
    for (const [delta, diff] of parseRows(LOWERCASE)) {
      c += delta;
      lowerMap.set(c, c + diff);
    }
  }
  return lowerMap.get(cpt) ?? cpt;
}

let nfdFirst: Uint32Array | undefined;
let nfdLast: Uint32Array;
let nfdTo: Uint32Array;

/**
 * llama.cpp's unicode_cpts_normalize_nfd for one code point: the FIRST code point
 * of its canonical decomposition (so "é" becomes "e" and the accent is dropped,
 * not kept as a combining mark). That is what its BERT normalizer relies on.
 */
export function nfdFirstCodepoint(cpt: number): number {
  if (!nfdFirst) {
    const rows = parseRows(NFD_RANGES);
    nfdFirst = new Uint32Array(rows.length);
    nfdLast = new Uint32Array(rows.length);
    nfdTo = new Uint32Array(rows.length);
    let first = 0;
    rows.forEach(([delta, span, to], i) => {
      first += delta;
      nfdFirst![i] = first;
      nfdLast[i] = first + span;
      nfdTo[i] = to;
    });
  }
  let lo = 0;
  let hi = nfdFirst.length - 1;
  if (cpt < nfdFirst[0]) return cpt;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (nfdFirst[mid] <= cpt) lo = mid;
    else hi = mid - 1;
  }
  return cpt <= nfdLast[lo] ? nfdTo[lo] : cpt;
}

/**
 * Code points of a JS string. A lone surrogate becomes U+FFFD, which is what
 * llama.cpp sees after the string is encoded to UTF-8 (EF BF BD).
 */
export function codepointsOf(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out.push(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
        i++;
        continue;
      }
    }
    out.push(c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
  }
  return out;
}

/** Number of UTF-8 bytes of a code point. */
export function utf8Length(cpt: number): number {
  return cpt < 0x80 ? 1 : cpt < 0x800 ? 2 : cpt < 0x10000 ? 3 : 4;
}

/**
 * GPT-2's byte-level alphabet: each byte maps to one printable code point, so
 * that any byte string is a string of "characters" BPE can merge. Printable
 * Latin-1 bytes map to themselves; the other 68 to U+0100 onwards, in order.
 */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const map: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return map;
})();

export const UNICODE_TO_BYTE: ReadonlyMap<number, number> = new Map(
  BYTE_TO_UNICODE.map((ch, b) => [ch.codePointAt(0)!, b] as const),
);

/** UTF-8 length of a string without encoding it (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8ByteLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (lone surrogates become EF BF BD). */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}
