import { readFileSync } from 'node:fs';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../../engine/backend/backend.ts';
import { loadModel } from '../../../../engine/index.ts';
import { createModelStore } from '../../../../engine/store/index.ts';
import { EngineHost, type LoadModel } from '../../../../entrypoints/offscreen/engine-host.ts';
import { ChordError } from '../../../../shared/errors.ts';
import type { EngineRequest, StreamEvent } from '../../../../shared/protocol.ts';
import { fixture } from '../../../helpers/fixtures.ts';

// The engine host as the offscreen document runs it, in Node: a real model store
// (fake-indexeddb) holding stories260K, real generations. The expected story is
// llama.cpp's greedy text from the oracle file.

const modelPath = fixture('models/stories260K.gguf');
const q8Path = fixture('models/stories260K-Q8_0.gguf');
const oraclePath = fixture('models/stories260K.oracle.json');

async function hostWithModels(load?: LoadModel) {
  const store = createModelStore({ indexedDB: new IDBFactory(), IDBKeyRange, storage: null });
  const f32 = await store.installFromFile(new Blob([readFileSync(modelPath!)]), { name: 'stories260K.gguf' });
  const q8 = await store.installFromFile(new Blob([readFileSync(q8Path!)]), { name: 'stories260K-Q8_0.gguf' });
  const events: StreamEvent[] = [];
  const ended = new Map<string, () => void>();
  const host = new EngineHost(
    store,
    (event) => {
      events.push(event);
      if (event.type === 'done' || event.type === 'error' || event.type === 'result') ended.get(event.id)?.();
    },
    { threads: 1 },
    load,
  );
  const ask = (request: EngineRequest) =>
    new Promise<void>((resolve) => {
      ended.set(request.id, resolve);
      host.handle(request);
    });
  const generate = (id: string, maxTokens: number, model?: string) =>
    ask({ type: 'generate', id, input: 'Once upon a time', options: { maxTokens, temperature: 0, model } });
  const textOf = (id: string) =>
    events
      .filter((e) => e.id === id && e.type === 'chunk')
      .map((e) => (e as { text: string }).text)
      .join('');
  const last = (id: string) => events.filter((e) => e.id === id).at(-1)!;
  return { host, events, ask, generate, textOf, last, f32, q8 };
}

describe.skipIf(!modelPath || !q8Path || !oraclePath)('engine host', () => {
  const story = oraclePath ? (JSON.parse(readFileSync(oraclePath, 'utf8')) as { greedyText: string }).greedyText : '';

  it('interleaves two generations token by token, each with its own KV cache', async () => {
    const { events, generate, textOf, last } = await hostWithModels();
    await generate('warm-up', 1); // loads the model
    const start = events.length;
    await Promise.all([generate('a', 30), generate('b', 30)]);
    for (const id of ['a', 'b']) {
      expect(textOf(id)).toBe(story);
      expect(last(id)).toMatchObject({ type: 'done', result: { text: story, finishReason: 'length' } });
    }
    // The streams alternate (one run after the other would switch once).
    const order = events
      .slice(start)
      .filter((e) => e.type === 'chunk')
      .map((e) => e.id);
    const switches = order.filter((id, i) => i > 0 && id !== order[i - 1]).length;
    expect(switches).toBeGreaterThan(20);
  });

  it('switches models only when the generations on the loaded one have ended', async () => {
    const { events, generate, textOf, last, f32, q8 } = await hostWithModels();
    await generate('warm-up', 1, f32.id);
    await Promise.all([generate('on-f32', 30, f32.id), generate('on-q8', 30, q8.id)]);
    expect(textOf('on-f32')).toBe(story);
    expect(last('on-f32')).toMatchObject({ type: 'done', result: { model: f32.id } });
    expect(last('on-q8')).toMatchObject({ type: 'done', result: { model: q8.id, usage: { completionTokens: 30 } } });
    const f32Done = events.findIndex((e) => e.id === 'on-f32' && e.type === 'done');
    const q8First = events.findIndex((e) => e.id === 'on-q8' && e.type !== 'progress');
    expect(f32Done).toBeLessThan(q8First);
  });

  it('deleting the loaded model ends the generations on it first', async () => {
    const { ask, generate, last, f32 } = await hostWithModels();
    await generate('warm-up', 1, f32.id);
    const long = generate('long', 400, f32.id);
    await new Promise((r) => setTimeout(r, 20));
    await ask({ type: 'delete', id: 'del', model: f32.id });
    await long;
    expect(last('long')).toMatchObject({ type: 'error', error: { code: 'ABORTED' } });
    expect(last('del')).toMatchObject({ type: 'result', value: null });
    await generate('after', 5, f32.id);
    expect(last('after')).toMatchObject({ type: 'error', error: { code: 'MODEL_NOT_FOUND' } });
  });

  /**
   * A load whose 'auto' answers with a model whose (fake) GPU is lost after `reads`
   * forward passes: the reference backend, reporting itself as webgpu, throwing as
   * the WebGPU backend does (the failed read, then every later one). `asked` lists
   * the backends asked for.
   */
  function gpuLostAfter(reads: number): { load: LoadModel; asked: (string | undefined)[] } {
    const asked: (string | undefined)[] = [];
    const load: LoadModel = async (input, opts) => {
      asked.push(opts?.backend);
      if (opts?.backend !== 'auto') return loadModel(input, opts);
      const model = await loadModel(input, { ...opts, backend: 'js' });
      model.info.backend = 'webgpu (fake adapter)';
      const backend = (model as unknown as { backend: Backend }).backend;
      const read = backend.read.bind(backend);
      let done = 0;
      backend.read = (x) => {
        if (++done > reads) return Promise.reject(new ChordError('GPU_DEVICE_LOST', 'webgpu: device lost: test'));
        return read(x);
      };
      return model;
    };
    return { load, asked };
  }

  it('a GPU device lost mid-generation ends that request; the next one runs on wasm and says why', async () => {
    const { load, asked } = gpuLostAfter(3);
    const { generate, textOf, last, f32 } = await hostWithModels(load);
    await generate('on-gpu', 30, f32.id);
    expect(last('on-gpu')).toMatchObject({ type: 'error', error: { code: 'GPU_DEVICE_LOST' } });
    expect(textOf('on-gpu')).toBe(story.slice(0, textOf('on-gpu').length));
    expect(textOf('on-gpu').length).toBeGreaterThan(0);

    await generate('after', 30, f32.id);
    expect(last('after')).toMatchObject({ type: 'done', result: { text: story } });
    const { backend } = (last('after') as { result: { backend: string } }).result;
    expect(backend).toMatch(/^wasm.*webgpu failed earlier \(GPU_DEVICE_LOST: webgpu: device lost: test\)$/);
    expect(asked).toEqual(['auto', 'wasm']);

    // It stays on wasm: no reload, no second try of the GPU.
    await generate('again', 2, f32.id);
    expect(last('again')).toMatchObject({ type: 'done' });
    expect(asked).toEqual(['auto', 'wasm']);
  });

  it('a GPU device lost ends every generation running on it with GPU_DEVICE_LOST, not ABORTED', async () => {
    const { load, asked } = gpuLostAfter(8);
    const { generate, textOf, last, f32 } = await hostWithModels(load);
    await Promise.all(['a', 'b', 'c'].map((id) => generate(id, 30, f32.id)));
    for (const id of ['a', 'b', 'c']) {
      expect(last(id)).toMatchObject({
        type: 'error',
        error: { code: 'GPU_DEVICE_LOST', message: 'webgpu: device lost: test' },
      });
      expect(textOf(id)).toBe(story.slice(0, textOf(id).length));
    }
    await generate('after', 30, f32.id);
    expect(last('after')).toMatchObject({ type: 'done', result: { text: story } });
    expect(asked).toEqual(['auto', 'wasm']);
  });

  it('a GPU without room for the weights: the same request loads the model on wasm and says why', async () => {
    const asked: (string | undefined)[] = [];
    const load: LoadModel = async (input, opts) => {
      asked.push(opts?.backend);
      if (opts?.backend === 'auto') throw new ChordError('OUT_OF_MEMORY', 'webgpu: no room for output.weight: test');
      return loadModel(input, opts);
    };
    const { generate, last, f32 } = await hostWithModels(load);
    await generate('first', 30, f32.id);
    expect(last('first')).toMatchObject({ type: 'done', result: { text: story } });
    const { backend } = (last('first') as { result: { backend: string } }).result;
    expect(backend).toMatch(/^wasm.*webgpu failed earlier \(OUT_OF_MEMORY: webgpu: no room for output.weight: test\)$/);
    expect(asked).toEqual(['auto', 'wasm']);
  });
});
