import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { readGgufFileInfo } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { findTensor, parseGGUF, readGGUF, readTensorBytes } from '../../../../engine/gguf/reader.ts';
import { GGUFValueType } from '../../../../engine/gguf/types.ts';
import { kv, writeGGUF } from '../../../../engine/gguf/writer.ts';
import type { ByteSource } from '../../../../engine/io/byte-source.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { fromFile } from '../../../../engine/node/file-source.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture, fixturesDir } from '../../../helpers/fixtures.ts';

const MODELS = ['stories260K', 'stories260K-F16', 'stories260K-Q8_0', 'stories260K-Q4_0', 'stories260K-Q5_1'];

/** node-llama-cpp's metadata is nested by the dots of the key. */
function lookup(tree: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], tree);
}

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

describe('readGGUF on the stories260K fixtures', () => {
  for (const model of MODELS) {
    const path = fixture(`models/${model}.gguf`);
    it.skipIf(!path)(`${model}: metadata and tensor infos agree with node-llama-cpp's GGUF reader`, async () => {
      const source = await fromFile(path!);
      try {
        const file = await readGGUF(source);
        const oracle = await readGgufFileInfo(path!, { readTensorInfo: true });
        expect(file.version).toBe(oracle.version);
        expect(file.fileSize).toBe(source.size);
        expect(file.metadata.size).toBeGreaterThan(10);
        for (const [key, entry] of file.metadata) {
          expect(plain(entry.value), key).toEqual(plain(lookup(oracle.metadata, key)));
        }
        expect(file.tensors.length).toBe(oracle.tensorInfo!.length);
        file.tensors.forEach((t, i) => {
          const o = oracle.tensorInfo![i];
          expect(t.name).toBe(o.name);
          expect(t.shape).toEqual(o.dimensions.map(Number));
          expect(t.type).toBe(o.ggmlType);
          expect(t.offset).toBe(Number(o.offset));
          expect(t.fileOffset).toBe(Number(o.fileOffset));
        });
      } finally {
        await source.close?.();
      }
    });
  }

  const path = fixture('models/stories260K.gguf');
  it.skipIf(!path)('stories260K: the facts the fixture README states', async () => {
    const file = parseGGUF(new Uint8Array(readFileSync(path!)), 'stories260K.gguf');
    const get = (k: string) => file.metadata.get(k)?.value;
    expect(file.version).toBe(3);
    expect(file.alignment).toBe(32);
    expect(file.dataOffset % 32).toBe(0);
    expect(get('general.architecture')).toBe('llama');
    expect(get('llama.embedding_length')).toBe(64);
    expect(get('llama.block_count')).toBe(5);
    expect(get('llama.attention.head_count')).toBe(8);
    expect(get('llama.attention.head_count_kv')).toBe(4);
    expect(get('llama.feed_forward_length')).toBe(172);
    expect(get('llama.context_length')).toBe(2048);
    expect(get('llama.rope.dimension_count')).toBe(8);
    const tokens = file.metadata.get('tokenizer.ggml.tokens')!;
    expect(tokens.type).toBe(GGUFValueType.ARRAY);
    expect(tokens.arrayType).toBe(GGUFValueType.STRING);
    expect((tokens.value as string[]).length).toBe(512);
    const embd = findTensor(file, 'token_embd.weight')!;
    expect(embd.shape).toEqual([64, 512]);
    expect(embd.type).toBe(GGMLType.F32);
    expect(embd.byteSize).toBe(64 * 512 * 4);
    expect(findTensor(file, 'no.such.tensor')).toBeUndefined();
  });

  it.skipIf(!path)('readTensorBytes returns the bytes at the tensor offset the oracle reports', async () => {
    const bytes = new Uint8Array(readFileSync(path!));
    const source = fromBytes(bytes, 'stories260K.gguf');
    const file = await readGGUF(source);
    const oracle = await readGgufFileInfo(path!, { readTensorInfo: true });
    const o = oracle.tensorInfo!.find((t) => t.name === 'blk.2.ffn_down.weight')!;
    const got = await readTensorBytes(source, file, 'blk.2.ffn_down.weight');
    expect(got.length).toBe(172 * 64 * 4);
    expect(Buffer.from(got).equals(bytes.subarray(Number(o.fileOffset), Number(o.fileOffset) + got.length))).toBe(true);
    await expect(readTensorBytes(source, file, 'nope')).rejects.toSatisfy((e) => isChordError(e, 'GGUF_MISSING_KEY'));
  });

  it.skipIf(!path)('reads the header in windows, never the whole file', async () => {
    const bytes = new Uint8Array(readFileSync(path!));
    const inner = fromBytes(bytes);
    const reads: Array<[number, number]> = [];
    const spy: ByteSource = {
      size: inner.size,
      name: 'spy',
      read: (o, l, s) => {
        reads.push([o, l]);
        return inner.read(o, l, s);
      },
    };
    await readGGUF(spy);
    const total = reads.reduce((a, [, l]) => a + l, 0);
    expect(total).toBeLessThan(bytes.length);
    expect(total).toBeLessThanOrEqual(1 << 20);
  });

  it('aborts when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(readGGUF(fromBytes(new Uint8Array(64)), { signal: ac.signal })).rejects.toSatisfy((e) =>
      isChordError(e, 'ABORTED'),
    );
  });
});

describe('vocab-only fixtures (large metadata, no tensors)', () => {
  const names = (existsSync(join(fixturesDir, 'vocab')) ? readdirSync(join(fixturesDir, 'vocab')) : [])
    .filter((f) => f.endsWith('.gguf'))
    .map((f) => f.replace(/\.gguf$/, ''));
  for (const name of names.length > 0 ? names : ['ggml-vocab-llama-spm']) {
    const path = fixture(`vocab/${name}.gguf`);
    it.skipIf(!path)(`${name}: grows its window past 1 MiB where needed and matches node-llama-cpp`, async () => {
      const source = await fromFile(path!);
      try {
        const file = await readGGUF(source);
        const oracle = await readGgufFileInfo(path!, { readTensorInfo: true });
        expect(file.tensors.length).toBe(oracle.tensorInfo?.length ?? 0);
        for (const [key, entry] of file.metadata) {
          // The oracle nests keys by their dots, so 'a.b.c' is lost when 'a.b' holds a string.
          if (key.startsWith('tokenizer.chat_template.')) continue;
          expect(plain(entry.value), key).toEqual(plain(lookup(oracle.metadata, key)));
        }
      } finally {
        await source.close?.();
      }
    });
  }
});

describe('string decoding', () => {
  /** A GGUF whose one key holds a string of these exact bytes (assembled by hand: the writer takes JS strings). */
  function withStringBytes(bytes: Uint8Array): Uint8Array {
    const head = writeGGUF({ metadata: [['s', kv.str('')]], tensors: [] });
    // header 24 + key (8 + 1) + type 4 = 37; then the u64 length of the empty value.
    const out = new Uint8Array(head.length + bytes.length + 32);
    out.set(head.subarray(0, 37));
    new DataView(out.buffer).setBigUint64(37, BigInt(bytes.length), true);
    out.set(bytes, 45);
    return out;
  }
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  it('any bytes decode as TextDecoder does (malformed sequences become U+FFFD, a BOM is kept)', () => {
    const cases = [
      [0xef, 0xbb, 0xbf, 0x41],
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
      [0xf0, 0x9f, 0x98, 0x80],
      [0xff],
    ];
    for (const c of cases) {
      const b = new Uint8Array(c);
      expect(parseGGUF(withStringBytes(b)).metadata.get('s')!.value).toBe(decoder.decode(b));
    }
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new TextEncoder().encode(s)),
        ),
        (b) => parseGGUF(withStringBytes(b)).metadata.get('s')!.value === decoder.decode(b),
      ),
      { numRuns: 3000 },
    );
  });
});
