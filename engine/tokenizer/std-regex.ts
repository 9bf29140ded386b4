/**
 * llama.cpp's fallback for pre-tokenizer regexes without a scanner: std::regex,
 * emulated with JS RegExp. A regex using Unicode categories (\p{L}, \p{N}...)
 * runs on the "collapsed" text, where every non-ASCII code point is replaced by
 * one byte naming its category (and \p{..} by a class of that byte plus the
 * ASCII members); others run on the code points, with non-ASCII white space
 * turned into \v and \s meaning ASCII white space, as std::wregex's C locale has it.
 */
import type { SplitText } from './scanners.ts';
import {
  CPT_CATEGORIES,
  CPT_LETTER,
  CPT_MARK,
  CPT_NUMBER,
  CPT_PUNCTUATION,
  CPT_SYMBOL,
  CPT_WHITESPACE,
} from './unicode.ts';

/** Categories that make llama.cpp run a regex on the collapsed text, and their stand-in bytes. */
const CATEGORY_PROPS: ReadonlyMap<string, number> = new Map([
  ['\\p{N}', CPT_NUMBER],
  ['\\p{L}', CPT_LETTER],
  ['\\p{P}', CPT_PUNCTUATION],
  ['\\p{M}', CPT_MARK],
  ['\\p{S}', CPT_SYMBOL],
  ['\\p{Lu}', CPT_LETTER],
  ['\\p{Ll}', CPT_LETTER],
  ['\\p{Lt}', CPT_LETTER],
  ['\\p{Lm}', CPT_LETTER],
  ['\\p{Lo}', CPT_LETTER],
]);
const CATEGORY_BYTE: ReadonlyMap<number, number> = new Map([
  [CPT_NUMBER, 0xd1],
  [CPT_LETTER, 0xd2],
  [CPT_PUNCTUATION, 0xd3],
  [CPT_MARK, 0xd4],
  [CPT_SYMBOL, 0xd5],
]);
/** The ASCII members of each category, as regex class content. */
const CATEGORY_ASCII: ReadonlyMap<number, string> = new Map([
  [CPT_NUMBER, '0-9'],
  [CPT_LETTER, 'A-Za-z'],
  [CPT_PUNCTUATION, '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}'],
  [CPT_MARK, ''],
  [CPT_SYMBOL, '\\$\\+<->\\^`\\|\\~'],
]);

function usesCategories(regex: string): boolean {
  for (const p of CATEGORY_PROPS.keys()) if (regex.includes(p)) return true;
  return false;
}

/** The collapsed text: ASCII kept, white space as \v, other code points as their category byte. */
export function collapse(t: SplitText): string {
  let s = '';
  for (let i = 0; i < t.cpts.length; i++) {
    const c = t.cpts[i];
    if (c < 128) s += String.fromCharCode(c);
    else if (t.flags[i] & CPT_WHITESPACE) s += '\v';
    else s += String.fromCharCode(CATEGORY_BYTE.get(t.flags[i] & CPT_CATEGORIES) ?? 0xd0);
  }
  return s;
}

/** Rewrites \p{..} into collapsed-byte classes, as llama.cpp's unicode_regex_split does. */
function collapseRegex(regex: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i];
    if (ch === '[' && (i === 0 || regex[i - 1] !== '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && ch === ']' && regex[i - 1] !== '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (ch === '\\' && regex[i + 1] === 'p' && regex[i + 2] === '{') {
      const close = regex.indexOf('}', i + 3);
      const cat = close >= 0 && close <= i + 10 ? CATEGORY_PROPS.get(regex.slice(i, close + 1)) : undefined;
      if (cat !== undefined) {
        const body = String.fromCharCode(CATEGORY_BYTE.get(cat)!) + CATEGORY_ASCII.get(cat)!;
        out += inside ? body : `[${body}]`;
        i = close;
        continue;
      }
    }
    out += ch;
  }
  return out;
}

/**
 * For regexes without categories llama.cpp uses std::wregex, whose \s (C locale)
 * is ASCII white space only; non-ASCII white space in the text is turned into \v first.
 */
function asciiSpaceRegex(regex: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i];
    if (ch === '\\') {
      const next = regex[i + 1];
      if (next === 's') out += inside ? '\\t\\n\\v\\f\\r ' : '[\\t\\n\\v\\f\\r ]';
      else if (next === 'S') out += '[^\\t\\n\\v\\f\\r ]';
      else out += ch + next;
      i++;
      continue;
    }
    if (ch === '[') inside = true;
    else if (ch === ']') inside = false;
    out += ch;
  }
  return out;
}

const compiled = new Map<string, RegExp>();

function compile(source: string, unicode: boolean): RegExp {
  const key = (unicode ? 'u:' : 'b:') + source;
  let re = compiled.get(key);
  if (!re) {
    re = new RegExp(source, unicode ? 'gu' : 'g');
    compiled.set(key, re);
  }
  return re;
}

/**
 * std::regex_iterator over one chunk, reporting [start, end) of each match in
 * string indices: after an empty match it first retries at the same place for
 * a non-empty match, then moves on by one character.
 */
function* matches(re: RegExp, s: string): Generator<[number, number]> {
  let at = 0;
  while (at <= s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) return;
    const start = m.index;
    const end = start + m[0].length;
    yield [start, end];
    if (end > start) {
      at = end;
      continue;
    }
    // empty match: try a non-empty one anchored here, else step over one character
    re.lastIndex = start;
    const sticky = new RegExp(re.source, `${re.flags.replace('g', '')}y`);
    sticky.lastIndex = start;
    const m2 = sticky.exec(s);
    if (m2 && m2[0].length > 0) {
      yield [start, start + m2[0].length];
      at = start + m2[0].length;
      continue;
    }
    at = start + 1;
  }
}

/**
 * unicode_regex_split_stl: matches and the gaps between them become words.
 * `chunk(from, to)` gives the text of code points [from, to) as a string;
 * with `oneUnitPerCodepoint` its indices are code point indices already.
 */
function regexSplit(
  chunk: (from: number, to: number) => string,
  oneUnitPerCodepoint: boolean,
  re: RegExp,
  offsets: readonly number[],
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of offsets) {
    const s = chunk(start, start + len);
    let cpAt: Int32Array | undefined;
    if (!oneUnitPerCodepoint && s.length !== len) {
      // astral code points take two UTF-16 units: map string index -> code point index
      cpAt = new Int32Array(s.length + 1);
      for (let u = 0, cp = 0; u <= s.length; cp++) {
        cpAt[u] = cp;
        const c = s.charCodeAt(u);
        if (c >= 0xd800 && c <= 0xdbff && u + 1 < s.length) {
          cpAt[u + 1] = cp;
          u += 2;
        } else u++;
      }
    }
    let last = 0;
    for (const [ms, me] of matches(re, s)) {
      const a = cpAt ? cpAt[ms] : ms;
      const b = cpAt ? cpAt[me] : me;
      if (a > last) out.push(a - last);
      if (b > a) out.push(b - a);
      last = b;
    }
    if (last < len) out.push(len - last);
    start += len;
  }
  return out;
}

export function splitWithRegex(
  t: SplitText,
  regex: string,
  offsets: readonly number[],
  collapsed: () => string,
): number[] {
  if (usesCategories(regex)) {
    const text = collapsed();
    return regexSplit((a, b) => text.slice(a, b), true, compile(collapseRegex(regex), false), offsets);
  }
  const chunk = (a: number, b: number) => {
    let s = '';
    for (let i = a; i < b; i++) {
      const c = t.cpts[i];
      s += c > 0x7f && t.flags[i] & CPT_WHITESPACE ? '\v' : String.fromCodePoint(c);
    }
    return s;
  };
  return regexSplit(chunk, false, compile(asciiSpaceRegex(regex), true), offsets);
}

/**
 * Splits text into BPE words per the named pre-tokenizer; words come back
 * byte-level encoded (GPT-2 alphabet) unless the pre-tokenizer works on raw UTF-8.
 */
