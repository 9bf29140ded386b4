import { beforeAll, describe, expect, it } from 'vitest';
import type { KernelExports } from '../../../../../engine/backend/wasm/kernels.ts';
import { f32ToF16 } from '../../../../../engine/quant/fp16.ts';
import {
  activationBytes,
  dequantizeRow,
  quantizeActivations,
  quantizeRow,
  rowBytes,
  vecDot,
  vecDotTypeOf,
} from '../../../../../engine/quant/index.ts';
import { GGMLType, TYPE_TRAITS } from '../../../../../engine/quant/types.ts';
import { rng } from '../../../../helpers/rng.ts';
import { ensureWasmBuilt } from './build.ts';

let k: KernelExports;
let memory: WebAssembly.Memory;
const BASE = 1 << 20;

beforeAll(async () => {
  await ensureWasmBuilt();
  const { compileKernels, createMemory, instantiateKernels } = await import(
    '../../../../../engine/backend/wasm/kernels.ts'
  );
  const compiled = await compileKernels(false);
  memory = createMemory(false);
  memory.grow(512); // 32 MiB
  k = instantiateKernels(compiled.module, memory);
});

/** Where each format keeps its f16 scales: random bytes there would make huge or NaN weights. */
const F16_FIELDS: Partial<Record<GGMLType, number[]>> = {
  [GGMLType.Q4_0]: [0],
  [GGMLType.Q4_1]: [0, 2],
  [GGMLType.Q5_0]: [0],
  [GGMLType.Q5_1]: [0, 2],
  [GGMLType.Q8_0]: [0],
  [GGMLType.Q4_K]: [0, 2],
  [GGMLType.Q5_K]: [0, 2],
  [GGMLType.Q6_K]: [208],
};

/** nOut random rows of n weights of `type`: quantized Gaussians where we have a quantizer, random blocks otherwise. */
function randomWeights(type: GGMLType, n: number, nOut: number, next: () => number): Uint8Array {
  const rb = rowBytes(type, n);
  const out = new Uint8Array(rb * nOut);
  const traits = TYPE_TRAITS.get(type)!;
  const fields = F16_FIELDS[type];
  if (fields !== undefined && traits.blockSize === 256) {
    for (let i = 0; i < out.length; i++) out[i] = next() * 256;
    const view = new DataView(out.buffer);
    for (let b = 0; b < out.length / traits.typeSize; b++) {
      for (const f of fields) view.setUint16(b * traits.typeSize + f, f32ToF16((next() - 0.3) * 0.01), true);
    }
    return out;
  }
  const row = new Float32Array(n);
  for (let o = 0; o < nOut; o++) {
    const scale = 0.01 + next();
    for (let i = 0; i < n; i++) row[i] = (next() + next() + next() - 1.5) * scale;
    out.set(quantizeRow(type, row), o * rb);
  }
  return out;
}

function randomActivations(n: number, rows: number, next: () => number): Float32Array {
  const x = new Float32Array(n * rows);
  for (let i = 0; i < x.length; i++) x[i] = (next() + next() - 1) * (next() < 0.05 ? 20 : 2);
  return x;
}

/** Runs the wasm matmul: returns out[rows][nOut]. */
function wasmMatmul(type: GGMLType, w: Uint8Array, n: number, nOut: number, x: Float32Array, rows: number) {
  const u8 = new Uint8Array(memory.buffer);
  const wPtr = BASE;
  u8.set(w, wPtr);
  const xPtr = align(wPtr + w.length);
  new Float32Array(memory.buffer, xPtr, x.length).set(x);
  const actStride = k.activationRowBytes(type, n);
  const actPtr = align(xPtr + x.length * 4);
  k.prepareActivations(type, xPtr, n, rows, actPtr);
  const outPtr = align(actPtr + actStride * rows);
  k.matmulRange(type, wPtr, rowBytes(type, n), n, nOut, actPtr, actStride, rows, outPtr, 0, nOut);
  return new Float32Array(memory.buffer, outPtr, rows * nOut).slice();
}

const align = (p: number) => Math.ceil(p / 64) * 64;

/** The reference: activations quantized as llama.cpp does, ggml's generic dot products. */
function referenceMatmul(type: GGMLType, w: Uint8Array, n: number, nOut: number, x: Float32Array, rows: number) {
  const actType = vecDotTypeOf(type);
  const ab = activationBytes(actType, n);
  const act = new Uint8Array(ab * rows);
  for (let r = 0; r < rows; r++) quantizeActivations(actType, x, r * n, n, act, r * ab);
  const out = new Float32Array(rows * nOut);
  const mag = new Float64Array(rows * nOut);
  const wf = new Float32Array(n);
  const rb = rowBytes(type, n);
  for (let o = 0; o < nOut; o++) {
    dequantizeRow(type, w, wf, n, o * rb, 0);
    for (let r = 0; r < rows; r++) {
      out[r * nOut + o] = vecDot(type, n, w, o * rb, act, r * ab);
      let m = 0;
      for (let i = 0; i < n; i++) m += Math.abs(wf[i] * x[r * n + i]);
      mag[r * nOut + o] = m;
    }
  }
  return { out, mag };
}

// Formats whose per-block float steps we follow in ggml's order: bit-exact.
const EXACT = new Set([GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0]);
const TYPES = [
  GGMLType.Q4_0,
  GGMLType.Q8_0,
  GGMLType.F32,
  GGMLType.F16,
  GGMLType.Q4_K,
  GGMLType.Q6_K,
  GGMLType.Q5_K,
  GGMLType.Q4_1,
  GGMLType.Q5_0,
  GGMLType.Q5_1,
  GGMLType.BF16,
];

describe('wasm matmul kernels against engine/quant vecDot', () => {
  for (const type of TYPES) {
    const bs = TYPE_TRAITS.get(type)!.blockSize;
    // Ragged shapes: odd output counts, several tokens, rows of 1, 2, 3 and more blocks
    // (float rows also of lengths that are not a multiple of the SIMD width).
    const lengths = bs === 256 ? [256, 512, 768, 2048] : bs === 32 ? [32, 64, 96, 544, 2048] : [8, 13, 64, 100, 515];
    it(`${GGMLType[type]}${EXACT.has(type) ? ' (bit-exact)' : ''}`, () => {
      expect(k.hasKernel(type)).toBe(1);
      const next = rng(type * 7919 + 1);
      for (const n of lengths) {
        for (const [nOut, rows] of [
          [1, 1],
          [5, 3],
          [17, 2],
          [3, 7],
        ]) {
          const w = randomWeights(type, n, nOut, next);
          const x = randomActivations(n, rows, next);
          const got = wasmMatmul(type, w, n, nOut, x, rows);
          const ref = referenceMatmul(type, w, n, nOut, x, rows);
          for (let i = 0; i < got.length; i++) {
            if (EXACT.has(type)) {
              if (!Object.is(got[i], ref.out[i]))
                expect.fail(`n=${n} nOut=${nOut} rows=${rows} i=${i}: ${got[i]} vs ${ref.out[i]}`);
            } else if (!(Math.abs(got[i] - ref.out[i]) <= 1e-5 * ref.mag[i] + 1e-30)) {
              expect.fail(`n=${n} nOut=${nOut} rows=${rows} i=${i}: ${got[i]} vs ${ref.out[i]} (mag ${ref.mag[i]})`);
            }
          }
        }
      }
    });
  }
});

describe('wasm activation quantizers against engine/quant quantizeActivations', () => {
  /** The int16 copies keep, in each group of 16, the even-indexed values first then the odd ones. */
  const unperm = (j: number) => (j & ~15) | (((j & 15) < 8 ? (j & 7) * 2 : (j & 7) * 2 + 1) & 15);

  function rowsWithTies(n: number, next: () => number): Float32Array[] {
    const random = randomActivations(n, 1, next);
    // max 127 makes id = 1: halves are ties, rounded to even by the x86 quantizer.
    const ties = Float32Array.from({ length: n }, (_, i) => (i % 32 === 0 ? 127 : (i % 9) - 4 + 0.5));
    const zeros = new Float32Array(n);
    const tiny = Float32Array.from({ length: n }, () => (next() - 0.5) * 1e-30);
    return [random, ties, zeros, tiny];
  }

  it('Q8_0 and Q8_1: d, s and every quant', () => {
    const n = 256;
    for (const x of rowsWithTies(n, rng(11))) {
      new Float32Array(memory.buffer, BASE, n).set(x);
      k.quantizeQ8(BASE, n / 32, BASE + 4096);
      const q8_0 = new Uint8Array(activationBytes(GGMLType.Q8_0, n));
      const q8_1 = new Uint8Array(activationBytes(GGMLType.Q8_1, n));
      quantizeActivations(GGMLType.Q8_0, x, 0, n, q8_0, 0);
      quantizeActivations(GGMLType.Q8_1, x, 0, n, q8_1, 0);
      const dv = new DataView(memory.buffer);
      const r0 = new DataView(q8_0.buffer);
      const r1 = new DataView(q8_1.buffer);
      for (let b = 0; b < n / 32; b++) {
        const o = BASE + 4096 + b * 80;
        const fromF16 = (bits: number) => {
          const tmp = new Float32Array(1);
          dequantizeRow(GGMLType.F16, new Uint8Array(new Uint16Array([bits]).buffer), tmp, 1);
          return tmp[0];
        };
        expect(dv.getFloat32(o, true)).toBe(fromF16(r0.getUint16(b * 34, true)));
        expect(dv.getFloat32(o + 8, true)).toBe(fromF16(r1.getUint16(b * 36 + 2, true)));
        let qsum = 0;
        for (let j = 0; j < 32; j++) {
          const q = dv.getInt16(o + 16 + 2 * j, true);
          qsum += q;
          expect(q).toBe(r0.getInt8(b * 34 + 2 + unperm(j)));
          expect(q).toBe(r1.getInt8(b * 36 + 4 + unperm(j)));
        }
        expect(dv.getInt32(o + 4, true)).toBe(qsum);
      }
    }
  });

  it('Q8_K: d, every quant and the bsums', () => {
    const n = 512;
    for (const x of rowsWithTies(n, rng(12))) {
      new Float32Array(memory.buffer, BASE, n).set(x);
      k.quantizeQ8K(BASE, n / 256, BASE + 8192);
      const ref = new Uint8Array(activationBytes(GGMLType.Q8_K, n));
      quantizeActivations(GGMLType.Q8_K, x, 0, n, ref, 0);
      const dv = new DataView(memory.buffer);
      const rv = new DataView(ref.buffer);
      for (let b = 0; b < n / 256; b++) {
        const o = BASE + 8192 + b * 560;
        expect(dv.getUint32(o, true)).toBe(rv.getUint32(b * 292, true));
        for (let j = 0; j < 256; j++)
          expect(dv.getInt16(o + 16 + 2 * j, true)).toBe(rv.getInt8(b * 292 + 4 + unperm(j)));
        for (let g = 0; g < 16; g++)
          expect(dv.getInt16(o + 528 + 2 * g, true)).toBe(rv.getInt16(b * 292 + 260 + 2 * g, true));
      }
    }
  });
});
