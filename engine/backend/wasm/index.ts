import { ChordError } from '../../../shared/errors.ts';
import type { GGUFTensorInfo } from '../../gguf/types.ts';
import { dequantizeRow } from '../../quant/index.ts';
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
import { geluTableF16 } from '../js/gelu.ts';
import { JsBackend, ropeCosSin } from '../js/index.ts';
import { checkWeightsFit, WasmHeap } from './heap.ts';
import {
  compileKernels,
  createMemory,
  hasFusedMadd,
  instantiateKernels,
  type KernelExports,
  MATMUL_FUSED_MADD,
  MATMUL_REPACKED,
  relaxedSimdOffByEnv,
} from './kernels.ts';
import { mayBlock, runBatch, type SpawnWorker, WorkerPool } from './pool.ts';

/**
 * The WASM-SIMD backend: weights live once in one WebAssembly memory, matrix
 * products run in the AssemblyScript kernels (assembly/), split by output rows
 * across a worker pool that shares the memory.
 *
 * Ops are recorded as commands, not run at once, and a batch of them goes to
 * the workers in one wake-up: for a decode step, every layer from the
 * embedding row to the logits. The products are cut into chunks of rows,
 * attention into heads (or groups of heads sharing K and V) when it is long
 * enough; the light ops (RMSNorm, LayerNorm, RoPE, GELU/GeGLU, add, bias,
 * scale, the KV cache store) run as one chunk each, SwiGLU and the activation
 * rows' quantization as several (assembly/ops.ts).
 * A command waits for those before it (a barrier in the kernels' loop) only
 * when it reads what one since the last barrier writes, or writes what one
 * reads or writes, so q, k and v, or gate and up, share a stage, and rows
 * quantized for one product are reused by the next. read(), and the ops left
 * in TypeScript (embedding rows, copyCols/copyRow, softcap, non-F32 norm
 * weights, attention without flash or with soft-capping), first run what is
 * recorded. Everything is bit for bit the reference backend's: the products
 * (assembly/dots.ts), attention (attention.ts), the light ops (norms.ts,
 * rope.ts, elementwise.ts; RoPE's cos/sin table is made in JS, glibc's cosf
 * and sinf as the reference mirrors them).
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
    /**
     * Held in the kernels' own layout (prepareWeights), from which this gives row r back
     * in GGUF's, returning where (undefined: held as GGUF lays it out).
     */
    private readonly unpackRow?: (row: number) => number,
  ) {}

  get repacked(): boolean {
    return this.unpackRow !== undefined;
  }

  /** Where row r lies in GGUF's layout: in place, or put back together in the repacking scratch (until the next call). */
  rowAt(r: number): number {
    return this.unpackRow === undefined ? this.ptr + r * this.rowBytes : this.unpackRow(r);
  }

  /** GGUF's bytes of the tensor: a view of the memory, or for a repacked one a copy put back together row by row. */
  get bytes(): Uint8Array {
    if (this.unpackRow === undefined) return this.heap.u8().subarray(this.ptr, this.ptr + this.byteLength);
    const out = new Uint8Array(this.byteLength);
    for (let r = 0; r < this.byteLength / this.rowBytes; r++) {
      const at = this.unpackRow(r);
      out.set(this.heap.u8().subarray(at, at + this.rowBytes), r * this.rowBytes);
    }
    return out;
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

/** A weight's address when it is F32 (norm weights and biases; the kernels read no other type there). */
function f32Ptr(w: Weight): number | undefined {
  const wt = w as WasmWeight;
  return wt.type === GGMLType.F32 ? wt.ptr : undefined;
}

function ptrOf(x: Activation): number {
  return (x as WasmActivation).ptr;
}

/** A weight's values as f32 (a copy unless it is F32). */
function weightAsF32(w: WasmWeight): Float32Array {
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (w.type === GGMLType.F32) return new Float32Array(w.bytes.slice().buffer, 0, n);
  const out = new Float32Array(n);
  dequantizeRow(w.type, w.bytes, out, n, 0, 0);
  return out;
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface RopeTable {
  ptr: number;
  bytes: number;
  positions: number[];
  freqBase: number;
  freqScale: number;
  nDims: number;
  attnFactor: number | undefined;
  factors: Weight | undefined;
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

/**
 * Chunks of a light op that the threads share (SwiGLU, preparing activations;
 * assembly/ops.ts): some 512 values each (microseconds of work, against a
 * fraction of one for taking a chunk), at most 64.
 */
function shareChunks(values: number): number {
  return Math.max(1, Math.min(64, Math.floor(values / 512)));
}

/** i32 words per command; word 16 is its chunk count, word 17 its barrier (assembly/index.ts). */
const CMD_WORDS = 20;
/** Command kinds: assembly/index.ts (1, 2) and assembly/ops.ts (the light ops). */
const CMD_MATMUL = 1;
const CMD_ATTENTION = 2;
const CMD_RMS_NORM = 3;
const CMD_LAYER_NORM = 4;
const CMD_ROPE = 5;
const CMD_SWIGLU = 6;
const CMD_GELU = 7;
const CMD_GEGLU = 8;
const CMD_ADD = 9;
const CMD_ADD_BIAS = 10;
const CMD_SCALE = 11;
const CMD_PREPARE = 12;
const CMD_KV_STORE = 13;
/**
 * Attention is cut into a chunk per head, or per group of heads sharing K and V
 * (for the workers to share), from this many multiply-adds of q.k on (16
 * positions of 32 heads of 64); below it one thread runs every head. Within a
 * batch a chunk costs a claim, not a wake-up.
 */
const THREADED_ATTENTION_MIN = 1 << 15;
/** Commands per batch: a whole decode step of a model of 30-odd layers. */
const MAX_CMDS = 1024;
const CTRL_BYTES = 64;

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  private readonly js: JsBackend;
  private readonly cmdsPtr: number;
  /** Commands recorded and not yet run, and their chunks. */
  private pending = 0;
  private pendingChunks = 0;
  /** The chunks every command recorded from now on waits for: those before the last barrier. */
  private barrier = 0;
  /** Addresses read and written by the commands since the last barrier, to know when the next needs one. */
  private readonly reads = new Set<number>();
  private readonly writes = new Set<number>();
  /** Activation rows prepared during this batch: ptr * 64 + format -> address. */
  private readonly prepared = new Map<number, number>();
  private scratchPtr = 0;
  private scratchSize = 0;
  private scratchTop = 0;
  private wordView: Int32Array | undefined;
  private ctrlView: Int32Array | undefined;
  private readonly runMain = () => this.k.runMainShare(this.ctrlPtr, mayBlock() ? 1 : 0);
  /** The batch's positions as i32 in wasm memory (positionsPtr) and what they are. */
  private positionsAt = 0;
  private positionsRoom = 0;
  private positionsHeld: number[] = [];
  /** Per-head scratch of attention (attentionScratch). */
  private attentionAt = 0;
  private attentionRoom = 0;
  /** f32 and f64 arguments as the i32 words a command holds them in. */
  private readonly argBits = new Float64Array(1);
  private readonly argF32 = new Float32Array(this.argBits.buffer, 0, 1);
  private readonly argWords = new Int32Array(this.argBits.buffer);
  /** Attention and the KV cache in the kernels (flash attention, the default), else in TypeScript. */
  private readonly wasmAttention: boolean;
  /** The last RoPE table (ropeTable) and what it was made for. */
  private rope_: RopeTable | undefined;
  private geluPtr = 0;
  /** Scratch of prepareWeights (8 rows of the widest matrix so far). */
  private repackScratch = 0;
  private repackScratchBytes = 0;

  private constructor(
    private readonly heap: WasmHeap,
    private readonly k: KernelExports,
    private readonly ctrlPtr: number,
    private readonly pool: WorkerPool | undefined,
    private readonly exactF32: boolean,
    /** The kernels may use relaxed_madd as fmaf (kernels.ts hasFusedMadd). */
    private readonly fusedMadd: boolean,
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
    if (opts.weightBytes !== undefined) heap.reserve(opts.weightBytes);
    let pool: WorkerPool | undefined;
    if (compiled.shared && threads > 1) {
      try {
        pool = await WorkerPool.start(compiled.module, memory, ctrlPtr, threads - 1, opts.spawn);
      } catch (e) {
        notes.push(`1 thread: workers did not start (${(e as Error).message})`);
      }
    }
    const n = pool?.threads ?? 1;
    const fused = hasFusedMadd(k);
    const simd = compiled.relaxed ? `SIMD128 + relaxed${fused ? ', fused madd' : ''}` : 'SIMD128';
    const what = `wasm (${simd}, ${n} thread${n > 1 ? 's' : ''}${opts.exactF32 ? ', exact f32 in TypeScript' : ''})`;
    const description = notes.length ? `${what}; ${notes.join('; ')}` : what;
    const exactF32 = opts.exactF32 ?? false;
    return new WasmBackend(heap, k, ctrlPtr, pool, exactF32, fused, description, opts.flashAttention ?? true);
  }

  /** Bytes of wasm memory in use (weights, activations, scratch) and reserved. */
  memoryUsage(): { usedBytes: number; memoryBytes: number } {
    return { usedBytes: this.heap.used, memoryBytes: this.heap.byteLength };
  }

  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  async loadWeight(info: GGUFTensorInfo, bytes: Uint8Array): Promise<Weight> {
    const ptr = this.heap.alloc(bytes.length);
    this.heap.u8().set(bytes, ptr);
    return this.weight(info, ptr, bytes.length);
  }

  /** The tensor read by `fill` straight into the wasm memory (heap.ts allocFilled). */
  async loadWeightInto(info: GGUFTensorInfo, fill: (dest: Uint8Array) => Promise<void>): Promise<Weight> {
    const ptr = await this.heap.allocFilled(info.byteSize, fill);
    return this.weight(info, ptr, info.byteSize);
  }

  /**
   * A loaded weight, its matrix put into the kernels' layout (assembly/repack.ts:
   * Q4_0, Q4_K, Q8_0), except where its products run in TypeScript (exactF32),
   * which reads GGUF's.
   */
  private weight(info: GGUFTensorInfo, ptr: number, byteLength: number): WasmWeight {
    const traits = TYPE_TRAITS.get(info.type);
    const rowBytes = traits ? (info.shape[0] / traits.blockSize) * traits.typeSize : 0;
    let repacked = false;
    if (!this.exactF32 && info.shape.length === 2 && rowBytes > 0) {
      if (this.repackScratchBytes < 8 * rowBytes) {
        this.repackScratchBytes = 8 * rowBytes;
        this.repackScratch = this.heap.alloc(this.repackScratchBytes);
      }
      const scratch = this.repackScratch;
      repacked = this.k.prepareWeights(info.type, ptr, rowBytes, info.shape[1], scratch, this.fusedMadd ? 1 : 0) !== 0;
    }
    const unpack = (row: number) => {
      this.k.unpackRow(info.type, ptr, rowBytes, row, this.repackScratch);
      return this.repackScratch;
    };
    return new WasmWeight(
      this.heap,
      info.name,
      info.type,
      info.shape,
      ptr,
      byteLength,
      rowBytes,
      repacked ? unpack : undefined,
    );
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
    const [nIn, nOut] = wt.shape;
    if (this.exactF32 || !this.k.hasKernel(wt.type)) {
      this.flush();
      this.js.matmul(w, x, out);
      return;
    }
    const xp = ptrOf(x);
    let act = xp;
    let actStride = nIn * 4;
    if (wt.type !== GGMLType.F32) {
      // The activation rows in the weight type's partner format, once per batch for all the products that read them.
      actStride = this.k.activationRowBytes(wt.type, nIn);
      const key = xp * 64 + activationFormat(wt.type);
      const ready = this.prepared.get(key);
      if (ready !== undefined) act = ready;
      else {
        act = this.scratch(actStride * x.rows);
        const c = this.command(CMD_PREPARE, shareChunks(x.rows * nIn), xp, -1, act);
        this.put(c, wt.type, xp, nIn, x.rows, act);
        this.prepared.set(key, act);
      }
    }
    const c = this.command(CMD_MATMUL, this.k.chunksOf(nOut, nIn, x.rows, this.threads), act, -1, ptrOf(out));
    const flags = (this.fusedMadd ? MATMUL_FUSED_MADD : 0) | (wt.repacked ? MATMUL_REPACKED : 0);
    this.put(c, wt.type, wt.ptr, wt.rowBytes, nIn, nOut, act, actStride, x.rows, ptrOf(out), flags, this.threads);
  }

  /**
   * Records a command of `kind` in `chunks` chunks that reads r1 and r2 and writes w
   * (addresses of activations, caches, scratch; -1: none). It waits for everything
   * recorded before (a barrier) when it reads what a command since the last barrier
   * writes, or writes what one reads or writes. Returns its first word's index.
   */
  private command(kind: number, chunks: number, r1: number, r2: number, w: number, w2 = -1): number {
    if (this.pending === MAX_CMDS) this.flush();
    const { reads, writes } = this;
    // -1 is in neither set
    if (writes.has(r1) || writes.has(r2) || writes.has(w) || reads.has(w) || writes.has(w2) || reads.has(w2)) {
      this.barrier = this.pendingChunks;
      reads.clear();
      writes.clear();
    }
    for (const r of [r1, r2]) if (r !== -1) reads.add(r);
    for (const x of [w, w2]) {
      if (x === -1) continue;
      writes.add(x);
      this.forgetPrepared(x);
    }
    const words = this.words();
    const c = (this.cmdsPtr >> 2) + this.pending * CMD_WORDS;
    words[c] = kind;
    words[c + 16] = chunks;
    words[c + 17] = this.barrier;
    this.pending++;
    this.pendingChunks += chunks;
    return c;
  }

  /** Writes a command's arguments into its words 1, 2, ... */
  private put(c: number, ...args: number[]): void {
    this.words().set(args, c + 1);
  }

  /** Drops the prepared rows of the activation at `ptr` (it is being written). */
  private forgetPrepared(ptr: number): void {
    if (this.prepared.size === 0) return;
    for (const key of this.prepared.keys()) if (Math.floor(key / 64) === ptr) this.prepared.delete(key);
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
        this.scratchSize = Math.max(bytes, 2 * this.scratchSize, 1 << 20);
        this.scratchPtr = this.heap.alloc(this.scratchSize);
      }
    }
    const p = this.scratchPtr + this.scratchTop;
    this.scratchTop += Math.ceil(bytes / 64) * 64;
    return p;
  }

  /** Runs the recorded commands (one wake-up of the workers). */
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
    this.barrier = 0;
    this.reads.clear();
    this.writes.clear();
    this.prepared.clear();
    this.scratchTop = 0;
  }

  getRows(table: Weight, ids: readonly number[], out: Activation): void {
    this.flush();
    const t = table as WasmWeight;
    // Each row in GGUF's layout (a repacked one put back together), decoded as the reference does.
    const n = t.shape[0];
    for (const [r, id] of ids.entries()) {
      if (!Number.isInteger(id) || id < 0 || id >= t.shape[1]) {
        throw new ChordError('INVALID_ARGUMENT', `row ${id} of ${t.name} is out of range (0..${t.shape[1] - 1})`);
      }
      dequantizeRow(t.type, this.heap.u8(), (out as WasmActivation).data, n, t.rowAt(id), r * n);
    }
  }

  rmsNorm(x: Activation, weight: Weight, eps: number, out: Activation): void {
    const g = f32Ptr(weight);
    if (g === undefined) {
      this.flush();
      this.js.rmsNorm(x, weight, eps, out);
      return;
    }
    const c = this.command(CMD_RMS_NORM, 1, ptrOf(x), -1, ptrOf(out));
    this.put(c, ptrOf(x), g, x.cols, x.rows, ptrOf(out), ...this.f64Words(eps));
  }

  layerNorm(x: Activation, weight: Weight, bias: Weight, eps: number, out: Activation): void {
    const g = f32Ptr(weight);
    const b = f32Ptr(bias);
    if (g === undefined || b === undefined) {
      this.flush();
      this.js.layerNorm(x, weight, bias, eps, out);
      return;
    }
    const c = this.command(CMD_LAYER_NORM, 1, ptrOf(x), -1, ptrOf(out));
    this.put(c, ptrOf(x), g, b, x.cols, x.rows, ptrOf(out), 0, ...this.f64Words(eps)); // eps 8-aligned, words 8-9
  }

  /** An f64 as two i32 words (low, high), as a command holds it. */
  private f64Words(v: number): [number, number] {
    this.argBits[0] = v;
    return [this.argWords[0], this.argWords[1]];
  }

  /** An f32 (v rounded) as the i32 word a command holds it in. */
  private f32Word(v: number): number {
    this.argF32[0] = v;
    return this.argWords[0];
  }

  rope(x: Activation, positions: readonly number[], p: RopeParams): void {
    const table = this.ropeTable(positions, p);
    const c = this.command(CMD_ROPE, 1, ptrOf(x), table, ptrOf(x));
    this.put(c, ptrOf(x), x.cols, x.rows, p.nHeads, p.headDim, p.nDims, p.mode === 'neox' ? 1 : 0, table);
  }

  /**
   * The cosines and sines of every row's angles (ropeCosSin, in JS: glibc's cosf/sinf as mirrored
   * there), in wasm memory; q and k of every layer share them, so they are made once per batch.
   */
  private ropeTable(positions: readonly number[], p: RopeParams): number {
    const t = this.rope_;
    const same =
      t !== undefined &&
      t.freqBase === p.freqBase &&
      t.freqScale === p.freqScale &&
      t.nDims === p.nDims &&
      t.attnFactor === p.attnFactor &&
      t.factors === p.freqFactors &&
      sameNumbers(t.positions, positions);
    if (same) return t.ptr;
    this.flush(); // recorded commands may still read the table being replaced
    const bytes = positions.length * p.nDims * 4;
    const room = t !== undefined && t.bytes >= bytes ? t.bytes : Math.max(bytes, 2 * (t?.bytes ?? 0));
    const ptr = room === t?.bytes ? t.ptr : this.heap.alloc(room);
    const half = p.nDims / 2;
    const factors = p.freqFactors ? weightAsF32(p.freqFactors as WasmWeight) : undefined;
    const table = this.heap.f32(ptr, positions.length * p.nDims);
    for (const [r, pos] of positions.entries()) {
      const row = table.subarray(r * p.nDims, (r + 1) * p.nDims);
      ropeCosSin(pos, p, factors, row.subarray(0, half), row.subarray(half));
    }
    this.rope_ = {
      ptr,
      bytes: room,
      positions: positions.slice(),
      freqBase: p.freqBase,
      freqScale: p.freqScale,
      nDims: p.nDims,
      attnFactor: p.attnFactor,
      factors: p.freqFactors,
    };
    return ptr;
  }

  kvStore(cache: KVCache, layer: number, k: Activation, v: Activation, positions: readonly number[]): void {
    if (!(cache instanceof WasmKVCache)) {
      this.flush();
      this.js.kvStore(cache, layer, k, v, positions);
      return;
    }
    const sp = cache.spec;
    const pos = this.positionsPtr(positions);
    const c = this.command(CMD_KV_STORE, 1, ptrOf(k), ptrOf(v), cache.k[layer], cache.v[layer]);
    this.reads.add(pos);
    const f16 = sp.type === 'f16' ? 1 : 0;
    this.put(c, cache.k[layer], cache.v[layer], ptrOf(k), ptrOf(v), sp.nKvHeads * sp.headDim, k.rows, pos, f16);
  }

  attention(
    cache: KVCache,
    layer: number,
    q: Activation,
    positions: readonly number[],
    p: AttentionParams,
    out: Activation,
  ): void {
    if (!(cache instanceof WasmKVCache)) {
      this.flush();
      this.js.attention(cache, layer, q, positions, p, out);
      return;
    }
    if (p.softcap || p.window) {
      throw new ChordError('BACKEND_UNAVAILABLE', 'wasm attention has no logit soft-capping or sliding window yet');
    }
    const pos = this.positionsPtr(positions);
    // Per head: its rounded q, its running sum of V, a tile's scores (attentionHeads in assembly/attention.ts).
    const scratch = this.attentionScratch(p.nHeads * this.k.attentionScratchPerHead(p.headDim));
    let products = 0;
    for (const at of positions) products += (at + 1) * p.nHeads * p.headDim;
    const f16 = cache.spec.type === 'f16' ? 1 : 0;
    // With the fused madd the heads that share K and V rows go together (assembly/attention.ts attendGroup).
    const grouped = this.fusedMadd && f16 === 1 && p.nHeads > p.nKvHeads;
    const threaded = this.pool !== undefined && products >= THREADED_ATTENTION_MIN;
    const chunks = threaded ? (grouped ? p.nKvHeads : p.nHeads) : 1;
    // Reads q and the layer's cache (which kvStore writes); writes out and the scratch.
    const c = this.command(CMD_ATTENTION, chunks, ptrOf(q), cache.k[layer], ptrOf(out), scratch);
    this.reads.add(cache.v[layer]).add(pos);
    this.put(c, cache.k[layer], cache.v[layer], ptrOf(q), q.cols, q.rows, pos, p.nHeads, p.nKvHeads, p.headDim);
    this.put(c + 9, this.f32Word(p.scale), f16, ptrOf(out), out.cols, scratch, this.fusedMadd ? 1 : 0);
  }

  /** positions as i32 in wasm memory, kept for the batch (every layer reads the same). */
  private positionsPtr(positions: readonly number[]): number {
    if (sameNumbers(this.positionsHeld, positions)) return this.positionsAt;
    this.flush(); // recorded commands may still read the old ones
    if (positions.length * 4 > this.positionsRoom) {
      this.positionsRoom = Math.max(positions.length * 4, 2 * this.positionsRoom, 256);
      this.positionsAt = this.heap.alloc(this.positionsRoom);
    }
    new Int32Array(this.heap.memory.buffer, this.positionsAt, positions.length).set(positions);
    this.positionsHeld = positions.slice();
    return this.positionsAt;
  }

  /** Attention's per-head scratch; a larger one is a new region (recorded commands keep theirs). */
  private attentionScratch(bytes: number): number {
    if (bytes > this.attentionRoom) {
      this.attentionRoom = Math.max(bytes, 2 * this.attentionRoom);
      this.attentionAt = this.heap.alloc(this.attentionRoom);
    }
    return this.attentionAt;
  }

  swiglu(gate: Activation, up: Activation): void {
    const c = this.command(CMD_SWIGLU, shareChunks(gate.rows * gate.cols), ptrOf(gate), ptrOf(up), ptrOf(gate));
    this.put(c, ptrOf(gate), ptrOf(up), gate.cols, gate.rows);
  }

  add(x: Activation, y: Activation): void {
    const c = this.command(CMD_ADD, 1, ptrOf(x), ptrOf(y), ptrOf(x));
    this.put(c, ptrOf(x), ptrOf(y), x.rows * x.cols);
  }

  geglu(gate: Activation, up: Activation): void {
    const table = this.geluTable();
    const c = this.command(CMD_GEGLU, 1, ptrOf(gate), ptrOf(up), ptrOf(gate));
    this.put(c, ptrOf(gate), ptrOf(up), gate.rows * gate.cols, table);
  }

  gelu(x: Activation): void {
    const table = this.geluTable();
    const c = this.command(CMD_GELU, 1, ptrOf(x), -1, ptrOf(x));
    this.put(c, ptrOf(x), x.rows * x.cols, table);
  }

  /** ggml's F16 GELU table (the reference's geluTableF16), copied into wasm memory on first use. */
  private geluTable(): number {
    if (this.geluPtr === 0) {
      const t = geluTableF16();
      this.geluPtr = this.heap.alloc(t.byteLength);
      this.heap.u8().set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), this.geluPtr);
    }
    return this.geluPtr;
  }

  addBias(x: Activation, bias: Weight): void {
    const b = f32Ptr(bias);
    if (b === undefined) {
      this.flush();
      this.js.addBias(x, bias);
      return;
    }
    const c = this.command(CMD_ADD_BIAS, 1, ptrOf(x), -1, ptrOf(x));
    this.put(c, ptrOf(x), b, x.cols, x.rows);
  }

  scale(x: Activation, s: number): void {
    const c = this.command(CMD_SCALE, 1, ptrOf(x), -1, ptrOf(x));
    this.put(c, ptrOf(x), x.rows * x.cols, this.f32Word(s)); // s as the f32 the reference rounds it to
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
