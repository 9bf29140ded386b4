/**
 * The WebGPU matrix products and embedding rows on every weight format, against
 * the reference backend in its all-f32 mode (dequantize, then f32 dot products),
 * and with llama.cpp's activation rounding against the reference's default.
 * In the all-f32 mode both sum f32 products, in different orders: the error
 * allowed is relative to the largest output, 1e-5 for every format (the decoding
 * itself is exact: the same f32 operations on the same f16 scales; measured up to
 * ~6e-7). With llama.cpp's arithmetic, F32, F16, the 32-block formats and the
 * K-quants but Q4_K run llama.cpp's own order (matmulExactWGSL) and must equal the
 * reference bit for bit; BF16 and Q4_K run in GPU order, within 1e-5 (measured
 * <= 1.5e-7).
 * The matrix x vector kernel reduces with subgroupAdd where the device has
 * subgroups (SwiftShader does) and in shared memory otherwise: both paths are
 * checked (3 rows, all-f32 mode), each within the same 1e-5, as they differ only
 * in the order of f32 additions.
 * Shapes are tiny (SwiftShader runs ~0.3 GFLOP/s) but cover the edges: an
 * output count that is not a multiple of the 64-wide tile, a float row length
 * that is not a multiple of 16, matrix × vector (3 of its 1-4 rows) and tiled (9 rows)
 * kernels, and weights split across buffers. Most of the time is SwiftShader
 * compiling the tiled kernel (~2 s per format).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../../../engine/backend/js/index.ts';
import type { WebGPUBackend } from '../../../../../engine/backend/webgpu/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { rng } from '../../../../helpers/rng.ts';
import { gpuAvailable, randomValues, randomWeightBytes, relativeError, tensorInfo, writeJs } from './gpu.ts';

/** [name, type, row length]. */
const FORMATS: [string, GGMLType, number][] = [
  ['F32', GGMLType.F32, 172],
  ['F16', GGMLType.F16, 172],
  ['BF16', GGMLType.BF16, 48],
  ['Q4_0', GGMLType.Q4_0, 64],
  ['Q4_1', GGMLType.Q4_1, 64],
  ['Q5_0', GGMLType.Q5_0, 64],
  ['Q5_1', GGMLType.Q5_1, 64],
  ['Q8_0', GGMLType.Q8_0, 64],
  ['Q2_K', GGMLType.Q2_K, 256],
  ['Q3_K', GGMLType.Q3_K, 256],
  ['Q4_K', GGMLType.Q4_K, 256],
  ['Q5_K', GGMLType.Q5_K, 256],
  ['Q6_K', GGMLType.Q6_K, 256],
];
const N_OUT = 70;
const TOLERANCE = 1e-5;
/** Formats whose products the GPU sums in llama.cpp's x86 order (the reference's): equal to the bit. */
const EXACT_ORDER = new Set([
  GGMLType.F32,
  GGMLType.F16,
  GGMLType.Q4_0,
  GGMLType.Q4_1,
  GGMLType.Q5_0,
  GGMLType.Q5_1,
  GGMLType.Q8_0,
  GGMLType.Q2_K,
  GGMLType.Q3_K,
  GGMLType.Q5_K,
  GGMLType.Q6_K,
]);
/**
 * The GPU-order kernels weigh Q4_1/Q5_1's block minimum by the rounded activations'
 * own sum, Σ q·d, where llama.cpp takes Q8_1's f16 s = f16(d·Σq): up to ~4e-4 here.
 */
const GPU_ORDER_TOLERANCE = new Map([
  [GGMLType.Q4_1, 1e-3],
  [GGMLType.Q5_1, 1e-3],
]);
/** Formats whose tiled kernel also runs on split weights (each device compiles its own: ~2 s per format). */
const TILED_SPLIT_TOO = new Set([GGMLType.F16, GGMLType.Q5_0, GGMLType.Q6_K]);

describe.skipIf(!gpuAvailable)('webgpu matmul and getRows vs the reference', () => {
  let exact: WebGPUBackend;
  let shared: WebGPUBackend;
  let rounded: WebGPUBackend;
  let gpuOrder: WebGPUBackend;
  const jsExact = new JsBackend({ exactF32: true });
  const jsRounded = new JsBackend();
  const errors: string[] = [];

  beforeAll(async () => {
    const { createWebGPUBackend } = await import('../../../../../engine/backend/webgpu/index.ts');
    exact = await createWebGPUBackend({ exactF32: true });
    // The matrix x vector kernel's shared-memory reduction, where the device would take subgroups.
    shared = await createWebGPUBackend({ exactF32: true, subgroups: false });
    // llama.cpp's activation rounding, and buffers of at most 4 KiB: every matrix here is split.
    rounded = await createWebGPUBackend({ maxBindingBytes: 4096 });
    // The same rounding into the GPU-order kernels (matrix x vector, tiled) hardware adapters take.
    gpuOrder = await createWebGPUBackend({ productOrder: 'gpu' });
  });

  afterAll(async () => {
    console.info(
      `webgpu matmul (subgroups: ${exact?.subgroups}), max relative error per format ` +
        `(f32, f32 shared-memory reduction, rounded, rounded in GPU order): ${errors.join(', ')}`,
    );
    await exact?.dispose();
    await shared?.dispose();
    await rounded?.dispose();
    await gpuOrder?.dispose();
  });

  async function compare(
    be: WebGPUBackend,
    js: JsBackend,
    info: ReturnType<typeof tensorInfo>,
    bytes: Uint8Array,
    rowCounts: number[],
    tol: number,
    next: () => number,
  ): Promise<number> {
    const [nIn, nOut] = info.shape;
    const [wRef, w] = [await js.loadWeight(info, bytes), await be.loadWeight(info, bytes)];
    let worst = 0;
    for (const rows of rowCounts) {
      const x = randomValues(rows * nIn, next);
      const [xRef, outRef] = [js.createActivation(rows, nIn), js.createActivation(rows, nOut)];
      writeJs(xRef, x);
      js.matmul(wRef, xRef, outRef);
      const [xs, out] = [be.createActivation(rows, nIn), be.createActivation(rows, nOut)];
      be.writeActivation(xs, x);
      be.matmul(w, xs, out);
      const err = relativeError(await be.read(out), await js.read(outRef));
      expect(err, `${info.name} rows ${rows}`).toBeLessThanOrEqual(tol);
      worst = Math.max(worst, err);
    }
    // Embedding rows, from every part of a split table, in any order: exactly the reference's.
    const ids = [5, 0, N_OUT - 1, 33, 5];
    const [rowsRef, rows] = [js.createActivation(ids.length, nIn), be.createActivation(ids.length, nIn)];
    js.getRows(wRef, ids, rowsRef);
    be.getRows(w, ids, rows);
    expect(Array.from(await be.read(rows))).toEqual(Array.from(await js.read(rowsRef)));
    return worst;
  }

  it.each(FORMATS)('%s', async (name, type, nIn) => {
    const next = rng(nIn + type);
    const bytes = randomWeightBytes(type, nIn, N_OUT, next);
    const info = tensorInfo(`w.${name}`, type, [nIn, N_OUT]);
    // 3 rows: the matrix x vector kernel's several-row path (1 row is the same loop); 9: the tiled
    // kernel. Rounded, F32/F16 take tinyBLAS's order for both; 1 row is their vec_dot order.
    const f32 = await compare(exact, jsExact, info, bytes, [3, 9], TOLERANCE, next);
    const sharedMemory = await compare(shared, jsExact, info, bytes, [3], TOLERANCE, next);
    const rows = TILED_SPLIT_TOO.has(type) ? [3, 9] : [3];
    if (type === GGMLType.F32 || type === GGMLType.F16) rows.push(1);
    const r = await compare(rounded, jsRounded, info, bytes, rows, EXACT_ORDER.has(type) ? 0 : TOLERANCE, next);
    const g = await compare(gpuOrder, jsRounded, info, bytes, [3, 9], GPU_ORDER_TOLERANCE.get(type) ?? TOLERANCE, next);
    errors.push(`${name} ${[f32, sharedMemory, r, g].map((e) => e.toExponential(1)).join(' ')}`);
  });

  it('Q4_0 with a multiple of 8 rows: the repacked order llama.cpp takes for it', async () => {
    const next = rng(8);
    const bytes = randomWeightBytes(GGMLType.Q4_0, 64, 72, next);
    const info = tensorInfo('w.Q4_0x8', GGMLType.Q4_0, [64, 72]);
    await compare(rounded, jsRounded, info, bytes, [1, 3, 9], 0, next);
  });

  it("Q4_K with a multiple of 8 rows: llama.cpp's repacked gemv, and its gemm for whole groups of 4 rows", async () => {
    const next = rng(9);
    const bytes = randomWeightBytes(GGMLType.Q4_K, 256, 72, next);
    const info = tensorInfo('w.Q4_Kx8', GGMLType.Q4_K, [256, 72]);
    await compare(rounded, jsRounded, info, bytes, [1, 3, 9], 0, next);
  });

  it('reduces the matrix x vector sums with subgroups where the device has them', async () => {
    const { requestAdapter } = await import('../../../../../engine/backend/webgpu/device.ts');
    const adapter = await requestAdapter();
    expect(exact.subgroups).toBe(adapter.features.has('subgroups'));
    expect(shared.subgroups).toBe(false);
  });
});
