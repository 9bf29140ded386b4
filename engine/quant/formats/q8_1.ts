/**
 * Q8_1: 32 values in 36 bytes, x = d * q, q in -127..127, plus s = d * sum(q).
 *
 *   offset 0   d       f16      scale = max|x| / 127
 *   offset 2   s       f16      d * sum of the 32 quants (lets Q4_1/Q5_1 dots add m*s)
 *   offset 4   qs[32]  i8       quants
 *
 * The activation format for Q4_1 and Q5_1 weights. As for Q8_0 there is the
 * reference quantizer (quantize_row_q8_1_ref: id = 1/d, roundf) and the x86
 * activation quantizer (id = 127/max, round half to even).
 * ggml has no dequantize_row_q8_1; ours is the obvious x = d * q.
 * There is no Q8_1 x Q8_1 dot product in ggml either.
 */
import { GGMLType } from '../types.ts';
import { absMax, type BlockCodec, fround, readF16, readI8, roundHalfAway, roundHalfEven, writeF16 } from './block.ts';

const QK = 32;
const SIZE = 36;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF16(src, b);
    for (let j = 0; j < QK; j++) dst[y + j] = readI8(src, b + 4 + j) * d;
  }
}

/** quantize_row_q8_1_ref. */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    const d = fround(absMax(src, x, QK) / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(dst, b, d);
    let sum = 0;
    for (let j = 0; j < QK; j++) {
      const q = roundHalfAway(fround(src[x + j] * id));
      dst[b + 4 + j] = q & 0xff;
      sum += q;
    }
    writeF16(dst, b + 2, fround(sum * d));
  }
}

/** x86 quantize_row_q8_1 (AVX2 path), the one llama.cpp's CPU backend applies to activations. */
export function quantizeQ8_1Activations(
  src: Float32Array,
  srcOffset: number,
  dst: Uint8Array,
  dstOffset: number,
  nBlocks: number,
): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    const max = absMax(src, x, QK);
    const d = fround(max / 127);
    writeF16(dst, b, d);
    const id = max !== 0 ? fround(127 / max) : 0;
    let sum = 0;
    for (let j = 0; j < QK; j++) {
      const q = roundHalfEven(fround(src[x + j] * id));
      dst[b + 4 + j] = Math.max(-128, Math.min(127, q)) & 0xff;
      sum += q; // summed from the int32 lanes, before the saturating packs
    }
    writeF16(dst, b + 2, fround(d * sum));
  }
}

export const Q8_1: BlockCodec = { type: GGMLType.Q8_1, blockSize: QK, typeSize: SIZE, dequantize, quantize };
