import { throwIfAborted } from '../../shared/errors.ts';
import type { ByteSource } from './byte-source.ts';
import { checkReadRange } from './range.ts';

/** A ByteSource over bytes already in memory. Reads return views into them, not copies. */
export function fromBytes(data: ArrayBuffer | Uint8Array, name = 'buffer'): ByteSource {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const source: ByteSource = {
    size: bytes.length,
    name,
    async read(offset, length, signal) {
      throwIfAborted(signal);
      checkReadRange(source, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    async readInto(offset, dest, signal) {
      dest.set(await source.read(offset, dest.length, signal));
    },
  };
  return source;
}
