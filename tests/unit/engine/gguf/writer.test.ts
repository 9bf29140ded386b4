import { readFileSync } from 'node:fs';
import { readGgufFileInfo } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { parseGGUF, readGGUF, readTensorBytes } from '../../../../engine/gguf/reader.ts';
import { GGUFValueType as T } from '../../../../engine/gguf/types.ts';
import { kv, writeGGUF, writeGGUFStream } from '../../../../engine/gguf/writer.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

const metadata = (): Array<[string, ReturnType<typeof kv.u32>]> => [
  ['general.architecture', kv.str('llama')],
  ['general.name', kv.str('tést ✓')],
  ['a.u8', kv.u8(255)],
  ['a.i8', kv.i8(-128)],
  ['a.u16', kv.u16(65535)],
  ['a.i16', kv.i16(-32768)],
  ['a.u32', kv.u32(4294967295)],
  ['a.i32', kv.i32(-2147483648)],
  ['a.f32', kv.f32(0.1)],
  ['a.f64', kv.f64(0.1)],
  ['a.u64', kv.u64(2n ** 64n - 1n)],
  ['a.i64', kv.i64(-(2n ** 63n))],
  ['a.bool', kv.bool(true)],
  ['a.empty', kv.str('')],
  ['a.strs', kv.arr(T.STRING, ['x', '', 'yz'])],
  ['a.f32s', kv.arr(T.FLOAT32, [1.5, -2, 0])],
  ['a.i64s', kv.arr(T.INT64, [1, -2n])],
  ['a.none', kv.arr(T.UINT8, [])],
  ['a.nested', kv.arr(T.ARRAY, [kv.arr(T.UINT32, [1, 2]), kv.arr(T.STRING, ['q'])])],
];

const tensors = () => [
  { name: 'a', shape: [32, 3], type: GGMLType.Q4_0, data: bytes(18 * 3, 1) },
  { name: 'b', shape: [5], type: GGMLType.F32, data: bytes(20, 2) },
  { name: 'c', shape: [256, 1, 1, 2], type: GGMLType.Q6_K, data: bytes(210 * 2, 3) },
];

describe('writeGGUF round trip', () => {
  for (const version of [2, 3] as const) {
    it(`v${version}: metadata of every type, tensors of several types, read back equal`, async () => {
      const file = writeGGUF({ version, metadata: metadata(), tensors: tensors() });
      const parsed = parseGGUF(file);
      expect(parsed.version).toBe(version);
      expect([...parsed.metadata.keys()]).toEqual(metadata().map(([k]) => k));
      for (const [k, e] of metadata()) {
        const got = parsed.metadata.get(k)!;
        expect(got.type, k).toBe(e.type);
        expect(got.arrayType, k).toBe(e.arrayType);
        if (e.type === T.FLOAT32) expect(got.value).toBe(Math.fround(0.1));
        else expect(got.value, k).toEqual(e.value);
      }
      expect(parsed.metadata.get('a.nested')!.elements!.map((e) => e.arrayType)).toEqual([T.UINT32, T.STRING]);
      const source = fromBytes(file);
      for (const t of tensors()) {
        const info = parsed.tensors.find((x) => x.name === t.name)!;
        expect(info.shape).toEqual(t.shape);
        expect(info.type).toBe(t.type);
        expect(info.fileOffset % 32).toBe(0);
        expect(await readTensorBytes(source, parsed, info)).toEqual(t.data);
      }
      expect(file.length % 32).toBe(0);
    });
  }

  it('node-llama-cpp reads what we write', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const path = join(mkdtempSync(join(tmpdir(), 'chord-w-')), 'x.gguf');
    writeFileSync(path, writeGGUF({ metadata: metadata().slice(0, 14), tensors: tensors() }));
    const info = await readGgufFileInfo(path, { readTensorInfo: true });
    expect(info.version).toBe(3);
    expect(info.tensorInfo!.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType])).toEqual(
      tensors().map((t) => [t.name, t.shape, t.type]),
    );
    const md = info.metadata as unknown as { a: { i32: number }; general: { name: string } };
    expect(md.a.i32).toBe(-2147483648);
    expect(md.general.name).toBe('tést ✓');
  });

  it('a non-default alignment is written as general.alignment and honoured', () => {
    const file = writeGGUF({ alignment: 64, metadata: [['k', kv.u32(1)]], tensors: tensors() });
    const parsed = parseGGUF(file);
    expect(parsed.alignment).toBe(64);
    expect(parsed.metadata.get('general.alignment')).toEqual(kv.u32(64));
    for (const t of parsed.tensors) expect(t.offset % 64).toBe(0);
    expect(parsed.dataOffset % 64).toBe(0);
  });

  it('the stream writer produces the same bytes, pulling lazy data in order', async () => {
    const eager = writeGGUF({ metadata: metadata(), tensors: tensors() });
    const pulled: string[] = [];
    const lazy = tensors().map((t) => ({
      ...t,
      data: async () => {
        pulled.push(t.name);
        return t.data;
      },
    }));
    const chunks: Uint8Array[] = [];
    const n = await writeGGUFStream({ metadata: metadata(), tensors: lazy }, async (c) => {
      chunks.push(c.slice());
    });
    expect(pulled).toEqual(['a', 'b', 'c']);
    expect(n).toBe(eager.length);
    expect(Buffer.concat(chunks).equals(Buffer.from(eager))).toBe(true);
  });

  it('rejects bad specs with codes', async () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isChordError(e) ? e.code : 'not a ChordError';
      }
      return 'no error';
    };
    const one = (t: object) => writeGGUF({ metadata: [], tensors: [{ ...tensors()[0], ...t }] });
    expect(err(() => one({ data: new Uint8Array(3) }))).toBe('INVALID_ARGUMENT');
    expect(err(() => one({ shape: [33, 3] }))).toBe('INVALID_ARGUMENT');
    expect(err(() => one({ shape: [32, 0] }))).toBe('INVALID_ARGUMENT');
    expect(err(() => one({ shape: [32, 1, 1, 1, 3] }))).toBe('INVALID_ARGUMENT');
    expect(err(() => one({ type: 4 }))).toBe('GGUF_UNKNOWN_TYPE');
    expect(err(() => one({ name: 'x'.repeat(64) }))).toBe('INVALID_ARGUMENT');
    expect(err(() => writeGGUF({ metadata: [['k', kv.u8(256)]], tensors: [] }))).toBe('INVALID_ARGUMENT');
    expect(err(() => writeGGUF({ metadata: [['k', kv.u32(-1)]], tensors: [] }))).toBe('INVALID_ARGUMENT');
    expect(
      err(() =>
        writeGGUF({
          metadata: [
            ['k', kv.u8(1)],
            ['k', kv.u8(2)],
          ],
          tensors: [],
        }),
      ),
    ).toBe('GGUF_DUPLICATE_NAME');
    expect(err(() => writeGGUF({ metadata: [], tensors: [tensors()[0], tensors()[0]] }))).toBe('GGUF_DUPLICATE_NAME');
    expect(err(() => writeGGUF({ alignment: 48, metadata: [], tensors: [] }))).toBe('INVALID_ARGUMENT');
    const lazy = [{ ...tensors()[1], data: async () => new Uint8Array(3) }];
    expect(err(() => writeGGUF({ metadata: [], tensors: lazy }))).toBe('INVALID_ARGUMENT');
    await expect(writeGGUFStream({ metadata: [], tensors: lazy }, () => {})).rejects.toSatisfy((e) =>
      isChordError(e, 'INVALID_ARGUMENT'),
    );
  });
});

describe('re-writing the llama.cpp fixtures', () => {
  for (const model of ['stories260K', 'stories260K-F16', 'stories260K-Q8_0', 'stories260K-Q4_0', 'stories260K-Q5_1']) {
    const path = fixture(`models/${model}.gguf`);
    it.skipIf(!path)(`${model}: same metadata and tensor bytes reproduce the file byte for byte`, async () => {
      const original = new Uint8Array(readFileSync(path!));
      const source = fromBytes(original);
      const file = await readGGUF(source);
      const rewritten = writeGGUF({
        version: file.version as 2 | 3,
        metadata: file.metadata,
        tensors: await Promise.all(
          file.tensors.map(async (t) => ({ ...t, data: await readTensorBytes(source, file, t) })),
        ),
      });
      expect(rewritten.length).toBe(original.length);
      expect(Buffer.from(rewritten).equals(Buffer.from(original))).toBe(true);
    });
  }
});
