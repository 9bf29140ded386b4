/**
 * One tensor's way from safetensors to GGUF: the family's transform on the
 * float32 values, the choice of output type, and the encoding into ggml blocks.
 */
import { ChordError } from '../../../shared/errors.ts';
import { quantizeRow } from '../../quant/index.ts';
import { GGMLType, typeTraits } from '../../quant/types.ts';
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
