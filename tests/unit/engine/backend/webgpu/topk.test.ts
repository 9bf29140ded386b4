/**
 * readTopK on the GPU (wgsl/topk.ts) against the reference computation
 * (engine/sampling/top.ts): the same ids in the same order and the same values,
 * bit for bit, ties included; the log-sum-exp within the f32 tolerance below.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../../../engine/backend/backend.ts';
import type { WebGPUBackend } from '../../../../../engine/backend/webgpu/index.ts';
import { createWebGPUBackend } from '../../../../../engine/backend/webgpu/index.ts';
import type { GenerateOptions, GenerationChunk } from '../../../../../engine/model/generation.ts';
import { loadModel } from '../../../../../engine/node/index.ts';
import { topLogits } from '../../../../../engine/sampling/top.ts';
import { fixture } from '../../../../helpers/fixtures.ts';
import { rng } from '../../../../helpers/rng.ts';
import { gpuAvailable } from './gpu.ts';

/**
 * |lse(GPU) - lse(CPU)|: Σ exp(x - max) in f32 (per-thread runs, then a tree) and
 * WGSL's exp (3 + 2|x| ulp) against a double sum. Measured on SwiftShader: 1.1e-7
 * for 32000 logits of spread ~3, 2.4e-8 for 5003 tied ones, 0 for all equal.
 * Probabilities exp(logit - lse) are off by the same relative amount: 7.9e-8 at
 * most for stories260K's top-5 below.
 */
const LSE_TOLERANCE = 1e-6;

async function topOnGpu(be: WebGPUBackend, row: Float32Array, k: number) {
  const x = be.createActivation(1, row.length);
  be.writeActivation(x, row);
  return be.readTopK(x, k);
}

describe.skipIf(!gpuAvailable)('webgpu readTopK', () => {
  it('equals the reference: ids, values and order, with ties; lse within tolerance', async () => {
    const be = await createWebGPUBackend();
    const next = rng(7);
    try {
      const cases: [string, Float32Array, number][] = [];
      // logits on a grid of 1/8: many ties, at the cut-off too
      cases.push(['ties', Float32Array.from({ length: 5003 }, () => Math.round((next() - 0.5) * 64) / 8), 40]);
      cases.push(['all equal', new Float32Array(300).fill(1.5), 7]);
      // the 20 best all in one thread's share (every 256th): that thread scans its share again
      cases.push([
        'one share',
        Float32Array.from({ length: 5003 }, (_, i) => (i % 256 === 0 ? 9 - i / 1e4 : next())),
        40,
      ]);
      // a vocabulary-sized row of realistic spread
      const wide = Float32Array.from({ length: 32000 }, () => (next() + next() + next() - 1.5) * 6);
      cases.push(['32000 logits', wide, 64]);
      cases.push(['k = n', Float32Array.from({ length: 20 }, () => Math.round(next() * 4)), 20]);
      for (const [name, row, k] of cases) {
        const gpu = await topOnGpu(be, row, k);
        const ref = topLogits(row, k);
        expect([...gpu.ids], name).toEqual([...ref.ids]);
        expect([...gpu.logits], name).toEqual([...ref.logits]);
        const err = Math.abs(gpu.logSumExp - ref.logSumExp);
        expect(err, name).toBeLessThan(LSE_TOLERANCE);
      }
    } finally {
      await be.dispose();
    }
  });

  it('reports NaN and infinities through a NaN log-sum-exp', async () => {
    const be = await createWebGPUBackend();
    try {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const row = Float32Array.from({ length: 600 }, (_, i) => Math.sin(i));
        row[333] = bad;
        const top = await topOnGpu(be, row, 3);
        expect(top.logSumExp).toBeNaN();
      }
    } finally {
      await be.dispose();
    }
  });
});

const modelPath = fixture('models/stories260K.gguf');

describe.skipIf(!gpuAvailable || !modelPath)('webgpu generation from the best logits', () => {
  it('gives the tokens of the whole-row path, and top-5 probabilities within the tolerance', async () => {
    const model = await loadModel(modelPath as string, { backend: 'webgpu' });
    const backend = (model as unknown as { backend: Backend }).backend;
    const readTopK = backend.readTopK!.bind(backend);
    let topReads = 0;
    const run = async (best: boolean, opts: GenerateOptions) => {
      // an own property of undefined hides the method: the whole row comes back
      backend.readTopK = best
        ? (x, k) => {
            topReads++;
            return readTopK(x, k);
          }
        : undefined;
      const chunks: GenerationChunk[] = [];
      for await (const c of model.createSequence({ contextSize: 32 }).generate('Once upon a time', opts)) {
        chunks.push(c);
      }
      return chunks;
    };
    try {
      for (const opts of [
        { maxTokens: 4, temperature: 0, topLogprobs: 5 },
        { maxTokens: 4, seed: 3, topLogprobs: 5 },
      ]) {
        const whole = await run(false, opts);
        const best = await run(true, opts);
        expect(best.map((c) => c.tokenId)).toEqual(whole.map((c) => c.tokenId));
        for (let i = 0; i < whole.length; i++) {
          expect(best[i].top?.map((t) => t.id)).toEqual(whole[i].top?.map((t) => t.id));
          for (let j = 0; j < 5; j++) {
            const rel = Math.abs(best[i].top![j].p - whole[i].top![j].p) / whole[i].top![j].p;
            expect(rel).toBeLessThan(LSE_TOLERANCE);
          }
        }
      }
      expect(topReads).toBeGreaterThan(0);
    } finally {
      await model.dispose();
    }
  });
});
