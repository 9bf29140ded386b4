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
});
