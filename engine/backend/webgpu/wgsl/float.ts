import { EC0, EC1, EC2, EXP2_I32, INV_LN2_N } from '../../../quant/x86-math.ts';

/**
 * llama.cpp's CPU roundings where WGSL's own arithmetic differs from them, out of
 * plain f32 operations:
 * - WGSL's `fma` may be computed unfused (SwiftShader does: round(round(a*b) + c)),
 *   and ggml's CPU code is compiled with fused multiply-adds;
 * - WGSL's `exp` is accurate to 3 + 2|x| ulp only (SwiftShader's differs from
 *   glibc's expf in ~80% of inputs), and ggml's flash attention calls glibc's expf.
 *
 * Built on error-free transformations (Dekker, Knuth): a product or a sum of two
 * floats is held exactly as an unevaluated pair (hi, lo). They need f32 operations
 * rounded to nearest and evaluated as written (no reassociation, no contraction
 * of `a*b - p` into an fma): what WGSL specifies and what SwiftShader does with
 * values it cannot see at compile time (constants go through `opaque`); the
 * tests compare the results bit for bit with the reference's.
 */
export const EXACT_FLOAT = /* wgsl */ `
// x, hidden from the shader compiler: SwiftShader reassociates sums that have a
// constant operand (two_sum(0.5, x) loses its error term), so the constants that
// enter these helpers pass through workgroup memory, which WebGPU zero-fills and
// no compiler can fold.
var<workgroup> opaque_zero: f32;
fn opaque(x: f32) -> f32 { return x + opaque_zero; }
fn opaque2(x: vec2f) -> vec2f { return x + vec2f(opaque_zero); }
// a + b = s + e exactly (Knuth's two-sum)
fn two_sum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  let bb = s - a;
  return vec2f(s, (a - (s - bb)) + (b - bb));
}
// a + b = s + e exactly, for |a| >= |b|
fn fast_two_sum(a: f32, b: f32) -> vec2f {
  let s = a + b;
  return vec2f(s, b - (s - a));
}
// a = hi + lo, each with at most 12 significant bits, so that their products are exact
fn split12(a: f32) -> vec2f {
  let hi = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
  return vec2f(hi, a - hi);
}
// a * b = p + e exactly (Dekker's product)
fn two_prod(a: f32, b: f32) -> vec2f {
  let p = a * b;
  let x = split12(a);
  let y = split12(b);
  return vec2f(p, ((x.x * y.x - p) + x.x * y.y + x.y * y.x) + x.y * y.y);
}
// a + b rounded to odd: an inexact sum keeps its last bit set (Boldo and Melquiond)
fn add_round_odd(a: f32, b: f32) -> f32 {
  let s = two_sum(a, b);
  let bits = bitcast<u32>(s.x);
  if (s.y == 0.0 || (bits & 1u) != 0u) { return s.x; }
  // the exact sum lies beyond s.x on s.y's side: step one ulp that way
  return bitcast<f32>(select(bits - 1u, bits + 1u, (s.y > 0.0) == (s.x > 0.0)));
}
// fmaf(a, b, c): a*b + c rounded once (Boldo and Melquiond's emulated FMA)
fn fma_exact(a: f32, b: f32, c: f32) -> f32 {
  let p = two_prod(a, b);
  let t = two_sum(c, p.x);
  return t.x + add_round_odd(t.y, p.y);
}
// a / b rounded to nearest: WGSL's division may be off by 2.5 ulp; the exact
// remainder a - q*b corrects it (Markstein)
fn div_rn(a: f32, b: f32) -> f32 {
  let q = a / b;
  return fma_exact(fma_exact(-q, b, a), 1.0 / b, q);
}
// sqrt(a) rounded to nearest, corrected by the exact remainder a - s*s likewise
fn sqrt_rn(a: f32) -> f32 {
  let s = sqrt(a);
  if (a <= 0.0) { return s; }
  return fma_exact(fma_exact(-s, s, a), 0.5 / s, s);
}
// double-float arithmetic (about 48 bits): values as hi + lo, hi = lo rounded away
fn ff_add(a: vec2f, b: vec2f) -> vec2f {
  let s = two_sum(a.x, b.x);
  return fast_two_sum(s.x, s.y + (a.y + b.y));
}
fn ff_mul(a: vec2f, b: vec2f) -> vec2f {
  let p = two_prod(a.x, b.x);
  return fast_two_sum(p.x, p.y + (a.x * b.y + a.y * b.x));
}
`;

/** A double as the pair of floats (hi, lo) that hold it to ~48 bits, in WGSL. */
function ff(x: number): string {
  const hi = Math.fround(x);
  return `opaque2(vec2f(${f32Literal(hi)}, ${f32Literal(x - hi)}))`;
}

/** An f32 constant for the exact helpers: its exact bits, through `opaque`. */
function k(x: number): string {
  return `opaque(${f32Literal(x)})`;
}

/** x rounded to f32, as its exact bits. */
function f32Literal(x: number): string {
  const bits = new Uint32Array(Float32Array.of(x).buffer)[0];
  return `bitcast<f32>(0x${bits.toString(16)}u)`;
}

/**
 * glibc's expf (what the reference's expF32 computes): x·32/ln2 = k + r, 2^(k/32)
 * from its table, the cubic in r, all in double there and in double-float here,
 * rounded once to float. The double-float result is within ~2^-46 of glibc's
 * double one, so the float results differ only when glibc's lands that close to
 * a rounding tie. Results in the subnormal range (x < -87.33) are rounded twice
 * (ldexp), or flushed to 0 where the GPU flushes subnormals (SwiftShader does).
 */
export const GLIBC_EXPF = /* wgsl */ `
const EXP2_TAB = array<vec2f, 32>(${Array.from(EXP2_I32, (x) => ff(x).slice(8, -1)).join(', ')});
fn glibc_expf(x: f32) -> f32 {
  if (x > 88.72283172607422) { return x * 3.0e38; } // overflows to +inf (a constant inf is not valid WGSL)
  if (x < -103.97207641601562) { return 0.0; }
  let z = ff_mul(${ff(INV_LN2_N)}, vec2f(x, 0.0));
  let kd = round(z.x);
  let r = fast_two_sum(z.x - kd, z.y);
  let k = i32(kd);
  let i = k & 31;
  let p = ff_add(ff_mul(${ff(EC0)}, r), ${ff(EC1)});
  let y = ff_add(ff_mul(p, ff_mul(r, r)), ff_add(ff_mul(${ff(EC2)}, r), opaque2(vec2f(1.0, 0.0))));
  let s = ff_mul(y, opaque2(EXP2_TAB[i]));
  return ldexp(s.x + s.y, (k - i) / 32);
}
`;

/**
 * ggml_vec_dot_f32 / ggml_vec_dot_f16 on AVX2 (the reference's dotFloat) as a WGSL
 * function `name(n)` over the products x(i)·y(i) of two WGSL expressions in `i`:
 * 32 lanes over steps of 32, each an FMA chain, reduced as
 * ((l + l16) + (l8 + l24)), then lanes 0-3 with 4-7, then pairs. The tail: F16
 * sums its products in double (double-float here; products of two halves are
 * exact in f32), F32 as GCC compiled it: products rounded and added one by one,
 * the last 0-3 by FMA. `args` are further parameters of the function.
 */
export function dotFloatWGSL(
  name: string,
  args: string,
  x: (i: string) => string,
  y: (i: string) => string,
  half: boolean,
): string {
  const tail = half
    ? `var t = vec2f(sum, 0.0);
  for (; i < n; i++) { t = ff_add(t, vec2f(${x('i')} * ${y('i')}, 0.0)); }
  return t.x;`
    : `let vector_end = select(np, np + ((n - np) & ~7u), n - np >= 8u);
  for (; i < vector_end; i++) { sum = sum + ${x('i')} * ${y('i')}; }
  if (n - i >= 4u) { for (let end = i + 4u; i < end; i++) { sum = sum + ${x('i')} * ${y('i')}; } }
  for (; i < n; i++) { sum = fma_exact(${x('i')}, ${y('i')}, sum); }
  return sum;`;
  return `
fn ${name}(n: u32${args}) -> f32 {
  let np = n & ~31u;
  var sum = 0.0;
  if (np > 0u) {
    var lanes: array<f32, 32>;
    for (var k = 0u; k < np; k += 32u) {
      for (var l = 0u; l < 32u; l++) { lanes[l] = fma_exact(${x('k + l')}, ${y('k + l')}, lanes[l]); }
    }
    var v: array<f32, 8>;
    for (var l = 0u; l < 8u; l++) { v[l] = (lanes[l] + lanes[16u + l]) + (lanes[8u + l] + lanes[24u + l]); }
    sum = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
  }
  var i = np;
  ${tail}
}
`;
}

/** hsum_float_8: (x4+x0, x5+x1, x6+x2, x7+x3), then (0+2) + (1+3). */
export const HSUM8 = /* wgsl */ `
fn hsum8(x: array<f32, 8>) -> f32 {
  return ((x[4] + x[0]) + (x[6] + x[2])) + ((x[5] + x[1]) + (x[7] + x[3]));
}
`;

/**
 * ggml_v_expf (AVX2+FMA), one lane, as the reference's vExpF32: exp(x) = 2^n (1 + j)
 * with the same FMAs and bit tricks; ggml_vec_swiglu_f32 and the softmax use it on
 * whole groups of 8. Needs EXACT_FLOAT.
 */
export const V_EXPF = /* wgsl */ `
fn v_expf(x: f32) -> f32 {
  let shift = opaque(12582912.0);
  let z = fma_exact(x, ${k(0x1715476 * 2 ** -24)}, shift);
  let n = z - shift;
  let b = fma_exact(-n, ${k(0x17f7d1c * 2 ** -44)}, fma_exact(-n, ${k(0x162e4 * 2 ** -17)}, x));
  let e = bitcast<u32>(z) << 23u;
  let k = bitcast<f32>(e + 0x3f800000u);
  let u = b * b;
  let j = fma_exact(fma_exact(fma_exact(${k(0x10e4020 * 2 ** -31)}, b, ${k(0x1573e2e * 2 ** -29)}), u,
    fma_exact(${k(0x1555e66 * 2 ** -27)}, b, ${k(0x1fffdb6 * 2 ** -26)})), u, ${k(0x1ffffec * 2 ** -25)} * b);
  if (!(abs(n) > 126.0)) { return fma_exact(j, k, k); }
  let g = select(0u, 0x82000000u, n <= 0.0);
  let s1 = bitcast<f32>(g + 0x7f000000u);
  if (abs(n) > 192.0) { return s1 * s1; }
  let s2 = bitcast<f32>(e - g);
  return fma_exact(s2, j, s2) * s1;
}
`;

/**
 * glibc's tanhf through its expm1f (fdlibm's, every operation in float): the
 * reference's tanhF32, which ggml's soft-capping calls. Its argument reduction
 * compensates rounding errors against constants (hi - lo, (hi - x) - lo), so every
 * constant goes through `opaque`. Needs EXACT_FLOAT.
 */
export const GLIBC_TANHF = /* wgsl */ `
fn glibc_expm1f(x_in: f32) -> f32 {
  var x = x_in;
  let one = opaque(1.0);
  let half = opaque(0.5);
  let ln2_hi = opaque(${f32Literal(6.9313812256e-1)});
  let ln2_lo = opaque(${f32Literal(9.0580006145e-6)});
  let hx = bitcast<u32>(x) & 0x7fffffffu;
  let negative = x < 0.0;
  if (hx >= 0x4195b844u) {
    if (hx >= 0x42b17218u && x > 88.72167968) { return x * 3.0e38; } // overflows to +inf
    if (negative) { return -one; }
  }
  var k = 0;
  var c = 0.0;
  if (hx > 0x3eb17218u) {
    var hi: f32;
    var lo: f32;
    if (hx < 0x3f851592u) {
      hi = select(x - ln2_hi, x + ln2_hi, negative);
      lo = select(ln2_lo, -ln2_lo, negative);
      k = select(1, -1, negative);
    } else {
      k = i32(trunc(opaque(${f32Literal(1.4426950216)}) * x + select(half, -half, negative)));
      let t = f32(k);
      hi = x - t * ln2_hi;
      lo = t * ln2_lo;
    }
    x = hi - lo;
    c = (hi - x) - lo;
  } else if (hx < 0x33000000u) {
    return x;
  }
  let hfx = half * x;
  let hxs = x * hfx;
  let r1 = one + hxs * (opaque(${f32Literal(-3.3333335072e-2)}) + hxs * (opaque(${f32Literal(1.5873016091e-3)}) +
    hxs * (opaque(${f32Literal(-7.936507609e-5)}) + hxs * (opaque(${f32Literal(4.0082177293e-6)}) +
    hxs * opaque(${f32Literal(-2.0109921195e-7)})))));
  var t = opaque(3.0) - r1 * hfx;
  var e = hxs * div_rn(r1 - t, opaque(6.0) - x * t);
  if (k == 0) { return x - (x * e - hxs); }
  e = x * (e - c) - c;
  e = e - hxs;
  if (k == -1) { return half * (x - e) - half; }
  if (k == 1) {
    if (x < -0.25) { return opaque(-2.0) * (e - (x + half)); }
    return one + opaque(2.0) * (x - e);
  }
  if (k <= -2 || k > 56) {
    let y = one - (e - x);
    return bitcast<f32>(bitcast<i32>(y) + (k << 23u)) - one;
  }
  if (k < 23) {
    t = bitcast<f32>(0x3f800000 - (0x1000000 >> u32(k))); // 1 - 2^-k
    let y = t - (e - x);
    return bitcast<f32>(bitcast<i32>(y) + (k << 23u));
  }
  t = bitcast<f32>((0x7f - k) << 23u); // 2^-k
  let y = (x - (e + t)) + one;
  return bitcast<f32>(bitcast<i32>(y) + (k << 23u));
}
fn glibc_tanhf(x: f32) -> f32 {
  let ix = bitcast<u32>(x) & 0x7fffffffu;
  let one = opaque(1.0);
  let two = opaque(2.0);
  var z = one; // |x| >= 22: 1 - tiny
  if (ix < 0x41b00000u) {
    if (ix == 0u) { return x; }
    if (ix < 0x24000000u) { return x * (one + x); }
    let ax = abs(x);
    if (ix >= 0x3f800000u) {
      let t = glibc_expm1f(two * ax);
      z = one - div_rn(two, t + two);
    } else {
      let t = glibc_expm1f(-two * ax);
      z = div_rn(-t, t + two);
    }
  }
  return select(-z, z, x >= 0.0);
}
`;
