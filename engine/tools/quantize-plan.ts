/**
 * Which type each tensor of a model gets when quantizing to a file type: a
 * transcription of llama.cpp's choice (src/llama-quant.cpp of the llama.cpp that
 * node-llama-cpp 3.21.1 bundles: tensor_allows_quantization,
 * llama_tensor_get_type_impl, tensor_type_fallback, and the tensor order of
 * llama_model_loader's weights_map), restricted to the file types we can write
 * (no IQ*, TQ*, MXFP4: they need quantizers we do not have) and without an
 * importance matrix. With the same input, llama-quantize picks the same type
 * for every tensor and writes the tensors in the same order.
 */
import { ChordError } from '../../shared/errors.ts';
import { optNumber, optNumberArray, optString } from '../gguf/metadata.ts';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/types.ts';
import { GGMLType, typeTraits, WEIGHT_TYPES } from '../quant/types.ts';

/** llama.h `enum llama_ftype` (general.file_type), for the file types we write. */
export const FILE_TYPES = {
  F32: { ftype: 0, base: GGMLType.F32 },
  F16: { ftype: 1, base: GGMLType.F16 },
  Q4_0: { ftype: 2, base: GGMLType.Q4_0 },
  Q4_1: { ftype: 3, base: GGMLType.Q4_1 },
  Q8_0: { ftype: 7, base: GGMLType.Q8_0 },
  Q5_0: { ftype: 8, base: GGMLType.Q5_0 },
  Q5_1: { ftype: 9, base: GGMLType.Q5_1 },
  Q2_K: { ftype: 10, base: GGMLType.Q2_K },
  Q3_K_S: { ftype: 11, base: GGMLType.Q3_K },
  Q3_K_M: { ftype: 12, base: GGMLType.Q3_K },
  Q3_K_L: { ftype: 13, base: GGMLType.Q3_K },
  Q4_K_S: { ftype: 14, base: GGMLType.Q4_K },
  Q4_K_M: { ftype: 15, base: GGMLType.Q4_K },
  Q5_K_S: { ftype: 16, base: GGMLType.Q5_K },
  Q5_K_M: { ftype: 17, base: GGMLType.Q5_K },
  Q6_K: { ftype: 18, base: GGMLType.Q6_K },
  BF16: { ftype: 32, base: GGMLType.BF16 },
} as const;

export type FileTypeName = keyof typeof FILE_TYPES;

/** llama-quantize's aliases: the K-quant names without a size suffix mean the _M mix. */
const ALIASES: Record<string, FileTypeName> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M' };

/** The file type a name (case-insensitive, aliases included) stands for, or a ChordError. */
export function parseFileType(name: string): FileTypeName {
  const upper = name.toUpperCase();
  const resolved = ALIASES[upper] ?? upper;
  if (!(resolved in FILE_TYPES)) {
    const known = [...Object.keys(FILE_TYPES), ...Object.keys(ALIASES)].join(', ');
    throw new ChordError('INVALID_ARGUMENT', `unknown quantization type '${name}' (known: ${known})`, { type: name });
  }
  return resolved as FileTypeName;
}

/** A --keep rule: tensors whose whole name matches the glob (* and ?) get `type`, or keep their own type. */
export interface KeepRule {
  readonly glob: string;
  /** undefined: the tensor keeps the type it has in the input. */
  readonly type?: GGMLType;
}

/** Parses `GLOB=TYPE` or `GLOB`. */
export function parseKeepRule(text: string): KeepRule {
  const eq = text.lastIndexOf('=');
  if (eq < 0) return { glob: text };
  const glob = text.slice(0, eq);
  const typeName = text.slice(eq + 1).toUpperCase();
  const type = WEIGHT_TYPES.find((t) => GGMLType[t] === typeName);
  if (glob === '' || type === undefined) {
    const known = WEIGHT_TYPES.map((t) => GGMLType[t]).join(', ');
    throw new ChordError('INVALID_ARGUMENT', `--keep '${text}': expected NAME_GLOB=TYPE with TYPE one of ${known}`, {
      rule: text,
    });
  }
  return { glob, type };
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/** Why a tensor gets its type. */
export type TypeReason =
  | 'not quantized' // 1-D, norms, and the other tensors llama.cpp never quantizes
  | 'default' // the file type's base type
  | 'mix' // llama.cpp's per-tensor choice (output and attn_v in more bits, ...)
  | 'keep' // a --keep rule
  | 'fallback'; // the row length does not fit the chosen type's blocks

export interface TensorPlan {
  readonly tensor: GGUFTensorInfo;
  readonly from: GGMLType;
  readonly to: GGMLType;
  readonly reason: TypeReason;
  /** For a fallback: the type the row length did not fit. */
  readonly wanted?: GGMLType;
}

export interface QuantizePlan {
  readonly fileType: FileTypeName;
  /** In the order llama.cpp writes them. */
  readonly tensors: readonly TensorPlan[];
  /** Tensors whose row length forced a fallback type (llama.cpp's n_fallback). */
  readonly fallbacks: number;
}

/** ggml_n_dims: the number of dimensions up to the last one larger than 1. */
function nDims(shape: readonly number[]): number {
  for (let i = shape.length - 1; i >= 1; i--) if (shape[i] > 1) return i + 1;
  return 1;
}

/** The layer of a `blk.N.` name as C's sscanf("blk.%d.") reads it, else -1. */
function layerOf(name: string): number {
  const m = /^blk\.\s*([+-]?\d+)/.exec(name);
  return m === null ? -1 : Number.parseInt(m[1], 10);
}

/** llama_model_loader::weight_name_comparer: by layer (non-layer tensors first), then by name. */
export function compareTensorNames(a: string, b: string): number {
  const la = layerOf(a);
  const lb = layerOf(b);
  if (la !== lb) return la - lb;
  return a < b ? -1 : a > b ? 1 : 0;
}

const NEVER_QUANTIZED = [
  '_norm.weight',
  'ffn_gate_inp.weight',
  'ffn_gate_tid2eid.weight',
  'altup',
  'laurel',
  'per_layer_model_proj',
  'ssm_conv1d',
  'shortconv.conv.weight',
  'indexer.k_proj.weight',
  'indexer.q_proj.weight',
  'time_mix_first.weight',
  'time_mix_w0.weight',
  'time_mix_w1.weight',
  'time_mix_w2.weight',
  'time_mix_v0.weight',
  'time_mix_v1.weight',
  'time_mix_v2.weight',
  'time_mix_a0.weight',
  'time_mix_a1.weight',
  'time_mix_a2.weight',
  'time_mix_g1.weight',
  'time_mix_g2.weight',
  'time_mix_decay_w1.weight',
  'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight',
  'attn_rel_b.weight',
  '.position_embd',
  'sam.pos_embd',
  'sam.neck.',
  'sam.net_',
  '.rel_pos',
  '.patch_embd',
  '.patch_merger',
  'a.rvq.codebook',
  'mm.a.code_embd',
];

/** tensor_allows_quantization with the default parameters (output.weight is quantized). */
function allowsQuantization(t: GGUFTensorInfo): boolean {
  if (nDims(t.shape) < 2) return false;
  if (!t.name.endsWith('weight')) return false;
  if (t.name === 'position_embd.weight' || t.name === 'token_types.weight') return false;
  return !NEVER_QUANTIZED.some((s) => t.name.includes(s));
}

type Category =
  | 'token_embd'
  | 'attn_q'
  | 'attn_v'
  | 'attn_k'
  | 'attn_qkv'
  | 'attn_kv_b'
  | 'attn_output'
  | 'ffn_up'
  | 'ffn_gate'
  | 'ffn_down'
  | 'output'
  | 'other';

/** tensor_get_category. */
function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_kv_b.weight')) return 'attn_kv_b';
  if (name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

const isAttnV = (c: Category) => c === 'attn_v' || c === 'attn_qkv' || c === 'attn_kv_b';

/** The model facts llama.cpp's choice depends on. */
interface ModelFacts {
  arch: string;
  nLayer: number;
  nGqa: number;
  nExpert: number;
  is70B: boolean;
}

/** Architectures whose 80-layer (jais2: 68) models llama.cpp calls LLM_TYPE_70B. */
const TYPE_70B_LAYERS: Record<string, number> = { deci: 80, jais2: 68, olmo: 80, qwen2: 80 };

function modelFacts(file: GGUFFile): ModelFacts {
  const arch = optString(file, 'general.architecture') ?? '';
  const first = (key: string): number | undefined => {
    const e = file.metadata.get(key);
    if (e === undefined) return undefined;
    return Array.isArray(e.value) ? optNumberArray(file, key)?.[0] : optNumber(file, key);
  };
  const nLayer = optNumber(file, `${arch}.block_count`) ?? 0;
  const nHead = first(`${arch}.attention.head_count`) ?? 0;
  const nHeadKv = first(`${arch}.attention.head_count_kv`) ?? nHead;
  const nExpert = optNumber(file, `${arch}.expert_count`) ?? 0;
  // hparams.n_gqa(): n_head / n_head_kv of layer 0, 0 when n_head_kv is 0.
  const nGqa = nHeadKv === 0 ? 0 : Math.trunc(nHead / nHeadKv);
  const is70B = arch === 'llama' ? nLayer === 80 && nHead !== nHeadKv : TYPE_70B_LAYERS[arch] === nLayer;
  return { arch, nLayer, nGqa, nExpert, is70B };
}

/** quantize_state_impl's counters. */
interface Counters {
  nAttentionWv: number;
  iAttentionWv: number;
  iFfnDown: number;
  iFfnGate: number;
  iFfnUp: number;
}

const useMoreBits = (i: number, n: number) =>
  i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;

/** llama_tensor_get_type_impl for our file types (branches for IQ*, TQ*, MXFP4 omitted). */
function mixType(
  ft: FileTypeName,
  type: GGMLType,
  t: GGUFTensorInfo,
  cat: Category,
  tied: boolean,
  m: ModelFacts,
  c: Counters,
): GGMLType {
  const falcon = m.arch === 'falcon';
  // layer_info: with experts the layer comes from the name, else from the counter.
  const layer = (counter: number): number => {
    if (m.nExpert <= 1) return counter;
    const l = layerOf(t.name);
    if (l < 0 || l >= m.nLayer) {
      throw new ChordError('MODEL_INVALID', `cannot tell the layer of tensor '${t.name}'`, { tensor: t.name });
    }
    return l;
  };
  const n = m.nLayer;
  if (cat === 'output' || (tied && cat === 'token_embd')) {
    const blockSize = typeTraits(type)?.blockSize ?? 1;
    if (falcon || t.shape[0] % blockSize !== 0) return GGMLType.Q8_0;
    return type !== GGMLType.Q8_0 ? GGMLType.Q6_K : type;
  }
  if (cat === 'token_embd') return type;
  if (isAttnV(cat)) {
    let nt = type;
    if (ft === 'Q2_K') nt = m.nGqa >= 4 ? GGMLType.Q4_K : GGMLType.Q3_K;
    else if (ft === 'Q3_K_M') nt = c.iAttentionWv < 2 ? GGMLType.Q5_K : GGMLType.Q4_K;
    else if (ft === 'Q3_K_L') nt = GGMLType.Q5_K;
    else if ((ft === 'Q4_K_M' || ft === 'Q5_K_M') && useMoreBits(c.iAttentionWv, c.nAttentionWv)) nt = GGMLType.Q6_K;
    else if (ft === 'Q4_K_S' && c.iAttentionWv < 4) nt = GGMLType.Q5_K;
    if (m.is70B && (nt === GGMLType.Q3_K || nt === GGMLType.Q4_K)) nt = GGMLType.Q5_K;
    if (m.nExpert === 8) nt = GGMLType.Q8_0;
    c.iAttentionWv++;
    return nt;
  }
  if (cat === 'attn_k') return m.nExpert === 8 ? GGMLType.Q8_0 : type;
  if (cat === 'ffn_down') {
    const i = layer(c.iFfnDown);
    let nt = type;
    if (ft === 'Q2_K') nt = GGMLType.Q3_K;
    else if (ft === 'Q3_K_M') {
      nt = i < Math.trunc(n / 16) ? GGMLType.Q5_K : !falcon || useMoreBits(i, n) ? GGMLType.Q4_K : GGMLType.Q3_K;
    } else if (ft === 'Q3_K_L') nt = falcon ? GGMLType.Q4_K : GGMLType.Q5_K;
    else if (ft === 'Q4_K_M') {
      if (falcon) {
        nt = i < Math.trunc(n / 16) ? GGMLType.Q6_K : useMoreBits(i, n) ? GGMLType.Q5_K : GGMLType.Q4_K;
      } else if (useMoreBits(i, n)) nt = GGMLType.Q6_K;
    } else if (ft === 'Q5_K_M' && useMoreBits(i, n)) nt = GGMLType.Q6_K;
    else if (ft === 'Q4_K_S' && !falcon && i < Math.trunc(n / 8)) nt = GGMLType.Q5_K;
    c.iFfnDown++;
    return nt;
  }
  if (cat === 'attn_output') {
    if (falcon) return ft === 'Q3_K_L' ? GGMLType.Q4_K : type;
    if (m.nExpert === 8) {
      const bump: FileTypeName[] = ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q4_K_S', 'Q4_K_M'];
      return bump.includes(ft) ? GGMLType.Q5_K : type;
    }
    if (ft === 'Q2_K') return GGMLType.Q3_K;
    if (ft === 'Q3_K_M') return GGMLType.Q4_K;
    if (ft === 'Q3_K_L') return GGMLType.Q5_K;
    return type;
  }
  if (cat === 'ffn_gate') {
    layer(c.iFfnGate);
    c.iFfnGate++;
  } else if (cat === 'ffn_up') {
    layer(c.iFfnUp);
    c.iFfnUp++;
  }
  return type;
}

/** tensor_type_fallback: a block type whose blocks do not fit the row length. */
function fallbackType(type: GGMLType, rowLength: number): GGMLType {
  const blockSize = typeTraits(type)?.blockSize ?? 1;
  if (rowLength % blockSize === 0) return type;
  const smaller: Partial<Record<GGMLType, GGMLType>> = {
    [GGMLType.Q2_K]: GGMLType.Q4_0,
    [GGMLType.Q3_K]: GGMLType.Q4_0,
    [GGMLType.Q4_K]: GGMLType.Q5_0,
    [GGMLType.Q5_K]: GGMLType.Q5_1,
    [GGMLType.Q6_K]: GGMLType.Q8_0,
  };
  const next = smaller[type] ?? type;
  return rowLength % (typeTraits(next)?.blockSize ?? 1) === 0 ? next : GGMLType.F16;
}

export interface PlanOptions {
  readonly keep?: readonly KeepRule[];
}

/**
 * Each tensor's target type for `fileType`, in llama.cpp's output order.
 * --keep rules act like llama-quantize's --tensor-type overrides: on the tensors
 * llama.cpp would quantize, the first matching rule wins over the mix (a row
 * length that does not fit still falls back).
 */
export function planQuantization(file: GGUFFile, fileType: FileTypeName, opts: PlanOptions = {}): QuantizePlan {
  const base = FILE_TYPES[fileType].base;
  const facts = modelFacts(file);
  const tensors = [...file.tensors].sort((a, b) => compareTensorNames(a.name, b.name));
  const categories = tensors.map((t) => categoryOf(t.name));
  const counters: Counters = {
    nAttentionWv: categories.filter(isAttnV).length,
    iAttentionWv: 0,
    iFfnDown: 0,
    iFfnGate: 0,
    iFfnUp: 0,
  };
  const tied = !categories.includes('output');
  const keep = (opts.keep ?? []).map((r) => ({ ...r, re: globToRegExp(r.glob) }));
  const quantized = (typeTraits(base)?.blockSize ?? 1) > 1; // ggml_is_quantized
  let fallbacks = 0;
  const plans = tensors.map((t, i): TensorPlan => {
    if (!allowsQuantization(t)) return { tensor: t, from: t.type, to: t.type, reason: 'not quantized' };
    const rule = keep.find((r) => r.re.test(t.name));
    let to: GGMLType;
    let reason: TypeReason;
    if (rule !== undefined) {
      to = rule.type ?? t.type;
      reason = 'keep';
      if (rule.type === undefined) return { tensor: t, from: t.type, to, reason };
    } else if (!quantized) {
      // F32, F16, BF16 files: every quantizable tensor in that type, no mix.
      return { tensor: t, from: t.type, to: base, reason: 'default' };
    } else {
      to = mixType(fileType, base, t, categories[i], tied, facts, counters);
      reason = to === base ? 'default' : 'mix';
    }
    const fitted = fallbackType(to, t.shape[0]);
    if (fitted !== to) {
      fallbacks++;
      return { tensor: t, from: t.type, to: fitted, reason: 'fallback', wanted: to };
    }
    return { tensor: t, from: t.type, to, reason };
  });
  return { fileType, tensors: plans, fallbacks };
}
