import type { GGMLType } from '../quant/types.ts';

/** GGUF metadata value types (gguf.h `enum gguf_type`). */
export enum GGUFValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/**
 * A metadata value as read. 64-bit integers are bigint; arrays of numbers keep a
 * plain JS array (token score and type arrays have ~100k entries, which is fine).
 */
export type GGUFValue = number | bigint | boolean | string | GGUFValue[];

export interface GGUFMetadataEntry {
  readonly type: GGUFValueType;
  /** For arrays: the element type (nested arrays have ARRAY here). */
  readonly arrayType?: GGUFValueType;
  readonly value: GGUFValue;
  /**
   * Only for arrays of arrays: the inner arrays as entries, so that their element
   * types survive (the plain `value` cannot tell u32 from i32).
   */
  readonly elements?: readonly GGUFMetadataEntry[];
}

export interface GGUFTensorInfo {
  readonly name: string;
  /** ne[0] first: ne[0] is the contiguous (row) dimension, as ggml orders them. */
  readonly shape: readonly number[];
  readonly type: GGMLType;
  /** Offset relative to the start of the tensor data section. */
  readonly offset: number;
  /** Absolute offset in the file. */
  readonly fileOffset: number;
  readonly byteSize: number;
  readonly nElements: number;
}

export interface GGUFFile {
  readonly version: number;
  readonly alignment: number;
  /** Absolute offset of the tensor data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
  readonly metadata: ReadonlyMap<string, GGUFMetadataEntry>;
  readonly tensors: readonly GGUFTensorInfo[];
}
