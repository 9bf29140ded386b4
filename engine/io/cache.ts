/**
 * A small block cache in front of a slow ByteSource (the network): reads no
 * longer than a block are served from whole aligned blocks kept in a short LRU
 * list, so the many small sequential reads a header walk makes cost one request
 * per block, not one each. Longer reads (tensor data) go straight through,
 * into the caller's destination where the source can (readInto).
 */
import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import { type ByteSource, readInto } from './byte-source.ts';
import { checkReadRange } from './range.ts';

export interface ReadCacheOptions {
  /** Bytes per cached block (default 1 MiB). */
  blockSize?: number;
  /** Blocks kept (default 8). */
  maxBlocks?: number;
  /** Blocks already fetched, by block index (e.g. the first block, read while probing a URL). */
  seed?: ReadonlyMap<number, Uint8Array>;
}

export function withReadCache(source: ByteSource, opts: ReadCacheOptions = {}): ByteSource {
  const blockSize = opts.blockSize ?? 1 << 20;
  const maxBlocks = Math.max(2, opts.maxBlocks ?? 8);
  // Insertion order of a Map is the LRU order: the first key is the oldest.
  const blocks = new Map<number, Promise<Uint8Array>>();
  for (const [i, bytes] of opts.seed ?? []) {
    if (bytes.length === blockLength(i)) blocks.set(i, Promise.resolve(bytes));
  }

  function blockLength(i: number): number {
    return Math.min(blockSize, source.size - i * blockSize);
  }

  function block(i: number): Promise<Uint8Array> {
    let p = blocks.get(i);
    if (p !== undefined) {
      blocks.delete(i);
    } else {
      // Fetched without the caller's signal: other readers may be waiting for the same block.
      p = source.read(i * blockSize, blockLength(i));
      p.catch(() => blocks.delete(i));
    }
    blocks.set(i, p);
    while (blocks.size > maxBlocks) blocks.delete(blocks.keys().next().value!);
    return p;
  }

  const cached: ByteSource = {
    size: source.size,
    name: source.name,
    async read(offset, length, signal) {
      throwIfAborted(signal);
      checkReadRange(cached, offset, length);
      if (length === 0) return new Uint8Array(0);
      if (length > blockSize) return source.read(offset, length, signal);
      const first = Math.floor(offset / blockSize);
      const last = Math.floor((offset + length - 1) / blockSize);
      if (first === last) {
        const b = await abortable(block(first), signal);
        const start = offset - first * blockSize;
        return b.subarray(start, start + length);
      }
      // A read no longer than a block spans at most two blocks.
      const [a, b] = await abortable(Promise.all([block(first), block(last)]), signal);
      const out = new Uint8Array(length);
      const fromA = a.subarray(offset - first * blockSize);
      out.set(fromA);
      out.set(b.subarray(0, length - fromA.length), fromA.length);
      return out;
    },
    async readInto(offset, dest, signal) {
      if (dest.length > blockSize) return readInto(source, offset, dest, signal);
      dest.set(await cached.read(offset, dest.length, signal));
    },
    close: source.close ? () => source.close!() : undefined,
  };
  return cached;
}

/** Waits for `p` unless `signal` aborts first. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new ChordError('ABORTED', 'the request was aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
