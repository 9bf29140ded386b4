/**
 * Probabilities from logits: softmax, argmax, and the top-k view of a full
 * softmax that the oracle files and `--probs`-style APIs report.
 */
import { ChordError } from '../../shared/errors.ts';
import { selectTopK } from './select.ts';

/** Largest logit; throws on NaN and when no logit is finite-or-+∞ (softmax would be undefined). */
function maxLogit(logits: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) {
    const l = logits[i];
    if (Number.isNaN(l)) throw new ChordError('INVALID_ARGUMENT', `logit ${i} is NaN`);
    if (l > max) max = l;
  }
  if (!Number.isFinite(max)) {
    throw new ChordError('INVALID_ARGUMENT', `softmax needs a finite largest logit, got ${max}`);
  }
  return max;
}

/**
 * Numerically stable softmax: exp(l - max) / Σ exp(l - max), summed in double.
 * `out` may be `logits` itself (in place). -∞ logits get probability 0.
 */
export function softmax(logits: Float32Array, out: Float32Array = new Float32Array(logits.length)): Float32Array {
  if (out.length !== logits.length) {
    throw new ChordError('INVALID_ARGUMENT', `softmax output has length ${out.length}, expected ${logits.length}`);
  }
  if (logits.length === 0) return out;
  const max = maxLogit(logits);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i] - max);
    out[i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = 0; i < out.length; i++) out[i] *= inv;
  return out;
}

/** Index of the largest logit; ties go to the lowest id. NaN never wins. */
export function argmax(logits: Float32Array): number {
  if (logits.length === 0) throw new ChordError('INVALID_ARGUMENT', 'argmax of an empty vector');
  // start from the first number (NaN compares false with everything and would never be replaced)
  let best = 0;
  while (best < logits.length - 1 && Number.isNaN(logits[best])) best++;
  let bestLogit = logits[best];
  for (let i = best + 1; i < logits.length; i++) {
    // strict `>` keeps the first of equal maxima
    if (logits[i] > bestLogit) {
      best = i;
      bestLogit = logits[i];
    }
  }
  return best;
}

export interface TokenProbability {
  id: number;
  p: number;
}

/**
 * The k most likely tokens of the full-vocabulary softmax of logits / temperature,
 * sorted by probability (descending), then id (ascending).
 */
export function topKProbabilities(logits: Float32Array, k: number, temperature = 1): TokenProbability[] {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new ChordError('INVALID_ARGUMENT', `temperature must be a positive number, got ${temperature}`);
  }
  const n = logits.length;
  k = Math.min(Math.max(0, Math.floor(k)), n);
  if (k === 0) return [];
  const max = maxLogit(logits);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp((logits[i] - max) / temperature);

  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  selectTopK(logits, ids, n, k);

  const out: TokenProbability[] = [];
  for (let r = 0; r < k; r++) {
    const id = ids[r];
    out.push({ id, p: Math.exp((logits[id] - max) / temperature) / sum });
  }
  // already in logit order; this only settles distinct logits whose probabilities round equal
  out.sort((a, b) => b.p - a.p || a.id - b.id);
  return out;
}
