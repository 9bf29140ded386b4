/**
 * The GELU table and tanhf of the reference backend against llama.cpp's own:
 * ggml_table_gelu_f16 as ggml_cpu_init fills it in libggml-cpu-haswell.so
 * (node-llama-cpp 3.21.1), and glibc's tanhf, read through koffi.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { geluLookup, geluTableF16, tanhF32 } from '../../../../../engine/backend/js/gelu.ts';
import { f16ToF32 } from '../../../../../engine/quant/fp16.ts';
import { repoRoot } from '../../../../helpers/fixtures.ts';
import { rng } from '../../../../helpers/rng.ts';

const LIB = join(repoRoot, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-haswell.so');
const canRun = process.platform === 'linux' && process.arch === 'x64' && existsSync(LIB);
if (!canRun) console.warn('[skip] gelu: no llama.cpp haswell build on this machine');

describe.skipIf(!canRun)('GELU and tanhf vs llama.cpp and glibc', () => {
  let table: Uint16Array;
  let tanhf: (x: number) => number;
  beforeAll(async () => {
    const koffi = (await import('koffi')).default;
    const lib = koffi.load(LIB);
    lib.func('void ggml_cpu_init(void)')();
    table = koffi.decode(lib.symbol('ggml_table_gelu_f16'), koffi.array('uint16_t', 65536)) as Uint16Array;
    tanhf = koffi.load('libm.so.6').func('float tanhf(float)');
  });

  it('geluTableF16 is ggml_table_gelu_f16 for every finite F16 input', () => {
    const ours = geluTableF16();
    const bad: string[] = [];
    for (let i = 0; i < 65536; i++) {
      if (!Number.isFinite(f16ToF32(i))) continue;
      if (ours[i] !== table[i]) bad.push(`${f16ToF32(i)}: ${ours[i]} vs ${table[i]}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('geluLookup passes large values through and zeroes very negative ones', () => {
    const t = geluTableF16();
    expect(geluLookup(12.5, t)).toBe(12.5);
    expect(geluLookup(-10, t)).toBe(0);
    expect(geluLookup(0, t)).toBe(0);
    expect(geluLookup(1, t)).toBeCloseTo(0.8412, 3);
  });

  it('tanhF32 is glibc tanhf', () => {
    const next = rng(5);
    let differ = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const x = Math.fround((next() - 0.5) * 2 ** Math.floor(next() * 12 - 6));
      if (!Object.is(tanhF32(x), tanhf(x))) differ++;
    }
    expect(differ).toBe(0);
    for (const x of [0, -0, 1e-20, -3e-9, 0.5493, 1, -1, 21.9, 22, -30, 100, Number.POSITIVE_INFINITY]) {
      expect(tanhF32(Math.fround(x))).toBe(tanhf(Math.fround(x)));
    }
  });
});
