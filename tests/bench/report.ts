/**
 * What a comparison run reports: rows of numbers, as one JSON line (the last
 * stdout line with --json), as a Markdown table, and as a section of
 * docs/performance.md that a later run with the same model and threads replaces.
 */
import type { RuntimeName } from './args.ts';

/** What one runtime measured. */
export interface RuntimeResult {
  loadS: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  peakMemBytes: number;
  /** GPU buffers held at the end (Chord on WebGPU). */
  gpuMemBytes?: number;
  /** The backend or build that ran (Chord's backend, llama.cpp's CPU variant). */
  backend?: string;
  /** Tokens actually measured, when a runtime was capped below the request. */
  promptTokens?: number;
  genTokens?: number;
  note?: string;
}

export interface Row {
  runtime: RuntimeName;
  loadS: number | null;
  prefillTokPerS: number | null;
  decodeTokPerS: number | null;
  peakMemBytes: number | null;
  gpuMemBytes?: number;
  backend?: string;
  promptTokens?: number;
  genTokens?: number;
  note?: string;
  /** Why the runtime gave no numbers. */
  error?: string;
}

export interface Environment {
  /** When the run started. */
  date: string;
  cpu: string;
  cores: number;
  versions: Record<string, string>;
  /** 1-minute load average before and after the run: how busy the machine was. */
  loadAverage?: { before: number; after: number };
}

export interface CompareReport {
  model: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  modelBytes?: number;
  rows: Row[];
  environment?: Environment;
}

export function rowFromResult(runtime: RuntimeName, r: RuntimeResult): Row {
  return { runtime, ...r };
}

export function rowFromError(runtime: RuntimeName, error: unknown): Row {
  const message = error instanceof Error ? error.message : String(error);
  return {
    runtime,
    loadS: null,
    prefillTokPerS: null,
    decodeTokPerS: null,
    peakMemBytes: null,
    error: message.split('\n')[0],
  };
}

/** The single JSON line: {"model", "threads", "rows": [...]} and the context that makes it reproducible. */
export function reportJson(report: CompareReport): string {
  return JSON.stringify(report);
}

function speed(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function seconds(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '—' : x.toFixed(2);
}

function mib(x: number | null): string {
  return x === null || !Number.isFinite(x) || x <= 0 ? '—' : (x / 2 ** 20).toFixed(0);
}

function ratio(a: number | null | undefined, b: number | null | undefined): string | undefined {
  if (a == null || b == null || !(b > 0) || !Number.isFinite(a)) return undefined;
  return `${(a / b).toFixed(2)}×`;
}

/** The table of rows in Markdown, with a note line per row that has something to say. */
export function formatTable(report: CompareReport): string {
  const lines = [
    '| runtime | backend / build | load (s) | prefill (tok/s) | decode (tok/s) | peak memory (MiB) |',
    '|---|---|--:|--:|--:|--:|',
  ];
  const notes: string[] = [];
  for (const r of report.rows) {
    lines.push(
      `| ${r.runtime} | ${r.backend ?? ''} | ${seconds(r.loadS)} | ${speed(r.prefillTokPerS)} | ${speed(r.decodeTokPerS)} | ${mib(r.peakMemBytes)} |`,
    );
    const counts =
      (r.promptTokens !== undefined && r.promptTokens !== report.promptTokens) ||
      (r.genTokens !== undefined && r.genTokens !== report.genTokens)
        ? `measured on ${r.promptTokens ?? report.promptTokens} prompt / ${r.genTokens ?? report.genTokens} generated tokens`
        : undefined;
    const gpu = r.gpuMemBytes !== undefined ? `GPU buffers ${mib(r.gpuMemBytes)} MiB` : undefined;
    const said = [counts, gpu, r.note, r.error && `failed: ${r.error}`].filter(Boolean).join('; ');
    if (said) notes.push(`- ${r.runtime}: ${said}`);
  }
  const ratios = formatRatios(report.rows);
  return [lines.join('\n'), ...(notes.length ? ['', ...notes] : []), ...(ratios ? ['', ratios] : [])].join('\n');
}

/** Chord against its targets (issue: ≥1.3× wllama in the browser, ≥0.8× native AVX2 decode). */
export function formatRatios(rows: readonly Row[]): string | undefined {
  const by = (name: RuntimeName) => rows.find((r) => r.runtime === name && r.error === undefined);
  const chordBrowser = by('chord-browser');
  const chordNode = by('chord-node');
  const wllama = by('wllama-browser');
  const avx2 = by('llama.cpp-native-avx2') ?? by('llama.cpp-native');
  const out: string[] = [];
  const decodeW = ratio(chordBrowser?.decodeTokPerS, wllama?.decodeTokPerS);
  const prefillW = ratio(chordBrowser?.prefillTokPerS, wllama?.prefillTokPerS);
  if (decodeW && prefillW) {
    out.push(`- chord-browser / wllama-browser: decode ${decodeW}, prefill ${prefillW} (target ≥ 1.3×)`);
  }
  const decodeN = ratio(chordNode?.decodeTokPerS, avx2?.decodeTokPerS);
  if (decodeN && avx2) out.push(`- chord-node / ${avx2.runtime} decode: ${decodeN} (target ≥ 0.8× the AVX2 build)`);
  return out.length ? out.join('\n') : undefined;
}

const SECTION_START = (key: string) => `<!-- bench:compare ${key} -->`;
const SECTION_END = (key: string) => `<!-- /bench:compare ${key} -->`;

const threadCount = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;

function sectionKey(report: CompareReport): string {
  return `model=${report.model} threads=${report.threads}`;
}

/** The section a run writes into docs/performance.md: heading, context, table. */
export function formatSection(report: CompareReport): string {
  const key = sectionKey(report);
  const env = report.environment;
  const size = report.modelBytes ? `, ${(report.modelBytes / 2 ** 20).toFixed(0)} MiB` : '';
  const context = env
    ? [
        `Measured ${env.date} on ${env.cpu} (${env.cores} cores), ${threadCount(report.threads)},`,
        `prompt ${report.promptTokens} / generate ${report.genTokens} tokens` +
          (env.loadAverage
            ? `; load average ${env.loadAverage.before.toFixed(1)} before, ${env.loadAverage.after.toFixed(1)} after.`
            : '.'),
        `Versions: ${Object.entries(env.versions)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}.`,
      ].join('\n')
    : `${threadCount(report.threads)}, prompt ${report.promptTokens} / generate ${report.genTokens} tokens.`;
  return [
    SECTION_START(key),
    `### ${report.model}${size}, ${threadCount(report.threads)}`,
    '',
    context,
    '',
    formatTable(report),
    SECTION_END(key),
  ].join('\n');
}

/**
 * `doc` with this run's section replaced (same model and threads), or appended
 * at the end when there is none yet.
 */
export function updatePerformanceDoc(doc: string, report: CompareReport): string {
  const key = sectionKey(report);
  const section = formatSection(report);
  const start = doc.indexOf(SECTION_START(key));
  const endMarker = SECTION_END(key);
  const end = doc.indexOf(endMarker, start);
  if (start >= 0 && end > start) return doc.slice(0, start) + section + doc.slice(end + endMarker.length);
  return `${doc.replace(/\s*$/, '')}\n\n${section}\n`;
}
