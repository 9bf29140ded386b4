/**
 * Worker threads sharing the kernels' memory. Each worker instantiates the same
 * module against the same shared memory and sits in the kernels' workerLoop
 * (assembly/index.ts), which waits on the control block's generation word with
 * memory.atomic.wait32 after a short spin. The main thread publishes a batch of
 * commands, bumps the generation, runs its own share and spins until every
 * worker has counted itself done: one wake-up per batch, not per matmul.
 *
 * One worker script for Node (worker_threads, eval) and browsers (a Blob URL
 * module-less worker); a host whose CSP forbids blob: workers can pass its own
 * `spawn`.
 */

/** What the pool needs of a worker: Node's worker_threads.Worker and the web Worker both fit. */
export interface WorkerLike {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

export type SpawnWorker = (source: string) => Promise<WorkerLike>;

// Runs inside the worker. Self-contained: it is sent as source text.
const WORKER_SOURCE = `
const isNode = typeof process !== 'undefined' && !!(process.versions && process.versions.node);
let port;
let post;
if (isNode) {
  port = require('node:worker_threads').parentPort;
  post = (m) => port.postMessage(m);
} else {
  post = (m) => self.postMessage(m);
}
function start(d) {
  try {
    const instance = new WebAssembly.Instance(d.module, { env: { memory: d.memory } });
    post({ ready: true });
    instance.exports.workerLoop(d.ctrl, d.tid);
    post({ exited: true });
  } catch (e) {
    post({ error: String(e && e.message ? e.message : e) });
  }
}
if (isNode) port.once('message', start);
else self.onmessage = (e) => start(e.data);
`;

interface Listening {
  on?(event: string, f: (m: unknown) => void): void;
  addEventListener?(event: string, f: (e: { data: unknown }) => void): void;
  unref?(): void;
}

/** The default spawner: worker_threads in Node, a Blob URL worker in browsers. */
export async function defaultSpawn(source: string): Promise<WorkerLike> {
  const g = globalThis as { Worker?: new (url: string) => WorkerLike; process?: { versions?: { node?: string } } };
  if (g.process?.versions?.node !== undefined) {
    // A computed specifier keeps bundlers for the browser from resolving Node's module.
    const specifier = ['node', 'worker_threads'].join(':');
    const wt = (await import(/* @vite-ignore */ specifier)) as {
      Worker: new (code: string, opts: { eval: boolean }) => WorkerLike;
    };
    return new wt.Worker(source, { eval: true });
  }
  if (g.Worker === undefined) throw new Error('this host has no Worker');
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  return new g.Worker(url);
}

function onMessage(w: WorkerLike, f: (m: { ready?: boolean; error?: string }) => void): void {
  const l = w as WorkerLike & Listening;
  if (l.on) l.on('message', f as (m: unknown) => void);
  else l.addEventListener?.('message', (e) => f(e.data as { ready?: boolean; error?: string }));
}

const GEN = 0;
const THREADS = 1;
const DONE = 2;
const QUIT = 5;

export class WorkerPool {
  private constructor(
    private readonly workers: WorkerLike[],
    private readonly ctrl: Int32Array,
  ) {}

  /** Starts `count` workers on `memory`, with the control block at byte `ctrlPtr`; resolves once all run. */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ctrlPtr: number,
    count: number,
    spawn: SpawnWorker = defaultSpawn,
  ): Promise<WorkerPool> {
    const ctrl = new Int32Array(memory.buffer, ctrlPtr, 8);
    Atomics.store(ctrl, THREADS, count + 1);
    const workers: WorkerLike[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const w = await spawn(WORKER_SOURCE);
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          onMessage(w, (m) => {
            if (m.ready) resolve();
            else if (m.error !== undefined) reject(new Error(`wasm worker failed: ${m.error}`));
          });
          w.postMessage({ module, memory, ctrl: ctrlPtr, tid: i + 1 });
        });
        // Node: an idle pool must not keep the process alive.
        (w as WorkerLike & Listening).unref?.();
      }
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new WorkerPool(workers, ctrl);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs the commands already written to the control block: wakes the
   * workers, runs the main thread's share (`runMain`), then spins until the
   * workers are done (a browser's main thread may not block in Atomics.wait).
   */
  run(runMain: () => void): void {
    const ctrl = this.ctrl;
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    runMain();
    const n = this.workers.length;
    while (Atomics.load(ctrl, DONE) < n) {
      // spin: the workers' shares are as long as ours
    }
  }

  async stop(): Promise<void> {
    Atomics.store(this.ctrl, QUIT, 1);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
