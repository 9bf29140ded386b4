/**
 * Q4_0: 32 weights in 18 bytes, x = d * (q - 8), q in 0..15.
 *
 *   offset 0   d       f16      scale
 *   offset 2   qs[16]  u8       low nibble of qs[j] is weight j, high nibble weight j+16
 *
 * Activations for the dot product are Q8_0.
 */
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, int8ViewOf, readF16, truncToInt8, writeF16 } from './block.ts';

const QK = 32;
const SIZE = 18;
const Q8_0_SIZE = 34;

function dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void {
  for (let i = 0; i < nBlocks; i++) {
    const b = srcOffset + i * SIZE;
    const y = dstOffset + i * QK;
    const d = readF16(src, b);
    for (let j = 0; j < QK / 2; j++) {
      const q = src[b + 2 + j];
      dst[y + j] = ((q & 0x0f) - 8) * d;
      dst[y + j + QK / 2] = ((q >> 4) - 8) * d;
    }
  }
}

/** quantize_row_q4_0_ref: d = (signed value of largest magnitude) / -8, so that value maps to q = 0. */
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
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    writeF16(dst, b, d);
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fround(src[x + j] * id);
      const x1 = fround(src[x + j + QK / 2] * id);
      // MIN(15, (int8_t)(x + 8.5f)): truncation after adding 8.5 rounds half up.
      const q0 = Math.min(15, truncToInt8(fround(x0 + 8.5))) & 0xff;
      const q1 = Math.min(15, truncToInt8(fround(x1 + 8.5))) & 0xff;
      dst[b + 2 + j] = (q0 | (q1 << 4)) & 0xff;
    }
  }
}

/** ggml_vec_dot_q4_0_q8_0_generic: integer sum per block, then sumi * dw * da. */
function vecDot(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const a8 = int8ViewOf(a); // a8[a.byteOffset + k] is a[k] as int8
  let sumf = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * SIZE;
    const ab = aOffset + i * Q8_0_SIZE;
    const aq = a.byteOffset + ab + 2;
    let sumi0 = 0;
    let sumi1 = 0;
    for (let j = 0; j < QK / 2; j++) {
      const q = w[wb + 2 + j];
      sumi0 += ((q & 0x0f) - 8) * a8[aq + j];
      sumi1 += ((q >> 4) - 8) * a8[aq + j + QK / 2];
    }
    const sumi = sumi0 + sumi1;
    sumf = fround(sumf + fround(fround(sumi * readF16(w, wb)) * readF16(a, ab)));
  }
  return sumf;
}

export const Q4_0: BlockCodec = { type: GGMLType.Q4_0, blockSize: QK, typeSize: SIZE, dequantize, quantize, vecDot };
