/**
 * `chord convert` on a Gemma 2 HF folder: random weights (dim 64, 2 layers, the
 * four norms per block, attention and final logit soft-capping) with the real
 * Gemma 2 tokenizer, whose tokenization gemma.test.ts checks. See harness.ts.
 */
import { expect } from 'vitest';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { describeConversion } from './harness.ts';

describeConversion(
  'Gemma 2 vocabulary',
  { family: 'gemma2', tokenizer: 'gemma2', dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffn: 128 },
  {
    checkFile(file) {
      const md = (k: string) => file.metadata.get(k)?.value;
      expect(md('gemma2.attn_logit_softcapping')).toBe(50);
      expect(md('gemma2.final_logit_softcapping')).toBe(30);
      expect(md('gemma2.attention.sliding_window')).toBe(4096);
      const names = file.tensors.map((t) => t.name);
      for (const n of ['attn_norm', 'post_attention_norm', 'ffn_norm', 'post_ffw_norm'])
        expect(names).toContain(`blk.1.${n}.weight`);
    },
    greedyTypes: [GGMLType.F16],
    steps: 4, // 256000-token output rows: each step is slow in the reference backend
    skipTokenization: 'gemma.test.ts',
    // ggml's GELU looks its result up in a table at the input rounded to f16 (GGML_GELU_FP16):
    // 1.1e-3 here against the exact GELU of the HF code; 3.4e-6 when the reference rounds the
    // same way (measured). A wrong tensor layout is off by 0.8 or more.
    referenceTolerance: 5e-3,
  },
);
