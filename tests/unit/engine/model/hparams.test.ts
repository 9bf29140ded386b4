import { describe, expect, it } from 'vitest';
import { type GGUFMetadataEntry, GGUFValueType } from '../../../../engine/gguf/types.ts';
import { readHParams } from '../../../../engine/model/hparams.ts';
import { isChordError } from '../../../../shared/errors.ts';

const u32 = (value: number): GGUFMetadataEntry => ({ type: GGUFValueType.UINT32, value });
const f32 = (value: number): GGUFMetadataEntry => ({ type: GGUFValueType.FLOAT32, value });
const str = (value: string): GGUFMetadataEntry => ({ type: GGUFValueType.STRING, value });

function llama(extra: [string, GGUFMetadataEntry][] = []) {
  return new Map<string, GGUFMetadataEntry>([
    ['general.architecture', str('llama')],
    ['llama.embedding_length', u32(64)],
    ['llama.block_count', u32(2)],
    ['llama.feed_forward_length', u32(172)],
    ['llama.attention.head_count', u32(8)],
    ['llama.vocab_size', u32(512)],
    ...extra,
  ]);
}

describe('readHParams', () => {
  it('applies llama.cpp’s defaults', () => {
    expect(readHParams(llama())).toMatchObject({
      arch: 'llama',
      nKvHeads: 8,
      headDim: 8,
      ropeDims: 8,
      ropeFreqBase: 10000,
      ropeFreqScale: 1,
      normEps: 1e-5,
    });
  });

  it('reads GQA, rope base, rope dims and linear scaling', () => {
    const hp = readHParams(
      llama([
        ['llama.attention.head_count_kv', u32(2)],
        ['llama.rope.freq_base', f32(500000)],
        ['llama.rope.dimension_count', u32(4)],
        ['llama.rope.scaling.type', str('linear')],
        ['llama.rope.scaling.factor', f32(4)],
        ['llama.attention.layer_norm_rms_epsilon', f32(1e-6)],
      ]),
    );
    expect(hp).toMatchObject({ nKvHeads: 2, ropeFreqBase: 500000, ropeDims: 4, ropeFreqScale: 0.25, normEps: 1e-6 });
  });

  it('fails with typed errors on missing or inconsistent values', () => {
    const noArch = llama();
    noArch.delete('general.architecture');
    expect(() => readHParams(noArch)).toThrow(expect.objectContaining({ code: 'GGUF_MISSING_KEY' }));
    try {
      readHParams(llama([['llama.attention.head_count_kv', u32(3)]]));
      expect.unreachable();
    } catch (e) {
      expect(isChordError(e, 'MODEL_INVALID')).toBe(true);
    }
    expect(() => readHParams(llama([['llama.block_count', u32(0)]]))).toThrow(
      expect.objectContaining({ code: 'MODEL_INVALID' }),
    );
  });

  /** The llama() metadata under another architecture's prefix. */
  function as(arch: string, extra: [string, GGUFMetadataEntry][] = []) {
    const md = new Map<string, GGUFMetadataEntry>();
    for (const [k, e] of llama()) md.set(k.replace(/^llama\./, `${arch}.`), e);
    md.set('general.architecture', str(arch));
    for (const [k, e] of extra) md.set(k, e);
    return md;
  }

  it('applies Gemma 2’s defaults (llama.cpp’s): soft-caps 50 and 30, a window of 4096 on every other layer', () => {
    expect(readHParams(as('gemma2'))).toMatchObject({
      attnSoftcap: 50,
      finalSoftcap: 30,
      slidingWindow: 4096,
      swaPattern: 2,
      ropeFreqBaseSwa: 10000,
    });
    expect(
      readHParams(
        as('gemma2', [
          ['gemma2.attn_logit_softcapping', f32(20)],
          ['gemma2.final_logit_softcapping', f32(10)],
          ['gemma2.attention.sliding_window', u32(16)],
        ]),
      ),
    ).toMatchObject({ attnSoftcap: 20, finalSoftcap: 10, slidingWindow: 16 });
    // no soft-capping or window outside Gemma 2, even when a file states a window (Phi-3: llama.cpp disables it)
    expect(readHParams(as('phi3', [['phi3.attention.sliding_window', u32(2047)]]))).toMatchObject({
      attnSoftcap: 0,
      finalSoftcap: 0,
      slidingWindow: 0,
    });
  });

  it('reads Phi-2’s LayerNorm epsilon and Phi-3’s LongRoPE keys', () => {
    expect(readHParams(as('phi2', [['phi2.attention.layer_norm_epsilon', f32(1e-4)]])).normEps).toBeCloseTo(1e-4, 9);
    expect(
      readHParams(
        as('phi3', [
          ['phi3.context_length', u32(131072)],
          ['phi3.rope.scaling.original_context_length', u32(4096)],
          ['phi3.rope.scaling.attn_factor', f32(1.25)],
        ]),
      ),
    ).toMatchObject({ nCtxTrain: 131072, nCtxOrigYarn: 4096, ropeAttnFactor: 1.25 });
    expect(readHParams(as('phi3')).nCtxOrigYarn).toBe(2048); // the training context when absent
  });

  it('scales RoPE linearly for linear and longrope, never for none', () => {
    const factor = (type: string) =>
      readHParams(
        llama([
          ['llama.rope.scaling.type', str(type)],
          ['llama.rope.scaling.factor', f32(4)],
        ]),
      ).ropeFreqScale;
    expect([factor('linear'), factor('longrope'), factor('none')]).toEqual([0.25, 0.25, 1]);
  });

  it('refuses RoPE scalings it does not implement, naming them', () => {
    expect(() => readHParams(llama([['llama.rope.scaling.type', str('yarn')]]))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_ARCHITECTURE', message: expect.stringContaining('yarn') }),
    );
  });
});
