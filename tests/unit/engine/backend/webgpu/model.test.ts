/**
 * Whole forward passes on small random models, one per architecture family and
 * K-quant weight format, WebGPU against the reference backend with an F32 KV
 * cache: a 6-token prompt batch (the tiled kernel), then a single token. This
 * covers the family ops (biases, LayerNorm, GELU/GeGLU, fused QKV, LongRoPE
 * factors, soft-capping, sliding windows) where the model code uses them.
 * - exactF32 on both sides: logits within 2e-4 relative at every step (measured
 *   <= 5.8e-7; Gemma 3.3e-6, Phi-2 1.5e-6 and Gemma 2 3.1e-6, where GPU-order sums
 *   meet the F16 steps of GELU's table).
 * - llama.cpp's arithmetic on both sides (the GPU sums in llama.cpp's order):
 *   llama Q4_K (repacked gemv/gemm order), gemma2 Q8_0 (soft-caps, sliding window,
 *   GeGLU) and phi3 Q3_K (fused QKV and gate|up, LongRoPE) must give the
 *   reference's logits to the bit (in GPU order phi3 Q3_K was 1.1e-2 off: one Q8_K
 *   rounding flipped and carried on). Run on three of the models: each mode
 *   compiles its own kernels.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Model } from '../../../../../engine/model/model.ts';
import { loadModel } from '../../../../../engine/node/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { type RandomModelOptions, writeRandomLlamaModel } from '../../../../helpers/random-model.ts';
import { gpuAvailable, relativeError } from './gpu.ts';

const TOLERANCE_EXACT = 2e-4;
const base = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffn: 512, vocab: 'spm-bytes', vocabSize: 300 } as const;
/** [label, model, also with llama.cpp's roundings]. */
const CASES: [string, Partial<RandomModelOptions> & { weightType: GGMLType }, boolean][] = [
  // 304 tokens: a multiple of 8 rows, so llama.cpp repacks the Q4_K output too (the GPU mirrors only that order)
  ['llama Q4_K', { weightType: GGMLType.Q4_K, vocabSize: 304 }, true],
  ['qwen2 Q6_K', { arch: 'qwen2', weightType: GGMLType.Q6_K }, false],
  ['phi2 Q5_K', { arch: 'phi2', weightType: GGMLType.Q5_K }, false],
  ['phi3 Q3_K', { arch: 'phi3', weightType: GGMLType.Q3_K, longRope: { originalContext: 32, attnFactor: 1.1 } }, true],
  ['gemma Q2_K', { arch: 'gemma', weightType: GGMLType.Q2_K }, false],
  ['gemma2 Q8_0', { arch: 'gemma2', weightType: GGMLType.Q8_0, slidingWindow: 4 }, true],
];
/** Single tokens after the prompt batch (a second one would run the same kernels again; SwiftShader is slow). */
const STEPS = 1;

const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);

async function run(model: Model, prompt: number[], steps: number): Promise<Float32Array[]> {
  const seq = model.createSequence({ contextSize: 32, kvCache: 'f32' });
  const logits = [await seq.evaluate(prompt)];
  for (let i = 0; i < steps; i++) logits.push(await seq.evaluate([argmax(logits[logits.length - 1])]));
  return logits;
}

describe.skipIf(!gpuAvailable)('webgpu whole model vs the reference, random models', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chord-webgpu-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(CASES)('%s', async (label, opts, rounded) => {
    const path = join(dir, `${label.replace(/\W/g, '_')}.gguf`);
    await writeRandomLlamaModel(path, { ...base, seed: 7, ...opts });
    const prompt = [1, 40, 77, 120, 5, 250];
    const worst: string[] = [];
    const modes: [boolean, number][] = [[true, TOLERANCE_EXACT]];
    if (rounded) modes.push([false, 0]);
    for (const [exactF32, tol] of modes) {
      const gpu = await loadModel(path, { backend: 'webgpu', exactF32 });
      const js = await loadModel(path, { backend: 'js', exactF32 });
      try {
        // GPU memory as model.memoryUsage() reports it (chord bench prints it): at least the weights.
        const weightBytes = gpu.file.tensors.reduce((sum, t) => sum + t.byteSize, 0);
        expect(gpu.memoryUsage().gpuBytes).toBeGreaterThanOrEqual(weightBytes);
        expect(js.memoryUsage()).toEqual({});
        const [a, b] = [await run(gpu, prompt, STEPS), await run(js, prompt, STEPS)];
        const errors = a.map((logits, i) => relativeError(logits, b[i]));
        worst.push(`${exactF32 ? 'exact' : 'rounded'} ${Math.max(...errors).toExponential(2)}`);
        for (const e of errors) expect(e).toBeLessThanOrEqual(tol);
      } finally {
        await gpu.dispose();
        await js.dispose();
      }
    }
    console.info(`webgpu ${label}: worst logit error ${worst.join(', ')}`);
  });
});
