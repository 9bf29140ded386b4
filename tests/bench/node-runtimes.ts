/**
 * The Node rows: Chord's CLI (`chord bench`) and native llama.cpp through
 * node-llama-cpp, each in a child process of its own, so that its peak RSS is
 * its own and a crash cannot take the harness down.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/fixtures.ts';
import type { ChordBenchBackend } from './args.ts';
import type { RuntimeResult } from './report.ts';

export interface NodeBenchOptions {
  modelPath: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  timeoutMs: number;
}

/** A failed child process, with what it printed. */
export class ChildError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

function runNode(args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 64 << 20, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        if (error) {
          const why = error.killed ? `killed after ${timeoutMs / 1000} s` : `exit code ${error.code}`;
          const last = stderr.trim().split('\n').slice(-3).join(' | ');
          reject(new ChildError(`${why}: ${last}`, stderr));
        } else resolve(stdout);
      },
    );
  });
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`expected a JSON line, got: ${line.slice(0, 200)}`);
  }
}

/** `node bin/chord.mjs bench ... --json` (dist/cli.mjs must be built). */
export async function runChordNode(opts: NodeBenchOptions & { backend: ChordBenchBackend }): Promise<RuntimeResult> {
  const stdout = await runNode(
    [
      join(repoRoot, 'bin', 'chord.mjs'),
      'bench',
      '--model',
      opts.modelPath,
      '--prompt-tokens',
      String(opts.promptTokens),
      '--gen-tokens',
      String(opts.genTokens),
      '--json',
      '--backend',
      opts.backend,
      '--threads',
      String(opts.threads),
    ],
    repoRoot,
    opts.timeoutMs,
  );
  const r = lastJsonLine(stdout) as {
    loadS: number;
    prefillTokPerS: number;
    decodeTokPerS: number;
    peakRssBytes: number;
    gpuMemoryBytes?: number;
    backend: string;
  };
  return {
    loadS: r.loadS,
    prefillTokPerS: r.prefillTokPerS,
    decodeTokPerS: r.decodeTokPerS,
    peakMemBytes: r.peakRssBytes,
    gpuMemBytes: r.gpuMemoryBytes,
    backend: r.backend,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
  };
}

const NATIVE_RUNNER = join(repoRoot, 'tests', 'bench', 'native-runner.mjs');

async function runNativeRunner(runner: string, cwd: string, opts: NodeBenchOptions): Promise<RuntimeResult> {
  const request = {
    model: opts.modelPath,
    threads: opts.threads,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
  };
  const r = lastJsonLine(await runNode([runner, JSON.stringify(request)], cwd, opts.timeoutMs)) as {
    loadS: number;
    prefillTokPerS: number;
    decodeTokPerS: number;
    peakRssBytes: number;
    cpuVariant: string;
  };
  return {
    loadS: r.loadS,
    prefillTokPerS: r.prefillTokPerS,
    decodeTokPerS: r.decodeTokPerS,
    peakMemBytes: r.peakRssBytes,
    backend: `libggml-cpu-${r.cpuVariant}`,
  };
}

/** llama.cpp with the CPU build node-llama-cpp picks for this machine (the best-scoring one). */
export function runNative(opts: NodeBenchOptions): Promise<RuntimeResult> {
  return runNativeRunner(NATIVE_RUNNER, repoRoot, opts);
}

/** The AVX2 (+FMA, F16C) build of ggml's CPU backend, as node-llama-cpp names it. */
export const AVX2_VARIANT_NAME = 'haswell';
const AVX2_VARIANT = `libggml-cpu-${AVX2_VARIANT_NAME}.so`;

/**
 * llama.cpp with its AVX2 build. node-llama-cpp always loads the best-scoring
 * libggml-cpu-*.so and has no option to pick another, so it runs from a
 * hard-linked copy of node_modules (cp -al: no bytes copied) in which every
 * other CPU variant is unlinked. Unlinking a copy's entry leaves the original
 * file alone; .package-lock.json becomes a real file so that nothing writing
 * there could reach the shared original.
 */
export async function runNativeAvx2(opts: NodeBenchOptions): Promise<RuntimeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'chord-bench-avx2-'));
  try {
    const modules = join(dir, 'node_modules');
    await new Promise<void>((resolve, reject) =>
      execFile('cp', ['-al', join(repoRoot, 'node_modules'), modules], (e) => (e ? reject(e) : resolve())),
    );
    const lock = join(modules, '.package-lock.json');
    unlinkSync(lock);
    copyFileSync(join(repoRoot, 'node_modules', '.package-lock.json'), lock);
    const prebuilt = join(modules, '@node-llama-cpp');
    let kept = 0;
    for (const pkg of readdirSync(prebuilt)) {
      const bins = join(prebuilt, pkg, 'bins');
      let platforms: string[];
      try {
        platforms = readdirSync(bins);
      } catch {
        continue;
      }
      for (const platform of platforms) {
        for (const f of readdirSync(join(bins, platform))) {
          if (!/^libggml-cpu-.*\.so$/.test(f)) continue;
          if (f === AVX2_VARIANT) kept++;
          else rmSync(join(bins, platform, f));
        }
      }
    }
    if (kept === 0) throw new Error(`node-llama-cpp has no ${AVX2_VARIANT} here`);
    const runner = join(dir, 'native-runner.mjs');
    copyFileSync(NATIVE_RUNNER, runner);
    return await runNativeRunner(runner, dir, opts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
