import { f16ToF32, f32ToF16 } from '../../quant/fp16.ts';
import { fmaF32 } from '../../quant/x86.ts';

const f32 = Math.fround;

/** tanhf for a float argument: tanh in double, rounded once to float. */
export function tanhF32(x: number): number {
  return f32(Math.tanh(x));
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
