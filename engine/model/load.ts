import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { Backend, BackendName, Weight } from '../backend/backend.ts';
import { JsBackend } from '../backend/js/index.ts';
import type { SpawnWorker } from '../backend/wasm/pool.ts';
import type { GpuNeeds } from '../backend/webgpu/device.ts';
import { readGGUF, readTensorBytes } from '../gguf/reader.ts';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/types.ts';
import { type ByteSource, readInto } from '../io/byte-source.ts';
import { TYPE_TRAITS } from '../quant/types.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { FAMILIES, tensorSpecs } from './family.ts';
import { type HParams, readHParams } from './hparams.ts';
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
  /** WebGPU's summation order (WebGPUBackendOptions.productOrder); default by adapter. */
  gpuProductOrder?: 'llama' | 'gpu';
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

/** Architectures whose forward pass we have, by GGUF general.architecture (engine/model/family.ts). */
export const SUPPORTED_ARCHITECTURES: readonly string[] = [...FAMILIES.keys()];

/** Rows of the largest batch a prompt reaches the backend in (sequence.ts's prefillBatches: 64 to 127). */
const LARGEST_BATCH = 127;
/** The context of a sequence made without asking for one (Model.createSequence): min(trained, 4096). */
const DEFAULT_CONTEXT = 4096;

/**
 * What the model asks of a GPU: its weights, an F16 KV cache for one sequence of
 * the default context, and an upper bound of the forward pass's activations
 * (Forward's scratch for the largest prompt batch and for one row, the logits,
 * the rounded copy of a product's input).
 */
export function gpuNeeds(hp: HParams, tensors: readonly { byteSize: number; shape: readonly number[] }[]): GpuNeeds {
  let weightBytes = 0;
  let weightRowBytes = 0;
  for (const t of tensors) {
    weightBytes += t.byteSize;
    const rows = t.shape.slice(1).reduce((a, b) => a * b, 1);
    // vectors are held decoded to f32
    weightRowBytes = Math.max(weightRowBytes, t.shape.length === 1 ? t.shape[0] * 4 : t.byteSize / rows);
  }
  const kvLayerBytes = Math.min(hp.nCtxTrain, DEFAULT_CONTEXT) * hp.nKvHeads * hp.headDim * 2;
  const q = hp.nHeads * hp.headDim;
  const kv = hp.nKvHeads * hp.headDim;
  // x, xb, ao, fo, pn; q, att; k, v; a fused qkv; gate, up and a fused gate|up
  const rowFloats = 5 * hp.nEmbd + 2 * q + 2 * kv + (q + 2 * kv) + 4 * hp.nFF;
  const widest = Math.max(hp.nEmbd, q + 2 * kv, 2 * hp.nFF);
  const activationBytes = 4 * ((LARGEST_BATCH + 1) * rowFloats + 2 * hp.vocabSize + LARGEST_BATCH * widest);
  return {
    weightBytes,
    weightRowBytes,
    kvCacheBytes: 2 * hp.nLayers * kvLayerBytes,
    kvLayerBytes,
    activationBytes,
    largestActivationBytes: 4 * Math.max(LARGEST_BATCH * widest, hp.vocabSize),
  };
}

/**
 * 'auto' is WebGPU where webgpuForAuto says so (an adapter, and the model's
 * `needs` fit it), else the wasm backend where it runs, else the reference
 * backend (which also keeps the all-f32 mode), with the reason in the backend's
 * description.
 */
async function createBackend(opts: LoadOptions, needs: GpuNeeds): Promise<Backend> {
  const weightBytes = needs.weightBytes;
  const requested = opts.backend ?? 'auto';
  const jsOptions = { exactF32: opts.exactF32, flashAttention: opts.flashAttention };
  if (requested === 'js' || (requested === 'auto' && opts.exactF32)) return new JsBackend(jsOptions);
  if (requested === 'webgpu') {
    const { createWebGPUBackend } = await import('../backend/webgpu/index.ts');
    return createWebGPUBackend({ ...jsOptions, productOrder: opts.gpuProductOrder });
  }
  // 'auto' takes WebGPU where an adapter is usable (in Node only with CHORD_WEBGPU=1), saying why either way.
  let autoReason = '';
  if (requested === 'auto') {
    const { createWebGPUBackend, webgpuForAuto } = await import('../backend/webgpu/index.ts');
    const choice = await webgpuForAuto(needs);
    autoReason = choice.reason;
    if (choice.use) {
      try {
        return withDescription(
          await createWebGPUBackend({ ...jsOptions, productOrder: opts.gpuProductOrder }),
          choice.reason,
        );
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
 * One tensor into the backend: read straight into the backend's memory where it
 * has a place for it (wasm), so the weights are copied once and no second copy
 * of a tensor is held in JS; else read, then handed over.
 */
function loadWeight(
  backend: Backend,
  source: ByteSource,
  file: GGUFFile,
  t: GGUFTensorInfo,
  signal: AbortSignal | undefined,
): Promise<Weight> {
  if (backend.loadWeightInto) return backend.loadWeightInto(t, (dest) => readInto(source, t.fileOffset, dest, signal));
  return readTensorBytes(source, file, t, signal).then((bytes) => backend.loadWeight(t, bytes));
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
export function loadModelFromSource(source: ByteSource, opts: LoadOptions = {}): Promise<Model> {
  return loadModelOn(source, opts);
}

/**
 * Why loading on the backend `auto` chose failed in a way that loading on wasm
 * cures: the GPU had no room for a weight, or was lost.
 */
function gpuLoadFailure(opts: LoadOptions, backend: Backend, e: unknown): string | undefined {
  if ((opts.backend ?? 'auto') !== 'auto' || backend.name !== 'webgpu' || !(e instanceof ChordError)) return undefined;
  if (e.code !== 'OUT_OF_MEMORY' && e.code !== 'GPU_DEVICE_LOST') return undefined;
  return `webgpu failed while loading the weights (${e.code}: ${e.message})`;
}

/** loadModelFromSource; `fallback`: why this is a second try, on wasm. */
async function loadModelOn(source: ByteSource, opts: LoadOptions, fallback?: string): Promise<Model> {
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
  const created = await createBackend(opts, gpuNeeds(hparams, needed));
  const backend = fallback ? withDescription(created, fallback) : created;
  const weights = new Map();
  let loadedBytes = 0;
  try {
    for (const t of needed) {
      throwIfAborted(opts.signal);
      if (!TYPE_TRAITS.get(t.type)?.supported) {
        throw new ChordError('UNSUPPORTED_QUANT_TYPE', `tensor ${t.name} has unsupported type ${t.type}`);
      }
      weights.set(t.name, await loadWeight(backend, source, file, t, opts.signal));
      loadedBytes += t.byteSize;
      opts.onProgress?.({ loadedBytes, totalBytes });
    }
  } catch (e) {
    await backend.dispose();
    const gpuFailure = gpuLoadFailure(opts, backend, e);
    if (gpuFailure) return loadModelOn(source, { ...opts, backend: 'wasm' }, gpuFailure);
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
