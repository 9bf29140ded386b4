import { ChordError } from '../../../shared/errors.ts';
import type { GGUFTensorInfo } from '../../gguf/types.ts';
import { dequantizeRow, rowBytes as rowBytesOf } from '../../quant/index.ts';
import { GGMLType, TYPE_TRAITS } from '../../quant/types.ts';
import { isRepackedOnX86, usesTinyBlas } from '../../quant/x86.ts';
import { cosF32, sinF32 } from '../../quant/x86-math.ts';
import type {
  Activation,
  AttentionParams,
  Backend,
  BackendOptions,
  KVCache,
  KVCacheSpec,
  RopeParams,
  TopLogits,
  Weight,
} from '../backend.ts';
import { geluTableF16 } from '../js/gelu.ts';
import { isQ4_KRepacked } from '../js/q4k-repacked.ts';
import { describeAdapter, isSoftwareAdapter, requestAdapter, requestDevice } from './device.ts';
import { type Binding, f, packParams, Recorder } from './recorder.ts';
import { hasGpuDequant } from './wgsl/formats.ts';
import {
  type ActivationRounding,
  EXACT_THREADS,
  exactLanes,
  getRowsWGSL,
  matmulExactWGSL,
  matmulTiledWGSL,
  matvecWGSL,
  type ProductOrder,
  roundActivationsWGSL,
  TILE_OUT,
  TILE_ROWS,
} from './wgsl/matmul.ts';
import {
  ADD,
  ADD_BIAS,
  ATTENTION_COMBINE,
  attentionTiledWGSL,
  attentionWGSL,
  COPY_COLS,
  COPY_ROW,
  ELEMENTWISE_THREADS,
  GEGLU,
  GELU_INPLACE,
  kvStoreWGSL,
  LAYER_NORM,
  RMS_NORM,
  ROPE,
  SCALE,
  SWIGLU,
} from './wgsl/ops.ts';
import { parseTopK, TOP_K, topKWords } from './wgsl/topk.ts';

export { type GpuNeeds, probeWebGPU, type WebGPUProbe, webgpuForAuto } from './device.ts';

/**
 * The WebGPU backend: weights stay in their GGUF block layout in storage
 * buffers and are decoded inside the WGSL kernels (wgsl/); activations and the
 * KV cache live on the GPU. Every op is recorded into one command encoder and
 * the whole forward pass goes to the GPU in one submission when `read` asks
 * for the logits, the only data that comes back.
 *
 * Arithmetic is f32 throughout. By default, as llama.cpp's CPU backend, the
 * activations entering a product are first rounded to what the weight type's
 * partner format (Q8_0, Q8_K, F16...) can hold; with exactF32 they are not.
 * Products sum in llama.cpp's x86 order (bit for bit the reference) or in GPU
 * order (faster, within tolerances): see productOrder. Norms, RoPE and attention
 * follow llama.cpp's arithmetic either way. An F16 KV cache stores halves packed
 * in u32 and needs no shader-f16.
 */
export interface WebGPUBackendOptions extends BackendOptions {
  /**
   * Largest bytes of one weight buffer; larger tensors are split by rows. Default
   * (and ceiling): the device's maxStorageBufferBindingSize and maxBufferSize.
   */
  maxBindingBytes?: number;
  /** Use subgroup operations where the device has them (default true); false keeps the shared-memory kernels. */
  subgroups?: boolean;
  /**
   * How matrix products sum. 'llama': llama.cpp's x86 CPU order (ProductOrder), the
   * reference's bits, but untiled (one to eight threads per output). 'gpu': the
   * workgroup-reduced matrix × vector and tiled matrix × matrix kernels, which a
   * hardware GPU runs far faster, agreeing with llama.cpp within tolerances.
   * Default: 'llama' on a software adapter (a CPU runs it either way), else 'gpu'.
   */
  productOrder?: 'llama' | 'gpu';
}

/** How activations are rounded before products with weights whose partner format (vecDotType) is this. */
const ACTIVATION_ROUNDING = new Map<GGMLType, ActivationRounding>([
  [GGMLType.Q8_0, 'q8_0'],
  [GGMLType.Q8_1, 'q8_1'], // Q8_0's values, and the f16 block sum weighing the mins
  [GGMLType.Q8_K, 'q8_k'],
  [GGMLType.F16, 'f16'],
  [GGMLType.BF16, 'bf16'],
]);

/**
 * The order in which llama.cpp's x86 CPU build sums a product (see ProductOrder),
 * where the GPU mirrors it: the 32-block formats, F32/F16, the K-quants (Q4_K
 * where llama.cpp repacks it: a multiple of 8 rows). BF16 and other Q4_K run
 * the faster kernels below, in GPU order.
 */
function productOrder(type: GGMLType, nOut: number, nIn: number, rows: number): ProductOrder | undefined {
  if (type === GGMLType.F32 || type === GGMLType.F16) return usesTinyBlas(type, nIn, rows) ? 'tinyblas' : 'vecdot';
  if (isRepackedOnX86(type, nOut)) return 'repacked';
  if (isQ4_KRepacked(type, nOut)) return 'q4k_repacked';
  const blocks = [GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0];
  if (blocks.includes(type)) return 'blocks';
  const kQuants = [GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q5_K, GGMLType.Q6_K];
  return kQuants.includes(type) ? 'kquants' : undefined;
}

/** Matrix products with at most this many rows of X use the matrix × vector kernel. */
const MATVEC_MAX_ROWS = 4;
/**
 * Split-K attention (flash-decoding) for up to this many query rows once they
 * see more than SPLIT_MIN_POSITIONS positions, in parts of about SPLIT_POSITIONS.
 */
const SPLIT_MAX_ROWS = 4;
const SPLIT_MIN_POSITIONS = 512;
const SPLIT_POSITIONS = 256;
const SPLIT_MAX_PARTS = 64;
/** The most workgroups along one grid dimension WebGPU guarantees. */
const MAX_GROUPS = 65535;

interface WeightPart {
  buffer: GPUBuffer;
  /** First row (ne[1] index) held, and how many. */
  rowStart: number;
  rows: number;
}

class GpuWeight implements Weight {
  constructor(
    readonly name: string,
    readonly type: GGMLType,
    readonly shape: readonly number[],
    /** Rows of ne[0] elements, in their GGUF layout; vectors are held as f32 in one part. */
    readonly parts: readonly WeightPart[],
    readonly rowBytes: number,
    /** A vector's values, kept on the CPU too (RoPE frequency factors are read there). */
    readonly values?: Float32Array,
  ) {}
}

class GpuActivation implements Activation {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly buffer: GPUBuffer,
  ) {}
}

class GpuKVCache implements KVCache {
  constructor(
    readonly spec: KVCacheSpec,
    /** Per layer: F32 values, or F16 pairs packed in u32. */
    readonly k: GPUBuffer[],
    readonly v: GPUBuffer[],
  ) {}
}

/** Grid for n threads of the element-wise kernels: [groupsX, groupsY], and the grid's width in threads. */
function elementGrid(n: number): { groups: [number, number, number]; gridX: number } {
  const groups = Math.ceil(n / ELEMENTWISE_THREADS);
  const x = Math.min(groups, MAX_GROUPS);
  return { groups: [x, Math.ceil(groups / x), 1], gridX: x * ELEMENTWISE_THREADS };
}

function invalid(message: string): ChordError {
  return new ChordError('INVALID_ARGUMENT', `webgpu: ${message}`);
}

const f32 = Math.fround;

/**
 * RoPE's (cos, sin) per row and pair, as the reference backend computes them:
 * theta advanced by repeated f32 multiplication, divided by the frequency
 * factor, glibc's cosf/sinf, times the attention factor.
 */
function ropeTable(positions: readonly number[], p: RopeParams, factors: Float32Array | undefined): Float32Array {
  const half = p.nDims / 2;
  const table = new Float32Array(positions.length * half * 2);
  const thetaScale = f32(p.freqBase ** (-2 / p.nDims));
  const freqScale = f32(p.freqScale);
  const mscale = f32(p.attnFactor ?? 1);
  positions.forEach((pos, r) => {
    let theta = f32(pos);
    for (let i = 0; i < half; i++) {
      const angle = f32(freqScale * (factors ? f32(theta / factors[i]) : theta));
      table[(r * half + i) * 2] = f32(cosF32(angle) * mscale);
      table[(r * half + i) * 2 + 1] = f32(sinF32(angle) * mscale);
      theta = f32(theta * thetaScale);
    }
  });
  return table;
}

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  private readonly recorder: Recorder;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly owned = new Set<GPUBuffer>();
  private readonly staging: GPUBuffer[] = [];
  private readonly maxBindingBytes: number;
  private readonly exactF32: boolean;
  private readonly productOrder: 'llama' | 'gpu';
  /** Whether the kernels use subgroup operations (the device has them and the options allow them). */
  readonly subgroups: boolean;
  /** Rounded activations on their way into a product, and their Q8 block scales and sums (grown as needed). */
  private roundedScratch: GPUBuffer | undefined;
  private scaleScratch: GPUBuffer | undefined;
  /** ggml's GELU table, once a model uses GELU. */
  private geluTableBuffer: GPUBuffer | undefined;
  /** Split-K attention parts (grown as needed). */
  private attentionScratch: GPUBuffer | undefined;
  /** readTopK's output (grown as needed). */
  private topScratch: GPUBuffer | undefined;
  private failure: ChordError | undefined;
  private disposed = false;
  /** Bytes of GPU buffers held: weights, activations, KV caches. */
  private heldBytes = 0;

  private constructor(
    private readonly device: GPUDevice,
    readonly description: string,
    opts: WebGPUBackendOptions & { productOrder: 'llama' | 'gpu' },
  ) {
    this.recorder = new Recorder(device);
    this.exactF32 = opts.exactF32 ?? false;
    this.productOrder = opts.productOrder;
    this.subgroups = (opts.subgroups ?? true) && device.features.has('subgroups');
    const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
    this.maxBindingBytes = Math.min(opts.maxBindingBytes ?? limit, limit);
    device.lost.then((info) => {
      if (!this.disposed) this.failure ??= new ChordError('GPU_DEVICE_LOST', `webgpu: device lost: ${info.message}`);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const error = (ev as GPUUncapturedErrorEvent).error;
      const oom = typeof GPUOutOfMemoryError !== 'undefined' && error instanceof GPUOutOfMemoryError;
      this.failure ??= new ChordError(oom ? 'OUT_OF_MEMORY' : 'GPU_DEVICE_LOST', `webgpu: ${error.message}`);
    });
  }

  static async create(opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
    const adapter = await requestAdapter();
    let device: GPUDevice;
    try {
      device = await requestDevice(adapter);
    } catch (e) {
      throw new ChordError('BACKEND_UNAVAILABLE', `webgpu: no device: ${(e as Error).message}`);
    }
    const features = opts.subgroups !== false && device.features.has('subgroups') ? ', subgroups' : '';
    const productOrder = opts.productOrder ?? (isSoftwareAdapter(adapter) ? 'llama' : 'gpu');
    const order = productOrder === 'llama' ? "llama.cpp's CPU order" : 'GPU order';
    const description = `webgpu (${describeAdapter(adapter)}${features}; f32 kernels, products in ${order})`;
    return new WebGPUBackend(device, description, { ...opts, productOrder });
  }

  /** GPU memory held by this backend's buffers. */
  memoryUsage(): { gpuBytes: number } {
    return { gpuBytes: this.heldBytes };
  }

  /** Sets an activation's contents (after the work recorded so far, which is submitted first). */
  writeActivation(a: Activation, values: Float32Array): void {
    this.throwIfFailed();
    if (values.length !== a.rows * a.cols) throw invalid(`${values.length} values for ${a.rows}x${a.cols}`);
    if (this.recorder.dispatches > 0) this.recorder.submit();
    this.device.queue.writeBuffer((a as GpuActivation).buffer, 0, values as Float32Array<ArrayBuffer>);
  }

  async loadWeight(info: GGUFTensorInfo, bytes: Uint8Array): Promise<Weight> {
    this.throwIfFailed();
    const { type, shape } = info;
    if (!hasGpuDequant(type)) {
      throw new ChordError('UNSUPPORTED_QUANT_TYPE', `webgpu: tensor ${info.name} has type ${GGMLType[type] ?? type}`);
    }
    const nIn = shape[0];
    if (shape.length === 1) {
      // Norm weights: decoded once to f32, read by the row kernels as plain floats.
      const values = new Float32Array(nIn);
      dequantizeRow(type, bytes, values, nIn, 0, 0);
      const buffer = await this.upload(new Uint8Array(values.buffer), info.name);
      return new GpuWeight(info.name, type, shape, [{ buffer, rowStart: 0, rows: 1 }], nIn * 4, values);
    }
    const rowBytes = rowBytesOf(type, nIn);
    const nRows = shape.slice(1).reduce((a, b) => a * b, 1);
    const rowsPerPart = Math.floor(this.maxBindingBytes / rowBytes);
    if (rowsPerPart < 1) {
      throw new ChordError('OUT_OF_MEMORY', `webgpu: one row of ${info.name} exceeds the device's buffer limits`);
    }
    const parts: WeightPart[] = [];
    for (let rowStart = 0; rowStart < nRows; rowStart += rowsPerPart) {
      const rows = Math.min(rowsPerPart, nRows - rowStart);
      const slice = bytes.subarray(rowStart * rowBytes, (rowStart + rows) * rowBytes);
      parts.push({ buffer: await this.upload(slice, info.name), rowStart, rows });
    }
    return new GpuWeight(info.name, type, shape, parts, rowBytes);
  }

  createActivation(rows: number, cols: number): Activation {
    return new GpuActivation(rows, cols, this.createBuffer(rows * cols * 4));
  }

  createKVCache(spec: KVCacheSpec): KVCache {
    const width = spec.nKvHeads * spec.headDim;
    if (spec.type === 'f16' && width % 2 !== 0) throw invalid('an F16 KV cache needs an even row width');
    const bytes = spec.nCtx * width * (spec.type === 'f16' ? 2 : 4);
    if (bytes > this.maxBindingBytes) {
      throw new ChordError('OUT_OF_MEMORY', `webgpu: a KV cache layer of ${bytes} bytes exceeds the device's limits`);
    }
    const layers = () => Array.from({ length: spec.nLayers }, () => this.createBuffer(bytes));
    return new GpuKVCache(spec, layers(), layers());
  }

  getRows(table: Weight, ids: readonly number[], out: Activation): void {
    const w = table as GpuWeight;
    const o = out as GpuActivation;
    const n = w.shape[0];
    if (o.cols !== n || o.rows < ids.length) throw invalid(`getRows into ${o.rows}x${o.cols}`);
    const idSlice = this.recorder.arena.put(new Uint8Array(Uint32Array.from(ids).buffer));
    const grid = elementGrid(ids.length * Math.ceil(n / 16));
    const pipeline = this.pipeline(`getRows:${w.type}`, () => getRowsWGSL(w.type));
    for (const part of w.parts) {
      const params = this.params([n, w.rowBytes, part.rowStart, part.rows, ids.length, grid.gridX]);
      this.dispatch(pipeline, [params, part.buffer, idSlice, o.buffer], grid.groups);
    }
  }

  rmsNorm(x: Activation, weight: Weight, eps: number, out: Activation): void {
    const xs = x as GpuActivation;
    const g = this.vector(weight, x.cols);
    const params = this.params([x.cols, f(eps)]);
    this.dispatch(
      this.pipeline('rmsNorm', () => RMS_NORM),
      [params, xs.buffer, g, (out as GpuActivation).buffer],
      [x.rows, 1, 1],
    );
  }

  matmul(w: Weight, x: Activation, out: Activation): void {
    const wt = w as GpuWeight;
    const [nIn, nOut] = wt.shape;
    if (x.cols !== nIn || out.cols !== nOut || out.rows !== x.rows) {
      throw invalid(`matmul ${wt.name} [${wt.shape}] with ${x.rows}x${x.cols} into ${out.rows}x${out.cols}`);
    }
    const order = this.exactF32 || this.productOrder === 'gpu' ? undefined : productOrder(wt.type, nOut, nIn, x.rows);
    const [xs, scales] = this.roundedForProduct(x as GpuActivation, wt.type, order === undefined);
    const ys = (out as GpuActivation).buffer;
    if (order !== undefined) {
      const pipeline = this.pipeline(`matmulExact:${wt.type}:${order}`, () => matmulExactWGSL(wt.type, order));
      for (const part of wt.parts) {
        const params = this.params([nIn, part.rows, wt.rowBytes, x.rows, nOut, part.rowStart]);
        const groups = Math.ceil(part.rows / (EXACT_THREADS / exactLanes(order)));
        const gx = Math.min(groups, MAX_GROUPS);
        const bindings = [params, part.buffer, xs, ys, ...(scales ? [scales] : [])];
        this.dispatch(pipeline, bindings, [gx, Math.ceil(groups / gx), x.rows]);
      }
      return;
    }
    const vector = x.rows <= MATVEC_MAX_ROWS;
    const pipeline = vector
      ? this.pipeline(`matvec:${wt.type}`, () => matvecWGSL(wt.type, this.subgroups))
      : this.pipeline(`matmul:${wt.type}`, () => matmulTiledWGSL(wt.type));
    for (const part of wt.parts) {
      const params = this.params([nIn, part.rows, wt.rowBytes, x.rows, nOut, part.rowStart]);
      let groups: [number, number, number];
      if (vector) {
        const gx = Math.min(part.rows, MAX_GROUPS);
        groups = [gx, Math.ceil(part.rows / gx), x.rows];
      } else {
        groups = [Math.ceil(part.rows / TILE_OUT), Math.ceil(x.rows / TILE_ROWS), 1];
      }
      this.dispatch(pipeline, [params, part.buffer, xs, ys], groups);
    }
  }

  rope(x: Activation, positions: readonly number[], p: RopeParams): void {
    if (positions.length !== x.rows) throw invalid('rope needs one position per row');
    const half = p.nDims / 2;
    let factors: Float32Array | undefined;
    if (p.freqFactors) {
      factors = (p.freqFactors as GpuWeight).values;
      if (factors?.length !== half) throw invalid(`rope frequency factors must be a vector of ${half}`);
    }
    const table = this.recorder.arena.put(new Uint8Array(ropeTable(positions, p, factors).buffer));
    const params = this.params([p.nHeads, p.headDim, half, p.mode === 'neox' ? 1 : 0, x.rows, x.cols]);
    this.dispatch(
      this.pipeline('rope', () => ROPE),
      [params, (x as GpuActivation).buffer, table],
      [Math.ceil((p.nHeads * half) / ELEMENTWISE_THREADS), x.rows, 1],
    );
  }

  kvStore(cache: KVCache, layer: number, k: Activation, v: Activation, positions: readonly number[]): void {
    const c = cache as GpuKVCache;
    const half = c.spec.type === 'f16';
    const width = c.spec.nKvHeads * c.spec.headDim;
    if (k.cols !== width || v.cols !== width) throw invalid(`kvStore rows of ${k.cols}, cache rows of ${width}`);
    this.checkPositions(c, positions);
    const pos = this.recorder.arena.put(new Uint8Array(Uint32Array.from(positions).buffer));
    const params = this.params([width, positions.length]);
    const pipeline = this.pipeline(`kvStore:${half}`, () => kvStoreWGSL(half));
    const bindings = [params, (k as GpuActivation).buffer, (v as GpuActivation).buffer, pos, c.k[layer], c.v[layer]];
    this.dispatch(pipeline, bindings, [Math.ceil(width / (half ? 2 : 1) / ELEMENTWISE_THREADS), positions.length, 1]);
  }

  attention(
    cache: KVCache,
    layer: number,
    q: Activation,
    positions: readonly number[],
    p: AttentionParams,
    out: Activation,
  ): void {
    const c = cache as GpuKVCache;
    const half = c.spec.type === 'f16';
    if (p.headDim > 256) throw invalid(`attention supports head dimensions up to 256, not ${p.headDim}`);
    if (positions.length !== q.rows) throw invalid('attention needs one position per query row');
    this.checkPositions(c, positions);
    const pos = this.recorder.arena.put(new Uint8Array(Uint32Array.from(positions).buffer));
    // Soft-capping as ggml's flash attention: q·k times float(scale / cap), then cap·tanh.
    const cap = p.softcap ? f32(p.softcap) : 0;
    const scale = cap ? f32(p.scale / cap) : f32(p.scale);
    const seen = Math.max(...positions.map((pos) => (p.window ? Math.min(pos + 1, p.window) : pos + 1)));
    const parts =
      q.rows <= SPLIT_MAX_ROWS && seen > SPLIT_MIN_POSITIONS
        ? Math.min(Math.ceil(seen / SPLIT_POSITIONS), SPLIT_MAX_PARTS)
        : 1;
    const splitLen = Math.ceil(seen / parts);
    const params = this.params([p.nHeads, p.nKvHeads, p.headDim, f(scale), q.cols, f(cap), p.window ?? 0, splitLen]);
    const o = (out as GpuActivation).buffer;
    const kv = [(q as GpuActivation).buffer, pos, c.k[layer], c.v[layer]];
    if (parts === 1) {
      // llama.cpp's CPU flash attention takes its tiled kernel for 64+ query rows over an F16 cache
      const tiled = half && q.rows >= 64 && p.headDim % 8 === 0;
      const pipeline = tiled
        ? this.pipeline('attention:tiled', () => attentionTiledWGSL())
        : this.pipeline(`attention:${half}`, () => attentionWGSL(half));
      this.dispatch(pipeline, [params, ...kv, o], [p.nHeads, q.rows, 1]);
      return;
    }
    const bytes = q.rows * p.nHeads * parts * (p.headDim + 2) * 4;
    if (!this.attentionScratch || this.attentionScratch.size < bytes) this.attentionScratch = this.createBuffer(bytes);
    const pipeline = this.pipeline(`attention:${half}:split`, () => attentionWGSL(half, true));
    this.dispatch(pipeline, [params, ...kv, this.attentionScratch], [p.nHeads, q.rows, parts]);
    const combine = this.params([p.nHeads, p.headDim, q.cols, parts]);
    const bindings = [combine, this.attentionScratch, o];
    this.dispatch(
      this.pipeline('attentionCombine', () => ATTENTION_COMBINE),
      bindings,
      [p.nHeads, q.rows, 1],
    );
  }

  swiglu(gate: Activation, up: Activation): void {
    if (gate.rows * gate.cols !== up.rows * up.cols) throw invalid(`swiglu of ${gate.cols} and ${up.cols} columns`);
    const grid = elementGrid(gate.rows * gate.cols);
    const params = this.params([gate.rows * gate.cols, grid.gridX, gate.cols]);
    const bindings = [params, (gate as GpuActivation).buffer, (up as GpuActivation).buffer];
    this.dispatch(
      this.pipeline('swiglu', () => SWIGLU),
      bindings,
      grid.groups,
    );
  }

  geglu(gate: Activation, up: Activation): void {
    if (gate.rows * gate.cols !== up.rows * up.cols) throw invalid(`geglu of ${gate.cols} and ${up.cols} columns`);
    const grid = elementGrid(gate.rows * gate.cols);
    const params = this.params([gate.rows * gate.cols, grid.gridX]);
    const bindings = [params, (gate as GpuActivation).buffer, (up as GpuActivation).buffer, this.geluTable()];
    this.dispatch(
      this.pipeline('geglu', () => GEGLU),
      bindings,
      grid.groups,
    );
  }

  gelu(x: Activation): void {
    const grid = elementGrid(x.rows * x.cols);
    const params = this.params([x.rows * x.cols, grid.gridX]);
    this.dispatch(
      this.pipeline('gelu', () => GELU_INPLACE),
      [params, (x as GpuActivation).buffer, this.geluTable()],
      grid.groups,
    );
  }

  add(x: Activation, y: Activation): void {
    this.elementwise('add', ADD, x, y);
  }

  addBias(x: Activation, bias: Weight): void {
    const b = this.vector(bias, x.cols);
    const grid = elementGrid(x.rows * x.cols);
    const params = this.params([x.rows * x.cols, grid.gridX, x.cols]);
    this.dispatch(
      this.pipeline('addBias', () => ADD_BIAS),
      [params, (x as GpuActivation).buffer, b],
      grid.groups,
    );
  }

  scale(x: Activation, s: number): void {
    this.scaleOrCap(x, f32(s), 0, 0);
  }

  softcap(x: Activation, cap: number): void {
    this.scaleOrCap(x, f32(1 / f32(cap)), f32(cap), 1);
  }

  layerNorm(x: Activation, weight: Weight, bias: Weight, eps: number, out: Activation): void {
    const g = this.vector(weight, x.cols);
    const b = this.vector(bias, x.cols);
    const params = this.params([x.cols, f(eps)]);
    const bindings = [params, (x as GpuActivation).buffer, g, b, (out as GpuActivation).buffer];
    this.dispatch(
      this.pipeline('layerNorm', () => LAYER_NORM),
      bindings,
      [x.rows, 1, 1],
    );
  }

  copyCols(x: Activation, offset: number, out: Activation): void {
    if (out.rows !== x.rows || offset + out.cols > x.cols) throw invalid(`copyCols ${offset}+${out.cols} of ${x.cols}`);
    const grid = elementGrid(out.rows * out.cols);
    const params = this.params([out.rows * out.cols, grid.gridX, x.cols, out.cols, offset]);
    const bindings = [params, (x as GpuActivation).buffer, (out as GpuActivation).buffer];
    this.dispatch(
      this.pipeline('copyCols', () => COPY_COLS),
      bindings,
      grid.groups,
    );
  }

  copyRow(x: Activation, row: number, out: Activation): void {
    const grid = elementGrid(x.cols);
    const params = this.params([x.cols, grid.gridX, row]);
    const bindings = [params, (x as GpuActivation).buffer, (out as GpuActivation).buffer];
    this.dispatch(
      this.pipeline('copyRow', () => COPY_ROW),
      bindings,
      grid.groups,
    );
  }

  async read(x: Activation): Promise<Float32Array> {
    return new Float32Array(await this.submitAndRead((x as GpuActivation).buffer, x.rows * x.cols * 4));
  }

  /** The k best logits and the log-sum-exp of a row, computed on the GPU (wgsl/topk.ts): 4 + 2k words come back. */
  async readTopK(x: Activation, k: number): Promise<TopLogits> {
    if (x.rows !== 1 || !Number.isInteger(k) || k < 1 || k > x.cols) throw invalid(`top ${k} of ${x.rows}x${x.cols}`);
    const size = topKWords(k) * 4;
    if (!this.topScratch || this.topScratch.size < size) this.topScratch = this.createBuffer(size);
    const params = this.params([x.cols, k]);
    this.dispatch(
      this.pipeline('topK', () => TOP_K),
      [params, (x as GpuActivation).buffer, this.topScratch],
      [1, 1, 1],
    );
    return parseTopK(new Uint32Array(await this.submitAndRead(this.topScratch, size)), k);
  }

  /** Submits the recorded work with a copy of `size` bytes of `src` to a mappable buffer, and reads them. */
  private async submitAndRead(src: GPUBuffer, size: number): Promise<ArrayBuffer> {
    this.throwIfFailed();
    const staging = this.takeStaging(size);
    try {
      this.recorder.submit({ src, dst: staging, size });
      await staging.mapAsync(GPUMapMode.READ, 0, size);
      const data = staging.getMappedRange(0, size).slice(0);
      staging.unmap();
      this.throwIfFailed();
      return data;
    } catch (e) {
      this.throwIfFailed();
      throw new ChordError('GPU_DEVICE_LOST', `webgpu: reading results failed: ${(e as Error).message}`);
    } finally {
      this.staging.push(staging);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.owned) b.destroy();
    for (const b of this.staging) b.destroy();
    this.recorder.arena.destroy();
    this.device.destroy();
  }

  /**
   * x as llama.cpp's CPU backend feeds it to a product with weights of `type` (see
   * ACTIVATION_ROUNDING); for Q8_0/Q8_1/Q8_K also the blocks' scales (and Q8_1's sums).
   * `values`: the GPU-order kernels take Q8_0/Q8_1 values q * d, the exact ones the q.
   */
  private roundedForProduct(x: GpuActivation, type: GGMLType, values: boolean): [GPUBuffer, GPUBuffer | undefined] {
    const kind = this.exactF32 ? undefined : ACTIVATION_ROUNDING.get(TYPE_TRAITS.get(type)!.vecDotType);
    if (kind === undefined) return [x.buffer, undefined];
    const n = x.rows * x.cols;
    if (!this.roundedScratch || this.roundedScratch.size < n * 4) this.roundedScratch = this.createBuffer(n * 4);
    const q8 = kind === 'q8_0' || kind === 'q8_1' || kind === 'q8_k';
    const block = kind === 'q8_k' ? 256 : q8 ? 32 : 1;
    const grid = elementGrid(n / block);
    const params = this.params([n, grid.gridX]);
    const bindings = [params, x.buffer, this.roundedScratch];
    if (q8) {
      if (!this.scaleScratch || this.scaleScratch.size < (n / 32) * 8)
        this.scaleScratch = this.createBuffer((n / 32) * 8);
      bindings.push(this.scaleScratch);
    }
    this.dispatch(
      this.pipeline(`round:${kind}:${values}`, () => roundActivationsWGSL(kind, values)),
      bindings,
      grid.groups,
    );
    return [this.roundedScratch, q8 ? this.scaleScratch : undefined];
  }

  /** ggml's F16 GELU table (the reference's), uploaded on first use: 65536 halves. */
  private geluTable(): GPUBuffer {
    if (!this.geluTableBuffer) {
      const table = geluTableF16();
      this.geluTableBuffer = this.createBuffer(table.byteLength);
      this.device.queue.writeBuffer(this.geluTableBuffer, 0, table as Uint16Array<ArrayBuffer>);
    }
    return this.geluTableBuffer;
  }

  private scaleOrCap(x: Activation, s: number, cap: number, mode: number): void {
    const grid = elementGrid(x.rows * x.cols);
    const params = this.params([x.rows * x.cols, grid.gridX, f(s), f(cap), mode]);
    this.dispatch(
      this.pipeline('scale', () => SCALE),
      [params, (x as GpuActivation).buffer],
      grid.groups,
    );
  }

  private elementwise(name: string, code: string, x: Activation, y: Activation): void {
    if (x.rows * x.cols !== y.rows * y.cols) throw invalid(`${name} of ${x.rows}x${x.cols} and ${y.rows}x${y.cols}`);
    const grid = elementGrid(x.rows * x.cols);
    const params = this.params([x.rows * x.cols, grid.gridX]);
    const bindings = [params, (x as GpuActivation).buffer, (y as GpuActivation).buffer];
    this.dispatch(
      this.pipeline(name, () => code),
      bindings,
      grid.groups,
    );
  }

  private dispatch(pipeline: GPUComputePipeline, bindings: readonly Binding[], groups: [number, number, number]) {
    this.throwIfFailed();
    this.recorder.dispatch(pipeline, bindings, groups);
  }

  private params(values: readonly (number | { f32: number })[]) {
    return this.recorder.arena.put(packParams(values));
  }

  private pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private vector(w: Weight, n: number): GPUBuffer {
    const gw = w as GpuWeight;
    if (gw.shape.length !== 1 || gw.shape[0] !== n) throw invalid(`${gw.name} is not a vector of ${n}`);
    return gw.parts[0].buffer;
  }

  private checkPositions(c: GpuKVCache, positions: readonly number[]): void {
    for (const pos of positions) {
      if (!(pos >= 0 && pos < c.spec.nCtx)) {
        throw new ChordError('CONTEXT_OVERFLOW', `webgpu: position ${pos} outside the cache of ${c.spec.nCtx}`);
      }
    }
  }

  private createBuffer(bytes: number): GPUBuffer {
    this.throwIfFailed();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const buffer = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.owned.add(buffer);
    this.heldBytes += size;
    return buffer;
  }

  /** A storage buffer holding `bytes` (padded to whole words); OUT_OF_MEMORY when the device has no room. */
  private async upload(bytes: Uint8Array, name: string): Promise<GPUBuffer> {
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.createBuffer(bytes.byteLength);
    const whole = bytes.byteLength & ~3;
    if (whole > 0) this.device.queue.writeBuffer(buffer, 0, bytes as Uint8Array<ArrayBuffer>, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buffer, whole, tail);
    }
    const error = await this.device.popErrorScope();
    if (error) throw new ChordError('OUT_OF_MEMORY', `webgpu: no room for ${name}: ${error.message}`);
    return buffer;
  }

  private takeStaging(size: number): GPUBuffer {
    const i = this.staging.findIndex((b) => b.size >= size);
    if (i >= 0) return this.staging.splice(i, 1)[0];
    return this.device.createBuffer({
      size: Math.ceil(size / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/** A WebGPU backend on the host's adapter (navigator.gpu, or Dawn in Node); BACKEND_UNAVAILABLE when there is none. */
export function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  return WebGPUBackend.create(options);
}
