/**
 * The quantization core: one codec per block format (formats/*.ts), and the
 * row-level entry points the engine uses. Everything here is bit-exact with
 * llama.cpp (checked against its own shared libraries, see
 * tests/unit/engine/quant/llama-oracle.test.ts):
 * - dequantizeRow: ggml-quants.c dequantize_row_* (and the fp16/bf16 rows);
 * - quantizeRow: ggml-quants.c quantize_row_*_ref (how model files are made);
 * - quantizeActivations: what the x86 CPU backend applies to activations
 *   (ggml-cpu/arch/x86/quants.c in its AVX/AVX2/AVX-512 builds);
 * - vecDot: ggml-cpu/quants.c ggml_vec_dot_*_generic, with C float32 semantics
 *   (no FMA contraction). llama.cpp's SIMD dot products sum in another order;
 *   on random rows they differ from these by up to ~1e-4 relative.
 */
import { ChordError } from '../../shared/errors.ts';
import type { BlockCodec } from './formats/block.ts';
import { BF16, F16, F32 } from './formats/float.ts';
import { Q2_K } from './formats/q2_k.ts';
import { Q3_K } from './formats/q3_k.ts';
import { Q4_0 } from './formats/q4_0.ts';
import { Q4_1 } from './formats/q4_1.ts';
import { Q4_K } from './formats/q4_k.ts';
import { Q5_0 } from './formats/q5_0.ts';
import { Q5_1 } from './formats/q5_1.ts';
import { Q5_K } from './formats/q5_k.ts';
import { Q6_K } from './formats/q6_k.ts';
import { Q8_0, quantizeQ8_0Activations } from './formats/q8_0.ts';
import { Q8_1, quantizeQ8_1Activations } from './formats/q8_1.ts';
import { Q8_K } from './formats/q8_k.ts';
import { GGMLType, TYPE_TRAITS } from './types.ts';

export type { BlockCodec } from './formats/block.ts';
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, roundToF16 } from './fp16.ts';
export { byteSizeOf, GGMLType, QK_K, TYPE_TRAITS, typeTraits } from './types.ts';

const CODECS: ReadonlyMap<GGMLType, BlockCodec> = new Map(
  [F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K].map((c) => [c.type, c]),
);

/** The codec of a format, or a ChordError('UNSUPPORTED_QUANT_TYPE'). */
export function codecFor(type: GGMLType): BlockCodec {
  const codec = CODECS.get(type);
  if (codec === undefined) {
    throw new ChordError('UNSUPPORTED_QUANT_TYPE', `no codec for tensor type ${GGMLType[type] ?? type}`, { type });
  }
  return codec;
}

/** Formats we can dequantize (and so compute with). */
export function canDequantize(type: GGMLType): boolean {
  return CODECS.has(type);
}

/** Formats with a reference quantizer (quantizeRow). */
export function canQuantize(type: GGMLType): boolean {
  return CODECS.get(type)?.quantize !== undefined;
}

function blocksOf(codec: BlockCodec, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n % codec.blockSize !== 0) {
    throw new ChordError('INVALID_ARGUMENT', `${n} elements is not a whole number of ${GGMLType[codec.type]} blocks`, {
      type: codec.type,
      n,
      blockSize: codec.blockSize,
    });
  }
  return n / codec.blockSize;
}

function checkRange(what: string, length: number, offset: number, count: number): void {
  if (offset < 0 || offset + count > length) {
    throw new ChordError('INVALID_ARGUMENT', `${what}: range ${offset}+${count} exceeds length ${length}`);
  }
}

/** Bytes taken by n elements of `type` (n a whole number of blocks). */
export function rowBytes(type: GGMLType, n: number): number {
  const codec = codecFor(type);
  return blocksOf(codec, n) * codec.typeSize;
}

/**
 * Decodes n elements of `type` from src (starting at byte srcOffset) into dst
 * (starting at element dstOffset): ggml's dequantize_row_* / to_float.
 */
export function dequantizeRow(
  type: GGMLType,
  src: Uint8Array,
  dst: Float32Array,
  n: number,
  srcOffset = 0,
  dstOffset = 0,
): void {
  const codec = codecFor(type);
  const nBlocks = blocksOf(codec, n);
  checkRange('dequantizeRow source', src.length, srcOffset, nBlocks * codec.typeSize);
  checkRange('dequantizeRow destination', dst.length, dstOffset, n);
  codec.dequantize(src, srcOffset, dst, dstOffset, nBlocks);
}

function quantizerOf(type: GGMLType): NonNullable<BlockCodec['quantize']> {
  const codec = codecFor(type);
  if (codec.quantize === undefined) {
    throw new ChordError('UNSUPPORTED_QUANT_TYPE', `no reference quantizer for ${GGMLType[type]}`, { type });
  }
  return codec.quantize;
}

/**
 * Encodes src[srcOffset .. srcOffset+n) as `type` into dst at byte dstOffset
 * with ggml's quantize_row_*_ref (what model files are made with). Returns the
 * number of bytes written. Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, Q8_1, Q8_K, and the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (their _ref
 * paths, i.e. without an importance matrix).
 */
export function quantizeRowInto(
  type: GGMLType,
  src: Float32Array,
  srcOffset: number,
  n: number,
  dst: Uint8Array,
  dstOffset: number,
): number {
  const quantize = quantizerOf(type);
  const codec = codecFor(type);
  const nBlocks = blocksOf(codec, n);
  const bytes = nBlocks * codec.typeSize;
  checkRange('quantizeRow source', src.length, srcOffset, n);
  checkRange('quantizeRow destination', dst.length, dstOffset, bytes);
  quantize(src, srcOffset, dst, dstOffset, nBlocks);
  return bytes;
}

/** quantizeRowInto into a fresh array: the first n (default: all) elements of src. */
export function quantizeRow(type: GGMLType, src: Float32Array, n: number = src.length): Uint8Array {
  const dst = new Uint8Array(rowBytes(type, n));
  quantizeRowInto(type, src, 0, n, dst, 0);
  return dst;
}

/** The activation format a weight type is multiplied against (llama.cpp CPU vec_dot_type). */
export function vecDotTypeOf(weightType: GGMLType): GGMLType {
  const traits = TYPE_TRAITS.get(weightType);
  if (traits === undefined || !CODECS.has(weightType)) {
    throw new ChordError('UNSUPPORTED_QUANT_TYPE', `no dot product for ${GGMLType[weightType] ?? weightType}`, {
      type: weightType,
    });
  }
  return traits.vecDotType;
}

/** Bytes needed for n activations in `type` (an activation format: F32, F16, BF16, Q8_0, Q8_1, Q8_K). */
export function activationBytes(type: GGMLType, n: number): number {
  activationQuantizer(type);
  return rowBytes(type, n);
}

type RowQuantizer = (src: Float32Array, srcOffset: number, dst: Uint8Array, dstOffset: number, nBlocks: number) => void;

/**
 * What llama.cpp's x86 CPU backend (the AVX2 / AVX-512 builds that run on the
 * machines we compare with) applies to activations, the `from_float` of the
 * vec_dot_type. We follow it rather than the _ref quantizers because the
 * activations are what our outputs are compared on:
 * - Q8_0, Q8_1: arch/x86 quantize_row_q8_0/q8_1, NOT the _ref functions:
 *   d = max/127, id = 127/max, round half to even (_mm256_round_ps). These give
 *   different bytes from the reference on ties and on some last-bit cases.
 *   (Builds without AVX, and other architectures' scalar fallbacks, use _ref;
 *   the repacked Q4_0 path's ggml_quantize_mat_q8_0_4x8 mirrors this one.)
 * - Q8_K: quantize_row_q8_K_ref (x86 has no SIMD version).
 * - F16: F16C conversion, round to nearest even (same as f32ToF16).
 * - BF16: ggml_cpu_fp32_to_bf16 = ggml_compute_fp32_to_bf16 (same as f32ToBf16).
 * - F32: a copy.
 */
function activationQuantizer(type: GGMLType): RowQuantizer {
  switch (type) {
    case GGMLType.Q8_0:
      return quantizeQ8_0Activations;
    case GGMLType.Q8_1:
      return quantizeQ8_1Activations;
    case GGMLType.Q8_K:
    case GGMLType.F16:
    case GGMLType.BF16:
    case GGMLType.F32:
      return quantizerOf(type);
    default:
      throw new ChordError('UNSUPPORTED_QUANT_TYPE', `${GGMLType[type] ?? type} is not an activation format`, { type });
  }
}

/**
 * Quantizes n activations src[srcOffset ..) into dst at byte dstOffset in
 * `type` exactly as llama.cpp's x86 CPU backend does before a matrix product
 * (see activationQuantizer above). Returns the bytes written.
 */
export function quantizeActivations(
  type: GGMLType,
  src: Float32Array,
  srcOffset: number,
  n: number,
  dst: Uint8Array,
  dstOffset: number,
): number {
  const quantize = activationQuantizer(type);
  const codec = codecFor(type);
  const nBlocks = blocksOf(codec, n);
  const bytes = nBlocks * codec.typeSize;
  checkRange('quantizeActivations source', src.length, srcOffset, n);
  checkRange('quantizeActivations destination', dst.length, dstOffset, bytes);
  quantize(src, srcOffset, dst, dstOffset, nBlocks);
  return bytes;
}

/**
 * Dot product of one weight row (n elements of weightType at w[wOffset..]) with
 * activations already in vecDotTypeOf(weightType) at a[aOffset..], computed as
 * ggml_vec_dot_<w>_<a>_generic (F32/F16/BF16: the scalar ggml_vec_dot_* path).
 * Checks only the type and the block count: this is the hot loop.
 */
export function vecDot(
  weightType: GGMLType,
  n: number,
  w: Uint8Array,
  wOffset: number,
  a: Uint8Array,
  aOffset: number,
): number {
  const codec = codecFor(weightType);
  if (codec.vecDot === undefined) {
    throw new ChordError('UNSUPPORTED_QUANT_TYPE', `no dot product for ${GGMLType[weightType]}`, { type: weightType });
  }
  if (n % codec.blockSize !== 0) blocksOf(codec, n); // throws INVALID_ARGUMENT
  return codec.vecDot(n / codec.blockSize, w, wOffset, a, aOffset);
}
