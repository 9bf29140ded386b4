/**
 * BPE pre-tokenization: splitting text into words before merges, per
 * `tokenizer.ggml.pre`, exactly as llama.cpp's unicode_regex_split does it.
 *
 * llama.cpp applies a list of regexes in turn, each refining the previous
 * split. The common patterns (GPT-2, Llama 3, Qwen 2, Qwen 3.5, Kimi K2, AFMoE
 * digits, newline runs) run as hand-written scanners; everything else runs
 * through std::regex on a "collapsed" text in which each non-ASCII code point
 * is replaced by one byte naming its category (letter, number, ...). We mirror
 * both: the scanners are ported, and the std::regex fallback is emulated with
 * a JS RegExp over the same collapsed text, so that llama.cpp's quirks (for
 * example \p{Lu} meaning "any letter", or a non-ASCII letter counting as not
 * [a-z]) are reproduced rather than "fixed".
 */
import {
  BYTE_TO_UNICODE,
  CPT_CATEGORIES,
  CPT_LETTER,
  CPT_MARK,
  CPT_NUMBER,
  CPT_PUNCTUATION,
  CPT_SYMBOL,
  CPT_WHITESPACE,
  codepointsOf,
  cptFlags,
  toLower,
  utf8Encode,
} from './unicode.ts';

// The regexes of llama.cpp's llm_tokenizer_bpe table (strings as in llama-vocab.cpp).
const LLAMA3 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const JAIS2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}";
const CR_LF = '[\r\n]';
const DEEPSEEK_LATIN =
  '\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+';
const DEEPSEEK_PUNCT = '\\s?[!-/:-~！-／：-～‘-‟　-。]+';
const TRAILING_SPACE = '\\s+$';
const CJK_HANGUL = '[一-龥ࠀ-一가-퟿]+';
const DIGITS = '\\p{N}+';
const DIGITS_1_3 = '\\p{N}{1,3}';
const CJK_KANA = '[一-龥぀-ゟ゠-ヿ]+';
const DEEPSEEK3 =
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+';
const YOUTU_CJK = '[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+';
const YOUTU =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const SPACE_LETTERS = '\\s?\\p{L}+';
const SPACE_PUNCT = '\\s?\\p{P}+';
const DIGIT = '\\p{N}';
const FALCON_PUNCT = '[\\p{P}\\$\\+<=>\\^~\\|`]+';
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const THREE_DIGITS = '[0-9][0-9][0-9]';
const QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BLOOM = ' ?[^(\\s|.,!?…。，、।۔،)]+';
const TEKKEN =
  '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const CHAMELEON_SENTINEL = '<sentinel:[0-9]+>';
const CHAMELEON_IMAGE = '(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z';
const CHAMELEON_SPACES = '([\\t\\n]|    |  )';
const CHAMELEON_PUNCT = '[\\p{P}!-/:-@\\[-`{-~]';
const GPT4O =
  "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GRANITE_EMB_MULTI =
  "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const TINY_AYA_DIGITS = '\\d{1,3}(?=(?:\\d{3})*\\b)';
const TINY_AYA =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const KIMI_K2 = '\\p{Han}+';
const SUPERBPE_DIGITS = '(?=(\\d{3})+(?!\\d))';
const BAILINGMOE =
  "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const SEED_CODER =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const AFMOE_DIGITS = '\\p{AFMoE_digits}';
const AFMOE_CJK = '[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+';
const AFMOE =
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const NEWLINE_RUNS = '[^\\n]+|[\\n]+';
const EXAONE_MOE =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const MINICPM5 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const NON_SPACE = '\\S+';
const DEFAULT_PUNCT = '[\\p{P}\\$\\+<=>\\^~\\|]+';

interface PreTokenizerSpec {
  readonly regexes: readonly string[];
  /** GPT-2 byte-level encoding of each word (false: raw UTF-8, SPM-style BPE). */
  readonly byteEncode?: boolean;
}

const PRE_TOKENIZERS = {
  llama3: { regexes: [LLAMA3] },
  jais2: { regexes: [JAIS2] },
  dbrx: { regexes: [LLAMA3] },
  smaug: { regexes: [LLAMA3] },
  deepseek_llm: { regexes: [CR_LF, DEEPSEEK_LATIN, DEEPSEEK_PUNCT, TRAILING_SPACE, CJK_HANGUL, DIGITS] },
  deepseek3_llm: { regexes: [DIGITS_1_3, CJK_KANA, DEEPSEEK3] },
  hunyuan_dense: { regexes: [DIGITS_1_3, CJK_KANA, DEEPSEEK3] },
  joyai_llm: { regexes: [DIGITS_1_3, CJK_KANA, DEEPSEEK3] },
  youtu: { regexes: [YOUTU_CJK, YOUTU] },
  deepseek_coder: { regexes: [CR_LF, SPACE_LETTERS, SPACE_PUNCT, CJK_HANGUL, DIGIT] },
  falcon: { regexes: [FALCON_PUNCT, GPT2, THREE_DIGITS] },
  starcoder: { regexes: [DIGIT, GPT2] },
  refact: { regexes: [DIGIT, GPT2] },
  command_r: { regexes: [DIGIT, GPT2] },
  smollm: { regexes: [DIGIT, GPT2] },
  codeshell: { regexes: [DIGIT, GPT2] },
  exaone: { regexes: [DIGIT, GPT2] },
  minerva: { regexes: [DIGIT, GPT2] },
  mellum2: { regexes: [DIGIT, GPT2] },
  gpt2: { regexes: [GPT2] },
  mpt: { regexes: [GPT2] },
  olmo: { regexes: [GPT2] },
  jais: { regexes: [GPT2] },
  trillion: { regexes: [GPT2] },
  granite_docling: { regexes: [GPT2] },
  stablelm2: { regexes: [QWEN2] },
  qwen2: { regexes: [QWEN2] },
  hunyuan: { regexes: [QWEN2] },
  solar_open: { regexes: [QWEN2] },
  qwen35: { regexes: [QWEN35] },
  poro: { regexes: [BLOOM] },
  bloom: { regexes: [BLOOM] },
  gpt3_finnish: { regexes: [BLOOM] },
  chatglm4: { regexes: [LLAMA3] },
  viking: { regexes: [BLOOM, DIGIT] },
  tekken: { regexes: [TEKKEN] },
  chameleon: { regexes: [CHAMELEON_SENTINEL, CHAMELEON_IMAGE, CHAMELEON_SPACES, DIGIT, CHAMELEON_PUNCT, GPT2] },
  gpt4o: { regexes: [GPT4O] },
  minimax_m2: { regexes: [GPT4O] },
  granite_emb_multi: { regexes: [GRANITE_EMB_MULTI] },
  tiny_aya: { regexes: [TINY_AYA_DIGITS, TINY_AYA] },
  kimi_k2: { regexes: [KIMI_K2] },
  superbpe: { regexes: [DIGITS, SUPERBPE_DIGITS] },
  bailingmoe: { regexes: [BAILINGMOE] },
  seed_coder: { regexes: [SEED_CODER] },
  grok_2: { regexes: [QWEN2] },
  afmoe: { regexes: [AFMOE_DIGITS, AFMOE_CJK, AFMOE] },
  laguna: { regexes: [NEWLINE_RUNS, QWEN2] },
  exaone_moe: { regexes: [EXAONE_MOE] },
  gemma4: { regexes: [NEWLINE_RUNS], byteEncode: false },
  sarvam_moe: { regexes: [NEWLINE_RUNS], byteEncode: false },
  minicpm5: { regexes: [DIGITS_1_3, MINICPM5] },
  whitespace: { regexes: [NON_SPACE], byteEncode: false },
  default: { regexes: [DEFAULT_PUNCT, GPT2, DIGITS, THREE_DIGITS] },
} satisfies Record<string, PreTokenizerSpec>;

export type PreTokenizerName = keyof typeof PRE_TOKENIZERS;

/** What a `tokenizer.ggml.pre` value selects, with the vocab flags llama.cpp sets alongside. */
export interface PreTokenizerChoice {
  readonly name: PreTokenizerName;
  readonly cleanSpaces?: boolean;
  readonly ignoreMerges?: boolean;
  readonly addBos?: boolean;
  readonly addSep?: boolean;
  readonly escapeWhitespaces?: boolean;
  /** chatglm: no BOS token. */
  readonly noBos?: boolean;
  readonly lowercase?: boolean;
}

type Choice = Omit<PreTokenizerChoice, 'name'>;
const KEEP: Choice = {};
const NO_CLEAN: Choice = { cleanSpaces: false };

/** `tokenizer.ggml.pre` values llama.cpp accepts (llama_vocab::impl::load), in its order. */
const PRE_NAMES: ReadonlyArray<[readonly string[], PreTokenizerName, Choice]> = [
  [['default'], 'default', KEEP],
  [['minicpm5'], 'minicpm5', { ignoreMerges: true }],
  [
    ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'],
    'llama3',
    { ignoreMerges: true, addBos: true },
  ],
  [['deepseek-llm'], 'deepseek_llm', NO_CLEAN],
  [['deepseek-coder'], 'deepseek_coder', NO_CLEAN],
  [['deepseek-v3'], 'deepseek3_llm', NO_CLEAN],
  [['youtu'], 'youtu', { cleanSpaces: false, ignoreMerges: true }],
  [['falcon'], 'falcon', KEEP],
  [['mpt'], 'mpt', KEEP],
  [['starcoder'], 'starcoder', KEEP],
  [
    [
      'gpt-2',
      'phi-2',
      'jina-es',
      'jina-de',
      'gigachat',
      'jina-v2-es',
      'jina-v2-de',
      'a.x-4.0',
      'mellum',
      'modern-bert',
    ],
    'gpt2',
    KEEP,
  ],
  [['jais-2'], 'jais2', KEEP],
  [['gemma4', 'granite-embed-multi-311m'], 'gemma4', { escapeWhitespaces: true }],
  [['sarvam-moe'], 'sarvam_moe', { escapeWhitespaces: true, cleanSpaces: false }],
  [['jina-v1-en', 'jina-v2-code', 'roberta-bpe'], 'gpt2', { addSep: true }],
  [['whitespace'], 'whitespace', { lowercase: false }],
  [['refact'], 'refact', KEEP],
  [['command-r'], 'command_r', NO_CLEAN],
  [['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2'], 'qwen2', NO_CLEAN],
  [['qwen35'], 'qwen35', NO_CLEAN],
  [['stablelm2'], 'stablelm2', KEEP],
  [['olmo'], 'olmo', KEEP],
  [['dbrx'], 'dbrx', KEEP],
  [['smaug-bpe'], 'smaug', KEEP],
  [['poro-chat'], 'poro', NO_CLEAN],
  [['glm4', 'chatglm-bpe'], 'chatglm4', { noBos: true }],
  [['viking'], 'viking', NO_CLEAN],
  [['jais'], 'jais', KEEP],
  [['tekken'], 'tekken', { cleanSpaces: false, ignoreMerges: true, addBos: true }],
  [['smollm'], 'smollm', NO_CLEAN],
  [['codeshell'], 'codeshell', KEEP],
  [['bloom'], 'bloom', KEEP],
  [['gpt3-finnish'], 'gpt3_finnish', KEEP],
  [['exaone'], 'exaone', KEEP],
  [['exaone4'], 'gpt2', KEEP],
  [['exaone-moe'], 'exaone_moe', KEEP],
  [['chameleon'], 'chameleon', { addBos: true, cleanSpaces: false }],
  [['minerva-7b'], 'minerva', KEEP],
  [['megrez'], 'qwen2', KEEP],
  [['gpt-4o', 'llama4', 'kanana2', 'talkie'], 'gpt4o', NO_CLEAN],
  [['granite-embed-multi-97m'], 'granite_emb_multi', { cleanSpaces: false, ignoreMerges: true }],
  [['tiny_aya', 'cohere2moe'], 'tiny_aya', NO_CLEAN],
  [['superbpe'], 'superbpe', NO_CLEAN],
  [['trillion'], 'trillion', NO_CLEAN],
  [['granite-docling'], 'granite_docling', NO_CLEAN],
  [['bailingmoe', 'bailingmoe2', 'llada-moe'], 'bailingmoe', NO_CLEAN],
  [['seed-coder'], 'seed_coder', NO_CLEAN],
  [['hunyuan'], 'hunyuan', NO_CLEAN],
  [['hunyuan-dense'], 'hunyuan_dense', NO_CLEAN],
  [['joyai-llm'], 'joyai_llm', NO_CLEAN],
  [['kimi-k2'], 'kimi_k2', NO_CLEAN],
  [['grok-2'], 'grok_2', NO_CLEAN],
  [['afmoe'], 'afmoe', NO_CLEAN],
  [['laguna'], 'laguna', NO_CLEAN],
  [['minimax-m2'], 'minimax_m2', NO_CLEAN],
  [['solar-open'], 'solar_open', NO_CLEAN],
  [['mellum2'], 'mellum2', KEEP],
];

const PRE_BY_NAME = new Map<string, PreTokenizerChoice>();
for (const [names, name, choice] of PRE_NAMES) {
  for (const n of names) if (!PRE_BY_NAME.has(n)) PRE_BY_NAME.set(n, { name, ...choice });
}

/** The pre-tokenizer for a `tokenizer.ggml.pre` value, or undefined when llama.cpp does not know it. */
export function preTokenizerFor(pre: string): PreTokenizerChoice | undefined {
  return PRE_BY_NAME.get(pre);
}

/** The `tokenizer.ggml.pre` values we accept. */
export const SUPPORTED_PRE_TOKENIZERS: readonly string[] = [...PRE_BY_NAME.keys()];

export function preTokenizerUsesByteEncoding(name: PreTokenizerName): boolean {
  const spec: PreTokenizerSpec = PRE_TOKENIZERS[name];
  return spec.byteEncode !== false;
}

/** The regexes a pre-tokenizer applies in turn (llama.cpp's regex_exprs). */
export function preTokenizerRegexes(name: PreTokenizerName): readonly string[] {
  return PRE_TOKENIZERS[name].regexes;
}

// ---------------------------------------------------------------------------
// Splitting. Offsets are lengths in code points, as in llama.cpp.

/** A text under pre-tokenization: its code points and their category flags. */
interface SplitText {
  readonly cpts: readonly number[];
  readonly flags: Uint16Array;
}

type Splitter = (t: SplitText, offsets: readonly number[]) => number[];

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
const splitGpt2: Splitter = (t, offsets) =>
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
function llama3Like(maxDigits: number, marksAreLetters: boolean): Splitter {
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
const splitKimiK2: Splitter = (t, offsets) =>
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
const splitDigitGroups: Splitter = (t, offsets) =>
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
const splitNewlineRuns: Splitter = (t, offsets) => {
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

// ---------------------------------------------------------------------------
// The std::regex fallback.

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
function collapse(t: SplitText): string {
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

function splitWithRegex(t: SplitText, regex: string, offsets: readonly number[], collapsed: () => string): number[] {
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
export function preTokenize(text: string, name: PreTokenizerName): string[] {
  const spec: PreTokenizerSpec = PRE_TOKENIZERS[name];
  const cpts = codepointsOf(text);
  const flags = new Uint16Array(cpts.length);
  for (let i = 0; i < cpts.length; i++) flags[i] = cptFlags(cpts[i]);
  const t: SplitText = { cpts, flags };
  let collapsedText: string | undefined;
  const collapsed = () => (collapsedText ??= collapse(t));

  let offsets: number[] = [cpts.length];
  for (const regex of spec.regexes) {
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
  if (spec.byteEncode === false) return words;
  return words.map(byteEncode);
}

/** A word's UTF-8 bytes in GPT-2's byte-level alphabet. */
export function byteEncode(word: string): string {
  let s = '';
  for (const b of utf8Encode(word)) s += BYTE_TO_UNICODE[b];
  return s;
}
