import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Heap } from '../../../../engine/tokenizer/heap.ts';

describe('Heap', () => {
  it('pops in order, ties by the second key (as the merge queues need)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 50 }))), (items) => {
        const heap = new Heap<[number, number]>((a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]));
        for (const it of items) heap.push(it);
        const out: [number, number][] = [];
        for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push(x);
        const sorted = [...items].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        expect(out).toEqual(sorted);
        expect(heap.size).toBe(0);
      }),
    );
  });

  it('interleaves pushes and pops', () => {
    const heap = new Heap<number>((a, b) => a < b);
    heap.push(5);
    heap.push(1);
    expect(heap.pop()).toBe(1);
    heap.push(3);
    heap.push(0);
    expect([heap.pop(), heap.pop(), heap.pop(), heap.pop()]).toEqual([0, 3, 5, undefined]);
  });
});
