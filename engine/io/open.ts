import { ChordError } from '../../shared/errors.ts';
import { fromBlob } from './blob.ts';
import type { ByteSource } from './byte-source.ts';
import { fromBytes } from './bytes.ts';
import { fromURL, type URLSourceOptions } from './url.ts';

export type SourceInput = string | URL | Blob | ArrayBuffer | Uint8Array | ByteSource;

export function isByteSource(x: unknown): x is ByteSource {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as ByteSource).read === 'function' &&
    typeof (x as ByteSource).size === 'number'
  );
}

/**
 * A ByteSource for the platform-neutral kinds of input: http(s) URLs (as string
 * or URL), Blobs and Files, buffers, or a ByteSource (returned as is). File paths
 * are Node-only: see engine/node/file-source.ts `openNodeSource`.
 */
export async function openSource(input: SourceInput, opts: URLSourceOptions = {}): Promise<ByteSource> {
  if (isByteSource(input)) return input;
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return fromBytes(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return fromBlob(input);
  if (typeof input === 'string' || input instanceof URL) {
    const href = String(input);
    if (/^https?:\/\//i.test(href)) return fromURL(href, opts);
    throw new ChordError('INVALID_ARGUMENT', `cannot open '${href}' here: only http(s) URLs (paths need Node)`);
  }
  throw new ChordError('INVALID_ARGUMENT', 'cannot open this kind of model source');
}
