/**
 * The pre-tokenizer table: which `tokenizer.ggml.pre` names llama.cpp accepts,
 * the vocab flags each sets (llama_vocab::impl::load), and the regexes each
 * pre-tokenizer applies in turn (llm_tokenizer_bpe). The strings are llama.cpp's,
 * themselves from the models' tokenizer.json; pretokenize.ts runs them.
 */

// The regexes of llama.cpp's llm_tokenizer_bpe table (strings as in llama-vocab.cpp).
export const LLAMA3 =
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
export const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const THREE_DIGITS = '[0-9][0-9][0-9]';
export const QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const QWEN35 =
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
export const TINY_AYA_DIGITS = '\\d{1,3}(?=(?:\\d{3})*\\b)';
const TINY_AYA =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const KIMI_K2 = '\\p{Han}+';
const SUPERBPE_DIGITS = '(?=(\\d{3})+(?!\\d))';
const BAILINGMOE =
  "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const SEED_CODER =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const AFMOE_DIGITS = '\\p{AFMoE_digits}';
const AFMOE_CJK = '[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+';
const AFMOE =
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
export const NEWLINE_RUNS = '[^\\n]+|[\\n]+';
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
