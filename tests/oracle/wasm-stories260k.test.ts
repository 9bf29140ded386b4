/**
 * The WASM-SIMD backend, 2 threads, against llama.cpp on stories260K in every
 * weight format the fixtures have, with llama.cpp's defaults (F16 KV cache,
 * flash attention). The wasm kernels reproduce the reference backend's float
 * arithmetic bit for bit (tests/unit/engine/backend/wasm), and that backend
 * mirrors llama.cpp's AVX2 build (tests/oracle/stories260k.test.ts), so the
 * same bounds hold here as there:
 *
 * - greedy: the whole continuation equal to llama.cpp's (up to a step where
 *   llama.cpp's own top1-top2 margin is within noise of a tie);
 * - teacher forcing: top-1 equal on every clear step, top-5 within 1e-5 for
 *   quantized and F16 weights (the harness's float32 softmax), 1e-3 for F32
 *   weights (the reference's measured 1.3e-4 at the worst step).
 *
 * The issue's own bar (top-5 within 2e-3 on clear steps) is the loosest of these.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../engine/node/index.ts';
import { fixture } from '../helpers/fixtures.ts';
import { chordForced, chordGreedy } from './chord.ts';
import { compareRuns, describeComparison } from './compare.ts';
import { disposeOracle, llamaCppForced, llamaCppGreedy, llamaCppTokenize } from './llama-cpp.ts';
import { FORCED_PROMPT, FORCED_TEXT, GREEDY_TOKENS, PROMPT, STORIES_FILES } from './stories260k.ts';

const CLEAR_MARGIN = 0.05;
const THREADS = 2;

const FORMATS: [string, string, number][] = [
  ['F32', STORIES_FILES.F32, 1e-3],
  ['F16', STORIES_FILES.F16, 1e-5],
  ['Q8_0', STORIES_FILES.Q8_0, 1e-5],
  ['Q4_0', STORIES_FILES.Q4_0, 1e-5],
  ['Q5_1', STORIES_FILES.Q5_1, 1e-5],
];

afterAll(disposeOracle);

describe.each(FORMATS)('stories260K %s: wasm backend (2 threads) vs llama.cpp', (format, relativePath, probTol) => {
  const path = fixture(relativePath);

  it.skipIf(!path)('greedy, then teacher forcing: llama.cpp agreement as the reference backend has it', async () => {
    const modelPath = path as string;
    const model = await loadModel(modelPath, { backend: 'wasm', threads: THREADS });
    try {
      expect(model.info.backend).toContain(`${THREADS} threads`);

      const refGreedy = await llamaCppGreedy(modelPath, PROMPT, GREEDY_TOKENS);
      const greedy = await chordGreedy(model, PROMPT, GREEDY_TOKENS);
      const g = compareRuns(greedy, refGreedy, { probTol, marginThreshold: CLEAR_MARGIN });
      console.info(describeComparison(`${format} wasm greedy`, g));
      expect(greedy.promptTokens).toEqual(refGreedy.promptTokens);
      if (g.tokensAgree < GREEDY_TOKENS) expect(refGreedy.margins[g.tokensAgree]).toBeLessThan(CLEAR_MARGIN);
      else expect(greedy.tokens).toEqual(refGreedy.tokens);
      expect(g.firstMismatch).toBeUndefined();
      expect(g.maxProbDiffOnClear).toBeLessThanOrEqual(probTol);

      const ids = await llamaCppTokenize(modelPath, FORCED_TEXT, { addSpecial: true });
      const [promptTokens, forced] = [ids.slice(0, FORCED_PROMPT), ids.slice(FORCED_PROMPT)];
      const refForced = await llamaCppForced(modelPath, promptTokens, forced);
      const ours = await chordForced(model, promptTokens, forced);
      const f = compareRuns(ours, refForced, { probTol, marginThreshold: CLEAR_MARGIN });
      console.info(describeComparison(`${format} wasm forced`, f));
      expect(f.stepsCompared).toBe(forced.length);
      expect(f.clearSteps).toBeGreaterThan(forced.length * 0.75);
      expect(f.firstMismatch).toBeUndefined();
      expect(f.top1AgreeOnClear).toBe(f.clearSteps);
      expect(f.maxProbDiff).toBeLessThanOrEqual(probTol);
    } finally {
      await model.dispose();
    }
  });
});
