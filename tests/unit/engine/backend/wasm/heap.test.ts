/**
 * WasmHeap: weights read straight into the memory (allocFilled), given back
 * whole when their read fails, and one growth for all the weights (reserve).
 */
import { describe, expect, it } from 'vitest';
import { WasmHeap } from '../../../../../engine/backend/wasm/heap.ts';
import { ChordError, isChordError } from '../../../../../shared/errors.ts';

const PAGE = 65536;
const newHeap = (shared = false) => new WasmHeap(new WebAssembly.Memory({ initial: 17, maximum: 65536, shared }));

describe('WasmHeap', () => {
  it('allocFilled hands out a view of the region and keeps what the fill wrote', async () => {
    const heap = newHeap(true);
    const ptr = await heap.allocFilled(100_000, async (dest) => {
      expect(dest.buffer).toBe(heap.memory.buffer);
      expect(dest.length).toBe(100_000);
      for (let i = 0; i < dest.length; i++) dest[i] = i & 0xff;
    });
    expect(ptr % 64).toBe(0);
    expect(heap.used).toBe(ptr + 100_000);
    expect(heap.u8()[ptr + 1234]).toBe(1234 & 0xff);
  });

  it('a fill failing midway rethrows its error and leaves the heap as it was, the region zeroed', async () => {
    const heap = newHeap();
    heap.alloc(10);
    const used = heap.used;
    const byteLength = heap.byteLength;
    const err = new ChordError('IO_ERROR', 'the connection dropped');
    let region: [number, number] = [0, 0];
    await expect(
      heap.allocFilled(3 * PAGE, async (dest) => {
        region = [dest.byteOffset, dest.length];
        dest.fill(7, 0, PAGE); // half read, then the source fails
        throw err;
      }),
    ).rejects.toBe(err);
    expect(heap.used).toBe(used);
    expect(
      heap
        .u8()
        .subarray(region[0], region[0] + region[1])
        .every((b) => b === 0),
    ).toBe(true);
    // The next weight takes the same place; the memory it grew for stays (wasm memories do not shrink).
    expect(heap.byteLength).toBeGreaterThan(byteLength);
    expect(await heap.allocFilled(16, async () => {})).toBe(region[0]);
  });

  it('a region allocated past a failed fill goes to the free list for the next region of its size', async () => {
    const heap = newHeap();
    let release!: () => void;
    let ptrOfFailed = 0;
    const failing = heap.allocFilled(4096, async (dest) => {
      ptrOfFailed = dest.byteOffset;
      await new Promise<void>((r) => {
        release = r;
      });
      throw new ChordError('ABORTED', 'stop');
    });
    const after = heap.alloc(64); // allocated while the fill is pending
    release();
    await expect(failing).rejects.toSatisfy((e) => isChordError(e, 'ABORTED'));
    expect(heap.used).toBe(after + 64);
    expect(heap.allocOwned({}, 4096)).toBe(ptrOfFailed);
  });

  it('reserve grows the memory once, so the weights that follow need no growth', async () => {
    const heap = newHeap(true);
    const sizes = [300_000, 1_000_000, 64, 2_500_000];
    heap.reserve(sizes.reduce((a, b) => a + b, 0) + 64 * sizes.length);
    const reserved = heap.byteLength;
    const grow = heap.memory.grow.bind(heap.memory);
    let grows = 0;
    heap.memory.grow = (pages: number) => {
      grows++;
      return grow(pages);
    };
    for (const n of sizes) {
      await heap.allocFilled(n, async (d) => {
        d.fill(1);
      });
    }
    expect(grows).toBe(0);
    expect(heap.byteLength).toBe(reserved);
    expect(() => heap.reserve(5 * 2 ** 30)).toThrow(expect.objectContaining({ code: 'OUT_OF_MEMORY' }));
  });
});
