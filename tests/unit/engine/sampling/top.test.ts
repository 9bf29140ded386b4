/**
 * Sampling from the best logits alone (what generation does when the backend
 * reads back only them, Backend.readTopK) against sampling from the whole row:
 * the same tokens and the same random draws, for random logits full of ties.
 *
 * Ties: llama.cpp's greedy sampler keeps the first maximum (the lowest id); its
 * top-k sorts with `logit >` alone, leaving equal logits in an unspecified order.
 * Ours ranks equal logits lower id first everywhere, and the best-logits path
 * keeps that rule (topLogits, the WebGPU kernel).
 */
import { describe, expect, it } from 'vitest';
import { Sampler, type SamplingParams } from '../../../../engine/sampling/sampler.ts';
import { topKProbabilities } from '../../../../engine/sampling/softmax.ts';
import { topLogitProbabilities, topLogits } from '../../../../engine/sampling/top.ts';
import { rng } from '../../../helpers/rng.ts';

/** n logits on a grid of 1/4 (many ties) with a few far-out ones. */
function tiedLogits(n: number, next: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => (next() < 0.01 ? 20 : Math.round((next() - 0.5) * 40) / 4));
}

/** The k best ids by sorting all of them: higher logit, then lower id. */
function sortedBest(row: Float32Array, k: number): number[] {
  const ids = Array.from(row, (_, i) => i);
  ids.sort((a, b) => row[b] - row[a] || a - b);
  return ids.slice(0, k);
}

describe('topLogits', () => {
  it('gives the k best in rank order, ties to the lower id, and log Σ exp in double', () => {
    const next = rng(3);
    for (const [n, k] of [
      [1000, 40],
      [50, 50],
      [300, 1],
      [7, 20],
    ]) {
      const row = tiedLogits(n, next);
      const top = topLogits(row, k);
      expect([...top.ids]).toEqual(sortedBest(row, k));
      expect([...top.logits]).toEqual(sortedBest(row, k).map((id) => row[id]));
      const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      expect(Math.abs(top.logSumExp - lse)).toBeLessThan(1e-12);
    }
  });

  it('has a NaN log-sum-exp when the row holds a NaN or an infinity', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(topLogits(Float32Array.of(1, bad, 2), 2).logSumExp).toBeNaN();
    }
  });

  it('gives the probabilities topKProbabilities gives from the whole row', () => {
    const next = rng(4);
    for (let t = 0; t < 20; t++) {
      const row = tiedLogits(2000, next);
      const full = topKProbabilities(row, 5);
      const best = topLogitProbabilities(topLogits(row, 40), 5);
      expect(best.map((b) => b.id)).toEqual(full.map((f) => f.id));
      for (let i = 0; i < 5; i++) expect(Math.abs(best[i].p - full[i].p) / full[i].p).toBeLessThan(1e-12);
    }
  });
});

describe('Sampler.sampleTop', () => {
  it('needs the whole row with penalties or without top-k; 1 when greedy; top_k otherwise', () => {
    expect(new Sampler({ temperature: 0 }, 100).bestNeeded).toBe(1);
    expect(new Sampler({ seed: 1 }, 100).bestNeeded).toBe(40);
    expect(new Sampler({ seed: 1, topK: 500 }, 100).bestNeeded).toBe(100);
    expect(new Sampler({ seed: 1, topK: 0 }, 100).bestNeeded).toBeUndefined();
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.1 }, 100).bestNeeded).toBeUndefined();
    expect(new Sampler({ seed: 1, presencePenalty: 0.5 }, 100).bestNeeded).toBeUndefined();
    // no penalty window: penalties off
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.1, penaltyLastN: 0 }, 100).bestNeeded).toBe(1);
  });

  it('draws what sample draws from the whole row, step after step, ties included', () => {
    const next = rng(5);
    const configs: SamplingParams[] = [
      { temperature: 0 },
      { seed: 11 },
      { seed: 12, topK: 1 },
      { seed: 13, topK: 64, topP: 0.5, minP: 0 },
      { seed: 14, topK: 10, topP: 1, minP: 0, temperature: 3 },
      { seed: 15, topK: 128, topP: 0.99, minP: 0.01, temperature: 0.7 },
      { seed: 16, topK: 5, minP: 2 }, // min-p above 1: only the best is kept
    ];
    for (const params of configs) {
      const whole = new Sampler(params, 3000);
      const best = new Sampler(params, 3000);
      const k = best.bestNeeded!;
      for (let step = 0; step < 40; step++) {
        const row = tiedLogits(3000, next);
        // more than needed is fine: the sampler takes what it needs
        const top = topLogits(row, step % 2 === 0 ? k : Math.min(3000, k + 17));
        expect(best.sampleTop(top), JSON.stringify(params)).toBe(whole.sample(row, []));
      }
    }
  });

  it('refuses fewer logits than it needs', () => {
    const s = new Sampler({ seed: 1, topK: 40 }, 100);
    expect(() => s.sampleTop(topLogits(new Float32Array(100), 39))).toThrow(/needs 40/);
  });
});
