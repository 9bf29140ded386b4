import { beforeAll, describe, expect, it } from 'vitest';
import { activationBytes, quantizeActivations, quantizeRow, vecDotTypeOf } from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { fmaF32, isRepackedOnX86, usesTinyBlas, vecDotQ4_0Repacked, vecDotX86 } from '../../../../engine/quant/x86.ts';
import { cosF32, expF32, sinF32, softmaxExpSumX86, swigluX86 } from '../../../../engine/quant/x86-math.ts';
import { canRunHaswellLib, HASWELL_LIB } from '../../../helpers/llama-libs.ts';
import { rng } from './pack.ts';

const canRun = canRunHaswellLib('x86 kernels');

// biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
type CFunc = (...args: any[]) => any;
interface Lib {
  func(signature: string): CFunc;
}

const NAMES: Partial<Record<GGMLType, string>> = {
  [GGMLType.Q4_0]: 'q4_0',
  [GGMLType.Q8_0]: 'q8_0',
  [GGMLType.Q5_1]: 'q5_1',
  [GGMLType.Q4_1]: 'q4_1',
  [GGMLType.Q5_0]: 'q5_0',
  [GGMLType.Q8_1]: 'q8_1',
  [GGMLType.F32]: 'f32',
  [GGMLType.F16]: 'f16',
};

function randomRow(next: () => number, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.fround((next() - 0.5) * scale));
}

/** make_block_q4_0x8 with an interleave of 8 bytes (repack.cpp): 8 rows' blocks b into one block_q4_0x8. */
function repackQ4_0x8(rows: Uint8Array[], nBlocks: number): Uint8Array {
  const out = new Uint8Array(nBlocks * 144);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * 144;
    for (let r = 0; r < 8; r++) out.set(rows[r].subarray(b * 18, b * 18 + 2), o + 2 * r);
    for (let i = 0; i < 16; i++) {
      const src = rows[i % 8].subarray(b * 18 + 2 + Math.floor(i / 8) * 8);
      for (let k = 0; k < 8; k++) out[o + 16 + i * 8 + k] = src[k] ^ 0x88;
    }
  }
  return out;
}

describe.skipIf(!canRun)('x86 (AVX2) dot products vs libggml-cpu-haswell', () => {
  let lib: Lib;
  beforeAll(async () => {
    const koffi = (await import('koffi')).default;
    lib = koffi.load(HASWELL_LIB);
    lib.func('void ggml_cpu_init(void)')();
  });

  it('fmaF32 rounds once: against fmaf from libm', async () => {
    const koffi = (await import('koffi')).default;
    const fmaf = koffi.load('libm.so.6').func('float fmaf(float a, float b, float c)');
    const next = rng(11);
    for (let i = 0; i < 20000; i++) {
      const a = Math.fround((next() - 0.5) * 2 ** Math.floor(next() * 40 - 20));
      const b = i % 2 ? Math.floor(next() * 65536 - 32768) : Math.fround(next() - 0.5);
      // c close to -a*b makes cancellation; others exercise the midpoint case
      const c = i % 3 === 0 ? Math.fround(-a * b * (1 + (next() - 0.5) * 1e-6)) : Math.fround((next() - 0.5) * 4);
      const want = fmaf(a, b, c);
      if (!Object.is(fmaF32(a, b, c), want)) expect.fail(`fma(${a}, ${b}, ${c}): ours ${fmaF32(a, b, c)}, ${want}`);
    }
  });

  it('ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0, {q4_1,q5_1}_q8_1, f32, f16: bit-identical', () => {
    const next = rng(8086);
    for (const type of [
      GGMLType.Q4_0,
      GGMLType.Q8_0,
      GGMLType.Q5_1,
      GGMLType.Q4_1,
      GGMLType.Q5_0,
      GGMLType.F32,
      GGMLType.F16,
    ]) {
      const aType = vecDotTypeOf(type);
      const name =
        type === GGMLType.F32 || type === GGMLType.F16
          ? `ggml_vec_dot_${NAMES[type]}`
          : `ggml_vec_dot_${NAMES[type]}_${NAMES[aType]}`;
      const f = lib.func(
        `void ${name}(int n, void *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc)`,
      );
      for (let r = 0; r < 200; r++) {
        const n = type === GGMLType.F32 || type === GGMLType.F16 ? 1 + Math.floor(next() * 300) : 32 * (1 + (r % 8));
        const w = quantizeRow(type, randomRow(next, n, 0.2));
        const a = new Uint8Array(activationBytes(aType, n));
        quantizeActivations(aType, randomRow(next, n, 6), 0, n, a, 0);
        const s = new Float32Array(1);
        f(n, s, 0, w, 0, a, 0, 1);
        const got = vecDotX86(type, n, w, 0, a, 0);
        if (!Object.is(got, s[0])) expect.fail(`${name} n=${n} row ${r}: ours ${got}, llama.cpp ${s[0]}`);
      }
    }
  });

  it('ggml_gemv_q4_0_8x8_q8_0 (repacked Q4_0): bit-identical per output', () => {
    const gemv = lib.func(
      'void ggml_gemv_q4_0_8x8_q8_0(int n, void *s, size_t bs, const void *vx, const void *vy, int nr, int nc)',
    );
    const next = rng(808);
    expect(isRepackedOnX86(GGMLType.Q4_0, 64)).toBe(true);
    expect(isRepackedOnX86(GGMLType.Q4_0, 172)).toBe(false);
    for (let r = 0; r < 60; r++) {
      const n = 32 * (1 + (r % 6));
      const nb = n / 32;
      const rows = Array.from({ length: 8 }, () => quantizeRow(GGMLType.Q4_0, randomRow(next, n, 0.2)));
      const a = new Uint8Array(activationBytes(GGMLType.Q8_0, n));
      quantizeActivations(GGMLType.Q8_0, randomRow(next, n, 6), 0, n, a, 0);
      const s = new Float32Array(8);
      gemv(n, s, 8, repackQ4_0x8(rows, nb), a, 1, 8);
      for (let o = 0; o < 8; o++) {
        const got = vecDotQ4_0Repacked(n, rows[o], 0, a, 0);
        if (!Object.is(got, s[o])) expect.fail(`n=${n} output ${o}: ours ${got}, llama.cpp ${s[o]}`);
      }
    }
  });

  it('usesTinyBlas: F32/F16 rows of a multiple of 8, batches of 2 or more', () => {
    expect(usesTinyBlas(GGMLType.F32, 64, 2)).toBe(true);
    expect(usesTinyBlas(GGMLType.F16, 64, 5)).toBe(true);
    expect(usesTinyBlas(GGMLType.F32, 64, 1)).toBe(false);
    expect(usesTinyBlas(GGMLType.F32, 172, 4)).toBe(false);
    expect(usesTinyBlas(GGMLType.Q8_0, 64, 4)).toBe(false);
  });

  it('ggml_vec_swiglu_f32 (ggml_v_expf on groups of 8, expf on the tail): bit-identical', () => {
    const swiglu = lib.func('void ggml_vec_swiglu_f32(int n, float *y, const float *x, const float *g)');
    const next = rng(172);
    for (let r = 0; r < 200; r++) {
      const n = 1 + Math.floor(next() * 300);
      const x = randomRow(next, n, r % 2 ? 300 : 16); // large |x| reaches v_expf's overflow branches
      const g = randomRow(next, n, 8);
      const want = new Float32Array(n);
      swiglu(n, want, x, g);
      const got = x.slice();
      swigluX86(got, g, 0, n);
      for (let i = 0; i < n; i++) {
        if (!Object.is(got[i], want[i])) expect.fail(`n=${n} [${i}] x=${x[i]}: ours ${got[i]}, llama.cpp ${want[i]}`);
      }
    }
  });

  it('ggml_vec_soft_max_f32: the same exps and the same double sum', () => {
    const softmax = lib.func('double ggml_vec_soft_max_f32(int n, float *y, const float *x, float max)');
    const next = rng(256);
    for (let r = 0; r < 200; r++) {
      const n = 1 + Math.floor(next() * 300);
      const x = randomRow(next, n, 40);
      const max = x.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY);
      const want = new Float32Array(n);
      const wantSum = softmax(n, want, x, max);
      const got = new Float64Array(n);
      expect(softmaxExpSumX86(x, n, max, got)).toBe(wantSum);
      for (let i = 0; i < n; i++) if (got[i] !== want[i]) expect.fail(`n=${n} [${i}]: ours ${got[i]}, ${want[i]}`);
    }
  });

  it("expF32, sinF32, cosF32: glibc's expf, sinf, cosf (|x| < 120) bit for bit", async () => {
    const koffi = (await import('koffi')).default;
    const libm = koffi.load('libm.so.6');
    const expf = libm.func('float expf(float)');
    const sinf = libm.func('float sinf(float)');
    const cosf = libm.func('float cosf(float)');
    const next = rng(2718);
    const edges = [0, -0, 1e-30, -1e-5, 88.7, 88.73, -103, -104, -87.5, 0.785, -0.786, 119.9, -119.9];
    for (let i = 0; i < 100000; i++) {
      const x = i < edges.length ? Math.fround(edges[i]) : Math.fround((next() - 0.5) * (i % 3 ? 239 : 2));
      if (!Object.is(expF32(x), expf(x))) expect.fail(`expf(${x}): ours ${expF32(x)}, glibc ${expf(x)}`);
      if (!Object.is(sinF32(x), sinf(x))) expect.fail(`sinf(${x}): ours ${sinF32(x)}, glibc ${sinf(x)}`);
      if (!Object.is(cosF32(x), cosf(x))) expect.fail(`cosf(${x}): ours ${cosF32(x)}, glibc ${cosf(x)}`);
    }
    expect(expF32(Number.NEGATIVE_INFINITY)).toBe(0);
  });
});
