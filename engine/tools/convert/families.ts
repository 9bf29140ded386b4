/**
 * The model families `chord convert` knows, as data: which Hugging Face
 * `architectures` each covers, the GGUF architecture it becomes, how HF tensor
 * names map to llama.cpp's (llama-arch.cpp), the per-tensor transforms, and the
 * hyper-parameter keys. All of it follows llama.cpp's convert_hf_to_gguf.py
 * (LlamaModel, Qwen2Model, Phi2Model, Phi3MiniModel, GemmaModel, Gemma2Model).
 */
import { ChordError } from '../../../shared/errors.ts';
import type { GGUFMetadataEntry } from '../../gguf/types.ts';
import { kv } from '../../gguf/writer.ts';

export type HFConfig = Readonly<Record<string, unknown>>;

/**
 * A transform applied to an HF tensor before it is written:
 * - 'permute-q' / 'permute-k': HF llama checkpoints order each head's rows as
 *   [first halves | second halves] for rotate_half RoPE; llama.cpp's llama RoPE
 *   rotates adjacent pairs, so the rows of each head are interleaved back
 *   (LlamaModel.permute; K uses the KV head count).
 * - 'plus-one': Gemma's RMSNorm multiplies by (1 + w); llama.cpp by w, so the
 *   converter stores w + 1.
 */
export type TensorTransform = 'permute-q' | 'permute-k' | 'plus-one';

export interface Family {
  /** GGUF general.architecture. */
  readonly arch: string;
  /** HF config.json `architectures` entries. */
  readonly hfArchitectures: readonly string[];
  /** HF module path (`{bid}` for the layer) -> GGUF tensor base name; `.weight` / `.bias` carry over. */
  readonly tensors: Readonly<Record<string, string>>;
  /** HF tensors deliberately not converted. */
  readonly skip: readonly RegExp[];
  /** Transforms keyed by the GGUF name without the block prefix, e.g. 'attn_q.weight'. */
  readonly transforms: Readonly<Record<string, TensorTransform>>;
  /** The `{arch}.*` hyper-parameters (without the prefix) and any other keys (with theirs). */
  metadata(c: ConfigReader): Array<[string, GGUFMetadataEntry]>;
  /** Extra F32 tensors computed from the config (llama3 rope factors, Phi-3 LongRoPE factors). */
  extraTensors?(c: ConfigReader): Array<{ name: string; values: Float32Array }>;
  /** Special tokens this family's converter sets by token text (ids looked up in the vocabulary). */
  readonly specialTokenTexts?: Readonly<Record<string, string>>;
}

/** Typed access to config.json with errors that name the key. */
export class ConfigReader {
  constructor(
    readonly config: HFConfig,
    readonly source = 'config.json',
  ) {}

  find(keys: readonly string[]): unknown {
    for (const k of keys) if (this.config[k] !== undefined && this.config[k] !== null) return this.config[k];
    return undefined;
  }
  num(keys: readonly string[]): number | undefined {
    const v = this.find(keys);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ChordError('MODEL_INVALID', `${this.source}: ${keys[0]} is not a number`);
    }
    return v;
  }
  requireNum(keys: readonly string[]): number {
    const v = this.num(keys);
    if (v === undefined) throw new ChordError('MODEL_INVALID', `${this.source}: missing ${keys.join(' or ')}`);
    return v;
  }
  int(keys: readonly string[]): number {
    const v = this.requireNum(keys);
    if (!Number.isInteger(v) || v < 0) throw new ChordError('MODEL_INVALID', `${this.source}: ${keys[0]} = ${v}`);
    return v;
  }
  get nEmbd() {
    return this.int(['hidden_size', 'n_embd']);
  }
  get nHead() {
    return this.int(['num_attention_heads', 'n_head']);
  }
  get nKvHead() {
    return this.num(['num_key_value_heads']) ?? this.nHead;
  }
  get nLayers() {
    return this.int(['num_hidden_layers', 'n_layer', 'num_layers']);
  }
  get headDim() {
    return this.num(['head_dim']) ?? this.nEmbd / this.nHead;
  }
}

const u32 = kv.u32;
const f32 = kv.f32;

/** TextModel.set_gguf_parameters: the keys every family writes when its config has them. */
function baseParameters(c: ConfigReader): Array<[string, GGUFMetadataEntry]> {
  const out: Array<[string, GGUFMetadataEntry]> = [
    ['block_count', u32(c.nLayers)],
    ['context_length', u32(c.int(['max_position_embeddings', 'n_ctx', 'n_positions', 'max_length']))],
    ['embedding_length', u32(c.nEmbd)],
    ['feed_forward_length', u32(c.int(['intermediate_size', 'n_inner']))],
    ['attention.head_count', u32(c.nHead)],
  ];
  const kvHeads = c.num(['num_key_value_heads']);
  if (kvHeads !== undefined) out.push(['attention.head_count_kv', u32(kvHeads)]);
  const theta = c.num(['rope_theta']);
  if (theta !== undefined) out.push(['rope.freq_base', f32(theta)]);
  const rmsEps = c.num(['rms_norm_eps']);
  if (rmsEps !== undefined) out.push(['attention.layer_norm_rms_epsilon', f32(rmsEps)]);
  const headDim = c.num(['head_dim']);
  if (headDim !== undefined) out.push(['attention.key_length', u32(headDim)], ['attention.value_length', u32(headDim)]);
  return out;
}

/** `rope_scaling: {type|rope_type: 'linear', factor}` (LlamaModel). */
function linearRopeScaling(c: ConfigReader): Array<[string, GGUFMetadataEntry]> {
  const rs = c.config.rope_scaling as Record<string, unknown> | undefined;
  const type = rs?.rope_type ?? rs?.type;
  if (type === 'linear' && typeof rs?.factor === 'number') {
    return [
      ['rope.scaling.type', kv.str('linear')],
      ['rope.scaling.factor', f32(rs.factor)],
    ];
  }
  return [];
}

/**
 * Llama 3.1's `rope_scaling: {rope_type: 'llama3'}` becomes a rope_freqs tensor:
 * per rotary pair, 1 for short wavelengths, `factor` for long ones, a smooth
 * blend between (LlamaModel.generate_extra_tensors).
 */
function llama3RopeFreqs(c: ConfigReader): Array<{ name: string; values: Float32Array }> {
  const rs = c.config.rope_scaling as Record<string, unknown> | undefined;
  if ((rs?.rope_type ?? rs?.type) !== 'llama3') return [];
  const base = c.num(['rope_theta']) ?? 10000;
  const dim = c.headDim;
  const factor = (rs?.factor as number | undefined) ?? 8;
  const lowFreqFactor = (rs?.low_freq_factor as number | undefined) ?? 1;
  const highFreqFactor = (rs?.high_freq_factor as number | undefined) ?? 4;
  const oldContext = (rs?.original_max_position_embeddings as number | undefined) ?? 8192;
  const lowFreqWavelen = oldContext / lowFreqFactor;
  const highFreqWavelen = oldContext / highFreqFactor;
  const values = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = 1 / base ** ((2 * i) / dim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highFreqWavelen) values[i] = 1;
    else if (wavelen > lowFreqWavelen) values[i] = factor;
    else {
      const smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      values[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return [{ name: 'rope_freqs.weight', values }];
}

// HF module paths of the llama-style decoder (Llama, Mistral, Qwen2, Gemma, Phi-3 share most).
const EMBED = { 'model.embed_tokens': 'token_embd' };
const FINAL_NORM = { 'model.norm': 'output_norm' };
const LM_HEAD = { lm_head: 'output' };
const ATTENTION = {
  'model.layers.{bid}.input_layernorm': 'blk.{bid}.attn_norm',
  'model.layers.{bid}.self_attn.q_proj': 'blk.{bid}.attn_q',
  'model.layers.{bid}.self_attn.k_proj': 'blk.{bid}.attn_k',
  'model.layers.{bid}.self_attn.v_proj': 'blk.{bid}.attn_v',
  'model.layers.{bid}.self_attn.o_proj': 'blk.{bid}.attn_output',
};
const GATED_FFN = {
  'model.layers.{bid}.mlp.gate_proj': 'blk.{bid}.ffn_gate',
  'model.layers.{bid}.mlp.up_proj': 'blk.{bid}.ffn_up',
  'model.layers.{bid}.mlp.down_proj': 'blk.{bid}.ffn_down',
};
const FFN_NORM = { 'model.layers.{bid}.post_attention_layernorm': 'blk.{bid}.ffn_norm' };
/** Buffers some checkpoints save that are recomputed at load time. */
const ROTARY_BUFFERS = /\.rotary_emb\.inv_freq$/;

const LLAMA: Family = {
  arch: 'llama',
  hfArchitectures: ['LlamaForCausalLM', 'MistralForCausalLM'],
  tensors: { ...EMBED, ...FINAL_NORM, ...LM_HEAD, ...ATTENTION, ...FFN_NORM, ...GATED_FFN },
  skip: [ROTARY_BUFFERS],
  transforms: {
    'attn_q.weight': 'permute-q',
    'attn_q.bias': 'permute-q',
    'attn_k.weight': 'permute-k',
    'attn_k.bias': 'permute-k',
  },
  metadata: (c) => [
    ...baseParameters(c),
    ['vocab_size', u32(c.int(['vocab_size']))],
    ['rope.dimension_count', u32(c.headDim)],
    ...linearRopeScaling(c),
  ],
  extraTensors: llama3RopeFreqs,
};

const QWEN2: Family = {
  arch: 'qwen2',
  hfArchitectures: ['Qwen2ForCausalLM'],
  // q/k/v carry biases (`.bias` maps with the same base names); RoPE is NeoX-style, no permutation.
  tensors: { ...EMBED, ...FINAL_NORM, ...LM_HEAD, ...ATTENTION, ...FFN_NORM, ...GATED_FFN },
  skip: [ROTARY_BUFFERS],
  transforms: {},
  metadata: (c) => [...baseParameters(c), ...linearRopeScaling(c)],
};

const PHI2: Family = {
  arch: 'phi2',
  hfArchitectures: ['PhiForCausalLM'],
  tensors: {
    ...EMBED,
    'model.final_layernorm': 'output_norm',
    ...LM_HEAD,
    'model.layers.{bid}.input_layernorm': 'blk.{bid}.attn_norm',
    'model.layers.{bid}.self_attn.q_proj': 'blk.{bid}.attn_q',
    'model.layers.{bid}.self_attn.k_proj': 'blk.{bid}.attn_k',
    'model.layers.{bid}.self_attn.v_proj': 'blk.{bid}.attn_v',
    'model.layers.{bid}.self_attn.dense': 'blk.{bid}.attn_output',
    'model.layers.{bid}.mlp.fc1': 'blk.{bid}.ffn_up',
    'model.layers.{bid}.mlp.fc2': 'blk.{bid}.ffn_down',
  },
  skip: [ROTARY_BUFFERS],
  transforms: {},
  // Phi2Model.set_gguf_parameters: LayerNorm eps, partial rotary dims, no BOS.
  metadata: (c) => {
    const nEmbd = c.nEmbd;
    const rotPct = c.requireNum(['partial_rotary_factor']);
    return [
      ['context_length', u32(c.int(['max_position_embeddings', 'n_positions']))],
      ['embedding_length', u32(nEmbd)],
      ['feed_forward_length', u32(c.num(['intermediate_size', 'n_inner']) ?? 4 * nEmbd)],
      ['block_count', u32(c.nLayers)],
      ['attention.head_count', u32(c.nHead)],
      ['attention.head_count_kv', u32(c.nHead)],
      ['attention.layer_norm_epsilon', f32(c.requireNum(['layer_norm_eps', 'layer_norm_epsilon']))],
      ['rope.dimension_count', u32(Math.floor(Math.floor(rotPct * nEmbd) / c.nHead))],
      ['rope.freq_base', f32(c.num(['rope_theta']) ?? 10000)],
      ['tokenizer.ggml.add_bos_token', kv.bool(false)],
    ];
  },
};

const PHI3: Family = {
  arch: 'phi3',
  hfArchitectures: ['Phi3ForCausalLM'],
  // Phi-3 checkpoints fuse q|k|v and gate|up; llama.cpp keeps them fused and splits the results.
  tensors: {
    ...EMBED,
    ...FINAL_NORM,
    ...LM_HEAD,
    'model.layers.{bid}.input_layernorm': 'blk.{bid}.attn_norm',
    'model.layers.{bid}.self_attn.qkv_proj': 'blk.{bid}.attn_qkv',
    'model.layers.{bid}.self_attn.o_proj': 'blk.{bid}.attn_output',
    ...FFN_NORM,
    'model.layers.{bid}.mlp.gate_up_proj': 'blk.{bid}.ffn_up',
    'model.layers.{bid}.mlp.down_proj': 'blk.{bid}.ffn_down',
  },
  skip: [ROTARY_BUFFERS],
  transforms: {},
  metadata: (c) => {
    const maxPos = c.int(['n_positions', 'max_position_embeddings']);
    const origMaxPos = c.num(['original_max_position_embeddings']) ?? maxPos;
    const rotPct = c.num(['partial_rotary_factor']) ?? 1;
    const out: Array<[string, GGUFMetadataEntry]> = [
      ['context_length', u32(maxPos)],
      ['rope.scaling.original_context_length', u32(origMaxPos)],
      ['embedding_length', u32(c.nEmbd)],
      ['feed_forward_length', u32(c.int(['intermediate_size']))],
      ['block_count', u32(c.nLayers)],
      ['attention.head_count', u32(c.nHead)],
      ['attention.head_count_kv', u32(c.nKvHead)],
      ['attention.layer_norm_rms_epsilon', f32(c.requireNum(['rms_norm_eps']))],
      ['rope.dimension_count', u32(Math.floor(Math.floor(rotPct * c.nEmbd) / c.nHead))],
      ['rope.freq_base', f32(c.num(['rope_theta']) ?? 10000)],
      ['attention.sliding_window', u32(c.num(['sliding_window']) ?? 0)],
    ];
    const rs = c.config.rope_scaling as Record<string, unknown> | undefined;
    if (rs && ['su', 'longrope'].includes(String(rs.type ?? rs.rope_type))) {
      // Phi3MiniModel: attention is scaled when the context is stretched beyond the original.
      const scale = maxPos / origMaxPos;
      const attnFactor = scale <= 1 ? 1 : Math.sqrt(1 + Math.log(scale) / Math.log(origMaxPos));
      out.push(['rope.scaling.attn_factor', f32(attnFactor)]);
    }
    return out;
  },
  extraTensors: (c) => {
    const rs = c.config.rope_scaling as Record<string, unknown> | undefined;
    if (!rs || !['su', 'longrope'].includes(String(rs.type ?? rs.rope_type))) return [];
    const rotDims = Math.floor(Math.floor((c.num(['partial_rotary_factor']) ?? 1) * c.nEmbd) / c.nHead);
    const factors = (key: string) => {
      const v = rs[key];
      if (!Array.isArray(v) || v.length !== rotDims / 2 || !v.every((x) => typeof x === 'number')) {
        throw new ChordError('MODEL_INVALID', `config.json: rope_scaling.${key} must be ${rotDims / 2} numbers`);
      }
      return Float32Array.from(v as number[]);
    };
    return [
      { name: 'rope_factors_long.weight', values: factors('long_factor') },
      { name: 'rope_factors_short.weight', values: factors('short_factor') },
    ];
  },
};

const GEMMA_PARAMETERS = (c: ConfigReader): Array<[string, GGUFMetadataEntry]> => [
  ['context_length', u32(c.int(['max_position_embeddings']))],
  ['embedding_length', u32(c.nEmbd)],
  ['block_count', u32(c.nLayers)],
  ['feed_forward_length', u32(c.int(['intermediate_size']))],
  ['attention.head_count', u32(c.nHead)],
  ['attention.head_count_kv', u32(c.nKvHead)],
  ['attention.layer_norm_rms_epsilon', f32(c.requireNum(['rms_norm_eps']))],
  ['attention.key_length', u32(c.headDim)],
  ['attention.value_length', u32(c.headDim)],
];

const GEMMA: Family = {
  arch: 'gemma',
  hfArchitectures: ['GemmaForCausalLM'],
  tensors: { ...EMBED, ...FINAL_NORM, ...ATTENTION, ...FFN_NORM, ...GATED_FFN },
  // The output projection is the embedding (GemmaModel skips lm_head.weight).
  skip: [ROTARY_BUFFERS, /^lm_head\.weight$/],
  transforms: { 'attn_norm.weight': 'plus-one', 'ffn_norm.weight': 'plus-one', 'output_norm.weight': 'plus-one' },
  metadata: GEMMA_PARAMETERS,
  specialTokenTexts: { eot: '<end_of_turn>' },
};

const GEMMA2: Family = {
  arch: 'gemma2',
  hfArchitectures: ['Gemma2ForCausalLM'],
  tensors: {
    ...EMBED,
    ...FINAL_NORM,
    ...ATTENTION,
    ...GATED_FFN,
    'model.layers.{bid}.post_attention_layernorm': 'blk.{bid}.post_attention_norm',
    'model.layers.{bid}.pre_feedforward_layernorm': 'blk.{bid}.ffn_norm',
    'model.layers.{bid}.post_feedforward_layernorm': 'blk.{bid}.post_ffw_norm',
  },
  skip: [ROTARY_BUFFERS, /^lm_head\.weight$/],
  transforms: {
    'attn_norm.weight': 'plus-one',
    'post_attention_norm.weight': 'plus-one',
    'ffn_norm.weight': 'plus-one',
    'post_ffw_norm.weight': 'plus-one',
    'output_norm.weight': 'plus-one',
  },
  metadata: (c) => {
    const out = GEMMA_PARAMETERS(c);
    const attnCap = c.num(['attn_logit_softcapping']);
    if (attnCap !== undefined) out.push(['attn_logit_softcapping', f32(attnCap)]);
    const finalCap = c.num(['final_logit_softcapping']);
    if (finalCap !== undefined) out.push(['final_logit_softcapping', f32(finalCap)]);
    const window = c.num(['sliding_window']);
    if (window !== undefined) out.push(['attention.sliding_window', u32(window)]);
    return out;
  },
  specialTokenTexts: { eot: '<end_of_turn>' },
};

export const FAMILIES: readonly Family[] = [LLAMA, QWEN2, PHI2, PHI3, GEMMA, GEMMA2];

/** The family for config.json's `architectures`, or UNSUPPORTED_ARCHITECTURE naming it. */
export function familyFor(config: HFConfig): Family {
  const archs = Array.isArray(config.architectures) ? (config.architectures as unknown[]) : [];
  for (const a of archs) {
    const family = FAMILIES.find((f) => f.hfArchitectures.includes(String(a)));
    if (family) return family;
  }
  const known = FAMILIES.flatMap((f) => f.hfArchitectures).join(', ');
  throw new ChordError(
    'UNSUPPORTED_ARCHITECTURE',
    `config.json architectures ${JSON.stringify(archs)}: chord convert knows ${known}`,
    { architectures: archs },
  );
}

/** An HF tensor name's GGUF name, `null` when the family skips it, `undefined` when unknown. */
export function ggufTensorName(family: Family, hfName: string): string | null | undefined {
  if (family.skip.some((re) => re.test(hfName))) return null;
  const m = /^(.*)\.(weight|bias)$/.exec(hfName);
  if (!m) return undefined;
  const [, module, suffix] = m;
  const layer = /\.layers\.(\d+)\./.exec(module);
  const key = layer ? module.replace(`.layers.${layer[1]}.`, '.layers.{bid}.') : module;
  const base = family.tensors[key];
  if (base === undefined) return undefined;
  return `${layer ? base.replace('{bid}', layer[1]) : base}.${suffix}`;
}

/** The transform for a GGUF tensor name, if the family has one. */
export function transformFor(family: Family, ggufName: string): TensorTransform | undefined {
  return family.transforms[ggufName.replace(/^blk\.\d+\./, '')];
}
