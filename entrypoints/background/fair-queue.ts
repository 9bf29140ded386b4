/**
 * Round-robin across lanes (one lane per tab, one for the side panel), FIFO within
 * a lane: a tab that queues ten requests cannot starve a tab that queues one.
 *
 * The next item comes from the waiting lane served least recently (never-served
 * lanes first, in arrival order). Lanes remember when they were last served even
 * while empty, so a tab that sends its next request just after its previous one
 * ended still waits behind the tabs that are already queued.
 */
export class FairQueue<T> {
  private readonly lanes = new Map<string, T[]>();
  private readonly lastServed = new Map<string, number>();
  private clock = 0;

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

  shift(): T | undefined {
    let best: string | undefined;
    for (const lane of this.lanes.keys()) {
      if (best === undefined || (this.lastServed.get(lane) ?? 0) < (this.lastServed.get(best) ?? 0)) best = lane;
    }
    if (best === undefined) return undefined;
    const items = this.lanes.get(best)!;
    const item = items.shift();
    if (items.length === 0) this.lanes.delete(best);
    this.lastServed.set(best, ++this.clock);
    this.forgetOldLanes();
    return item;
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

  /** Bounded memory: idle lanes' history goes, oldest first. */
  private forgetOldLanes(limit = 256): void {
    for (const lane of this.lastServed.keys()) {
      if (this.lastServed.size <= limit) return;
      if (!this.lanes.has(lane)) this.lastServed.delete(lane);
    }
  }
}
