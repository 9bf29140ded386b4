// Activation rows quantized on the fly, as llama.cpp's x86 CPU backend does
// (see engine/quant/index.ts activationQuantizer), into layouts made for the
// dot kernels: the 8-bit quants are stored as int16, so that a kernel can keep
// weight quants in i16 lanes and use i32x4.dot_i16x8_s (design.md). Within each
// group of 16 consecutive values the even-indexed ones come first, then the odd
// ones, because that is the order in which a 16-byte load of packed weights
// falls apart into i16 lanes (low byte: even weight, high byte: odd weight).
import { f32ToBf16, f32ToHalf, halfToF32 } from './half';

/** Q8_0 / Q8_1 activations for 32-weight blocks: f32 d, i32 sum of quants, f32 s = d*sum (f16), i16[32]. */
export const P16_STRIDE: i32 = 80;
/**
 * The activations of every 32-weight format (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), one
 * layout so that products of different formats share them: P16's; the
 * relaxed-SIMD build adds the int8 quants in natural order at P8_QUANTS, the
 * signed operand of i16x8.relaxed_dot_i8x16_i7x16_s against Q4_0's nibbles
 * (dots.ts q4SumRelaxed), and |a|, sign(a) for Q8_0's (dotQ8_0Rows4).
 */
export const P8_QUANTS: i32 = P16_STRIDE;
export const Q8_STRIDE: i32 = ASC_FEATURE_RELAXED_SIMD ? P16_STRIDE + 32 : P16_STRIDE;
/** Q8_K activations: f32 d, i16[256] at 16, i16 bsums[16] at 528. */
export const K16_STRIDE: i32 = 560;
export const K16_BSUMS: i32 = 528;
/**
 * The Q4_K activations: Q8_K's, the int16 quants in the Q4_K layout; the
 * relaxed-SIMD build (ASC_FEATURE_RELAXED_SIMD, a compile-time constant) adds
 * the int8 quants at K8_QUANTS, the signed operand of
 * i16x8.relaxed_dot_i8x16_i7x16_s against the nibbles (dots.ts Q4_KRow), each
 * chunk of 64 in the order of pairSlot.
 */
export const K8_QUANTS: i32 = K16_STRIDE;
export const Q4K_STRIDE: i32 = ASC_FEATURE_RELAXED_SIMD ? K16_STRIDE + 256 : K16_STRIDE;

/**
 * Where value P (0..63) of a chunk of two Q4_K sub-blocks goes in the relaxed-SIMD
 * build, for weight nibbles (repack.ts) and activation quants alike: slot t holds
 * the nibble at byte t & 31 (the high one from t = 32), and the quant at byte t.
 * Each pair of slots 4k, 4k + 1 takes two values of the first sub-block, and 4k + 2,
 * 4k + 3 two of the second, so that the i16 lanes of a relaxed dot alternate
 * between the two sub-blocks and one i32x4.dot_i16x8_s applies both their scales
 * (dots.ts Q4_KRow.chunk). GGUF's own layout is the same addressing with slot P.
 */
export function pairSlot(P: i32): i32 {
  const sub = P >> 5; // which sub-block
  const v = P & 31; // value in it: 8 per 16-slot vector, in pairs
  return ((v >> 3) << 4) | ((v & 6) << 1) | (sub << 1) | (v & 1);
}

/** Position of value j (0..15) of a group of 16 in the even-then-odd order. */
function perm(j: i32): i32 {
  return ((j & 1) << 3) | (j >> 1);
}

/**
 * The Q4_K layout's factor for value k of a super-block, so that the kernels
 * take each nibble with one mask, where it lies in its i16 lane (dots.ts
 * q4KNibblesDot): a 32-byte chunk of weights holds values 0-31 of its 64 in
 * the low nibbles, 32-63 in the high ones; an even value sits in a lane's low
 * byte, an odd one in its high byte. The masks leave the nibbles at 1x (low
 * byte, low nibble), 256x (high byte, low nibble), 16x (low byte, high nibble)
 * and 1x (high byte, high nibble, by a shift), so every product comes out
 * 256 times the true one, an exact integer factor the kernels divide out.
 */
function factorQ4_K(k: i32): i32 {
  if ((k & 1) === 0) return k & 32 ? 16 : 256;
  return k & 32 ? 256 : 1;
}

function absMax(x: usize, n: i32): f32 {
  let m = f32x4.splat(0);
  for (let k = 0; k < n; k += 4) m = f32x4.max(m, f32x4.abs(v128.load(x + ((<usize>k) << 2))));
  return Mathf.max(
    Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)),
    Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)),
  );
}

/**
 * x86 quantize_row_q8_0 / q8_1: d = max/127 (stored as f16), q = round-half-even(x * 127/max)
 * saturated to int8; s = d * (sum of q before saturation), as f16. nb blocks of 32.
 * `kernels`: the kernels' layout, blocks Q8_STRIDE apart (else P16's, for tests).
 */
export function quantizeQ8(x: usize, nb: i32, dst: usize, kernels: bool = false): void {
  const stride = kernels ? Q8_STRIDE : P16_STRIDE;
  const int8 = ASC_FEATURE_RELAXED_SIMD && kernels;
  for (let i = 0; i < nb; i++) {
    const xb = x + ((<usize>i) << 7);
    const o = dst + <usize>(i * stride);
    const max = absMax(xb, 32);
    const d: f32 = max / 127;
    const id: f32 = max !== 0 ? <f32>127 / max : 0;
    let sum: i32 = 0;
    let qsum: i32 = 0;
    for (let g = 0; g < 2; g++) {
      for (let j = 0; j < 16; j++) {
        const q = <i32>nearest<f32>(load<f32>(xb + ((<usize>(16 * g + j)) << 2)) * id);
        sum += q;
        let qs = min(q, 127);
        if (qs < -128) qs = -128;
        qsum += qs;
        store<i16>(o + 16 + ((<usize>(16 * g + perm(j))) << 1), <i16>qs);
        if (int8) store<i8>(o + P8_QUANTS + <usize>(16 * g + j), <i8>qs);
      }
    }
    store<f32>(o, halfToF32(f32ToHalf(d)));
    store<i32>(o + 4, qsum);
    store<f32>(o + 8, halfToF32(f32ToHalf(d * <f32>sum)));
  }
}

/**
 * quantize_row_q8_K_ref: iscale = -127 / (signed value of largest magnitude), q = min(127, nearest(iscale*x)).
 * `q4k`: each quant times its factorQ4_K (the Q4_K layout), blocks Q4K_STRIDE apart.
 */
export function quantizeQ8K(x: usize, nb: i32, dst: usize, q4k: bool = false): void {
  const stride = q4k ? Q4K_STRIDE : K16_STRIDE;
  const int8 = ASC_FEATURE_RELAXED_SIMD && q4k;
  for (let i = 0; i < nb; i++) {
    const xb = x + ((<usize>i) << 10);
    const o = dst + <usize>(i * stride);
    let amax: f32 = 0;
    let max: f32 = 0;
    for (let j = 0; j < 256; j++) {
      const v = load<f32>(xb + ((<usize>j) << 2));
      const a = Mathf.abs(v);
      if (a > amax) {
        amax = a;
        max = v;
      }
    }
    if (amax === 0) {
      memory.fill(o, 0, stride);
      continue;
    }
    const iscale: f32 = <f32>-127 / max;
    for (let g = 0; g < 16; g++) {
      let sum: i32 = 0;
      for (let j = 0; j < 16; j++) {
        let q = <i32>nearest<f32>(iscale * load<f32>(xb + ((<usize>(16 * g + j)) << 2)));
        if (q > 127) q = 127;
        sum += q;
        store<i16>(o + 16 + ((<usize>(16 * g + perm(j))) << 1), <i16>(q4k ? q * factorQ4_K(16 * g + j) : q));
        if (int8) store<i8>(o + K8_QUANTS + <usize>(((16 * g) & ~63) + pairSlot((16 * g + j) & 63)), <i8>q);
      }
      store<i16>(o + K16_BSUMS + ((<usize>g) << 1), <i16>sum);
    }
    store<f32>(o, <f32>1 / iscale);
  }
}

/** F16 activations (F16 weights): each value rounded through binary16, kept as f32. */
export function roundRowF16(x: usize, n: i32, dst: usize): void {
  for (let j = 0; j < n; j++) {
    const p = (<usize>j) << 2;
    store<f32>(dst + p, halfToF32(f32ToHalf(load<f32>(x + p))));
  }
}

/** BF16 activations (BF16 weights): each value rounded through bfloat16, kept as f32. */
export function roundRowBf16(x: usize, n: i32, dst: usize): void {
  for (let j = 0; j < n; j++) {
    const p = (<usize>j) << 2;
    store<u32>(dst + p, f32ToBf16(load<f32>(x + p)) << 16);
  }
}
