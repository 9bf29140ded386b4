/**
 * Q8_0: 32 values in 34 bytes, x = d * q, q in -127..127.
 *
 *   offset 0   d       f16      scale = max|x| / 127
 *   offset 2   qs[32]  i8       quants
 *
 * Both a weight format and the activation format for Q4_0, Q5_0 and Q8_0 weights.
 * Two quantizers, because llama.cpp has two:
 * - `quantize` is quantize_row_q8_0_ref (model files): id = 1/d, roundf (half away from zero);
 * - `quantizeActivations` is what the x86 CPU backend (AVX/AVX2/AVX-512 builds)
 *   runs on activations before a matrix product: id = 127/max, and
 *   _mm256_round_ps(_MM_ROUND_NEAREST), i.e. round half to even.
 */
import { GGMLType } from '../types.ts';
import {
  absMax,
  type BlockCodec,
  fround,
  int8ViewOf,
  readF16,
  readI8,
  roundHalfAway,
  roundHalfEven,
  writeF16,
} from './block.ts';

const QK = 32;
const SIZE = 34;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF16(src, b);
    for (let j = 0; j < QK; j++) dst[y + j] = readI8(src, b + 2 + j) * d;
  }
}

/** quantize_row_q8_0_ref. */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    const d = fround(absMax(src, x, QK) / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(dst, b, d);
    for (let j = 0; j < QK; j++) dst[b + 2 + j] = roundHalfAway(fround(src[x + j] * id)) & 0xff;
  }
}

/** x86 quantize_row_q8_0 (AVX2 path), the one llama.cpp's CPU backend applies to activations. */
export function quantizeQ8_0Activations(
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
    writeF16(dst, b, fround(max / 127));
    const id = max !== 0 ? fround(127 / max) : 0;
    for (let j = 0; j < QK; j++) {
      const q = roundHalfEven(fround(src[x + j] * id));
      dst[b + 2 + j] = Math.max(-128, Math.min(127, q)) & 0xff; // packs_epi16 saturates
    }
  }
}

/** ggml_vec_dot_q8_0_q8_0_generic: sumi * (dw * da) per block. */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  const aBase = a.byteOffset;
  const w8 = int8ViewOf(w);
  const wBase = w.byteOffset;
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * SIZE;
    let sumi = 0;
    for (let j = 0; j < QK; j++) sumi += w8[wBase + wb + 2 + j] * a8[aBase + ab + 2 + j];
    sumf = fround(sumf + fround(sumi * fround(readF16(w, wb) * readF16(a, ab))));
  }
  return sumf;
}

export const Q8_0: BlockCodec = { type: GGMLType.Q8_0, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
