/** Command-line options of `npm run bench:compare`. */
import { parseArgs } from 'node:util';

export const RUNTIMES = [
  'chord-node',
  'chord-browser',
  'wllama-browser',
  'llama.cpp-native',
  'llama.cpp-native-avx2',
] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** The backends Chord's rows can run. */
export type ChordBenchBackend = 'wasm' | 'js' | 'webgpu';

export interface CompareOptions {
  /** A preset name (see models.ts) or a GGUF path. */
  model: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  runtimes: RuntimeName[];
  /** Chord's backend: 'auto' takes wasm where the engine has it, else js (and says so). */
  backend: 'auto' | ChordBenchBackend;
  json: boolean;
  /** Write the table into docs/performance.md. */
  writeDoc: boolean;
  chromiumPath: string;
  /** Per runtime, seconds. */
  timeoutS: number;
  help: boolean;
}

export const USAGE = `Usage: npm run bench:compare -- [options]

Runs one GGUF model with one thread count through Chord (Node and headless
Chromium), wllama (Chromium) and native llama.cpp (node-llama-cpp), and prints
load time, prefill and decode speed, and peak memory side by side.

  --model NAME|PATH     small (default), small-q8_0, small-q4_k, tinyllama (Q4_0),
                        tinyllama-q8_0, tinyllama-q4_k (random weights, generated
                        into .cache/models/ on first use), or a GGUF file
  --threads N           threads for every runtime (default 2)
  --prompt-tokens P     prompt length (default 128)
  --gen-tokens G        tokens generated greedily (default 64)
  --runtimes LIST       comma-separated, from ${RUNTIMES.join(', ')} (default: all)
  --backend B           Chord's backend: auto (wasm if available, else js), wasm, js,
                        webgpu (Chromium gets --enable-unsafe-webgpu; GPU memory in the note)
  --json                the last stdout line is one JSON object with every row
  --no-doc              do not write the table into docs/performance.md
  --chromium PATH       default /usr/bin/chromium (or $CHORD_CHROMIUM)
  --timeout S           seconds allowed per runtime (default 900)`;

export class ArgsError extends Error {}

function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ArgsError(`--${name} must be a positive integer, not '${v}'`);
  return n;
}

export function parseCompareArgs(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): CompareOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    throw new ArgsError((e as Error).message);
  }
  const v = parsed.values;
  const runtimes = (v.runtimes ?? RUNTIMES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const r of runtimes) {
    if (!(RUNTIMES as readonly string[]).includes(r)) {
      throw new ArgsError(`unknown runtime '${r}' (known: ${RUNTIMES.join(', ')})`);
    }
  }
  if (runtimes.length === 0) throw new ArgsError('--runtimes names no runtime');
  const backend = v.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'wasm' && backend !== 'js' && backend !== 'webgpu') {
    throw new ArgsError(`--backend must be auto, wasm, js or webgpu, not '${backend}'`);
  }
  return {
    model: v.model ?? 'small',
    threads: positiveInt(v.threads, 'threads', 2),
    promptTokens: positiveInt(v['prompt-tokens'], 'prompt-tokens', 128),
    genTokens: positiveInt(v['gen-tokens'], 'gen-tokens', 64),
    runtimes: [...new Set(runtimes)] as RuntimeName[],
    backend,
    json: v.json ?? false,
    writeDoc: !(v['no-doc'] ?? false),
    chromiumPath: v.chromium ?? env.CHORD_CHROMIUM ?? '/usr/bin/chromium',
    timeoutS: positiveInt(v.timeout, 'timeout', 900),
    help: v.help ?? false,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: 'string' },
      threads: { type: 'string' },
      'prompt-tokens': { type: 'string' },
      'gen-tokens': { type: 'string' },
      runtimes: { type: 'string' },
      backend: { type: 'string' },
      json: { type: 'boolean' },
      'no-doc': { type: 'boolean' },
      chromium: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
