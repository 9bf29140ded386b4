/**
 * K-quant dot products as llama.cpp's x86 AVX2 build computes them (see x86.ts
 * for why the float order matters).
 *
 * Q2_K: on AVX2 llama.cpp does not repack Q2_K (ggml_repack_get_optimal_repack_type
 * repacks it only with AVX-512), so ggml_vec_dot_q2_K_q8_K (arch/x86/quants.c)
 * runs. Per super-block it keeps 8 float lanes:
 *   lane k += dmin' · (min[2k]·bsum[2k] + min[2k+1]·bsum[2k+1])     (one FMA, dmin' = -(dy·dmin))
 *   lane k += d · Σ_{16-element group g} scale[g] · Σ q2·q8 over the 4 elements
 *            at 4k..4k+3 of each 32-element chunk                   (one FMA, d = dy·dx)
 * where lanes 0-3 take the first 16 elements of a chunk (scale 2l of its half)
 * and lanes 4-7 the last 16 (scale 2l+1). The integer sums are exact; only the
 * two FMAs per lane and the final hsum_float_8 round. The generic code instead
 * rounds dall·isum − dmin·summs once per super-block.
 *
 * Q3_K, Q5_K and Q6_K (ggml_vec_dot_{q3_K,q5_K,q6_K}_q8_K; not repacked on x86)
 * lay out their integer sums the same way: lane k += d · sumi[k], one FMA per
 * super-block, then hsum_float_8 (Q5_K adds its mins from a scalar sum, Q6_K
 * takes its −32 offset out per lane). Q4_K is not here: on AVX2 llama.cpp
 * repacks it (ggml_gemv_q4_K_8x8_q8_K), another float order.
 */
import { f16ToF32 } from './fp16.ts';
import { fmaF32, hsumF32x8 } from './x86.ts';

const fround = Math.fround;
const Q2_K_SIZE = 84; // scales[16], qs[64], d, dmin
const Q8_K_SIZE = 292; // d (f32), qs[256], bsums[16] (i16)
const Q3_K_SIZE = 110; // hmask[32], qs[64], scales[12], d
const Q6_K_SIZE = 210; // ql[128], qh[64], scales[16] (i8), d
const Q5_K_SIZE = 176; // d, dmin, scales[12], qh[32], qs[128]

const lanes = new Float32Array(8);
const sumi = new Int32Array(8);

/** ggml_vec_dot_q2_K_q8_K, AVX2 float order, over nBlocks super-blocks of 256. */
export function dotQ2_KX86(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const av = new DataView(a.buffer, a.byteOffset);
  lanes.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const xb = wOffset + i * Q2_K_SIZE;
    const yb = aOffset + i * Q8_K_SIZE;
    const dy = av.getFloat32(yb, true);
    const d = fround(dy * half(w, xb + 80));
    const dmin = -fround(dy * half(w, xb + 82));
    for (let k = 0; k < 8; k++) {
      const m0 = w[xb + 2 * k] >> 4;
      const m1 = w[xb + 2 * k + 1] >> 4;
      const prod = m0 * av.getInt16(yb + 260 + 4 * k, true) + m1 * av.getInt16(yb + 262 + 4 * k, true);
      lanes[k] = fmaF32(dmin, prod, lanes[k]);
    }
    sumi.fill(0);
    for (let j = 0; j < 2; j++) {
      for (let l = 0; l < 4; l++) {
        for (let k = 0; k < 8; k++) {
          const scale = w[xb + j * 8 + 2 * l + (k >> 2)] & 0x0f;
          let s = 0;
          for (let e = 4 * k; e < 4 * k + 4; e++) {
            const q2 = (w[xb + 16 + j * 32 + e] >> (2 * l)) & 3;
            s += q2 * ((a[yb + 4 + j * 128 + l * 32 + e] << 24) >> 24);
          }
          sumi[k] += scale * s;
        }
      }
    }
    for (let k = 0; k < 8; k++) lanes[k] = fmaF32(d, sumi[k], lanes[k]);
  }
  return hsumF32x8(lanes);
}

/**
 * The common shape of the Q3_K and Q6_K kernels: per super-block, 8 int32 lanes,
 * lane k summing scale · Σ value·q8 over elements 4k..4k+3 of each 32-element
 * chunk (chunk l of half j; lanes 0-3 use scale 8j+2l, lanes 4-7 scale 8j+2l+1),
 * then one FMA per lane with d = dy·dx, and hsum_float_8 at the end.
 */
function scaledLanesDot(
  nBlocks: number,
  w: Uint8Array,
  wOffset: number,
  blockSize: number,
  dOffset: number,
  a: Uint8Array,
  aOffset: number,
  scaleOf: (xb: number, index: number) => number,
  quantOf: (xb: number, j: number, l: number, e: number) => number,
  laneOffset?: (xb: number, av: DataView, yb: number, k: number) => number,
): number {
  const av = new DataView(a.buffer, a.byteOffset);
  lanes.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const xb = wOffset + i * blockSize;
    const yb = aOffset + i * Q8_K_SIZE;
    const d = fround(av.getFloat32(yb, true) * half(w, xb + dOffset));
    sumi.fill(0);
    for (let j = 0; j < 2; j++) {
      for (let l = 0; l < 4; l++) {
        for (let k = 0; k < 8; k++) {
          let s = 0;
          for (let e = 4 * k; e < 4 * k + 4; e++) {
            s += quantOf(xb, j, l, e) * ((a[yb + 4 + j * 128 + l * 32 + e] << 24) >> 24);
          }
          sumi[k] += scaleOf(xb, j * 8 + 2 * l + (k >> 2)) * s;
        }
      }
    }
    if (laneOffset) for (let k = 0; k < 8; k++) sumi[k] += laneOffset(xb, av, yb, k);
    for (let k = 0; k < 8; k++) lanes[k] = fmaF32(d, sumi[k], lanes[k]);
  }
  return hsumF32x8(lanes);
}

/** Q3_K's 16 six-bit scales, unpacked from scales[12] and offset by -32 (as the kernel's kmask code). */
function q3Scale(w: Uint8Array, xb: number, index: number): number {
  const sc = xb + 96;
  const low = index < 8 ? w[sc + index] & 0x0f : w[sc + index - 8] >> 4;
  const high = (w[sc + 8 + (index & 3)] >> (2 * (index >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

/** ggml_vec_dot_q3_K_q8_K, AVX2 float order: value = 2 low bits − (4 unless the hmask bit is set). */
export function dotQ3_KX86(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  return scaledLanesDot(
    nBlocks,
    w,
    wOffset,
    Q3_K_SIZE,
    108,
    a,
    aOffset,
    (xb, index) => q3Scale(w, xb, index),
    (xb, j, l, e) => ((w[xb + 32 + j * 32 + e] >> (2 * l)) & 3) - ((w[xb + e] >> (4 * j + l)) & 1 ? 0 : 4),
  );
}

/**
 * ggml_vec_dot_q6_K_q8_K, AVX2 float order: the lanes sum scale · q·q8 with the
 * unsigned 6-bit q (4 low bits | 2 high bits << 4); the −32 offset is taken out
 * per lane afterwards from the activation's 16-element sums, lane k losing
 * 32·(bsum[2k]·scale[2k] + bsum[2k+1]·scale[2k+1]) (madd of bsums and scales).
 */
export function dotQ6_KX86(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  return scaledLanesDot(
    nBlocks,
    w,
    wOffset,
    Q6_K_SIZE,
    208,
    a,
    aOffset,
    (xb, index) => (w[xb + 192 + index] << 24) >> 24,
    (xb, j, l, e) => {
      const low = w[xb + j * 64 + (l & 1) * 32 + e];
      const nibble = l < 2 ? low & 0x0f : low >> 4;
      return nibble | (((w[xb + 128 + j * 32 + e] >> (2 * l)) & 3) << 4);
    },
    (xb, av, yb, k) => {
      const scale = (m: number) => (w[xb + 192 + m] << 24) >> 24;
      const bsum = (m: number) => av.getInt16(yb + 260 + 2 * m, true);
      return -32 * (bsum(2 * k) * scale(2 * k) + bsum(2 * k + 1) * scale(2 * k + 1));
    },
  );
}

/** get_scale_min_k4: the 6-bit scale (which 0) or min (which 1) of sub-block m from scales[12]. */
export function scaleMinK4(w: Uint8Array, sc: number, m: number, which: 0 | 1): number {
  if (m < 4) return w[sc + m + 4 * which] & 63;
  const packed = w[sc + m + 4];
  return which === 0 ? (packed & 0x0f) | ((w[sc + m - 4] >> 6) << 4) : (packed >> 4) | ((w[sc + m] >> 6) << 4);
}

/**
 * ggml_vec_dot_q5_K_q8_K, AVX2 float order: per super-block the mins go into a
 * scalar float sum, summs += dmin' · Σ min[m]·(bsum[2m] + bsum[2m+1]) (contracted
 * to an FMA); the lanes sum scale[m] · q·q8 over elements 4k..4k+3 of each
 * 32-element sub-block m, one FMA per lane with d. Result hsum_float_8 + summs.
 */
export function dotQ5_KX86(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const av = new DataView(a.buffer, a.byteOffset);
  lanes.fill(0);
  let summs = 0;
  for (let i = 0; i < nBlocks; i++) {
    const xb = wOffset + i * Q5_K_SIZE;
    const yb = aOffset + i * Q8_K_SIZE;
    const dy = av.getFloat32(yb, true);
    const d = fround(dy * half(w, xb));
    const dmin = -fround(dy * half(w, xb + 2));
    let mins = 0;
    for (let m = 0; m < 8; m++) {
      const bsums = av.getInt16(yb + 260 + 4 * m, true) + av.getInt16(yb + 262 + 4 * m, true);
      mins += scaleMinK4(w, xb + 4, m, 1) * bsums;
    }
    summs = fmaF32(dmin, mins, summs);
    sumi.fill(0);
    for (let m = 0; m < 8; m++) {
      const scale = scaleMinK4(w, xb + 4, m, 0);
      const qs = xb + 48 + (m >> 1) * 32;
      for (let k = 0; k < 8; k++) {
        let s = 0;
        for (let e = 4 * k; e < 4 * k + 4; e++) {
          const low = m & 1 ? w[qs + e] >> 4 : w[qs + e] & 0x0f;
          const q = low | (((w[xb + 16 + e] >> m) & 1) << 4);
          s += q * ((a[yb + 4 + m * 32 + e] << 24) >> 24);
        }
        sumi[k] += scale * s;
      }
    }
    for (let k = 0; k < 8; k++) lanes[k] = fmaF32(d, sumi[k], lanes[k]);
  }
  return fround(hsumF32x8(lanes) + summs);
}

function half(b: Uint8Array, o: number): number {
  return f16ToF32(b[o] | (b[o + 1] << 8));
}
