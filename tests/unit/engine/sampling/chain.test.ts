/**
 * Each stage of the chain on hand-built logits; the expected values follow from
 * the definitions in llama.cpp's src/llama-sampler.cpp, worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import {
  allCandidates,
  applyMinP,
  applyPenalties,
  applyTopK,
  applyTopP,
  type CandidateSet,
  sampleCandidate,
} from '../../../../engine/sampling/chain.ts';
import type { MT19937 } from '../../../../engine/sampling/mt19937.ts';

const kept = (c: CandidateSet) => Array.from(c.ids.subarray(0, c.size));

/** token probabilities 0.2, 0.1, 0.05, 0.5, 0.15 (ids 0..4); best first: 3, 0, 4, 1, 2 */
const Q = [0.2, 0.1, 0.05, 0.5, 0.15];
const logitsQ = () => Float32Array.from(Q, Math.log);

describe('penalties', () => {
  const base = { repeatPenalty: 2, frequencyPenalty: 0.5, presencePenalty: 1, penaltyLastN: -1 };

  it('divides positive logits, multiplies negative ones, then subtracts count*freq + presence', () => {
    const l = Float32Array.of(2, -1, 0.5, 3, -2);
    applyPenalties(l, [0, 1, 0, 4, 4, 4], base, new Uint32Array(5));
    // token 0 (2x): 2/2 - (2*0.5 + 1) = -1;  token 1 (1x): -1*2 - 1.5 = -3.5;  token 4 (3x): -2*2 - 2.5 = -6.5
    expect(Array.from(l)).toEqual([-1, -3.5, 0.5, 3, -6.5]);
  });

  it('looks only at the last N tokens of the history', () => {
    const l = Float32Array.of(2, -1, 0.5, 3, -2);
    applyPenalties(l, [0, 1, 0, 4, 4, 4], { ...base, penaltyLastN: 3 }, new Uint32Array(5));
    expect(Array.from(l)).toEqual([2, -1, 0.5, 3, -6.5]);
  });

  it('treats a zero logit as non-positive (multiplied, stays 0) and leaves the count scratch zeroed', () => {
    const l = Float32Array.of(0, 1);
    const counts = new Uint32Array(2);
    applyPenalties(
      l,
      [0, 0],
      { repeatPenalty: 2, frequencyPenalty: 0, presencePenalty: 0.25, penaltyLastN: 64 },
      counts,
    );
    expect(Array.from(l)).toEqual([-0.25, 1]);
    expect(Array.from(counts)).toEqual([0, 0]);
  });

  it('is off for penaltyLastN = 0 or neutral values', () => {
    for (const p of [
      { ...base, penaltyLastN: 0 },
      { repeatPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, penaltyLastN: 64 },
    ]) {
      const l = Float32Array.of(2, -1);
      applyPenalties(l, [0, 1], p, new Uint32Array(2));
      expect(Array.from(l)).toEqual([2, -1]);
    }
  });

  it('rejects history tokens outside the vocabulary', () => {
    expect(() => applyPenalties(new Float32Array(3), [3], base, new Uint32Array(3))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('top-k', () => {
  it('keeps the k highest logits, sorted, ties to the lower id', () => {
    const l = Float32Array.of(1, 5, 3, 5, 2);
    const c = allCandidates(l);
    applyTopK(c, 2);
    expect(kept(c)).toEqual([1, 3]);
    expect(c.sorted).toBe(true);
  });

  it('k <= 0 is a no-op and k > size keeps (and sorts) everything', () => {
    const l = Float32Array.of(1, 5, 3, 5, 2);
    const c = allCandidates(l);
    applyTopK(c, 0);
    expect(kept(c)).toEqual([0, 1, 2, 3, 4]);
    expect(c.sorted).toBe(false);
    applyTopK(c, 10);
    expect(kept(c)).toEqual([1, 3, 2, 4, 0]);
  });
});

describe('top-p', () => {
  // cumulative probability best first: 0.5, 0.7, 0.85, 0.95, 1.0
  const cases: [number, number[]][] = [
    [0.3, [3]],
    [0.6, [3, 0]],
    [0.8, [3, 0, 4]],
    [0.9, [3, 0, 4, 1]],
    [0.99, [3, 0, 4, 1, 2]],
    [0, [3]], // min_keep 1
  ];
  for (const [p, want] of cases) {
    it(`p = ${p} keeps the smallest prefix reaching p (unsorted and sorted input)`, () => {
      const c = allCandidates(logitsQ());
      applyTopP(c, p);
      expect(kept(c)).toEqual(want);
      expect(c.sorted).toBe(true);
      const s = allCandidates(logitsQ());
      applyTopK(s, 5);
      applyTopP(s, p);
      expect(kept(s)).toEqual(want);
    });
  }

  it('normalizes over the current candidates only (after top-k)', () => {
    // top-2 leaves 0.5 and 0.2: renormalized 0.714, 0.286; p = 0.7 keeps just the first
    const c = allCandidates(logitsQ());
    applyTopK(c, 2);
    applyTopP(c, 0.7);
    expect(kept(c)).toEqual([3]);
  });

  it('keeps more than the first 256 when it must (large unsorted vocabulary)', () => {
    // 3000 tokens, logits -0.005 * rank in a scrambled order: by the definition, sum the sorted
    // probabilities until they reach p = 0.9 (about 460 of them)
    const n = 3000;
    const rankOf = (id: number) => (id * 1237) % n;
    const l = Float32Array.from({ length: n }, (_, id) => -0.005 * rankOf(id));
    const z = Array.from(l, Math.exp).reduce((a, b) => a + b);
    let cum = 0;
    let want = 0;
    while (cum < 0.9) cum += Math.exp(-0.005 * want++) / z;
    expect(want).toBeGreaterThan(256);
    expect(cum - 0.9).toBeGreaterThan(1e-5); // not a borderline case for float32 sums
    const c = allCandidates(l);
    applyTopP(c, 0.9);
    expect(c.size).toBe(want);
    expect(kept(c).map(rankOf)).toEqual(Array.from({ length: want }, (_, r) => r));
  });

  it('p >= 1 is a no-op', () => {
    const c = allCandidates(logitsQ());
    applyTopP(c, 1);
    expect(kept(c)).toEqual([0, 1, 2, 3, 4]);
    expect(c.sorted).toBe(false);
  });
});

describe('min-p', () => {
  // max probability 0.5; min-p keeps q >= p * 0.5, in the current order
  const cases: [number, number[]][] = [
    [0.05, [0, 1, 2, 3, 4]],
    [0.25, [0, 3, 4]],
    [0.35, [0, 3]],
    [0.5, [3]],
    [2, [3]], // nothing reaches 2 * max: the best token stays
  ];
  for (const [p, want] of cases) {
    it(`p = ${p}`, () => {
      const c = allCandidates(logitsQ());
      applyMinP(c, p);
      expect(kept(c)).toEqual(want);
    });
  }

  it('is relative to the best remaining candidate and keeps sorted order', () => {
    const c = allCandidates(logitsQ());
    applyTopK(c, 5);
    applyMinP(c, 0.25);
    expect(kept(c)).toEqual([3, 0, 4]);
    // without token 3 the best is 0.2: p = 0.6 keeps q >= 0.12, i.e. 0.2 and 0.15
    const d = allCandidates(Float32Array.from([0.2, 0.1, 0.05, 0.15].map(Math.log)));
    applyMinP(d, 0.6);
    expect(kept(d)).toEqual([0, 3]);
    const e = allCandidates(logitsQ());
    applyMinP(e, 0);
    expect(e.size).toBe(5);
  });
});

describe('temperature + dist', () => {
  const fixedDraw = (u: number) => ({ nextDouble: () => u }) as unknown as MT19937;

  it('walks the cumulative distribution in candidate order', () => {
    // id order 0..4: cumulative 0.2, 0.3, 0.35, 0.85, 1.0
    const picks = [0.1, 0.25, 0.32, 0.5, 0.9].map((u) => sampleCandidate(allCandidates(logitsQ()), 1, fixedDraw(u)));
    expect(picks).toEqual([0, 1, 2, 3, 4]);
  });

  it('divides the logits by the temperature', () => {
    // best-first order 3, 0, 4, 1, 2. T = 1: cumulative 0.5, 0.7, ...: u = 0.45 -> 3.
    // T = 2: p ~ sqrt(q) = .7071, .4472, .3873, .3162, .2236 (sum 2.0815): cumulative .3397, .5546: u = 0.45 -> 0
    const sorted = () => {
      const c = allCandidates(logitsQ());
      applyTopK(c, 5);
      return c;
    };
    expect(sampleCandidate(sorted(), 1, fixedDraw(0.45))).toBe(3);
    expect(sampleCandidate(sorted(), 2, fixedDraw(0.45))).toBe(0);
    // T = 0.5: p ~ q^2 = .25, .04, .0225, .01, .0025 (sum .325): first .769 -> u = 0.75 still picks 3
    expect(sampleCandidate(sorted(), 0.5, fixedDraw(0.75))).toBe(3);
    expect(sampleCandidate(sorted(), 0.5, fixedDraw(0.8))).toBe(0);
  });

  it('returns the single candidate (drawing once to stay in step)', () => {
    let draws = 0;
    const rng = {
      nextDouble: () => {
        draws++;
        return 0.99;
      },
    } as unknown as MT19937;
    const c = allCandidates(logitsQ());
    applyTopK(c, 1);
    expect(sampleCandidate(c, 1, rng)).toBe(3);
    expect(draws).toBe(1);
  });
});
