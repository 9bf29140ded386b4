/**
 * Kernel throughput of the wasm matmuls on one thread, in weights per second:
 * `npx vite-node tests/unit/engine/backend/wasm/kernel-bench.ts [--plain] [--no-fma] [types] [rows] [kernels.wasm]`
 * (--plain: the SIMD128-only build rather than the relaxed-SIMD one where the host has it;
 * the last to time another build of the kernels, e.g. an older one, against the same data).
 * Random weights (2048 x 2048, a TinyLlama-sized projection), one activation
 * row (decode) or `rows` (prefill), per second of this process's CPU time. Not a
 * test: a measurement to run by hand.
 */
import { readFileSync } from 'node:fs';
import {
  compileKernels,
  createMemory,
  hasFusedMadd,
  instantiateKernels,
  MATMUL_FUSED_MADD,
  MATMUL_REPACKED,
} from '../../../../../engine/backend/wasm/kernels.ts';
import { f32ToBf16, f32ToF16 } from '../../../../../engine/quant/fp16.ts';
import { rowBytes } from '../../../../../engine/quant/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { rng } from '../../../../helpers/rng.ts';
import { ensureWasmBuilt } from './build.ts';

await ensureWasmBuilt();
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const plain = process.argv.includes('--plain');
const other = args[2];
// Compiled even when timing another build: in Node 20 this turns on relaxed SIMD for it too.
const compiled = await compileKernels(false, !plain);
const module = other ? await WebAssembly.compile(readFileSync(other)) : compiled.module;
console.log(`kernels: ${other ?? (compiled.relaxed ? 'relaxed SIMD' : 'SIMD128')}`);
// KERNEL_BENCH_ROWS_OUT: more output rows, for a matrix that does not fit in cache (as in a decode step).
const nOut = Number(process.env.KERNEL_BENCH_ROWS_OUT ?? 2048);
const memory = createMemory(false);
memory.grow(Math.ceil((nOut * 2048 * 4 + (16 << 20)) / 65536));
const k = instantiateKernels(module, memory);
// --no-fma: the kernels' fmaf emulated through f64 even where relaxed_madd is fused.
const fused = hasFusedMadd(k) && !process.argv.includes('--no-fma') ? 1 : 0;
console.log(`fmaf: ${fused ? 'relaxed_madd (fused on this host)' : 'emulated'}`);
const names = (args[0] ?? 'Q4_0,Q8_0,Q4_K,Q6_K,F16,F32').split(',');
const rows = Number(args[1] ?? 1);
const n = 2048;
const next = rng(1);
for (const name of names) {
  const type = GGMLType[name as keyof typeof GGMLType];
  if (!k.hasKernel(type)) {
    console.log(`${name}: no kernel`);
    continue;
  }
  const rb = rowBytes(type, n);
  const u8 = new Uint8Array(memory.buffer);
  const w = 1 << 20;
  for (let i = 0; i < rb * nOut; i++) u8[w + i] = (next() * 256) | 0;
  // Sane f16 scales: every 2-byte word a small half (a crude but format-blind choice would make NaNs).
  const dv = new DataView(memory.buffer);
  for (let i = 0; i < rb * nOut; i += 2)
    if ((dv.getUint16(w + i, true) & 0x7c00) >= 0x7c00) dv.setUint16(w + i, 0x2000, true);
  // Q8_0 quants as llama.cpp writes them, -127..127 (a -128 keeps the SIMD128 kernel: dots.ts canRepackQ8_0).
  if (type === GGMLType.Q8_0) for (let i = 0; i < rb * nOut; i++) if (u8[w + i] === 0x80) u8[w + i] = 0x81;
  // Float weights as a model has them (random bytes would be values of every magnitude, and NaNs).
  const weight = () => (next() + next() + next() - 1.5) * 0.03;
  if (type === GGMLType.F32) for (let i = 0; i < n * nOut; i++) dv.setFloat32(w + 4 * i, weight(), true);
  if (type === GGMLType.F16) for (let i = 0; i < n * nOut; i++) dv.setUint16(w + 2 * i, f32ToF16(weight()), true);
  if (type === GGMLType.BF16) for (let i = 0; i < n * nOut; i++) dv.setUint16(w + 2 * i, f32ToBf16(weight()), true);
  const x = w + rb * nOut + 4096;
  const xs = new Float32Array(memory.buffer, x, n * rows);
  for (let i = 0; i < xs.length; i++) xs[i] = next() - 0.5;
  const act = x + n * rows * 4 + 4096;
  const stride = k.activationRowBytes(type, n);
  const out = act + stride * rows + 4096;
  k.prepareActivations(type, x, n, rows, act);
  const repacked = k.prepareWeights(type, w, rb, nOut, out + nOut * rows * 4 + 4096, fused);
  const flags = fused * MATMUL_FUSED_MADD + repacked * MATMUL_REPACKED;
  // CPU time rather than wall time: on a shared machine the process is descheduled at random.
  let reps = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < 500) {
    k.matmulRange(type, w, rb, n, nOut, act, stride, rows, out, 0, nOut, flags);
    reps++;
  }
  const cpu = process.cpuUsage(c0);
  const s = (cpu.user + cpu.system) / 1e6;
  console.log(`${name} rows=${rows}: ${((reps * n * nOut * rows) / s / 1e9).toFixed(2)} Gweights/s`);
}
