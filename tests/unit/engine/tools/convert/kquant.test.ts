/**
 * `chord convert --type Q4_K`: a K type written straight from HF weights (pure,
 * every matrix in Q4_K, 256-wide rows so that none falls back), through the
 * K-quant reference quantizers. llama.cpp loads it and continues as our engine
 * does. One layer, dim 256, the Mistral SPM tokenizer (its tokenization is
 * mistral.test.ts's). See harness.ts.
 */
import { expect } from 'vitest';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { describeConversion } from './harness.ts';

describeConversion(
  'K-quant file, 256-wide rows',
  { family: 'llama', tokenizer: 'llama2', dim: 256, nLayers: 1, nHeads: 4, nKvHeads: 2, ffn: 512, tied: true },
  {
    checkFile(file) {
      expect(file.tensors.find((t) => t.name === 'token_embd.weight')?.shape).toEqual([256, 32000]);
    },
    greedyTypes: [GGMLType.Q4_K],
    skipTokenization: 'mistral.test.ts',
  },
);
