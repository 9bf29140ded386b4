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
}

export interface AttentionParams {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Multiplier of q·k, usually 1/sqrt(headDim). */
  scale: number;
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
  createActivation(rows: number, cols: number): Activation;
  createKVCache(spec: KVCacheSpec): KVCache;

  /** out[r] = dequantized row ids[r] of the embedding matrix. */
  getRows(table: Weight, ids: readonly number[], out: Activation): void;
  /** out = x / rms(x) * weight, per row. */
  rmsNorm(x: Activation, weight: Weight, eps: number, out: Activation): void;
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
  /** x += y, element-wise. */
  add(x: Activation, y: Activation): void;
  /** Copies row `row` of x into out (1 x cols). */
  copyRow(x: Activation, row: number, out: Activation): void;

  /** The f32 contents of an activation; flushes recorded work. */
  read(x: Activation): Promise<Float32Array>;
  dispose(): Promise<void>;
}
