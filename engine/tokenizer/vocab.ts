/**
 * The vocabulary as llama.cpp's llama_vocab::impl::load builds it from GGUF
 * metadata: token texts, scores and attributes, the special token ids with
 * their per-model defaults, the tokenizer flags, BPE merge ranks, and the
 * text-based fix-ups llama.cpp applies (EOT/EOG detection, unused tokens,
 * phi-3 rstrip, mask lstrip). Every rule here mirrors llama.cpp's loader so
 * that tokenization and end-of-generation agree with it.
 */
import { ChordError } from '../../shared/errors.ts';
import type { GGUFMetadataEntry, GGUFValue } from '../gguf/types.ts';
import { GGUFValueType } from '../gguf/types.ts';
import { type PreTokenizerName, preTokenizerFor } from './pre-table.ts';
import { utf8ByteLength } from './unicode.ts';

/** Token attributes, llama.h's llama_token_attr bits. */
export const ATTR_UNDEFINED = 0;
export const ATTR_UNKNOWN = 1 << 0;
export const ATTR_UNUSED = 1 << 1;
export const ATTR_NORMAL = 1 << 2;
export const ATTR_CONTROL = 1 << 3;
export const ATTR_USER_DEFINED = 1 << 4;
export const ATTR_BYTE = 1 << 5;
export const ATTR_LSTRIP = 1 << 7;
export const ATTR_RSTRIP = 1 << 8;

/** GGUF token_type values (llama.h's llama_token_type) to attributes. */
const TYPE_TO_ATTR = [
  ATTR_UNDEFINED,
  ATTR_NORMAL,
  ATTR_UNKNOWN,
  ATTR_CONTROL,
  ATTR_USER_DEFINED,
  ATTR_UNUSED,
  ATTR_BYTE,
];

export type VocabType = 'spm' | 'bpe' | 'wpm' | 'ugm';

export interface Vocab {
  readonly type: VocabType;
  /** tokenizer.ggml.model */
  readonly model: string;
  /** tokenizer.ggml.pre as resolved (e.g. 'gemma4' for the gemma4 model). */
  readonly pre: string;
  readonly preTokenizer: PreTokenizerName;
  readonly tokens: readonly string[];
  readonly scores: Float32Array;
  readonly attrs: Uint16Array;
  readonly tokenToId: ReadonlyMap<string, number>;
  /** Longest token text in UTF-8 bytes. */
  readonly maxTokenLen: number;
  readonly bos: number;
  readonly eos: number;
  readonly eot: number;
  readonly eom: number;
  readonly unk: number;
  readonly sep: number;
  readonly pad: number;
  readonly mask: number;
  readonly cls: number;
  readonly addSpacePrefix: boolean;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSep: boolean;
  readonly ignoreMerges: boolean;
  readonly cleanSpaces: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
  readonly treatWhitespaceAsSuffix: boolean;
  readonly lowercase: boolean;
  readonly stripAccents: boolean;
  /** BPE merges: the merge line `${left} ${right}` -> rank (line index); look up with mergeKey. */
  readonly bpeRanks: ReadonlyMap<string, number>;
  readonly eogIds: ReadonlySet<number>;
  /** Control, user-defined and unknown tokens, longest text (bytes) first: the order of tokenizer_st_partition. */
  readonly specialTokens: readonly number[];
  /** tokenizer.ggml.precompiled_charsmap (UGM only). */
  readonly precompiledCharsmap?: Uint8Array;
}

/** Sentinel for "no such token" (llama.cpp's LLAMA_TOKEN_NULL). */
export const NO_TOKEN = -1;

/**
 * The bpeRanks key of a pair, or undefined when no merge line can name it.
 * llama.cpp splits a merge line at its first space after position 0, so the
 * left part never has a space after its first character; with that, the line
 * itself is the key and no splitting is needed when loading.
 */
export function mergeKey(left: string, right: string): string | undefined {
  return left.indexOf(' ', 1) >= 0 ? undefined : `${left} ${right}`;
}

type Meta = ReadonlyMap<string, GGUFMetadataEntry>;

function invalid(message: string, details?: Record<string, unknown>): ChordError {
  return new ChordError('TOKENIZER_INVALID', message, details);
}

function getString(meta: Meta, key: string): string | undefined {
  const e = meta.get(key);
  if (e === undefined) return undefined;
  if (typeof e.value !== 'string') throw invalid(`${key} must be a string`);
  return e.value;
}

function getNumber(meta: Meta, key: string): number | undefined {
  const e = meta.get(key);
  if (e === undefined) return undefined;
  if (typeof e.value === 'number') return e.value;
  if (typeof e.value === 'bigint') return Number(e.value);
  throw invalid(`${key} must be a number`);
}

function getBool(meta: Meta, key: string): boolean | undefined {
  const e = meta.get(key);
  if (e === undefined) return undefined;
  if (typeof e.value === 'boolean') return e.value;
  if (typeof e.value === 'number') return e.value !== 0;
  throw invalid(`${key} must be a boolean`);
}

function getArray(meta: Meta, key: string, types: readonly GGUFValueType[]): GGUFValue[] | undefined {
  const e = meta.get(key);
  if (e === undefined) return undefined;
  if (e.type !== GGUFValueType.ARRAY || !Array.isArray(e.value) || !types.includes(e.arrayType as GGUFValueType)) {
    throw invalid(`invalid GGUF type for ${key}`);
  }
  return e.value;
}

const K = 'tokenizer.ggml.';

export function loadVocab(meta: Meta): Vocab {
  const model = getString(meta, `${K}model`);
  if (model === undefined) throw invalid(`${K}model is missing: no tokenizer in this file`);
  let pre = getString(meta, `${K}pre`) ?? '';

  // Defaults per tokenizer model (llama.cpp's load(): "default special tokens").
  let type: VocabType;
  let bos = 1;
  let eos = 2;
  let unk = 0;
  let sep = NO_TOKEN;
  let pad = NO_TOKEN;
  let mask = NO_TOKEN;
  let eot = NO_TOKEN;
  let eom = NO_TOKEN;
  const fim = { pre: NO_TOKEN, suf: NO_TOKEN, mid: NO_TOKEN, pad: NO_TOKEN, rep: NO_TOKEN, sep: NO_TOKEN };
  let addSpacePrefix = false;
  let addBos = false;
  let addEos = false;
  let addSep = false;
  let ignoreMerges = false;
  let cleanSpaces = false;
  let removeExtraWhitespaces = false;
  let escapeWhitespaces = true;
  let lowercase = true;
  const bpeRanks = new Map<string, number>();

  const readMerges = () => {
    const merges = getArray(meta, `${K}merges`, [GGUFValueType.STRING]);
    if (merges === undefined) throw invalid('cannot find tokenizer merges in model file');
    for (let i = 0; i < merges.length; i++) {
      const line = merges[i] as string;
      // a line without a separator is llama.cpp's pair ("", "") and can never match
      if (line.indexOf(' ', 1) >= 0 && !bpeRanks.has(line)) bpeRanks.set(line, i);
    }
  };

  switch (model) {
    case 'llama':
      type = 'spm';
      break;
    case 'bert':
      type = 'wpm';
      bos = 101;
      eos = NO_TOKEN;
      unk = 100;
      sep = 102;
      pad = 0;
      mask = 103;
      addSep = true;
      break;
    case 'gpt2':
    case 'whitespace':
      type = 'bpe';
      readMerges();
      bos = 11;
      eos = 11;
      unk = NO_TOKEN;
      break;
    case 'gemma4':
      type = 'bpe';
      readMerges();
      bos = eos = unk = NO_TOKEN;
      pre = 'gemma4';
      break;
    case 't5':
      type = 'ugm';
      bos = NO_TOKEN;
      eos = 1;
      unk = 2;
      pad = 0;
      break;
    default:
      throw new ChordError('TOKENIZER_UNSUPPORTED', `unsupported tokenizer model '${model}'`, { model });
  }

  let preTokenizer: PreTokenizerName = 'default';
  if (type === 'bpe') {
    addSpacePrefix = false;
    escapeWhitespaces = false;
    cleanSpaces = true;
    const resolved = preTokenizerFor(pre === '' ? 'default' : pre);
    if (resolved === undefined) {
      throw new ChordError('TOKENIZER_UNSUPPORTED', `unknown pre-tokenizer type: '${pre}'`, { pre });
    }
    preTokenizer = resolved.name;
    if (resolved.cleanSpaces !== undefined) cleanSpaces = resolved.cleanSpaces;
    if (resolved.ignoreMerges) ignoreMerges = true;
    if (resolved.addBos) addBos = true;
    if (resolved.addSep) addSep = true;
    if (resolved.escapeWhitespaces) escapeWhitespaces = true;
    if (resolved.noBos) bos = NO_TOKEN;
    if (resolved.lowercase === false) lowercase = false;
  } else if (type === 'spm') {
    addSpacePrefix = true;
    addBos = true;
  } else if (type === 'wpm') {
    cleanSpaces = true;
    addBos = true;
    addSep = true;
  } else {
    addEos = true;
  }
  addSpacePrefix = getBool(meta, `${K}add_space_prefix`) ?? addSpacePrefix;
  removeExtraWhitespaces = getBool(meta, `${K}remove_extra_whitespaces`) ?? removeExtraWhitespaces;

  // Tokens, scores, types.
  const texts = getArray(meta, `${K}tokens`, [GGUFValueType.STRING]);
  if (texts === undefined) throw invalid('cannot find tokenizer vocab in model file');
  const n = texts.length;
  const scoreArr = getArray(meta, `${K}scores`, [GGUFValueType.FLOAT32, GGUFValueType.INT32]);
  if (scoreArr && scoreArr.length < n) throw invalid(`scores has ${scoreArr.length} entries for ${n} tokens`);
  const typeArr = getArray(meta, `${K}token_type`, [GGUFValueType.INT32]);
  if (typeArr && typeArr.length < n) throw invalid(`token_type has ${typeArr.length} entries for ${n} tokens`);

  const tokens: string[] = new Array(n);
  const scores = new Float32Array(n);
  const attrs = new Uint16Array(n);
  const tokenToId = new Map<string, number>();
  let maxTokenLen = 0;
  for (let i = 0; i < n; i++) {
    let word = texts[i] as string;
    if (word === '') word = `[EMPTY_${i}]`;
    tokens[i] = word;
    tokenToId.set(word, i);
    const bytes = utf8ByteLength(word);
    if (bytes > maxTokenLen) maxTokenLen = bytes;
    if (scoreArr) scores[i] = scoreArr[i] as number;
    attrs[i] = typeArr ? (TYPE_TO_ATTR[typeArr[i] as number] ?? ATTR_UNDEFINED) : ATTR_NORMAL;
  }

  // Special token ids from metadata; out-of-range defaults are disabled, out-of-range overrides ignored.
  const special = (dflt: number, ...keys: string[]): number => {
    let id = dflt >= n ? NO_TOKEN : dflt;
    for (const key of keys) {
      const v = getNumber(meta, K + key);
      if (v !== undefined && v >= 0 && v < n) id = v;
    }
    return id;
  };
  bos = special(bos, 'bos_token_id');
  eos = special(eos, 'eos_token_id');
  eot = special(eot, 'eot_token_id');
  eom = special(eom, 'eom_token_id');
  unk = special(unk, 'unknown_token_id');
  sep = special(sep, 'seperator_token_id');
  pad = special(pad, 'padding_token_id');
  mask = special(mask, 'mask_token_id');
  fim.pre = special(fim.pre, 'fim_pre_token_id', 'prefix_token_id');
  fim.suf = special(fim.suf, 'fim_suf_token_id', 'suffix_token_id');
  fim.mid = special(fim.mid, 'fim_mid_token_id', 'middle_token_id');
  fim.pad = special(fim.pad, 'fim_pad_token_id');
  fim.rep = special(fim.rep, 'fim_rep_token_id');
  fim.sep = special(fim.sep, 'fim_sep_token_id');
  const clsMeta = getNumber(meta, `${K}cls_token_id`);
  const cls = clsMeta !== undefined && clsMeta >= 0 && clsMeta < n ? clsMeta : type === 'wpm' ? bos : NO_TOKEN;

  addBos = getBool(meta, `${K}add_bos_token`) ?? addBos;
  addEos = getBool(meta, `${K}add_eos_token`) ?? addEos;
  addSep = getBool(meta, `${K}add_sep_token`) ?? addSep;
  if (preTokenizer === 'gemma4' && !addBos) addBos = true; // llama.cpp forces BOS for Gemma 4

  lowercase = getBool(meta, `${K}normalizer.lowercase`) ?? lowercase;
  const stripAccents = getBool(meta, `${K}normalizer.strip_accents`) ?? lowercase;

  // Text-based detection of EOT/EOM/FIM tokens; a detected token becomes a control token.
  const makeControl = (id: number) => {
    attrs[id] |= ATTR_CONTROL;
  };
  const detect = (current: number, texts: readonly string[]): number => {
    if (current !== NO_TOKEN) return current;
    for (const t of texts) {
      const id = tokenToId.get(t);
      if (id !== undefined) {
        makeControl(id);
        return id;
      }
    }
    return NO_TOKEN;
  };
  eot = detect(eot, [
    '<|eot_id|>',
    '<|im_end|>',
    '<|end|>',
    '<end_of_turn>',
    '<|endoftext|>',
    '<|end_of_text|>',
    '<EOT>',
    '_<EOT>',
    '[EOT]',
    '<｜end▁of▁sentence｜>',
    '<end_of_utterance>',
  ]);
  eom = detect(eom, ['<|eom_id|>']);
  fim.pre = detect(fim.pre, [
    '<|fim_prefix|>',
    '<fim-prefix>',
    '<fim_prefix>',
    '<｜fim▁begin｜>',
    '<PRE>',
    '▁<PRE>',
    '<|code_prefix|>',
    '<|prefix|>',
  ]);
  fim.suf = detect(fim.suf, [
    '<|fim_suffix|>',
    '<fim-suffix>',
    '<fim_suffix>',
    '<｜fim▁hole｜>',
    '<SUF>',
    '▁<SUF>',
    '<|code_suffix|>',
    '<|suffix|>',
  ]);
  fim.mid = detect(fim.mid, [
    '<|fim_middle|>',
    '<fim-middle>',
    '<fim_middle>',
    '<｜fim▁end｜>',
    '<MID>',
    '▁<MID>',
    '<|code_middle|>',
    '<|middle|>',
  ]);
  fim.pad = detect(fim.pad, ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]']);
  fim.rep = detect(fim.rep, ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>']);
  fim.sep = detect(fim.sep, ['<|file_sep|>']);

  // Control tokens named "unused" are unused.
  for (let i = 0; i < n; i++) {
    if (attrs[i] & ATTR_CONTROL && tokens[i].includes('unused')) attrs[i] |= ATTR_UNUSED;
  }

  // End-of-generation tokens: FIM pad/repo/sep, tokens with EOG-looking text, eos/eot/eom.
  const eogIds = new Set<number>();
  for (const id of [fim.pad, fim.rep, fim.sep]) if (id !== NO_TOKEN) eogIds.add(id);
  for (const t of EOG_TEXTS) {
    const id = tokenToId.get(t);
    if (id !== undefined) {
      eogIds.add(id);
      makeControl(id);
    }
  }
  // gpt-oss: these are always rendered.
  for (const t of ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = ATTR_USER_DEFINED;
  }
  for (const id of [eos, eot, eom]) if (id !== NO_TOKEN) eogIds.add(id);
  // o200k_harmony / solar-open: "<|end|>" is not EOG when "<|return|>"+"<|call|>" or "<|calls|>"+"<|flush|>" exist.
  {
    const texts = new Set([...eogIds].map((id) => tokens[id]));
    const endId = tokenToId.get('<|end|>');
    const hasCall = texts.has('<|call|>') || texts.has('<|calls|>');
    if (endId !== undefined && eogIds.has(endId) && hasCall && (texts.has('<|return|>') || texts.has('<|flush|>'))) {
      eogIds.delete(endId);
      attrs[endId] = ATTR_USER_DEFINED;
    }
    // Gemma 4 / paddleocr: "</s>" is not EOG when "<|tool_response>" is.
    const sId = tokenToId.get('</s>');
    if (sId !== undefined && eogIds.has(sId) && texts.has('<|tool_response>')) {
      eogIds.delete(sId);
      attrs[sId] = ATTR_NORMAL;
    }
  }

  // The special-token partition order: longest text first.
  const specialTokens: number[] = [];
  const byteLen: number[] = [];
  for (let i = 0; i < n; i++) {
    if (attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) {
      specialTokens.push(i);
      byteLen[i] = utf8ByteLength(tokens[i]);
    }
  }
  specialTokens.sort((a, b) => byteLen[b] - byteLen[a] || a - b);

  // Per-model strip attributes (set after the piece cache in llama.cpp; they only affect partitioning).
  const name = (getString(meta, 'general.name') ?? '').toLowerCase();
  const arch = getString(meta, 'general.architecture') ?? '';
  const setAttr = (text: string, attr: number, on: boolean) => {
    const id = tokenToId.get(text);
    if (id === undefined) return;
    attrs[id] = on ? attrs[id] | attr : attrs[id] & ~attr;
  };
  if (
    ['jina-v2-de', 'jina-v2-es', 'jina-v2-code'].some((s) => pre.includes(s)) ||
    /nomic-bert-moe|jina-bert-v3/.test(arch)
  ) {
    setAttr('<mask>', ATTR_LSTRIP, true);
  } else if (name.includes('phi-3') || name.includes('phi3')) {
    for (const id of specialTokens) attrs[id] |= ATTR_RSTRIP;
    setAttr('</s>', ATTR_RSTRIP, true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) setAttr(t, ATTR_RSTRIP, false);
  } else if (name.includes('modern-bert')) {
    setAttr('[MASK]', ATTR_LSTRIP, true);
  }

  let precompiledCharsmap: Uint8Array | undefined;
  if (type === 'ugm') {
    const cm = getArray(meta, `${K}precompiled_charsmap`, [GGUFValueType.UINT8, GGUFValueType.INT8]);
    if (cm) precompiledCharsmap = Uint8Array.from(cm as number[], (v) => v & 0xff);
  }

  return {
    type,
    model,
    pre,
    preTokenizer,
    tokens,
    scores,
    attrs,
    tokenToId,
    maxTokenLen,
    bos,
    eos,
    eot,
    eom,
    unk,
    sep,
    pad,
    mask,
    cls,
    addSpacePrefix,
    addBos,
    addEos,
    addSep,
    ignoreMerges,
    cleanSpaces,
    removeExtraWhitespaces,
    escapeWhitespaces,
    treatWhitespaceAsSuffix: false,
    lowercase,
    stripAccents,
    bpeRanks,
    eogIds,
    specialTokens,
    precompiledCharsmap,
  };
}

/** Token texts llama.cpp treats as end of generation (llama-vocab.cpp, "special_eog_ids"). */
const EOG_TEXTS = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<|return|>',
  '<|call|>',
  '<|flush|>',
  '<|calls|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '</s>',
  '<|eom_id|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '[EOS]',
  '<|end_of_text|>',
  '<end_of_utterance>',
  '<eos>',
  '<turn|>',
  '<|tool_response>',
  '<｜end▁of▁sentence｜>',
  '[e~[',
];
