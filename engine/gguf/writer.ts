/**
 * GGUF writer (version 3 by default; version 2 has the same little-endian layout).
 * It lays the file out as gguf.cpp and gguf-py do, so that llama.cpp loads it and
 * a file read and re-written comes out byte for byte the same:
 *
 *   header | metadata | tensor infos | zero padding to the alignment
 *   tensor 0 data | zero padding to the alignment | tensor 1 data | padding | …
 *
 * Each tensor's offset is the running sum of the padded sizes before it, in the
 * order given; every tensor, the last included, is padded.
 *
 * `writeGGUFStream` hands the bytes to a sink in pieces and takes tensor data
 * lazily, so a converter never holds the whole model in memory.
 */
import { ChordError } from '../../shared/errors.ts';
import { type GGMLType, typeTraits } from '../quant/types.ts';
import { alignUp, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_DIMS, GGUF_MAX_TENSOR_NAME_BYTES } from './reader.ts';
import { type GGUFMetadataEntry, type GGUFValue, GGUFValueType } from './types.ts';

export type TensorData = Uint8Array | (() => Promise<Uint8Array>);

export interface GGUFWriteTensor {
  readonly name: string;
  /** ne[0] first (the contiguous row length), as ggml orders dimensions. */
  readonly shape: readonly number[];
  readonly type: GGMLType;
  /** The raw bytes in ggml's block layout, or a function that produces them when their turn comes. */
  readonly data: TensorData;
}

export interface GGUFWriteSpec {
  version?: 2 | 3;
  /** Tensor data alignment; written as `general.alignment` when not the default 32. */
  alignment?: number;
  /** Key-value pairs in file order (an array of pairs, or the metadata Map of a GGUFFile). */
  metadata: Iterable<readonly [string, GGUFMetadataEntry]>;
  tensors: readonly GGUFWriteTensor[];
}

/** Builders for metadata entries: `['llama.block_count', kv.u32(5)]`. */
export const kv = {
  u8: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.UINT8, value: v }),
  i8: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.INT8, value: v }),
  u16: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.UINT16, value: v }),
  i16: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.INT16, value: v }),
  u32: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.UINT32, value: v }),
  i32: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.INT32, value: v }),
  f32: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.FLOAT32, value: v }),
  f64: (v: number): GGUFMetadataEntry => ({ type: GGUFValueType.FLOAT64, value: v }),
  u64: (v: bigint | number): GGUFMetadataEntry => ({ type: GGUFValueType.UINT64, value: BigInt(v) }),
  i64: (v: bigint | number): GGUFMetadataEntry => ({ type: GGUFValueType.INT64, value: BigInt(v) }),
  bool: (v: boolean): GGUFMetadataEntry => ({ type: GGUFValueType.BOOL, value: v }),
  str: (v: string): GGUFMetadataEntry => ({ type: GGUFValueType.STRING, value: v }),
  /**
   * An array of `type`. 64-bit values may be given as numbers (stored as bigint).
   * For arrays of arrays pass `GGUFValueType.ARRAY` and inner entries made with kv.arr.
   */
  arr(type: GGUFValueType, values: readonly (GGUFValue | GGUFMetadataEntry)[]): GGUFMetadataEntry {
    if (type === GGUFValueType.ARRAY) {
      const elements = values as GGUFMetadataEntry[];
      return { type: GGUFValueType.ARRAY, arrayType: type, value: elements.map((e) => e.value), elements };
    }
    const wide = type === GGUFValueType.UINT64 || type === GGUFValueType.INT64;
    const value = wide ? values.map((v) => BigInt(v as number | bigint)) : [...(values as GGUFValue[])];
    return { type: GGUFValueType.ARRAY, arrayType: type, value };
  },
};

function invalid(message: string, details?: Record<string, unknown>): ChordError {
  return new ChordError('INVALID_ARGUMENT', `writeGGUF: ${message}`, details);
}

/** A growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  /** Makes room for n bytes; it may replace this.view, so call it before reading this.view. */
  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += n;
    return at;
  }
  u8(v: number) {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  i8(v: number) {
    const at = this.reserve(1);
    this.view.setInt8(at, v);
  }
  u16(v: number) {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number) {
    const at = this.reserve(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number) {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number) {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number) {
    const at = this.reserve(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number) {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: bigint) {
    const at = this.reserve(8);
    this.view.setBigUint64(at, v, true);
  }
  i64(v: bigint) {
    const at = this.reserve(8);
    this.view.setBigInt64(at, v, true);
  }
  bytes(b: Uint8Array) {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  string(s: string) {
    const b = utf8.encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  zeros(n: number) {
    const at = this.reserve(n);
    this.buf.fill(0, at, this.length);
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const utf8 = new TextEncoder();

const INT_RANGE: Partial<Record<GGUFValueType, [number, number]>> = {
  [GGUFValueType.UINT8]: [0, 0xff],
  [GGUFValueType.INT8]: [-0x80, 0x7f],
  [GGUFValueType.UINT16]: [0, 0xffff],
  [GGUFValueType.INT16]: [-0x8000, 0x7fff],
  [GGUFValueType.UINT32]: [0, 0xffffffff],
  [GGUFValueType.INT32]: [-0x80000000, 0x7fffffff],
};

function writeScalar(w: ByteWriter, type: GGUFValueType, v: GGUFValue, key: string): void {
  const bad = () => invalid(`value of '${key}' does not fit ${GGUFValueType[type] ?? type}: ${String(v)}`, { key });
  const range = INT_RANGE[type];
  if (range !== undefined) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range[0] || v > range[1]) throw bad();
  }
  switch (type) {
    case GGUFValueType.UINT8:
      w.u8(v as number);
      break;
    case GGUFValueType.INT8:
      w.i8(v as number);
      break;
    case GGUFValueType.UINT16:
      w.u16(v as number);
      break;
    case GGUFValueType.INT16:
      w.i16(v as number);
      break;
    case GGUFValueType.UINT32:
      w.u32(v as number);
      break;
    case GGUFValueType.INT32:
      w.i32(v as number);
      break;
    case GGUFValueType.FLOAT32:
      if (typeof v !== 'number') throw bad();
      w.f32(v);
      break;
    case GGUFValueType.FLOAT64:
      if (typeof v !== 'number') throw bad();
      w.f64(v);
      break;
    case GGUFValueType.BOOL:
      if (typeof v !== 'boolean') throw bad();
      w.u8(v ? 1 : 0);
      break;
    case GGUFValueType.UINT64: {
      const b = toBigInt(v, bad);
      if (b < 0n || b >= 1n << 64n) throw bad();
      w.u64(b);
      break;
    }
    case GGUFValueType.INT64: {
      const b = toBigInt(v, bad);
      if (b < -(1n << 63n) || b >= 1n << 63n) throw bad();
      w.i64(b);
      break;
    }
    case GGUFValueType.STRING:
      if (typeof v !== 'string') throw bad();
      w.string(v);
      break;
    default:
      throw invalid(`'${key}' has unknown value type ${type}`, { key });
  }
}

function toBigInt(v: GGUFValue, bad: () => ChordError): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw bad();
}

function writeEntry(w: ByteWriter, entry: GGUFMetadataEntry, key: string, withType = true): void {
  if (withType) w.u32(entry.type);
  if (entry.type !== GGUFValueType.ARRAY) {
    writeScalar(w, entry.type, entry.value, key);
    return;
  }
  const { arrayType } = entry;
  if (arrayType === undefined || !(arrayType in GGUFValueType)) throw invalid(`array '${key}' has no element type`);
  if (!Array.isArray(entry.value)) throw invalid(`'${key}' is not an array`, { key });
  w.u32(arrayType);
  if (arrayType === GGUFValueType.ARRAY) {
    const inner = entry.elements;
    if (inner === undefined) throw invalid(`array of arrays '${key}' needs its inner entries (kv.arr)`, { key });
    w.u64(BigInt(inner.length));
    inner.forEach((e, i) => {
      if (e.type !== GGUFValueType.ARRAY) throw invalid(`element ${i} of '${key}' is not an array`, { key });
      writeEntry(w, e, `${key}[${i}]`, false);
    });
    return;
  }
  w.u64(BigInt(entry.value.length));
  for (const v of entry.value) writeScalar(w, arrayType, v, key);
}

interface PlannedTensor {
  readonly name: string;
  readonly data: TensorData;
  readonly offset: number;
  readonly byteSize: number;
  /** Zero bytes after the data, up to the next alignment boundary. */
  readonly padding: number;
}

export interface GGUFPlan {
  /** Header, metadata, tensor infos and the padding up to the data section. */
  readonly header: Uint8Array;
  readonly alignment: number;
  readonly tensors: readonly PlannedTensor[];
  /** Size of the whole file. */
  readonly totalSize: number;
}

function resolveAlignment(spec: GGUFWriteSpec, metadata: Array<readonly [string, GGUFMetadataEntry]>): number {
  const entry = metadata.find(([k]) => k === 'general.alignment')?.[1];
  const fromMetadata = entry === undefined ? undefined : entry.value;
  if (entry !== undefined && (entry.type !== GGUFValueType.UINT32 || typeof fromMetadata !== 'number')) {
    throw invalid('general.alignment must be a u32');
  }
  if (spec.alignment !== undefined && fromMetadata !== undefined && spec.alignment !== fromMetadata) {
    throw invalid(`alignment ${spec.alignment} disagrees with general.alignment ${fromMetadata}`);
  }
  const a = (fromMetadata as number | undefined) ?? spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) throw invalid(`alignment ${a} is not a power of two`);
  if (fromMetadata === undefined && a !== GGUF_DEFAULT_ALIGNMENT) metadata.push(['general.alignment', kv.u32(a)]);
  return a;
}

/** Checks a tensor's name, shape and type and returns its size in bytes. */
function tensorByteSize(t: GGUFWriteTensor): number {
  const bad = (why: string) => invalid(`tensor '${t.name}' ${why}`, { tensor: t.name });
  if (utf8.encode(t.name).length > GGUF_MAX_TENSOR_NAME_BYTES) {
    throw bad(`name is longer than ${GGUF_MAX_TENSOR_NAME_BYTES} bytes`);
  }
  if (t.shape.length < 1 || t.shape.length > GGUF_MAX_DIMS) throw bad(`has ${t.shape.length} dimensions`);
  let n = 1;
  for (const ne of t.shape) {
    if (!Number.isSafeInteger(ne) || ne <= 0) throw bad(`has a bad dimension ${ne}`);
    n *= ne;
  }
  if (!Number.isSafeInteger(n)) throw bad('has too many elements');
  const traits = typeTraits(t.type);
  if (traits === undefined) throw new ChordError('GGUF_UNKNOWN_TYPE', `writeGGUF: tensor '${t.name}' type ${t.type}`);
  if (t.shape[0] % traits.blockSize !== 0) {
    throw bad(`row length ${t.shape[0]} is not a multiple of the ${traits.name} block size ${traits.blockSize}`);
  }
  return (n / traits.blockSize) * traits.typeSize;
}

/** Lays the file out: the header bytes, each tensor's offset and padding, the total size. */
export function planGGUF(spec: GGUFWriteSpec): GGUFPlan {
  const version = spec.version ?? 3;
  if (version !== 2 && version !== 3) throw invalid(`version ${version} (2 or 3 only)`);
  const metadata = [...spec.metadata];
  const alignment = resolveAlignment(spec, metadata);

  const keys = new Set<string>();
  for (const [key] of metadata) {
    if (keys.has(key)) throw new ChordError('GGUF_DUPLICATE_NAME', `writeGGUF: duplicate key '${key}'`, { key });
    keys.add(key);
  }
  const names = new Set<string>();
  let offset = 0;
  const tensors: PlannedTensor[] = spec.tensors.map((t) => {
    if (names.has(t.name)) {
      throw new ChordError('GGUF_DUPLICATE_NAME', `writeGGUF: duplicate tensor '${t.name}'`, { tensor: t.name });
    }
    names.add(t.name);
    const byteSize = tensorByteSize(t);
    if (t.data instanceof Uint8Array) checkDataLength(t.name, t.data, byteSize);
    const planned = { name: t.name, data: t.data, offset, byteSize, padding: alignUp(byteSize, alignment) - byteSize };
    offset += byteSize + planned.padding;
    return planned;
  });

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(version);
  w.u64(BigInt(spec.tensors.length));
  w.u64(BigInt(metadata.length));
  for (const [key, entry] of metadata) {
    w.string(key);
    writeEntry(w, entry, key);
  }
  spec.tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.shape.length);
    for (const ne of t.shape) w.i64(BigInt(ne));
    w.u32(t.type);
    w.u64(BigInt(tensors[i].offset));
  });
  w.zeros(alignUp(w.length, alignment) - w.length);
  const header = w.result();
  return { header, alignment, tensors, totalSize: header.length + offset };
}

function checkDataLength(name: string, data: Uint8Array, byteSize: number): void {
  if (data.length !== byteSize) {
    throw invalid(`tensor '${name}' has ${data.length} bytes of data, its shape and type need ${byteSize}`, {
      tensor: name,
    });
  }
}

/** Writes a whole GGUF file into memory. Tensor data must be given as bytes. */
export function writeGGUF(spec: GGUFWriteSpec): Uint8Array {
  const plan = planGGUF(spec);
  const out = new Uint8Array(plan.totalSize);
  out.set(plan.header);
  for (const t of plan.tensors) {
    if (!(t.data instanceof Uint8Array)) {
      throw invalid(`tensor '${t.name}' has lazy data: use writeGGUFStream`, { tensor: t.name });
    }
    out.set(t.data, plan.header.length + t.offset); // padding stays zero
  }
  return out;
}

/**
 * Writes a GGUF file to `sink` in pieces: the header, then each tensor's data and
 * padding in turn (lazy data is produced only when its turn comes). Resolves to
 * the number of bytes written.
 */
export async function writeGGUFStream(
  spec: GGUFWriteSpec,
  sink: (chunk: Uint8Array) => void | Promise<void>,
): Promise<number> {
  const plan = planGGUF(spec);
  await sink(plan.header);
  const maxPadding = plan.alignment;
  const zeros = new Uint8Array(maxPadding);
  for (const t of plan.tensors) {
    const data = t.data instanceof Uint8Array ? t.data : await t.data();
    checkDataLength(t.name, data, t.byteSize);
    await sink(data);
    if (t.padding > 0) await sink(zeros.subarray(0, t.padding));
  }
  return plan.totalSize;
}
