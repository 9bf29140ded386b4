import { describe, expect, it } from 'vitest';
import type { Activation, Backend, Weight } from '../../../../engine/backend/backend.ts';
import { JsBackend } from '../../../../engine/backend/js/index.ts';
import type { GGUFTensorInfo } from '../../../../engine/gguf/types.ts';
import { dequantizeRow, quantizeRow, roundToF16 } from '../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { rng } from '../../../helpers/rng.ts';

/** Deterministic pseudo-random floats in [-1, 1). */
function randoms(n: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}

async function weight(
  be: Backend,
  name: string,
  type: GGMLType,
  shape: number[],
  values: Float32Array,
): Promise<Weight> {
  const bytes = quantizeRow(type, values);
  const info: GGUFTensorInfo = {
    name,
    shape,
    type,
    offset: 0,
    fileOffset: 0,
    byteSize: bytes.length,
    nElements: values.length,
  };
  return be.loadWeight(info, bytes);
}

async function activation(be: Backend, rows: number, cols: number, values: Float32Array): Promise<Activation> {
  // Fill through getRows of an F32 table, the only public way in.
  const table = await weight(be, 'x', GGMLType.F32, [cols, rows], values);
  const a = be.createActivation(rows, cols);
  be.getRows(
    table,
    Array.from({ length: rows }, (_, r) => r),
    a,
  );
  return a;
}

describe('JsBackend', () => {
  it('rmsNorm scales each row by 1/rms and the weight', async () => {
    const be = new JsBackend();
    const x = randoms(3 * 16, 1);
    const g = randoms(16, 2);
    const out = be.createActivation(3, 16);
    be.rmsNorm(await activation(be, 3, 16, x), await weight(be, 'g', GGMLType.F32, [16], g), 1e-5, out);
    const got = await be.read(out);
    for (let r = 0; r < 3; r++) {
      let ss = 0;
      for (let i = 0; i < 16; i++) ss += x[r * 16 + i] ** 2;
      const inv = 1 / Math.sqrt(ss / 16 + 1e-5);
      for (let i = 0; i < 16; i++) expect(got[r * 16 + i]).toBeCloseTo(x[r * 16 + i] * inv * g[i], 5);
    }
  });

  it('matmul with F32 weights equals the plain product', async () => {
    const be = new JsBackend();
    const [nIn, nOut, rows] = [32, 5, 2];
    const w = randoms(nIn * nOut, 3);
    const x = randoms(rows * nIn, 4);
    const out = be.createActivation(rows, nOut);
    be.matmul(await weight(be, 'w', GGMLType.F32, [nIn, nOut], w), await activation(be, rows, nIn, x), out);
    const got = await be.read(out);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < nOut; o++) {
        let s = 0;
        for (let i = 0; i < nIn; i++) s += w[o * nIn + i] * x[r * nIn + i];
        expect(got[r * nOut + o]).toBeCloseTo(s, 5);
      }
  });

  it.each([GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0, GGMLType.F16, GGMLType.BF16])(
    'matmul on %s weights is close to the product with the dequantized weights',
    async (type) => {
      const be = new JsBackend();
      const [nIn, nOut] = [64, 4];
      const wq = quantizeRow(type, randoms(nIn * nOut, 5));
      const w = new Float32Array(nIn * nOut);
      dequantizeRow(type, wq, w, nIn * nOut);
      const x = randoms(nIn, 6);
      const out = be.createActivation(1, nOut);
      be.matmul(await weight(be, 'w', GGMLType.F32, [nIn, nOut], w), await activation(be, 1, nIn, x), out);
      const exact = await be.read(out);
      const outQ = be.createActivation(1, nOut);
      const wQuant = await be.loadWeight(
        { name: 'wq', shape: [nIn, nOut], type, offset: 0, fileOffset: 0, byteSize: wq.length, nElements: nIn * nOut },
        wq,
      );
      be.matmul(wQuant, await activation(be, 1, nIn, x), outQ);
      const got = await be.read(outQ);
      // The activations are quantized to 8 bits (or 16-bit floats): a relative error of about 1%.
      for (let o = 0; o < nOut; o++) expect(Math.abs(got[o] - exact[o])).toBeLessThan(0.02 * Math.sqrt(nIn));
    },
  );

  it('rope rotates adjacent pairs (norm) or halves (neox) by position-dependent angles', async () => {
    const be = new JsBackend();
    const headDim = 8;
    const x = randoms(2 * headDim, 7);
    for (const mode of ['norm', 'neox'] as const) {
      const a = await activation(be, 2, headDim, x);
      be.rope(a, [0, 5], { nHeads: 1, headDim, nDims: 6, freqBase: 10000, freqScale: 0.5, mode });
      const got = await be.read(a);
      // position 0 is the identity
      for (let i = 0; i < headDim; i++) expect(got[i]).toBeCloseTo(x[i], 6);
      for (let i = 0; i < 3; i++) {
        const theta = 0.5 * 5 * 10000 ** (-(2 * i) / 6);
        const [ia, ib] = mode === 'norm' ? [2 * i, 2 * i + 1] : [i, i + 3];
        const [x0, x1] = [x[headDim + ia], x[headDim + ib]];
        expect(got[headDim + ia]).toBeCloseTo(x0 * Math.cos(theta) - x1 * Math.sin(theta), 5);
        expect(got[headDim + ib]).toBeCloseTo(x0 * Math.sin(theta) + x1 * Math.cos(theta), 5);
      }
      // dimensions past nDims pass through
      for (let i = 6; i < headDim; i++) expect(got[headDim + i]).toBe(x[headDim + i]);
    }
  });

  it('attention is causal softmax(q·k * scale)·v with grouped KV heads', async () => {
    const be = new JsBackend();
    const [nHeads, nKvHeads, headDim, n] = [4, 2, 8, 3];
    const q = randoms(n * nHeads * headDim, 8);
    const k = randoms(n * nKvHeads * headDim, 9);
    const v = randoms(n * nKvHeads * headDim, 10);
    for (const type of ['f32', 'f16'] as const) {
      const cache = be.createKVCache({ nLayers: 1, nCtx: 8, nKvHeads, headDim, type });
      const positions = [0, 1, 2];
      be.kvStore(
        cache,
        0,
        await activation(be, n, nKvHeads * headDim, k),
        await activation(be, n, nKvHeads * headDim, v),
        positions,
      );
      const out = be.createActivation(n, nHeads * headDim);
      const scale = 1 / Math.sqrt(headDim);
      be.attention(
        cache,
        0,
        await activation(be, n, nHeads * headDim, q),
        positions,
        { nHeads, nKvHeads, headDim, scale },
        out,
      );
      const got = await be.read(out);
      const tol = type === 'f32' ? 1e-6 : 2e-3;
      for (let r = 0; r < n; r++)
        for (let h = 0; h < nHeads; h++) {
          const kh = Math.floor(h / 2);
          const s = [];
          for (let j = 0; j <= r; j++) {
            let dot = 0;
            for (let d = 0; d < headDim; d++)
              dot += q[(r * nHeads + h) * headDim + d] * k[(j * nKvHeads + kh) * headDim + d];
            s.push(dot * scale);
          }
          const m = Math.max(...s);
          const e = s.map((x) => Math.exp(x - m));
          const z = e.reduce((a, b) => a + b, 0);
          for (let d = 0; d < headDim; d++) {
            let o = 0;
            for (let j = 0; j <= r; j++) o += (e[j] / z) * v[(j * nKvHeads + kh) * headDim + d];
            expect(Math.abs(got[(r * nHeads + h) * headDim + d] - o)).toBeLessThan(tol);
          }
        }
    }
  });

  it('the f16 cache stores values rounded to half precision', async () => {
    const be = new JsBackend();
    const x = new Float32Array([1 + 2 ** -12, 0.1, -2.71, 65504]);
    const cache = be.createKVCache({ nLayers: 1, nCtx: 1, nKvHeads: 1, headDim: 4, type: 'f16' });
    be.kvStore(cache, 0, await activation(be, 1, 4, x), await activation(be, 1, 4, x), [0]);
    // One position attends only to itself: the output is v exactly, as stored.
    const out = be.createActivation(1, 4);
    be.attention(cache, 0, await activation(be, 1, 4, x), [0], { nHeads: 1, nKvHeads: 1, headDim: 4, scale: 1 }, out);
    expect([...(await be.read(out))]).toEqual([...x].map(roundToF16));
  });

  it('swiglu and add are element-wise', async () => {
    const be = new JsBackend();
    const g = randoms(8, 11);
    const u = randoms(8, 12);
    const ga = await activation(be, 1, 8, g);
    be.swiglu(ga, await activation(be, 1, 8, u));
    const got = await be.read(ga);
    for (let i = 0; i < 8; i++) expect(got[i]).toBeCloseTo((g[i] / (1 + Math.exp(-g[i]))) * u[i], 6);
    be.add(ga, await activation(be, 1, 8, u));
    const sum = await be.read(ga);
    for (let i = 0; i < 8; i++) expect(sum[i]).toBeCloseTo(got[i] + u[i], 6);
  });

  it('attention soft-caps scores and keeps to the sliding window, with and without flash attention', async () => {
    const [nHeads, nKvHeads, headDim, n] = [2, 1, 8, 6];
    const q = randoms(n * nHeads * headDim, 21).map((x) => 3 * x);
    const k = randoms(n * nKvHeads * headDim, 22);
    const v = randoms(n * nKvHeads * headDim, 23);
    const scale = 1 / Math.sqrt(headDim);
    const positions = [0, 1, 2, 3, 4, 5];
    for (const flashAttention of [true, false])
      for (const [softcap, window] of [
        [0.8, undefined],
        [undefined, 2],
        [1.5, 3],
      ] as const) {
        const be = new JsBackend({ flashAttention });
        const cache = be.createKVCache({ nLayers: 1, nCtx: 8, nKvHeads, headDim, type: 'f32' });
        const kvw = nKvHeads * headDim;
        be.kvStore(cache, 0, await activation(be, n, kvw, k), await activation(be, n, kvw, v), positions);
        const out = be.createActivation(n, nHeads * headDim);
        const qa = await activation(be, n, nHeads * headDim, q);
        be.attention(cache, 0, qa, positions, { nHeads, nKvHeads, headDim, scale, softcap, window }, out);
        const got = await be.read(out);
        for (let r = 0; r < n; r++)
          for (let h = 0; h < nHeads; h++) {
            // visible: j <= r and r - j < window
            const first = window ? Math.max(0, r - window + 1) : 0;
            const s: number[] = [];
            for (let j = first; j <= r; j++) {
              let dot = 0;
              for (let d = 0; d < headDim; d++) dot += q[(r * nHeads + h) * headDim + d] * k[j * kvw + d];
              s.push(softcap ? softcap * Math.tanh((dot * scale) / softcap) : dot * scale);
            }
            const m = Math.max(...s);
            const e = s.map((x) => Math.exp(x - m));
            const z = e.reduce((a, b) => a + b, 0);
            for (let d = 0; d < headDim; d++) {
              let o = 0;
              for (let j = first; j <= r; j++) o += (e[j - first] / z) * v[j * kvw + d];
              expect(Math.abs(got[(r * nHeads + h) * headDim + d] - o)).toBeLessThan(1e-5);
            }
          }
      }
  });

  it('layerNorm centres and scales each row, then applies weight and bias', async () => {
    const be = new JsBackend();
    const cols = 37; // groups of 8 and a tail
    const x = randoms(2 * cols, 31).map((v) => v * 3 + 0.5);
    const g = randoms(cols, 32);
    const b = randoms(cols, 33);
    const out = be.createActivation(2, cols);
    be.layerNorm(
      await activation(be, 2, cols, x),
      await weight(be, 'g', GGMLType.F32, [cols], g),
      await weight(be, 'b', GGMLType.F32, [cols], b),
      1e-5,
      out,
    );
    const got = await be.read(out);
    for (let r = 0; r < 2; r++) {
      const row = x.subarray(r * cols, (r + 1) * cols);
      const mean = row.reduce((a, c) => a + c, 0) / cols;
      const variance = row.reduce((a, c) => a + (c - mean) ** 2, 0) / cols;
      for (let i = 0; i < cols; i++) {
        const want = ((row[i] - mean) / Math.sqrt(variance + 1e-5)) * g[i] + b[i];
        expect(got[r * cols + i]).toBeCloseTo(want, 5);
      }
    }
  });

  it('addBias, scale, softcap, gelu, geglu and copyCols', async () => {
    const be = new JsBackend();
    const x = randoms(2 * 8, 41).map((v) => v * 4);
    const bias = randoms(8, 42);
    const a = await activation(be, 2, 8, x);
    be.addBias(a, await weight(be, 'b', GGMLType.F32, [8], bias));
    be.scale(a, 0.5);
    let got = await be.read(a);
    for (let i = 0; i < 16; i++) expect(got[i]).toBeCloseTo((x[i] + bias[i % 8]) * 0.5, 6);

    const c = await activation(be, 2, 8, x);
    be.softcap(c, 1.5);
    got = await be.read(c);
    for (let i = 0; i < 16; i++) expect(got[i]).toBeCloseTo(1.5 * Math.tanh(x[i] / 1.5), 6);

    // gelu: the tanh approximation, to F16 precision (ggml's table)
    const gl = await activation(be, 2, 8, x);
    be.gelu(gl);
    got = await be.read(gl);
    const gelu = (t: number) => 0.5 * t * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * t * (1 + 0.044715 * t * t)));
    for (let i = 0; i < 16; i++) expect(Math.abs(got[i] - gelu(x[i]))).toBeLessThan(4e-3 * Math.max(1, Math.abs(x[i])));

    const gate = await activation(be, 2, 8, x);
    const up = await activation(
      be,
      2,
      8,
      Float32Array.from(x, (_, i) => bias[i % 8]),
    );
    be.geglu(gate, up);
    const gg = await be.read(gate);
    for (let i = 0; i < 16; i++) expect(gg[i]).toBeCloseTo(got[i] * bias[i % 8], 6);

    const wide = await activation(be, 2, 8, x);
    const part = be.createActivation(2, 3);
    be.copyCols(wide, 4, part);
    expect([...(await be.read(part))]).toEqual([...x.subarray(4, 7), ...x.subarray(12, 15)]);
  });

  it('rope divides each frequency by its factor and scales by attnFactor', async () => {
    const be = new JsBackend();
    const x = randoms(4, 51);
    const p = { nHeads: 1, headDim: 4, nDims: 4, freqBase: 10000, freqScale: 1, mode: 'neox' as const };
    const plain = await activation(be, 1, 4, x);
    be.rope(plain, [7], p);
    const factored = await activation(be, 1, 4, x);
    const factors = await weight(be, 'f', GGMLType.F32, [2], Float32Array.from([2, 4]));
    be.rope(factored, [7], { ...p, freqFactors: factors, attnFactor: 1.25 });
    const got = await be.read(factored);
    // neox pairs (i, i + 2): angle 7·base^(-i/2) / factor_i
    for (let i = 0; i < 2; i++) {
      const theta = (7 * 10000 ** (-i / 2)) / [2, 4][i];
      const [x0, x1] = [x[i], x[i + 2]];
      expect(got[i]).toBeCloseTo(1.25 * (x0 * Math.cos(theta) - x1 * Math.sin(theta)), 5);
      expect(got[i + 2]).toBeCloseTo(1.25 * (x0 * Math.sin(theta) + x1 * Math.cos(theta)), 5);
    }
    expect(await be.read(plain)).not.toEqual(got);
  });
});
