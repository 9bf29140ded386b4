/**
 * The random-model generator against llama.cpp itself: every weight type it can
 * write must load in node-llama-cpp and evaluate a token to a finite, normalised
 * next-token distribution over the whole vocabulary.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Llama, LlamaLogLevel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGGUF } from '../../../engine/gguf/reader.ts';
import { GGMLType, WEIGHT_TYPES } from '../../../engine/quant/types.ts';
import { fixture } from '../../helpers/fixtures.ts';
import { randomLlamaModel, randomModel, writeRandomLlamaModel } from '../../helpers/random-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'chord-random-model-'));
let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error });
});
afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const haveStories = fixture('models/stories260K.gguf') !== undefined;

/** Loads a model file, tokenizes a prompt and evaluates its first token; returns llama.cpp's view. */
async function runInLlamaCpp(path: string, prompt: string) {
  const model = await llama.loadModel({ modelPath: path });
  try {
    const context = await model.createContext({ contextSize: 32, threads: 2 });
    try {
      const tokens = model.tokenize(prompt, false);
      const [out] = await context
        .getSequence()
        .controlledEvaluate([[tokens[0], { generateNext: { probabilities: true } }]]);
      const probs = [...out!.next.probabilities!.values()];
      return { tokens, probs, trainCtx: model.trainContextSize };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

describe.skipIf(!haveStories)('randomLlamaModel loads and runs in llama.cpp', () => {
  for (const type of WEIGHT_TYPES) {
    it(`${GGMLType[type]}`, async () => {
      // K-quants need rows that are whole 256-element blocks; 256 suits every type.
      const bytes = randomLlamaModel({
        dim: 256,
        nLayers: 2,
        nHeads: 4,
        nKvHeads: 2,
        ffn: 512,
        ctx: 256,
        weightType: type,
        seed: 7,
      });
      const file = parseGGUF(bytes);
      expect(file.tensors.find((t) => t.name === 'blk.1.ffn_down.weight')!.type).toBe(type);
      expect(file.tensors.find((t) => t.name === 'blk.1.ffn_norm.weight')!.type).toBe(GGMLType.F32);
      expect(file.tensors.length).toBe(1 + 2 * 9 + 2);
      const path = join(dir, `${GGMLType[type]}.gguf`);
      writeFileSync(path, bytes);
      const r = await runInLlamaCpp(path, 'Once upon a time');
      // The stories260K vocabulary: llama.cpp's SPM tokenizer gives its ids (checked in its own oracle).
      expect(r.tokens.length).toBeGreaterThan(1);
      expect(r.trainCtx).toBe(256);
      expect(r.probs.length).toBe(512);
      expect(r.probs.every(Number.isFinite)).toBe(true);
      expect(r.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
      // Sane scales keep logits O(1): no token takes (nearly) all the mass, none is left at exactly zero.
      expect(r.probs[0]).toBeLessThan(0.5);
      expect(r.probs.at(-1)).toBeGreaterThan(0);
    });
  }
});

describe('other shapes and options', () => {
  it('synthetic spm-bytes vocabulary, tied output, GQA, odd sizes, streamed to disk', async () => {
    const path = join(dir, 'spm-bytes.gguf');
    const size = await writeRandomLlamaModel(path, {
      dim: 96,
      nLayers: 1,
      nHeads: 6,
      nKvHeads: 2,
      ffn: 160,
      vocabSize: 600,
      ctx: 128,
      tiedOutput: true,
      weightType: GGMLType.Q8_0,
      seed: 1,
      vocab: 'spm-bytes',
    });
    expect(size).toBeGreaterThan(0);
    const r = await runInLlamaCpp(path, 'hello');
    expect(r.probs.length).toBe(600);
    expect(r.probs.every(Number.isFinite)).toBe(true);
  });

  it.skipIf(!haveStories)('quantize: true goes through engine/quant and still runs', async () => {
    const path = join(dir, 'quantized.gguf');
    writeFileSync(
      path,
      randomLlamaModel({
        dim: 256,
        nLayers: 1,
        nHeads: 4,
        ffn: 256,
        weightType: GGMLType.Q5_1,
        seed: 3,
        quantize: true,
      }),
    );
    const r = await runInLlamaCpp(path, 'Once upon a time');
    expect(r.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
  });

  it.skipIf(!haveStories)('the stories vocabulary padded past 512 tokens', async () => {
    const path = join(dir, 'padded.gguf');
    writeFileSync(
      path,
      randomLlamaModel({ dim: 64, nLayers: 1, nHeads: 2, ffn: 96, vocabSize: 700, weightType: GGMLType.F16, seed: 4 }),
    );
    const r = await runInLlamaCpp(path, 'Once upon a time');
    expect(r.probs.length).toBe(700);
  });

  it.skipIf(!haveStories)('is deterministic in its seed', () => {
    const o = { dim: 64, nLayers: 1, nHeads: 4, ffn: 64, weightType: GGMLType.Q4_0, seed: 5 };
    expect(Buffer.from(randomLlamaModel(o)).equals(Buffer.from(randomLlamaModel(o)))).toBe(true);
    expect(Buffer.from(randomLlamaModel(o)).equals(Buffer.from(randomLlamaModel({ ...o, seed: 6 })))).toBe(false);
  });

  const haveQwen2 = fixture('vocab/ggml-vocab-qwen2.gguf') !== undefined;

  it.skipIf(!haveStories || !haveQwen2).each([
    ['qwen2', { vocab: 'qwen2-bpe', outputBias: true }, ['blk.0.attn_q.bias', 'output.bias']],
    ['phi2', { fusedQkv: true, ropeDims: 8 }, ['blk.0.attn_qkv.weight', 'blk.0.attn_norm.bias', 'output.bias']],
    ['phi3', { fusedQkv: true, longRope: { originalContext: 64, attnFactor: 1.2 } }, ['rope_factors_long.weight']],
    ['gemma', { headDim: 32 }, ['blk.0.ffn_gate.weight']],
    ['gemma2', { slidingWindow: 4, attnSoftcap: 20 }, ['blk.0.post_ffw_norm.weight']],
  ] as const)('%s: llama.cpp loads it and runs a token', async (arch, extra, names) => {
    const path = join(dir, `${arch}.gguf`);
    const bytes = randomModel({
      arch,
      dim: 64,
      nLayers: 1,
      nHeads: 4,
      ffn: 128,
      ctx: 256,
      vocabSize: 520,
      weightType: GGMLType.Q8_0,
      seed: 8,
      ...extra,
    });
    const file = parseGGUF(bytes);
    expect(file.metadata.get('general.architecture')?.value).toBe(arch);
    for (const name of names) expect(file.tensors.some((t) => t.name === name)).toBe(true);
    // gemma's output is always token_embd: no output.weight in the file
    if (arch.startsWith('gemma')) expect(file.tensors.some((t) => t.name === 'output.weight')).toBe(false);
    writeFileSync(path, bytes);
    const r = await runInLlamaCpp(path, 'Once upon a time');
    expect(r.probs.length).toBe(520);
    expect(r.probs.every(Number.isFinite)).toBe(true);
    expect(r.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
  });
});
