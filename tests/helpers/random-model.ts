/**
 * GGUF files with random weights, for tests and benchmarks: every architecture
 * the engine runs (llama, qwen2, phi2, phi3, gemma, gemma2), any shape, any
 * weight type, that llama.cpp loads and runs.
 *
 * Tensor names and metadata keys are llama.cpp's (llama-arch.cpp, and each
 * architecture's load_arch_hparams / load_arch_tensors); the tensor list is the
 * family's (engine/model/family.ts), and llama.cpp refuses a file with a tensor
 * missing, extra or misshapen, which checks it. Vectors (norms, biases, RoPE
 * factors) are F32, as llama.cpp keeps them; every matrix, token_embd included,
 * is in `weightType`. Quantized weights are random blocks whose f16 scales are set so
 * that weights come out around ±0.02, keeping activations O(1); with
 * `quantize: true` Gaussian weights go through engine/quant's reference
 * quantizers instead (slower, but distributed like real weights).
 *
 * The vocabulary is stories260K's (SPM, 512 tokens, byte fallback), read from the
 * fixture at generation time, padded with unused tokens or cut to `vocabSize`;
 * or `vocab: 'spm-bytes'`, a synthetic SPM vocabulary needing no fixture; or
 * `vocab: 'qwen2-bpe'` / `'llama3-bpe'`, the first tokens of Qwen2's or Llama 3's
 * byte-level BPE vocabulary (fixtures vocab/ggml-vocab-{qwen2,llama-bpe}.gguf)
 * with the merges among them and the model's special tokens.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { parseGGUF } from '../../engine/gguf/reader.ts';
import type { GGUFMetadataEntry } from '../../engine/gguf/types.ts';
import { GGUFValueType } from '../../engine/gguf/types.ts';
import { type GGUFWriteSpec, type GGUFWriteTensor, kv, writeGGUF, writeGGUFStream } from '../../engine/gguf/writer.ts';
import { FAMILIES, tensorSpecs } from '../../engine/model/family.ts';
import type { HParams } from '../../engine/model/hparams.ts';
import { f32ToBf16, f32ToF16 } from '../../engine/quant/fp16.ts';
import { quantizeRow } from '../../engine/quant/index.ts';
import { GGMLType, typeTraits } from '../../engine/quant/types.ts';
import { fixture } from './fixtures.ts';
import { rng } from './rng.ts';

/** 'stories260K' and 'spm-bytes' are SPM; the others byte-level BPE (Qwen2's, Llama 3's). */
export type VocabKind = 'stories260K' | 'spm-bytes' | 'qwen2-bpe' | 'llama3-bpe';

export type RandomArch = 'llama' | 'qwen2' | 'phi2' | 'phi3' | 'gemma' | 'gemma2';

export interface RandomModelOptions {
  /** general.architecture; default 'llama'. */
  arch?: RandomArch;
  dim: number;
  nLayers: number;
  nHeads: number;
  /** Default: nHeads. */
  nKvHeads?: number;
  /** Default dim / nHeads; written as attention.key_length/value_length when given. */
  headDim?: number;
  ffn: number;
  /** Default: 512 (the stories260K vocabulary). At least 259 (3 specials + 256 bytes). */
  vocabSize?: number;
  /** Default 2048. */
  ctx?: number;
  /** Default 10000. */
  ropeBase?: number;
  /** Default: the head dimension. */
  ropeDims?: number;
  /** No output.weight: llama.cpp reuses token_embd (always so for gemma, gemma2). */
  tiedOutput?: boolean;
  weightType: GGMLType;
  seed: number;
  /** Default 'stories260K' (copied from the fixture); 'spm-bytes' needs no fixture. */
  vocab?: VocabKind;
  /** Default 1e-5 (the LayerNorm epsilon for phi2). */
  rmsEps?: number;
  /** Quantize Gaussian weights with engine/quant instead of drawing random blocks. */
  quantize?: boolean;
  name?: string;
  /** One attn_qkv tensor instead of attn_q/k/v (llama.cpp takes either). */
  fusedQkv?: boolean;
  /** q/k/v (or qkv) biases; default true for qwen2. */
  qkvBias?: boolean;
  /** output.bias (optional for qwen2; always there for phi2). */
  outputBias?: boolean;
  /** Phi-3 LongRoPE: rope_factors_long/short, rope.scaling.attn_factor and original_context_length. */
  longRope?: { originalContext: number; attnFactor: number };
  /** rope_freqs.weight (Llama 3.1 scaling): one divisor per rotated pair. */
  ropeFreqs?: boolean;
  /** gemma2: attention.sliding_window, attn/final_logit_softcapping (llama.cpp defaults when absent: 4096, 50, 30). */
  slidingWindow?: number;
  attnSoftcap?: number;
  finalSoftcap?: number;
}

/** The llama-only name the generator had first. */
export type RandomLlamaOptions = RandomModelOptions;

function gaussian(next: () => number): () => number {
  return () => {
    const u = 1 - next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
}

const WEIGHT_STD = 0.02;

/**
 * Where a block keeps its f16 scales, and values that make its weights ~±0.02
 * whatever the random quants are (layouts from ggml-common.h):
 *   q4_0 {d, qs[16]}  q4_1 {d, m, qs}  q5_0 {d, qh[4], qs}  q5_1 {d, m, qh, qs}  q8_0 {d, qs[32]}
 *   q2_K {scales[16], qs[64], d, dmin}  q3_K {hmask[32], qs[64], scales[12], d}
 *   q4_K {d, dmin, scales[12], qs[128]}  q5_K {d, dmin, scales[12], qh[32], qs[128]}
 *   q6_K {ql[128], qh[64], scales[16] (i8), d}
 * A value is d·q (q centred) or d·sc·q − dmin·m for the K-quants with mins.
 */
const BLOCK_SCALES: Partial<Record<GGMLType, Array<[offset: number, value: number]>>> = {
  [GGMLType.Q4_0]: [[0, 0.005]],
  [GGMLType.Q4_1]: [
    [0, 0.005],
    [2, -0.04],
  ],
  [GGMLType.Q5_0]: [[0, 0.0025]],
  [GGMLType.Q5_1]: [
    [0, 0.0025],
    [2, -0.04],
  ],
  [GGMLType.Q8_0]: [[0, 0.0003]],
  [GGMLType.Q2_K]: [
    [80, 0.002],
    [82, 0.003],
  ],
  [GGMLType.Q3_K]: [[108, 0.0006]],
  [GGMLType.Q4_K]: [
    [0, 1e-4],
    [2, 7.5e-4],
  ],
  [GGMLType.Q5_K]: [
    [0, 5e-5],
    [2, 7.7e-4],
  ],
  [GGMLType.Q6_K]: [[208, 2e-5]],
};

/** Random data for a tensor of `shape` in `type`. */
function randomTensorData(type: GGMLType, shape: readonly number[], seed: number, quantize: boolean): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const next = rng(seed);
  const normal = gaussian(next);
  if (type === GGMLType.F32) {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = normal() * WEIGHT_STD;
    return new Uint8Array(f.buffer);
  }
  if (type === GGMLType.F16 || type === GGMLType.BF16) {
    const h = new Uint16Array(n);
    const conv = type === GGMLType.F16 ? f32ToF16 : f32ToBf16;
    for (let i = 0; i < n; i++) h[i] = conv(normal() * WEIGHT_STD);
    return new Uint8Array(h.buffer);
  }
  const traits = typeTraits(type);
  const scales = BLOCK_SCALES[type];
  if (traits === undefined) throw new Error(`random-model: unknown type ${type}`);
  if (quantize) {
    const row = new Float32Array(shape[0]);
    const nRows = n / shape[0];
    const rowBytes = (shape[0] / traits.blockSize) * traits.typeSize;
    const out = new Uint8Array(nRows * rowBytes);
    for (let r = 0; r < nRows; r++) {
      for (let i = 0; i < row.length; i++) row[i] = normal() * WEIGHT_STD;
      out.set(quantizeRow(type, row), r * rowBytes);
    }
    return out;
  }
  if (scales === undefined) throw new Error(`random-model: no random-block recipe for ${traits.name}`);
  const nBlocks = n / traits.blockSize;
  const out = new Uint8Array(nBlocks * traits.typeSize);
  const words = new Uint32Array(out.buffer, 0, out.length >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = next() * 4294967296;
  for (let i = words.length * 4; i < out.length; i++) out[i] = next() * 256;
  const view = new DataView(out.buffer);
  const f16 = scales.map(([offset, value]) => [offset, f32ToF16(value)] as const);
  for (let b = 0; b < nBlocks; b++) {
    const base = b * traits.typeSize;
    for (const [offset, bits] of f16) view.setUint16(base + offset, bits, true);
  }
  // Q8_0 quants in -127..127, as llama.cpp's quantizer writes them (round(x * 127 / max)).
  if (type === GGMLType.Q8_0) for (let i = 0; i < out.length; i++) if (out[i] === 0x80 && i % 34 >= 2) out[i] = 0x81;
  return out;
}

/** A vector of n values around `centre`, spread by `spread`. */
function vectorData(n: number, seed: number, centre: number, spread: number): Uint8Array {
  const normal = gaussian(rng(seed));
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = centre + spread * normal();
  return new Uint8Array(f.buffer);
}

/** Values for a vector tensor by what it is: norm weights ~1, biases ~0, RoPE divisors >= 1. */
function vectorFor(name: string, n: number, seed: number): Uint8Array {
  if (/norm\.weight$/.test(name)) return vectorData(n, seed, 1, 0.05);
  if (name.startsWith('rope_factors_long')) return ramp(n, 1, 8);
  if (name.startsWith('rope_factors_short') || name.startsWith('rope_freqs')) return ramp(n, 1, 1.5);
  return vectorData(n, seed, 0, 0.1); // biases
}

/** n values rising from a to b (LongRoPE's factors grow with the wavelength). */
function ramp(n: number, a: number, b: number): Uint8Array {
  return new Uint8Array(Float32Array.from({ length: n }, (_, i) => a + ((b - a) * i) / Math.max(1, n - 1)).buffer);
}

// llama_token_type / llama_token_attr numbering in GGUF: 1 normal, 2 unknown, 3 control, 5 unused, 6 byte.
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const UNUSED = 5;
const BYTE = 6;

let storiesVocab: Map<string, GGUFMetadataEntry> | undefined;

function storiesVocabulary(): Map<string, GGUFMetadataEntry> {
  if (storiesVocab) return storiesVocab;
  const path = fixture('models/stories260K.gguf');
  if (path === undefined) throw new Error("random-model: the stories260K fixture is needed for vocab 'stories260K'");
  const file = parseGGUF(new Uint8Array(readFileSync(path)), 'stories260K.gguf');
  storiesVocab = new Map([...file.metadata].filter(([k]) => k.startsWith('tokenizer.')));
  return storiesVocab;
}

/** tokenizer.* entries for `vocabSize` tokens. */
function vocabulary(
  kind: VocabKind,
  vocabSize: number,
  extraSpecials: readonly string[] = [],
): Array<[string, GGUFMetadataEntry]> {
  if (kind === 'qwen2-bpe' || kind === 'llama3-bpe') return bpeVocabulary(kind, vocabSize);
  if (vocabSize < 259) throw new Error('random-model: vocabSize must be at least 259');
  let tokens: string[];
  let scores: number[];
  let types: number[];
  const rest = new Map<string, GGUFMetadataEntry>();
  if (kind === 'stories260K') {
    const v = storiesVocabulary();
    tokens = [...(v.get('tokenizer.ggml.tokens')!.value as string[])];
    scores = [...(v.get('tokenizer.ggml.scores')!.value as number[])];
    types = [...(v.get('tokenizer.ggml.token_type')!.value as number[])];
    for (const [k, e] of v) if (!/\.(tokens|scores|token_type)$/.test(k)) rest.set(k, e);
  } else {
    tokens = ['<unk>', '<s>', '</s>'];
    types = [UNKNOWN, CONTROL, CONTROL];
    for (let b = 0; b < 256; b++) {
      tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      types.push(BYTE);
    }
    const letters = 'etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,!?\'"-';
    const pieces = ['▁', ...letters, ...[...letters].map((c) => `▁${c}`)];
    for (const a of letters) for (const b of letters) pieces.push(`▁${a}${b}`);
    for (const p of pieces) {
      if (tokens.length >= vocabSize) break;
      tokens.push(p);
      types.push(NORMAL);
    }
    scores = tokens.map((_, i) => (i < 259 ? 0 : -(i - 259)));
    rest.set('tokenizer.ggml.model', kv.str('llama'));
    rest.set('tokenizer.ggml.unknown_token_id', kv.u32(0));
    rest.set('tokenizer.ggml.bos_token_id', kv.u32(1));
    rest.set('tokenizer.ggml.eos_token_id', kv.u32(2));
  }
  for (const t of extraSpecials) {
    tokens.push(t);
    scores.push(0);
    types.push(CONTROL);
  }
  for (let i = tokens.length; i < vocabSize; i++) {
    tokens.push(`<unused_${i}>`);
    scores.push(-1e9);
    types.push(UNUSED);
  }
  tokens.length = scores.length = types.length = vocabSize;
  return [
    ['tokenizer.ggml.model', rest.get('tokenizer.ggml.model') ?? kv.str('llama')],
    ['tokenizer.ggml.tokens', kv.arr(GGUFValueType.STRING, tokens)],
    ['tokenizer.ggml.scores', kv.arr(GGUFValueType.FLOAT32, scores)],
    ['tokenizer.ggml.token_type', kv.arr(GGUFValueType.INT32, types)],
    ...[...rest].filter(([k]) => k !== 'tokenizer.ggml.model'),
  ];
}

/**
 * Phi-3's chat tokens, after the SPM vocabulary as in Phi-3 GGUFs (llama.cpp
 * looks <|endoftext|> up by name when the model's name says phi3).
 */
const PHI3_SPECIALS = ['<|endoftext|>', '<|assistant|>', '<|end|>', '<|user|>'];

/** Byte-level BPE vocabularies cut from llama.cpp's vocab fixtures: where, and the special tokens kept. */
const BPE_VOCABS = {
  'qwen2-bpe': {
    fixture: 'vocab/ggml-vocab-qwen2.gguf',
    pre: 'qwen2',
    specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    bos: '<|endoftext|>',
    eos: '<|endoftext|>',
    addBos: false,
  },
  'llama3-bpe': {
    fixture: 'vocab/ggml-vocab-llama-bpe.gguf',
    pre: 'llama-bpe',
    specials: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>'],
    bos: '<|begin_of_text|>',
    eos: '<|end_of_text|>',
    addBos: true,
  },
} as const;

type BpeKind = keyof typeof BPE_VOCABS;

/**
 * A byte-level BPE vocabulary cut to `vocabSize`: its first tokens (256 byte
 * symbols, then merge results in merge order), the merges whose result is kept,
 * then the special tokens, as in the models' GGUFs.
 */
function bpeVocabulary(kind: BpeKind, vocabSize: number): Array<[string, GGUFMetadataEntry]> {
  const v = BPE_VOCABS[kind];
  const path = fixture(v.fixture);
  if (path === undefined) throw new Error(`random-model: the fixture ${v.fixture} is needed for vocab '${kind}'`);
  const md = parseGGUF(new Uint8Array(readFileSync(path)), v.fixture).metadata;
  const keep = vocabSize - v.specials.length;
  if (keep < 256) throw new Error(`random-model: ${kind} needs at least ${256 + v.specials.length} tokens`);
  const tokens = (md.get('tokenizer.ggml.tokens')!.value as string[]).slice(0, keep);
  const kept = new Set(tokens);
  const merges = (md.get('tokenizer.ggml.merges')!.value as string[]).filter((m) => {
    const [a, b] = m.split(' ');
    return kept.has(a) && kept.has(b) && kept.has(a + b);
  });
  const types = tokens.map(() => NORMAL);
  tokens.push(...v.specials);
  types.push(...v.specials.map(() => CONTROL));
  return [
    ['tokenizer.ggml.model', kv.str('gpt2')],
    ['tokenizer.ggml.pre', kv.str(v.pre)],
    ['tokenizer.ggml.tokens', kv.arr(GGUFValueType.STRING, tokens)],
    ['tokenizer.ggml.token_type', kv.arr(GGUFValueType.INT32, types)],
    ['tokenizer.ggml.merges', kv.arr(GGUFValueType.STRING, merges)],
    ['tokenizer.ggml.bos_token_id', kv.u32(tokens.indexOf(v.bos))],
    ['tokenizer.ggml.eos_token_id', kv.u32(tokens.indexOf(v.eos))],
    ['tokenizer.ggml.padding_token_id', kv.u32(tokens.indexOf(v.eos))],
    ['tokenizer.ggml.add_bos_token', kv.bool(v.addBos)],
  ];
}

type LazyTensor = Omit<GGUFWriteTensor, 'data'> & { make: () => Uint8Array };

/** The metadata llama.cpp reads for `o.arch` (keys as llama-arch.cpp names them). */
function archMetadata(o: RandomModelOptions, arch: RandomArch, headDim: number): Array<[string, GGUFMetadataEntry]> {
  const k = (key: string) => `${arch}.${key}`;
  const md: Array<[string, GGUFMetadataEntry]> = [
    [k('context_length'), kv.u32(o.ctx ?? 2048)],
    [k('embedding_length'), kv.u32(o.dim)],
    [k('block_count'), kv.u32(o.nLayers)],
    [k('feed_forward_length'), kv.u32(o.ffn)],
    [k('rope.dimension_count'), kv.u32(o.ropeDims ?? headDim)],
    [k('attention.head_count'), kv.u32(o.nHeads)],
    [k('attention.head_count_kv'), kv.u32(o.nKvHeads ?? o.nHeads)],
    // Phi-2 has LayerNorms; the others RMSNorms
    [
      k(arch === 'phi2' ? 'attention.layer_norm_epsilon' : 'attention.layer_norm_rms_epsilon'),
      kv.f32(o.rmsEps ?? 1e-5),
    ],
    [k('rope.freq_base'), kv.f32(o.ropeBase ?? 10000)],
  ];
  if (o.headDim !== undefined) {
    md.push([k('attention.key_length'), kv.u32(o.headDim)], [k('attention.value_length'), kv.u32(o.headDim)]);
  }
  if (o.longRope) {
    md.push(
      [k('rope.scaling.original_context_length'), kv.u32(o.longRope.originalContext)],
      [k('rope.scaling.attn_factor'), kv.f32(o.longRope.attnFactor)],
    );
  }
  if (o.slidingWindow !== undefined) md.push([k('attention.sliding_window'), kv.u32(o.slidingWindow)]);
  if (o.attnSoftcap !== undefined) md.push([k('attn_logit_softcapping'), kv.f32(o.attnSoftcap)]);
  if (o.finalSoftcap !== undefined) md.push([k('final_logit_softcapping'), kv.f32(o.finalSoftcap)]);
  return md;
}

/** Whether an optional tensor of the family goes into the file, as the options ask. */
function wantOptional(name: string, o: RandomModelOptions, arch: RandomArch): boolean {
  if (name === 'output.weight') return !o.tiedOutput;
  if (name === 'output.bias') return o.outputBias === true;
  if (/\.attn_(q|k|v|qkv)\.bias$/.test(name)) return o.qkvBias ?? arch === 'qwen2';
  if (name.startsWith('rope_factors_')) return o.longRope !== undefined;
  if (name === 'rope_freqs.weight') return o.ropeFreqs === true;
  return false;
}

function plan(o: RandomModelOptions): { metadata: Array<[string, GGUFMetadataEntry]>; tensors: LazyTensor[] } {
  const arch = o.arch ?? 'llama';
  const family = FAMILIES.get(arch);
  if (!family) throw new Error(`random-model: unknown architecture ${arch}`);
  const nKvHeads = o.nKvHeads ?? o.nHeads;
  const vocabSize = o.vocabSize ?? 512;
  const headDim = o.headDim ?? o.dim / o.nHeads;
  if (!Number.isInteger(headDim) || o.nHeads % nKvHeads !== 0) throw new Error('random-model: bad head counts');
  const metadata: Array<[string, GGUFMetadataEntry]> = [
    ['general.architecture', kv.str(arch)],
    ['general.name', kv.str(o.name ?? `random-${arch}-${GGMLType[o.weightType]}`)],
    ...archMetadata(o, arch, headDim),
    [`${arch}.vocab_size`, kv.u32(vocabSize)],
    ...vocabulary(o.vocab ?? 'stories260K', vocabSize, arch === 'phi3' ? PHI3_SPECIALS : []),
  ];

  // Only the fields tensorSpecs reads.
  const hp = {
    nEmbd: o.dim,
    nLayers: o.nLayers,
    nFF: o.ffn,
    nHeads: o.nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    ropeDims: o.ropeDims ?? headDim,
  } as HParams;
  const specs = tensorSpecs(family, hp, () => o.fusedQkv === true).filter(
    (t) => t.required || wantOptional(t.name, o, arch),
  );
  // token_embd, the layers, then the rest: the order (and so the seeds) the llama generator always had
  const rank = (name: string) => (name === 'token_embd.weight' ? 0 : name.startsWith('blk.') ? 1 : 2);
  specs.sort((a, b) => rank(a.name) - rank(b.name));

  const tensors: LazyTensor[] = [];
  const wt = o.weightType;
  const quantize = o.quantize ?? false;
  for (const { name, shape } of specs) {
    const seed = (o.seed * 1000003 + tensors.length * 7919) >>> 0;
    if (shape.length === 1) {
      tensors.push({ name, shape, type: GGMLType.F32, make: () => vectorFor(name, shape[0], seed) });
    } else {
      tensors.push({ name, shape, type: wt, make: () => randomTensorData(wt, shape, seed, quantize) });
    }
  }
  return { metadata, tensors };
}

/** The model as a GGUFWriteSpec whose tensor data is produced lazily (for writeGGUFStream). */
export function randomLlamaSpec(opts: RandomModelOptions): GGUFWriteSpec {
  const { metadata, tensors } = plan(opts);
  return { metadata, tensors: tensors.map(({ make, ...t }) => ({ ...t, data: async () => make() })) };
}

/** The whole model file in memory. */
export function randomLlamaModel(opts: RandomModelOptions): Uint8Array {
  const { metadata, tensors } = plan(opts);
  return writeGGUF({ metadata, tensors: tensors.map(({ make, ...t }) => ({ ...t, data: make() })) });
}

/** Streams the model to `path` tensor by tensor (for models too big to hold twice). Resolves to its size. */
export async function writeRandomLlamaModel(path: string, opts: RandomModelOptions): Promise<number> {
  const fd = openSync(path, 'w');
  try {
    return await writeGGUFStream(randomLlamaSpec(opts), (chunk) => {
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
    });
  } finally {
    closeSync(fd);
  }
}

/** Any architecture: randomLlamaModel under the name that says so. */
export const randomModel = randomLlamaModel;
