/**
 * `chord convert HF_DIR OUT.gguf [--type TYPE] [--pre NAME] [--json]`: a Hugging
 * Face model folder to GGUF (engine/tools/convert). Progress goes to stderr,
 * one line per tensor; with --json, stdout holds only the summary.
 */
import { parseArgs } from 'node:util';
import { GGMLType } from '../../quant/types.ts';
import { convertibleTypes } from '../../tools/convert/convert.ts';
import { convertHFFolder } from '../hf-folder.ts';

export const CONVERT_USAGE = `  convert HF_DIR OUT.gguf [--type F32|F16|BF16|Q8_0|Q4_0|Q4_1|Q5_0|Q5_1|...] [--pre NAME] [--json]
      A Hugging Face folder (config.json, *.safetensors, tokenizer.json, tokenizer_config.json) of a
      Llama/Mistral/SmolLM, Qwen2, Phi-2, Phi-3, Gemma or Gemma 2 model. Matrices in TYPE (default F16),
      vectors and norms F32. --pre names llama.cpp's pre-tokenizer for a BPE vocabulary we do not recognise.`;

/** The CLI command; returns the exit code (usage errors: 1, printed with the usage). */
export async function convertCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { type: { type: 'string' }, pre: { type: 'string' }, json: { type: 'boolean' } },
  });
  const usage = (why: string) => {
    console.error(`chord convert: ${why}\n\n${CONVERT_USAGE}`);
    return 1;
  };
  if (positionals.length !== 2) return usage('needs HF_DIR and OUT.gguf');
  const typeName = (values.type ?? 'F16').toUpperCase();
  const type = GGMLType[typeName as keyof typeof GGMLType] as GGMLType | undefined;
  const allowed = convertibleTypes();
  if (type === undefined || !allowed.includes(type)) {
    return usage(`--type ${values.type}: one of ${allowed.map((t) => GGMLType[t]).join(', ')}`);
  }
  const [dir, outPath] = positionals;
  const started = performance.now();
  let tensors = 0;
  const size = await convertHFFolder(dir, outPath, {
    type,
    pre: values.pre,
    onTensor: ({ index, total, name, type: t }) => {
      tensors = total;
      process.stderr.write(
        `[${String(index + 1).padStart(String(total).length)}/${total}] ${name.padEnd(32)} ${GGMLType[t]}\n`,
      );
    },
  });
  const summary = {
    file: outPath,
    bytes: size,
    tensors,
    type: typeName,
    seconds: (performance.now() - started) / 1000,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else console.log(`${outPath}: ${size} bytes, ${tensors} tensors, ${typeName}, ${summary.seconds.toFixed(1)} s`);
  return 0;
}
