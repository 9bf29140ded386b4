import type { GGUFTensorInfo } from '../gguf/types.ts';
import type { GGMLType } from '../quant/types.ts';

/**
 * The seam between the model (what to compute) and a backend (where and how).
 *
 * The forward pass is written once, in engine/model/, as a sequence of calls on
 * this interface. Backends own their memory: weights stay in their quantized
 * layout wherever the backend keeps them, activations are opaque handles.
 * Calls may be recorded rather than executed at once (the WebGPU backend encodes
 * them into one submission, the WASM backend hands a whole token to its
 * workers); only `read` returns data to the caller, so nothing forces a
 * round-trip before the logits.
 *
 * Numerics follow llama.cpp's CPU backend by default: activations are quantized
 * to the weight type's partner format (TYPE_TRAITS vecDotType) before matrix
 * products, the KV cache holds F16, and attention rounds Q and the softmax
 * probabilities to F16 before their products with the F16 cache, as ggml's
 * mul_mat does.
 */
export type BackendName = 'js' | 'wasm' | 'webgpu';

/** A weight matrix or vector in the backend's memory. */
export interface Weight {
  readonly name: string;
  readonly type: GGMLType;
  /** ne[0] first, as in GGUF: a matrix is [nIn, nOut]. */
  readonly shape: readonly number[];
}

/** A row-major f32 activation tensor of `rows` x `cols`. */
export interface Activation {
  readonly rows: number;
  readonly cols: number;
}

export interface KVCacheSpec {
  nLayers: number;
  /** Maximum positions held. */
  nCtx: number;
  nKvHeads: number;
  headDim: number;
  /** 'f16' as llama.cpp's default; 'f32' for the all-f32 mode. */
  type: 'f16' | 'f32';
  /**
   * Attention over this cache will ask for soft-capping or a sliding window
   * (AttentionParams.softcap / window; Gemma 2). A backend whose own attention
   * lacks them keeps such a cache where its attention has them.
   */
  softcap?: boolean;
  slidingWindow?: boolean;
}

export interface KVCache {
  readonly spec: KVCacheSpec;
}

export interface RopeParams {
  nHeads: number;
  headDim: number;
  /** Dimensions rotated from the start of each head (rope.dimension_count). */
  nDims: number;
  freqBase: number;
  /** 1 / linear scaling factor. */
  freqScale: number;
  /** 'norm': adjacent pairs (llama); 'neox': halves (qwen2, phi, gemma...). */
  mode: 'norm' | 'neox';
  /**
   * Per-frequency divisors (F32, nDims/2 values): pair i turns by theta_i / factor[i]
   * (ggml_rope_ext's freq_factors; Phi-3's rope_factors_long/short). Absent: 1.
   */
  freqFactors?: Weight;
  /** Multiplies cos and sin (ggml's mscale, rope.scaling.attn_factor). Absent: 1. */
  attnFactor?: number;
}

export interface AttentionParams {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Multiplier of q·k, usually 1/sqrt(headDim); 1 where the model scaled q itself. */
  scale: number;
  /**
   * Logit soft-capping (Gemma 2): each score s = q·k·scale becomes cap·tanh(s/cap),
   * computed as ggml's flash attention does: s = q·k · float(scale/cap), then
   * cap·tanhf(s). Absent or 0: none.
   */
  softcap?: number;
  /**
   * Sliding window (llama.cpp's LLAMA_SWA_TYPE_STANDARD): a query at position p sees
   * the cached positions j with p - j < window only. Absent or 0: the whole causal past.
   */
  window?: number;
}

/**
 * The best k values of a row (usually logits) and its log-sum-exp: enough to
 * sample from the k best tokens and to give their exact probabilities,
 * p = exp(logit - logSumExp).
 */
export interface TopLogits {
  /** Best first: higher value, and among equal values the lower index (the sampler's rank order). */
  ids: Int32Array;
  /** The values of those ids, exactly as the row holds them. */
  logits: Float32Array;
  /** log Σ exp(row) over the whole row; NaN when the row holds a NaN or an infinity (read the row then). */
  logSumExp: number;
}

export interface BackendOptions {
  /** Accumulate in f32 with no activation quantization and an f32 KV cache. */
  exactF32?: boolean;
  /**
   * Attention computed as ggml's CPU flash attention (online softmax, V summed in
   * the cache type) — llama.cpp's default — rather than softmax then V·p.
   * Default true.
   */
  flashAttention?: boolean;
  threads?: number;
}

export interface Backend {
  readonly name: BackendName;
  /** Human-readable details: adapter, threads, SIMD. */
  readonly description: string;

  /** Takes a tensor's bytes, in its GGUF layout, into the backend's memory. */
  loadWeight(info: GGUFTensorInfo, bytes: Uint8Array): Promise<Weight>;
  /**
   * Optional, for backends whose weights live in this process's memory (wasm):
   * loads a tensor of `info.byteSize` bytes that `fill` writes straight into the
   * backend's memory, so that no other copy of it is ever held. When `fill`
   * rejects, the backend keeps nothing of the tensor and rethrows its error.
   */
  loadWeightInto?(info: GGUFTensorInfo, fill: (dest: Uint8Array) => Promise<void>): Promise<Weight>;
  createActivation(rows: number, cols: number): Activation;
  createKVCache(spec: KVCacheSpec): KVCache;

  /** out[r] = dequantized row ids[r] of the embedding matrix. */
  getRows(table: Weight, ids: readonly number[], out: Activation): void;
  /** out = x / rms(x) * weight, per row. */
  rmsNorm(x: Activation, weight: Weight, eps: number, out: Activation): void;
  /**
   * LayerNorm per row (ggml_norm, then ggml_mul by weight, then ggml_add of bias):
   * mean = float(sum x in double) / n; variance = float(sum (x - mean)^2 / n), the
   * squares summed as ggml_vec_cvar_f32 does (AVX2: groups of 8 reduced in float,
   * group sums added in double, the tail one by one);
   * out = ((x - mean) * float(1 / sqrtf(variance + eps))) * weight + bias, each op a float.
   */
  layerNorm(x: Activation, weight: Weight, bias: Weight, eps: number, out: Activation): void;
  /** out[r] = W · x[r] for every row r (W is [nIn, nOut]). */
  matmul(w: Weight, x: Activation, out: Activation): void;
  /** Rotates x (rows of nHeads*headDim) in place; row r is at position positions[r]. */
  rope(x: Activation, positions: readonly number[], p: RopeParams): void;
  /** Stores k and v (rows of nKvHeads*headDim) for `positions` of `layer`. */
  kvStore(cache: KVCache, layer: number, k: Activation, v: Activation, positions: readonly number[]): void;
  /**
   * Causal attention of q rows at `positions` over cache positions [0, position]
   * of `layer`; out has rows of nHeads*headDim.
   */
  attention(
    cache: KVCache,
    layer: number,
    q: Activation,
    positions: readonly number[],
    p: AttentionParams,
    out: Activation,
  ): void;
  /** gate = silu(gate) * up, element-wise. */
  swiglu(gate: Activation, up: Activation): void;
  /**
   * gate = gelu(gate) * up, element-wise (ggml_geglu_split): gelu as gelu() below,
   * then one float product.
   */
  geglu(gate: Activation, up: Activation): void;
  /**
   * x = gelu(x) in place, ggml's CPU GELU: the tanh approximation
   * 0.5x(1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))) looked up in a table indexed
   * by x rounded to F16 (the table holds F16 results); x <= -10 gives 0, x >= 10 gives x.
   */
  gelu(x: Activation): void;
  /** x += y, element-wise. */
  add(x: Activation, y: Activation): void;
  /** x[r] += bias for every row r (bias: a vector of x.cols values; ggml_add broadcasting it). */
  addBias(x: Activation, bias: Weight): void;
  /** x = float(x * s), element-wise (ggml_scale). */
  scale(x: Activation, s: number): void;
  /**
   * x = cap * tanh(x / cap), element-wise, as ggml_scale(1/cap), ggml_tanh (tanhf),
   * ggml_scale(cap): three float roundings (Gemma 2's final logit soft-capping).
   */
  softcap(x: Activation, cap: number): void;
  /** Copies row `row` of x into out (1 x cols). */
  copyRow(x: Activation, row: number, out: Activation): void;
  /**
   * out[r] = x[r][offset .. offset + out.cols) for every row r: the parts of a fused
   * product (Q, K, V from attn_qkv; gate and up from Phi-3's ffn_up), as ggml's views.
   */
  copyCols(x: Activation, offset: number, out: Activation): void;

  /** The f32 contents of an activation; flushes recorded work. */
  read(x: Activation): Promise<Float32Array>;
  /**
   * Optional, for backends where reading a whole logits row back costs (WebGPU):
   * the k largest values of a one-row activation and its log-sum-exp, flushing
   * recorded work as `read` does. See TopLogits.
   */
  readTopK?(x: Activation, k: number): Promise<TopLogits>;
  dispose(): Promise<void>;
}
