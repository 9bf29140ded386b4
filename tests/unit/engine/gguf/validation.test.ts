/**
 * The reader against malformed files: each defect has its own error code, and
 * nothing (random truncations and byte flips included) may crash, hang or
 * allocate wildly. Malformed files are assembled here byte by byte, following
 * the GGUF spec (gguf.cpp), independently of our writer.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGGUF, readGGUF } from '../../../../engine/gguf/reader.ts';
import { GGUFValueType as T } from '../../../../engine/gguf/types.ts';
import { kv, writeGGUF } from '../../../../engine/gguf/writer.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { ChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';

/** Little-endian byte assembler. */
class Bytes {
  parts: number[] = [];
  u8(v: number) {
    this.parts.push(v & 0xff);
    return this;
  }
  u32(v: number) {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: bigint | number) {
    let b = BigInt.asUintN(64, BigInt(v));
    for (let i = 0; i < 8; i++, b >>= 8n) this.parts.push(Number(b & 0xffn));
    return this;
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.parts.push(...b);
    return this;
  }
  pad(to: number) {
    while (this.parts.length % to) this.parts.push(0);
    return this;
  }
  zeros(n: number) {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  get length() {
    return this.parts.length;
  }
  done() {
    return new Uint8Array(this.parts);
  }
}

interface RawTensor {
  name: string;
  dims: Array<bigint | number>;
  type: number;
  offset: bigint | number;
  nDims?: number;
}

/**
 * A GGUF file: header, `kvs` (a function appending key-value pairs; `nKV` of them),
 * tensor infos, padding to `alignment`, then `dataBytes` zero bytes.
 */
function gguf(o: {
  magic?: number;
  version?: number;
  nTensors?: bigint | number;
  nKV?: bigint | number;
  kvs?: (b: Bytes) => void;
  tensors?: RawTensor[];
  alignment?: number;
  dataBytes?: number;
}): Uint8Array {
  const b = new Bytes()
    .u32(o.magic ?? 0x46554747)
    .u32(o.version ?? 3)
    .u64(o.nTensors ?? o.tensors?.length ?? 0)
    .u64(o.nKV ?? 0);
  o.kvs?.(b);
  for (const t of o.tensors ?? []) {
    b.str(t.name).u32(t.nDims ?? t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  b.pad(o.alignment ?? 32);
  return b.zeros(o.dataBytes ?? 0).done();
}

const f32 = (name: string, offset: number, n = 8): RawTensor => ({ name, dims: [n], type: GGMLType.F32, offset });

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof ChordError ? e.code : `not a ChordError: ${e}`;
  }
  return 'parsed';
}
const parse = (bytes: Uint8Array) => codeOf(() => parseGGUF(bytes));

describe('a minimal hand-assembled file', () => {
  it('parses (the baseline the defects below depart from)', () => {
    const file = parseGGUF(gguf({ tensors: [f32('a', 0), f32('b', 32)], dataBytes: 64 }));
    expect(file.tensors.map((t) => [t.name, t.fileOffset, t.byteSize])).toEqual([
      ['a', 96, 32],
      ['b', 128, 32],
    ]);
  });
});

describe('header defects', () => {
  it('bad magic', () => {
    expect(parse(gguf({ magic: 0x4c4d4747 }))).toBe('GGUF_BAD_MAGIC');
    expect(parse(new TextEncoder().encode('<html>not a model</html>'))).toBe('GGUF_BAD_MAGIC');
  });

  it('versions other than 2 and 3', () => {
    expect(parse(gguf({ version: 1 }))).toBe('GGUF_UNSUPPORTED_VERSION');
    expect(parse(gguf({ version: 4 }))).toBe('GGUF_UNSUPPORTED_VERSION');
    expect(parse(gguf({ version: 2 }))).toBe('parsed');
  });

  it('every truncation inside the header', () => {
    const whole = gguf({
      nKV: 2,
      kvs: (b) => b.str('general.name').u32(T.STRING).str('x').str('arr').u32(T.ARRAY).u32(T.UINT16).u64(2).u32(7),
      tensors: [f32('a', 0)],
      dataBytes: 32,
    });
    expect(parse(whole)).toBe('parsed');
    // 24 (magic, version, counts) + 33 + 31 (the pairs) + 33 (the tensor info) = 121, padded to 128.
    const headerEnd = 121;
    expect(whole.length).toBe(128 + 32);
    for (let n = 0; n < headerEnd; n++) expect(parse(whole.subarray(0, n)), `cut at ${n}`).toBe('GGUF_TRUNCATED');
    // Cut inside the padding or the data: the header is whole but the tensor is not.
    expect(parse(whole.subarray(0, whole.length - 1))).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
  });

  it('counts and lengths beyond the file are refused before anything is allocated', () => {
    const t0 = performance.now();
    expect(parse(gguf({ nTensors: 2n ** 63n }))).toBe('GGUF_TRUNCATED');
    expect(parse(gguf({ nTensors: 2n ** 64n - 1n }))).toBe('GGUF_TRUNCATED');
    expect(parse(gguf({ nKV: 10_000_000 }))).toBe('GGUF_TRUNCATED');
    expect(parse(gguf({ nKV: 1, kvs: (b) => b.u64(2n ** 64n - 1n) }))).toBe('GGUF_TRUNCATED'); // key length
    expect(parse(gguf({ nKV: 1, kvs: (b) => b.str('k').u32(T.STRING).u64(1e15) }))).toBe('GGUF_TRUNCATED');
    expect(
      parse(
        gguf({
          nKV: 1,
          kvs: (b) =>
            b
              .str('k')
              .u32(T.ARRAY)
              .u32(T.UINT8)
              .u64(2n ** 62n),
        }),
      ),
    ).toBe('GGUF_TRUNCATED');
    // 100 u64 would need 800 bytes: more than the file, although 100 single bytes would fit.
    expect(parse(gguf({ nKV: 1, kvs: (b) => b.str('k').u32(T.ARRAY).u32(T.UINT64).u64(100).zeros(200) }))).toBe(
      'GGUF_TRUNCATED',
    );
    expect(parse(gguf({ nKV: 1, kvs: (b) => b.str('k').u32(T.ARRAY).u32(T.STRING).u64(1e9).zeros(64) }))).toBe(
      'GGUF_TRUNCATED',
    );
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('unknown metadata value types, arrays nested too deep', () => {
    expect(parse(gguf({ nKV: 1, kvs: (b) => b.str('k').u32(13).u32(0) }))).toBe('GGUF_INVALID');
    expect(parse(gguf({ nKV: 1, kvs: (b) => b.str('k').u32(T.ARRAY).u32(99).u64(0) }))).toBe('GGUF_INVALID');
    const deep = (b: Bytes) => {
      b.str('k').u32(T.ARRAY);
      for (let i = 0; i < 100_000; i++) b.u32(T.ARRAY).u64(1);
      b.u32(T.UINT8).u64(0);
    };
    expect(parse(gguf({ nKV: 1, kvs: deep }))).toBe('GGUF_INVALID');
    const shallow = (b: Bytes) =>
      b.str('k').u32(T.ARRAY).u32(T.ARRAY).u64(1).u32(T.ARRAY).u64(1).u32(T.INT8).u64(1).u8(-1);
    const file = parseGGUF(gguf({ nKV: 1, kvs: shallow }));
    expect(file.metadata.get('k')!.value).toEqual([[[-1]]]);
  });

  it('duplicate keys', () => {
    const kvs = (b: Bytes) => b.str('k').u32(T.UINT8).u8(1).str('k').u32(T.UINT8).u8(2);
    expect(parse(gguf({ nKV: 2, kvs }))).toBe('GGUF_DUPLICATE_NAME');
  });

  it('general.alignment must be a u32 power of two, and is honoured', () => {
    const align = (type: number, v: number) => (b: Bytes) => {
      b.str('general.alignment').u32(type);
      if (type === T.UINT32) b.u32(v);
      else b.u64(v);
    };
    expect(parse(gguf({ nKV: 1, kvs: align(T.UINT32, 48) }))).toBe('GGUF_INVALID');
    expect(parse(gguf({ nKV: 1, kvs: align(T.UINT32, 0) }))).toBe('GGUF_INVALID');
    expect(parse(gguf({ nKV: 1, kvs: align(T.UINT64, 64) }))).toBe('GGUF_INVALID');
    const ok = gguf({ nKV: 1, kvs: align(T.UINT32, 64), tensors: [f32('a', 0)], alignment: 64, dataBytes: 64 });
    const file = parseGGUF(ok);
    expect(file.alignment).toBe(64);
    expect(file.dataOffset % 64).toBe(0);
    expect(
      parse(gguf({ nKV: 1, kvs: align(T.UINT32, 64), tensors: [f32('a', 32)], alignment: 64, dataBytes: 64 })),
    ).toBe('GGUF_MISALIGNED');
  });
});

describe('tensor info defects', () => {
  const one = (t: Partial<RawTensor>, dataBytes = 4096) =>
    parse(gguf({ tensors: [{ ...f32('a', 0), ...t }], dataBytes }));

  it('data beyond the end of the file', () => {
    expect(one({ offset: 4096 })).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
    expect(one({ dims: [1025] })).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
    expect(one({ offset: 2n ** 63n })).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
    expect(one({ offset: 2n ** 64n - 32n })).toBe('GGUF_TENSOR_OUT_OF_BOUNDS');
  });

  it('overlapping tensors', () => {
    const overlap = gguf({ tensors: [f32('a', 0, 16), f32('b', 32, 16)], dataBytes: 128 });
    expect(parse(overlap)).toBe('GGUF_TENSOR_OVERLAP');
    const same = gguf({ tensors: [f32('a', 64), f32('b', 64)], dataBytes: 128 });
    expect(parse(same)).toBe('GGUF_TENSOR_OVERLAP');
    const outOfOrder = gguf({ tensors: [f32('a', 64), f32('b', 0)], dataBytes: 128 });
    expect(parse(outOfOrder)).toBe('parsed');
  });

  it('misaligned offsets', () => {
    expect(one({ offset: 4 })).toBe('GGUF_MISALIGNED');
    expect(one({ offset: 33 })).toBe('GGUF_MISALIGNED');
  });

  it('unknown tensor types', () => {
    expect(one({ type: 4 })).toBe('GGUF_UNKNOWN_TYPE'); // Q4_2, removed from ggml
    expect(one({ type: 1000 })).toBe('GGUF_UNKNOWN_TYPE');
    expect(one({ type: 0xffffffff })).toBe('GGUF_UNKNOWN_TYPE');
  });

  it('zero, negative, overflowing dimensions and bad dimension counts', () => {
    expect(one({ dims: [0] })).toBe('GGUF_INVALID');
    expect(one({ dims: [8, 0] })).toBe('GGUF_INVALID');
    expect(one({ dims: [-8] })).toBe('GGUF_INVALID');
    expect(one({ dims: [2n ** 40n, 2n ** 40n] })).toBe('GGUF_INVALID');
    expect(one({ dims: [2n ** 62n, 4] })).toBe('GGUF_INVALID');
    expect(one({ dims: [8, 1, 1, 1, 1] })).toBe('GGUF_INVALID');
    expect(one({ dims: [], nDims: 0 })).toBe('GGUF_INVALID');
    expect(one({ dims: [8], nDims: 0xffffffff })).toBe('GGUF_INVALID');
    expect(one({ dims: [8, 1, 1, 1] })).toBe('parsed');
  });

  it('rows that are not whole blocks', () => {
    expect(one({ type: GGMLType.Q4_0, dims: [33, 1] })).toBe('GGUF_INVALID');
    expect(one({ type: GGMLType.Q4_K, dims: [128, 2] })).toBe('GGUF_INVALID');
    expect(one({ type: GGMLType.Q4_0, dims: [64, 3] })).toBe('parsed');
  });

  it('duplicate and over-long tensor names', () => {
    expect(parse(gguf({ tensors: [f32('a', 0), f32('a', 32)], dataBytes: 64 }))).toBe('GGUF_DUPLICATE_NAME');
    expect(one({ name: 'x'.repeat(64) })).toBe('GGUF_INVALID');
    expect(one({ name: 'x'.repeat(63) })).toBe('parsed');
  });

  it('the async reader gives the same codes as the in-memory parser', async () => {
    const bad = gguf({ tensors: [f32('a', 0), f32('a', 32)], dataBytes: 64 });
    await expect(readGGUF(fromBytes(bad))).rejects.toMatchObject({ code: 'GGUF_DUPLICATE_NAME' });
    await expect(readGGUF(fromBytes(bad.subarray(0, 30)))).rejects.toMatchObject({ code: 'GGUF_TRUNCATED' });
    await expect(readGGUF(fromBytes(new Uint8Array(0)))).rejects.toMatchObject({ code: 'GGUF_TRUNCATED' });
  });
});

describe('fuzz: truncations and byte flips parse or throw a ChordError, quickly', () => {
  /** Parse `bytes`; anything thrown that is not a ChordError fails the property. */
  function survives(bytes: Uint8Array): boolean {
    const t0 = performance.now();
    try {
      parseGGUF(bytes);
    } catch (e) {
      if (!(e instanceof ChordError)) throw e;
    }
    const ms = performance.now() - t0;
    if (ms > 2000) throw new Error(`took ${ms} ms`);
    return true;
  }

  function flip(base: Uint8Array, flips: Array<[number, number]>, limit: number): Uint8Array {
    const b = base.slice();
    for (const [pos, v] of flips) b[pos % limit] ^= v;
    return b;
  }

  // A small file with every metadata type, nested arrays and several tensor types: flips hit every field.
  const dense = writeGGUF({
    metadata: [
      ['general.architecture', kv.str('llama')],
      ['a.u8', kv.u8(1)],
      ['a.i16', kv.i16(-2)],
      ['a.u32', kv.u32(3)],
      ['a.f32', kv.f32(4)],
      ['a.u64', kv.u64(5)],
      ['a.i64', kv.i64(-6)],
      ['a.f64', kv.f64(7)],
      ['a.bool', kv.bool(true)],
      ['a.strs', kv.arr(T.STRING, ['x', 'yz'])],
      ['a.nested', kv.arr(T.ARRAY, [kv.arr(T.UINT32, [1, 2]), kv.arr(T.STRING, ['q'])])],
      ['general.alignment', kv.u32(32)],
    ],
    tensors: [
      { name: 'q', shape: [32, 2], type: GGMLType.Q4_0, data: new Uint8Array(36) },
      { name: 'k', shape: [256], type: GGMLType.Q4_K, data: new Uint8Array(144) },
      { name: 'f', shape: [3, 1, 2], type: GGMLType.F16, data: new Uint8Array(12) },
    ],
  });

  it('dense synthetic file: random flips', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (f) =>
        survives(flip(dense, f, dense.length)),
      ),
      { numRuns: 3000 },
    );
  });

  it('dense synthetic file: random truncations, with and without flips', () => {
    fc.assert(
      fc.property(
        fc.nat(dense.length),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 2 }),
        (n, f) => survives(flip(dense, f, dense.length).subarray(0, n)),
      ),
      { numRuns: 2000 },
    );
  });

  const path = fixture('models/stories260K.gguf');
  it.skipIf(!path)('stories260K: random truncations and header flips', async () => {
    const original = new Uint8Array(readFileSync(path!));
    const headerEnd = parseGGUF(original).dataOffset;
    fc.assert(
      fc.property(fc.nat(original.length), (n) => survives(original.subarray(0, n))),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }), (f) =>
        survives(flip(original, f, headerEnd)),
      ),
      { numRuns: 150 },
    );
    // The async path over a ByteSource, with whole-file flips.
    await fc.assert(
      fc.asyncProperty(fc.nat(original.length), fc.nat(), fc.integer({ min: 1, max: 255 }), async (n, pos, v) => {
        const b = original.slice(0, n);
        if (n > 0) b[pos % n] ^= v;
        try {
          await readGGUF(fromBytes(b));
        } catch (e) {
          if (!(e instanceof ChordError)) throw e;
        }
      }),
      { numRuns: 100 },
    );
  });
});
