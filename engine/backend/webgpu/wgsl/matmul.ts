import { GGMLType } from '../../../quant/types.ts';
import { dotFloatWGSL, EXACT_FLOAT, HSUM8 } from './float.ts';
import { blockIntsWGSL, dequantWGSL, superIntsWGSL, WEIGHT_READERS } from './formats.ts';

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

function header(type: GGMLType): string {
  return PARAMS + dequantWGSL(type);
}

/** Threads per output row in the matrix × vector kernel. */
export const MATVEC_THREADS = 64;

/**
 * Decode (few rows of X): one workgroup per (output row, X row); its threads
 * take 16-weight groups in turn, then sum their partial dots. With `subgroups`
 * (the device has the feature) each subgroup adds its threads' sums with
 * subgroupAdd and its first thread stores the total, the others a 0, so one
 * barrier and one thread's pass over the slots in order finish the sum (WGSL
 * does not say which threads share a subgroup, so the slots are the threads');
 * without, a shared-memory tree (6 barriers). The two differ only in the order of
 * the f32 additions. The grid's x and y together number the output rows (x is
 * capped at 65535).
 */
export function matvecWGSL(type: GGMLType, subgroups = false): string {
  const reduce = subgroups
    ? `let total = subgroupAdd(acc);
  partial[t] = select(0.0, total, lane == 0u);
  workgroupBarrier();
  if (t == 0u && o < p.part_rows) {
    var sum = 0.0;
    for (var i = 0u; i < ${MATVEC_THREADS}u; i++) { sum += partial[i]; }
    Y[r * p.n_out + p.out_offset + o] = sum;
  }`
    : `partial[t] = acc;
  workgroupBarrier();
  for (var s = ${MATVEC_THREADS / 2}u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u && o < p.part_rows) { Y[r * p.n_out + p.out_offset + o] = partial[0]; }`;
  return `${subgroups ? 'enable subgroups;\n' : ''}${header(type)}
var<workgroup> partial: array<f32, ${MATVEC_THREADS}>;

@compute @workgroup_size(${MATVEC_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32${subgroups ? ', @builtin(subgroup_invocation_id) lane: u32' : ''}) {
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
    }
  }
  ${reduce}
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
export function matmulTiledWGSL(type: GGMLType): string {
  return `${header(type)}
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
 * How llama.cpp's x86 (AVX2) CPU build orders a product's float operations (see
 * engine/quant/x86.ts), for the weight formats whose order the GPU mirrors:
 *   'blocks'   Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (ggml_vec_dot_*_q8_0/q8_1): per 32-block,
 *              8 lanes of integer sums over 4 elements each, lane = fma(dw*da, sum,
 *              lane); hsum_float_8; the Q4_1/Q5_1 mins as an FMA chain over the
 *              blocks (min * Q8_1's f16 block sum), added last;
 *   'repacked' Q4_0 with a multiple of 8 rows (ggml_gemv/gemm_q4_0_8x8_q8_0):
 *              acc = fma(float(sumi), dw*da, acc) per block;
 *   'vecdot'   F32/F16 weights, one activation row (ggml_vec_dot_f32/f16);
 *   'tinyblas' F32/F16 weights, 2+ rows, n % 8 == 0 (llamafile's tinyBLAS):
 *              8 FMA lanes over the row, hsum_float_8;
 *   'kquants'  Q2_K, Q3_K, Q5_K, Q6_K (ggml_vec_dot_*_q8_K, x86-k.ts): per
 *              super-block, lane k's integer sum over elements 4k..4k+3 of each
 *              32-chunk (scaled per 16-group; Q6_K's -32 from the bsums of groups
 *              2k, 2k+1), one FMA with dy*d; Q2_K first adds its mins to the lane
 *              (an FMA with -(dy*dmin)), Q5_K sums its mins in a scalar FMA chain;
 *   'q4k_repacked' Q4_K with a multiple of 8 rows (ggml_gemv/gemm_q4_K_8x8_q8_K,
 *              the reference's q4k-repacked.ts): per super-block the integer sums of
 *              scale·(q4·q8) and min·bsum go into two FMA chains every 8 sub-blocks
 *              (gemv), or every 2 for the rows llama.cpp's gemm takes (whole groups
 *              of 4 rows of a product of 4+); the output is their difference.
 */
export type ProductOrder = 'blocks' | 'repacked' | 'vecdot' | 'tinyblas' | 'kquants' | 'q4k_repacked';

/** Threads per workgroup of the exact-order kernel. */
export const EXACT_THREADS = 64;

/**
 * Threads per output in the exact-order kernel: one per FMA lane of llama.cpp's
 * order where the lanes are independent chains ('blocks', 'tinyblas': 8), else one.
 */
export function exactLanes(order: ProductOrder): number {
  return order === 'blocks' || order === 'tinyblas' || order === 'kquants' ? 8 : 1;
}

/**
 * Products in llama.cpp's CPU order (ProductOrder), for its default numerics, with
 * fmaf mirrored exactly (wgsl/float.ts), so the result is llama.cpp's (and the
 * reference backend's) to the bit. Where the order keeps 8 independent FMA lanes
 * ('blocks', 'tinyblas'), 8 threads per output run one lane each and the first adds
 * them as hsum_float_8 does; otherwise one thread walks the whole row. Slower than
 * matvecWGSL/matmulTiledWGSL on a real GPU (no tiling, at most 8 threads per
 * output), but a 1-ulp difference in a product is what flips the Q8 and F16
 * roundings downstream.
 * For the block formats X holds the activations' Q8 integers and S, per 32-block,
 * their scale d and (Q8_1) the f16 block sum s (roundActivationsWGSL).
 * The grid: x and y number groups of EXACT_THREADS / exactLanes outputs, z the rows of X.
 */
export function matmulExactWGSL(type: GGMLType, order: ProductOrder): string {
  const floatWeights = order === 'vecdot' || order === 'tinyblas';
  const half = type === GGMLType.F16;
  const weight = half ? 'wf16(rb + 2u * (k))' : 'bitcast<f32>(W[(rb >> 2u) + (k)])';
  const w = (k: string) => weight.replace('(k)', `(${k})`);
  const x = (k: string) => `X[xb + ${k}]`;
  const lanes = exactLanes(order);
  const withMin = type === GGMLType.Q4_1 || type === GGMLType.Q5_1;
  // fn chain(rb, xb, l): lane l's FMA chain over the row (the whole product where lanes == 1)
  let chain: string;
  if (order === 'vecdot') {
    chain = 'return dot_row(p.n_in, rb, xb);';
  } else if (order === 'tinyblas') {
    chain = `var acc = 0.0;
  for (var k = l; k < p.n_in; k += 8u) { acc = fma_exact(${w('k')}, ${x('k')}, acc); }
  return acc;`;
  } else if (order === 'q4k_repacked') {
    chain = `// the gemm folds every 2 sub-blocks, for the rows in whole groups of 4
  let per_step = select(8u, 2u, r < p.rows - p.rows % 4u);
  var acc = 0.0;
  var acc_min = 0.0;
  for (var i = 0u; i < p.n_in / 256u; i++) {
    let b = rb + i * 144u;
    let xo = xb + i * 256u;
    let dy = S[xb / 256u + i];
    let scale = wf16(b) * dy;
    let min_scale = wf16(b + 2u) * dy;
    var isum = 0;
    var imin = 0;
    for (var j = 0u; j < 8u; j++) {
      let sm = scale_min_k4(j, b + 4u);
      let qs = b + 16u + 32u * (j >> 1u);
      var dot = 0;
      for (var e = 0u; e < 32u; e++) {
        dot += i32((wbyte(qs + e) >> (4u * (j & 1u))) & 15u) * q8(xo + 32u * j + e, dy);
      }
      isum += i32(sm.x) * dot;
      imin += i32(sm.y) * (bsum(xo, 2u * j, dy) + bsum(xo, 2u * j + 1u, dy));
      if ((j + 1u) % per_step == 0u) {
        acc = fma_exact(f32(isum), scale, acc);
        acc_min = fma_exact(f32(imin), min_scale, acc_min);
        isum = 0;
        imin = 0;
      }
    }
  }
  return acc - acc_min;`;
  } else if (order === 'kquants') {
    const mins2 =
      type === GGMLType.Q2_K
        ? `let prod = k_min(b, 2u * l) * bsum(xo, 2u * l, dy) + k_min(b, 2u * l + 1u) * bsum(xo, 2u * l + 1u, dy);
    acc = fma_exact(-(dy * k_dmin(b)), f32(prod), acc);`
        : '';
    const offset6 =
      type === GGMLType.Q6_K
        ? 'sumi -= 32 * (bsum(xo, 2u * l, dy) * k_scale(b, 2u * l) + bsum(xo, 2u * l + 1u, dy) * k_scale(b, 2u * l + 1u));'
        : '';
    chain = `var acc = 0.0;
  for (var i = 0u; i < p.n_in / 256u; i++) {
    let b = rb + i * SUPER_BYTES;
    let xo = xb + i * 256u;
    let dy = S[xb / 256u + i];
    ${mins2}
    var sumi = 0;
    for (var c = 0u; c < 256u; c += 32u) {
      for (var e = c + 4u * l; e < c + 4u * l + 4u; e++) { sumi += k_scale(b, e >> 4u) * k_q(b, e) * q8(xo + e, dy); }
    }
    ${offset6}
    acc = fma_exact(dy * k_d(b), f32(sumi), acc);
  }
  return acc;`;
  } else {
    const step =
      order === 'repacked'
        ? `var sumi = 0;
    for (var j = 0u; j < 32u; j++) { sumi += block_q(b, j) * i32(X[xo + j]); }
    acc = fma_exact(f32(sumi), block_d(b) * S[2u * (xb / 32u + i)], acc);`
        : `var q = 0;
    for (var j = 4u * l; j < 4u * l + 4u; j++) { q += block_q(b, j) * i32(X[xo + j]); }
    acc = fma_exact(block_d(b) * S[2u * (xb / 32u + i)], f32(q), acc);`;
    chain = `var acc = 0.0;
  for (var i = 0u; i < p.n_in / 32u; i++) {
    let b = rb + i * BLOCK_BYTES;
    let xo = xb + i * 32u;
    ${step}
  }
  return acc;`;
  }
  const kHelpers =
    order === 'kquants' || order === 'q4k_repacked'
      ? `
// the Q8_K integer of activation e: X holds q * d (roundActivationsWGSL), |q| <= 127
fn q8(e: u32, d: f32) -> i32 { return select(i32(round(X[e] / d)), 0, d == 0.0); }
// the Q8_K block sum of 16-group g (ggml's bsums)
fn bsum(xo: u32, g: u32, d: f32) -> i32 {
  var s = 0;
  for (var e = 16u * g; e < 16u * g + 16u; e++) { s += q8(xo + e, d); }
  return s;
}`
      : '';
  const mins =
    type === GGMLType.Q5_K
      ? `
// Q5_K: its mins times the Q8_K bsums, a scalar FMA chain over the super-blocks
fn mins(rb: u32, xb: u32) -> f32 {
  var acc = 0.0;
  for (var i = 0u; i < p.n_in / 256u; i++) {
    let b = rb + i * SUPER_BYTES;
    let xo = xb + i * 256u;
    let dy = S[xb / 256u + i];
    var m = 0;
    for (var g = 0u; g < 16u; g += 2u) { m += k_min(b, g) * (bsum(xo, g, dy) + bsum(xo, g + 1u, dy)); }
    acc = fma_exact(-(dy * k_dmin(b)), f32(m), acc);
  }
  return acc;
}`
      : withMin
        ? `
// Q4_1/Q5_1: the weight mins times Q8_1's f16 block sums, an FMA chain over the blocks
fn mins(rb: u32, xb: u32) -> f32 {
  var acc = 0.0;
  for (var i = 0u; i < p.n_in / 32u; i++) { acc = fma_exact(block_m(rb + i * BLOCK_BYTES), S[2u * (xb / 32u + i) + 1u], acc); }
  return acc;
}`
        : '';
  const main =
    lanes === 1
      ? `let o = (wid.x + wid.y * nwg.x) * ${EXACT_THREADS}u + t;
  if (o >= p.part_rows) { return; }
  Y[r * p.n_out + p.out_offset + o] = chain(o * p.row_bytes, r * p.n_in, 0u, r);`
      : `let o = (wid.x + wid.y * nwg.x) * ${EXACT_THREADS / lanes}u + t / ${lanes}u;
  let l = t % ${lanes}u;
  let live = o < p.part_rows;
  var v = 0.0;
  if (live) { v = chain(o * p.row_bytes, r * p.n_in, l, r); }
  lane_sums[t] = v;
  workgroupBarrier();
  if (live && l == 0u) {
    var lanes: array<f32, 8>;
    for (var i = 0u; i < 8u; i++) { lanes[i] = lane_sums[t + i]; }
    Y[r * p.n_out + p.out_offset + o] = hsum8(lanes)${withMin || type === GGMLType.Q5_K ? ' + mins(o * p.row_bytes, r * p.n_in)' : ''};
  }`;
  return `${PARAMS}${floatWeights ? '' : '@group(0) @binding(4) var<storage, read_write> S: array<f32>;'}
${WEIGHT_READERS}
${floatWeights ? '' : order === 'kquants' || order === 'q4k_repacked' ? superIntsWGSL(type) : blockIntsWGSL(type)}
${EXACT_FLOAT}
${HSUM8}
${order === 'vecdot' ? dotFloatWGSL('dot_row', ', rb: u32, xb: u32', w, x, half) : ''}
var<workgroup> lane_sums: array<f32, ${EXACT_THREADS}>;${kHelpers}
fn chain(rb: u32, xb: u32, l: u32, r: u32) -> f32 {
  ${chain}
}
${mins}
@compute @workgroup_size(${EXACT_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let r = wid.z;
  ${main}
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
 * weights of a given type (TYPE_TRAITS vecDotType):
 *   Q8_0 / Q8_1 (x86 quantize_row_q8_0/1): blocks of 32, d = f16(amax / 127),
 *     q = round-half-even(x * (127 / amax)) saturated to int8; Y holds the q (as
 *     floats) for matmulExactWGSL's integer sums (with `values`, q * d for the
 *     GPU-order kernels) and S, per block, d and (Q8_1) s = f16(float(amax / 127) * Σq),
 *     which llama.cpp multiplies by the weight block's min (Q4_1, Q5_1);
 *   Q8_K (quantize_row_q8_K_ref): blocks of 256, iscale = -127 / (the value of
 *     largest magnitude), q = min(127, nearest(iscale * x)); Y holds x' = q / iscale,
 *     the values the K-quant kernels multiply in f32;
 *   F16 / BF16: x rounded to that format.
 * One thread per block (the pass is small next to the product that follows).
 */
export type ActivationRounding = 'q8_0' | 'q8_1' | 'q8_k' | 'f16' | 'bf16';

export function roundActivationsWGSL(kind: ActivationRounding, values = false): string {
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
    Y[b + j] = ${values ? 'q * d' : 'q'};
    sum += q;
  }
  S[2u * i] = d;
  S[2u * i + 1u] = unpack2x16float(pack2x16float(vec2f((amax / 127.0) * sum, 0.0))).x;`
      : kind === 'q8_k'
        ? `var amax = 0.0;
  var vmax = 0.0;
  for (var j = 0u; j < 256u; j++) {
    let v = X[b + j];
    if (abs(v) > amax) { amax = abs(v); vmax = v; }
  }
  if (amax == 0.0) {
    for (var j = 0u; j < 256u; j++) { Y[b + j] = 0.0; }
    S[i] = 0.0;
    return;
  }
  let iscale = div_rn(opaque(-127.0), vmax);
  let d = div_rn(opaque(1.0), iscale);
  S[i] = d;
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
${block === 32 || block === 256 ? '@group(0) @binding(3) var<storage, read_write> S: array<f32>;' : ''}
${block === 256 ? EXACT_FLOAT : ''}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.grid_x;
  if (i >= p.n / ${block}u) { return; }
  let b = i * ${block}u;
  ${body}
}
`;
}
