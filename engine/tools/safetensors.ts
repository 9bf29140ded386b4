/**
 * The safetensors format (huggingface/safetensors), read over a ByteSource so that
 * a model is never held whole, and written (for tests: random-weight HF folders).
 *
 *   u64 little-endian N | N bytes of JSON header | tensor data
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]},
 * offsets relative to the start of the data; the optional "__metadata__" entry is
 * a string-to-string map. Tensors are row-major (the last dimension contiguous),
 * little-endian, with no padding between them required.
 *
 * A sharded model ("model-00001-of-00002.safetensors" ...) has an index,
 * model.safetensors.index.json: {"weight_map": {tensor name: shard file name}}.
 */
import { ChordError } from '../../shared/errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../quant/fp16.ts';

/** Element types we read into float32 (the ones model weights come in). */
export type SafetensorsFloatType = 'F32' | 'F16' | 'BF16';

/** Bytes per element of every dtype the format defines (others are refused). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The header is JSON text; the reference implementation refuses headers over 100 MB. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: string;
  /** Row-major: shape[shape.length - 1] is contiguous (the reverse of ggml's ne order). */
  readonly shape: readonly number[];
  readonly nElements: number;
  /** Absolute position of the first byte in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsFile {
  readonly source: ByteSource;
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
}

function invalid(source: ByteSource, message: string): ChordError {
  return new ChordError('MODEL_INVALID', `${source.name}: safetensors: ${message}`, { file: source.name });
}

/** Reads and checks the header (every tensor's extent inside the file); no tensor data is read. */
export async function readSafetensors(source: ByteSource, signal?: AbortSignal): Promise<SafetensorsFile> {
  if (source.size < 8) throw invalid(source, `file of ${source.size} bytes has no header`);
  const lengthBytes = await source.read(0, 8, signal);
  const n = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES) || 8 + Number(n) > source.size) {
    throw invalid(source, `header length ${n} does not fit a file of ${source.size} bytes`);
  }
  const headerLength = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await source.read(8, headerLength, signal)));
  } catch (e) {
    throw invalid(source, `header is not UTF-8 JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw invalid(source, 'header is not a JSON object');
  }
  const dataStart = 8 + headerLength;
  const dataSize = source.size - dataStart;
  const tensors = new Map<string, SafetensorsTensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(source, entry);
      continue;
    }
    tensors.set(name, parseTensor(source, name, entry, dataStart, dataSize));
  }
  return { source, tensors, metadata };
}

function parseMetadata(source: ByteSource, entry: unknown): Record<string, string> {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw invalid(source, '__metadata__ is not an object');
  }
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== 'string') throw invalid(source, `__metadata__.${k} is not a string`);
  }
  return entry as Record<string, string>;
}

function parseTensor(
  source: ByteSource,
  name: string,
  entry: unknown,
  dataStart: number,
  dataSize: number,
): SafetensorsTensorInfo {
  const bad = (why: string) => invalid(source, `tensor '${name}' ${why}`);
  if (entry === null || typeof entry !== 'object') throw bad('has no description');
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || DTYPE_BYTES[dtype] === undefined) throw bad(`has unknown dtype ${String(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad('has a bad shape');
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1] ||
    offsets[1] > dataSize
  ) {
    throw bad(`has data offsets ${JSON.stringify(offsets)} outside the ${dataSize} data bytes`);
  }
  const nElements = (shape as number[]).reduce((a, b) => a * b, 1);
  const byteLength = offsets[1] - offsets[0];
  if (nElements * DTYPE_BYTES[dtype] !== byteLength) {
    throw bad(`has ${byteLength} bytes for ${nElements} ${dtype} elements`);
  }
  return { name, dtype, shape: shape as number[], nElements, fileOffset: dataStart + offsets[0], byteLength };
}

/** A tensor's values as float32 (F32, F16 and BF16 tensors; others are refused). */
export function readTensorF32(
  source: ByteSource,
  t: SafetensorsTensorInfo,
  signal?: AbortSignal,
): Promise<Float32Array> {
  return readElementsF32(source, t, 0, t.nElements, signal);
}

/**
 * Elements [first, first + count) of a tensor (row-major order) as float32: a
 * slab of rows, so that a big tensor can be converted piece by piece.
 */
export async function readElementsF32(
  source: ByteSource,
  t: SafetensorsTensorInfo,
  first: number,
  count: number,
  signal?: AbortSignal,
): Promise<Float32Array> {
  const size = DTYPE_BYTES[t.dtype];
  if (first < 0 || count < 0 || first + count > t.nElements) {
    throw new ChordError(
      'INVALID_ARGUMENT',
      `${source.name}: elements ${first}+${count} of '${t.name}' (${t.nElements})`,
    );
  }
  const bytes = await source.read(t.fileOffset + first * size, count * size, signal);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < out.length; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < out.length; i++) out[i] = bf16ToF32(view.getUint16(2 * i, true));
      break;
    default:
      throw new ChordError('UNSUPPORTED_QUANT_TYPE', `${source.name}: tensor '${t.name}' has dtype ${t.dtype}`, {
        tensor: t.name,
        dtype: t.dtype,
      });
  }
  return out;
}

/** The tensor-to-shard map of model.safetensors.index.json. */
export function parseSafetensorsIndex(json: string, name = 'model.safetensors.index.json'): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new ChordError('MODEL_INVALID', `${name}: not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new ChordError('MODEL_INVALID', `${name}: no weight_map object`);
  }
  const map = new Map<string, string>();
  for (const [tensor, file] of Object.entries(weightMap)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
      throw new ChordError('MODEL_INVALID', `${name}: bad shard name for '${tensor}'`);
    }
    map.set(tensor, file);
  }
  return map;
}

export interface SafetensorsWriteTensor {
  name: string;
  shape: readonly number[];
  dtype: SafetensorsFloatType;
  /** Values, converted to dtype (F16/BF16 round to nearest even). */
  values: Float32Array;
}

/**
 * A safetensors file in memory. Like the reference writer, the header is padded
 * with spaces to a multiple of 8 bytes so that the data starts aligned.
 */
export function writeSafetensors(
  tensors: readonly SafetensorsWriteTensor[],
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.values.length) {
      throw new ChordError(
        'INVALID_ARGUMENT',
        `writeSafetensors: '${t.name}' has ${t.values.length} values, shape ${n}`,
      );
    }
    const size = n * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors) {
    for (const v of t.values) {
      if (t.dtype === 'F32') {
        view.setFloat32(at, v, true);
        at += 4;
      } else {
        view.setUint16(at, t.dtype === 'F16' ? f32ToF16(v) : f32ToBf16(v), true);
        at += 2;
      }
    }
  }
  return out;
}
