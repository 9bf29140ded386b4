/**
 * A ByteSource over HTTP(S) with Range requests, so a multi-GiB model is read
 * piece by piece (header first, then tensors) without downloading it whole.
 *
 * Opening sends one ranged GET for the first block: a 206 answer gives the size
 * (Content-Range) and the first block, which seeds the read cache. A server that
 * ignores Range answers 200 with the whole body: that is accepted only for small
 * files (read into memory), otherwise RANGE_NOT_SUPPORTED.
 */
import { ChordError, throwIfAborted } from '../../shared/errors.ts';
import type { ByteSource } from './byte-source.ts';
import { fromBytes } from './bytes.ts';
import { withReadCache } from './cache.ts';
import { checkReadRange } from './range.ts';
import { copyStreamInto } from './stream.ts';

export interface URLSourceOptions {
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** A server that ignores Range is tolerated for files up to this size (default 32 MiB). */
  maxUnrangedBytes?: number;
  /** Read-cache block size (default 1 MiB) and number of blocks kept (default 8). */
  blockSize?: number;
  cacheBlocks?: number;
  signal?: AbortSignal;
}

const CONTENT_RANGE = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i;

export async function fromURL(url: string | URL, opts: URLSourceOptions = {}): Promise<ByteSource> {
  const href = String(url);
  const doFetch = opts.fetch ?? globalThis.fetch;
  const blockSize = opts.blockSize ?? 1 << 20;
  const maxUnranged = opts.maxUnrangedBytes ?? 32 << 20;

  async function request(range: string | undefined, signal?: AbortSignal, method = 'GET'): Promise<Response> {
    const headers = new Headers(opts.headers);
    if (range !== undefined) headers.set('Range', range);
    try {
      return await doFetch(href, { method, headers, signal });
    } catch (e) {
      throwIfAborted(signal);
      throw new ChordError('IO_ERROR', `${href}: request failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  const probe = await request(`bytes=0-${blockSize - 1}`, opts.signal);
  if (probe.status === 200) {
    return fromBytes(await readWholeBody(probe, href, maxUnranged), href);
  }
  if (probe.status === 416) {
    // Range not satisfiable for bytes=0-…: the file is empty.
    await probe.body?.cancel();
    const total = /\/(\d+)$/.exec(probe.headers.get('Content-Range') ?? '')?.[1];
    if (total === '0') return fromBytes(new Uint8Array(0), href);
    throw httpError(href, probe);
  }
  if (probe.status !== 206) {
    await probe.body?.cancel();
    throw httpError(href, probe);
  }

  let size = totalFromContentRange(probe.headers.get('Content-Range'));
  if (size === undefined) size = await sizeFromHead();
  if (size === undefined) {
    await probe.body?.cancel();
    throw new ChordError('RANGE_NOT_SUPPORTED', `${href}: the server does not tell the file size`);
  }
  const first = new Uint8Array(await probe.arrayBuffer());
  if (first.length !== Math.min(blockSize, size)) {
    throw new ChordError('IO_ERROR', `${href}: got ${first.length} bytes for the first block`);
  }

  async function sizeFromHead(): Promise<number | undefined> {
    const head = await request(undefined, opts.signal, 'HEAD');
    const n = Number(head.headers.get('Content-Length') ?? Number.NaN);
    return head.ok && Number.isSafeInteger(n) ? n : undefined;
  }

  /** A 206 answer for bytes [offset, offset + length), its body not read yet. */
  async function rangeResponse(offset: number, length: number, signal?: AbortSignal): Promise<Response> {
    const res = await request(`bytes=${offset}-${offset + length - 1}`, signal);
    if (res.status !== 206) {
      await res.body?.cancel();
      if (res.ok) throw new ChordError('RANGE_NOT_SUPPORTED', `${href}: the server ignored a Range request`);
      throw httpError(href, res);
    }
    const m = CONTENT_RANGE.exec(res.headers.get('Content-Range') ?? '');
    if (m && Number(m[1]) !== offset) {
      await res.body?.cancel();
      throw new ChordError('IO_ERROR', `${href}: asked for bytes from ${offset}, got from ${m[1]}`);
    }
    return res;
  }

  const remote: ByteSource = {
    size,
    name: href,
    async read(offset, length, signal) {
      const bytes = new Uint8Array(length);
      await remote.readInto!(offset, bytes, signal);
      return bytes;
    },
    // The body is copied into `dest` as it arrives: no buffer of the whole range
    // (as Response.arrayBuffer() builds) is held beside it.
    async readInto(offset, dest, signal) {
      throwIfAborted(signal);
      checkReadRange(remote, offset, dest.length);
      if (dest.length === 0) return;
      const res = await rangeResponse(offset, dest.length, signal);
      if (res.body === null) throw new ChordError('IO_ERROR', `${href}: got no body for bytes from ${offset}`);
      await copyStreamInto(res.body, dest, href, signal);
    },
  };
  return withReadCache(remote, { blockSize, maxBlocks: opts.cacheBlocks, seed: new Map([[0, first]]) });
}

function httpError(href: string, res: Response): ChordError {
  return new ChordError('HTTP_ERROR', `${href}: HTTP ${res.status} ${res.statusText}`.trim(), {
    status: res.status,
    url: href,
  });
}

function totalFromContentRange(header: string | null): number | undefined {
  const m = CONTENT_RANGE.exec(header ?? '');
  if (!m || m[3] === '*') return undefined;
  const n = Number(m[3]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The body of a server that ignored Range, read only while it stays small. */
async function readWholeBody(res: Response, href: string, limit: number): Promise<Uint8Array> {
  const tooBig = () =>
    new ChordError('RANGE_NOT_SUPPORTED', `${href}: the server ignores Range requests and the file is large`, {
      limit,
    });
  const declared = Number(res.headers.get('Content-Length') ?? Number.NaN);
  if (declared > limit) {
    await res.body?.cancel();
    throw tooBig();
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw tooBig();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
