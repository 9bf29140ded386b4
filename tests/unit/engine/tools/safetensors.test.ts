/**
 * The safetensors reader against files laid out by hand from the format's
 * definition (u64 header length, JSON header, data), and the writer by reading
 * its output back.
 */
import { describe, expect, it } from 'vitest';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { f32ToBf16, f32ToF16 } from '../../../../engine/quant/fp16.ts';
import {
  parseSafetensorsIndex,
  readSafetensors,
  readTensorF32,
  writeSafetensors,
} from '../../../../engine/tools/safetensors.ts';

/** A file built from the spec: header JSON as given, data bytes as given. */
function handMade(header: object, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('readSafetensors', () => {
  it('reads F32, F16 and BF16 tensors at their offsets, row-major', async () => {
    const data = new Uint8Array(24 + 8 + 4);
    const v = new DataView(data.buffer);
    for (const [i, x] of [1, -2, 0.5, 3, 4.25, -6].entries()) v.setFloat32(4 * i, x, true); // F32 [2, 3]
    for (const [i, x] of [1.5, -0.25, 2, 1024].entries()) v.setUint16(24 + 2 * i, f32ToF16(x), true); // F16 [4]
    for (const [i, x] of [3, -1].entries()) v.setUint16(32 + 2 * i, f32ToBf16(x), true); // BF16 [1, 2]
    const file = handMade(
      {
        __metadata__: { format: 'pt' },
        a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
        b: { dtype: 'F16', shape: [4], data_offsets: [24, 32] },
        c: { dtype: 'BF16', shape: [1, 2], data_offsets: [32, 36] },
      },
      data,
    );
    const source = fromBytes(file, 'x.safetensors');
    const st = await readSafetensors(source);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors.keys()]).toEqual(['a', 'b', 'c']);
    expect(st.tensors.get('a')?.shape).toEqual([2, 3]);
    expect([...(await readTensorF32(source, st.tensors.get('a')!))]).toEqual([1, -2, 0.5, 3, 4.25, -6]);
    expect([...(await readTensorF32(source, st.tensors.get('b')!))]).toEqual([1.5, -0.25, 2, 1024]);
    expect([...(await readTensorF32(source, st.tensors.get('c')!))]).toEqual([3, -1]);
  });

  it('refuses bad headers and data outside the file', async () => {
    const bad = async (header: object, dataLength = 8) =>
      readSafetensors(fromBytes(handMade(header, new Uint8Array(dataLength)))).catch((e) => e.code);
    expect(await bad({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } })).toBe('MODEL_INVALID');
    expect(await bad({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } })).toBe('MODEL_INVALID');
    expect(await bad({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } })).toBe('MODEL_INVALID');
    expect(await bad({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } })).toBe('MODEL_INVALID');
    const truncated = new Uint8Array(16);
    new DataView(truncated.buffer).setBigUint64(0, 100n, true);
    expect(await readSafetensors(fromBytes(truncated)).catch((e) => e.code)).toBe('MODEL_INVALID');
    expect(await readSafetensors(fromBytes(new Uint8Array(4))).catch((e) => e.code)).toBe('MODEL_INVALID');
  });

  it('refuses to read integer tensors as floats', async () => {
    const source = fromBytes(handMade({ i: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)));
    const st = await readSafetensors(source);
    await expect(readTensorF32(source, st.tensors.get('i')!)).rejects.toMatchObject({
      code: 'UNSUPPORTED_QUANT_TYPE',
    });
  });
});

describe('writeSafetensors', () => {
  it('writes what the reader reads back, header padded to 8 bytes', async () => {
    const a = Float32Array.from({ length: 12 }, (_, i) => i / 7 - 0.5);
    const bytes = writeSafetensors(
      [
        { name: 'w.f32', shape: [3, 4], dtype: 'F32', values: a },
        { name: 'w.f16', shape: [12], dtype: 'F16', values: a },
        { name: 'w.bf16', shape: [2, 6], dtype: 'BF16', values: a },
      ],
      { format: 'pt' },
    );
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const source = fromBytes(bytes);
    const st = await readSafetensors(source);
    expect([...(await readTensorF32(source, st.tensors.get('w.f32')!))]).toEqual([...a]);
    const f16 = await readTensorF32(source, st.tensors.get('w.f16')!);
    const bf16 = await readTensorF32(source, st.tensors.get('w.bf16')!);
    for (let i = 0; i < a.length; i++) {
      expect(Math.abs(f16[i] - a[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -11);
      expect(Math.abs(bf16[i] - a[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -8);
    }
    expect(st.tensors.get('w.bf16')?.shape).toEqual([2, 6]);
  });
});

describe('parseSafetensorsIndex', () => {
  it('maps tensors to shard files and refuses paths', () => {
    const map = parseSafetensorsIndex(
      JSON.stringify({ metadata: { total_size: 8 }, weight_map: { a: 'model-00001-of-00002.safetensors' } }),
    );
    expect(map.get('a')).toBe('model-00001-of-00002.safetensors');
    expect(() => parseSafetensorsIndex(JSON.stringify({ weight_map: { a: '../x.safetensors' } }))).toThrow(/bad shard/);
    expect(() => parseSafetensorsIndex('{}')).toThrow(/weight_map/);
  });
});
