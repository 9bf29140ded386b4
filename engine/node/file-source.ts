/**
 * Node-only byte sources: a file on disk, read with positioned reads through one
 * FileHandle (files beyond 2 GiB are fine: positions are plain numbers up to 2^53).
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { openSource, type SourceInput } from '../io/open.ts';
import { checkReadRange } from '../io/range.ts';
import type { URLSourceOptions } from '../io/url.ts';

/** Node refuses single reads over 2 GiB; big tensors are read in pieces of this size. */
const MAX_READ_BYTES = 1 << 30;

export async function fromFile(path: string): Promise<ByteSource> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new ChordError('IO_ERROR', `${path}: cannot open: ${e instanceof Error ? e.message : String(e)}`, { path });
  }
  const { size } = await handle.stat();
  const name = basename(path);
  let closed = false;

  const source: ByteSource = {
    size,
    name,
    async read(offset, length, signal) {
      const out = new Uint8Array(length);
      await source.readInto!(offset, out, signal);
      return out;
    },
    // Positioned reads straight into `dest` (a view of wasm memory, for weights).
    async readInto(offset, dest, signal) {
      throwIfAborted(signal);
      checkReadRange(source, offset, dest.length);
      if (closed) throw new ChordError('IO_ERROR', `${name}: read after close`);
      let done = 0;
      while (done < dest.length) {
        const want = Math.min(dest.length - done, MAX_READ_BYTES);
        let bytesRead: number;
        try {
          ({ bytesRead } = await handle.read(dest, done, want, offset + done));
        } catch (e) {
          throw new ChordError('IO_ERROR', `${name}: read failed: ${e instanceof Error ? e.message : String(e)}`);
        }
        // The file shrank since it was opened.
        if (bytesRead === 0)
          throw new ChordError('GGUF_TRUNCATED', `${name}: unexpected end of file at ${offset + done}`);
        done += bytesRead;
        throwIfAborted(signal);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
  return source;
}

/** openSource plus the Node-only kinds: file paths and file: URLs. */
export async function openNodeSource(input: SourceInput, opts: URLSourceOptions = {}): Promise<ByteSource> {
  if (input instanceof URL && input.protocol === 'file:') return fromFile(fileURLToPath(input));
  if (typeof input === 'string') {
    if (/^file:/i.test(input)) return fromFile(fileURLToPath(input));
    if (!/^https?:\/\//i.test(input)) return fromFile(input);
  }
  return openSource(input, opts);
}
