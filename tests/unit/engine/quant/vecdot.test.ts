/**
 * vecDot (ggml_vec_dot_<w>_<a>_generic) checked two ways:
 * 1. integer exactness: with every scale 1 (and mins 1), all float steps are
 *    exact, so the result must equal the integer dot product recomputed here
 *    from the logical block fields;
 * 2. random scales: the result agrees with the dot product of the dequantized
 *    weight row and the dequantized activations, within float32 tolerance.
 */
import { describe, expect, it } from 'vitest';
import {
  activationBytes,
  dequantizeRow,
  f32ToF16,
  quantizeActivations,
  quantizeRow,
  vecDot,
  vecDotTypeOf,
} from '../../../../engine/quant/index.ts';
import { GGMLType, WEIGHT_TYPES } from '../../../../engine/quant/types.ts';
import { isChordError } from '../../../../shared/errors.ts';
import {
  concat,
  ints,
  packQ2_K,
  packQ3_K,
  packQ4_0,
  packQ4_1,
  packQ4_K,
  packQ5_0,
  packQ5_1,
  packQ5_K,
  packQ6_K,
  packQ8_0,
  packQ8_1,
  packQ8_K,
  rng,
} from './pack.ts';

const ONE = 0x3c00; // f16 1.0

/** Integer activations for nBlocks of 32 (Q8_0/Q8_1) or 256 (Q8_K), with d = 1. */
function intActivations(type: GGMLType, a: number[]): Uint8Array {
  const parts: Uint8Array[] = [];
  if (type === GGMLType.Q8_K) {
    for (let b = 0; b < a.length; b += 256) parts.push(packQ8_K(1, a.slice(b, b + 256)));
  } else {
    for (let b = 0; b < a.length; b += 32) {
      const q = a.slice(b, b + 32);
      const sum = q.reduce((s, v) => s + v, 0);
      parts.push(type === GGMLType.Q8_1 ? packQ8_1(ONE, f32ToF16(sum), q) : packQ8_0(ONE, q));
    }
  }
  return concat(parts);
}

interface IntCase {
  type: GGMLType;
  blockSize: number;
  /** One block with unit scales: its bytes and its integer weights. */
  block(next: () => number): { bytes: Uint8Array; w: number[] };
}

const INT_CASES: IntCase[] = [
  {
    type: GGMLType.Q4_0,
    blockSize: 32,
    block(next) {
      const q = ints(next, 32, 0, 15);
      return { bytes: packQ4_0(ONE, q), w: q.map((v) => v - 8) };
    },
  },
  {
    type: GGMLType.Q4_1,
    blockSize: 32,
    block(next) {
      const q = ints(next, 32, 0, 15);
      return { bytes: packQ4_1(ONE, ONE, q), w: q.map((v) => v + 1) };
    },
  },
  {
    type: GGMLType.Q5_0,
    blockSize: 32,
    block(next) {
      const q = ints(next, 32, 0, 31);
      return { bytes: packQ5_0(ONE, q), w: q.map((v) => v - 16) };
    },
  },
  {
    type: GGMLType.Q5_1,
    blockSize: 32,
    block(next) {
      const q = ints(next, 32, 0, 31);
      return { bytes: packQ5_1(ONE, ONE, q), w: q.map((v) => v + 1) };
    },
  },
  {
    type: GGMLType.Q8_0,
    blockSize: 32,
    block(next) {
      const q = ints(next, 32, -128, 127);
      return { bytes: packQ8_0(ONE, q), w: q };
    },
  },
  {
    type: GGMLType.Q2_K,
    blockSize: 256,
    block(next) {
      const sc = ints(next, 16, 0, 15);
      const m = ints(next, 16, 0, 15);
      const q = ints(next, 256, 0, 3);
      return {
        bytes: packQ2_K(ONE, ONE, sc, m, q),
        w: q.map((v, k) => (sc[k >> 4] as number) * v - (m[k >> 4] as number)),
      };
    },
  },
  {
    type: GGMLType.Q3_K,
    blockSize: 256,
    block(next) {
      const sc = ints(next, 16, -32, 31);
      const q = ints(next, 256, -4, 3);
      return { bytes: packQ3_K(ONE, sc, q), w: q.map((v, k) => (sc[k >> 4] as number) * v) };
    },
  },
  {
    type: GGMLType.Q4_K,
    blockSize: 256,
    block(next) {
      const sc = ints(next, 8, 0, 63);
      const m = ints(next, 8, 0, 63);
      const q = ints(next, 256, 0, 15);
      return {
        bytes: packQ4_K(ONE, ONE, sc, m, q),
        w: q.map((v, k) => (sc[k >> 5] as number) * v - (m[k >> 5] as number)),
      };
    },
  },
  {
    type: GGMLType.Q5_K,
    blockSize: 256,
    block(next) {
      const sc = ints(next, 8, 0, 63);
      const m = ints(next, 8, 0, 63);
      const q = ints(next, 256, 0, 31);
      return {
        bytes: packQ5_K(ONE, ONE, sc, m, q),
        w: q.map((v, k) => (sc[k >> 5] as number) * v - (m[k >> 5] as number)),
      };
    },
  },
  {
    type: GGMLType.Q6_K,
    blockSize: 256,
    block(next) {
      const sc = ints(next, 16, -128, 127);
      const q = ints(next, 256, -32, 31);
      return { bytes: packQ6_K(ONE, sc, q), w: q.map((v, k) => (sc[k >> 4] as number) * v) };
    },
  },
];

describe('vecDot integer part is exact (unit scales)', () => {
  for (const c of INT_CASES) {
    it(`${GGMLType[c.type]} x ${GGMLType[vecDotTypeOf(c.type)]}`, () => {
      const aType = vecDotTypeOf(c.type);
      for (let seed = 1; seed <= 40; seed++) {
        const next = rng(seed * 104729 + c.type);
        const nBlocks = 1 + (seed % 3);
        const blocks = Array.from({ length: nBlocks }, () => c.block(next));
        const w = blocks.flatMap((b) => b.w);
        // Q8_1's s must be an exact f16: keep its block sums within 2048.
        const a = aType === GGMLType.Q8_1 ? ints(next, w.length, -60, 60) : ints(next, w.length, -128, 127);
        const wBytes = concat([new Uint8Array(3), ...blocks.map((b) => b.bytes)]);
        const aBytes = concat([new Uint8Array(1), intActivations(aType, a)]);
        const want = w.reduce((s, v, k) => s + v * (a[k] as number), 0);
        expect(Math.abs(want)).toBeLessThan(2 ** 24);
        expect(vecDot(c.type, w.length, wBytes, 3, aBytes, 1)).toBe(want);
      }
    });
  }

  it('F32, F16 and BF16 with small integers', () => {
    const next = rng(99);
    const w = ints(next, 100, -200, 200);
    const a = ints(next, 100, -200, 200);
    const want = w.reduce((s, v, k) => s + v * (a[k] as number), 0);
    for (const type of [GGMLType.F32, GGMLType.F16, GGMLType.BF16]) {
      const wb = quantizeRow(type, Float32Array.from(w));
      const ab = quantizeRow(type, Float32Array.from(a));
      expect(vecDot(type, 100, wb, 0, ab, 0)).toBe(want);
      // Unaligned rows take the byte-wise path and must agree.
      const wu = concat([new Uint8Array(1), wb]);
      const au = concat([new Uint8Array(3), ab]);
      expect(vecDot(type, 100, wu, 1, au, 3)).toBe(want);
    }
  });
});

/** Random weights of a type: legacy and float formats through quantizeRow, K-quants packed from random fields. */
function randomWeights(type: GGMLType, n: number, next: () => number): Uint8Array {
  const halfBits = () =>
    (next() < 0.5 ? 0x8000 : 0) | ((10 + Math.floor(next() * 6)) << 10) | Math.floor(next() * 1024);
  const pos = () => ((10 + Math.floor(next() * 6)) << 10) | Math.floor(next() * 1024);
  const parts: Uint8Array[] = [];
  switch (type) {
    case GGMLType.Q2_K:
      for (let b = 0; b < n; b += 256)
        parts.push(packQ2_K(pos(), pos(), ints(next, 16, 0, 15), ints(next, 16, 0, 15), ints(next, 256, 0, 3)));
      return concat(parts);
    case GGMLType.Q3_K:
      for (let b = 0; b < n; b += 256)
        parts.push(packQ3_K(halfBits(), ints(next, 16, -32, 31), ints(next, 256, -4, 3)));
      return concat(parts);
    case GGMLType.Q4_K:
      for (let b = 0; b < n; b += 256)
        parts.push(packQ4_K(pos(), pos(), ints(next, 8, 0, 63), ints(next, 8, 0, 63), ints(next, 256, 0, 15)));
      return concat(parts);
    case GGMLType.Q5_K:
      for (let b = 0; b < n; b += 256)
        parts.push(packQ5_K(pos(), pos(), ints(next, 8, 0, 63), ints(next, 8, 0, 63), ints(next, 256, 0, 31)));
      return concat(parts);
    case GGMLType.Q6_K:
      for (let b = 0; b < n; b += 256)
        parts.push(packQ6_K(halfBits(), ints(next, 16, -128, 127), ints(next, 256, -32, 31)));
      return concat(parts);
    default:
      return quantizeRow(
        type,
        Float32Array.from({ length: n }, () => (next() - 0.5) * 4),
      );
  }
}

describe('vecDot agrees with the dot of the dequantized rows', () => {
  for (const type of WEIGHT_TYPES) {
    it(`${GGMLType[type]}`, () => {
      const aType = vecDotTypeOf(type);
      for (let seed = 1; seed <= 20; seed++) {
        const next = rng(seed * 31 + type);
        const n = 512 * (1 + (seed % 3));
        const wBytes = randomWeights(type, n, next);
        const x = Float32Array.from({ length: n }, () => (next() - 0.5) * 10);
        const aBytes = new Uint8Array(activationBytes(aType, n));
        quantizeActivations(aType, x, 0, n, aBytes, 0);

        const wf = new Float32Array(n);
        const af = new Float32Array(n);
        dequantizeRow(type, wBytes, wf, n);
        dequantizeRow(aType, aBytes, af, n);
        let want = 0;
        let scale = 0;
        for (let k = 0; k < n; k++) {
          want += (wf[k] as number) * (af[k] as number);
          scale += Math.abs((wf[k] as number) * (af[k] as number));
        }
        // Q4_1/Q5_1 use the stored s = f16(d * sum q) of Q8_1 for the min term: allow its f16 rounding.
        let sSlack = 0;
        if (aType === GGMLType.Q8_1) {
          const view = new DataView(aBytes.buffer);
          const wView = new DataView(wBytes.buffer);
          const wSize = type === GGMLType.Q4_1 ? 20 : 24;
          for (let b = 0; b < n / 32; b++) {
            const m = Math.abs(half(wView.getUint16(b * wSize + 2, true)));
            const s = Math.abs(half(view.getUint16(b * 36 + 2, true)));
            sSlack += m * s * 2 ** -10;
          }
        }
        const got = vecDot(type, n, wBytes, 0, aBytes, 0);
        expect(Math.abs(got - want)).toBeLessThanOrEqual(scale * 2 ** -18 + sSlack);
      }
    });
  }
});

function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1024 + m) * 2 ** (e - 25);
}

describe('vecDot errors', () => {
  it('a partial block is INVALID_ARGUMENT', () => {
    try {
      vecDot(GGMLType.Q4_0, 48, new Uint8Array(36), 0, new Uint8Array(68), 0);
      expect.fail('no error');
    } catch (e) {
      expect(isChordError(e, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('types without a dot product are UNSUPPORTED_QUANT_TYPE', () => {
    for (const type of [GGMLType.Q8_1, GGMLType.Q8_K, GGMLType.IQ2_XS]) {
      try {
        vecDot(type, 256, new Uint8Array(1024), 0, new Uint8Array(1024), 0);
        expect.fail('no error');
      } catch (e) {
        expect(isChordError(e, 'UNSUPPORTED_QUANT_TYPE')).toBe(true);
      }
    }
  });
});
