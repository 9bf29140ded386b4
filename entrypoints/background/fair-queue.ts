/**
 * Round-robin across lanes (one lane per tab, one for the side panel), FIFO within
 * a lane: a tab that queues ten requests cannot starve a tab that queues one.
 */
export class FairQueue<T> {
  // Map keeps insertion order: the first lane is the next one served.
  private readonly lanes = new Map<string, T[]>();

  get size(): number {
    let n = 0;
    for (const items of this.lanes.values()) n += items.length;
    return n;
  }

  push(lane: string, item: T): void {
    const items = this.lanes.get(lane);
    if (items) items.push(item);
    else this.lanes.set(lane, [item]);
  }

  /** The next item: the head of the first lane, whose lane then goes to the back. */
  shift(): T | undefined {
    for (const [lane, items] of this.lanes) {
      const item = items.shift();
      this.lanes.delete(lane);
      if (items.length > 0) this.lanes.set(lane, items);
      if (item !== undefined) return item;
    }
    return undefined;
  }

  /** Takes out every item that matches (an aborted request, a closed tab's requests). */
  remove(matches: (item: T) => boolean): T[] {
    const removed: T[] = [];
    for (const [lane, items] of [...this.lanes]) {
      const kept: T[] = [];
      for (const item of items) (matches(item) ? removed : kept).push(item);
      if (kept.length > 0) this.lanes.set(lane, kept);
      else this.lanes.delete(lane);
    }
    return removed;
  }
}
