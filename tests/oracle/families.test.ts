/**
 * Every model family against llama.cpp: qwen2, phi2, phi3, gemma, gemma2 (and
 * llamas with Llama 3's BPE vocabulary and Llama 3.1's rope_freqs), on small random-weight models written by
 * our GGUF writer (tests/helpers/random-model.ts) with llama.cpp's tensor names
 * and metadata keys, in several weight types each.
 *
 * The same harness and thresholds as random-models.test.ts (read its comment
 * for why norms are sharpened and why a step counts as clear from 0.15 nat):
 * llama.cpp continues three prompts greedily for 20 tokens (its defaults: flash
 * attention, F16 KV cache), our reference backend is teacher-forced along them;
 * top-1 must agree on every clear step and every top-5 probability be within
 * 2e-3 on 95% of them.
 *
 * What each case exercises beyond its family's blocks:
 * - qwen2: byte-level BPE vocabulary (Qwen2's, cut to 512 tokens), q/k/v biases,
 *   output bias, rope base 1e6, GQA.
 * - phi2: fused and separate QKV with their biases, partial rotary dims (a quarter and half of the head).
 * - phi3: fused QKV and gate|up; LongRoPE factors and attn_factor, long (the
 *   context exceeds original_context_length) and short.
 * - gemma: head dim unlike dim/heads (key_length), tied output.
 * - gemma2: a sliding window of 8 on alternate layers (the prompts and continuations
 *   are longer), soft-capping at llama.cpp's defaults and at tight caps that bite;
 *   128-wide heads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { GGMLType } from '../../engine/quant/types.ts';
import { fixture } from '../helpers/fixtures.ts';
import { ensureWasmBuilt } from '../unit/engine/backend/wasm/build.ts';
import { disposeOracle } from './llama-cpp.ts';
import { checkRandomCase } from './random-check.ts';
import { type RandomCase, randomCase } from './random-models.ts';

const SEED = 3;

const SMALL = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffn: 128 };
/** K-quant rows are 256 wide. */
const WIDE = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffn: 512 };

export const FAMILY_CASES: RandomCase[] = [
  randomCase('qwen2-F32', GGMLType.F32, {
    ...SMALL,
    arch: 'qwen2',
    vocab: 'qwen2-bpe',
    ropeBase: 1e6,
    outputBias: true,
  }),
  randomCase('qwen2-Q8_0', GGMLType.Q8_0, { ...SMALL, arch: 'qwen2', vocab: 'qwen2-bpe', tiedOutput: true }),
  randomCase('qwen2-Q4_K', GGMLType.Q4_K, { ...WIDE, arch: 'qwen2', vocab: 'qwen2-bpe', nKvHeads: 1 }),
  // Phi-2's logits spread less (its LayerNorms centre the stream): twice the output sharpening
  randomCase(
    'phi2-F32',
    GGMLType.F32,
    { ...SMALL, nKvHeads: 4, arch: 'phi2', fusedQkv: true, qkvBias: true, ropeDims: 4 },
    32,
  ),
  randomCase('phi2-F16', GGMLType.F16, { ...SMALL, nKvHeads: 4, arch: 'phi2', qkvBias: true, ropeDims: 8 }, 16),
  randomCase(
    'phi2-Q4_0',
    GGMLType.Q4_0,
    { ...SMALL, dim: 128, nKvHeads: 4, arch: 'phi2', fusedQkv: true, qkvBias: true, ropeDims: 16 },
    8 * Math.sqrt(2),
  ),
  randomCase('phi3-F16', GGMLType.F16, {
    ...SMALL,
    vocabSize: 520,
    arch: 'phi3',
    fusedQkv: true,
    longRope: { originalContext: 128, attnFactor: 1.19 },
  }),
  randomCase('phi3-Q8_0', GGMLType.Q8_0, {
    ...SMALL,
    vocabSize: 520,
    arch: 'phi3',
    fusedQkv: true,
    longRope: { originalContext: 4096, attnFactor: 1.1 },
  }),
  randomCase('phi3-Q4_K', GGMLType.Q4_K, { ...WIDE, arch: 'phi3', vocabSize: 520, fusedQkv: true, tiedOutput: true }),
  randomCase('gemma-F32', GGMLType.F32, { ...SMALL, arch: 'gemma', headDim: 32 }),
  randomCase('gemma-Q8_0', GGMLType.Q8_0, { ...SMALL, arch: 'gemma', nKvHeads: 1 }),
  randomCase('gemma-Q4_0', GGMLType.Q4_0, { ...SMALL, dim: 128, arch: 'gemma' }),
  randomCase('gemma2-F16', GGMLType.F16, { ...SMALL, arch: 'gemma2', slidingWindow: 8 }),
  randomCase('gemma2-Q8_0', GGMLType.Q8_0, {
    ...SMALL,
    arch: 'gemma2',
    slidingWindow: 8,
    attnSoftcap: 1.5,
    finalSoftcap: 4,
  }),
  // Q4_K: prompts of 4+ tokens take llama.cpp's repacked gemm (its own float order) for rows in groups of 4
  randomCase('gemma2-Q4_K', GGMLType.Q4_K, { ...WIDE, arch: 'gemma2', slidingWindow: 16 }),
  // 128-wide heads (Llama 3, Qwen2.5 7B, Gemma 2): SIMD paths of ggml's flash attention
  randomCase('gemma2-Q6_K-h128', GGMLType.Q6_K, {
    ...WIDE,
    nHeads: 2,
    nKvHeads: 1,
    arch: 'gemma2',
    headDim: 128,
    slidingWindow: 16,
  }),
  randomCase('llama-rope_freqs-F16', GGMLType.F16, { ...SMALL, ropeFreqs: true, ropeBase: 500000 }),
  // Llama 3: byte-level BPE (llama-bpe pre-tokenizer, BOS added), rope base 500000, rope_freqs
  randomCase('llama3-bpe-Q8_0', GGMLType.Q8_0, {
    ...SMALL,
    vocab: 'llama3-bpe',
    ropeFreqs: true,
    ropeBase: 500000,
  }),
];

// The SPM cases take their vocabulary from the stories260K fixture, the BPE ones from llama.cpp's vocab fixtures.
const haveFixtures =
  fixture('models/stories260K.gguf') &&
  fixture('vocab/ggml-vocab-qwen2.gguf') &&
  fixture('vocab/ggml-vocab-llama-bpe.gguf');
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chord-families-'));
});

afterAll(async () => {
  await disposeOracle();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One case per family (the quantized ones, where the wasm kernels do the products) for the wasm backend. */
const WASM_CASES = ['qwen2-Q8_0', 'phi2-Q4_0', 'phi3-Q8_0', 'gemma-Q4_0', 'gemma2-Q4_K'];

describe.skipIf(!haveFixtures)('model families: chord (reference backend) vs llama.cpp on random-weight models', () => {
  it.each(FAMILY_CASES.map((rc) => [rc.label, rc] as const))('%s', (label, rc) =>
    checkRandomCase(dir, rc, SEED, `js ${label.padEnd(20)}`),
  );
});

describe.skipIf(!haveFixtures)('model families: chord (wasm backend) vs llama.cpp', () => {
  beforeAll(() => ensureWasmBuilt(), 300_000);
  const cases = FAMILY_CASES.filter((rc) => WASM_CASES.includes(rc.label));
  it.each(cases.map((rc) => [rc.label, rc] as const))('%s', (label, rc) =>
    checkRandomCase(dir, rc, SEED, `wasm ${label.padEnd(20)}`, { backend: 'wasm' }),
  );
});

/** ggml's other attention (softmax, then probabilities·V) over an F32 cache, on both sides. */
const NO_FLASH_CASES = ['qwen2-F32', 'phi2-F32', 'gemma2-F16'];

describe.skipIf(!haveFixtures)('model families: without flash attention, F32 KV cache', () => {
  const cases = FAMILY_CASES.filter((rc) => NO_FLASH_CASES.includes(rc.label));
  it.each(cases.map((rc) => [rc.label, rc] as const))('%s', (label, rc) =>
    checkRandomCase(dir, rc, SEED, `js no-FA ${label.padEnd(20)}`, { flashAttention: false, kvType: 'f32' }),
  );
});

/**
 * Prompts of 64 tokens and more: llama.cpp's flash attention takes such a batch
 * through its tiled kernel, which chord mirrors (and Sequence hands it batches of
 * 64 or more, as llama.cpp's ubatch would be).
 */
const STORY =
  'Once upon a time there was a little dog. The dog ran to the park and played with a ball. ' +
  'Tom and Lily saw the dog and laughed. They were happy.';
const LONG_PROMPTS = [`${STORY} ${STORY.slice(0, 60)}`, `${STORY} ${STORY} ${STORY}`];
const LONG_CASES = ['qwen2-Q8_0', 'gemma2-F16'];

describe.skipIf(!haveFixtures)('model families: long prompts (ggml tiled flash attention)', () => {
  const cases = FAMILY_CASES.filter((rc) => LONG_CASES.includes(rc.label));
  it.each(cases.map((rc) => [rc.label, rc] as const))('%s', (label, rc) =>
    checkRandomCase(dir, rc, SEED, `js long ${label.padEnd(20)}`, { prompts: LONG_PROMPTS, steps: 10 }),
  );
});
