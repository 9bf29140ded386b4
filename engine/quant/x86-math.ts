/**
 * The elementwise float maths of llama.cpp's x86 AVX2 CPU build, bit for bit:
 * - ggml_v_expf (ggml-cpu/vec.h, AVX2+FMA): the vectorized exp approximation
 *   (ARM optimized-routines style, max error ~1.5 ulp) that ggml_vec_swiglu_f32
 *   and ggml_vec_soft_max_f32 use on whole groups of 8 elements;
 * - swigluX86 / softmaxExpSumX86: those two functions, vector part and scalar tail.
 * - expF32: glibc's expf, which the scalar code calls (flash attention's
 *   softmax, the tails of the two functions above). Math.exp rounded to float
 *   differs from it in ~0.1% of inputs.
 */
import { fmaF32 } from './x86.ts';

const fround = Math.fround;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function floatOf(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

const SHIFT = 12582912; // 0x1.8p23
const LOG2E = 0x1715476 * 2 ** -24; // 0x1.715476p+0
const LN2_HI = 0x162e4 * 2 ** -17; // 0x1.62e4p-1
const LN2_LO = 0x17f7d1c * 2 ** -44; // 0x1.7f7d1cp-20
const P0 = 0x10e4020 * 2 ** -31; // 0x1.0e4020p-7
const P1 = 0x1573e2e * 2 ** -29; // 0x1.573e2ep-5
const P2 = 0x1555e66 * 2 ** -27; // 0x1.555e66p-3
const P3 = 0x1fffdb6 * 2 ** -26; // 0x1.fffdb6p-2
const P4 = 0x1ffffec * 2 ** -25; // 0x1.ffffecp-1
const ONE_BITS = 0x3f800000;

/** One lane of ggml_v_expf (AVX2): exp(x) = 2^n * (1 + j), with the same FMAs and bit tricks. */
export function vExpF32(x: number): number {
  const z = fmaF32(x, LOG2E, SHIFT);
  const n = fround(z - SHIFT);
  const b = fmaF32(-n, LN2_LO, fmaF32(-n, LN2_HI, x));
  const e = (bitsOf(z) << 23) | 0;
  const k = floatOf((e + ONE_BITS) | 0);
  const u = fround(b * b);
  const j = fmaF32(fmaF32(fmaF32(P0, b, P1), u, fmaF32(P2, b, P3)), u, fround(P4 * b));
  if (!(Math.abs(n) > 126)) return fmaF32(j, k, k);
  const g = n <= 0 ? 0x82000000 : 0;
  const s1 = floatOf((g + 0x7f000000) | 0);
  if (Math.abs(n) > 192) return fround(s1 * s1);
  const s2 = floatOf((e - g) | 0);
  return fround(fmaF32(s2, j, s2) * s1);
}

/**
 * 2^(i/32) as doubles: glibc's __exp2f_data.tab (ARM optimized-routines), whose
 * entries are the bits of 2^(i/32) minus i << 47.
 */
const EXP2F_TAB = [
  0x3ff0000000000000n,
  0x3fefd9b0d3158574n,
  0x3fefb5586cf9890fn,
  0x3fef9301d0125b51n,
  0x3fef72b83c7d517bn,
  0x3fef54873168b9aan,
  0x3fef387a6e756238n,
  0x3fef1e9df51fdee1n,
  0x3fef06fe0a31b715n,
  0x3feef1a7373aa9cbn,
  0x3feedea64c123422n,
  0x3feece086061892dn,
  0x3feebfdad5362a27n,
  0x3feeb42b569d4f82n,
  0x3feeab07dd485429n,
  0x3feea47eb03a5585n,
  0x3feea09e667f3bcdn,
  0x3fee9f75e8ec5f74n,
  0x3feea11473eb0187n,
  0x3feea589994cce13n,
  0x3feeace5422aa0dbn,
  0x3feeb737b0cdc5e5n,
  0x3feec49182a3f090n,
  0x3feed503b23e255dn,
  0x3feee89f995ad3adn,
  0x3feeff76f2fb5e47n,
  0x3fef199bdd85529cn,
  0x3fef3720dcef9069n,
  0x3fef5818dcfba487n,
  0x3fef7c97337b9b5fn,
  0x3fefa4afa2a490dan,
  0x3fefd0765b6e4540n,
];
export const EXP2_I32 = (() => {
  const f64 = new Float64Array(1);
  const u64 = new BigUint64Array(f64.buffer);
  return Float64Array.from(EXP2F_TAB, (t, i) => {
    u64[0] = t + (BigInt(i) << 47n);
    return f64[0];
  });
})();
export const INV_LN2_N = 0x171547652b82fe * 2 ** -52 * 32; // 0x1.71547652b82fep+0 * N
const SHIFT_D = 0x18000000000000 * 2 ** 0; // 0x1.8p+52
export const EC0 = (0x1c6af84b912394 * 2 ** -57) / 32 ** 3; // 0x1.c6af84b912394p-5 / N^3
export const EC1 = (0x1ebfce50fac4f3 * 2 ** -55) / 32 ** 2; // 0x1.ebfce50fac4f3p-3 / N^2
export const EC2 = (0x162e42ff0c52d6 * 2 ** -53) / 32; // 0x1.62e42ff0c52d6p-1 / N

/**
 * glibc's expf (sysdeps/ieee754/flt-32/e_expf.c, from ARM optimized-routines),
 * which ggml's scalar code calls: x/ln2*32 = k + r, 2^(k/32) from the table,
 * a cubic in r, all in double, rounded once to float. glibc's FMA build fuses
 * the polynomial's multiply-adds; that changes the double result by an ulp at
 * most, which reaches the float result only on a double-precision tie (~2^-29).
 */
export function expF32(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x > 88.72283172607422) return Number.POSITIVE_INFINITY; // 0x1.62e42ep6f
  if (x < -103.97207641601562) return 0; // 0x1.9fe368p6f
  const z = INV_LN2_N * x;
  const kd = z + SHIFT_D - SHIFT_D;
  const r = z - kd;
  const i = kd & 31;
  const s = EXP2_I32[i] * 2 ** ((kd - i) / 32);
  const p = EC0 * r + EC1;
  const r2 = r * r;
  const y = p * r2 + (EC2 * r + 1);
  return fround(y * s);
}

/**
 * ggml_vec_swiglu_f32 in place: gate[i] = silu(gate[i]) * up[i], with
 * ggml_v_silu (x / (1 + v_expf(-x))) on each whole group of 8, expf on the rest.
 */
export function swigluX86(gate: Float32Array, up: Float32Array, offset: number, n: number): void {
  const vectorEnd = n & ~7;
  let i = 0;
  for (; i < vectorEnd; i++) {
    const x = gate[offset + i];
    gate[offset + i] = fround(fround(x / fround(1 + vExpF32(-x))) * up[offset + i]);
  }
  for (; i < n; i++) {
    const x = gate[offset + i];
    gate[offset + i] = fround(fround(x / fround(1 + expF32(-x))) * up[offset + i]);
  }
}

/**
 * ggml_vec_soft_max_f32: y[i] = exp(x[i] - max) and their sum in double, with
 * v_expf and a float horizontal sum per group of 8 (hsum_float_8's order), expf
 * and a double sum for the rest. Returns the sum.
 */
export function softmaxExpSumX86(x: Float64Array | Float32Array, n: number, max: number, y: Float64Array): number {
  let sum = 0;
  let i = 0;
  const v = new Float32Array(8);
  for (; i + 7 < n; i += 8) {
    for (let l = 0; l < 8; l++) {
      v[l] = vExpF32(fround(x[i + l] - max));
      y[i + l] = v[l];
    }
    const r0 = fround(v[4] + v[0]);
    const r1 = fround(v[5] + v[1]);
    const r2 = fround(v[6] + v[2]);
    const r3 = fround(v[7] + v[3]);
    sum += fround(fround(r0 + r2) + fround(r1 + r3));
  }
  for (; i < n; i++) {
    y[i] = expF32(fround(x[i] - max));
    sum += y[i];
  }
  return sum;
}

/**
 * fma(a, b, c) in double, faithfully: Dekker's exact product, then the sum of
 * its two halves and c. Off the correctly rounded result by an ulp at most in
 * rare cases, which the float results below absorb (they keep 24 of 53 bits).
 */
function fma64(a: number, b: number, c: number): number {
  const p = a * b;
  const SPLIT = 134217729; // 2^27 + 1
  const ta = SPLIT * a;
  const ah = ta - (ta - a);
  const al = a - ah;
  const tb = SPLIT * b;
  const bh = tb - (tb - b);
  const bl = b - bh;
  const pErr = al * bl - (p - ah * bh - al * bh - ah * bl);
  const s = p + c;
  const v = s - p;
  const sErr = p - (s - v) + (c - v);
  return s + (sErr + pErr);
}

// glibc's __sincosf_table (ARM optimized-routines): the second entry negates the cosine polynomial.
const HPI_INV = 0x145f306dc9c883 * 2 ** -29; // 0x1.45F306DC9C883p+23: 2/pi scaled by 2^24
const HPI = 0x1921fb54442d18 * 2 ** -52; // 0x1.921FB54442D18p0
const SC_C = [
  [
    1,
    -0x1ffffffd0c621c * 2 ** -54,
    0x155553e1068f19 * 2 ** -57,
    -0x16c087e89a359d * 2 ** -62,
    0x199343027bf8c3 * 2 ** -68,
  ],
  [
    -1,
    0x1ffffffd0c621c * 2 ** -54,
    -0x155553e1068f19 * 2 ** -57,
    0x16c087e89a359d * 2 ** -62,
    -0x199343027bf8c3 * 2 ** -68,
  ],
];
const S1 = -0x1555545995a603 * 2 ** -55; // -0x1.555545995a603p-3
const S2 = 0x11107605230bc4 * 2 ** -59; // 0x1.1107605230bc4p-7
const S3 = -0x1994eb3774cf24 * 2 ** -65; // -0x1.994eb3774cf24p-13
const SIGN = [1, -1, -1, 1];
const PIO4_F = Math.fround(Math.PI / 4);

/** sinf_poly with glibc's FMA build's contractions (every a + b*c fused). */
function sinfPoly(x: number, x2: number, table: number, n: number): number {
  if ((n & 1) === 0) {
    const x3 = x * x2;
    const s1 = fma64(x2, S3, S2);
    const x7 = x3 * x2;
    const s = fma64(x3, S1, x);
    return fround(fma64(x7, s1, s));
  }
  const c = SC_C[table];
  const x4 = x2 * x2;
  const c2 = fma64(x2, c[4], c[3]);
  const c1 = fma64(x2, c[1], c[0]);
  const x6 = x4 * x2;
  const cc = fma64(x4, c[2], c1);
  return fround(fma64(x6, c2, cc));
}

function sinCosF32(y: number, cosine: boolean): number {
  const ay = Math.abs(y);
  if (ay < PIO4_F && bitsOf(ay) >>> 20 < bitsOf(PIO4_F) >>> 20) {
    if (bitsOf(ay) >>> 20 < 0x398) return cosine ? 1 : y; // |y| < 2^-12
    return sinfPoly(y, y * y, 0, cosine ? 1 : 0);
  }
  if (bitsOf(ay) >>> 20 < bitsOf(120) >>> 20) {
    const r = y * HPI_INV;
    const n = ((r | 0) + 0x800000) >> 24; // (int32_t)r truncates
    const x = fma64(-n, HPI, y);
    const s = SIGN[n & 3];
    return sinfPoly(x * s, x * x, n & 2 ? 1 : 0, cosine ? n ^ 1 : n);
  }
  // glibc's large-argument reduction is not mirrored: correctly rounded instead.
  return fround(cosine ? Math.cos(y) : Math.sin(y));
}

/** glibc's sinf (|x| < 120 exactly as its FMA build; beyond, Math.sin rounded). */
export function sinF32(x: number): number {
  return sinCosF32(x, false);
}

/** glibc's cosf (|x| < 120 exactly as its FMA build; beyond, Math.cos rounded). */
export function cosF32(x: number): number {
  return sinCosF32(x, true);
}
