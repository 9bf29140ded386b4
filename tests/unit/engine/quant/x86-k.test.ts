import { beforeAll, describe, expect, it } from 'vitest';
import { f32ToF16 } from '../../../../engine/quant/fp16.ts';
import { activationBytes, quantizeActivations, vecDot } from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { hasX86Dot, vecDotX86 } from '../../../../engine/quant/x86.ts';
import { dotQ2_KX86, dotQ3_KX86, dotQ5_KX86, dotQ6_KX86 } from '../../../../engine/quant/x86-k.ts';
import { canRunHaswellLib, HASWELL_LIB } from '../../../helpers/llama-libs.ts';
import { rng } from './pack.ts';

const canRun = canRunHaswellLib('x86 K-quant kernels');

/** Random Q2_K super-blocks: random scales/quants, f16 d and dmin of either sign and varied size. */
function randomQ2_K(next: () => number, nBlocks: number): Uint8Array {
  const out = new Uint8Array(nBlocks * 84);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(next() * 256);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nBlocks; b++) {
    view.setUint16(b * 84 + 80, f32ToF16((next() - 0.3) * 0.01), true);
    view.setUint16(b * 84 + 82, f32ToF16((next() - 0.3) * 0.01), true);
  }
  return out;
}

/** Random super-blocks of `size` bytes with an f16 scale at each of `halfAt` (random magnitude and sign). */
function randomSuperBlocks(next: () => number, nBlocks: number, size: number, halfAt: number[]): Uint8Array {
  const out = new Uint8Array(nBlocks * size);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(next() * 256);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nBlocks; b++)
    for (const o of halfAt) view.setUint16(b * size + o, f32ToF16((next() - 0.3) * 0.01), true);
  return out;
}

describe.skipIf(!canRun)('x86 (AVX2) K-quant dot products vs libggml-cpu-haswell', () => {
  // biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
  let dot: (...args: any[]) => any;
  beforeAll(async () => {
    const koffi = (await import('koffi')).default;
    const lib = koffi.load(HASWELL_LIB);
    lib.func('void ggml_cpu_init(void)')();
    dot = lib.func(
      'void ggml_vec_dot_q2_K_q8_K(int n, void *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc)',
    );
  });

  it('ggml_vec_dot_q2_K_q8_K: bit-identical, and vecDotX86 uses it', () => {
    expect(hasX86Dot(GGMLType.Q2_K)).toBe(true);
    const next = rng(2222);
    let differsFromGeneric = 0;
    for (let r = 0; r < 400; r++) {
      const nBlocks = 1 + (r % 4);
      const n = 256 * nBlocks;
      const w = randomQ2_K(next, nBlocks);
      const x = Float32Array.from({ length: n }, () => Math.fround((next() - 0.5) * 6));
      const a = new Uint8Array(activationBytes(GGMLType.Q8_K, n));
      quantizeActivations(GGMLType.Q8_K, x, 0, n, a, 0);
      const s = new Float32Array(1);
      dot(n, s, 0, w, 0, a, 0, 1);
      const got = dotQ2_KX86(nBlocks, w, 0, a, 0);
      if (!Object.is(got, s[0])) expect.fail(`q2_K n=${n} row ${r}: ours ${got}, llama.cpp ${s[0]}`);
      expect(vecDotX86(GGMLType.Q2_K, n, w, 0, a, 0)).toBe(got);
      if (vecDot(GGMLType.Q2_K, n, w, 0, a, 0) !== got) differsFromGeneric++;
    }
    // The point of mirroring: the generic float order gives other roundings.
    expect(differsFromGeneric).toBeGreaterThan(0);
  });

  it.each([
    ['q3_K', GGMLType.Q3_K, 110, [108], dotQ3_KX86],
    ['q5_K', GGMLType.Q5_K, 176, [0, 2], dotQ5_KX86],
    ['q6_K', GGMLType.Q6_K, 210, [208], dotQ6_KX86],
  ] as const)('ggml_vec_dot_%s_q8_K: bit-identical, and vecDotX86 uses it', async (name, type, size, halfAt, ours) => {
    const koffi = (await import('koffi')).default;
    const f = koffi
      .load(HASWELL_LIB)
      .func(
        `void ggml_vec_dot_${name}_q8_K(int n, void *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc)`,
      );
    expect(hasX86Dot(type)).toBe(true);
    const next = rng(3333);
    let differsFromGeneric = 0;
    for (let r = 0; r < 300; r++) {
      const nBlocks = 1 + (r % 4);
      const n = 256 * nBlocks;
      const w = randomSuperBlocks(next, nBlocks, size, [...halfAt]);
      const x = Float32Array.from({ length: n }, () => Math.fround((next() - 0.5) * 6));
      const a = new Uint8Array(activationBytes(GGMLType.Q8_K, n));
      quantizeActivations(GGMLType.Q8_K, x, 0, n, a, 0);
      const s = new Float32Array(1);
      f(n, s, 0, w, 0, a, 0, 1);
      const got = ours(nBlocks, w, 0, a, 0);
      if (!Object.is(got, s[0])) expect.fail(`${name} n=${n} row ${r}: ours ${got}, llama.cpp ${s[0]}`);
      expect(vecDotX86(type, n, w, 0, a, 0)).toBe(got);
      if (vecDot(type, n, w, 0, a, 0) !== got) differsFromGeneric++;
    }
    expect(differsFromGeneric).toBeGreaterThan(0);
  });
});
