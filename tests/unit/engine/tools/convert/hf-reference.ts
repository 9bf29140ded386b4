/**
 * The Hugging Face side of the converter's check: a plain float64 forward pass
 * written from the transformers modeling code (modeling_llama / qwen2 / phi /
 * phi3 / gemma / gemma2), on the weights of the HF folder as they are, in HF's
 * own conventions: rotate_half RoPE on [first half | second half] of each head,
 * Gemma's RMSNorm multiplying by (1 + w), Phi-3's fused projections, Phi-2's
 * parallel attention and MLP. If the converted GGUF gives llama.cpp the same
 * next-token distribution, the converter's renaming, permutations and +1 are right.
 *
 * Only what the tests need: the logits after the last prompt position, no cache.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBytes } from '../../../../../engine/io/bytes.ts';
import { readSafetensors, readTensorF32 } from '../../../../../engine/tools/safetensors.ts';
import type { HFCase } from './hf-model.ts';

export type Weights = Map<string, Float32Array>;

/** Every tensor of the folder's safetensors files as float32. */
export async function readHFWeights(dir: string, files: readonly string[]): Promise<Weights> {
  const out: Weights = new Map();
  for (const f of files) {
    const source = fromBytes(readFileSync(join(dir, f)), f);
    const st = await readSafetensors(source);
    for (const t of st.tensors.values()) out.set(t.name, await readTensorF32(source, t));
  }
  return out;
}

/** y = W x (+ b) for W [rows, cols] row-major. */
function linear(w: Float32Array, x: Float64Array, rows: number, b?: Float32Array): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += w[o + c] * x[c];
    y[r] = s + (b ? b[r] : 0);
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number, plusOne: boolean): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * scale * (plusOne ? 1 + w[i] : w[i]));
}

function layerNorm(x: Float64Array, w: Float32Array, b: Float32Array, eps: number): Float64Array {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  const scale = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * scale * w[i] + b[i]);
}

const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
const silu = (x: number) => x / (1 + Math.exp(-x));

/**
 * rotate_half RoPE on the first 2·invFreq.length dims of each head, in place. `interleaved`
 * rotates adjacent pairs instead (llama.cpp's layout): used only to show the test
 * tells the two apart.
 */
function rope(
  v: Float64Array,
  nHeads: number,
  hd: number,
  invFreq: readonly number[],
  pos: number,
  interleaved = false,
) {
  const half = invFreq.length;
  for (let h = 0; h < nHeads; h++) {
    const o = h * hd;
    for (let i = 0; i < half; i++) {
      const angle = pos * invFreq[i];
      const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
      const [a, b] = interleaved ? [o + 2 * i, o + 2 * i + 1] : [o + i, o + i + half];
      const [x0, x1] = [v[a], v[b]];
      v[a] = x0 * cos - x1 * sin;
      v[b] = x1 * cos + x0 * sin;
    }
  }
}

export interface ReferenceOptions {
  /** Rotate adjacent pairs instead of halves (a deliberately wrong model, for the negative check). */
  interleavedRope?: boolean;
  /** Ignore config.json's rope_scaling (a deliberately wrong model, for the negative check). */
  ignoreRopeScaling?: boolean;
}

/**
 * RoPE inverse frequencies, with transformers' `llama3` rope_scaling
 * (_compute_llama3_parameters): long wavelengths divided by `factor`, short ones
 * kept, a smooth blend between.
 */
function inverseFrequencies(rotDims: number, theta: number, scaling: Record<string, number> | undefined): number[] {
  const invFreq = Array.from({ length: rotDims / 2 }, (_, i) => 1 / theta ** ((2 * i) / rotDims));
  if (scaling === undefined) return invFreq;
  const {
    factor,
    low_freq_factor: low,
    high_freq_factor: high,
    original_max_position_embeddings: oldContext,
  } = scaling;
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < oldContext / high) return f;
    if (wavelen > oldContext / low) return f / factor;
    const smooth = (oldContext / wavelen - low) / (high - low);
    return ((1 - smooth) * f) / factor + smooth * f;
  });
}

/** Logits after the last of `tokens` (positions 0..n-1). */
export function hfLogits(
  c: HFCase,
  config: Record<string, number>,
  w: Weights,
  tokens: readonly number[],
  opts: ReferenceOptions = {},
): Float64Array {
  const W = (name: string) => {
    const t = w.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t;
  };
  const d = c.dim;
  const hd = (config.head_dim as number | undefined) ?? d / c.nHeads;
  const nKv = c.family === 'phi2' ? c.nHeads : c.nKvHeads;
  const qDim = c.nHeads * hd;
  const kvDim = nKv * hd;
  const gemma = c.family === 'gemma' || c.family === 'gemma2';
  const eps = (config.rms_norm_eps ?? config.layer_norm_eps) as number;
  const theta = (config.rope_theta as number | undefined) ?? 10000;
  const rotDims = c.family === 'phi2' ? Math.floor(hd * (config.partial_rotary_factor as number)) : hd;
  const norm = (x: Float64Array, name: string) => rmsNorm(x, W(name), eps, gemma);
  const scaling = config.rope_scaling as unknown as Record<string, number> | undefined;
  if (scaling && (scaling as unknown as Record<string, string>).rope_type !== 'llama3') {
    throw new Error('reference: only llama3 rope_scaling');
  }
  const invFreq = inverseFrequencies(rotDims, theta, opts.ignoreRopeScaling ? undefined : scaling);

  let xs = tokens.map((t) => {
    const e = W('model.embed_tokens.weight').subarray(t * d, (t + 1) * d);
    return Float64Array.from(e, (v) => (gemma ? v * Math.sqrt(d) : v));
  });
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}`;
    const hs = xs.map((x) =>
      c.family === 'phi2'
        ? layerNorm(x, W(`${p}.input_layernorm.weight`), W(`${p}.input_layernorm.bias`), eps)
        : norm(x, `${p}.input_layernorm.weight`),
    );
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    hs.forEach((h, pos) => {
      let q: Float64Array;
      let k: Float64Array;
      let v: Float64Array;
      if (c.family === 'phi3') {
        const qkv = linear(W(`${p}.self_attn.qkv_proj.weight`), h, qDim + 2 * kvDim);
        [q, k, v] = [qkv.slice(0, qDim), qkv.slice(qDim, qDim + kvDim), qkv.slice(qDim + kvDim)];
      } else {
        const bias = (m: string) => w.get(`${p}.self_attn.${m}.bias`);
        q = linear(W(`${p}.self_attn.q_proj.weight`), h, qDim, bias('q_proj'));
        k = linear(W(`${p}.self_attn.k_proj.weight`), h, kvDim, bias('k_proj'));
        v = linear(W(`${p}.self_attn.v_proj.weight`), h, kvDim, bias('v_proj'));
      }
      rope(q, c.nHeads, hd, invFreq, pos, opts.interleavedRope);
      rope(k, nKv, hd, invFreq, pos, opts.interleavedRope);
      qs.push(q);
      ks.push(k);
      vs.push(v);
    });
    const scale = 1 / Math.sqrt(c.family === 'gemma2' ? (config.query_pre_attn_scalar as number) : hd);
    const softcap = c.family === 'gemma2' ? (config.attn_logit_softcapping as number) : undefined;
    xs = xs.map((x, pos) => {
      const attn = new Float64Array(qDim);
      for (let h = 0; h < c.nHeads; h++) {
        const kvh = Math.floor(h / (c.nHeads / nKv));
        const scores = new Float64Array(pos + 1);
        for (let j = 0; j <= pos; j++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += qs[pos][h * hd + i] * ks[j][kvh * hd + i];
          s *= scale;
          scores[j] = softcap ? Math.tanh(s / softcap) * softcap : s;
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let j = 0; j <= pos; j++) sum += scores[j] = Math.exp(scores[j] - max);
        for (let j = 0; j <= pos; j++) {
          for (let i = 0; i < hd; i++) attn[h * hd + i] += (scores[j] / sum) * vs[j][kvh * hd + i];
        }
      }
      const outName = c.family === 'phi2' ? `${p}.self_attn.dense` : `${p}.self_attn.o_proj`;
      let o = linear(W(`${outName}.weight`), attn, d, w.get(`${outName}.bias`));
      if (c.family === 'phi2') {
        // Attention and MLP side by side from the same normed input.
        const h = hs[pos];
        const up = linear(W(`${p}.mlp.fc1.weight`), h, c.ffn, W(`${p}.mlp.fc1.bias`)).map(geluTanh);
        const mlp = linear(W(`${p}.mlp.fc2.weight`), up, d, W(`${p}.mlp.fc2.bias`));
        return x.map((v, i) => v + o[i] + mlp[i]);
      }
      if (c.family === 'gemma2') o = norm(o, `${p}.post_attention_layernorm.weight`);
      const mid = x.map((v, i) => v + o[i]);
      const h2 = norm(
        mid,
        c.family === 'gemma2' ? `${p}.pre_feedforward_layernorm.weight` : `${p}.post_attention_layernorm.weight`,
      );
      let gate: Float64Array;
      let up: Float64Array;
      if (c.family === 'phi3') {
        const gu = linear(W(`${p}.mlp.gate_up_proj.weight`), h2, 2 * c.ffn);
        [gate, up] = [gu.slice(0, c.ffn), gu.slice(c.ffn)];
      } else {
        gate = linear(W(`${p}.mlp.gate_proj.weight`), h2, c.ffn);
        up = linear(W(`${p}.mlp.up_proj.weight`), h2, c.ffn);
      }
      const act = gemma ? geluTanh : silu;
      let f = linear(
        W(`${p}.mlp.down_proj.weight`),
        gate.map((g, i) => act(g) * up[i]),
        d,
      );
      if (c.family === 'gemma2') f = norm(f, `${p}.post_feedforward_layernorm.weight`);
      return mid.map((v, i) => v + f[i]);
    });
  }
  const last = xs[xs.length - 1];
  const final =
    c.family === 'phi2'
      ? layerNorm(last, W('model.final_layernorm.weight'), W('model.final_layernorm.bias'), eps)
      : norm(last, 'model.norm.weight');
  const vocab = W('model.embed_tokens.weight').length / d;
  const head = w.get('lm_head.weight') ?? W('model.embed_tokens.weight');
  const logits = linear(head, final, vocab, w.get('lm_head.bias'));
  const cap = c.family === 'gemma2' ? (config.final_logit_softcapping as number) : undefined;
  return cap ? logits.map((l) => Math.tanh(l / cap) * cap) : logits;
}
