/**
 * One HTTP request of a resumable download: a GET from byte `start` (a Range
 * request when start > 0), answered with the total size and a body stream.
 * A server that ignores Range (200 to a ranged request) or whose file changed
 * (a different ETag) is reported, so the caller restarts from byte 0.
 */
import { ChordError } from '../../shared/errors.ts';

export interface RangeResponse {
  /** Where the body starts in the file (0 when the server ignored Range). */
  start: number;
  /** Total file size, or undefined when the server does not say. */
  size: number | undefined;
  etag?: string;
  body: ReadableStream<Uint8Array>;
}

const CONTENT_RANGE = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i;

export async function requestFrom(
  doFetch: typeof fetch,
  url: string,
  start: number,
  signal: AbortSignal | undefined,
): Promise<RangeResponse | 'complete' | 'changed'> {
  const headers = new Headers();
  // Only Range: it is CORS-safelisted, so a cross-origin model host needs no
  // preflight; If-Range would need one. A changed file is caught by comparing
  // the answer's size and ETag with what we stored instead.
  if (start > 0) headers.set('Range', `bytes=${start}-`);
  let res: Response;
  try {
    res = await doFetch(url, { headers, signal, cache: 'no-store' });
  } catch (e) {
    if (signal?.aborted) throw new ChordError('ABORTED', 'the download was cancelled');
    throw new ChordError('DOWNLOAD_FAILED', `${url}: ${e instanceof Error ? e.message : String(e)}`, {
      retryable: true,
    });
  }
  if (res.status === 416 && start > 0) {
    // Nothing left past `start`: the file is complete if the size agrees.
    const total = /\/(\d+)$/.exec(res.headers.get('Content-Range') ?? '');
    if (total && Number(total[1]) === start) return 'complete';
    // Shorter than what we have: the file changed.
    return 'changed';
  }
  if (!res.ok || !res.body) {
    throw new ChordError('HTTP_ERROR', `${url}: HTTP ${res.status} ${res.statusText}`.trim(), {
      status: res.status,
      retryable: res.status >= 500 || res.status === 408 || res.status === 429,
    });
  }
  const resEtag = res.headers.get('ETag') ?? undefined;
  if (res.status === 206) {
    const contentRange = res.headers.get('Content-Range');
    if (contentRange === null) {
      // A cross-origin host that does not expose Content-Range: the 206 answers our range.
      const length = res.headers.get('Content-Length');
      return { start, size: length === null ? undefined : start + Number(length), etag: resEtag, body: res.body };
    }
    const m = CONTENT_RANGE.exec(contentRange);
    if (!m || Number(m[1]) !== start) {
      await res.body.cancel();
      throw new ChordError('DOWNLOAD_FAILED', `${url}: unexpected Content-Range '${contentRange}'`);
    }
    const size = m[3] === '*' ? undefined : Number(m[3]);
    return { start, size, etag: resEtag, body: res.body };
  }
  const length = res.headers.get('Content-Length');
  // Content-Length is the body's length only when the body is not re-encoded.
  const encoded = (res.headers.get('Content-Encoding') ?? 'identity') !== 'identity';
  const size = length !== null && !encoded ? Number(length) : undefined;
  return { start: 0, size, etag: resEtag, body: res.body };
}
