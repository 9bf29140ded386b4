/**
 * A ByteSource over a stored model's chunk rows. Reads fetch only the chunks a
 * range touches; the last few chunks stay cached, since the loader walks the
 * file tensor by tensor (sequential reads inside one chunk).
 */
import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { checkReadRange } from '../io/range.ts';
import type { ModelDB } from './db.ts';

const CACHED_CHUNKS = 2;

export function chunkSource(db: ModelDB, modelId: string, size: number, chunkSize: number, name: string): ByteSource {
  const cache = new Map<number, Uint8Array>();

  async function chunk(index: number): Promise<Uint8Array> {
    const hit = cache.get(index);
    if (hit) return hit;
    const row = await db.chunks.get([modelId, index]);
    const expected = Math.min(chunkSize, size - index * chunkSize);
    if (!row || row.data.length < expected) {
      throw new ChordError('IO_ERROR', `${name}: stored chunk ${index} is missing or short`, { modelId, index });
    }
    if (cache.size >= CACHED_CHUNKS) cache.delete(cache.keys().next().value as number);
    cache.set(index, row.data);
    return row.data;
  }

  const source: ByteSource = {
    size,
    name,
    async read(offset, length, signal) {
      throwIfAborted(signal);
      checkReadRange(source, offset, length);
      if (length === 0) return new Uint8Array(0);
      const first = Math.floor(offset / chunkSize);
      const last = Math.floor((offset + length - 1) / chunkSize);
      if (first === last) {
        const data = await chunk(first);
        const at = offset - first * chunkSize;
        return data.subarray(at, at + length);
      }
      const out = new Uint8Array(length);
      for (let i = first; i <= last; i++) {
        throwIfAborted(signal);
        const data = await chunk(i);
        const chunkStart = i * chunkSize;
        const from = Math.max(offset, chunkStart) - chunkStart;
        const to = Math.min(offset + length, chunkStart + data.length) - chunkStart;
        out.set(data.subarray(from, to), chunkStart + from - offset);
      }
      return out;
    },
    async close() {
      cache.clear();
    },
  };
  return source;
}
