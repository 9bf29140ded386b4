/**
 * `chord convert` on a Gemma HF folder: random weights (dim 64, 2 layers, GQA,
 * head_dim given, norm weights stored as w - 1, no lm_head) with the real Gemma 2
 * tokenizer.json (SentencePiece-style BPE with byte fallback, 256000 tokens, no
 * space prefix, user-defined <unusedN> and HTML tokens). See harness.ts for the checks.
 */
import { expect } from 'vitest';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { describeConversion } from './harness.ts';

describeConversion(
  'Gemma 2 vocabulary',
  { family: 'gemma', tokenizer: 'gemma2', dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffn: 128 },
  {
    checkFile(file) {
      const md = (k: string) => file.metadata.get(k)?.value;
      expect(md('gemma.attention.key_length')).toBe(16);
      expect(md('tokenizer.ggml.model')).toBe('llama');
      expect(md('tokenizer.ggml.add_space_prefix')).toBe(false);
      expect(md('tokenizer.ggml.add_bos_token')).toBe(true);
      expect(md('tokenizer.ggml.bos_token_id')).toBe(2);
      expect(md('tokenizer.ggml.eos_token_id')).toBe(1);
      expect(md('tokenizer.ggml.padding_token_id')).toBe(0);
      expect(md('tokenizer.ggml.eot_token_id')).toBe(107); // <end_of_turn>
      const types = md('tokenizer.ggml.token_type') as number[];
      expect(types.slice(0, 8)).toEqual([3, 3, 3, 2, 3, 3, 3, 3]); // <mask>, <2mass>, [@BOS@], <unused0> look special
      expect(file.tensors.some((t) => t.name === 'output.weight')).toBe(false);
    },
    greedyTypes: [GGMLType.Q8_0],
    steps: 4, // 256000-token output rows: each step is slow in the reference backend
  },
);
