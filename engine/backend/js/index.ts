import type { GGUFTensorInfo } from '../../gguf/types.ts';
import { activationBytes, dequantizeRow, quantizeActivations, roundToF16, vecDot } from '../../quant/index.ts';
import { GGMLType, TYPE_TRAITS } from '../../quant/types.ts';
import {
  dotFloat,
  dotTinyBlas,
  fmaF32,
  hasX86Dot,
  isRepackedOnX86,
  usesTinyBlas,
  vecDotQ4_0Repacked,
  vecDotTinyBlas,
  vecDotX86,
} from '../../quant/x86.ts';
import { cosF32, expF32, sinF32, softmaxExpSumX86, swigluX86 } from '../../quant/x86-math.ts';
import type {
  Activation,
  AttentionParams,
  Backend,
  BackendOptions,
  KVCache,
  KVCacheSpec,
  RopeParams,
  Weight,
} from '../backend.ts';
import { geluLookup, geluTableF16, tanhF32 } from './gelu.ts';
import { isQ4_KRepacked, usesRepackedGemm, vecDotQ4_KRepacked, vecDotQ4_KRepackedGemm } from './q4k-repacked.ts';

/**
 * The reference backend: plain scalar TypeScript, the specification the WASM
 * and WebGPU backends are tested against. Every op executes at once.
 */
interface JsWeight extends Weight {
  readonly bytes: Uint8Array;
  /** Bytes per row of ne[0] elements. */
  readonly rowBytes: number;
}

interface JsActivation extends Activation {
  readonly data: Float32Array;
}

interface JsKVCache extends KVCache {
  /** [layer][position][kvHead*headDim], values already rounded to the cache type. */
  readonly k: Float32Array[];
  readonly v: Float32Array[];
}

const f32 = Math.fround;

/** llama.cpp repacks such weights on x86 (CPU_REPACK buffer): ggml_gemv/gemm_q4_0_8x8_q8_0. */
function repackedDot(
  _type: GGMLType,
  n: number,
  w: Uint8Array,
  wOffset: number,
  a: Uint8Array,
  aOffset: number,
): number {
  return vecDotQ4_0Repacked(n, w, wOffset, a, aOffset);
}

/**
 * ggml's attention without flash attention: softmax over all scores (sum in
 * double, as ggml_vec_soft_max_f32), then the probabilities, rounded to the
 * cache type as mul_mat converts them, weight the rows of V.
 */
function softmaxWeightedSum(
  scores: Float64Array,
  n: number,
  V: Float32Array,
  stride: number,
  offset: number,
  dim: number,
  round: (x: number) => number,
  out: Float32Array,
  batch: boolean,
  halfCache: boolean,
): void {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < n; j++) if (scores[j] > max) max = scores[j];
  // the exps as the AVX2 build computes them (ggml_v_expf on groups of 8)
  const sum = softmaxExpSumX86(scores, n, max, scores);
  const inv = f32(1 / sum);
  for (let j = 0; j < n; j++) scores[j] = round(f32(scores[j] * inv));
  // mul_mat(V^T, probabilities) over llama.cpp's padded KV length (positions past n
  // weigh 0): tinyBLAS for a batch of queries, else ggml_vec_dot_f32/f16.
  const nPad = Math.ceil(n / KV_PAD) * KV_PAD;
  const prob = (j: number) => (j < n ? scores[j] : 0);
  for (let d = 0; d < dim; d++) {
    const v = (j: number) => (j < n ? V[j * stride + offset + d] : 0);
    out[d] = batch ? dotTinyBlas(nPad, v, prob) : dotFloat(nPad, v, prob, !halfCache);
  }
}

/** Query and KV tile sizes of ggml's tiled CPU flash attention (GGML_FA_TILE_Q, GGML_FA_TILE_KV). */
const FA_TILE = 64;

/**
 * ggml_compute_forward_flash_attn_ext_tiled for one query row: what llama.cpp's
 * CPU flash attention runs for batches of 64 queries and more (prompts). Q stays
 * F32; per tile of 64 cache cells, the scores are an FMA chain over the head
 * (simd_gemm), scaled, soft-capped; the row maximum moves as in online softmax,
 * the tile's exps are ggml_vec_soft_max_f32's (v_expf, sum in double), and the
 * weighted V rows are added to an F32 accumulator by FMA, cell by cell. Tiles
 * with no visible cell are skipped; masked cells weigh 0 (an exact no-op).
 */
function tiledAttentionRow(
  q: Float32Array,
  qBase: number,
  K: Float32Array,
  V: Float32Array,
  stride: number,
  offset: number,
  dim: number,
  first: number,
  nKv: number,
  scale: number,
  cap: number,
  out: Float32Array,
): void {
  out.fill(0);
  const kq = new Float32Array(FA_TILE);
  const prob = new Float64Array(FA_TILE);
  let M = Number.NEGATIVE_INFINITY;
  let S = 0;
  for (let t0 = Math.floor(first / FA_TILE) * FA_TILE; t0 < nKv; t0 += FA_TILE) {
    let tileMax = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < FA_TILE; k++) {
      const j = t0 + k;
      if (j < first || j >= nKv) {
        kq[k] = Number.NEGATIVE_INFINITY;
        continue;
      }
      let a = 0;
      for (let d = 0; d < dim; d++) a = fmaF32(K[j * stride + offset + d], q[qBase + d], a);
      let sc = f32(a * scale);
      if (cap) sc = f32(tanhF32(sc) * cap);
      kq[k] = sc;
      if (sc > tileMax) tileMax = sc;
    }
    const Mnew = Math.max(M, tileMax);
    if (Mnew > M) {
      const ms = expF32(f32(M - Mnew));
      for (let d = 0; d < dim; d++) out[d] = f32(out[d] * ms);
      S = f32(S * ms);
    }
    M = Mnew;
    S = f32(S + softmaxExpSumX86(kq, FA_TILE, M, prob));
    const lo = Math.max(first, t0);
    const hi = Math.min(nKv, t0 + FA_TILE);
    for (let d = 0; d < dim; d++) {
      let a = out[d];
      for (let j = lo; j < hi; j++) a = fmaF32(V[j * stride + offset + d], prob[j - t0], a);
      out[d] = a;
    }
  }
  const inv = S === 0 ? 0 : f32(1 / S);
  for (let d = 0; d < dim; d++) out[d] = f32(out[d] * inv);
}

/** llama.cpp pads the KV length its attention runs over (a multiple of 256 covers its paddings). */
const KV_PAD = 256;

/**
 * ggml's CPU flash attention (llama.cpp's default): one pass of online softmax.
 * The running weighted sum of V lives in the cache type, so with an F16 cache
 * every update is rounded to half precision, as ggml_vec_mad_f16 does.
 */
function onlineSoftmaxWeightedSum(
  scores: Float64Array,
  n: number,
  V: Float32Array,
  stride: number,
  offset: number,
  dim: number,
  round: (x: number) => number,
  out: Float32Array,
): void {
  out.fill(0);
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const s = scores[j];
    if (s === Number.NEGATIVE_INFINITY) continue; // masked: ggml skips it
    let ms = 1; // rescales what was accumulated when a new maximum appears
    let vs = 1; // this position's weight, exp(s - max)
    if (s > max) {
      ms = expF32(f32(max - s)); // glibc expf
      max = s;
      // ggml_vec_scale_f16: the float product, then to F16 (rounding twice, as ggml does)
      for (let d = 0; d < dim; d++) out[d] = round(f32(out[d] * ms));
    } else {
      vs = expF32(f32(s - max));
    }
    // ggml_vec_mad_f16: fmaf(v, vs, acc) in float, then to F16
    for (let d = 0; d < dim; d++) out[d] = round(fmaF32(V[j * stride + offset + d], vs, out[d]));
    // S = S*ms + vs: a float product then a float sum, not contracted (checked against
    // ggml_flash_attn_ext itself: tests/unit/engine/backend/js/flash-attention.test.ts)
    sum = f32(f32(sum * ms) + vs);
  }
  const inv = sum === 0 ? 0 : f32(1 / sum);
  for (let d = 0; d < dim; d++) out[d] = f32(out[d] * inv);
}

/**
 * ggml_vec_cvar_f32 (AVX2 build): writes x - mean into y and returns the sum of the
 * squares in double, where each group of 8 squares is first reduced in float as
 * its horizontal add does ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)); the tail one by one.
 */
function centredSquares(x: Float32Array, base: number, n: number, mean: number, y: Float32Array): number {
  let sum = 0;
  const sq = new Float32Array(8);
  let i = 0;
  for (; i + 7 < n; i += 8) {
    for (let k = 0; k < 8; k++) {
      const v = f32(x[base + i + k] - mean);
      y[base + i + k] = v;
      sq[k] = f32(v * v);
    }
    const a0 = f32(sq[0] + sq[4]);
    const a1 = f32(sq[1] + sq[5]);
    const a2 = f32(sq[2] + sq[6]);
    const a3 = f32(sq[3] + sq[7]);
    sum += f32(f32(a0 + a2) + f32(a1 + a3));
  }
  for (; i < n; i++) {
    const v = f32(x[base + i] - mean);
    y[base + i] = v;
    sum += f32(v * v);
  }
  return sum;
}

/**
 * RoPE's cosines and sines at `position` for the nDims/2 pairs, as
 * ggml_rope_cache_init computes them: theta advanced by repeated f32
 * multiplication, glibc's cosf/sinf, times attnFactor.
 */
export function ropeCosSin(
  position: number,
  p: RopeParams,
  factors: Float32Array | undefined,
  cos: Float32Array,
  sin: Float32Array,
): void {
  const thetaScale = f32(p.freqBase ** (-2 / p.nDims));
  const freqScale = f32(p.freqScale);
  const mscale = f32(p.attnFactor ?? 1);
  let theta = f32(position);
  for (let i = 0; i < p.nDims / 2; i++) {
    // rope_yarn without extrapolation mixing: freq_scale * (theta / freq_factor)
    const angle = f32(freqScale * (factors ? f32(theta / factors[i]) : theta));
    cos[i] = f32(cosF32(angle) * mscale); // glibc's cosf/sinf, as ggml_rope_cache_init calls them
    sin[i] = f32(sinF32(angle) * mscale);
    theta = f32(theta * thetaScale);
  }
}

export class JsBackend implements Backend {
  readonly name = 'js' as const;
  readonly description = 'reference (scalar TypeScript)';
  private readonly exactF32: boolean;
  private readonly flashAttention: boolean;
  private quantScratch = new Uint8Array(0);
  private rowScratch = new Float32Array(0);
  private scoreScratch = new Float64Array(0);

  constructor(opts: BackendOptions = {}) {
    this.exactF32 = opts.exactF32 ?? false;
    this.flashAttention = opts.flashAttention ?? true;
  }

  async loadWeight(info: GGUFTensorInfo, bytes: Uint8Array): Promise<Weight> {
    const traits = TYPE_TRAITS.get(info.type);
    const ne0 = info.shape[0];
    const rowBytes = traits ? (ne0 / traits.blockSize) * traits.typeSize : 0;
    const w: JsWeight = { name: info.name, type: info.type, shape: info.shape, bytes, rowBytes };
    return w;
  }

  createActivation(rows: number, cols: number): Activation {
    const a: JsActivation = { rows, cols, data: new Float32Array(rows * cols) };
    return a;
  }

  createKVCache(spec: KVCacheSpec): KVCache {
    const rowSize = spec.nCtx * spec.nKvHeads * spec.headDim;
    const c: JsKVCache = {
      spec,
      k: Array.from({ length: spec.nLayers }, () => new Float32Array(rowSize)),
      v: Array.from({ length: spec.nLayers }, () => new Float32Array(rowSize)),
    };
    return c;
  }

  getRows(table: Weight, ids: readonly number[], out: Activation): void {
    const w = table as JsWeight;
    const o = out as JsActivation;
    const n = w.shape[0];
    for (const [r, id] of ids.entries()) dequantizeRow(w.type, w.bytes, o.data, n, id * w.rowBytes, r * n);
  }

  rmsNorm(x: Activation, weight: Weight, eps: number, out: Activation): void {
    const xs = (x as JsActivation).data;
    const os = (out as JsActivation).data;
    const g = this.weightAsF32(weight);
    const n = x.cols;
    for (let r = 0; r < x.rows; r++) {
      const base = r * n;
      let sum = 0; // ggml sums in double
      for (let i = 0; i < n; i++) sum += f32(xs[base + i] * xs[base + i]); // float products
      const mean = f32(sum / n);
      const scale = f32(1 / f32(Math.sqrt(f32(mean + eps))));
      for (let i = 0; i < n; i++) os[base + i] = f32(f32(xs[base + i] * scale) * g[i]);
    }
  }

  layerNorm(x: Activation, weight: Weight, bias: Weight, eps: number, out: Activation): void {
    const xs = (x as JsActivation).data;
    const os = (out as JsActivation).data;
    const g = this.weightAsF32(weight);
    const b = this.weightAsF32(bias);
    const n = x.cols;
    for (let r = 0; r < x.rows; r++) {
      const base = r * n;
      let sum = 0; // ggml_vec_sum_f32: double
      for (let i = 0; i < n; i++) sum += xs[base + i];
      const mean = f32(f32(sum) / n);
      const variance = f32(centredSquares(xs, base, n, mean, os) / n);
      const scale = f32(1 / f32(Math.sqrt(f32(variance + eps))));
      for (let i = 0; i < n; i++) os[base + i] = f32(f32(f32(os[base + i] * scale) * g[i]) + b[i]);
    }
  }

  matmul(w: Weight, x: Activation, out: Activation): void {
    const wt = w as JsWeight;
    const xs = (x as JsActivation).data;
    const os = (out as JsActivation).data;
    const [nIn, nOut] = wt.shape;
    if (this.exactF32) {
      this.matmulF32(wt, xs, x.rows, os, nIn, nOut);
      return;
    }
    // Quantize each activation row once to the weight type's partner format, as llama.cpp does.
    const actType = TYPE_TRAITS.get(wt.type)!.vecDotType;
    const aBytes = activationBytes(actType, nIn);
    const act = this.scratchBytes(aBytes * x.rows);
    for (let r = 0; r < x.rows; r++) quantizeActivations(actType, xs, r * nIn, nIn, act, r * aBytes);
    // The dot products in llama.cpp's x86 (AVX2) float order where we mirror it, so that rounding
    // flips downstream (Q8 activations, F16 KV) happen where llama.cpp's happen.
    const dot = usesTinyBlas(wt.type, nIn, x.rows)
      ? vecDotTinyBlas
      : isRepackedOnX86(wt.type, nOut)
        ? repackedDot
        : isQ4_KRepacked(wt.type, nOut)
          ? vecDotQ4_KRepacked
          : hasX86Dot(wt.type)
            ? vecDotX86
            : vecDot;
    for (let r = 0; r < x.rows; r++) {
      // Repacked Q4_K: llama.cpp's gemm (other float order) takes the rows in whole groups of 4.
      const rowDot = dot === vecDotQ4_KRepacked && usesRepackedGemm(r, x.rows) ? vecDotQ4_KRepackedGemm : dot;
      for (let o = 0; o < nOut; o++) {
        os[r * nOut + o] = rowDot(wt.type, nIn, wt.bytes, o * wt.rowBytes, act, r * aBytes);
      }
    }
  }

  private matmulF32(w: JsWeight, xs: Float32Array, rows: number, os: Float32Array, nIn: number, nOut: number): void {
    const row = this.scratchRow(nIn);
    for (let o = 0; o < nOut; o++) {
      dequantizeRow(w.type, w.bytes, row, nIn, o * w.rowBytes, 0);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let i = 0; i < nIn; i++) s += row[i] * xs[r * nIn + i];
        os[r * nOut + o] = s;
      }
    }
  }

  rope(x: Activation, positions: readonly number[], p: RopeParams): void {
    const xs = (x as JsActivation).data;
    const cos = new Float32Array(p.nDims / 2);
    const sin = new Float32Array(p.nDims / 2);
    const factors = p.freqFactors ? this.weightAsF32(p.freqFactors) : undefined;
    for (let r = 0; r < x.rows; r++) {
      ropeCosSin(positions[r], p, factors, cos, sin);
      for (let h = 0; h < p.nHeads; h++) {
        const base = r * x.cols + h * p.headDim;
        for (let i = 0; i < p.nDims / 2; i++) {
          // norm: pairs (2i, 2i+1); neox: pairs (i, i + nDims/2)
          const a = p.mode === 'norm' ? base + 2 * i : base + i;
          const b = p.mode === 'norm' ? a + 1 : a + p.nDims / 2;
          const x0 = xs[a];
          const x1 = xs[b];
          // x0*cos - x1*sin with the first product fused (GCC's contraction of rotate_pairs)
          xs[a] = fmaF32(x0, cos[i], -f32(x1 * sin[i]));
          xs[b] = fmaF32(x0, sin[i], f32(x1 * cos[i]));
        }
      }
    }
  }

  kvStore(cache: KVCache, layer: number, k: Activation, v: Activation, positions: readonly number[]): void {
    const c = cache as JsKVCache;
    const width = c.spec.nKvHeads * c.spec.headDim;
    const round = this.cacheRounding(c);
    const ks = (k as JsActivation).data;
    const vs = (v as JsActivation).data;
    positions.forEach((pos, r) => {
      for (let i = 0; i < width; i++) {
        c.k[layer][pos * width + i] = round(ks[r * width + i]);
        c.v[layer][pos * width + i] = round(vs[r * width + i]);
      }
    });
  }

  attention(
    cache: KVCache,
    layer: number,
    q: Activation,
    positions: readonly number[],
    p: AttentionParams,
    out: Activation,
  ): void {
    const c = cache as JsKVCache;
    const qs = (q as JsActivation).data;
    const os = (out as JsActivation).data;
    const K = c.k[layer];
    const V = c.v[layer];
    const kvWidth = p.nKvHeads * p.headDim;
    const groupSize = p.nHeads / p.nKvHeads;
    // ggml converts q to the cache type before its products with K.
    const round = this.cacheRounding(c);
    const qh = new Float32Array(p.headDim);
    const qAt = (d: number) => qh[d];
    const acc = new Float32Array(p.headDim);
    const half = c.spec.type === 'f16';
    // Without flash attention K·Q is a mul_mat: for a batch of F16 queries llama.cpp
    // hands it to tinyBLAS (an F32 cache keeps q non-contiguous, so ggml_vec_dot_f32).
    const batch = q.rows >= 2;
    const kqTinyBlas = !this.flashAttention && half && batch && p.headDim % 8 === 0;
    // Soft-capping as ggml's flash attention: the scale divided by the cap, then cap·tanhf.
    const cap = p.softcap ? f32(p.softcap) : 0;
    const scale = cap ? f32(p.scale / cap) : f32(p.scale);
    // llama.cpp's flash attention over a batch of 64 queries or more is its tiled kernel
    const tiled = this.flashAttention && half && q.rows >= FA_TILE && p.headDim % 8 === 0;
    for (let r = 0; r < q.rows; r++) {
      const nKv = positions[r] + 1;
      // positions before `first` are outside the sliding window: masked (-inf), which
      // flash attention skips and the softmax weighs 0
      const first = p.window ? Math.max(0, nKv - p.window) : 0;
      const scores = this.scratchScores(nKv);
      for (let h = 0; h < p.nHeads; h++) {
        const kvHead = Math.floor(h / groupSize);
        const qBase = r * q.cols + h * p.headDim;
        if (tiled) {
          tiledAttentionRow(qs, qBase, K, V, kvWidth, kvHead * p.headDim, p.headDim, first, nKv, scale, cap, acc);
          os.set(acc, r * out.cols + h * p.headDim);
          continue;
        }
        for (let d = 0; d < p.headDim; d++) qh[d] = round(qs[qBase + d]);
        for (let j = 0; j < first; j++) scores[j] = Number.NEGATIVE_INFINITY;
        for (let j = first; j < nKv; j++) {
          const kBase = j * kvWidth + kvHead * p.headDim;
          let dot = 0;
          if (!half) {
            dot = dotFloat(p.headDim, (d) => K[kBase + d], qAt, true); // ggml_vec_dot_f32
          } else if (kqTinyBlas) {
            dot = dotTinyBlas(p.headDim, (d) => K[kBase + d], qAt);
          } else {
            // ggml_vec_dot_f16: FMA lanes over steps of 32, the tail in double
            dot = dotFloat(p.headDim, (d) => K[kBase + d], qAt, false);
          }
          const s = f32(f32(dot) * scale);
          scores[j] = cap ? f32(cap * tanhF32(s)) : s;
        }
        const vOffset = kvHead * p.headDim;
        if (this.flashAttention) onlineSoftmaxWeightedSum(scores, nKv, V, kvWidth, vOffset, p.headDim, round, acc);
        else softmaxWeightedSum(scores, nKv, V, kvWidth, vOffset, p.headDim, round, acc, batch, half);
        os.set(acc, r * out.cols + h * p.headDim);
      }
    }
  }

  swiglu(gate: Activation, up: Activation): void {
    const g = (gate as JsActivation).data;
    const u = (up as JsActivation).data;
    // ggml_vec_swiglu_f32 row by row: its vectorized exp covers whole groups of 8 of each row
    for (let r = 0; r < gate.rows; r++) swigluX86(g, u, r * gate.cols, gate.cols);
  }

  geglu(gate: Activation, up: Activation): void {
    const g = (gate as JsActivation).data;
    const u = (up as JsActivation).data;
    const t = geluTableF16();
    // ggml_vec_geglu_f32: x >= 10 passes x through, then the one product
    for (let i = 0; i < g.length; i++) g[i] = f32(geluLookup(g[i], t) * u[i]);
  }

  gelu(x: Activation): void {
    const xs = (x as JsActivation).data;
    const t = geluTableF16();
    for (let i = 0; i < xs.length; i++) xs[i] = geluLookup(xs[i], t);
  }

  add(x: Activation, y: Activation): void {
    const xs = (x as JsActivation).data;
    const ys = (y as JsActivation).data;
    for (let i = 0; i < xs.length; i++) xs[i] = f32(xs[i] + ys[i]);
  }

  addBias(x: Activation, bias: Weight): void {
    const xs = (x as JsActivation).data;
    const b = this.weightAsF32(bias);
    for (let r = 0; r < x.rows; r++) {
      const base = r * x.cols;
      for (let i = 0; i < x.cols; i++) xs[base + i] = f32(xs[base + i] + b[i]);
    }
  }

  scale(x: Activation, s: number): void {
    const xs = (x as JsActivation).data;
    const v = f32(s);
    for (let i = 0; i < xs.length; i++) xs[i] = f32(xs[i] * v);
  }

  softcap(x: Activation, cap: number): void {
    const xs = (x as JsActivation).data;
    const c = f32(cap);
    const inv = f32(1 / c);
    for (let i = 0; i < xs.length; i++) xs[i] = f32(tanhF32(f32(xs[i] * inv)) * c);
  }

  copyRow(x: Activation, row: number, out: Activation): void {
    const xs = (x as JsActivation).data;
    (out as JsActivation).data.set(xs.subarray(row * x.cols, (row + 1) * x.cols));
  }

  copyCols(x: Activation, offset: number, out: Activation): void {
    const xs = (x as JsActivation).data;
    const os = (out as JsActivation).data;
    for (let r = 0; r < x.rows; r++) {
      const from = r * x.cols + offset;
      os.set(xs.subarray(from, from + out.cols), r * out.cols);
    }
  }

  async read(x: Activation): Promise<Float32Array> {
    return (x as JsActivation).data.slice();
  }

  async dispose(): Promise<void> {}

  private weightAsF32(w: Weight): Float32Array {
    const jw = w as JsWeight;
    const n = jw.shape.reduce((a, b) => a * b, 1);
    if (jw.type === GGMLType.F32 && jw.bytes.byteOffset % 4 === 0) {
      return new Float32Array(jw.bytes.buffer, jw.bytes.byteOffset, n);
    }
    const out = new Float32Array(n);
    dequantizeRow(jw.type, jw.bytes, out, n, 0, 0);
    return out;
  }

  private cacheRounding(c: JsKVCache): (x: number) => number {
    return c.spec.type === 'f16' ? roundToF16 : f32;
  }

  private scratchBytes(n: number): Uint8Array {
    if (this.quantScratch.length < n) this.quantScratch = new Uint8Array(n);
    return this.quantScratch;
  }

  private scratchRow(n: number): Float32Array {
    if (this.rowScratch.length < n) this.rowScratch = new Float32Array(n);
    return this.rowScratch;
  }

  private scratchScores(n: number): Float64Array {
    if (this.scoreScratch.length < n) this.scoreScratch = new Float64Array(n);
    return this.scoreScratch;
  }
}
