/**
 * A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json + config.json)
 * as GGUF tokenizer metadata, the way llama.cpp's convert_hf_to_gguf.py and
 * gguf-py's SpecialVocab write it:
 *
 * - byte-level BPE (`model.type` BPE without byte_fallback, ByteLevel decoder):
 *   tokenizer.ggml.model = "gpt2", the tokens as stored (Ġ-encoded), merges, token
 *   types (get_vocab_base), and tokenizer.ggml.pre naming the pre-tokenizer.
 *   llama.cpp picks `pre` by hashing the tokenization of a check string with the HF
 *   tokenizer; we have no HF tokenizer at run time, so we recognise the
 *   pre_tokenizer description itself (PRE_TOKENIZERS below).
 * - SentencePiece-style BPE (BPE with byte_fallback: Llama 2, Mistral, Gemma,
 *   Phi-3 in their tokenizer.json form): tokenizer.ggml.model = "llama" with
 *   scores (LlamaHfVocab). llama.cpp's LlamaHfVocab writes -1000 for every score,
 *   which makes its SPM tokenizer merge in left-to-right order rather than the
 *   model's; we give each token the score -(rank of the first merge that makes
 *   it), so that llama.cpp's highest-score-first merging follows the merge list
 *   as the HF tokenizer does (the tests check the tokenizations agree).
 *
 * Special tokens, add_bos/add_eos and the chat template follow SpecialVocab:
 * tokenizer_config.json names, resolved through tokenizer.json's added_tokens,
 * then config.json's *_token_id for the ones still unset.
 */
import { ChordError } from '../../../shared/errors.ts';
import type { GGUFMetadataEntry } from '../../gguf/types.ts';
import { GGUFValueType } from '../../gguf/types.ts';
import { kv } from '../../gguf/writer.ts';

/** llama_token_type (gguf TokenType). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface HFTokenizerFiles {
  tokenizer: Record<string, unknown>;
  tokenizerConfig?: Record<string, unknown>;
  config: Record<string, unknown>;
  /** chat_template.jinja or chat_template.json's template, when the folder has one. */
  chatTemplateFile?: string;
}

export interface VocabOptions {
  /** tokenizer.ggml.pre to write for a byte-level BPE vocabulary whose pre-tokenizer we do not recognise. */
  pre?: string;
  /** Special tokens the family sets by their text ({eot: '<end_of_turn>'}). */
  specialTokenTexts?: Readonly<Record<string, string>>;
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
  normalized?: boolean;
}

const raw = String.raw;

/**
 * Byte-level pre-tokenizers we recognise, by their tokenizer.json description
 * (see preTokenizerSignature), and the llama.cpp `pre` name of each.
 */
const PRE_TOKENIZERS: ReadonlyArray<readonly [signature: string, pre: string]> = [
  [
    raw`split(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ > bytelevel`,
    'llama-bpe',
  ],
  [
    raw`split(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ > bytelevel`,
    'qwen2',
  ],
  ['bytelevel+regex', 'gpt-2'],
  ['digits(individual) > bytelevel+regex', 'smollm'],
];

/** A compact description of a tokenizer.json pre_tokenizer: its steps, in order. */
export function preTokenizerSignature(pre: unknown): string {
  if (pre === null || typeof pre !== 'object') return '';
  const p = pre as Record<string, unknown>;
  switch (p.type) {
    case 'Sequence':
      return ((p.pretokenizers as unknown[]) ?? []).map(preTokenizerSignature).join(' > ');
    case 'Split': {
      const pattern = p.pattern as { Regex?: string; String?: string } | undefined;
      return `split${pattern?.Regex ?? JSON.stringify(pattern?.String)}`;
    }
    case 'ByteLevel':
      return p.use_regex === false ? 'bytelevel' : 'bytelevel+regex';
    case 'Digits':
      return p.individual_digits ? 'digits(individual)' : 'digits';
    default:
      return String(p.type);
  }
}

/** The llama.cpp pre-tokenizer name for a byte-level BPE tokenizer.json, or undefined. */
export function detectPreTokenizer(tokenizer: Record<string, unknown>): string | undefined {
  const sig = preTokenizerSignature(tokenizer.pre_tokenizer);
  return PRE_TOKENIZERS.find(([s]) => s === sig)?.[1];
}

/**
 * Added tokens some models leave unmarked that llama.cpp treats as control tokens
 * anyway (convert_hf_to_gguf.py does_token_look_special).
 */
export function looksSpecial(text: string): boolean {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(text) ||
    (text.startsWith('<|') && text.endsWith('|>')) ||
    (text.startsWith('<｜') && text.endsWith('｜>')) ||
    (text.startsWith('<unused') && text.endsWith('>'))
  );
}

function tokenizerError(message: string): ChordError {
  return new ChordError('TOKENIZER_UNSUPPORTED', `tokenizer.json: ${message}`);
}

/** Every token by id: the model vocabulary, then added tokens (which may repeat vocabulary entries). */
function tokensById(
  model: Record<string, unknown>,
  added: readonly AddedToken[],
  configVocabSize: number | undefined,
): { texts: (string | undefined)[]; addedById: Map<number, AddedToken> } {
  const vocab = model.vocab as Record<string, number> | undefined;
  if (vocab === undefined || typeof vocab !== 'object') throw tokenizerError('model has no vocab');
  let maxId = -1;
  for (const id of Object.values(vocab)) maxId = Math.max(maxId, id);
  for (const t of added) maxId = Math.max(maxId, t.id);
  const size = configVocabSize ?? maxId + 1;
  if (maxId >= size) {
    throw new ChordError('MODEL_INVALID', `tokenizer has token id ${maxId}, config.json vocab_size is ${size}`);
  }
  const texts = new Array<string | undefined>(size);
  for (const [text, id] of Object.entries(vocab)) texts[id] = text;
  const addedById = new Map<number, AddedToken>();
  for (const t of added) {
    texts[t.id] = t.content;
    addedById.set(t.id, t);
  }
  return { texts, addedById };
}

/** merges as "left right" strings; the newer [left, right] form has spaces re-encoded as U+0120, as gguf-py does. */
function mergeStrings(model: Record<string, unknown>): string[] {
  const merges = model.merges as unknown[] | undefined;
  if (!Array.isArray(merges)) return [];
  return merges.map((m) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2) return m.map((part: string) => part.replaceAll(' ', '\u0120')).join(' ');
    throw tokenizerError('unknown merges format');
  });
}

function addedTokens(tokenizer: Record<string, unknown>): AddedToken[] {
  const list = (tokenizer.added_tokens as AddedToken[] | undefined) ?? [];
  return list.filter((t) => Number.isInteger(t.id) && typeof t.content === 'string');
}

type Entries = Array<[string, GGUFMetadataEntry]>;

function stringArray(values: readonly string[]): GGUFMetadataEntry {
  return kv.arr(GGUFValueType.STRING, values);
}

/** GGUF tokenizer metadata for an HF tokenizer. */
export function convertVocab(files: HFTokenizerFiles, opts: VocabOptions = {}): Entries {
  const { tokenizer, config } = files;
  const model = tokenizer.model as Record<string, unknown> | undefined;
  if (model?.type !== 'BPE') {
    throw tokenizerError(`model type ${String(model?.type)} (only BPE tokenizers are converted)`);
  }
  const configVocabSize = typeof config.vocab_size === 'number' ? config.vocab_size : undefined;
  const added = addedTokens(tokenizer);
  const { texts, addedById } = tokensById(model, added, configVocabSize);
  const out: Entries =
    model.byte_fallback === true
      ? sentencePieceVocab(tokenizer, model, texts, addedById)
      : byteLevelVocab(tokenizer, model, texts, addedById, opts);
  out.push(...specialTokens(files, texts, added, opts));
  return out;
}

/** get_vocab_base + _set_vocab_gpt2. */
function byteLevelVocab(
  tokenizer: Record<string, unknown>,
  model: Record<string, unknown>,
  texts: (string | undefined)[],
  addedById: Map<number, AddedToken>,
  opts: VocabOptions,
): Entries {
  const decoder = tokenizer.decoder as { type?: string } | undefined;
  if (decoder?.type !== 'ByteLevel') throw tokenizerError(`BPE with a ${decoder?.type} decoder is not byte-level BPE`);
  const pre = detectPreTokenizer(tokenizer) ?? opts.pre;
  if (pre === undefined) {
    throw tokenizerError(
      `pre-tokenizer '${preTokenizerSignature(tokenizer.pre_tokenizer)}' is not one we recognise; name llama.cpp's with --pre`,
    );
  }
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < texts.length; id++) {
    const text = texts[id];
    const a = addedById.get(id);
    if (text === undefined) {
      tokens.push(`[PAD${id}]`);
      types.push(TokenType.UNUSED);
    } else if (a) {
      const control = a.special === true || looksSpecial(text);
      tokens.push(control ? text : text.replaceAll('\u2581', ' '));
      types.push(control ? TokenType.CONTROL : TokenType.USER_DEFINED);
    } else {
      tokens.push(text);
      types.push(TokenType.NORMAL);
    }
  }
  return [
    ['tokenizer.ggml.model', kv.str('gpt2')],
    ['tokenizer.ggml.pre', kv.str(pre)],
    ['tokenizer.ggml.tokens', stringArray(tokens)],
    ['tokenizer.ggml.token_type', kv.arr(GGUFValueType.INT32, types)],
    ['tokenizer.ggml.merges', stringArray(mergeStrings(model))],
  ];
}

/** Whether the SPM normalizer or pre-tokenizer puts '▁' before the text (sentencepiece's add_dummy_prefix). */
function addsSpacePrefix(tokenizer: Record<string, unknown>): boolean {
  const steps = (x: unknown): Record<string, unknown>[] => {
    if (x === null || typeof x !== 'object') return [];
    const o = x as Record<string, unknown>;
    const inner = (o.normalizers ?? o.pretokenizers) as unknown[] | undefined;
    return o.type === 'Sequence' && Array.isArray(inner) ? inner.flatMap(steps) : [o];
  };
  const prepends = steps(tokenizer.normalizer).some((n) => n.type === 'Prepend' && n.prepend === '\u2581');
  const metaspace = steps(tokenizer.pre_tokenizer).some(
    (p) =>
      p.type === 'Metaspace' &&
      (p.prepend_scheme !== undefined ? p.prepend_scheme !== 'never' : p.add_prefix_space !== false),
  );
  return prepends || metaspace;
}

/** LlamaHfVocab, with merge-rank scores (see the module comment). */
function sentencePieceVocab(
  tokenizer: Record<string, unknown>,
  model: Record<string, unknown>,
  texts: (string | undefined)[],
  addedById: Map<number, AddedToken>,
): Entries {
  const vocab = model.vocab as Record<string, number>;
  const score = new Float32Array(texts.length);
  const merges = mergeStrings(model);
  const ranked = new Set<number>();
  merges.forEach((m, rank) => {
    const space = m.indexOf(' ');
    const id = vocab[m.slice(0, space) + m.slice(space + 1)];
    if (id !== undefined && !ranked.has(id)) {
      ranked.add(id);
      score[id] = -rank;
    }
  });
  const unk = typeof model.unk_token === 'string' ? vocab[model.unk_token] : undefined;
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < texts.length; id++) {
    let text = texts[id];
    const a = addedById.get(id);
    let type: number = TokenType.NORMAL;
    if (text === undefined) {
      text = `[PAD${id}]`;
      type = TokenType.UNUSED;
      score[id] = -1000;
    } else if (id === unk) type = TokenType.UNKNOWN;
    else if (/^<0x[0-9A-Fa-f]{2}>$/.test(text)) type = TokenType.BYTE;
    else if (a) {
      score[id] = -1000;
      if (a.special === true || looksSpecial(text)) type = TokenType.CONTROL;
      else {
        type = TokenType.USER_DEFINED;
        text = text.replaceAll('\u2581', ' ');
      }
    }
    tokens.push(text);
    types.push(type);
  }
  return [
    ['tokenizer.ggml.model', kv.str('llama')],
    ['tokenizer.ggml.pre', kv.str('default')],
    ['tokenizer.ggml.tokens', stringArray(tokens)],
    ['tokenizer.ggml.scores', kv.arr(GGUFValueType.FLOAT32, Array.from(score))],
    ['tokenizer.ggml.token_type', kv.arr(GGUFValueType.INT32, types)],
    ['tokenizer.ggml.add_space_prefix', kv.bool(addsSpacePrefix(tokenizer))],
  ];
}

const SPECIAL_TYPES = ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask'] as const;

/** GGUF keys of the special token ids (gguf-py Keys.Tokenizer), spelling included. */
const SPECIAL_ID_KEY: Readonly<Record<string, string>> = {
  bos: 'tokenizer.ggml.bos_token_id',
  eos: 'tokenizer.ggml.eos_token_id',
  unk: 'tokenizer.ggml.unknown_token_id',
  sep: 'tokenizer.ggml.seperator_token_id',
  pad: 'tokenizer.ggml.padding_token_id',
  cls: 'tokenizer.ggml.cls_token_id',
  mask: 'tokenizer.ggml.mask_token_id',
  eot: 'tokenizer.ggml.eot_token_id',
};

/** The token text a tokenizer_config entry names: a string or {content}. */
function configTokenText(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (entry !== null && typeof entry === 'object' && typeof (entry as { content?: unknown }).content === 'string') {
    return (entry as { content: string }).content;
  }
  return undefined;
}

/** SpecialVocab: special token ids, add_bos/add_eos, the chat template. */
function specialTokens(
  files: HFTokenizerFiles,
  texts: readonly (string | undefined)[],
  added: readonly AddedToken[],
  opts: VocabOptions,
): Entries {
  const { tokenizer, config } = files;
  const tc = files.tokenizerConfig ?? {};
  const ids = new Map<string, number>();
  const set = (type: string, id: unknown) => {
    if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < texts.length && !ids.has(type)) {
      ids.set(type, id);
    }
  };
  const addSpecial = new Map<string, boolean>();

  // TemplateProcessing's single template: a special token first means BOS is added, last means EOS.
  const post = tokenizer.post_processor as Record<string, unknown> | null | undefined;
  for (const p of (post?.processors as Record<string, unknown>[] | undefined) ?? (post ? [post] : [])) {
    if (p.type !== 'TemplateProcessing') continue;
    const single = (p.single as Array<{ SpecialToken?: { id?: string } }> | undefined) ?? [];
    if (single.length > 1) {
      const first = single[0]?.SpecialToken?.id;
      const last = single[single.length - 1]?.SpecialToken?.id;
      if (first !== undefined) addSpecial.set('bos', first === configTokenText(tc.bos_token));
      if (last !== undefined) addSpecial.set('eos', last === configTokenText(tc.eos_token));
    }
  }
  for (const type of SPECIAL_TYPES) {
    const flag = tc[`add_${type}_token`];
    if (typeof flag === 'boolean') addSpecial.set(type, flag);
    const text = configTokenText(tc[`${type}_token`]);
    if (text !== undefined) set(type, added.find((a) => a.content === text)?.id);
  }
  for (const type of SPECIAL_TYPES) set(type, config[`${type}_token_id`]);
  for (const [type, text] of Object.entries(opts.specialTokenTexts ?? {})) {
    const id = texts.indexOf(text);
    if (id >= 0) set(type, id);
  }

  const out: Entries = [];
  for (const [type, id] of ids) out.push([SPECIAL_ID_KEY[type] ?? `tokenizer.ggml.${type}_token_id`, kv.u32(id)]);
  for (const [type, flag] of addSpecial) out.push([`tokenizer.ggml.add_${type}_token`, kv.bool(flag)]);
  out.push(...chatTemplates(tc.chat_template ?? files.chatTemplateFile));
  return out;
}

/** tokenizer.chat_template, and tokenizer.chat_template.NAME for named alternatives. */
function chatTemplates(template: unknown): Entries {
  if (typeof template === 'string') return [['tokenizer.chat_template', kv.str(template)]];
  if (!Array.isArray(template)) return [];
  const out: Entries = [];
  for (const t of template as Array<{ name?: unknown; template?: unknown }>) {
    if (typeof t?.name !== 'string' || typeof t.template !== 'string') continue;
    const key = t.name === 'default' ? 'tokenizer.chat_template' : `tokenizer.chat_template.${t.name}`;
    out.push([key, kv.str(t.template)]);
  }
  if (out.some(([k]) => k !== 'tokenizer.chat_template')) {
    out.push([
      'tokenizer.chat_templates',
      kv.arr(
        GGUFValueType.STRING,
        out.map(([k]) => k.slice('tokenizer.chat_template.'.length)).filter((n) => n !== ''),
      ),
    ]);
  }
  return out;
}
