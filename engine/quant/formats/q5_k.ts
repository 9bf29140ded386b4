/**
 * Q5_K: 256 weights in 176 bytes; 8 sub-blocks of 32, x = d*sc*q - dmin*m, q in 0..31.
 *
 *   offset 0    d           f16   super-block scale for the scales
 *   offset 2    dmin        f16   super-block scale for the mins
 *   offset 4    scales[12]  u8    8 scales and 8 mins of 6 bits (see k-scales.ts)
 *   offset 16   qh[32]      u8    fifth bit: bit s of qh[l] belongs to weight 32s + l
 *   offset 48   qs[128]     u8    low 4 bits, laid out as in Q4_K
 *
 * Activations for the dot product are Q8_K.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, readF32, readI16 } from './block.ts';
import { addLanesToSums, addScaledLanes, addSums } from './k-lanes.ts';
import { quantizeKx2Block } from './k-quantize.ts';
import { scaleMinK4 } from './k-scales.ts';

const QK = 256;
const SIZE = 176;
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
    const qh = b + 16;
    for (let c = 0; c < 4; c++) {
      const ql = b + 48 + 32 * c;
      const u1 = 1 << (2 * c);
      const u2 = 2 << (2 * c);
      scaleMinK4(2 * c, src, b + 4, scaleMin);
      const d1 = fround(d * scaleMin[0]);
      const m1 = fround(min * scaleMin[1]);
      scaleMinK4(2 * c + 1, src, b + 4, scaleMin);
      const d2 = fround(d * scaleMin[0]);
      const m2 = fround(min * scaleMin[1]);
      for (let l = 0; l < 32; l++) {
        const q = (src[ql + l] & 0x0f) + (src[qh + l] & u1 ? 16 : 0);
        dst[y++] = fround(d1 * q) - m1;
      }
      for (let l = 0; l < 32; l++) {
        const q = (src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0);
        dst[y++] = fround(d2 * q) - m2;
      }
    }
  }
}

/** ggml_vec_dot_q5_K_q8_K_generic: as Q4_K, with the fifth bit added to each quant. */
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
      const ql = wb + 48 + 32 * c;
      const u1 = 1 << (2 * c);
      const u2 = 2 << (2 * c);
      for (let l = 0; l < 32; l++) {
        aux8[64 * c + l] = (w[ql + l] & 0x0f) + (w[wb + 16 + l] & u1 ? 16 : 0);
        aux8[64 * c + 32 + l] = (w[ql + l] >> 4) + (w[wb + 16 + l] & u2 ? 16 : 0);
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

/** quantize_row_q5_K_ref: as Q4_K (see quantizeKx2Block) with 5-bit quants, the fifth bit in qh. */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = dstOffset + i * SIZE;
    quantizeKx2Block(src, srcOffset + i * QK, 31, -0.5, 15, dst, b, L);
    const qh = b + 16;
    dst.fill(0, qh, qh + 32);
    for (let c = 0; c < 4; c++) {
      const ql = b + 48 + 32 * c;
      for (let j = 0; j < 32; j++) {
        let l1 = L[64 * c + j];
        let l2 = L[64 * c + 32 + j];
        if (l1 > 15) {
          l1 -= 16;
          dst[qh + j] |= 1 << (2 * c);
        }
        if (l2 > 15) {
          l2 -= 16;
          dst[qh + j] |= 2 << (2 * c);
        }
        dst[ql + j] = l1 | (l2 << 4);
      }
    }
  }
}

export const Q5_K: BlockCodec = { type: GGMLType.Q5_K, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
