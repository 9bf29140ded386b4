/**
 * dequantize(quantize(x)) stays within each format's stated error bound, on
 * random data (fast-check). Per block, with amax = max|x|, min/max the extremes,
 * and h(v) = max(|v| * 2^-11, 2^-25) the rounding error of storing v as f16:
 *
 *   F32          exact
 *   F16          |err| <= h(x)                          (|x| <= 65504)
 *   BF16         |err| <= |x| * 2^-8 + 2^-134 (half the smallest bf16 subnormal)
 *   Q8_0, Q8_1   |err| <= d/2 + 127 h(d),    d = amax/127
 *   Q8_K         |err| <= d/2,               d = amax/127 (stored as f32); only where
 *                -127/max is finite (amax >= 2^-100): ggml's nearest_int asserts otherwise
 *   Q4_0         |err| <= d + 8 h(d),        d = amax/8  (the end opposite the
 *                                            signed max clamps at q = 15: one full step)
 *   Q5_0         |err| <= d + 16 h(d),       d = amax/16 (likewise)
 *   Q4_1         |err| <= d/2 + 15 h(d) + h(min),  d = (max - min)/15
 *   Q5_1         |err| <= d/2 + 31 h(d) + h(min),  d = (max - min)/31
 *
 * plus a float32 slack of 2^-20 of the block's magnitude.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dequantizeRow, quantizeRow } from '../../../../engine/quant/index.ts';
import { GGMLType, TYPE_TRAITS } from '../../../../engine/quant/types.ts';

const h = (v: number) => Math.max(Math.abs(v) * 2 ** -11, 2 ** -25);

type Bound = (block: Float32Array, x: number) => number;

function stats(block: Float32Array) {
  let amax = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of block) {
    amax = Math.max(amax, Math.abs(v));
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { amax, min, max, slack: (Math.abs(min) + Math.abs(max)) * 2 ** -20 };
}

const BOUNDS: [GGMLType, Bound][] = [
  [GGMLType.F32, () => 0],
  [GGMLType.F16, (_b, x) => h(x)],
  [GGMLType.BF16, (_b, x) => Math.abs(x) * 2 ** -8 + 2 ** -134],
  [
    GGMLType.Q8_0,
    (b) => {
      const { amax, slack } = stats(b);
      const d = amax / 127;
      return d / 2 + 127 * h(d) + slack;
    },
  ],
  [
    GGMLType.Q8_1,
    (b) => {
      const { amax, slack } = stats(b);
      const d = amax / 127;
      return d / 2 + 127 * h(d) + slack;
    },
  ],
  [
    GGMLType.Q8_K,
    (b) => {
      const { amax, slack } = stats(b);
      if (amax < 2 ** -100) return Number.POSITIVE_INFINITY; // outside ggml's domain
      return amax / 127 / 2 + slack;
    },
  ],
  [
    GGMLType.Q4_0,
    (b) => {
      const { amax, slack } = stats(b);
      const d = amax / 8;
      return d + 8 * h(d) + slack;
    },
  ],
  [
    GGMLType.Q5_0,
    (b) => {
      const { amax, slack } = stats(b);
      const d = amax / 16;
      return d + 16 * h(d) + slack;
    },
  ],
  [
    GGMLType.Q4_1,
    (b) => {
      const { min, max, slack } = stats(b);
      const d = (max - min) / 15;
      return d / 2 + 15 * h(d) + h(min) + slack;
    },
  ],
  [
    GGMLType.Q5_1,
    (b) => {
      const { min, max, slack } = stats(b);
      const d = (max - min) / 31;
      return d / 2 + 31 * h(d) + h(min) + slack;
    },
  ],
];

/** Rows of 1..3 blocks; values in +-1e4 (so every f16 scale stays finite), some rows tiny or constant. */
function rows(blockSize: number) {
  const value = fc.float({ min: Math.fround(-1e4), max: Math.fround(1e4), noNaN: true });
  return fc
    .tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom(1, 1e-3, 1e-7),
      fc.array(value, { minLength: 3 * blockSize, maxLength: 3 * blockSize }),
      fc.boolean(),
    )
    .map(([nBlocks, scale, values, constant]) => {
      const row = new Float32Array(nBlocks * blockSize);
      for (let i = 0; i < row.length; i++) row[i] = (constant ? (values[0] as number) : (values[i] as number)) * scale;
      return row;
    });
}

describe('round-trip error bounds', () => {
  for (const [type, bound] of BOUNDS) {
    const bs = (TYPE_TRAITS.get(type) as { blockSize: number }).blockSize;
    const blockSize = bs === 1 ? 32 : bs; // group float formats by 32 for the row shape
    it(`${GGMLType[type]}`, () => {
      fc.assert(
        fc.property(rows(blockSize), (x) => {
          const bytes = quantizeRow(type, x);
          expect(bytes.length).toBe((x.length / bs) * (TYPE_TRAITS.get(type) as { typeSize: number }).typeSize);
          const y = new Float32Array(x.length);
          dequantizeRow(type, bytes, y, x.length);
          for (let b = 0; b < x.length; b += blockSize) {
            const block = x.subarray(b, b + blockSize);
            for (let j = 0; j < blockSize; j++) {
              const xi = block[j] as number;
              const err = Math.abs(xi - (y[b + j] as number));
              const limit = bound(block, xi);
              if (!(err <= limit)) expect.fail(`${GGMLType[type]} x=${xi} y=${y[b + j]} err=${err} > ${limit}`);
            }
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('the bounds are tight enough to catch a lost half step (Q8_0 with truncation would fail)', () => {
    // 64.5/127 of the way: roundf gives 65 (error 0.5 d), truncation 64 (error 0.5 d too) — so use 64.75.
    const x = new Float32Array(32);
    x[0] = 127;
    x[1] = 64.75;
    const y = new Float32Array(32);
    dequantizeRow(GGMLType.Q8_0, quantizeRow(GGMLType.Q8_0, x), y, 32);
    expect(y[1]).toBe(65);
    expect(Math.abs((x[1] as number) - (y[1] as number))).toBeLessThanOrEqual(0.5);
  });

  it('all-zero blocks encode a zero scale and decode to zeros', () => {
    for (const [type] of BOUNDS) {
      const bs = (TYPE_TRAITS.get(type) as { blockSize: number }).blockSize;
      const x = new Float32Array(Math.max(bs, 32));
      const bytes = quantizeRow(type, x);
      const y = new Float32Array(x.length).fill(1);
      dequantizeRow(type, bytes, y, x.length);
      expect(Array.from(y).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('reference quantizer details (quantize_row_*_ref)', () => {
  it('Q8_1 stores s = f16(d * sum(q))', () => {
    const x = new Float32Array(32).map((_, i) => (i - 10) * 0.37);
    const bytes = quantizeRow(GGMLType.Q8_1, x);
    const view = new DataView(bytes.buffer);
    const q = Array.from(new Int8Array(bytes.buffer, 4, 32));
    const d = halfBits(view.getUint16(0, true));
    const s = halfBits(view.getUint16(2, true));
    // d is f16(amax/127); s is f16 of the float32 product of the unrounded d and the sum.
    const sum = q.reduce((a, b) => a + b, 0);
    expect(sum).not.toBe(0);
    expect(Math.abs(s - d * sum)).toBeLessThanOrEqual(Math.abs(d * sum) * 2 ** -10);
  });

  it('Q4_0 maps the signed maximum to q = 0 (d = max / -8) and rounds half up via +8.5 truncation', () => {
    const x = new Float32Array(32);
    x[0] = -8; // largest magnitude, negative: d = 1
    x[1] = 8; // would be q = 16: clamped to 15
    x[2] = 0.5; // 0.5 + 8.5 = 9.0 -> 9
    x[3] = -0.5; // -0.5 + 8.5 = 8.0 -> 8
    x[4] = -2.5; // -2.5 + 8.5 = 6.0 -> 6
    const bytes = quantizeRow(GGMLType.Q4_0, x);
    expect(bytes[0] | (bytes[1] << 8)).toBe(0x3c00); // d = 1
    const q = (j: number) => ((bytes[2 + (j % 16)] as number) >> (j < 16 ? 0 : 4)) & 15;
    expect([q(0), q(1), q(2), q(3), q(4), q(5)]).toEqual([0, 15, 9, 8, 6, 8]);
  });

  it('Q8_0 ref rounds half away from zero', () => {
    const x = new Float32Array(32);
    x[0] = 127; // d = 1, id = 1
    x[1] = 2.5;
    x[2] = -2.5;
    x[3] = 3.5;
    const bytes = quantizeRow(GGMLType.Q8_0, x);
    expect(Array.from(new Int8Array(bytes.buffer, 2, 4))).toEqual([127, 3, -3, 4]);
  });

  it('Q8_K: iscale = -127/max, q = MIN(127, nearest_int(iscale x)) rounding half to even, d = 1/iscale, bsums', () => {
    const x = new Float32Array(256);
    x[0] = -127; // signed max: iscale = 1
    x[1] = 2.5; // -> nearest_int(2.5) = 2
    x[2] = 3.5; // -> 4
    x[3] = -0.5; // -> -0 = 0
    x[17] = 127; // -> 127
    const bytes = quantizeRow(GGMLType.Q8_K, x);
    const view = new DataView(bytes.buffer);
    expect(view.getFloat32(0, true)).toBe(1);
    const q = new Int8Array(bytes.buffer, 4, 256);
    expect([q[0], q[1], q[2], q[3], q[17]]).toEqual([-127, 2, 4, 0, 127]);
    expect(view.getInt16(260, true)).toBe(-127 + 2 + 4);
    expect(view.getInt16(262, true)).toBe(127);

    const y = new Float32Array(256);
    x.fill(0);
    x[5] = 254; // positive max: iscale = -0.5, d = -2, quants come out negated
    x[6] = 1;
    dequantizeRow(GGMLType.Q8_K, quantizeRow(GGMLType.Q8_K, x), y, 256);
    // nearest_int(-0.5) = 0, and d * 0 with d = -2 is -0 (as in C).
    expect([y[5], y[6]]).toEqual([254, -0]);
  });
});

function halfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1024 + m) * 2 ** (e - 25);
}
