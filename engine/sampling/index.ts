export {
  allCandidates,
  applyMinP,
  applyPenalties,
  applyTopK,
  applyTopP,
  type CandidateSet,
  type PenaltyParams,
  penaltiesEnabled,
  sampleCandidate,
} from './chain.ts';
export { MT19937, randomSeed } from './mt19937.ts';
export { DEFAULT_SAMPLING_PARAMS, type ResolvedSamplingParams, Sampler, type SamplingParams } from './sampler.ts';
export { argmax, softmax, type TokenProbability, topKProbabilities } from './softmax.ts';
export { StopMatcher, type StopPush } from './stop.ts';
export { topLogitProbabilities, topLogits } from './top.ts';
