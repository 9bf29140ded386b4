/**
 * The chord-browser row: our engine inside a module Worker of the cross-origin
 * isolated bench page, reading the model over HTTP Range requests from the
 * harness's server. It times what `chord bench` times in Node: load, one
 * prefill of the prompt, then greedy decoding one token at a time.
 * Bundled for the browser by tests/bench/browser/run.ts (esbuild).
 */

import type { Model } from '../../../engine/index.ts';
import { loadModel } from '../../../engine/index.ts';
import type { ChordBenchBackend } from '../args.ts';

export interface ChordWorkerRequest {
  url: string;
  backend: ChordBenchBackend;
  threads: number;
  promptTokens: number;
  genTokens: number;
}

export interface ChordWorkerResult {
  loadS: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  backend: string;
  /** GPU buffers held after the run (WebGPU). */
  gpuMemoryBytes?: number;
  /** Why the backend asked for was not used, when it was not. */
  fallback?: string;
  crossOriginIsolated: boolean;
}

async function load(req: ChordWorkerRequest): Promise<{ model: Model; fallback?: string }> {
  try {
    return { model: await loadModel(req.url, { backend: req.backend, threads: req.threads }) };
  } catch (e) {
    if (req.backend === 'js' || (e as { code?: string }).code !== 'BACKEND_UNAVAILABLE') throw e;
    const fallback = `${req.backend}: ${(e as Error).message}`;
    return { model: await loadModel(req.url, { backend: 'js', threads: req.threads }), fallback };
  }
}

async function bench(req: ChordWorkerRequest): Promise<ChordWorkerResult> {
  const t0 = performance.now();
  const { model, fallback } = await load(req);
  const loadS = (performance.now() - t0) / 1000;
  try {
    const seq = model.createSequence({ contextSize: req.promptTokens + req.genTokens + 1 });
    // The same token ids as `chord bench`: spread over the vocabulary, meaning nothing.
    const vocab = model.info.hparams.vocabSize;
    const prompt = Array.from({ length: req.promptTokens }, (_, i) => (i * 7919 + 13) % vocab);
    const t1 = performance.now();
    // Greedy as generation reads it back (on WebGPU only the chosen token leaves the GPU).
    let next = await seq.evaluateGreedy(prompt);
    const t2 = performance.now();
    for (let i = 0; i < req.genTokens; i++) next = await seq.evaluateGreedy([next]);
    const t3 = performance.now();
    return {
      loadS,
      prefillTokPerS: (req.promptTokens / (t2 - t1)) * 1000,
      decodeTokPerS: (req.genTokens / (t3 - t2)) * 1000,
      backend: model.info.backend,
      gpuMemoryBytes: model.memoryUsage().gpuBytes,
      fallback,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
    };
  } finally {
    await model.dispose();
  }
}

self.onmessage = async (event: MessageEvent<ChordWorkerRequest>) => {
  try {
    self.postMessage({ ok: true, result: await bench(event.data) });
  } catch (e) {
    const err = e as { code?: string; message?: string; stack?: string };
    self.postMessage({ ok: false, error: `${err.code ?? 'ERROR'}: ${err.message ?? String(e)}\n${err.stack ?? ''}` });
  }
};
