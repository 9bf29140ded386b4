/**
 * Worker threads sharing the kernels' memory. Each worker instantiates the same
 * module against the same shared memory and sits in the kernels' workerLoop
 * (assembly/index.ts), which waits on the control block's generation word with
 * memory.atomic.wait32 after a short spin. The main thread publishes a batch of
 * commands, bumps the generation, takes chunks itself, and waits until every
 * chunk is finished: one wake-up per batch, not per matmul.
 *
 * Work is handed out in chunks of output rows from a shared counter (see
 * assembly/index.ts), so a worker that wakes late costs nothing but its share.
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
    instance.exports.workerLoop(d.ctrl);
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

function onError(w: WorkerLike, f: (message: string) => void): void {
  const l = w as WorkerLike & Listening;
  if (l.on) l.on('error', (e) => f(String((e as Error)?.message ?? e)));
  else l.addEventListener?.('error', (e) => f(String((e as unknown as { message?: string }).message ?? 'error event')));
}

const GEN = 0;
const THREADS = 1;
const FINISHED = 2;
const QUIT = 5;
const CLAIM = 6;
const TOTAL = 7;
const BATCH = 8;

/** Whether this thread may block in Atomics.wait (a browser's main thread may not); found out on first use. */
let canBlock: boolean | undefined;

/** Whether this thread may block (Atomics.wait, and the kernels' memory.atomic.wait32 at their barriers). */
export function mayBlock(): boolean {
  if (canBlock === undefined) {
    try {
      // Returns 'not-equal' at once where waiting is allowed; throws where it is not.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      canBlock = true;
    } catch {
      canBlock = false;
    }
  }
  return canBlock;
}

/**
 * Runs the batch of `chunks` chunks described in the control block (commands
 * at `ctrl` words 3 and 4, written by the caller) on this thread (`work`)
 * and the pool's workers, if any. Returns once every chunk is finished.
 */
export function runBatch(ctrl: Int32Array, chunks: number, pool: WorkerPool | undefined, work: () => void): void {
  // The order matters (assembly/index.ts work): the batch's number, then its total, then the
  // claim word that carries the number; a claim still taken on an earlier batch then sees a
  // number that is not its own and is dropped.
  const batch = (Atomics.load(ctrl, BATCH) + 1) & 0xfff;
  Atomics.store(ctrl, BATCH, batch);
  Atomics.store(ctrl, FINISHED, 0);
  Atomics.store(ctrl, TOTAL, chunks);
  Atomics.store(ctrl, CLAIM, batch << 20);
  if (pool) {
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
  }
  work();
  // Chunks taken by workers may still be running: spin briefly, then sleep until the last one notifies.
  let spins = 0;
  for (let f = Atomics.load(ctrl, FINISHED); f < chunks; f = Atomics.load(ctrl, FINISHED)) {
    if (++spins < 4096 || !mayBlock()) continue;
    try {
      Atomics.wait(ctrl, FINISHED, f, 1);
    } catch {
      canBlock = false;
    }
  }
}

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
          // A worker that cannot load (a CSP forbidding blob: scripts, say) may only fire an error event.
          const timer = setTimeout(() => reject(new Error('wasm worker did not start within 20 s')), 20_000);
          onMessage(w, (m) => {
            clearTimeout(timer);
            if (m.ready) resolve();
            else if (m.error !== undefined) reject(new Error(`wasm worker failed: ${m.error}`));
          });
          onError(w, (message) => {
            clearTimeout(timer);
            reject(new Error(`wasm worker failed: ${message}`));
          });
          w.postMessage({ module, memory, ctrl: ctrlPtr });
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

  async stop(): Promise<void> {
    Atomics.store(this.ctrl, QUIT, 1);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
