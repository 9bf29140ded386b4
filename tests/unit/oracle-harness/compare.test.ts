import { describe, expect, it } from 'vitest';
import { compareRuns, describeComparison, medianStepDiff } from '../../oracle/compare.ts';
import type { OracleRun, OracleStep } from '../../oracle/llama-cpp.ts';

/** A step from [id, p] pairs, p descending. */
function step(...pairs: [number, number][]): OracleStep {
  return { top: pairs.map(([id, p]) => ({ id, p })) };
}

function run(steps: OracleStep[], tokens = steps.map((s) => s.top[0].id), promptTokens = [1, 2]): OracleRun {
  const margins = steps.map((s) => Math.log(s.top[0].p / s.top[1].p));
  return { promptTokens, tokens, steps, margins };
}

describe('compareRuns', () => {
  it('identical runs agree everywhere', () => {
    const r = run([step([5, 0.6], [7, 0.3], [9, 0.1]), step([3, 0.9], [4, 0.05], [5, 0.05])]);
    const c = compareRuns(r, r, { probTol: 2e-3 });
    expect(c).toMatchObject({
      stepsCompared: 2,
      tokensAgree: 2,
      top1Agree: 2,
      clearSteps: 2,
      top1AgreeOnClear: 2,
      withinTolOnClear: 2,
      maxProbDiff: 0,
      unresolved: 0,
    });
    expect(c.firstMismatch).toBeUndefined();
    expect(c.stepDiffs).toEqual([0, 0]);
  });

  it('the median step difference ignores a single outlier', () => {
    const ref = run([step([5, 0.6], [7, 0.4]), step([5, 0.6], [7, 0.4]), step([5, 0.6], [7, 0.4])]);
    const ours = run([step([5, 0.6], [7, 0.4]), step([5, 0.65], [7, 0.35]), step([5, 0.6001], [7, 0.3999])]);
    const c = compareRuns(ours, ref, { probTol: 2e-3 });
    expect(c.stepDiffs.map((d) => +d.toFixed(6))).toEqual([0, 0.05, 0.0001]);
    expect(medianStepDiff(c)).toBeCloseTo(1e-4, 9);
  });

  it('log-probability differences see flat distributions that |dp| cannot', () => {
    const ref = run([step([5, 0.0021], [7, 0.002])]);
    const ours = run([step([5, 0.0042], [7, 0.004])], [5]);
    const c = compareRuns(ours, ref, { probTol: 2e-3 });
    expect(c.maxProbDiff).toBeLessThan(2.2e-3);
    expect(c.maxLogProbDiff).toBeCloseTo(Math.log(2), 9);
  });

  it('compares probabilities by token id, not by rank', () => {
    const ref = run([step([5, 0.5], [7, 0.3], [9, 0.2])]);
    const ours = run([step([5, 0.5], [9, 0.3005], [7, 0.1995])], [5]);
    const c = compareRuns(ours, ref, { probTol: 2e-3 });
    // By rank the second entries differ by 5e-4; by id, 7 and 9 are off by 0.1.
    expect(c.maxProbDiff).toBeCloseTo(0.1005, 6);
    expect(c.withinTolOnClear).toBe(0);
    expect(c.firstMismatch).toMatchObject({ step: 0, kind: 'prob', id: 9, pOurs: 0.3005, pRef: 0.2 });
  });

  it('a top-1 flip on a step below the margin threshold is not a mismatch', () => {
    // ln(0.5004 / 0.4996) ~ 1.6e-3: a near tie.
    const ref = run([step([5, 0.5004], [7, 0.4996]), step([3, 0.99], [4, 0.01])], [5, 3]);
    const ours = run([step([7, 0.5001], [5, 0.4999]), step([3, 0.99], [4, 0.01])], [5, 3]);
    const c = compareRuns(ours, ref, { probTol: 2e-3, marginThreshold: 0.01 });
    expect(c).toMatchObject({ stepsCompared: 2, top1Agree: 1, clearSteps: 1, top1AgreeOnClear: 1 });
    expect(c.firstMismatch).toBeUndefined();
    // Without a threshold the flip is the first mismatch.
    expect(compareRuns(ours, ref, { probTol: 2e-3 }).firstMismatch).toMatchObject({
      step: 0,
      kind: 'top1',
      refTop1: 5,
      oursTop1: 7,
    });
  });

  it('stops comparing after the first different greedy token', () => {
    const ref = run([step([5, 0.6], [7, 0.4]), step([3, 0.9], [4, 0.1]), step([8, 0.9], [4, 0.1])]);
    const ours = run([step([7, 0.6], [5, 0.4]), step([1, 0.9], [4, 0.1]), step([2, 0.9], [4, 0.1])]);
    const c = compareRuns(ours, ref, { probTol: 2e-3 });
    expect(c.tokensAgree).toBe(0);
    expect(c.stepsCompared).toBe(1);
    expect(c.firstMismatch?.kind).toBe('top1');
  });

  it('an id missing from the other top-K is bounded by its K-th probability', () => {
    const ref = run([step([5, 0.9], [7, 0.05], [9, 0.0101])]);
    // Ours has 11 in third place instead of 9: 9 is <= 0.01 in ours, so the diff is >= 1e-4.
    const ours = run([step([5, 0.9], [7, 0.05], [11, 0.01])], [5]);
    const c = compareRuns(ours, ref, { probTol: 2e-3 });
    expect(c.unresolved).toBe(2);
    expect(c.maxProbDiff).toBeCloseTo(1e-4, 9);
    expect(c.withinTolOnClear).toBe(1);
    // A full distribution settles it.
    const probs = new Float32Array(16);
    probs[5] = 0.9;
    probs[7] = 0.05;
    probs[11] = 0.01;
    probs[9] = 0.002;
    const withFull = compareRuns({ ...ours, steps: [{ ...ours.steps[0], probs }] }, ref, { probTol: 2e-3 });
    expect(withFull.unresolved).toBe(1);
    expect(withFull.maxProbDiff).toBeCloseTo(0.0081, 6);
    expect(withFull.firstMismatch).toMatchObject({ kind: 'prob', id: 9 });
  });

  it('a certain miss: an absent id far above the other list', () => {
    const ref = run([step([5, 0.5], [7, 0.4], [9, 0.1])]);
    const ours = run([step([5, 0.5], [7, 0.49], [11, 0.005])], [5]);
    const c = compareRuns(ours, ref, { probTol: 2e-3 });
    expect(c.maxProbDiff).toBeGreaterThan(0.09);
    expect(c.withinTolOnClear).toBe(0);
  });

  it('different prompts are not compared', () => {
    const r = run([step([5, 0.6], [7, 0.4])]);
    const c = compareRuns({ ...r, promptTokens: [1, 3] }, r, { probTol: 2e-3 });
    expect(c.stepsCompared).toBe(0);
    expect(c.firstMismatch?.kind).toBe('prompt');
    expect(describeComparison('x', c)).toContain('prompt');
  });
});
