import type { HParams } from './hparams.ts';

/**
 * A model family (GGUF general.architecture) as data: which blocks its one
 * decoder layer uses, read from llama.cpp's graph for that architecture
 * (src/models/<arch>.cpp in the llama.cpp that node-llama-cpp 3.21.1 bundles).
 * engine/model/forward.ts runs every family from this description.
 */
export interface Family {
  arch: string;
  /** Every norm: RMSNorm (weight) or LayerNorm (weight and bias; Phi-2). */
  norm: 'rms' | 'layer';
  /** RoPE pairs: adjacent (llama) or halves (neox). */
  rope: 'norm' | 'neox';
  /**
   * Feed-forward: 'swiglu' silu(gate)·up, 'geglu' gelu(gate)·up (gate and up as
   * separate tensors, or Phi-3's fused ffn_up holding gate then up), 'gelu' a plain
   * up → gelu → down (Phi-2, with biases).
   */
  ffn: 'swiglu' | 'geglu' | 'gelu';
  /** ffn_up is [nEmbd, 2·nFF]: the gate's rows then the up's (Phi-3). */
  fusedGateUp?: boolean;
  /** Attention and feed-forward both read the attention norm's output and add to the residual together (Phi-2). */
  parallel?: boolean;
  /** Embeddings multiplied by sqrtf(nEmbd) (Gemma). */
  embedScale?: boolean;
  /** Q multiplied by the attention scale (ggml_scale) before attention, which then scales by 1. */
  queryPreScale?: boolean;
  /** RMSNorms on the attention and feed-forward outputs before their residual adds (Gemma 2). */
  postNorms?: boolean;
  /**
   * output.weight: 'optional' (token_embd when absent), 'required', or 'tied'
   * (llama.cpp always reuses token_embd and ignores output.weight).
   */
  output: 'optional' | 'required' | 'tied';
  /** Bias tensors llama.cpp requires: the norms', attn_output's, ffn_up/down's, output's (Phi-2). */
  biases?: boolean;
  /** rope_factors_long/short (Phi-3 LongRoPE) are read when present. */
  ropeFactors?: boolean;
  /** Gemma 2's defaults: attention and final logit soft-capping, sliding window on alternate layers. */
  gemma2?: boolean;
  /** The attention scale, where it is not 1/sqrt(head dim). */
  attentionScale?: (hp: HParams) => number;
}

export const FAMILIES: ReadonlyMap<string, Family> = new Map(
  (
    [
      // Llama 1-3, Mistral, TinyLlama, SmolLM: rope_freqs (Llama 3.1 scaling) read when present.
      { arch: 'llama', norm: 'rms', rope: 'norm', ffn: 'swiglu', output: 'optional', ropeFactors: true },
      // Qwen2 / 2.5: q/k/v biases (optional tensors), NeoX RoPE, optional output bias.
      { arch: 'qwen2', norm: 'rms', rope: 'neox', ffn: 'swiglu', output: 'optional' },
      {
        arch: 'phi2',
        norm: 'layer',
        rope: 'neox',
        ffn: 'gelu',
        parallel: true,
        queryPreScale: true,
        output: 'required',
        biases: true,
      },
      {
        arch: 'phi3',
        norm: 'rms',
        rope: 'neox',
        ffn: 'swiglu',
        fusedGateUp: true,
        queryPreScale: true,
        output: 'optional',
        ropeFactors: true,
      },
      { arch: 'gemma', norm: 'rms', rope: 'neox', ffn: 'geglu', embedScale: true, queryPreScale: true, output: 'tied' },
      {
        arch: 'gemma2',
        norm: 'rms',
        rope: 'neox',
        ffn: 'geglu',
        embedScale: true,
        queryPreScale: true,
        postNorms: true,
        output: 'tied',
        gemma2: true,
        // llama.cpp: query_pre_attn_scalar is n_embd/n_head for the 27B model (46 layers), else the head dim
        attentionScale: (hp) =>
          Math.fround(1 / Math.fround(Math.sqrt(hp.nLayers === 46 ? Math.trunc(hp.nEmbd / hp.nHeads) : hp.headDim))),
      },
    ] satisfies Family[]
  ).map((f) => [f.arch, f]),
);

/** The attention scale as llama.cpp's float: 1.0f/sqrtf(head_dim) unless the family says otherwise. */
export function attentionScale(f: Family, hp: HParams): number {
  return f.attentionScale ? f.attentionScale(hp) : Math.fround(1 / Math.fround(Math.sqrt(hp.headDim)));
}

/** A tensor llama.cpp looks for: its name, shape (ne0 first), and whether loading fails without it. */
export interface TensorSpec {
  name: string;
  shape: number[];
  required: boolean;
}

/**
 * The tensors llama.cpp's loader asks for, for this family and these
 * hyper-parameters. Q/K/V come fused (attn_qkv) or separate, whichever the file
 * has (llama.cpp's create_tensor_qkv); `fusedQkv` says which, per layer.
 */
export function tensorSpecs(f: Family, hp: HParams, fusedQkv: (layer: number) => boolean): TensorSpec[] {
  const q = hp.nHeads * hp.headDim;
  const kv = hp.nKvHeads * hp.headDim;
  const n = hp.nEmbd;
  const specs: TensorSpec[] = [];
  const t = (name: string, shape: number[], required = true) => specs.push({ name, shape, required });
  t('token_embd.weight', [n, hp.vocabSize]);
  t('output_norm.weight', [n]);
  if (f.norm === 'layer') t('output_norm.bias', [n]);
  if (f.output !== 'tied') t('output.weight', [n, hp.vocabSize], f.output === 'required');
  if (f.output !== 'tied') t('output.bias', [hp.vocabSize], f.biases === true);
  if (f.ropeFactors) {
    const half = hp.ropeDims / 2;
    t('rope_freqs.weight', [half], false);
    t('rope_factors_long.weight', [half], false);
    t('rope_factors_short.weight', [half], false);
  }
  for (let l = 0; l < hp.nLayers; l++) {
    const b = `blk.${l}`;
    t(`${b}.attn_norm.weight`, [n]);
    if (f.norm === 'layer') t(`${b}.attn_norm.bias`, [n]);
    if (fusedQkv(l)) {
      t(`${b}.attn_qkv.weight`, [n, q + 2 * kv]);
      t(`${b}.attn_qkv.bias`, [q + 2 * kv], false);
    } else {
      t(`${b}.attn_q.weight`, [n, q]);
      t(`${b}.attn_k.weight`, [n, kv]);
      t(`${b}.attn_v.weight`, [n, kv]);
      t(`${b}.attn_q.bias`, [q], false);
      t(`${b}.attn_k.bias`, [kv], false);
      t(`${b}.attn_v.bias`, [kv], false);
    }
    const gated = f.ffn !== 'gelu' && !f.fusedGateUp;
    t(`${b}.attn_output.weight`, [q, n]);
    t(`${b}.attn_output.bias`, [n], f.biases === true);
    if (f.postNorms) t(`${b}.post_attention_norm.weight`, [n]);
    if (!f.parallel) t(`${b}.ffn_norm.weight`, [n]);
    if (!f.parallel && f.norm === 'layer') t(`${b}.ffn_norm.bias`, [n]);
    if (gated) t(`${b}.ffn_gate.weight`, [n, hp.nFF]);
    if (gated) t(`${b}.ffn_gate.bias`, [hp.nFF], false);
    t(`${b}.ffn_up.weight`, [n, f.fusedGateUp ? 2 * hp.nFF : hp.nFF]);
    if (!f.fusedGateUp) t(`${b}.ffn_up.bias`, [hp.nFF], f.biases === true);
    t(`${b}.ffn_down.weight`, [hp.nFF, n]);
    t(`${b}.ffn_down.bias`, [n], f.biases === true);
    if (f.postNorms) t(`${b}.post_ffw_norm.weight`, [n]);
  }
  return specs;
}
