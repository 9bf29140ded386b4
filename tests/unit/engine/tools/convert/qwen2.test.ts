/**
 * `chord convert` on a Qwen2 HF folder: random weights (dim 64, 2 layers, GQA,
 * q/k/v biases, tied output, rope_theta 1e6) with the real Qwen3 tokenizer
 * (byte-level BPE, merges as pairs, NFC normalizer) and config.json's
 * vocab_size 151936, larger than the tokenizer's 151669 tokens, as Qwen's
 * checkpoints have it: the gap is filled with unused [PAD] tokens. See
 * harness.ts for the checks.
 */
import { expect } from 'vitest';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { describeConversion } from './harness.ts';

describeConversion(
  'Qwen3 vocabulary, padded to 151936',
  {
    family: 'qwen2',
    tokenizer: 'qwen3',
    dim: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    ffn: 128,
    tied: true,
    vocabSize: 151936,
    ropeTheta: 1000000,
  },
  {
    checkFile(file) {
      const md = (k: string) => file.metadata.get(k)?.value;
      expect(md('qwen2.rope.freq_base')).toBe(1000000);
      expect(md('qwen2.attention.head_count_kv')).toBe(2);
      expect(md('tokenizer.ggml.model')).toBe('gpt2');
      expect(md('tokenizer.ggml.pre')).toBe('qwen2');
      expect(md('tokenizer.ggml.eos_token_id')).toBe(151645); // <|im_end|>
      expect(md('tokenizer.ggml.padding_token_id')).toBe(151643);
      expect(md('tokenizer.ggml.add_bos_token')).toBe(false);
      const tokens = md('tokenizer.ggml.tokens') as string[];
      const types = md('tokenizer.ggml.token_type') as number[];
      expect(tokens.length).toBe(151936);
      expect([tokens[151669], types[151669]]).toEqual(['[PAD151669]', 5]);
      expect([tokens[151644], types[151644]]).toEqual(['<|im_start|>', 3]);
      expect([tokens[151667], types[151667]]).toEqual(['<think>', 4]); // added, not special: user-defined
      // Merges given as [left, right] pairs are written as "left right".
      expect((md('tokenizer.ggml.merges') as string[])[0]).toBe('Ġ Ġ');
      expect(file.tensors.map((t) => t.name)).toContain('blk.0.attn_q.bias');
    },
    greedyTypes: [GGMLType.F16],
  },
);
