/**
 * `npm run bench:compare`: one GGUF, one thread count, every runtime in turn
 * (never two at once: they would share the cores), then the table on stdout,
 * in docs/performance.md, and with --json one JSON object as the last line.
 * Progress goes to stderr.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/fixtures.ts';
import {
  ArgsError,
  type ChordBenchBackend,
  type CompareOptions,
  parseCompareArgs,
  type RuntimeName,
  USAGE,
} from './args.ts';
import { runChordBrowser, runWllamaBrowser, wllamaVersion } from './browser/run.ts';
import { modelPreset, resolveModel } from './models.ts';
import { AVX2_VARIANT_NAME, ChildError, runChordNode, runNative, runNativeAvx2 } from './node-runtimes.ts';
import {
  type CompareReport,
  type Environment,
  formatTable,
  type Row,
  type RuntimeResult,
  reportJson,
  rowFromError,
  rowFromResult,
  updatePerformanceDoc,
} from './report.ts';

const PERFORMANCE_DOC = join(repoRoot, 'docs', 'performance.md');

/**
 * The JS reference backend runs a 1B model at well under 1 token/s: on models
 * this big its row measures a few tokens only, so that the run finishes.
 */
const JS_BIG_MODEL_BYTES = 100 * 2 ** 20;
const JS_CAP = { promptTokens: 16, genTokens: 4 };

const log = (line: string) => process.stderr.write(`${line}\n`);

function environment(started: Date, loadBefore: number): Environment {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.split(' ') ?? [];
  const simd = ['avx2', 'avx512f', 'avx512_vnni', 'amx_tile'].filter((f) => flags.includes(f));
  const quiet = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  };
  const pkgVersion = (name: string) => {
    try {
      return JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return 'absent';
    }
  };
  const commit = quiet('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = quiet('git', ['status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    date: `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    cpu: `${cpu}${simd.length ? ` [${simd.join(', ')}]` : ''}`,
    cores: availableParallelism(),
    loadAverage: { before: loadBefore, after: loadavg()[0] },
    versions: {
      node: process.version,
      chromium:
        quiet('/usr/bin/chromium', ['--version'])
          .replace(/^Chromium\s+/, '')
          .split(' ')[0] ?? 'unknown',
      '@wllama/wllama': wllamaVersion(),
      'node-llama-cpp': pkgVersion('node-llama-cpp'),
      chord: `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    },
  };
}

/** Rebuilds dist/cli.mjs so that chord-node measures the engine as it is now. */
function buildCli(): void {
  execFileSync(process.execPath, [join(repoRoot, 'scripts', 'build-cli.mjs')], { cwd: repoRoot, stdio: 'inherit' });
}

interface ChordPlan {
  backend: ChordBenchBackend;
  /** Why the backend is not the one asked for. */
  note?: string;
}

function capForJs(opts: CompareOptions, modelBytes: number): { promptTokens: number; genTokens: number } {
  if (modelBytes < JS_BIG_MODEL_BYTES) return { promptTokens: opts.promptTokens, genTokens: opts.genTokens };
  return {
    promptTokens: Math.min(opts.promptTokens, JS_CAP.promptTokens),
    genTokens: Math.min(opts.genTokens, JS_CAP.genTokens),
  };
}

const isBackendUnavailable = (e: unknown) => e instanceof ChildError && /BACKEND_UNAVAILABLE/.test(e.stderr);

export async function main(argv: string[]): Promise<number> {
  let opts: CompareOptions;
  try {
    opts = parseCompareArgs(argv, process.env);
  } catch (e) {
    if (!(e instanceof ArgsError)) throw e;
    log(`bench:compare: ${e.message}\n\n${USAGE}`);
    return 1;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const modelPath = await resolveModel(opts.model, log);
  const modelBytes = statSync(modelPath).size;
  const modelName = modelPreset(opts.model)?.name ?? modelPath;
  const wantsBrowser = opts.runtimes.some((r) => r.endsWith('-browser'));
  if (wantsBrowser && !existsSync(opts.chromiumPath)) {
    log(`bench:compare: no Chromium at ${opts.chromiumPath}: run \`bash scripts/ensure-system-packages.sh\``);
    return 1;
  }
  if (opts.runtimes.includes('chord-node')) buildCli();

  const base = {
    modelPath,
    threads: opts.threads,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
    timeoutMs: opts.timeoutS * 1000,
  };
  const browserBase = { ...base, chromiumPath: opts.chromiumPath, log };
  const chord: ChordPlan = { backend: opts.backend === 'auto' ? 'wasm' : opts.backend };

  const runChord = async (run: (backend: ChordBenchBackend, counts: typeof base) => Promise<RuntimeResult>) => {
    const counts = chord.backend === 'js' ? { ...base, ...capForJs(opts, modelBytes) } : base;
    const r = await run(chord.backend, counts);
    if (r.note?.startsWith('fell back to the js backend')) chord.backend = 'js';
    return chord.note ? { ...r, note: [chord.note, r.note].filter(Boolean).join('; ') } : r;
  };

  const rows: Row[] = [];
  const runners: Record<RuntimeName, () => Promise<RuntimeResult>> = {
    'chord-node': async () => {
      try {
        return await runChord((backend, counts) => runChordNode({ ...counts, backend }));
      } catch (e) {
        if (opts.backend !== 'auto' || chord.backend !== 'wasm' || !isBackendUnavailable(e)) throw e;
        chord.backend = 'js';
        chord.note = 'the wasm backend is not available in this build: the js reference backend ran';
        log(`  ${chord.note}`);
        return runChord((backend, counts) => runChordNode({ ...counts, backend }));
      }
    },
    'chord-browser': () => runChord((backend, counts) => runChordBrowser({ ...browserBase, ...counts, backend })),
    'wllama-browser': () => runWllamaBrowser(browserBase),
    'llama.cpp-native': () => runNative(base),
    'llama.cpp-native-avx2': async () => {
      // Where the best build node-llama-cpp picks is the AVX2 one already (a CPU without
      // AVX-512), a second run would measure the same library again.
      const native = rows.find((r) => r.runtime === 'llama.cpp-native' && r.error === undefined);
      if (native?.backend === `libggml-cpu-${AVX2_VARIANT_NAME}`) {
        return {
          loadS: native.loadS!,
          prefillTokPerS: native.prefillTokPerS!,
          decodeTokPerS: native.decodeTokPerS!,
          peakMemBytes: native.peakMemBytes!,
          backend: native.backend,
          note: 'the llama.cpp-native row: it already ran the AVX2 build, the best this CPU supports',
        };
      }
      return runNativeAvx2(base);
    },
  };

  log(
    `bench:compare: ${modelName} (${(modelBytes / 2 ** 20).toFixed(0)} MiB), threads ${opts.threads}, ` +
      `prompt ${opts.promptTokens}, generate ${opts.genTokens}`,
  );
  const started = new Date();
  const loadBefore = loadavg()[0];
  for (const runtime of opts.runtimes) {
    log(`- ${runtime}...`);
    const t0 = performance.now();
    try {
      const row = rowFromResult(runtime, await runners[runtime]());
      rows.push(row);
      log(
        `  load ${row.loadS?.toFixed(2)} s, prefill ${row.prefillTokPerS?.toFixed(2)} tok/s, ` +
          `decode ${row.decodeTokPerS?.toFixed(2)} tok/s (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    } catch (e) {
      rows.push(rowFromError(runtime, e));
      log(`  failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  const report: CompareReport = {
    model: modelName,
    threads: opts.threads,
    promptTokens: opts.promptTokens,
    genTokens: opts.genTokens,
    modelBytes,
    rows,
    environment: environment(started, loadBefore),
  };
  console.log(formatTable(report));
  if (opts.writeDoc) {
    const doc = existsSync(PERFORMANCE_DOC) ? readFileSync(PERFORMANCE_DOC, 'utf8') : '# Performance\n';
    writeFileSync(PERFORMANCE_DOC, updatePerformanceDoc(doc, report));
    log(`bench:compare: table written into ${PERFORMANCE_DOC}`);
  }
  if (opts.json) process.stdout.write(`${reportJson(report)}\n`);
  return rows.some((r) => r.error !== undefined) ? 2 : 0;
}
