/**
 * Our engine's side of an oracle comparison: the same OracleRun shape as
 * llama-cpp.ts, read from the library API (no build needed).
 *
 * - chordGreedy goes through `Sequence.generate` with temperature 0, the path
 *   `chord run` takes, and reads the distributions from `topLogprobs`.
 * - chordForced feeds the prompt with `Sequence.evaluate` and then each forced
 *   token one at a time, taking the temperature-1 softmax of the returned logits
 *   (in float64), so margins are exact logit differences.
 */
import type { Model } from '../../engine/model/model.ts';
import type { OracleRun, OracleStep } from './llama-cpp.ts';

export async function chordGreedy(
  model: Model,
  prompt: string,
  nTokens: number,
  opts: { topK?: number; contextSize?: number; kvCache?: 'f16' | 'f32' } = {},
): Promise<OracleRun> {
  const sequence = model.createSequence({ contextSize: opts.contextSize ?? 256, kvCache: opts.kvCache });
  const generation = sequence.generate(prompt, { maxTokens: nTokens, temperature: 0, topLogprobs: opts.topK ?? 5 });
  const steps: OracleStep[] = [];
  for await (const chunk of generation) {
    if (chunk.tokenId < 0) continue; // a text-only tail flush
    if (!chunk.top) throw new Error('chord: generate gave no topLogprobs');
    steps.push({ top: chunk.top.map(({ id, p }) => ({ id, p })) });
  }
  const result = await generation.done;
  const margins = steps.map((s) => (s.top[1]?.p > 0 ? Math.log(s.top[0].p / s.top[1].p) : Number.POSITIVE_INFINITY));
  return { promptTokens: result.promptTokens, tokens: result.tokens, steps, margins };
}

export async function chordForced(
  model: Model,
  promptTokens: number[],
  forced: number[],
  opts: { topK?: number; kvCache?: 'f16' | 'f32'; fullDistribution?: boolean } = {},
): Promise<OracleRun> {
  const contextSize = Math.max(256, promptTokens.length + forced.length);
  const sequence = model.createSequence({ contextSize, kvCache: opts.kvCache });
  const run: OracleRun = { promptTokens: [...promptTokens], tokens: [...forced], steps: [], margins: [] };
  if (forced.length === 0) return run;
  let logits = await sequence.evaluate(promptTokens);
  for (let i = 0; i < forced.length; i++) {
    const { step, margin } = distribution(logits, opts.topK ?? 5, opts.fullDistribution ?? false);
    run.steps.push(step);
    run.margins.push(margin);
    if (i + 1 < forced.length) logits = await sequence.evaluate([forced[i]]);
  }
  return run;
}

/** Temperature-1 softmax of logits: top-K (p desc, ties by id) and the top1-top2 logit margin. */
export function distribution(logits: Float32Array, topK: number, full: boolean): { step: OracleStep; margin: number } {
  let max = Number.NEGATIVE_INFINITY;
  for (const l of logits) if (l > max) max = l;
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  const step: OracleStep = {
    top: order.slice(0, topK).map((id) => ({ id, p: Math.exp(logits[id] - max) / sum })),
  };
  if (full) step.probs = Float32Array.from(logits, (l) => Math.exp(l - max) / sum);
  const margin = order.length > 1 ? logits[order[0]] - logits[order[1]] : Number.POSITIVE_INFINITY;
  return { step, margin };
}
