// fmaf (a*b + c rounded once to f32) without a fused multiply-add: WebAssembly
// has none that is guaranteed fused. The product of two f32 values is exact in
// f64 (24 + 24 significant bits), so only the sum rounds twice, first to f64,
// then to f32; that second rounding differs from a single one only when the
// f64 sum lands exactly on an f32 midpoint (engine/quant/x86.ts fmaF32, which
// this mirrors; both are tested against fmaf in exact integer arithmetic).
//
// Accumulators of lanes are kept as f64x2 holding f32 values, so that a step
// costs an f64 add, a round trip through f32, and a check of the sum's low
// mantissa bits for the midpoint pattern (bit 28 set, bits 0-27 clear: an f32
// midpoint in the normal range). Only then the exact path runs (roundSum; its
// branch-free lane form Lanes.roundExact, inline, so that a kernel's loop holds
// no call: V8 would spill every vector register around it on every step).
//
// Why the pattern test suffices in Lanes.fma: in the
// block formats the product is d * (an integer) with d an f32, so both it and
// the f32 accumulator are multiples of 2^-149; a sum under 2^-96 is then exact
// in f64, and f32's subnormal range never sees a double rounding. For products
// of two arbitrary f32 values (F32 weights) Lanes.fmaAny adds a guard for sums
// below 2^-126.

/** The f32 rounding of p + c (p an exact f64 product, c an f32 value), as f64: fmaF32's algorithm. */
export function roundSum(p: f64, c: f64): f64 {
  const s = p + c;
  const r = <f64>(<f32>s);
  if (r === s) return r;
  // two-sum: the rounding error of s
  const pv = s - c;
  const err = p - pv + (c - (s - pv));
  if (err === 0) return r;
  const other = 2 * s - r; // the f32 on the other side if s is a midpoint
  if (other === r || <f64>(<f32>other) !== other) return r;
  return err > 0 ? max(r, other) : min(r, other);
}

/** fmaf(a, b, c) for f32 values. */
export function fmaf(a: f32, b: f32, c: f32): f32 {
  return <f32>roundSum(<f64>a * <f64>b, <f64>c);
}

/** roundSum on both lanes, as a call (Lanes.roundExact is the inline form). */
export function fixPair(p: v128, c: v128): v128 {
  const lo = roundSum(f64x2.extract_lane(p, 0), f64x2.extract_lane(c, 0));
  return f64x2.replace_lane(f64x2.splat(lo), 1, roundSum(f64x2.extract_lane(p, 1), f64x2.extract_lane(c, 1)));
}

/**
 * The per-step helpers, inlined into the kernels (binaryen would not inline
 * them by itself, and a call per step costs more than the step): static
 * methods, the one place a decorator is valid TypeScript as well.
 */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
export class Lanes {
  /** Lanes of s (f64x2) whose low mantissa bits are an f32 midpoint's. */
  @inline static midpoints(s: v128): v128 {
    return i64x2.eq(v128.and(s, i64x2.splat(0x1fffffff)), i64x2.splat(0x10000000));
  }

  /** acc (f64x2 of f32 values) = fmaf lane by lane, given the exact products p (f64x2); see the note above. */
  @inline static fma(acc: v128, p: v128): v128 {
    const s = f64x2.add(p, acc);
    if (v128.any_true(Lanes.midpoints(s))) return Lanes.roundExact(p, acc);
    return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(s));
  }

  /**
   * Whether any lane of four f64x2 sums has an f32 midpoint's low mantissa
   * bits, from their low words at once: (lo & 0x1fffffff) == 0x10000000 is
   * lo << 3 == i32.MIN, and the min of two such words is i32.MIN if either is.
   */
  @inline static anyMidpoint(s0: v128, s1: v128, s2: v128, s3: v128): bool {
    return v128.any_true(Lanes.midpoints4(s0, s1, s2, s3));
  }

  /** The mask behind anyMidpoint. */
  @inline static midpoints4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
    const a = i32x4.shl(v128.shuffle<i32>(s0, s1, 0, 2, 4, 6), 3);
    const b = i32x4.shl(v128.shuffle<i32>(s2, s3, 0, 2, 4, 6), 3);
    return i32x4.eq(i32x4.min_s(a, b), i32x4.splat(i32.MIN_VALUE));
  }

  /**
   * anyMidpoint, or any lane nonzero and below 2^-126 in magnitude (f32's
   * subnormal range, where the midpoint pattern does not hold: products of
   * arbitrary f32 values, see Lanes.fmaAny), from the high words h: that is
   * 0 < (h & 0x7fffffff) < 0x38100000 (a nonzero sum of a product of two f32
   * values and an f32 value is at least 2^-298, so its high word is not 0),
   * i.e. (h & 0x7fffffff) - 1 < 0x380fffff unsigned. A zero sum is exact.
   */
  @inline static anyMidpointOrTiny(s0: v128, s1: v128, s2: v128, s3: v128): bool {
    const abs = i32x4.splat(0x7fffffff);
    const one = i32x4.splat(1);
    const a = i32x4.sub(v128.and(v128.shuffle<i32>(s0, s1, 1, 3, 5, 7), abs), one);
    const b = i32x4.sub(v128.and(v128.shuffle<i32>(s2, s3, 1, 3, 5, 7), abs), one);
    const tiny = i32x4.lt_u(i32x4.min_u(a, b), i32x4.splat(0x380fffff));
    return v128.any_true(v128.or(Lanes.midpoints4(s0, s1, s2, s3), tiny));
  }

  /**
   * roundSum lane by lane, without branches or calls: the path taken when a
   * sum may be a midpoint, written inline so that the kernels' loops hold no
   * call (around which every vector register would be spilled, on every
   * iteration). The same f64 operations as roundSum, so the same result.
   */
  @inline static roundExact(p: v128, c: v128): v128 {
    const zero = f64x2.splat(0);
    const s = f64x2.add(p, c);
    const r = Lanes.round(s);
    const pv = f64x2.sub(s, c);
    const err = f64x2.add(f64x2.sub(p, pv), f64x2.sub(c, f64x2.sub(s, pv)));
    const other = f64x2.sub(f64x2.mul(s, f64x2.splat(2)), r);
    const tie = v128.and(
      v128.and(f64x2.ne(r, s), f64x2.ne(err, zero)),
      v128.and(f64x2.ne(other, r), f64x2.eq(Lanes.round(other), other)),
    );
    const toward = v128.bitselect(f64x2.max(r, other), f64x2.min(r, other), f64x2.gt(err, zero));
    return v128.bitselect(toward, r, tie);
  }

  /** Two f64x2 of f32 values as one f32x4 (a's lanes first). */
  @inline static toF32x4(a: v128, b: v128): v128 {
    return v128.shuffle<i32>(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 1, 4, 5);
  }

  /**
   * Whether any lane of two f64x2 sums has an f32 midpoint's low mantissa bits, without constants
   * (V8 rebuilds a v128 constant in each iteration of a loop): the low words' bits 0-28 shifted to
   * the top leave just the sign bit for a midpoint, the one i32 whose absolute value is negative.
   */
  @inline static anyMidpoint2(s0: v128, s1: v128): bool {
    return i32x4.bitmask(i32x4.abs(i32x4.shl(v128.shuffle<i32>(s0, s1, 0, 2, 4, 6), 3))) !== 0;
  }

  /** roundSum lane by lane (p exact products, c f32 values; f64x2): the same operations, inline, no call. */
  @inline static roundSums(p: v128, c: v128): v128 {
    const s = f64x2.add(p, c);
    const r = Lanes.round(s);
    const pv = f64x2.sub(s, c);
    const err = f64x2.add(f64x2.sub(p, pv), f64x2.sub(c, f64x2.sub(s, pv)));
    const other = f64x2.sub(f64x2.mul(f64x2.splat(2), s), r);
    const zero = f64x2.splat(0);
    const useOther = v128.and(v128.and(f64x2.ne(err, zero), f64x2.ne(other, r)), f64x2.eq(Lanes.round(other), other));
    const pick = v128.bitselect(f64x2.max(r, other), f64x2.min(r, other), f64x2.gt(err, zero));
    return v128.bitselect(pick, r, useOther);
  }

  /** acc (f32x4) = fmaf(float(q), d, acc) lane by lane, q i32x4, d f32x4. */
  @inline static fmaRows(acc: v128, q: v128, d: v128): v128 {
    const p0 = f64x2.mul(Lanes.lowI32(q), Lanes.lowF32(d));
    const p1 = f64x2.mul(Lanes.highI32(q), Lanes.highF32(d));
    const c0 = Lanes.lowF32(acc);
    const c1 = Lanes.highF32(acc);
    const s0 = f64x2.add(p0, c0);
    const s1 = f64x2.add(p1, c1);
    if (Lanes.anyMidpoint2(s0, s1)) return Lanes.toF32x4(Lanes.roundSums(p0, c0), Lanes.roundSums(p1, c1));
    return Lanes.toF32x4(s0, s1);
  }

  /**
   * fmaRows, as one f32x4.relaxed_madd where `fused`: the host's relaxed_madd
   * is a fused multiply-add (kernels.ts probes it; V8 on x64 with FMA3), which
   * is fmaf itself. The SIMD128-only build has no relaxed_madd.
   */
  @inline static fmaRowsMaybeFused(acc: v128, q: v128, d: v128, fused: bool): v128 {
    if (ASC_FEATURE_RELAXED_SIMD && fused) return f32x4.relaxed_madd(f32x4.convert_i32x4_s(q), d, acc);
    return Lanes.fmaRows(acc, q, d);
  }

  /** s (f64x2) rounded to f32 values, kept as f64x2. */
  @inline static round(s: v128): v128 {
    return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(s));
  }

  /** Lanes.fma for products of arbitrary f32 values: sums in f32's subnormal range take the exact path too. */
  @inline static fmaAny(acc: v128, p: v128): v128 {
    const s = f64x2.add(p, acc);
    const tiny = f64x2.lt(f64x2.abs(s), f64x2.splat(1.1754943508222875e-38));
    if (v128.any_true(v128.or(Lanes.midpoints(s), tiny))) return Lanes.roundExact(p, acc);
    return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(s));
  }

  /** acc (f32x4) = fmaf(d, q, acc) lane by lane, q i32x4, d an f64x2 splat of an f32. */
  @inline static fmaInt(acc: v128, q: v128, d: v128): v128 {
    const lo = Lanes.fma(Lanes.lowF32(acc), f64x2.mul(Lanes.lowI32(q), d));
    const hi = Lanes.fma(Lanes.highF32(acc), f64x2.mul(Lanes.highI32(q), d));
    return v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
  }

  /** i32 lanes 0-1 of v as f64x2 (exact). */
  @inline static lowI32(v: v128): v128 {
    return f64x2.convert_low_i32x4_s(v);
  }

  /** i32 lanes 2-3 of v as f64x2 (exact). */
  @inline static highI32(v: v128): v128 {
    return f64x2.convert_low_i32x4_s(v128.shuffle<i32>(v, v, 2, 3, 2, 3));
  }

  /** f32 lanes 0-1 of v as f64x2. */
  @inline static lowF32(v: v128): v128 {
    return f64x2.promote_low_f32x4(v);
  }

  /** f32 lanes 2-3 of v as f64x2. */
  @inline static highF32(v: v128): v128 {
    return f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3));
  }
}

/**
 * hsum_float_8 of the 8 lanes held by four pairs (lanes 0-1, 2-3, 4-5, 6-7):
 * (x4+x0, x5+x1, x6+x2, x7+x3), then (0+2) + (1+3), in f32.
 */
export function hsum8(a0: v128, a1: v128, a2: v128, a3: v128): f32 {
  return hsumLanes8(Lanes.toF32x4(a0, a1), Lanes.toF32x4(a2, a3));
}

/** hsum_float_8 of lanes 0-3 in lo and 4-7 in hi (f32x4). */
export function hsumLanes8(lo: v128, hi: v128): f32 {
  const r = f32x4.add(hi, lo);
  return f32x4.extract_lane(r, 0) + f32x4.extract_lane(r, 2) + (f32x4.extract_lane(r, 1) + f32x4.extract_lane(r, 3));
}
