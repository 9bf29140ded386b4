/**
 * Finding the adapter, and what the backend does when the device goes away
 * (driver reset, out of memory) or is given what it cannot hold.
 */
import { describe, expect, it } from 'vitest';
import { createWebGPUBackend, probeWebGPU } from '../../../../../engine/backend/webgpu/index.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { gpuAvailable, tensorInfo } from './gpu.ts';

describe.skipIf(!gpuAvailable)('webgpu device', () => {
  it('probes the adapter and names it in the description', async () => {
    const probe = await probeWebGPU();
    expect(probe.ok).toBe(true);
    expect(probe.adapter).toBeTruthy();
    const be = await createWebGPUBackend();
    expect(be.description).toMatch(/^webgpu \(.+\)/);
    await be.dispose();
  });

  it('turns a lost device into GPU_DEVICE_LOST, for the read in flight and every call after', async () => {
    const be = await createWebGPUBackend();
    const x = be.createActivation(1, 8);
    const device = (be as unknown as { device: GPUDevice }).device;
    device.destroy(); // what a driver reset looks like from here
    await device.lost;
    await expect(be.read(x)).rejects.toMatchObject({ code: 'GPU_DEVICE_LOST' });
    expect(() => be.add(x, x)).toThrow(expect.objectContaining({ code: 'GPU_DEVICE_LOST' }));
    await be.dispose();
  });

  it('refuses weight types it has no kernels for, and caches larger than a buffer', async () => {
    const be = await createWebGPUBackend({ maxBindingBytes: 1024 });
    const info = tensorInfo('w', GGMLType.IQ4_NL, [32, 2]);
    await expect(be.loadWeight(info, new Uint8Array(36))).rejects.toMatchObject({ code: 'UNSUPPORTED_QUANT_TYPE' });
    const spec = { nLayers: 1, nCtx: 64, nKvHeads: 1, headDim: 16, type: 'f32' as const };
    expect(() => be.createKVCache(spec)).toThrow(expect.objectContaining({ code: 'OUT_OF_MEMORY' }));
    await be.dispose();
  });
});
