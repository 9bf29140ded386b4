/**
 * Comparing one of our runs with llama.cpp's on the same token positions.
 *
 * A step is "clear" when llama.cpp's own top1-top2 logit margin is at least
 * `marginThreshold`: rounding noise (F16 KV cache, summation order) cannot flip
 * such a choice, so our top-1 must agree there. Below the threshold a different
 * top-1 is a coin toss of rounding, not a bug (docs/oracle.md measures the noise).
 *
 * Probabilities are compared token by token, over the union of both runs' top-K
 * ids. When an id is in one run's top-K but not the other's, the other run's
 * probability for it is taken from its full distribution (`probs`) when that was
 * kept. Otherwise all we know is that it is at most the other run's K-th
 * probability, so the difference is at least `p - pK`: we use that lower bound,
 * and count the id in `unresolved` (a miss that the data cannot settle). When the
 * bound alone exceeds the tolerance it is a certain miss.
 *
 * Greedy runs stop being comparable after their first different token (the
 * contexts differ from then on): steps are compared up to and including the
 * step where the chosen tokens first differ.
 */
import type { OracleRun, OracleStep } from './llama-cpp.ts';

export interface CompareOptions {
  /** Largest allowed |p_ours - p_ref| for a top-K token (2e-3 in our oracle tests). */
  probTol: number;
  /** Reference logit margin from which a step counts as clear (default 0: every step). */
  marginThreshold?: number;
}

export interface StepMismatch {
  step: number;
  kind: 'prompt' | 'top1' | 'prob';
  /** llama.cpp's top1-top2 logit margin at that step. */
  refMargin: number;
  refTop1: number;
  oursTop1: number;
  /** For 'prob': the token and both probabilities (undefined where unknown). */
  id?: number;
  pOurs?: number;
  pRef?: number;
}

export interface CompareResult {
  stepsCompared: number;
  /** How many leading chosen tokens are equal (for greedy runs: the common continuation). */
  tokensAgree: number;
  top1Agree: number;
  clearSteps: number;
  top1AgreeOnClear: number;
  /** Clear steps whose top-K probabilities are all within probTol. */
  withinTolOnClear: number;
  /** Largest top-K probability difference over all compared steps (lower bounds for unresolved ids). */
  maxProbDiff: number;
  maxProbDiffOnClear: number;
  /** Ids present in one top-K only, with no probability for them in the other run. */
  unresolved: number;
  /** Per compared step, its largest top-K probability difference. */
  stepDiffs: number[];
  /**
   * Largest |ln p_ours - ln p_ref| over ids in both top-K lists: the scale-free
   * measure for flat distributions (random weights), where |dp| says nothing.
   */
  maxLogProbDiff: number;
  /** First clear step that disagrees (top-1 or a probability); a prompt mismatch otherwise. */
  firstMismatch?: StepMismatch;
}

export function compareRuns(ours: OracleRun, ref: OracleRun, opts: CompareOptions): CompareResult {
  const threshold = opts.marginThreshold ?? 0;
  const result: CompareResult = {
    stepsCompared: 0,
    tokensAgree: 0,
    top1Agree: 0,
    clearSteps: 0,
    top1AgreeOnClear: 0,
    withinTolOnClear: 0,
    maxProbDiff: 0,
    maxProbDiffOnClear: 0,
    unresolved: 0,
    stepDiffs: [],
    maxLogProbDiff: 0,
  };
  if (!sameTokens(ours.promptTokens, ref.promptTokens)) {
    result.firstMismatch = {
      step: -1,
      kind: 'prompt',
      refMargin: Number.NaN,
      refTop1: -1,
      oursTop1: -1,
    };
    return result;
  }

  const n = Math.min(ours.steps.length, ref.steps.length);
  while (result.tokensAgree < Math.min(ours.tokens.length, ref.tokens.length, n)) {
    if (ours.tokens[result.tokensAgree] !== ref.tokens[result.tokensAgree]) break;
    result.tokensAgree++;
  }
  // Up to and including the first step whose chosen tokens differ.
  result.stepsCompared = Math.min(n, result.tokensAgree + 1);

  for (let i = 0; i < result.stepsCompared; i++) {
    const a = ours.steps[i];
    const b = ref.steps[i];
    const refMargin = ref.margins[i];
    const clear = refMargin >= threshold;
    const top1Agrees = a.top[0]?.id === b.top[0]?.id;
    const worst = worstProbDiff(a, b);
    result.unresolved += worst.unresolved;
    result.stepDiffs.push(worst.diff);
    result.maxLogProbDiff = Math.max(result.maxLogProbDiff, logProbDiff(a, b));
    result.maxProbDiff = Math.max(result.maxProbDiff, worst.diff);
    if (top1Agrees) result.top1Agree++;
    if (!clear) continue;
    result.clearSteps++;
    result.maxProbDiffOnClear = Math.max(result.maxProbDiffOnClear, worst.diff);
    if (top1Agrees) result.top1AgreeOnClear++;
    const withinTol = worst.diff <= opts.probTol;
    if (withinTol) result.withinTolOnClear++;
    if (!result.firstMismatch && (!top1Agrees || !withinTol)) {
      result.firstMismatch = {
        step: i,
        kind: top1Agrees ? 'prob' : 'top1',
        refMargin,
        refTop1: b.top[0]?.id ?? -1,
        oursTop1: a.top[0]?.id ?? -1,
        ...(top1Agrees ? { id: worst.id, pOurs: worst.pOurs, pRef: worst.pRef } : {}),
      };
    }
  }
  return result;
}

/** A one-line account of a comparison, for test logs. */
export function describeComparison(label: string, r: CompareResult): string {
  const mismatch = r.firstMismatch
    ? ` first mismatch: step ${r.firstMismatch.step} (${r.firstMismatch.kind}, ref margin ${r.firstMismatch.refMargin.toFixed(3)})`
    : '';
  return (
    `[oracle] ${label}: ${r.stepsCompared} steps, tokens agree ${r.tokensAgree}, top1 ${r.top1Agree}/${r.stepsCompared}, ` +
    `clear ${r.clearSteps} (top1 ${r.top1AgreeOnClear}, within tol ${r.withinTolOnClear}), ` +
    `max |dp| ${r.maxProbDiff.toExponential(2)} (clear ${r.maxProbDiffOnClear.toExponential(2)}), ` +
    `max |dlogp| ${r.maxLogProbDiff.toExponential(2)}, unresolved ${r.unresolved}${mismatch}`
  );
}

/** The median of a compared run's per-step differences: robust to a few rounding flips, not to a systematic error. */
export function medianStepDiff(r: CompareResult): number {
  const s = [...r.stepDiffs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function sameTokens(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/** The largest probability difference over the union of both top-K lists. */
function worstProbDiff(
  a: OracleStep,
  b: OracleStep,
): { diff: number; unresolved: number; id?: number; pOurs?: number; pRef?: number } {
  let worst: { diff: number; unresolved: number; id?: number; pOurs?: number; pRef?: number } = {
    diff: 0,
    unresolved: 0,
  };
  let unresolved = 0;
  const ids = new Set([...a.top.map((e) => e.id), ...b.top.map((e) => e.id)]);
  for (const id of ids) {
    const pa = probabilityOf(a, id);
    const pb = probabilityOf(b, id);
    let diff: number;
    if (pa !== undefined && pb !== undefined) diff = Math.abs(pa - pb);
    else {
      unresolved++;
      // Absent from a top-K list: at most that list's last probability.
      const known = (pa ?? pb) as number;
      const other = pa === undefined ? a : b;
      diff = Math.max(0, known - (other.top[other.top.length - 1]?.p ?? 0));
    }
    if (diff > worst.diff || worst.id === undefined) worst = { diff, unresolved: 0, id, pOurs: pa, pRef: pb };
  }
  worst.unresolved = unresolved;
  return worst;
}

/** Largest |ln pa - ln pb| over the ids both top-K lists hold. */
function logProbDiff(a: OracleStep, b: OracleStep): number {
  let max = 0;
  for (const e of b.top) {
    const pa = a.top.find((x) => x.id === e.id)?.p;
    if (pa !== undefined) max = Math.max(max, Math.abs(Math.log(pa) - Math.log(e.p)));
  }
  return max;
}

function probabilityOf(step: OracleStep, id: number): number | undefined {
  if (step.probs && id < step.probs.length) return step.probs[id];
  return step.top.find((e) => e.id === id)?.p;
}
