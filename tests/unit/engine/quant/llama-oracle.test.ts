/**
 * llama.cpp itself as the oracle: node-llama-cpp@3.21.1 ships ggml's shared
 * libraries, which export the functions we re-implement. We call them through
 * koffi (FFI) on the same inputs and require bit-identical results:
 *
 * - libggml-base.so: dequantize_row_*, quantize_row_*_ref, fp16/bf16 rows;
 * - libggml-cpu-sse42.so: ggml_vec_dot_*_generic. This build has no FMA, so the
 *   compiler cannot contract a*b+c: it is the C code's own float32 semantics
 *   (the -march=haswell build's _generic functions differ through contraction);
 * - libggml-cpu-x64.so: ggml_vec_dot_{f32,f16,bf16} of a build without
 *   GGML_SIMD, i.e. the scalar loops;
 * - libggml-cpu-haswell.so (AVX2, what llama.cpp runs on this kind of machine):
 *   quantize_row_q8_0/q8_1/q8_K and the F16C conversion, against
 *   quantizeActivations and f32ToF16.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activationBytes,
  bf16ToF32,
  dequantizeRow,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  quantizeActivations,
  quantizeRow,
  vecDot,
  vecDotTypeOf,
} from '../../../../engine/quant/index.ts';
import { GGMLType, TYPE_TRAITS, WEIGHT_TYPES } from '../../../../engine/quant/types.ts';
import { repoRoot } from '../../../helpers/fixtures.ts';
import { rng } from './pack.ts';

const LIB_DIR = join(repoRoot, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');
const haveLibs = process.platform === 'linux' && process.arch === 'x64' && existsSync(join(LIB_DIR, 'libggml-base.so'));
if (!haveLibs) {
  if (process.env.CI && process.platform === 'linux' && process.arch === 'x64') {
    throw new Error(`llama.cpp libraries missing under CI: ${LIB_DIR}`);
  }
  console.warn(`[skip] llama.cpp oracle: no linux-x64 ggml libraries at ${LIB_DIR}`);
}
const cpuFlags = haveLibs
  ? new Set(
      readFileSync('/proc/cpuinfo', 'utf8')
        .match(/^flags\s*:(.*)$/m)?.[1]
        ?.trim()
        .split(/\s+/),
    )
  : new Set<string>();
const haveHaswell = ['avx2', 'fma', 'f16c'].every((f) => cpuFlags.has(f));
if (haveLibs && !haveHaswell) console.warn('[skip] llama.cpp oracle: this CPU cannot run the AVX2 (haswell) build');

// biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
type CFunc = (...args: any[]) => any;
interface Lib {
  func(signature: string): CFunc;
}

const WEIGHT_NAMES: Partial<Record<GGMLType, string>> = {
  [GGMLType.Q4_0]: 'q4_0',
  [GGMLType.Q4_1]: 'q4_1',
  [GGMLType.Q5_0]: 'q5_0',
  [GGMLType.Q5_1]: 'q5_1',
  [GGMLType.Q8_0]: 'q8_0',
  [GGMLType.Q8_1]: 'q8_1',
  [GGMLType.Q2_K]: 'q2_K',
  [GGMLType.Q3_K]: 'q3_K',
  [GGMLType.Q4_K]: 'q4_K',
  [GGMLType.Q5_K]: 'q5_K',
  [GGMLType.Q6_K]: 'q6_K',
  [GGMLType.Q8_K]: 'q8_K',
};
const nameOf = (t: GGMLType) => WEIGHT_NAMES[t] as string;
const traits = (t: GGMLType) => TYPE_TRAITS.get(t) as { blockSize: number; typeSize: number };

/** The block formats: quantized weights with a vec_dot of their own. */
const DOT_TYPES = WEIGHT_TYPES.filter((t) => TYPE_TRAITS.get(t)!.blockSize > 1);

function sameFloats(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}[${i}]: ours ${got[i]}, llama.cpp ${want[i]}`);
  }
}

function sameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  const i = got.findIndex((b, k) => b !== want[k]);
  if (i >= 0 || got.length !== want.length)
    expect.fail(`${what}: first differing byte ${i} (length ${got.length} vs ${want.length})`);
}

/** Float rows of several shapes: smooth random, wide dynamic range, integer and half-integer ties, constants, zeros. */
function testRows(next: () => number, n: number): Float32Array[] {
  const fr = Math.fround;
  const rows: Float32Array[] = [];
  for (let r = 0; r < 6; r++) {
    const scale = 10 ** (next() * 8 - 4);
    rows.push(Float32Array.from({ length: n }, () => fr((next() - 0.5) * scale)));
  }
  rows.push(Float32Array.from({ length: n }, () => fr((next() - 0.5) * 10 ** (next() * 10 - 5))));
  rows.push(Float32Array.from({ length: n }, (_, i) => (i % 32 === 0 ? 127 : Math.floor(next() * 254) - 127 + 0.5)));
  rows.push(
    Float32Array.from({ length: n }, (_, i) =>
      i % 32 === 5 ? -8 : Math.floor(next() * 17) - 8 + (next() < 0.3 ? 0.5 : 0),
    ),
  );
  rows.push(Float32Array.from({ length: n }, (_, i) => (i % 64 < 32 ? 0 : fr(0.3))));
  rows.push(Float32Array.from({ length: n }, (_, i) => fr(Math.sin(i) * 3)));
  return rows;
}

describe.skipIf(!haveLibs)('llama.cpp oracle (ggml shared libraries via FFI)', () => {
  let base: Lib;
  let sse42: Lib;
  let x64: Lib;
  let haswell: Lib | undefined;

  beforeAll(async () => {
    const koffi = (await import('koffi')).default;
    base = koffi.load(join(LIB_DIR, 'libggml-base.so'));
    const cpu = (variant: string): Lib => {
      const lib = koffi.load(join(LIB_DIR, `libggml-cpu-${variant}.so`));
      lib.func('void ggml_cpu_init(void)')(); // fills the fp16 tables builds without F16C use
      return lib;
    };
    sse42 = cpu('sse42');
    x64 = cpu('x64');
    if (haveHaswell) haswell = cpu('haswell');
  });

  it('dequantize_row_* on random bytes: bit-identical for every block format', () => {
    const next = rng(2024);
    for (const type of [...DOT_TYPES, GGMLType.Q8_K]) {
      const f = base.func(`void dequantize_row_${nameOf(type)}(const void *x, void *y, int64_t k)`);
      const { blockSize, typeSize } = traits(type);
      for (let r = 0; r < 40; r++) {
        const nBlocks = 1 + (r % 4);
        const bytes = Uint8Array.from({ length: nBlocks * typeSize }, () => Math.floor(next() * 256));
        const want = new Float32Array(nBlocks * blockSize);
        f(bytes, want, want.length);
        const got = new Float32Array(want.length);
        dequantizeRow(type, bytes, got, got.length);
        sameFloats(got, want, `${GGMLType[type]} row ${r}`);
      }
    }
  });

  it('quantize_row_*_ref: identical bytes for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q8_K', () => {
    const next = rng(77);
    for (const type of [
      GGMLType.Q4_0,
      GGMLType.Q4_1,
      GGMLType.Q5_0,
      GGMLType.Q5_1,
      GGMLType.Q8_0,
      GGMLType.Q8_1,
      GGMLType.Q8_K,
    ]) {
      const f = base.func(`void quantize_row_${nameOf(type)}_ref(const void *x, void *y, int64_t k)`);
      for (const [r, x] of testRows(next, 512).entries()) {
        const want = new Uint8Array(quantizeRow(type, x).length); // zeroed: ggml skips Q8_K bsums of all-zero blocks
        f(x, want, x.length);
        sameBytes(quantizeRow(type, x), want, `${GGMLType[type]} row ${r}`);
      }
    }
  });

  it('fp16 and bf16: all 65536 values decode alike; conversions of random floats round alike', () => {
    const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const want = new Float32Array(65536);
    base.func('void ggml_fp16_to_fp32_row(const void *x, void *y, int64_t n)')(halves, want, 65536);
    sameFloats(
      Float32Array.from(halves, (h) => f16ToF32(h)),
      want,
      'f16',
    );
    base.func('void ggml_bf16_to_fp32_row(const void *x, void *y, int64_t n)')(halves, want, 65536);
    sameFloats(
      Float32Array.from(halves, (h) => bf16ToF32(h)),
      want,
      'bf16',
    );

    const next = rng(5);
    const bits = Uint32Array.from({ length: 200000 }, () => Math.floor(next() * 2 ** 32));
    bits.set([0x477ff000, 0x477fefff, 0x33000000, 0x33000001, 0x387fc000, 0x3f808000, 0x3f818000, 0x7f7fffff]);
    const floats = new Float32Array(bits.buffer).filter((v) => !Number.isNaN(v)); // NaN payloads do not survive JS numbers
    const toHalf = (lib: Lib, fn: string) => {
      const out = new Uint16Array(floats.length);
      lib.func(`void ${fn}(const void *x, void *y, int64_t n)`)(floats, out, floats.length);
      return out;
    };
    const ours = Uint16Array.from(floats, (v) => f32ToF16(v));
    sameBytes(
      new Uint8Array(ours.buffer),
      new Uint8Array(toHalf(base, 'ggml_fp32_to_fp16_row').buffer),
      'fp32->fp16 (ggml-base)',
    );
    if (haswell) {
      sameBytes(
        new Uint8Array(ours.buffer),
        new Uint8Array(toHalf(haswell, 'ggml_cpu_fp32_to_fp16').buffer),
        'fp32->fp16 (F16C)',
      );
    }
    const oursBf = Uint16Array.from(floats, (v) => f32ToBf16(v));
    sameBytes(
      new Uint8Array(oursBf.buffer),
      new Uint8Array(toHalf(base, 'ggml_fp32_to_bf16_row_ref').buffer),
      'fp32->bf16',
    );
  });

  it('ggml_vec_dot_*_generic: bit-identical dot products for the 10 weight formats', () => {
    const next = rng(31337);
    for (const type of DOT_TYPES) {
      const aType = vecDotTypeOf(type);
      const f = sse42.func(
        `void ggml_vec_dot_${nameOf(type)}_${nameOf(aType)}_generic(int n, void *s, size_t bs, const void *vx, size_t bx, const void *vy, size_t by, int nrc)`,
      );
      for (let r = 0; r < 60; r++) {
        const n = 256 * (1 + (r % 4));
        // Realistic weights: a quantized random row (K-quants: random bytes with sane f16 scales).
        const w = randomWeightRow(type, n, next);
        const x = Float32Array.from({ length: n }, () => Math.fround((next() - 0.5) * 6));
        const a = new Uint8Array(activationBytes(aType, n));
        quantizeActivations(aType, x, 0, n, a, 0);
        const s = new Float32Array(1);
        f(n, s, 0, w, 0, a, 0, 1);
        const got = vecDot(type, n, w, 0, a, 0);
        if (!Object.is(got, s[0])) expect.fail(`${GGMLType[type]} n=${n}: ours ${got}, llama.cpp ${s[0]}`);
      }
    }
  });

  it('ggml_vec_dot_{f32,f16,bf16} of the scalar build: bit-identical', () => {
    const next = rng(4242);
    for (const [name, type] of [
      ['f32', GGMLType.F32],
      ['f16', GGMLType.F16],
      ['bf16', GGMLType.BF16],
    ] as const) {
      const f = x64.func(
        `void ggml_vec_dot_${name}(int n, void *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc)`,
      );
      for (let r = 0; r < 40; r++) {
        const n = 100 + Math.floor(next() * 1000);
        const w = quantizeRow(
          type,
          Float32Array.from({ length: n }, () => next() - 0.5),
        );
        const a = quantizeRow(
          type,
          Float32Array.from({ length: n }, () => (next() - 0.5) * 100),
        );
        const s = new Float32Array(1);
        f(n, s, 0, w, 0, a, 0, 1);
        expect(vecDot(type, n, w, 0, a, 0)).toBe(s[0]);
      }
    }
  });

  it.skipIf(!haveHaswell)('AVX2 quantize_row_q8_0/q8_1/q8_K (activations): identical to quantizeActivations', () => {
    const next = rng(99);
    for (const type of [GGMLType.Q8_0, GGMLType.Q8_1, GGMLType.Q8_K]) {
      const f = (haswell as Lib).func(`void quantize_row_${nameOf(type)}(const void *x, void *y, int64_t k)`);
      let differsFromRef = 0;
      for (const [r, x] of testRows(next, 1024).entries()) {
        const want = new Uint8Array(activationBytes(type, x.length));
        f(x, want, x.length);
        const got = new Uint8Array(want.length);
        quantizeActivations(type, x, 0, x.length, got, 0);
        sameBytes(got, want, `${GGMLType[type]} row ${r}`);
        if (!quantizeRow(type, x).every((b, i) => b === want[i])) differsFromRef++;
      }
      // The tie rows make the SIMD quantizers differ from the _ref ones (Q8_K has no SIMD version).
      if (type === GGMLType.Q8_K) expect(differsFromRef).toBe(0);
      else expect(differsFromRef).toBeGreaterThan(0);
    }
  });
});

/** A weight row: legacy formats quantized from random floats; K-quants random bytes with finite f16 scales. */
function randomWeightRow(type: GGMLType, n: number, next: () => number): Uint8Array {
  const { blockSize, typeSize } = traits(type);
  if (blockSize === 32) {
    return quantizeRow(
      type,
      Float32Array.from({ length: n }, () => Math.fround((next() - 0.5) * 0.2)),
    );
  }
  const bytes = Uint8Array.from({ length: (n / blockSize) * typeSize }, () => Math.floor(next() * 256));
  const halfAt: Partial<Record<GGMLType, number[]>> = {
    [GGMLType.Q2_K]: [80, 82],
    [GGMLType.Q3_K]: [108],
    [GGMLType.Q4_K]: [0, 2],
    [GGMLType.Q5_K]: [0, 2],
    [GGMLType.Q6_K]: [208],
  };
  for (let b = 0; b < n / blockSize; b++) {
    for (const o of halfAt[type] as number[]) {
      const h = f32ToF16(Math.fround((next() + 0.01) * 0.01));
      bytes[b * typeSize + o] = h & 0xff;
      bytes[b * typeSize + o + 1] = h >> 8;
    }
  }
  return bytes;
}
