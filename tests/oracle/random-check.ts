/**
 * The oracle's verdict on one random-weight case (random-models.ts), shared by
 * random-models.test.ts and families.test.ts.
 */
import { expect } from 'vitest';
import { medianStepDiff } from './compare.ts';
import {
  RANDOM_PROMPTS,
  type RandomCase,
  type RunOptions,
  runPrompts,
  STEPS_PER_PROMPT,
  summarize,
  writeRandomCase,
} from './random-models.ts';

/** Logit margin (nats) from which llama.cpp's top-1 is clear of rounding noise (random-models.test.ts says why). */
export const CLEAR_MARGIN = 0.15;
/** Largest allowed top-5 probability difference on a clear step. */
export const PROB_TOL = 2e-3;
/** Share of clear steps that must keep every top-5 probability within PROB_TOL. */
export const WITHIN_SHARE = 0.95;

/**
 * Writes the case's model, runs it in llama.cpp and in chord (`backend`), logs
 * the figures under `title`, and asserts the oracle's requirements: every step
 * compared, at least half of them clear, top-1 equal on every clear step, top-5
 * within PROB_TOL on WITHIN_SHARE of them.
 */
export async function checkRandomCase(
  dir: string,
  rc: RandomCase,
  seed: number,
  title: string,
  run: RunOptions & { prompts?: readonly string[]; steps?: number } = {},
): Promise<void> {
  const path = writeRandomCase(dir, rc, seed);
  const prompts = run.prompts ?? RANDOM_PROMPTS;
  const steps = run.steps ?? STEPS_PER_PROMPT;
  const runs = await runPrompts(path, prompts, steps, {
    probTol: PROB_TOL,
    marginThreshold: CLEAR_MARGIN,
    ...run,
  });
  const s = summarize(runs);
  const median = Math.max(...runs.map((r) => medianStepDiff(r.comparison)));
  console.info(
    `[oracle] ${title}: ${s.steps} steps, ${s.clearSteps} clear, ` +
      `top1 ${s.top1AgreeOnClear}/${s.clearSteps}, within ${PROB_TOL} ${s.withinTolOnClear}/${s.clearSteps}, ` +
      `max |dp| ${s.maxProbDiff.toExponential(1)} (clear ${s.maxProbDiffOnClear.toExponential(1)}), ` +
      `worst prompt's median |dp| ${median.toExponential(1)}`,
  );
  expect(s.steps).toBe(prompts.length * steps);
  // Enough clear steps for the comparison to mean something.
  expect(s.clearSteps).toBeGreaterThanOrEqual(s.steps * 0.5);
  expect(s.top1AgreeOnClear).toBe(s.clearSteps);
  expect(s.withinTolOnClear).toBeGreaterThanOrEqual(Math.ceil(WITHIN_SHARE * s.clearSteps));
}
