import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, roundToF16 } from '../../../../engine/quant/fp16.ts';

/** A float32 from its bits, independently of the code under test. */
function fromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0] as number;
}

function toBits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0] as number;
}

describe('f16ToF32', () => {
  it('decodes the IEEE binary16 landmarks', () => {
    expect(f16ToF32(0x0000)).toBe(0);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(f16ToF32(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0xfc01)).toBeNaN();
  });

  it('every one of the 65536 halves round-trips through f32ToF16 (NaNs stay NaN)', () => {
    let nans = 0;
    for (let h = 0; h < 65536; h++) {
      const x = f16ToF32(h);
      if (Number.isNaN(x)) {
        nans++;
        const back = f32ToF16(x);
        expect((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0).toBe(true);
        continue;
      }
      if (f32ToF16(x) !== h) expect.fail(`0x${h.toString(16)} -> ${x} -> 0x${f32ToF16(x).toString(16)}`);
    }
    expect(nans).toBe(2 * 1023);
  });
});

describe('f32ToF16 (round to nearest, ties to even, as F16C)', () => {
  it('rounds ties to even in the normal range', () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // halfway 1 .. 1+2^-10: even is 1
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway 0x3c01 .. 0x3c02: even is 0x3c02
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16(-(1 + 2 ** -11))).toBe(0xbc00);
    expect(f32ToF16(2047)).toBe(0x67ff); // exact
    expect(f32ToF16(2049)).toBe(0x6800); // tie between 2048 and 2050: even 2048
    expect(f32ToF16(2051)).toBe(0x6802); // tie between 2050 and 2052: even 2052
  });

  it('sees the float32 the C code would see (inputs are rounded to float first)', () => {
    // As a double this is above the tie; as a float it is exactly the tie, which goes to even.
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c00);
  });

  it('overflows to infinity from 65520 (the tie above 65504) upwards', () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-1e10)).toBe(0xfc00);
    expect(f32ToF16(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(f32ToF16(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    expect(f32ToF16(3.4028234663852886e38)).toBe(0x7c00);
  });

  it('produces subnormals and rounds them to even', () => {
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie between 0 and 1 unit: even 0
    expect(f32ToF16(2 ** -25 * (1 + 2 ** -20))).toBe(0x0001); // just above the tie
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units: even 2
    expect(f32ToF16(5 * 2 ** -25)).toBe(0x0002); // tie between 2 and 3 units: even 2
    expect(f32ToF16(-3 * 2 ** -25)).toBe(0x8002);
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // tie 0x3ff .. 0x400: even 0x400
    expect(f32ToF16(2 ** -14 - 3 * 2 ** -25)).toBe(0x03fe); // tie 0x3fe .. 0x3ff: even 0x3fe
    expect(f32ToF16(2 ** -26)).toBe(0x0000);
    expect(f32ToF16(fromBits(0x00000001))).toBe(0x0000); // float32 subnormal
    expect(f32ToF16(-fromBits(0x00000001))).toBe(0x8000);
  });

  it('keeps signed zero and makes NaN quiet with the top payload bits', () => {
    expect(f32ToF16(0)).toBe(0x0000);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(Number.NaN)).toBe(0x7e00); // canonical quiet NaN 0x7fc00000
  });

  it('returns the nearest half, and the even one on ties (checked against the decoded neighbours)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const x = fromBits(bits);
        if (Number.isNaN(x) || Math.abs(x) >= 65520) return;
        const h = f32ToF16(x);
        const y = f16ToF32(h);
        const magnitude = h & 0x7fff;
        const neighbours = [magnitude - 1, magnitude + 1].filter((m) => m >= 0 && m <= 0x7bff);
        for (const m of neighbours) {
          const z = f16ToF32(m | (h & 0x8000));
          const dy = Math.abs(x - y);
          const dz = Math.abs(x - z);
          expect(dy <= dz).toBe(true);
          if (dy === dz) expect(h & 1).toBe(0);
        }
        if (x !== 0) expect(Math.sign(y) === Math.sign(x) || y === 0).toBe(true);
      }),
      { numRuns: 20000 },
    );
  });

  it('roundToF16 is the float value of the nearest half', () => {
    expect(roundToF16(0.1)).toBe(0.0999755859375);
    expect(roundToF16(1e6)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('bfloat16', () => {
  it('bf16ToF32 is the upper half of a float32', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x7f80)).toBe(Number.POSITIVE_INFINITY);
    expect(bf16ToF32(0x0001)).toBe(fromBits(0x00010000));
    for (let h = 0; h < 65536; h += 97) {
      const x = bf16ToF32(h);
      if (!Number.isNaN(x)) expect(toBits(x) >>> 16).toBe(h);
    }
  });

  it('f32ToBf16 rounds to nearest even on the low 16 bits', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(fromBits(0x3f808000))).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16(fromBits(0x3f818000))).toBe(0x3f82); // tie, odd rounds up
    expect(f32ToBf16(fromBits(0x3f808001))).toBe(0x3f81);
    expect(f32ToBf16(fromBits(0x3f807fff))).toBe(0x3f80);
    expect(f32ToBf16(fromBits(0x7f7fffff))).toBe(0x7f80); // largest float rounds to infinity
    expect(f32ToBf16(-0)).toBe(0x8000);
    expect(f32ToBf16(Number.NEGATIVE_INFINITY)).toBe(0xff80);
  });

  it('f32ToBf16 makes NaN quiet (ggml sets bit 6 of the result)', () => {
    expect(f32ToBf16(Number.NaN)).toBe(0x7fc0);
  });

  it('every bf16 round-trips', () => {
    for (let h = 0; h < 65536; h++) {
      const x = bf16ToF32(h);
      if (Number.isNaN(x)) continue;
      if (f32ToBf16(x) !== h) expect.fail(`bf16 0x${h.toString(16)}`);
    }
  });
});
