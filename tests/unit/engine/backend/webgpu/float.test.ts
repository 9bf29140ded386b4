/**
 * The WGSL helpers that give llama.cpp's CPU roundings (wgsl/float.ts), bit for
 * bit against the reference's: fma_exact against fmaF32 (libm's fmaf), glibc_expf
 * against expF32 (glibc's expf), on inputs where the plain WGSL operations differ
 * (SwiftShader's fma is unfused, its exp is off by up to ~6 ulp in most inputs).
 * Every helper gives each of 32768 random inputs bit for bit (where results and
 * error terms are normal floats: GPUs may flush subnormals).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tanhF32 } from '../../../../../engine/backend/js/gelu.ts';
import { requestAdapter, requestDevice } from '../../../../../engine/backend/webgpu/device.ts';
import { EXACT_FLOAT, GLIBC_EXPF, GLIBC_TANHF, V_EXPF } from '../../../../../engine/backend/webgpu/wgsl/float.ts';
import { fmaF32 } from '../../../../../engine/quant/x86.ts';
import { expF32, vExpF32 } from '../../../../../engine/quant/x86-math.ts';
import { rng } from '../../../../helpers/rng.ts';
import { gpuAvailable } from './gpu.ts';

const N = 1 << 15;

describe.skipIf(!gpuAvailable)('webgpu exact float helpers', () => {
  let device: GPUDevice;
  const next = rng(5);

  beforeAll(async () => {
    device = await requestDevice(await requestAdapter());
  });
  afterAll(() => device?.destroy());

  /** Runs `expr` (over a[i], b[i], c[i]) for N inputs and returns the results. */
  async function run(expr: string, a: Float32Array, b: Float32Array, c: Float32Array): Promise<Float32Array> {
    const code = `${EXACT_FLOAT}${GLIBC_EXPF}${V_EXPF}${GLIBC_TANHF}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> C: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  let a = A[i]; let b = B[i]; let c = C[i];
  O[i] = ${expr};
}`;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffers = [a, b, c, new Float32Array(N)].map((data) => {
      const buffer = device.createBuffer({ size: N * 4, usage });
      device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
      return buffer;
    });
    const module = device.createShaderModule({ code });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const staging = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(N / 64);
    pass.end();
    encoder.copyBufferToBuffer(buffers[3], 0, staging, 0, N * 4);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    for (const buffer of [...buffers, staging]) buffer.destroy();
    return out;
  }

  const mismatches = (got: Float32Array, want: (i: number) => number) =>
    got.reduce((n, v, i) => n + (Object.is(v, Math.fround(want(i))) ? 0 : 1), 0);

  it('fma_exact is fmaf, where a*b + c rounds differently', async () => {
    const a = new Float32Array(N);
    const b = new Float32Array(N);
    const c = new Float32Array(N);
    for (let i = 0; i < N; i++) {
      a[i] = (next() - 0.5) * 2 ** Math.floor(next() * 20 - 10);
      b[i] = (next() - 0.5) * 2 ** Math.floor(next() * 20 - 10);
      // near -a*b half the time: cancellation, where the unfused result is furthest off
      c[i] =
        i % 2 ? -a[i] * b[i] * (1 + (next() - 0.5) * 2 ** -10) : (next() - 0.5) * 2 ** Math.floor(next() * 20 - 10);
    }
    const unfused = await run('a * b + c', a, b, c);
    const fused = await run('fma_exact(a, b, c)', a, b, c);
    const want = (i: number) => fmaF32(a[i], b[i], c[i]);
    expect(mismatches(unfused, want)).toBeGreaterThan(N / 4);
    expect(mismatches(fused, want)).toBe(0);
  });

  it("glibc_expf is glibc's expf wherever the result is a normal float", async () => {
    // Below e^-87.33 the result is subnormal, which GPUs (SwiftShader too) may flush to 0.
    const x = new Float32Array(N);
    for (let i = 0; i < N; i++) x[i] = i % 4 ? -next() * 20 : -87.3 + next() * 176;
    const zero = new Float32Array(N);
    const plain = await run('exp(a)', x, zero, zero);
    const glibc = await run('glibc_expf(a)', x, zero, zero);
    const want = (i: number) => expF32(x[i]);
    expect(mismatches(plain, want)).toBeGreaterThan(N / 10);
    expect(mismatches(glibc, want)).toBe(0);
  });

  it("v_expf is ggml's vectorized expf (ggml_v_expf) above e^-80", async () => {
    // Further down the error terms of its FMAs are subnormal, which the GPU may flush.
    const x = new Float32Array(N);
    for (let i = 0; i < N; i++) x[i] = i % 4 ? -next() * 20 : -80 + next() * 168;
    const zero = new Float32Array(N);
    const got = await run('v_expf(a)', x, zero, zero);
    const bad = [...x.keys()].filter((i) => !Object.is(got[i], Math.fround(vExpF32(x[i]))));
    expect(bad.slice(0, 5).map((i) => [x[i], got[i], vExpF32(x[i])])).toEqual([]);
  });

  it('div_rn and sqrt_rn round to nearest', async () => {
    const a = new Float32Array(N);
    const b = new Float32Array(N);
    for (let i = 0; i < N; i++) {
      a[i] = (next() - 0.5) * 2 ** Math.floor(next() * 40 - 20);
      b[i] = (next() + 0.01) * 2 ** Math.floor(next() * 40 - 20);
    }
    const zero = new Float32Array(N);
    const div = await run('div_rn(a, b)', a, b, zero);
    const sqrt = await run('sqrt_rn(b)', a, b, zero);
    expect(mismatches(div, (i) => a[i] / b[i])).toBe(0);
    expect(mismatches(sqrt, (i) => Math.sqrt(b[i]))).toBe(0);
  });

  it("glibc_tanhf is glibc's tanhf (through its expm1f)", async () => {
    const x = new Float32Array(N);
    for (let i = 0; i < N; i++) x[i] = (next() - 0.5) * 2 ** Math.floor(next() * 12 - 6);
    const zero = new Float32Array(N);
    const got = await run('glibc_tanhf(a)', x, zero, zero);
    expect(mismatches(got, (i) => tanhF32(x[i]))).toBe(0);
  });
});
