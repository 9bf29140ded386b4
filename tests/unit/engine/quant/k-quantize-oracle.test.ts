/**
 * The K-quant reference quantizers against ggml's own quantize_row_q{2..6}_K_ref
 * (libggml-base.so of node-llama-cpp, called through koffi): identical bytes on
 * random rows of many scales and on the edge cases (zeros, constants, one spike,
 * huge and tiny magnitudes, values whose squares overflow float32).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { quantizeRow } from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { haveLlamaLib, LLAMA_LIB_DIR } from '../../../helpers/llama-libs.ts';
import { rng } from '../../../helpers/rng.ts';

const haveLibs = haveLlamaLib('libggml-base.so');

const K_TYPES: ReadonlyArray<readonly [GGMLType, string]> = [
  [GGMLType.Q2_K, 'q2_K'],
  [GGMLType.Q3_K, 'q3_K'],
  [GGMLType.Q4_K, 'q4_K'],
  [GGMLType.Q5_K, 'q5_K'],
  [GGMLType.Q6_K, 'q6_K'],
];

const fr = Math.fround;

/** Rows of n floats (n a multiple of 256): random at many scales, then the edge cases. */
function rows(next: () => number, n: number): Array<[string, Float32Array]> {
  const out: Array<[string, Float32Array]> = [];
  const row = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => fr(f(i)));
  for (let r = 0; r < 12; r++) {
    const scale = 10 ** (next() * 12 - 6);
    const offset = r % 3 === 0 ? scale * (next() - 0.3) : 0; // some rows all of one sign
    out.push([`random scale ${scale.toExponential(2)}`, row(() => (next() - 0.5) * scale + offset)]);
  }
  out.push(['gaussian-ish', row(() => (next() + next() + next() - 1.5) * 0.05)]);
  out.push(['each value its own scale', row(() => (next() - 0.5) * 10 ** (next() * 10 - 5))]);
  out.push(['zeros', row(() => 0)]);
  out.push(['negative zeros', row(() => -0)]);
  out.push(['constant 0.7', row(() => 0.7)]);
  out.push(['constant -3', row(() => -3)]);
  out.push(['one spike per 16', row((i) => (i % 16 === 3 ? 5 : 0))]);
  out.push(['one spike per block', row((i) => (i % 256 === 77 ? -1e4 : (next() - 0.5) * 1e-3))]);
  out.push(['zero sub-blocks', row((i) => (i % 64 < 32 ? 0 : next() - 0.5))]);
  out.push(['small integers', row(() => Math.floor(next() * 9) - 4)]);
  out.push(['tiny 1e-20', row(() => (next() - 0.5) * 1e-20)]);
  out.push(['below GROUP_MAX_EPS', row(() => (next() - 0.5) * 1e-16)]);
  out.push(['huge 1e18', row(() => (next() - 0.5) * 1e18)]);
  out.push(['squares overflow 1e25', row(() => (next() - 0.5) * 1e25)]);
  out.push(['f16-overflowing scales 1e6', row(() => (next() - 0.5) * 1e6)]);
  out.push(['huge range in a block', row((i) => (i % 2 ? 1e8 : 1e-8) * (next() - 0.5))]);
  out.push(['sin', row((i) => Math.sin(i * 0.37) * 2)]);
  return out;
}

describe.skipIf(!haveLibs)('K-quant reference quantizers vs ggml (libggml-base.so via FFI)', () => {
  // biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
  let base: { func(signature: string): (...args: any[]) => any };

  beforeAll(async () => {
    const koffi = (await import('koffi')).default;
    base = koffi.load(join(LLAMA_LIB_DIR, 'libggml-base.so'));
  });

  for (const [type, name] of K_TYPES) {
    it(`quantize_row_${name}_ref: identical bytes`, () => {
      const f = base.func(`void quantize_row_${name}_ref(const void *x, void *y, int64_t k)`);
      const next = rng(1000 + type);
      for (const [what, x] of rows(next, 1024)) {
        const got = quantizeRow(type, x);
        const want = new Uint8Array(got.length).fill(0xaa); // ggml writes every byte
        f(x, want, x.length);
        const i = got.findIndex((v, k) => v !== want[k]);
        if (i >= 0)
          expect.fail(`${name} ${what}: first differing byte ${i} (block ${Math.floor(i / (got.length / 4))})`);
      }
    });
  }
});
