/**
 * The browser rows: our engine (in a Worker) and wllama (its multi-threaded
 * WASM build, WebGPU off), each in a fresh headless Debian Chromium on the
 * same cross-origin isolated page, with the model served from 127.0.0.1.
 * Peak memory is the page's renderer process's VmHWM (its Workers are threads
 * of that process), read from /proc before the browser closes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { repoRoot } from '../../helpers/fixtures.ts';
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

class TimeoutError extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The largest VmHWM (peak RSS) or VmRSS (now) among this browser's renderer
 * processes: those whose ancestry reaches the process started with our profile.
 */
function rendererMemory(profile: string, field: 'VmHWM' | 'VmRSS'): number {
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
  let peak = 0;
  for (const [pid, c] of cmdline) {
    if (!c.includes('--type=renderer') || !ofBrowser(pid)) continue;
    try {
      const hwm = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
    } catch {
      // gone
    }
  }
  return peak;
}

/** Runs `body` on the bench page of a fresh browser; returns its result and the renderer's peak memory. */
async function withBenchPage<T>(
  opts: BrowserBenchOptions,
  routes: Record<string, Route>,
  body: (page: Page, origin: string) => Promise<T>,
  /** On a timeout, what the page measured so far, if anything. */
  salvage?: (page: Page) => Promise<T | undefined>,
): Promise<{ value: T; peakMemBytes: number; baselineMemBytes: number; timedOut: boolean }> {
  const server = await startBenchServer(routes);
  const profile = await mkdtemp(join(tmpdir(), 'chord-bench-profile-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: opts.chromiumPath,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') opts.log(`  [page ${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => opts.log(`  [page error] ${e.message}`));
    await page.goto(`${server.origin}/`);
    if (!(await page.evaluate(() => globalThis.crossOriginIsolated))) {
      throw new Error('the bench page is not cross-origin isolated: no SharedArrayBuffer, no wasm threads');
    }
    const baselineMemBytes = rendererMemory(profile, 'VmRSS');
    let value: T;
    let timedOut = false;
    try {
      value = await withTimeout(body(page, server.origin), opts.timeoutMs, 'the browser run');
    } catch (e) {
      const partial = e instanceof TimeoutError && salvage ? await salvage(page).catch(() => undefined) : undefined;
      if (partial === undefined) throw e;
      value = partial;
      timedOut = true;
    }
    return { value, peakMemBytes: rendererMemory(profile, 'VmHWM'), baselineMemBytes, timedOut };
  } finally {
    await context?.close().catch(() => {});
    await server.close();
    await rm(profile, { recursive: true, force: true });
  }
}

const baselineNote = (bytes: number) => `renderer at ${(bytes / 2 ** 20).toFixed(0)} MiB before loading`;

export async function runChordBrowser(opts: BrowserBenchOptions & { backend: 'wasm' | 'js' }): Promise<RuntimeResult> {
  const routes = baseRoutes(opts.modelPath);
  routes['/chord-worker.js'] = { text: await bundleChordWorker(), type: 'text/javascript' };
  const request: Omit<ChordWorkerRequest, 'url'> = {
    backend: opts.backend,
    threads: opts.threads,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
  };
  const { value, peakMemBytes, baselineMemBytes } = await withBenchPage(opts, routes, (page, origin) =>
    page.evaluate(
      (req) =>
        new Promise<{ ok: boolean; result?: ChordWorkerResult; error?: string }>((resolve) => {
          const worker = new Worker('/chord-worker.js', { type: 'module' });
          worker.onmessage = (e) => {
            worker.terminate();
            resolve(e.data);
          };
          worker.onerror = (e) => resolve({ ok: false, error: `worker error: ${e.message}` });
          worker.postMessage(req);
        }),
      { ...request, url: `${origin}/model.gguf` },
    ),
  );
  if (!value.ok || !value.result) throw new Error(value.error ?? 'the chord worker failed');
  const r = value.result;
  return {
    loadS: r.loadS,
    prefillTokPerS: r.prefillTokPerS,
    decodeTokPerS: r.decodeTokPerS,
    peakMemBytes,
    backend: r.backend,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
    note: [r.fallback && `fell back to the js backend (${r.fallback})`, baselineNote(baselineMemBytes)]
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
  // The page keeps what it measured in globalThis.wllamaBench, so that a run cut
  // short by the timeout still gives the speeds wllama reported up to then.
  const progress = (page: Page) =>
    page.evaluate(() => (globalThis as unknown as { wllamaBench?: WllamaPageResult }).wllamaBench);
  const run = await withBenchPage(
    opts,
    routes,
    (page) =>
      page.evaluate(async (a): Promise<WllamaPageResult> => {
        const bench: WllamaPageResult = {};
        (globalThis as unknown as { wllamaBench: WllamaPageResult }).wllamaBench = bench;
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
        for await (const chunk of stream) if (chunk.timings) bench.timings = chunk.timings;
        await wllama.exit();
        return bench;
      }, args),
    progress,
  );
  const { value, peakMemBytes, baselineMemBytes, timedOut } = run;
  const t = value.timings;
  if (!t || value.loadS === undefined) throw new Error('wllama reported no timings');
  const notes: string[] = [baselineNote(baselineMemBytes)];
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
