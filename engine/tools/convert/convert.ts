/**
 * A Hugging Face model (config, tokenizer, safetensors tensors) as a GGUF file
 * description for writeGGUFStream: metadata first, then each tensor's data
 * produced only when the writer reaches it (read from its shard, transformed,
 * encoded), so at most one tensor is in memory at a time.
 */
import { ChordError } from '../../../shared/errors.ts';
import type { GGUFMetadataEntry } from '../../gguf/types.ts';
import { type GGUFWriteSpec, type GGUFWriteTensor, kv } from '../../gguf/writer.ts';
import type { ByteSource } from '../../io/byte-source.ts';
import { canQuantize } from '../../quant/index.ts';
import { GGMLType } from '../../quant/types.ts';
import type { SafetensorsTensorInfo } from '../safetensors.ts';
import { ConfigReader, type Family, familyFor, ggufTensorName, transformFor } from './families.ts';
import { convertTensor, encodeTensor, outputType } from './tensors.ts';
import { convertVocab, type HFTokenizerFiles } from './vocab.ts';

export interface HFTensor {
  readonly info: SafetensorsTensorInfo;
  readonly source: ByteSource;
}

export interface HFModel extends HFTokenizerFiles {
  /** general.name. */
  readonly name: string;
  readonly tensors: readonly HFTensor[];
}

export interface ConvertProgress {
  index: number;
  total: number;
  name: string;
  type: GGMLType;
}

export interface ConvertOptions {
  /** Type of the matrices (default F16); vectors and norms stay F32. */
  type?: GGMLType;
  /** tokenizer.ggml.pre for a byte-level BPE pre-tokenizer we do not recognise. */
  pre?: string;
  /** Called as each tensor's data is produced. */
  onTensor?(p: ConvertProgress): void;
  signal?: AbortSignal;
}

/** llama_ftype of a file whose matrices are all `type` (general.file_type). */
const FILE_TYPE: Partial<Record<GGMLType, number>> = {
  [GGMLType.F32]: 0,
  [GGMLType.F16]: 1,
  [GGMLType.Q4_0]: 2,
  [GGMLType.Q4_1]: 3,
  [GGMLType.Q8_0]: 7,
  [GGMLType.Q5_0]: 8,
  [GGMLType.Q5_1]: 9,
  [GGMLType.Q2_K]: 10,
  [GGMLType.Q3_K]: 11,
  [GGMLType.Q4_K]: 14,
  [GGMLType.Q5_K]: 16,
  [GGMLType.Q6_K]: 18,
  [GGMLType.BF16]: 32,
};

/** The types convert can write: the ones with a reference quantizer and a llama_ftype. */
export function convertibleTypes(): GGMLType[] {
  return (Object.keys(FILE_TYPE).map(Number) as GGMLType[]).filter((t) => canQuantize(t));
}

export interface ConversionPlan {
  readonly family: Family;
  readonly spec: GGUFWriteSpec;
}

/** Maps and checks every tensor, builds the metadata; reads no tensor data. */
export function planConversion(model: HFModel, opts: ConvertOptions = {}): ConversionPlan {
  const type = opts.type ?? GGMLType.F16;
  const fileType = FILE_TYPE[type];
  if (fileType === undefined || !canQuantize(type)) {
    throw new ChordError('UNSUPPORTED_QUANT_TYPE', `convert cannot write ${GGMLType[type] ?? type}`, { type });
  }
  const family = familyFor(model.config);
  const c = new ConfigReader(model.config);
  const ctx = { nHead: c.nHead, nKvHead: c.nKvHead };

  const metadata: Array<[string, GGUFMetadataEntry]> = [
    ['general.architecture', kv.str(family.arch)],
    ['general.type', kv.str('model')],
    ['general.name', kv.str(model.name)],
  ];
  for (const [key, entry] of family.metadata(c)) {
    metadata.push([/^(general|tokenizer)\./.test(key) ? key : `${family.arch}.${key}`, entry]);
  }
  metadata.push(['general.file_type', kv.u32(fileType)], ['general.quantization_version', kv.u32(2)]);
  const vocab = convertVocab(model, { pre: opts.pre, specialTokenTexts: family.specialTokenTexts });
  // A family's own tokenizer flag (phi2's add_bos_token = false) wins over the tokenizer files'.
  for (const entry of vocab) if (!metadata.some(([k]) => k === entry[0])) metadata.push(entry);

  const planned: Array<{
    name: string;
    shape: readonly number[];
    type: GGMLType;
    /** The tensor's bytes in the given type. */
    produce: (type: GGMLType) => Promise<Uint8Array>;
  }> = [];
  for (const t of model.tensors) {
    const name = ggufTensorName(family, t.info.name);
    if (name === null) continue;
    if (name === undefined) {
      throw new ChordError('MODEL_INVALID', `cannot map tensor '${t.info.name}' of a ${family.arch} model`, {
        tensor: t.info.name,
      });
    }
    const transform = transformFor(family, name);
    const shape = t.info.shape;
    planned.push({
      name,
      shape,
      type: outputType(name, shape, type),
      produce: (outType) => convertTensor(t.source, t.info, transform, ctx, outType, opts.signal),
    });
  }
  for (const extra of family.extraTensors?.(c) ?? []) {
    planned.push({
      name: extra.name,
      shape: [extra.values.length],
      type: GGMLType.F32,
      produce: async (outType) => encodeTensor(extra.values, outType),
    });
  }
  checkNames(planned.map((p) => p.name));
  // llama.cpp sizes the embedding by the token list: they must agree.
  const nTokens = (vocab.find(([k]) => k === 'tokenizer.ggml.tokens')?.[1].value as unknown[] | undefined)?.length;
  const embdRows = planned.find((p) => p.name === 'token_embd.weight')?.shape[0];
  if (embdRows !== nTokens) {
    throw new ChordError('MODEL_INVALID', `the embedding has ${embdRows} rows for ${nTokens} tokens`, {
      rows: embdRows,
      tokens: nTokens,
    });
  }

  const tensors: GGUFWriteTensor[] = planned.map((p, index) => ({
    name: p.name,
    // ggml orders dimensions fastest first: the reverse of the row-major HF shape.
    shape: [...p.shape].reverse(),
    type: p.type,
    data: async () => {
      opts.onTensor?.({ index, total: planned.length, name: p.name, type: p.type });
      return p.produce(p.type);
    },
  }));
  return { family, spec: { metadata, tensors } };
}

function checkNames(names: readonly string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new ChordError('MODEL_INVALID', `two tensors map to '${n}'`, { tensor: n });
    seen.add(n);
  }
  if (!seen.has('token_embd.weight')) throw new ChordError('MODEL_INVALID', 'the model has no token embedding');
}
