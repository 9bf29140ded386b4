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
  /** Releases file handles, connections. */
  close?(): Promise<void>;
}
