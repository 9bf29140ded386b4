import { type LoadOptions, loadModel, type Model } from '../../engine/index.ts';
import type { ModelStore, StoredModel } from '../../engine/store/index.ts';
import { ChordError, toChordError } from '../../shared/errors.ts';
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

/**
 * Serves engine requests in the offscreen document: one loaded model at a time
 * (kept between requests, replaced when another is asked for), a fresh sequence
 * (KV cache) per generation, dropped when the generation ends or is aborted.
 */
export class EngineHost {
  private readonly running = new Map<string, AbortController>();
  private loaded: { id: string; model: Promise<Model> } | undefined;

  constructor(
    private readonly store: ModelStore,
    private readonly send: (event: StreamEvent) => void,
    /** Load options of the host (e.g. how to start wasm kernel workers where Blob URL workers are forbidden). */
    private readonly loadOptions: Pick<LoadOptions, 'wasmWorker' | 'threads'> = {},
  ) {}

  handle(request: EngineRequest): void {
    if (request.type === 'abort') {
      this.running.get(request.id)?.abort();
      return;
    }
    const controller = new AbortController();
    this.running.set(request.id, controller);
    this.serve(request, controller.signal)
      .catch((e: unknown) => {
        const error = controller.signal.aborted
          ? new ChordError('ABORTED', 'the request was aborted')
          : toChordError(e);
        this.send({ type: 'error', id: request.id, error: error.toJSON() });
      })
      .finally(() => this.running.delete(request.id));
  }

  /** The Port to the background is gone: nobody is listening to these requests any more. */
  abortAll(): void {
    for (const controller of this.running.values()) controller.abort();
  }

  private async serve(request: Exclude<EngineRequest, { type: 'abort' }>, signal: AbortSignal): Promise<void> {
    const { id } = request;
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
        if (this.loaded?.id === request.model) await this.unload();
        await this.store.delete(request.model);
        this.send({ type: 'result', id, value: null });
        return;
      }
      case 'generate':
        return this.generate(id, request.input, request.options, signal);
    }
  }

  private async generate(
    id: string,
    input: string | { role: string; content: string }[],
    options: GenerateOptionsWire,
    signal: AbortSignal,
  ): Promise<void> {
    const { model: wanted, ...sampling } = options;
    const modelId = await this.pickModel(wanted);
    const model = await this.load(modelId, id);
    if (signal.aborted) throw new ChordError('ABORTED', 'the request was aborted');
    let sequence: ReturnType<Model['createSequence']> | undefined = model.createSequence({
      contextSize: Math.min(MAX_CONTEXT, model.info.hparams.nCtxTrain),
    });
    try {
      const generation = sequence.generate(input, { ...sampling, signal });
      for await (const chunk of generation) {
        if (chunk.text) this.send({ type: 'chunk', id, text: chunk.text });
        await yieldToEventLoop();
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
    } finally {
      // The sequence owns the KV cache: dropping it frees the memory.
      sequence = undefined;
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

  private async load(modelId: string, requestId: string): Promise<Model> {
    if (this.loaded?.id !== modelId) {
      await this.unload();
      const model = (async () => {
        const source = await this.store.open(modelId);
        try {
          return await loadModel(source, {
            ...this.loadOptions,
            backend: 'auto',
            onProgress: (p) =>
              this.send({
                type: 'progress',
                id: requestId,
                progress: { phase: 'load', bytesDone: p.loadedBytes, size: p.totalBytes },
              }),
          });
        } finally {
          // The weights are copied into the backend; the chunks are not needed after loading.
          await source.close?.();
        }
      })();
      this.loaded = { id: modelId, model };
      model.catch(() => {
        if (this.loaded?.model === model) this.loaded = undefined;
      });
    } else {
      await this.store.open(modelId).then((s) => s.close?.()); // touches lastUsed
    }
    return this.loaded!.model;
  }

  private async unload(): Promise<void> {
    const previous = this.loaded;
    this.loaded = undefined;
    if (previous) await (await previous.model.catch(() => undefined))?.dispose();
  }
}
