// Half-precision and bfloat16 conversions, bit-exact with engine/quant/fp16.ts
// for finite values (ties to even).

/** binary16 bits -> f32: shift the exponent and mantissa into place, rescale by 2^112 (handles subnormals). */
export function halfToF32(h: u32): f32 {
  const em = h & 0x7fff;
  let f = reinterpret<f32>(em << 13) * reinterpret<f32>(0x77800000);
  if (em >= 0x7c00) f = reinterpret<f32>((em << 13) | 0x7f800000); // inf, nan
  return reinterpret<f32>(reinterpret<u32>(f) | ((h & 0x8000) << 16));
}

/**
 * f32 -> binary16 bits, round to nearest even, overflow to infinity: the float
 * trick of Maratyszcza's FP16 library (the FPU does the rounding).
 */
export function f32ToHalf(f: f32): u32 {
  let base = Mathf.abs(f) * reinterpret<f32>(0x77800000) * reinterpret<f32>(0x08800000);
  const w = reinterpret<u32>(f);
  const shl1 = w << 1;
  const sign = w & 0x80000000;
  let bias = shl1 & 0xff000000;
  if (bias < 0x71000000) bias = 0x71000000;
  base = reinterpret<f32>((bias >> 1) + 0x07800000) + base;
  const bits = reinterpret<u32>(base);
  const nonsign = ((bits >> 13) & 0x7c00) + (bits & 0x0fff);
  return (sign >> 16) | (shl1 > 0xff000000 ? 0x7e00 : nonsign);
}

/** f32 -> bf16 bits: ggml_compute_fp32_to_bf16 (NaN made quiet, else round to nearest even). */
export function f32ToBf16(f: f32): u32 {
  const u = reinterpret<u32>(f);
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >> 16) | 64) & 0xffff;
  return ((u + (0x7fff + ((u >> 16) & 1))) >> 16) & 0xffff;
}

/** Eight binary16 values at p -> two f32x4 (lanes 0..3 in lo, 4..7 in hi), finite values only. */
export function halfLanesLo(v: v128): v128 {
  return halfLanes(i32x4.extend_low_i16x8_u(v));
}

export function halfLanesHi(v: v128): v128 {
  return halfLanes(i32x4.extend_high_i16x8_u(v));
}

function halfLanes(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const f = f32x4.mul(i32x4.shl(em, 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}
