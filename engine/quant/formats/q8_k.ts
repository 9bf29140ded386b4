/**
 * Q8_K: 256 values in 292 bytes, x = d * q, q in -128..127. Only an
 * intermediate format: the activations for every K-quant dot product.
 *
 *   offset 0     d          f32 LE   scale (a full float, unlike the other formats)
 *   offset 4     qs[256]    i8       quants
 *   offset 260   bsums[16]  i16 LE   sum of each group of 16 quants
 *
 * quantize_row_q8_K_ref (which is also what llama.cpp's x86 CPU backend uses
 * for activations): iscale = -127 / (signed value of largest magnitude),
 * q = MIN(127, nearest_int(iscale * x)) with nearest_int rounding half to even,
 * d = 1 / iscale.
 */

import { f32Bits } from '../fp16.ts';
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, nearestInt, readF32, readI8, writeU16, writeU32 } from './block.ts';

const QK = 256;
const SIZE = 292;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF32(src, b);
    for (let j = 0; j < QK; j++) dst[y + j] = d * readI8(src, b + 4 + j);
  }
}

function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    let max = 0;
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const ax = Math.abs(src[x + j]);
      if (ax > amax) {
        amax = ax;
        max = src[x + j];
      }
    }
    if (amax === 0) {
      // ggml leaves bsums untouched here; we write zeros, which is what they sum to.
      dst.fill(0, b, b + SIZE);
      continue;
    }
    const iscale = fround(-127 / max);
    for (let g = 0; g < QK / 16; g++) {
      let sum = 0;
      for (let l = 0; l < 16; l++) {
        const j = g * 16 + l;
        const q = Math.min(127, nearestInt(fround(iscale * src[x + j])));
        dst[b + 4 + j] = q & 0xff;
        sum += q;
      }
      writeU16(dst, b + 260 + 2 * g, sum & 0xffff);
    }
    writeU32(dst, b, f32Bits(fround(1 / iscale)));
  }
}

export const Q8_K: BlockCodec = { type: GGMLType.Q8_K, blockSize: QK, typeSize: SIZE, dequantize, quantize };
