import { type LoadOptions, loadModel, type Model } from '../../engine/index.ts';
import type { ModelStore, StoredModel } from '../../engine/store/index.ts';
import { ChordError, type ErrorCode, toChordError } from '../../shared/errors.ts';
import type { EngineRequest, GenerateOptionsWire, ModelSummary, StreamEvent } from '../../shared/protocol.ts';

/** Context for one request's sequence: enough for chat, bounded for memory. */
const MAX_CONTEXT = 2048;

function summarize(m: StoredModel): ModelSummary {
  return {
    id: m.id,
    name: m.name,
    state: m.state,
    size: m.size,
    bytesDone: m.bytesDone,
    arch: m.arch,
    quantType: m.quantType,
    lastUsed: m.lastUsed,
  };
}

/**
 * Lets queued messages (an `abort`, a new request) in between tokens: a backend that
 * computes on this thread resolves all its awaits as microtasks, which would
 * otherwise hold the event loop until the whole generation is done. A
 * MessageChannel round trip is a macrotask without setTimeout's 4 ms clamp.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** FIFO turns: one holder at a time, in the order they asked. */
class Turns {
  private tail: Promise<unknown> = Promise.resolve();

  take<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/**
 * GPU failures after which the GPU is not tried again: the device is gone (driver
 * reset, another tab took it, the browser reclaimed it) or it ran out of memory.
 */
const GPU_FAILURES: readonly ErrorCode[] = ['GPU_DEVICE_LOST', 'OUT_OF_MEMORY'];

/** Loads a model (the engine's loadModel; tests pass their own). */
export type LoadModel = typeof loadModel;

/** The loaded model and how many generations are using it. */
interface Loaded {
  id: string;
  model: Promise<Model>;
  /** The generations using it (their abort controllers). */
  users: Set<AbortController>;
  /** Called when the last user is gone. */
  idle: (() => void)[];
}

/**
 * Serves engine requests in the offscreen document: one loaded model at a time
 * (kept between requests, replaced when another is asked for), a fresh sequence
 * (KV cache) per generation, dropped when the generation ends or is aborted.
 *
 * Several generations may run at once (the background's scheduler decides how
 * many): they take turns token by token, so their streams interleave, and one
 * forward pass never overlaps another whatever a backend awaits inside it. A
 * generation that wants another model waits until the generations on the loaded
 * one have ended, and generations asked for after it wait behind it.
 */
export class EngineHost {
  private readonly running = new Map<string, AbortController>();
  /** Ids of the running requests that are downloads. */
  private readonly downloads = new Set<string>();
  private loaded: Loaded | undefined;
  /** Token steps of all generations, one at a time. */
  private readonly steps = new Turns();
  /** Model leases, decided one at a time in order (a model switch is not overtaken). */
  private readonly leases = new Turns();
  /** Why the GPU is no longer used (set by a GPU failure mid-generation): models load on wasm from then on. */
  private gpuFailure: string | undefined;

  constructor(
    private readonly store: ModelStore,
    private readonly send: (event: StreamEvent) => void,
    /** Load options of the host (e.g. how to start wasm kernel workers where Blob URL workers are forbidden). */
    private readonly loadOptions: Pick<LoadOptions, 'wasmWorker' | 'threads'> = {},
    private readonly load: LoadModel = loadModel,
  ) {}

  handle(request: EngineRequest): void {
    if (request.type === 'abort') {
      this.running.get(request.id)?.abort();
      return;
    }
    const controller = new AbortController();
    this.running.set(request.id, controller);
    if (request.type === 'install') this.downloads.add(request.id);
    this.serve(request, controller)
      .catch((e: unknown) => {
        // A generation ended by the loss of the GPU it ran on reports that, not an abort.
        const { aborted, reason } = controller.signal;
        const error =
          aborted && reason instanceof ChordError
            ? reason
            : aborted
              ? new ChordError('ABORTED', 'the request was aborted')
              : toChordError(e);
        this.send({ type: 'error', id: request.id, error: error.toJSON() });
      })
      .finally(() => {
        this.running.delete(request.id);
        this.downloads.delete(request.id);
      });
  }

  /**
   * The Port to the background is gone: nobody is listening to these requests any
   * more. Generations end; downloads go on (they belong to no page, and the store
   * keeps their progress), stopped only by an explicit abort or a delete.
   */
  abortAll(): void {
    for (const [id, controller] of this.running) if (!this.downloads.has(id)) controller.abort();
  }

  private async serve(request: Exclude<EngineRequest, { type: 'abort' }>, controller: AbortController): Promise<void> {
    const { id } = request;
    const { signal } = controller;
    switch (request.type) {
      case 'models': {
        const models = await this.store.list();
        this.send({ type: 'result', id, value: models.map(summarize) });
        return;
      }
      case 'install': {
        const model = await this.store.installFromUrl(request.url, {
          name: request.name,
          signal,
          onProgress: (p) =>
            this.send({
              type: 'progress',
              id,
              progress: {
                phase: 'download',
                bytesDone: p.bytesDone,
                size: p.size,
                bytesPerSecond: p.bytesPerSecond,
                etaSeconds: p.etaSeconds,
              },
            }),
        });
        this.send({ type: 'result', id, value: summarize(model) });
        return;
      }
      case 'delete': {
        // Generations on it end (ABORTED) before it goes.
        if (this.loaded?.id === request.model) await this.leases.take(() => this.unload(true));
        await this.store.delete(request.model);
        this.send({ type: 'result', id, value: null });
        return;
      }
      case 'generate':
        return this.generate(id, request.input, request.options, controller);
    }
  }

  private async generate(
    id: string,
    input: string | { role: string; content: string }[],
    options: GenerateOptionsWire,
    controller: AbortController,
  ): Promise<void> {
    const { signal } = controller;
    const { model: wanted, ...sampling } = options;
    const modelId = await this.pickModel(wanted);
    const lease = await this.lease(modelId, id, controller);
    let gpuLost: ChordError | undefined;
    try {
      const { model } = lease;
      if (signal.aborted) throw new ChordError('ABORTED', 'the request was aborted');
      // The sequence owns the KV cache: it is dropped (and its memory freed) when this ends.
      const sequence = model.createSequence({ contextSize: Math.min(MAX_CONTEXT, model.info.hparams.nCtxTrain) });
      const generation = sequence.generate(input, { ...sampling, signal });
      const tokens = generation[Symbol.asyncIterator]();
      try {
        for (;;) {
          const step = await this.steps.take(() => tokens.next());
          if (step.done) break;
          if (step.value.text) this.send({ type: 'chunk', id, text: step.value.text });
          await yieldToEventLoop();
        }
      } finally {
        await tokens.return(undefined);
      }
      const result = await generation.done;
      if (signal.aborted) throw new ChordError('ABORTED', 'the request was aborted');
      this.send({
        type: 'done',
        id,
        result: {
          text: result.text,
          finishReason: result.finishReason,
          usage: result.usage,
          timings: result.timings,
          model: modelId,
          backend: model.info.backend,
        },
      });
    } catch (e) {
      const error = toChordError(e);
      if (lease.model.info.backend.startsWith('webgpu') && GPU_FAILURES.includes(error.code) && !signal.aborted) {
        gpuLost = error;
        this.gpuFailure ??= `${error.code}: ${error.message}`;
      }
      throw e;
    } finally {
      lease.release();
      // This request ends with the GPU's error, and so do the others running on that model;
      // the next one reloads the model on wasm (queued now, so no lease taken after this
      // error can still get the GPU model).
      if (gpuLost) {
        const lost = gpuLost;
        void this.leases.take(() => this.unload(lost, lease.loaded));
      }
    }
  }

  /** The asked-for model, or the most recently used ready one. */
  private async pickModel(wanted: string | undefined): Promise<string> {
    if (wanted !== undefined) {
      const m = await this.store.get(wanted);
      if (!m) throw new ChordError('MODEL_NOT_FOUND', `no model '${wanted}' is installed`);
      if (m.state !== 'ready') throw new ChordError('MODEL_NOT_READY', `the model '${m.name}' is ${m.state}`);
      return m.id;
    }
    const ready = (await this.store.list()).filter((m) => m.state === 'ready');
    if (ready.length === 0) throw new ChordError('MODEL_NOT_FOUND', 'no model is installed yet');
    ready.sort((a, b) => b.lastUsed - a.lastUsed);
    return ready[0].id;
  }

  /**
   * The model for one generation, loaded if needed; `release` when the generation
   * has ended. Switching models waits until nobody uses the loaded one.
   */
  private async lease(
    modelId: string,
    requestId: string,
    user: AbortController,
  ): Promise<{ model: Model; loaded: Loaded; release(): void }> {
    const loaded = await this.leases.take(async () => {
      let current = this.loaded;
      if (current?.id === modelId) {
        await this.store.open(modelId).then((s) => s.close?.()); // touches lastUsed
      } else {
        await this.unload();
        const next: Loaded = { id: modelId, model: this.loadStored(modelId, requestId), users: new Set(), idle: [] };
        next.model.catch(() => {
          if (this.loaded === next) this.loaded = undefined;
        });
        this.loaded = current = next;
      }
      current.users.add(user);
      return current;
    });
    const release = () => {
      loaded.users.delete(user);
      if (loaded.users.size === 0) for (const resume of loaded.idle.splice(0)) resume();
    };
    try {
      return { model: await loaded.model, loaded, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  private async loadStored(modelId: string, requestId: string): Promise<Model> {
    const source = await this.store.open(modelId);
    const loadOn = (backend: 'auto' | 'wasm') =>
      this.load(source, {
        ...this.loadOptions,
        backend,
        onProgress: (p) =>
          this.send({
            type: 'progress',
            id: requestId,
            progress: { phase: 'load', bytesDone: p.loadedBytes, size: p.totalBytes },
          }),
      });
    try {
      let model: Model;
      if (this.gpuFailure) model = await loadOn('wasm');
      else {
        try {
          model = await loadOn('auto');
        } catch (e) {
          // The GPU that 'auto' took has no room for the weights (or was lost while loading): wasm, from now on.
          const error = toChordError(e);
          if (!(GPU_FAILURES.includes(error.code) && error.message.startsWith('webgpu'))) throw e;
          this.gpuFailure = `${error.code}: ${error.message}`;
          model = await loadOn('wasm');
        }
      }
      // The reason travels with the backend's description (done events carry it).
      if (this.gpuFailure) model.info.backend += `; webgpu failed earlier (${this.gpuFailure})`;
      return model;
    } finally {
      // The weights are copied into the backend; the chunks are not needed after loading.
      await source.close?.();
    }
  }

  /**
   * Unloads the model once the generations using it have ended. `abort` ends them
   * first: `true` as aborted, a ChordError (the GPU they run on is lost) with that error.
   * `only`: unloads that model only if it is still the loaded one.
   */
  private async unload(abort: boolean | ChordError = false, only?: Loaded): Promise<void> {
    const previous = this.loaded;
    if (!previous || (only && previous !== only)) return;
    if (abort) for (const user of previous.users) user.abort(abort === true ? undefined : abort);
    if (previous.users.size > 0) await new Promise<void>((resolve) => previous.idle.push(resolve));
    if (this.loaded === previous) this.loaded = undefined;
    await (await previous.model.catch(() => undefined))?.dispose();
  }
}
