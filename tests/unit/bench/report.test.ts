import { describe, expect, it } from 'vitest';
import {
  type CompareReport,
  formatRatios,
  formatTable,
  reportJson,
  rowFromError,
  rowFromResult,
  updatePerformanceDoc,
} from '../../bench/report.ts';

const MiB = 2 ** 20;

function sample(): CompareReport {
  return {
    model: 'tinyllama-q4_0',
    threads: 2,
    promptTokens: 128,
    genTokens: 64,
    modelBytes: 591 * MiB,
    rows: [
      rowFromResult('chord-node', {
        loadS: 1.234,
        prefillTokPerS: 0.456,
        decodeTokPerS: 0.2,
        peakMemBytes: 700 * MiB,
        backend: 'reference (scalar TypeScript)',
        promptTokens: 16,
        genTokens: 4,
      }),
      rowFromResult('chord-browser', {
        loadS: 2,
        prefillTokPerS: 13,
        decodeTokPerS: 7,
        peakMemBytes: 800 * MiB,
        gpuMemBytes: 300 * MiB,
        backend: 'wasm',
        promptTokens: 128,
        genTokens: 64,
      }),
      rowFromResult('wllama-browser', {
        loadS: 4.5,
        prefillTokPerS: 10,
        decodeTokPerS: 3.5,
        peakMemBytes: 900 * MiB,
      }),
      rowFromError('llama.cpp-native', new Error('exit code 1: boom\nstack')),
      rowFromResult('llama.cpp-native-avx2', {
        loadS: 0.5,
        prefillTokPerS: 82,
        decodeTokPerS: 14,
        peakMemBytes: 650 * MiB,
        backend: 'libggml-cpu-haswell',
      }),
    ],
  };
}

describe('bench:compare report', () => {
  it('is one JSON line with model, threads and rows of the five numbers', () => {
    const line = reportJson(sample());
    expect(line).not.toContain('\n');
    const parsed = JSON.parse(line);
    expect(parsed.model).toBe('tinyllama-q4_0');
    expect(parsed.threads).toBe(2);
    expect(parsed.rows.map((r: { runtime: string }) => r.runtime)).toEqual([
      'chord-node',
      'chord-browser',
      'wllama-browser',
      'llama.cpp-native',
      'llama.cpp-native-avx2',
    ]);
    for (const r of parsed.rows) {
      expect(Object.keys(r)).toEqual(
        expect.arrayContaining(['runtime', 'loadS', 'prefillTokPerS', 'decodeTokPerS', 'peakMemBytes']),
      );
    }
    expect(parsed.rows[3]).toMatchObject({ loadS: null, decodeTokPerS: null, error: 'exit code 1: boom' });
  });

  it('formats the table: seconds, tok/s by magnitude, MiB, dashes for failures, notes, ratios', () => {
    const table = formatTable(sample());
    const lines = table.split('\n');
    expect(lines[0]).toBe(
      '| runtime | backend / build | load (s) | prefill (tok/s) | decode (tok/s) | peak memory (MiB) |',
    );
    expect(lines[2]).toBe('| chord-node | reference (scalar TypeScript) | 1.23 | 0.46 | 0.20 | 700 |');
    expect(lines[3]).toBe('| chord-browser | wasm | 2.00 | 13.0 | 7.00 | 800 |');
    expect(lines[5]).toBe('| llama.cpp-native |  | — | — | — | — |');
    expect(table).toContain('- chord-node: measured on 16 prompt / 4 generated tokens');
    expect(table).not.toContain('- chord-browser: measured');
    expect(table).toContain('- chord-browser: GPU buffers 300 MiB');
    expect(table).toContain('- llama.cpp-native: failed: exit code 1: boom');
    // 7 / 3.5 and 13 / 10 against wllama; 0.2 / 14 against the AVX2 build.
    expect(table).toContain('- chord-browser / wllama-browser: decode 2.00×, prefill 1.30× (target ≥ 1.3×)');
    expect(table).toContain('- chord-node / llama.cpp-native-avx2 decode: 0.01×');
  });

  it('compares with the native row when there is no AVX2 row, and says nothing without both sides', () => {
    const rows = sample().rows.filter((r) => r.runtime !== 'llama.cpp-native-avx2');
    rows[3] = rowFromResult('llama.cpp-native', { loadS: 1, prefillTokPerS: 1, decodeTokPerS: 0.4, peakMemBytes: 1 });
    expect(formatRatios(rows)).toContain('- chord-node / llama.cpp-native decode: 0.50×');
    expect(formatRatios(rows.filter((r) => r.runtime === 'chord-node'))).toBeUndefined();
  });

  it('appends its section to docs/performance.md, then replaces only the section with the same model and threads', () => {
    const doc = '# Performance\n\nIntro text.\n';
    const first = updatePerformanceDoc(doc, sample());
    expect(
      first.startsWith('# Performance\n\nIntro text.\n\n<!-- bench:compare model=tinyllama-q4_0 threads=2 -->'),
    ).toBe(true);
    expect(first).toContain('### tinyllama-q4_0, 591 MiB, 2 threads');

    const other = { ...sample(), threads: 1 };
    const both = updatePerformanceDoc(first, other);
    expect(both.match(/<!-- bench:compare /g)).toHaveLength(2);

    const newer = sample();
    newer.rows[1] = { ...newer.rows[1], decodeTokPerS: 123 };
    const replaced = updatePerformanceDoc(both, newer);
    expect(replaced.match(/<!-- bench:compare /g)).toHaveLength(2);
    const section = (threads: number) => {
      const start = replaced.indexOf(`<!-- bench:compare model=tinyllama-q4_0 threads=${threads} -->`);
      return replaced.slice(start, replaced.indexOf('<!-- /bench:compare', start));
    };
    expect(section(2)).toContain('| chord-browser | wasm | 2.00 | 13.0 | 123 | 800 |');
    expect(section(2)).not.toContain('| chord-browser | wasm | 2.00 | 13.0 | 7.00 | 800 |');
    expect(section(1)).toContain('| chord-browser | wasm | 2.00 | 13.0 | 7.00 | 800 |');
    expect(replaced).toContain('### tinyllama-q4_0, 591 MiB, 1 thread');
    expect(replaced.startsWith('# Performance\n\nIntro text.')).toBe(true);
  });

  it('writes the machine, date and versions above the table', () => {
    const report = {
      ...sample(),
      environment: {
        date: '2026-11-29 16:20 UTC',
        cpu: 'AMD EPYC [avx2]',
        cores: 2,
        versions: { node: 'v20.20.2', '@wllama/wllama': '3.13.0' },
      },
    };
    const section = updatePerformanceDoc('', report);
    expect(section).toContain('Measured 2026-11-29 16:20 UTC on AMD EPYC [avx2] (2 cores), 2 threads,');
    expect(section).toContain('Versions: node v20.20.2, @wllama/wllama 3.13.0.');
  });
});
