import { beforeAll, describe, expect, it } from 'vitest';
import type { WasmBackend as WasmBackendClass } from '../../../../../engine/backend/wasm/index.ts';
import { ChordError } from '../../../../../shared/errors.ts';
import { rng } from '../../../../helpers/rng.ts';
import { ensureWasmBuilt } from './build.ts';

let WasmBackend: typeof WasmBackendClass;

beforeAll(async () => {
  await ensureWasmBuilt();
  ({ WasmBackend } = await import('../../../../../engine/backend/wasm/index.ts'));
});

describe('WasmBackend threads and fallbacks', () => {
  it('falls back to one thread, saying why, when workers cannot start', async () => {
    const b = await WasmBackend.create({
      threads: 2,
      relaxedSimd: false,
      spawn: async () => {
        throw new Error('no workers here');
      },
    });
    expect(b.threads).toBe(1);
    expect(b.description).toBe('wasm (SIMD128, 1 thread); 1 thread: workers did not start (no workers here)');
    await b.dispose();
  });

  it('falls back to one thread when a worker only reports an error event', async () => {
    const listeners: Array<(e: unknown) => void> = [];
    const b = await WasmBackend.create({
      threads: 2,
      spawn: async () => ({
        postMessage: () =>
          setTimeout(() => {
            for (const f of listeners) f(new Error('blocked by CSP'));
          }),
        terminate: () => undefined,
        on: (event: string, f: (e: unknown) => void) => {
          if (event === 'error') listeners.push(f);
        },
      }),
    });
    expect(b.description).toContain('workers did not start (wasm worker failed: blocked by CSP)');
    await b.dispose();
  });

  it('runs with two threads and reports the memory it holds', async () => {
    const b = await WasmBackend.create({ threads: 2 });
    expect(b.threads).toBe(2);
    expect(b.description).toBe('wasm (SIMD128 + relaxed, fused madd, 2 threads)');
    const x = b.createActivation(3, 64);
    const before = b.memoryUsage().usedBytes;
    b.createActivation(100, 1000);
    expect(b.memoryUsage().usedBytes).toBeGreaterThanOrEqual(before + 400_000);
    expect(b.memoryUsage().memoryBytes).toBeGreaterThanOrEqual(b.memoryUsage().usedBytes);
    expect(x.rows).toBe(3);
    await b.dispose();
  });
});

describe('the relaxed-SIMD build of the kernels', () => {
  it('is chosen where the host validates it (Node 20 with its flag turned on), the SIMD128 one when forced', async () => {
    const { compileKernels } = await import('../../../../../engine/backend/wasm/kernels.ts');
    for (const shared of [false, true]) {
      expect((await compileKernels(shared)).relaxed).toBe(true);
      expect((await compileKernels(shared, false)).relaxed).toBe(false);
    }
    const forced = await WasmBackend.create({ threads: 1, relaxedSimd: false });
    expect(forced.description).toBe('wasm (SIMD128, 1 thread)');
    await forced.dispose();
  });

  it("gives the SIMD128 build's Q4_K products bit for bit, on two threads", async () => {
    const { GGMLType } = await import('../../../../../engine/quant/types.ts');
    const { quantizeRow, rowBytes } = await import('../../../../../engine/quant/index.ts');
    const n = 512;
    const nOut = 264; // enough for the worker to take a share
    const next = rng(7);
    const w = new Uint8Array(rowBytes(GGMLType.Q4_K, n) * nOut);
    const row = new Float32Array(n);
    for (let o = 0; o < nOut; o++) {
      for (let i = 0; i < n; i++) row[i] = next() - 0.5;
      w.set(quantizeRow(GGMLType.Q4_K, row), o * rowBytes(GGMLType.Q4_K, n));
    }
    const x = Float32Array.from({ length: 5 * n }, () => (next() - 0.5) * 4);
    const results: Float32Array[] = [];
    for (const relaxedSimd of [true, false]) {
      const b = await WasmBackend.create({ threads: 2, relaxedSimd });
      const info = { name: 'w', shape: [n, nOut], type: GGMLType.Q4_K, offset: 0, fileOffset: 0 };
      const weight = await b.loadWeight({ ...info, byteSize: w.length, nElements: n * nOut }, w);
      const xa = b.createActivation(5, n);
      (xa as unknown as { data: Float32Array }).data.set(x);
      const out = b.createActivation(5, nOut);
      b.matmul(weight, xa, out);
      results.push(Float32Array.from(await b.read(out)));
      await b.dispose();
    }
    expect(new Uint32Array(results[0].buffer)).toEqual(new Uint32Array(results[1].buffer));
  });
});

describe('models over the wasm32 limit', () => {
  it('are refused up front by size alone, with the sizes in the error', async () => {
    const { checkWeightsFit, WASM_WEIGHT_LIMIT } = await import('../../../../../engine/backend/wasm/heap.ts');
    expect(WASM_WEIGHT_LIMIT).toBe(3.5 * 2 ** 30);
    expect(() => checkWeightsFit(WASM_WEIGHT_LIMIT)).not.toThrow();
    expect(() => checkWeightsFit(1.9e9)).not.toThrow(); // a 3B model in Q4_0
    for (const bytes of [WASM_WEIGHT_LIMIT + 1, 4.1e9, 7.2e9]) {
      try {
        checkWeightsFit(bytes);
        expect.fail(`${bytes} bytes accepted`);
      } catch (e) {
        expect(e).toBeInstanceOf(ChordError);
        expect((e as ChordError).code).toBe('OUT_OF_MEMORY');
        expect((e as ChordError).message).toMatch(/more than the 3\.50 GiB the wasm backend can hold/);
        expect((e as ChordError).details).toEqual({ weightBytes: bytes, limit: WASM_WEIGHT_LIMIT });
      }
    }
  });

  it('create() refuses them before compiling or allocating anything', async () => {
    let spawned = 0;
    const create = WasmBackend.create({
      threads: 2,
      weightBytes: 5e9,
      spawn: async () => {
        spawned++;
        throw new Error('must not start');
      },
    });
    await expect(create).rejects.toMatchObject({ code: 'OUT_OF_MEMORY' });
    expect(spawned).toBe(0);
  });
});

describe('attention across the worker pool', () => {
  it('a prompt batch long enough to go to the workers (a head per chunk) gives the reference bits', async () => {
    const { JsBackend } = await import('../../../../../engine/backend/js/index.ts');
    const js = new JsBackend();
    for (const type of ['f16', 'f32'] as const) {
      const b = await WasmBackend.create({ threads: 2 });
      expect(b.threads).toBe(2);
      const [nHeads, nKvHeads, headDim, rows] = [8, 2, 64, 40]; // 40*41/2 positions x 8 heads x 64 > 2^18
      const spec = { nLayers: 1, nCtx: rows, nKvHeads, headDim, type };
      const next = rng(type === 'f16' ? 3 : 4);
      const fill = (a: { data: Float32Array }) => {
        for (let i = 0; i < a.data.length; i++) a.data[i] = (next() - 0.5) * 4;
      };
      const positions = Array.from({ length: rows }, (_, i) => i);
      const p = { nHeads, nKvHeads, headDim, scale: Math.fround(1 / 8) };
      const wk = b.createActivation(rows, nKvHeads * headDim) as unknown as { data: Float32Array };
      const wv = b.createActivation(rows, nKvHeads * headDim) as unknown as { data: Float32Array };
      const wq = b.createActivation(rows, nHeads * headDim) as unknown as { data: Float32Array };
      fill(wk);
      fill(wv);
      fill(wq);
      const copy = (a: { data: Float32Array }, cols: number) => ({ rows, cols, data: a.data.slice() });
      const jc = js.createKVCache(spec);
      js.kvStore(jc, 0, copy(wk, nKvHeads * headDim), copy(wv, nKvHeads * headDim), positions);
      const want = js.createActivation(rows, nHeads * headDim);
      js.attention(jc, 0, copy(wq, nHeads * headDim), positions, p, want);
      const wc = b.createKVCache(spec);
      const got = b.createActivation(rows, nHeads * headDim);
      b.kvStore(wc, 0, wk as never, wv as never, positions);
      b.attention(wc, 0, wq as never, positions, p, got);
      const g = new Uint32Array((await b.read(got)).buffer);
      const w = new Uint32Array((await js.read(want)).buffer);
      const i = g.findIndex((bits, j) => bits !== w[j]);
      if (i >= 0) expect.fail(`${type} cache, value ${i}: ${(await b.read(got))[i]} vs ${(await js.read(want))[i]}`);
      await b.dispose();
    }
  });
});
