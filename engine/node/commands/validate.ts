/**
 * `chord validate MODEL.gguf [--sha256 HEX] [--json]`: exit 0 when the file is
 * sound, 2 with the problems listed one per line (stdout; with --json, the whole
 * report as one JSON object). Progress goes to stderr.
 */
import { parseArgs } from 'node:util';
import { validateGGUF } from '../../tools/validate.ts';
import { fromFile } from '../file-source.ts';

export const VALIDATE_USAGE = `  validate MODEL.gguf [--sha256 HEX] [--json]
      Structure, every tensor's size and bounds, a NaN/Inf scan of every value, the tensor list of
      architectures we run, the file's SHA-256.
      Exit 0 when sound, 2 with the problems listed one per line.`;

export async function validateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { sha256: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (positionals.length !== 1) {
    console.error(`chord validate: needs one MODEL.gguf\n\n${VALIDATE_USAGE}`);
    return 1;
  }
  if (values.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(values.sha256.trim())) {
    console.error(`chord validate: --sha256 needs 64 hex digits\n\n${VALIDATE_USAGE}`);
    return 1;
  }
  const path = positionals[0];
  const source = await fromFile(path);
  let lastPercent = -1;
  try {
    const report = await validateGGUF(source, {
      sha256: values.sha256,
      onProgress:
        values.json || !process.stderr.isTTY
          ? undefined
          : (done, total) => {
              const percent = Math.floor((100 * done) / Math.max(1, total));
              if (percent >= lastPercent + 10 || done === total) {
                lastPercent = percent;
                process.stderr.write(`validate: ${percent}%\r${done === total ? '\n' : ''}`);
              }
            },
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ file: path, ...report })}\n`);
    } else if (report.ok) {
      const skipped = report.tensorsNotScanned.length;
      const hash = report.sha256 ? `, sha256 ${report.sha256}` : '';
      const list = report.tensorListChecked ? `, ${report.architecture} tensor list checked` : '';
      console.log(
        `${path}: OK (${report.tensorsScanned} tensors scanned${skipped ? `, ${skipped} of types we cannot decode not scanned` : ''}${list}${hash})`,
      );
    } else {
      for (const p of report.problems) console.log(`${path}: ${p.code}: ${p.message}`);
    }
    return report.ok ? 0 : 2;
  } finally {
    await source.close?.();
  }
}
