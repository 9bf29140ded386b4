/**
 * The scale searches behind ggml's K-quant reference quantizers (ggml-quants.c:
 * nearest_int, make_qx_quants, make_q3_quants, make_qkx2_quants), transcribed
 * operation by operation in float32 (see block.ts), so that quantize_row_q*_K_ref
 * comes out byte for byte the same. No importance matrix: these are the paths
 * llama.cpp takes when it has none.
 */
import { readF16, writeF16 } from './block.ts';
import { scaleMinK4 } from './k-scales.ts';

// Local, not imported: a call through an imported binding costs a property load per use under vite-node.
const fround = Math.fround;

/** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zero. */
export const GROUP_MAX_EPS = fround(1e-15);

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/**
 * ggml's nearest_int exactly, also outside the range where it rounds correctly
 * (|x| > 4194303, infinities, NaN): it adds 1.5*2^23 in float32 and reads the
 * integer back out of the low 23 mantissa bits. NaN gives 0. x must be a
 * float32 value (every caller passes a fround result).
 */
export function nearestIntBits(x: number): number {
  // In range, the float32 sum rounds x to the nearest integer, ties to even: the
  // same as this double-precision magic-number rounding, which needs no memory.
  if (x <= 4194303 && x >= -4194303) return x + 6755399441055744 - 6755399441055744;
  f32[0] = x + 12582912;
  return (i32[0] & 0x007fffff) - 0x00400000;
}

/** The first of x[xo .. xo+n) with the largest magnitude, signed (0 when all are 0 or NaN). */
function largestMagnitude(x: Float32Array, xo: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  return max;
}

/** C's MAX(lo, MIN(hi, v)) for integers. */
export const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

/**
 * make_qx_quants with rmse_type 1 and no importance weights (the only use by a
 * reference quantizer: Q6_K). Symmetric quants L[i] in 0..2*nmax-1 for
 * x[xo .. xo+n) (written to L[lo ..)), weights x^2 in the least-squares fit,
 * scale tried at 19 nudges of nmax. Returns the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestIntBits(fround(iscale * xi)), -nmax, nmax - 1);
    L[lo + i] = l + nmax;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  let scale = suml2 !== 0 ? fround(sumlx / suml2) : 0;
  let best = fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(fround(0.1) * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clamp(nearestIntBits(fround(iscale * xi)), -nmax, nmax - 1);
      const w = fround(xi * xi);
      sumlx = fround(sumlx + fround(fround(w * xi) * l));
      suml2 = fround(suml2 + fround(fround(w * l) * l));
    }
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      for (let i = 0; i < n; i++) {
        L[lo + i] = nmax + clamp(nearestIntBits(fround(iscale * x[xo + i])), -nmax, nmax - 1);
      }
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_q3_quants with do_rmse: symmetric quants in 0..2*nmax-1 (or all 0 for a
 * zero group), refined one weight at a time for up to 5 passes while the x^2
 * weighted fit improves. Returns the scale.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestIntBits(fround(iscale * xi)), -nmax, nmax - 1);
    L[lo + i] = l;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const li = L[lo + i];
      const w = fround(xi * xi);
      let slx = fround(sumlx - fround(fround(w * xi) * li));
      if (slx > 0) {
        let sl2 = fround(suml2 - fround(fround(w * li) * li));
        const newL = clamp(nearestIntBits(fround(fround(xi * sl2) / slx)), -nmax, nmax - 1);
        if (newL !== li) {
          slx = fround(slx + fround(fround(w * xi) * newL));
          sl2 = fround(sl2 + fround(fround(w * newL) * newL));
          if (sl2 > 0 && fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            L[lo + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (nChanged === 0) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] += nmax;
  return suml2 > 0 ? fround(sumlx / suml2) : 0;
}

/** Scratch for makeQkx2Quants (n <= 32 in every caller): trial quants, x - min. */
const trial = new Uint8Array(32);
const shifted = new Float32Array(32);

/**
 * make_qkx2_quants: asymmetric quants L[i] in 0..nmax with x ~ scale*L - min,
 * min >= 0, minimising the weighted squared (or absolute, useMad) error over
 * nstep+1 trial scales (rmin + rdelta*is + nmax) / (max - min). Returns the
 * scale; the min goes to out[outIndex].
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  out: Float32Array,
  outIndex: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = fround(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    out[outIndex] = -min;
    return 0;
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) shifted[i] = x[xo + i] - min; // x[i] - min, rounded by the store
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestIntBits(fround(iscale * shifted[i])), 0, nmax);
    L[lo + i] = l;
    const diff = fround(fround(fround(scale * l) + min) - xi);
    bestError = fround(bestError + fround(weights[i] * (useMad ? Math.abs(diff) : fround(diff * diff))));
  }
  if (nstep < 1) {
    out[outIndex] = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // min is the best fit so far: later trials start from it, as in ggml.
    iscale = fround(fround(fround(fround(rmin) + fround(fround(rdelta) * is)) + nmax) / fround(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clamp(nearestIntBits(fround(iscale * shifted[i])), 0, nmax);
      trial[i] = l;
      const wl = fround(weights[i] * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * xi));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (D > 0) {
      let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fround(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = fround(fround(fround(thisScale * trial[i]) + thisMin) - x[xo + i]);
        curError = fround(curError + fround(weights[i] * (useMad ? Math.abs(diff) : fround(diff * diff))));
      }
      if (curError < bestError) {
        L.set(trial.subarray(0, n), lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
        for (let i = 0; i < n; i++) shifted[i] = x[xo + i] - min;
      }
    }
  }
  out[outIndex] = -min;
  return scale;
}

const weights32 = new Float32Array(32);
const subScales = new Float32Array(8);
const subMins = new Float32Array(8);
const scaleMin = new Int32Array(2);

/**
 * The common part of quantize_row_q4_K_ref and quantize_row_q5_K_ref for one
 * super-block at x[xo ..): fits each sub-block of 32 with makeQkx2Quants
 * (weights rms + |x|, trial scales from rmin in steps of 0.1), stores d, dmin
 * (f16 at b, b+2) and the 6-bit scales and mins (12 bytes at b+4, packed as
 * scaleMinK4 reads them), then requantizes against the stored scales. The final
 * quants, 0..nmax in weight order, are left in L.
 */
export function quantizeKx2Block(
  x: Float32Array,
  xo: number,
  nmax: number,
  rmin: number,
  nstep: number,
  dst: Uint8Array,
  b: number,
  L: Uint8Array,
): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const s = xo + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fround(sumX2 + fround(x[s + l] * x[s + l]));
    const avX = fround(Math.sqrt(fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights32[l] = avX + Math.abs(x[s + l]); // the store rounds to float32
    subScales[j] = makeQkx2Quants(32, nmax, x, s, weights32, L, 32 * j, subMins, j, rmin, 0.1, nstep, false);
    if (subScales[j] > maxScale) maxScale = subScales[j];
    if (subMins[j] > maxMin) maxMin = subMins[j];
  }
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  const sc = b + 4;
  dst.fill(0, sc, sc + 12);
  for (let j = 0; j < 8; j++) {
    // uint8_t ls = nearest_int(...): the C assignment keeps the low 8 bits.
    const ls = Math.min(63, nearestIntBits(fround(invScale * subScales[j])) & 0xff);
    const lm = Math.min(63, nearestIntBits(fround(invMin * subMins[j])) & 0xff);
    if (j < 4) {
      dst[sc + j] = ls;
      dst[sc + j + 4] = lm;
    } else {
      dst[sc + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
      dst[sc + j - 4] |= (ls >> 4) << 6;
      dst[sc + j] |= (lm >> 4) << 6;
    }
  }
  writeF16(dst, b, fround(maxScale / 63));
  writeF16(dst, b + 2, fround(maxMin / 63));
  const d = readF16(dst, b);
  const dmin = readF16(dst, b + 2);
  for (let j = 0; j < 8; j++) {
    scaleMinK4(j, dst, sc, scaleMin);
    const dj = fround(d * scaleMin[0]);
    if (dj === 0) continue; // C's `if (!d)`: NaN goes on
    const dm = fround(dmin * scaleMin[1]);
    for (let ii = 0; ii < 32; ii++) {
      L[32 * j + ii] = clamp(nearestIntBits(fround(fround(x[xo + 32 * j + ii] + dm) / dj)), 0, nmax);
    }
  }
}

/**
 * The 2-bit packing of Q2_K and Q3_K: in each half of 128 weights (32 bytes at
 * qs + 32*half), bits 2k..2k+1 of byte l hold weight 32k + l. L holds 0..3.
 */
export function pack2Bits(L: ArrayLike<number>, dst: Uint8Array, qs: number): void {
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      dst[qs + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    }
  }
}
