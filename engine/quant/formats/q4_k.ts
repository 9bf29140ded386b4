/**
 * Q4_K: 256 weights in 144 bytes; 8 sub-blocks of 32, x = d*sc*q - dmin*m, q in 0..15.
 *
 *   offset 0    d           f16   super-block scale for the scales
 *   offset 2    dmin        f16   super-block scale for the mins
 *   offset 4    scales[12]  u8    8 scales and 8 mins of 6 bits (see k-scales.ts)
 *   offset 16   qs[128]     u8    4-bit quants: each 32-byte chunk c holds sub-block 2c
 *                                  in the low nibbles and sub-block 2c+1 in the high ones
 *
 * Activations for the dot product are Q8_K.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, readF32, readI16 } from './block.ts';
import { addLanesToSums, addScaledLanes, addSums } from './k-lanes.ts';
import { quantizeKx2Block } from './k-quantize.ts';
import { scaleMinK4 } from './k-scales.ts';

const QK = 256;
const SIZE = 144;
const Q8_K_SIZE = 292;

const scaleMin = new Int32Array(2);
const subScales = new Int32Array(8);
const subMins = new Int32Array(8);
const aux8 = new Int8Array(QK);
const aux32 = new Int32Array(8);
const sums = new Float64Array(8);

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    let y = dstOffset + i * QK;
    const d = readF16(src, b);
    const min = readF16(src, b + 2);
    for (let c = 0; c < 4; c++) {
      const q = b + 16 + 32 * c;
      scaleMinK4(2 * c, src, b + 4, scaleMin);
      const d1 = fround(d * scaleMin[0]);
      const m1 = fround(min * scaleMin[1]);
      scaleMinK4(2 * c + 1, src, b + 4, scaleMin);
      const d2 = fround(d * scaleMin[0]);
      const m2 = fround(min * scaleMin[1]);
      for (let l = 0; l < 32; l++) dst[y++] = fround(d1 * (src[q + l] & 0x0f)) - m1;
      for (let l = 0; l < 32; l++) dst[y++] = fround(d2 * (src[q + l] >> 4)) - m2;
    }
  }
}

/**
 * ggml_vec_dot_q4_K_q8_K_generic: the mins through the Q8_K bsums (subtracted
 * from sumf block by block), the scaled quants in eight int32 lanes (lane =
 * index mod 8) turned into eight float partial sums, added to sumf at the end.
 */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  sums.fill(0);
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_K_SIZE;
    for (let j = 0; j < 8; j++) {
      scaleMinK4(j, w, wb + 4, scaleMin);
      subScales[j] = scaleMin[0];
      subMins[j] = scaleMin[1];
    }
    // The mins meet the activations only through their sums per 16 (bsums).
    let sumi = 0;
    for (let j = 0; j < 16; j++) sumi += readI16(a, ab + 260 + 2 * j) * subMins[j >> 1];
    // The quants of the block in weight order (ggml's aux8), then the lanes.
    for (let c = 0; c < 4; c++) {
      const ql = wb + 16 + 32 * c;
      for (let l = 0; l < 32; l++) {
        aux8[64 * c + l] = w[ql + l] & 0x0f;
        aux8[64 * c + 32 + l] = w[ql + l] >> 4;
      }
    }
    aux32.fill(0);
    const aq = a.byteOffset + ab + 4;
    for (let j = 0; j < 8; j++) addScaledLanes(aux32, subScales[j], a8, aq + 32 * j, aux8, 32 * j, 32);
    const ad = readF32(a, ab);
    addLanesToSums(sums, fround(readF16(w, wb) * ad), aux32);
    const dmin = fround(readF16(w, wb + 2) * ad);
    sumf = fround(sumf - fround(dmin * sumi));
  }
  return addSums(sumf, sums);
}

const L = new Uint8Array(QK);

/**
 * quantize_row_q4_K_ref: per sub-block of 32 an asymmetric 4-bit fit (weights
 * rms + |x|), the scales and mins then quantized to 6 bits against d and dmin,
 * and the quants recomputed with the stored scales.
 */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = dstOffset + i * SIZE;
    quantizeKx2Block(src, srcOffset + i * QK, 15, -1, 20, dst, b, L);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) dst[b + 16 + 32 * c + l] = L[64 * c + l] | (L[64 * c + 32 + l] << 4);
    }
  }
}

export const Q4_K: BlockCodec = { type: GGMLType.Q4_K, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
