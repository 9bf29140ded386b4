/**
 * Byte-exact re-quantization against llama.cpp's own output: the stories260K
 * fixtures were quantized from the F32 file by llama.cpp's reference quantizers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readGGUF, readTensorBytes } from '../../../../engine/gguf/reader.ts';
import { fromFile } from '../../../../engine/node/file-source.ts';
import { f32ToF16, quantizeRow } from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { fixture } from '../../../helpers/fixtures.ts';

interface Tensor {
  name: string;
  dims: readonly number[];
  type: GGMLType;
  bytes: Uint8Array;
}

/** Every tensor of a GGUF file, read with the engine's reader. */
async function load(path: string): Promise<Map<string, Tensor>> {
  const source = await fromFile(path);
  try {
    const file = await readGGUF(source);
    const out = new Map<string, Tensor>();
    for (const t of file.tensors) {
      const bytes = await readTensorBytes(source, file, t);
      out.set(t.name, { name: t.name, dims: t.shape, type: t.type, bytes });
    }
    return out;
  } finally {
    await source.close?.();
  }
}

function asFloats(t: Tensor): Float32Array {
  // Copy to an aligned buffer: the tensor may start at any offset.
  return new Float32Array(t.bytes.slice().buffer);
}

const f32Path = fixture('models/stories260K.gguf');

describe.skipIf(f32Path === undefined)('stories260K re-quantization', () => {
  let f32 = new Map<string, Tensor>();
  beforeAll(async () => {
    if (f32Path !== undefined) f32 = await load(f32Path);
  });

  it('the F32 file is all F32', () => {
    expect(f32.size).toBeGreaterThan(0);
    for (const t of f32.values()) expect(t.type).toBe(GGMLType.F32);
  });

  for (const [file, type] of [
    ['stories260K-Q8_0.gguf', GGMLType.Q8_0],
    ['stories260K-Q4_0.gguf', GGMLType.Q4_0],
    ['stories260K-Q5_1.gguf', GGMLType.Q5_1],
  ] as const) {
    it(`reproduces ${file} byte for byte`, async () => {
      const path = fixture(`models/${file}`);
      if (path === undefined) return;
      const q = await load(path);
      expect([...q.keys()].sort()).toEqual([...f32.keys()].sort());
      let quantized = 0;
      for (const [name, t] of q) {
        const src = f32.get(name) as Tensor;
        expect(t.dims, name).toEqual(src.dims);
        if (t.type === GGMLType.F32) {
          // Left unquantized by the tool: 1-D norms, and ffn_down whose rows
          // (172) are not a whole number of 32-blocks. Must be the same bytes.
          expect(t.dims.length === 1 || (t.dims[0] as number) % 32 !== 0, name).toBe(true);
          expect(Buffer.from(t.bytes).equals(Buffer.from(src.bytes)), name).toBe(true);
          continue;
        }
        expect(t.type, name).toBe(type);
        const ours = quantizeRow(type, asFloats(src));
        const same = Buffer.from(ours).equals(Buffer.from(t.bytes));
        if (!same) {
          const first = ours.findIndex((b, i) => b !== t.bytes[i]);
          expect.fail(`${name}: first differing byte at ${first}`);
        }
        quantized++;
      }
      // Every 2-D weight with rows of whole blocks was quantized (32 of 37).
      const quantizable = [...f32.values()].filter((t) => t.dims.length === 2 && (t.dims[0] as number) % 32 === 0);
      expect(quantizable.length).toBe(32);
      expect(quantized).toBe(quantizable.length);
    });
  }

  it('stories260K-F16.gguf holds f32ToF16 of every F32 tensor', async () => {
    const path = fixture('models/stories260K-F16.gguf');
    if (path === undefined) return;
    const h = await load(path);
    let converted = 0;
    for (const [name, t] of h) {
      const src = f32.get(name) as Tensor;
      if (t.type === GGMLType.F32) {
        expect(Buffer.from(t.bytes).equals(Buffer.from(src.bytes)), name).toBe(true);
        continue;
      }
      expect(t.type, name).toBe(GGMLType.F16);
      const x = asFloats(src);
      const bits = new Uint16Array(t.bytes.slice().buffer);
      for (let i = 0; i < x.length; i++) {
        if (bits[i] !== f32ToF16(x[i] as number)) expect.fail(`${name}[${i}]: ${bits[i]} vs f32ToF16(${x[i]})`);
      }
      const viaQuantizeRow = quantizeRow(GGMLType.F16, x);
      expect(Buffer.from(viaQuantizeRow).equals(Buffer.from(t.bytes)), name).toBe(true);
      converted++;
    }
    expect(converted).toBeGreaterThan(0);
  });
});
