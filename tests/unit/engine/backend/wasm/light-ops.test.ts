import { beforeAll, describe, expect, it } from 'vitest';
import type { Activation, Backend, RopeParams, Weight } from '../../../../../engine/backend/backend.ts';
import { JsBackend } from '../../../../../engine/backend/js/index.ts';
import type { WasmBackend as WasmBackendClass } from '../../../../../engine/backend/wasm/index.ts';
import type { GGUFTensorInfo } from '../../../../../engine/gguf/types.ts';
import { quantizeRow } from '../../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { fmaF32 } from '../../../../../engine/quant/x86.ts';
import { rng } from '../../../../helpers/rng.ts';
import { ensureWasmBuilt } from './build.ts';

/**
 * The wasm backend's light ops (assembly/norms.ts, rope.ts, elementwise.ts)
 * against the reference backend on the same random inputs: the same f32 bits,
 * at shapes with and without tails past the kernels' vectors of 4 and 8.
 */
let WasmBackend: typeof WasmBackendClass;
let wasm: WasmBackendClass;
const js = new JsBackend();
let fmaLanes: (a: number, b: number, c: number, out: number, n: number) => void;
let memory: WebAssembly.Memory;

beforeAll(async () => {
  await ensureWasmBuilt();
  ({ WasmBackend } = await import('../../../../../engine/backend/wasm/index.ts'));
  wasm = await WasmBackend.create({ threads: 1 });
  const { compileKernels, createMemory, instantiateKernels } = await import(
    '../../../../../engine/backend/wasm/kernels.ts'
  );
  memory = createMemory(false);
  const k = instantiateKernels((await compileKernels(false)).module, memory);
  ({ fmaLanes } = k as unknown as { fmaLanes: typeof fmaLanes });
});

const SHAPES: ReadonlyArray<readonly [number, number]> = [
  [1, 2048],
  [3, 37],
  [2, 8],
  [4, 130],
  [1, 5],
  [2, 5632],
];

/** Activation-like values: mostly around ±2, some large, a few exact zeros and tiny ones. */
function randomValues(n: number, next: () => number, spread = 2): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = next();
    x[i] = u < 0.01 ? 0 : u < 0.02 ? (next() - 0.5) * 1e-39 : (next() + next() - 1) * (u < 0.07 ? 30 * spread : spread);
  }
  return x;
}

async function weight(b: Backend, values: Float32Array, name = 'w'): Promise<Weight> {
  const bytes = new Uint8Array(values.slice().buffer);
  const info: GGUFTensorInfo = {
    name,
    shape: [values.length],
    type: GGMLType.F32,
    offset: 0,
    fileOffset: 0,
    byteSize: bytes.length,
    nElements: values.length,
  };
  return b.loadWeight(info, bytes);
}

function activation(b: Backend, rows: number, cols: number, values: Float32Array): Activation {
  const a = b.createActivation(rows, cols);
  (a as Activation & { data: Float32Array }).data.set(values);
  return a;
}

/** Runs `op` on both backends over copies of the same inputs and expects the same bits in every output. */
async function same(
  rows: number,
  cols: number,
  inputs: Float32Array[],
  op: (b: Backend, acts: Activation[]) => Promise<void> | void,
): Promise<void> {
  const results: Uint32Array[][] = [];
  for (const b of [js, wasm] as Backend[]) {
    const acts = inputs.map((v) => activation(b, rows, cols, v));
    await op(b, acts);
    results.push(await Promise.all(acts.map(async (a) => new Uint32Array((await b.read(a)).buffer))));
  }
  for (const [i, bits] of results[1].entries()) expect(bits, `output ${i}`).toEqual(results[0][i]);
}

describe('fmaf on four lanes (vmath.ts V4.fma)', () => {
  it('rounds once where the f64 sum lands on an f32 midpoint, and in the subnormal and overflow ranges', () => {
    const next = rng(7);
    const n = 4096;
    const [a, b, c] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    for (let i = 0; i < n; i++) {
      const kind = Math.floor((4 * i) / n); // a kind per quarter: lanes of a kind stay together
      if (kind === 0) {
        // (1 + i/2^12)(1 + j/2^12) has bits down to 2^-24: an f32 midpoint, which a c far below
        // the f64 ulp pushes off only in the exact sum
        a[i] = 1 + Math.floor(next() * 4096) / 4096;
        b[i] = (1 + Math.floor(next() * 4096) / 4096) * 2 ** Math.floor(next() * 20 - 10);
        c[i] = (next() < 0.5 ? -1 : 1) * 2 ** -80 * (1 + next());
      } else if (kind === 1) {
        a[i] = (next() - 0.5) * 2 ** -70; // products and sums in f32's subnormal range
        b[i] = (next() - 0.5) * 2 ** -60;
        c[i] = (next() - 0.5) * 2 ** -127;
      } else if (kind === 2) {
        a[i] = (next() + 1) * 2 ** 100; // past f32's largest value
        b[i] = (next() < 0.5 ? -1 : 1) * (next() + 1) * 2 ** 27;
        c[i] = -a[i] * 2 ** -100;
      } else {
        a[i] = (next() - 0.5) * 100;
        b[i] = (next() - 0.5) * 100;
        c[i] = (next() - 0.5) * 1000;
      }
    }
    const base = 1 << 20;
    const f32 = new Float32Array(memory.buffer, base, 4 * n);
    f32.set(a);
    f32.set(b, n);
    f32.set(c, 2 * n);
    fmaLanes(base, base + 4 * n, base + 8 * n, base + 12 * n, n);
    const want = new Float32Array(n).map((_, i) => fmaF32(a[i], b[i], c[i]));
    const plain = new Float32Array(n).map((_, i) => a[i] * b[i] + c[i]);
    expect(new Uint32Array(f32.buffer, base + 12 * n, n)).toEqual(new Uint32Array(want.buffer));
    // the cases do reach the single rounding: a product plus a sum in f64 differs from it
    expect(plain.filter((v, i) => v !== want[i]).length).toBeGreaterThan(100);
  });
});

describe('wasm light ops, bit for bit the reference', () => {
  it('RMSNorm (sum in double, eps added in double)', async () => {
    const next = rng(1);
    for (const [rows, cols] of SHAPES) {
      for (const eps of [1e-5, 1e-6]) {
        const g = randomValues(cols, next);
        await same(rows, cols, [randomValues(rows * cols, next), new Float32Array(rows * cols)], async (b, [x, out]) =>
          b.rmsNorm(x, await weight(b, g), eps, out),
        );
      }
    }
  });

  it('LayerNorm (ggml_vec_cvar_f32 order)', async () => {
    const next = rng(2);
    for (const [rows, cols] of SHAPES) {
      const g = randomValues(cols, next);
      const bias = randomValues(cols, next);
      const x = randomValues(rows * cols, next).map((v) => v + 3); // a mean away from 0
      await same(rows, cols, [x, new Float32Array(rows * cols)], async (b, [xa, out]) =>
        b.layerNorm(xa, await weight(b, g), await weight(b, bias, 'b'), 1e-5, out),
      );
    }
  });

  it('SwiGLU, with exps past f32 range and rows not a multiple of 8', async () => {
    const next = rng(3);
    for (const [rows, cols] of SHAPES) {
      const gate = randomValues(rows * cols, next, 4);
      for (let i = 0; i < gate.length; i += 13) gate[i] = (next() - 0.5) * 300; // |x| > 87: the exp's edge paths
      await same(rows, cols, [gate, randomValues(rows * cols, next)], (b, [g, u]) => b.swiglu(g, u));
    }
  });

  it('GELU and GeGLU (the F16 table)', async () => {
    const next = rng(4);
    for (const [rows, cols] of SHAPES) {
      const x = randomValues(rows * cols, next, 6);
      await same(rows, cols, [x], (b, [a]) => b.gelu(a));
      await same(rows, cols, [x, randomValues(rows * cols, next)], (b, [g, u]) => b.geglu(g, u));
    }
  });

  it('add, addBias and scale', async () => {
    const next = rng(5);
    for (const [rows, cols] of SHAPES) {
      const bias = randomValues(cols, next);
      await same(rows, cols, [randomValues(rows * cols, next), randomValues(rows * cols, next)], (b, [x, y]) =>
        b.add(x, y),
      );
      await same(rows, cols, [randomValues(rows * cols, next)], async (b, [x]) => b.addBias(x, await weight(b, bias)));
      await same(rows, cols, [randomValues(rows * cols, next)], (b, [x]) => b.scale(x, 0.1234567));
    }
  });

  it('RoPE: norm and neox pairs, partial rotation, factors, scaling, far positions', async () => {
    const next = rng(6);
    const cases: Array<Omit<RopeParams, 'freqFactors'> & { factors?: boolean; rows: number }> = [
      { rows: 1, nHeads: 32, headDim: 64, nDims: 64, freqBase: 10000, freqScale: 1, mode: 'norm' },
      { rows: 3, nHeads: 4, headDim: 64, nDims: 64, freqBase: 10000, freqScale: 1, mode: 'neox' },
      { rows: 2, nHeads: 3, headDim: 80, nDims: 36, freqBase: 1e6, freqScale: 0.25, mode: 'neox', attnFactor: 1.2 },
      { rows: 2, nHeads: 2, headDim: 48, nDims: 36, freqBase: 10000, freqScale: 1, mode: 'norm', factors: true },
      { rows: 5, nHeads: 2, headDim: 128, nDims: 128, freqBase: 500000, freqScale: 1, mode: 'neox', factors: true },
    ];
    for (const { rows, factors, ...p } of cases) {
      const cols = p.nHeads * p.headDim;
      const positions = Array.from({ length: rows }, (_, r) => (r === 0 ? 0 : Math.floor(next() * 5000)));
      const f = factors ? Float32Array.from({ length: p.nDims / 2 }, () => 1 + next() * 40) : undefined;
      await same(rows, cols, [randomValues(rows * cols, next)], async (b, [x]) => {
        const params = { ...p, freqFactors: f ? await weight(b, f, 'rope_freqs') : undefined };
        b.rope(x, positions, params);
        // the same table again (q then k): cached on the wasm side
        b.rope(x, positions, { ...params, nHeads: 1 });
      });
    }
  });
});

describe('activations prepared in chunks that the threads share', () => {
  it('give the reference products: one row cut into ranges of blocks, rows split among chunks, two threads', async () => {
    const next = rng(9);
    const two = await WasmBackend.create({ threads: 2 });
    try {
      for (const type of [GGMLType.Q4_0, GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.F16]) {
        for (const [rows, n] of [
          [1, 2048],
          [1, 5632],
          [3, 1024],
          [40, 512],
        ]) {
          const nOut = 16;
          const w = quantizeRow(
            type,
            Float32Array.from({ length: n * nOut }, () => next() - 0.5),
          );
          const x = randomValues(rows * n, next);
          const results: Uint32Array[] = [];
          for (const b of [js, two] as Backend[]) {
            const W = await b.loadWeight(
              { name: 'w', shape: [n, nOut], type, offset: 0, fileOffset: 0, byteSize: w.length, nElements: n * nOut },
              w,
            );
            const out = b.createActivation(rows, nOut);
            b.matmul(W, activation(b, rows, n, x), out);
            results.push(new Uint32Array((await b.read(out)).buffer));
          }
          expect(results[1], `${GGMLType[type]} rows=${rows} n=${n}`).toEqual(results[0]);
        }
      }
    } finally {
      await two.dispose();
    }
  });
});

describe('one batch of dependent ops (barriers, prepared rows)', () => {
  it('gives the reference bits on two threads: reads after writes, writes after reads, rows prepared again', async () => {
    const next = rng(8);
    const two = await WasmBackend.create({ threads: 2 });
    const n = 64;
    const ff = 128;
    const rows = 3;
    const quantized = (nIn: number, nOut: number) =>
      quantizeRow(
        GGMLType.Q4_0,
        Float32Array.from({ length: nIn * nOut }, () => next() - 0.5),
      );
    const [w1, w2, w3] = [quantized(n, ff), quantized(n, ff), quantized(ff, n)];
    const g = randomValues(n, next);
    const x0 = randomValues(rows * n, next);
    const results: Uint32Array[][] = [];
    for (const b of [js, two] as Backend[]) {
      const load = (name: string, bytes: Uint8Array, nIn: number, nOut: number) =>
        b.loadWeight(
          {
            name,
            shape: [nIn, nOut],
            type: GGMLType.Q4_0,
            offset: 0,
            fileOffset: 0,
            byteSize: bytes.length,
            nElements: nIn * nOut,
          },
          bytes,
        );
      const [W1, W2, W3] = [await load('w1', w1, n, ff), await load('w2', w2, n, ff), await load('w3', w3, ff, n)];
      const G = await weight(b, g);
      const x = activation(b, rows, n, x0);
      const [xb, o] = [b.createActivation(rows, n), b.createActivation(rows, n)];
      const [gate, up] = [b.createActivation(rows, ff), b.createActivation(rows, ff)];
      b.rmsNorm(x, G, 1e-5, xb);
      b.matmul(W1, xb, gate);
      b.matmul(W2, xb, up); // the rows of xb prepared for W1, reused
      b.swiglu(gate, up);
      b.matmul(W3, gate, o);
      b.add(x, o);
      b.rmsNorm(x, G, 1e-5, xb); // xb written again: its prepared rows are stale
      b.matmul(W1, xb, gate);
      b.scale(xb, 2); // written while the product above reads it
      results.push(await Promise.all([x, xb, gate].map(async (a) => new Uint32Array((await b.read(a)).buffer))));
    }
    await two.dispose();
    for (const [i, bits] of results[1].entries()) expect(bits, `output ${i}`).toEqual(results[0][i]);
  });
});
