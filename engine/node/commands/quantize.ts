/**
 * `chord quantize IN.gguf OUT.gguf --type TYPE [--keep NAME_GLOB[=TYPE]]... [--allow-requantize] [--json]`
 * and the Node library function behind it, quantizeFile. Progress goes to
 * stderr (one line per tensor); with --json, stdout holds only the report.
 */
import { parseArgs } from 'node:util';
import { type QuantizeOptions, type QuantizeReport, quantizeGGUF } from '../../tools/quantize.ts';
import { parseKeepRule } from '../../tools/quantize-plan.ts';
import { fromFile } from '../file-source.ts';
import { writeThroughPartialFile } from '../partial-file.ts';

export const QUANTIZE_USAGE = `  quantize IN.gguf OUT.gguf --type TYPE [--keep NAME_GLOB[=TYPE]]... [--allow-requantize] [--json]
      TYPE: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K F16 BF16 F32
      (Q3_K, Q4_K, Q5_K = the _M mixes). llama.cpp's per-tensor choice; --keep overrides it for matching
      tensors (without =TYPE: keep the input's type). Prints each tensor's RMSE.`;

/**
 * Quantizes the GGUF file at inPath into outPath (written under a temporary
 * name beside it and renamed when complete).
 */
export async function quantizeFile(inPath: string, outPath: string, opts: QuantizeOptions): Promise<QuantizeReport> {
  const source = await fromFile(inPath);
  try {
    return await writeThroughPartialFile(outPath, (sink) => quantizeGGUF(source, sink, opts));
  } finally {
    await source.close?.();
  }
}

const fmt = (x: number) => (x === 0 ? '0' : x.toExponential(3));

/** The CLI command; returns the exit code (usage errors: 1, printed with the usage). */
export async function quantizeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      type: { type: 'string' },
      keep: { type: 'string', multiple: true },
      'allow-requantize': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length !== 2 || values.type === undefined) {
    console.error(`chord quantize: needs IN.gguf OUT.gguf and --type\n\n${QUANTIZE_USAGE}`);
    return 1;
  }
  const [inPath, outPath] = positionals;
  const started = performance.now();
  const report = await quantizeFile(inPath, outPath, {
    type: values.type,
    keep: (values.keep ?? []).map(parseKeepRule),
    allowRequantize: values['allow-requantize'],
    onWarning: (m) => process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}warning: ${m}\n`),
    // On a terminal, big tensors show their rows as they go (the line is overwritten).
    onTensorRows: process.stderr.isTTY
      ? (name, done, total) => process.stderr.write(`\r${name} ${Math.floor((100 * done) / total)}%\x1b[K`)
      : undefined,
    onProgress: ({ index, count, tensor: t }) => {
      const types = `${t.from} -> ${t.to}`.padEnd(14);
      const err = t.from === t.to ? '' : `  rmse ${fmt(t.rmse)} (rel ${fmt(t.relativeRmse)})`;
      const clear = process.stderr.isTTY ? '\r\x1b[K' : '';
      process.stderr.write(
        `${clear}[${String(index).padStart(String(count).length)}/${count}] ${t.name.padEnd(32)} ${types}${err}\n`,
      );
    },
  });
  const seconds = (performance.now() - started) / 1000;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ input: inPath, output: outPath, seconds, ...report })}\n`);
  } else {
    const mib = (b: number) => (b / 2 ** 20).toFixed(2);
    console.log(
      `${outPath}: ${report.type} (file type ${report.fileType}), ${mib(report.bytesIn)} MiB of tensors -> ${mib(report.bytesOut)} MiB, ${report.tensors.length} tensors, ${report.fallbacks} fallbacks, ${seconds.toFixed(1)} s`,
    );
  }
  return 0;
}
