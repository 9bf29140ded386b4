import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { ByteSource } from './byte-source.ts';
import { checkReadRange } from './range.ts';
import { copyStreamInto } from './stream.ts';

/**
 * A ByteSource over a Blob or File: each read slices the blob, so the browser
 * reads only the requested range from disk; readInto streams the slice into
 * its destination chunk by chunk.
 */
export function fromBlob(blob: Blob, name?: string): ByteSource {
  const sourceName = name ?? (blob as Partial<File>).name ?? 'blob';
  const source: ByteSource = {
    size: blob.size,
    name: sourceName,
    async read(offset, length, signal) {
      throwIfAborted(signal);
      checkReadRange(source, offset, length);
      let buffer: ArrayBuffer;
      try {
        buffer = await blob.slice(offset, offset + length).arrayBuffer();
      } catch (e) {
        // A File changed or deleted on disk after it was picked fails here (NotReadableError).
        throw new ChordError('IO_ERROR', `${sourceName}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
      }
      throwIfAborted(signal);
      if (buffer.byteLength !== length) {
        throw new ChordError('IO_ERROR', `${sourceName}: read ${buffer.byteLength} bytes, expected ${length}`);
      }
      return new Uint8Array(buffer);
    },
    async readInto(offset, dest, signal) {
      throwIfAborted(signal);
      checkReadRange(source, offset, dest.length);
      if (dest.length === 0) return;
      // A File changed or deleted on disk after it was picked fails mid-stream (IO_ERROR).
      await copyStreamInto(blob.slice(offset, offset + dest.length).stream(), dest, sourceName, signal);
    },
  };
  return source;
}
