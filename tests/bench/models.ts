/**
 * The benchmark's models: random-weight llama models written by our own GGUF
 * writer (tests/helpers/random-model.ts), generated on demand into a gitignored
 * cache directory. Speed does not depend on what the weights say, only on their
 * shapes and block format, so random weights measure what a real model would.
 */
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GGMLType } from '../../engine/quant/types.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { type RandomLlamaOptions, writeRandomLlamaModel } from '../helpers/random-model.ts';

export const MODEL_CACHE_DIR = join(repoRoot, '.cache', 'models');

type Shape = Omit<RandomLlamaOptions, 'weightType' | 'seed' | 'name'>;

/** TinyLlama-1.1B's shape (TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json). */
const TINYLLAMA: Shape = { dim: 2048, nLayers: 22, nHeads: 32, nKvHeads: 4, ffn: 5632, vocabSize: 32000 };

/** A small model of the same family, for exercising the harness in seconds (FFN a multiple of 256, for K-quants). */
const SMALL: Shape = { dim: 512, nLayers: 8, nHeads: 8, nKvHeads: 4, ffn: 1536, vocabSize: 32000 };

const QUANTS: Record<string, GGMLType> = { q4_0: GGMLType.Q4_0, q8_0: GGMLType.Q8_0, q4_k: GGMLType.Q4_K };

export interface ModelPreset {
  name: string;
  shape: Shape;
  weightType: GGMLType;
}

/** Preset names: small[-QUANT] and tinyllama[-QUANT], QUANT one of q4_0 (default), q8_0, q4_k. */
export function modelPreset(name: string): ModelPreset | undefined {
  const m = /^(small|tinyllama)(?:-(q4_0|q8_0|q4_k))?$/i.exec(name);
  if (!m) return undefined;
  const family = m[1].toLowerCase();
  const quant = (m[2] ?? 'q4_0').toLowerCase();
  return {
    name: `${family}-${quant}`,
    shape: family === 'small' ? SMALL : TINYLLAMA,
    weightType: QUANTS[quant],
  };
}

export const PRESET_NAMES = ['small', 'small-q8_0', 'small-q4_k', 'tinyllama', 'tinyllama-q8_0', 'tinyllama-q4_k'];

/**
 * The path of the model named `spec`: a preset (generated into the cache on
 * first use) or an existing GGUF file.
 */
export async function resolveModel(spec: string, log: (line: string) => void = () => {}): Promise<string> {
  const preset = modelPreset(spec);
  if (!preset) {
    const path = resolve(spec);
    if (!existsSync(path)) throw new Error(`--model ${spec}: neither a preset (${PRESET_NAMES.join(', ')}) nor a file`);
    return path;
  }
  // The shape is in the name, so that a changed preset never reuses an old file.
  const { dim, nLayers, ffn } = preset.shape;
  const path = join(MODEL_CACHE_DIR, `random-${preset.name}-d${dim}-l${nLayers}-f${ffn}.gguf`);
  if (existsSync(path) && statSync(path).size > 0) return path;
  mkdirSync(dirname(path), { recursive: true });
  log(`generating ${path} (random weights, ${GGMLType[preset.weightType]})...`);
  const t0 = performance.now();
  // Written under a temporary name, so an interrupted run leaves no half model behind.
  const partial = `${path}.partial`;
  const size = await writeRandomLlamaModel(partial, {
    ...preset.shape,
    weightType: preset.weightType,
    seed: 1,
    name: `random-${preset.name}`,
  });
  renameSync(partial, path);
  log(`  ${(size / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}
