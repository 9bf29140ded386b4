/**
 * Q6_K: 256 weights in 210 bytes; 16 sub-blocks of 16, x = d * sc * (q - 32), q in 0..63.
 *
 *   offset 0     ql[128]     u8    low 4 bits; in each half h (128 weights, 64 bytes):
 *                                   ql[l] low/high nibble -> weights l / l+64,
 *                                   ql[l+32] low/high nibble -> weights l+32 / l+96
 *   offset 128   qh[64]      u8    high 2 bits; in each half (32 bytes), bit pairs
 *                                   0,1,2,3 of qh[l] -> weights l, l+32, l+64, l+96
 *   offset 192   scales[16]  i8    sub-block scales
 *   offset 208   d           f16   super-block scale
 *
 * Activations for the dot product are Q8_K.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, readF32, readI8, writeF16 } from './block.ts';
import { addLanesToSums, addScaledLanes, addSums } from './k-lanes.ts';
import { clamp, GROUP_MAX_EPS, makeQxQuants, nearestIntBits } from './k-quantize.ts';

const QK = 256;
const SIZE = 210;
const Q8_K_SIZE = 292;

const aux8 = new Int8Array(QK);
const aux32 = new Int32Array(8);
const sums = new Float64Array(8);

/** The 256 signed 6-bit quants (q - 32) of one block, in weight order, into out. */
function unpackQuants(src: Uint8Array, b: number, out: Int8Array): void {
  for (let half = 0; half < 2; half++) {
    const ql = b + 64 * half;
    const qh = b + 128 + 32 * half;
    const y = 128 * half;
    for (let l = 0; l < 32; l++) {
      const lo0 = src[ql + l];
      const lo1 = src[ql + l + 32];
      const hi = src[qh + l];
      out[y + l] = ((lo0 & 0x0f) | ((hi & 3) << 4)) - 32;
      out[y + l + 32] = ((lo1 & 0x0f) | (((hi >> 2) & 3) << 4)) - 32;
      out[y + l + 64] = ((lo0 >> 4) | (((hi >> 4) & 3) << 4)) - 32;
      out[y + l + 96] = ((lo1 >> 4) | (((hi >> 6) & 3) << 4)) - 32;
    }
  }
}

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF16(src, b + 208);
    unpackQuants(src, b, aux8);
    // Weight k lies in sub-block k >> 4; y = (d * sc) * q, rounded as in C.
    for (let k = 0; k < QK; k++) dst[y + k] = fround(d * readI8(src, b + 192 + (k >> 4))) * aux8[k];
  }
}

/** ggml_vec_dot_q6_K_q8_K_generic: eight int32 lanes of scale * q8 * q, eight float partial sums. */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  sums.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_K_SIZE;
    unpackQuants(w, wb, aux8);
    aux32.fill(0);
    const aq = a.byteOffset + ab + 4;
    for (let j = 0; j < 16; j++) addScaledLanes(aux32, readI8(w, wb + 192 + j), a8, aq + 16 * j, aux8, 16 * j, 16);
    addLanesToSums(sums, fround(readF16(w, wb + 208) * readF32(a, ab)), aux32);
  }
  return addSums(0, sums);
}

const L6 = new Int8Array(QK);
const scales6 = new Float32Array(16);

/**
 * quantize_row_q6_K_ref: a symmetric 6-bit fit per sub-block of 16
 * (makeQxQuants), the 16 scales quantized to int8 against d = -max_scale/128,
 * then the quants recomputed with the stored scales.
 */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x + 16 * ib, L6, 16 * ib);
      scales6[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    dst.fill(0, b, b + SIZE);
    if (maxAbsScale < GROUP_MAX_EPS) continue; // an all-zero block, d = 0
    const iscale = fround(-128 / maxScale);
    writeF16(dst, b + 208, fround(1 / iscale));
    for (let ib = 0; ib < 16; ib++)
      dst[b + 192 + ib] = Math.min(127, nearestIntBits(fround(iscale * scales6[ib]))) & 0xff;
    const d = readF16(dst, b + 208);
    for (let j = 0; j < 16; j++) {
      const dj = fround(d * readI8(dst, b + 192 + j));
      if (dj === 0) continue; // C's `if (!d)`: NaN goes on
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestIntBits(fround(src[x + 16 * j + ii] / dj));
        L6[16 * j + ii] = clamp(l, -32, 31) + 32;
      }
    }
    for (let half = 0; half < 2; half++) {
      const j = 128 * half;
      const ql = b + 64 * half;
      const qh = b + 128 + 32 * half;
      for (let l = 0; l < 32; l++) {
        const q1 = L6[j + l];
        const q2 = L6[j + l + 32];
        const q3 = L6[j + l + 64];
        const q4 = L6[j + l + 96];
        dst[ql + l] = (q1 & 0x0f) | ((q3 & 0x0f) << 4);
        dst[ql + l + 32] = (q2 & 0x0f) | ((q4 & 0x0f) << 4);
        dst[qh + l] = ((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)) & 0xff;
      }
    }
  }
}

export const Q6_K: BlockCodec = { type: GGMLType.Q6_K, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
