import { ChordError } from '../../shared/errors.ts';
import type { GGUFMetadataEntry } from '../gguf/types.ts';
import { FAMILIES } from './family.ts';

/** The hyper-parameters of a decoder-only transformer, read from GGUF metadata. */
export interface HParams {
  arch: string;
  nEmbd: number;
  nLayers: number;
  nFF: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  nCtxTrain: number;
  vocabSize: number;
  normEps: number;
  ropeDims: number;
  ropeFreqBase: number;
  /** 1 / linear scaling factor (1 when unscaled). */
  ropeFreqScale: number;
  /** rope.scaling.attn_factor: multiplies RoPE's cos and sin (Phi-3 LongRoPE); 1 when absent. */
  ropeAttnFactor: number;
  /** rope.scaling.original_context_length: contexts longer than this use rope_factors_long. */
  nCtxOrigYarn: number;
  /** Attention-score soft-capping (Gemma 2; 0: none). */
  attnSoftcap: number;
  /** Final logit soft-capping (Gemma 2; 0: none). */
  finalSoftcap: number;
  /** Sliding-window size of the layers that use one (0: none). */
  slidingWindow: number;
  /** Layer l has the sliding window when l % swaPattern < swaPattern - 1 (llama.cpp's set_swa_pattern). */
  swaPattern: number;
  /** RoPE base of the sliding-window layers. */
  ropeFreqBaseSwa: number;
}

type Metadata = ReadonlyMap<string, GGUFMetadataEntry>;

function num(md: Metadata, key: string): number | undefined {
  const e = md.get(key);
  if (e === undefined) return undefined;
  if (typeof e.value === 'number') return e.value;
  if (typeof e.value === 'bigint') return Number(e.value);
  throw new ChordError('MODEL_INVALID', `metadata ${key} is not a number`);
}

function requireNum(md: Metadata, key: string): number {
  const v = num(md, key);
  if (v === undefined) throw new ChordError('GGUF_MISSING_KEY', `missing metadata key ${key}`);
  return v;
}

function positiveInt(value: number, key: string): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new ChordError('MODEL_INVALID', `${key} must be a positive integer, got ${value}`);
  return value;
}

export function readHParams(md: Metadata): HParams {
  const archEntry = md.get('general.architecture');
  if (archEntry === undefined || typeof archEntry.value !== 'string') {
    throw new ChordError('GGUF_MISSING_KEY', 'missing metadata key general.architecture');
  }
  const arch = archEntry.value;
  const k = (name: string) => `${arch}.${name}`;
  const nEmbd = positiveInt(requireNum(md, k('embedding_length')), k('embedding_length'));
  const nHeads = positiveInt(requireNum(md, k('attention.head_count')), k('attention.head_count'));
  const nKvHeads = positiveInt(num(md, k('attention.head_count_kv')) ?? nHeads, k('attention.head_count_kv'));
  if (nHeads % nKvHeads !== 0) {
    throw new ChordError('MODEL_INVALID', `head_count ${nHeads} is not a multiple of head_count_kv ${nKvHeads}`);
  }
  const headDim = positiveInt(num(md, k('attention.key_length')) ?? nEmbd / nHeads, 'head dimension');
  const ropeDims = num(md, k('rope.dimension_count')) ?? headDim;
  if (ropeDims % 2 !== 0 || ropeDims > headDim)
    throw new ChordError('MODEL_INVALID', `bad rope.dimension_count ${ropeDims}`);

  const tokens = md.get('tokenizer.ggml.tokens');
  const vocabSize = num(md, k('vocab_size')) ?? (Array.isArray(tokens?.value) ? tokens.value.length : undefined);
  if (vocabSize === undefined) throw new ChordError('GGUF_MISSING_KEY', 'no vocabulary size (tokenizer.ggml.tokens)');

  const scalingType = md.get(k('rope.scaling.type'))?.value ?? 'linear';
  // YaRN mixes interpolation and extrapolation per dimension (ggml's ext_factor): not implemented.
  // 'longrope' (Phi-3 style, factors as tensors) scales like 'linear' otherwise.
  if (scalingType !== 'linear' && scalingType !== 'none' && scalingType !== 'longrope') {
    throw new ChordError('UNSUPPORTED_ARCHITECTURE', `rope scaling '${String(scalingType)}' is not supported`, {
      arch,
    });
  }
  const scalingFactor = num(md, k('rope.scaling.factor')) ?? num(md, k('rope.scale_linear'));
  // llama.cpp's float 1.0f/ropescale; 'none' never scales
  const ropeFreqScale =
    scalingType !== 'none' && scalingFactor !== undefined && scalingFactor > 0
      ? Math.fround(1 / Math.fround(scalingFactor))
      : 1;
  const gemma2 = FAMILIES.get(arch)?.gemma2 === true;
  const nCtxTrain = num(md, k('context_length')) ?? 2048;
  const ropeFreqBase = num(md, k('rope.freq_base')) ?? 10000;
  // Phi-2 states a LayerNorm epsilon; the others an RMSNorm one
  const normEps = num(md, k('attention.layer_norm_rms_epsilon')) ?? num(md, k('attention.layer_norm_epsilon')) ?? 1e-5;

  return {
    arch,
    nEmbd,
    nLayers: positiveInt(requireNum(md, k('block_count')), k('block_count')),
    nFF: positiveInt(requireNum(md, k('feed_forward_length')), k('feed_forward_length')),
    nHeads,
    nKvHeads,
    headDim,
    nCtxTrain,
    vocabSize,
    normEps,
    ropeDims,
    ropeFreqBase,
    ropeFreqScale,
    ropeAttnFactor: num(md, k('rope.scaling.attn_factor')) ?? 1,
    nCtxOrigYarn: num(md, k('rope.scaling.original_context_length')) || nCtxTrain,
    // Gemma 2's defaults are llama.cpp's (llama_model_gemma2::load_arch_hparams)
    attnSoftcap: num(md, k('attn_logit_softcapping')) ?? (gemma2 ? 50 : 0),
    finalSoftcap: num(md, k('final_logit_softcapping')) ?? (gemma2 ? 30 : 0),
    slidingWindow: gemma2 ? (num(md, k('attention.sliding_window')) ?? 4096) : 0,
    swaPattern: num(md, k('attention.sliding_window_pattern')) ?? 2,
    ropeFreqBaseSwa: num(md, k('rope.freq_base_swa')) ?? ropeFreqBase,
  };
}
