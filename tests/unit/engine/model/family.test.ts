/**
 * The family table against llama.cpp's loaders (src/models/<arch>.cpp,
 * load_arch_tensors in the llama.cpp node-llama-cpp 3.21.1 bundles): the
 * tensors each architecture requires, may have, and their shapes.
 */
import { describe, expect, it } from 'vitest';
import { attentionScale, FAMILIES, tensorSpecs } from '../../../../engine/model/family.ts';
import type { HParams } from '../../../../engine/model/hparams.ts';

const hp = {
  nEmbd: 64,
  nLayers: 1,
  nFF: 96,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 16,
  vocabSize: 300,
  ropeDims: 8,
} as HParams;

function specs(arch: string, fused = false) {
  const f = FAMILIES.get(arch)!;
  return new Map(tensorSpecs(f, hp, () => fused).map((t) => [t.name, t]));
}

describe('model families', () => {
  it('llama: SwiGLU with separate or fused QKV, output optional, rope_freqs optional', () => {
    const s = specs('llama');
    expect(s.get('blk.0.ffn_gate.weight')).toMatchObject({ shape: [64, 96], required: true });
    expect(s.get('blk.0.attn_k.weight')).toMatchObject({ shape: [64, 32], required: true });
    expect(s.get('output.weight')?.required).toBe(false);
    expect(s.get('rope_freqs.weight')).toMatchObject({ shape: [4], required: false });
    expect(specs('llama', true).get('blk.0.attn_qkv.weight')).toMatchObject({ shape: [64, 128], required: true });
  });

  it('qwen2: optional q/k/v and output biases', () => {
    const s = specs('qwen2');
    for (const n of ['attn_q', 'attn_k', 'attn_v']) expect(s.get(`blk.0.${n}.bias`)?.required).toBe(false);
    expect(s.get('output.bias')).toMatchObject({ shape: [300], required: false });
    expect(FAMILIES.get('qwen2')?.rope).toBe('neox');
  });

  it('phi2: LayerNorms with biases, no ffn_norm or gate, required output and biases', () => {
    const s = specs('phi2', true);
    for (const n of [
      'blk.0.attn_norm.bias',
      'blk.0.attn_output.bias',
      'blk.0.ffn_up.bias',
      'blk.0.ffn_down.bias',
      'output_norm.bias',
      'output.weight',
      'output.bias',
    ])
      expect(s.get(n)?.required, n).toBe(true);
    expect(s.has('blk.0.ffn_norm.weight')).toBe(false);
    expect(s.has('blk.0.ffn_gate.weight')).toBe(false);
  });

  it('phi3: ffn_up holds gate and up, LongRoPE factors of nRot/2', () => {
    const s = specs('phi3', true);
    expect(s.get('blk.0.ffn_up.weight')?.shape).toEqual([64, 192]);
    expect(s.has('blk.0.ffn_gate.weight')).toBe(false);
    expect(s.get('rope_factors_long.weight')).toMatchObject({ shape: [4], required: false });
    expect(s.get('rope_factors_short.weight')).toMatchObject({ shape: [4], required: false });
  });

  it('gemma, gemma2: output always token_embd; gemma2 post-norms; attention scale per llama.cpp', () => {
    expect(specs('gemma').has('output.weight')).toBe(false);
    const s = specs('gemma2');
    expect(s.has('output.weight')).toBe(false);
    expect(s.get('blk.0.post_attention_norm.weight')?.required).toBe(true);
    expect(s.get('blk.0.post_ffw_norm.weight')?.required).toBe(true);
    const g2 = FAMILIES.get('gemma2')!;
    expect(attentionScale(g2, hp)).toBe(Math.fround(1 / Math.fround(Math.sqrt(16))));
    // the 27B model (46 layers): query_pre_attn_scalar = n_embd / n_head
    expect(attentionScale(g2, { ...hp, nLayers: 46, nEmbd: 4608, nHeads: 32, headDim: 128 })).toBe(
      Math.fround(1 / Math.fround(Math.sqrt(144))),
    );
  });
});
