/**
 * The unquantized formats, as one-element "blocks":
 *   F32   4 bytes, IEEE binary32 LE
 *   F16   2 bytes, IEEE binary16 LE
 *   BF16  2 bytes, bfloat16 LE (the upper half of a binary32)
 *
 * Each is its own activation format. Dot products follow ggml's scalar
 * ggml_vec_dot_{f32,f16,bf16} (the non-SIMD build): each product is rounded to
 * float32, the sum is kept in double (ggml_float) and rounded to float at the end.
 */

import { bf16ToF32, f16Table, f32Bits, f32ToBf16, f32ToF16 } from '../fp16.ts';
import { GGMLType } from '../types.ts';
import { type BlockCodec, fround, readF32, readU16, writeU16, writeU32 } from './block.ts';

// Whole-buffer views, made once per buffer, so that aligned rows are read
// without allocating. Unaligned rows fall back to byte access.
const f32Views = new WeakMap<ArrayBufferLike, Float32Array>();
const u16Views = new WeakMap<ArrayBufferLike, Uint16Array>();

function f32ViewOf(b: Uint8Array): Float32Array {
  let v = f32Views.get(b.buffer);
  if (v === undefined || v.length !== b.buffer.byteLength >>> 2) {
    v = new Float32Array(b.buffer, 0, b.buffer.byteLength >>> 2);
    f32Views.set(b.buffer, v);
  }
  return v;
}

function u16ViewOf(b: Uint8Array): Uint16Array {
  let v = u16Views.get(b.buffer);
  if (v === undefined || v.length !== b.buffer.byteLength >>> 1) {
    v = new Uint16Array(b.buffer, 0, b.buffer.byteLength >>> 1);
    u16Views.set(b.buffer, v);
  }
  return v;
}

function dequantizeF32(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, n: number): void {
  const byteStart = src.byteOffset + srcOffset;
  if ((byteStart & 3) === 0) {
    const view = f32ViewOf(src);
    dst.set(view.subarray(byteStart >>> 2, (byteStart >>> 2) + n), dstOffset);
    return;
  }
  for (let i = 0; i < n; i++) dst[dstOffset + i] = readF32(src, srcOffset + 4 * i);
}

function quantizeF32(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, n: number): void {
  for (let i = 0; i < n; i++) writeU32(dst, dstOffset + 4 * i, f32Bits(src[srcOffset + i]));
}

function vecDotF32(n: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const wb = w.byteOffset + wOffset;
  const ab = a.byteOffset + aOffset;
  let sum = 0; // ggml_float (double)
  if ((wb & 3) === 0 && (ab & 3) === 0) {
    const wv = f32ViewOf(w);
    const av = f32ViewOf(a);
    const wi = wb >>> 2;
    const ai = ab >>> 2;
    for (let i = 0; i < n; i++) sum += fround(wv[wi + i] * av[ai + i]);
  } else {
    for (let i = 0; i < n; i++) sum += fround(readF32(w, wOffset + 4 * i) * readF32(a, aOffset + 4 * i));
  }
  return fround(sum);
}

function dequantizeF16(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, n: number): void {
  const table = f16Table();
  const byteStart = src.byteOffset + srcOffset;
  if ((byteStart & 1) === 0) {
    const view = u16ViewOf(src);
    const s = byteStart >>> 1;
    for (let i = 0; i < n; i++) dst[dstOffset + i] = table[view[s + i]];
    return;
  }
  for (let i = 0; i < n; i++) dst[dstOffset + i] = table[readU16(src, srcOffset + 2 * i)];
}

function quantizeF16(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, n: number): void {
  for (let i = 0; i < n; i++) writeU16(dst, dstOffset + 2 * i, f32ToF16(src[srcOffset + i]));
}

function vecDotF16(n: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const table = f16Table();
  const wb = w.byteOffset + wOffset;
  const ab = a.byteOffset + aOffset;
  let sum = 0; // ggml_float (double)
  if ((wb & 1) === 0 && (ab & 1) === 0) {
    const wv = u16ViewOf(w);
    const av = u16ViewOf(a);
    const wi = wb >>> 1;
    const ai = ab >>> 1;
    for (let i = 0; i < n; i++) {
      sum += fround(table[wv[wi + i]] * table[av[ai + i]]);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = table[readU16(w, wOffset + 2 * i)];
      const y = table[readU16(a, aOffset + 2 * i)];
      sum += fround(x * y);
    }
  }
  return fround(sum);
}

function dequantizeBF16(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstOffset + i] = bf16ToF32(readU16(src, srcOffset + 2 * i));
}

function quantizeBF16(src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, n: number): void {
  for (let i = 0; i < n; i++) writeU16(dst, dstOffset + 2 * i, f32ToBf16(src[srcOffset + i]));
}

function vecDotBF16(n: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  let sum = 0; // ggml_float (double)
  for (let i = 0; i < n; i++) {
    sum += fround(bf16ToF32(readU16(w, wOffset + 2 * i)) * bf16ToF32(readU16(a, aOffset + 2 * i)));
  }
  return fround(sum);
}

export const F32: BlockCodec = {
  type: GGMLType.F32,
  blockSize: 1,
  typeSize: 4,
  dequantize: dequantizeF32,
  quantize: quantizeF32,
  vecDot: vecDotF32,
};

export const F16: BlockCodec = {
  type: GGMLType.F16,
  blockSize: 1,
  typeSize: 2,
  dequantize: dequantizeF16,
  quantize: quantizeF16,
  vecDot: vecDotF16,
};

export const BF16: BlockCodec = {
  type: GGMLType.BF16,
  blockSize: 1,
  typeSize: 2,
  dequantize: dequantizeBF16,
  quantize: quantizeBF16,
  vecDot: vecDotBF16,
};
