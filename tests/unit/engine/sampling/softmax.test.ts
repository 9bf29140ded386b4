import { describe, expect, it } from 'vitest';
import { argmax, softmax, topKProbabilities } from '../../../../engine/sampling/softmax.ts';
import { isChordError } from '../../../../shared/errors.ts';

const LN = Math.log;

describe('softmax', () => {
  it('turns log-probabilities back into the probabilities', () => {
    const p = softmax(Float32Array.of(LN(0.5), LN(0.25), LN(0.125), LN(0.125)));
    expect(Array.from(p)).toEqual([0.5, 0.25, 0.125, 0.125].map((x) => expect.closeTo(x, 7)));
  });

  it('is shift invariant and stable for huge logits', () => {
    // e^1000 overflows; softmax(1000, 1001) = softmax(0, 1) = (1/(1+e), e/(1+e))
    const p = softmax(Float32Array.of(1000, 1001));
    expect(p[0]).toBeCloseTo(1 / (1 + Math.E), 6);
    expect(p[1]).toBeCloseTo(Math.E / (1 + Math.E), 6);
    const q = softmax(Float32Array.of(-1e30, 0));
    expect(Array.from(q)).toEqual([0, 1]);
  });

  it('gives -Infinity logits probability 0 and can work in place', () => {
    const l = Float32Array.of(0, Number.NEGATIVE_INFINITY, 0);
    const out = softmax(l, l);
    expect(out).toBe(l);
    expect(Array.from(l)).toEqual([0.5, 0, 0.5]);
  });

  it('rejects NaN, all -Infinity and a wrong output length', () => {
    const bad = [
      () => softmax(Float32Array.of(0, Number.NaN)),
      () => softmax(Float32Array.of(Number.NEGATIVE_INFINITY)),
      () => softmax(Float32Array.of(1, 2), new Float32Array(3)),
    ];
    for (const f of bad) expect(f).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(softmax(new Float32Array(0)).length).toBe(0);
  });
});

describe('argmax', () => {
  it('returns the first of equal maxima', () => {
    expect(argmax(Float32Array.of(1, 3, 3, 2))).toBe(1);
    expect(argmax(Float32Array.of(-5, -5))).toBe(0);
    expect(argmax(Float32Array.of(0, Number.NEGATIVE_INFINITY, 7))).toBe(2);
  });

  it('ignores NaN and rejects an empty vector', () => {
    expect(argmax(Float32Array.of(Number.NaN, 1, Number.NaN, 2))).toBe(3);
    try {
      argmax(new Float32Array(0));
      expect.unreachable();
    } catch (e) {
      expect(isChordError(e, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});

describe('topKProbabilities', () => {
  it('is the full-vocabulary softmax, top k by p then id', () => {
    // probabilities 0.4, 0.1, 0.2, 0.2, 0.1 at ids 0..4
    const l = Float32Array.of(LN(0.4), LN(0.1), LN(0.2), LN(0.2), LN(0.1));
    const top = topKProbabilities(l, 4);
    expect(top.map((t) => t.id)).toEqual([0, 2, 3, 1]);
    expect(top.map((t) => t.p)).toEqual([0.4, 0.2, 0.2, 0.1].map((x) => expect.closeTo(x, 6)));
    expect(topKProbabilities(l, 0)).toEqual([]);
    expect(topKProbabilities(l, 99)).toHaveLength(5);
  });

  it('applies the temperature before the softmax', () => {
    // at T = 2 the probabilities go as sqrt(q): sqrt(0.8), sqrt(0.2) -> 2/3, 1/3
    const top = topKProbabilities(Float32Array.of(LN(0.2), LN(0.8)), 2, 2);
    expect(top[0].id).toBe(1);
    expect(top[0].p).toBeCloseTo(2 / 3, 6);
    expect(top[1].p).toBeCloseTo(1 / 3, 6);
    expect(() => topKProbabilities(Float32Array.of(1), 1, 0)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
