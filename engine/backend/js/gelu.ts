import { f16ToF32, f32ToF16 } from '../../quant/fp16.ts';
import { fmaF32 } from '../../quant/x86.ts';

const f32 = Math.fround;

const bits = new Float32Array(1);
const word = new Int32Array(bits.buffer);
const floatBits = (x: number): number => {
  bits[0] = x;
  return word[0];
};
const bitsFloat = (w: number): number => {
  word[0] = w;
  return bits[0];
};

const LN2_HI = f32(6.9313812256e-1); // 0x3f317180
const LN2_LO = f32(9.0580006145e-6); // 0x3717f7d1
const INV_LN2 = f32(1.4426950216);
const Q1 = f32(-3.3333335072e-2);
const Q2 = f32(1.5873016091e-3);
const Q3 = f32(-7.936507609e-5);
const Q4 = f32(4.0082177293e-6);
const Q5 = f32(-2.0109921195e-7);

/**
 * glibc's expm1f (sysdeps/ieee754/flt-32/s_expm1f.c, fdlibm's), every operation
 * in float: what its tanhf calls. Arguments here are finite and > -27·ln2 or
 * handled by the caller's ranges.
 */
function expm1F32(xIn: number): number {
  let x = xIn;
  const hx = floatBits(x) & 0x7fffffff;
  const negative = x < 0;
  if (hx >= 0x4195b844) {
    // |x| >= 27 ln2
    if (hx >= 0x42b17218 && x > 88.72167968) return Number.POSITIVE_INFINITY;
    if (negative) return -1;
  }
  let k = 0;
  let c = 0;
  if (hx > 0x3eb17218) {
    let hi: number;
    let lo: number;
    if (hx < 0x3f851592) {
      hi = negative ? f32(x + LN2_HI) : f32(x - LN2_HI);
      lo = negative ? -LN2_LO : LN2_LO;
      k = negative ? -1 : 1;
    } else {
      k = Math.trunc(f32(f32(INV_LN2 * x) + (negative ? -0.5 : 0.5)));
      const t = k;
      hi = f32(x - f32(t * LN2_HI));
      lo = f32(t * LN2_LO);
    }
    x = f32(hi - lo);
    c = f32(f32(hi - x) - lo);
  } else if (hx < 0x33000000) {
    return x;
  }
  const hfx = f32(0.5 * x);
  const hxs = f32(x * hfx);
  const r1 = f32(1 + f32(hxs * f32(Q1 + f32(hxs * f32(Q2 + f32(hxs * f32(Q3 + f32(hxs * f32(Q4 + f32(hxs * Q5))))))))));
  let t = f32(3 - f32(r1 * hfx));
  let e = f32(hxs * f32(f32(r1 - t) / f32(6 - f32(x * t))));
  if (k === 0) return f32(x - f32(f32(x * e) - hxs));
  e = f32(f32(x * f32(e - c)) - c);
  e = f32(e - hxs);
  if (k === -1) return f32(f32(0.5 * f32(x - e)) - 0.5);
  if (k === 1) return x < -0.25 ? f32(-2 * f32(e - f32(x + 0.5))) : f32(1 + f32(2 * f32(x - e)));
  if (k <= -2 || k > 56) {
    const y = f32(1 - f32(e - x));
    return f32(bitsFloat(floatBits(y) + (k << 23)) - 1);
  }
  if (k < 23) {
    t = bitsFloat(0x3f800000 - (0x1000000 >> k)); // 1 - 2^-k
    const y = f32(t - f32(e - x));
    return bitsFloat(floatBits(y) + (k << 23));
  }
  t = bitsFloat((0x7f - k) << 23); // 2^-k
  const y = f32(f32(x - f32(e + t)) + 1);
  return bitsFloat(floatBits(y) + (k << 23));
}

/** glibc's tanhf (sysdeps/ieee754/flt-32/s_tanhf.c, fdlibm's), through its expm1f. */
export function tanhF32(x: number): number {
  if (Number.isNaN(x)) return x;
  const ix = floatBits(x) & 0x7fffffff;
  let z: number;
  if (ix < 0x41b00000) {
    // |x| < 22
    if (ix === 0) return x;
    if (ix < 0x24000000) return f32(x * f32(1 + x)); // |x| < 2^-55
    const ax = Math.abs(x);
    if (ix >= 0x3f800000) {
      const t = expm1F32(f32(2 * ax));
      z = f32(1 - f32(2 / f32(t + 2)));
    } else {
      const t = expm1F32(f32(-2 * ax));
      z = f32(-t / f32(t + 2));
    }
  } else {
    z = 1; // 1 - tiny
  }
  return x >= 0 ? z : -z;
}

const GELU_COEF_A = f32(0.044715);
const SQRT_2_OVER_PI = f32(0.7978845608028654);

/**
 * ggml_gelu_f32 as GCC compiles it (contracting 1 + a·x·x into one fma):
 * 0.5x(1 + tanh(sqrt(2/pi)·x·(1 + 0.044715·x²))).
 */
function geluF32(x: number): number {
  const inner = fmaF32(f32(GELU_COEF_A * x), x, 1);
  const t = tanhF32(f32(f32(SQRT_2_OVER_PI * x) * inner));
  return f32(f32(0.5 * x) * f32(1 + t));
}

let table: Uint16Array | undefined;

/**
 * ggml_table_gelu_f16: for every F16 bit pattern, the F16 bits of gelu of that
 * value (ggml_cpu_init fills it; ggml's CPU GELU reads it, GGML_GELU_FP16).
 */
export function geluTableF16(): Uint16Array {
  if (table) return table;
  table = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = f32ToF16(geluF32(f16ToF32(i)));
  return table;
}

/** ggml_vec_gelu_f32's value for one float: 0 below -10, x above 10, else the F16 table. */
export function geluLookup(x: number, t: Uint16Array): number {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  return f16ToF32(t[f32ToF16(x)]);
}
