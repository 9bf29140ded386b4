/**
 * Shared plumbing for the block codecs: the codec shape, little-endian field
 * access on byte arrays, and float32 arithmetic helpers.
 *
 * Float arithmetic: ggml computes in float32. JavaScript computes in float64,
 * so every float operation of the C code is followed by Math.fround here. For
 * a single +, -, *, / of two float32 values this gives exactly the float32
 * result (double rounding is harmless because 53 >= 2*24 + 2). Integer parts
 * are exact in doubles. We follow the C expressions as written, unfused
 * (no FMA contraction).
 */

import { f16ToF32, f32FromBits, f32ToF16 } from '../fp16.ts';
import type { GGMLType } from '../types.ts';

export const fround = Math.fround;

/** One block format: layout sizes and its scalar reference functions. */
export interface BlockCodec {
  readonly type: GGMLType;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** ggml `dequantize_row_*` over `nBlocks` consecutive blocks. */
  dequantize(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, nBlocks: number): void;
  /** ggml `quantize_row_*_ref` over `nBlocks` blocks, where we have one. */
  readonly quantize?: (
    src: Float32Array,
    srcOffset: number,
    dst: Uint8Array,
    dstOffset: number,
    nBlocks: number,
  ) => void;
  /**
   * ggml `ggml_vec_dot_<type>_<vecDotType>_generic`: one weight row of `nBlocks`
   * blocks against activations already in the partner format.
   */
  readonly vecDot?: (nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number) => number;
}

const int8Views = new WeakMap<ArrayBufferLike, Int8Array>();

/**
 * The bytes of `b` seen as int8, as a view over b's whole buffer (made once per
 * buffer, so hot loops do not allocate): element `b.byteOffset + i` is b[i] as int8.
 */
export function int8ViewOf(b: Uint8Array): Int8Array {
  let v = int8Views.get(b.buffer);
  if (v === undefined || v.length !== b.buffer.byteLength) {
    v = new Int8Array(b.buffer);
    int8Views.set(b.buffer, v);
  }
  return v;
}

/** Unsigned 16-bit little-endian. */
/** max |x| over n values from `start`: the scale of the 8-bit formats. */
export function absMax(src: Float32Array, start: number, n: number): number {
  let amax = 0;
  for (let j = 0; j < n; j++) amax = Math.max(amax, Math.abs(src[start + j]));
  return amax;
}

export function readU16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/** Signed 16-bit little-endian. */
export function readI16(b: Uint8Array, o: number): number {
  return ((b[o] | (b[o + 1] << 8)) << 16) >> 16;
}

/** Unsigned 32-bit little-endian. */
export function readU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** Signed 8-bit. */
export function readI8(b: Uint8Array, o: number): number {
  return (b[o] << 24) >> 24;
}

/** An f16 field, as a float. */
export function readF16(b: Uint8Array, o: number): number {
  return f16ToF32(b[o] | (b[o + 1] << 8));
}

/** An f32 field (little-endian), as a float. */
export function readF32(b: Uint8Array, o: number): number {
  return f32FromBits(readU32(b, o));
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** Stores a float as an f16 field (GGML_FP32_TO_FP16). */
export function writeF16(b: Uint8Array, o: number, x: number): void {
  writeU16(b, o, f32ToF16(x));
}

/** C `roundf`: round half away from zero. */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** x86 `_mm256_round_ps(x, _MM_ROUND_NEAREST)` / `nearbyint`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties go up
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/**
 * ggml's `nearest_int` (ggml-quants.c): adds 1.5*2^23 in float32 so the FPU's
 * round-to-nearest-even does the rounding, then reads the integer back out of
 * the mantissa. Valid for |x| <= 4194303.
 */
export function nearestInt(x: number): number {
  return roundHalfEven(fround(x)) | 0; // an int: no -0
}

/** Truncating C cast of a float to int8_t, for values inside int8 range after truncation. */
export function truncToInt8(x: number): number {
  return ((Math.trunc(x) | 0) << 24) >> 24;
}
