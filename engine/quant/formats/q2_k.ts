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
import { type BlockCodec, fround, int8ViewOf, readF16, readF32, readI16 } from './block.ts';

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

export const Q2_K: BlockCodec = { type: GGMLType.Q2_K, blockSize: QK, typeSize: SIZE, dequantize, vecDot };
