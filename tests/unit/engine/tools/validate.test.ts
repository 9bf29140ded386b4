/**
 * chord validate: the fixtures pass; deliberately broken files fail with the
 * problem named (truncated, bad magic, NaN/Inf injected into F32 and F16 values
 * and into the f16 scales of Q8_0 and Q4_K blocks, overlapping tensors, a
 * misaligned tensor, a wrong SHA-256); the CLI exits 0 or 2 with one line per problem.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseGGUF } from '../../../../engine/gguf/reader.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { validateCommand } from '../../../../engine/node/commands/validate.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { validateGGUF } from '../../../../engine/tools/validate.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { randomLlamaModel } from '../../../helpers/random-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'chord-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const validate = (bytes: Uint8Array, sha256?: string) => validateGGUF(fromBytes(bytes), { sha256 });
const codes = (r: { problems: readonly { code: string }[] }) => r.problems.map((p) => p.code);

function tensorOf(bytes: Uint8Array, name: string) {
  const t = parseGGUF(bytes).tensors.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no tensor ${name}`);
  return t;
}

/** Byte position of a tensor info's u64 offset field: after its name, dimension count, dimensions and type. */
function offsetFieldOf(bytes: Uint8Array, name: string, nDims: number): number {
  const needle = new TextEncoder().encode(name);
  for (let i = 8; i + needle.length < bytes.length; i++) {
    if (bytes[i - 8] !== needle.length || bytes[i - 7] !== 0) continue;
    if (needle.every((b, k) => bytes[i + k] === b) && bytes[i + needle.length] === nDims) {
      return i + needle.length + 4 + 8 * nDims + 4;
    }
  }
  throw new Error(`no tensor info for ${name}`);
}

const q4k = randomLlamaModel({
  dim: 256,
  nLayers: 1,
  nHeads: 4,
  ffn: 256,
  vocab: 'spm-bytes',
  vocabSize: 260,
  weightType: GGMLType.Q4_K,
  seed: 5,
});

describe('validateGGUF', () => {
  it('the fixtures are sound: every tensor of every type scanned', async () => {
    for (const name of ['stories260K', 'stories260K-F16', 'stories260K-Q4_0', 'stories260K-Q5_1', 'stories260K-Q8_0']) {
      const path = fixture(`models/${name}.gguf`);
      if (!path) continue;
      const r = await validate(readFileSync(path));
      expect(r.problems, name).toEqual([]);
      expect(r.tensorsScanned).toBe(48);
    }
    const r = await validate(q4k);
    expect(r.ok).toBe(true);
    expect(r.tensorsScanned).toBe(parseGGUF(q4k).tensors.length);
  });

  it('truncated files: inside the tensor data, and inside the header', async () => {
    const path = fixture('models/stories260K.gguf');
    if (!path) return;
    const bytes = readFileSync(path);
    const cut = await validate(bytes.subarray(0, bytes.length - 1000));
    expect(codes(cut)).toEqual(['GGUF_TENSOR_OUT_OF_BOUNDS']);
    expect(cut.problems[0].message).toMatch(/runs past the end of the file/);
    const header = await validate(bytes.subarray(0, 500));
    expect(codes(header)).toEqual(['GGUF_TRUNCATED']);
    expect((await validate(new Uint8Array(0))).ok).toBe(false);
  });

  it('bad magic', async () => {
    const bytes = new Uint8Array(q4k);
    bytes[0] = 0x47 ^ 0xff;
    expect(codes(await validate(bytes))).toEqual(['GGUF_BAD_MAGIC']);
  });

  it('NaN and Inf injected: F32 values, F16 values, a Q8_0 scale, a Q4_K super-block scale', async () => {
    const f32Path = fixture('models/stories260K.gguf');
    const f16Path = fixture('models/stories260K-F16.gguf');
    const q8Path = fixture('models/stories260K-Q8_0.gguf');
    if (!f32Path || !f16Path || !q8Path) return;

    const f32 = new Uint8Array(readFileSync(f32Path));
    const t32 = tensorOf(f32, 'blk.2.attn_q.weight');
    new DataView(f32.buffer).setFloat32(t32.fileOffset + 4 * 100, Number.NaN, true);
    new DataView(f32.buffer).setFloat32(t32.fileOffset + 4 * 200, Number.NEGATIVE_INFINITY, true);
    const r32 = await validate(f32);
    expect(r32.nonFinite).toEqual([{ tensor: 'blk.2.attn_q.weight', nan: 1, infinite: 1, firstIndex: 100 }]);
    expect(r32.problems[0]).toMatchObject({ code: 'MODEL_INVALID', tensor: 'blk.2.attn_q.weight' });

    const f16 = new Uint8Array(readFileSync(f16Path));
    const t16 = tensorOf(f16, 'blk.0.ffn_up.weight');
    f16[t16.fileOffset + 2 * 33 + 1] = 0x7c; // +Inf: 0x7c00
    f16[t16.fileOffset + 2 * 33] = 0x00;
    expect((await validate(f16)).nonFinite).toEqual([
      { tensor: 'blk.0.ffn_up.weight', nan: 0, infinite: 1, firstIndex: 33 },
    ]);

    // Q8_0 block 3 of token_embd: its f16 scale d becomes NaN, so its 32 weights are NaN.
    const q8 = new Uint8Array(readFileSync(q8Path));
    const tq8 = tensorOf(q8, 'token_embd.weight');
    q8[tq8.fileOffset + 34 * 3] = 0x00;
    q8[tq8.fileOffset + 34 * 3 + 1] = 0x7e;
    expect((await validate(q8)).nonFinite).toEqual([
      { tensor: 'token_embd.weight', nan: 32, infinite: 0, firstIndex: 96 },
    ]);

    // Q4_K: dmin (bytes 2..3 of a 144-byte block) becomes +Inf; weights whose min index is 0 give Inf*0 = NaN.
    const k = new Uint8Array(q4k);
    const tk = tensorOf(k, 'blk.0.ffn_down.weight');
    k[tk.fileOffset + 144 * 2 + 2] = 0x00;
    k[tk.fileOffset + 144 * 2 + 3] = 0x7c;
    const rk = await validate(k);
    expect(rk.nonFinite).toHaveLength(1);
    expect(rk.nonFinite[0].tensor).toBe('blk.0.ffn_down.weight');
    expect(rk.nonFinite[0].nan + rk.nonFinite[0].infinite).toBe(256);
    expect(rk.nonFinite[0].firstIndex).toBe(512);
  });

  it('overlapping and misaligned tensors', async () => {
    const bytes = new Uint8Array(q4k);
    const a = tensorOf(bytes, 'blk.0.attn_k.weight');
    const b = tensorOf(bytes, 'blk.0.attn_q.weight');
    const overlap = bytes.slice();
    new DataView(overlap.buffer).setBigUint64(offsetFieldOf(overlap, b.name, 2), BigInt(a.offset + 32), true);
    const r = await validate(overlap);
    expect(codes(r)).toEqual(['GGUF_TENSOR_OVERLAP']);
    expect(r.problems[0].message).toContain('blk.0.attn_k.weight');

    const misaligned = bytes.slice();
    new DataView(misaligned.buffer).setBigUint64(offsetFieldOf(misaligned, b.name, 2), BigInt(b.offset + 4), true);
    expect(codes(await validate(misaligned))).toEqual(['GGUF_MISALIGNED']);
  });

  it('tensor list: a missing tensor and misshapen ones are each named (architectures we run)', async () => {
    expect(await validate(q4k)).toMatchObject({ architecture: 'llama', tensorListChecked: true });
    const renamed = new Uint8Array(q4k);
    const name = 'blk.0.ffn_up.weight';
    const at = offsetFieldOf(renamed, name, 2) - 4 - 8 * 2 - 4 - name.length + name.indexOf('up');
    expect(String.fromCharCode(renamed[at], renamed[at + 1])).toBe('up');
    renamed[at + 1] = 'q'.charCodeAt(0); // blk.0.ffn_uq.weight: llama.cpp would not find ffn_up
    const r = await validate(renamed);
    expect(r.problems).toEqual([
      {
        code: 'MODEL_INVALID',
        tensor: 'blk.0.ffn_up.weight',
        message: "llama: tensor 'blk.0.ffn_up.weight' is missing",
      },
    ]);

    // llama.feed_forward_length 256 -> 512: the three FFN matrices no longer have the shape llama.cpp expects.
    const key = new TextEncoder().encode('llama.feed_forward_length');
    const bytes = new Uint8Array(q4k);
    const k = bytes.findIndex((_, i) => key.every((b, j) => bytes[i + j] === b));
    const value = k + key.length + 4; // after the key, the u32 value type
    expect(new DataView(bytes.buffer).getUint32(value, true)).toBe(256);
    new DataView(bytes.buffer).setUint32(value, 512, true);
    const ffn = await validate(bytes);
    expect(ffn.problems.map((p) => p.tensor)).toEqual([
      'blk.0.ffn_gate.weight',
      'blk.0.ffn_up.weight',
      'blk.0.ffn_down.weight',
    ]);
    expect(ffn.problems[2].message).toContain('has shape [256, 256], expected [512, 256]');
  });

  it('sha256: the right digest passes, a wrong one fails', async () => {
    const digest = createHash('sha256').update(q4k).digest('hex');
    const good = await validate(q4k, digest.toUpperCase());
    expect(good).toMatchObject({ ok: true, sha256: digest });
    const bad = await validate(q4k, `${digest.slice(0, 63)}${digest[63] === '0' ? '1' : '0'}`);
    expect(codes(bad)).toEqual(['GGUF_CHECKSUM_MISMATCH']);
  });
});

describe('chord validate (CLI)', () => {
  it('exit 0 for a sound file, 2 with one line per problem, 1 for usage errors', async () => {
    const good = join(dir, 'good.gguf');
    writeFileSync(good, q4k);
    const broken = new Uint8Array(q4k);
    const t = tensorOf(broken, 'blk.0.attn_q.weight');
    broken[t.fileOffset + 1] = 0x7c; // d of block 0: +Inf
    broken[t.fileOffset] = 0x00;
    const digest = createHash('sha256').update(broken).digest('hex');
    const bad = join(dir, 'bad.gguf');
    writeFileSync(bad, broken);

    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await validateCommand([good])).toBe(0);
      expect(out.pop()).toMatch(/OK \(\d+ tensors scanned, llama tensor list checked\)/);
      expect(await validateCommand([bad, '--sha256', '0'.repeat(64)])).toBe(2);
      expect(out).toHaveLength(2);
      expect(out[0]).toContain("MODEL_INVALID: tensor 'blk.0.attn_q.weight'");
      expect(out[1]).toContain(`GGUF_CHECKSUM_MISMATCH: SHA-256 is ${digest}`);
      expect(await validateCommand([good, '--sha256', 'xyz'])).toBe(1);
      expect(await validateCommand([])).toBe(1);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });
});
