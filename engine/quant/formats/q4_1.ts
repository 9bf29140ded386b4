/**
 * Q4_1: 32 weights in 20 bytes, x = d * q + m, q in 0..15.
 *
 *   offset 0   d       f16      scale
 *   offset 2   m       f16      minimum
 *   offset 4   qs[16]  u8       low nibble of qs[j] is weight j, high nibble weight j+16
 *
 * Activations for the dot product are Q8_1 (whose s = d * sum(q) carries the m term).
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, truncToInt8, writeF16 } from './block.ts';

const QK = 32;
const SIZE = 20;
const Q8_1_SIZE = 36;
const FLT_MAX = 3.4028234663852886e38;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF16(src, b);
    const m = readF16(src, b + 2);
    for (let j = 0; j < QK / 2; j++) {
      const q = src[b + 4 + j];
      dst[y + j] = fround((q & 0x0f) * d) + m;
      dst[y + j + QK / 2] = fround((q >> 4) * d) + m;
    }
  }
}

/** quantize_row_q4_1_ref: d = (max - min) / 15, m = min, q = MIN(15, (int8_t)((x - min)/d + 0.5f)). */
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
    const d = fround(fround(max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(dst, b, d);
    writeF16(dst, b + 2, min);
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fround(fround(src[x + j] - min) * id);
      const x1 = fround(fround(src[x + j + QK / 2] - min) * id);
      const q0 = Math.min(15, truncToInt8(fround(x0 + 0.5))) & 0xff;
      const q1 = Math.min(15, truncToInt8(fround(x1 + 0.5))) & 0xff;
      dst[b + 4 + j] = (q0 | (q1 << 4)) & 0xff;
    }
  }
}

/** ggml_vec_dot_q4_1_q8_1_generic: (dw * da) * sumi + mw * sa per block. */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  const aBase = a.byteOffset;
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_1_SIZE;
    let sumi0 = 0;
    let sumi1 = 0;
    for (let j = 0; j < QK / 2; j++) {
      const q = w[wb + 4 + j];
      sumi0 += (q & 0x0f) * a8[aBase + ab + 4 + j];
      sumi1 += (q >> 4) * a8[aBase + ab + 4 + j + QK / 2];
    }
    const sumi = sumi0 + sumi1;
    const scaled = fround(fround(readF16(w, wb) * readF16(a, ab)) * sumi);
    const offset = fround(readF16(w, wb + 2) * readF16(a, ab + 2));
    sumf = fround(sumf + fround(scaled + offset));
  }
  return sumf;
}

export const Q4_1: BlockCodec = { type: GGMLType.Q4_1, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
