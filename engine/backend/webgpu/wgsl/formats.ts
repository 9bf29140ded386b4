import { GGMLType } from '../../../quant/types.ts';

/**
 * Weight decoding in WGSL. Every weight tensor sits in a storage buffer `W` as
 * the bytes of its GGUF blocks, read as u32 words; no format is expanded on the
 * GPU. Each format provides
 *
 *   fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16>
 *
 * the 16 weights g*16 .. g*16+15 of the row whose bytes start at `rb` (n is the
 * row length; the float formats return 0 past it, quantized rows are whole
 * blocks). Sixteen consecutive weights never straddle a block or a sub-block
 * scale in any format, so one call reads one scale. The arithmetic mirrors
 * ggml-quants.c's dequantize_row_* (engine/quant/formats/*.ts) in f32.
 * f16 fields are decoded with unpack2x16float, which needs no shader-f16.
 */

/** Byte, f16 and unaligned-u32 readers over `W`. Every f16 field of every block lies at an even offset. */
export const WEIGHT_READERS = /* wgsl */ `
fn wbyte(a: u32) -> u32 { return (W[a >> 2u] >> ((a & 3u) * 8u)) & 0xffu; }
fn wi8(a: u32) -> i32 { return bitcast<i32>(wbyte(a) << 24u) >> 24u; }
fn wf16(a: u32) -> f32 {
  let v = unpack2x16float(W[a >> 2u]);
  return select(v.x, v.y, (a & 2u) != 0u);
}
fn wu32(a: u32) -> u32 {
  let s = (a & 3u) * 8u;
  let lo = W[a >> 2u] >> s;
  if (s == 0u) { return lo; }
  return lo | (W[(a >> 2u) + 1u] << (32u - s));
}
`;

/** ggml's get_scale_min_k4: scale and min of sub-block j from the 12 packed bytes at o. */
const SCALE_MIN_K4 = /* wgsl */ `
fn scale_min_k4(j: u32, o: u32) -> vec2f {
  if (j < 4u) {
    return vec2f(f32(wbyte(o + j) & 63u), f32(wbyte(o + j + 4u) & 63u));
  }
  let sc = (wbyte(o + j + 4u) & 15u) | ((wbyte(o + j - 4u) >> 6u) << 4u);
  let m = (wbyte(o + j + 4u) >> 4u) | ((wbyte(o + j) >> 6u) << 4u);
  return vec2f(f32(sc), f32(m));
}
`;

const F32 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let base = rb >> 2u;
  for (var j = 0u; j < 16u; j++) {
    let k = g * 16u + j;
    if (k < n) { y[j] = bitcast<f32>(W[base + k]); }
  }
  return y;
}
`;

const F16 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  for (var j = 0u; j < 16u; j++) {
    let k = g * 16u + j;
    if (k < n) { y[j] = wf16(rb + 2u * k); }
  }
  return y;
}
`;

const BF16 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  for (var j = 0u; j < 16u; j++) {
    let k = g * 16u + j;
    if (k < n) {
      let a = rb + 2u * k;
      y[j] = bitcast<f32>(((W[a >> 2u] >> ((a & 2u) * 8u)) & 0xffffu) << 16u);
    }
  }
  return y;
}
`;

/** Q4_0: 18-byte blocks of 32; d f16, then 16 bytes: weight j low nibble, j+16 high nibble. x = d*(q-8). */
const Q4_0 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let b = rb + (g >> 1u) * 18u;
  let shift = (g & 1u) * 4u;
  let d = wf16(b);
  for (var j = 0u; j < 16u; j++) {
    y[j] = f32(i32((wbyte(b + 2u + j) >> shift) & 15u) - 8) * d;
  }
  return y;
}
`;

/** Q4_1: 20-byte blocks; d, m f16, then nibbles as Q4_0. x = d*q + m. */
const Q4_1 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let b = rb + (g >> 1u) * 20u;
  let shift = (g & 1u) * 4u;
  let d = wf16(b);
  let m = wf16(b + 2u);
  for (var j = 0u; j < 16u; j++) {
    y[j] = f32((wbyte(b + 4u + j) >> shift) & 15u) * d + m;
  }
  return y;
}
`;

/** Q5_0: 22-byte blocks; d f16, qh u32 (bit j: fifth bit of weight j), nibbles. x = d*(q-16). */
const Q5_0 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let half = g & 1u;
  let b = rb + (g >> 1u) * 22u;
  let d = wf16(b);
  let qh = wu32(b + 2u) >> (half * 16u);
  for (var j = 0u; j < 16u; j++) {
    let q = ((wbyte(b + 6u + j) >> (half * 4u)) & 15u) | (((qh >> j) & 1u) << 4u);
    y[j] = f32(i32(q) - 16) * d;
  }
  return y;
}
`;

/** Q5_1: 24-byte blocks; d, m f16, qh u32, nibbles. x = d*q + m. */
const Q5_1 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let half = g & 1u;
  let b = rb + (g >> 1u) * 24u;
  let d = wf16(b);
  let m = wf16(b + 2u);
  let qh = wu32(b + 4u) >> (half * 16u);
  for (var j = 0u; j < 16u; j++) {
    let q = ((wbyte(b + 8u + j) >> (half * 4u)) & 15u) | (((qh >> j) & 1u) << 4u);
    y[j] = f32(q) * d + m;
  }
  return y;
}
`;

/** Q8_0: 34-byte blocks; d f16, 32 signed bytes. x = d*q. */
const Q8_0 = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let b = rb + (g >> 1u) * 34u;
  let d = wf16(b);
  let q = b + 2u + (g & 1u) * 16u;
  for (var j = 0u; j < 16u; j++) { y[j] = f32(wi8(q + j)) * d; }
  return y;
}
`;

/**
 * The K-quants: 256-weight super-blocks, 16 groups each. In Q2_K and Q3_K group s
 * of a block lies in half s/8, at bit pair (s%8)/2 of bytes 16*(s%2).. of that half.
 */
const Q2_K = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let s = g & 15u;
  let b = rb + (g >> 4u) * 84u;
  let d = wf16(b + 80u);
  let dmin = wf16(b + 82u);
  let sc = wbyte(b + s);
  let dl = d * f32(sc & 15u);
  let ml = dmin * f32(sc >> 4u);
  let q = b + 16u + 32u * (s >> 3u) + 16u * (s & 1u);
  let shift = 2u * ((s & 7u) >> 1u);
  for (var j = 0u; j < 16u; j++) {
    y[j] = dl * f32((wbyte(q + j) >> shift) & 3u) - ml;
  }
  return y;
}
`;

const Q3_K = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let s = g & 15u;
  let b = rb + (g >> 4u) * 110u;
  let d_all = wf16(b + 108u);
  let low = select(wbyte(b + 96u + s - 8u) >> 4u, wbyte(b + 96u + s) & 15u, s < 8u);
  let high = (wbyte(b + 104u + (s & 3u)) >> (2u * (s >> 2u))) & 3u;
  let dl = d_all * f32(i32(low | (high << 4u)) - 32);
  let shift = 2u * ((s & 7u) >> 1u);
  let mask = 1u << (4u * (s >> 3u) + ((s & 7u) >> 1u));
  let l0 = 16u * (s & 1u);
  let q = b + 32u + 32u * (s >> 3u);
  for (var j = 0u; j < 16u; j++) {
    let l = l0 + j;
    let lo = i32((wbyte(q + l) >> shift) & 3u);
    y[j] = dl * f32(lo - select(4, 0, (wbyte(b + l) & mask) != 0u));
  }
  return y;
}
`;

/** Q4_K: sub-block sb = s/2 of 32 weights is chunk sb/2's low (even sb) or high (odd sb) nibbles. */
const Q4_K = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let s = g & 15u;
  let sb = s >> 1u;
  let b = rb + (g >> 4u) * 144u;
  let sm = scale_min_k4(sb, b + 4u);
  let dl = wf16(b) * sm.x;
  let ml = wf16(b + 2u) * sm.y;
  let q = b + 16u + 32u * (sb >> 1u) + 16u * (s & 1u);
  let shift = 4u * (sb & 1u);
  for (var j = 0u; j < 16u; j++) {
    y[j] = dl * f32((wbyte(q + j) >> shift) & 15u) - ml;
  }
  return y;
}
`;

/** Q5_K: Q4_K's nibbles plus a fifth bit, bit sb of qh[l]. */
const Q5_K = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let s = g & 15u;
  let sb = s >> 1u;
  let b = rb + (g >> 4u) * 176u;
  let sm = scale_min_k4(sb, b + 4u);
  let dl = wf16(b) * sm.x;
  let ml = wf16(b + 2u) * sm.y;
  let l0 = 16u * (s & 1u);
  let q = b + 48u + 32u * (sb >> 1u) + l0;
  let shift = 4u * (sb & 1u);
  for (var j = 0u; j < 16u; j++) {
    let hi = ((wbyte(b + 16u + l0 + j) >> sb) & 1u) << 4u;
    y[j] = dl * f32(((wbyte(q + j) >> shift) & 15u) | hi) - ml;
  }
  return y;
}
`;

/**
 * Q6_K: group s is in half s/8, quarter (s%8)/2 (weights l, l+32, l+64, l+96 of the
 * half share ql/qh bytes), at l = 16*(s%2)..; scale i8 at 192+s.
 */
const Q6_K = /* wgsl */ `
fn dequant16(rb: u32, g: u32, n: u32) -> array<f32, 16> {
  var y: array<f32, 16>;
  let s = g & 15u;
  let b = rb + (g >> 4u) * 210u;
  let dl = wf16(b + 208u) * f32(wi8(b + 192u + s));
  let half = s >> 3u;
  let quarter = (s & 7u) >> 1u;
  let l0 = 16u * (s & 1u);
  let ql = b + 64u * half + 32u * (quarter & 1u) + l0;
  let qh = b + 128u + 32u * half + l0;
  let lshift = 4u * (quarter >> 1u);
  let hshift = 2u * quarter;
  for (var j = 0u; j < 16u; j++) {
    let q = ((wbyte(ql + j) >> lshift) & 15u) | (((wbyte(qh + j) >> hshift) & 3u) << 4u);
    y[j] = dl * f32(i32(q) - 32);
  }
  return y;
}
`;

const DEQUANT16 = new Map<GGMLType, string>([
  [GGMLType.F32, F32],
  [GGMLType.F16, F16],
  [GGMLType.BF16, BF16],
  [GGMLType.Q4_0, Q4_0],
  [GGMLType.Q4_1, Q4_1],
  [GGMLType.Q5_0, Q5_0],
  [GGMLType.Q5_1, Q5_1],
  [GGMLType.Q8_0, Q8_0],
  [GGMLType.Q2_K, Q2_K],
  [GGMLType.Q3_K, Q3_K],
  [GGMLType.Q4_K, Q4_K + SCALE_MIN_K4],
  [GGMLType.Q5_K, Q5_K + SCALE_MIN_K4],
  [GGMLType.Q6_K, Q6_K],
]);

/**
 * The 32-weight block formats as llama.cpp's integer dot products see them:
 * BLOCK_BYTES, fn block_d(b) (the f16 scale of the block at byte b), fn
 * block_m(b) (its f16 min, Q4_1/Q5_1) and fn block_q(b, j) (weight j's integer,
 * offset included: Q4_0 q-8, Q5_0 q-16).
 */
const BLOCK_INTS = new Map<GGMLType, string>([
  [
    GGMLType.Q4_0,
    `const BLOCK_BYTES = 18u;
fn block_d(b: u32) -> f32 { return wf16(b); }
fn block_q(b: u32, j: u32) -> i32 { return i32((wbyte(b + 2u + (j & 15u)) >> ((j >> 4u) * 4u)) & 15u) - 8; }`,
  ],
  [
    GGMLType.Q4_1,
    `const BLOCK_BYTES = 20u;
fn block_d(b: u32) -> f32 { return wf16(b); }
fn block_m(b: u32) -> f32 { return wf16(b + 2u); }
fn block_q(b: u32, j: u32) -> i32 { return i32((wbyte(b + 4u + (j & 15u)) >> ((j >> 4u) * 4u)) & 15u); }`,
  ],
  [
    GGMLType.Q5_0,
    `const BLOCK_BYTES = 22u;
fn block_d(b: u32) -> f32 { return wf16(b); }
fn block_q(b: u32, j: u32) -> i32 {
  let lo = (wbyte(b + 6u + (j & 15u)) >> ((j >> 4u) * 4u)) & 15u;
  return i32(lo | (((wu32(b + 2u) >> j) & 1u) << 4u)) - 16;
}`,
  ],
  [
    GGMLType.Q5_1,
    `const BLOCK_BYTES = 24u;
fn block_d(b: u32) -> f32 { return wf16(b); }
fn block_m(b: u32) -> f32 { return wf16(b + 2u); }
fn block_q(b: u32, j: u32) -> i32 {
  let lo = (wbyte(b + 8u + (j & 15u)) >> ((j >> 4u) * 4u)) & 15u;
  return i32(lo | (((wu32(b + 4u) >> j) & 1u) << 4u));
}`,
  ],
  [
    GGMLType.Q8_0,
    `const BLOCK_BYTES = 34u;
fn block_d(b: u32) -> f32 { return wf16(b); }
fn block_q(b: u32, j: u32) -> i32 { return wi8(b + 2u + j); }`,
  ],
]);

/**
 * The K-quants as llama.cpp's AVX2 integer dot products see them
 * (engine/quant/x86-k.ts), per 256-weight super-block at byte b: SUPER_BYTES,
 * fn k_d(b) and fn k_dmin(b) (f16 scales), fn k_q(b, e) (weight e's integer, Q3_K
 * with its -4), fn k_scale(b, g) (the integer scale of 16-group g) and fn k_min(b, g)
 * (its min, Q2_K and Q5_K). Q6_K's q is unsigned (its -32 comes out per lane).
 * Q4_K (repacked by llama.cpp) only needs SUPER_BYTES and scale_min_k4.
 */
const SUPER_INTS = new Map<GGMLType, string>([
  [
    GGMLType.Q2_K,
    `const SUPER_BYTES = 84u;
fn k_d(b: u32) -> f32 { return wf16(b + 80u); }
fn k_dmin(b: u32) -> f32 { return wf16(b + 82u); }
fn k_scale(b: u32, g: u32) -> i32 { return i32(wbyte(b + g) & 15u); }
fn k_min(b: u32, g: u32) -> i32 { return i32(wbyte(b + g) >> 4u); }
fn k_q(b: u32, e: u32) -> i32 {
  let c = e & 127u;
  return i32((wbyte(b + 16u + 32u * (e >> 7u) + (c & 31u)) >> (2u * (c >> 5u))) & 3u);
}`,
  ],
  [
    GGMLType.Q3_K,
    `const SUPER_BYTES = 110u;
fn k_d(b: u32) -> f32 { return wf16(b + 108u); }
fn k_scale(b: u32, g: u32) -> i32 {
  let low = select(wbyte(b + 96u + g - 8u) >> 4u, wbyte(b + 96u + g) & 15u, g < 8u);
  let high = (wbyte(b + 104u + (g & 3u)) >> (2u * (g >> 2u))) & 3u;
  return i32(low | (high << 4u)) - 32;
}
fn k_q(b: u32, e: u32) -> i32 {
  let j = e >> 7u;
  let l = (e & 127u) >> 5u;
  let i = e & 31u;
  let lo = i32((wbyte(b + 32u + 32u * j + i) >> (2u * l)) & 3u);
  return lo - select(4, 0, ((wbyte(b + i) >> (4u * j + l)) & 1u) != 0u);
}`,
  ],
  [GGMLType.Q4_K, 'const SUPER_BYTES = 144u;'],
  [
    GGMLType.Q5_K,
    `const SUPER_BYTES = 176u;
fn k_d(b: u32) -> f32 { return wf16(b); }
fn k_dmin(b: u32) -> f32 { return wf16(b + 2u); }
fn k_scale(b: u32, g: u32) -> i32 { return i32(scale_min_k4(g >> 1u, b + 4u).x); }
fn k_min(b: u32, g: u32) -> i32 { return i32(scale_min_k4(g >> 1u, b + 4u).y); }
fn k_q(b: u32, e: u32) -> i32 {
  let m = e >> 5u;
  let i = e & 31u;
  let low = (wbyte(b + 48u + 32u * (m >> 1u) + i) >> (4u * (m & 1u))) & 15u;
  return i32(low | (((wbyte(b + 16u + i) >> m) & 1u) << 4u));
}`,
  ],
  [
    GGMLType.Q6_K,
    `const SUPER_BYTES = 210u;
fn k_d(b: u32) -> f32 { return wf16(b + 208u); }
fn k_scale(b: u32, g: u32) -> i32 { return wi8(b + 192u + g); }
fn k_q(b: u32, e: u32) -> i32 {
  let j = e >> 7u;
  let l = (e & 127u) >> 5u;
  let i = e & 31u;
  let low = (wbyte(b + 64u * j + 32u * (l & 1u) + i) >> (4u * (l >> 1u))) & 15u;
  return i32(low | (((wbyte(b + 128u + 32u * j + i) >> (2u * l)) & 3u) << 4u));
}`,
  ],
]);

/** The super-block readers of Q2_K, Q3_K, Q4_K, Q5_K or Q6_K (W and the readers declared by the caller). */
export function superIntsWGSL(type: GGMLType): string {
  const src = SUPER_INTS.get(type);
  if (src === undefined) throw new Error(`${GGMLType[type]} has no integer K-quant reader`);
  return type === GGMLType.Q4_K || type === GGMLType.Q5_K ? src + SCALE_MIN_K4 : src;
}

/** BLOCK_BYTES, block_d, block_m and block_q of a 32-weight block format (W and the readers declared by the caller). */
export function blockIntsWGSL(type: GGMLType): string {
  const src = BLOCK_INTS.get(type);
  if (src === undefined) throw new Error(`${GGMLType[type]} is not a 32-weight block format`);
  return src;
}

/** Formats whose weights the WebGPU kernels read in place. */
export function hasGpuDequant(type: GGMLType): boolean {
  return DEQUANT16.has(type);
}

/** The readers and dequant16 for one format (W must be declared by the caller). */
export function dequantWGSL(type: GGMLType): string {
  const src = DEQUANT16.get(type);
  if (src === undefined) throw new Error(`no WGSL decoder for ${GGMLType[type]}`);
  return WEIGHT_READERS + src;
}
