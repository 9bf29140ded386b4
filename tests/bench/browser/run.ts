/**
 * The browser rows: our engine (in a Worker) and wllama (its multi-threaded
 * WASM build, WebGPU off), each in a fresh headless Debian Chromium on the
 * same cross-origin isolated page, with the model served from 127.0.0.1.
 * Peak memory is the page's renderer process's peak private memory (its
 * Workers are threads of that process): its anonymous resident memory
 * (RssAnon), sampled every 50 ms from /proc, which is what Chrome's task
 * manager counts as a tab's memory footprint. The renderer's VmHWM also counts
 * the pages of Chromium's own executable that it has touched (shared with every
 * Chromium process, ~100 MiB here, and ~12 MiB more once workers and wasm run):
 * it goes into the row's note.
 *
 * Chromium runs with no DevTools client (no Playwright): the page runs its
 * script and posts what it measured to the harness's server. A DevTools
 * session's network agent keeps the bodies of the page's fetches in the
 * renderer (up to 200 MB), which a model read by Range requests of a few MiB
 * each fills: it was counted as the page's own memory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { repoRoot } from '../../helpers/fixtures.ts';
import type { ChordBenchBackend } from '../args.ts';
import { promptTextOfLength } from '../prompt-text.ts';
import type { RuntimeResult } from '../report.ts';
import type { ChordWorkerRequest, ChordWorkerResult } from './chord-worker.ts';
import { type Route, startBenchServer } from './server.ts';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface BrowserBenchOptions {
  modelPath: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  chromiumPath: string;
  timeoutMs: number;
  log: (line: string) => void;
  /** Chromium flags this run adds (WebGPU's). */
  extraArgs?: string[];
}

const WLLAMA_DIR = join(repoRoot, 'node_modules', '@wllama', 'wllama');

const PAGE = `<!doctype html><meta charset="utf-8"><title>chord bench</title><p>bench page</p>`;

async function bundleChordWorker(): Promise<string> {
  const result = await build({
    entryPoints: [join(repoRoot, 'tests', 'bench', 'browser', 'chord-worker.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

/** Routes every browser row needs: the page, the model, and the runtime's own scripts. */
function baseRoutes(modelPath: string): Record<string, Route> {
  return {
    '/': { text: PAGE, type: 'text/html' },
    '/favicon.ico': { text: '', type: 'image/x-icon' },
    '/model.gguf': { file: modelPath, type: 'application/octet-stream' },
  };
}

/** This browser's renderer processes: those whose ancestry reaches the process started with our profile. */
function rendererPids(profile: string): number[] {
  const parent = new Map<number, number>();
  const cmdline = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmdline.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8'));
    } catch {
      // the process ended while we looked
    }
  }
  const roots = new Set([...cmdline].filter(([, c]) => c.includes(profile)).map(([pid]) => pid));
  const ofBrowser = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) if (roots.has(p)) return true;
    return false;
  };
  return [...cmdline].filter(([pid, c]) => c.includes('--type=renderer') && ofBrowser(pid)).map(([pid]) => pid);
}

type MemoryField = 'VmHWM' | 'VmRSS' | 'RssAnon';

/** The largest value of a /proc status field (VmHWM: peak RSS; VmRSS, RssAnon: now) among these processes. */
function statusBytes(pids: number[], field: MemoryField): number {
  let most = 0;
  for (const pid of pids) {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) most = Math.max(most, Number(m[1]) * 1024);
    } catch {
      // gone
    }
  }
  return most;
}

function rendererMemory(profile: string, field: MemoryField): number {
  return statusBytes(rendererPids(profile), field);
}

/**
 * The renderers' largest private memory (RssAnon) seen, sampled every 50 ms (the
 * renderers looked up again every 500 ms: a scan of /proc is the costly part, and
 * the run it measures shares the machine).
 */
function privateMemoryPeak(profile: () => string): { peak(): number; stop(): void } {
  let peak = 0;
  let pids: number[] = [];
  let ticks = 0;
  const timer = setInterval(() => {
    if (profile() === '') return;
    if (ticks++ % 10 === 0) pids = rendererPids(profile());
    peak = Math.max(peak, statusBytes(pids, 'RssAnon'));
  }, 50);
  return {
    peak: () => Math.max(peak, rendererMemory(profile(), 'RssAnon')),
    stop: () => clearInterval(timer),
  };
}

/** What the page's script gets: its argument, and a way to report partial results. */
type PageScript<A, T> = (arg: A, progress: (value: T) => void) => Promise<T>;

/**
 * The page: it reports that it is ready (and cross-origin isolated), waits for
 * the harness to take the renderer's baseline, runs the script, and posts its
 * result or error. console.warn/error go to the harness's log.
 */
function benchPage(script: string, arg: unknown): string {
  return `${PAGE}<script type="module">
const post = (kind, value) => fetch('/report', { method: 'POST', body: JSON.stringify({ kind, value }) });
for (const level of ['warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...a) => { original(...a); post('log', \`[page \${level}] \${a.join(' ')}\`); };
}
addEventListener('error', (e) => post('log', \`[page error] \${e.message}\`));
await (await fetch('/go', { method: 'POST', body: String(globalThis.crossOriginIsolated) })).text();
try {
  post('result', await (${script})(${JSON.stringify(arg)}, (v) => post('progress', v)));
} catch (e) {
  post('error', String(e && e.stack || e));
}
</script>`;
}

/**
 * Runs `script` on the bench page of a fresh browser; returns its result (or, on a timeout,
 * its last progress report) and the renderer's peak memory.
 */
async function withBenchPage<A, T>(
  opts: BrowserBenchOptions,
  routes: Record<string, Route>,
  script: PageScript<A, T>,
  arg: A,
): Promise<{ value: T; peakMemBytes: number; baselineMemBytes: number; peakRssBytes: number; timedOut: boolean }> {
  let baselineMemBytes = 0;
  let profile = '';
  const sampler = privateMemoryPeak(() => profile);
  let lastProgress: T | undefined;
  let settle!: (r: { ok: true; value: T } | { ok: false; error: string }) => void;
  const settled = new Promise<{ ok: true; value: T } | { ok: false; error: string }>((r) => {
    settle = r;
  });
  const server = await startBenchServer({
    ...routes,
    '/': { text: benchPage(script.toString(), arg), type: 'text/html' },
    '/go': {
      type: 'text/plain',
      handle: (isolated) => {
        if (isolated !== 'true') {
          settle({
            ok: false,
            error: 'the bench page is not cross-origin isolated: no SharedArrayBuffer, no wasm threads',
          });
        }
        baselineMemBytes = rendererMemory(profile, 'RssAnon');
        return 'go';
      },
    },
    '/report': {
      type: 'text/plain',
      handle: (body) => {
        const { kind, value } = JSON.parse(body) as { kind: string; value: unknown };
        if (kind === 'log') opts.log(`  ${value}`);
        else if (kind === 'progress') lastProgress = value as T;
        else if (kind === 'result') settle({ ok: true, value: value as T });
        else settle({ ok: false, error: String(value) });
        return '';
      },
    },
  });
  profile = await mkdtemp(join(tmpdir(), 'chord-bench-profile-'));
  let browser: ChildProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    browser = spawn(
      opts.chromiumPath,
      ['--headless', `--user-data-dir=${profile}`, ...CHROMIUM_ARGS, ...(opts.extraArgs ?? []), `${server.origin}/`],
      { stdio: 'ignore' },
    );
    const exited = new Promise<{ ok: false; error: string }>((resolve) => {
      browser!.on('exit', (code) => resolve({ ok: false, error: `Chromium exited (${code}) before the run ended` }));
      browser!.on('error', (e) => resolve({ ok: false, error: `Chromium did not start: ${e.message}` }));
    });
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), opts.timeoutMs);
    });
    const outcome = await Promise.race([settled, exited, timeout]);
    const peakMemBytes = sampler.peak();
    const peakRssBytes = rendererMemory(profile, 'VmHWM');
    if (outcome === 'timeout') {
      if (lastProgress === undefined) throw new Error(`the browser run took longer than ${opts.timeoutMs / 1000} s`);
      return { value: lastProgress, peakMemBytes, baselineMemBytes, peakRssBytes, timedOut: true };
    }
    if (!outcome.ok) throw new Error(outcome.error);
    return { value: outcome.value, peakMemBytes, baselineMemBytes, peakRssBytes, timedOut: false };
  } finally {
    sampler.stop();
    clearTimeout(timer);
    if (browser && browser.exitCode === null) {
      const gone = new Promise((r) => browser!.once('exit', r));
      browser.kill();
      await gone;
    }
    await server.close();
    await rm(profile, { recursive: true, force: true });
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const baselineNote = (baseline: number, peakRss: number) =>
  `renderer's private memory ${mib(baseline)} MiB before loading; its VmHWM ${mib(peakRss)} MiB`;

export async function runChordBrowser(
  benchOpts: BrowserBenchOptions & { backend: ChordBenchBackend },
): Promise<RuntimeResult> {
  // Headless Chromium offers WebGPU (a SwiftShader adapter without a GPU) only when asked.
  const opts = benchOpts.backend === 'webgpu' ? { ...benchOpts, extraArgs: ['--enable-unsafe-webgpu'] } : benchOpts;
  const routes = baseRoutes(opts.modelPath);
  routes['/chord-worker.js'] = { text: await bundleChordWorker(), type: 'text/javascript' };
  const request: Omit<ChordWorkerRequest, 'url'> = {
    backend: opts.backend,
    threads: opts.threads,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
  };
  const { value, peakMemBytes, baselineMemBytes, peakRssBytes } = await withBenchPage(
    opts,
    routes,
    (req: Omit<ChordWorkerRequest, 'url'>) =>
      new Promise<{ ok: boolean; result?: ChordWorkerResult; error?: string }>((resolve) => {
        const worker = new Worker('/chord-worker.js', { type: 'module' });
        worker.onmessage = (e) => {
          worker.terminate();
          resolve(e.data);
        };
        worker.onerror = (e) => resolve({ ok: false, error: `worker error: ${e.message}` });
        worker.postMessage({ ...req, url: `${location.origin}/model.gguf` });
      }),
    request,
  );
  if (!value.ok || !value.result) throw new Error(value.error ?? 'the chord worker failed');
  const r = value.result;
  return {
    loadS: r.loadS,
    prefillTokPerS: r.prefillTokPerS,
    decodeTokPerS: r.decodeTokPerS,
    peakMemBytes,
    gpuMemBytes: r.gpuMemoryBytes,
    backend: r.backend,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
    note: [r.fallback && `fell back to the js backend (${r.fallback})`, baselineNote(baselineMemBytes, peakRssBytes)]
      .filter(Boolean)
      .join('; '),
  };
}

interface WllamaTimings {
  prompt_n: number;
  prompt_per_second: number;
  predicted_n: number;
  predicted_per_second: number;
}

interface WllamaPageResult {
  loadS?: number;
  /** wllama's latest timings: per token while streaming, final at the end. */
  timings?: WllamaTimings;
  multiThread?: boolean;
}

export function wllamaVersion(): string {
  return JSON.parse(readFileSync(join(WLLAMA_DIR, 'package.json'), 'utf8')).version;
}

export async function runWllamaBrowser(opts: BrowserBenchOptions): Promise<RuntimeResult> {
  const routes = baseRoutes(opts.modelPath);
  routes['/wllama/index.js'] = { file: join(WLLAMA_DIR, 'esm', 'index.js'), type: 'text/javascript' };
  routes['/wllama/wllama.wasm'] = { file: join(WLLAMA_DIR, 'esm', 'wasm', 'wllama.wasm'), type: 'application/wasm' };
  const prompt = await promptTextOfLength(opts.modelPath, opts.promptTokens);
  const args = {
    prompt: prompt.text,
    threads: opts.threads,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
  };
  // The page reports what it has measured after each streamed chunk, so that a run cut short
  // by the timeout still gives the speeds wllama reported up to then.
  const run = await withBenchPage(
    opts,
    routes,
    async (a: typeof args, progress: (v: WllamaPageResult) => void): Promise<WllamaPageResult> => {
      const bench: WllamaPageResult = {};
      const modulePath = '/wllama/index.js';
      const { Wllama } = await import(modulePath);
      const quiet = { debug: () => {}, log: () => {}, warn: console.warn, error: console.error };
      const wllama = new Wllama({ default: '/wllama/wllama.wasm' }, { logger: quiet, suppressNativeLog: true });
      const t0 = performance.now();
      const blob = await (await fetch('/model.gguf')).blob();
      await wllama.loadModel([blob], {
        n_threads: a.threads,
        n_gpu_layers: 0,
        n_ctx: Math.ceil((a.promptTokens + a.genTokens + 1) / 256) * 256,
        n_parallel: 1,
      });
      bench.loadS = (performance.now() - t0) / 1000;
      bench.multiThread = wllama.isMultithread?.() ?? false;
      progress(bench);
      // Streamed with llama-server's per-token timings: the last chunk has the final ones.
      const stream = await wllama.createCompletion({
        prompt: a.prompt,
        max_tokens: a.genTokens,
        temperature: 0,
        ignore_eos: true,
        cache_prompt: false,
        stream: true,
        timings_per_token: true,
      });
      for await (const chunk of stream) {
        if (!chunk.timings) continue;
        bench.timings = chunk.timings;
        progress(bench);
      }
      await wllama.exit();
      return bench;
    },
    args,
  );
  const { value, peakMemBytes, baselineMemBytes, peakRssBytes, timedOut } = run;
  const t = value.timings;
  if (!t || value.loadS === undefined) throw new Error('wllama reported no timings');
  const notes: string[] = [baselineNote(baselineMemBytes, peakRssBytes)];
  if (timedOut) {
    notes.unshift(
      `timed out after ${opts.timeoutMs / 1000} s, with ${t.predicted_n} of ${opts.genTokens} tokens generated: speeds so far`,
    );
  }
  if (!value.multiThread && opts.threads > 1) notes.push('wllama ran single-threaded');
  if (t.prompt_n !== prompt.tokens)
    notes.push(`wllama counted ${t.prompt_n} prompt tokens, we counted ${prompt.tokens}`);
  return {
    loadS: value.loadS,
    prefillTokPerS: t.prompt_per_second,
    decodeTokPerS: t.predicted_per_second,
    peakMemBytes,
    backend: value.multiThread ? `wasm, ${opts.threads} threads` : 'wasm, 1 thread',
    promptTokens: t.prompt_n,
    genTokens: t.predicted_n,
    note: notes.join('; '),
  };
}
