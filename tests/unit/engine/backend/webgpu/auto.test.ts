/**
 * `--backend auto` and WebGPU: in Node it stays on wasm unless CHORD_WEBGPU=1
 * asks for WebGPU; a model that does not fit the adapter (its limits, the
 * budget) or that the GPU fails to take while loading goes to wasm; the
 * backend's description says why.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { JsBackend } from '../../../../../engine/backend/js/index.ts';
import { type GpuNeeds, webgpuMisfit } from '../../../../../engine/backend/webgpu/device.ts';
import { WebGPUBackend, webgpuForAuto } from '../../../../../engine/backend/webgpu/index.ts';
import { gpuNeeds } from '../../../../../engine/model/load.ts';
import { loadModel } from '../../../../../engine/node/index.ts';
import { ChordError } from '../../../../../shared/errors.ts';
import { fixture } from '../../../../helpers/fixtures.ts';
import { ensureWasmBuilt } from '../wasm/build.ts';
import { gpuAvailable } from './gpu.ts';

const path = fixture('models/stories260K.gguf');

describe.skipIf(!path)('auto backend choice in Node', () => {
  beforeAll(ensureWasmBuilt);
  afterEach(() => {
    delete process.env.CHORD_WEBGPU;
  });

  it('keeps wasm without CHORD_WEBGPU, and says so', async () => {
    delete process.env.CHORD_WEBGPU;
    const model = await loadModel(path as string, { backend: 'auto', threads: 1 });
    expect(model.info.backend).toMatch(/^wasm .*; webgpu not tried in Node \(CHORD_WEBGPU=1\)$/);
    await model.dispose();
  });

  it.skipIf(!gpuAvailable)('takes WebGPU with CHORD_WEBGPU=1, naming the adapter', async () => {
    process.env.CHORD_WEBGPU = '1';
    const model = await loadModel(path as string, { backend: 'auto' });
    expect(model.info.backend).toMatch(/^webgpu \(.*; auto: webgpu adapter /);
    const logits = await model.createSequence({ contextSize: 16 }).evaluate([1, 403]);
    expect(logits).toHaveLength(512);
    await model.dispose();
  });
});

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const roomy = { maxBufferSize: 4 * GIB, maxStorageBufferBindingSize: 2 * GIB };

/** A 7B-ish model in Q8_0: 7 GiB of weights, a 2 GiB cache, 0.1 GiB of activations. */
const big: GpuNeeds = {
  weightBytes: 7 * GIB,
  weightRowBytes: 4352,
  kvCacheBytes: 2 * GIB,
  kvLayerBytes: 32 * MIB,
  activationBytes: 0.1 * GIB,
  largestActivationBytes: 16 * MIB,
};

describe('whether a model fits WebGPU', () => {
  it('fits within the budget and the adapter limits', () => {
    expect(webgpuMisfit(big, roomy, 10 * GIB)).toBeUndefined();
  });

  it('names the total and the budget when everything together is over it', () => {
    expect(webgpuMisfit(big, roomy, 4 * GIB)).toBe(
      'the model needs 9.1 GiB (weights 7.0 GiB, KV cache 2.0 GiB, activations 102 MiB), over the WebGPU budget of 4.0 GiB',
    );
  });

  it('names the buffer that is larger than the adapter lets one binding be', () => {
    const limits = { maxBufferSize: 256 * MIB, maxStorageBufferBindingSize: 16 * MIB };
    expect(webgpuMisfit(big, limits, 10 * GIB)).toBe(
      "a KV cache layer needs 32 MiB in one buffer, over the adapter's limit of 16 MiB",
    );
    expect(webgpuMisfit({ ...big, kvLayerBytes: MIB }, { ...limits, maxBufferSize: 8 * MIB }, 10 * GIB)).toBe(
      "an activation needs 16 MiB in one buffer, over the adapter's limit of 8 MiB",
    );
  });

  it('estimates a model from its hyper-parameters: F16 cache of the default context, activations', () => {
    const hp = { nEmbd: 4096, nHeads: 32, nKvHeads: 8, headDim: 128, nFF: 14336, nLayers: 32, nCtxTrain: 8192 };
    const tensors = [
      { byteSize: 4096 * 4, shape: [4096] },
      { byteSize: 14336 * 4352, shape: [4096, 14336] }, // Q8_0 rows: 4096 / 32 * 34 bytes
    ];
    const needs = gpuNeeds({ ...hp, vocabSize: 128256 } as never, tensors);
    expect(needs.weightBytes).toBe(4096 * 4 + 14336 * 4352);
    expect(needs.weightRowBytes).toBe(4096 * 4); // the norm vector: held as f32, in one buffer
    expect(needs.kvLayerBytes).toBe(4096 * 8 * 128 * 2);
    expect(needs.kvCacheBytes).toBe(2 * 32 * 4096 * 8 * 128 * 2);
    // the gate|up product of the largest prompt batch (127 rows of 2 x 14336)
    expect(needs.largestActivationBytes).toBe(127 * 2 * 14336 * 4);
    expect(needs.activationBytes).toBeGreaterThan(needs.largestActivationBytes);
  });
});

/** A hardware-looking adapter with these limits as navigator.gpu offers it. */
function fakeNavigatorGpu(limits: typeof roomy): void {
  const adapter = { info: { vendor: 'fake', architecture: 'gpu', device: '', description: '' }, limits };
  vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => adapter } });
}

describe('auto with a fake adapter', () => {
  beforeAll(ensureWasmBuilt);
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    delete process.env.CHORD_WEBGPU;
  });

  it('takes WebGPU when the model fits, not when it does not', async () => {
    process.env.CHORD_WEBGPU = '1';
    fakeNavigatorGpu(roomy);
    expect(await webgpuForAuto(big, 10 * GIB)).toEqual({ use: true, reason: 'auto: webgpu adapter fake gpu' });
    expect(await webgpuForAuto(big, 4 * GIB)).toEqual({
      use: false,
      reason:
        'webgpu skipped: the model needs 9.1 GiB (weights 7.0 GiB, KV cache 2.0 GiB, activations 102 MiB), over the WebGPU budget of 4.0 GiB',
    });
  });

  it.skipIf(!path)('loads on wasm, saying why, when a buffer would exceed the adapter limits', async () => {
    process.env.CHORD_WEBGPU = '1';
    fakeNavigatorGpu({ maxBufferSize: 64 * 1024, maxStorageBufferBindingSize: 64 * 1024 });
    const create = vi.spyOn(WebGPUBackend, 'create');
    const model = await loadModel(path as string, { backend: 'auto', threads: 1 });
    expect(model.info.backend).toMatch(
      /^wasm .*; webgpu skipped: a KV cache layer needs 128 KiB in one buffer, over the adapter's limit of 64 KiB$/,
    );
    expect(create).not.toHaveBeenCalled();
    await model.dispose();
  });

  it.skipIf(!path)('loads on wasm, saying why, when the GPU runs out of memory while taking the weights', async () => {
    process.env.CHORD_WEBGPU = '1';
    fakeNavigatorGpu(roomy);
    // The backend auto chose: the reference backend posing as WebGPU, out of memory at the 5th weight.
    let gpu: JsBackend | undefined;
    vi.spyOn(WebGPUBackend, 'create').mockImplementation(async () => {
      gpu = new JsBackend();
      Object.defineProperty(gpu, 'name', { value: 'webgpu' });
      Object.defineProperty(gpu, 'description', { value: 'webgpu (fake)' });
      const load = gpu.loadWeight.bind(gpu);
      let n = 0;
      gpu.loadWeight = (info, bytes) =>
        ++n === 5
          ? Promise.reject(new ChordError('OUT_OF_MEMORY', `webgpu: no room for ${info.name}: test`))
          : load(info, bytes);
      gpu.dispose = vi.fn(gpu.dispose.bind(gpu));
      return gpu as unknown as WebGPUBackend;
    });
    const model = await loadModel(path as string, { backend: 'auto', threads: 1 });
    expect(model.info.backend).toMatch(
      /^wasm .*; webgpu failed while loading the weights \(OUT_OF_MEMORY: webgpu: no room for [\w.]+: test\)$/,
    );
    expect(gpu?.dispose).toHaveBeenCalled();
    const logits = await model.createSequence({ contextSize: 16 }).evaluate([1, 403]);
    expect(logits).toHaveLength(512);
    await model.dispose();
  });

  it.skipIf(!path)('an explicit webgpu backend that runs out of memory is an error, not a fallback', async () => {
    vi.spyOn(WebGPUBackend, 'create').mockImplementation(async () => {
      const gpu = new JsBackend();
      Object.defineProperty(gpu, 'name', { value: 'webgpu' });
      gpu.loadWeight = () => Promise.reject(new ChordError('OUT_OF_MEMORY', 'webgpu: no room: test'));
      return gpu as unknown as WebGPUBackend;
    });
    await expect(loadModel(path as string, { backend: 'webgpu' })).rejects.toMatchObject({ code: 'OUT_OF_MEMORY' });
  });
});
