/**
 * Random-weight llama models in every weight format, run by llama.cpp and by our
 * engine on the same tokens (used by random-models.test.ts and by
 * measure-random-noise.ts).
 *
 * A case is a small model written by our GGUF writer (tests/helpers/random-model.ts)
 * in one weight type. llama.cpp continues a few prompts greedily; our engine is
 * teacher-forced along llama.cpp's tokens, one token at a time, so both see the
 * same context at every step whatever either would have chosen.
 *
 * Sharpening: with weights of ±0.02 the logits of a random model have a spread
 * of ~0.02·sqrt(dim) (≈0.2-0.3), so the next-token distribution over 512 tokens
 * is almost flat (every p ≈ 2e-3) and a 2e-3 probability tolerance would hold
 * for any output at all. We scale the F32 output norm weights so that the logits
 * spread by a few nats (top-1 probabilities of 0.05-0.9), which makes the top-5
 * probability comparison meaningful; the attention norms are scaled too, so that
 * the attention weights are not uniform either. Scaling a norm weight is exact
 * arithmetic on llama.cpp's side and ours (both read the same file).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGGUF } from '../../engine/gguf/reader.ts';
import { loadModel } from '../../engine/node/index.ts';
import { GGMLType } from '../../engine/quant/types.ts';
import { type RandomLlamaOptions, randomLlamaModel } from '../helpers/random-model.ts';
import { chordForced } from './chord.ts';
import { type CompareResult, compareRuns } from './compare.ts';
import { llamaCppGreedy, type OracleRun } from './llama-cpp.ts';

/** Prompts run on every model (through the stories260K vocabulary), and greedy steps per prompt. */
export const RANDOM_PROMPTS = ['Once upon a time', 'The little dog ran to the park.', 'Tom and Lily'];
export const STEPS_PER_PROMPT = 20;

export interface RandomCase {
  label: string;
  opts: Omit<RandomLlamaOptions, 'seed' | 'weightType'> & { weightType: GGMLType };
  /** Factor on output_norm.weight (logit spread). */
  outputSharpen: number;
  /** Factor on every blk.*.attn_norm.weight (attention score spread). */
  attnSharpen: number;
}

/** Row lengths: legacy blocks are 32 wide (dim 64/128); K-quant super-blocks 256 (dim 256, ffn 512). */
const LEGACY = { dim: 128, nLayers: 2, nHeads: 8, nKvHeads: 2, ffn: 256 };
const K_QUANT = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffn: 512 };

/**
 * One case per weight type. Between them they cover GQA (all but Q5_1), the
 * untied and tied output, non-default rope bases, MQA (one KV head), head
 * dims 16 to 64. (Partial rope, ropeDims < head dim, cannot be covered: llama.cpp
 * refuses a llama-architecture model whose n_rot differs from the head dim.)
 */
export const RANDOM_CASES: RandomCase[] = [
  randomCase('F32', GGMLType.F32, { dim: 64, nLayers: 2, nHeads: 8, nKvHeads: 4, ffn: 160 }),
  randomCase('F16', GGMLType.F16, { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 1, ffn: 192, tiedOutput: true }),
  randomCase('BF16', GGMLType.BF16, { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffn: 128, ropeBase: 500000 }),
  randomCase('Q4_0', GGMLType.Q4_0, { ...LEGACY }),
  randomCase('Q4_1', GGMLType.Q4_1, { ...LEGACY, tiedOutput: true }),
  randomCase('Q5_0', GGMLType.Q5_0, { ...LEGACY, nKvHeads: 4 }),
  randomCase('Q5_1', GGMLType.Q5_1, { ...LEGACY, nHeads: 4, nKvHeads: 4 }), // no GQA
  randomCase('Q8_0', GGMLType.Q8_0, { ...LEGACY, dim: 64, ffn: 192 }),
  randomCase('Q2_K', GGMLType.Q2_K, { ...K_QUANT }),
  randomCase('Q3_K', GGMLType.Q3_K, { ...K_QUANT }),
  randomCase('Q4_K', GGMLType.Q4_K, { ...K_QUANT, nHeads: 8, tiedOutput: true }),
  randomCase('Q5_K', GGMLType.Q5_K, { ...K_QUANT, nKvHeads: 1 }),
  randomCase('Q6_K', GGMLType.Q6_K, { ...K_QUANT, nLayers: 1, nHeads: 8, nKvHeads: 4, ropeBase: 1e6 }),
];

/** A case: the shape and weight type, with the norm factors that sharpen its distributions. */
export function randomCase(
  label: string,
  weightType: GGMLType,
  shape: Omit<RandomLlamaOptions, 'seed' | 'weightType'>,
  // logits spread as 0.02·sqrt(dim): the same spread (about 1.3 nat) at every width
  outputSharpen = 4 * Math.sqrt(256 / shape.dim),
  attnSharpen = 1.5,
): RandomCase {
  return { label, opts: { tiedOutput: false, ...shape, weightType }, outputSharpen, attnSharpen };
}

/** Writes the case's model into dir and returns its path. */
export function writeRandomCase(dir: string, rc: RandomCase, seed: number): string {
  const bytes = randomLlamaModel({ ...rc.opts, seed });
  sharpen(bytes, rc);
  const path = join(dir, `random-${rc.label}-${seed}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

/** Multiplies the F32 norm weights in place (see the module comment). */
function sharpen(bytes: Uint8Array, rc: RandomCase): void {
  const file = parseGGUF(bytes, rc.label);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const t of file.tensors) {
    const factor =
      t.name === 'output_norm.weight'
        ? rc.outputSharpen
        : /^blk\.\d+\.attn_norm\.weight$/.test(t.name)
          ? rc.attnSharpen
          : 1;
    if (factor === 1) continue;
    if (t.type !== GGMLType.F32) throw new Error(`random-models: ${t.name} is not F32`);
    for (let i = 0; i < t.nElements; i++) {
      const at = t.fileOffset + 4 * i;
      view.setFloat32(at, view.getFloat32(at, true) * factor, true);
    }
  }
}

export interface PromptRun {
  prompt: string;
  ref: OracleRun;
  ours: OracleRun;
  comparison: CompareResult;
}

/**
 * llama.cpp's greedy continuation of each prompt, and our engine teacher-forced
 * along it (F16 KV cache on both sides, llama.cpp's default).
 */
/** Where chord runs, and the attention both sides use (default: llama.cpp's, flash attention over an F16 cache). */
export interface RunOptions {
  backend?: 'js' | 'wasm' | 'webgpu';
  flashAttention?: boolean;
  kvType?: 'f16' | 'f32';
}

export async function runPrompts(
  path: string,
  prompts: readonly string[],
  nTokens: number,
  opts: { probTol: number; marginThreshold: number } & RunOptions,
): Promise<PromptRun[]> {
  const runs: PromptRun[] = [];
  const { flashAttention = true, kvType = 'f16' } = opts;
  const model = await loadModel(path, { backend: opts.backend ?? 'js', threads: 1, flashAttention });
  try {
    for (const prompt of prompts) {
      const ref = await llamaCppGreedy(path, prompt, nTokens, { stopAtEog: false, flashAttention, kvType });
      const ours = await chordForced(model, ref.promptTokens, ref.tokens, { kvCache: kvType });
      runs.push({ prompt, ref, ours, comparison: compareRuns(ours, ref, opts) });
    }
  } finally {
    await model.dispose();
  }
  return runs;
}

/** Totals over all prompts run on one model. */
export interface CaseSummary {
  steps: number;
  clearSteps: number;
  top1AgreeOnClear: number;
  withinTolOnClear: number;
  maxProbDiff: number;
  maxProbDiffOnClear: number;
  /** Smallest reference margin among the steps whose top-1 differs (Infinity if none). */
  minFlipMargin: number;
}

export function summarize(runs: readonly PromptRun[]): CaseSummary {
  const s: CaseSummary = {
    steps: 0,
    clearSteps: 0,
    top1AgreeOnClear: 0,
    withinTolOnClear: 0,
    maxProbDiff: 0,
    maxProbDiffOnClear: 0,
    minFlipMargin: Number.POSITIVE_INFINITY,
  };
  for (const { ref, ours, comparison: r } of runs) {
    s.steps += r.stepsCompared;
    s.clearSteps += r.clearSteps;
    s.top1AgreeOnClear += r.top1AgreeOnClear;
    s.withinTolOnClear += r.withinTolOnClear;
    s.maxProbDiff = Math.max(s.maxProbDiff, r.maxProbDiff);
    s.maxProbDiffOnClear = Math.max(s.maxProbDiffOnClear, r.maxProbDiffOnClear);
    for (let i = 0; i < r.stepsCompared; i++)
      if (ours.steps[i].top[0].id !== ref.steps[i].top[0].id)
        s.minFlipMargin = Math.min(s.minFlipMargin, ref.margins[i]);
  }
  return s;
}

/**
 * Per step, how far `other` moves the reference's top1-top2 logit margin:
 * |ln(p1/p2) in other - ln(p1/p2) in ref| for the reference's two best tokens
 * (read from other's top-K; NaN if either is missing there).
 */
export function marginShifts(other: OracleRun, ref: OracleRun): number[] {
  return ref.steps.map((step, i) => {
    const [t1, t2] = [step.top[0].id, step.top[1].id];
    const find = (id: number) => other.steps[i]?.top.find((e) => e.id === id)?.p;
    const [p1, p2] = [find(t1), find(t2)];
    return p1 && p2 ? Math.abs(Math.log(p1 / p2) - ref.margins[i]) : Number.NaN;
  });
}
