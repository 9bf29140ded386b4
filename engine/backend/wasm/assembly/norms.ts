// RMSNorm and LayerNorm as ggml's CPU backend computes them (the reference
// backend's rmsNorm / layerNorm, bit for bit): sums in double, in order, of
// float values; the scaling in float. eps arrives as the f64 it is in
// JavaScript, because mean + eps is summed in double before its rounding.
import { hsumLanes8 } from './fma';

/** out[i] = x[i] * scale * g[i] (and + b[i] when b is not 0) over n values, each product rounded. */
function scaleRow(x: usize, scale: f32, g: usize, b: usize, n: i32, out: usize): void {
  const s = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const at = (<usize>i) << 2;
    let y = f32x4.mul(f32x4.mul(v128.load(x + at), s), v128.load(g + at));
    if (b !== 0) y = f32x4.add(y, v128.load(b + at));
    v128.store(out + at, y);
  }
  for (; i < n; i++) {
    const at = (<usize>i) << 2;
    let y = load<f32>(x + at) * scale * load<f32>(g + at);
    if (b !== 0) y += load<f32>(b + at);
    store<f32>(out + at, y);
  }
}

/**
 * ggml_rms_norm then the weight, on `rows` rows of n: the float squares summed
 * in double one by one (ggml_float), mean and 1/sqrt(mean + eps) in float.
 */
export function rmsNorm(x: usize, g: usize, n: i32, rows: i32, eps: f64, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>n) << 2);
    let sum: f64 = 0;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(xr + ((<usize>i) << 2));
      const sq = f32x4.mul(v, v);
      sum += <f64>f32x4.extract_lane(sq, 0);
      sum += <f64>f32x4.extract_lane(sq, 1);
      sum += <f64>f32x4.extract_lane(sq, 2);
      sum += <f64>f32x4.extract_lane(sq, 3);
    }
    for (; i < n; i++) {
      const v = load<f32>(xr + ((<usize>i) << 2));
      sum += <f64>(v * v);
    }
    const mean = <f32>(sum / <f64>n);
    const scale = <f32>1 / Mathf.sqrt(<f32>(<f64>mean + eps));
    scaleRow(xr, scale, g, 0, n, out + ((<usize>r * <usize>n) << 2));
  }
}

/**
 * ggml_norm then weight and bias, on `rows` rows of n: the mean from a double
 * sum; x - mean into out and the sum of its squares as ggml_vec_cvar_f32 (AVX2)
 * forms it: each group of 8 reduced in float as hsum_float_8, the groups and
 * the tail summed in double.
 */
export function layerNorm(x: usize, g: usize, b: usize, n: i32, rows: i32, eps: f64, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>n) << 2);
    const or = out + ((<usize>r * <usize>n) << 2);
    let sum: f64 = 0;
    for (let i = 0; i < n; i++) sum += <f64>load<f32>(xr + ((<usize>i) << 2));
    const mean = <f32>(<f64>(<f32>sum) / <f64>n);
    const m = f32x4.splat(mean);
    let squares: f64 = 0;
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const at = (<usize>i) << 2;
      const lo = f32x4.sub(v128.load(xr + at), m);
      const hi = f32x4.sub(v128.load(xr + at, 16), m);
      v128.store(or + at, lo);
      v128.store(or + at, hi, 16);
      squares += <f64>hsumLanes8(f32x4.mul(lo, lo), f32x4.mul(hi, hi));
    }
    for (; i < n; i++) {
      const at = (<usize>i) << 2;
      const v = load<f32>(xr + at) - mean;
      store<f32>(or + at, v);
      squares += <f64>(v * v);
    }
    const variance = <f32>(squares / <f64>n);
    const scale = <f32>1 / Mathf.sqrt(<f32>(<f64>variance + eps));
    scaleRow(or, scale, g, b, n, or);
  }
}
