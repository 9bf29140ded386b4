import { ChordError } from '../../shared/errors.ts';
import type { ByteSource } from './byte-source.ts';

/** Checks a read request against a source's size; every ByteSource calls this first. */
export function checkReadRange(source: Pick<ByteSource, 'size' | 'name'>, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new ChordError('INVALID_ARGUMENT', `${source.name}: bad read range (offset ${offset}, length ${length})`);
  }
  if (offset + length > source.size) {
    throw new ChordError(
      'GGUF_TRUNCATED',
      `${source.name}: read of ${length} bytes at ${offset} runs past the end (${source.size} bytes)`,
      { offset, length, size: source.size },
    );
  }
}
