import { ChordError } from '../../shared/errors.ts';
import type { Backend, Weight } from '../backend/backend.ts';
import { type ChatMessage, fallbackChatFormat, renderChatTemplate } from '../chat/template.ts';
import type { GGUFFile } from '../gguf/types.ts';
import { GGMLType } from '../quant/types.ts';
import type { TokenizeOptions, Tokenizer } from '../tokenizer/index.ts';
import { FAMILIES } from './family.ts';
import { assembleWeights, Forward } from './forward.ts';
import type { HParams } from './hparams.ts';
import { Sequence } from './sequence.ts';

export interface ModelInfo {
  arch: string;
  name?: string;
  hparams: HParams;
  fileSize: number;
  /** Number of tensors of each ggml type, by type name. */
  tensorTypes: Record<string, number>;
  /** The most common type among 2-D weights: what people call the model's quantization. */
  quantType: string;
  chatTemplate?: string;
  backend: string;
}

export class Model {
  constructor(
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    readonly file: GGUFFile,
    private readonly backend: Backend,
    private readonly weights: ReadonlyMap<string, Weight>,
  ) {}

  tokenize(text: string, opts?: TokenizeOptions): number[] {
    return this.tokenizer.tokenize(text, opts);
  }

  detokenize(ids: readonly number[], opts?: { special?: boolean }): string {
    return this.tokenizer.detokenize(ids, opts);
  }

  /** The model's chat template applied to messages, or a plain fallback format when it has none. */
  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    const t = this.tokenizer;
    const tokens = {
      bosToken: t.bos !== undefined ? t.tokenText(t.bos) : '',
      eosToken: t.eos !== undefined ? t.tokenText(t.eos) : '',
      addGenerationPrompt: opts.addGenerationPrompt ?? true,
    };
    return this.info.chatTemplate
      ? renderChatTemplate(this.info.chatTemplate, [...messages], tokens)
      : fallbackChatFormat([...messages], tokens);
  }

  /** Whether the rendered template already starts with the BOS text, so tokenizing must not add another. */
  chatTemplateAddsBos(): boolean {
    const t = this.tokenizer;
    if (t.bos === undefined || !this.info.chatTemplate) return false;
    const probe = this.applyChatTemplate([{ role: 'user', content: 'x' }]);
    return probe.startsWith(t.tokenText(t.bos));
  }

  createSequence(opts: { contextSize?: number; kvCache?: 'f16' | 'f32' } = {}): Sequence {
    const hp = this.info.hparams;
    const contextSize = Math.min(opts.contextSize ?? Math.min(hp.nCtxTrain, 4096), hp.nCtxTrain);
    if (!Number.isInteger(contextSize) || contextSize < 1) {
      throw new ChordError('INVALID_ARGUMENT', `bad context size ${opts.contextSize}`);
    }
    const cache = this.backend.createKVCache({
      nLayers: hp.nLayers,
      nCtx: contextSize,
      nKvHeads: hp.nKvHeads,
      headDim: hp.headDim,
      type: opts.kvCache ?? 'f16',
      softcap: hp.attnSoftcap > 0,
      slidingWindow: hp.slidingWindow > 0,
    });
    const family = FAMILIES.get(this.info.arch);
    if (!family) throw new ChordError('UNSUPPORTED_ARCHITECTURE', `architecture '${this.info.arch}' is not supported`);
    const weights = assembleWeights(family, hp, this.weights);
    const forward = new Forward(this.backend, hp, family, weights, cache, contextSize);
    return new Sequence(this, forward, contextSize);
  }

  /**
   * Memory the backend holds, now: on a device of its own (gpuBytes: the WebGPU
   * backend's buffers: weights, activations, KV caches) or as a wasm memory
   * (wasmBytes: the wasm backend's, weights included); empty for the reference backend.
   */
  memoryUsage(): { gpuBytes?: number; wasmBytes?: number } {
    const backend = this.backend as Backend & { memoryUsage?(): { gpuBytes?: number; memoryBytes?: number } };
    const usage = backend.memoryUsage?.();
    if (usage?.gpuBytes !== undefined) return { gpuBytes: usage.gpuBytes };
    return usage?.memoryBytes === undefined ? {} : { wasmBytes: usage.memoryBytes };
  }

  async dispose(): Promise<void> {
    await this.backend.dispose();
  }
}

export function summarizeTensorTypes(file: GGUFFile): { tensorTypes: Record<string, number>; quantType: string } {
  const tensorTypes: Record<string, number> = {};
  const weightCounts = new Map<string, number>();
  for (const t of file.tensors) {
    const name = GGMLType[t.type] ?? `type${t.type}`;
    tensorTypes[name] = (tensorTypes[name] ?? 0) + 1;
    if (t.shape.length >= 2) weightCounts.set(name, (weightCounts.get(name) ?? 0) + t.nElements);
  }
  const quantType = [...weightCounts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
  return { tensorTypes, quantType };
}
