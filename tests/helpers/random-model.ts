/**
 * Llama-architecture GGUF files with random weights, for tests and benchmarks:
 * any shape, any weight type, that llama.cpp loads and runs.
 *
 * Tensor names and metadata keys are llama.cpp's (llama-arch.cpp). Norm weights
 * are F32, as llama.cpp keeps them; every matrix, token_embd included, is in
 * `weightType`. Quantized weights are random blocks whose f16 scales are set so
 * that weights come out around ±0.02, keeping activations O(1); with
 * `quantize: true` Gaussian weights go through engine/quant's reference
 * quantizers instead (slower, but distributed like real weights).
 *
 * The vocabulary is stories260K's (SPM, 512 tokens, byte fallback), read from the
 * fixture at generation time, padded with unused tokens or cut to `vocabSize`;
 * or `vocab: 'spm-bytes'`, a synthetic SPM vocabulary needing no fixture.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { parseGGUF } from '../../engine/gguf/reader.ts';
import type { GGUFMetadataEntry } from '../../engine/gguf/types.ts';
import { GGUFValueType } from '../../engine/gguf/types.ts';
import { type GGUFWriteSpec, type GGUFWriteTensor, kv, writeGGUF, writeGGUFStream } from '../../engine/gguf/writer.ts';
import { f32ToBf16, f32ToF16 } from '../../engine/quant/fp16.ts';
import { quantizeRow } from '../../engine/quant/index.ts';
import { GGMLType, typeTraits } from '../../engine/quant/types.ts';
import { fixture } from './fixtures.ts';
import { rng } from './rng.ts';

export interface RandomLlamaOptions {
  dim: number;
  nLayers: number;
  nHeads: number;
  /** Default: nHeads. */
  nKvHeads?: number;
  ffn: number;
  /** Default: 512 (the stories260K vocabulary). At least 259 (3 specials + 256 bytes). */
  vocabSize?: number;
  /** Default 2048. */
  ctx?: number;
  /** Default 10000. */
  ropeBase?: number;
  /** Default: the head dimension. */
  ropeDims?: number;
  /** No output.weight: llama.cpp reuses token_embd. */
  tiedOutput?: boolean;
  weightType: GGMLType;
  seed: number;
  /** Default 'stories260K' (copied from the fixture); 'spm-bytes' needs no fixture. */
  vocab?: 'stories260K' | 'spm-bytes';
  /** Default 1e-5. */
  rmsEps?: number;
  /** Quantize Gaussian weights with engine/quant instead of drawing random blocks. */
  quantize?: boolean;
  name?: string;
}

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
  return out;
}

function normData(dim: number, seed: number): Uint8Array {
  const normal = gaussian(rng(seed));
  const f = new Float32Array(dim);
  for (let i = 0; i < dim; i++) f[i] = 1 + 0.05 * normal();
  return new Uint8Array(f.buffer);
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
function vocabulary(kind: 'stories260K' | 'spm-bytes', vocabSize: number): Array<[string, GGUFMetadataEntry]> {
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

type LazyTensor = Omit<GGUFWriteTensor, 'data'> & { make: () => Uint8Array };

function plan(o: RandomLlamaOptions): { metadata: Array<[string, GGUFMetadataEntry]>; tensors: LazyTensor[] } {
  const nKvHeads = o.nKvHeads ?? o.nHeads;
  const vocabSize = o.vocabSize ?? 512;
  const headDim = o.dim / o.nHeads;
  if (!Number.isInteger(headDim) || o.nHeads % nKvHeads !== 0) throw new Error('random-model: bad head counts');
  const metadata: Array<[string, GGUFMetadataEntry]> = [
    ['general.architecture', kv.str('llama')],
    ['general.name', kv.str(o.name ?? `random-llama-${GGMLType[o.weightType]}`)],
    ['llama.context_length', kv.u32(o.ctx ?? 2048)],
    ['llama.embedding_length', kv.u32(o.dim)],
    ['llama.block_count', kv.u32(o.nLayers)],
    ['llama.feed_forward_length', kv.u32(o.ffn)],
    ['llama.rope.dimension_count', kv.u32(o.ropeDims ?? headDim)],
    ['llama.attention.head_count', kv.u32(o.nHeads)],
    ['llama.attention.head_count_kv', kv.u32(nKvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(o.rmsEps ?? 1e-5)],
    ['llama.rope.freq_base', kv.f32(o.ropeBase ?? 10000)],
    ['llama.vocab_size', kv.u32(vocabSize)],
    ...vocabulary(o.vocab ?? 'stories260K', vocabSize),
  ];

  const tensors: LazyTensor[] = [];
  const wt = o.weightType;
  const quantize = o.quantize ?? false;
  const matrix = (name: string, shape: number[]) => {
    const seed = (o.seed * 1000003 + tensors.length * 7919) >>> 0;
    tensors.push({ name, shape, type: wt, make: () => randomTensorData(wt, shape, seed, quantize) });
  };
  const norm = (name: string) => {
    const seed = (o.seed * 1000003 + tensors.length * 7919) >>> 0;
    tensors.push({ name, shape: [o.dim], type: GGMLType.F32, make: () => normData(o.dim, seed) });
  };
  const kvDim = headDim * nKvHeads;
  matrix('token_embd.weight', [o.dim, vocabSize]);
  for (let l = 0; l < o.nLayers; l++) {
    norm(`blk.${l}.attn_norm.weight`);
    matrix(`blk.${l}.attn_q.weight`, [o.dim, o.dim]);
    matrix(`blk.${l}.attn_k.weight`, [o.dim, kvDim]);
    matrix(`blk.${l}.attn_v.weight`, [o.dim, kvDim]);
    matrix(`blk.${l}.attn_output.weight`, [o.dim, o.dim]);
    norm(`blk.${l}.ffn_norm.weight`);
    matrix(`blk.${l}.ffn_gate.weight`, [o.dim, o.ffn]);
    matrix(`blk.${l}.ffn_up.weight`, [o.dim, o.ffn]);
    matrix(`blk.${l}.ffn_down.weight`, [o.ffn, o.dim]);
  }
  norm('output_norm.weight');
  if (!o.tiedOutput) matrix('output.weight', [o.dim, vocabSize]);
  return { metadata, tensors };
}

/** The model as a GGUFWriteSpec whose tensor data is produced lazily (for writeGGUFStream). */
export function randomLlamaSpec(opts: RandomLlamaOptions): GGUFWriteSpec {
  const { metadata, tensors } = plan(opts);
  return { metadata, tensors: tensors.map(({ make, ...t }) => ({ ...t, data: async () => make() })) };
}

/** The whole model file in memory. */
export function randomLlamaModel(opts: RandomLlamaOptions): Uint8Array {
  const { metadata, tensors } = plan(opts);
  return writeGGUF({ metadata, tensors: tensors.map(({ make, ...t }) => ({ ...t, data: make() })) });
}

/** Streams the model to `path` tensor by tensor (for models too big to hold twice). Resolves to its size. */
export async function writeRandomLlamaModel(path: string, opts: RandomLlamaOptions): Promise<number> {
  const fd = openSync(path, 'w');
  try {
    return await writeGGUFStream(randomLlamaSpec(opts), (chunk) => {
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
    });
  } finally {
    closeSync(fd);
  }
}
