/**
 * GGUF reader (versions 2 and 3, little-endian), following gguf.cpp's layout:
 *
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv × (string key, u32 value type, value)
 *   n_tensors × (string name, u32 n_dims, i64 ne[n_dims], u32 ggml type, u64 offset)
 *   padding to `general.alignment` (default 32) | tensor data
 *
 * A string is a u64 byte length followed by UTF-8 bytes (no terminator); an array
 * is a u32 element type, a u64 count and the elements.
 *
 * Only the header is read, through the ByteSource, in a window that starts at
 * 1 MiB and grows fourfold until the header fits; tensor data stays in the source. The
 * header parser itself is synchronous over the bytes it has and asks for a bigger
 * window when it runs off the end, so the same code parses an in-memory file.
 *
 * Every count and length is checked against the bytes left in the file before
 * anything is allocated, so a corrupt or hostile file fails with a ChordError,
 * never a crash, a hang or a huge allocation.
 */
import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { typeTraits } from '../quant/types.ts';
import { type GGUFFile, type GGUFMetadataEntry, type GGUFTensorInfo, type GGUFValue, GGUFValueType } from './types.ts';

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml tensors have at most 4 dimensions (GGML_MAX_DIMS). */
export const GGUF_MAX_DIMS = 4;
/** GGML_MAX_NAME is 64 bytes including the terminating NUL. */
export const GGUF_MAX_TENSOR_NAME_BYTES = 63;

const FIRST_WINDOW_BYTES = 1 << 20;
/** Real headers (metadata + tensor infos) are at most tens of MiB; refuse to buffer more. */
const MAX_HEADER_BYTES = 256 << 20;

/** Bytes a single value of each fixed-size type takes. */
const SCALAR_SIZE: Partial<Record<GGUFValueType, number>> = {
  [GGUFValueType.UINT8]: 1,
  [GGUFValueType.INT8]: 1,
  [GGUFValueType.UINT16]: 2,
  [GGUFValueType.INT16]: 2,
  [GGUFValueType.UINT32]: 4,
  [GGUFValueType.INT32]: 4,
  [GGUFValueType.FLOAT32]: 4,
  [GGUFValueType.BOOL]: 1,
  [GGUFValueType.UINT64]: 8,
  [GGUFValueType.INT64]: 8,
  [GGUFValueType.FLOAT64]: 8,
};

/** The smallest encoding of one value of a type: what a count is checked against. */
function minValueBytes(type: GGUFValueType): number {
  if (type === GGUFValueType.STRING) return 8; // u64 length, possibly empty
  if (type === GGUFValueType.ARRAY) return 12; // u32 type + u64 count
  return SCALAR_SIZE[type] ?? 1;
}

/** Thrown inside the parser when the window ends before the header does (never escapes). */
class NeedMoreBytes {
  constructor(readonly end: number) {}
}

// ignoreBOM: a string that starts with U+FEFF (SPM vocabs have such a token) must keep it.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * UTF-8 bytes to a string. Vocabularies hold hundreds of thousands of short
 * strings, for which TextDecoder's per-call cost dominates the parse: short,
 * well-formed ones are decoded here into UTF-16 code units; anything longer or
 * malformed goes to TextDecoder (which replaces bad sequences with U+FFFD).
 */
const SHORT_STRING = 64;

function decodeUTF8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > SHORT_STRING) return utf8.decode(bytes.subarray(start, end));
  let s = '';
  for (let i = start; i < end; ) {
    const b = bytes[i];
    if (b < 0x80) {
      s += String.fromCharCode(b);
      i++;
      continue;
    }
    let cp: number;
    let len: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      cp = b & 0x1f;
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      cp = b & 0x0f;
      len = 3;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      cp = b & 0x07;
      len = 4;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // beyond U+10FFFF
    } else {
      return utf8.decode(bytes.subarray(start, end));
    }
    if (i + len > end) return utf8.decode(bytes.subarray(start, end));
    for (let k = 1; k < len; k++) {
      const c = bytes[i + k];
      if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return utf8.decode(bytes.subarray(start, end));
      cp = (cp << 6) | (c & 0x3f);
    }
    i += len;
    s += String.fromCodePoint(cp);
  }
  return s;
}

/** A bounds-checked little-endian cursor over the first bytes of a file of `fileSize` bytes. */
class HeaderCursor {
  pos = 0;
  /** What is being read (a key, a tensor), for error messages; set per entry, not per value. */
  context = 'header';
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileSize: number,
    private readonly name: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Makes sure `n` more bytes can be read: truncated when the file ends first. */
  need(n: number, what: string): void {
    if (n > this.remaining) {
      throw new ChordError(
        'GGUF_TRUNCATED',
        `${this.name}: file ends inside ${what} of ${this.context} at byte ${this.pos}`,
        {
          offset: this.pos,
          needed: n,
          fileSize: this.fileSize,
        },
      );
    }
    if (this.pos + n > this.bytes.length) throw new NeedMoreBytes(this.pos + n);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  i64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /**
   * A u64 count of items that each take at least `minBytes`, checked against the
   * bytes left in the file before anyone allocates for it. Read as two u32 halves:
   * this runs for every string, and BigInt arithmetic would dominate the parse.
   */
  count(what: string, minBytes: number): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    // Anything at or above 2^53 cannot fit in a file (hi ≥ 2^21); below, the double is exact.
    const n = hi * 4294967296 + lo;
    if (hi >= 0x200000 || n * minBytes > this.remaining - 8) {
      throw new ChordError('GGUF_TRUNCATED', `${this.name}: ${what} of ${this.context} does not fit in the file`, {
        offset: this.pos,
        count: ((BigInt(hi) << 32n) | BigInt(lo)).toString(),
        bytesLeft: this.remaining - 8,
      });
    }
    this.pos += 8;
    return n;
  }

  string(what: string): string {
    const length = this.count(what, 1);
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    return decodeUTF8(this.bytes, start, this.pos);
  }

  /** `n` values of a fixed-size type, read after a single bounds check. */
  scalars(type: GGUFValueType, n: number): GGUFValue[] {
    const size = SCALAR_SIZE[type]!;
    this.need(n * size, 'array');
    const v = this.view;
    let p = this.pos;
    const out: GGUFValue[] = new Array(n);
    for (let i = 0; i < n; i++, p += size) out[i] = readScalarAt(v, p, type);
    this.pos = p;
    return out;
  }

  scalar(type: GGUFValueType): GGUFValue {
    return this.scalars(type, 1)[0];
  }
}

function readScalarAt(v: DataView, p: number, type: GGUFValueType): GGUFValue {
  switch (type) {
    case GGUFValueType.UINT8:
      return v.getUint8(p);
    case GGUFValueType.INT8:
      return v.getInt8(p);
    case GGUFValueType.UINT16:
      return v.getUint16(p, true);
    case GGUFValueType.INT16:
      return v.getInt16(p, true);
    case GGUFValueType.UINT32:
      return v.getUint32(p, true);
    case GGUFValueType.INT32:
      return v.getInt32(p, true);
    case GGUFValueType.FLOAT32:
      return v.getFloat32(p, true);
    case GGUFValueType.BOOL:
      return v.getUint8(p) !== 0;
    case GGUFValueType.UINT64:
      return v.getBigUint64(p, true);
    case GGUFValueType.INT64:
      return v.getBigInt64(p, true);
    case GGUFValueType.FLOAT64:
      return v.getFloat64(p, true);
    default:
      throw new ChordError('INTERNAL', `not a scalar GGUF type: ${type}`);
  }
}

function checkValueType(c: HeaderCursor, name: string, type: number, key: string): GGUFValueType {
  if (!(type in GGUFValueType) || !Number.isInteger(type)) {
    throw new ChordError('GGUF_INVALID', `${name}: key '${key}' has unknown value type ${type}`, {
      key,
      type,
      offset: c.pos - 4,
    });
  }
  return type as GGUFValueType;
}

/** Arrays of arrays are legal but never deep in practice; a bound keeps the recursion safe. */
const MAX_ARRAY_NESTING = 8;

function readArray(c: HeaderCursor, name: string, key: string, depth = 0): GGUFMetadataEntry {
  if (depth >= MAX_ARRAY_NESTING) {
    throw new ChordError('GGUF_INVALID', `${name}: arrays nested deeper than ${MAX_ARRAY_NESTING} in '${key}'`, {
      key,
    });
  }
  const arrayType = checkValueType(c, name, c.u32('array type'), key);
  const n = c.count('array length', minValueBytes(arrayType));
  if (arrayType === GGUFValueType.STRING) {
    const value: string[] = new Array(n);
    for (let i = 0; i < n; i++) value[i] = c.string('array string');
    return { type: GGUFValueType.ARRAY, arrayType, value };
  }
  if (arrayType === GGUFValueType.ARRAY) {
    const elements: GGUFMetadataEntry[] = new Array(n);
    for (let i = 0; i < n; i++) elements[i] = readArray(c, name, `${key}[${i}]`, depth + 1);
    return { type: GGUFValueType.ARRAY, arrayType, value: elements.map((e) => e.value), elements };
  }
  return { type: GGUFValueType.ARRAY, arrayType, value: c.scalars(arrayType, n) };
}

function readEntry(c: HeaderCursor, name: string, key: string): GGUFMetadataEntry {
  const type = checkValueType(c, name, c.u32('value type'), key);
  if (type === GGUFValueType.STRING) return { type, value: c.string('string value') };
  if (type === GGUFValueType.ARRAY) return readArray(c, name, key);
  return { type, value: c.scalar(type) };
}

function readAlignment(name: string, metadata: Map<string, GGUFMetadataEntry>): number {
  const entry = metadata.get('general.alignment');
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const a = entry.value;
  if (entry.type !== GGUFValueType.UINT32 || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
    throw new ChordError('GGUF_INVALID', `${name}: general.alignment must be a u32 power of two`, {
      type: entry.type,
      value: String(a),
    });
  }
  return a;
}

interface RawTensorInfo {
  name: string;
  shape: number[];
  type: number;
  offset: number;
  nElements: number;
  byteSize: number;
}

function readTensorInfo(c: HeaderCursor, name: string, alignment: number, index: number): RawTensorInfo {
  const at = c.pos;
  c.context = `tensor ${index}`;
  const tensorName = c.string('tensor name');
  c.context = `tensor '${tensorName}'`;
  const invalid = (why: string, details: Record<string, unknown> = {}) =>
    new ChordError('GGUF_INVALID', `${name}: tensor '${tensorName}' ${why}`, {
      tensor: tensorName,
      offset: at,
      ...details,
    });

  if (utf8Encoder.encode(tensorName).length > GGUF_MAX_TENSOR_NAME_BYTES) {
    throw invalid(`has a name longer than ${GGUF_MAX_TENSOR_NAME_BYTES} bytes`);
  }
  const nDims = c.u32('dimension count');
  if (nDims < 1 || nDims > GGUF_MAX_DIMS) throw invalid(`has ${nDims} dimensions (1..${GGUF_MAX_DIMS} allowed)`);

  const shape: number[] = [];
  let nElements = 1n;
  for (let d = 0; d < nDims; d++) {
    const ne = c.i64('shape');
    if (ne <= 0n) throw invalid(`has dimension ${d} of size ${ne}`, { shape: [...shape, ne.toString()] });
    nElements *= ne;
    if (nElements > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('has too many elements (overflow)');
    shape.push(Number(ne));
  }

  const type = c.u32('tensor type');
  const traits = typeTraits(type);
  if (traits === undefined) {
    throw new ChordError('GGUF_UNKNOWN_TYPE', `${name}: tensor '${tensorName}' has unknown ggml type ${type}`, {
      tensor: tensorName,
      type,
    });
  }
  // ggml stores whole blocks per row: the row length must be a multiple of the block size.
  if (shape[0] % traits.blockSize !== 0) {
    throw invalid(`has row length ${shape[0]}, not a multiple of the ${traits.name} block size ${traits.blockSize}`);
  }

  const offset = c.u64('tensor offset');
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ChordError('GGUF_TENSOR_OUT_OF_BOUNDS', `${name}: tensor '${tensorName}' has offset ${offset}`, {
      tensor: tensorName,
    });
  }
  if (offset % BigInt(alignment) !== 0n) {
    throw new ChordError(
      'GGUF_MISALIGNED',
      `${name}: tensor '${tensorName}' starts at data offset ${offset}, not a multiple of ${alignment}`,
      { tensor: tensorName, offset: Number(offset), alignment },
    );
  }
  const n = Number(nElements);
  return {
    name: tensorName,
    shape,
    type,
    offset: Number(offset),
    nElements: n,
    byteSize: (n / traits.blockSize) * traits.typeSize,
  };
}

/** Tensors must lie inside the file and must not share bytes. */
function checkTensorPlacement(name: string, tensors: GGUFTensorInfo[], fileSize: number): void {
  for (const t of tensors) {
    if (t.fileOffset + t.byteSize > fileSize) {
      throw new ChordError(
        'GGUF_TENSOR_OUT_OF_BOUNDS',
        `${name}: tensor '${t.name}' (bytes ${t.fileOffset}..${t.fileOffset + t.byteSize}) runs past the end of the file (${fileSize})`,
        { tensor: t.name, fileOffset: t.fileOffset, byteSize: t.byteSize, fileSize },
      );
    }
  }
  const byStart = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1];
    const cur = byStart[i];
    if (cur.offset < prev.offset + prev.byteSize) {
      throw new ChordError('GGUF_TENSOR_OVERLAP', `${name}: tensors '${prev.name}' and '${cur.name}' overlap`, {
        tensors: [prev.name, cur.name],
      });
    }
  }
}

/**
 * Parses a GGUF header from the first `bytes.length` bytes of a file of `fileSize`
 * bytes. Throws NeedMoreBytes (internal) when the header runs past `bytes`.
 */
function parseHeader(bytes: Uint8Array, fileSize: number, name: string): GGUFFile {
  const c = new HeaderCursor(bytes, fileSize, name);

  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) {
    throw new ChordError('GGUF_BAD_MAGIC', `${name}: not a GGUF file (magic 0x${magic.toString(16)})`, { magic });
  }
  const version = c.u32('version');
  if (version !== 2 && version !== 3) {
    // A big-endian file (gguf-py --bigendian) reads as version 0x02000000 or 0x03000000 here.
    const bigEndian = version === 0x02000000 || version === 0x03000000;
    const why = bigEndian ? 'big-endian GGUF files are not supported' : `GGUF version ${version} is not supported`;
    throw new ChordError('GGUF_UNSUPPORTED_VERSION', `${name}: ${why}`, { version });
  }
  // The smallest tensor info is an empty name, 1 dim, type and offset: 8 + 4 + 8 + 4 + 8 bytes.
  const nTensors = c.count('tensor count', 32);
  // The smallest key-value pair is an empty key, a type and a 1-byte value.
  const nKV = c.count('metadata count', 13);

  const metadata = new Map<string, GGUFMetadataEntry>();
  for (let i = 0; i < nKV; i++) {
    c.context = `metadata entry ${i}`;
    const key = c.string('key');
    c.context = `'${key}'`;
    if (metadata.has(key)) {
      throw new ChordError('GGUF_DUPLICATE_NAME', `${name}: duplicate metadata key '${key}'`, { key });
    }
    metadata.set(key, readEntry(c, name, key));
  }
  const alignment = readAlignment(name, metadata);

  const raw: RawTensorInfo[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const t = readTensorInfo(c, name, alignment, i);
    if (seen.has(t.name)) {
      throw new ChordError('GGUF_DUPLICATE_NAME', `${name}: duplicate tensor name '${t.name}'`, { tensor: t.name });
    }
    seen.add(t.name);
    raw.push(t);
  }

  const dataOffset = alignUp(c.pos, alignment);
  const tensors: GGUFTensorInfo[] = raw.map((t) => ({ ...t, fileOffset: dataOffset + t.offset }));
  checkTensorPlacement(name, tensors, fileSize);
  return { version, alignment, dataOffset, fileSize, metadata, tensors };
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Parses a whole GGUF file held in memory. */
export function parseGGUF(bytes: Uint8Array, name = 'buffer'): GGUFFile {
  try {
    return parseHeader(bytes, bytes.length, name);
  } catch (e) {
    if (e instanceof NeedMoreBytes) throw new ChordError('INTERNAL', 'parser asked for bytes it already had');
    throw e;
  }
}

export interface ReadGGUFOptions {
  signal?: AbortSignal;
}

/** Reads a GGUF file's header (metadata and tensor infos) through a ByteSource. */
export async function readGGUF(source: ByteSource, opts: ReadGGUFOptions = {}): Promise<GGUFFile> {
  const { signal } = opts;
  throwIfAborted(signal);
  const fileSize = source.size;
  let window = await source.read(0, Math.min(FIRST_WINDOW_BYTES, fileSize), signal);
  for (;;) {
    try {
      return parseHeader(window, fileSize, source.name);
    } catch (e) {
      if (!(e instanceof NeedMoreBytes)) throw e;
      const target = Math.min(fileSize, Math.max(window.length * 4, e.end));
      if (target > MAX_HEADER_BYTES) {
        throw new ChordError('GGUF_INVALID', `${source.name}: header larger than ${MAX_HEADER_BYTES} bytes`, {
          needed: e.end,
        });
      }
      throwIfAborted(signal);
      const more = await source.read(window.length, target - window.length, signal);
      const grown = new Uint8Array(target);
      grown.set(window);
      grown.set(more, window.length);
      window = grown;
    }
  }
}

const tensorIndex = new WeakMap<GGUFFile, Map<string, GGUFTensorInfo>>();

/** The tensor named `name`, or undefined. */
export function findTensor(file: GGUFFile, name: string): GGUFTensorInfo | undefined {
  let index = tensorIndex.get(file);
  if (index === undefined) {
    index = new Map(file.tensors.map((t) => [t.name, t]));
    tensorIndex.set(file, index);
  }
  return index.get(name);
}

/** The raw (still quantized) bytes of one tensor. The view may share memory with the source. */
export async function readTensorBytes(
  source: ByteSource,
  file: GGUFFile,
  tensor: GGUFTensorInfo | string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const info = typeof tensor === 'string' ? findTensor(file, tensor) : tensor;
  if (info === undefined) {
    throw new ChordError('GGUF_MISSING_KEY', `${source.name}: no tensor named '${tensor}'`, { tensor });
  }
  return source.read(info.fileOffset, info.byteSize, signal);
}
