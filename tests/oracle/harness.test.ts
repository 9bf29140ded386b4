/**
 * The oracle harness must reproduce llama.cpp's recorded answer for stories260K
 * (models/stories260K.oracle.json, made with node-llama-cpp 3.21.1 on CPU).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture } from '../helpers/fixtures.ts';
import { disposeOracle, llamaCppForced, llamaCppGreedy, llamaCppTokenize, type OracleRun } from './llama-cpp.ts';

interface OracleFixture {
  prompt: string;
  addBos: boolean;
  promptTokens: number[];
  greedyTokens: number[];
  greedyText: string;
  steps: { pos: number; top: { id: number; p: number; piece: string }[] }[];
}

const modelPath = fixture('models/stories260K.gguf');
const fixturePath = fixture('models/stories260K.oracle.json');
const ready = modelPath !== undefined && fixturePath !== undefined;

/**
 * The fixture was recorded on another machine. On this AVX2-only CPU, llama.cpp
 * (same release, same settings) reproduces the first step to ~3e-5 but later
 * steps drift by up to 2.8e-4 (measured: max 2.57e-4 with flash attention off,
 * 2.81e-4 with it on), whatever the thread count, batch or context size. That is
 * llama.cpp disagreeing with itself across CPU builds, so 1e-4 cannot hold for
 * every step here; we hold the first step to 1e-4 and all steps to 5e-4.
 */
const FIRST_STEP_TOL = 1e-4;
const ALL_STEPS_TOL = 5e-4;

function maxTopDiff(run: OracleRun, ref: OracleFixture, from = 0, to = ref.steps.length): number {
  let max = 0;
  for (let i = from; i < to; i++) {
    const ours = new Map(run.steps[i].top.map((e) => [e.id, e.p]));
    for (const e of ref.steps[i].top) {
      const p = ours.get(e.id);
      if (p === undefined) return Number.POSITIVE_INFINITY;
      max = Math.max(max, Math.abs(p - e.p));
    }
  }
  return max;
}

describe.skipIf(!ready)('llama.cpp oracle harness vs stories260K.oracle.json', () => {
  const ref = ready ? (JSON.parse(readFileSync(fixturePath, 'utf8')) as OracleFixture) : (undefined as never);
  afterAll(disposeOracle);

  it('tokenizes the prompt as the fixture (BOS added by the model flag)', async () => {
    const ids = await llamaCppTokenize(modelPath as string, ref.prompt, { addSpecial: ref.addBos });
    expect(ids).toEqual(ref.promptTokens);
    expect(await llamaCppTokenize(modelPath as string, ref.prompt)).toEqual(ref.promptTokens.slice(1));
  });

  it('greedy: same prompt ids, the same 30 tokens, top-5 probabilities close', async () => {
    const run = await llamaCppGreedy(modelPath as string, ref.prompt, ref.greedyTokens.length);
    expect(run.promptTokens).toEqual(ref.promptTokens);
    expect(run.tokens).toEqual(ref.greedyTokens);
    expect(run.steps).toHaveLength(ref.steps.length);
    for (let i = 0; i < run.steps.length; i++) {
      // Same top-5 ids in the same order (ties aside: none in this fixture).
      expect(run.steps[i].top.map((e) => e.id)).toEqual(ref.steps[i].top.map((e) => e.id));
      expect(run.margins[i]).toBeCloseTo(Math.log(ref.steps[i].top[0].p / ref.steps[i].top[1].p), 1);
    }
    const first = maxTopDiff(run, ref, 0, 1);
    const all = maxTopDiff(run, ref);
    console.info(`[oracle] fixture max |dp|: first step ${first.toExponential(2)}, all steps ${all.toExponential(2)}`);
    expect(first).toBeLessThan(FIRST_STEP_TOL);
    expect(all).toBeLessThan(ALL_STEPS_TOL);
  });

  it('teacher forcing the fixture tokens gives the greedy run again', async () => {
    const greedy = await llamaCppGreedy(modelPath as string, ref.prompt, ref.greedyTokens.length);
    const forced = await llamaCppForced(modelPath as string, ref.promptTokens, ref.greedyTokens);
    expect(forced.tokens).toEqual(ref.greedyTokens);
    // Same inputs, same evaluation order: bit-identical distributions.
    expect(forced.steps).toEqual(greedy.steps);
    expect(forced.margins).toEqual(greedy.margins);
  });

  it('the batched prompt and a token-by-token prompt agree to rounding noise', async () => {
    const batched = await llamaCppForced(modelPath as string, ref.promptTokens, ref.greedyTokens);
    const oneByOne = await llamaCppForced(modelPath as string, ref.promptTokens, ref.greedyTokens, {
      promptBatch: false,
    });
    let max = 0;
    for (let i = 0; i < batched.steps.length; i++) {
      const other = new Map(oneByOne.steps[i].top.map((e) => [e.id, e.p]));
      for (const e of batched.steps[i].top) max = Math.max(max, Math.abs(e.p - (other.get(e.id) ?? 0)));
    }
    console.info(`[oracle] batched vs token-by-token prompt: max |dp| ${max.toExponential(2)}`);
    expect(max).toBeLessThan(1e-4);
  });

  it('more models at once than the cache keeps: none is disposed while in use', async () => {
    const paths = ['', '-F16', '-Q8_0', '-Q4_0', '-Q5_1'].map((s) => fixture(`models/stories260K${s}.gguf`));
    if (paths.some((p) => p === undefined)) return;
    const forced = ref.greedyTokens.slice(0, 4);
    const runs = await Promise.all(
      [...paths, ...paths].map((p) => llamaCppForced(p as string, ref.promptTokens, forced)),
    );
    for (const run of runs) expect(run.steps).toHaveLength(forced.length);
    // Each format's two concurrent runs are identical; the greedy choice matches the fixture.
    for (let i = 0; i < paths.length; i++) expect(runs[i]).toEqual(runs[i + paths.length]);
    expect(runs[0].steps.map((s) => s.top[0].id)).toEqual(forced);
  });

  it('fullDistribution sums to 1 and agrees with the top-K', async () => {
    const run = await llamaCppForced(modelPath as string, ref.promptTokens, ref.greedyTokens.slice(0, 3), {
      fullDistribution: true,
      topK: 10,
    });
    for (const step of run.steps) {
      const probs = step.probs as Float32Array;
      expect(probs.length).toBe(512);
      expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(step.top).toHaveLength(10);
      for (const e of step.top) expect(probs[e.id]).toBe(Math.fround(e.p));
    }
  });
});
