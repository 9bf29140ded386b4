/**
 * Partial ordering of token ids by logit, without sorting the whole vocabulary.
 *
 * A vocabulary can hold 150k tokens while a sampler keeps a few dozen, so we
 * select with binary heaps over an Int32Array of ids: O(n log k) for top-k and
 * O(n + m log n) for "take the best until a condition holds" (top-p).
 *
 * Rank order everywhere: higher logit first, and among equal logits the lower id
 * first, so that every result is deterministic.
 */

/** True when token a ranks before token b. */
export function ranksBefore(logits: Float32Array, a: number, b: number): boolean {
  const la = logits[a];
  const lb = logits[b];
  return la > lb || (la === lb && a < b);
}

/**
 * Restores the heap property below `node` in ids[0..size). With `worstOnTop`
 * the root is the lowest-ranked id (a min-heap), otherwise the best (a max-heap).
 */
function siftDown(logits: Float32Array, ids: Int32Array, node: number, size: number, worstOnTop: boolean): void {
  for (;;) {
    const left = 2 * node + 1;
    if (left >= size) return;
    const right = left + 1;
    let top = node;
    // move up the child that belongs nearer the root: the worse one in a min-heap, the better one otherwise
    if (worstOnTop ? ranksBefore(logits, ids[top], ids[left]) : ranksBefore(logits, ids[left], ids[top])) top = left;
    if (
      right < size &&
      (worstOnTop ? ranksBefore(logits, ids[top], ids[right]) : ranksBefore(logits, ids[right], ids[top]))
    ) {
      top = right;
    }
    if (top === node) return;
    const t = ids[node];
    ids[node] = ids[top];
    ids[top] = t;
    node = top;
  }
}

function heapify(logits: Float32Array, ids: Int32Array, size: number, worstOnTop: boolean): void {
  for (let i = (size >> 1) - 1; i >= 0; i--) siftDown(logits, ids, i, size, worstOnTop);
}

/**
 * Keeps the k best of ids[0..size) in ids[0..k), ordered best first.
 * A min-heap of the k best so far sits in ids[0..k): its root is the one to evict.
 */
export function selectTopK(logits: Float32Array, ids: Int32Array, size: number, k: number): void {
  if (k <= 0) return;
  if (k > size) k = size;
  heapify(logits, ids, k, true);
  // most ids lose to the root at once: keep its logit at hand for that one comparison
  let rootId = ids[0];
  let rootLogit = logits[rootId];
  for (let i = k; i < size; i++) {
    const id = ids[i];
    const l = logits[id];
    if (l > rootLogit || (l === rootLogit && id < rootId)) {
      ids[i] = rootId;
      ids[0] = id;
      siftDown(logits, ids, 0, k, true);
      rootId = ids[0];
      rootLogit = logits[rootId];
    }
  }
  // heapsort the survivors: moving the worst to the back each time leaves them best first
  for (let end = k - 1; end > 0; end--) {
    const t = ids[0];
    ids[0] = ids[end];
    ids[end] = t;
    siftDown(logits, ids, 0, end, true);
  }
}

/**
 * Visits ids[0..size) best first and stops once `keep(id, rank)` returns false
 * (that id is kept too) or the ids run out. The visited ids end up in
 * ids[0..m), best first; returns m. Costs O(size + m log size).
 */
export function takeBestWhile(
  logits: Float32Array,
  ids: Int32Array,
  size: number,
  more: (id: number, rank: number) => boolean,
): number {
  heapify(logits, ids, size, false);
  let heapSize = size;
  let taken = 0;
  while (heapSize > 0) {
    const best = ids[0];
    // pop: the best goes just past the shrinking heap, so taken ids pile up at the back, best last
    heapSize--;
    ids[0] = ids[heapSize];
    ids[heapSize] = best;
    siftDown(logits, ids, 0, heapSize, false);
    taken++;
    if (!more(best, taken - 1)) break;
  }
  // the taken ids lie in ids[size-taken..size) worst first: reverse them and move them to the front
  ids.subarray(size - taken, size).reverse();
  ids.copyWithin(0, size - taken, size);
  return taken;
}
