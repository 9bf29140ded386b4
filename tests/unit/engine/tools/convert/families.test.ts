/**
 * Family data and tensor transforms: HF → GGUF names, skipped and unknown
 * tensors, the llama q/k row interleaving, Gemma's +1, output types.
 */
import { describe, expect, it } from 'vitest';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { FAMILIES, familyFor, ggufTensorName, transformFor } from '../../../../../engine/tools/convert/families.ts';
import { applyTransform, outputType, permuteHeads } from '../../../../../engine/tools/convert/tensors.ts';

const family = (arch: string) => FAMILIES.find((f) => f.arch === arch)!;

describe('families', () => {
  it('picks the family from config.json architectures, or names what it cannot convert', () => {
    expect(familyFor({ architectures: ['MistralForCausalLM'] }).arch).toBe('llama');
    expect(familyFor({ architectures: ['Gemma2ForCausalLM'] }).arch).toBe('gemma2');
    expect(() => familyFor({ architectures: ['MambaForCausalLM'] })).toThrow(/MambaForCausalLM/);
  });

  it('maps HF tensor names to llama.cpp names, skips what is recomputed, refuses unknown ones', () => {
    const llama = family('llama');
    expect(ggufTensorName(llama, 'model.layers.11.self_attn.k_proj.weight')).toBe('blk.11.attn_k.weight');
    expect(ggufTensorName(llama, 'model.layers.0.post_attention_layernorm.weight')).toBe('blk.0.ffn_norm.weight');
    expect(ggufTensorName(llama, 'lm_head.weight')).toBe('output.weight');
    expect(ggufTensorName(llama, 'model.layers.0.self_attn.rotary_emb.inv_freq')).toBe(null);
    expect(ggufTensorName(llama, 'model.layers.0.mlp.experts.0.w1.weight')).toBe(undefined);
    expect(ggufTensorName(family('qwen2'), 'model.layers.3.self_attn.v_proj.bias')).toBe('blk.3.attn_v.bias');
    expect(ggufTensorName(family('gemma'), 'lm_head.weight')).toBe(null);
    expect(ggufTensorName(family('gemma2'), 'model.layers.1.post_feedforward_layernorm.weight')).toBe(
      'blk.1.post_ffw_norm.weight',
    );
    expect(ggufTensorName(family('phi3'), 'model.layers.2.mlp.gate_up_proj.weight')).toBe('blk.2.ffn_up.weight');
    expect(ggufTensorName(family('phi2'), 'model.final_layernorm.bias')).toBe('output_norm.bias');
    expect(transformFor(llama, 'blk.4.attn_q.weight')).toBe('permute-q');
    expect(transformFor(llama, 'blk.4.attn_v.weight')).toBe(undefined);
    expect(transformFor(family('qwen2'), 'blk.4.attn_q.weight')).toBe(undefined);
    expect(transformFor(family('gemma'), 'output_norm.weight')).toBe('plus-one');
  });
});

describe('tensor transforms', () => {
  it('interleaves each head: rows [x0 x1 | y0 y1] become [x0 y0 x1 y1]', () => {
    // 2 heads of 4 rows, 2 columns; value = 10·row + column.
    const rows = 8;
    const values = Float32Array.from({ length: rows * 2 }, (_, i) => 10 * Math.floor(i / 2) + (i % 2));
    const out = permuteHeads(values, rows, 2);
    const rowOrder = Array.from({ length: rows }, (_, r) => out[2 * r] / 10);
    expect(rowOrder).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(out[1]).toBe(1); // columns stay together
    expect(() => permuteHeads(values, rows, 3)).toThrow(/heads/);
  });

  it('permute-k uses the KV head count; plus-one adds one', () => {
    const v = Float32Array.from({ length: 8 }, (_, i) => i);
    expect([...applyTransform('permute-k', v, [8], { nHead: 4, nKvHead: 1 })]).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    // Head dimension 4 with two query heads; 8 with the one KV head.
    expect([...applyTransform('permute-q', v, [8], { nHead: 2, nKvHead: 1 })]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect([...applyTransform('plus-one', Float32Array.of(-1, 0.5), [2], { nHead: 1, nKvHead: 1 })]).toEqual([0, 1.5]);
  });

  it('keeps vectors and norms F32, falls back to F16 for rows that do not fit the blocks', () => {
    expect(outputType('blk.0.attn_q.bias', [64], GGMLType.Q8_0)).toBe(GGMLType.F32);
    expect(outputType('token_embd.weight', [1000, 64], GGMLType.Q8_0)).toBe(GGMLType.Q8_0);
    expect(outputType('token_embd.weight', [1000, 64], GGMLType.Q4_K)).toBe(GGMLType.F16);
    expect(outputType('blk.0.ffn_down.weight', [64, 96], GGMLType.Q4_0)).toBe(GGMLType.Q4_0);
    expect(outputType('blk.0.ffn_down.weight', [64, 80], GGMLType.Q4_0)).toBe(GGMLType.F16);
  });
});

/** Index of the first differing byte, -1 when equal (vitest's deep equality is far too slow on 16 MB). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
const bytesOf = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);

describe('convertTensor', () => {
  it('converts in slabs of whole heads exactly as the whole tensor at once', async () => {
    // 2 KV heads of 8 rows of 2^19 values: a slab (2^22 values) holds one head, so the tensor takes two.
    const { writeSafetensors, readSafetensors } = await import('../../../../../engine/tools/safetensors.ts');
    const { fromBytes } = await import('../../../../../engine/io/bytes.ts');
    const { convertTensor } = await import('../../../../../engine/tools/convert/tensors.ts');
    const rows = 16;
    const cols = 1 << 19;
    const values = Float32Array.from({ length: rows * cols }, (_, i) => ((i * 7919) % 1000) / 5000 - 0.1);
    const bias = Float32Array.from({ length: rows }, (_, i) => i);
    const bytes = writeSafetensors([
      { name: 'k', shape: [rows, cols], dtype: 'F32', values },
      { name: 'b', shape: [rows], dtype: 'F32', values: bias },
    ]);
    const source = fromBytes(bytes);
    const st = await readSafetensors(source);
    const ctx = { nHead: 4, nKvHead: 2 };
    const whole = permuteHeads(values, rows, 2);
    const out = await convertTensor(source, st.tensors.get('k')!, 'permute-k', ctx, GGMLType.F32);
    expect(firstDifference(out, bytesOf(whole))).toBe(-1);
    const q8 = await convertTensor(source, st.tensors.get('k')!, 'permute-k', ctx, GGMLType.Q8_0);
    const { quantizeRow } = await import('../../../../../engine/quant/index.ts');
    expect(firstDifference(q8, quantizeRow(GGMLType.Q8_0, whole))).toBe(-1);
    const b = await convertTensor(source, st.tensors.get('b')!, 'permute-k', ctx, GGMLType.F32);
    expect([...new Float32Array(b.buffer, b.byteOffset, rows)]).toEqual([...permuteHeads(bias, rows, 2)]);
    const plain = await convertTensor(source, st.tensors.get('k')!, undefined, ctx, GGMLType.F16);
    expect(firstDifference(plain, quantizeRow(GGMLType.F16, values))).toBe(-1);
  });
});
