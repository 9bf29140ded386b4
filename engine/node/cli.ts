/**
 * The `chord` command line: inspect, tokenize, run, bench. `main(argv)` returns
 * the exit code: 0 on success, 2 for invalid input files (with a one-line
 * reason on stderr), 1 for usage errors. With --json, stdout holds only JSON.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ChordError, toChordError } from '../../shared/errors.ts';
import { readGGUF } from '../gguf/reader.ts';
import type { GGUFFile, GGUFValue } from '../gguf/types.ts';
import { readHParams } from '../model/hparams.ts';
import type { LoadOptions } from '../model/load.ts';
import type { Model } from '../model/model.ts';
import { GGMLType } from '../quant/types.ts';
import { topKProbabilities } from '../sampling/index.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { CONVERT_USAGE, convertCommand } from './commands/convert.ts';
import { QUANTIZE_USAGE, quantizeCommand } from './commands/quantize.ts';
import { VALIDATE_USAGE, validateCommand } from './commands/validate.ts';
import { openNodeSource } from './file-source.ts';
import { loadModel } from './index.ts';

const USAGE = `Usage: chord <command> [options]

Commands:
  inspect MODEL [--json]
      Metadata, tensors (name, type, shape, offset), architecture, hyper-parameters.
  tokenize --model MODEL --input-jsonl FILE [--add-special] [--parse-special]
      For each {"text": "..."} line, one {"ids": [...]} line.
  run --model MODEL --prompt TEXT [--max-tokens N] [--json] [--top-logprobs K]
      [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]
      [--presence-penalty P] [--frequency-penalty F] [--seed S] [--stop TEXT]...
      [--force-tokens ID,ID,...] [--backend auto|js|wasm|webgpu] [--threads N] [--ctx N]
  bench --model MODEL [--prompt-tokens P] [--gen-tokens G] [--json] [--backend B] [--threads N]
      Both use the fastest backend available (auto) unless --backend says otherwise: in Node that is
      wasm, bit for bit the js reference (llama.cpp's CPU arithmetic); webgpu only with CHORD_WEBGPU=1.
${QUANTIZE_USAGE}
${VALIDATE_USAGE}
${CONVERT_USAGE}

MODEL is a GGUF file path or an http(s) URL.`;

class UsageError extends Error {}

function jsonValue(v: GGUFValue): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonValue);
  return v;
}

function describeFile(file: GGUFFile, path: string) {
  const metadata: Record<string, unknown> = {};
  for (const [k, e] of file.metadata) metadata[k] = jsonValue(e.value);
  let hparams: unknown;
  try {
    hparams = readHParams(file.metadata);
  } catch {
    hparams = undefined; // vocabulary-only files have none
  }
  return {
    file: path,
    version: file.version,
    fileSize: file.fileSize,
    alignment: file.alignment,
    dataOffset: file.dataOffset,
    architecture: metadata['general.architecture'],
    hparams,
    metadata,
    tensors: file.tensors.map((t) => ({
      name: t.name,
      type: GGMLType[t.type] ?? String(t.type),
      shape: t.shape,
      offset: t.offset,
      fileOffset: t.fileOffset,
      byteSize: t.byteSize,
    })),
  };
}

async function readHeader(path: string): Promise<GGUFFile> {
  const source = await openNodeSource(path);
  try {
    return await readGGUF(source);
  } finally {
    await source.close?.();
  }
}

async function inspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new UsageError('inspect takes one MODEL');
  const file = await readHeader(positionals[0]);
  const d = describeFile(file, positionals[0]);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(d)}\n`);
    return 0;
  }
  console.log(`${d.file}: GGUF v${d.version}, ${d.fileSize} bytes, architecture ${d.architecture ?? '(none)'}`);
  if (d.hparams) console.log(JSON.stringify(d.hparams, null, 2));
  for (const [k, v] of Object.entries(d.metadata)) {
    const s = Array.isArray(v) ? `[${v.length} items]` : JSON.stringify(v);
    console.log(`  ${k} = ${s.length > 100 ? `${s.slice(0, 100)}…` : s}`);
  }
  for (const t of d.tensors)
    console.log(`  ${t.name.padEnd(32)} ${t.type.padEnd(6)} [${t.shape.join(', ')}] @${t.offset}`);
  return 0;
}

async function tokenize(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      'input-jsonl': { type: 'string' },
      'add-special': { type: 'boolean' },
      'parse-special': { type: 'boolean' },
    },
  });
  if (!values.model || !values['input-jsonl']) throw new UsageError('tokenize needs --model and --input-jsonl');
  const file = await readHeader(values.model);
  const tokenizer = loadTokenizer(file.metadata);
  const lines = (await readFile(values['input-jsonl'], 'utf8')).split('\n');
  const out: string[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let text: unknown;
    try {
      text = JSON.parse(line).text;
    } catch {
      throw new ChordError('INVALID_ARGUMENT', `line ${i + 1} of ${values['input-jsonl']} is not JSON`);
    }
    if (typeof text !== 'string') throw new ChordError('INVALID_ARGUMENT', `line ${i + 1} has no string "text"`);
    const ids = tokenizer.tokenize(text, { addSpecial: values['add-special'], parseSpecial: values['parse-special'] });
    out.push(JSON.stringify({ ids }));
  }
  process.stdout.write(out.length ? `${out.join('\n')}\n` : '');
  return 0;
}

const modelOptions = {
  model: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  ctx: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function intOption(v: string | undefined, name: string, fallback?: number): number | undefined {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer`);
  return n;
}

function floatOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number`);
  return n;
}

async function openModel(
  values: { model?: string; backend?: string; threads?: string },
  defaultBackend: NonNullable<LoadOptions['backend']>,
): Promise<Model> {
  if (!values.model) throw new UsageError('--model is required');
  const backend = (values.backend ?? defaultBackend) as LoadOptions['backend'];
  if (!['auto', 'js', 'wasm', 'webgpu'].includes(backend!)) throw new UsageError(`unknown backend '${values.backend}'`);
  return loadModel(values.model, { backend, threads: intOption(values.threads, 'threads') });
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...modelOptions,
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      'top-logprobs': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'min-p': { type: 'string' },
      'repeat-penalty': { type: 'string' },
      'presence-penalty': { type: 'string' },
      'frequency-penalty': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      'force-tokens': { type: 'string' },
    },
  });
  if (values.prompt === undefined) throw new UsageError('run needs --prompt');
  const maxTokens = intOption(values['max-tokens'], 'max-tokens', 128)!;
  const topK = intOption(values['top-logprobs'], 'top-logprobs', 0)!;
  const forced = values['force-tokens']?.split(',').map((s) => intOption(s.trim(), 'force-tokens')!);
  // In Node 'auto' is the wasm backend, which gives the reference backend's bits (llama.cpp's
  // CPU arithmetic) faster; WebGPU only when CHORD_WEBGPU=1 asks for it.
  const model = await openModel(values, 'auto');
  try {
    const seq = model.createSequence({ contextSize: intOption(values.ctx, 'ctx') });
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    if (forced) {
      // Teacher forcing: the distribution before each forced token, one token at a time as decoding does.
      const promptTokens = model.tokenize(values.prompt, { addSpecial: true });
      let logits = await seq.evaluate(promptTokens, controller.signal);
      const steps = [];
      for (const id of forced) {
        steps.push({ top: topK > 0 ? topKProbabilities(logits, topK) : [] });
        logits = await seq.evaluate([id], controller.signal);
      }
      const text = model.detokenize(forced);
      if (values.json) process.stdout.write(`${JSON.stringify({ promptTokens, tokens: forced, text, steps })}\n`);
      else process.stdout.write(`${text}\n`);
      return 0;
    }
    const gen = seq.generate(values.prompt, {
      maxTokens,
      temperature: floatOption(values.temperature, 'temperature'),
      topK: intOption(values['top-k'], 'top-k'),
      topP: floatOption(values['top-p'], 'top-p'),
      minP: floatOption(values['min-p'], 'min-p'),
      repeatPenalty: floatOption(values['repeat-penalty'], 'repeat-penalty'),
      presencePenalty: floatOption(values['presence-penalty'], 'presence-penalty'),
      frequencyPenalty: floatOption(values['frequency-penalty'], 'frequency-penalty'),
      seed: intOption(values.seed, 'seed'),
      stop: values.stop,
      topLogprobs: topK || undefined,
      signal: controller.signal,
    });
    const steps: { top: unknown[] }[] = [];
    for await (const chunk of gen) {
      if (chunk.top) steps.push({ top: chunk.top });
      if (!values.json) process.stdout.write(chunk.text);
    }
    const r = await gen.done;
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ promptTokens: r.promptTokens, tokens: r.tokens, text: r.text, steps, finishReason: r.finishReason, timings: r.timings })}\n`,
      );
    } else {
      process.stdout.write('\n');
      console.error(
        `[${r.usage.promptTokens} prompt tokens, ${r.usage.completionTokens} generated, ${r.timings.prefillTokPerS.toFixed(1)} tok/s prefill, ${r.timings.decodeTokPerS.toFixed(1)} tok/s decode, ${r.finishReason}]`,
      );
    }
    return 0;
  } finally {
    await model.dispose();
  }
}

async function bench(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...modelOptions, 'prompt-tokens': { type: 'string' }, 'gen-tokens': { type: 'string' } },
  });
  const nPrompt = intOption(values['prompt-tokens'], 'prompt-tokens', 128)!;
  const nGen = intOption(values['gen-tokens'], 'gen-tokens', 64)!;
  const t0 = performance.now();
  const model = await openModel(values, 'auto');
  const loadS = (performance.now() - t0) / 1000;
  try {
    const seq = model.createSequence({ contextSize: nPrompt + nGen + 1 });
    // Token ids spread over the vocabulary; what they say does not matter for speed.
    const vocab = model.info.hparams.vocabSize;
    const prompt = Array.from({ length: nPrompt }, (_, i) => (i * 7919 + 13) % vocab);
    const t1 = performance.now();
    // Greedy, as a generation reads it back: on WebGPU only the chosen token leaves the GPU.
    let next = await seq.evaluateGreedy(prompt);
    const t2 = performance.now();
    for (let i = 0; i < nGen; i++) next = await seq.evaluateGreedy([next]);
    const t3 = performance.now();
    const result = {
      loadS,
      prefillTokPerS: (nPrompt / (t2 - t1)) * 1000,
      decodeTokPerS: (nGen / (t3 - t2)) * 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      // With the sequence's KV cache still held: the webgpu backend's buffers, or the wasm backend's memory.
      gpuMemoryBytes: model.memoryUsage().gpuBytes,
      wasmMemoryBytes: model.memoryUsage().wasmBytes,
      backend: model.info.backend,
      threads: intOption(values.threads, 'threads', 1),
      promptTokens: nPrompt,
      genTokens: nGen,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else console.log(result);
    return 0;
  } finally {
    await model.dispose();
  }
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  inspect,
  tokenize,
  run,
  bench,
  quantize: quantizeCommand,
  validate: validateCommand,
  convert: convertCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  const fn = COMMANDS[command];
  if (!fn) {
    console.error(`chord: unknown command '${command}'\n\n${USAGE}`);
    return 1;
  }
  try {
    return await fn(rest);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`chord ${command}: ${(e as Error).message}\n\n${USAGE}`);
      return 1;
    }
    const err = toChordError(e);
    console.error(`chord: ${err.code}: ${err.message}`.replace(/\s*\n\s*/g, ' '));
    return 2;
  }
}
