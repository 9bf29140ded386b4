// Dot products of one weight row with one prepared activation row (activations.ts).
// Integer parts are exact; the per-block float steps of the 32-weight formats
// follow ggml's generic code in order, so those results match engine/quant's
// vecDot bit for bit. The K-quants and float rows sum in another order
// (agreement ~1e-6 relative).
//
// Weight quants are kept as i16 lanes: a 16-byte load seen as i16x8 gives the
// even-indexed byte in the low half of each lane and the odd one in the high
// half; masks and shifts pull out nibbles, and i32x4.dot_i16x8_s multiplies
// them with the activations' int16 copy in the matching even/odd order.

import { K16_BSUMS, K16_STRIDE, P16_STRIDE } from './activations';
import { halfLanesHi, halfLanesLo, halfToF32 } from './half';

function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

function hsumf(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

function dot(a: v128, b: v128): v128 {
  return i32x4.dot_i16x8_s(a, b);
}

/** [hsum(a), hsum(b), hsum(c), hsum(d)]: four horizontal sums in one transpose. */
function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

/** The f16 scales of four blocks `stride` bytes apart, as f32x4 (finite values). */
function halfScales4(p: usize, stride: usize): v128 {
  let h = i32x4.splat(<i32>load<u16>(p));
  h = i32x4.replace_lane(h, 1, <i32>load<u16>(p + stride));
  h = i32x4.replace_lane(h, 2, <i32>load<u16>(p + 2 * stride));
  h = i32x4.replace_lane(h, 3, <i32>load<u16>(p + 3 * stride));
  const em = v128.and(h, i32x4.splat(0x7fff));
  const f = f32x4.mul(i32x4.shl(em, 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** Four 32-bit words `stride` bytes apart. */
function gather4(p: usize, stride: usize): v128 {
  let v = i32x4.splat(load<i32>(p));
  v = i32x4.replace_lane(v, 1, load<i32>(p + stride));
  v = i32x4.replace_lane(v, 2, load<i32>(p + 2 * stride));
  return i32x4.replace_lane(v, 3, load<i32>(p + 3 * stride));
}

/** sumf + p[0] + p[1] + p[2] + p[3], in that order (ggml adds block by block). */
function addLanes(sumf: f32, p: v128): f32 {
  sumf += f32x4.extract_lane(p, 0);
  sumf += f32x4.extract_lane(p, 1);
  sumf += f32x4.extract_lane(p, 2);
  return sumf + f32x4.extract_lane(p, 3);
}

/** sum of the 32 unsigned nibbles of qs (16 bytes) times the P16 quants at aq. */
function nibbleDot(v: v128, aq: usize): v128 {
  const m4 = i16x8.splat(0x0f);
  let acc = dot(v128.and(v, m4), v128.load(aq));
  acc = i32x4.add(acc, dot(v128.and(i16x8.shr_u(v, 8), m4), v128.load(aq, 16)));
  acc = i32x4.add(acc, dot(v128.and(i16x8.shr_u(v, 4), m4), v128.load(aq, 32)));
  return i32x4.add(acc, dot(i16x8.shr_u(v, 12), v128.load(aq, 48)));
}

/** Like nibbleDot, with the fifth bits of a Q5 block (qh, one bit per weight) added as 16. */
function nibble5Dot(v: v128, qh: u32, aq: usize): v128 {
  const m4 = i16x8.splat(0x0f);
  const sixteen = i16x8.splat(16);
  const zero = i16x8.splat(0);
  const evenBits = i16x8(1, 4, 16, 64, 256, 1024, 4096, 16384);
  const oddBits = i16x8(2, 8, 32, 128, 512, 2048, 8192, -32768);
  const lo = i16x8.splat(<i16>(qh & 0xffff));
  const hi = i16x8.splat(<i16>(qh >>> 16));
  const b0 = v128.and(i16x8.ne(v128.and(lo, evenBits), zero), sixteen);
  const b1 = v128.and(i16x8.ne(v128.and(lo, oddBits), zero), sixteen);
  const b2 = v128.and(i16x8.ne(v128.and(hi, evenBits), zero), sixteen);
  const b3 = v128.and(i16x8.ne(v128.and(hi, oddBits), zero), sixteen);
  let acc = dot(v128.or(v128.and(v, m4), b0), v128.load(aq));
  acc = i32x4.add(acc, dot(v128.or(v128.and(i16x8.shr_u(v, 8), m4), b1), v128.load(aq, 16)));
  acc = i32x4.add(acc, dot(v128.or(v128.and(i16x8.shr_u(v, 4), m4), b2), v128.load(aq, 32)));
  return i32x4.add(acc, dot(v128.or(i16x8.shr_u(v, 12), b3), v128.load(aq, 48)));
}

/**
 * ggml_vec_dot_q4_0_q8_0: (q - 8) as q minus 8 * (sum of the activation quants).
 * Four blocks at a time: their integer sums and float products in SIMD, then
 * added to sumf one by one, as ggml does.
 */
export function dotQ4_0(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  let i = 0;
  for (; i + 4 <= nb; i += 4) {
    const s0 = nibbleDot(v128.load(w, 2), a + 16);
    const s1 = nibbleDot(v128.load(w, 20), a + 96);
    const s2 = nibbleDot(v128.load(w, 38), a + 176);
    const s3 = nibbleDot(v128.load(w, 56), a + 256);
    const sumi = i32x4.sub(hsum4(s0, s1, s2, s3), i32x4.shl(gather4(a + 4, P16_STRIDE), 3));
    const da = gather4(a, P16_STRIDE);
    sumf = addLanes(sumf, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(sumi), halfScales4(w, 18)), da));
    w += 72;
    a += 4 * P16_STRIDE;
  }
  for (; i < nb; i++) {
    const sumi = hsum(nibbleDot(v128.load(w, 2), a + 16)) - 8 * load<i32>(a, 4);
    sumf += <f32>sumi * halfToF32(load<u16>(w)) * load<f32>(a);
    w += 18;
    a += P16_STRIDE;
  }
  return sumf;
}

/** The four i16-lane nibble vectors of 16 Q4 bytes, dotted with the P16 quants at aq. */
function nibbleDotUnpacked(n0: v128, n1: v128, n2: v128, n3: v128, aq: usize): v128 {
  let acc = dot(n0, v128.load(aq));
  acc = i32x4.add(acc, dot(n1, v128.load(aq, 16)));
  acc = i32x4.add(acc, dot(n2, v128.load(aq, 32)));
  return i32x4.add(acc, dot(n3, v128.load(aq, 48)));
}

/**
 * dotQ4_0 of one weight row with two activation rows (prefill): the nibbles are
 * unpacked once for both. Same arithmetic per row as dotQ4_0, so the same bits.
 * The results go to out0 and out1.
 */
export function dot2Q4_0(w: usize, a0: usize, a1: usize, nb: i32, out0: usize, out1: usize): void {
  let sumf0: f32 = 0;
  let sumf1: f32 = 0;
  const m4 = i16x8.splat(0x0f);
  let i = 0;
  for (; i + 4 <= nb; i += 4) {
    let p0 = i32x4.splat(0);
    let p1 = i32x4.splat(0);
    let p2 = i32x4.splat(0);
    let p3 = i32x4.splat(0);
    let q0 = i32x4.splat(0);
    let q1 = i32x4.splat(0);
    let q2 = i32x4.splat(0);
    let q3 = i32x4.splat(0);
    for (let b = 0; b < 4; b++) {
      const v = v128.load(w + 2 + 18 * b);
      const n0 = v128.and(v, m4);
      const n1 = v128.and(i16x8.shr_u(v, 8), m4);
      const n2 = v128.and(i16x8.shr_u(v, 4), m4);
      const n3 = i16x8.shr_u(v, 12);
      const s0 = nibbleDotUnpacked(n0, n1, n2, n3, a0 + 16 + <usize>(b * P16_STRIDE));
      const s1 = nibbleDotUnpacked(n0, n1, n2, n3, a1 + 16 + <usize>(b * P16_STRIDE));
      if (b === 0) {
        p0 = s0;
        q0 = s1;
      } else if (b === 1) {
        p1 = s0;
        q1 = s1;
      } else if (b === 2) {
        p2 = s0;
        q2 = s1;
      } else {
        p3 = s0;
        q3 = s1;
      }
    }
    const dw = halfScales4(w, 18);
    const sumi0 = i32x4.sub(hsum4(p0, p1, p2, p3), i32x4.shl(gather4(a0 + 4, P16_STRIDE), 3));
    const sumi1 = i32x4.sub(hsum4(q0, q1, q2, q3), i32x4.shl(gather4(a1 + 4, P16_STRIDE), 3));
    sumf0 = addLanes(sumf0, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(sumi0), dw), gather4(a0, P16_STRIDE)));
    sumf1 = addLanes(sumf1, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(sumi1), dw), gather4(a1, P16_STRIDE)));
    w += 72;
    a0 += 4 * P16_STRIDE;
    a1 += 4 * P16_STRIDE;
  }
  for (; i < nb; i++) {
    const v = v128.load(w, 2);
    const dw = halfToF32(load<u16>(w));
    const sumi0 = hsum(nibbleDot(v, a0 + 16)) - 8 * load<i32>(a0, 4);
    const sumi1 = hsum(nibbleDot(v, a1 + 16)) - 8 * load<i32>(a1, 4);
    sumf0 += <f32>sumi0 * dw * load<f32>(a0);
    sumf1 += <f32>sumi1 * dw * load<f32>(a1);
    w += 18;
    a0 += P16_STRIDE;
    a1 += P16_STRIDE;
  }
  store<f32>(out0, sumf0);
  store<f32>(out1, sumf1);
}

/** ggml_vec_dot_q4_1_q8_1: d*sumi + m*s. */
export function dotQ4_1(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const sumi = hsum(nibbleDot(v128.load(w, 4), a + 16));
    const scaled = halfToF32(load<u16>(w)) * load<f32>(a) * <f32>sumi;
    sumf += scaled + halfToF32(load<u16>(w, 2)) * load<f32>(a, 8);
    w += 20;
    a += P16_STRIDE;
  }
  return sumf;
}

export function dotQ5_0(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const sumi = hsum(nibble5Dot(v128.load(w, 6), load<u32>(w, 2), a + 16)) - 16 * load<i32>(a, 4);
    sumf += halfToF32(load<u16>(w)) * load<f32>(a) * <f32>sumi;
    w += 22;
    a += P16_STRIDE;
  }
  return sumf;
}

export function dotQ5_1(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const sumi = hsum(nibble5Dot(v128.load(w, 8), load<u32>(w, 4), a + 16));
    const scaled = halfToF32(load<u16>(w)) * load<f32>(a) * <f32>sumi;
    sumf += scaled + halfToF32(load<u16>(w, 2)) * load<f32>(a, 8);
    w += 24;
    a += P16_STRIDE;
  }
  return sumf;
}

/** The 32 int8 quants at q (sign-extended in place: even = (v << 8) >> 8, odd = v >> 8) times the P16 quants at aq. */
function int8Dot(q: usize, aq: usize): v128 {
  const v0 = v128.load(q);
  const v1 = v128.load(q, 16);
  let acc = dot(i16x8.shr_s(i16x8.shl(v0, 8), 8), v128.load(aq));
  acc = i32x4.add(acc, dot(i16x8.shr_s(v0, 8), v128.load(aq, 16)));
  acc = i32x4.add(acc, dot(i16x8.shr_s(i16x8.shl(v1, 8), 8), v128.load(aq, 32)));
  return i32x4.add(acc, dot(i16x8.shr_s(v1, 8), v128.load(aq, 48)));
}

/** ggml_vec_dot_q8_0_q8_0: sumi * (dw * da), four blocks at a time as in dotQ4_0. */
export function dotQ8_0(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  let i = 0;
  for (; i + 4 <= nb; i += 4) {
    const s0 = int8Dot(w + 2, a + 16);
    const s1 = int8Dot(w + 36, a + 96);
    const s2 = int8Dot(w + 70, a + 176);
    const s3 = int8Dot(w + 104, a + 256);
    const d = f32x4.mul(halfScales4(w, 34), gather4(a, P16_STRIDE));
    sumf = addLanes(sumf, f32x4.mul(f32x4.convert_i32x4_s(hsum4(s0, s1, s2, s3)), d));
    w += 136;
    a += 4 * P16_STRIDE;
  }
  for (; i < nb; i++) {
    sumf += <f32>hsum(int8Dot(w + 2, a + 16)) * (halfToF32(load<u16>(w)) * load<f32>(a));
    w += 34;
    a += P16_STRIDE;
  }
  return sumf;
}

/** The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (get_scale_min_k4); scales at s. */
function scaleK4(j: i32, s: usize): i32 {
  if (j < 4) return load<u8>(s + j) & 63;
  return (load<u8>(s + j + 4) & 0x0f) | ((load<u8>(s + j - 4) >> 6) << 4);
}

function minK4(j: i32, s: usize): i32 {
  if (j < 4) return load<u8>(s + j + 4) & 63;
  return (load<u8>(s + j + 4) >> 4) | ((load<u8>(s + j) >> 6) << 4);
}

/** Sum over the 16 groups of bsums[g] * mins[g >> 1]. */
function minsDot(s: usize, a: usize): i32 {
  let summ: i32 = 0;
  for (let j = 0; j < 8; j++) {
    const bs = <i32>load<i16>(a + K16_BSUMS + ((<usize>j) << 2)) + <i32>load<i16>(a + K16_BSUMS + ((<usize>j) << 2), 2);
    summ += bs * minK4(j, s);
  }
  return summ;
}

export function dotQ4_K(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const s = w + 4;
    let acc = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = w + 16 + ((<usize>c) << 5);
      const ap = a + 16 + ((<usize>c) << 7);
      const v0 = v128.load(q);
      const v1 = v128.load(q, 16);
      let lo = dot(v128.and(v0, m4), v128.load(ap));
      lo = i32x4.add(lo, dot(v128.and(i16x8.shr_u(v0, 8), m4), v128.load(ap, 16)));
      lo = i32x4.add(lo, dot(v128.and(v1, m4), v128.load(ap, 32)));
      lo = i32x4.add(lo, dot(v128.and(i16x8.shr_u(v1, 8), m4), v128.load(ap, 48)));
      let hi = dot(v128.and(i16x8.shr_u(v0, 4), m4), v128.load(ap, 64));
      hi = i32x4.add(hi, dot(i16x8.shr_u(v0, 12), v128.load(ap, 80)));
      hi = i32x4.add(hi, dot(v128.and(i16x8.shr_u(v1, 4), m4), v128.load(ap, 96)));
      hi = i32x4.add(hi, dot(i16x8.shr_u(v1, 12), v128.load(ap, 112)));
      acc = i32x4.add(acc, i32x4.mul(lo, i32x4.splat(scaleK4(2 * c, s))));
      acc = i32x4.add(acc, i32x4.mul(hi, i32x4.splat(scaleK4(2 * c + 1, s))));
    }
    const da = load<f32>(a);
    const summ = minsDot(s, a);
    sumf += halfToF32(load<u16>(w)) * da * <f32>hsum(acc) - halfToF32(load<u16>(w, 2)) * da * <f32>summ;
    w += 144;
    a += K16_STRIDE;
  }
  return sumf;
}

/** Fifth bits for the even (low byte) and odd (high byte) weights of i16 lanes of qh, bit b, as 0/16. */
function bitEven(h: v128, b: i32): v128 {
  return i16x8.shl(v128.and(i16x8.shr_u(h, b), i16x8.splat(1)), 4);
}

function bitOdd(h: v128, b: i32): v128 {
  return i16x8.shl(v128.and(i16x8.shr_u(h, b + 8), i16x8.splat(1)), 4);
}

export function dotQ5_K(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  const m4 = i16x8.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const s = w + 4;
    const h0 = v128.load(w, 16);
    const h1 = v128.load(w, 32);
    let acc = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = w + 48 + ((<usize>c) << 5);
      const ap = a + 16 + ((<usize>c) << 7);
      const v0 = v128.load(q);
      const v1 = v128.load(q, 16);
      const bl = 2 * c;
      const bh = 2 * c + 1;
      let lo = dot(v128.or(v128.and(v0, m4), bitEven(h0, bl)), v128.load(ap));
      lo = i32x4.add(lo, dot(v128.or(v128.and(i16x8.shr_u(v0, 8), m4), bitOdd(h0, bl)), v128.load(ap, 16)));
      lo = i32x4.add(lo, dot(v128.or(v128.and(v1, m4), bitEven(h1, bl)), v128.load(ap, 32)));
      lo = i32x4.add(lo, dot(v128.or(v128.and(i16x8.shr_u(v1, 8), m4), bitOdd(h1, bl)), v128.load(ap, 48)));
      let hi = dot(v128.or(v128.and(i16x8.shr_u(v0, 4), m4), bitEven(h0, bh)), v128.load(ap, 64));
      hi = i32x4.add(hi, dot(v128.or(i16x8.shr_u(v0, 12), bitOdd(h0, bh)), v128.load(ap, 80)));
      hi = i32x4.add(hi, dot(v128.or(v128.and(i16x8.shr_u(v1, 4), m4), bitEven(h1, bh)), v128.load(ap, 96)));
      hi = i32x4.add(hi, dot(v128.or(i16x8.shr_u(v1, 12), bitOdd(h1, bh)), v128.load(ap, 112)));
      acc = i32x4.add(acc, i32x4.mul(lo, i32x4.splat(scaleK4(bl, s))));
      acc = i32x4.add(acc, i32x4.mul(hi, i32x4.splat(scaleK4(bh, s))));
    }
    const da = load<f32>(a);
    const summ = minsDot(s, a);
    sumf += halfToF32(load<u16>(w)) * da * <f32>hsum(acc) - halfToF32(load<u16>(w, 2)) * da * <f32>summ;
    w += 176;
    a += K16_STRIDE;
  }
  return sumf;
}

/** Q6_K: ql low 4 bits, qh 2 high bits, 16 int8 scales; (q - 32) as q minus 32 * bsums. */
export function dotQ6_K(w: usize, a: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  const m4 = i16x8.splat(0x0f);
  const m3 = i16x8.splat(3);
  for (let i = 0; i < nb; i++) {
    const sc = w + 192;
    let acc = i32x4.splat(0);
    for (let h = 0; h < 2; h++) {
      for (let g = 0; g < 2; g++) {
        const l0 = v128.load(w + ((<usize>h) << 6) + ((<usize>g) << 4));
        const l1 = v128.load(w + ((<usize>h) << 6) + 32 + ((<usize>g) << 4));
        const hb = v128.load(w + 128 + ((<usize>h) << 5) + ((<usize>g) << 4));
        const ap = a + 16 + ((<usize>(128 * h + 16 * g)) << 1);
        // m = 0..3: weights l, l+32, l+64, l+96 of the half; group 8h + 2m + g.
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
      }
    }
    let offs: i32 = 0;
    for (let j = 0; j < 16; j++) offs += <i32>load<i8>(sc + j) * <i32>load<i16>(a + K16_BSUMS + ((<usize>j) << 1));
    sumf += halfToF32(load<u16>(w, 208)) * load<f32>(a) * <f32>(hsum(acc) - 32 * offs);
    w += 210;
    a += K16_STRIDE;
  }
  return sumf;
}

/** F32 x F32, four partial sums of four lanes. */
export function dotF32(w: usize, a: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= n; k += 8) {
    const p = (<usize>k) << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(w + p), v128.load(a + p)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(w + p, 16), v128.load(a + p, 16)));
  }
  let sum = hsumf(f32x4.add(s0, s1));
  for (; k < n; k++) sum += load<f32>(w + ((<usize>k) << 2)) * load<f32>(a + ((<usize>k) << 2));
  return sum;
}

/** F16 weights x activations already rounded to f16 (kept as f32): products are exact. */
export function dotF16(w: usize, a: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= n; k += 8) {
    const h = v128.load(w + ((<usize>k) << 1));
    const p = (<usize>k) << 2;
    s0 = f32x4.add(s0, f32x4.mul(halfLanesLo(h), v128.load(a + p)));
    s1 = f32x4.add(s1, f32x4.mul(halfLanesHi(h), v128.load(a + p, 16)));
  }
  let sum = hsumf(f32x4.add(s0, s1));
  for (; k < n; k++) sum += halfToF32(load<u16>(w + ((<usize>k) << 1))) * load<f32>(a + ((<usize>k) << 2));
  return sum;
}

/** BF16 weights x activations already rounded to bf16 (kept as f32). */
export function dotBF16(w: usize, a: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= n; k += 8) {
    const h = v128.load(w + ((<usize>k) << 1));
    const p = (<usize>k) << 2;
    s0 = f32x4.add(s0, f32x4.mul(i32x4.shl(i32x4.extend_low_i16x8_u(h), 16), v128.load(a + p)));
    s1 = f32x4.add(s1, f32x4.mul(i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), v128.load(a + p, 16)));
  }
  let sum = hsumf(f32x4.add(s0, s1));
  for (; k < n; k++) {
    sum += reinterpret<f32>((<u32>load<u16>(w + ((<usize>k) << 1))) << 16) * load<f32>(a + ((<usize>k) << 2));
  }
  return sum;
}
