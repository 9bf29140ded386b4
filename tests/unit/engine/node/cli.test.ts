import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { getLlama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, repoRoot } from '../../../helpers/fixtures.ts';

const run = promisify(execFile);
const model = fixture('models/stories260K.gguf');
const oraclePath = fixture('models/stories260K.oracle.json');
/** llama.cpp's first 8 greedy tokens and their text, from the fixture. */
function llamaCppGreedy8(): { tokens: number[]; pieces: string; fullText: string } {
  const o = JSON.parse(readFileSync(oraclePath!, 'utf8'));
  const steps = o.steps.slice(0, 8) as { top: { id: number; piece: string }[] }[];
  return {
    tokens: o.greedyTokens.slice(0, 8),
    pieces: steps.map((s) => s.top[0].piece).join(''),
    fullText: o.greedyText,
  };
}

/** The text of llama.cpp's first 8 greedy tokens: a prefix of its greedy text with the fixture's pieces (stored without spaces). */
function expectGreedy8Text(text: string) {
  const { pieces, fullText } = llamaCppGreedy8();
  expect(fullText.startsWith(text)).toBe(true);
  expect(text.replace(/ /g, '')).toBe(pieces.replace(/ /g, ''));
}
let dir: string;
let cli: string;

/** Runs the bundled CLI; resolves with exit code and output instead of throwing. */
async function chord(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chord-cli-'));
  const bundle = join(dir, 'cli.mjs');
  await build({
    entryPoints: [join(repoRoot, 'engine/node/cli.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    logLevel: 'warning',
  });
  cli = join(dir, 'main.mjs');
  writeFileSync(
    cli,
    `import { main } from ${JSON.stringify(bundle)};\nprocess.exitCode = await main(process.argv.slice(2));\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!model)('chord CLI', () => {
  it('inspect --json describes metadata, tensors and hyper-parameters', async () => {
    const r = await chord('inspect', model!, '--json');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.architecture).toBe('llama');
    expect(d.metadata['llama.block_count']).toBe(5);
    expect(d.hparams).toMatchObject({ nEmbd: 64, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512 });
    // 9 tensors per layer, token_embd, output_norm and output (the file stores the tied output as its own tensor)
    expect(d.tensors).toHaveLength(5 * 9 + 3);
    const q = d.tensors.find((t: { name: string }) => t.name === 'blk.0.attn_q.weight');
    expect(q).toMatchObject({ type: 'F32', shape: [64, 64] });
    expect(typeof q.offset).toBe('number');
  });

  it('inspect exits 2 with a one-line reason for an invalid file', async () => {
    const truncated = join(dir, 'truncated.gguf');
    writeFileSync(truncated, readFileSync(model!).subarray(0, 1000));
    for (const path of [truncated, join(dir, 'missing.gguf')]) {
      const r = await chord('inspect', path, '--json');
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    }
    expect((await chord('inspect', truncated)).stderr).toMatch(/GGUF_TRUNCATED/);
  });

  it('tokenize gives llama.cpp’s ids, one JSON line per input line', async () => {
    const texts = ['Once upon a time', ' hello  world', '', 'Lily’s 3 dogs 🐶', '<s> not special'];
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, texts.map((text) => JSON.stringify({ text })).join('\n'));
    const r = await chord('tokenize', '--model', model!, '--input-jsonl', input);
    expect(r.code).toBe(0);
    const ours = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).ids);
    const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: 'error' as never });
    const ref = await llama.loadModel({ modelPath: model!, vocabOnly: true });
    expect(ours).toEqual(texts.map((t) => [...ref.tokenize(t, false)]));
    await ref.dispose();
    const withBos = await chord('tokenize', '--model', model!, '--input-jsonl', input, '--add-special');
    expect(JSON.parse(withBos.stdout.split('\n')[0]).ids[0]).toBe(1);
  });

  it('run --json prints promptTokens, tokens, text and top-K steps', async () => {
    const r = await chord(
      'run',
      '--model',
      model!,
      '--prompt',
      'Once upon a time',
      '--max-tokens',
      '8',
      '--temperature',
      '0',
      '--top-logprobs',
      '3',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.promptTokens[0]).toBe(1);
    expect(j.tokens).toEqual(llamaCppGreedy8().tokens);
    expectGreedy8Text(j.text);
    expect(j.steps).toHaveLength(8);
    for (const [i, s] of j.steps.entries()) {
      expect(s.top).toHaveLength(3);
      expect(s.top[0].id).toBe(j.tokens[i]); // greedy picks the most probable
      expect(s.top[0].p).toBeGreaterThanOrEqual(s.top[1].p);
    }
  });

  it('run --force-tokens evaluates the given continuation', async () => {
    const forced = [432, 383, 286, 2, 261];
    const r = await chord(
      'run',
      '--model',
      model!,
      '--prompt',
      'Once upon a time',
      '--force-tokens',
      forced.join(','),
      '--top-logprobs',
      '5',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.tokens).toEqual(forced); // never stops early on the end token (2)
    expect(j.steps).toHaveLength(forced.length);
  });

  it('run streams text without --json', async () => {
    const r = await chord(
      'run',
      '--model',
      model!,
      '--prompt',
      'Once upon a time',
      '--max-tokens',
      '8',
      '--temperature',
      '0',
    );
    expect(r.stdout.endsWith('\n')).toBe(true);
    expectGreedy8Text(r.stdout.slice(0, -1));
  });

  it('bench --json reports speeds and memory', async () => {
    const r = await chord('bench', '--model', model!, '--prompt-tokens', '16', '--gen-tokens', '4', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const k of ['loadS', 'prefillTokPerS', 'decodeTokPerS', 'peakRssBytes']) expect(j[k]).toBeGreaterThan(0);
    expect(typeof j.backend).toBe('string');
    expect(j.threads).toBeGreaterThanOrEqual(1);
  });

  it('exits 1 with usage for a bad command line', async () => {
    expect((await chord('frobnicate')).code).toBe(1);
    expect((await chord('run', '--model', model!)).code).toBe(1);
  });
});
