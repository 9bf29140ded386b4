/**
 * The kernel worker as a module, for hosts that cannot start the pool's
 * default Blob URL worker (an extension page's CSP forbids blob: scripts).
 * Bundle it as a worker and pass a spawner, e.g. with Vite:
 *
 *   import KernelWorker from '../engine/backend/wasm/worker.ts?worker';
 *   loadModel(src, { backend: 'wasm', wasmWorker: async () => new KernelWorker() });
 *
 * It does what pool.ts's WORKER_SOURCE does: instantiate the kernels against
 * the shared memory and run their worker loop until told to quit.
 */
interface Start {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: number;
}

const scope = globalThis as unknown as {
  onmessage: ((e: { data: Start }) => void) | null;
  postMessage(m: unknown): void;
};

scope.onmessage = (e) => {
  try {
    const instance = new WebAssembly.Instance(e.data.module, { env: { memory: e.data.memory } });
    scope.postMessage({ ready: true });
    (instance.exports.workerLoop as (ctrl: number) => void)(e.data.ctrl);
    scope.postMessage({ exited: true });
  } catch (err) {
    scope.postMessage({ error: String((err as Error)?.message ?? err) });
  }
};
