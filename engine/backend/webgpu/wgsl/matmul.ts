import type { GGMLType } from '../../../quant/types.ts';
import { blockMinWGSL, dequantWGSL } from './formats.ts';

/**
 * Matrix products with weights in their GGUF layout: Y[r][o] = Σ_k W[o][k] X[r][k].
 * A weight may be split across buffers by output rows (see index.ts); each
 * dispatch covers one part, whose first output row is `out_offset`.
 *
 * Parameters (uniform, shared by both kernels):
 *   n_in       row length of W and X
 *   part_rows  output rows in this part of W
 *   row_bytes  bytes per row of W
 *   rows       rows of X
 *   n_out      the full output width (row stride of Y)
 *   out_offset first output of this part
 */
const PARAMS = /* wgsl */ `
struct Params { n_in: u32, part_rows: u32, row_bytes: u32, rows: u32, n_out: u32, out_offset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read_write> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
`;

/**
 * With Q8_1-rounded activations (Q4_1, Q5_1 weights): C holds, per 32-block of X,
 * what llama.cpp's f16 block sum adds to the block's min term (see
 * roundActivationsWGSL), and block_min reads the weight block's min.
 */
const MIN_CORRECTION = /* wgsl */ `
@group(0) @binding(4) var<storage, read_write> C: array<f32>;
fn min_correction(rb: u32, blk: u32, xblk: u32) -> f32 { return block_min(rb, blk) * C[xblk]; }
`;

function header(type: GGMLType, corrected: boolean): string {
  return PARAMS + dequantWGSL(type) + (corrected ? MIN_CORRECTION + blockMinWGSL(type) : '');
}

/** Threads per output row in the matrix × vector kernel. */
export const MATVEC_THREADS = 64;

/**
 * Decode (few rows of X): one workgroup per (output row, X row); its threads
 * take 16-weight groups in turn, then sum their partial dots in shared memory.
 * The grid's x and y together number the output rows (x is capped at 65535).
 */
export function matvecWGSL(type: GGMLType, corrected = false): string {
  return `${header(type, corrected)}
var<workgroup> partial: array<f32, ${MATVEC_THREADS}>;

@compute @workgroup_size(${MATVEC_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let o = wid.x + wid.y * nwg.x;
  let r = wid.z;
  let n_groups = (p.n_in + 15u) / 16u;
  var acc = 0.0;
  if (o < p.part_rows) {
    let rb = o * p.row_bytes;
    let xb = r * p.n_in;
    for (var g = t; g < n_groups; g += ${MATVEC_THREADS}u) {
      let w = dequant16(rb, g, p.n_in);
      let k = g * 16u;
      let m = min(16u, p.n_in - k);
      for (var j = 0u; j < m; j++) { acc += w[j] * X[xb + k + j]; }
      ${corrected ? 'if ((g & 1u) == 0u) { acc += min_correction(rb, g / 2u, r * (p.n_in / 32u) + g / 2u); }' : ''}
    }
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var s = ${MATVEC_THREADS / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u && o < p.part_rows) { Y[r * p.n_out + p.out_offset + o] = partial[0]; }
}
`;
}

/** Output rows and X rows per workgroup of the tiled kernel. */
export const TILE_OUT = 64;
export const TILE_ROWS = 16;

/**
 * Prefill (many rows of X): a workgroup computes a TILE_OUT x TILE_ROWS tile of Y.
 * Each step along k, its 128 threads dequantize 64 rows x 32 weights of W (two
 * groups each) and load 16 x 32 values of X into shared memory; then each
 * thread accumulates one output for 8 rows of X, reusing every weight 8 times.
 */
export function matmulTiledWGSL(type: GGMLType, corrected = false): string {
  return `${header(type, corrected)}
const TK = 32u;
var<workgroup> Ws: array<array<f32, 32>, ${TILE_OUT}>;
var<workgroup> Xs: array<array<f32, 32>, ${TILE_ROWS}>;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let o0 = wid.x * ${TILE_OUT}u;
  let r0 = wid.y * ${TILE_ROWS}u;
  let o_local = t & 63u;
  let half = t >> 6u;
  let n_groups = (p.n_in + 15u) / 16u;
  var acc: array<f32, 8>;
  for (var k0 = 0u; k0 < p.n_in; k0 += TK) {
    workgroupBarrier();
    // W: thread (o_local, half) dequantizes group k0/16 + half of output o0 + o_local.
    let g = k0 / 16u + half;
    var w: array<f32, 16>;
    if (o0 + o_local < p.part_rows && g < n_groups) {
      w = dequant16((o0 + o_local) * p.row_bytes, g, p.n_in);
    }
    for (var j = 0u; j < 16u; j++) { Ws[o_local][half * 16u + j] = w[j]; }
    // X: 16 rows x 32 values, 4 per thread.
    for (var i = 0u; i < 4u; i++) {
      let e = t * 4u + i;
      let rr = e / TK;
      let kk = e % TK;
      let row = r0 + rr;
      let k = k0 + kk;
      var v = 0.0;
      if (row < p.rows && k < p.n_in) { v = X[row * p.n_in + k]; }
      Xs[rr][kk] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let wv = Ws[o_local][kk];
      for (var i = 0u; i < 8u; i++) { acc[i] += wv * Xs[half * 8u + i][kk]; }
    }
    ${
      corrected
        ? `if (o0 + o_local < p.part_rows) {
      for (var i = 0u; i < 8u; i++) {
        let row = r0 + half * 8u + i;
        if (row < p.rows) {
          acc[i] += min_correction((o0 + o_local) * p.row_bytes, k0 / 32u, row * (p.n_in / 32u) + k0 / 32u);
        }
      }
    }`
        : ''
    }
  }
  let o = o0 + o_local;
  if (o < p.part_rows) {
    for (var i = 0u; i < 8u; i++) {
      let row = r0 + half * 8u + i;
      if (row < p.rows) { Y[row * p.n_out + p.out_offset + o] = acc[i]; }
    }
  }
}
`;
}

/**
 * Embedding rows: out[r] = dequantized row ids[r] of the table part holding it.
 * One thread per (row, 16-weight group); rows outside this part are left alone.
 */
export function getRowsWGSL(type: GGMLType): string {
  return `
struct Params { n: u32, row_bytes: u32, part_start: u32, part_rows: u32, count: u32, grid_x: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
${dequantWGSL(type)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.grid_x;
  let n_groups = (p.n + 15u) / 16u;
  if (i >= p.count * n_groups) { return; }
  let r = i / n_groups;
  let g = i % n_groups;
  let id = ids[r];
  if (id < p.part_start || id >= p.part_start + p.part_rows) { return; }
  let w = dequant16((id - p.part_start) * p.row_bytes, g, p.n);
  let k = g * 16u;
  let m = min(16u, p.n - k);
  for (var j = 0u; j < m; j++) { Y[r * p.n + k + j] = w[j]; }
}
`;
}

/**
 * What llama.cpp's CPU backend does to activations before a product with
 * weights of a given type (TYPE_TRAITS vecDotType), applied in place of the
 * integer dot products: each block of x is replaced by the values its
 * quantized form stands for, and the product then runs in f32.
 *   Q8_0 / Q8_1 (x86 quantize_row_q8_0/1): blocks of 32, d = f16(amax / 127),
 *     q = round-half-even(x * (127 / amax)) saturated to int8, x' = q * d;
 *     Q8_1 also keeps s = f16(float(amax / 127) * Σq), which llama.cpp multiplies
 *     by the weight block's min (Q4_1, Q5_1): C[block] = s - d * Σq is what the
 *     products must add, times that min, to the f32 sum over x';
 *   Q8_K (quantize_row_q8_K_ref): blocks of 256, iscale = -127 / (the value of
 *     largest magnitude), q = min(127, nearest(iscale * x)), x' = q / iscale;
 *   F16 / BF16: x rounded to that format.
 * One thread per block (the pass is small next to the product that follows).
 */
export type ActivationRounding = 'q8_0' | 'q8_1' | 'q8_k' | 'f16' | 'bf16';

export function roundActivationsWGSL(kind: ActivationRounding): string {
  const block = kind === 'q8_0' || kind === 'q8_1' ? 32 : kind === 'q8_k' ? 256 : 1;
  const body =
    kind === 'q8_0' || kind === 'q8_1'
      ? `var amax = 0.0;
  for (var j = 0u; j < 32u; j++) { amax = max(amax, abs(X[b + j])); }
  let d = unpack2x16float(pack2x16float(vec2f(amax / 127.0, 0.0))).x;
  var id = 0.0;
  if (amax != 0.0) { id = 127.0 / amax; }
  var sum = 0.0;
  for (var j = 0u; j < 32u; j++) {
    let q = clamp(round(X[b + j] * id), -128.0, 127.0);
    Y[b + j] = q * d;
    sum += q;
  }
  ${kind === 'q8_1' ? 'C[i] = unpack2x16float(pack2x16float(vec2f((amax / 127.0) * sum, 0.0))).x - d * sum;' : ''}`
      : kind === 'q8_k'
        ? `var amax = 0.0;
  var vmax = 0.0;
  for (var j = 0u; j < 256u; j++) {
    let v = X[b + j];
    if (abs(v) > amax) { amax = abs(v); vmax = v; }
  }
  if (amax == 0.0) {
    for (var j = 0u; j < 256u; j++) { Y[b + j] = 0.0; }
    return;
  }
  let iscale = -127.0 / vmax;
  let d = 1.0 / iscale;
  for (var j = 0u; j < 256u; j++) { Y[b + j] = min(127.0, round(iscale * X[b + j])) * d; }`
        : kind === 'f16'
          ? 'Y[b] = unpack2x16float(pack2x16float(vec2f(X[b], 0.0))).x;'
          : `let bits = bitcast<u32>(X[b]);
  Y[b] = bitcast<f32>((bits + 0x7fffu + ((bits >> 16u) & 1u)) & 0xffff0000u);`;
  return `
struct Params { n: u32, grid_x: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${kind === 'q8_1' ? '@group(0) @binding(3) var<storage, read_write> C: array<f32>;' : ''}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.grid_x;
  if (i >= p.n / ${block}u) { return; }
  let b = i * ${block}u;
  ${body}
}
`;
}
