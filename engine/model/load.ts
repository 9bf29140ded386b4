import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { Backend, BackendName } from '../backend/backend.ts';
import { JsBackend } from '../backend/js/index.ts';
import type { SpawnWorker } from '../backend/wasm/pool.ts';
import { readGGUF, readTensorBytes } from '../gguf/reader.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { TYPE_TRAITS } from '../quant/types.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { FAMILIES, tensorSpecs } from './family.ts';
import { readHParams } from './hparams.ts';
import { Model, summarizeTensorTypes } from './model.ts';

export interface LoadProgress {
  loadedBytes: number;
  totalBytes: number;
}

export interface LoadOptions {
  backend?: 'auto' | BackendName;
  threads?: number;
  /** Starts a wasm kernel worker, where the default (a Blob URL worker) is not allowed: see backend/wasm/worker.ts. */
  wasmWorker?: SpawnWorker;
  /** All-f32 arithmetic: no activation quantization (the KV cache type is chosen per sequence). */
  exactF32?: boolean;
  /** Attention as llama.cpp's CPU flash attention computes it (its default; true), or softmax then V·p. */
  flashAttention?: boolean;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

/** Architectures whose forward pass we have, by GGUF general.architecture (engine/model/family.ts). */
export const SUPPORTED_ARCHITECTURES: readonly string[] = [...FAMILIES.keys()];

/**
 * 'auto' is WebGPU where webgpuForAuto says so, else the wasm backend where it
 * runs, else the reference backend (which also keeps the all-f32 mode), with
 * the reason in the backend's description.
 */
async function createBackend(opts: LoadOptions, weightBytes: number): Promise<Backend> {
  const requested = opts.backend ?? 'auto';
  const jsOptions = { exactF32: opts.exactF32, flashAttention: opts.flashAttention };
  if (requested === 'js' || (requested === 'auto' && opts.exactF32)) return new JsBackend(jsOptions);
  if (requested === 'webgpu') {
    const { createWebGPUBackend } = await import('../backend/webgpu/index.ts');
    return createWebGPUBackend(jsOptions);
  }
  // 'auto' takes WebGPU where an adapter is usable (in Node only with CHORD_WEBGPU=1), saying why either way.
  let autoReason = '';
  if (requested === 'auto') {
    const { createWebGPUBackend, webgpuForAuto } = await import('../backend/webgpu/index.ts');
    const choice = await webgpuForAuto();
    autoReason = choice.reason;
    if (choice.use) {
      try {
        return withDescription(await createWebGPUBackend(jsOptions), choice.reason);
      } catch (e) {
        autoReason = `webgpu failed: ${(e as Error).message}`;
      }
    }
  }
  if (requested === 'wasm' || requested === 'auto') {
    try {
      const { WasmBackend } = await import('../backend/wasm/index.ts');
      const wasm = await WasmBackend.create({
        threads: opts.threads,
        spawn: opts.wasmWorker,
        weightBytes,
        ...jsOptions,
      });
      return autoReason ? withDescription(wasm, autoReason) : wasm;
    } catch (e) {
      // A model too big for wasm32 would not fit the reference backend's memory either (a
      // browser tab has less): say so rather than fall back.
      if (requested === 'wasm' || (e instanceof ChordError && e.code === 'OUT_OF_MEMORY')) {
        throw e instanceof ChordError ? e : new ChordError('BACKEND_UNAVAILABLE', `wasm: ${(e as Error).message}`);
      }
      return withDescription(new JsBackend(jsOptions), `wasm unavailable: ${(e as Error).message}`);
    }
  }
  throw new ChordError('BACKEND_UNAVAILABLE', `the ${requested} backend is not available in this build`);
}

/** Appends why the backend was chosen to its description. */
function withDescription(backend: Backend, reason: string): Backend {
  Object.defineProperty(backend, 'description', { value: `${backend.description}; ${reason}` });
  return backend;
}

/**
 * Loads a model from a source that `open` creates for this load alone: the
 * weights are copied into the backend, so the source is closed afterwards,
 * whether loading worked or not.
 */
export async function loadModelFromOwnedSource(open: () => Promise<ByteSource>, opts: LoadOptions): Promise<Model> {
  const source = await open();
  try {
    return await loadModelFromSource(source, opts);
  } finally {
    await source.close?.();
  }
}

/** Reads and validates a GGUF model, loads its weights into a backend, and builds its tokenizer. */
export async function loadModelFromSource(source: ByteSource, opts: LoadOptions = {}): Promise<Model> {
  const file = await readGGUF(source, { signal: opts.signal });
  const archValue = file.metadata.get('general.architecture')?.value;
  const family = typeof archValue === 'string' ? FAMILIES.get(archValue) : undefined;
  if (typeof archValue === 'string' && !family) {
    throw new ChordError(
      'UNSUPPORTED_ARCHITECTURE',
      `architecture '${archValue}' is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
      { arch: archValue },
    );
  }
  const hparams = readHParams(file.metadata);
  const tokenizer = loadTokenizer(file.metadata);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const expected = tensorSpecs(family!, hparams, (l) => byName.has(`blk.${l}.attn_qkv.weight`));
  for (const { name, shape, required } of expected) {
    const t = byName.get(name);
    if (!t) {
      if (!required) continue;
      throw new ChordError('MODEL_INVALID', `missing tensor ${name}`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ChordError('MODEL_INVALID', `tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    }
  }

  const wanted = new Set(expected.map((e) => e.name));
  const needed = file.tensors.filter((t) => wanted.has(t.name));
  const totalBytes = needed.reduce((a, t) => a + t.byteSize, 0);
  const backend = await createBackend(opts, totalBytes);
  const weights = new Map();
  let loadedBytes = 0;
  try {
    for (const t of needed) {
      throwIfAborted(opts.signal);
      if (!TYPE_TRAITS.get(t.type)?.supported) {
        throw new ChordError('UNSUPPORTED_QUANT_TYPE', `tensor ${t.name} has unsupported type ${t.type}`);
      }
      const bytes = await readTensorBytes(source, file, t, opts.signal);
      weights.set(t.name, await backend.loadWeight(t, bytes));
      loadedBytes += t.byteSize;
      opts.onProgress?.({ loadedBytes, totalBytes });
    }
  } catch (e) {
    await backend.dispose();
    throw e;
  }
  const template = file.metadata.get('tokenizer.chat_template')?.value;
  const name = file.metadata.get('general.name')?.value;
  return new Model(
    {
      arch: hparams.arch,
      name: typeof name === 'string' ? name : undefined,
      hparams,
      fileSize: source.size,
      ...summarizeTensorTypes(file),
      chatTemplate: typeof template === 'string' ? template : undefined,
      backend: backend.description,
    },
    tokenizer,
    file,
    backend,
    weights,
  );
}
