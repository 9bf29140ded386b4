/**
 * Q2_K: 256 weights in 84 bytes; 16 sub-blocks of 16, x = d*sc*q - dmin*m, q in 0..3.
 *
 *   offset 0    scales[16]  u8    low nibble: sub-block scale sc, high nibble: sub-block min m
 *   offset 16   qs[64]      u8    2-bit quants: in each half (128 weights, 32 bytes),
 *                                  bits 2k..2k+1 of byte l hold weight 32k + l
 *   offset 80   d           f16   super-block scale for the scales
 *   offset 82   dmin        f16   super-block scale for the mins
 *
 * Activations for the dot product are Q8_K.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, readF32, readI16, writeF16 } from './block.ts';
import { clamp, makeQkx2Quants, nearestIntBits, pack2Bits } from './k-quantize.ts';

const QK = 256;
const SIZE = 84;
const Q8_K_SIZE = 292;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    let y = dstOffset + i * QK;
    const d = readF16(src, b + 80);
    const min = readF16(src, b + 82);
    let is = 0;
    for (let half = 0; half < 2; half++) {
      const q = b + 16 + 32 * half;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 2; part++) {
          const sc = src[b + is++];
          const dl = fround(d * (sc & 0x0f));
          const ml = fround(min * (sc >> 4));
          for (let l = 0; l < 16; l++) {
            const qv = (src[q + 16 * part + l] >> shift) & 3;
            dst[y++] = fround(dl * qv) - ml;
          }
        }
      }
    }
  }
}

/** ggml_vec_dot_q2_K_q8_K_generic: mins via the Q8_K bsums, then dall * isum - dmin * summs per block. */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  const aBase = a.byteOffset;
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_K_SIZE;
    let summs = 0;
    for (let j = 0; j < 16; j++) summs += readI16(a, ab + 260 + 2 * j) * (w[wb + j] >> 4);
    const ad = readF32(a, ab);
    const dall = fround(ad * readF16(w, wb + 80));
    const dmin = fround(ad * readF16(w, wb + 82));
    let isum = 0;
    let is = 0;
    let q8 = ab + 4;
    for (let half = 0; half < 2; half++) {
      const q2 = wb + 16 + 32 * half;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 2; part++) {
          const d = w[wb + is++] & 0x0f;
          let isuml = 0;
          for (let l = 16 * part; l < 16 * part + 16; l++) isuml += a8[aBase + q8 + l] * ((w[q2 + l] >> shift) & 3);
          isum += d * isuml;
        }
        q8 += 32;
      }
    }
    sumf = fround(sumf + fround(fround(dall * isum) - fround(dmin * summs)));
  }
  return sumf;
}

const L2 = new Uint8Array(QK);
const weights16 = new Float32Array(16);
const scales2 = new Float32Array(16);
const mins2 = new Float32Array(16);

/**
 * quantize_row_q2_K_ref: an asymmetric 2-bit fit per sub-block of 16
 * (makeQkx2Quants, weights |x|, absolute error), scales and mins quantized to
 * 4 bits against d and dmin, then the quants recomputed with the stored scales.
 */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights16[l] = Math.abs(src[x + 16 * j + l]);
      scales2[j] = makeQkx2Quants(16, 3, src, x + 16 * j, weights16, L2, 16 * j, mins2, j, -0.5, 0.1, 15, true);
      if (scales2[j] > maxScale) maxScale = scales2[j];
      if (mins2[j] > maxMin) maxMin = mins2[j];
    }
    dst.fill(0, b, b + SIZE);
    if (maxScale > 0) {
      const iscale = fround(15 / maxScale);
      for (let j = 0; j < 16; j++) dst[b + j] = nearestIntBits(fround(iscale * scales2[j])) & 0xff;
      writeF16(dst, b + 80, fround(maxScale / 15));
    }
    if (maxMin > 0) {
      const iscale = fround(15 / maxMin);
      for (let j = 0; j < 16; j++) dst[b + j] |= (nearestIntBits(fround(iscale * mins2[j])) << 4) & 0xff;
      writeF16(dst, b + 82, fround(maxMin / 15));
    }
    const d = readF16(dst, b + 80);
    const dmin = readF16(dst, b + 82);
    for (let j = 0; j < 16; j++) {
      const dj = fround(d * (dst[b + j] & 0x0f));
      if (dj === 0) continue; // C's `if (!d)`: NaN goes on
      const dm = fround(dmin * (dst[b + j] >> 4));
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestIntBits(fround(fround(src[x + 16 * j + ii] + dm) / dj));
        L2[16 * j + ii] = clamp(l, 0, 3);
      }
    }
    pack2Bits(L2, dst, b + 16);
  }
}

export const Q2_K: BlockCodec = { type: GGMLType.Q2_K, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
