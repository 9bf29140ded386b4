/**
 * Q3_K: 256 weights in 110 bytes; 16 sub-blocks of 16, x = d * (sc - 32) * q, q in -4..3.
 *
 *   offset 0     hmask[32]   u8    high bit: bit k of hmask[l] belongs to weight 32k + l;
 *                                   a CLEAR bit subtracts 4
 *   offset 32    qs[64]      u8    low 2 bits: in each half (128 weights, 32 bytes),
 *                                   bits 2k..2k+1 of byte l hold weight 32k + l
 *   offset 96    scales[12]  u8    16 scales of 6 bits, biased by 32 (see k-scales.ts)
 *   offset 108   d           f16   super-block scale
 *
 * Activations for the dot product are Q8_K.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, readF32, writeF16 } from './block.ts';
import { addLanesToSums, addScaledLanes, addSums } from './k-lanes.ts';
import { clamp, makeQ3Quants, nearestIntBits, pack2Bits } from './k-quantize.ts';
import { unpackQ3KScales } from './k-scales.ts';

const QK = 256;
const SIZE = 110;
const Q8_K_SIZE = 292;

// Scratch for the hot loops (JavaScript is single-threaded per realm).
const scales = new Int32Array(16);
const aux8 = new Int8Array(QK);
const aux32 = new Int32Array(8);
const sums = new Float64Array(8);

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    let y = dstOffset + i * QK;
    const dAll = readF16(src, b + 108);
    unpackQ3KScales(src, b + 96, scales);
    let is = 0;
    let m = 1;
    for (let half = 0; half < 2; half++) {
      const q = b + 32 + 32 * half;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 2; part++) {
          const dl = fround(dAll * scales[is++]);
          for (let l = 16 * part; l < 16 * part + 16; l++) {
            const low = (src[q + l] >> shift) & 3;
            const qv = low - (src[b + l] & m ? 0 : 4);
            dst[y++] = dl * qv;
          }
        }
        m <<= 1;
      }
    }
  }
}

/** The 256 signed 3-bit quants of one block, in weight order, into aux8. */
function unpackQuants(w: Uint8Array, wb: number): void {
  let k = 0;
  let m = 1;
  for (let half = 0; half < 2; half++) {
    const q = wb + 32 + 32 * half;
    for (let shift = 0; shift < 8; shift += 2) {
      for (let l = 0; l < 32; l++) aux8[k++] = ((w[q + l] >> shift) & 3) - (w[wb + l] & m ? 0 : 4);
      m <<= 1;
    }
  }
}

/**
 * ggml_vec_dot_q3_K_q8_K_generic: eight int32 lanes (lane = index mod 8) of
 * scale * q8 * q per block, then eight float partial sums across blocks, added
 * up at the end.
 */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  sums.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_K_SIZE;
    unpackQuants(w, wb);
    unpackQ3KScales(w, wb + 96, scales);
    aux32.fill(0);
    const aq = a.byteOffset + ab + 4;
    for (let j = 0; j < 16; j++) addScaledLanes(aux32, scales[j], a8, aq + 16 * j, aux8, 16 * j, 16);
    addLanesToSums(sums, fround(readF16(w, wb + 108) * readF32(a, ab)), aux32);
  }
  return addSums(0, sums);
}

const L3 = new Int8Array(QK);
const scales3 = new Float32Array(16);

/**
 * quantize_row_q3_K_ref: a symmetric 3-bit fit per sub-block of 16
 * (makeQ3Quants), the 16 scales quantized to 6 bits against d = -max_scale/32,
 * then the quants recomputed with the stored scales; the third bit goes to hmask.
 */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales3[j] = makeQ3Quants(16, 4, src, x + 16 * j, L3, 16 * j);
      if (Math.abs(scales3[j]) > amax) {
        amax = Math.abs(scales3[j]);
        maxScale = scales3[j];
      }
    }
    dst.fill(0, b, b + SIZE);
    const sc = b + 96;
    if (maxScale !== 0) {
      // C's `if (max_scale)`: NaN counts as set
      const iscale = fround(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l8 = (nearestIntBits(fround(iscale * scales3[j])) << 24) >> 24; // int8_t l = nearest_int(...)
        const l = clamp(l8, -32, 31) + 32;
        if (j < 8) dst[sc + j] = l & 0x0f;
        else dst[sc + j - 8] |= (l & 0x0f) << 4;
        dst[sc + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
      }
      writeF16(dst, b + 108, fround(1 / iscale));
    }
    unpackQ3KScales(dst, sc, scales);
    const d = readF16(dst, b + 108);
    for (let j = 0; j < 16; j++) {
      const dj = fround(d * scales[j]);
      if (dj === 0) continue; // C's `if (!d)`: NaN goes on
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestIntBits(fround(src[x + 16 * j + ii] / dj));
        L3[16 * j + ii] = clamp(l, -4, 3) + 4;
      }
    }
    // The high bit of weight j goes to bit j/32 of hmask[j%32]; the rest is 2-bit.
    for (let j = 0; j < QK; j++) {
      if (L3[j] > 3) {
        dst[b + (j % 32)] |= 1 << (j >> 5);
        L3[j] -= 4;
      }
    }
    pack2Bits(L3, dst, b + 32);
  }
}

export const Q3_K: BlockCodec = { type: GGMLType.Q3_K, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
