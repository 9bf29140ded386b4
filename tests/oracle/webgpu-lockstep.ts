/**
 * Where does the WebGPU backend part from the reference backend? Both run the same
 * forward pass in lock step (a Backend that forwards every op to both); after each
 * op the outputs are read back and compared, and (with --resync) the GPU's output
 * is overwritten with the reference's, so every op is measured from equal inputs
 * and its own error shows instead of what earlier ops carried in.
 *
 *   npx vite-node tests/oracle/webgpu-lockstep.ts -- Q8_0 [--resync] [--steps N] [--kv f32] [--all]
 *
 * Prints, per forward pass, the ops whose outputs differ by more than f32
 * rounding (relative 1e-6 of the output's largest value; --all prints every op),
 * and the worst logit error. Used to find the Q8_0/Q4_0 differences in
 * docs/webgpu.md.
 */
import type {
  Activation,
  AttentionParams,
  Backend,
  KVCache,
  KVCacheSpec,
  RopeParams,
  Weight,
} from '../../engine/backend/backend.ts';
import type { WebGPUBackend } from '../../engine/backend/webgpu/index.ts';
import type { GGUFTensorInfo } from '../../engine/gguf/types.ts';
import { FAMILIES } from '../../engine/model/family.ts';
import { assembleWeights, Forward } from '../../engine/model/forward.ts';
import type { Model } from '../../engine/model/model.ts';
import { loadModel } from '../../engine/node/index.ts';
import { fixture } from '../helpers/fixtures.ts';
import { relativeError } from '../unit/engine/backend/webgpu/gpu.ts';
import { PROMPT, STORIES_FILES } from './stories260k.ts';

interface Pair {
  rows: number;
  cols: number;
  js: Activation;
  gpu: Activation;
}
interface PairWeight extends Weight {
  js: Weight;
  gpu: Weight;
}
interface PairCache extends KVCache {
  js: KVCache;
  gpu: KVCache;
}

const F32_ROUNDING = 1e-6;

class Lockstep implements Backend {
  readonly name = 'js' as const;
  readonly description = 'lockstep';
  readonly log: string[] = [];
  private pending: Promise<void> = Promise.resolve();
  private op = 0;

  constructor(
    private readonly js: Backend,
    private readonly gpu: WebGPUBackend,
    private readonly resync: boolean,
    private readonly all: boolean,
  ) {}

  /**
   * Snapshots both sides of the op's outputs now (the reference's values, a GPU copy
   * recorded in order), compares them once the GPU has run; resyncs the GPU if asked.
   */
  private check(label: string, ...outs: Activation[]): void {
    const n = ++this.op;
    for (const out of outs) {
      const p = out as unknown as Pair;
      const ref = (p.js as Activation & { data: Float32Array }).data.slice();
      const snap = this.gpu.createActivation(p.rows, p.cols);
      this.gpu.copyCols(p.gpu, 0, snap);
      if (this.resync) this.gpu.writeActivation(p.gpu, ref);
      const prev = this.pending;
      this.pending = (async () => {
        await prev;
        const got = await this.gpu.read(snap);
        const e = relativeError(got, ref);
        let differing = 0;
        for (let i = 0; i < got.length; i++) if (got[i] !== ref[i]) differing++;
        if (this.all || e > F32_ROUNDING) {
          this.log.push(`#${n} ${label}: rel ${e.toExponential(2)}, ${differing}/${got.length} differ`);
        }
      })();
    }
  }

  async settle(): Promise<void> {
    await this.pending;
  }

  async loadWeight(_info: GGUFTensorInfo, _bytes: Uint8Array): Promise<Weight> {
    throw new Error('weights come from the two models');
  }
  createActivation(rows: number, cols: number): Activation {
    const p: Pair = {
      rows,
      cols,
      js: this.js.createActivation(rows, cols),
      gpu: this.gpu.createActivation(rows, cols),
    };
    return p;
  }
  createKVCache(spec: KVCacheSpec): KVCache {
    const c: PairCache = { spec, js: this.js.createKVCache(spec), gpu: this.gpu.createKVCache(spec) };
    return c;
  }
  getRows(table: Weight, ids: readonly number[], out: Activation): void {
    this.js.getRows(w(table).js, ids, a(out).js);
    this.gpu.getRows(w(table).gpu, ids, a(out).gpu);
    this.check(`getRows ${table.name}`, out);
  }
  rmsNorm(x: Activation, weight: Weight, eps: number, out: Activation): void {
    this.js.rmsNorm(a(x).js, w(weight).js, eps, a(out).js);
    this.gpu.rmsNorm(a(x).gpu, w(weight).gpu, eps, a(out).gpu);
    this.check(`rmsNorm ${weight.name}`, out);
  }
  layerNorm(x: Activation, weight: Weight, bias: Weight, eps: number, out: Activation): void {
    this.js.layerNorm(a(x).js, w(weight).js, w(bias).js, eps, a(out).js);
    this.gpu.layerNorm(a(x).gpu, w(weight).gpu, w(bias).gpu, eps, a(out).gpu);
    this.check(`layerNorm ${weight.name}`, out);
  }
  matmul(wt: Weight, x: Activation, out: Activation): void {
    this.js.matmul(w(wt).js, a(x).js, a(out).js);
    this.gpu.matmul(w(wt).gpu, a(x).gpu, a(out).gpu);
    this.check(`matmul ${wt.name} (${x.rows} rows)`, out);
  }
  rope(x: Activation, positions: readonly number[], p: RopeParams): void {
    const factors = p.freqFactors;
    this.js.rope(a(x).js, positions, { ...p, freqFactors: factors && w(factors).js });
    this.gpu.rope(a(x).gpu, positions, { ...p, freqFactors: factors && w(factors).gpu });
    this.check('rope', x);
  }
  kvStore(cache: KVCache, layer: number, k: Activation, v: Activation, positions: readonly number[]): void {
    this.js.kvStore(c(cache).js, layer, a(k).js, a(v).js, positions);
    this.gpu.kvStore(c(cache).gpu, layer, a(k).gpu, a(v).gpu, positions);
  }
  attention(
    cache: KVCache,
    layer: number,
    q: Activation,
    positions: readonly number[],
    p: AttentionParams,
    out: Activation,
  ): void {
    this.js.attention(c(cache).js, layer, a(q).js, positions, p, a(out).js);
    this.gpu.attention(c(cache).gpu, layer, a(q).gpu, positions, p, a(out).gpu);
    this.check(`attention layer ${layer}`, out);
  }
  swiglu(gate: Activation, up: Activation): void {
    this.js.swiglu(a(gate).js, a(up).js);
    this.gpu.swiglu(a(gate).gpu, a(up).gpu);
    this.check('swiglu', gate);
  }
  geglu(gate: Activation, up: Activation): void {
    this.js.geglu(a(gate).js, a(up).js);
    this.gpu.geglu(a(gate).gpu, a(up).gpu);
    this.check('geglu', gate);
  }
  gelu(x: Activation): void {
    this.js.gelu(a(x).js);
    this.gpu.gelu(a(x).gpu);
    this.check('gelu', x);
  }
  add(x: Activation, y: Activation): void {
    this.js.add(a(x).js, a(y).js);
    this.gpu.add(a(x).gpu, a(y).gpu);
    this.check('add', x);
  }
  addBias(x: Activation, bias: Weight): void {
    this.js.addBias(a(x).js, w(bias).js);
    this.gpu.addBias(a(x).gpu, w(bias).gpu);
    this.check(`addBias ${bias.name}`, x);
  }
  scale(x: Activation, s: number): void {
    this.js.scale(a(x).js, s);
    this.gpu.scale(a(x).gpu, s);
    this.check('scale', x);
  }
  softcap(x: Activation, cap: number): void {
    this.js.softcap(a(x).js, cap);
    this.gpu.softcap(a(x).gpu, cap);
    this.check('softcap', x);
  }
  copyRow(x: Activation, row: number, out: Activation): void {
    this.js.copyRow(a(x).js, row, a(out).js);
    this.gpu.copyRow(a(x).gpu, row, a(out).gpu);
  }
  copyCols(x: Activation, offset: number, out: Activation): void {
    this.js.copyCols(a(x).js, offset, a(out).js);
    this.gpu.copyCols(a(x).gpu, offset, a(out).gpu);
  }
  async read(x: Activation): Promise<Float32Array> {
    await this.settle();
    return this.js.read(a(x).js);
  }
  async dispose(): Promise<void> {}
}

const a = (x: Activation) => x as unknown as Pair;
const w = (x: Weight) => x as PairWeight;
const c = (x: KVCache) => x as PairCache;

const argv = process.argv.slice(2).filter((s) => s !== '--');
const format = (argv.find((s) => !s.startsWith('--') && !/^\d+$/.test(s)) ?? 'Q8_0') as keyof typeof STORIES_FILES;
const resync = argv.includes('--resync');
const all = argv.includes('--all');
const stepsAt = argv.indexOf('--steps');
const steps = stepsAt >= 0 ? Number(argv[stepsAt + 1]) : 10;
const kv = argv.includes('--kv') && argv[argv.indexOf('--kv') + 1] === 'f32' ? 'f32' : 'f16';

const path = fixture(STORIES_FILES[format]);
if (!path) throw new Error(`no fixture for ${format}`);
const jsModel = await loadModel(path, { backend: 'js' });
const gpuModel = await loadModel(path, { backend: 'webgpu' });
type Internals = { backend: Backend; weights: ReadonlyMap<string, Weight> };
const [jsIn, gpuIn] = [jsModel as unknown as Internals, gpuModel as unknown as Internals];
const lock = new Lockstep(jsIn.backend, gpuIn.backend as WebGPUBackend, resync, all);
const paired = new Map<string, Weight>();
for (const [name, jw] of jsIn.weights) {
  const pw: PairWeight = { name, type: jw.type, shape: jw.shape, js: jw, gpu: gpuIn.weights.get(name) as Weight };
  paired.set(name, pw);
}
const hp = jsModel.info.hparams;
const family = FAMILIES.get(jsModel.info.arch)!;
const ctx = 64;
const cache = lock.createKVCache({
  nLayers: hp.nLayers,
  nCtx: ctx,
  nKvHeads: hp.nKvHeads,
  headDim: hp.headDim,
  type: kv,
});
const forward = new Forward(lock, hp, family, assembleWeights(family, hp, paired), cache, ctx);
const promptIds = jsModel.tokenize(PROMPT, { addSpecial: true });
let tokens = promptIds;
let pos = 0;
const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best] ? i : best), 0);
for (let step = 0; step <= steps; step++) {
  const positions = tokens.map((_, i) => pos + i);
  lock.log.length = 0;
  const logits = await forward.forward(tokens, positions);
  await lock.settle();
  console.log(`step ${step} (${tokens.length} tokens at ${pos}):`);
  for (const line of lock.log) console.log(`  ${line}`);
  pos += tokens.length;
  tokens = [argmax(logits)];
}
await (jsModel as Model).dispose();
await gpuModel.dispose();
