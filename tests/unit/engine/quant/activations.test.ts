/**
 * quantizeActivations follows llama.cpp's x86 CPU backend (arch/x86/quants.c),
 * which differs from the _ref quantizers in two ways for Q8_0/Q8_1:
 *   id = 127 / max (not 1 / d), and _mm256_round_ps(_MM_ROUND_NEAREST): ties to even.
 * Q8_K activations use quantize_row_q8_K_ref; F16/BF16/F32 the plain conversions.
 */
import { describe, expect, it } from 'vitest';
import {
  activationBytes,
  f32ToBf16,
  f32ToF16,
  quantizeActivations,
  quantizeRow,
} from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { isChordError } from '../../../../shared/errors.ts';

function q8(type: GGMLType, x: Float32Array, ref: boolean): Int8Array {
  const bytes = ref ? quantizeRow(type, x) : new Uint8Array(activationBytes(type, x.length));
  if (!ref) quantizeActivations(type, x, 0, x.length, bytes, 0);
  const qs = type === GGMLType.Q8_0 ? 2 : 4;
  return new Int8Array(bytes.buffer, qs, 32);
}

describe('Q8_0 / Q8_1 activations (x86 SIMD path)', () => {
  for (const type of [GGMLType.Q8_0, GGMLType.Q8_1]) {
    it(`${GGMLType[type]}: ties go to even, where the reference goes away from zero`, () => {
      const x = new Float32Array(32);
      x[0] = 127; // max 127: d = 1, id = 1 in both variants
      x[1] = 2.5;
      x[2] = -2.5;
      x[3] = 3.5;
      x[4] = -3.5;
      x[5] = 0.5;
      expect(Array.from(q8(type, x, false).subarray(0, 6))).toEqual([127, 2, -2, 4, -4, 0]);
      expect(Array.from(q8(type, x, true).subarray(0, 6))).toEqual([127, 3, -3, 4, -4, 1]);
    });

    it(`${GGMLType[type]}: id = 127/max changes the last bit of x * id`, () => {
      // max = 3.895005 and x = 3.7263236 (both exact float32 values). The reference's
      // id = 1/f32(max/127) gives x*id = 121.50000762939453 -> 122; the x86 id = 127/max
      // gives 121.49999237060547 -> 121.
      const x = new Float32Array(32);
      x[0] = 3.895004987716675;
      x[1] = 3.7263236045837402;
      expect(q8(type, x, true)[1]).toBe(122);
      expect(q8(type, x, false)[1]).toBe(121);
    });
  }

  it('Q8_1: s = f16(d * sum(q)) with d = max/127 before f16 rounding', () => {
    const x = Float32Array.from({ length: 32 }, (_, i) => Math.fround(Math.sin(i) * 3));
    const bytes = new Uint8Array(36);
    quantizeActivations(GGMLType.Q8_1, x, 0, 32, bytes, 0);
    const view = new DataView(bytes.buffer);
    let max = 0;
    for (const v of x) max = Math.max(max, Math.abs(v));
    const d = Math.fround(max / 127);
    const sum = Array.from(new Int8Array(bytes.buffer, 4, 32)).reduce((a, b) => a + b, 0);
    expect(view.getUint16(0, true)).toBe(f32ToF16(d));
    expect(view.getUint16(2, true)).toBe(f32ToF16(Math.fround(d * sum)));
  });

  it('an all-zero block gives d = 0 and zero quants', () => {
    const bytes = new Uint8Array(34).fill(0xaa);
    quantizeActivations(GGMLType.Q8_0, new Float32Array(32), 0, 32, bytes, 0);
    expect(Array.from(bytes).every((b) => b === 0)).toBe(true);
  });

  it('honours source and destination offsets', () => {
    const x = Float32Array.from({ length: 70 }, (_, i) => i - 30);
    const whole = new Uint8Array(68);
    quantizeActivations(GGMLType.Q8_0, x.slice(3, 67), 0, 64, whole, 0);
    const shifted = new Uint8Array(75);
    expect(quantizeActivations(GGMLType.Q8_0, x, 3, 64, shifted, 7)).toBe(68);
    expect(Array.from(shifted.subarray(7))).toEqual(Array.from(whole));
  });
});

describe('other activation formats', () => {
  it('Q8_K is quantize_row_q8_K_ref', () => {
    const x = Float32Array.from({ length: 512 }, (_, i) => Math.fround(Math.cos(i * 0.7) * (i % 50)));
    const bytes = new Uint8Array(activationBytes(GGMLType.Q8_K, 512));
    expect(bytes.length).toBe(2 * 292);
    quantizeActivations(GGMLType.Q8_K, x, 0, 512, bytes, 0);
    expect(Array.from(bytes)).toEqual(Array.from(quantizeRow(GGMLType.Q8_K, x)));
  });

  it('F16, BF16 and F32 are element-wise conversions', () => {
    const x = Float32Array.from([1, -2.5, 0.1, 65519, 1e-7, 3.3e38]);
    const h = new Uint8Array(12);
    quantizeActivations(GGMLType.F16, x, 0, 6, h, 0);
    const b = new Uint8Array(12);
    quantizeActivations(GGMLType.BF16, x, 0, 6, b, 0);
    const f = new Uint8Array(24);
    quantizeActivations(GGMLType.F32, x, 0, 6, f, 0);
    for (let i = 0; i < 6; i++) {
      expect(h[2 * i]! | (h[2 * i + 1]! << 8)).toBe(f32ToF16(x[i]!));
      expect(b[2 * i]! | (b[2 * i + 1]! << 8)).toBe(f32ToBf16(x[i]!));
    }
    expect(Array.from(new Float32Array(f.buffer))).toEqual(Array.from(x));
  });

  it('weight-only formats are not activation formats', () => {
    for (const type of [GGMLType.Q4_0, GGMLType.Q6_K, GGMLType.IQ4_NL]) {
      try {
        activationBytes(type, 256);
        expect.fail('no error');
      } catch (e) {
        expect(isChordError(e, 'UNSUPPORTED_QUANT_TYPE')).toBe(true);
      }
    }
  });
});
