import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { TopLogits } from '../backend/backend.ts';
import type { ChatMessage } from '../chat/template.ts';
import { argmax, Sampler, type TokenProbability, topKProbabilities, topLogitProbabilities } from '../sampling/index.ts';
import { StopMatcher } from '../sampling/stop.ts';
import type { Forward } from './forward.ts';
import type { FinishReason, GenerateOptions, GenerationChunk, GenerationResult } from './generation.ts';
import type { Model } from './model.ts';

/** Tokens are evaluated in batches of this many during prefill (at least; see prefillBatches). */
const PREFILL_BATCH = 64;
/** llama.cpp's ubatch as node-llama-cpp sets it: min(context size, 512) tokens per decode. */
const UBATCH = 512;
/**
 * Generation reads back only the best logits (Backend.readTopK) when the sampler
 * and topLogprobs need at most this many of them; else the whole row.
 */
export const MAX_BEST_LOGITS = 128;

/**
 * Batch sizes for evaluating n tokens: llama.cpp's ubatches of 512, each cut into
 * batches of 64 with the remainder kept with the last one. A ubatch of 64 tokens
 * or more thus reaches the backend in batches of 64 or more, which is when ggml's
 * CPU flash attention switches to its tiled kernel (GGML_FA_TILE_Q): every
 * token's attention is computed as llama.cpp computes it for that ubatch.
 */
export function prefillBatches(n: number): number[] {
  const sizes: number[] = [];
  for (let start = 0; start < n; start += UBATCH) {
    const u = Math.min(UBATCH, n - start);
    const whole = Math.max(1, Math.floor(u / PREFILL_BATCH));
    for (let i = 0; i < whole - 1; i++) sizes.push(PREFILL_BATCH);
    sizes.push(u - PREFILL_BATCH * (whole - 1));
  }
  return sizes;
}

/**
 * One conversation's state: its KV cache and the tokens in it. A new prompt
 * that extends the tokens already evaluated reuses them.
 */
export class Sequence {
  /** Tokens whose keys and values are in the cache, in order. */
  private cached: number[] = [];
  private busy = false;

  constructor(
    private readonly model: Model,
    private readonly forwardPass: Forward,
    readonly contextSize: number,
  ) {}

  get tokens(): readonly number[] {
    return this.cached;
  }

  reset(): void {
    this.cached = [];
  }

  /** Evaluates tokens after those already cached and returns the logits after the last. */
  evaluate(tokens: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    return this.evaluateTo(tokens, signal) as Promise<Float32Array>;
  }

  /**
   * evaluate, then the greedy choice after the last token (the largest logit, the
   * lowest id among equals), reading back only that where the backend can.
   */
  async evaluateGreedy(tokens: readonly number[], signal?: AbortSignal): Promise<number> {
    const out = await this.evaluateTo(tokens, signal, 1);
    return out instanceof Float32Array ? argmax(out) : out.ids[0];
  }

  /** evaluate, returning only the `best` largest logits where the backend can (Forward.forward). */
  private async evaluateTo(
    tokens: readonly number[],
    signal: AbortSignal | undefined,
    best?: number,
  ): Promise<Float32Array | TopLogits> {
    if (tokens.length === 0) throw new ChordError('INVALID_ARGUMENT', 'nothing to evaluate');
    if (this.cached.length + tokens.length > this.contextSize) {
      throw new ChordError(
        'CONTEXT_OVERFLOW',
        `${this.cached.length + tokens.length} tokens exceed the context of ${this.contextSize}`,
      );
    }
    const vocab = this.model.info.hparams.vocabSize;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= vocab)
        throw new ChordError('INVALID_ARGUMENT', `token id ${t} is outside the vocabulary`);
    }
    let logits: Float32Array | TopLogits | undefined;
    let i = 0;
    for (const size of prefillBatches(tokens.length)) {
      throwIfAborted(signal);
      const batch = tokens.slice(i, i + size);
      i += size;
      const start = this.cached.length;
      const positions = batch.map((_, j) => start + j);
      logits =
        best === undefined
          ? await this.forwardPass.forward(batch, positions)
          : await this.forwardPass.forward(batch, positions, best);
      this.cached.push(...batch);
    }
    return logits!;
  }

  /** Forgets cached tokens after the first `n`. */
  truncate(n: number): void {
    this.cached.length = Math.min(n, this.cached.length);
  }

  /**
   * Streams a completion of a prompt (raw text, BOS added as the model wants)
   * or of chat messages (rendered with the model's chat template).
   */
  generate(input: string | readonly ChatMessage[], opts: GenerateOptions = {}): Generation {
    return new Generation(this.run(input, opts));
  }

  private async *run(
    input: string | readonly ChatMessage[],
    opts: GenerateOptions,
  ): AsyncGenerator<GenerationChunk, GenerationResult> {
    if (this.busy) throw new ChordError('INVALID_ARGUMENT', 'this sequence is already generating');
    this.busy = true;
    try {
      return yield* this.runExclusive(input, opts);
    } finally {
      this.busy = false;
    }
  }

  private async *runExclusive(
    input: string | readonly ChatMessage[],
    opts: GenerateOptions,
  ): AsyncGenerator<GenerationChunk, GenerationResult> {
    const { model } = this;
    const tokenizer = model.tokenizer;
    const promptTokens =
      typeof input === 'string'
        ? model.tokenize(input, { addSpecial: true, parseSpecial: false })
        : model.tokenize(model.applyChatTemplate(input, { addGenerationPrompt: true }), {
            addSpecial: !model.chatTemplateAddsBos(),
            parseSpecial: true,
          });
    if (promptTokens.length === 0) throw new ChordError('INVALID_ARGUMENT', 'the prompt is empty');
    if (promptTokens.length >= this.contextSize) {
      throw new ChordError(
        'CONTEXT_OVERFLOW',
        `the prompt has ${promptTokens.length} tokens; the context holds ${this.contextSize}`,
      );
    }
    const maxTokens = opts.maxTokens ?? this.contextSize;
    const sampler = new Sampler(opts, model.info.hparams.vocabSize);
    const stop = new StopMatcher(opts.stop ?? []);
    const decoder = tokenizer.createStreamDecoder();
    // The best logits suffice when the sampler needs only them (greedy, top-k) and
    // topLogprobs asks for no more: a token step then reads back ~k values, not the vocabulary.
    const needed = sampler.bestNeeded;
    const want = needed === undefined ? undefined : Math.max(needed, opts.topLogprobs ?? 0);
    const best = want !== undefined && want <= MAX_BEST_LOGITS ? want : undefined;

    // Reuse the longest cached prefix, but always evaluate at least the last prompt token.
    let common = 0;
    while (
      common < this.cached.length &&
      common < promptTokens.length - 1 &&
      this.cached[common] === promptTokens[common]
    )
      common++;
    this.truncate(common);

    const t0 = performance.now();
    let logits = await this.evaluateTo(promptTokens.slice(common), opts.signal, best);
    const t1 = performance.now();

    const history = [...promptTokens];
    const generated: number[] = [];
    let text = '';
    let finishReason: FinishReason = 'length';
    while (generated.length < maxTokens) {
      if (opts.signal?.aborted) {
        finishReason = 'abort';
        break;
      }
      let top: TokenProbability[] | undefined;
      let id: number;
      if (logits instanceof Float32Array) {
        top = opts.topLogprobs ? topKProbabilities(logits, opts.topLogprobs) : undefined;
        id = sampler.sample(logits, history);
      } else {
        top = opts.topLogprobs ? topLogitProbabilities(logits, opts.topLogprobs) : undefined;
        id = sampler.sampleTop(logits);
      }
      generated.push(id);
      history.push(id);
      if (tokenizer.isEog(id) && !opts.ignoreEog) {
        // The end token is reported (with its distribution) but has no text.
        yield { text: '', tokenId: id, top };
        finishReason = 'eog';
        break;
      }
      const { emit, stopped } = stop.push(decoder.push(id));
      text += emit;
      yield { text: emit, tokenId: id, top };
      if (stopped) {
        finishReason = 'stop';
        break;
      }
      if (opts.signal?.aborted) {
        finishReason = 'abort';
        break;
      }
      if (generated.length >= maxTokens) break;
      if (this.cached.length >= this.contextSize) {
        finishReason = 'context';
        break;
      }
      logits = await this.evaluateTo([id], opts.signal, best);
    }
    if (finishReason !== 'stop') {
      const tail = stop.push(decoder.flush()).emit + stop.flush();
      if (tail) {
        text += tail;
        yield { text: tail, tokenId: -1 };
      }
    }
    const t2 = performance.now();
    const decoded = Math.max(0, generated.length - 1);
    return {
      text,
      tokens: generated,
      promptTokens,
      finishReason,
      usage: { promptTokens: promptTokens.length, completionTokens: generated.length },
      timings: {
        prefillMs: t1 - t0,
        decodeMs: t2 - t1,
        prefillTokPerS: ((promptTokens.length - common) / (t1 - t0)) * 1000,
        decodeTokPerS: decoded > 0 ? (decoded / (t2 - t1)) * 1000 : 0,
      },
    };
  }
}

/** An async iterable of chunks that also resolves the whole result. */
export class Generation implements AsyncIterable<GenerationChunk> {
  private readonly result: Promise<GenerationResult>;
  private resolveDone!: (r: GenerationResult) => void;
  private rejectDone!: (e: unknown) => void;
  private started = false;
  private settled = false;

  constructor(private readonly gen: AsyncGenerator<GenerationChunk, GenerationResult>) {
    this.result = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.result.catch(() => {}); // observed through iteration; avoid unhandled rejections
  }

  /**
   * The whole result: usage, timings, finish reason. Awaiting it before
   * iterating runs the generation to its end (and the chunks are not seen).
   */
  get done(): Promise<GenerationResult> {
    if (!this.started) void this.drain();
    return this.result;
  }

  private async drain(): Promise<void> {
    try {
      for await (const _ of this);
    } catch {
      // reported through result
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GenerationChunk> {
    if (this.started) throw new ChordError('INVALID_ARGUMENT', 'a generation can be iterated once');
    this.started = true;
    try {
      while (true) {
        const r = await this.gen.next();
        if (r.done) {
          this.settled = true;
          this.resolveDone(r.value);
          return;
        }
        yield r.value;
      }
    } catch (e) {
      this.settled = true;
      this.rejectDone(e);
      throw e;
    } finally {
      await this.gen.return(undefined as never);
      // The consumer stopped iterating early: the generation ends there.
      if (!this.settled) this.rejectDone(new ChordError('ABORTED', 'the caller stopped reading the generation'));
    }
  }

  /** Runs the generation to its end and returns the whole text. */
  async text(): Promise<string> {
    return (await this.done).text;
  }
}
