import { ChordError } from '../../../shared/errors.ts';
import { MAXIMUM_PAGES } from './kernels.ts';

/**
 * Weight bytes a wasm backend takes: its one wasm32 memory holds at most 4 GiB
 * (65536 pages; browsers cap it there), and the KV cache, activations and
 * scratch need room beside the weights: 3.5 GiB of weights is a 3B model in Q4
 * with a few thousand tokens of context.
 */
export const WASM_WEIGHT_LIMIT = 3.5 * 2 ** 30;

/**
 * Throws OUT_OF_MEMORY, before anything is allocated, when weights of
 * `weightBytes` cannot live in one wasm32 memory (WASM_WEIGHT_LIMIT).
 */
export function checkWeightsFit(weightBytes: number): void {
  if (weightBytes <= WASM_WEIGHT_LIMIT) return;
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  throw new ChordError(
    'OUT_OF_MEMORY',
    `the model's weights take ${gib(weightBytes)}, more than the ${gib(WASM_WEIGHT_LIMIT)} the wasm backend can hold ` +
      '(one wasm32 memory is 4 GiB at most, with room left for the KV cache and activations); ' +
      'choose a smaller model or quantization, or the webgpu backend',
    { weightBytes, limit: WASM_WEIGHT_LIMIT },
  );
}

/**
 * The wasm memory as a bump allocator: weights, activations, the KV cache and
 * scratch are carved out once and never freed (the backend lives as long as
 * its model). The first MiB is left to the kernels' own (tiny) static data.
 */
export class WasmHeap {
  private top = 1 << 20;
  private u8View: Uint8Array;
  /** Regions whose owners were garbage-collected, by size, for reuse (activations, KV caches of old sequences). */
  private readonly free = new Map<number, number[]>();
  private readonly registry = new FinalizationRegistry<readonly [number, number]>(([ptr, bytes]) =>
    this.release(ptr, bytes),
  );

  constructor(readonly memory: WebAssembly.Memory) {
    this.u8View = new Uint8Array(memory.buffer);
  }

  /** Bytes handed out so far (the first MiB included). */
  get used(): number {
    return this.top;
  }

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** `bytes` bytes aligned to `align`; grows the memory, or throws OUT_OF_MEMORY past the wasm32 limit. */
  alloc(bytes: number, align = 64): number {
    const start = Math.ceil(this.top / align) * align;
    const end = start + bytes;
    this.growTo(end);
    this.top = end;
    return start;
  }

  /**
   * Grows the memory once to hold `bytes` more above what is in use (the weights,
   * whose total is known before the first is read), rather than tensor by tensor.
   */
  reserve(bytes: number): void {
    this.growTo(Math.ceil(this.top / 64) * 64 + bytes);
  }

  /**
   * `bytes` bytes that `fill` writes through a view of them: a weight read straight
   * from its source into the memory, with no copy of it held anywhere else. When
   * `fill` fails (a source failing mid-tensor, an abort) the region is zeroed and
   * given back, and its error rethrown: a failed read leaves the heap as it was.
   */
  async allocFilled(bytes: number, fill: (dest: Uint8Array) => Promise<void>): Promise<number> {
    const before = this.top;
    const ptr = this.alloc(bytes);
    try {
      await fill(this.u8().subarray(ptr, ptr + bytes));
    } catch (e) {
      this.u8().fill(0, ptr, ptr + bytes);
      if (this.top === ptr + bytes) this.top = before;
      else this.release(ptr, bytes);
      throw e;
    }
    return ptr;
  }

  /** Like alloc, for a region that goes back to the heap (for reuse at the same size) once `owner` is collected. */
  allocOwned(owner: object, bytes: number): number {
    const ptr = this.free.get(bytes)?.pop() ?? this.alloc(bytes);
    this.registry.register(owner, [ptr, bytes] as const);
    return ptr;
  }

  /** Keeps a region for the next allocOwned of the same size. */
  private release(ptr: number, bytes: number): void {
    const list = this.free.get(bytes);
    if (list) list.push(ptr);
    else this.free.set(bytes, [ptr]);
  }

  /** Grows the memory to at least `end` bytes, or throws OUT_OF_MEMORY past the wasm32 limit. */
  private growTo(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / 65536);
    if (have / 65536 + pages > MAXIMUM_PAGES) {
      throw new ChordError(
        'OUT_OF_MEMORY',
        `the wasm backend needs ${end} bytes of memory, more than the 4 GiB a wasm32 memory can hold`,
        { requested: end, limit: MAXIMUM_PAGES * 65536 },
      );
    }
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new ChordError('OUT_OF_MEMORY', `could not grow the wasm memory to ${end} bytes: ${(e as Error).message}`);
    }
  }

  /** The whole memory as bytes (a fresh view after growth; unshared memories detach old ones). */
  u8(): Uint8Array {
    if (this.u8View.buffer !== this.memory.buffer || this.u8View.length !== this.memory.buffer.byteLength) {
      this.u8View = new Uint8Array(this.memory.buffer);
    }
    return this.u8View;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }
}
