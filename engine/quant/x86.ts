/**
 * llama.cpp's dot products as its x86 AVX2 CPU build (`libggml-cpu-haswell`)
 * computes them, float operation for float operation, so that our results are
 * bit-identical to what llama.cpp runs on an AVX2 machine. The generic
 * functions in formats/*.ts (ggml's *_generic C loops) stay the specification
 * for the WASM/WebGPU kernels; these differ from them only in summation order
 * and in fused multiply-adds, i.e. by float rounding (~1e-7 relative). That
 * matters because a 1e-7 difference in an activation sometimes moves it across
 * a Q8 or F16 rounding boundary downstream.
 *
 * What the AVX2 kernels do, in float terms:
 * - Block formats against Q8 (ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0, {q4_1,q5_1}_q8_1 in
 *   ggml-cpu/arch/x86/quants.c): per block, 8 lanes of int32 sums, lane k
 *   holding elements 4k..4k+3 (maddubs + madd), converted to float and
 *   accumulated with one FMA per lane: acc[k] = fma(d, q[k], acc[k]),
 *   d = dw*da rounded to float. At the end hsum_float_8 (below).
 * - Q4_0 weights with a multiple of 8 rows are repacked at load time (the
 *   CPU_REPACK buffer, block_q4_0x8) and multiplied by
 *   ggml_gemv_q4_0_8x8_q8_0 / ggml_gemm_q4_0_8x8_q8_0 (arch/x86/repack.cpp):
 *   one float accumulator per output, acc = fma(float(sumi), dw*da, acc) per block.
 * - F32/F16 (ggml_vec_dot_f32 / ggml_vec_dot_f16, GGML_F32_STEP 32, 8 lanes):
 *   4 vector accumulators, FMA, reduced pairwise; the tail (n mod 32) goes
 *   into a float sum for F32 (see dotFloat), into a double for F16.
 */
import { f16ToF32 } from './fp16.ts';
import { GGMLType } from './types.ts';
import { dotQ2_KX86, dotQ3_KX86, dotQ5_KX86, dotQ6_KX86 } from './x86-k.ts';

const fround = Math.fround;

/**
 * fmaf(a, b, c) for float32 a, b, c: a*b + c rounded once to float32.
 * a*b is exact in double (two 24-bit significands); the double sum p + c can be
 * inexact, and rounding it again to float32 differs from a single rounding only
 * when it lands exactly on a float32 midpoint; then the sum's rounding error
 * (two-sum) tells which way the exact value lies.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = fround(s);
  if (r === s) return r;
  const pv = s - c;
  const err = p - pv + (c - (s - pv));
  if (err === 0) return r;
  const other = 2 * s - r; // the float on the other side if s is a midpoint
  if (other === r || fround(other) !== other) return r;
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}

/** hsum_float_8: (x4+x0, x5+x1, x6+x2, x7+x3), then (0+2) + (1+3). */
export function hsumF32x8(x: Float32Array): number {
  const r0 = fround(x[4] + x[0]);
  const r1 = fround(x[5] + x[1]);
  const r2 = fround(x[6] + x[2]);
  const r3 = fround(x[7] + x[3]);
  return fround(fround(r0 + r2) + fround(r1 + r3));
}

const lanes = new Float32Array(8);
const Q8_0_SIZE = 34;
const Q8_1_SIZE = 36;

function int8(b: Uint8Array, o: number): number {
  return (b[o] << 24) >> 24;
}

/** ggml_vec_dot_q4_0_q8_0, AVX2 path. */
function dotQ4_0(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  lanes.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * 18;
    const ab = aOffset + i * Q8_0_SIZE;
    const d = fround(readHalf(w, wb) * readHalf(a, ab));
    for (let k = 0; k < 8; k++) {
      let q = 0;
      for (let j = 4 * k; j < 4 * k + 4; j++) {
        const byte = w[wb + 2 + (j & 15)];
        const x = (j < 16 ? byte & 0x0f : byte >> 4) - 8;
        q += x * int8(a, ab + 2 + j);
      }
      lanes[k] = fmaF32(d, q, lanes[k]);
    }
  }
  return hsumF32x8(lanes);
}

/** ggml_vec_dot_q5_0_q8_0, AVX2 path: as Q4_0, the fifth bit from qh (x = nibble | bit<<4, minus 16). */
function dotQ5_0(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  lanes.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * 22;
    const ab = aOffset + i * Q8_0_SIZE;
    const qh = w[wb + 2] | (w[wb + 3] << 8) | (w[wb + 4] << 16) | (w[wb + 5] << 24);
    const d = fround(readHalf(w, wb) * readHalf(a, ab));
    for (let k = 0; k < 8; k++) {
      let q = 0;
      for (let j = 4 * k; j < 4 * k + 4; j++) {
        const byte = w[wb + 6 + (j & 15)];
        const x = ((j < 16 ? byte & 0x0f : byte >> 4) | (((qh >>> j) & 1) << 4)) - 16;
        q += x * int8(a, ab + 2 + j);
      }
      lanes[k] = fmaF32(d, q, lanes[k]);
    }
  }
  return hsumF32x8(lanes);
}

/** ggml_vec_dot_q8_0_q8_0, AVX2 path. */
function dotQ8_0(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  lanes.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * Q8_0_SIZE;
    const ab = aOffset + i * Q8_0_SIZE;
    const d = fround(readHalf(w, wb) * readHalf(a, ab));
    for (let k = 0; k < 8; k++) {
      let q = 0;
      for (let j = 4 * k; j < 4 * k + 4; j++) q += int8(w, wb + 2 + j) * int8(a, ab + 2 + j);
      lanes[k] = fmaF32(d, q, lanes[k]);
    }
  }
  return hsumF32x8(lanes);
}

/** ggml_vec_dot_q4_1_q8_1, AVX2 path: as Q5_1 below without the fifth bit. */
function dotQ4_1(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  lanes.fill(0);
  let summs = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * 20;
    const ab = aOffset + i * Q8_1_SIZE;
    summs = fmaF32(readHalf(w, wb + 2), readHalf(a, ab + 2), summs);
    const d = fround(readHalf(w, wb) * readHalf(a, ab));
    for (let k = 0; k < 8; k++) {
      let q = 0;
      for (let j = 4 * k; j < 4 * k + 4; j++) {
        const byte = w[wb + 4 + (j & 15)];
        q += (j < 16 ? byte & 0x0f : byte >> 4) * int8(a, ab + 4 + j);
      }
      lanes[k] = fmaF32(q, d, lanes[k]);
    }
  }
  return fround(hsumF32x8(lanes) + summs);
}

/**
 * ggml_vec_dot_q5_1_q8_1, AVX2 path: acc[k] = fma(q[k], dx*dy, acc[k]); the
 * minimum terms m*s go into a scalar float sum (an FMA: the build contracts
 * `summs += m*s`), added after the horizontal sum.
 */
function dotQ5_1(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  lanes.fill(0);
  let summs = 0;
  for (let i = 0; i < nBlocks; i++) {
    const wb = wOffset + i * 24;
    const ab = aOffset + i * Q8_1_SIZE;
    summs = fmaF32(readHalf(w, wb + 2), readHalf(a, ab + 2), summs);
    const qh = w[wb + 4] | (w[wb + 5] << 8) | (w[wb + 6] << 16) | (w[wb + 7] << 24);
    const d = fround(readHalf(w, wb) * readHalf(a, ab));
    for (let k = 0; k < 8; k++) {
      let q = 0;
      for (let j = 4 * k; j < 4 * k + 4; j++) {
        const byte = w[wb + 8 + (j & 15)];
        const x = (j < 16 ? byte & 0x0f : byte >> 4) | (((qh >>> j) & 1) << 4);
        q += x * int8(a, ab + 4 + j);
      }
      lanes[k] = fmaF32(q, d, lanes[k]);
    }
  }
  return fround(hsumF32x8(lanes) + summs);
}

/**
 * ggml_gemv_q4_0_8x8_q8_0 / ggml_gemm_q4_0_8x8_q8_0 (the repacked Q4_0 path),
 * one output: acc = fma(float(sumi), dw*da, acc) per block.
 */
export function vecDotQ4_0Repacked(n: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  let acc = 0;
  for (let i = 0; i < n / 32; i++) {
    const wb = wOffset + i * 18;
    const ab = aOffset + i * Q8_0_SIZE;
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const byte = w[wb + 2 + j];
      sumi += ((byte & 0x0f) - 8) * int8(a, ab + 2 + j) + ((byte >> 4) - 8) * int8(a, ab + 18 + j);
    }
    acc = fmaF32(sumi, fround(readHalf(w, wb) * readHalf(a, ab)), acc);
  }
  return acc;
}

/**
 * ggml_vec_dot_f32 / ggml_vec_dot_f16 with GGML_SIMD on AVX2: four 8-lane
 * accumulators over steps of 32 elements (sum[j] = fma(x, y, sum[j])), reduced
 * as (s0+s2) + (s1+s3), then lanes (l+l4), hadd, hadd. The tail: F32 sums
 * in float (`sumf += x*y`), F16 in double.
 */
export function dotFloat(n: number, x: (i: number) => number, y: (i: number) => number, floatTail: boolean): number {
  const np = n & ~31;
  let sum = 0;
  if (np > 0) {
    const acc = new Float32Array(32);
    for (let i = 0; i < np; i += 32) {
      for (let l = 0; l < 32; l++) acc[l] = fmaF32(x(i + l), y(i + l), acc[l]);
    }
    const v = new Float32Array(8);
    for (let l = 0; l < 8; l++) {
      v[l] = fround(fround(acc[l] + acc[16 + l]) + fround(acc[8 + l] + acc[24 + l]));
    }
    const t0 = fround(v[0] + v[4]);
    const t1 = fround(v[1] + v[5]);
    const t2 = fround(v[2] + v[6]);
    const t3 = fround(v[3] + v[7]);
    sum = fround(fround(t0 + t1) + fround(t2 + t3));
  }
  if (!floatTail) {
    for (let i = np; i < n; i++) sum += fround(x(i) * y(i));
    return fround(sum);
  }
  // GCC vectorizes the F32 tail loop: products in vectors of 8, then 4 (each
  // rounded), added to the float sum one by one in order; the last 0-3 as
  // scalar FMAs (as disassembled from libggml-cpu-haswell.so).
  let i = np;
  const vectorEnd = n - np >= 8 ? np + ((n - np) & ~7) : np;
  for (; i < vectorEnd; i++) sum = fround(sum + fround(x(i) * y(i)));
  if (n - i >= 4) for (const end = i + 4; i < end; i++) sum = fround(sum + fround(x(i) * y(i)));
  for (; i < n; i++) sum = fmaF32(x(i), y(i), sum);
  return sum;
}

function dotF32(n: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const wv = new DataView(w.buffer, w.byteOffset + wOffset);
  const av = new DataView(a.buffer, a.byteOffset + aOffset);
  return dotFloat(
    n,
    (i) => wv.getFloat32(4 * i, true),
    (i) => av.getFloat32(4 * i, true),
    true,
  );
}

function dotF16(n: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  return dotFloat(
    n,
    (i) => readHalf(w, wOffset + 2 * i),
    (i) => readHalf(a, aOffset + 2 * i),
    false,
  );
}

function readHalf(b: Uint8Array, o: number): number {
  return f16ToF32(b[o] | (b[o + 1] << 8));
}

type Dot = (nBlocksOrN: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number) => number;
const BLOCK_DOTS: ReadonlyMap<GGMLType, Dot> = new Map([
  [GGMLType.Q4_0, dotQ4_0],
  [GGMLType.Q8_0, dotQ8_0],
  [GGMLType.Q5_1, dotQ5_1],
  [GGMLType.Q4_1, dotQ4_1],
  [GGMLType.Q5_0, dotQ5_0],
]);
const FLOAT_DOTS: ReadonlyMap<GGMLType, Dot> = new Map([
  [GGMLType.F32, dotF32],
  [GGMLType.F16, dotF16],
]);

/** Whether vecDotX86 mirrors llama.cpp's AVX2 kernel for this weight type. */
export function hasX86Dot(weightType: GGMLType): boolean {
  return BLOCK_DOTS.has(weightType) || FLOAT_DOTS.has(weightType) || SUPER_BLOCK_DOTS.has(weightType);
}

/** K-quants (x86-k.ts), over super-blocks of 256. */
const SUPER_BLOCK_DOTS: ReadonlyMap<GGMLType, Dot> = new Map([
  [GGMLType.Q2_K, dotQ2_KX86],
  [GGMLType.Q3_K, dotQ3_KX86],
  [GGMLType.Q5_K, dotQ5_KX86],
  [GGMLType.Q6_K, dotQ6_KX86],
]);

/**
 * The AVX2 ggml_vec_dot_* of a weight row against activations already in the
 * type's vec_dot_type (as vecDot in index.ts), for the types hasX86Dot accepts.
 */
export function vecDotX86(
  weightType: GGMLType,
  n: number,
  w: Uint8Array,
  wOffset: number,
  a: Uint8Array,
  aOffset: number,
): number {
  const block = BLOCK_DOTS.get(weightType);
  if (block !== undefined) return block(n / 32, w, wOffset, a, aOffset);
  const superBlock = SUPER_BLOCK_DOTS.get(weightType);
  if (superBlock !== undefined) return superBlock(n / 256, w, wOffset, a, aOffset);
  return (FLOAT_DOTS.get(weightType) as Dot)(n, w, wOffset, a, aOffset);
}

/**
 * Whether llama.cpp's AVX2 build repacks a weight of this type with nRows
 * (ne[1]) rows into its CPU_REPACK buffer (ggml_repack_get_optimal_repack_type):
 * Q4_0 with nRows % 8 == 0 (block_q4_0x8). Q4_K and IQ4_NL are repacked too on
 * AVX2, with their own float order that is not mirrored here; Q2_K only with
 * AVX-512, so an AVX2 machine runs ggml_vec_dot_q2_K_q8_K (x86-k.ts).
 */
export function isRepackedOnX86(weightType: GGMLType, nRows: number): boolean {
  return weightType === GGMLType.Q4_0 && nRows % 8 === 0;
}

/**
 * llamafile's tinyBLAS (ggml-cpu/llamafile/sgemm.cpp), AVX2, F32 x F32 and
 * F16 x F16 (the activations converted to F16 first), one output: a single
 * 8-lane accumulator, acc[l] = fma(w, a, acc[l]) over steps of 8, then hsum.
 */
export function vecDotTinyBlas(
  type: GGMLType,
  n: number,
  w: Uint8Array,
  wOffset: number,
  a: Uint8Array,
  aOffset: number,
): number {
  const half = type === GGMLType.F16;
  const wv = new DataView(w.buffer, w.byteOffset + wOffset);
  const av = new DataView(a.buffer, a.byteOffset + aOffset);
  const at = (v: DataView, i: number) => (half ? f16ToF32(v.getUint16(2 * i, true)) : v.getFloat32(4 * i, true));
  return dotTinyBlas(
    n,
    (i) => at(wv, i),
    (i) => at(av, i),
  );
}

/** tinyBLAS's order over values given by index (n a multiple of 8): 8 FMA lanes, then hsum. */
export function dotTinyBlas(n: number, x: (i: number) => number, y: (i: number) => number): number {
  lanes.fill(0);
  for (let i = 0; i < n; i += 8) {
    for (let l = 0; l < 8; l++) lanes[l] = fmaF32(x(i + l), y(i + l), lanes[l]);
  }
  return hsumF32x8(lanes);
}

/**
 * Whether llama.cpp's mul_mat hands a product to tinyBLAS (llamafile_sgemm)
 * rather than to ggml_vec_dot_*: F32 and F16 weights whose row length is a
 * multiple of 8, and only for 2 or more activation rows ("only enable sgemm for
 * prompt processing"). Its quantized kernels (Q8_0, Q4_0) sum like the AVX2
 * vec_dot ones, so they need no variant here.
 */
export function usesTinyBlas(weightType: GGMLType, n: number, rows: number): boolean {
  return (weightType === GGMLType.F32 || weightType === GGMLType.F16) && n % 8 === 0 && rows >= 2;
}
