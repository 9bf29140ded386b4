import { checkReadRange } from './range.ts';

/**
 * Random access to a model's bytes without holding the whole file: GGUF files
 * exceed 2 GiB, so nothing may require one contiguous ArrayBuffer.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A human-readable name for errors and logs (file name, URL). */
  readonly name: string;
  /**
   * Reads exactly `length` bytes at `offset`; a range beyond `size` rejects with
   * ChordError('GGUF_TRUNCATED' or 'IO_ERROR'). The returned view may share memory
   * with the source: copy it before mutating.
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Reads exactly `dest.length` bytes at `offset` into `dest` (a view of a wasm
   * memory, say), piece by piece as they arrive, with no buffer of the whole range
   * in between: a tensor then lives once in memory, where it belongs. Errors as
   * `read`; after one, `dest` holds an unspecified part of the range.
   * Optional: `readInto` below falls back to `read` and a copy.
   */
  readInto?(offset: number, dest: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Releases file handles, connections. */
  close?(): Promise<void>;
}

/** Fills `dest` with the bytes of `source` at `offset`: straight in where the source can, else read and copied. */
export async function readInto(
  source: ByteSource,
  offset: number,
  dest: Uint8Array,
  signal?: AbortSignal,
): Promise<void> {
  if (source.readInto) return source.readInto(offset, dest, signal);
  checkReadRange(source, offset, dest.length);
  dest.set(await source.read(offset, dest.length, signal));
}
