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
 * same greedy tokens, logits close at every step (prefill of several rows, then
 * single-token decode), with one thread and with two.
 *
 * The kernels are bit-exact with ggml's generic dot products for the 32-weight
 * formats and sum in another order for the others (~1e-7 relative, as accurate
 * as the reference; see kernels.test.ts). The reference backend itself may use
 * llama.cpp's AVX2 order (FMA) instead. The forward pass re-quantizes
 * activations (Q8, f16 for the KV cache and attention), where such differences
 * sometimes flip a value by one step: logits agree to ~1e-2 of the largest.
 */
const APPROX = 2e-2;
const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);

async function greedyRun(model: Model, prompt: number[], steps: number, kvCache: 'f16' | 'f32') {
  const seq = model.createSequence({ contextSize: 128, kvCache });
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
  kvCache?: 'f16' | 'f32';
  flashAttention?: boolean;
}

async function compareBackends(path: string, threads: number, tolerance: number, v: Variant = {}): Promise<void> {
  const js = await loadModel(path, { backend: 'js', flashAttention: v.flashAttention });
  const wasm = await loadModel(path, { backend: 'wasm', threads, flashAttention: v.flashAttention });
  try {
    expect(wasm.info.backend).toContain(`${threads} thread`);
    const prompt = js.tokenize('Once upon a time, there was', { addSpecial: true });
    const a = await greedyRun(js, prompt, 20, v.kvCache ?? 'f16');
    const b = await greedyRun(wasm, prompt, 20, v.kvCache ?? 'f16');
    expect(b.tokens).toEqual(a.tokens);
    for (let s = 0; s < a.logits.length; s++) {
      const scale = Math.max(...a.logits[s].map(Math.abs));
      let worst = 0;
      for (let i = 0; i < a.logits[s].length; i++) worst = Math.max(worst, Math.abs(a.logits[s][i] - b.logits[s][i]));
      if (worst > tolerance * scale) expect.fail(`step ${s}: logits differ by ${worst} (scale ${scale})`);
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
        await compareBackends(path!, threads, APPROX);
      });
    }
  }

  const stories = fixture('models/stories260K-Q8_0.gguf');
  it.skipIf(!stories)('an F32 KV cache', async () => {
    await compareBackends(stories!, 2, APPROX, { kvCache: 'f32' });
  });
  it.skipIf(!stories)('attention without flash attention (in TypeScript)', async () => {
    await compareBackends(stories!, 2, APPROX, { flashAttention: false });
  });

  describe('random models in the other formats (Q3_K: the reference kernel over wasm memory)', () => {
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
      GGMLType.Q3_K,
    ]) {
      it(`${GGMLType[type]}, 2 threads`, async () => {
        const path = join(dir, `${GGMLType[type]}.gguf`);
        await writeRandomLlamaModel(path, {
          dim: 256,
          nLayers: 2,
          nHeads: 4,
          nKvHeads: 2,
          ffn: 512,
          weightType: type,
          seed: type,
          vocab: 'spm-bytes',
          vocabSize: 512,
        });
        await compareBackends(path, 2, APPROX);
      });
    }
  });

  it('reports why it cannot use threads when asked for one thread only', async () => {
    const path = fixture('models/stories260K.gguf');
    if (!path) return;
    const m = await loadModel(path, { backend: 'wasm', threads: 1 });
    expect(m.info.backend).toMatch(/^wasm \(SIMD128, 1 thread\)/);
    await m.dispose();
  });
});
