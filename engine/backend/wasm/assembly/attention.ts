// The KV cache and attention, as ggml's CPU flash attention computes them
// (llama.cpp's default; engine/backend/js onlineSoftmaxWeightedSum): q rounded
// to the cache type, scores q.k * scale, one pass of online softmax, and the
// running weighted sum of V kept in the cache type (rounded to f16 after each
// update with an F16 cache). Differences from the reference: sums in f32 SIMD
// order, and v * w + acc with two roundings where ggml uses fmaf.
import { halfLanesHi, halfLanesLo } from './half';

/** Each f32 lane rounded to the nearest binary16 value (ties to even), as f32. Finite values. */
function roundHalf4(f: v128): v128 {
  const absf = v128.and(f, i32x4.splat(0x7fffffff));
  let base = f32x4.mul(
    f32x4.mul(absf, f32x4.splat(reinterpret<f32>(0x77800000))),
    f32x4.splat(reinterpret<f32>(0x08800000)),
  );
  const shl1 = i32x4.shl(f, 1);
  const bias = i32x4.max_u(v128.and(shl1, i32x4.splat(0xff000000)), i32x4.splat(0x71000000));
  base = f32x4.add(i32x4.add(i32x4.shr_u(bias, 1), i32x4.splat(0x07800000)), base);
  const nonsign = i32x4.add(v128.and(i32x4.shr_u(base, 13), i32x4.splat(0x7c00)), v128.and(base, i32x4.splat(0x0fff)));
  // back to f32: as halfLanes
  const em = nonsign;
  const mag = f32x4.mul(i32x4.shl(em, 13), f32x4.splat(reinterpret<f32>(0x77800000)));
  return v128.or(mag, v128.and(f, i32x4.splat(0x80000000)));
}

/** binary16 bits of each f32 lane (finite values), in the low 16 bits of each i32 lane. */
function toHalf4(f: v128): v128 {
  const absf = v128.and(f, i32x4.splat(0x7fffffff));
  let base = f32x4.mul(
    f32x4.mul(absf, f32x4.splat(reinterpret<f32>(0x77800000))),
    f32x4.splat(reinterpret<f32>(0x08800000)),
  );
  const shl1 = i32x4.shl(f, 1);
  const bias = i32x4.max_u(v128.and(shl1, i32x4.splat(0xff000000)), i32x4.splat(0x71000000));
  base = f32x4.add(i32x4.add(i32x4.shr_u(bias, 1), i32x4.splat(0x07800000)), base);
  const nonsign = i32x4.add(v128.and(i32x4.shr_u(base, 13), i32x4.splat(0x7c00)), v128.and(base, i32x4.splat(0x0fff)));
  return v128.or(nonsign, i32x4.shr_u(v128.and(f, i32x4.splat(0x80000000)), 16));
}

/**
 * Stores `rows` rows of k and v (width f32 each) at positions[r] (i32 array)
 * into the layer's caches kc and vc (nCtx x width, f16 or f32). width % 8 == 0.
 */
export function kvStore(
  kc: usize,
  vc: usize,
  k: usize,
  v: usize,
  width: i32,
  rows: i32,
  positions: usize,
  f16: bool,
): void {
  for (let r = 0; r < rows; r++) {
    const pos = <usize>load<i32>(positions + ((<usize>r) << 2));
    const src = (<usize>(r * width)) << 2;
    if (f16) {
      const dst = (pos * <usize>width) << 1;
      for (let i = 0; i < width; i += 8) {
        const o = <usize>i;
        const k8 = i16x8.narrow_i32x4_u(
          toHalf4(v128.load(k + src + (o << 2))),
          toHalf4(v128.load(k + src + (o << 2), 16)),
        );
        const v8 = i16x8.narrow_i32x4_u(
          toHalf4(v128.load(v + src + (o << 2))),
          toHalf4(v128.load(v + src + (o << 2), 16)),
        );
        v128.store(kc + dst + (o << 1), k8);
        v128.store(vc + dst + (o << 1), v8);
      }
    } else {
      const dst = (pos * <usize>width) << 2;
      memory.copy(kc + dst, k + src, (<usize>width) << 2);
      memory.copy(vc + dst, v + src, (<usize>width) << 2);
    }
  }
}

/** q (headDim f32, already rounded) . the cached key at kp. headDim % 8 == 0. */
function scoreDot(q: usize, kp: usize, headDim: i32, f16: bool): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  for (let d = 0; d < headDim; d += 8) {
    const o = <usize>d;
    let k0: v128;
    let k1: v128;
    if (f16) {
      const h = v128.load(kp + (o << 1));
      k0 = halfLanesLo(h);
      k1 = halfLanesHi(h);
    } else {
      k0 = v128.load(kp + (o << 2));
      k1 = v128.load(kp + (o << 2), 16);
    }
    s0 = f32x4.add(s0, f32x4.mul(v128.load(q + (o << 2)), k0));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(q + (o << 2), 16), k1));
  }
  const s = f32x4.add(s0, s1);
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
}

/**
 * Causal attention of `rows` query rows (rows of qCols f32, heads of headDim)
 * at positions[r], over cache positions 0..positions[r] of the layer's caches
 * kc, vc (rows of nKvHeads*headDim). Writes rows of outCols f32. `scratch`
 * holds 2*headDim f32. headDim % 8 == 0.
 */
export function attention(
  kc: usize,
  vc: usize,
  q: usize,
  qCols: i32,
  rows: i32,
  positions: usize,
  nHeads: i32,
  nKvHeads: i32,
  headDim: i32,
  scale: f32,
  f16: bool,
  out: usize,
  outCols: i32,
  scratch: usize,
): void {
  const kvWidth = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const es: usize = f16 ? 2 : 4;
  const qh = scratch;
  const acc = scratch + ((<usize>headDim) << 2);
  for (let r = 0; r < rows; r++) {
    const nKv = load<i32>(positions + ((<usize>r) << 2)) + 1;
    for (let h = 0; h < nHeads; h++) {
      const kvOff = <usize>((h / group) * headDim);
      const qp = q + ((<usize>(r * qCols + h * headDim)) << 2);
      for (let d = 0; d < headDim; d += 4) {
        const x = v128.load(qp + ((<usize>d) << 2));
        v128.store(qh + ((<usize>d) << 2), f16 ? roundHalf4(x) : x);
        v128.store(acc + ((<usize>d) << 2), f32x4.splat(0));
      }
      let max = -Infinity as f32;
      let sum: f32 = 0;
      for (let j = 0; j < nKv; j++) {
        const row = <usize>j * <usize>kvWidth + kvOff;
        const s = scoreDot(qh, kc + row * es, headDim, f16) * scale;
        let ms: f32 = 1;
        let vs: f32 = 1;
        if (s > max) {
          ms = Mathf.exp(max - s);
          max = s;
          const m = f32x4.splat(ms);
          for (let d = 0; d < headDim; d += 4) {
            const p = acc + ((<usize>d) << 2);
            const y = f32x4.mul(v128.load(p), m);
            v128.store(p, f16 ? roundHalf4(y) : y);
          }
        } else {
          vs = Mathf.exp(s - max);
        }
        const w = f32x4.splat(vs);
        const vp = vc + row * es;
        for (let d = 0; d < headDim; d += 8) {
          const o = <usize>d;
          let v0: v128;
          let v1: v128;
          if (f16) {
            const hv = v128.load(vp + (o << 1));
            v0 = halfLanesLo(hv);
            v1 = halfLanesHi(hv);
          } else {
            v0 = v128.load(vp + (o << 2));
            v1 = v128.load(vp + (o << 2), 16);
          }
          const p = acc + (o << 2);
          const y0 = f32x4.add(f32x4.mul(v0, w), v128.load(p));
          const y1 = f32x4.add(f32x4.mul(v1, w), v128.load(p, 16));
          v128.store(p, f16 ? roundHalf4(y0) : y0);
          v128.store(p, f16 ? roundHalf4(y1) : y1, 16);
        }
        sum = sum * ms + vs;
      }
      const inv: f32 = sum === 0 ? 0 : <f32>1 / sum;
      const op = out + ((<usize>(r * outCols + h * headDim)) << 2);
      for (let d = 0; d < headDim; d += 4) {
        v128.store(op + ((<usize>d) << 2), f32x4.mul(v128.load(acc + ((<usize>d) << 2)), f32x4.splat(inv)));
      }
    }
  }
}

/** gate = silu(gate) * up over n values: x / (1 + exp(-x)) * u. */
export function swiglu(gate: usize, up: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = (<usize>i) << 2;
    const x = load<f32>(gate + p);
    store<f32>(gate + p, (x / (<f32>1 + Mathf.exp(-x))) * load<f32>(up + p));
  }
}
