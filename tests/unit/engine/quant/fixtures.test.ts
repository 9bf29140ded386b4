/**
 * Byte-exact re-quantization against llama.cpp's own output: the stories260K
 * fixtures were quantized from the F32 file by llama.cpp's reference quantizers.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { f32ToF16, quantizeRow } from '../../../../engine/quant/index.ts';
import { byteSizeOf, GGMLType } from '../../../../engine/quant/types.ts';
import { fixture } from '../../../helpers/fixtures.ts';

// TEMPORARY: a minimal GGUF tensor-table parser, until engine/gguf/reader.ts is committed.
interface Tensor {
  name: string;
  dims: number[];
  type: GGMLType;
  bytes: Uint8Array;
}

function parseTensors(buf: Uint8Array): Map<string, Tensor> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  const u32 = () => {
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const u64 = () => {
    const v = Number(view.getBigUint64(p, true));
    p += 8;
    return v;
  };
  const str = () => {
    const n = u64();
    const s = new TextDecoder().decode(buf.subarray(p, p + n));
    p += n;
    return s;
  };
  const scalarSize: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skipValue = (type: number): number | undefined => {
    if (type === 8) {
      str();
      return undefined;
    }
    if (type === 9) {
      const inner = u32();
      const n = u64();
      for (let i = 0; i < n; i++) skipValue(inner);
      return undefined;
    }
    const size = scalarSize[type];
    if (size === undefined) throw new Error(`bad GGUF value type ${type}`);
    const v = size === 4 ? view.getUint32(p, true) : undefined;
    p += size;
    return v;
  };
  if (u32() !== 0x46554747) throw new Error('not GGUF');
  u32(); // version
  const nTensors = u64();
  const nKv = u64();
  let alignment = 32;
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const v = skipValue(u32());
    if (key === 'general.alignment' && v !== undefined) alignment = v;
  }
  const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nDims = u32();
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(u64());
    const type = u32();
    infos.push({ name, dims, type, offset: u64() });
  }
  const dataStart = Math.ceil(p / alignment) * alignment;
  const out = new Map<string, Tensor>();
  for (const t of infos) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const size = byteSizeOf(t.type, n);
    if (size === undefined) throw new Error(`bad tensor ${t.name}`);
    const start = dataStart + t.offset;
    out.set(t.name, { name: t.name, dims: t.dims, type: t.type, bytes: buf.subarray(start, start + size) });
  }
  return out;
}

function load(path: string): Map<string, Tensor> {
  return parseTensors(new Uint8Array(readFileSync(path)));
}

function asFloats(t: Tensor): Float32Array {
  // Copy to an aligned buffer: the tensor may start at any offset in the file.
  return new Float32Array(t.bytes.slice().buffer);
}

const f32Path = fixture('models/stories260K.gguf');

describe.skipIf(f32Path === undefined)('stories260K re-quantization', () => {
  const f32 = f32Path === undefined ? new Map<string, Tensor>() : load(f32Path);

  it('the F32 file is all F32', () => {
    expect(f32.size).toBeGreaterThan(0);
    for (const t of f32.values()) expect(t.type).toBe(GGMLType.F32);
  });

  for (const [file, type] of [
    ['stories260K-Q8_0.gguf', GGMLType.Q8_0],
    ['stories260K-Q4_0.gguf', GGMLType.Q4_0],
    ['stories260K-Q5_1.gguf', GGMLType.Q5_1],
  ] as const) {
    it(`reproduces ${file} byte for byte`, () => {
      const path = fixture(`models/${file}`);
      if (path === undefined) return;
      const q = load(path);
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

  it('stories260K-F16.gguf holds f32ToF16 of every F32 tensor', () => {
    const path = fixture('models/stories260K-F16.gguf');
    if (path === undefined) return;
    const h = load(path);
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
