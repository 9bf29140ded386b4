import { ChordError } from '../../shared/errors.ts';
import type { Activation, Backend, KVCache, RopeParams, TopLogits, Weight } from '../backend/backend.ts';
import { attentionScale, type Family } from './family.ts';
import type { HParams } from './hparams.ts';

/** One decoder layer's weights; optional ones are absent where the family or the file has none. */
export interface LayerWeights {
  attnNorm: Weight;
  attnNormB?: Weight;
  /** Fused [q | k | v] projection, or the three separate ones. */
  wqkv?: Weight;
  bqkv?: Weight;
  wq?: Weight;
  wk?: Weight;
  wv?: Weight;
  bq?: Weight;
  bk?: Weight;
  bv?: Weight;
  wo: Weight;
  bo?: Weight;
  postAttnNorm?: Weight;
  ffnNorm?: Weight;
  ffnNormB?: Weight;
  ffnGate?: Weight;
  bGate?: Weight;
  /** [nEmbd, nFF], or [nEmbd, 2·nFF] holding gate then up (fusedGateUp). */
  ffnUp: Weight;
  bUp?: Weight;
  ffnDown: Weight;
  bDown?: Weight;
  postFfnNorm?: Weight;
}

export interface ModelWeights {
  tokenEmbd: Weight;
  layers: LayerWeights[];
  outputNorm: Weight;
  outputNormB?: Weight;
  /** token_embd itself when the output is tied. */
  output: Weight;
  outputB?: Weight;
  /** RoPE frequency divisors: rope_freqs (Llama 3.1), or LongRoPE's long/short pair (Phi-3). */
  ropeFreqs?: Weight;
  ropeLong?: Weight;
  ropeShort?: Weight;
}

/** Picks the tensors of `f` out of the loaded weights (names as llama.cpp's llama-arch.cpp). */
export function assembleWeights(f: Family, hp: HParams, byName: ReadonlyMap<string, Weight>): ModelWeights {
  const get = (name: string): Weight => {
    const w = byName.get(name);
    if (!w) throw new ChordError('MODEL_INVALID', `missing tensor ${name}`);
    return w;
  };
  const opt = (name: string): Weight | undefined => byName.get(name);
  const layers = Array.from({ length: hp.nLayers }, (_, l): LayerWeights => {
    const b = `blk.${l}`;
    const fused = byName.has(`${b}.attn_qkv.weight`);
    return {
      attnNorm: get(`${b}.attn_norm.weight`),
      attnNormB: opt(`${b}.attn_norm.bias`),
      ...(fused
        ? { wqkv: get(`${b}.attn_qkv.weight`), bqkv: opt(`${b}.attn_qkv.bias`) }
        : {
            wq: get(`${b}.attn_q.weight`),
            wk: get(`${b}.attn_k.weight`),
            wv: get(`${b}.attn_v.weight`),
            bq: opt(`${b}.attn_q.bias`),
            bk: opt(`${b}.attn_k.bias`),
            bv: opt(`${b}.attn_v.bias`),
          }),
      wo: get(`${b}.attn_output.weight`),
      bo: opt(`${b}.attn_output.bias`),
      postAttnNorm: f.postNorms ? get(`${b}.post_attention_norm.weight`) : undefined,
      ffnNorm: f.parallel ? undefined : get(`${b}.ffn_norm.weight`),
      ffnNormB: opt(`${b}.ffn_norm.bias`),
      ffnGate: f.ffn === 'gelu' || f.fusedGateUp ? undefined : get(`${b}.ffn_gate.weight`),
      bGate: opt(`${b}.ffn_gate.bias`),
      ffnUp: get(`${b}.ffn_up.weight`),
      bUp: opt(`${b}.ffn_up.bias`),
      ffnDown: get(`${b}.ffn_down.weight`),
      bDown: opt(`${b}.ffn_down.bias`),
      postFfnNorm: f.postNorms ? get(`${b}.post_ffw_norm.weight`) : undefined,
    };
  });
  const tokenEmbd = get('token_embd.weight');
  return {
    tokenEmbd,
    layers,
    outputNorm: get('output_norm.weight'),
    outputNormB: opt('output_norm.bias'),
    output: f.output === 'tied' ? tokenEmbd : (byName.get('output.weight') ?? tokenEmbd),
    outputB: f.output === 'tied' ? undefined : opt('output.bias'),
    ropeFreqs: f.ropeFactors ? opt('rope_freqs.weight') : undefined,
    ropeLong: f.ropeFactors ? opt('rope_factors_long.weight') : undefined,
    ropeShort: f.ropeFactors ? opt('rope_factors_short.weight') : undefined,
  };
}

/** Activations for a batch of n tokens, reused across calls of the same size. */
interface Scratch {
  /** The residual stream. */
  x: Activation;
  /** The attention norm's output (and the feed-forward norm's). */
  xb: Activation;
  qkv: Activation;
  q: Activation;
  k: Activation;
  v: Activation;
  att: Activation;
  /** Attention output after attn_output; then the block output added to x. */
  ao: Activation;
  /** Feed-forward output. */
  fo: Activation;
  /** Post-norm output (Gemma 2). */
  pn: Activation;
  gate: Activation;
  up: Activation;
  /** Phi-3's fused gate|up product. */
  gateUp: Activation;
  last: Activation;
  lastNorm: Activation;
  logits: Activation;
}

/**
 * The forward pass of every family, after llama2.c's `forward` and llama.cpp's
 * build_* graphs: embed, then per layer attention and a feed-forward block with
 * their norms and residuals as the family says, then the output head on the
 * last position.
 */
export class Forward {
  private readonly scratch = new Map<number, Scratch>();
  private readonly ropeFactors: Weight | undefined;

  constructor(
    private readonly be: Backend,
    private readonly hp: HParams,
    private readonly f: Family,
    private readonly w: ModelWeights,
    private readonly cache: KVCache,
    contextSize: number,
  ) {
    // llama.cpp's get_rope_factors: rope_freqs if present, else LongRoPE's long factors
    // when the context exceeds the original one, else the short ones.
    this.ropeFactors = w.ropeFreqs ?? (contextSize > hp.nCtxOrigYarn ? w.ropeLong : w.ropeShort);
  }

  /**
   * Evaluates `tokens` at `positions` and returns the logits after the last one.
   * With `best`, where the backend can (readTopK), only the `best` largest logits
   * and the log-sum-exp come back: a token step then reads a few hundred bytes
   * instead of the vocabulary. The whole row still comes back when the backend
   * cannot, or when the row holds a NaN or an infinity (the sampler then decides
   * from the row, as it always has).
   */
  async forward(tokens: readonly number[], positions: readonly number[]): Promise<Float32Array>;
  async forward(
    tokens: readonly number[],
    positions: readonly number[],
    best: number,
  ): Promise<Float32Array | TopLogits>;
  async forward(
    tokens: readonly number[],
    positions: readonly number[],
    best?: number,
  ): Promise<Float32Array | TopLogits> {
    const { be, hp, f, w, cache } = this;
    let s = this.scratchFor(tokens.length);
    const scale = attentionScale(f, hp);
    const qDim = hp.nHeads * hp.headDim;
    const kvDim = hp.nKvHeads * hp.headDim;

    be.getRows(w.tokenEmbd, tokens, s.x);
    if (f.embedScale) be.scale(s.x, Math.fround(Math.sqrt(hp.nEmbd)));
    for (let l = 0; l < hp.nLayers; l++) {
      const L = w.layers[l];
      const swa = hp.slidingWindow > 0 && l % hp.swaPattern < hp.swaPattern - 1;
      // attention
      this.norm(s.x, L.attnNorm, L.attnNormB, s.xb);
      if (L.wqkv) {
        this.linear(L.wqkv, L.bqkv, s.xb, s.qkv);
        be.copyCols(s.qkv, 0, s.q);
        be.copyCols(s.qkv, qDim, s.k);
        be.copyCols(s.qkv, qDim + kvDim, s.v);
      } else {
        this.linear(L.wq!, L.bq, s.xb, s.q);
        this.linear(L.wk!, L.bk, s.xb, s.k);
        this.linear(L.wv!, L.bv, s.xb, s.v);
      }
      const rope = this.ropeParams(swa);
      be.rope(s.q, positions, rope);
      be.rope(s.k, positions, { ...rope, nHeads: hp.nKvHeads });
      if (f.queryPreScale) be.scale(s.q, scale);
      be.kvStore(cache, l, s.k, s.v, positions);
      be.attention(
        cache,
        l,
        s.q,
        positions,
        {
          nHeads: hp.nHeads,
          nKvHeads: hp.nKvHeads,
          headDim: hp.headDim,
          scale: f.queryPreScale ? 1 : scale,
          softcap: hp.attnSoftcap || undefined,
          window: swa ? hp.slidingWindow : undefined,
        },
        s.att,
      );
      this.linear(L.wo, L.bo, s.att, s.ao);
      if (l === hp.nLayers - 1 && tokens.length > 1) {
        // Only the last position's logits are wanted: like llama.cpp (inp_out_ids), the
        // rest of the last layer runs on that row alone (which also decides the
        // kernels llama.cpp picks for it: single-row products).
        const h = this.scratchFor(1);
        const last = tokens.length - 1;
        be.copyRow(s.x, last, h.x);
        be.copyRow(s.ao, last, h.ao);
        if (f.parallel) be.copyRow(s.xb, last, h.xb);
        s = h;
      }
      if (f.parallel) {
        // Phi-2: the feed-forward reads the attention norm too; (attention + ffn) + residual
        this.feedForward(L, s.xb, s);
        be.add(s.ao, s.fo);
        be.add(s.x, s.ao);
        continue;
      }
      be.add(s.x, this.postNorm(L.postAttnNorm, s.ao, s.pn));
      this.norm(s.x, L.ffnNorm!, L.ffnNormB, s.xb);
      this.feedForward(L, s.xb, s);
      be.add(s.x, this.postNorm(L.postFfnNorm, s.fo, s.pn));
    }
    be.copyRow(s.x, s.x.rows - 1, s.last);
    this.norm(s.last, w.outputNorm, w.outputNormB, s.lastNorm);
    this.linear(w.output, w.outputB, s.lastNorm, s.logits);
    if (hp.finalSoftcap) be.softcap(s.logits, hp.finalSoftcap);
    if (best === undefined || !be.readTopK) return be.read(s.logits);
    const top = await be.readTopK(s.logits, Math.min(best, hp.vocabSize));
    return Number.isFinite(top.logSumExp) ? top : be.read(s.logits);
  }

  private ropeParams(swa: boolean): RopeParams {
    const { hp, f } = this;
    return {
      nHeads: hp.nHeads,
      headDim: hp.headDim,
      nDims: hp.ropeDims,
      freqBase: swa ? hp.ropeFreqBaseSwa : hp.ropeFreqBase,
      freqScale: hp.ropeFreqScale,
      mode: f.rope,
      freqFactors: this.ropeFactors,
      attnFactor: hp.ropeAttnFactor,
    };
  }

  /** out = norm(x)·weight (+ bias): RMSNorm or LayerNorm as the family says. */
  private norm(x: Activation, weight: Weight, bias: Weight | undefined, out: Activation): void {
    if (this.f.norm === 'layer') {
      if (!bias) throw new ChordError('MODEL_INVALID', `LayerNorm ${weight.name} has no bias`);
      this.be.layerNorm(x, weight, bias, this.hp.normEps, out);
    } else {
      this.be.rmsNorm(x, weight, this.hp.normEps, out);
    }
  }

  /** Gemma 2's RMSNorm of a block output (into pn), or the output itself. */
  private postNorm(weight: Weight | undefined, x: Activation, pn: Activation): Activation {
    if (!weight) return x;
    this.be.rmsNorm(x, weight, this.hp.normEps, pn);
    return pn;
  }

  /** out = W·x (+ b). */
  private linear(wt: Weight, bias: Weight | undefined, x: Activation, out: Activation): void {
    this.be.matmul(wt, x, out);
    if (bias) this.be.addBias(out, bias);
  }

  /** s.fo = the feed-forward block of x. */
  private feedForward(L: LayerWeights, x: Activation, s: Scratch): void {
    const { be, f } = this;
    if (f.ffn === 'gelu') {
      this.linear(L.ffnUp, L.bUp, x, s.up);
      be.gelu(s.up);
      this.linear(L.ffnDown, L.bDown, s.up, s.fo);
      return;
    }
    if (f.fusedGateUp) {
      be.matmul(L.ffnUp, x, s.gateUp);
      be.copyCols(s.gateUp, 0, s.gate);
      be.copyCols(s.gateUp, this.hp.nFF, s.up);
    } else {
      this.linear(L.ffnUp, L.bUp, x, s.up);
      this.linear(L.ffnGate!, L.bGate, x, s.gate);
    }
    if (f.ffn === 'geglu') be.geglu(s.gate, s.up);
    else be.swiglu(s.gate, s.up);
    this.linear(L.ffnDown, L.bDown, s.gate, s.fo);
  }

  private scratchFor(n: number): Scratch {
    let s = this.scratch.get(n);
    if (!s) {
      const { be, hp, f } = this;
      const act = (cols: number) => be.createActivation(n, cols);
      const qDim = hp.nHeads * hp.headDim;
      const kvDim = hp.nKvHeads * hp.headDim;
      s = {
        x: act(hp.nEmbd),
        xb: act(hp.nEmbd),
        qkv: act(this.w.layers.some((L) => L.wqkv) ? qDim + 2 * kvDim : 1),
        q: act(qDim),
        k: act(kvDim),
        v: act(kvDim),
        att: act(qDim),
        ao: act(hp.nEmbd),
        fo: act(hp.nEmbd),
        pn: act(f.postNorms ? hp.nEmbd : 1),
        gate: act(hp.nFF),
        up: act(hp.nFF),
        gateUp: act(f.fusedGateUp ? 2 * hp.nFF : 1),
        last: be.createActivation(1, hp.nEmbd),
        lastNorm: be.createActivation(1, hp.nEmbd),
        logits: be.createActivation(1, hp.vocabSize),
      };
      this.scratch.set(n, s);
    }
    return s;
  }
}
