/**
 * The token sampler: llama.cpp's default chain with its default parameters
 * (common/common.h), from one model output (logits over the vocabulary) to one
 * token id.
 *
 *   penalties -> top_k -> top_p -> min_p -> temperature -> dist
 *
 * temperature <= 0 means greedy: the argmax of the penalized logits (the other
 * stages never remove the best token, so they cannot change it); ties go to the
 * lowest id.
 *
 * Random numbers: MT19937 (as llama.cpp's `std::mt19937`) seeded with a 32-bit
 * seed, and each draw is a uniform double built the way libstdc++ builds one.
 *
 * Per token we copy the logits once (only when penalties are on) and touch a
 * preallocated id list; nothing of vocabulary size is allocated after construction.
 */
import { ChordError } from '../../shared/errors.ts';
import type { TopLogits } from '../backend/backend.ts';
import {
  allCandidates,
  applyMinP,
  applyPenalties,
  applyTopK,
  applyTopP,
  type PenaltyParams,
  penaltiesEnabled,
  sampleCandidate,
} from './chain.ts';
import { MT19937, randomSeed } from './mt19937.ts';
import { argmax } from './softmax.ts';

export interface SamplingParams {
  /** default 0.8 like llama.cpp; <= 0 means greedy (argmax; ties -> lowest id) */
  temperature?: number;
  /** default 40; <= 0 disables */
  topK?: number;
  /** default 0.95; >= 1 disables */
  topP?: number;
  /** default 0.05; <= 0 disables */
  minP?: number;
  /** default 1.0 (off) */
  repeatPenalty?: number;
  /** default 0 */
  presencePenalty?: number;
  /** default 0 */
  frequencyPenalty?: number;
  /** default 64; -1 = the whole history; 0 = penalties off */
  penaltyLastN?: number;
  /** 32-bit unsigned integer; default (or -1): a random seed. Same seed => same tokens. */
  seed?: number;
}

export type ResolvedSamplingParams = Required<Omit<SamplingParams, 'seed'>>;

/** llama.cpp's defaults (common_params_sampling). */
export const DEFAULT_SAMPLING_PARAMS: Readonly<ResolvedSamplingParams> = Object.freeze({
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1.0,
  presencePenalty: 0,
  frequencyPenalty: 0,
  penaltyLastN: 64,
});

function invalid(message: string): ChordError {
  return new ChordError('INVALID_ARGUMENT', message);
}

function resolveParams(params: SamplingParams): ResolvedSamplingParams {
  const p: ResolvedSamplingParams = { ...DEFAULT_SAMPLING_PARAMS };
  for (const key of Object.keys(DEFAULT_SAMPLING_PARAMS) as (keyof ResolvedSamplingParams)[]) {
    const v = params[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw invalid(`sampling parameter ${key} must be a finite number`);
    p[key] = v;
  }
  if (!Number.isInteger(p.topK)) throw invalid(`topK must be an integer, got ${p.topK}`);
  if (!Number.isInteger(p.penaltyLastN) || p.penaltyLastN < -1) {
    throw invalid(`penaltyLastN must be an integer >= -1, got ${p.penaltyLastN}`);
  }
  if (!(p.repeatPenalty > 0)) throw invalid(`repeatPenalty must be > 0, got ${p.repeatPenalty}`);
  return p;
}

function resolveSeed(seed: number | undefined): number | undefined {
  if (seed === undefined || seed === -1) return undefined;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw invalid(`seed must be an integer in [0, 2^32) (or -1 for random), got ${seed}`);
  }
  return seed;
}

export class Sampler {
  readonly params: Readonly<ResolvedSamplingParams>;
  private readonly fixedSeed: number | undefined;
  private currentSeed: number;
  private readonly rng: MT19937;
  /** penalized copy of the logits */
  private readonly work: Float32Array;
  private readonly counts: Uint32Array;
  /** candidate ids and their sampling weights, reused for every token */
  private readonly ids: Int32Array;
  private readonly weights: Float32Array;

  constructor(
    params: SamplingParams,
    readonly vocabSize: number,
  ) {
    if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw invalid(`vocabSize must be a positive integer`);
    this.params = Object.freeze(resolveParams(params));
    this.fixedSeed = resolveSeed(params.seed);
    this.currentSeed = this.fixedSeed ?? randomSeed();
    this.rng = new MT19937(this.currentSeed);
    const penalties = penaltiesEnabled(this.params);
    this.work = penalties ? new Float32Array(vocabSize) : new Float32Array(0);
    this.counts = penalties ? new Uint32Array(vocabSize) : new Uint32Array(0);
    this.ids = new Int32Array(vocabSize);
    this.weights = new Float32Array(vocabSize);
  }

  /** The seed in use (the drawn one when none was given). */
  get seed(): number {
    return this.currentSeed;
  }

  /**
   * One token id from `logits` (vocabSize long; not modified). `history` holds
   * the previous token ids (prompt + generated) that the penalties look at.
   */
  sample(logits: Float32Array, history: readonly number[]): number {
    if (logits.length !== this.vocabSize) {
      throw invalid(`logits have length ${logits.length}, expected the vocabulary size ${this.vocabSize}`);
    }
    const p = this.params;
    let source = logits;
    if (penaltiesEnabled(p) && history.length > 0) {
      this.work.set(logits);
      applyPenalties(this.work, history, p as PenaltyParams, this.counts);
      source = this.work;
    }
    if (p.temperature <= 0) return argmax(source);

    const c = allCandidates(source, this.ids);
    applyTopK(c, p.topK);
    applyTopP(c, p.topP);
    applyMinP(c, p.minP);
    return sampleCandidate(c, p.temperature, this.rng, this.weights);
  }

  /**
   * How many of the best logits decide the next token, so that sampleTop from
   * them draws what sample draws from the whole row: 1 when greedy, top_k when
   * the chain starts with it. Undefined when the whole row matters: penalties
   * (they lift or lower tokens of the history wherever they rank) or no top-k.
   */
  get bestNeeded(): number | undefined {
    const p = this.params;
    if (penaltiesEnabled(p)) return undefined;
    if (p.temperature <= 0) return 1;
    return p.topK > 0 ? Math.min(p.topK, this.vocabSize) : undefined;
  }

  /**
   * sample() from the best logits alone (at least bestNeeded of them, in rank
   * order): the same token, the same random draw. The stages run on ranks into
   * `top`, which order as ids do (equal logits are listed lower id first).
   */
  sampleTop(top: TopLogits): number {
    const need = this.bestNeeded;
    const size = top.ids.length;
    if (need === undefined || size < need) {
      throw invalid(`sampling needs ${need ?? 'all'} of the best logits, got ${size}`);
    }
    const p = this.params;
    if (p.temperature <= 0) return top.ids[0];
    for (let r = 0; r < size; r++) this.ids[r] = r;
    const c = { logits: top.logits, ids: this.ids, size, sorted: true };
    applyTopK(c, p.topK);
    applyTopP(c, p.topP);
    applyMinP(c, p.minP);
    return top.ids[sampleCandidate(c, p.temperature, this.rng, this.weights)];
  }

  /** Restarts the random sequence: the same seed again, or a fresh random one when none was given. */
  reset(): void {
    this.currentSeed = this.fixedSeed ?? randomSeed();
    this.rng.seed(this.currentSeed);
  }
}
