/**
 * `chord convert` on a Llama 3 HF folder: random weights (dim 64, 2 layers, GQA,
 * rope_theta 500000 with Llama 3.1's rope_scaling (a rope_freqs tensor), tied output, two shards with an index) and the real Llama 3
 * tokenizer (byte-level BPE, 128256 tokens, chat template). See harness.ts for
 * the checks.
 */
import { expect } from 'vitest';
import { GGUFValueType } from '../../../../../engine/gguf/types.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { describeConversion } from './harness.ts';

describeConversion(
  'Llama 3 vocabulary, tied, sharded',
  {
    family: 'llama',
    tokenizer: 'llama3',
    dim: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    ffn: 128,
    tied: true,
    shards: 2,
    ropeTheta: 500000,
    // Llama 3.1's rope scaling, with a short original context so that it changes the angles
    // of most rotary pairs within the test's few positions.
    config: {
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 64,
      },
    },
  },
  {
    checkFile(file) {
      const md = (k: string) => file.metadata.get(k)?.value;
      expect(md('llama.rope.freq_base')).toBe(500000);
      expect(md('llama.attention.head_count_kv')).toBe(2);
      expect(md('llama.rope.dimension_count')).toBe(16);
      expect(md('llama.vocab_size')).toBe(128256);
      expect(md('tokenizer.ggml.model')).toBe('gpt2');
      expect(md('tokenizer.ggml.pre')).toBe('llama-bpe');
      expect(md('tokenizer.ggml.bos_token_id')).toBe(128000);
      expect(md('tokenizer.ggml.eos_token_id')).toBe(128001);
      expect((md('tokenizer.ggml.merges') as string[]).length).toBe(280147);
      expect(file.metadata.get('tokenizer.chat_template')?.type).toBe(GGUFValueType.STRING);
      expect(file.tensors.some((t) => t.name === 'output.weight')).toBe(false);
      expect(file.tensors.find((t) => t.name === 'rope_freqs.weight')?.shape).toEqual([8]);
      expect(file.tensors.find((t) => t.name === 'blk.0.attn_k.weight')?.shape).toEqual([64, 32]);
    },
    greedyTypes: [GGMLType.Q8_0],
  },
);
