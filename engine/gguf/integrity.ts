/**
 * SHA-256 of a model, streamed through its ByteSource in chunks (WebCrypto's
 * digest needs the whole input at once, which a multi-GiB model is not), and of
 * each tensor's bytes, to check a download or a stored copy.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import type { GGUFFile } from './types.ts';

export interface HashOptions {
  /** Called after each chunk with the bytes hashed so far and the total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Bytes read per step (default 4 MiB). */
  chunkSize?: number;
}

/** Lower-case hex SHA-256 of `length` bytes at `offset`. */
export async function sha256Range(
  source: ByteSource,
  offset: number,
  length: number,
  opts: HashOptions = {},
): Promise<string> {
  const chunk = opts.chunkSize ?? 4 << 20;
  const hash = sha256.create();
  for (let done = 0; done < length; ) {
    throwIfAborted(opts.signal);
    const n = Math.min(chunk, length - done);
    hash.update(await source.read(offset + done, n, opts.signal));
    done += n;
    opts.onProgress?.(done, length);
  }
  return bytesToHex(hash.digest());
}

/** Lower-case hex SHA-256 of the whole source (what `sha256sum` prints). */
export function sha256Source(source: ByteSource, opts: HashOptions = {}): Promise<string> {
  return sha256Range(source, 0, source.size, opts);
}

/** SHA-256 of each tensor's data, by tensor name, in file order. Progress counts tensor bytes. */
export async function sha256Tensors(
  source: ByteSource,
  file: GGUFFile,
  opts: HashOptions = {},
): Promise<Map<string, string>> {
  const total = file.tensors.reduce((a, t) => a + t.byteSize, 0);
  const out = new Map<string, string>();
  let before = 0;
  for (const t of file.tensors) {
    const base = before;
    const onProgress = opts.onProgress && ((done: number) => opts.onProgress!(base + done, total));
    out.set(t.name, await sha256Range(source, t.fileOffset, t.byteSize, { ...opts, onProgress }));
    before += t.byteSize;
  }
  return out;
}

/** Throws GGUF_CHECKSUM_MISMATCH unless the whole source hashes to `expected` (hex, any case). */
export async function verifySource(source: ByteSource, expected: string, opts: HashOptions = {}): Promise<void> {
  const actual = await sha256Source(source, opts);
  if (actual !== expected.toLowerCase()) {
    throw new ChordError('GGUF_CHECKSUM_MISMATCH', `${source.name}: sha256 ${actual}, expected ${expected}`, {
      actual,
      expected,
    });
  }
}

/**
 * Checks the tensors named in `expected` (name -> hex sha256). Throws
 * GGUF_CHECKSUM_MISMATCH listing every tensor that differs or is missing;
 * resolves to the names verified.
 */
export async function verifyTensors(
  source: ByteSource,
  file: GGUFFile,
  expected: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  opts: HashOptions = {},
): Promise<string[]> {
  const wanted = new Map(expected instanceof Map ? expected : Object.entries(expected));
  const tensors = file.tensors.filter((t) => wanted.has(t.name));
  const missing = [...wanted.keys()].filter((name) => !tensors.some((t) => t.name === name));
  const subset: GGUFFile = { ...file, tensors };
  const actual = await sha256Tensors(source, subset, opts);
  const mismatched = tensors.filter((t) => actual.get(t.name) !== wanted.get(t.name)!.toLowerCase()).map((t) => t.name);
  if (mismatched.length > 0 || missing.length > 0) {
    throw new ChordError(
      'GGUF_CHECKSUM_MISMATCH',
      `${source.name}: ${mismatched.length} tensor(s) differ, ${missing.length} missing`,
      { mismatched, missing },
    );
  }
  return tensors.map((t) => t.name);
}
