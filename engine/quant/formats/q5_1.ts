/**
 * Q5_1: 32 weights in 24 bytes, x = d * q + m, q in 0..31.
 *
 *   offset 0   d       f16      scale
 *   offset 2   m       f16      minimum
 *   offset 4   qh      u32 LE   bit j is the fifth bit of weight j
 *   offset 8   qs[16]  u8       low nibble of qs[j] is weight j, high nibble weight j+16
 *
 * Activations for the dot product are Q8_1.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, readU32, writeF16, writeU32 } from './block.ts';

const QK = 32;
const SIZE = 24;
const Q8_1_SIZE = 36;
const FLT_MAX = 3.4028234663852886e38;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF16(src, b);
    const m = readF16(src, b + 2);
    const qh = readU32(src, b + 4);
    for (let j = 0; j < QK / 2; j++) {
      const q = src[b + 8 + j];
      const x0 = (q & 0x0f) | (((qh >>> j) << 4) & 0x10);
      const x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
      dst[y + j] = fround(x0 * d) + m;
      dst[y + j + QK / 2] = fround(x1 * d) + m;
    }
  }
}

/** quantize_row_q5_1_ref: d = (max - min) / 31, m = min, q = (uint8_t)((x - min)/d + 0.5f). */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < QK; j++) {
      const v = src[x + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fround(fround(max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(dst, b, d);
    writeF16(dst, b + 2, min);
    let qh = 0;
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fround(fround(src[x + j] - min) * id);
      const x1 = fround(fround(src[x + j + QK / 2] - min) * id);
      // (uint8_t) truncation; the values are never negative here.
      const q0 = Math.trunc(fround(x0 + 0.5)) & 0xff;
      const q1 = Math.trunc(fround(x1 + 0.5)) & 0xff;
      dst[b + 8 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + QK / 2);
    }
    writeU32(dst, b + 4, qh);
  }
}

/** ggml_vec_dot_q5_1_q8_1_generic: (dw * da) * sumi + mw * sa per block. */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  const aBase = a.byteOffset;
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_1_SIZE;
    const qh = readU32(w, wb + 4);
    let sumi0 = 0;
    let sumi1 = 0;
    for (let j = 0; j < QK / 2; j++) {
      const q = w[wb + 8 + j];
      const x0 = (q & 0x0f) | (((qh >>> j) << 4) & 0x10);
      const x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
      sumi0 += x0 * a8[aBase + ab + 4 + j];
      sumi1 += x1 * a8[aBase + ab + 4 + j + QK / 2];
    }
    const sumi = sumi0 + sumi1;
    const scaled = fround(fround(readF16(w, wb) * readF16(a, ab)) * sumi);
    const offset = fround(readF16(w, wb + 2) * readF16(a, ab + 2));
    sumf = fround(sumf + fround(scaled + offset));
  }
  return sumf;
}

export const Q5_1: BlockCodec = { type: GGMLType.Q5_1, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
