// Four-lane versions of the scalar float maths the light ops need, bit for bit
// the reference's: fmaf on arbitrary f32 values (engine/quant/x86.ts fmaF32)
// and ggml_v_expf (engine/quant/x86-math.ts vExpF32).

import { vExpF32 } from './attention';
import { fixPair, Lanes } from './fma';

/** Inlined helpers: static methods, the one place a decorator is valid TypeScript (as fma.ts Lanes). */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
export class V4 {
  /**
   * The f32 rounding of p + c (f64x2: exact products, f32 values), lane by lane,
   * as fmaf does: one rounding of the f64 sum unless it is an f32 midpoint, or
   * outside f32's normal range (subnormals, overflow, zero), where the exact
   * scalar path (fma.ts roundSum) decides.
   */
  @inline static roundSum(p: v128, c: v128): v128 {
    const s = f64x2.add(p, c);
    const a = f64x2.abs(s);
    const normal = v128.and(
      f64x2.ge(a, f64x2.splat(1.1754943508222875e-38)),
      f64x2.le(a, f64x2.splat(3.4028234663852886e38)),
    );
    if (v128.any_true(v128.or(Lanes.midpoints(s), v128.not(normal)))) return fixPair(p, c);
    return Lanes.round(s);
  }

  /** fmaf(a, b, c) lane by lane for f32x4 values. */
  @inline static fma(a: v128, b: v128, c: v128): v128 {
    const lo = V4.roundSum(f64x2.mul(Lanes.lowF32(a), Lanes.lowF32(b)), Lanes.lowF32(c));
    const hi = V4.roundSum(f64x2.mul(Lanes.highF32(a), Lanes.highF32(b)), Lanes.highF32(c));
    return v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
  }
}

function f32Bits(bits: u32): v128 {
  return f32x4.splat(reinterpret<f32>(bits));
}

/**
 * ggml_v_expf (AVX2) on four lanes: exp(x) = 2^n * (1 + j) with the same fmafs
 * and bit tricks as vExpF32 (attention.ts); lanes with |n| > 126 (results near
 * or past f32's range) take the scalar function, which handles them.
 */
export function vExp4(x: v128): v128 {
  const shift = f32Bits(0x4b400000); // 0x1.8p23
  const z = V4.fma(x, f32Bits(0x3fb8aa3b), shift); // x * log2(e) + 0x1.8p23
  const n = f32x4.sub(z, shift);
  const m = f32x4.neg(n);
  const b = V4.fma(m, f32Bits(0x35bfbe8e), V4.fma(m, f32Bits(0x3f317200), x)); // x - n * ln 2 (hi, lo)
  const k = i32x4.add(i32x4.shl(z, 23), i32x4.splat(0x3f800000));
  const u = f32x4.mul(b, b);
  const j = V4.fma(
    V4.fma(V4.fma(f32Bits(0x3c072010), b, f32Bits(0x3d2b9f17)), u, V4.fma(f32Bits(0x3e2aaf33), b, f32Bits(0x3efffedb))),
    u,
    f32x4.mul(f32Bits(0x3f7ffff6), b),
  );
  if (v128.any_true(f32x4.gt(f32x4.abs(n), f32x4.splat(126)))) {
    let r = f32x4.splat(vExpF32(f32x4.extract_lane(x, 0)));
    r = f32x4.replace_lane(r, 1, vExpF32(f32x4.extract_lane(x, 1)));
    r = f32x4.replace_lane(r, 2, vExpF32(f32x4.extract_lane(x, 2)));
    return f32x4.replace_lane(r, 3, vExpF32(f32x4.extract_lane(x, 3)));
  }
  return V4.fma(j, k, k);
}

/** out[i] = fmaf(a[i], b[i], c[i]) over n values (n % 4 == 0), four lanes at a time: V4.fma for the tests. */
export function fmaLanes(a: usize, b: usize, c: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const at = (<usize>i) << 2;
    v128.store(out + at, V4.fma(v128.load(a + at), v128.load(b + at), v128.load(c + at)));
  }
}
