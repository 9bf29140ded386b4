/**
 * The chord-browser row: our engine inside a module Worker of the cross-origin
 * isolated bench page, reading the model over HTTP Range requests from the
 * harness's server. It times what `chord bench` times in Node: load, one
 * prefill of the prompt, then greedy decoding one token at a time.
 * Bundled for the browser by tests/bench/browser/run.ts (esbuild).
 */

import type { Model } from '../../../engine/index.ts';
import { loadModel } from '../../../engine/index.ts';

export interface ChordWorkerRequest {
  url: string;
  backend: 'wasm' | 'js';
  threads: number;
  promptTokens: number;
  genTokens: number;
}

export interface ChordWorkerResult {
  loadS: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  backend: string;
  /** Why the backend asked for was not used, when it was not. */
  fallback?: string;
  crossOriginIsolated: boolean;
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
  return best;
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
    let logits = await seq.evaluate(prompt);
    const t2 = performance.now();
    for (let i = 0; i < req.genTokens; i++) logits = await seq.evaluate([argmax(logits)]);
    const t3 = performance.now();
    return {
      loadS,
      prefillTokPerS: (req.promptTokens / (t2 - t1)) * 1000,
      decodeTokPerS: (req.genTokens / (t3 - t2)) * 1000,
      backend: model.info.backend,
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
