/**
 * llama.cpp as the oracle.
 *
 * We drive llama.cpp itself (the build bundled with node-llama-cpp 3.21.1, CPU
 * only) and read its full next-token distribution at the positions we choose.
 * Everything our engine computes is judged against what this module returns.
 *
 * How a distribution is read: `LlamaContextSequence.controlledEvaluate` with
 * `generateNext: { probabilities: true, token: true }`. With no sampling options
 * node-llama-cpp builds a sampler chain of llama.cpp's greedy sampler alone, which
 * picks the arg-max logit and leaves the logits untouched; the addon then takes a
 * plain float32 softmax of the raw logits (`expf(l - max) / sum`) over the whole
 * vocabulary. So `p` is the temperature-1 softmax of llama.cpp's logits, and
 * `ln(p1 / p2)` is the top1-top2 logit margin (exact up to float32 rounding of
 * expf, ~1e-6 in logit units), which is what `margins` holds.
 *
 * Evaluation order (see docs/oracle.md): the prompt goes in as one batch (one
 * llama_decode, logits only on its last token); every token after it goes in ONE
 * at a time, as a decoding engine feeds it. llama.cpp's batched matmuls round
 * differently from its one-row ones; on stories260K the whole-prompt vs
 * token-by-token prompt differs by ~3e-6 in probability (measured), far below the
 * tolerances we compare at. `promptBatch: false` feeds the prompt one token at a
 * time too.
 *
 * Defaults mirror llama.cpp's own: KV cache F16 (`kvType: 'f16'`), which rounds K
 * and V to half precision, so its probabilities differ from an all-F32 forward
 * pass by ~1e-4. Flash attention is off by default (its CPU kernel also
 * accumulates V in F16); both can be changed per call.
 */
import {
  getLlama,
  type Llama,
  type LlamaContextSequence,
  LlamaLogLevel,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';

/** One next-token distribution: the top-K of the full-vocabulary softmax (temperature 1), p descending, ties by id. */
export interface OracleStep {
  top: { id: number; p: number }[];
  /** The whole distribution indexed by token id, only when asked for (`fullDistribution: true`). */
  probs?: Float32Array;
}

export interface OracleRun {
  /** Tokens the model saw before the first step (BOS included when it was added). */
  promptTokens: number[];
  /** The token chosen after each step: greedy arg-max (llamaCppGreedy) or the forced token (llamaCppForced). */
  tokens: number[];
  /** steps[i] is the distribution from which tokens[i] was chosen. */
  steps: OracleStep[];
  /**
   * Per step, the top1-top2 LOGIT margin, computed as ln(p1 / p2) from the float32
   * probabilities (equal to logit1 - logit2 up to ~1e-6). Infinity when p2
   * underflowed to 0 (a margin beyond ~100 nats).
   */
  margins: number[];
}

export interface OracleEvalOptions {
  /** How many of the most probable tokens to keep per step (default 5). */
  topK?: number;
  /** Context size to allocate; default: enough for the run, at least 256. */
  contextSize?: number;
  /**
   * CPU threads for llama.cpp (default 1). Results are bit-identical for any
   * count (measured), and llama.cpp's threads spin at their barriers: on a busy
   * 2-core machine (vitest runs test files in parallel) 2 threads took 20 s for
   * a 30-token stories260K run that 1 thread does in 0.3 s. Raise it for big models on an idle machine.
   */
  threads?: number;
  /** KV cache element type: 'f16' is llama.cpp's default; 'f32' removes that rounding. */
  kvType?: 'f16' | 'f32';
  /** llama.cpp flash attention (default true: llama.cpp's 'auto' turns it on for the CPU, and chord mirrors that path). */
  flashAttention?: boolean;
  /** Evaluate the prompt as one batch (default true) or one token at a time. */
  promptBatch?: boolean;
  /** Also keep each step's whole distribution in `OracleStep.probs`. */
  fullDistribution?: boolean;
}

export interface OracleGreedyOptions extends OracleEvalOptions {
  /** Prepend BOS; default: as llama.cpp does for this model (tokenizer.ggml.add_bos_token). */
  addBos?: boolean;
  /** Tokenize special-token text (`<s>`) as the special token (default false). */
  parseSpecial?: boolean;
  /** Stop after an end-of-generation token (it is kept as the last token). Default true. */
  stopAtEog?: boolean;
}

// One Llama instance for the process; a few loaded models keyed by path, least
// recently used first. A model some run is still using is never evicted.
let llamaPromise: Promise<Llama> | undefined;
const modelCache = new Map<string, Promise<LlamaModel>>();
const modelsInUse = new Map<string, number>();
const MAX_CACHED_MODELS = 4;

function llamaInstance(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error });
  return llamaPromise;
}

/**
 * Runs `body` with a loaded model, from the cache when possible. A vocab-only
 * load (for tokenizing only) is cheaper; a full load also serves tokenizing.
 */
async function withModel<T>(
  modelPath: string,
  vocabOnly: boolean,
  body: (model: LlamaModel) => Promise<T> | T,
): Promise<T> {
  const key = !vocabOnly || modelCache.has(modelPath) ? modelPath : `${modelPath}\0vocab`;
  let entry = modelCache.get(key);
  if (entry)
    modelCache.delete(key); // re-inserted below as the most recently used
  else {
    const llama = await llamaInstance();
    entry = llama.loadModel({ modelPath, gpuLayers: 0, vocabOnly: key !== modelPath });
    entry.catch(() => modelCache.delete(key));
  }
  modelCache.set(key, entry);
  modelsInUse.set(key, (modelsInUse.get(key) ?? 0) + 1);
  try {
    evictIdleModels();
    return await body(await entry);
  } finally {
    const n = (modelsInUse.get(key) ?? 1) - 1;
    if (n > 0) modelsInUse.set(key, n);
    else modelsInUse.delete(key);
  }
}

function evictIdleModels(): void {
  for (const [key, entry] of modelCache) {
    if (modelCache.size <= MAX_CACHED_MODELS) return;
    if (modelsInUse.has(key)) continue;
    modelCache.delete(key);
    void entry.then((m) => m.dispose()).catch(() => {});
  }
}

/** Dispose every loaded model and the Llama instance (call in afterAll). */
export async function disposeOracle(): Promise<void> {
  const models = [...modelCache.values()];
  modelCache.clear();
  for (const m of models) await m.then((model) => model.dispose()).catch(() => {});
  const llama = llamaPromise;
  llamaPromise = undefined;
  if (llama) await (await llama).dispose();
}

/**
 * llama.cpp's tokenizer. Defaults are those of llama.cpp's tokenizer tests:
 * addSpecial false, parseSpecial false. addSpecial adds BOS / EOS as the model's
 * add_bos_token / add_eos_token flags ask (node-llama-cpp tokenizes with
 * add_special off; for SPM/BPE vocabularies adding BOS here is what
 * llama_tokenize(add_special = true) does, WPM's CLS/SEP are not emulated).
 */
export async function llamaCppTokenize(
  modelPath: string,
  text: string,
  opts: { addSpecial?: boolean; parseSpecial?: boolean } = {},
): Promise<number[]> {
  return withModel(modelPath, true, (model) => {
    const ids: number[] = [...model.tokenize(text, opts.parseSpecial ?? false)];
    if (opts.addSpecial) {
      const { bos, eos, shouldPrependBosToken, shouldAppendEosToken } = model.tokens;
      if (shouldPrependBosToken && bos != null) ids.unshift(bos);
      if (shouldAppendEosToken && eos != null) ids.push(eos);
    }
    return ids;
  });
}

/** llama.cpp's detokenizer (for messages and debugging). */
export async function llamaCppDetokenize(modelPath: string, ids: number[]): Promise<string> {
  return withModel(modelPath, true, (model) => model.detokenize(ids as Token[]));
}

/**
 * Greedy continuation of `prompt`: after the prompt, repeatedly take the arg-max
 * token (ties -> lowest id) and feed it back one token at a time.
 */
export async function llamaCppGreedy(
  modelPath: string,
  prompt: string,
  nTokens: number,
  opts: OracleGreedyOptions = {},
): Promise<OracleRun> {
  return withModel(modelPath, false, async (model) => {
    const addBos = opts.addBos ?? model.tokens.shouldPrependBosToken;
    const promptTokens: number[] = [...model.tokenize(prompt, opts.parseSpecial ?? false)];
    if (addBos && model.tokens.bos != null) promptTokens.unshift(model.tokens.bos);
    const stopAtEog = opts.stopAtEog ?? true;

    return withSequence(model, promptTokens.length + nTokens, opts, async (sequence) => {
      const run: OracleRun = { promptTokens, tokens: [], steps: [], margins: [] };
      let next = await evaluatePrompt(sequence, promptTokens, opts);
      for (let i = 0; i < nTokens; i++) {
        const step = summarize(next.probabilities, opts);
        const token = argmax(next.probabilities);
        // llama.cpp's greedy sampler works on the logits; our arg-max on the
        // probabilities must name the same token (only an expf collapse of two
        // distinct logits could separate them).
        if (
          next.sampled !== token &&
          next.probabilities.get(next.sampled as Token) !== next.probabilities.get(token as Token)
        )
          throw new Error(`oracle: llama.cpp greedy picked ${next.sampled}, arg-max of probabilities is ${token}`);
        run.steps.push(step.step);
        run.margins.push(step.margin);
        run.tokens.push(token);
        if (stopAtEog && model.isEogToken(token as Token)) break;
        if (i + 1 < nTokens) next = await evaluateOne(sequence, token);
      }
      return run;
    });
  });
}

/**
 * Teacher forcing: the distribution before each forced token. steps[0] follows
 * the prompt; steps[i] follows prompt + forced[0..i-1], each forced token fed one
 * at a time. The last forced token is never evaluated (nothing follows it).
 */
export async function llamaCppForced(
  modelPath: string,
  promptTokens: number[],
  forced: number[],
  opts: OracleEvalOptions = {},
): Promise<OracleRun> {
  if (promptTokens.length === 0) throw new Error('oracle: teacher forcing needs at least one prompt token');
  const run: OracleRun = { promptTokens: [...promptTokens], tokens: [...forced], steps: [], margins: [] };
  if (forced.length === 0) return run;
  return withModel(modelPath, false, (model) =>
    withSequence(model, promptTokens.length + forced.length, opts, async (sequence) => {
      let next = await evaluatePrompt(sequence, promptTokens, opts);
      for (let i = 0; i < forced.length; i++) {
        const step = summarize(next.probabilities, opts);
        run.steps.push(step.step);
        run.margins.push(step.margin);
        if (i + 1 < forced.length) next = await evaluateOne(sequence, forced[i]);
      }
      return run;
    }),
  );
}

interface NextToken {
  probabilities: Map<Token, number>;
  sampled: number;
}

async function withSequence<T>(
  model: LlamaModel,
  tokensNeeded: number,
  opts: OracleEvalOptions,
  body: (sequence: LlamaContextSequence) => Promise<T>,
): Promise<T> {
  const contextSize = opts.contextSize ?? Math.max(256, Math.ceil((tokensNeeded + 1) / 256) * 256);
  if (tokensNeeded > contextSize)
    throw new Error(`oracle: ${tokensNeeded} tokens do not fit a context of ${contextSize}`);
  const kv = opts.kvType === 'f32' ? 'F32' : 'F16';
  const context = await model.createContext({
    contextSize,
    sequences: 1,
    threads: opts.threads ?? 1,
    flashAttention: opts.flashAttention ?? true,
    experimentalKvCacheKeyType: kv,
    experimentalKvCacheValueType: kv,
  });
  try {
    return await body(context.getSequence());
  } finally {
    await context.dispose();
  }
}

const WANT_NEXT = { generateNext: { probabilities: true, token: true } } as const;

function nextOf(output: Awaited<ReturnType<LlamaContextSequence['controlledEvaluate']>>[number]): NextToken {
  const probabilities = output?.next.probabilities;
  const sampled = output?.next.token;
  if (!probabilities || sampled == null) throw new Error('oracle: llama.cpp returned no distribution');
  return { probabilities, sampled };
}

async function evaluatePrompt(
  sequence: LlamaContextSequence,
  promptTokens: number[],
  opts: OracleEvalOptions,
): Promise<NextToken> {
  const last = promptTokens.length - 1;
  if (opts.promptBatch ?? true) {
    const out = await sequence.controlledEvaluate(
      promptTokens.map((t, i) => (i === last ? [t as Token, WANT_NEXT] : (t as Token))),
    );
    return nextOf(out[last]);
  }
  for (let i = 0; i < last; i++) await sequence.controlledEvaluate([promptTokens[i] as Token]);
  return evaluateOne(sequence, promptTokens[last]);
}

async function evaluateOne(sequence: LlamaContextSequence, token: number): Promise<NextToken> {
  const out = await sequence.controlledEvaluate([[token as Token, WANT_NEXT]]);
  return nextOf(out[0]);
}

/** Arg-max over the whole distribution, ties to the lowest id (as llama.cpp's greedy sampler). */
function argmax(probabilities: Map<Token, number>): number {
  let best = -1;
  let bestP = Number.NEGATIVE_INFINITY;
  for (const [id, p] of probabilities) {
    if (p > bestP || (p === bestP && id < best)) {
      best = id;
      bestP = p;
    }
  }
  return best;
}

function summarize(probabilities: Map<Token, number>, opts: OracleEvalOptions): { step: OracleStep; margin: number } {
  const sorted = [...probabilities].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const topK = opts.topK ?? 5;
  const step: OracleStep = { top: sorted.slice(0, topK).map(([id, p]) => ({ id, p })) };
  if (opts.fullDistribution) {
    // llama.cpp hands back every vocabulary entry, so the map's size is n_vocab.
    const probs = new Float32Array(probabilities.size);
    for (const [id, p] of sorted) probs[id] = p;
    step.probs = probs;
  }
  const p1 = sorted[0]?.[1] ?? 0;
  const p2 = sorted[1]?.[1] ?? 0;
  const margin = p2 > 0 ? Math.log(p1) - Math.log(p2) : Number.POSITIVE_INFINITY;
  return { step, margin };
}
