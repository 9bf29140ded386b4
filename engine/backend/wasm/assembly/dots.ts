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

import { K16_BSUMS, K16_STRIDE, P16_STRIDE } from './activations';
import { fixPair, fmaf, hsum8, hsumLanes8, Lanes, roundSum } from './fma';
import { halfLanesHi, halfLanesLo, halfToF32 } from './half';

function dot(a: v128, b: v128): v128 {
  return i32x4.dot_i16x8_s(a, b);
}

/** [hsum(a), hsum(b), hsum(c), hsum(d)]: four horizontal sums in one transpose. */
function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

/** The f16 values at four addresses as f32x4 (finite values). */
function halves4(p0: usize, p1: usize, p2: usize, p3: usize): v128 {
  let h = i32x4.splat(<i32>load<u16>(p0));
  h = i32x4.replace_lane(h, 1, <i32>load<u16>(p1));
  h = i32x4.replace_lane(h, 2, <i32>load<u16>(p2));
  h = i32x4.replace_lane(h, 3, <i32>load<u16>(p3));
  const em = v128.and(h, i32x4.splat(0x7fff));
  const f = f32x4.mul(i32x4.shl(em, 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// ---- The 32-weight formats, AVX2 order: 8 float lanes, one FMA per lane and block --------------

/**
 * The activations of one block for q4Sum, from its P16 copy at a: the groups
 * that the nibbles of the weights' i16 lanes meet are x0 (values 0, 2, .., 14:
 * low nibble of the even byte), x1 (1, 3, .., 15: low nibble of the odd byte),
 * x2 (16, 18, ..: high nibble of the even byte), x3 (17, 19, ..: high nibble
 * of the odd byte). q4Sum takes x0, x2 and x1 - 16 x2, x3 - 16 x1 (see there).
 */
function y1Of(a: usize): v128 {
  return i16x8.sub(v128.load(a, 32), i16x8.shl(v128.load(a, 48), 4));
}

function y3Of(a: usize): v128 {
  return i16x8.sub(v128.load(a, 64), i16x8.shl(v128.load(a, 32), 4));
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
 * live at once in the order V8 gives them (see dotQ4_0Rows8).
 */
function q4Sum(q: usize, m4: v128, x0: v128, y1: v128, x2: v128, y3: v128): v128 {
  const v = v128.load(q);
  const f = i16x8.shr_u(v, 4);
  const g = i16x8.shr_u(f, 4);
  let s = i32x4.add(dot(v128.and(v, m4), x0), dot(f, x2));
  s = i32x4.add(s, dot(g, y1));
  return i32x4.add(s, dot(i16x8.shr_u(g, 4), y3));
}

/** The per-group steps of the Q4_0 kernels below, inlined into them (see Lanes in fma.ts). */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class Q4_0Group {
  /**
   * The integer sums (q - 8) . a of the blocks at w, w + rb, w + 2 rb, w + 3 rb
   * against one activation block (x0, y1, x2, y3: see q4Sum; eight = 8 * the
   * sum of its quants, since (q - 8) . a = q . a - 8 * (sum of a)).
   */
  @inline static sums4(w: usize, rb: usize, m4: v128, x0: v128, y1: v128, x2: v128, y3: v128, eight: v128): v128 {
    const w2 = w + (rb << 1);
    const s0 = q4Sum(w + 2, m4, x0, y1, x2, y3);
    const s1 = q4Sum(w + rb + 2, m4, x0, y1, x2, y3);
    const s2 = q4Sum(w2 + 2, m4, x0, y1, x2, y3);
    const s3 = q4Sum(w2 + rb + 2, m4, x0, y1, x2, y3);
    return i32x4.sub(hsum4(s0, s1, s2, s3), eight);
  }

  /**
   * f32(dw * da) for the f16 scales dw of the blocks at w, w + rb, w + 2 rb, w + 3 rb (finite),
   * given da112 = splat(da * 2^112): the f16 bits moved into f32 place are dw * 2^-112, exactly
   * (subnormals included), and the product of the two is the same real number as dw * da, so it
   * rounds the same. (da <= 65504, an f16 value, so da * 2^112 < 2^128 stays finite.)
   */
  @inline static scales4(w: usize, rb: usize, da112: v128): v128 {
    let h = v128.load16_lane(w, i32x4.splat(0), 1);
    h = v128.load16_lane(w + rb, h, 3);
    h = v128.load16_lane(w + (rb << 1), h, 5);
    h = v128.load16_lane(w + (rb << 1) + rb, h, 7);
    return f32x4.mul(Q4_0Group.halvesScaled(h), da112);
  }

  /** dw * 2^-112 (f32x4) for f16 bits dw (finite) in the high halves of the i32 lanes of h. */
  @inline static halvesScaled(h: v128): v128 {
    // An arithmetic shift by 3 puts exponent and mantissa where f32 keeps them and copies the
    // sign into the three bits above, which the mask clears.
    return v128.and(i32x4.shr_s(h, 3), i32x4.splat(<i32>0x8fffffff));
  }

  /**
   * The weight blocks at w and w + rb by two activation blocks (p0, q1, p2, q3 and r0, t1, r2, t3,
   * each as q4Sum takes them): acc (f32x4) = fmaf(sumi, dw * da, acc) for [w a0, (w + rb) a0,
   * w a1, (w + rb) a1]; e8 and da112 hold a0's values in lanes 0, 1 and a1's in lanes 2, 3.
   */
  @inline static pair(
    acc: v128,
    w: usize,
    rb: usize,
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
  ): v128 {
    const sumi = i32x4.sub(
      hsum4(
        q4Sum(w + 2, m4, p0, q1, p2, q3),
        q4Sum(w + rb + 2, m4, p0, q1, p2, q3),
        q4Sum(w + 2, m4, r0, t1, r2, t3),
        q4Sum(w + rb + 2, m4, r0, t1, r2, t3),
      ),
      e8,
    );
    const h = v128.load16_lane(w + rb, v128.load16_lane(w, i32x4.splat(0), 1), 3);
    const d = f32x4.mul(Q4_0Group.halvesScaled(v128.shuffle<i32>(h, h, 0, 1, 0, 1)), da112);
    return Lanes.fmaRows(acc, sumi, d);
  }

  /** splat(da * 2^112) for scales4, da the f32 scale of the activation block at a. */
  @inline static da112(a: usize): v128 {
    return f32x4.splat(load<f32>(a) * reinterpret<f32>(0x77800000));
  }
}

/**
 * ggml_gemv_q4_0_8x8_q8_0 (llama.cpp repacks Q4_0 weights with a multiple of 8
 * rows on x86): per output one float, acc = fmaf(float(sumi), dw*da, acc) per
 * block. Eight weight rows (rb bytes apart) against one activation row, one
 * per lane; stores the eight results at out.
 *
 * The rows go in two groups of four, each ending in its own branch (the rare
 * exact path of the fmaf): V8's TurboFan lays out a basic block level by level
 * of its data flow (all loads, then all shifts, then all dots), so that eight
 * rows in one block would need more vectors live than there are registers.
 */
export function dotQ4_0Rows8(w: usize, rb: usize, a: usize, nb: i32, out: usize): void {
  let acc03 = f32x4.splat(0);
  let acc47 = f32x4.splat(0);
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const x0 = v128.load(a, 16);
    const x2 = v128.load(a, 48);
    const y1 = y1Of(a);
    const y3 = y3Of(a);
    const eight = i32x4.splat(load<i32>(a, 4) << 3);
    const da112 = Q4_0Group.da112(a);
    acc03 = Lanes.fmaRows(acc03, Q4_0Group.sums4(w, rb, m4, x0, y1, x2, y3, eight), Q4_0Group.scales4(w, rb, da112));
    const w4 = w + (rb << 2);
    acc47 = Lanes.fmaRows(acc47, Q4_0Group.sums4(w4, rb, m4, x0, y1, x2, y3, eight), Q4_0Group.scales4(w4, rb, da112));
    w += 18;
    a += P16_STRIDE;
  }
  v128.store(out, acc03);
  v128.store(out, acc47, 16);
}

/**
 * dotQ4_0Rows8 for two activation rows (a0, a1; prompt batches), in four groups
 * of two weight rows by the two activation rows: each weight block is unpacked
 * once for both. The results for a0 go to out0, those for a1 to out1.
 */
export function dotQ4_0Rows8x2(w: usize, rb: usize, a0: usize, a1: usize, nb: i32, out0: usize, out1: usize): void {
  let acc01 = f32x4.splat(0); // weight rows 0, 1 by a0, then by a1
  let acc23 = f32x4.splat(0);
  let acc45 = f32x4.splat(0);
  let acc67 = f32x4.splat(0);
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const p0 = v128.load(a0, 16);
    const p2 = v128.load(a0, 48);
    const q1 = y1Of(a0);
    const q3 = y3Of(a0);
    const r0 = v128.load(a1, 16);
    const r2 = v128.load(a1, 48);
    const t1 = y1Of(a1);
    const t3 = y3Of(a1);
    // Lanes 0, 1 for a0, lanes 2, 3 for a1 (sums4's eight, scales4's da112)
    const e8 = i32x4.shl(
      v128.shuffle<i32>(i32x4.splat(load<i32>(a0, 4)), i32x4.splat(load<i32>(a1, 4)), 0, 1, 4, 5),
      3,
    );
    const da112 = v128.shuffle<i32>(Q4_0Group.da112(a0), Q4_0Group.da112(a1), 0, 1, 4, 5);
    acc01 = Q4_0Group.pair(acc01, w, rb, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112);
    acc23 = Q4_0Group.pair(acc23, w + 2 * rb, rb, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112);
    acc45 = Q4_0Group.pair(acc45, w + 4 * rb, rb, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112);
    acc67 = Q4_0Group.pair(acc67, w + 6 * rb, rb, m4, p0, q1, p2, q3, r0, t1, r2, t3, e8, da112);
    w += 18;
    a0 += P16_STRIDE;
    a1 += P16_STRIDE;
  }
  v128.store(out0, v128.shuffle<i32>(acc01, acc23, 0, 1, 4, 5));
  v128.store(out0, v128.shuffle<i32>(acc45, acc67, 0, 1, 4, 5), 16);
  v128.store(out1, v128.shuffle<i32>(acc01, acc23, 2, 3, 6, 7));
  v128.store(out1, v128.shuffle<i32>(acc45, acc67, 2, 3, 6, 7), 16);
}

/** dotQ4_0Rows8 for four weight rows (the last group of a range); returns the four results. */
export function dotQ4_0Rows4(w: usize, rb: usize, a: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const x0 = v128.load(a, 16);
    const x2 = v128.load(a, 48);
    const eight = i32x4.splat(load<i32>(a, 4) << 3);
    const sumi = Q4_0Group.sums4(w, rb, m4, x0, y1Of(a), x2, y3Of(a), eight);
    acc = Lanes.fmaRows(acc, sumi, Q4_0Group.scales4(w, rb, Q4_0Group.da112(a)));
    w += 18;
    a += P16_STRIDE;
  }
  return acc;
}

/** The fifth bits of a Q5 block (qh), as 0/16 in the i16 lanes of the four nibble vectors. */
function fifthBit(qh: u32, part: i32): v128 {
  const evenBits = i16x8(1, 4, 16, 64, 256, 1024, 4096, 16384);
  const oddBits = i16x8(2, 8, 32, 128, 512, 2048, 8192, -32768);
  const half = i16x8.splat(<i16>(part < 2 ? qh & 0xffff : qh >>> 16));
  return v128.and(i16x8.ne(v128.and(half, part & 1 ? oddBits : evenBits), i16x8.splat(0)), i16x8.splat(16));
}

const Q4_0: i32 = 2;
const Q4_1: i32 = 3;
const Q5_0: i32 = 6;
const Q5_1: i32 = 7;
const Q8_0: i32 = 8;

/**
 * ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0 and {q4_1,q5_1}_q8_1, AVX2 (Q4_0 here only
 * where it is not repacked): lane k holds the integer sum over values 4k..4k+3
 * of a block (lanes 0-3 in l0, 4-7 in l1), lanes[k] = fmaf(dw*da, lane,
 * lanes[k]); hsum_float_8 at the end. Q4_1/Q5_1 add the minimum terms m*s from
 * a scalar float sum (fmaf: the build contracts it) after the horizontal sum.
 * Values: Q4_0 nibble - 8, Q5_0 (nibble | bit << 4) - 16, Q4_1 nibble, Q5_1
 * nibble | bit << 4, Q8_0 int8 (sign-extended in place from the i16 lanes).
 * One loop for the five: the switch on `type` is the same branch every block.
 */
function dotLanes8(type: i32, w: usize, a: usize, nb: i32): f32 {
  let a0 = f64x2.splat(0);
  let a1 = f64x2.splat(0);
  let a2 = f64x2.splat(0);
  let a3 = f64x2.splat(0);
  let summs: f64 = 0;
  const withMins = type === Q4_1 || type === Q5_1;
  const size: usize = type === Q4_0 ? 18 : type === Q4_1 ? 20 : type === Q5_0 ? 22 : type === Q5_1 ? 24 : 34;
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    let n0: v128;
    let n1: v128;
    let n2: v128;
    let n3: v128;
    if (type === Q4_0 || type === Q4_1) {
      const v = v128.load(w + (type === Q4_0 ? 2 : 4));
      n0 = v128.and(v, m4);
      n1 = v128.and(i16x8.shr_u(v, 8), m4);
      n2 = v128.and(i16x8.shr_u(v, 4), m4);
      n3 = i16x8.shr_u(v, 12);
      if (type === Q4_0) {
        const eight = i16x8.splat(8);
        n0 = i16x8.sub(n0, eight);
        n1 = i16x8.sub(n1, eight);
        n2 = i16x8.sub(n2, eight);
        n3 = i16x8.sub(n3, eight);
      }
    } else if (type === Q5_0 || type === Q5_1) {
      const v = v128.load(w + (type === Q5_0 ? 6 : 8));
      const qh = load<u32>(w + (type === Q5_0 ? 2 : 4));
      n0 = v128.or(v128.and(v, m4), fifthBit(qh, 0));
      n1 = v128.or(v128.and(i16x8.shr_u(v, 8), m4), fifthBit(qh, 1));
      n2 = v128.or(v128.and(i16x8.shr_u(v, 4), m4), fifthBit(qh, 2));
      n3 = v128.or(i16x8.shr_u(v, 12), fifthBit(qh, 3));
      if (type === Q5_0) {
        const sixteen = i16x8.splat(16);
        n0 = i16x8.sub(n0, sixteen);
        n1 = i16x8.sub(n1, sixteen);
        n2 = i16x8.sub(n2, sixteen);
        n3 = i16x8.sub(n3, sixteen);
      }
    } else {
      const v0 = v128.load(w, 2);
      const v1 = v128.load(w, 18);
      n0 = i16x8.shr_s(i16x8.shl(v0, 8), 8);
      n1 = i16x8.shr_s(v0, 8);
      n2 = i16x8.shr_s(i16x8.shl(v1, 8), 8);
      n3 = i16x8.shr_s(v1, 8);
    }
    if (withMins) summs = roundSum(<f64>halfToF32(load<u16>(w, 2)) * <f64>load<f32>(a, 8), summs);
    const l0 = i32x4.add(dot(n0, v128.load(a, 16)), dot(n1, v128.load(a, 32)));
    const l1 = i32x4.add(dot(n2, v128.load(a, 48)), dot(n3, v128.load(a, 64)));
    const d = f64x2.splat(<f64>(halfToF32(load<u16>(w)) * load<f32>(a)));
    // The four pairs' sums, checked at once for the rare midpoint (fma.ts).
    const p0 = f64x2.mul(Lanes.lowI32(l0), d);
    const p1 = f64x2.mul(Lanes.highI32(l0), d);
    const p2 = f64x2.mul(Lanes.lowI32(l1), d);
    const p3 = f64x2.mul(Lanes.highI32(l1), d);
    const s0 = f64x2.add(p0, a0);
    const s1 = f64x2.add(p1, a1);
    const s2 = f64x2.add(p2, a2);
    const s3 = f64x2.add(p3, a3);
    if (Lanes.anyMidpoint(s0, s1, s2, s3)) {
      a0 = fixPair(p0, a0);
      a1 = fixPair(p1, a1);
      a2 = fixPair(p2, a2);
      a3 = fixPair(p3, a3);
    } else {
      a0 = Lanes.round(s0);
      a1 = Lanes.round(s1);
      a2 = Lanes.round(s2);
      a3 = Lanes.round(s3);
    }
    w += size;
    a += P16_STRIDE;
  }
  const sum = hsum8(a0, a1, a2, a3);
  return withMins ? sum + <f32>summs : sum;
}

export function dotQ4_0(w: usize, a: usize, nb: i32): f32 {
  return dotLanes8(Q4_0, w, a, nb);
}

export function dotQ4_1(w: usize, a: usize, nb: i32): f32 {
  return dotLanes8(Q4_1, w, a, nb);
}

export function dotQ5_0(w: usize, a: usize, nb: i32): f32 {
  return dotLanes8(Q5_0, w, a, nb);
}

export function dotQ5_1(w: usize, a: usize, nb: i32): f32 {
  return dotLanes8(Q5_1, w, a, nb);
}

export function dotQ8_0(w: usize, a: usize, nb: i32): f32 {
  return dotLanes8(Q8_0, w, a, nb);
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

// The three float orders of Q4_K (dotQ4_KOrder's `order`).
const Q4K_GENERIC: i32 = 0;
const Q4K_GEMV: i32 = 1;
const Q4K_GEMM: i32 = 2;

/**
 * ggml_vec_dot_q4_K_q8_K_generic (the reference's order for Q4_K weights that
 * llama.cpp does not repack, i.e. without a multiple of 8 rows): eight int32
 * lanes, lane l = value index mod 8, scaled per sub-block; per block
 * sums[l] += d * float(lane) in f32 and sumf -= dmin * (mins . bsums); at the
 * end sumf + sums[0] + ... + sums[7]. The activations are in the Q4_K layout
 * (activations.ts quantizeQ8K with mod8 set): after a byte shuffle of the
 * weights, dot(even) puts lanes 0, 2, 4, 6 in its i32 lanes and dot(odd) 1, 3, 5, 7.
 */
function dotQ4_KOrder(w: usize, a: usize, nb: i32, order: i32): f32 {
  let accs = f64x2.splat(0); // the repacked orders' acc and accMin
  let sumf: f32 = 0;
  let sumsE = f32x4.splat(0); // lanes 0, 2, 4, 6
  let sumsO = f32x4.splat(0); // lanes 1, 3, 5, 7
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const s = w + 4;
    const ad = load<f32>(a);
    // The repacked orders' f32(d * dy) and f32(dmin * dy), as f64x2
    const scales = Lanes.lowF32(f32x4.mul(halves4(w, w + 2, w, w), f32x4.splat(ad)));
    let accE = i32x4.splat(0);
    let accO = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = w + 16 + ((<usize>c) << 5);
      const ap = a + 16 + ((<usize>c) << 7);
      const v0 = i8x16.shuffle(v128.load(q), v128.load(q), 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
      const v1 = i8x16.shuffle(
        v128.load(q, 16),
        v128.load(q, 16),
        0,
        1,
        8,
        9,
        2,
        3,
        10,
        11,
        4,
        5,
        12,
        13,
        6,
        7,
        14,
        15,
      );
      const loE = i32x4.add(dot(v128.and(v0, m4), v128.load(ap)), dot(v128.and(v1, m4), v128.load(ap, 32)));
      const loO = i32x4.add(
        dot(v128.and(i16x8.shr_u(v0, 8), m4), v128.load(ap, 16)),
        dot(v128.and(i16x8.shr_u(v1, 8), m4), v128.load(ap, 48)),
      );
      const hiE = i32x4.add(
        dot(v128.and(i16x8.shr_u(v0, 4), m4), v128.load(ap, 64)),
        dot(v128.and(i16x8.shr_u(v1, 4), m4), v128.load(ap, 96)),
      );
      const hiO = i32x4.add(dot(i16x8.shr_u(v0, 12), v128.load(ap, 80)), dot(i16x8.shr_u(v1, 12), v128.load(ap, 112)));
      const sl = i32x4.splat(scaleK4(2 * c, s));
      const sh = i32x4.splat(scaleK4(2 * c + 1, s));
      const pairE = i32x4.add(i32x4.mul(loE, sl), i32x4.mul(hiE, sh));
      const pairO = i32x4.add(i32x4.mul(loO, sl), i32x4.mul(hiO, sh));
      if (order === Q4K_GEMM) {
        // ggml_gemm_q4_K_8x8_q8_K: sub-blocks 2c and 2c + 1's two integer sums, each added by one fmaf
        accs = fmaSums(accs, i32x4Sum(i32x4.add(pairE, pairO)), minsDot(s, a, 2 * c, 2 * c + 2), scales);
        continue;
      }
      accE = i32x4.add(accE, pairE);
      accO = i32x4.add(accO, pairO);
    }
    if (order !== Q4K_GENERIC) {
      // ggml_gemv_q4_K_8x8_q8_K: the block's two integer sums, each added by one fmaf
      if (order === Q4K_GEMV) accs = fmaSums(accs, i32x4Sum(i32x4.add(accE, accO)), minsDot(s, a), scales);
      w += 144;
      a += K16_STRIDE;
      continue;
    }
    const d = f32x4.splat(halfToF32(load<u16>(w)) * ad);
    sumsE = f32x4.add(sumsE, f32x4.mul(d, f32x4.convert_i32x4_s(accE)));
    sumsO = f32x4.add(sumsO, f32x4.mul(d, f32x4.convert_i32x4_s(accO)));
    const dmin = halfToF32(load<u16>(w, 2)) * ad;
    sumf = sumf - dmin * <f32>minsDot(s, a);
    w += 144;
    a += K16_STRIDE;
  }
  if (order !== Q4K_GENERIC) return <f32>f64x2.extract_lane(accs, 0) - <f32>f64x2.extract_lane(accs, 1);
  for (let l = 0; l < 4; l++) {
    sumf += f32x4.extract_lane(sumsE, 0);
    sumf += f32x4.extract_lane(sumsO, 0);
    sumsE = v128.shuffle<i32>(sumsE, sumsE, 1, 2, 3, 0);
    sumsO = v128.shuffle<i32>(sumsO, sumsO, 1, 2, 3, 0);
  }
  return sumf;
}

/** [acc, accMin] (f64x2 of f32 values) = fmaf(f32(isum), scale, acc), fmaf(f32(imin), minScale, accMin). */
function fmaSums(accs: v128, isum: i32, imin: i32, scales: v128): v128 {
  const sums = Lanes.lowF32(f32x4.convert_i32x4_s(i32x4.replace_lane(i32x4.splat(isum), 1, imin)));
  return Lanes.fma(accs, f64x2.mul(sums, scales));
}

export function dotQ4_K(w: usize, a: usize, nb: i32): f32 {
  return dotQ4_KOrder(w, a, nb, Q4K_GENERIC);
}

/**
 * ggml_gemv_q4_K_8x8_q8_K (llama.cpp repacks Q4_K weights with a multiple of 8
 * rows on x86; engine/backend/js/q4k-repacked.ts vecDotQ4_KRepacked): per
 * super-block acc = fmaf(float(sum of scale * q4.q8), f32(d*dy), acc) and
 * accMin = fmaf(float(sum of min * bsums), f32(dmin*dy), accMin); the result
 * acc - accMin.
 */
export function dotQ4_KRepacked(w: usize, a: usize, nb: i32): f32 {
  return dotQ4_KOrder(w, a, nb, Q4K_GEMV);
}

/**
 * ggml_gemm_q4_K_8x8_q8_K (the activation rows of a product of 4 or more that
 * llama.cpp takes in whole groups of 4; vecDotQ4_KRepackedGemm): the same sums
 * as dotQ4_KRepacked, but folded into acc and accMin by an fmaf per pair of
 * sub-blocks, four per super-block.
 */
export function dotQ4_KRepackedGemm(w: usize, a: usize, nb: i32): f32 {
  return dotQ4_KOrder(w, a, nb, Q4K_GEMM);
}

/** The sum of the four i32 lanes. */
function i32x4Sum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
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
 * Four float lanes of an FMA dot: lane t (0..3) = fmaf over i = offset + t,
 * offset + t + step, ... < end of w[i] * a[i], in that order. Weights f32, or
 * f16 (`half`, the activations then already rounded to f16). A product of two
 * f16 values is exact in f32 (22 significant bits, no underflow), so there
 * fmaf is an f32 multiply and add; f32 weights take Lanes.fmaAny.
 */
function fmaLanes4(w: usize, a: usize, offset: i32, step: i32, end: i32, half: bool): v128 {
  if (half) {
    let acc = f32x4.splat(0);
    for (let i = offset; i < end; i += step) {
      const y = halfLanesLo(v128.load64_zero(w + ((<usize>i) << 1)));
      acc = f32x4.add(f32x4.mul(y, v128.load(a + ((<usize>i) << 2))), acc);
    }
    return acc;
  }
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  for (let i = offset; i < end; i += step) {
    const x = v128.load(a + ((<usize>i) << 2));
    const y = v128.load(w + ((<usize>i) << 2));
    lo = Lanes.fmaAny(lo, f64x2.mul(Lanes.lowF32(y), Lanes.lowF32(x)));
    hi = Lanes.fmaAny(hi, f64x2.mul(Lanes.highF32(y), Lanes.highF32(x)));
  }
  return v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/** The AVX2 dot's reduction of its 32 lanes (P[q]: lanes 4q..4q+3): (l + l16) + (l8 + l24), then (l + l4), then pairs. */
function reduceLanes32(p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, p6: v128, p7: v128): f32 {
  const lo = f32x4.add(f32x4.add(p0, p4), f32x4.add(p2, p6));
  const hi = f32x4.add(f32x4.add(p1, p5), f32x4.add(p3, p7));
  const t = f32x4.add(lo, hi);
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + (f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3));
}

/**
 * ggml_vec_dot_f32 / ggml_vec_dot_f16 on AVX2 (x86.ts dotFloat): 32 FMA lanes
 * over steps of 32, reduced as (l + l16) + (l8 + l24), then lanes (l + l4),
 * then pairs; the tail in a float sum for F32, in double for F16.
 */
function dotFloat(w: usize, a: usize, n: i32, half: bool): f32 {
  const np = n & ~31;
  let sum: f32 = 0;
  if (np > 0 && half) {
    // Exact products: the 32 lanes in one pass, eight f32x4 of plain multiply-adds (fmaLanes4).
    let p0 = f32x4.splat(0);
    let p1 = f32x4.splat(0);
    let p2 = f32x4.splat(0);
    let p3 = f32x4.splat(0);
    let p4 = f32x4.splat(0);
    let p5 = f32x4.splat(0);
    let p6 = f32x4.splat(0);
    let p7 = f32x4.splat(0);
    for (let i = 0; i < np; i += 32) {
      const wp = w + ((<usize>i) << 1);
      const ap = a + ((<usize>i) << 2);
      const h0 = v128.load(wp);
      const h1 = v128.load(wp, 16);
      const h2 = v128.load(wp, 32);
      const h3 = v128.load(wp, 48);
      p0 = f32x4.add(f32x4.mul(halfLanesLo(h0), v128.load(ap)), p0);
      p1 = f32x4.add(f32x4.mul(halfLanesHi(h0), v128.load(ap, 16)), p1);
      p2 = f32x4.add(f32x4.mul(halfLanesLo(h1), v128.load(ap, 32)), p2);
      p3 = f32x4.add(f32x4.mul(halfLanesHi(h1), v128.load(ap, 48)), p3);
      p4 = f32x4.add(f32x4.mul(halfLanesLo(h2), v128.load(ap, 64)), p4);
      p5 = f32x4.add(f32x4.mul(halfLanesHi(h2), v128.load(ap, 80)), p5);
      p6 = f32x4.add(f32x4.mul(halfLanesLo(h3), v128.load(ap, 96)), p6);
      p7 = f32x4.add(f32x4.mul(halfLanesHi(h3), v128.load(ap, 112)), p7);
    }
    sum = reduceLanes32(p0, p1, p2, p3, p4, p5, p6, p7);
  } else if (np > 0) {
    // P[q]: lanes 4q..4q+3
    const p0 = fmaLanes4(w, a, 0, 32, np, half);
    const p1 = fmaLanes4(w, a, 4, 32, np, half);
    const p2 = fmaLanes4(w, a, 8, 32, np, half);
    const p3 = fmaLanes4(w, a, 12, 32, np, half);
    const p4 = fmaLanes4(w, a, 16, 32, np, half);
    const p5 = fmaLanes4(w, a, 20, 32, np, half);
    const p6 = fmaLanes4(w, a, 24, 32, np, half);
    const p7 = fmaLanes4(w, a, 28, 32, np, half);
    sum = reduceLanes32(p0, p1, p2, p3, p4, p5, p6, p7);
  }
  if (half) {
    let s: f64 = sum;
    for (let i = np; i < n; i++) {
      s += <f64>(halfToF32(load<u16>(w + ((<usize>i) << 1))) * load<f32>(a + ((<usize>i) << 2)));
    }
    return <f32>s;
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
  return hsumLanes8(fmaLanes4(w, a, 0, 8, n, half), fmaLanes4(w, a, 4, 8, n, half));
}

export function dotF32Tiny(w: usize, a: usize, n: i32): f32 {
  return dotTinyBlas(w, a, n, false);
}

export function dotF16Tiny(w: usize, a: usize, n: i32): f32 {
  return dotTinyBlas(w, a, n, true);
}

/** ggml_vec_dot_bf16, scalar: products (exact in f32) summed in order in double. Activations already bf16. */
export function dotBF16(w: usize, a: usize, n: i32): f32 {
  let sum: f64 = 0;
  for (let k = 0; k < n; k++) {
    const x = reinterpret<f32>((<u32>load<u16>(w + ((<usize>k) << 1))) << 16);
    sum += <f64>(x * load<f32>(a + ((<usize>k) << 2)));
  }
  return <f32>sum;
}
