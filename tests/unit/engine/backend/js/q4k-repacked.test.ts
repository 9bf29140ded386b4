import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  isQ4_KRepacked,
  usesRepackedGemm,
  vecDotQ4_KRepacked,
  vecDotQ4_KRepackedGemm,
} from '../../../../../engine/backend/js/q4k-repacked.ts';
import { activationBytes, quantizeActivations, quantizeRow } from '../../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { canRunHaswellLib, HASWELL_LIB, LLAMA_LIB_DIR } from '../../../../helpers/llama-libs.ts';
import { rng } from '../../../../helpers/rng.ts';

const canRun = canRunHaswellLib('repacked Q4_K');

const Q4_K_SIZE = 144;
const Q4_Kx8_SIZE = 1152; // d[8], dmin[8] (f16), scales[96], qs[1024]
const Q8_Kx4_SIZE = 1168; // d[4] (f32), qs[1024], bsums[64] (i16)

/** make_block_q4_Kx8 (repack.cpp, interleave 8): super-block b of 8 plain Q4_K rows as one block_q4_Kx8. */
function repackQ4_Kx8(rows: Uint8Array[], b: number): Uint8Array {
  const blocks = rows.map((r) => r.subarray(b * Q4_K_SIZE, (b + 1) * Q4_K_SIZE));
  const out = new Uint8Array(Q4_Kx8_SIZE);
  blocks.forEach((x, i) => {
    out.set(x.subarray(0, 2), 2 * i); // d
    out.set(x.subarray(2, 4), 16 + 2 * i); // dmin
  });
  const scales = out.subarray(32, 128);
  const qs = out.subarray(128);
  for (let i = 0; i < 128; i++) qs.set(blocks[i % 8].subarray(16 + (i >> 3) * 8, 16 + (i >> 3) * 8 + 8), i * 8);
  // Each 12 bytes: the 6-bit scales and mins of one sub-block of the 8 rows.
  for (let half = 0; half < 2; half++) {
    for (let i = 0; i < 4; i++) {
      const s: number[] = [];
      const m: number[] = [];
      for (const x of blocks) {
        const sc = x.subarray(4, 16);
        s.push(half === 0 ? sc[i] & 63 : ((sc[i] & 192) >> 2) | (sc[i + 8] & 15));
        m.push(half === 0 ? sc[i + 4] & 63 : ((sc[i + 4] & 192) >> 2) | ((sc[i + 8] & 240) >> 4));
      }
      const o = half * 48 + i * 12;
      for (let k = 0; k < 4; k++) {
        scales[o + k] = (s[k] & 63) + ((s[k + 4] & 48) << 2);
        scales[o + 4 + k] = (m[k] & 63) + ((m[k + 4] & 48) << 2);
        scales[o + 8 + k] = (s[k + 4] & 15) + ((m[k + 4] & 15) << 4);
      }
    }
  }
  return out;
}

function randomRow(next: () => number, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.fround((next() - 0.5) * scale));
}

// biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
type CFunc = (...args: any[]) => any;

describe.skipIf(!canRun)('repacked Q4_K products vs llama.cpp (AVX2)', () => {
  let gemv: CFunc;
  let gemm: CFunc;
  let quantizeMat: CFunc;
  beforeAll(async () => {
    const koffi = (await import('koffi')).default;
    koffi.load(join(LLAMA_LIB_DIR, 'libggml-base.so'));
    const lib = koffi.load(HASWELL_LIB);
    lib.func('void ggml_cpu_init(void)')();
    const kernel = (name: string) =>
      lib.func(`void ${name}(int n, _Out_ float *s, size_t bs, const uint8_t *vx, const uint8_t *vy, int nr, int nc)`);
    gemv = kernel('ggml_gemv_q4_K_8x8_q8_K');
    gemm = kernel('ggml_gemm_q4_K_8x8_q8_K');
    // ggml_quantize_mat_t<8, GGML_TYPE_Q8_K>(const float *x, void *y, int64_t nrows, int64_t n)
    quantizeMat = lib.func('_Z19ggml_quantize_mat_tILl8EL9ggml_type15EEvPKfPvll', 'void', [
      'float *',
      koffi.out('uint8_t *'),
      'int64_t',
      'int64_t',
    ]);
  });

  it('gemv (one row) and gemm (groups of 4 rows): bit-identical per output', () => {
    const next = rng(4096);
    let gemmDiffersFromGemv = 0;
    for (let t = 0; t < 40; t++) {
      const nb = 1 + (t % 3);
      const n = 256 * nb;
      const rows = Array.from({ length: 8 }, () => quantizeRow(GGMLType.Q4_K, randomRow(next, n, 0.2)));
      const packed = new Uint8Array(nb * Q4_Kx8_SIZE);
      for (let b = 0; b < nb; b++) packed.set(repackQ4_Kx8(rows, b), b * Q4_Kx8_SIZE);
      const x = randomRow(next, 4 * n, t % 2 ? 8 : 300);
      const aBytes = activationBytes(GGMLType.Q8_K, n);
      const act = new Uint8Array(4 * aBytes);
      for (let r = 0; r < 4; r++) quantizeActivations(GGMLType.Q8_K, x, r * n, n, act, r * aBytes);
      const mat = new Uint8Array(nb * Q8_Kx4_SIZE);
      quantizeMat(x, mat, 4, n);
      const fromGemm = new Float32Array(4 * 8);
      gemm(n, fromGemm, 8, packed, mat, 4, 8);
      for (let r = 0; r < 4; r++) {
        const fromGemv = new Float32Array(8);
        gemv(n, fromGemv, 8, packed, act.subarray(r * aBytes), 1, 8);
        for (let o = 0; o < 8; o++) {
          const v = vecDotQ4_KRepacked(GGMLType.Q4_K, n, rows[o], 0, act, r * aBytes);
          const m = vecDotQ4_KRepackedGemm(GGMLType.Q4_K, n, rows[o], 0, act, r * aBytes);
          if (!Object.is(v, fromGemv[o]))
            expect.fail(`gemv n=${n} row ${r} out ${o}: ours ${v}, llama.cpp ${fromGemv[o]}`);
          if (!Object.is(m, fromGemm[r * 8 + o]))
            expect.fail(`gemm n=${n} row ${r} out ${o}: ours ${m}, llama.cpp ${fromGemm[r * 8 + o]}`);
          if (fromGemv[o] !== fromGemm[r * 8 + o]) gemmDiffersFromGemv++;
        }
      }
    }
    // The two orders must really differ on these inputs, or the test could not tell them apart.
    expect(gemmDiffersFromGemv).toBeGreaterThan(50);
  });

  it('which rows and weights take which kernel', () => {
    expect(isQ4_KRepacked(GGMLType.Q4_K, 128)).toBe(true);
    expect(isQ4_KRepacked(GGMLType.Q4_K, 124)).toBe(false);
    expect(isQ4_KRepacked(GGMLType.Q5_K, 128)).toBe(false);
    // 7 rows: 0-3 through the gemm, 4-6 through the gemv; under 4 rows, all through the gemv.
    expect([0, 1, 2, 3, 4, 5, 6].map((r) => usesRepackedGemm(r, 7))).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
    expect([0, 1, 2].map((r) => usesRepackedGemm(r, 3))).toEqual([false, false, false]);
  });
});
