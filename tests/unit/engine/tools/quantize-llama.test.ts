/**
 * `chord quantize` against llama.cpp's llama_model_quantize (same llama.cpp as
 * node-llama-cpp 3.21.1, through koffi): for every file type we write, the same
 * type for every tensor in the same order with the same metadata; for a set of
 * file types covering every quantizer (legacy and Q2_K..Q6_K, the mixes, the
 * fallbacks for row lengths that do not fit 256-blocks, tied embeddings,
 * requantization), the output file byte for byte.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGGUF } from '../../../../engine/gguf/reader.ts';
import { quantizeFile } from '../../../../engine/node/commands/quantize.ts';
import { dequantizeRow } from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { FILE_TYPES, type FileTypeName, planQuantization } from '../../../../engine/tools/quantize-plan.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { randomLlamaModel } from '../../../helpers/random-model.ts';
import { haveLlamaQuantize, llamaQuantize, llamaQuantizeTypes } from './llama-quantize.ts';

const dir = mkdtempSync(join(tmpdir(), 'chord-quantize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** The header of a file as comparable data: tensor names, types, shapes in order; metadata keys in order. */
function headerOf(path: string) {
  const f = parseGGUF(readFileSync(path));
  return {
    keys: [...f.metadata.keys()],
    fileType: f.metadata.get('general.file_type')?.value,
    tensors: f.tensors.map((t) => `${t.name} ${GGMLType[t.type]} [${t.shape.join(',')}]`),
  };
}

async function both(input: string, type: FileTypeName, tag: string, allowRequantize = false) {
  const ours = join(dir, `${tag}-${type}-ours.gguf`);
  const theirs = join(dir, `${tag}-${type}-llama.gguf`);
  expect(await llamaQuantize(input, theirs, { ftype: FILE_TYPES[type].ftype, allowRequantize })).toBe(0);
  const report = await quantizeFile(input, ours, { type, allowRequantize });
  return { ours, theirs, report };
}

async function expectSameFile(input: string, type: FileTypeName, tag: string, allowRequantize = false) {
  const { ours, theirs, report } = await both(input, type, tag, allowRequantize);
  const a = readFileSync(ours);
  const b = readFileSync(theirs);
  const at = firstDifference(a, b);
  if (at >= 0) {
    expect(headerOf(ours)).toEqual(headerOf(theirs)); // names the tensor whose type differs, if any
    expect.fail(`${tag} ${type}: files differ from byte ${at} (sizes ${a.length}, ${b.length})`);
  }
  return report;
}

describe.skipIf(!haveLlamaQuantize())('quantize vs llama.cpp llama_model_quantize', () => {
  // dim 256 (K-quant rows fit), 4 layers (the _M mixes vary by layer), 4 heads on 1 KV head (n_gqa 4).
  const f32Model = join(dir, 'random-f32.gguf');
  writeFileSync(
    f32Model,
    randomLlamaModel({
      dim: 256,
      nLayers: 4,
      nHeads: 4,
      nKvHeads: 1,
      ffn: 256,
      vocab: 'spm-bytes',
      vocabSize: 300,
      weightType: GGMLType.F32,
      seed: 11,
      quantize: true,
    }),
  );

  // The same with 2 layers, for the byte-for-byte comparisons (quantizing is the slow part).
  const f32Small = join(dir, 'random-f32-small.gguf');
  writeFileSync(
    f32Small,
    randomLlamaModel({
      dim: 256,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 1,
      ffn: 256,
      vocab: 'spm-bytes',
      vocabSize: 260,
      weightType: GGMLType.F32,
      seed: 15,
      quantize: true,
    }),
  );

  it('chooses the same type for every tensor, in the same order, for every file type', async () => {
    const input = parseGGUF(readFileSync(f32Model));
    for (const type of Object.keys(FILE_TYPES) as FileTypeName[]) {
      const ours = planQuantization(input, type).tensors.map((p) => `${p.tensor.name} ${GGMLType[p.to]}`);
      expect(ours, type).toEqual(await llamaQuantizeTypes(f32Model, FILE_TYPES[type].ftype));
    }
  });

  it('16 layers (the K mixes vary by layer): the same types as a llama.cpp dry run, every K mix', async () => {
    const deep = join(dir, 'random-deep.gguf');
    writeFileSync(
      deep,
      randomLlamaModel({
        dim: 256,
        nLayers: 16,
        nHeads: 8,
        nKvHeads: 4, // n_gqa 2: the other side of the GQA rules
        ffn: 256,
        vocab: 'spm-bytes',
        vocabSize: 260,
        weightType: GGMLType.F16,
        seed: 13,
      }),
    );
    const input = parseGGUF(readFileSync(deep));
    for (const type of ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_K_S', 'Q4_K_M', 'Q5_K_S', 'Q5_K_M'] as const) {
      const ours = planQuantization(input, type).tensors.map((p) => `${p.tensor.name} ${GGMLType[p.to]}`);
      expect(ours, type).toEqual(await llamaQuantizeTypes(deep, FILE_TYPES[type].ftype));
    }
  });

  it('random F32 model: identical files for Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 F16 BF16', async () => {
    for (const type of ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'F16', 'BF16'] as const) {
      await expectSameFile(f32Small, type, 'f32');
    }
  });

  it('random F32 model: identical files for Q2_K, Q3_K_M, Q4_K_M, Q5_K_S (every K quantizer, Q6_K included)', async () => {
    for (const type of ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_S'] as const) {
      const report = await expectSameFile(f32Small, type, 'f32');
      // RMSE is measured against the input; cross-check one tensor on llama.cpp's bytes.
      const r = report.tensors.find((t) => t.name === 'blk.0.attn_q.weight');
      expect(r?.rmse).toBeGreaterThan(0);
      const input = parseGGUF(readFileSync(f32Small));
      const theirs = readFileSync(join(dir, `f32-${type}-llama.gguf`));
      const out = parseGGUF(theirs);
      const tin = input.tensors.find((t) => t.name === 'blk.0.attn_q.weight');
      const tout = out.tensors.find((t) => t.name === 'blk.0.attn_q.weight');
      if (!tin || !tout || !r) throw new Error('tensor missing');
      const x = new Float32Array(readFileSync(f32Small).buffer.slice(tin.fileOffset, tin.fileOffset + tin.byteSize));
      const y = new Float32Array(tin.nElements);
      dequantizeRow(tout.type, theirs.subarray(tout.fileOffset, tout.fileOffset + tout.byteSize), y, y.length);
      let sse = 0;
      for (let i = 0; i < x.length; i++) sse += (y[i] - x[i]) ** 2;
      expect(r.rmse).toBeCloseTo(Math.sqrt(sse / x.length), 12);
    }
  });

  it('random F16 model with tied embeddings, rows of 320 (fallbacks), n_gqa 5: identical files', async () => {
    const f16Model = join(dir, 'random-f16.gguf');
    writeFileSync(
      f16Model,
      randomLlamaModel({
        dim: 320,
        nLayers: 2,
        nHeads: 5,
        nKvHeads: 1,
        ffn: 512,
        vocab: 'spm-bytes',
        vocabSize: 270,
        tiedOutput: true,
        weightType: GGMLType.F16,
        seed: 12,
        quantize: true,
      }),
    );
    for (const type of ['Q4_0', 'Q8_0', 'Q2_K', 'Q4_K_M', 'Q6_K'] as const) {
      const report = await expectSameFile(f16Model, type, 'f16');
      if (type === 'Q4_K_M') expect(report.fallbacks).toBeGreaterThan(0);
    }
  });

  it('random BF16 model: identical files for Q4_1 and Q6_K', async () => {
    const bf16Model = join(dir, 'random-bf16.gguf');
    writeFileSync(
      bf16Model,
      randomLlamaModel({
        dim: 256,
        nLayers: 1,
        nHeads: 2,
        ffn: 256,
        vocab: 'spm-bytes',
        vocabSize: 260,
        weightType: GGMLType.BF16,
        seed: 14,
        quantize: true,
      }),
    );
    for (const type of ['Q4_1', 'Q6_K'] as const) await expectSameFile(bf16Model, type, 'bf16');
  });

  it('stories260K (F32, dim 64): identical files for Q4_0, Q5_1, Q8_0, Q4_K_M', async () => {
    const stories = fixture('models/stories260K.gguf');
    if (!stories) return;
    for (const type of ['Q4_0', 'Q5_1', 'Q8_0', 'Q4_K_M'] as const) await expectSameFile(stories, type, 'stories');
  });

  it('requantizing stories260K Q8_0 -> Q4_0: refused by default; with allowRequantize, identical to llama.cpp', async () => {
    const q8 = fixture('models/stories260K-Q8_0.gguf');
    if (!q8) return;
    await expect(quantizeFile(q8, join(dir, 'refused.gguf'), { type: 'Q4_0' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await llamaQuantize(q8, join(dir, 'refused-llama.gguf'), { ftype: FILE_TYPES.Q4_0.ftype })).not.toBe(0);
    const report = await expectSameFile(q8, 'Q4_0', 'requant', true);
    expect(report.requantized).toBeGreaterThan(0);
  });
});
