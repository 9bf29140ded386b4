// The element-wise ops of a layer, bit for bit the reference backend's
// (engine/backend/js/index.ts): SwiGLU as ggml_vec_swiglu_f32 (AVX2), GELU and
// GeGLU through ggml's F16 table, and the plain f32 sums and products.
import { expF32 } from './attention';
import { f32ToHalf, halfToF32 } from './half';
import { vExp4 } from './vmath';

/**
 * ggml_vec_swiglu_f32 on `rows` rows of n: gate = silu(gate) * up in place,
 * silu(x) = x / (1 + exp(-x)) with ggml_v_expf on each row's whole groups of 8
 * and glibc's expf on the rest (engine/quant/x86-math.ts swigluX86).
 */
export function swiglu(gate: usize, up: usize, n: i32, rows: i32): void {
  swigluChunk(gate, up, n, rows, 0, 1);
}

/**
 * Chunk `rem` of `chunks` of swiglu: whole rows when there are at least as
 * many as chunks, else a range of the one row's values, cut at multiples of 8
 * so that each value takes the same path (vector or scalar tail) as in one pass.
 */
export function swigluChunk(gate: usize, up: usize, n: i32, rows: i32, rem: i32, chunks: i32): void {
  const vectorEnd = n & ~7;
  const one = f32x4.splat(1);
  let r0 = 0;
  let r1 = rows;
  let i0 = 0;
  let i1 = n;
  if (rows >= chunks) {
    r0 = (rows * rem) / chunks;
    r1 = (rows * (rem + 1)) / chunks;
  } else {
    i0 = (((vectorEnd >> 3) * rem) / chunks) << 3;
    i1 = rem === chunks - 1 ? n : (((vectorEnd >> 3) * (rem + 1)) / chunks) << 3;
  }
  for (let r = r0; r < r1; r++) {
    const g = gate + ((<usize>r * <usize>n) << 2);
    const u = up + ((<usize>r * <usize>n) << 2);
    let i = i0;
    for (; i < min(i1, vectorEnd); i += 4) {
      const at = (<usize>i) << 2;
      const x = v128.load(g + at);
      const silu = f32x4.div(x, f32x4.add(one, vExp4(f32x4.neg(x))));
      v128.store(g + at, f32x4.mul(silu, v128.load(u + at)));
    }
    for (; i < i1; i++) {
      const at = (<usize>i) << 2;
      const x = load<f32>(g + at);
      store<f32>(g + at, (x / (1 + expF32(-x))) * load<f32>(u + at));
    }
  }
}

/** ggml_vec_gelu_f32's value: 0 at -10 and below, x from 10 on, else the F16 table's (table: 65536 u16). */
function geluLookup(x: f32, table: usize): f32 {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  return halfToF32(load<u16>(table + ((<usize>f32ToHalf(x)) << 1)));
}

/** x = gelu(x) over n values, through ggml's F16 table (engine/backend/js/gelu.ts geluTableF16). */
export function gelu(x: usize, n: i32, table: usize): void {
  for (let i = 0; i < n; i++) {
    const p = x + ((<usize>i) << 2);
    store<f32>(p, geluLookup(load<f32>(p), table));
  }
}

/** ggml_vec_geglu_f32: gate = gelu(gate) * up over n values. */
export function geglu(gate: usize, up: usize, n: i32, table: usize): void {
  for (let i = 0; i < n; i++) {
    const p = gate + ((<usize>i) << 2);
    store<f32>(p, geluLookup(load<f32>(p), table) * load<f32>(up + ((<usize>i) << 2)));
  }
}

/** x += y over n values. */
export function addRows(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const at = (<usize>i) << 2;
    v128.store(x + at, f32x4.add(v128.load(x + at), v128.load(y + at)));
  }
  for (; i < n; i++) {
    const at = (<usize>i) << 2;
    store<f32>(x + at, load<f32>(x + at) + load<f32>(y + at));
  }
}

/** Each of `rows` rows of n at x plus the same n values at b. */
export function addBias(x: usize, b: usize, n: i32, rows: i32): void {
  for (let r = 0; r < rows; r++) addRows(x + ((<usize>r * <usize>n) << 2), b, n);
}

/** x *= s over n values. */
export function scaleRows(x: usize, n: i32, s: f32): void {
  const v = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const at = (<usize>i) << 2;
    v128.store(x + at, f32x4.mul(v128.load(x + at), v));
  }
  for (; i < n; i++) {
    const at = (<usize>i) << 2;
    store<f32>(x + at, load<f32>(x + at) * s);
  }
}
