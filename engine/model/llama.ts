import { ChordError } from '../../shared/errors.ts';
import type { Activation, Backend, KVCache, Weight } from '../backend/backend.ts';
import type { HParams } from './hparams.ts';

/** The weights of a llama-family model (Llama 2/3, TinyLlama, SmolLM, Mistral), in backend memory. */
export interface LlamaWeights {
  tokenEmbd: Weight;
  layers: {
    attnNorm: Weight;
    wq: Weight;
    wk: Weight;
    wv: Weight;
    wo: Weight;
    ffnNorm: Weight;
    ffnGate: Weight;
    ffnUp: Weight;
    ffnDown: Weight;
  }[];
  outputNorm: Weight;
  /** token_embd itself when the output is tied. */
  output: Weight;
}

/** Tensor names and shapes (ne0 first) llama.cpp expects for the llama architecture. */
export function llamaTensorShapes(hp: HParams): Map<string, number[]> {
  const q = hp.nHeads * hp.headDim;
  const kv = hp.nKvHeads * hp.headDim;
  const shapes = new Map<string, number[]>([
    ['token_embd.weight', [hp.nEmbd, hp.vocabSize]],
    ['output_norm.weight', [hp.nEmbd]],
  ]);
  for (let l = 0; l < hp.nLayers; l++) {
    const b = `blk.${l}`;
    shapes.set(`${b}.attn_norm.weight`, [hp.nEmbd]);
    shapes.set(`${b}.attn_q.weight`, [hp.nEmbd, q]);
    shapes.set(`${b}.attn_k.weight`, [hp.nEmbd, kv]);
    shapes.set(`${b}.attn_v.weight`, [hp.nEmbd, kv]);
    shapes.set(`${b}.attn_output.weight`, [q, hp.nEmbd]);
    shapes.set(`${b}.ffn_norm.weight`, [hp.nEmbd]);
    shapes.set(`${b}.ffn_gate.weight`, [hp.nEmbd, hp.nFF]);
    shapes.set(`${b}.ffn_up.weight`, [hp.nEmbd, hp.nFF]);
    shapes.set(`${b}.ffn_down.weight`, [hp.nFF, hp.nEmbd]);
  }
  return shapes;
}

export function assembleLlamaWeights(hp: HParams, byName: ReadonlyMap<string, Weight>): LlamaWeights {
  const get = (name: string): Weight => {
    const w = byName.get(name);
    if (!w) throw new ChordError('MODEL_INVALID', `missing tensor ${name}`);
    return w;
  };
  const layers = Array.from({ length: hp.nLayers }, (_, l) => {
    const b = `blk.${l}`;
    return {
      attnNorm: get(`${b}.attn_norm.weight`),
      wq: get(`${b}.attn_q.weight`),
      wk: get(`${b}.attn_k.weight`),
      wv: get(`${b}.attn_v.weight`),
      wo: get(`${b}.attn_output.weight`),
      ffnNorm: get(`${b}.ffn_norm.weight`),
      ffnGate: get(`${b}.ffn_gate.weight`),
      ffnUp: get(`${b}.ffn_up.weight`),
      ffnDown: get(`${b}.ffn_down.weight`),
    };
  });
  const tokenEmbd = get('token_embd.weight');
  return {
    tokenEmbd,
    layers,
    outputNorm: get('output_norm.weight'),
    output: byName.get('output.weight') ?? tokenEmbd,
  };
}

/** Activations for a batch of n tokens, reused across calls of the same size. */
interface Scratch {
  x: Activation;
  xb: Activation;
  q: Activation;
  k: Activation;
  v: Activation;
  att: Activation;
  gate: Activation;
  up: Activation;
  last: Activation;
  lastNorm: Activation;
  logits: Activation;
}

/**
 * The forward pass, after llama2.c's `forward`: embed, then per layer
 * attention and a SwiGLU feed-forward block with pre-norms and residuals, then
 * the output head on the last position.
 */
export class LlamaForward {
  private readonly scratch = new Map<number, Scratch>();

  constructor(
    private readonly be: Backend,
    private readonly hp: HParams,
    private readonly w: LlamaWeights,
    private readonly cache: KVCache,
  ) {}

  /** Evaluates `tokens` at `positions` and returns the logits after the last one. */
  async forward(tokens: readonly number[], positions: readonly number[]): Promise<Float32Array> {
    const { be, hp, w, cache } = this;
    let s = this.scratchFor(tokens.length);
    const rope = {
      nHeads: hp.nHeads,
      headDim: hp.headDim,
      nDims: hp.ropeDims,
      freqBase: hp.ropeFreqBase,
      freqScale: hp.ropeFreqScale,
      mode: 'norm' as const,
    };
    // llama.cpp's kq_scale is a float: 1.0f/sqrtf(n_embd_head)
    const scale = Math.fround(1 / Math.fround(Math.sqrt(hp.headDim)));
    const attn = { nHeads: hp.nHeads, nKvHeads: hp.nKvHeads, headDim: hp.headDim, scale };

    be.getRows(w.tokenEmbd, tokens, s.x);
    for (let l = 0; l < hp.nLayers; l++) {
      const L = w.layers[l];
      // attention
      be.rmsNorm(s.x, L.attnNorm, hp.normEps, s.xb);
      be.matmul(L.wq, s.xb, s.q);
      be.matmul(L.wk, s.xb, s.k);
      be.matmul(L.wv, s.xb, s.v);
      be.rope(s.q, positions, rope);
      be.rope(s.k, positions, { ...rope, nHeads: hp.nKvHeads });
      be.kvStore(cache, l, s.k, s.v, positions);
      be.attention(cache, l, s.q, positions, attn, s.att);
      be.matmul(L.wo, s.att, s.xb);
      if (l === hp.nLayers - 1 && tokens.length > 1) {
        // Only the last position's logits are wanted: like llama.cpp (inp_out_ids), the
        // last layer's feed-forward runs on that row alone (which also decides the
        // kernels llama.cpp picks for it: single-row products).
        const h = this.scratchFor(1);
        be.copyRow(s.x, tokens.length - 1, h.x);
        be.copyRow(s.xb, tokens.length - 1, h.xb);
        s = h;
      }
      be.add(s.x, s.xb);
      // feed-forward
      be.rmsNorm(s.x, L.ffnNorm, hp.normEps, s.xb);
      be.matmul(L.ffnGate, s.xb, s.gate);
      be.matmul(L.ffnUp, s.xb, s.up);
      be.swiglu(s.gate, s.up);
      be.matmul(L.ffnDown, s.gate, s.xb);
      be.add(s.x, s.xb);
    }
    be.copyRow(s.x, s.x.rows - 1, s.last);
    be.rmsNorm(s.last, w.outputNorm, hp.normEps, s.lastNorm);
    be.matmul(w.output, s.lastNorm, s.logits);
    return be.read(s.logits);
  }

  private scratchFor(n: number): Scratch {
    let s = this.scratch.get(n);
    if (!s) {
      const { be, hp } = this;
      const act = (cols: number) => be.createActivation(n, cols);
      s = {
        x: act(hp.nEmbd),
        xb: act(hp.nEmbd),
        q: act(hp.nHeads * hp.headDim),
        k: act(hp.nKvHeads * hp.headDim),
        v: act(hp.nKvHeads * hp.headDim),
        att: act(hp.nHeads * hp.headDim),
        gate: act(hp.nFF),
        up: act(hp.nFF),
        last: be.createActivation(1, hp.nEmbd),
        lastNorm: be.createActivation(1, hp.nEmbd),
        logits: be.createActivation(1, hp.vocabSize),
      };
      this.scratch.set(n, s);
    }
    return s;
  }
}
