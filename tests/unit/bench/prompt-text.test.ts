import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GGMLType } from '../../../engine/quant/types.ts';
import { promptTextOfLength } from '../../bench/prompt-text.ts';
import { fixture } from '../../helpers/fixtures.ts';
import { writeRandomLlamaModel } from '../../helpers/random-model.ts';

// The text given to wllama must be as many tokens for llama.cpp as the other runtimes' prompts.
// The vocabulary is the bench models' one: stories260K's, padded to 32000 tokens.
const hasStories = fixture('models/stories260K.gguf') !== undefined;

describe.skipIf(!hasStories)('bench prompt text', () => {
  let dir: string;
  let path: string;
  let model: LlamaModel;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chord-bench-prompt-'));
    path = join(dir, 'tiny.gguf');
    await writeRandomLlamaModel(path, {
      dim: 64,
      nLayers: 1,
      nHeads: 2,
      ffn: 128,
      vocabSize: 32000,
      weightType: GGMLType.Q8_0,
      seed: 3,
    });
    const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  });

  afterAll(async () => {
    await model?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([2, 9, 32, 128, 300])('has exactly %i tokens for llama.cpp, BOS included', async (n) => {
    const { text, tokens } = await promptTextOfLength(path, n);
    expect(tokens).toBe(n);
    expect(model.tokens.bos).not.toBeNull();
    expect(model.tokenize(text).length + 1).toBe(n);
  });
});
