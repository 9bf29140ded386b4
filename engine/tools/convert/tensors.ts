/**
 * One tensor's way from safetensors to GGUF: the family's transform on the
 * float32 values, the choice of output type, and the encoding into ggml blocks.
 */
import { ChordError } from '../../../shared/errors.ts';
import type { ByteSource } from '../../io/byte-source.ts';
import { quantizeRow, quantizeRowInto, rowBytes } from '../../quant/index.ts';
import { GGMLType, typeTraits } from '../../quant/types.ts';
import { readElementsF32, type SafetensorsTensorInfo } from '../safetensors.ts';
import type { TensorTransform } from './families.ts';

/**
 * Rows of a [nHead * headDim, cols] projection, each head's halves interleaved:
 * HF row h·d + j·d/2 + i goes to h·d + 2i + j (LlamaModel.permute, which reshapes
 * to (n_head, 2, d/2, cols) and swaps the middle axes).
 */
export function permuteHeads(values: Float32Array, rows: number, nHead: number): Float32Array {
  if (rows % (2 * nHead) !== 0) {
    throw new ChordError('MODEL_INVALID', `cannot split ${rows} rows into ${nHead} heads of pairs`);
  }
  const cols = values.length / rows;
  const d = rows / nHead;
  const half = d / 2;
  const out = new Float32Array(values.length);
  for (let h = 0; h < nHead; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = (h * d + j * half + i) * cols;
        const to = (h * d + 2 * i + j) * cols;
        out.set(values.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

export interface TransformContext {
  nHead: number;
  nKvHead: number;
}

/** Applies a family transform; `shape` is row-major (HF order). */
export function applyTransform(
  transform: TensorTransform | undefined,
  values: Float32Array,
  shape: readonly number[],
  ctx: TransformContext,
): Float32Array {
  switch (transform) {
    case undefined:
      return values;
    case 'permute-q':
      return permuteHeads(values, shape[0], ctx.nHead);
    case 'permute-k':
      return permuteHeads(values, shape[0], ctx.nKvHead);
    case 'plus-one': {
      const out = new Float32Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = values[i] + 1;
      return out;
    }
  }
}

/**
 * The type a tensor is written in (convert_hf_to_gguf.py prepare_tensors): vectors
 * and norm weights stay F32; matrices take the requested type, falling back to
 * F16 when their rows are not a whole number of the type's blocks.
 */
export function outputType(ggufName: string, rowMajorShape: readonly number[], requested: GGMLType): GGMLType {
  if (rowMajorShape.length <= 1 || ggufName.endsWith('_norm.weight')) return GGMLType.F32;
  const traits = typeTraits(requested);
  const rowLength = rowMajorShape[rowMajorShape.length - 1];
  if (traits && rowLength % traits.blockSize !== 0) return GGMLType.F16;
  return requested;
}

/** The values encoded in `type` with engine/quant's reference quantizers (F32/F16/BF16 included). */
export function encodeTensor(values: Float32Array, type: GGMLType): Uint8Array {
  return quantizeRow(type, values);
}

/** About this many float32 values are converted at a time (16 MiB). */
const SLAB_ELEMENTS = 1 << 22;

/**
 * Reads, transforms and encodes a tensor in slabs of whole rows (whole heads for
 * the permutations), straight into its output bytes: memory holds the output and
 * one slab, not the tensor's float32 values.
 */
export async function convertTensor(
  source: ByteSource,
  info: SafetensorsTensorInfo,
  transform: TensorTransform | undefined,
  ctx: TransformContext,
  type: GGMLType,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const shape = info.shape;
  // Vectors are rows of one element here, so that a permuted bias moves like its matrix's rows.
  const rows = shape.length > 0 ? shape[0] : 1;
  const rowLength = info.nElements / rows;
  // A permutation moves rows within a head: slabs hold whole heads.
  const heads = transform === 'permute-q' ? ctx.nHead : transform === 'permute-k' ? ctx.nKvHead : rows;
  const unit = transform === 'permute-q' || transform === 'permute-k' ? rows / heads : 1;
  if (!Number.isInteger(unit)) {
    throw new ChordError('MODEL_INVALID', `cannot split ${rows} rows of '${info.name}' into ${heads} heads`);
  }
  const rowsPerSlab = Math.max(unit, Math.floor(SLAB_ELEMENTS / rowLength / unit) * unit);
  const outRowBytes = rowBytes(type, rowLength);
  const out = new Uint8Array(rows * outRowBytes);
  for (let r = 0; r < rows; r += rowsPerSlab) {
    const n = Math.min(rowsPerSlab, rows - r);
    const values = await readElementsF32(source, info, r * rowLength, n * rowLength, signal);
    const slabShape = shape.length > 1 ? [n, ...shape.slice(1)] : shape;
    const slabCtx = { nHead: n / unit, nKvHead: n / unit };
    const transformed = applyTransform(transform, values, slabShape, slabCtx);
    quantizeRowInto(type, transformed, 0, n * rowLength, out, r * outRowBytes);
  }
  return out;
}
