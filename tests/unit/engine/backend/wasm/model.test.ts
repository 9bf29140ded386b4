import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../../../../engine/model/model.ts';
import { loadModel } from '../../../../../engine/node/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { fixture } from '../../../../helpers/fixtures.ts';
import { writeRandomLlamaModel } from '../../../../helpers/random-model.ts';
import { ensureWasmBuilt } from './build.ts';

/**
 * The whole forward pass with backend 'wasm' against the reference backend:
 * the same logits bit for bit at every step (prefill of several rows, then
 * single-token decode), with one thread and with two. The kernels reproduce the
 * reference's float order op by op (llama.cpp's AVX2 order for the products,
 * ggml's flash attention with glibc's expf, the light ops; assembly/), and a
 * decode step runs as one batch of commands with barriers between dependent ops.
 */
const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);

async function greedyRun(model: Model, prompt: number[], steps: number, kvCache: 'f16' | 'f32') {
  const seq = model.createSequence({ contextSize: 256, kvCache });
  const logits: Float32Array[] = [await seq.evaluate(prompt)];
  const tokens: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = argmax(logits[logits.length - 1]);
    tokens.push(t);
    logits.push(await seq.evaluate([t]));
  }
  return { tokens, logits };
}

interface Variant {
  /** Default: a short prompt (one batch under 64 rows). */
  prompt?: string;
  kvCache?: 'f16' | 'f32';
  flashAttention?: boolean;
}

async function compareBackends(path: string, threads: number, v: Variant = {}): Promise<void> {
  const js = await loadModel(path, { backend: 'js', flashAttention: v.flashAttention });
  const wasm = await loadModel(path, { backend: 'wasm', threads, flashAttention: v.flashAttention });
  try {
    expect(wasm.info.backend).toContain(`${threads} thread`);
    const prompt = js.tokenize(v.prompt ?? 'Once upon a time, there was', { addSpecial: true });
    const a = await greedyRun(js, prompt, 20, v.kvCache ?? 'f16');
    const b = await greedyRun(wasm, prompt, 20, v.kvCache ?? 'f16');
    expect(b.tokens).toEqual(a.tokens);
    for (let s = 0; s < a.logits.length; s++) {
      const x = new Uint32Array(a.logits[s].buffer);
      const y = new Uint32Array(b.logits[s].buffer);
      const i = x.findIndex((bits, j) => bits !== y[j]);
      if (i >= 0) expect.fail(`step ${s}, logit ${i}: ${b.logits[s][i]}, the reference ${a.logits[s][i]}`);
    }
  } finally {
    await js.dispose();
    await wasm.dispose();
  }
}

beforeAll(async () => {
  await ensureWasmBuilt();
});

describe('wasm backend: whole model against the reference backend', () => {
  for (const name of ['stories260K', 'stories260K-Q8_0', 'stories260K-Q4_0', 'stories260K-Q5_1', 'stories260K-F16']) {
    const path = fixture(`models/${name}.gguf`);
    for (const threads of [1, 2]) {
      it.skipIf(!path)(`${name}, ${threads} thread${threads > 1 ? 's' : ''}`, async () => {
        await compareBackends(path!, threads);
      });
    }
  }

  const stories = fixture('models/stories260K-Q8_0.gguf');
  it.skipIf(!stories)('an F32 KV cache', async () => {
    await compareBackends(stories!, 2, { kvCache: 'f32' });
  });
  it.skipIf(!stories)("a prompt of 64 tokens and more (ggml's tiled flash attention)", async () => {
    const prompt =
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. '.repeat(4);
    await compareBackends(stories!, 2, { prompt });
  });
  it.skipIf(!stories)('attention without flash attention (in TypeScript)', async () => {
    await compareBackends(stories!, 2, { flashAttention: false });
  });

  describe('random models in the other formats', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'chord-wasm-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    for (const type of [
      GGMLType.Q4_K,
      GGMLType.Q5_K,
      GGMLType.Q6_K,
      GGMLType.Q4_1,
      GGMLType.Q5_0,
      GGMLType.BF16,
      GGMLType.Q2_K,
      GGMLType.Q3_K,
    ]) {
      it(`${GGMLType[type]}, 2 threads`, async () => {
        await compareBackends(await smallModel(`${GGMLType[type]}.gguf`, type, type), 2);
      });
    }
    it('Q4_0 with the output tied to token_embd: one repacked matrix gives embedding rows and the logits', async () => {
      await compareBackends(await smallModel('Q4_0-tied.gguf', GGMLType.Q4_0, 40, true), 2);
    });

    /** A 2-layer random model of dim 256 in `weightType`, written into the test's folder. */
    async function smallModel(name: string, weightType: GGMLType, seed: number, tiedOutput = false) {
      const path = join(dir, name);
      await writeRandomLlamaModel(path, {
        dim: 256,
        nLayers: 2,
        nHeads: 4,
        nKvHeads: 2,
        ffn: 512,
        weightType,
        seed,
        vocab: 'spm-bytes',
        vocabSize: 512,
        tiedOutput,
      });
      return path;
    }
  });

  it('reports why it cannot use threads when asked for one thread only', async () => {
    const path = fixture('models/stories260K.gguf');
    if (!path) return;
    const m = await loadModel(path, { backend: 'wasm', threads: 1 });
    expect(m.info.backend).toMatch(/^wasm \(SIMD128( \+ relaxed(, fused madd)?)?, 1 thread\)/);
    await m.dispose();
  });
});
