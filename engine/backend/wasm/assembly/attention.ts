// The KV cache and attention, as ggml's CPU flash attention computes them
// (llama.cpp's default; engine/backend/js onlineSoftmaxWeightedSum): q rounded
// to the cache type, scores q.k * scale, one pass of online softmax, and the
// running weighted sum of V kept in the cache type (rounded to f16 after each
// update with an F16 cache). Bit for bit the reference backend's.
import { dotF16, dotF16Widened, dotF32 } from './dots';
import { fmaf, hsumLanes8, Lanes, roundSum } from './fma';
import { halfLanesLo, halfToF32 } from './half';

/**
 * Each f32 lane rounded to the nearest binary16 value (ties to even), as f32,
 * infinity past 65504 as the conversion gives. Finite values. One f32 add does
 * the rounding: c = 2^(e + 13) for the lane's exponent e (at least f16's -14,
 * whose quantum 2^-24 its subnormals share) has an ulp of 2^(e - 10), f16's
 * quantum at e, and |x| + c stays below 2^(e + 14); the subtraction is exact.
 */
function roundHalf4(f: v128): v128 {
  const abs = v128.and(f, i32x4.splat(0x7fffffff));
  const c = i32x4.add(
    i32x4.max_u(v128.and(abs, i32x4.splat(0x7f800000)), i32x4.splat(0x38800000)),
    i32x4.splat(13 << 23),
  );
  const r = f32x4.sub(f32x4.add(abs, c), c);
  const inf = i32x4.gt_s(r, i32x4.splat(0x477fe000)); // above 65504: 65536 and up
  return v128.or(v128.bitselect(i32x4.splat(0x7f800000), r, inf), v128.and(f, i32x4.splat(0x80000000)));
}

/** roundHalf4 over n values at src (n a multiple of 4), to dst: for tests. */
export function roundHalfLanes(src: usize, n: i32, dst: usize): void {
  for (let i = 0; i < n; i += 4) v128.store(dst + ((<usize>i) << 2), roundHalf4(v128.load(src + ((<usize>i) << 2))));
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

/** The f64 whose bits are hi:lo (64-bit literals do not survive the TypeScript tooling). */
function bits(hi: u32, lo: u32): f64 {
  return reinterpret<f64>(((<u64>hi) << 32) | <u64>lo);
}

/** glibc's 2^(i/32), i = 0..31, as f64 bits (__exp2f_data.tab with i << 47 added back; engine/quant/x86-math.ts). */
function exp2Table(i: i32): f64 {
  switch (i) {
    case 0:
      return bits(0x3ff00000, 0x00000000);
    case 1:
      return bits(0x3ff059b0, 0xd3158574);
    case 2:
      return bits(0x3ff0b558, 0x6cf9890f);
    case 3:
      return bits(0x3ff11301, 0xd0125b51);
    case 4:
      return bits(0x3ff172b8, 0x3c7d517b);
    case 5:
      return bits(0x3ff1d487, 0x3168b9aa);
    case 6:
      return bits(0x3ff2387a, 0x6e756238);
    case 7:
      return bits(0x3ff29e9d, 0xf51fdee1);
    case 8:
      return bits(0x3ff306fe, 0x0a31b715);
    case 9:
      return bits(0x3ff371a7, 0x373aa9cb);
    case 10:
      return bits(0x3ff3dea6, 0x4c123422);
    case 11:
      return bits(0x3ff44e08, 0x6061892d);
    case 12:
      return bits(0x3ff4bfda, 0xd5362a27);
    case 13:
      return bits(0x3ff5342b, 0x569d4f82);
    case 14:
      return bits(0x3ff5ab07, 0xdd485429);
    case 15:
      return bits(0x3ff6247e, 0xb03a5585);
    case 16:
      return bits(0x3ff6a09e, 0x667f3bcd);
    case 17:
      return bits(0x3ff71f75, 0xe8ec5f74);
    case 18:
      return bits(0x3ff7a114, 0x73eb0187);
    case 19:
      return bits(0x3ff82589, 0x994cce13);
    case 20:
      return bits(0x3ff8ace5, 0x422aa0db);
    case 21:
      return bits(0x3ff93737, 0xb0cdc5e5);
    case 22:
      return bits(0x3ff9c491, 0x82a3f090);
    case 23:
      return bits(0x3ffa5503, 0xb23e255d);
    case 24:
      return bits(0x3ffae89f, 0x995ad3ad);
    case 25:
      return bits(0x3ffb7f76, 0xf2fb5e47);
    case 26:
      return bits(0x3ffc199b, 0xdd85529c);
    case 27:
      return bits(0x3ffcb720, 0xdcef9069);
    case 28:
      return bits(0x3ffd5818, 0xdcfba487);
    case 29:
      return bits(0x3ffdfc97, 0x337b9b5f);
    case 30:
      return bits(0x3ffea4af, 0xa2a490da);
    default:
      return bits(0x3fff5076, 0x5b6e4540);
  }
}

/**
 * glibc's expf (engine/quant/x86-math.ts expF32), which ggml's flash attention
 * calls: x/ln2*32 = k + r, 2^(k/32) from the table, a cubic in r, in double,
 * rounded once to float.
 */
export function expF32(x: f32): f32 {
  if (isNaN(x)) return x;
  if (x > reinterpret<f32>(0x42b17217)) return <f32>Infinity; // 0x1.62e42ep6f
  if (x < reinterpret<f32>(0xc2cff1b4)) return 0; // -0x1.9fe368p6f
  const z = bits(0x40471547, 0x652b82fe) * <f64>x; // 32 / ln 2
  const shift = bits(0x43380000, 0x00000000); // 0x1.8p52
  const kd = z + shift - shift;
  const r = z - kd;
  const k = <i64>kd;
  const i = <i32>(k & 31);
  // 2^((k - i) / 32): an exact power of two, normal for every x that gets here
  const s = exp2Table(i) * reinterpret<f64>((<u64>(((k - i) >> 5) + 1023)) << 52);
  const p = bits(0x3ebc6af8, 0x4b912394) * r + bits(0x3f2ebfce, 0x50fac4f3);
  const r2 = r * r;
  const y = p * r2 + (bits(0x3f962e42, 0xff0c52d6) * r + 1);
  return <f32>(y * s);
}

/**
 * q (headDim f32, already rounded to the cache type) . the cached key at kp,
 * as ggml's flash attention computes it: ggml_vec_dot_f16 / ggml_vec_dot_f32
 * in the AVX2 order (dots.ts).
 */
function scoreDot(q: usize, kp: usize, headDim: i32, f16: bool): f32 {
  return f16 ? dotF16(kp, q, headDim) : dotF32(kp, q, headDim);
}

/** An f32 from its bits. */
function f32Bits(bits: u32): f32 {
  return reinterpret<f32>(bits);
}

/**
 * One lane of ggml_v_expf (AVX2; engine/quant/x86-math.ts vExpF32): exp(x) =
 * 2^n * (1 + j) with the same FMAs and bit tricks, infinities and NaN included.
 */
export function vExpF32(x: f32): f32 {
  const z = fmaf(x, f32Bits(0x3fb8aa3b), f32Bits(0x4b400000)); // x * log2(e) + 0x1.8p23
  const n = z - f32Bits(0x4b400000);
  const b = fmaf(-n, f32Bits(0x35bfbe8e), fmaf(-n, f32Bits(0x3f317200), x)); // x - n * ln 2 (hi, lo)
  const e = reinterpret<u32>(z) << 23;
  const k = reinterpret<f32>(e + 0x3f800000);
  const u = b * b;
  const j = fmaf(
    fmaf(fmaf(f32Bits(0x3c072010), b, f32Bits(0x3d2b9f17)), u, fmaf(f32Bits(0x3e2aaf33), b, f32Bits(0x3efffedb))),
    u,
    f32Bits(0x3f7ffff6) * b,
  );
  if (!(Mathf.abs(n) > 126)) return fmaf(j, k, k);
  const g: u32 = n <= 0 ? 0x82000000 : 0;
  const s1 = reinterpret<f32>(g + 0x7f000000);
  if (Mathf.abs(n) > 192) return s1 * s1;
  const s2 = reinterpret<f32>(e - g);
  return fmaf(s2, j, s2) * s1;
}

/** Steps of the online softmax that every attention path takes alike, inlined into them. */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class Softmax {
  /** ggml_vec_scale_f16 / f32: the running sum of V (headDim f32 at acc) times ms, to F16 with an F16 cache. */
  @inline static rescale(acc: usize, headDim: i32, ms: f32, f16: bool): void {
    const m = f32x4.splat(ms);
    for (let d = 0; d < headDim; d += 4) {
      const p = acc + ((<usize>d) << 2);
      const y = f32x4.mul(v128.load(p), m);
      v128.store(p, f16 ? roundHalf4(y) : y);
    }
  }

  /** The head's output row: the running sum of V over the sum of weights (0 where that is 0). */
  @inline static finish(acc: usize, headDim: i32, sum: f32, out: usize): void {
    const inv: f32 = sum === 0 ? 0 : <f32>1 / sum;
    for (let d = 0; d < headDim; d += 4) {
      v128.store(out + ((<usize>d) << 2), f32x4.mul(v128.load(acc + ((<usize>d) << 2)), f32x4.splat(inv)));
    }
  }
}

/** Query and KV tile size of ggml's tiled CPU flash attention (GGML_FA_TILE_Q, GGML_FA_TILE_KV). */
export const FA_TILE: i32 = 64;

/** Bytes of attention scratch per head: q rounded and the running sum (headDim f32 each), a tile's scores (f32) and weights (f64). */
export function attentionScratchPerHead(headDim: i32): i32 {
  // q, the running sum of V, a tile's scores and weights; then K and V rows as f32 (attendGroup)
  return 16 * headDim + 12 * FA_TILE;
}

/**
 * ggml_compute_forward_flash_attn_ext_tiled for one query row and head (what
 * llama.cpp runs for batches of 64 queries and more with an F16 cache; the
 * reference backend's tiledAttentionRow): q stays f32; per tile of 64 cache
 * cells each score is an fmaf chain over the head, scaled; the maximum moves as
 * in online softmax, the tile's weights are ggml_vec_soft_max_f32's (v_expf,
 * hsum_float_8 per 8, summed in double), and V is added to an f32 accumulator
 * by fmaf, cell by cell.
 */
function tiledRow(
  qp: usize,
  kc: usize,
  vc: usize,
  kvWidth: i32,
  kvOff: usize,
  headDim: i32,
  nKv: i32,
  scale: f32,
  out: usize,
  scratch: usize,
): void {
  const acc = scratch;
  const kq = scratch + ((<usize>headDim) << 2);
  const prob = kq + ((<usize>FA_TILE) << 2);
  for (let d = 0; d < headDim; d += 4) v128.store(acc + ((<usize>d) << 2), f32x4.splat(0));
  let M = -Infinity as f32;
  let S: f32 = 0;
  for (let t0 = 0; t0 < nKv; t0 += FA_TILE) {
    let tileMax = -Infinity as f32;
    for (let c = 0; c < FA_TILE; c++) {
      const j = t0 + c;
      let sc = -Infinity as f32;
      if (j < nKv) {
        const kp = kc + ((<usize>j * <usize>kvWidth + kvOff) << 1);
        let a: f64 = 0;
        for (let d = 0; d < headDim; d++) {
          const kd = <f64>halfToF32(load<u16>(kp + ((<usize>d) << 1)));
          a = roundSum(kd * <f64>load<f32>(qp + ((<usize>d) << 2)), a);
        }
        sc = <f32>a * scale;
        if (sc > tileMax) tileMax = sc;
      }
      store<f32>(kq + ((<usize>c) << 2), sc);
    }
    const mNew = max(M, tileMax);
    if (mNew > M) {
      const ms = expF32(M - mNew);
      Softmax.rescale(acc, headDim, ms, false);
      S = S * ms;
    }
    M = mNew;
    let sum: f64 = 0;
    for (let c = 0; c < FA_TILE; c += 8) {
      // the exps replace their scores in kq, then hsum_float_8 of the eight
      for (let l = 0; l < 8; l++) {
        const at = kq + ((<usize>(c + l)) << 2);
        const v = vExpF32(load<f32>(at) - M);
        store<f64>(prob + ((<usize>(c + l)) << 3), v);
        store<f32>(at, v);
      }
      const g = kq + ((<usize>c) << 2);
      sum += <f64>hsumLanes8(v128.load(g), v128.load(g, 16));
    }
    S = <f32>(<f64>S + sum);
    const end = min(nKv, t0 + FA_TILE);
    for (let d = 0; d < headDim; d += 4) {
      const p = acc + ((<usize>d) << 2);
      const a = v128.load(p);
      let aLo = Lanes.lowF32(a);
      let aHi = Lanes.highF32(a);
      for (let j = t0; j < end; j++) {
        const v = halfLanesLo(v128.load64_zero(vc + ((<usize>j * <usize>kvWidth + kvOff + <usize>d) << 1)));
        const w = f64x2.splat(load<f64>(prob + ((<usize>(j - t0)) << 3)));
        aLo = Lanes.fma(aLo, f64x2.mul(Lanes.lowF32(v), w));
        aHi = Lanes.fma(aHi, f64x2.mul(Lanes.highF32(v), w));
      }
      v128.store(p, v128.shuffle<i32>(f32x4.demote_f64x2_zero(aLo), f32x4.demote_f64x2_zero(aHi), 0, 1, 4, 5));
    }
  }
  Softmax.finish(acc, headDim, S, out);
}

/**
 * The non-tiled F16 path of attentionHeads for query row r and the heads
 * [hA, hB), which share the K and V rows at kvOff (grouped-query attention),
 * with the fused relaxed_madd: each cache row is widened to f32 once for all of
 * them rather than once per head; per head the same operations in the same
 * order as the one-head loop, so the same bits. Per head its scratch keeps q,
 * the running sum of V, and its running maximum and sum; the widened rows go to
 * head hA's scratch.
 */
function attendGroup(
  kc: usize,
  vc: usize,
  q: usize,
  qCols: i32,
  r: i32,
  nKv: i32,
  kvWidth: i32,
  kvOff: usize,
  headDim: i32,
  scale: f32,
  out: usize,
  outCols: i32,
  scratch: usize,
  hA: i32,
  hB: i32,
): void {
  if (!ASC_FEATURE_RELAXED_SIMD) return;
  const per = <usize>attentionScratchPerHead(headDim);
  const hd = <usize>headDim;
  // per head: q at 0, acc at 4 hd, max and sum at 8 hd
  const kf = scratch + <usize>hA * per + (hd << 3) + 12 * <usize>FA_TILE;
  const vf = kf + (hd << 2);
  for (let h = hA; h < hB; h++) {
    const qh = scratch + <usize>h * per;
    const qp = q + ((<usize>(r * qCols + h * headDim)) << 2);
    for (let d: usize = 0; d < hd; d += 4) {
      v128.store(qh + (d << 2), roundHalf4(v128.load(qp + (d << 2))));
      v128.store(qh + (hd << 2) + (d << 2), f32x4.splat(0));
    }
    store<f32>(qh + (hd << 3), -Infinity);
    store<f32>(qh + (hd << 3), 0, 4);
  }
  for (let j = 0; j < nKv; j++) {
    const row = <usize>j * <usize>kvWidth + kvOff;
    const kp = kc + (row << 1);
    const vp = vc + (row << 1);
    for (let d: usize = 0; d < hd; d += 4) {
      v128.store(kf + (d << 2), halfLanesLo(v128.load64_zero(kp + (d << 1))));
      v128.store(vf + (d << 2), halfLanesLo(v128.load64_zero(vp + (d << 1))));
    }
    for (let h = hA; h < hB; h++) {
      const qh = scratch + <usize>h * per;
      const acc = qh + (hd << 2);
      const state = qh + (hd << 3);
      let max = load<f32>(state);
      const s = dotF16Widened(kf, qh, headDim) * scale;
      let ms: f32 = 1;
      let vs: f32 = 1;
      if (s > max) {
        ms = expF32(max - s);
        max = s;
        store<f32>(state, max);
        Softmax.rescale(acc, headDim, ms, true);
      } else {
        vs = expF32(s - max);
      }
      const w = f32x4.splat(vs);
      for (let d: usize = 0; d < hd; d += 4) {
        const p = acc + (d << 2);
        v128.store(p, roundHalf4(f32x4.relaxed_madd(v128.load(vf + (d << 2)), w, v128.load(p))));
      }
      store<f32>(state, load<f32>(state, 4) * ms + vs, 4);
    }
  }
  for (let h = hA; h < hB; h++) {
    const qh = scratch + <usize>h * per;
    const acc = qh + (hd << 2);
    Softmax.finish(acc, headDim, load<f32>(qh + (hd << 3), 4), out + ((<usize>(r * outCols + h * headDim)) << 2));
  }
}

/**
 * Causal attention of `rows` query rows (rows of qCols f32, heads of headDim)
 * at positions[r], over cache positions 0..positions[r] of the layer's caches
 * kc, vc (rows of nKvHeads*headDim), as ggml's CPU flash attention (and so the
 * reference backend's onlineSoftmaxWeightedSum) computes it, bit for bit: one
 * pass of online softmax with glibc's expf, the running sum S = S*ms + vs (not
 * fused), and V accumulated with fmaf in the cache type (rounded to f16 after every
 * update with an F16 cache); with an F16 cache and 64 rows or more, ggml's
 * tiled kernel instead (tiledRow). Writes rows of outCols f32. `scratch` holds
 * attentionScratchPerHead(headDim) bytes per head. headDim % 8 == 0. Only heads h0..h1-1: all of them,
 * or one thread's share (heads write disjoint outputs and scratch).
 */
export function attentionHeads(
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
  h0: i32,
  h1: i32,
  fused: bool,
): void {
  const kvWidth = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const es: usize = f16 ? 2 : 4;
  // llama.cpp's flash attention over a batch of 64 queries or more is its tiled kernel
  const tiled = f16 && rows >= FA_TILE;
  if (ASC_FEATURE_RELAXED_SIMD && fused && f16 && !tiled && group > 1) {
    // Heads that share K and V rows (grouped-query attention) go through the cache together.
    for (let r = 0; r < rows; r++) {
      const nKv = load<i32>(positions + ((<usize>r) << 2)) + 1;
      for (let h = h0; h < h1; ) {
        const last = min(h1, (h / group + 1) * group);
        const kvOff = <usize>((h / group) * headDim);
        attendGroup(kc, vc, q, qCols, r, nKv, kvWidth, kvOff, headDim, scale, out, outCols, scratch, h, last);
        h = last;
      }
    }
    return;
  }
  for (let h = h0; h < h1; h++) {
    const qh = scratch + <usize>(h * attentionScratchPerHead(headDim));
    const acc = qh + ((<usize>headDim) << 2);
    for (let r = 0; r < rows; r++) {
      const nKv = load<i32>(positions + ((<usize>r) << 2)) + 1;
      if (tiled) {
        const qp = q + ((<usize>(r * qCols + h * headDim)) << 2);
        const op = out + ((<usize>(r * outCols + h * headDim)) << 2);
        tiledRow(qp, kc, vc, kvWidth, <usize>((h / group) * headDim), headDim, nKv, scale, op, qh);
        continue;
      }
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
          ms = expF32(max - s);
          max = s;
          Softmax.rescale(acc, headDim, ms, f16);
        } else {
          vs = expF32(s - max);
        }
        // ggml_vec_mad_f16 / f32: acc = fmaf(v, vs, acc), then to F16
        const w = f64x2.splat(<f64>vs);
        const vp = vc + row * es;
        for (let d = 0; d < headDim; d += 4) {
          const o = <usize>d;
          const v = f16 ? halfLanesLo(v128.load64_zero(vp + (o << 1))) : v128.load(vp + (o << 2));
          const p = acc + (o << 2);
          const a = v128.load(p);
          if (ASC_FEATURE_RELAXED_SIMD && fused) {
            // The host's fused relaxed_madd is fmaf itself (kernels.ts hasFusedMadd).
            const y = f32x4.relaxed_madd(v, f32x4.splat(vs), a);
            v128.store(p, f16 ? roundHalf4(y) : y);
            continue;
          }
          // With an F16 cache acc and v are f16 values: no sum reaches f32's subnormal range inexactly.
          const pl = f64x2.mul(Lanes.lowF32(v), w);
          const ph = f64x2.mul(Lanes.highF32(v), w);
          const lo = f16 ? Lanes.fma(Lanes.lowF32(a), pl) : Lanes.fmaAny(Lanes.lowF32(a), pl);
          const hi = f16 ? Lanes.fma(Lanes.highF32(a), ph) : Lanes.fmaAny(Lanes.highF32(a), ph);
          const y = v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
          v128.store(p, f16 ? roundHalf4(y) : y);
        }
        sum = sum * ms + vs; // a float product then a float sum: ggml_flash_attn_ext does not contract it
      }
      Softmax.finish(acc, headDim, sum, out + ((<usize>(r * outCols + h * headDim)) << 2));
    }
  }
}
