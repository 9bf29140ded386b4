/**
 * The element-wise and row-wise kernels: RMSNorm, RoPE, SwiGLU, add, row copy,
 * KV-cache stores and attention. All arithmetic is f32. Activations are bound
 * read_write even when only read, so that one buffer may be both an input and
 * the output of a dispatch (WebGPU forbids mixing read-only and writable
 * bindings of one buffer).
 *
 * Element-wise kernels number their threads over a 2-D grid (x capped at
 * 65535 workgroups), `grid_x` being the grid's width in threads.
 */

import { dotFloatWGSL, EXACT_FLOAT, GLIBC_EXPF, GLIBC_TANHF, HSUM8, V_EXPF } from './float.ts';

/** Threads per workgroup of the element-wise kernels. */
export const ELEMENTWISE_THREADS = 64;

/**
 * An element-wise kernel: thread i (of p.n, over the 2-D grid) runs `body`.
 * `fields` follow n and grid_x in the parameters; `buffers` are the f32 arrays
 * bound at 1.., as [name, access]; `prelude` holds helper functions.
 */
function elementwise(fields: string, buffers: [string, 'read' | 'read_write'][], body: string, prelude = ''): string {
  const bindings = buffers.map(
    ([name, access], i) => `@group(0) @binding(${i + 1}) var<storage, ${access}> ${name}: array<f32>;`,
  );
  return `
struct Params { n: u32, grid_x: u32${fields} }
@group(0) @binding(0) var<uniform> p: Params;
${bindings.join('\n')}
${prelude}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * p.grid_x;
  if (i >= p.n) { return; }
  ${body}
}
`;
}

/** x += y. */
export const ADD = elementwise(
  '',
  [
    ['X', 'read_write'],
    ['Y', 'read_write'],
  ],
  'X[i] = X[i] + Y[i];',
);

/**
 * gate = silu(gate) * up = gate / (1 + e^-gate) * up, as ggml_vec_swiglu_f32 on
 * AVX2 (the reference's swigluX86): ggml_v_expf on each whole group of 8 of a
 * row, glibc's expf on the rest; the division and product rounded once each.
 */
export const SWIGLU = elementwise(
  ', cols: u32',
  [
    ['G', 'read_write'],
    ['U', 'read_write'],
  ],
  `let g = G[i];
  let col = i % p.cols;
  let e = select(glibc_expf(-g), v_expf(-g), col < (p.cols & ~7u));
  G[i] = div_rn(g, 1.0 + e) * U[i];`,
  EXACT_FLOAT + GLIBC_EXPF + V_EXPF,
);

/** out[i] = x[row * n + i]. */
export const COPY_ROW = elementwise(
  ', row: u32',
  [
    ['X', 'read_write'],
    ['Y', 'read_write'],
  ],
  'Y[i] = X[p.row * p.n + i];',
);

/** Threads per row of RMSNorm and per (query row, head) of attention. */
export const ROW_THREADS = 64;

/**
 * out = x / sqrt(mean(x²) + eps) * g, one workgroup per row, as ggml_rms_norm:
 * the float squares summed in double (double-float here, the threads' partial sums
 * added pairwise), mean = float(sum / n), scale = 1 / sqrtf(mean + eps), then
 * (x * scale) * g, every operation rounded once.
 */
export const RMS_NORM = /* wgsl */ `
struct Params { n: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
var<workgroup> partial: array<vec2f, 64>;
${EXACT_FLOAT}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let base = wid.x * p.n;
  var sum = vec2f(0.0, 0.0);
  for (var i = t; i < p.n; i += 64u) { let v = X[base + i]; sum = ff_add(sum, vec2f(v * v, 0.0)); }
  partial[t] = sum;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] = ff_add(partial[t], partial[t + s]); }
    workgroupBarrier();
  }
  // float(sum / n): the quotient of the double-float sum, rounded once
  let total = partial[0];
  let n = f32(p.n);
  let q = total.x / n;
  let rest = two_prod(q, n);
  let mean = q + (((total.x - rest.x) - rest.y) + total.y) / n;
  let scale = div_rn(opaque(1.0), sqrt_rn(mean + p.eps));
  for (var i = t; i < p.n; i += 64u) { Y[base + i] = X[base + i] * scale * G[i]; }
}
`;

/**
 * RoPE in place. cs holds, per row, nDims/2 (cos, sin) pairs computed on the CPU
 * (WGSL's cos and sin are only accurate near zero, angles reach the context length).
 * norm mode rotates pairs (2i, 2i+1), neox pairs (i, i + nDims/2).
 */
export const ROPE = /* wgsl */ `
struct Params { n_heads: u32, head_dim: u32, half_dims: u32, neox: u32, rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<vec2f>;
${EXACT_FLOAT}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let per_row = p.n_heads * p.half_dims;
  let r = gid.y;
  if (i >= per_row || r >= p.rows) { return; }
  let h = i / p.half_dims;
  let pair = i % p.half_dims;
  let base = r * p.cols + h * p.head_dim;
  var a = base + 2u * pair;
  var b = a + 1u;
  if (p.neox != 0u) { a = base + pair; b = a + p.half_dims; }
  let c = cs[r * p.half_dims + pair];
  let x0 = X[a];
  let x1 = X[b];
  // the first product fused, as GCC contracts ggml's rotate_pairs
  X[a] = fma_exact(x0, c.x, -(x1 * c.y));
  X[b] = fma_exact(x0, c.y, x1 * c.x);
}
`;

/**
 * KV-cache store: row r of k and v goes to position pos[r] of this layer's cache.
 * F32 caches hold floats; F16 caches hold pairs of halves per u32 (pack2x16float),
 * so a thread stores one pair.
 */
export function kvStoreWGSL(half: boolean): string {
  const store = half
    ? `let e = 2u * i;
  K[pos[r] * (p.width / 2u) + i] = pack2x16float(vec2f(k[r * p.width + e], k[r * p.width + e + 1u]));
  V[pos[r] * (p.width / 2u) + i] = pack2x16float(vec2f(v[r * p.width + e], v[r * p.width + e + 1u]));`
    : `K[pos[r] * p.width + i] = k[r * p.width + i];
  V[pos[r] * p.width + i] = v[r * p.width + i];`;
  const elem = half ? 'u32' : 'f32';
  return `
struct Params { width: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> k: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<u32>;
@group(0) @binding(4) var<storage, read_write> K: array<${elem}>;
@group(0) @binding(5) var<storage, read_write> V: array<${elem}>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let r = gid.y;
  if (i >= p.width / ${half ? 2 : 1}u || r >= p.rows) { return; }
  ${store}
}
`;
}

/**
 * Causal attention, one workgroup per (query row, head), in one pass of online
 * softmax over the cache in chunks of 64 positions: the threads score one
 * position each into shared memory, then every thread walks the chunk's scores
 * in order with ggml's CPU flash-attention recurrence (llama.cpp's default),
 * for its own head dimensions t, t+64, t+128, t+192 (headDim <= 256):
 *   a new maximum rescales the running sum of V by e^(max - s), else the
 *   position weighs e^(s - max); acc = fma(v, weight, acc); S = S*scale + weight.
 * With an F16 cache, q is rounded to F16 first, and the running sums are
 * rounded to F16 after every update, as ggml_vec_scale_f16 / ggml_vec_mad_f16
 * keep them. Soft-capping (Gemma 2) arrives as scale/cap and cap; a sliding
 * window starts the scan later.
 *
 * The arithmetic is the reference's onlineSoftmaxWeightedSum (llama.cpp's for
 * fewer than 64 query rows), operation for operation: K·q in ggml's order
 * (ggml_vec_dot_f16/f32, dotFloatWGSL), glibc's expf and fmaf (wgsl/float.ts), S's product and sum rounded
 * separately. An F16 running sum rounds every update, so one ulp of difference
 * in a weight flips a half now and then, and those flips are what moved the
 * logits of Q8_0/Q4_0 models by ~1e-2 before (see docs/webgpu.md); soft-capping
 * with glibc's tanhf. llama.cpp's tiled kernel for 64+ query rows is
 * attentionTiledWGSL.
 *
 * Split-K (flash-decoding, `split`): for a few queries over a long cache the
 * positions are cut into grid.z parts of split_len, each workgroup walks one
 * part and writes its running maximum, sum and weighted V sum to O as
 * [m, l, acc[headDim]] per (row, head, part); ATTENTION_COMBINE merges them.
 * Its running sums stay f32 (as llama.cpp's GPU backends keep them): ggml's CPU
 * F16 sums drift over long contexts (8e-3 over 1100 positions in the tests).
 */
export function attentionWGSL(half: boolean, split = false): string {
  const helpers = half
    ? `fn kv_k(e: u32) -> f32 { let v = unpack2x16float(K[e >> 1u]); return select(v.x, v.y, (e & 1u) != 0u); }
fn kv_v(e: u32) -> f32 { let v = unpack2x16float(V[e >> 1u]); return select(v.x, v.y, (e & 1u) != 0u); }
fn to_cache(x: f32) -> f32 { return unpack2x16float(pack2x16float(vec2f(x, 0.0))).x; }`
    : `fn kv_k(e: u32) -> f32 { return K[e]; }
fn kv_v(e: u32) -> f32 { return V[e]; }
fn to_cache(x: f32) -> f32 { return x; }`;
  const elem = half ? 'u32' : 'f32';
  return `
struct Params { n_heads: u32, n_kv_heads: u32, head_dim: u32, scale: f32, q_cols: u32, cap: f32, window: u32, split_len: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Q: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> K: array<${elem}>;
@group(0) @binding(4) var<storage, read> V: array<${elem}>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
${helpers}
${split ? 'fn to_sum(x: f32) -> f32 { return x; }' : 'fn to_sum(x: f32) -> f32 { return to_cache(x); }'}
var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;
${EXACT_FLOAT}
${GLIBC_EXPF}
${GLIBC_TANHF}
${dotFloatWGSL(
  'qk_dot',
  ', kb: u32',
  (i) => `kv_k(kb + ${i})`,
  (i) => `qs[${i}]`,
  half,
)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let r = wid.y;
  let hd = p.head_dim;
  let kv_width = p.n_kv_heads * hd;
  let kv_off = (h / (p.n_heads / p.n_kv_heads)) * hd;
  var n_kv = pos[r] + 1u;
  // a sliding window sees the last p.window positions only
  var first = 0u;
  if (p.window != 0u && n_kv > p.window) { first = n_kv - p.window; }
  ${split ? SPLIT_RANGE : ''}
  for (var d = t; d < hd; d += 64u) { qs[d] = to_cache(Q[r * p.q_cols + h * hd + d]); }
  workgroupBarrier();
  var m = -3.0e38;
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = first; j0 < n_kv; j0 += 64u) {
    let j = j0 + t;
    if (j < n_kv) {
      var s = qk_dot(hd, j * kv_width + kv_off) * p.scale;
      if (p.cap != 0.0) { s = p.cap * glibc_tanhf(s); }
      sc[t] = s;
    }
    workgroupBarrier();
    let count = min(64u, n_kv - j0);
    for (var jj = 0u; jj < count; jj++) {
      let s = sc[jj];
      var ms = 1.0;
      var vs = 1.0;
      if (s > m) {
        ms = glibc_expf(m - s);
        m = s;
        for (var c = 0u; c < 4u; c++) { acc[c] = to_sum(acc[c] * ms); }
      } else {
        vs = glibc_expf(s - m);
      }
      let vb = (j0 + jj) * kv_width + kv_off;
      for (var c = 0u; c < 4u; c++) {
        let d = t + 64u * c;
        if (d < hd) { acc[c] = to_sum(fma_exact(kv_v(vb + d), vs, acc[c])); }
      }
      let lm = l * ms;
      l = lm + vs;
    }
    workgroupBarrier();
  }
  ${split ? SPLIT_OUT : WHOLE_OUT}
}
`;
}

/**
 * llama.cpp's tiled CPU flash attention (ggml_compute_forward_flash_attn_ext_tiled),
 * which it runs for batches of 64 query rows and more over an F16 cache: the
 * reference's tiledAttentionRow, operation for operation. One workgroup per
 * (query row, head), tiles of 64 cache positions from a multiple of 64: q stays
 * F32; each thread scores one position (an FMA chain over the head); the tile's
 * maximum moves the running one (rescaling the F32 sums by glibc's expf); each
 * thread takes exp(score - max) with ggml_v_expf, and the tile's sum is
 * ggml_vec_soft_max_f32's (hsum_float_8 per group of 8, the groups added in
 * double); every thread then adds the weighted V rows of the tile to its head
 * dimensions by FMA, position by position. Positions before a sliding window
 * weigh 0.
 */
export function attentionTiledWGSL(): string {
  return `
struct Params { n_heads: u32, n_kv_heads: u32, head_dim: u32, scale: f32, q_cols: u32, cap: f32, window: u32, split_len: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> Q: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> K: array<u32>;
@group(0) @binding(4) var<storage, read> V: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
fn kv_k(e: u32) -> f32 { let v = unpack2x16float(K[e >> 1u]); return select(v.x, v.y, (e & 1u) != 0u); }
fn kv_v(e: u32) -> f32 { let v = unpack2x16float(V[e >> 1u]); return select(v.x, v.y, (e & 1u) != 0u); }
var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;
var<workgroup> pr: array<f32, 64>;
${EXACT_FLOAT}
${GLIBC_EXPF}
${GLIBC_TANHF}
${V_EXPF}
${HSUM8}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let r = wid.y;
  let hd = p.head_dim;
  let kv_width = p.n_kv_heads * hd;
  let kv_off = (h / (p.n_heads / p.n_kv_heads)) * hd;
  let n_kv = pos[r] + 1u;
  var first = 0u;
  if (p.window != 0u && n_kv > p.window) { first = n_kv - p.window; }
  for (var d = t; d < hd; d += 64u) { qs[d] = Q[r * p.q_cols + h * hd + d]; }
  workgroupBarrier();
  var m = -3.0e38;
  var started = false;
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var t0 = (first / 64u) * 64u; t0 < n_kv; t0 += 64u) {
    let j = t0 + t;
    let visible = j >= first && j < n_kv;
    if (visible) {
      var a = 0.0;
      for (var d = 0u; d < hd; d++) { a = fma_exact(kv_k(j * kv_width + kv_off + d), qs[d], a); }
      var s = a * p.scale;
      if (p.cap != 0.0) { s = glibc_tanhf(s) * p.cap; }
      sc[t] = s;
    }
    workgroupBarrier();
    let lo = max(first, t0);
    let hi = min(n_kv, t0 + 64u);
    var tile_max = -3.0e38;
    for (var jj = lo; jj < hi; jj++) { tile_max = max(tile_max, sc[jj - t0]); }
    if (!started || tile_max > m) {
      // a new maximum rescales what was summed (the first one zeroes it: e^-inf)
      var ms = 0.0;
      if (started) { ms = glibc_expf(m - tile_max); }
      for (var c = 0u; c < 4u; c++) { acc[c] = acc[c] * ms; }
      l = l * ms;
      m = tile_max;
      started = true;
    }
    pr[t] = select(0.0, v_expf(sc[t] - m), visible);
    workgroupBarrier();
    var sum = vec2f(0.0, 0.0);
    for (var g = 0u; g < 64u; g += 8u) {
      var v: array<f32, 8>;
      for (var i = 0u; i < 8u; i++) { v[i] = pr[g + i]; }
      sum = ff_add(sum, vec2f(hsum8(v), 0.0));
    }
    l = ff_add(vec2f(l, 0.0), sum).x;
    for (var c = 0u; c < 4u; c++) {
      let d = t + 64u * c;
      if (d < hd) {
        var a = acc[c];
        for (var jj = lo; jj < hi; jj++) { a = fma_exact(kv_v(jj * kv_width + kv_off + d), pr[jj - t0], a); }
        acc[c] = a;
      }
    }
    workgroupBarrier();
  }
  ${WHOLE_OUT}
}
`;
}

/** Split-K: this workgroup's part of the positions. */
const SPLIT_RANGE = /* wgsl */ `first = first + wid.z * p.split_len;
  n_kv = min(n_kv, first + p.split_len);`;

/** Split-K: the part's running maximum, sum and weighted V sum. */
const SPLIT_OUT = /* wgsl */ `let base = ((r * p.n_heads + h) * nwg.z + wid.z) * (hd + 2u);
  if (t == 0u) { O[base] = m; O[base + 1u] = l; }
  for (var c = 0u; c < 4u; c++) {
    let d = t + 64u * c;
    if (d < hd) { O[base + 2u + d] = acc[c]; }
  }`;

const WHOLE_OUT = /* wgsl */ `let inv = select(div_rn(opaque(1.0), l), 0.0, l == 0.0);
  for (var c = 0u; c < 4u; c++) {
    let d = t + 64u * c;
    if (d < hd) { O[r * p.q_cols + h * hd + d] = acc[c] * inv; }
  }`;

/**
 * Merges split-K attention parts: with M the largest part maximum,
 * out = Σ acc_s e^(m_s - M) / Σ l_s e^(m_s - M). One workgroup per (head, row).
 */
export const ATTENTION_COMBINE = /* wgsl */ `
struct Params { n_heads: u32, head_dim: u32, q_cols: u32, n_split: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let h = wid.x;
  let r = wid.y;
  let hd = p.head_dim;
  let stride = hd + 2u;
  let base = (r * p.n_heads + h) * p.n_split * stride;
  var m = -3.0e38;
  for (var s = 0u; s < p.n_split; s++) { m = max(m, P[base + s * stride]); }
  var l = 0.0;
  for (var s = 0u; s < p.n_split; s++) { l += P[base + s * stride + 1u] * exp(P[base + s * stride] - m); }
  for (var d = t; d < hd; d += 64u) {
    var acc = 0.0;
    for (var s = 0u; s < p.n_split; s++) {
      acc += P[base + s * stride + 2u + d] * exp(P[base + s * stride] - m);
    }
    O[r * p.q_cols + h * hd + d] = acc / l;
  }
}
`;

/**
 * ggml's CPU GELU: 0 at x <= -10, x at x >= 10, else ggml_table_gelu_f16 read at x
 * rounded to F16 (pack2x16float rounds to nearest even, as ggml's conversion).
 * The table (65536 F16 results, two per u32) is the reference's geluTableF16,
 * uploaded once, bound at `binding`.
 */
function geluWGSL(binding: number): string {
  return `
@group(0) @binding(${binding}) var<storage, read> T: array<u32>;
fn gelu(x: f32) -> f32 {
  if (x <= -10.0) { return 0.0; }
  if (x >= 10.0) { return x; }
  let h = pack2x16float(vec2f(x, 0.0)) & 0xffffu;
  let pair = unpack2x16float(T[h >> 1u]);
  return select(pair.x, pair.y, (h & 1u) != 0u);
}
`;
}

/** x = gelu(x); the table at binding 2. */
export const GELU_INPLACE = elementwise('', [['X', 'read_write']], 'X[i] = gelu(X[i]);', geluWGSL(2));

/** gate = gelu(gate) * up (ggml_vec_geglu_f32: one product); the table at binding 3. */
export const GEGLU = elementwise(
  '',
  [
    ['G', 'read_write'],
    ['U', 'read_write'],
  ],
  'G[i] = gelu(G[i]) * U[i];',
  geluWGSL(3),
);

/** x = x * s (mode 0), or x = cap * tanh(x / cap) with s = 1/cap, cap (mode 1; glibc's tanhf). */
export const SCALE = elementwise(
  ', s: f32, cap: f32, mode: u32',
  [['X', 'read_write']],
  'if (p.mode == 0u) { X[i] = X[i] * p.s; } else { X[i] = glibc_tanhf(X[i] * p.s) * p.cap; }',
  EXACT_FLOAT + GLIBC_TANHF,
);

/** x[r][i] += b[i]. */
export const ADD_BIAS = elementwise(
  ', cols: u32',
  [
    ['X', 'read_write'],
    ['B', 'read'],
  ],
  'X[i] = X[i] + B[i % p.cols];',
);

/** out[r][i] = x[r][offset + i]; n counts the outputs. */
export const COPY_COLS = elementwise(
  ', in_cols: u32, out_cols: u32, offset: u32',
  [
    ['X', 'read_write'],
    ['Y', 'read_write'],
  ],
  'Y[i] = X[(i / p.out_cols) * p.in_cols + p.offset + i % p.out_cols];',
);

/**
 * out = (x - mean) / sqrt(var + eps) * g + b, one workgroup per row, as ggml_norm
 * then the weight and bias (the reference's layerNorm): mean = float(sum in
 * double) / n; the squares of x - mean summed as ggml_vec_cvar_f32 on AVX2 (each
 * group of 8 reduced in float, ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)), the groups
 * and the tail's squares added in double); variance = float(that / n);
 * ((x - mean) * 1/sqrtf(variance + eps)) * g + b, each operation rounded once.
 * Double sums are double-float here, the threads' partial sums added pairwise.
 */
export const LAYER_NORM = /* wgsl */ `
struct Params { n: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
var<workgroup> partial: array<vec2f, 64>;
${EXACT_FLOAT}
fn row_sum(t: u32, x: vec2f) -> vec2f {
  partial[t] = x;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { partial[t] = ff_add(partial[t], partial[t + s]); }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}
// float(s / n) for a double-float s: the quotient rounded once
fn ff_div_n(s: vec2f, n: f32) -> f32 {
  let q = s.x / n;
  let rest = two_prod(q, n);
  return q + (((s.x - rest.x) - rest.y) + s.y) / n;
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let base = wid.x * p.n;
  let n = f32(p.n);
  var sum = vec2f(0.0, 0.0);
  for (var i = t; i < p.n; i += 64u) { sum = ff_add(sum, vec2f(X[base + i], 0.0)); }
  let mean = div_rn(row_sum(t, sum).x, n);
  var sq = vec2f(0.0, 0.0);
  let groups = p.n / 8u;
  for (var g = t; g < groups; g += 64u) {
    var s: array<f32, 8>;
    for (var k = 0u; k < 8u; k++) { let v = X[base + 8u * g + k] - mean; s[k] = v * v; }
    sq = ff_add(sq, vec2f(((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])), 0.0));
  }
  if (t == 0u) {
    for (var i = 8u * groups; i < p.n; i++) { let v = X[base + i] - mean; sq = ff_add(sq, vec2f(v * v, 0.0)); }
  }
  let variance = ff_div_n(row_sum(t, sq), n);
  let scale = div_rn(opaque(1.0), sqrt_rn(variance + p.eps));
  for (var i = t; i < p.n; i += 64u) { Y[base + i] = (X[base + i] - mean) * scale * G[i] + B[i]; }
}
`;
