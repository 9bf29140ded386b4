import { describe, expect, it } from 'vitest';
import { MT19937 } from '../../../../engine/sampling/mt19937.ts';
import { selectTopK, takeBestWhile } from '../../../../engine/sampling/select.ts';

/** The definition: every id sorted by logit descending, then id ascending. */
function fullRanking(logits: Float32Array): number[] {
  return Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
}

function randomLogits(n: number, seed: number, levels: number): Float32Array {
  const g = new MT19937(seed);
  // few distinct levels, so that ties are common
  return Float32Array.from({ length: n }, () => (g.nextUint32() % levels) - levels / 2);
}

const iota = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('selectTopK', () => {
  it('keeps the k best, best first, ties by lower id', () => {
    const l = Float32Array.of(1, 5, 3, 5, 2);
    const ids = iota(5);
    selectTopK(l, ids, 5, 3);
    expect(Array.from(ids.subarray(0, 3))).toEqual([1, 3, 2]);
  });

  it('agrees with a full sort on random vectors with many ties', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const n = 50 + seed * 37;
      const l = randomLogits(n, seed, 1 + (seed % 7) * 5);
      const want = fullRanking(l);
      for (const k of [1, 2, 7, 40, n - 1, n]) {
        const ids = iota(n);
        selectTopK(l, ids, n, k);
        expect(Array.from(ids.subarray(0, k))).toEqual(want.slice(0, k));
      }
    }
  });
});

describe('takeBestWhile', () => {
  it('takes ids best first until the condition fails, keeping the last one', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const n = 300;
      const l = randomLogits(n, seed, 20);
      const want = fullRanking(l);
      const ids = iota(n);
      const seen: number[] = [];
      const m = takeBestWhile(l, ids, n, (id, rank) => {
        seen.push(id);
        return rank < seed * 3;
      });
      expect(m).toBe(seed * 3 + 1);
      expect(seen).toEqual(want.slice(0, m));
      expect(Array.from(ids.subarray(0, m))).toEqual(want.slice(0, m));
    }
  });

  it('sorts everything when the condition never fails', () => {
    const l = randomLogits(101, 3, 9);
    const ids = iota(101);
    expect(takeBestWhile(l, ids, 101, () => true)).toBe(101);
    expect(Array.from(ids)).toEqual(fullRanking(l));
  });
});
