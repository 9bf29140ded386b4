/**
 * Q5_0: 32 weights in 22 bytes, x = d * (q - 16), q in 0..31.
 *
 *   offset 0   d       f16      scale
 *   offset 2   qh      u32 LE   bit j is the fifth bit of weight j
 *   offset 6   qs[16]  u8       low nibble of qs[j] is weight j, high nibble weight j+16
 *
 * Activations for the dot product are Q8_0.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, readU32, truncToInt8, writeF16, writeU32 } from './block.ts';

const QK = 32;
const SIZE = 22;
const Q8_0_SIZE = 34;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF16(src, b);
    const qh = readU32(src, b + 2);
    for (let j = 0; j < QK / 2; j++) {
      const q = src[b + 6 + j];
      const h0 = ((qh >>> j) << 4) & 0x10;
      const h1 = (qh >>> (j + 12)) & 0x10;
      dst[y + j] = (((q & 0x0f) | h0) - 16) * d;
      dst[y + j + QK / 2] = (((q >> 4) | h1) - 16) * d;
    }
  }
}

/** quantize_row_q5_0_ref: d = (signed value of largest magnitude) / -16, q = MIN(31, (int8_t)(x/d + 16.5f)). */
function quantize(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const x = srcOffset + i * QK;
    const b = dstOffset + i * SIZE;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = src[x + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -16);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(dst, b, d);
    let qh = 0;
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fround(src[x + j] * id);
      const x1 = fround(src[x + j + QK / 2] * id);
      const q0 = Math.min(31, truncToInt8(fround(x0 + 16.5))) & 0xff;
      const q1 = Math.min(31, truncToInt8(fround(x1 + 16.5))) & 0xff;
      dst[b + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + QK / 2);
    }
    writeU32(dst, b + 2, qh);
  }
}

/** ggml_vec_dot_q5_0_q8_0_generic: (dw * da) * sumi per block. */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  const aBase = a.byteOffset;
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_0_SIZE;
    const qh = readU32(w, wb + 2);
    let sumi0 = 0;
    let sumi1 = 0;
    for (let j = 0; j < QK / 2; j++) {
      const q = w[wb + 6 + j];
      const x0 = ((q & 0x0f) | (((qh >>> j) << 4) & 0x10)) - 16;
      const x1 = ((q >> 4) | ((qh >>> (j + 12)) & 0x10)) - 16;
      sumi0 += x0 * a8[aBase + ab + 2 + j];
      sumi1 += x1 * a8[aBase + ab + 2 + j + QK / 2];
    }
    const sumi = sumi0 + sumi1;
    sumf = fround(sumf + fround(fround(readF16(w, wb) * readF16(a, ab)) * sumi));
  }
  return sumf;
}

export const Q5_0: BlockCodec = { type: GGMLType.Q5_0, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
