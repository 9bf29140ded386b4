/**
 * Sampling from the best logits alone. Where reading a whole logits row back
 * is dear (WebGPU), a backend hands over its k best values and the row's
 * log-sum-exp (Backend.readTopK); this is the reference computation of that,
 * and the top-k probabilities taken from it.
 */
import type { TopLogits } from '../backend/backend.ts';
import { selectTopK } from './select.ts';
import type { TokenProbability } from './softmax.ts';

/**
 * Backend.readTopK from the whole row: the k best ids by the sampler's rank
 * order (higher logit, then lower id), their logits, and log Σ exp(row) summed
 * in double (NaN when the row holds a NaN or an infinity).
 */
export function topLogits(row: Float32Array, k: number): TopLogits {
  const n = row.length;
  k = Math.min(Math.max(0, Math.floor(k)), n);
  let max = Number.NEGATIVE_INFINITY;
  let finite = true;
  for (let i = 0; i < n; i++) {
    const v = row[i];
    if (!Number.isFinite(v)) finite = false;
    else if (v > max) max = v;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(row[i] - max);
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  selectTopK(row, all, n, k);
  const ids = all.slice(0, k);
  return {
    ids,
    logits: Float32Array.from(ids, (id) => row[id]),
    logSumExp: finite && n > 0 ? max + Math.log(sum) : Number.NaN,
  };
}

/**
 * The n most likely tokens of the temperature-1 softmax, from the best logits:
 * p = exp(logit - logSumExp). What topKProbabilities gives from the whole row,
 * within the rounding of the log-sum-exp.
 */
export function topLogitProbabilities(top: TopLogits, n: number): TokenProbability[] {
  const out: TokenProbability[] = [];
  for (let r = 0; r < Math.min(n, top.ids.length); r++) {
    out.push({ id: top.ids[r], p: Math.exp(top.logits[r] - top.logSumExp) });
  }
  // as topKProbabilities: settles distinct logits whose probabilities round equal
  out.sort((a, b) => b.p - a.p || a.id - b.id);
  return out;
}
