import { browser } from 'wxt/browser';
import KernelWorker from '../../engine/backend/wasm/worker.ts?worker';
import { createModelStore } from '../../engine/store/index.ts';
import { EngineRequestSchema, PORT, parseMessage, RuntimeMessageSchema } from '../../shared/protocol.ts';
import { EngineHost } from './engine-host.ts';

// The engine host: connects to the background, serves its requests, and connects
// again when the background asks (a restarted service worker has no Port to us).
// An offscreen document can use chrome.runtime only: the size limit (a setting in
// extension storage) is read through the background.
const modelLimit = async (): Promise<number | undefined> => {
  const limit: unknown = await browser.runtime.sendMessage({ type: 'get-model-limit' }).catch(() => undefined);
  return typeof limit === 'number' ? limit : undefined;
};
const store = createModelStore({ maxBytes: modelLimit });
let port: ReturnType<typeof browser.runtime.connect> | undefined;
let host: EngineHost | undefined;

function connect(): void {
  if (port) return;
  const p = browser.runtime.connect({ name: PORT.engine });
  const h = new EngineHost(
    store,
    (event) => {
      try {
        p.postMessage(event);
      } catch {
        h.abortAll();
      }
    },
    // Extension pages' CSP forbids the pool's default Blob URL workers: bundled module workers instead.
    { wasmWorker: async () => new KernelWorker() },
  );
  port = p;
  host = h;
  p.onMessage.addListener((raw: unknown) => {
    const request = parseMessage(EngineRequestSchema, raw, 'engine<-background');
    if (request) h.handle(request);
  });
  p.onDisconnect.addListener(() => {
    h.abortAll();
    if (port === p) port = host = undefined;
  });
}

browser.runtime.onMessage.addListener((raw: unknown) => {
  const message = parseMessage(RuntimeMessageSchema, raw, 'engine<-runtime');
  if (message?.type === 'engine-connect') connect();
  // Downloads a browser restart (or a crash of this document) left unfinished continue
  // from their stored bytes. They belong to no request: a dropped Port does not stop them,
  // `delete` does, and the options page follows them through the database.
  void store.resumeInterrupted();
});

connect();
// Downloads a browser restart (or a crash of this document) left unfinished continue
// from their stored bytes. They belong to no request: a dropped Port does not stop them,
// `delete` does, and the options page follows them through the database.
void store.resumeInterrupted();
