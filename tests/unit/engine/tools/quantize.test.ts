/**
 * quantizeGGUF on its own: --keep rules, the type names, refusals, the report
 * (sizes, RMSE ordering across types), progress, and streaming from a ByteSource
 * into a sink. Equality with llama.cpp is in quantize-llama.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseGGUF } from '../../../../engine/gguf/reader.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { quantizeCommand } from '../../../../engine/node/commands/quantize.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { type QuantizeOptions, quantizeGGUF } from '../../../../engine/tools/quantize.ts';
import { parseFileType, parseKeepRule } from '../../../../engine/tools/quantize-plan.ts';
import { randomLlamaModel } from '../../../helpers/random-model.ts';

const model = randomLlamaModel({
  dim: 256,
  nLayers: 2,
  nHeads: 4,
  ffn: 256,
  vocab: 'spm-bytes',
  vocabSize: 260,
  weightType: GGMLType.F16,
  seed: 3,
  quantize: true,
});

async function run(bytes: Uint8Array, opts: QuantizeOptions) {
  const chunks: Uint8Array[] = [];
  const report = await quantizeGGUF(fromBytes(bytes), (c) => void chunks.push(c.slice()), opts);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return { report, out, file: parseGGUF(out), chunks: chunks.length };
}

const typeOf = (file: ReturnType<typeof parseGGUF>, name: string) =>
  GGMLType[file.tensors.find((t) => t.name === name)?.type ?? -1];

describe('quantizeGGUF', () => {
  it('names: aliases, case, unknown types and bad --keep rules are errors with codes', () => {
    expect(parseFileType('q4_k')).toBe('Q4_K_M');
    expect(parseFileType('Q5_K')).toBe('Q5_K_M');
    expect(parseFileType('q6_k')).toBe('Q6_K');
    expect(() => parseFileType('IQ2_XS')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(parseKeepRule('blk.*.ffn_down.weight=q8_0')).toEqual({ glob: 'blk.*.ffn_down.weight', type: GGMLType.Q8_0 });
    expect(parseKeepRule('token_embd.weight')).toEqual({ glob: 'token_embd.weight' });
    expect(() => parseKeepRule('x=Q8_K')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => parseKeepRule('=Q8_0')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('Q4_K_M: metadata copied with file type and quantization version last; streamed tensor by tensor', async () => {
    const { file, report, chunks } = await run(model, { type: 'Q4_K' });
    const input = parseGGUF(model);
    const keys = [...file.metadata.keys()];
    expect(keys.slice(-2)).toEqual(['general.quantization_version', 'general.file_type']);
    expect(file.metadata.get('general.file_type')?.value).toBe(15);
    expect(file.metadata.get('general.quantization_version')?.value).toBe(2);
    for (const [k, e] of input.metadata) if (!k.startsWith('general.')) expect(file.metadata.get(k)).toEqual(e);
    // header, then each tensor's data and padding: one sink call per piece, never the whole file.
    expect(chunks).toBeGreaterThan(input.tensors.length);
    expect(typeOf(file, 'output.weight')).toBe('Q6_K');
    expect(typeOf(file, 'blk.0.attn_q.weight')).toBe('Q4_K');
    expect(typeOf(file, 'blk.0.attn_norm.weight')).toBe('F32');
    expect(report.bytesOut).toBeLessThan(report.bytesIn / 3);
    const q = report.tensors.find((t) => t.name === 'blk.0.attn_q.weight');
    expect(q).toMatchObject({ from: 'F16', to: 'Q4_K', reason: 'default' });
    expect(q?.relativeRmse).toBeGreaterThan(0.01);
    expect(q?.relativeRmse).toBeLessThan(0.15);
    const norm = report.tensors.find((t) => t.name === 'blk.0.attn_norm.weight');
    expect(norm).toMatchObject({ from: 'F32', to: 'F32', reason: 'not quantized', rmse: 0 });
  });

  it('RMSE falls with more bits: Q2_K > Q3_K > Q4_K > Q5_K > Q6_K > Q8_0 on the same tensor', async () => {
    const rel: number[] = [];
    for (const type of ['Q2_K', 'Q3_K_S', 'Q4_K_S', 'Q5_K_S', 'Q6_K', 'Q8_0']) {
      // Only blk.0.attn_q.weight is quantized: the rules keep the rest as it is.
      const keep = [
        'token_embd.weight',
        'output.weight',
        'blk.1.*',
        'blk.0.ffn_*',
        'blk.0.attn_k*',
        'blk.0.attn_v*',
        'blk.0.attn_o*',
      ];
      const { report } = await run(model, { type, keep: keep.map(parseKeepRule) });
      expect(report.tensors.filter((t) => t.from !== t.to).map((t) => t.name)).toEqual(['blk.0.attn_q.weight']);
      rel.push(report.tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.relativeRmse ?? Number.NaN);
    }
    for (let i = 1; i < rel.length; i++) expect(rel[i]).toBeLessThan(rel[i - 1]);
  });

  it('--keep: GLOB=TYPE overrides the mix, GLOB alone keeps the input type, 1-D tensors stay', async () => {
    const { file, report } = await run(model, {
      type: 'Q4_0',
      keep: [parseKeepRule('blk.*.ffn_*=Q8_0'), parseKeepRule('token_embd.weight'), parseKeepRule('*norm*=F16')],
    });
    expect(typeOf(file, 'blk.0.ffn_up.weight')).toBe('Q8_0');
    expect(typeOf(file, 'blk.1.ffn_down.weight')).toBe('Q8_0');
    expect(typeOf(file, 'blk.1.attn_k.weight')).toBe('Q4_0');
    expect(typeOf(file, 'token_embd.weight')).toBe('F16');
    expect(typeOf(file, 'output_norm.weight')).toBe('F32');
    expect(report.tensors.find((t) => t.name === 'token_embd.weight')).toMatchObject({ reason: 'keep', rmse: 0 });
  });

  it('progress: one call per tensor, in file order, bytes adding up', async () => {
    const seen: string[] = [];
    let last = 0;
    const { file } = await run(model, {
      type: 'Q8_0',
      onProgress: (p) => {
        seen.push(p.tensor.name);
        expect(p.bytesWritten).toBeGreaterThan(last);
        last = p.bytesWritten;
        expect(p.bytesWritten).toBeLessThanOrEqual(p.totalBytes);
      },
    });
    expect(seen).toEqual(file.tensors.map((t) => t.name));
    const rows: Array<[string, number, number]> = [];
    await run(model, { type: 'Q8_0', onTensorRows: (name, done, total) => void rows.push([name, done, total]) });
    expect(rows).toContainEqual(['token_embd.weight', 260, 260]);
    expect(rows.every(([, done, total]) => done > 0 && done <= total)).toBe(true);
  });

  it('refuses non-finite weights, naming the tensor', async () => {
    const bad = model.slice();
    const t = parseGGUF(bad).tensors.find((x) => x.name === 'blk.1.ffn_up.weight');
    if (!t) throw new Error('missing tensor');
    bad[t.fileOffset + 2 * 7] = 0x00;
    bad[t.fileOffset + 2 * 7 + 1] = 0x7e; // f16 NaN
    await expect(run(bad, { type: 'Q4_0' })).rejects.toMatchObject({
      code: 'MODEL_INVALID',
      message: expect.stringContaining('blk.1.ffn_up.weight'),
    });
  });
});

describe('chord quantize (CLI)', () => {
  it('--json report on stdout, progress on stderr, exit 0; usage errors exit 1; no partial file left on failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chord-quantize-cli-'));
    const out: string[] = [];
    const err: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((s) => out.push(String(s)) > 0);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((s) => err.push(String(s)) > 0);
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const input = join(dir, 'in.gguf');
      writeFileSync(input, model);
      const output = join(dir, 'out.gguf');
      expect(
        await quantizeCommand([input, output, '--type', 'q8_0', '--keep', 'token_embd.weight=F16', '--json']),
      ).toBe(0);
      const report = JSON.parse(out.join(''));
      expect(report).toMatchObject({ type: 'Q8_0', fileType: 7, output });
      expect(report.tensors.find((t: { name: string }) => t.name === 'token_embd.weight')).toMatchObject({
        to: 'F16',
        reason: 'keep',
      });
      expect(err.filter((l) => l.startsWith('[')).length).toBe(report.tensors.length);
      expect(parseGGUF(readFileSync(output)).tensors.length).toBe(report.tensors.length);

      expect(await quantizeCommand([input, output])).toBe(1); // no --type
      const nan = model.slice();
      nan[parseGGUF(nan).tensors[3].fileOffset + 1] = 0x7e;
      writeFileSync(input, nan);
      const failed = join(dir, 'failed.gguf');
      await expect(quantizeCommand([input, failed, '--type', 'Q4_0'])).rejects.toMatchObject({ code: 'MODEL_INVALID' });
      expect(() => readFileSync(`${failed}.partial`)).toThrow();
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      error.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
