import { ChordError } from '../../../shared/errors.ts';
import type { GGUFTensorInfo } from '../../gguf/types.ts';
import { GGMLType, TYPE_TRAITS } from '../../quant/types.ts';
import type {
  Activation,
  AttentionParams,
  Backend,
  BackendOptions,
  KVCache,
  KVCacheSpec,
  RopeParams,
  Weight,
} from '../backend.ts';
import { JsBackend } from '../js/index.ts';
import { checkWeightsFit, WasmHeap } from './heap.ts';
import {
  compileKernels,
  createMemory,
  instantiateKernels,
  type KernelExports,
  relaxedSimdOffByEnv,
} from './kernels.ts';
import { runBatch, type SpawnWorker, WorkerPool } from './pool.ts';

/**
 * The WASM-SIMD backend: weights live once in one WebAssembly memory, matrix
 * products run in the AssemblyScript kernels (assembly/), split by output rows
 * across a worker pool that shares the memory.
 *
 * Matrix products are recorded, not run at once: consecutive ones (q, k, v;
 * gate, up) go to the workers in one wake-up, and an activation row quantized
 * for one of them is reused by the others. Any other op, and read, first runs
 * what is recorded. The KV cache (F16 or F32) and attention run in the kernels
 * on the main thread; the light ops (norms, RoPE, SwiGLU, embedding rows, add)
 * in the reference backend's TypeScript, directly on views of the wasm memory.
 * The products are bit for bit the reference backend's (assembly/dots.ts).
 */
export interface WasmBackendOptions extends BackendOptions {
  /** Makes a worker from its source text; default: worker_threads in Node, a Blob URL worker in browsers. */
  spawn?: SpawnWorker;
  /**
   * Bytes of the weights that will be loaded, when the caller knows them: create()
   * then refuses a model over the wasm32 limit (heap.ts checkWeightsFit) before
   * compiling or allocating anything, rather than running out of memory mid-load.
   */
  weightBytes?: number;
  /**
   * Use the relaxed-SIMD build of the kernels where the host has it (default
   * true, or false when CHORD_WASM_RELAXED_SIMD=0); false forces the SIMD128-only
   * build, for tests and comparisons.
   * Both give the same results, bit for bit.
   */
  relaxedSimd?: boolean;
}

/** A weight in wasm memory; `bytes` is a view of it (the reference ops read it). */
class WasmWeight implements Weight {
  constructor(
    private readonly heap: WasmHeap,
    readonly name: string,
    readonly type: GGMLType,
    readonly shape: readonly number[],
    readonly ptr: number,
    readonly byteLength: number,
    readonly rowBytes: number,
  ) {}

  get bytes(): Uint8Array {
    return this.heap.u8().subarray(this.ptr, this.ptr + this.byteLength);
  }
}

/** A row-major f32 activation in wasm memory; `data` is a view of it. */
class WasmActivation implements Activation {
  private view: Float32Array;
  readonly ptr: number;

  constructor(
    private readonly heap: WasmHeap,
    readonly rows: number,
    readonly cols: number,
  ) {
    this.ptr = heap.allocOwned(this, rows * cols * 4);
    this.view = heap.f32(this.ptr, rows * cols);
  }

  get data(): Float32Array {
    // An unshared memory detaches its old buffer when it grows.
    if (this.view.buffer !== this.heap.memory.buffer) this.view = this.heap.f32(this.ptr, this.rows * this.cols);
    return this.view;
  }
}

/** A KV cache in wasm memory: per layer, K and V of nCtx rows of nKvHeads*headDim (f16 or f32). */
class WasmKVCache implements KVCache {
  readonly k: number[] = [];
  readonly v: number[] = [];

  constructor(
    heap: WasmHeap,
    readonly spec: KVCacheSpec,
  ) {
    const bytes = spec.nCtx * spec.nKvHeads * spec.headDim * (spec.type === 'f16' ? 2 : 4);
    for (let l = 0; l < spec.nLayers; l++) {
      this.k.push(heap.allocOwned(this, bytes));
      this.v.push(heap.allocOwned(this, bytes));
    }
  }
}

/** A key for Q4_K's activation layout that no ggml type number (all below 64) takes. */
const Q4_K_LAYOUT = 63;

/**
 * Activation layouts of the kernels (assembly/activations.ts): weight types with
 * the same partner share one, except Q4_K, whose Q8_K quants are laid out for
 * lanes of index mod 8 (ggml's generic order) rather than the AVX2 kernels' lanes.
 */
function activationFormat(type: GGMLType): number {
  if (type === GGMLType.Q4_K) return Q4_K_LAYOUT;
  const partner = TYPE_TRAITS.get(type)!.vecDotType;
  return partner === GGMLType.Q8_1 ? GGMLType.Q8_0 : partner;
}

const CMD_WORDS = 16;
/**
 * Attention goes to the workers (one chunk per head) from this many multiply-adds
 * of q.k on: below it a wake-up of the pool costs more than it saves.
 */
const THREADED_ATTENTION_MIN = 1 << 18;
const MAX_CMDS = 64;
const CTRL_BYTES = 64;

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  private readonly js: JsBackend;
  private readonly cmdsPtr: number;
  private pending = 0;
  private pendingChunks = 0;
  /** Outputs and inputs of recorded products, to know when a new op depends on them. */
  private readonly pendingOut = new Set<number>();
  private readonly pendingIn = new Set<number>();
  /** Activation rows prepared during this batch: ptr * 64 + format -> address. */
  private readonly prepared = new Map<number, number>();
  private scratchPtr = 0;
  private scratchSize = 0;
  private scratchTop = 0;
  private wordView: Int32Array | undefined;
  private ctrlView: Int32Array | undefined;
  private readonly runMain = () => this.k.runMainShare(this.ctrlPtr);
  private smallPtr = 0;
  private smallSize = 0;
  private smallFlip = false;
  /** An f32 as the i32 word a command holds it in. */
  private readonly scaleBits = new Float32Array(1);
  private readonly scaleWord = new Int32Array(this.scaleBits.buffer);
  /** Attention and the KV cache in the kernels (flash attention, the default), else in TypeScript. */
  private readonly wasmAttention: boolean;

  private constructor(
    private readonly heap: WasmHeap,
    private readonly k: KernelExports,
    private readonly ctrlPtr: number,
    private readonly pool: WorkerPool | undefined,
    private readonly exactF32: boolean,
    readonly description: string,
    flashAttention: boolean,
  ) {
    this.js = new JsBackend({ exactF32, flashAttention });
    this.wasmAttention = !exactF32 && flashAttention;
    this.cmdsPtr = heap.alloc(CMD_WORDS * 4 * MAX_CMDS);
  }

  /**
   * Compiles the kernels and starts the workers. `threads` (default: the host's
   * hardwareConcurrency, else 1) falls back to 1 when the host cannot share
   * memory or start workers, with the reason in `description`. Throws
   * BACKEND_UNAVAILABLE when WebAssembly SIMD itself is missing, and
   * OUT_OF_MEMORY up front when `weightBytes` is over what wasm32 can hold.
   */
  static async create(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
    if (opts.weightBytes !== undefined) checkWeightsFit(opts.weightBytes);
    const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
    const threads = Math.max(1, Math.floor(opts.threads ?? hc ?? 1));
    let compiled: Awaited<ReturnType<typeof compileKernels>>;
    try {
      compiled = await compileKernels(threads > 1, opts.relaxedSimd ?? !relaxedSimdOffByEnv());
    } catch (e) {
      throw new ChordError('BACKEND_UNAVAILABLE', `the wasm backend cannot run here: ${(e as Error).message}`);
    }
    const notes: string[] = [];
    if (compiled.sharedUnavailable !== undefined) notes.push(`1 thread: ${compiled.sharedUnavailable}`);
    const memory = createMemory(compiled.shared);
    const heap = new WasmHeap(memory);
    const k = instantiateKernels(compiled.module, memory);
    const ctrlPtr = heap.alloc(CTRL_BYTES);
    let pool: WorkerPool | undefined;
    if (compiled.shared && threads > 1) {
      try {
        pool = await WorkerPool.start(compiled.module, memory, ctrlPtr, threads - 1, opts.spawn);
      } catch (e) {
        notes.push(`1 thread: workers did not start (${(e as Error).message})`);
      }
    }
    const n = pool?.threads ?? 1;
    const simd = compiled.relaxed ? 'SIMD128 + relaxed' : 'SIMD128';
    const what = `wasm (${simd}, ${n} thread${n > 1 ? 's' : ''}${opts.exactF32 ? ', exact f32 in TypeScript' : ''})`;
    const description = notes.length ? `${what}; ${notes.join('; ')}` : what;
    return new WasmBackend(heap, k, ctrlPtr, pool, opts.exactF32 ?? false, description, opts.flashAttention ?? true);
  }

  /** Bytes of wasm memory in use (weights, activations, scratch) and reserved. */
  memoryUsage(): { usedBytes: number; memoryBytes: number } {
    return { usedBytes: this.heap.used, memoryBytes: this.heap.byteLength };
  }

  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  async loadWeight(info: GGUFTensorInfo, bytes: Uint8Array): Promise<Weight> {
    const traits = TYPE_TRAITS.get(info.type);
    const rowBytes = traits ? (info.shape[0] / traits.blockSize) * traits.typeSize : 0;
    const ptr = this.heap.alloc(bytes.length);
    this.heap.u8().set(bytes, ptr);
    return new WasmWeight(this.heap, info.name, info.type, info.shape, ptr, bytes.length, rowBytes);
  }

  createActivation(rows: number, cols: number): Activation {
    this.flush(); // a region may be reused: nothing recorded may still point into it
    return new WasmActivation(this.heap, rows, cols);
  }

  createKVCache(spec: KVCacheSpec): KVCache {
    // The kernels take heads of a multiple of 8; ggml's non-flash attention stays in TypeScript.
    if (!this.wasmAttention || spec.headDim % 8 !== 0 || spec.softcap || spec.slidingWindow) {
      return this.js.createKVCache(spec); // soft-capping and sliding windows: the reference attention
    }
    this.flush();
    return new WasmKVCache(this.heap, spec);
  }

  matmul(w: Weight, x: Activation, out: Activation): void {
    const wt = w as WasmWeight;
    const xa = x as WasmActivation;
    const oa = out as WasmActivation;
    const [nIn, nOut] = wt.shape;
    if (this.exactF32 || !this.k.hasKernel(wt.type)) {
      this.flush();
      this.js.matmul(w, x, out);
      return;
    }
    // Run what is recorded first if this product reads one of its outputs or overwrites one of its operands.
    if (this.pendingOut.has(xa.ptr) || this.pendingOut.has(oa.ptr) || this.pendingIn.has(oa.ptr)) this.flush();
    if (this.pending === MAX_CMDS) this.flush();
    let act = xa.ptr;
    let actStride = nIn * 4;
    if (wt.type !== GGMLType.F32) {
      actStride = this.k.activationRowBytes(wt.type, nIn);
      const key = xa.ptr * 64 + activationFormat(wt.type);
      const ready = this.prepared.get(key);
      if (ready !== undefined) act = ready;
      else {
        act = this.scratch(actStride * x.rows);
        this.k.prepareActivations(wt.type, xa.ptr, nIn, x.rows, act);
        this.prepared.set(key, act);
      }
    }
    const words = this.words();
    const c = (this.cmdsPtr >> 2) + this.pending * CMD_WORDS;
    words[c] = 1;
    words[c + 1] = wt.type;
    words[c + 2] = wt.ptr;
    words[c + 3] = wt.rowBytes;
    words[c + 4] = nIn;
    words[c + 5] = nOut;
    words[c + 6] = act;
    words[c + 7] = actStride;
    words[c + 8] = x.rows;
    words[c + 9] = oa.ptr;
    this.pending++;
    this.pendingChunks += this.k.chunksOf(nOut);
    this.pendingOut.add(oa.ptr);
    this.pendingIn.add(xa.ptr);
  }

  /** The memory as i32 words (a view made again only when the memory has grown). */
  private words(): Int32Array {
    if (this.wordView?.buffer !== this.heap.memory.buffer) {
      this.wordView = new Int32Array(this.heap.memory.buffer, 0, this.heap.memory.buffer.byteLength >>> 2);
    }
    return this.wordView;
  }

  /** Scratch for prepared activations, valid until the next flush. */
  private scratch(bytes: number): number {
    if (this.scratchTop + bytes > this.scratchSize) {
      this.flush();
      if (bytes > this.scratchSize) {
        this.scratchSize = Math.max(bytes, 2 * this.scratchSize, 1 << 16);
        this.scratchPtr = this.heap.alloc(this.scratchSize);
      }
    }
    const p = this.scratchPtr + this.scratchTop;
    this.scratchTop += Math.ceil(bytes / 64) * 64;
    return p;
  }

  /** Runs the recorded products (one wake-up of the workers). */
  private flush(): void {
    if (this.pending === 0) return;
    const words = this.words();
    words[(this.ctrlPtr >> 2) + 3] = this.pending;
    words[(this.ctrlPtr >> 2) + 4] = this.cmdsPtr;
    if (this.ctrlView?.buffer !== this.heap.memory.buffer) {
      this.ctrlView = new Int32Array(this.heap.memory.buffer, this.ctrlPtr, CTRL_BYTES / 4);
    }
    runBatch(this.ctrlView, this.pendingChunks, this.pool, this.runMain);
    this.pending = 0;
    this.pendingChunks = 0;
    this.pendingOut.clear();
    this.pendingIn.clear();
    this.prepared.clear();
    this.scratchTop = 0;
  }

  getRows(table: Weight, ids: readonly number[], out: Activation): void {
    this.flush();
    this.js.getRows(table, ids, out);
  }

  rmsNorm(x: Activation, weight: Weight, eps: number, out: Activation): void {
    this.flush();
    this.js.rmsNorm(x, weight, eps, out);
  }

  rope(x: Activation, positions: readonly number[], p: RopeParams): void {
    this.flush();
    this.js.rope(x, positions, p);
  }

  kvStore(cache: KVCache, layer: number, k: Activation, v: Activation, positions: readonly number[]): void {
    this.flush();
    if (!(cache instanceof WasmKVCache)) {
      this.js.kvStore(cache, layer, k, v, positions);
      return;
    }
    const sp = cache.spec;
    this.k.kvStore(
      cache.k[layer],
      cache.v[layer],
      (k as WasmActivation).ptr,
      (v as WasmActivation).ptr,
      sp.nKvHeads * sp.headDim,
      k.rows,
      this.positionsPtr(positions),
      sp.type === 'f16' ? 1 : 0,
    );
  }

  attention(
    cache: KVCache,
    layer: number,
    q: Activation,
    positions: readonly number[],
    p: AttentionParams,
    out: Activation,
  ): void {
    this.flush();
    if (!(cache instanceof WasmKVCache)) {
      this.js.attention(cache, layer, q, positions, p, out);
      return;
    }
    if (p.softcap || p.window) {
      throw new ChordError('BACKEND_UNAVAILABLE', 'wasm attention has no logit soft-capping or sliding window yet');
    }
    const f16 = cache.spec.type === 'f16' ? 1 : 0;
    const positionsPtr = this.positionsPtr(positions);
    // Per head: its rounded q, its running sum of V, a tile's scores (attentionHeads in assembly/attention.ts).
    const scratch = this.smallScratch(p.nHeads * this.k.attentionScratchPerHead(p.headDim));
    const qa = (q as WasmActivation).ptr;
    const oa = (out as WasmActivation).ptr;
    let products = 0;
    for (const pos of positions) products += (pos + 1) * p.nHeads * p.headDim;
    if (this.pool === undefined || products < THREADED_ATTENTION_MIN) {
      this.k.attentionHeads(
        cache.k[layer],
        cache.v[layer],
        qa,
        q.cols,
        q.rows,
        positionsPtr,
        p.nHeads,
        p.nKvHeads,
        p.headDim,
        p.scale,
        f16,
        oa,
        out.cols,
        scratch,
        0,
        p.nHeads,
      );
      return;
    }
    const words = this.words();
    const c = (this.cmdsPtr >> 2) + this.pending * CMD_WORDS;
    words[c] = 2;
    words[c + 1] = cache.k[layer];
    words[c + 2] = cache.v[layer];
    words[c + 3] = qa;
    words[c + 4] = q.cols;
    words[c + 5] = q.rows;
    words[c + 6] = positionsPtr;
    words[c + 7] = p.nHeads;
    words[c + 8] = p.nKvHeads;
    words[c + 9] = p.headDim;
    words[c + 11] = f16;
    words[c + 12] = oa;
    words[c + 13] = out.cols;
    words[c + 14] = scratch;
    this.scaleBits[0] = p.scale;
    words[c + 10] = this.scaleWord[0];
    this.pending++;
    this.pendingChunks += p.nHeads;
    this.flush();
  }

  swiglu(gate: Activation, up: Activation): void {
    this.flush();
    // The reference's ggml_vec_swiglu_f32 (its vectorized exp), on views of the wasm memory:
    // elementwise and cheap beside the products, and bit for bit what llama.cpp computes.
    this.js.swiglu(gate, up);
  }

  /** positions as i32 in wasm memory (valid until the next call). */
  private positionsPtr(positions: readonly number[]): number {
    const ptr = this.smallScratch(positions.length * 4);
    new Int32Array(this.heap.memory.buffer, ptr, positions.length).set(positions);
    return ptr;
  }

  /** A region for one kernel call's small arguments (positions, per-head scratch); grows as needed. */
  private smallScratch(bytes: number): number {
    if (bytes > this.smallSize) {
      this.smallSize = Math.max(bytes, 2 * this.smallSize, 4096);
      this.smallPtr = this.heap.alloc(this.smallSize * 2);
    }
    // Two halves: positions in the first, head scratch in the second.
    this.smallFlip = !this.smallFlip;
    return this.smallFlip ? this.smallPtr : this.smallPtr + this.smallSize;
  }

  add(x: Activation, y: Activation): void {
    this.flush();
    this.js.add(x, y);
  }

  layerNorm(x: Activation, weight: Weight, bias: Weight, eps: number, out: Activation): void {
    this.flush();
    this.js.layerNorm(x, weight, bias, eps, out);
  }

  geglu(gate: Activation, up: Activation): void {
    this.flush();
    this.js.geglu(gate, up);
  }

  gelu(x: Activation): void {
    this.flush();
    this.js.gelu(x);
  }

  addBias(x: Activation, bias: Weight): void {
    this.flush();
    this.js.addBias(x, bias);
  }

  scale(x: Activation, s: number): void {
    this.flush();
    this.js.scale(x, s);
  }

  softcap(x: Activation, cap: number): void {
    this.flush();
    this.js.softcap(x, cap);
  }

  copyCols(x: Activation, offset: number, out: Activation): void {
    this.flush();
    this.js.copyCols(x, offset, out);
  }

  copyRow(x: Activation, row: number, out: Activation): void {
    this.flush();
    this.js.copyRow(x, row, out);
  }

  async read(x: Activation): Promise<Float32Array> {
    this.flush();
    return (x as WasmActivation).data.slice();
  }

  async dispose(): Promise<void> {
    this.flush();
    await this.pool?.stop();
  }
}
