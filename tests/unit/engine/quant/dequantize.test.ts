/**
 * Known-answer tests for every decoder: blocks are built from chosen logical
 * fields with the spec-side packers (pack.ts), and each decoded weight must be
 * the ggml formula, with its float32 rounding order:
 *   Q4_0 (q-8)*d     Q4_1 q*d + m     Q5_0 (q-16)*d    Q5_1 q*d + m
 *   Q8_0, Q8_1 q*d   Q8_K d*q
 *   Q2_K (d*sc)*q - dmin*m   (16 sub-blocks of 16)
 *   Q3_K (d*sc)*q            (16 sub-blocks of 16, sc and q signed)
 *   Q4_K, Q5_K (d*sc)*q - dmin*m   (8 sub-blocks of 32)
 *   Q6_K (d*sc)*q            (16 sub-blocks of 16)
 */
import { describe, expect, it } from 'vitest';
import { dequantizeRow } from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
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
  putU16,
  rng,
} from './pack.ts';

const fr = Math.fround;

/** Decodes a normal or zero binary16 by its definition (independent of fp16.ts). */
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** A random normal half with a moderate exponent, so the products stay in range. */
function randomHalf(next: () => number, positive = false): number {
  const sign = !positive && next() < 0.5 ? 0x8000 : 0;
  const e = 8 + Math.floor(next() * 10); // 2^-7 .. 2^2
  return sign | (e << 10) | Math.floor(next() * 1024);
}

function decode(type: GGMLType, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  dequantizeRow(type, bytes, out, n);
  return out;
}

function expectSame(got: Float32Array, want: number[]): void {
  for (let k = 0; k < want.length; k++) {
    if (!Object.is(got[k], fr(want[k] as number)))
      expect.fail(`weight ${k}: got ${got[k]}, want ${fr(want[k] as number)}`);
  }
}

describe('legacy formats, by hand', () => {
  it('Q4_0: x = (q - 8) * d, low nibbles first', () => {
    const q = [...Array.from({ length: 16 }, (_, j) => j), ...Array.from({ length: 16 }, (_, j) => 15 - j)];
    const out = decode(GGMLType.Q4_0, packQ4_0(0x3800 /* 0.5 */, q), 32);
    expect(Array.from(out.subarray(0, 4))).toEqual([-4, -3.5, -3, -2.5]);
    expect(out[15]).toBe(3.5);
    expect(out[16]).toBe(3.5); // q = 15
    expect(out[31]).toBe(-4); // q = 0
  });

  it('Q4_1: x = q * d + m', () => {
    const q = Array.from({ length: 32 }, (_, j) => j % 16);
    const out = decode(GGMLType.Q4_1, packQ4_1(0x3400 /* 0.25 */, 0xbc00 /* -1 */, q), 32);
    expect(out[0]).toBe(-1);
    expect(out[15]).toBe(2.75);
    expect(out[17]).toBe(-0.75);
  });

  it('Q5_0: the fifth bit comes from qh; x = (q - 16) * d', () => {
    const q = Array.from({ length: 32 }, (_, j) => j);
    const out = decode(GGMLType.Q5_0, packQ5_0(0x4000 /* 2 */, q), 32);
    expect(Array.from(out)).toEqual(q.map((v) => (v - 16) * 2));
  });

  it('Q5_1: x = q * d + m with the fifth bit', () => {
    const q = Array.from({ length: 32 }, (_, j) => 31 - j);
    const out = decode(GGMLType.Q5_1, packQ5_1(0x3c00 /* 1 */, 0x4400 /* 4 */, q), 32);
    expect(Array.from(out)).toEqual(q.map((v) => v + 4));
  });

  it('Q8_0 and Q8_1: x = q * d (Q8_1 s does not enter)', () => {
    const q = Array.from({ length: 32 }, (_, j) => (j % 2 ? -1 : 1) * (j * 4));
    expect(Array.from(decode(GGMLType.Q8_0, packQ8_0(0x3800, q), 32))).toEqual(q.map((v) => v * 0.5));
    expect(Array.from(decode(GGMLType.Q8_1, packQ8_1(0x3800, 0x7bff, q), 32))).toEqual(q.map((v) => v * 0.5));
  });

  it('Q8_K: x = d * q with a float32 d', () => {
    const q = Array.from({ length: 256 }, (_, j) => (j % 256) - 128);
    const out = decode(GGMLType.Q8_K, packQ8_K(0.1, q), 256);
    expectSame(
      out,
      q.map((v) => fr(0.1) * v),
    );
  });
});

describe('K-quants, by hand', () => {
  it('Q2_K: weight k is in sub-block k >> 4; x = d*sc*q - dmin*m', () => {
    const scales = Array.from({ length: 16 }, (_, j) => j);
    const mins = Array.from({ length: 16 }, (_, j) => 15 - j);
    const q = Array.from({ length: 256 }, (_, k) => k % 4);
    const out = decode(GGMLType.Q2_K, packQ2_K(0x3c00 /* 1 */, 0x3800 /* 0.5 */, scales, mins, q), 256);
    expect(out[0]).toBe(0 * 0 - 0.5 * 15);
    expect(out[37]).toBe(2 * 1 - 0.5 * 13); // sub-block 2, q = 1
    expect(out[255]).toBe(15 * 3 - 0); // sub-block 15, q = 3
  });

  it('Q3_K: signed 6-bit scales and 3-bit quants; x = d * sc * q', () => {
    const scales = Array.from({ length: 16 }, (_, j) => j * 4 - 32); // -32 .. 28
    const q = Array.from({ length: 256 }, (_, k) => (k % 8) - 4); // -4 .. 3
    const out = decode(GGMLType.Q3_K, packQ3_K(0x3800 /* 0.5 */, scales, q), 256);
    expect(out[0]).toBe(0.5 * -32 * -4);
    expect(out[19]).toBe(0.5 * -28 * -1); // sub-block 1, q = 3 - 4
    expect(out[255]).toBe(0.5 * 28 * 3);
  });

  it('Q4_K: 6-bit scales and mins per 32 weights; x = d*sc*q - dmin*m', () => {
    const scales = [1, 2, 3, 63, 17, 33, 48, 62];
    const mins = [0, 1, 2, 3, 40, 50, 60, 63];
    const q = Array.from({ length: 256 }, (_, k) => k % 16);
    const out = decode(GGMLType.Q4_K, packQ4_K(0x3c00, 0x3800, scales, mins, q), 256);
    expect(out[0]).toBe(0);
    expect(out[33]).toBe(2 * 1 - 0.5 * 1); // sub-block 1
    expect(out[100]).toBe(63 * 4 - 0.5 * 3); // sub-block 3, q = 100 % 16
    expect(out[255]).toBe(62 * 15 - 0.5 * 63); // sub-block 7, both 6-bit values use the high bits
  });

  it('Q5_K: as Q4_K with a fifth bit', () => {
    const scales = [63, 1, 2, 3, 4, 5, 6, 32];
    const mins = [1, 1, 1, 1, 63, 0, 0, 16];
    const q = Array.from({ length: 256 }, (_, k) => k % 32);
    const out = decode(GGMLType.Q5_K, packQ5_K(0x3c00, 0x3c00, scales, mins, q), 256);
    expect(out[31]).toBe(63 * 31 - 1);
    expect(out[159]).toBe(4 * 31 - 63); // sub-block 4
    expect(out[255]).toBe(32 * 31 - 16);
  });

  it('Q6_K: signed 8-bit scales per 16 weights, q - 32; x = d * sc * q', () => {
    const scales = Array.from({ length: 16 }, (_, j) => (j % 2 ? -1 : 1) * (j * 8 + 1));
    const q = Array.from({ length: 256 }, (_, k) => (k % 64) - 32);
    const out = decode(GGMLType.Q6_K, packQ6_K(0x3800, scales, q), 256);
    expect(out[0]).toBe(0.5 * 1 * -32);
    expect(out[16]).toBe(0.5 * -9 * -16); // sub-block 1
    expect(out[255]).toBe(0.5 * -121 * 31);
  });
});

interface Case {
  type: GGMLType;
  blockSize: number;
  /** One random block: its bytes and the weights the spec says it holds. */
  block(next: () => number): { bytes: Uint8Array; want: number[] };
}

const CASES: Case[] = [
  {
    type: GGMLType.Q4_0,
    blockSize: 32,
    block(next) {
      const d = randomHalf(next);
      const q = ints(next, 32, 0, 15);
      return { bytes: packQ4_0(d, q), want: q.map((v) => (v - 8) * half(d)) };
    },
  },
  {
    type: GGMLType.Q4_1,
    blockSize: 32,
    block(next) {
      const [d, m] = [randomHalf(next), randomHalf(next)];
      const q = ints(next, 32, 0, 15);
      return { bytes: packQ4_1(d, m, q), want: q.map((v) => fr(v * half(d)) + half(m)) };
    },
  },
  {
    type: GGMLType.Q5_0,
    blockSize: 32,
    block(next) {
      const d = randomHalf(next);
      const q = ints(next, 32, 0, 31);
      return { bytes: packQ5_0(d, q), want: q.map((v) => (v - 16) * half(d)) };
    },
  },
  {
    type: GGMLType.Q5_1,
    blockSize: 32,
    block(next) {
      const [d, m] = [randomHalf(next), randomHalf(next)];
      const q = ints(next, 32, 0, 31);
      return { bytes: packQ5_1(d, m, q), want: q.map((v) => fr(v * half(d)) + half(m)) };
    },
  },
  {
    type: GGMLType.Q8_0,
    blockSize: 32,
    block(next) {
      const d = randomHalf(next);
      const q = ints(next, 32, -128, 127);
      return { bytes: packQ8_0(d, q), want: q.map((v) => v * half(d)) };
    },
  },
  {
    type: GGMLType.Q8_1,
    blockSize: 32,
    block(next) {
      const d = randomHalf(next);
      const q = ints(next, 32, -128, 127);
      return { bytes: packQ8_1(d, randomHalf(next), q), want: q.map((v) => v * half(d)) };
    },
  },
  {
    type: GGMLType.Q8_K,
    blockSize: 256,
    block(next) {
      const d = fr((next() - 0.5) * 0.02);
      const q = ints(next, 256, -128, 127);
      return { bytes: packQ8_K(d, q), want: q.map((v) => d * v) };
    },
  },
  {
    type: GGMLType.Q2_K,
    blockSize: 256,
    block(next) {
      const [d, dmin] = [randomHalf(next), randomHalf(next)];
      const sc = ints(next, 16, 0, 15);
      const m = ints(next, 16, 0, 15);
      const q = ints(next, 256, 0, 3);
      const want = q.map((v, k) => {
        const s = k >> 4;
        return fr(fr(half(d) * (sc[s] as number)) * v) - fr(half(dmin) * (m[s] as number));
      });
      return { bytes: packQ2_K(d, dmin, sc, m, q), want };
    },
  },
  {
    type: GGMLType.Q3_K,
    blockSize: 256,
    block(next) {
      const d = randomHalf(next);
      const sc = ints(next, 16, -32, 31);
      const q = ints(next, 256, -4, 3);
      const want = q.map((v, k) => fr(half(d) * (sc[k >> 4] as number)) * v);
      return { bytes: packQ3_K(d, sc, q), want };
    },
  },
  {
    type: GGMLType.Q4_K,
    blockSize: 256,
    block(next) {
      const [d, dmin] = [randomHalf(next), randomHalf(next)];
      const sc = ints(next, 8, 0, 63);
      const m = ints(next, 8, 0, 63);
      const q = ints(next, 256, 0, 15);
      const want = q.map((v, k) => {
        const s = k >> 5;
        return fr(fr(half(d) * (sc[s] as number)) * v) - fr(half(dmin) * (m[s] as number));
      });
      return { bytes: packQ4_K(d, dmin, sc, m, q), want };
    },
  },
  {
    type: GGMLType.Q5_K,
    blockSize: 256,
    block(next) {
      const [d, dmin] = [randomHalf(next), randomHalf(next)];
      const sc = ints(next, 8, 0, 63);
      const m = ints(next, 8, 0, 63);
      const q = ints(next, 256, 0, 31);
      const want = q.map((v, k) => {
        const s = k >> 5;
        return fr(fr(half(d) * (sc[s] as number)) * v) - fr(half(dmin) * (m[s] as number));
      });
      return { bytes: packQ5_K(d, dmin, sc, m, q), want };
    },
  },
  {
    type: GGMLType.Q6_K,
    blockSize: 256,
    block(next) {
      const d = randomHalf(next);
      const sc = ints(next, 16, -128, 127);
      const q = ints(next, 256, -32, 31);
      const want = q.map((v, k) => fr(half(d) * (sc[k >> 4] as number)) * v);
      return { bytes: packQ6_K(d, sc, q), want };
    },
  },
];

describe('every decoder on random blocks (spec formula, float32 rounding order)', () => {
  for (const c of CASES) {
    it(`${GGMLType[c.type]}: 3 blocks at offsets, 50 seeds`, () => {
      for (let seed = 1; seed <= 50; seed++) {
        const next = rng(seed * 7919 + c.type);
        const blocks = [c.block(next), c.block(next), c.block(next)];
        // Place the row at an odd byte offset, and decode to an offset in dst.
        const pad = 5;
        const bytes = concat([new Uint8Array(pad), ...blocks.map((b) => b.bytes)]);
        const n = 3 * c.blockSize;
        const out = new Float32Array(n + 3).fill(Number.NaN);
        dequantizeRow(c.type, bytes, out, n, pad, 2);
        expect(Number.isNaN(out[0] as number) && Number.isNaN(out[1] as number)).toBe(true);
        expect(Number.isNaN(out[n + 2] as number)).toBe(true);
        expectSame(
          out.subarray(2, 2 + n),
          blocks.flatMap((b) => b.want),
        );
      }
    });
  }
});

describe('float formats', () => {
  it('F32, F16 and BF16 rows decode from any byte offset', () => {
    const bytes = new Uint8Array(1 + 4 * 3);
    const view = new DataView(bytes.buffer);
    for (const [i, x] of [1.5, -2.25, 3e-40].entries()) view.setFloat32(1 + 4 * i, x, true);
    expectSame(decode2(GGMLType.F32, bytes, 3, 1), [1.5, -2.25, 3e-40]);
    const aligned = new Uint8Array(12);
    aligned.set(bytes.subarray(1));
    expectSame(decode2(GGMLType.F32, aligned, 3, 0), [1.5, -2.25, 3e-40]);

    const h = new Uint8Array(7);
    putU16(h, 1, 0x3c00);
    putU16(h, 3, 0xc500); // -5
    putU16(h, 5, 0x0001); // 2^-24
    expectSame(decode2(GGMLType.F16, h, 3, 1), [1, -5, 2 ** -24]);
    const h2 = h.slice(1);
    expectSame(decode2(GGMLType.F16, h2, 3, 0), [1, -5, 2 ** -24]);

    const b = new Uint8Array(4);
    putU16(b, 0, 0x3f80);
    putU16(b, 2, 0xc0a0); // -5
    expectSame(decode2(GGMLType.BF16, b, 2, 0), [1, -5]);
  });
});

function decode2(type: GGMLType, bytes: Uint8Array, n: number, offset: number): Float32Array {
  const out = new Float32Array(n);
  dequantizeRow(type, bytes, out, n, offset);
  return out;
}

describe('errors', () => {
  it('unsupported types are UNSUPPORTED_QUANT_TYPE', () => {
    for (const type of [GGMLType.IQ2_XXS, GGMLType.IQ4_NL, GGMLType.TQ1_0, GGMLType.I8, GGMLType.MXFP4]) {
      try {
        dequantizeRow(type, new Uint8Array(1024), new Float32Array(256), 256);
        expect.fail('no error');
      } catch (e) {
        expect(isChordError(e, 'UNSUPPORTED_QUANT_TYPE')).toBe(true);
      }
    }
  });

  it('partial blocks and short buffers are INVALID_ARGUMENT', () => {
    const bad = [
      () => dequantizeRow(GGMLType.Q4_0, new Uint8Array(18), new Float32Array(32), 16),
      () => dequantizeRow(GGMLType.Q4_0, new Uint8Array(17), new Float32Array(32), 32),
      () => dequantizeRow(GGMLType.Q4_0, new Uint8Array(18), new Float32Array(31), 32),
      () => dequantizeRow(GGMLType.Q6_K, new Uint8Array(210), new Float32Array(256), 256, 1),
    ];
    for (const f of bad) {
      try {
        f();
        expect.fail('no error');
      } catch (e) {
        expect(isChordError(e, 'INVALID_ARGUMENT')).toBe(true);
      }
    }
  });
});
