/**
 * `--backend auto` and WebGPU: in Node it stays on wasm unless CHORD_WEBGPU=1
 * asks for WebGPU, and the backend's description says why.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../../../engine/node/index.ts';
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
