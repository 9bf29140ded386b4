import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../../../entrypoints/background/fair-queue.ts';

describe('FairQueue', () => {
  it('serves lanes round-robin and each lane in order', () => {
    const q = new FairQueue<string>();
    for (const item of ['a1', 'a2', 'a3']) q.push('a', item);
    q.push('b', 'b1');
    q.push('c', 'c1');
    q.push('b', 'b2');
    const order: string[] = [];
    for (let item = q.shift(); item !== undefined; item = q.shift()) order.push(item);
    // A tab with three requests does not make the others wait for all three.
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
    expect(q.size).toBe(0);
  });

  it('keeps a lane that was just served behind the waiting ones, even after it emptied', () => {
    const q = new FairQueue<string>();
    q.push('a', 'a1');
    expect(q.shift()).toBe('a1');
    q.push('a', 'a2'); // tab a asks again as soon as its first answer ends
    q.push('b', 'b1');
    expect(q.shift()).toBe('b1');
    expect(q.shift()).toBe('a2');
  });

  it('puts a lane that comes back at the end of the round', () => {
    const q = new FairQueue<string>();
    q.push('a', 'a1');
    q.push('b', 'b1');
    expect(q.shift()).toBe('a1');
    q.push('a', 'a2'); // a was served: it waits behind b
    expect(q.shift()).toBe('b1');
    expect(q.shift()).toBe('a2');
    expect(q.shift()).toBeUndefined();
  });

  it('removes matching items from every lane and drops emptied lanes', () => {
    const q = new FairQueue<{ tab: number; n: number }>();
    q.push('1', { tab: 1, n: 1 });
    q.push('2', { tab: 2, n: 1 });
    q.push('1', { tab: 1, n: 2 });
    const removed = q.remove((x) => x.tab === 1);
    expect(removed.map((x) => x.n)).toEqual([1, 2]);
    expect(q.size).toBe(1);
    expect(q.shift()).toEqual({ tab: 2, n: 1 });
    expect(q.remove(() => true)).toEqual([]);
  });
});
