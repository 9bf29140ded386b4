// RoPE's rotation (the reference backend's rope, bit for bit). The angles'
// cosines and sines come from the JS side (glibc's cosf/sinf, mirrored in
// engine/quant/x86-math.ts, past whose range it falls back to Math.cos), as a
// table per row: nDims/2 cosines, then nDims/2 sines, attnFactor applied.
import { fmaf } from './fma';
import { V4 } from './vmath';

/**
 * One pair: x0' = x0*cos - x1*sin, x1' = x0*sin + x1*cos with the first
 * product fused (GCC's contraction of ggml's rotate_pairs).
 */
function rotate(pa: usize, pb: usize, c: f32, s: f32): void {
  const x0 = load<f32>(pa);
  const x1 = load<f32>(pb);
  store<f32>(pa, fmaf(x0, c, -(x1 * s)));
  store<f32>(pb, fmaf(x0, s, x1 * c));
}

/**
 * Rotates the first nDims values of each of nHeads heads (headDim apart) in
 * `rows` rows of `cols` f32 at x: pairs (2i, 2i+1), or (i, i + nDims/2) when
 * neox, by row r's table at table + r * nDims * 4.
 */
export function rope(
  x: usize,
  cols: i32,
  rows: i32,
  nHeads: i32,
  headDim: i32,
  nDims: i32,
  neox: bool,
  table: usize,
): void {
  const half = nDims >> 1;
  for (let r = 0; r < rows; r++) {
    const cosines = table + ((<usize>r * <usize>nDims) << 2);
    const sines = cosines + ((<usize>half) << 2);
    for (let h = 0; h < nHeads; h++) {
      const base = x + ((<usize>(r * cols + h * headDim)) << 2);
      let i = 0;
      for (; i + 4 <= half; i += 4) {
        const c = v128.load(cosines + ((<usize>i) << 2));
        const s = v128.load(sines + ((<usize>i) << 2));
        if (neox) {
          const pa = base + ((<usize>i) << 2);
          const pb = pa + ((<usize>half) << 2);
          const x0 = v128.load(pa);
          const x1 = v128.load(pb);
          v128.store(pa, V4.fma(x0, c, f32x4.neg(f32x4.mul(x1, s))));
          v128.store(pb, V4.fma(x0, s, f32x4.mul(x1, c)));
        } else {
          const p = base + ((<usize>(2 * i)) << 2);
          const v0 = v128.load(p);
          const v1 = v128.load(p, 16);
          const x0 = v128.shuffle<f32>(v0, v1, 0, 2, 4, 6);
          const x1 = v128.shuffle<f32>(v0, v1, 1, 3, 5, 7);
          const a = V4.fma(x0, c, f32x4.neg(f32x4.mul(x1, s)));
          const b = V4.fma(x0, s, f32x4.mul(x1, c));
          v128.store(p, v128.shuffle<f32>(a, b, 0, 4, 1, 5));
          v128.store(p, v128.shuffle<f32>(a, b, 2, 6, 3, 7), 16);
        }
      }
      for (; i < half; i++) {
        const c = load<f32>(cosines + ((<usize>i) << 2));
        const s = load<f32>(sines + ((<usize>i) << 2));
        if (neox) rotate(base + ((<usize>i) << 2), base + ((<usize>(i + half)) << 2), c, s);
        else rotate(base + ((<usize>(2 * i)) << 2), base + ((<usize>(2 * i + 1)) << 2), c, s);
      }
    }
  }
}
