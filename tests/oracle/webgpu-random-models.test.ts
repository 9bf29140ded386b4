/**
 * The WebGPU backend against llama.cpp on small random-weight llama models, one
 * per weight format: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K,
 * Q4_K, Q5_K, Q6_K (random-models.ts: the cases, shapes and sharpened norms of
 * random-models.test.ts). The same harness and thresholds as that file (read it
 * for why a step counts as clear from 0.15 nat): llama.cpp continues a prompt
 * greedily (flash attention, F16 KV cache), the GPU is teacher-forced along it;
 * top-1 must agree on every clear step and every top-5 probability be within
 * 2e-3 on 95% of them. One prompt of 12 steps per model, not three of 20:
 * SwiftShader compiles every kernel again for each model's device.
 *
 * Every format but BF16 runs llama.cpp's own order on the GPU
 * (docs/webgpu.md); all land at 4e-8 .. 6e-7 (measured). Without a WebGPU adapter
 * the file skips with a message (fails under CI).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { gpuAvailable } from '../unit/engine/backend/webgpu/gpu.ts';
import { disposeOracle } from './llama-cpp.ts';
import { checkRandomCase } from './random-check.ts';
import { RANDOM_CASES, RANDOM_PROMPTS } from './random-models.ts';

const SEED = 1;
const STEPS = 12;

// The models take their vocabulary from the stories260K fixture, as the prompts do.
const vocab = fixture('models/stories260K.gguf');
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chord-webgpu-random-'));
});

afterAll(async () => {
  await disposeOracle();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!vocab || !gpuAvailable)('random-weight llama models: webgpu vs llama.cpp', () => {
  it.each(RANDOM_CASES.map((rc) => [rc.label, rc] as const))('%s', async (label, rc) => {
    await checkRandomCase(dir, rc, SEED, `webgpu random ${label.padEnd(4)}`, {
      backend: 'webgpu',
      prompts: RANDOM_PROMPTS.slice(0, 1),
      steps: STEPS,
    });
  });
});
