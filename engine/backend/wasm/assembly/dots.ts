// Dot products of one weight row with one prepared activation row
// (activations.ts), in the float order of the reference backend
// (engine/backend/js), which is llama.cpp's x86 AVX2 order (engine/quant/x86.ts,
// x86-k.ts) where that is mirrored and ggml's generic order elsewhere (Q4_K,
// BF16). Integer sums are exact in any order; what must match is which integer
// sums become floats and how those are rounded and added. So the results are
// bit for bit the reference's.
//
// Weight quants are kept as i16 lanes: a 16-byte load seen as i16x8 gives the
// even-indexed byte in the low half of each lane and the odd one in the high
// half; masks and shifts pull out nibbles, and i32x4.dot_i16x8_s multiplies
// them with the activations' int16 copy in the matching even/odd order. With
// that layout the i32 lanes of dot(even) + dot(odd) over a group of 16 values
// hold the sums of values 4k..4k+3: the AVX2 kernels' lanes.

import { K8_QUANTS, K16_BSUMS, K16_STRIDE, P8_QUANTS, Q4K_STRIDE, Q8_STRIDE } from './activations';
import { fixPair, fmaf, hsum8, hsumLanes8, Lanes, roundSum } from './fma';
import { halfLanesLo, halfToF32 } from './half';

function dot(a: v128, b: v128): v128 {
  return i32x4.dot_i16x8_s(a, b);
}

/** [hsum(a), hsum(b), hsum(c), hsum(d)]: four horizontal sums in one transpose. */
function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

// ---- The 32-weight formats, AVX2 order: 8 float lanes, one FMA per lane and block --------------

/**
 * The activations of one block for q4Sum, from its P16 copy at a: the groups
 * that the nibbles of the weights' i16 lanes meet are x0 (values 0, 2, .., 14:
 * low nibble of the even byte), x1 (1, 3, .., 15: low nibble of the odd byte),
 * x2 (16, 18, ..: high nibble of the even byte), x3 (17, 19, ..: high nibble
 * of the odd byte). q4Sum takes x0, x2 and x1 - 16 x2, x3 - 16 x1 (see there).
 * The relaxed-SIMD build's q4Sum takes the int8 quants 0-15 as x0 and 16-31 as
 * x2 (the low and the high nibbles), and no y1, y3.
 */
function x0Of(a: usize): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? v128.load(a, P8_QUANTS) : v128.load(a, 16);
}

function x2Of(a: usize): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? v128.load(a, P8_QUANTS + 16) : v128.load(a, 48);
}

function y1Of(a: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.splat(0);
  return i16x8.sub(v128.load(a, 32), i16x8.shl(v128.load(a, 48), 4));
}

function y3Of(a: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.splat(0);
  return i16x8.sub(v128.load(a, 64), i16x8.shl(v128.load(a, 32), 4));
}

/** The nibble mask q4Sum takes: per i16 lane, or per byte in the relaxed-SIMD build. */
function m4Of(): v128 {
  return i16x8.splat(ASC_FEATURE_RELAXED_SIMD ? 0x0f0f : 0x0f);
}

/**
 * The i32x4 lane sums of the 32 unsigned nibbles of the Q4 quants at q (16
 * bytes) times a block's activations. Each i16 lane v holds the nibbles
 * e (low, even byte), f (high, even), g (low, odd), h (high, odd). Instead of
 * masking out all four (six operations), dot the unmasked shifts
 *   v & 15 = e,  v >>> 4 = f + 16g + 256h,  v >>> 8 = g + 16h,  v >>> 12 = h
 * with x0, x2, y1 = x1 - 16 x2 and y3 = x3 - 16 x1: expanding gives exactly
 * e x0 + f x2 + g x1 + h x3 (|y| <= 2176, so nothing overflows). The shifts
 * and sums are chained rather than side by side, which keeps fewer vectors
 * live at once in the order V8 gives them (see dotQ4_0Rows8). (The relaxed-SIMD
 * build gives i16 lanes instead, for q4Hsum4 to add up: q4SumRelaxed.)
 */
function q4Sum(q: usize, m4: v128, x0: v128, y1: v128, x2: v128, y3: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return q4SumRelaxed(q, m4, x0, x2);
  const v = v128.load(q);
  const f = i16x8.shr_u(v, 4);
  const g = i16x8.shr_u(f, 4);
  let s = i32x4.add(dot(v128.and(v, m4), x0), dot(f, x2));
  s = i32x4.add(s, dot(g, y1));
  return i32x4.add(s, dot(i16x8.shr_u(g, 4), y3));
}

/**
 * q4Sum in the relaxed-SIMD build, against the int8 quants lo (0-15) and hi
 * (16-31): the nibbles (0..15) are the i7 operand of relaxed_dot_i8x16_i7x16_s,
 * where every engine gives the exact products (pmaddubsw on x64, as llama.cpp's
 * AVX2 kernel). Each i16 lane sums four products, |sum| <= 4 * 128 * 15: exact;
 * q4Hsum4 widens them.
 */
function q4SumRelaxed(q: usize, m4: v128, lo: v128, hi: v128): v128 {
  const v = v128.load(q);
  return i16x8.add(
    i16x8.relaxed_dot_i8x16_i7x16_s(lo, v128.and(v, m4)),
    i16x8.relaxed_dot_i8x16_i7x16_s(hi, v128.and(i16x8.shr_u(v, 4), m4)),
  );
}

/**
 * hsum4 of four q4Sum results: in the relaxed-SIMD build their i16 lanes (each
 * |x| <= 7680, see q4SumRelaxed) are summed four to a lane as i16 before the
 * one widening, 30720 at most: exact.
 */
function q4Hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  if (!ASC_FEATURE_RELAXED_SIMD) return hsum4(a, b, c, d);
  const ab = i16x8.add(v128.shuffle<i64>(a, b, 0, 2), v128.shuffle<i64>(a, b, 1, 3));
  const cd = i16x8.add(v128.shuffle<i64>(c, d, 0, 2), v128.shuffle<i64>(c, d, 1, 3));
  const abcd = i16x8.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
  return i32x4.extadd_pairwise_i16x8_s(abcd);
}

/**
 * The Q4_0 weights of a matrix with a multiple of 8 rows, repacked as llama.cpp
 * repacks them on x86 (block_q4_0x8; repack.ts): per group of 8 rows and per block index,
 * the 8 rows' f16 scales (16 bytes), then their 8 x 16 bytes of nibbles. A
 * kernel reads one stream of memory instead of eight, and the scales with one load.
 */
export const Q4_0X8_BLOCK: usize = 144;

/** The per-group steps of the Q4_0 kernels below, inlined into them (see Lanes in fma.ts). */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class Q4_0Group {
  /**
   * The integer sums (q - 8) . a of the four rows whose nibbles start at q
   * (16 bytes apart) against one activation block (x0, y1, x2, y3: see q4Sum;
   * eight = 8 * the sum of its quants, since (q - 8) . a = q . a - 8 * (sum of a)).
   */
  @inline static sums4(q: usize, m4: v128, x0: v128, y1: v128, x2: v128, y3: v128, eight: v128): v128 {
    const s0 = q4Sum(q, m4, x0, y1, x2, y3);
    const s1 = q4Sum(q + 16, m4, x0, y1, x2, y3);
    const s2 = q4Sum(q + 32, m4, x0, y1, x2, y3);
    const s3 = q4Sum(q + 48, m4, x0, y1, x2, y3);
    return i32x4.sub(q4Hsum4(s0, s1, s2, s3), eight);
  }

  /**
   * f32(dw * da) for four f16 scales dw (finite) in the high halves of the i32 lanes of h, given
   * da112 = splat(da * 2^112): the f16 bits moved into f32 place are dw * 2^-112, exactly
   * (subnormals included), and the product of the two is the same real number as dw * da, so it
   * rounds the same. (da <= 65504, an f16 value, so da * 2^112 < 2^128 stays finite.)
   */
  @inline static scales4(h: v128, da112: v128): v128 {
    // An arithmetic shift by 3 puts exponent and mantissa where f32 keeps them and copies the
    // sign into the three bits above, which the mask clears.
    return f32x4.mul(v128.and(i32x4.shr_s(h, 3), i32x4.splat(<i32>0x8fffffff)), da112);
  }

  /**
   * Weight rows r and r + 1 of a repacked block at w by two activation blocks (p0, q1, p2, q3 and
   * r0, t1, r2, t3, each as q4Sum takes them): acc (f32x4) = fmaf(sumi, dw * da, acc) for
   * [r a0, (r + 1) a0, r a1, (r + 1) a1]; e8 and da112 hold a0's values in lanes 0, 1 and a1's in
   * lanes 2, 3.
   */
  @inline static pair(
    acc: v128,
    w: usize,
    r: usize,
    m4: v128,
    p0: v128,
    q1: v128,
    p2: v128,
    q3: v128,
    r0: v128,
    t1: v128,
    r2: v128,
    t3: v128,
    e8: v128,
    da112: v128,
    fused: bool,
  ): v128 {
    const q = w + 16 + (r << 4);
    const sumi = i32x4.sub(
      q4Hsum4(
        q4Sum(q, m4, p0, q1, p2, q3),
        q4Sum(q + 16, m4, p0, q1, p2, q3),
        q4Sum(q, m4, r0, t1, r2, t3),
        q4Sum(q + 16, m4, r0, t1, r2, t3),
      ),
      e8,
    );
    const h = v128.load32_zero(w + (r << 1));
    const d = Q4_0Group.scales4(Q4_0Group.twice(v128.shuffle<i16>(i32x4.splat(0), h, 0, 8, 1, 9, 2, 10, 3, 11)), da112);
    return Lanes.fmaRowsMaybeFused(acc, sumi, d, fused);
  }

  /** [v0, v1, v0, v1] (i32 lanes; written as a shuffle that V8 does in one instruction, as it does the unpack before it). */
  @inline static twice(v: v128): v128 {
    return v128.shuffle<i64>(v, v, 0, 0);
  }

  /** splat(da * 2^112) for scales4, da the f32 scale of the activation block at a. */
  @inline static da112(a: usize): v128 {
    return f32x4.splat(load<f32>(a) * reinterpret<f32>(0x77800000));
  }
}

/**
 * ggml_gemv_q4_0_8x8_q8_0 (llama.cpp repacks Q4_0 weights with a multiple of 8
 * rows on x86): per output one float, acc = fmaf(float(sumi), dw*da, acc) per
 * block. The eight rows of a repacked group at w against one activation row,
 * one per lane; stores the eight results at out.
 *
 * The rows go in two groups of four, each ending in its own fmaf (whose
 * emulation has a rare exact path, a branch): V8's TurboFan lays out a basic
 * block level by level of its data flow (all loads, then all shifts, then all
 * dots), so that eight rows in one block would need more vectors live than
 * there are registers.
 */
export function dotQ4_0Rows8(w: usize, a: usize, nb: i32, out: usize, fused: bool): void {
  let acc03 = f32x4.splat(0);
  let acc47 = f32x4.splat(0);
  const m4 = m4Of();
  for (let i = 0; i < nb; i++) {
    const x0 = x0Of(a);
    const x2 = x2Of(a);
    const y1 = y1Of(a);
    const y3 = y3Of(a);
    const eight = i32x4.splat(load<i32>(a, 4) << 3);
    const da112 = Q4_0Group.da112(a);
    const h = v128.load(w);
    const d03 = Q4_0Group.scales4(v128.shuffle<i16>(i32x4.splat(0), h, 0, 8, 1, 9, 2, 10, 3, 11), da112);
    acc03 = Lanes.fmaRowsMaybeFused(acc03, Q4_0Group.sums4(w + 16, m4, x0, y1, x2, y3, eight), d03, fused);
    const d47 = Q4_0Group.scales4(v128.shuffle<i16>(i32x4.splat(0), h, 4, 12, 5, 13, 6, 14, 7, 15), da112);
    acc47 = Lanes.fmaRowsMaybeFused(acc47, Q4_0Group.sums4(w + 80, m4, x0, y1, x2, y3, eight), d47, fused);
    w += Q4_0X8_BLOCK;
    a += Q8_STRIDE;
  }
  v128.store(out, acc03);
  v128.store(out, acc47, 16);
}

/**
 * dotQ4_0Rows8 for two activation rows (a0, a1; prompt batches), in four groups
 * of two weight rows by the two activation rows: each weight block is unpacked
 * once for both. The results for a0 go to out0, those for a1 to out1.
 */
export function dotQ4_0Rows8x2(w: usize, a0: usize, a1: usize, nb: i32, out0: usize, out1: usize, fused: bool): void {
  let acc01 = f32x4.splat(0); // weight rows 0, 1 by a0, then by a1
  let acc23 = f32x4.splat(0);
  let acc45 = f32x4.splat(0);
  let acc67 = f32x4.splat(0);
  const m4 = m4Of();
  for (let i = 0; i < nb; i++) {
    const p0 = x0Of(a0);
    const p2 = x2Of(a0);
    const q1 = y1Of(a0);
    const q3 = y3Of(a0);
    const r0 = x0Of(a1);
    const r2 = x2Of(a1);
    const t1 = y1Of(a1);
    const t3 = y3Of(a1);
    // Lanes 0, 1 for a0, lanes 2, 3 for a1 (sums4's eight, scales4's da112)
    const e8 = i32x4.shl(
      v128.shuffle<i32>(i32x4.splat(load<i32>(a0, 4)), i32x4.splat(load<i32>(a1, 4)), 0, 1, 4, 5),
      3,
    );
    const da112 = v128.shuffle<i32>(Q4_0Group.da112(a0), Q4_0Group.da112(a1), 0, 1, 4, 5);
    acc01 = Q4_0Group.pair(acc01, w, 0, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112, fused);
    acc23 = Q4_0Group.pair(acc23, w, 2, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112, fused);
    acc45 = Q4_0Group.pair(acc45, w, 4, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112, fused);
    acc67 = Q4_0Group.pair(acc67, w, 6, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112, fused);
    w += Q4_0X8_BLOCK;
    a0 += Q8_STRIDE;
    a1 += Q8_STRIDE;
  }
  v128.store(out0, v128.shuffle<i32>(acc01, acc23, 0, 1, 4, 5));
  v128.store(out0, v128.shuffle<i32>(acc45, acc67, 0, 1, 4, 5), 16);
  v128.store(out1, v128.shuffle<i32>(acc01, acc23, 2, 3, 6, 7));
  v128.store(out1, v128.shuffle<i32>(acc45, acc67, 2, 3, 6, 7), 16);
}

// ---- Q8_0, repacked 4 rows to a block, for hosts with a fused relaxed_madd ------------------------

/**
 * Q8_0 weights of a matrix with a multiple of 4 rows, repacked (where the
 * relaxed-SIMD kernel runs; repack.ts): per group of 4 rows and per block
 * index, the 4 rows' f16 scales (8 bytes), then their 4 x 32 quants.
 */
export const Q8_0X4_BLOCK: usize = 136;

/**
 * Whether the relaxed-SIMD Q8_0 kernel (dotQ8_0Rows4) can take these nOut rows
 * of Q8_0 at w: it multiplies |a| (0..127, the i7 operand) by w * sign(a) as
 * int8, which wraps for a quant of -128 against a negative activation. llama.cpp
 * quantizes to -127..127, so only a hand-made file has -128; such a matrix keeps
 * the SIMD128 kernel. With a fused madd only: its fmaf is the exact one.
 */
export function canRepackQ8_0(w: usize, rb: usize, nOut: i32, fused: bool): bool {
  if (!ASC_FEATURE_RELAXED_SIMD || !fused || nOut % 4 !== 0) return false;
  const nb = rb / 34;
  const m = i8x16.splat(-128);
  let any = i32x4.splat(0);
  const end = w + <usize>nOut * rb;
  for (let b = w; b < end; b += 34) {
    any = v128.or(any, v128.or(i8x16.eq(v128.load(b, 2), m), i8x16.eq(v128.load(b, 18), m)));
  }
  return nb > 0 && !v128.any_true(any);
}

/** The per-row step of dotQ8_0Rows4, inlined into it. */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class Q8_0Row {
  /**
   * The i32x4 lane sums (values 4k..4k+3: the AVX2 kernel's lanes) of 16 weight
   * quants at q by the activation quants with magnitudes ay and sign masks ms.
   */
  @inline static sums(q: usize, ay: v128, ms: v128): v128 {
    const signed = i8x16.sub(v128.xor(v128.load(q), ms), ms); // w * sign(a): no -128 (canRepackQ8_0)
    if (!ASC_FEATURE_RELAXED_SIMD) return signed;
    // (Not i32x4.relaxed_dot_i8x16_i7x16_add_s: Node 20's V8 returned twice the sums.)
    return i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(signed, ay));
  }

  /** acc (f32x4) = fmaf(float(s), d, acc) with the fused relaxed_madd (canRepackQ8_0 asks for one). */
  @inline static fma(acc: v128, s: v128, d: v128): v128 {
    if (!ASC_FEATURE_RELAXED_SIMD) return acc;
    return f32x4.relaxed_madd(f32x4.convert_i32x4_s(s), d, acc);
  }
}

/**
 * ggml_vec_dot_q8_0_q8_0 (AVX2) for the 4 rows of a repacked group at w against
 * one activation row (whose int8 quants this reads): per row
 * 8 float lanes, lane k += fmaf(dw * da, sum of products 4k..4k+3) per block,
 * hsum_float_8 at the end; the four results to out. The integer sums go through
 * i16x8.relaxed_dot_i8x16_i7x16_s (exact: the i7 operand is |a| <= 127, and
 * pairs of products stay within i16), the fmaf through the fused relaxed_madd.
 */
export function dotQ8_0Rows4(w: usize, a: usize, nb: i32, out: usize): void {
  let lo0 = f32x4.splat(0);
  let hi0 = f32x4.splat(0);
  let lo1 = f32x4.splat(0);
  let hi1 = f32x4.splat(0);
  let lo2 = f32x4.splat(0);
  let hi2 = f32x4.splat(0);
  let lo3 = f32x4.splat(0);
  let hi3 = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(a, P8_QUANTS);
    const y1 = v128.load(a, P8_QUANTS + 16);
    const ms0 = i8x16.lt_s(y0, i32x4.splat(0));
    const ms1 = i8x16.lt_s(y1, i32x4.splat(0));
    const ay0 = i8x16.abs(y0);
    const ay1 = i8x16.abs(y1);
    // dw * da for the four rows (Q4_0Group.scales4: f16 bits into f32 place, times da * 2^112)
    const h = v128.load64_zero(w);
    const d = Q4_0Group.scales4(v128.shuffle<i16>(i32x4.splat(0), h, 0, 8, 1, 9, 2, 10, 3, 11), Q4_0Group.da112(a));
    let dr = v128.shuffle<i32>(d, d, 0, 0, 0, 0);
    lo0 = Q8_0Row.fma(lo0, Q8_0Row.sums(w + 8, ay0, ms0), dr);
    hi0 = Q8_0Row.fma(hi0, Q8_0Row.sums(w + 24, ay1, ms1), dr);
    dr = v128.shuffle<i32>(d, d, 1, 1, 1, 1);
    lo1 = Q8_0Row.fma(lo1, Q8_0Row.sums(w + 40, ay0, ms0), dr);
    hi1 = Q8_0Row.fma(hi1, Q8_0Row.sums(w + 56, ay1, ms1), dr);
    dr = v128.shuffle<i32>(d, d, 2, 2, 2, 2);
    lo2 = Q8_0Row.fma(lo2, Q8_0Row.sums(w + 72, ay0, ms0), dr);
    hi2 = Q8_0Row.fma(hi2, Q8_0Row.sums(w + 88, ay1, ms1), dr);
    dr = v128.shuffle<i32>(d, d, 3, 3, 3, 3);
    lo3 = Q8_0Row.fma(lo3, Q8_0Row.sums(w + 104, ay0, ms0), dr);
    hi3 = Q8_0Row.fma(hi3, Q8_0Row.sums(w + 120, ay1, ms1), dr);
    w += Q8_0X4_BLOCK;
    a += Q8_STRIDE;
  }
  store<f32>(out, hsumLanes8(lo0, hi0));
  store<f32>(out, hsumLanes8(lo1, hi1), 4);
  store<f32>(out, hsumLanes8(lo2, hi2), 8);
  store<f32>(out, hsumLanes8(lo3, hi3), 12);
}

/** The fifth bits of a Q5 block (qh) as all-ones / zero masks in the i16 lanes of the four nibble vectors. */
function fifthBits(qh: u32, part: i32): v128 {
  const evenBits = i16x8(1, 4, 16, 64, 256, 1024, 4096, 16384);
  const oddBits = i16x8(2, 8, 32, 128, 512, 2048, 8192, -32768);
  const bits = part & 1 ? oddBits : evenBits;
  const half = i16x8.splat(<i16>(part < 2 ? qh & 0xffff : qh >>> 16));
  return i16x8.eq(v128.and(half, bits), bits);
}

const Q4_0: i32 = 2;
const Q4_1: i32 = 3;
const Q5_0: i32 = 6;
const Q5_1: i32 = 7;
const Q8_0: i32 = 8;

/**
 * The 32-weight formats' 8-lane dot (Lanes8.dot) and its pieces, inlined into
 * each format's function so that `type` is a constant there: static methods,
 * the one place a decorator is valid TypeScript as well.
 */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class Lanes8 {
  /** Bytes of a block of the 32-weight formats. */
  @inline static bytes(type: i32): usize {
    return type === Q4_0 ? 18 : type === Q4_1 ? 20 : type === Q5_0 ? 22 : type === Q5_1 ? 24 : 34;
  }

  /** Bytes of a prepared activation block of the 32-weight formats (activations.ts Q8_STRIDE). */
  @inline static actBytes(_type: i32): usize {
    return Q8_STRIDE;
  }

  /**
   * The integer sums of lanes 4 * half .. 4 * half + 3 of a block (values
   * 16 * half .. 16 * half + 15) against the P16 activation block at a. Values:
   * Q4_0 nibble - 8, Q5_0 (nibble | bit << 4) - 16, Q4_1 nibble, Q5_1 nibble |
   * bit << 4, Q8_0 int8 (sign-extended in place from the i16 lanes). Half 1
   * holds the high nibbles.
   */
  @inline static sums(type: i32, w: usize, a: usize, half: i32): v128 {
    const m4 = i16x8.splat(0x0f);
    let even: v128;
    let odd: v128;
    if (type === Q8_0) {
      const v = v128.load(w + 2 + 16 * half);
      even = i16x8.shr_s(i16x8.shl(v, 8), 8);
      odd = i16x8.shr_s(v, 8);
    } else {
      const qs = type === Q4_0 ? 2 : type === Q4_1 ? 4 : type === Q5_0 ? 6 : 8;
      let v = v128.load(w + qs);
      if (half) v = i16x8.shr_u(v, 4);
      even = v128.and(v, m4);
      odd = v128.and(i16x8.shr_u(v, 8), m4);
      if (type === Q5_1) {
        const qh = load<u32>(w, 4);
        const sixteen = i16x8.splat(16);
        even = v128.or(even, v128.and(fifthBits(qh, 2 * half), sixteen));
        odd = v128.or(odd, v128.and(fifthBits(qh, 2 * half + 1), sixteen));
      } else if (type === Q5_0) {
        // (nibble | bit << 4) - 16 = nibble - (bit ? 0 : 16)
        const qh = load<u32>(w, 2);
        const minus16 = i16x8.splat(-16);
        even = i16x8.add(even, v128.andnot(minus16, fifthBits(qh, 2 * half)));
        odd = i16x8.add(odd, v128.andnot(minus16, fifthBits(qh, 2 * half + 1)));
      } else if (type === Q4_0) {
        const eight = i16x8.splat(8);
        even = i16x8.sub(even, eight);
        odd = i16x8.sub(odd, eight);
      }
    }
    return i32x4.add(dot(even, v128.load(a + 16 + 32 * half)), dot(odd, v128.load(a + 32 + 32 * half)));
  }

  /** d = dw * da of a block (exact in f32: a product of two f16 values), as an f64x2 splat. */
  @inline static scale(w: usize, a: usize): v128 {
    return f64x2.splat(<f64>(halfToF32(load<u16>(w)) * load<f32>(a)));
  }

  /**
   * ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0 and {q4_1,q5_1}_q8_1, AVX2 (Q4_0 here only
   * where it is not repacked): lane k holds the integer sum over values 4k..4k+3
   * of a block (lanes 0-3 in l0, 4-7 in l1), lanes[k] = fmaf(dw*da, lane,
   * lanes[k]); hsum_float_8 at the end. Q4_1/Q5_1 add the minimum terms m*s from
   * a scalar float sum (fmaf: the build contracts it) after the horizontal sum.
   *
   * The inner loop takes the common path (fma.ts): every f64 sum rounded to f32
   * once, all four pairs checked at once for the rare midpoint. At one it leaves,
   * and the block is done again with each sum rounded exactly: so no value of the
   * hot loop lives across that path, and the loop keeps everything in registers.
   */
  @inline static dot(type: i32, w: usize, a: usize, nb: i32): f32 {
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let a2 = f64x2.splat(0);
    let a3 = f64x2.splat(0);
    let summs: f32 = 0;
    const withMins = type === Q4_1 || type === Q5_1;
    let i = 0;
    while (true) {
      for (; i < nb; i++) {
        const d = Lanes8.scale(w, a);
        const l0 = Lanes8.sums(type, w, a, 0);
        const l1 = Lanes8.sums(type, w, a, 1);
        const s0 = f64x2.add(f64x2.mul(Lanes.lowI32(l0), d), a0);
        const s1 = f64x2.add(f64x2.mul(Lanes.highI32(l0), d), a1);
        const s2 = f64x2.add(f64x2.mul(Lanes.lowI32(l1), d), a2);
        const s3 = f64x2.add(f64x2.mul(Lanes.highI32(l1), d), a3);
        if (Lanes.anyMidpoint(s0, s1, s2, s3)) break;
        a0 = Lanes.round(s0);
        a1 = Lanes.round(s1);
        a2 = Lanes.round(s2);
        a3 = Lanes.round(s3);
        // fmaf(m, s, summs) with m and s f16 values: their product is exact in f32, so one rounding.
        if (withMins) summs += halfToF32(load<u16>(w, 2)) * load<f32>(a, 8);
        w += Lanes8.bytes(type);
        a += Lanes8.actBytes(type);
      }
      if (i >= nb) break;
      const d = Lanes8.scale(w, a);
      const l0 = Lanes8.sums(type, w, a, 0);
      const l1 = Lanes8.sums(type, w, a, 1);
      a0 = Lanes.roundExact(f64x2.mul(Lanes.lowI32(l0), d), a0);
      a1 = Lanes.roundExact(f64x2.mul(Lanes.highI32(l0), d), a1);
      a2 = Lanes.roundExact(f64x2.mul(Lanes.lowI32(l1), d), a2);
      a3 = Lanes.roundExact(f64x2.mul(Lanes.highI32(l1), d), a3);
      if (withMins) summs += halfToF32(load<u16>(w, 2)) * load<f32>(a, 8);
      w += Lanes8.bytes(type);
      a += Lanes8.actBytes(type);
      i++;
    }
    const sum = hsum8(a0, a1, a2, a3);
    return withMins ? sum + summs : sum;
  }

  /**
   * dot with the host's fused relaxed_madd as each lane's fmaf (matmulRange's
   * FUSED_MADD): the same float operations in the same order, one instruction
   * each. Lanes 0-3 in lo, 4-7 in hi.
   */
  @inline static dotFused(type: i32, w: usize, a: usize, nb: i32): f32 {
    let lo = f32x4.splat(0);
    let hi = f32x4.splat(0);
    let summs: f32 = 0;
    const withMins = type === Q4_1 || type === Q5_1;
    for (let i = 0; i < nb; i++) {
      const d = f32x4.splat(halfToF32(load<u16>(w)) * load<f32>(a));
      lo = Lanes.fmaRowsMaybeFused(lo, Lanes8.sums(type, w, a, 0), d, true);
      hi = Lanes.fmaRowsMaybeFused(hi, Lanes8.sums(type, w, a, 1), d, true);
      if (withMins) summs += halfToF32(load<u16>(w, 2)) * load<f32>(a, 8);
      w += Lanes8.bytes(type);
      a += Lanes8.actBytes(type);
    }
    const sum = hsumLanes8(lo, hi);
    return withMins ? sum + summs : sum;
  }
}

export function dotQ4_0(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dot(Q4_0, w, a, nb);
}

// The same with the fused relaxed_madd (Lanes8.dotFused), for matmulRange's FUSED_MADD.

export function dotQ4_0Fused(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dotFused(Q4_0, w, a, nb);
}

export function dotQ4_1Fused(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dotFused(Q4_1, w, a, nb);
}

export function dotQ5_0Fused(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dotFused(Q5_0, w, a, nb);
}

export function dotQ5_1Fused(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dotFused(Q5_1, w, a, nb);
}

export function dotQ8_0Fused(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dotFused(Q8_0, w, a, nb);
}

export function dotQ4_1(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dot(Q4_1, w, a, nb);
}

export function dotQ5_0(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dot(Q5_0, w, a, nb);
}

export function dotQ5_1(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dot(Q5_1, w, a, nb);
}

export function dotQ8_0(w: usize, a: usize, nb: i32): f32 {
  return Lanes8.dot(Q8_0, w, a, nb);
}

// ---- K-quants against Q8_K ------------------------------------------------------------------------

/** The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (get_scale_min_k4); scales at s. */
function scaleK4(j: i32, s: usize): i32 {
  if (j < 4) return load<u8>(s + j) & 63;
  return (load<u8>(s + j + 4) & 0x0f) | ((load<u8>(s + j - 4) >> 6) << 4);
}

function minK4(j: i32, s: usize): i32 {
  if (j < 4) return load<u8>(s + j + 4) & 63;
  return (load<u8>(s + j + 4) >> 4) | ((load<u8>(s + j) >> 6) << 4);
}

/** Sum over the groups 2*j0 .. 2*j1 - 1 of bsums[g] * mins[g >> 1] (sub-blocks j0 .. j1 - 1). */
function minsDot(s: usize, a: usize, j0: i32 = 0, j1: i32 = 8): i32 {
  let summ: i32 = 0;
  for (let j = j0; j < j1; j++) {
    const bs = <i32>load<i16>(a + K16_BSUMS + ((<usize>j) << 2)) + <i32>load<i16>(a + K16_BSUMS + ((<usize>j) << 2), 2);
    summ += bs * minK4(j, s);
  }
  return summ;
}

/**
 * ggml_vec_dot_q4_K_q8_K_generic (the reference's order for Q4_K weights that
 * llama.cpp does not repack, i.e. without a multiple of 8 rows): eight int32
 * lanes, lane l = value index mod 8, scaled per sub-block; per block
 * sums[l] += d * float(lane) in f32 and sumf -= dmin * (mins . bsums); at the
 * end sumf + sums[0] + ... + sums[7]. After the same shuffle of weights and
 * activations (mod8Lanes), dot(even) puts lanes 0, 2, 4, 6 in its i32 lanes and
 * dot(odd) 1, 3, 5, 7. The activations are in the Q4_K layout (activations.ts
 * quantizeQ8K with q4k set: 256 times each product, factored out below).
 */
export function dotQ4_K(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  let sumsE = f32x4.splat(0); // lanes 0, 2, 4, 6
  let sumsO = f32x4.splat(0); // lanes 1, 3, 5, 7
  const lowEven = i16x8.splat(0x000f);
  const lowOdd = i16x8.splat(0x0f00);
  const highEven = i16x8.splat(0x00f0);
  for (let i = 0; i < nb; i++) {
    const s = w + 4;
    const ad = load<f32>(a);
    let accE = i32x4.splat(0);
    let accO = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = w + 16 + ((<usize>c) << 5);
      const ap = a + 16 + ((<usize>c) << 7);
      const v0 = mod8Lanes(q);
      const v1 = mod8Lanes(q + 16);
      const loE = i32x4.add(dot(v128.and(v0, lowEven), mod8Lanes(ap)), dot(v128.and(v1, lowEven), mod8Lanes(ap + 32)));
      const loO = i32x4.add(
        dot(v128.and(v0, lowOdd), mod8Lanes(ap + 16)),
        dot(v128.and(v1, lowOdd), mod8Lanes(ap + 48)),
      );
      const hiE = i32x4.add(
        dot(v128.and(v0, highEven), mod8Lanes(ap + 64)),
        dot(v128.and(v1, highEven), mod8Lanes(ap + 96)),
      );
      const hiO = i32x4.add(
        dot(i16x8.shr_u(v0, 12), mod8Lanes(ap + 80)),
        dot(i16x8.shr_u(v1, 12), mod8Lanes(ap + 112)),
      );
      const sl = i32x4.splat(scaleK4(2 * c, s));
      const sh = i32x4.splat(scaleK4(2 * c + 1, s));
      accE = i32x4.add(accE, i32x4.add(i32x4.mul(loE, sl), i32x4.mul(hiE, sh)));
      accO = i32x4.add(accO, i32x4.add(i32x4.mul(loO, sl), i32x4.mul(hiO, sh)));
    }
    // The layout's factor 256 out (exact: every term is a multiple of it, and under 2^31)
    accE = i32x4.shr_s(accE, 8);
    accO = i32x4.shr_s(accO, 8);
    const d = f32x4.splat(halfToF32(load<u16>(w)) * ad);
    sumsE = f32x4.add(sumsE, f32x4.mul(d, f32x4.convert_i32x4_s(accE)));
    sumsO = f32x4.add(sumsO, f32x4.mul(d, f32x4.convert_i32x4_s(accO)));
    const dmin = halfToF32(load<u16>(w, 2)) * ad;
    sumf = sumf - dmin * <f32>minsDot(s, a);
    w += 144;
    a += Q4K_STRIDE;
  }
  for (let l = 0; l < 4; l++) {
    sumf += f32x4.extract_lane(sumsE, 0);
    sumf += f32x4.extract_lane(sumsO, 0);
    sumsE = v128.shuffle<i32>(sumsE, sumsE, 1, 2, 3, 0);
    sumsO = v128.shuffle<i32>(sumsO, sumsO, 1, 2, 3, 0);
  }
  return sumf;
}

/**
 * The 16 bytes at p with their i16 lanes in the order 0, 4, 1, 5, 2, 6, 3, 7: for
 * weights, the even bytes' nibbles of values 0, 8, 2, 10, ... (mod 8: 0, 0, 2, 2,
 * ...) and likewise the odd ones; for activations, the quants to meet them.
 */
function mod8Lanes(p: usize): v128 {
  const v = v128.load(p);
  return i8x16.shuffle(v, v, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
}

/**
 * Q4_K weights of a matrix with a multiple of 8 rows, repacked 4 rows to a
 * super-block (as llama.cpp repacks them, 8 rows to one, on x86; repack.ts): per group of
 * 4 rows and per super-block index, the 4 rows' d (8 bytes), dmin (8 bytes),
 * 12-byte scales (48 bytes), then their 4 x 128 bytes of nibbles. One stream
 * of memory for the kernel rather than four, and d, dmin with one load each.
 */
export const Q4_KX4_BLOCK: usize = 576;

/**
 * ggml_gemv_q4_K_8x8_q8_K and ggml_gemm_q4_K_8x8_q8_K (llama.cpp repacks Q4_K
 * weights with a multiple of 8 rows on x86; engine/backend/js/q4k-repacked.ts):
 * per super-block the integer sum of scale * (q4 . q8) over the sub-blocks,
 * isum, and of min * bsum, imin, each folded into a float accumulator by an
 * fmaf with f32(d * dy) (f32(dmin * dy) for the mins); the result acc - accMin.
 * The gemv folds a whole super-block at once; the gemm (`gemm`: the activation
 * rows llama.cpp takes in whole groups of 4) folds each pair of sub-blocks by
 * its own fmaf, four per super-block. The four weight rows of a repacked group
 * at w against one activation row, one row per lane; returns the four results.
 */
export function dotQ4_KRows4(w: usize, a: usize, nb: i32, gemm: bool, fused: bool): v128 {
  let acc01 = f64x2.splat(0); // rows 0 and 1
  let acc23 = f64x2.splat(0);
  let min01 = f64x2.splat(0);
  let min23 = f64x2.splat(0);
  // With the fused relaxed_madd (matmulRange's FUSED_MADD), acc and accMin as f32x4
  let accF = f32x4.splat(0);
  let minF = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * Q4_KX4_BLOCK;
    const ab = a + <usize>i * Q4K_STRIDE;
    // The integer sums of each fmaf step, one row per lane: the gemv's one step (whole
    // super-blocks), or the gemm's four (pairs of sub-blocks).
    let qs = i32x4.splat(0);
    let ms = qs;
    let qs1 = qs;
    let qs2 = qs;
    let qs3 = qs;
    let ms1 = qs;
    let ms2 = qs;
    let ms3 = qs;
    let steps = 1;
    const bsums = ab + <usize>K16_BSUMS;
    if (gemm) {
      // Lane c of q (m): the scaled q4 . q8 sums (min * bsum) of sub-blocks 2c and 2c + 1.
      let q0 = qs;
      let q1 = qs;
      let q2 = qs;
      let q3 = qs;
      let m0 = qs;
      let m1 = qs;
      let m2 = qs;
      let m3 = qs;
      for (let r = 0; r < 4; r++) {
        const sm = scalesMinsK4(wb + 16 + <usize>r * 12);
        const q = Q4_KRow.pairSums(wb + 64 + ((<usize>r) << 7), ab + 16, sm);
        const m = pairMinsK4(bsums, sm);
        if (r === 0) {
          q0 = q;
          m0 = m;
        } else if (r === 1) {
          q1 = q;
          m1 = m;
        } else if (r === 2) {
          q2 = q;
          m2 = m;
        } else {
          q3 = q;
          m3 = m;
        }
      }
      // The rows' pair sums transposed
      const q01 = v128.shuffle<i32>(q0, q1, 0, 4, 1, 5);
      const q23 = v128.shuffle<i32>(q2, q3, 0, 4, 1, 5);
      const q01h = v128.shuffle<i32>(q0, q1, 2, 6, 3, 7);
      const q23h = v128.shuffle<i32>(q2, q3, 2, 6, 3, 7);
      qs = v128.shuffle<i32>(q01, q23, 0, 1, 4, 5);
      qs1 = v128.shuffle<i32>(q01, q23, 2, 3, 6, 7);
      qs2 = v128.shuffle<i32>(q01h, q23h, 0, 1, 4, 5);
      qs3 = v128.shuffle<i32>(q01h, q23h, 2, 3, 6, 7);
      const m01 = v128.shuffle<i32>(m0, m1, 0, 4, 1, 5);
      const m23 = v128.shuffle<i32>(m2, m3, 0, 4, 1, 5);
      const m01h = v128.shuffle<i32>(m0, m1, 2, 6, 3, 7);
      const m23h = v128.shuffle<i32>(m2, m3, 2, 6, 3, 7);
      ms = v128.shuffle<i32>(m01, m23, 0, 1, 4, 5);
      ms1 = v128.shuffle<i32>(m01, m23, 2, 3, 6, 7);
      ms2 = v128.shuffle<i32>(m01h, m23h, 0, 1, 4, 5);
      ms3 = v128.shuffle<i32>(m01h, m23h, 2, 3, 6, 7);
      steps = 4;
    } else {
      // Only each row's totals: the bsums of whole sub-blocks, for one dot with its mins.
      const bsum8 = i16x8.narrow_i32x4_s(
        i32x4.extadd_pairwise_i16x8_s(v128.load(bsums)),
        i32x4.extadd_pairwise_i16x8_s(v128.load(bsums, 16)),
      );
      for (let r = 0; r < 4; r++) {
        const sm = scalesMinsK4(wb + 16 + <usize>r * 12);
        const q = ASC_FEATURE_RELAXED_SIMD
          ? Q4_KRow.sumsRelaxed(wb + 64 + ((<usize>r) << 7), ab + K8_QUANTS, sm)
          : Q4_KRow.pairSums(wb + 64 + ((<usize>r) << 7), ab + 16, sm);
        const m = dot(i16x8.extend_high_i8x16_u(sm), bsum8);
        // [q0 + q2, q1 + q3, m0 + m2, m1 + m3], then [Q, Q, M, M] for the totals Q and M
        const x = i32x4.add(v128.shuffle<i32>(q, m, 0, 1, 4, 5), v128.shuffle<i32>(q, m, 2, 3, 6, 7));
        const y = i32x4.add(x, v128.shuffle<i32>(x, x, 1, 0, 3, 2));
        // The rows so far down a lane and this one's into lane 3: row r ends in lane r.
        qs = v128.shuffle<i32>(qs, y, 1, 2, 3, 4);
        ms = v128.shuffle<i32>(ms, y, 1, 2, 3, 6);
      }
    }
    // f32(d * dy) and f32(dmin * dy) of the four rows
    const dy = f32x4.splat(load<f32>(ab));
    const d = f32x4.mul(halfLanesLo(v128.load64_zero(wb)), dy);
    const dmin = f32x4.mul(halfLanesLo(v128.load64_zero(wb + 8)), dy);
    const d01 = Lanes.lowF32(d);
    const d23 = Lanes.highF32(d);
    const dmin01 = Lanes.lowF32(dmin);
    const dmin23 = Lanes.highF32(dmin);
    for (let c = 0; c < steps; c++) {
      const qf = f32x4.convert_i32x4_s(qs);
      const mf = f32x4.convert_i32x4_s(ms);
      if (ASC_FEATURE_RELAXED_SIMD && fused) {
        accF = f32x4.relaxed_madd(qf, d, accF);
        minF = f32x4.relaxed_madd(mf, dmin, minF);
        qs = qs1;
        qs1 = qs2;
        qs2 = qs3;
        ms = ms1;
        ms1 = ms2;
        ms2 = ms3;
        continue;
      }
      const pa = f64x2.mul(Lanes.lowF32(qf), d01);
      const pb = f64x2.mul(Lanes.highF32(qf), d23);
      const pc = f64x2.mul(Lanes.lowF32(mf), dmin01);
      const pd = f64x2.mul(Lanes.highF32(mf), dmin23);
      const sa = f64x2.add(pa, acc01);
      const sb = f64x2.add(pb, acc23);
      const sc = f64x2.add(pc, min01);
      const sd = f64x2.add(pd, min23);
      if (Lanes.anyMidpoint(sa, sb, sc, sd)) {
        acc01 = fixPair(pa, acc01);
        acc23 = fixPair(pb, acc23);
        min01 = fixPair(pc, min01);
        min23 = fixPair(pd, min23);
      } else {
        acc01 = Lanes.round(sa);
        acc23 = Lanes.round(sb);
        min01 = Lanes.round(sc);
        min23 = Lanes.round(sd);
      }
      qs = qs1;
      qs1 = qs2;
      qs2 = qs3;
      ms = ms1;
      ms1 = ms2;
      ms2 = ms3;
    }
  }
  if (ASC_FEATURE_RELAXED_SIMD && fused) return f32x4.sub(accF, minF);
  const acc = v128.shuffle<i32>(f32x4.demote_f64x2_zero(acc01), f32x4.demote_f64x2_zero(acc23), 0, 1, 4, 5);
  const accMin = v128.shuffle<i32>(f32x4.demote_f64x2_zero(min01), f32x4.demote_f64x2_zero(min23), 0, 1, 4, 5);
  return f32x4.sub(acc, accMin);
}

/**
 * The repacked Q4_K kernel's work on one weight row, inlined into it (a call
 * per row and block costs ~10% here; binaryen would not inline it by itself):
 * a static method, the one place a decorator is valid TypeScript as well.
 */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class Q4_KRow {
  /**
   * Lane c: scale[2c] * (q4 . q8 over sub-block 2c) + scale[2c + 1] * (... 2c + 1),
   * for the 128 quant bytes at q against the Q4_K-layout activation quants at aq;
   * sm from scalesMinsK4. Each 32-byte chunk holds sub-block 2c in its low
   * nibbles and 2c + 1 in its high ones.
   */
  @inline static pairSums(q: usize, aq: usize, sm: v128): v128 {
    if (ASC_FEATURE_RELAXED_SIMD) return Q4_KRow.pairSumsRelaxed(q, aq - 16 + K8_QUANTS, sm);
    let v0 = v128.load(q);
    let v1 = v128.load(q + 16);
    const lo0 = lowNibblesDot(v0, v1, aq);
    const hi0 = highNibblesDot(v0, v1, aq);
    v0 = v128.load(q + 32);
    v1 = v128.load(q + 48);
    const lo1 = lowNibblesDot(v0, v1, aq + 128);
    const hi1 = highNibblesDot(v0, v1, aq + 128);
    let first = hsum4(lo0, hi0, lo1, hi1); // sub-blocks 0-3
    v0 = v128.load(q + 64);
    v1 = v128.load(q + 80);
    const lo2 = lowNibblesDot(v0, v1, aq + 256);
    const hi2 = highNibblesDot(v0, v1, aq + 256);
    v0 = v128.load(q + 96);
    v1 = v128.load(q + 112);
    const lo3 = lowNibblesDot(v0, v1, aq + 384);
    const hi3 = highNibblesDot(v0, v1, aq + 384);
    let second = hsum4(lo2, hi2, lo3, hi3); // sub-blocks 4-7
    // The layout's factor 256 out (exact: every term is a multiple of it, and under 2^24 here)
    first = i32x4.shr_s(first, 8);
    second = i32x4.shr_s(second, 8);
    const z = i32x4.splat(0);
    const scLo = i8x16.shuffle(sm, z, 0, 16, 16, 16, 1, 16, 16, 16, 2, 16, 16, 16, 3, 16, 16, 16);
    const scHi = i8x16.shuffle(sm, z, 4, 16, 16, 16, 5, 16, 16, 16, 6, 16, 16, 16, 7, 16, 16, 16);
    return pairAdd(i32x4.mul(first, scLo), i32x4.mul(second, scHi));
  }

  /**
   * pairSums in the relaxed-SIMD build, against the int8 quants at a8: the
   * nibbles (0..15) are the i7 operand of relaxed_dot_i8x16_i7x16_s, where every
   * engine gives the exact products (pmaddubsw on x64, as llama.cpp's AVX2
   * kernel): 16 products a pass rather than pmaddwd's 8, no layout factor.
   */
  @inline static pairSumsRelaxed(q: usize, a8: usize, sm: v128): v128 {
    // Scales 2c and 2c + 1 as an i16 pair in i32 lane c
    const sc = i16x8.extend_low_i8x16_u(sm);
    return hsum4(
      Q4_KRow.chunk(q, a8, v128.shuffle<i32>(sc, sc, 0, 0, 0, 0)),
      Q4_KRow.chunk(q + 32, a8 + 64, v128.shuffle<i32>(sc, sc, 1, 1, 1, 1)),
      Q4_KRow.chunk(q + 64, a8 + 128, v128.shuffle<i32>(sc, sc, 2, 2, 2, 2)),
      Q4_KRow.chunk(q + 96, a8 + 192, v128.shuffle<i32>(sc, sc, 3, 3, 3, 3)),
    );
  }

  /**
   * The gemv's pairSums (relaxed-SIMD build): four i32 lanes whose sum is the row's
   * scaled q4 . q8 over the whole super-block. One 32-byte chunk per pass of a loop
   * that V8 keeps as a loop: unrolled, TurboFan would load all 24 vectors of the
   * row first (it lays out a basic block level by level) and spill most of them.
   */
  @inline static sumsRelaxed(q: usize, a8: usize, sm: v128): v128 {
    // Scales 2c and 2c + 1 as an i16 pair in i32 lane 0 of sc at pass c
    let sc = i16x8.extend_low_i8x16_u(sm);
    let acc = i32x4.splat(0);
    const end = q + 128;
    for (let p = q, a = a8; p < end; p += 32, a += 64) {
      acc = i32x4.add(acc, Q4_KRow.chunk(p, a, v128.shuffle<i32>(sc, sc, 0, 0, 0, 0)));
      sc = v128.shuffle<i32>(sc, sc, 1, 2, 3, 0);
    }
    return acc;
  }

  /**
   * The 32 bytes at q (two sub-blocks' nibbles in activations.ts pairSlot's order,
   * as repack.ts leaves them in this build) against their 64 int8 activation
   * quants at a8 (the same order), scaled by s, the sub-blocks' scales as an i16
   * pair in every i32 lane: four i32 lanes. The i16 lanes of the relaxed dots
   * alternate between the sub-blocks, so that one dot with s applies both. Each i16
   * lane of their sum holds at most 4 * 2 * 127 * 15: exact.
   */
  @inline static chunk(q: usize, a8: usize, s: v128): v128 {
    const m = i8x16.splat(0x0f);
    const v0 = v128.load(q);
    const v1 = v128.load(q, 16);
    const lo = i16x8.add(
      i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a8), v128.and(v0, m)),
      i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a8, 16), v128.and(v1, m)),
    );
    const hi = i16x8.add(
      i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a8, 32), v128.and(i16x8.shr_u(v0, 4), m)),
      i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a8, 48), v128.and(i16x8.shr_u(v1, 4), m)),
    );
    return dot(i16x8.add(lo, hi), s);
  }
}

/**
 * The 6-bit scales and mins of a Q4_K block (scales at s) as bytes: scales 0-7
 * in bytes 0-7, mins 0-7 in bytes 8-15 (llama.cpp's utmp unpacking of
 * get_scale_min_k4's layout, kmask1-3).
 */
function scalesMinsK4(s: usize): v128 {
  // The 12 bytes as u0, u1, u2: scales 0-3 = u0 & 63, mins 0-3 = u1 & 63, the low four bits of
  // scales 4-7 (mins 4-7) the low (high) nibbles of u2, their top two bits those of u0 (u1).
  const v = v128.load(s);
  const p = v128.shuffle<i32>(v, v, 0, 2, 1, 2);
  const low = v128.or(
    v128.and(p, i32x4(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0)),
    v128.and(i32x4.shr_u(p, 4), i32x4(0, 0, 0, 0x0f0f0f0f)),
  );
  // (u >> 2) & 0x30 per byte: its bits 6-7 as bits 4-5
  const high = v128.and(i32x4.shr_u(v128.shuffle<i32>(v, v, 0, 0, 1, 1), 2), i32x4(0, 0x30303030, 0, 0x30303030));
  return v128.or(low, high);
}

/** [x0 + x1, x2 + x3, y0 + y1, y2 + y3]. */
function pairAdd(x: v128, y: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(x, y, 0, 2, 4, 6), v128.shuffle<i32>(x, y, 1, 3, 5, 7));
}

/** The low nibbles of a 32-byte chunk (v0, v1) dotted with their 32 activation quants at aq (times 256). */
function lowNibblesDot(v0: v128, v1: v128, aq: usize): v128 {
  const even = i16x8.splat(0x000f);
  const odd = i16x8.splat(0x0f00);
  const a = i32x4.add(dot(v128.and(v0, even), v128.load(aq)), dot(v128.and(v0, odd), v128.load(aq, 16)));
  const b = i32x4.add(dot(v128.and(v1, even), v128.load(aq, 32)), dot(v128.and(v1, odd), v128.load(aq, 48)));
  return i32x4.add(a, b);
}

/** The high nibbles likewise, against the next 32 activation quants. */
function highNibblesDot(v0: v128, v1: v128, aq: usize): v128 {
  const even = i16x8.splat(0x00f0);
  const a = i32x4.add(dot(v128.and(v0, even), v128.load(aq, 64)), dot(i16x8.shr_u(v0, 12), v128.load(aq, 80)));
  const b = i32x4.add(dot(v128.and(v1, even), v128.load(aq, 96)), dot(i16x8.shr_u(v1, 12), v128.load(aq, 112)));
  return i32x4.add(a, b);
}

/**
 * Lane c: min[2c] * bsum(sub-block 2c) + min[2c + 1] * bsum(2c + 1), the
 * activations' 16 bsums (two per sub-block) at bs; sm from scalesMinsK4.
 */
function pairMinsK4(bs: usize, sm: v128): v128 {
  const z = i32x4.splat(0);
  // each min twice, as i16 lanes, to meet its sub-block's two bsums
  const lo = i8x16.shuffle(sm, z, 8, 16, 8, 16, 9, 16, 9, 16, 10, 16, 10, 16, 11, 16, 11, 16);
  const hi = i8x16.shuffle(sm, z, 12, 16, 12, 16, 13, 16, 13, 16, 14, 16, 14, 16, 15, 16, 15, 16);
  return pairAdd(dot(v128.load(bs), lo), dot(v128.load(bs, 16), hi));
}

/** Fifth bits for the even (low byte) and odd (high byte) weights of i16 lanes of qh, bit b, as 0/16. */
function bitEven(h: v128, b: i32): v128 {
  return i16x8.shl(v128.and(i16x8.shr_u(h, b), i16x8.splat(1)), 4);
}

function bitOdd(h: v128, b: i32): v128 {
  return i16x8.shl(v128.and(i16x8.shr_u(h, b + 8), i16x8.splat(1)), 4);
}

/**
 * ggml_vec_dot_q5_K_q8_K, AVX2 (x86-k.ts dotQ5_KX86): the mins into a scalar
 * float sum, summs = fmaf(-dy*dmin, mins . bsums, summs); lane k sums
 * scale[m] * q*q8 over values 4k..4k+3 of each 32-value sub-block m, then
 * lanes[k] = fmaf(dy*d, lane, lanes[k]); hsum_float_8 + summs.
 */
export function dotQ5_K(w: usize, a: usize, nb: i32): f32 {
  let lanesLo = f32x4.splat(0); // lanes 0-3
  let lanesHi = f32x4.splat(0); // lanes 4-7
  let summs: f64 = 0;
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const s = w + 4;
    const h0 = v128.load(w, 16);
    const h1 = v128.load(w, 32);
    let acc0 = i32x4.splat(0);
    let acc1 = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = w + 48 + ((<usize>c) << 5);
      const ap = a + 16 + ((<usize>c) << 7);
      const v0 = v128.load(q);
      const v1 = v128.load(q, 16);
      const bl = 2 * c;
      const bh = 2 * c + 1;
      const lo0 = i32x4.add(
        dot(v128.or(v128.and(v0, m4), bitEven(h0, bl)), v128.load(ap)),
        dot(v128.or(v128.and(i16x8.shr_u(v0, 8), m4), bitOdd(h0, bl)), v128.load(ap, 16)),
      );
      const lo1 = i32x4.add(
        dot(v128.or(v128.and(v1, m4), bitEven(h1, bl)), v128.load(ap, 32)),
        dot(v128.or(v128.and(i16x8.shr_u(v1, 8), m4), bitOdd(h1, bl)), v128.load(ap, 48)),
      );
      const hi0 = i32x4.add(
        dot(v128.or(v128.and(i16x8.shr_u(v0, 4), m4), bitEven(h0, bh)), v128.load(ap, 64)),
        dot(v128.or(i16x8.shr_u(v0, 12), bitOdd(h0, bh)), v128.load(ap, 80)),
      );
      const hi1 = i32x4.add(
        dot(v128.or(v128.and(i16x8.shr_u(v1, 4), m4), bitEven(h1, bh)), v128.load(ap, 96)),
        dot(v128.or(i16x8.shr_u(v1, 12), bitOdd(h1, bh)), v128.load(ap, 112)),
      );
      const sl = i32x4.splat(scaleK4(bl, s));
      const sh = i32x4.splat(scaleK4(bh, s));
      acc0 = i32x4.add(acc0, i32x4.add(i32x4.mul(lo0, sl), i32x4.mul(hi0, sh)));
      acc1 = i32x4.add(acc1, i32x4.add(i32x4.mul(lo1, sl), i32x4.mul(hi1, sh)));
    }
    const dy = load<f32>(a);
    const dmin = -(dy * halfToF32(load<u16>(w, 2)));
    summs = roundSum(<f64>dmin * <f64>minsDot(s, a), summs);
    const d = f64x2.splat(<f64>(dy * halfToF32(load<u16>(w))));
    lanesLo = Lanes.fmaInt(lanesLo, acc0, d);
    lanesHi = Lanes.fmaInt(lanesHi, acc1, d);
    w += 176;
    a += K16_STRIDE;
  }
  return hsumLanes8(lanesLo, lanesHi) + <f32>summs;
}

/**
 * ggml_vec_dot_q6_K_q8_K, AVX2 (x86-k.ts dotQ6_KX86): lanes 0-3 take the first
 * 16 values of each 32-value chunk, lanes 4-7 the last 16, each scaled by its
 * 16-value group's int8 scale; the -32 offset comes out per lane from the
 * activation sums, lane k losing 32 * (bsum[2k]*sc[2k] + bsum[2k+1]*sc[2k+1]).
 */
export function dotQ6_K(w: usize, a: usize, nb: i32): f32 {
  let lanesLo = f32x4.splat(0); // lanes 0-3
  let lanesHi = f32x4.splat(0); // lanes 4-7
  const m4 = i16x8.splat(0x0f);
  const m3 = i16x8.splat(3);
  for (let i = 0; i < nb; i++) {
    const sc = w + 192;
    let acc0 = i32x4.splat(0);
    let acc1 = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      for (let g = 0; g < 2; g++) {
        const l0 = v128.load(w + ((<usize>h) << 6) + ((<usize>g) << 4));
        const l1 = v128.load(w + ((<usize>h) << 6) + 32 + ((<usize>g) << 4));
        const hb = v128.load(w + 128 + ((<usize>h) << 5) + ((<usize>g) << 4));
        const ap = a + 16 + ((<usize>(128 * h + 16 * g)) << 1);
        let acc = i32x4.splat(0);
        // m = 0..3: values l, l+32, l+64, l+96 of the half; group 8h + 2m + g.
        for (let m = 0; m < 4; m++) {
          const src = m & 1 ? l1 : l0;
          const shift = m & 2 ? 4 : 0;
          const even = v128.or(
            v128.and(i16x8.shr_u(src, shift), m4),
            i16x8.shl(v128.and(i16x8.shr_u(hb, 2 * m), m3), 4),
          );
          const odd = v128.or(
            v128.and(i16x8.shr_u(src, 8 + shift), m4),
            i16x8.shl(v128.and(i16x8.shr_u(hb, 8 + 2 * m), m3), 4),
          );
          const aq = ap + ((<usize>m) << 6);
          const part = i32x4.add(dot(even, v128.load(aq)), dot(odd, v128.load(aq, 16)));
          acc = i32x4.add(acc, i32x4.mul(part, i32x4.splat(<i32>load<i8>(sc + 8 * h + 2 * m + g))));
        }
        if (g === 0) acc0 = i32x4.add(acc0, acc);
        else acc1 = i32x4.add(acc1, acc);
      }
    }
    const scales = v128.load(sc);
    const off0 = dot(v128.load(a, K16_BSUMS), i16x8.extend_low_i8x16_s(scales));
    const off1 = dot(v128.load(a, K16_BSUMS + 16), i16x8.extend_high_i8x16_s(scales));
    acc0 = i32x4.sub(acc0, i32x4.shl(off0, 5));
    acc1 = i32x4.sub(acc1, i32x4.shl(off1, 5));
    const d = f64x2.splat(<f64>(load<f32>(a) * halfToF32(load<u16>(w, 208))));
    lanesLo = Lanes.fmaInt(lanesLo, acc0, d);
    lanesHi = Lanes.fmaInt(lanesHi, acc1, d);
    w += 210;
    a += K16_STRIDE;
  }
  return hsumLanes8(lanesLo, lanesHi);
}

/** Q3_K's 16 six-bit scales, unpacked from scales[12] at sc and offset by -32. */
function q3Scale(sc: usize, index: i32): i32 {
  const low: i32 = index < 8 ? <i32>load<u8>(sc + index) & 0x0f : <i32>load<u8>(sc + index - 8) >> 4;
  const high: i32 = (<i32>load<u8>(sc + 8 + (index & 3)) >> (2 * (index >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

/**
 * ggml_vec_dot_q3_K_q8_K, AVX2 (x86-k.ts dotQ3_KX86): value = 2 low bits - 4
 * unless the hmask bit is set; lanes as in Q6_K (lanes 0-3 the first 16 values
 * of a chunk with scale 8j+2l, lanes 4-7 the last 16 with scale 8j+2l+1).
 */
export function dotQ3_K(w: usize, a: usize, nb: i32): f32 {
  let lanesLo = f32x4.splat(0); // lanes 0-3
  let lanesHi = f32x4.splat(0); // lanes 4-7
  const m3 = i16x8.splat(3);
  const one = i16x8.splat(1);
  const four = i16x8.splat(4);
  for (let i = 0; i < nb; i++) {
    const sc = w + 96;
    let acc0 = i32x4.splat(0);
    let acc1 = i32x4.splat(0);
    for (let g = 0; g < 2; g++) {
      const hm = v128.load(w + ((<usize>g) << 4));
      for (let j = 0; j < 2; j++) {
        const qs = v128.load(w + 32 + ((<usize>j) << 5) + ((<usize>g) << 4));
        let acc = i32x4.splat(0);
        for (let l = 0; l < 4; l++) {
          const hb = 4 * j + l;
          const even = i16x8.sub(
            v128.or(v128.and(i16x8.shr_u(qs, 2 * l), m3), i16x8.shl(v128.and(i16x8.shr_u(hm, hb), one), 2)),
            four,
          );
          const odd = i16x8.sub(
            v128.or(v128.and(i16x8.shr_u(qs, 8 + 2 * l), m3), i16x8.shl(v128.and(i16x8.shr_u(hm, 8 + hb), one), 2)),
            four,
          );
          const aq = a + 16 + ((<usize>(128 * j + 32 * l + 16 * g)) << 1);
          const part = i32x4.add(dot(even, v128.load(aq)), dot(odd, v128.load(aq, 16)));
          acc = i32x4.add(acc, i32x4.mul(part, i32x4.splat(q3Scale(sc, 8 * j + 2 * l + g))));
        }
        if (g === 0) acc0 = i32x4.add(acc0, acc);
        else acc1 = i32x4.add(acc1, acc);
      }
    }
    const d = f64x2.splat(<f64>(load<f32>(a) * halfToF32(load<u16>(w, 108))));
    lanesLo = Lanes.fmaInt(lanesLo, acc0, d);
    lanesHi = Lanes.fmaInt(lanesHi, acc1, d);
    w += 110;
    a += K16_STRIDE;
  }
  return hsumLanes8(lanesLo, lanesHi);
}

/**
 * ggml_vec_dot_q2_K_q8_K, AVX2 (x86-k.ts dotQ2_KX86): per block first
 * lanes[k] = fmaf(-dy*dmin, min[2k]*bsum[2k] + min[2k+1]*bsum[2k+1], lanes[k]),
 * then lanes[k] = fmaf(dy*d, lane, lanes[k]) with the lanes laid out as in Q6_K
 * (4-bit scales: low nibbles of scales[16]; mins: the high nibbles).
 */
export function dotQ2_K(w: usize, a: usize, nb: i32): f32 {
  let lanesLo = f32x4.splat(0); // lanes 0-3
  let lanesHi = f32x4.splat(0); // lanes 4-7
  const m3 = i16x8.splat(3);
  for (let i = 0; i < nb; i++) {
    const dy = load<f32>(a);
    const mins = i8x16.shr_u(v128.load(w), 4);
    const prod0 = dot(v128.load(a, K16_BSUMS), i16x8.extend_low_i8x16_u(mins));
    const prod1 = dot(v128.load(a, K16_BSUMS + 16), i16x8.extend_high_i8x16_u(mins));
    const dmin = f64x2.splat(<f64>-(dy * halfToF32(load<u16>(w, 82))));
    lanesLo = Lanes.fmaInt(lanesLo, prod0, dmin);
    lanesHi = Lanes.fmaInt(lanesHi, prod1, dmin);
    let acc0 = i32x4.splat(0);
    let acc1 = i32x4.splat(0);
    for (let g = 0; g < 2; g++) {
      for (let j = 0; j < 2; j++) {
        const qs = v128.load(w + 16 + ((<usize>j) << 5) + ((<usize>g) << 4));
        let acc = i32x4.splat(0);
        for (let l = 0; l < 4; l++) {
          const even = v128.and(i16x8.shr_u(qs, 2 * l), m3);
          const odd = v128.and(i16x8.shr_u(qs, 8 + 2 * l), m3);
          const aq = a + 16 + ((<usize>(128 * j + 32 * l + 16 * g)) << 1);
          const part = i32x4.add(dot(even, v128.load(aq)), dot(odd, v128.load(aq, 16)));
          const scale = <i32>(load<u8>(w + <usize>(8 * j + 2 * l + g)) & 0x0f);
          acc = i32x4.add(acc, i32x4.mul(part, i32x4.splat(scale)));
        }
        if (g === 0) acc0 = i32x4.add(acc0, acc);
        else acc1 = i32x4.add(acc1, acc);
      }
    }
    const d = f64x2.splat(<f64>(dy * halfToF32(load<u16>(w, 80))));
    lanesLo = Lanes.fmaInt(lanesLo, acc0, d);
    lanesHi = Lanes.fmaInt(lanesHi, acc1, d);
    w += 84;
    a += K16_STRIDE;
  }
  return hsumLanes8(lanesLo, lanesHi);
}

// ---- Floats ---------------------------------------------------------------------------------------

/**
 * Four float lanes of an FMA dot with f16 weights: lane t (0..3) = the sum
 * over i = offset + t, offset + t + step, ... < end of w[i] * a[i], in that
 * order (the activations already rounded to f16). A product of two f16 values
 * is exact in f32 (22 significant bits, no underflow), so there fmaf is an f32
 * multiply and add.
 */
function halfLanes4(w: usize, a: usize, offset: i32, step: i32, end: i32): v128 {
  let acc = f32x4.splat(0);
  for (let i = offset; i < end; i += step) {
    const y = halfLanesLo(v128.load64_zero(w + ((<usize>i) << 1)));
    acc = f32x4.add(f32x4.mul(y, v128.load(a + ((<usize>i) << 2))), acc);
  }
  return acc;
}

/** Lanes 4-7 of the last fmaLanes8 (a second result: a wasm global, one per instance, so per thread). */
let lanesHigh: v128 = i32x4.splat(0);

/**
 * Eight float lanes of an FMA dot with f32 weights: lane t (0..7) = fmaf over
 * i = offset + t, offset + t + step, ... < end of w[i] * a[i], in that order.
 * Returns lanes 0-3; lanes 4-7 are left in lanesHigh. As Lanes8.dot: the hot
 * loop rounds each f64 sum once and checks the four pairs at once for a
 * midpoint or a sum in f32's subnormal range; at one it leaves, and that step
 * is done again exactly.
 */
function fmaLanes8(w: usize, a: usize, offset: i32, step: i32, end: i32): v128 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let a2 = f64x2.splat(0);
  let a3 = f64x2.splat(0);
  let i = offset;
  while (true) {
    for (; i < end; i += step) {
      const x0 = v128.load(a + ((<usize>i) << 2));
      const x1 = v128.load(a + ((<usize>i) << 2), 16);
      const y0 = v128.load(w + ((<usize>i) << 2));
      const y1 = v128.load(w + ((<usize>i) << 2), 16);
      const s0 = f64x2.add(f64x2.mul(Lanes.lowF32(y0), Lanes.lowF32(x0)), a0);
      const s1 = f64x2.add(f64x2.mul(Lanes.highF32(y0), Lanes.highF32(x0)), a1);
      const s2 = f64x2.add(f64x2.mul(Lanes.lowF32(y1), Lanes.lowF32(x1)), a2);
      const s3 = f64x2.add(f64x2.mul(Lanes.highF32(y1), Lanes.highF32(x1)), a3);
      if (Lanes.anyMidpointOrTiny(s0, s1, s2, s3)) break;
      a0 = Lanes.round(s0);
      a1 = Lanes.round(s1);
      a2 = Lanes.round(s2);
      a3 = Lanes.round(s3);
    }
    if (i >= end) break;
    const x0 = v128.load(a + ((<usize>i) << 2));
    const x1 = v128.load(a + ((<usize>i) << 2), 16);
    const y0 = v128.load(w + ((<usize>i) << 2));
    const y1 = v128.load(w + ((<usize>i) << 2), 16);
    a0 = Lanes.roundExact(f64x2.mul(Lanes.lowF32(y0), Lanes.lowF32(x0)), a0);
    a1 = Lanes.roundExact(f64x2.mul(Lanes.highF32(y0), Lanes.highF32(x0)), a1);
    a2 = Lanes.roundExact(f64x2.mul(Lanes.lowF32(y1), Lanes.lowF32(x1)), a2);
    a3 = Lanes.roundExact(f64x2.mul(Lanes.highF32(y1), Lanes.highF32(x1)), a3);
    i += step;
  }
  lanesHigh = Lanes.toF32x4(a2, a3);
  return Lanes.toF32x4(a0, a1);
}

/** The AVX2 dot's reduction of its 32 lanes (P[q]: lanes 4q..4q+3): (l + l16) + (l8 + l24), then (l + l4), then pairs. */
function reduceLanes32(p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, p6: v128, p7: v128): f32 {
  const lo = f32x4.add(f32x4.add(p0, p4), f32x4.add(p2, p6));
  const hi = f32x4.add(f32x4.add(p1, p5), f32x4.add(p3, p7));
  const t = f32x4.add(lo, hi);
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + (f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3));
}

/**
 * ggml_vec_dot_f16's 32 lanes (AVX2) over the first np values (a multiple of
 * 32) of f16 weights w, or of f16 values held widened to f32 (`widened`: the
 * cache rows of attention.ts attendGroup), with a: the products are exact, so
 * the lanes are eight f32x4 of plain multiply-adds, reduced as reduceLanes32.
 * Inlined where `widened` is a constant.
 */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class F16Lanes {
  @inline static sum(w: usize, a: usize, np: i32, widened: bool): f32 {
    let p0 = f32x4.splat(0);
    let p1 = f32x4.splat(0);
    let p2 = f32x4.splat(0);
    let p3 = f32x4.splat(0);
    let p4 = f32x4.splat(0);
    let p5 = f32x4.splat(0);
    let p6 = f32x4.splat(0);
    let p7 = f32x4.splat(0);
    for (let i = 0; i < np; i += 32) {
      const ap = a + ((<usize>i) << 2);
      p0 = f32x4.add(f32x4.mul(F16Lanes.four(w, i, widened), v128.load(ap)), p0);
      p1 = f32x4.add(f32x4.mul(F16Lanes.four(w, i + 4, widened), v128.load(ap, 16)), p1);
      p2 = f32x4.add(f32x4.mul(F16Lanes.four(w, i + 8, widened), v128.load(ap, 32)), p2);
      p3 = f32x4.add(f32x4.mul(F16Lanes.four(w, i + 12, widened), v128.load(ap, 48)), p3);
      p4 = f32x4.add(f32x4.mul(F16Lanes.four(w, i + 16, widened), v128.load(ap, 64)), p4);
      p5 = f32x4.add(f32x4.mul(F16Lanes.four(w, i + 20, widened), v128.load(ap, 80)), p5);
      p6 = f32x4.add(f32x4.mul(F16Lanes.four(w, i + 24, widened), v128.load(ap, 96)), p6);
      p7 = f32x4.add(f32x4.mul(F16Lanes.four(w, i + 28, widened), v128.load(ap, 112)), p7);
    }
    return reduceLanes32(p0, p1, p2, p3, p4, p5, p6, p7);
  }

  /** Values i .. i + 3 of w as f32x4. */
  @inline static four(w: usize, i: i32, widened: bool): v128 {
    if (widened) return v128.load(w + ((<usize>i) << 2));
    return halfLanesLo(v128.load64_zero(w + ((<usize>i) << 1)));
  }

  /** Value i of w. */
  @inline static one(w: usize, i: i32, widened: bool): f32 {
    if (widened) return load<f32>(w + ((<usize>i) << 2));
    return halfToF32(load<u16>(w + ((<usize>i) << 1)));
  }

  /** ggml_vec_dot_f16 of n values: the lanes over whole steps of 32, the tail added in double. */
  @inline static dot(w: usize, a: usize, n: i32, widened: bool): f32 {
    const np = n & ~31;
    let s: f64 = np > 0 ? F16Lanes.sum(w, a, np, widened) : 0;
    for (let i = np; i < n; i++) s += <f64>(F16Lanes.one(w, i, widened) * load<f32>(a + ((<usize>i) << 2)));
    return <f32>s;
  }
}

/** dotF16 of f16 values held widened to f32 at k (attention.ts attendGroup): the same products, the same sum. */
export function dotF16Widened(k: usize, q: usize, n: i32): f32 {
  return F16Lanes.dot(k, q, n, true);
}

/**
 * ggml_vec_dot_f32 / ggml_vec_dot_f16 on AVX2 (x86.ts dotFloat): 32 FMA lanes
 * over steps of 32, reduced as (l + l16) + (l8 + l24), then lanes (l + l4),
 * then pairs; the tail in a float sum for F32, in double for F16.
 */
function dotFloat(w: usize, a: usize, n: i32, half: bool): f32 {
  if (half) return F16Lanes.dot(w, a, n, false);
  const np = n & ~31;
  let sum: f32 = 0;
  if (np > 0) {
    // P[q]: lanes 4q..4q+3
    const p0 = fmaLanes8(w, a, 0, 32, np);
    const p1 = lanesHigh;
    const p2 = fmaLanes8(w, a, 8, 32, np);
    const p3 = lanesHigh;
    const p4 = fmaLanes8(w, a, 16, 32, np);
    const p5 = lanesHigh;
    const p6 = fmaLanes8(w, a, 24, 32, np);
    sum = reduceLanes32(p0, p1, p2, p3, p4, p5, p6, lanesHigh);
  }
  // GCC's vectorized tail: products in vectors of 8, then 4, added one by one; the last 0-3 as fmaf.
  let i = np;
  const vectorEnd = n - np >= 8 ? np + ((n - np) & ~7) : np;
  const fourEnd = n - vectorEnd >= 4 ? vectorEnd + 4 : vectorEnd;
  for (; i < fourEnd; i++) sum += load<f32>(w + ((<usize>i) << 2)) * load<f32>(a + ((<usize>i) << 2));
  for (; i < n; i++) sum = fmaf(load<f32>(w + ((<usize>i) << 2)), load<f32>(a + ((<usize>i) << 2)), sum);
  return sum;
}

export function dotF32(w: usize, a: usize, n: i32): f32 {
  return dotFloat(w, a, n, false);
}

export function dotF16(w: usize, a: usize, n: i32): f32 {
  return dotFloat(w, a, n, true);
}

/** llamafile's tinyBLAS order (prompt batches of F32/F16 weights, n % 8 == 0): 8 FMA lanes, hsum_float_8. */
function dotTinyBlas(w: usize, a: usize, n: i32, half: bool): f32 {
  if (half) return hsumLanes8(halfLanes4(w, a, 0, 8, n), halfLanes4(w, a, 4, 8, n));
  const lo = fmaLanes8(w, a, 0, 8, n);
  return hsumLanes8(lo, lanesHigh);
}

export function dotF32Tiny(w: usize, a: usize, n: i32): f32 {
  return dotTinyBlas(w, a, n, false);
}

export function dotF16Tiny(w: usize, a: usize, n: i32): f32 {
  return dotTinyBlas(w, a, n, true);
}

/**
 * ggml_vec_dot_bf16, scalar: products (exact in f32) summed in order in double.
 * Activations already bf16. That order is a chain of dependent f64 adds; but
 * when no partial sum is ever rounded, any order gives the same double, and
 * that is the common case: a product of two bf16 values is k * 2^j with k < 2^16,
 * so with e the smallest binary exponent among the nonzero products (j >= e - 15)
 * every sum of them is a multiple of 2^(e-15), exact in f64 below 2^(e+38);
 * and every partial sum, in any order, is at most the sum of the magnitudes T.
 * So one pass sums the products in eight lanes, while keeping e and t, T summed
 * in f32 (t >= T / 2 for any n < 2^22: nonnegative terms); if 2t < 2^(e+38) the
 * lanes' sum is the ordered one. Else (a product below 2^-126, so perhaps
 * rounded; magnitudes too far apart; inf, NaN) the ordered loop runs.
 */
export function dotBF16(w: usize, a: usize, n: i32): f32 {
  const zero = i32x4.splat(0);
  const absMask = i32x4.splat(0x7fffffff);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s2 = f64x2.splat(0);
  let s3 = f64x2.splat(0);
  let magnitude = f32x4.splat(0);
  let least = i32x4.splat(-1); // unsigned min of (|p| bits) - 1: zeros wrap to the top and drop out
  const n8 = n & ~7;
  for (let k = 0; k < n8; k += 8) {
    const h = v128.load(w + ((<usize>k) << 1));
    const ap = a + ((<usize>k) << 2);
    const lo = f32x4.mul(v128.shuffle<i16>(zero, h, 0, 8, 1, 9, 2, 10, 3, 11), v128.load(ap));
    const hi = f32x4.mul(v128.shuffle<i16>(zero, h, 4, 12, 5, 13, 6, 14, 7, 15), v128.load(ap, 16));
    const absLo = v128.and(lo, absMask);
    const absHi = v128.and(hi, absMask);
    magnitude = f32x4.add(magnitude, f32x4.add(absLo, absHi));
    least = i32x4.min_u(least, i32x4.min_u(i32x4.sub(absLo, i32x4.splat(1)), i32x4.sub(absHi, i32x4.splat(1))));
    s0 = f64x2.add(s0, Lanes.lowF32(lo));
    s1 = f64x2.add(s1, Lanes.highF32(lo));
    s2 = f64x2.add(s2, Lanes.lowF32(hi));
    s3 = f64x2.add(s3, Lanes.highF32(hi));
  }
  let total: f32 = f32x4.extract_lane(magnitude, 0) + f32x4.extract_lane(magnitude, 1);
  total += f32x4.extract_lane(magnitude, 2) + f32x4.extract_lane(magnitude, 3);
  let bits = min(<u32>i32x4.extract_lane(least, 0), <u32>i32x4.extract_lane(least, 1));
  bits = min(bits, min(<u32>i32x4.extract_lane(least, 2), <u32>i32x4.extract_lane(least, 3)));
  const pairs = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let sum = f64x2.extract_lane(pairs, 0) + f64x2.extract_lane(pairs, 1);
  for (let k = n8; k < n; k++) {
    const p = reinterpret<f32>((<u32>load<u16>(w + ((<usize>k) << 1))) << 16) * load<f32>(a + ((<usize>k) << 2));
    total += Mathf.abs(p);
    bits = min(bits, (reinterpret<u32>(p) & 0x7fffffff) - 1);
    sum += <f64>p;
  }
  // The biased exponent of the smallest nonzero product (0x1ff if there is none), and 2^(e+38).
  const biased = bits >>> 23;
  const limit = reinterpret<f64>((<u64>(biased - 127 + 38 + 1023)) << 52);
  if (biased !== 0 && n < 1 << 22 && <f64>total * 2 < limit) return <f32>sum;
  return dotBF16Ordered(w, a, n);
}

/** ggml_vec_dot_bf16's own order: each product added to the double sum in turn. */
function dotBF16Ordered(w: usize, a: usize, n: i32): f32 {
  let sum: f64 = 0;
  for (let k = 0; k < n; k++) {
    const x = reinterpret<f32>((<u32>load<u16>(w + ((<usize>k) << 1))) << 16);
    sum += <f64>(x * load<f32>(a + ((<usize>k) << 2)));
  }
  return <f32>sum;
}
