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
 * of `a*b - p` into an fma): what WGSL specifies and what SwiftShader does; the
 * tests compare the results bit for bit with the reference's.
 */
export const EXACT_FLOAT = /* wgsl */ `
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
  return `vec2f(${f32Literal(hi)}, ${f32Literal(x - hi)})`;
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
const EXP2_TAB = array<vec2f, 32>(${Array.from(EXP2_I32, ff).join(', ')});
fn glibc_expf(x: f32) -> f32 {
  if (x > 88.72283172607422) { return x * 3.0e38; } // overflows to +inf (a constant inf is not valid WGSL)
  if (x < -103.97207641601562) { return 0.0; }
  let z = ff_mul(${ff(INV_LN2_N)}, vec2f(x, 0.0));
  let kd = round(z.x);
  let r = fast_two_sum(z.x - kd, z.y);
  let k = i32(kd);
  let i = k & 31;
  let p = ff_add(ff_mul(${ff(EC0)}, r), ${ff(EC1)});
  let y = ff_add(ff_mul(p, ff_mul(r, r)), ff_add(ff_mul(${ff(EC2)}, r), vec2f(1.0, 0.0)));
  let s = ff_mul(y, EXP2_TAB[i]);
  return ldexp(s.x + s.y, (k - i) / 32);
}
`;
