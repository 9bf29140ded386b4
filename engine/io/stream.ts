import { ChordError, throwIfAborted } from '../../shared/errors.ts';

/**
 * Copies a byte stream (an HTTP body, a Blob's) into `dest` as it arrives, so
 * that no buffer of the whole body is ever held. The stream must hold exactly
 * `dest.length` bytes; more, fewer or a failing stream reject with IO_ERROR
 * (ABORTED once `signal` aborts), and the stream is cancelled so its connection
 * is let go.
 *
 * A readable byte stream (fetch bodies and Blob streams are) is read with a BYOB
 * reader into one reused staging buffer: reading a model this way allocates
 * nothing per chunk. With a plain reader every chunk is a fresh ArrayBuffer,
 * garbage once copied, and a browser collects it late: the wasm memory's size
 * raises the garbage collector's allowance for external memory, so hundreds of
 * MiB of spent chunks could pile up beside the weights while a model loads.
 * `dest` itself cannot be handed to the reader: a BYOB read transfers its
 * buffer, and a wasm memory's buffer cannot be transferred.
 */
export async function copyStreamInto(
  stream: ReadableStream<Uint8Array>,
  dest: Uint8Array,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const byob = byobReader(stream);
  const reader = byob ?? stream.getReader();
  let filled = 0;
  const failed = (e: unknown) => {
    throwIfAborted(signal);
    return new ChordError('IO_ERROR', `${what}: reading failed after ${filled} of ${dest.length} bytes: ${message(e)}`);
  };
  try {
    if (byob) {
      let staging = takeStaging();
      try {
        // One read past the end (a 1-byte view) tells a body that is too long from one that ends.
        while (filled <= dest.length) {
          const want = Math.max(1, Math.min(staging.byteLength, dest.length - filled));
          const chunk = await byob.read(new Uint8Array(staging, 0, want)).catch((e) => {
            throw failed(e);
          });
          if (chunk.value) staging = chunk.value.buffer as ArrayBuffer;
          if (chunk.done) break;
          throwIfAborted(signal);
          filled = copyChunk(chunk.value, dest, filled, what);
        }
      } finally {
        if (staging.byteLength > 0) spareStaging = staging;
      }
    } else {
      const plain = reader as ReadableStreamDefaultReader<Uint8Array>;
      for (;;) {
        const chunk = await plain.read().catch((e) => {
          throw failed(e);
        });
        if (chunk.done) break;
        throwIfAborted(signal);
        filled = copyChunk(chunk.value, dest, filled, what);
      }
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  if (filled !== dest.length) {
    throw new ChordError('IO_ERROR', `${what}: got ${filled} bytes, expected ${dest.length}`);
  }
}

/** Copies `chunk` to `dest` at `filled`; returns the new fill, or throws IO_ERROR if it would overflow. */
function copyChunk(chunk: Uint8Array, dest: Uint8Array, filled: number, what: string): number {
  if (chunk.length > dest.length - filled) {
    throw new ChordError('IO_ERROR', `${what}: got more than the ${dest.length} bytes asked for`);
  }
  dest.set(chunk, filled);
  return filled + chunk.length;
}

function byobReader(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return stream.getReader({ mode: 'byob' });
  } catch {
    return undefined; // not a byte stream
  }
}

const STAGING_BYTES = 1 << 20;
/** The staging buffer of the last copy, for the next (a copy running beside it makes its own). */
let spareStaging: ArrayBuffer | undefined;

function takeStaging(): ArrayBuffer {
  const b = spareStaging ?? new ArrayBuffer(STAGING_BYTES);
  spareStaging = undefined;
  return b;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
