/**
 * BPE pre-tokenization: splitting text into words before merges, per
 * `tokenizer.ggml.pre`, exactly as llama.cpp's unicode_regex_split does it.
 *
 * llama.cpp applies a list of regexes in turn, each refining the previous
 * split. The common patterns (GPT-2, Llama 3, Qwen 2, Qwen 3.5, Kimi K2, AFMoE
 * digits, newline runs) run as hand-written scanners (scanners.ts); the others
 * through std::regex on a "collapsed" text, emulated in std-regex.ts, so that
 * llama.cpp's quirks (\p{Lu} meaning "any letter", a non-ASCII letter counting
 * as not [a-z]) are reproduced rather than "fixed".
 */
import {
  AFMOE_DIGITS,
  GPT2,
  KIMI_K2,
  LLAMA3,
  NEWLINE_RUNS,
  type PreTokenizerName,
  preTokenizerRegexes,
  preTokenizerUsesByteEncoding,
  QWEN2,
  QWEN35,
  TINY_AYA_DIGITS,
} from './pre-table.ts';
import {
  llama3Like,
  type SplitText,
  type Splitter,
  splitDigitGroups,
  splitGpt2,
  splitKimiK2,
  splitNewlineRuns,
} from './scanners.ts';
import { collapse, splitWithRegex } from './std-regex.ts';
import { BYTE_TO_UNICODE, codepointsOf, cptFlags, utf8Encode } from './unicode.ts';

/** llama.cpp's unicode_regex_split_custom: the patterns with a hand-written scanner. */
const CUSTOM_SPLITTERS = new Map<string, Splitter>([
  [GPT2, splitGpt2],
  [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    llama3Like(3, false),
  ],
  [LLAMA3, llama3Like(3, false)],
  [QWEN2, llama3Like(1, false)],
  [QWEN35, llama3Like(1, true)],
  [KIMI_K2, splitKimiK2],
  [AFMOE_DIGITS, splitDigitGroups],
  [NEWLINE_RUNS, splitNewlineRuns],
  [TINY_AYA_DIGITS, splitDigitGroups],
]);

/**
 * Splits text into BPE words per the named pre-tokenizer; words come back
 * byte-level encoded (GPT-2 alphabet) unless the pre-tokenizer works on raw UTF-8.
 */
export function preTokenize(text: string, name: PreTokenizerName): string[] {
  const cpts = codepointsOf(text);
  const flags = new Uint16Array(cpts.length);
  for (let i = 0; i < cpts.length; i++) flags[i] = cptFlags(cpts[i]);
  const t: SplitText = { cpts, flags };
  let collapsedText: string | undefined;
  const collapsed = () => (collapsedText ??= collapse(t));

  let offsets: number[] = [cpts.length];
  for (const regex of preTokenizerRegexes(name)) {
    const custom = CUSTOM_SPLITTERS.get(regex);
    offsets = custom ? custom(t, offsets) : splitWithRegex(t, regex, offsets, collapsed);
  }

  const words: string[] = [];
  let start = 0;
  for (const len of offsets) {
    if (len === 0) continue;
    words.push(String.fromCodePoint(...cpts.slice(start, start + len)));
    start += len;
  }
  if (!preTokenizerUsesByteEncoding(name)) return words;
  return words.map(byteEncode);
}

/** A word's UTF-8 bytes in GPT-2's byte-level alphabet. */
export function byteEncode(word: string): string {
  let s = '';
  for (const b of utf8Encode(word)) s += BYTE_TO_UNICODE[b];
  return s;
}
