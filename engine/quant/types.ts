/**
 * The ggml tensor types, as numbered in GGUF files (ggml.h `enum ggml_type`),
 * with their block layout: `blockSize` elements are stored in `typeSize` bytes.
 * `vecDotType` is the partner format llama.cpp's CPU backend quantizes the
 * activations to before a matrix product with weights of this type.
 * Field layouts of each block are documented beside its codec in quant/formats/.
 */
export enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
}

export const QK_K = 256;

/** The weight formats the engine computes with and writes: the 13 of the kernels, the quantizer and the oracle tests. */
export const WEIGHT_TYPES: readonly GGMLType[] = [
  GGMLType.F32,
  GGMLType.F16,
  GGMLType.BF16,
  GGMLType.Q4_0,
  GGMLType.Q4_1,
  GGMLType.Q5_0,
  GGMLType.Q5_1,
  GGMLType.Q8_0,
  GGMLType.Q2_K,
  GGMLType.Q3_K,
  GGMLType.Q4_K,
  GGMLType.Q5_K,
  GGMLType.Q6_K,
];

export interface TypeTraits {
  readonly type: GGMLType;
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** Whether our engine can compute with tensors of this type. */
  readonly supported: boolean;
  /** Activation format for matrix products (llama.cpp CPU `vec_dot_type`). */
  readonly vecDotType: GGMLType;
}

const t = (
  type: GGMLType,
  blockSize: number,
  typeSize: number,
  supported: boolean,
  vecDotType: GGMLType = type,
): TypeTraits => ({ type, name: GGMLType[type], blockSize, typeSize, supported, vecDotType });

export const TYPE_TRAITS: ReadonlyMap<GGMLType, TypeTraits> = new Map(
  [
    t(GGMLType.F32, 1, 4, true),
    t(GGMLType.F16, 1, 2, true),
    t(GGMLType.BF16, 1, 2, true),
    t(GGMLType.Q4_0, 32, 18, true, GGMLType.Q8_0),
    t(GGMLType.Q4_1, 32, 20, true, GGMLType.Q8_1),
    t(GGMLType.Q5_0, 32, 22, true, GGMLType.Q8_0),
    t(GGMLType.Q5_1, 32, 24, true, GGMLType.Q8_1),
    t(GGMLType.Q8_0, 32, 34, true, GGMLType.Q8_0),
    t(GGMLType.Q8_1, 32, 36, true, GGMLType.Q8_1),
    t(GGMLType.Q2_K, QK_K, 84, true, GGMLType.Q8_K),
    t(GGMLType.Q3_K, QK_K, 110, true, GGMLType.Q8_K),
    t(GGMLType.Q4_K, QK_K, 144, true, GGMLType.Q8_K),
    t(GGMLType.Q5_K, QK_K, 176, true, GGMLType.Q8_K),
    t(GGMLType.Q6_K, QK_K, 210, true, GGMLType.Q8_K),
    t(GGMLType.Q8_K, QK_K, 292, true, GGMLType.Q8_K),
    t(GGMLType.IQ2_XXS, QK_K, 66, false),
    t(GGMLType.IQ2_XS, QK_K, 74, false),
    t(GGMLType.IQ3_XXS, QK_K, 98, false),
    t(GGMLType.IQ1_S, QK_K, 50, false),
    t(GGMLType.IQ4_NL, 32, 18, false),
    t(GGMLType.IQ3_S, QK_K, 110, false),
    t(GGMLType.IQ2_S, QK_K, 82, false),
    t(GGMLType.IQ4_XS, QK_K, 136, false),
    t(GGMLType.I8, 1, 1, false),
    t(GGMLType.I16, 1, 2, false),
    t(GGMLType.I32, 1, 4, false),
    t(GGMLType.I64, 1, 8, false),
    t(GGMLType.F64, 1, 8, false),
    t(GGMLType.IQ1_M, QK_K, 56, false),
    t(GGMLType.TQ1_0, QK_K, 54, false),
    t(GGMLType.TQ2_0, QK_K, 66, false),
    t(GGMLType.MXFP4, 32, 17, false),
  ].map((tr) => [tr.type, tr]),
);

export function typeTraits(type: GGMLType): TypeTraits | undefined {
  return TYPE_TRAITS.get(type);
}

/** Bytes taken by `nElements` of `type`, or undefined when not a whole number of blocks. */
export function byteSizeOf(type: GGMLType, nElements: number): number | undefined {
  const tr = TYPE_TRAITS.get(type);
  if (!tr || nElements % tr.blockSize !== 0) return undefined;
  return (nElements / tr.blockSize) * tr.typeSize;
}
