import { beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../../../engine/backend/js/index.ts';
import { type KernelExports, MATMUL_FUSED_MADD, MATMUL_REPACKED } from '../../../../../engine/backend/wasm/kernels.ts';
import type { GGUFTensorInfo } from '../../../../../engine/gguf/types.ts';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../../../../../engine/quant/fp16.ts';
import {
  activationBytes,
  dequantizeRow,
  quantizeActivations,
  quantizeRow,
  rowBytes,
} from '../../../../../engine/quant/index.ts';
import { GGMLType, TYPE_TRAITS } from '../../../../../engine/quant/types.ts';
import { fmaF32, vecDotQ4_0Repacked, vecDotX86 } from '../../../../../engine/quant/x86.ts';
import { exactFmaf } from '../../../../helpers/exact-fmaf.ts';
import { rng } from '../../../../helpers/rng.ts';
import { ensureWasmBuilt, relaxedKernelsWanted } from './build.ts';

let k: KernelExports & { fmaf(a: number, b: number, c: number): number };
let memory: WebAssembly.Memory;
/** The host's relaxed_madd is fmaf (kernels.ts hasFusedMadd): the kernels take it unless told not to. */
let hostFused = false;
/** The fmaf paths to test: the host's relaxed_madd where it is fused, and the emulation through f64 always. */
const fusedModes = () => (hostFused ? [true, false] : [false]);
const BASE = 1 << 20;

beforeAll(async () => {
  await ensureWasmBuilt();
  const { compileKernels, createMemory, instantiateKernels } = await import(
    '../../../../../engine/backend/wasm/kernels.ts'
  );
  const compiled = await compileKernels(false, relaxedKernelsWanted());
  // Node 20 validates the relaxed build (kernels.ts turns its flag on): each build is really tested.
  expect(compiled.relaxed).toBe(relaxedKernelsWanted());
  memory = createMemory(false);
  memory.grow(512); // 32 MiB
  k = instantiateKernels(compiled.module, memory) as typeof k;
  const { hasFusedMadd } = await import('../../../../../engine/backend/wasm/kernels.ts');
  hostFused = hasFusedMadd(k);
  // V8 fuses relaxed_madd on x64 with FMA3 and on arm64: the fused path is really tested there.
  if (compiled.relaxed && ['x64', 'arm64'].includes(process.arch)) expect(hostFused).toBe(true);
  if (!compiled.relaxed) expect(hostFused).toBe(false);
});

/** Where each format keeps its f16 scales: random bytes there would make huge or NaN weights. */
const F16_FIELDS: Partial<Record<GGMLType, number[]>> = {
  [GGMLType.Q2_K]: [80, 82],
  [GGMLType.Q3_K]: [108],
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
  if (fields !== undefined) {
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

const align = (p: number) => Math.ceil(p / 64) * 64;

/** Runs the wasm matmul over output rows [o0, o1) (default all): returns out[rows][nOut]. */
function wasmMatmul(
  type: GGMLType,
  w: Uint8Array,
  n: number,
  nOut: number,
  x: Float32Array,
  rows: number,
  ranges: [number, number][] = [[0, nOut]],
  fused = hostFused,
) {
  const u8 = new Uint8Array(memory.buffer);
  const wPtr = BASE;
  u8.set(w, wPtr);
  const flags = matmulFlags(fused, prepareWeights(type, wPtr, rowBytes(type, n), nOut, fused));
  const xPtr = align(wPtr + w.length);
  new Float32Array(memory.buffer, xPtr, x.length).set(x);
  const actStride = k.activationRowBytes(type, n);
  const actPtr = align(xPtr + x.length * 4);
  k.prepareActivations(type, xPtr, n, rows, actPtr);
  const outPtr = align(actPtr + actStride * rows);
  new Float32Array(memory.buffer, outPtr, rows * nOut).fill(Number.NaN);
  for (const [o0, o1] of ranges) {
    k.matmulRange(type, wPtr, rowBytes(type, n), n, nOut, actPtr, actStride, rows, outPtr, o0, o1, flags);
  }
  return new Float32Array(memory.buffer, outPtr, rows * nOut).slice();
}

/**
 * The weights at w into the kernels' layout, as the backend does on load (scratch in the top 4 MiB);
 * whether they were repacked: always Q4_0 and Q4_K with a multiple of 8 rows, Q8_0 with a multiple of 4 where
 * the fused kernel takes it.
 */
function prepareWeights(type: GGMLType, w: number, rb: number, nOut: number, fused: boolean): boolean {
  const scratch = memory.buffer.byteLength - (4 << 20);
  expect(8 * rb).toBeLessThan(4 << 20);
  const repacked = k.prepareWeights(type, w, rb, nOut, scratch, fused ? 1 : 0) === 1;
  if (type === GGMLType.Q4_0 || type === GGMLType.Q4_K) expect(repacked).toBe(nOut % 8 === 0);
  else if (type !== GGMLType.Q8_0) expect(repacked).toBe(false);
  return repacked;
}

function matmulFlags(fused: boolean, repacked: boolean): number {
  return (fused ? MATMUL_FUSED_MADD : 0) | (repacked ? MATMUL_REPACKED : 0);
}

/** The reference: the JS backend's matmul (llama.cpp's AVX2 order where mirrored, ggml's generic one elsewhere). */
async function referenceMatmul(type: GGMLType, w: Uint8Array, n: number, nOut: number, x: Float32Array, rows: number) {
  const js = new JsBackend();
  const info: GGUFTensorInfo = {
    name: 'w',
    shape: [n, nOut],
    type,
    offset: 0,
    fileOffset: 0,
    byteSize: w.length,
    nElements: n * nOut,
  };
  const weight = await js.loadWeight(info, w);
  const xa = js.createActivation(rows, n);
  (xa as unknown as { data: Float32Array }).data.set(x);
  const out = js.createActivation(rows, nOut);
  js.matmul(weight, xa, out);
  return js.read(out);
}

/** Bit-equality of two float arrays (NaN payloads aside), failing with the first difference. */
function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const r = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < got.length; i++) {
    if (g[i] !== r[i]) expect.fail(`${what} i=${i}: ${got[i]} vs ${want[i]}`);
  }
}

const TYPES = [
  GGMLType.Q4_0,
  GGMLType.Q8_0,
  GGMLType.F32,
  GGMLType.F16,
  GGMLType.BF16,
  GGMLType.Q4_1,
  GGMLType.Q5_0,
  GGMLType.Q5_1,
  GGMLType.Q2_K,
  GGMLType.Q3_K,
  GGMLType.Q4_K,
  GGMLType.Q5_K,
  GGMLType.Q6_K,
];

/**
 * Cuts of nOut (24 or more, a multiple of 8) rows as threads take them: whole groups of 8 rows
 * (every chunk but the last is a multiple of 8 rows, as the repacked layouts need: assembly/index.ts nextChunkRows), in any order.
 */
function groupSplits(nOut: number): [number, number][][] {
  return [
    [
      [0, 8],
      [8, nOut - 16],
      [nOut - 16, nOut],
    ],
    [
      [nOut - 8, nOut],
      [0, nOut - 8],
    ],
  ];
}

describe('wasm matmul kernels: bit for bit the reference backend', () => {
  for (const type of TYPES) {
    const bs = TYPE_TRAITS.get(type)!.blockSize;
    // Ragged shapes: output counts that are and are not multiples of 8 (Q4_0's repacked
    // order), one and several activation rows (F32/F16 prompt batches take tinyBLAS's
    // order), rows of 1, 2, 3 and more blocks; float rows also of lengths that are not
    // multiples of 8 or 32 (the AVX2 dot's tails).
    const lengths =
      bs === 256 ? [256, 512, 768, 2048] : bs === 32 ? [32, 64, 96, 544, 2048] : [8, 13, 36, 64, 100, 515];
    it(GGMLType[type], async () => {
      expect(k.hasKernel(type)).toBe(1);
      const next = rng(type * 7919 + 1);
      for (const n of lengths) {
        for (const [nOut, rows] of [
          [1, 1],
          [5, 3],
          [17, 2],
          [8, 1],
          [24, 3],
          [16, 7],
        ]) {
          const w = randomWeights(type, n, nOut, next);
          const x = randomActivations(n, rows, next);
          const want = await referenceMatmul(type, w, n, nOut, x, rows);
          for (const fused of fusedModes()) {
            const got = wasmMatmul(type, w, n, nOut, x, rows, [[0, nOut]], fused);
            expectSameBits(got, want, `n=${n} nOut=${nOut} rows=${rows} fused=${fused}`);
          }
        }
      }
    });
  }

  it('Q4_0 with a multiple of 8 rows, repacked, split into ranges of whole groups of 8 rows (as threads take them)', async () => {
    const next = rng(77);
    const [n, nOut, rows] = [96, 40, 3];
    const w = randomWeights(GGMLType.Q4_0, n, nOut, next);
    const x = randomActivations(n, rows, next);
    const want = await referenceMatmul(GGMLType.Q4_0, w, n, nOut, x, rows);
    const splits: [number, number][][] = [
      [
        [0, 8],
        [8, 32],
        [32, 40],
      ],
      [
        [24, 40],
        [0, 24],
      ],
    ];
    for (const fused of fusedModes()) {
      for (const ranges of splits) {
        const what = `${JSON.stringify(ranges)} fused=${fused}`;
        expectSameBits(wasmMatmul(GGMLType.Q4_0, w, n, nOut, x, rows, ranges, fused), want, what);
      }
    }
  });

  it('repacked rows come back in GGUF layout (unpackRow), every row of every group', () => {
    const next = rng(80);
    const [n, nOut] = [256, 24];
    // Q8_0 is repacked where the fused relaxed-SIMD kernel runs
    const types = hostFused ? [GGMLType.Q4_0, GGMLType.Q4_K, GGMLType.Q8_0] : [GGMLType.Q4_0, GGMLType.Q4_K];
    for (const type of types) {
      const rb = rowBytes(type, n);
      const w = randomWeights(type, n, nOut, next);
      new Uint8Array(memory.buffer).set(w, BASE);
      expect(prepareWeights(type, BASE, rb, nOut, hostFused)).toBe(true);
      expect(new Uint8Array(memory.buffer, BASE, w.length)).not.toEqual(w);
      const dst = align(BASE + w.length);
      for (let r = 0; r < nOut; r++) {
        k.unpackRow(type, BASE, rb, r, dst);
        expect(new Uint8Array(memory.buffer, dst, rb), `${GGMLType[type]} row ${r}`).toEqual(
          w.subarray(r * rb, (r + 1) * rb),
        );
      }
    }
  });

  it('Q8_0 with a quant of -128 (not from llama.cpp) keeps the SIMD128 kernel and its bits', async () => {
    const next = rng(81);
    const [n, nOut, rows] = [64, 8, 2];
    const w = randomWeights(GGMLType.Q8_0, n, nOut, next);
    w[5 * 34 + 2 + 7] = 0x80; // row 2, block 1, quant 7; the activations have negative values there
    const x = Float32Array.from(randomActivations(n, rows, next), (v) => -Math.abs(v));
    const u8 = new Uint8Array(memory.buffer);
    u8.set(w, BASE);
    expect(prepareWeights(GGMLType.Q8_0, BASE, rowBytes(GGMLType.Q8_0, n), nOut, hostFused)).toBe(false);
    expect(u8.subarray(BASE, BASE + w.length)).toEqual(w);
    const want = await referenceMatmul(GGMLType.Q8_0, w, n, nOut, x, rows);
    for (const fused of fusedModes()) {
      expectSameBits(wasmMatmul(GGMLType.Q8_0, w, n, nOut, x, rows, [[0, nOut]], fused), want, `-128, fused=${fused}`);
    }
  });

  it('Q4_0 with a multiple of 8 rows at the largest integer sums (nibbles 15 or 0 by quants of 127 or -127)', async () => {
    // Every product at its bound: the relaxed-SIMD build's i16 partial sums at their largest.
    const [n, nOut, rows] = [64, 12, 3];
    const w = new Uint8Array(rowBytes(GGMLType.Q4_0, n) * nOut);
    for (let b = 0; b < w.length / 18; b++) {
      new DataView(w.buffer).setUint16(18 * b, f32ToF16(b % 3 === 1 ? -0.5 : 1), true);
      w.fill(b % 2 ? 0 : 0xff, 18 * b + 2, 18 * b + 18);
    }
    const x = Float32Array.from({ length: n * rows }, (_, i) => ((i >> 5) % 3 === 2 ? -1 : 1));
    const want = await referenceMatmul(GGMLType.Q4_0, w, n, nOut, x, rows);
    for (const fused of fusedModes()) {
      expectSameBits(wasmMatmul(GGMLType.Q4_0, w, n, nOut, x, rows, [[0, nOut]], fused), want, `largest sums ${fused}`);
    }
  });

  it('Q4_0 with a multiple of 8 rows and scales of either sign that are f16 subnormals', async () => {
    const next = rng(79);
    const [n, nOut, rows] = [128, 24, 2];
    const w = new Uint8Array(rowBytes(GGMLType.Q4_0, n) * nOut);
    const row = new Float32Array(n);
    for (let o = 0; o < nOut; o++) {
      const scale = (o % 3 === 0 ? 1e-4 : 1e-6) * (1 + next());
      for (let i = 0; i < n; i++) row[i] = (next() - 0.5) * scale;
      w.set(quantizeRow(GGMLType.Q4_0, row), o * rowBytes(GGMLType.Q4_0, n));
    }
    const halves = Array.from({ length: w.length / 18 }, (_, b) => w[18 * b] | (w[18 * b + 1] << 8));
    expect(halves.some((h) => (h & 0x7c00) === 0 && (h & 0x3ff) !== 0 && h & 0x8000)).toBe(true);
    expect(halves.some((h) => (h & 0x7c00) === 0 && (h & 0x3ff) !== 0 && !(h & 0x8000))).toBe(true);
    const x = randomActivations(n, rows, next);
    const want = await referenceMatmul(GGMLType.Q4_0, w, n, nOut, x, rows);
    for (const fused of fusedModes()) {
      const ranges: [number, number][] = [
        [0, 16],
        [16, 24],
      ];
      expectSameBits(wasmMatmul(GGMLType.Q4_0, w, n, nOut, x, rows, ranges, fused), want, `subnormal scales ${fused}`);
    }
  });

  it('Q4_K with a multiple of 8 rows: gemm order on rows in whole groups of 4, gemv on the rest, whatever the split', async () => {
    const next = rng(78);
    // Activation row counts below, at and past groups of 4; rows of 2 and 3 super-blocks.
    for (const [n, nOut, rows] of [
      [512, 40, 4],
      [512, 40, 7],
      [512, 40, 9],
      [768, 24, 1],
      [768, 24, 2],
      [768, 24, 3],
      [768, 24, 5],
      [768, 24, 6],
    ]) {
      const w = randomWeights(GGMLType.Q4_K, n, nOut, next);
      const x = randomActivations(n, rows, next);
      const want = await referenceMatmul(GGMLType.Q4_K, w, n, nOut, x, rows);
      for (const ranges of groupSplits(nOut)) {
        expectSameBits(
          wasmMatmul(GGMLType.Q4_K, w, n, nOut, x, rows, ranges),
          want,
          `n=${n} rows=${rows} ${JSON.stringify(ranges)}`,
        );
      }
      const gemmRows = rows - (rows % 4);
      if (gemmRows === 0) continue;
      // The gemv's order (each row alone) must differ from these rows' in some outputs, or this could not fail.
      let differs = 0;
      for (let r = 0; r < rows; r++) {
        const alone = await referenceMatmul(GGMLType.Q4_K, w, n, nOut, x.subarray(r * n, (r + 1) * n), 1);
        for (let o = 0; o < nOut; o++) {
          const same = Object.is(alone[o], want[r * nOut + o]);
          if (r >= gemmRows && !same) expect.fail(`rows=${rows}: gemv row ${r} out ${o} differs`);
          if (!same) differs++;
        }
      }
      expect(differs).toBeGreaterThan(0);
    }
  });

  it('F32 sums that land on an f32 midpoint in f64 (the double rounding fmaf must avoid)', async () => {
    // Lane 0 (elements 0 and 32 in both the AVX2 dot's and tinyBLAS's lanes): acc = 1 + 2^-23, then
    // + (1 + 2^-23) * 2^-24 * (1 - 2^-23) = 2^-24 - 2^-70. Rounded to f64 the sum is the midpoint
    // 1 + 3 * 2^-24, which rounds up to even; the fused result rounds down. Lane 1 holds a small
    // value that keeps its pair off the exact path for other reasons; every other lane is 0.
    for (const sign of [1, -1]) {
      for (const rows of [1, 2]) {
        const n = 64;
        const w = new Float32Array(n);
        const x = new Float32Array(n * rows);
        for (let r = 0; r < rows; r++) {
          w[0] = sign * (1 + 2 ** -23);
          x[r * n] = 1;
          w[32] = (1 + 2 ** -23) * 2 ** -24;
          x[r * n + 32] = sign * (1 - 2 ** -23);
          w[1] = 2 ** -30;
          x[r * n + 1] = 1;
        }
        const bytes = new Uint8Array(w.buffer);
        const want = await referenceMatmul(GGMLType.F32, bytes, n, 1, x, rows);
        expect(Math.abs(want[0])).toBe(1 + 2 ** -23);
        expectSameBits(wasmMatmul(GGMLType.F32, bytes, n, 1, x, rows), want, `sign=${sign} rows=${rows}`);
      }
    }
  });
});

describe('F32: fmaf lanes whose f64 sums land on f32 midpoints', () => {
  it('in every lane of the AVX2 dot (32 lanes) and of tinyBLAS (8), normal and subnormal sums', async () => {
    const next = rng(41);
    const cases = midpointCases(next, 300);
    let wrongIfDoubleRounded = 0;
    for (const [t, [a, b, c]] of cases.entries()) {
      const rows = t % 2 ? 2 : 1;
      const lanes = rows === 1 ? 32 : 8;
      const lane = Math.floor(next() * lanes);
      const n = 64 + (t % 3); // and a tail after the lanes
      const w = new Float32Array(n);
      const x = new Float32Array(n * rows);
      for (let r = 0; r < rows; r++) {
        // lane: fmaf(c, 1, 0) = c, then fmaf(a, b, c)
        w[lane] = c;
        x[r * n + lane] = 1;
        w[lane + lanes] = a;
        x[r * n + lane + lanes] = b;
      }
      if (Math.fround(a * b + c) !== exactFmaf(a, b, c)) wrongIfDoubleRounded++;
      const bytes = new Uint8Array(w.buffer);
      const want = await referenceMatmul(GGMLType.F32, bytes, n, 1, x, rows);
      expectSameBits(wasmMatmul(GGMLType.F32, bytes, n, 1, x, rows), want, `case ${t}: fmaf(${a}, ${b}, ${c})`);
    }
    expect(wrongIfDoubleRounded).toBeGreaterThan(cases.length / 4);
  });
});

describe('BF16: lanes where no partial sum rounds, else the ordered double sum', () => {
  const bf16Row = (v: number[]) => {
    const out = new Uint8Array(2 * v.length);
    v.forEach((x, i) => {
      new DataView(out.buffer).setUint16(2 * i, f32ToBf16(x), true);
    });
    return out;
  };

  // p = (255/128)^2 = 65025 * 2^-14 (16 bits, e = 1), B = 2^(e+k): in order B + p rounds once B reaches
  // 2^(e+38) (54 bits), so (B + p) - B is not p; in lanes (B - B) + p is. The kernel must see it coming.
  it('B + p - B with p of 16 bits and B from 2^36 to 2^40 times p', async () => {
    for (const n of [64, 67]) {
      for (const k of [36, 37, 38, 39, 40]) {
        const w = new Array(n).fill(0);
        const x = new Float32Array(n).fill(0);
        [w[0], w[1], w[2]] = [2 ** 20, 255 / 128, -(2 ** 20)];
        [x[0], x[1], x[2]] = [2 ** (k - 19), 255 / 128, 2 ** (k - 19)];
        const want = await referenceMatmul(GGMLType.BF16, bf16Row(w), n, 1, x, 1);
        if (k >= 38) expect(want[0]).not.toBe(Math.fround((255 / 128) ** 2));
        expectSameBits(wasmMatmul(GGMLType.BF16, bf16Row(w), n, 1, x, 1), want, `n=${n} k=${k}`);
      }
    }
  });

  it('products of every spread of magnitudes, zeros, subnormal products', async () => {
    const next = rng(31);
    for (let t = 0; t < 300; t++) {
      const n = 8 + Math.floor(next() * 200);
      const spread = Math.floor(next() * 48);
      const value = () => (next() < 0.1 ? 0 : (next() - 0.5) * 2 ** Math.floor(next() * spread - spread / 2));
      const w = Array.from({ length: n }, value);
      const x = Float32Array.from({ length: n }, value);
      if (t % 10 === 0) [w[n - 1], x[n - 1]] = [2 ** -70, 2 ** -70]; // a product under 2^-126
      const want = await referenceMatmul(GGMLType.BF16, bf16Row(w), n, 1, x, 1);
      expectSameBits(wasmMatmul(GGMLType.BF16, bf16Row(w), n, 1, x, 1), want, `t=${t} n=${n} spread=${spread}`);
    }
  });
});

describe('block kernels where the f64 sum lands on an f32 midpoint', () => {
  // Lane 0 after block 0: fmaf(3622 * 61600, 77, 0) rounds to A = 2^34 + 2^11 (odd in f32).
  // Block 1 adds (1057/1024) * (1023/1024) * 993 = 1024 - 2^-20: in f64 the sum rounds to the
  // midpoint A + 1024, which would round up to even; the fused result is A. Every other value is 0.
  const A = 2 ** 34 + 2 ** 11;
  type Block = [dw: number, da: number, pairs: [number, number][]];
  const blocks: Block[] = [
    [3622, 61600, [[77, 1]]],
    [
      1057 / 1024,
      1023 / 1024,
      [
        [127, 7],
        [127, 0],
        [1, 104],
      ],
    ],
  ];

  /**
   * Activation blocks as Q8_0 or Q8_1 bytes (the reference's input: d, for Q8_1 also s = d * sum, then the
   * quants) and in the kernels' P16 layout (d, sum, s, then the quants even-then-odd within each 16);
   * q4_0: the Q4_0 layout, P16's with, in the relaxed-SIMD build, the int8 quants after each block.
   */
  function activations(
    list: Block[],
    values: (b: number) => number[],
    q81 = false,
  ): { q8: Uint8Array; p16: Uint8Array; q4_0: Uint8Array } {
    const size = q81 ? 36 : 34;
    const q8 = new Uint8Array(size * list.length);
    const p16 = new Uint8Array(80 * list.length);
    const q40Stride = k.activationRowBytes(GGMLType.Q4_0, 32);
    const q4_0 = new Uint8Array(q40Stride * list.length);
    const v8 = new DataView(q8.buffer);
    const v16 = new DataView(p16.buffer);
    list.forEach(([, da], b) => {
      const qs = values(b);
      const sum = qs.reduce((x, y) => x + y, 0);
      const s = Math.fround(da * sum);
      v8.setUint16(size * b, f32ToF16(da), true);
      if (q81) v8.setUint16(size * b + 2, f32ToF16(s), true);
      v16.setFloat32(80 * b, da, true);
      v16.setInt32(80 * b + 4, sum, true);
      v16.setFloat32(80 * b + 8, f16ToF32(f32ToF16(s)), true);
      qs.forEach((q, j) => {
        v8.setInt8(size * b + size - 32 + j, q);
        const at = (j & ~15) | (((j & 1) << 3) | ((j & 15) >> 1)); // even-then-odd within 16
        v16.setInt16(80 * b + 16 + 2 * at, q, true);
      });
      q4_0.set(p16.subarray(80 * b, 80 * b + 80), q40Stride * b);
      if (q40Stride > 80) q4_0.set(Int8Array.from(qs), q40Stride * b + 80);
    });
    return { q8, p16, q4_0 };
  }

  /** One block of `type` with scale d (and minimum m) holding the integer values x[0..31]. */
  function weightBlock(type: GGMLType, d: number, m: number, x: number[]): Uint8Array {
    const size = TYPE_TRAITS.get(type)!.typeSize;
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint16(0, f32ToF16(d), true);
    if (type === GGMLType.Q8_0) {
      x.forEach((v, j) => {
        view.setInt8(2 + j, v);
      });
      return out;
    }
    const withMin = type === GGMLType.Q4_1 || type === GGMLType.Q5_1;
    if (withMin) view.setUint16(2, f32ToF16(m), true);
    const five = type === GGMLType.Q5_0 || type === GGMLType.Q5_1;
    const offset = withMin ? 0 : five ? 16 : 8;
    const qs = (withMin ? 4 : 2) + (five ? 4 : 0);
    let qh = 0;
    x.forEach((v, j) => {
      const u = v + offset;
      if (u < 0 || u >= (five ? 32 : 16)) throw new Error(`value ${v} out of range for ${GGMLType[type]}`);
      out[qs + (j & 15)] |= (u & 15) << (j < 16 ? 0 : 4);
      qh |= (u >> 4) << j;
    });
    if (five) view.setUint32(withMin ? 4 : 2, qh >>> 0, true);
    return out;
  }

  function runWasm(type: GGMLType, w: Uint8Array, rb: number, nOut: number, act: Uint8Array, n = 64, fused = false) {
    const u8 = new Uint8Array(memory.buffer);
    u8.set(w, BASE);
    const flags = matmulFlags(fused, prepareWeights(type, BASE, rb, nOut, fused));
    const aPtr = align(BASE + w.length);
    u8.set(act, aPtr);
    const out = align(aPtr + act.length);
    k.matmulRange(type, BASE, rb, n, nOut, aPtr, act.length, 1, out, 0, nOut, flags);
    return new Float32Array(memory.buffer, out, nOut).slice();
  }

  // Every 32-weight format's 8-lane loop: the same lane sums 77 and 993 from values that fit every
  // format (7 * 11; 7 * 127 + 7 * 14 + 6 * 1), on lane 0 or 7 (each half of the block's values),
  // with and without a minimum term (Q4_1, Q5_1), and with a block after it (the loop goes on).
  const small: Block[] = [
    [blocks[0][1], blocks[0][0], [[7, 11]]], // scales swapped: Q8_1's s = da * 11 must fit an f16
    [
      blocks[1][0],
      blocks[1][1],
      [
        [7, 127],
        [7, 14],
        [6, 1],
      ],
    ],
  ];
  const FORMATS = [GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1];
  for (const type of FORMATS) {
    it(`${GGMLType[type]} (the 8-lane loop of Q4_0/Q4_1/Q5_0/Q5_1/Q8_0)`, () => {
      const q81 = type === GGMLType.Q4_1 || type === GGMLType.Q5_1;
      for (const lane of [0, 7]) {
        for (const m of q81 ? [0, 0.375] : [0]) {
          for (const after of [false, true]) {
            const list: Block[] = after ? [...small, [0.5, 0.25, [[3, 5]]]] : small;
            // Block 2's pair on lane 1 (values 4 and 5), the others' on `lane`.
            const values = (b: number, weights: boolean) => {
              const qs = new Array(32).fill(0);
              const at = b < 2 ? 4 * lane : 4;
              list[b][2].forEach(([x, a], j) => {
                qs[at + j] = weights ? x : a;
              });
              return qs;
            };
            const act = activations(list, (b) => values(b, false), q81);
            const size = TYPE_TRAITS.get(type)!.typeSize;
            const w = new Uint8Array(size * list.length);
            list.forEach(([dw], b) => {
              w.set(weightBlock(type, dw, m, values(b, true)), b * size);
            });
            const n = 32 * list.length;
            const want = vecDotX86(type, n, w, 0, act.q8, 0);
            if (m === 0 && !after) expect(want).toBe(A);
            const what = `${GGMLType[type]} lane ${lane} m ${m}${after ? ' and a block after' : ''}`;
            const a = type === GGMLType.Q4_0 ? act.q4_0 : act.p16;
            expectSameBits(runWasm(type, w, w.length, 1, a, n), Float32Array.of(want), what);
          }
        }
      }
    });
  }

  it('Q4_0 repacked (one FMA per block and row, eight rows per pass)', () => {
    // (nibble - 8) * a: block 0 lane sum 7 * 11 = 77; block 1 7*127 + 7*14 + 6*1 = 993.
    const nib: [number, number][][] = [
      [[15, 11]],
      [
        [15, 127],
        [15, 14],
        [14, 1],
      ],
    ];
    const row = new Uint8Array(18 * blocks.length);
    blocks.forEach(([dw], b) => {
      new DataView(row.buffer).setUint16(18 * b, f32ToF16(dw), true);
      for (let j = 0; j < 16; j++) row[18 * b + 2 + j] = 0x88; // value 0 in both nibbles
      nib[b].forEach(([q], j) => {
        row[18 * b + 2 + j] = (row[18 * b + 2 + j] & 0xf0) | q;
      });
    });
    const w = new Uint8Array(row.length * 8);
    for (let r = 0; r < 8; r++) w.set(row, r * row.length);
    const act = activations(blocks, (b) => {
      const qs = new Array(32).fill(0);
      nib[b].forEach(([, a], j) => {
        qs[j] = a;
      });
      return qs;
    });
    const want = vecDotQ4_0Repacked(64, w, 0, act.q8, 0);
    expect(want).toBe(A);
    for (const fused of fusedModes()) {
      expectSameBits(runWasm(GGMLType.Q4_0, w, 36, 8, act.q4_0, 64, fused), new Float32Array(8).fill(want), 'Q4_0');
    }

    // Midpoint rows among others in both groups of four of the eight-row passes: the exact path
    // must change only its own lanes.
    const next = rng(31);
    const mixed = new Uint8Array(row.length * 16);
    const midRows = [1, 4, 6, 7, 9, 14];
    for (let r = 0; r < 16; r++) {
      if (midRows.includes(r)) mixed.set(row, r * row.length);
      else for (let j = 0; j < row.length; j++) mixed[r * row.length + j] = j % 18 < 2 ? row[j] : next() * 256;
    }
    const wantMixed = Float32Array.from({ length: 16 }, (_, r) => vecDotQ4_0Repacked(64, mixed, r * 36, act.q8, 0));
    expect(midRows.map((r) => wantMixed[r])).toEqual(midRows.map(() => A));
    const gotMixed = (ranges: [number, number][], acts: Uint8Array[] = [act.q4_0], fused = false) => {
      const u8 = new Uint8Array(memory.buffer);
      u8.set(mixed, BASE);
      const flags = matmulFlags(fused, prepareWeights(GGMLType.Q4_0, BASE, 36, 16, fused));
      const aPtr = align(BASE + mixed.length);
      acts.forEach((row, r) => {
        u8.set(row, aPtr + r * row.length);
      });
      const stride = acts[0].length;
      const out = align(aPtr + stride * acts.length);
      for (const [o0, o1] of ranges) {
        k.matmulRange(GGMLType.Q4_0, BASE, 36, 64, 16, aPtr, stride, acts.length, out, o0, o1, flags);
      }
      return new Float32Array(memory.buffer, out, 16 * acts.length).slice();
    };
    expectSameBits(gotMixed([[0, 16]]), wantMixed, 'Q4_0, eight rows per pass');
    expectSameBits(
      gotMixed([
        [8, 16],
        [0, 8],
      ]),
      wantMixed,
      'Q4_0, a group of 8 rows at a time',
    );
    if (hostFused) expectSameBits(gotMixed([[0, 16]], [act.q4_0], true), wantMixed, 'Q4_0, fused');
    // Two activation rows per pass (prompt batches), the midpoints in the first's lanes or the second's.
    const other = activations(blocks, (b) => Array.from({ length: 32 }, (_, j) => ((b * 32 + j) % 7) - 3));
    const wantOther = Float32Array.from({ length: 16 }, (_, r) => vecDotQ4_0Repacked(64, mixed, r * 36, other.q8, 0));
    const both = (first: Float32Array, second: Float32Array) => Float32Array.from([...first, ...second]);
    expectSameBits(gotMixed([[0, 16]], [act.q4_0, other.q4_0]), both(wantMixed, wantOther), 'Q4_0, rows 1 and 2');
    expectSameBits(gotMixed([[0, 16]], [other.q4_0, act.q4_0]), both(wantOther, wantMixed), 'Q4_0, rows 2 and 1');
    if (hostFused) {
      const got = gotMixed([[0, 16]], [act.q4_0, other.q4_0], true);
      expectSameBits(got, both(wantMixed, wantOther), 'Q4_0, rows 1 and 2, fused');
    }
  });

  it('Q4_K repacked (8 rows): in the gemv and the gemm, in acc and in accMin', async () => {
    // Super-block 0 folds 77 by f32(3622 * dy0) into acc (rows 0-3: scale 1, one nibble 7 against
    // q8 11) or accMin (rows 4-7: min 7 against the bsum 11), giving A; super-block 1 folds
    // 993 = 15*66 + 3*1 (acc) = 14*67 + 1*55 (accMin) by (1057/1024) * (1023/1024) = 1024 - 2^-20
    // after dividing by 993, so its f64 sum is A's midpoint. Four activation rows take the gemm
    // (all in its first pair of sub-blocks), the fifth the gemv.
    const [n, dy0, dy1] = [512, 61600, 1023 / 1024];
    expect(Math.fround(A + 993 * Math.fround((1057 / 1024) * dy1))).toBe(A + 2048); // rounded twice
    const row = (mins: boolean) => {
      const w = new Uint8Array(2 * 144);
      const v = new DataView(w.buffer);
      for (const [b, d] of [
        [0, 3622],
        [1, 1057 / 1024],
      ]) {
        v.setUint16(b * 144 + (mins ? 2 : 0), f32ToF16(d), true);
      }
      if (mins) {
        w[8] = 7; // min 0 of super-block 0
        w[144 + 8] = 14; // mins 0 and 1 of super-block 1
        w[144 + 9] = 1;
      } else {
        w[4] = 1; // scale 0
        w[144 + 4] = 1;
        w[16] = 7; // value 0: low nibble of byte 0
        w[144 + 16] = 15;
        w[144 + 17] = 3; // value 1
      }
      return w;
    };
    const w = new Uint8Array(8 * 2 * 144);
    for (let r = 0; r < 8; r++) w.set(row(r >= 4), r * 2 * 144);
    // Activations whose Q8_K quants are q * dy exactly: the largest magnitude, -127 * dy, sits
    // where every weight and min is 0 (sub-block 7).
    const x1 = new Float32Array(n);
    for (const [k, q, dy] of [
      [0, 11, dy0],
      [255, -127, dy0],
      [256, 66, dy1],
      [257, 1, dy1],
      [256 + 32, 55, dy1],
      [511, -127, dy1],
    ]) {
      x1[k] = q * dy;
    }
    const rows = 5;
    const x = new Float32Array(n * rows);
    for (let r = 0; r < rows; r++) x.set(x1, r * n);
    const want = await referenceMatmul(GGMLType.Q4_K, w, n, 8, x, rows);
    for (let r = 0; r < rows; r++) {
      expect(Array.from(want.subarray(r * 8, r * 8 + 8))).toEqual([A, A, A, A, -A, -A, -A, -A]);
    }
    expectSameBits(wasmMatmul(GGMLType.Q4_K, w, n, 8, x, rows), want, 'Q4_K');
  });
});

/**
 * fmaf operands where a*b + c, rounded to f64, lands on an f32 midpoint: c = M * 2^e (M of 24 bits),
 * a*b = ±(1 + 2^-23) * (1 - 2^-23) * 2^(e-1), half of c's last place less 2^(e-47); with both signs
 * random, the f64 sum is the midpoint next to c, the exact value just off it on either side. A
 * quarter of them in f32's subnormal range: c = k * 2^-149 (2^8 <= k < 2^23, so that the f64 sum
 * still rounds), a*b = ±(1 - 2^-46) * 2^-150.
 */
function midpointCases(next: () => number, count: number): [number, number, number][] {
  const f = Math.fround;
  const sign = () => (next() < 0.5 ? -1 : 1);
  const cases: [number, number, number][] = [];
  for (let i = 0; i < count; i++) {
    if (next() < 0.25) {
      const k = 2 ** 8 + Math.floor(next() * (2 ** 23 - 2 ** 8));
      cases.push([f(sign() * (1 + 2 ** -23) * 2 ** -75), f((1 - 2 ** -23) * 2 ** -75), f(sign() * k * 2 ** -149)]);
      continue;
    }
    const e = -149 + Math.floor(next() * 250);
    const m = 2 ** 23 + Math.floor(next() * 2 ** 23);
    const c = f(sign() * m * 2 ** e);
    const a = f(sign() * (1 + 2 ** -23) * 2 ** (e - 1));
    const b = f(1 - 2 ** -23);
    if (Number.isFinite(c) && a !== 0) cases.push([a, b, c]);
  }
  return cases;
}

describe('fmaf through f64 (assembly/fma.ts, engine/quant fmaF32) against fmaf in exact arithmetic', () => {
  it('random operands, and operands whose f64 sum is an f32 midpoint', () => {
    const next = rng(5);
    const f = Math.fround;
    const cases: [number, number, number][] = [];
    for (let i = 0; i < 20000; i++) {
      const e = Math.floor(next() * 40) - 20;
      cases.push([f((next() - 0.5) * 2 ** e), f((next() - 0.5) * 2 ** e), f((next() - 0.5) * 2 ** (e + 1))]);
    }
    for (const s of [1, -1, 2 ** -60, 2 ** 40, 2 ** -130]) {
      for (const sign of [1, -1]) {
        const a = f((1 + 2 ** -23) * 2 ** -24 * s);
        cases.push([a, f(sign * (1 - 2 ** -23)), f(sign * (1 + 2 ** -23) * s)]);
        cases.push([a, f(sign * (1 - 2 ** -23)), f(s)]);
        cases.push([f(2 ** -140), f(1 + 2 ** -23), f(2 ** -149 * sign)]);
      }
    }
    const midpoints = midpointCases(next, 20000);
    let doubleRoundingWrong = 0;
    for (const [a, b, c] of [...cases, ...midpoints]) {
      const want = exactFmaf(a, b, c);
      if (!Object.is(k.fmaf(a, b, c), want))
        expect.fail(`wasm fmaf(${a}, ${b}, ${c}) = ${k.fmaf(a, b, c)}, want ${want}`);
      if (!Object.is(fmaF32(a, b, c), want)) expect.fail(`fmaF32(${a}, ${b}, ${c}) = ${fmaF32(a, b, c)}, want ${want}`);
      if (f(a * b + c) !== want) doubleRoundingWrong++;
    }
    // The midpoint cases are ones where rounding the f64 sum to f32 is wrong (about half of them: ties to even).
    expect(doubleRoundingWrong).toBeGreaterThan(midpoints.length / 4);
  });
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

describe('f32 to binary16 rounding of the attention kernels (roundHalfLanes)', () => {
  it('is f16ToF32(f32ToF16(x)) at every f16 value, the midpoints between them and their neighbours, and past 65504', () => {
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    const nudge = (x: number, by: number) => {
      f[0] = x;
      bits[0] += by;
      return f[0];
    };
    const xs: number[] = [0, 2 ** -149, 2 ** -126, 65504, 65519.99, 65520, 65536, 1e5, 3e38];
    for (let h = 0; h < 0x7c00; h++) {
      const v = f16ToF32(h);
      const next = h + 1 < 0x7c00 ? f16ToF32(h + 1) : 65536;
      const mid = Math.fround((v + next) / 2); // 12 significant bits: exact
      xs.push(v, mid, nudge(mid, 1), nudge(mid, -1));
    }
    const values = Float32Array.from([...xs, ...xs.map((x) => -x)]);
    const n = values.length & ~3;
    const src = BASE;
    const dst = align(src + n * 4);
    new Float32Array(memory.buffer, src, n).set(values.subarray(0, n));
    k.roundHalfLanes(src, n, dst);
    const want = Float32Array.from(values.subarray(0, n), (x) => f16ToF32(f32ToF16(x)));
    expect(Number.isFinite(want[xs.indexOf(65520)])).toBe(false);
    expectSameBits(new Float32Array(memory.buffer, dst, n).slice(), want, 'f16 rounding');
  });
});

describe('wasm flash attention against the reference backend', () => {
  /** Random K, V, Q; stores and attends with both; returns [wasm, reference] outputs. */
  async function both(
    f16: boolean,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    nPast: number,
    rows: number,
    seed: number,
    fused: boolean,
  ) {
    const next = rng(seed);
    const js = new JsBackend();
    const width = nKvHeads * headDim;
    const nCtx = nPast + rows;
    const spec = { nLayers: 1, nCtx, nKvHeads, headDim, type: f16 ? ('f16' as const) : ('f32' as const) };
    const cache = js.createKVCache(spec);
    const kv = (n: number) => Float32Array.from({ length: n * width }, () => (next() - 0.5) * 4);
    const k = kv(nCtx);
    const v = kv(nCtx);
    const positions = Array.from({ length: nCtx }, (_, i) => i);
    const act = (rowsOf: number, cols: number, data: Float32Array) => ({ rows: rowsOf, cols, data });
    js.kvStore(cache, 0, act(nCtx, width, k), act(nCtx, width, v), positions);
    const qCols = nHeads * headDim;
    const q = Float32Array.from({ length: rows * qCols }, () => (next() - 0.5) * 6);
    const qPos = positions.slice(nPast);
    const p = { nHeads, nKvHeads, headDim, scale: Math.fround(1 / Math.sqrt(headDim)) };
    const want = act(rows, qCols, new Float32Array(rows * qCols));
    js.attention(cache, 0, act(rows, qCols, q), qPos, p, want);
    // wasm: caches, K/V rows, q, positions, output, scratch
    const es = f16 ? 2 : 4;
    const kc = BASE;
    const vc = align(kc + nCtx * width * es);
    const kp = align(vc + nCtx * width * es);
    const vp = align(kp + nCtx * width * 4);
    const qp = align(vp + nCtx * width * 4);
    const pp = align(qp + q.length * 4);
    const op = align(pp + nCtx * 4);
    const sp = align(op + q.length * 4);
    new Float32Array(memory.buffer, kp, k.length).set(k);
    new Float32Array(memory.buffer, vp, v.length).set(v);
    new Float32Array(memory.buffer, qp, q.length).set(q);
    new Int32Array(memory.buffer, pp, nCtx).set(positions);
    k_.kvStore(kc, vc, kp, vp, width, nCtx, pp, f16 ? 1 : 0);
    new Int32Array(memory.buffer, pp, rows).set(qPos);
    k_.attentionHeads(
      kc,
      vc,
      qp,
      qCols,
      rows,
      pp,
      nHeads,
      nKvHeads,
      headDim,
      p.scale,
      f16 ? 1 : 0,
      op,
      qCols,
      sp,
      0,
      nHeads,
      fused ? 1 : 0,
    );
    return [new Float32Array(memory.buffer, op, q.length).slice(), want.data] as const;
  }
  const k_ = new Proxy({} as KernelExports, {
    get: (_, name) => (k as unknown as Record<string | symbol, unknown>)[name],
  });

  for (const f16 of [true, false]) {
    it(`${f16 ? 'F16' : 'F32'} cache: prompt batches (also of 64+ rows) and single tokens, GQA, heads of 8 to 128`, async () => {
      let seed = 1;
      for (const [nHeads, nKvHeads, headDim] of [
        [4, 2, 64],
        [2, 2, 8],
        [8, 1, 128],
        [3, 3, 32],
      ]) {
        for (const [nPast, rows] of [
          [0, 1],
          [0, 21],
          [5, 1],
          [40, 3],
          [0, 64], // 64 rows and more: ggml's tiled kernel (F16 cache)
          [3, 70],
        ]) {
          seed++;
          for (const fused of fusedModes()) {
            const [got, want] = await both(f16, nHeads, nKvHeads, headDim, nPast, rows, seed, fused);
            const what = `heads ${nHeads}/${nKvHeads}x${headDim} past ${nPast} rows ${rows} fused=${fused}`;
            expectSameBits(got, want, what);
          }
        }
      }
    });
  }
});
