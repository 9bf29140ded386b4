/**
 * The WebGPU row and element-wise kernels against the reference backend, on
 * random inputs. Errors are relative to the largest value compared:
 * - RMSNorm, LayerNorm, RoPE (norm, neox, with frequency and attention factors),
 *   SwiGLU: equal to the bit (the GPU runs llama.cpp's float operations: double
 *   sums in double-float, fused multiply-adds, ggml's vectorized expf and glibc's);
 * - attention as llama.cpp's CPU flash attention (online softmax, F16 running
 *   sums with an F16 cache; its tiled kernel for 64+ query rows over an F16
 *   cache): equal to the bit;
 * - GELU, GeGLU: equal to the bit (both read ggml's F16 table, the GPU a copy of
 *   the reference's);
 * - soft-capping (glibc's tanhf), attention with soft-capping and a sliding window:
 *   equal to the bit; bias, scale, copyCols, add: 1e-6;
 * - attention against the reference's softmax-then-V form (which the GPU does not
 *   run): 1e-5 with an F32 cache, 2e-3 with an F16 one (the running sums are
 *   rounded to F16 by one form and not the other).
 * Split-K (a few queries over more than 512 positions, cut into parts merged
 * afterwards, f32 running sums) is held to the same tolerances against
 * softmax-then-V (measured 3.4e-7 F32, 3.2e-4 F16 cache).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activation, Backend } from '../../../../../engine/backend/backend.ts';
import { JsBackend } from '../../../../../engine/backend/js/index.ts';
import type { WebGPUBackend } from '../../../../../engine/backend/webgpu/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { rng } from '../../../../helpers/rng.ts';
import { gpuAvailable, randomValues, relativeError, tensorInfo, writeJs } from './gpu.ts';

describe.skipIf(!gpuAvailable)('webgpu ops vs the reference', () => {
  let gpu: WebGPUBackend;
  const js = new JsBackend({ exactF32: true });
  const next = rng(42);

  beforeAll(async () => {
    const { createWebGPUBackend } = await import('../../../../../engine/backend/webgpu/index.ts');
    gpu = await createWebGPUBackend({ exactF32: true });
  });
  afterAll(async () => {
    await gpu?.dispose();
  });

  /** The same activation on both backends. */
  function both(rows: number, cols: number, values = randomValues(rows * cols, next, 2)): [Activation, Activation] {
    const a = js.createActivation(rows, cols);
    writeJs(a, values);
    const b = gpu.createActivation(rows, cols);
    gpu.writeActivation(b, values);
    return [a, b];
  }

  async function expectClose(a: Activation, b: Activation, tol: number, what: string): Promise<number> {
    const err = relativeError(await gpu.read(b), await js.read(a));
    expect(err, what).toBeLessThanOrEqual(tol);
    return err;
  }

  it('rmsNorm', async () => {
    const g = randomValues(96, next);
    const info = tensorInfo('norm', GGMLType.F32, [96]);
    const bytes = new Uint8Array(g.buffer);
    const [wj, wg] = [await js.loadWeight(info, bytes), await gpu.loadWeight(info, bytes)];
    const [xj, xg] = both(5, 96);
    const [oj, og] = both(5, 96);
    js.rmsNorm(xj, wj, 1e-5, oj);
    gpu.rmsNorm(xg, wg, 1e-5, og);
    await expectClose(oj, og, 0, 'rmsNorm');
  });

  it('layerNorm over a row that is not a multiple of 8 (ggml_vec_cvar_f32 tail): to the bit', async () => {
    const info = tensorInfo('norm', GGMLType.F32, [100]);
    const [g, b] = [randomValues(100, next), randomValues(100, next)];
    const load = (be: Backend, v: Float32Array) => be.loadWeight(info, new Uint8Array(v.buffer));
    const [gj, gg, bj, bg] = [await load(js, g), await load(gpu, g), await load(js, b), await load(gpu, b)];
    const [xj, xg] = both(3, 100);
    const [oj, og] = both(3, 100);
    js.layerNorm(xj, gj, bj, 1e-5, oj);
    gpu.layerNorm(xg, gg, bg, 1e-5, og);
    await expectClose(oj, og, 0, 'layerNorm 100');
  });

  it('layerNorm, addBias', async () => {
    const info = tensorInfo('norm', GGMLType.F32, [96]);
    const [g, b] = [randomValues(96, next), randomValues(96, next)];
    const load = (be: Backend, v: Float32Array) => be.loadWeight(info, new Uint8Array(v.buffer));
    const [gj, gg, bj, bg] = [await load(js, g), await load(gpu, g), await load(js, b), await load(gpu, b)];
    const [xj, xg] = both(
      5,
      96,
      randomValues(5 * 96, next, 3).map((v) => v + 1),
    );
    const [oj, og] = both(5, 96);
    js.layerNorm(xj, gj, bj, 1e-5, oj);
    gpu.layerNorm(xg, gg, bg, 1e-5, og);
    await expectClose(oj, og, 0, 'layerNorm');
    js.addBias(oj, bj);
    gpu.addBias(og, bg);
    await expectClose(oj, og, 1e-6, 'addBias');
  });

  it('gelu, geglu, scale, softcap, copyCols', async () => {
    const values = randomValues(3 * 100, next, 6);
    values.set([-10.5, -10, -3, 0, 9.99, 10, 12]);
    const [xj, xg] = both(3, 100, values);
    js.gelu(xj);
    gpu.gelu(xg);
    console.info(`gelu: ${relativeError(await gpu.read(xg), await js.read(xj)).toExponential(2)}`);
    await expectClose(xj, xg, 0, 'gelu');
    const [gj, gg] = both(3, 100, values);
    const [uj, ug] = both(3, 100);
    js.geglu(gj, uj);
    gpu.geglu(gg, ug);
    await expectClose(gj, gg, 0, 'geglu');
    js.scale(gj, 0.37);
    gpu.scale(gg, 0.37);
    await expectClose(gj, gg, 1e-5, 'scale');
    const [cj, cg] = both(3, 100, randomValues(300, next, 60));
    js.softcap(cj, 30);
    gpu.softcap(cg, 30);
    await expectClose(cj, cg, 0, 'softcap');
    const [pj, pg] = both(3, 40);
    js.copyCols(cj, 50, pj);
    gpu.copyCols(cg, 50, pg);
    await expectClose(pj, pg, 1e-6, 'copyCols');
  });

  it.each(['norm', 'neox'] as const)('rope (%s), partial rotation, large positions', async (mode) => {
    const p = { nHeads: 3, headDim: 16, nDims: 12, freqBase: 10000, freqScale: 1, mode };
    const positions = [0, 1, 7, 1000, 4095];
    const [xj, xg] = both(positions.length, 48);
    js.rope(xj, positions, p);
    gpu.rope(xg, positions, p);
    await expectClose(xj, xg, 0, `rope ${mode}`);
  });

  it('swiglu, add, copyRow', async () => {
    const [gj, gg] = both(3, 172);
    const [uj, ug] = both(3, 172);
    js.swiglu(gj, uj);
    gpu.swiglu(gg, ug);
    await expectClose(gj, gg, 0, 'swiglu');
    js.add(gj, uj);
    gpu.add(gg, ug);
    await expectClose(gj, gg, 1e-6, 'add');
    const row = gpu.createActivation(1, 172);
    gpu.copyRow(gg, 2, row);
    expect(await gpu.read(row)).toEqual((await gpu.read(gg)).subarray(2 * 172, 3 * 172));
  });

  it('rope with frequency factors and an attention factor (Phi-3)', async () => {
    const info = tensorInfo('rope_factors', GGMLType.F32, [6]);
    const factors = new Uint8Array(Float32Array.from([1, 1.5, 2, 4, 8, 16]).buffer);
    const [fj, fg] = [await js.loadWeight(info, factors), await gpu.loadWeight(info, factors)];
    const p = { nHeads: 3, headDim: 16, nDims: 12, freqBase: 10000, freqScale: 0.5, mode: 'neox' as const };
    const positions = [3, 900];
    const [xj, xg] = both(positions.length, 48);
    js.rope(xj, positions, { ...p, freqFactors: fj, attnFactor: 1.2 });
    gpu.rope(xg, positions, { ...p, freqFactors: fg, attnFactor: 1.2 });
    await expectClose(xj, xg, 0, 'rope factors');
  });

  it('attention with soft-capping and a sliding window (Gemma 2)', async () => {
    const spec = { nLayers: 1, nCtx: 80, nKvHeads: 1, headDim: 32, type: 'f32' as const };
    const p = { nHeads: 2, nKvHeads: 1, headDim: 32, scale: 0.5, softcap: 5, window: 20 };
    const [cj, cg] = [js.createKVCache(spec), gpu.createKVCache(spec)];
    const positions = Array.from({ length: 75 }, (_, i) => i);
    const [kj, kg] = both(75, 32, randomValues(75 * 32, next, 3));
    const [vj, vg] = both(75, 32);
    const [qj, qg] = both(75, 64, randomValues(75 * 64, next, 3));
    const [oj, og] = both(75, 64);
    js.kvStore(cj, 0, kj, vj, positions);
    gpu.kvStore(cg, 0, kg, vg, positions);
    js.attention(cj, 0, qj, positions, p, oj);
    gpu.attention(cg, 0, qg, positions, p, og);
    await expectClose(oj, og, 0, 'attention softcap window');
  });

  it.each(['f32', 'f16'] as const)(
    'attention with a sliding window over a %s cache, 75 rows: to the bit',
    async (type) => {
      // F16: llama.cpp's tiled kernel (64+ rows), whose tiles start at a multiple of 64 before the window
      const spec = { nLayers: 1, nCtx: 80, nKvHeads: 1, headDim: 32, type };
      const p = { nHeads: 2, nKvHeads: 1, headDim: 32, scale: 0.5, window: 20 };
      const [cj, cg] = [js.createKVCache(spec), gpu.createKVCache(spec)];
      const positions = Array.from({ length: 75 }, (_, i) => i);
      const [kj, kg] = both(75, 32, randomValues(75 * 32, next, 3));
      const [vj, vg] = both(75, 32);
      const [qj, qg] = both(75, 64, randomValues(75 * 64, next, 3));
      const [oj, og] = both(75, 64);
      js.kvStore(cj, 0, kj, vj, positions);
      gpu.kvStore(cg, 0, kg, vg, positions);
      js.attention(cj, 0, qj, positions, p, oj);
      gpu.attention(cg, 0, qg, positions, p, og);
      await expectClose(oj, og, 0, `attention window ${type}`);
    },
  );

  describe.each([
    ['f32', 1e-5],
    ['f16', 2e-3],
  ] as const)('attention over a %s cache', (type, tol) => {
    it.each([true, false])('flash attention in the reference: %s', async (flash) => {
      const ref: Backend = new JsBackend({ exactF32: true, flashAttention: flash });
      const spec = { nLayers: 2, nCtx: 80, nKvHeads: 2, headDim: 16, type };
      const p = { nHeads: 4, nKvHeads: 2, headDim: 16, scale: 0.25 };
      const cj = ref.createKVCache(spec);
      const cg = gpu.createKVCache(spec);
      // A 70-token prompt as one batch, then one more token, in layer 1.
      for (const positions of [Array.from({ length: 70 }, (_, i) => i), [70]]) {
        const n = positions.length;
        const [kj, kg] = both(n, 32);
        const [vj, vg] = both(n, 32);
        const [qj, qg] = both(n, 64);
        const [oj, og] = both(n, 64);
        ref.kvStore(cj, 1, kj, vj, positions);
        gpu.kvStore(cg, 1, kg, vg, positions);
        ref.attention(cj, 1, qj, positions, p, oj);
        gpu.attention(cg, 1, qg, positions, p, og);
        const err = relativeError(await gpu.read(og), await ref.read(oj));
        console.info(`attention ${type} cache, ${n} rows, flash ${flash}: ${err.toExponential(2)}`);
        // llama.cpp's flash attention, the tiled kernel for the 70 rows with an F16 cache, is mirrored
        expect(err).toBeLessThanOrEqual(flash ? 0 : tol);
      }
    });
  });

  it.each([
    ['f32', 1e-5],
    ['f16', 2e-3],
  ] as const)('split-K attention over a long %s cache (1100 positions, decode rows)', async (type, tol) => {
    const spec = { nLayers: 1, nCtx: 1100, nKvHeads: 2, headDim: 16, type };
    const p = { nHeads: 4, nKvHeads: 2, headDim: 16, scale: 0.25 };
    // Split-K keeps its sums in f32, unlike ggml's one F16 running sum, which drifts over
    // 1100 positions (8e-3 here): compared with the reference's softmax-then-V form.
    const ref = new JsBackend({ exactF32: true, flashAttention: false });
    const [cj, cg] = [ref.createKVCache(spec), gpu.createKVCache(spec)];
    const all = Array.from({ length: 1100 }, (_, i) => i);
    const [kj, kg] = both(1100, 32);
    const [vj, vg] = both(1100, 32);
    ref.kvStore(cj, 0, kj, vj, all);
    gpu.kvStore(cg, 0, kg, vg, all);
    // Two queries at different depths: 5 and 4 parts of 220 positions, the last one partly empty.
    const positions = [1099, 900];
    const [qj, qg] = both(2, 64);
    const [oj, og] = both(2, 64);
    ref.attention(cj, 0, qj, positions, p, oj);
    gpu.attention(cg, 0, qg, positions, p, og);
    const err = await expectClose(oj, og, tol, `split-K ${type}`);
    console.info(`split-K attention ${type} cache: ${err.toExponential(2)}`);
  });

  it('turns a position past the cache into CONTEXT_OVERFLOW', () => {
    const c = gpu.createKVCache({ nLayers: 1, nCtx: 4, nKvHeads: 1, headDim: 16, type: 'f32' });
    const k = gpu.createActivation(1, 16);
    expect(() => gpu.kvStore(c, 0, k, k, [4])).toThrow(expect.objectContaining({ code: 'CONTEXT_OVERFLOW' }));
  });
});
