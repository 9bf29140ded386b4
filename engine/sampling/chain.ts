/**
 * The stages of llama.cpp's default sampler chain (src/llama-sampler.cpp,
 * common/sampling.cpp), each a function over a candidate set:
 *
 *   penalties -> top_k -> top_p -> min_p -> temperature -> dist
 *
 * Logits and parameters are float32 like llama.cpp's, and each stage rounds
 * where llama.cpp computes in float, so that cut-offs fall in the same places
 * and a seeded draw picks the same token. The logits array is never written to; stages only reorder
 * and shrink the list of candidate ids.
 */
import { ChordError } from '../../shared/errors.ts';
import type { MT19937 } from './mt19937.ts';
import { ranksBefore, selectTopK, takeBestWhile } from './select.ts';

const f32 = Math.fround;

/** The working set of the chain: which tokens are still candidates, ranked by `logits[id]`. */
export interface CandidateSet {
  /** indexed by token id (the whole vocabulary); read only */
  logits: Float32Array;
  /** candidate ids in ids[0..size) */
  ids: Int32Array;
  size: number;
  /** ids[0..size) are in rank order (higher logit first, then lower id) */
  sorted: boolean;
}

/** Every token of the vocabulary, unsorted. `ids` is reused when given (capacity >= logits.length). */
export function allCandidates(logits: Float32Array, ids: Int32Array = new Int32Array(logits.length)): CandidateSet {
  for (let i = 0; i < logits.length; i++) ids[i] = i;
  return { logits, ids, size: logits.length, sorted: false };
}

export interface PenaltyParams {
  /** > 1 discourages repeats: positive logits are divided by it, negative ones multiplied */
  repeatPenalty: number;
  /** subtracted once per occurrence in the window */
  frequencyPenalty: number;
  /** subtracted once if the token occurs in the window at all */
  presencePenalty: number;
  /** how many of the latest history tokens form the window; -1 = all of them, 0 = off */
  penaltyLastN: number;
}

export function penaltiesEnabled(p: PenaltyParams): boolean {
  return p.penaltyLastN !== 0 && !(p.repeatPenalty === 1 && p.frequencyPenalty === 0 && p.presencePenalty === 0);
}

/**
 * llama.cpp's `penalties` sampler, applied in place to `logits` (a copy the
 * caller owns) for each distinct token of the last N history tokens:
 *   l <= 0 ? l * repeat : l / repeat;  then  l -= count * frequency + presence.
 * Dividing negative logits would make them more likely, hence the multiply
 * (CTRL's penalty with the usual fix). `counts` is zeroed scratch of vocabulary
 * size and is left zeroed.
 */
export function applyPenalties(
  logits: Float32Array,
  history: readonly number[],
  params: PenaltyParams,
  counts: Uint32Array,
): void {
  if (!penaltiesEnabled(params)) return;
  const n = logits.length;
  const start = params.penaltyLastN < 0 ? 0 : Math.max(0, history.length - params.penaltyLastN);
  for (let i = start; i < history.length; i++) {
    const t = history[i];
    if (!Number.isInteger(t) || t < 0 || t >= n) {
      throw new ChordError('INVALID_ARGUMENT', `history token ${t} is outside the vocabulary (size ${n})`);
    }
    counts[t]++;
  }
  const repeatPenalty = f32(params.repeatPenalty);
  const frequencyPenalty = f32(params.frequencyPenalty);
  const presencePenalty = f32(params.presencePenalty);
  for (let i = start; i < history.length; i++) {
    const t = history[i];
    const count = counts[t];
    if (count === 0) continue; // already penalized: each token once, however often it occurs
    counts[t] = 0;
    const l = logits[t];
    logits[t] = l <= 0 ? l * repeatPenalty : l / repeatPenalty;
    logits[t] -= f32(f32(count * frequencyPenalty) + presencePenalty);
  }
}

/** Keeps the k best candidates (k <= 0: no-op), leaving them sorted. */
export function applyTopK(c: CandidateSet, k: number): void {
  if (k <= 0) return;
  k = Math.min(k, c.size);
  if (!c.sorted) selectTopK(c.logits, c.ids, c.size, k);
  c.size = k;
  c.sorted = true;
}

/** max over the candidates of logits[id] */
function candidateMax(c: CandidateSet): number {
  if (c.sorted) return c.logits[c.ids[0]];
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < c.size; i++) {
    const l = c.logits[c.ids[i]];
    if (l > max) max = l;
  }
  return max;
}

/**
 * Nucleus sampling: keeps the smallest best-first prefix whose probability
 * (softmax over the current candidates) adds up to at least p, and at least one
 * token. p >= 1: no-op. Leaves the candidates sorted.
 */
export function applyTopP(c: CandidateSet, p: number): void {
  p = f32(p);
  if (p >= 1 || c.size === 0) return;
  const { logits } = c;
  const max = candidateMax(c);
  // llama.cpp's softmax sums in float
  let sum = 0;
  for (let i = 0; i < c.size; i++) sum = f32(sum + f32(Math.exp(f32(logits[c.ids[i]] - max))));
  const prob = (id: number) => f32(f32(Math.exp(f32(logits[id] - max))) / sum);

  // unsorted: like llama.cpp, first try whether the best 256 suffice (one cheap pass)
  const head = c.sorted ? c.size : Math.min(TOP_P_FIRST_GUESS, c.size);
  if (!c.sorted) selectTopK(logits, c.ids, c.size, head);
  let cum = 0;
  for (let i = 0; i < head; i++) {
    cum = f32(cum + prob(c.ids[i]));
    if (cum >= p) {
      c.size = i + 1;
      c.sorted = true;
      return;
    }
  }
  if (head < c.size) {
    // not enough: keep taking the best of the rest (all of which rank below the head)
    c.size =
      head +
      takeBestWhile(logits, c.ids.subarray(head, c.size), c.size - head, (id) => {
        cum = f32(cum + prob(id));
        return cum < p;
      });
  }
  c.sorted = true;
}

/** How many of the best candidates top-p sorts first, before it falls back to a heap over the rest. */
const TOP_P_FIRST_GUESS = 256;

/**
 * Min-p: keeps tokens whose probability is at least p times the largest one,
 * i.e. logit >= max logit + ln p (temperature comes later in the chain, so these
 * are untempered probabilities). p <= 0: no-op. Always keeps the best token.
 * Order is preserved.
 */
export function applyMinP(c: CandidateSet, p: number): void {
  p = f32(p);
  if (p <= 0 || c.size === 0) return;
  const { logits, ids } = c;
  const max = candidateMax(c);
  const minLogit = f32(max + f32(Math.log(p)));
  let kept = 0;
  for (let i = 0; i < c.size; i++) {
    const id = ids[i];
    if (logits[id] >= minLogit) ids[kept++] = id;
  }
  if (kept === 0) {
    // only possible for p > 1: keep the single best candidate
    let best = ids[0];
    for (let i = 1; i < c.size; i++) if (ranksBefore(logits, ids[i], best)) best = ids[i];
    ids[0] = best;
    kept = 1;
  }
  c.size = kept;
}

/**
 * Temperature then `dist`: draws one candidate with probability
 * softmax(logit / temperature), walking the cumulative sum against one uniform
 * draw as llama.cpp's dist sampler does (one draw even for a single candidate,
 * to keep the generator in step). temperature must be > 0. `weights` is
 * scratch of at least c.size floats.
 */
export function sampleCandidate(
  c: CandidateSet,
  temperature: number,
  rng: MT19937,
  weights: Float32Array = new Float32Array(c.size),
): number {
  const { logits, ids, size } = c;
  temperature = f32(temperature);
  if (size === 0) throw new ChordError('INTERNAL', 'no candidates left to sample from');
  if (size === 1) {
    rng.nextDouble();
    return ids[0];
  }
  const max = f32(candidateMax(c) / temperature);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const w = f32(Math.exp(f32(f32(logits[ids[i]] / temperature) - max)));
    weights[i] = w;
    sum += w;
  }
  const target = sum * rng.nextDouble();
  if (!(sum > 0)) return ids[0];
  let run = 0;
  for (let i = 0; i < size; i++) {
    run += weights[i];
    if (run >= target) return ids[i];
  }
  return ids[size - 1];
}
