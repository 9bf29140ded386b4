import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUF, readTensorBytes } from '../../../../engine/gguf/reader.ts';
import { fromBlob } from '../../../../engine/io/blob.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { withReadCache } from '../../../../engine/io/cache.ts';
import { openSource } from '../../../../engine/io/open.ts';
import { fromURL } from '../../../../engine/io/url.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';

function pattern(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

const code = (c: string) => (e: unknown) => isChordError(e, c as never);

describe('fromBytes', () => {
  it('reads ranges and rejects reads past the end', async () => {
    const data = pattern(1000);
    const s = fromBytes(data.buffer as ArrayBuffer, 'x');
    expect(s.size).toBe(1000);
    expect(await s.read(10, 5)).toEqual(data.subarray(10, 15));
    expect((await s.read(1000, 0)).length).toBe(0);
    await expect(s.read(998, 5)).rejects.toSatisfy(code('GGUF_TRUNCATED'));
    await expect(s.read(-1, 5)).rejects.toSatisfy(code('INVALID_ARGUMENT'));
  });
});

describe('fromBlob', () => {
  it('reads ranges of a Blob and takes a File name', async () => {
    const data = pattern(5000);
    const file = new File([data as Uint8Array<ArrayBuffer>], 'model.gguf');
    const s = fromBlob(file);
    expect(s.name).toBe('model.gguf');
    expect(s.size).toBe(5000);
    expect(await s.read(4000, 1000)).toEqual(data.subarray(4000, 5000));
    await expect(s.read(4500, 1000)).rejects.toSatisfy(code('GGUF_TRUNCATED'));
  });
});

describe('withReadCache', () => {
  it('serves small reads from whole blocks and counts one inner read per block', async () => {
    const data = pattern(10_000);
    const inner = fromBytes(data);
    const calls: Array<[number, number]> = [];
    const counted = {
      ...inner,
      read: (o: number, l: number) => {
        calls.push([o, l]);
        return inner.read(o, l);
      },
    };
    const s = withReadCache(counted, { blockSize: 1024, maxBlocks: 2 });
    for (let o = 0; o < 1000; o += 10) expect(await s.read(o, 10)).toEqual(data.subarray(o, o + 10));
    expect(calls).toEqual([[0, 1024]]);
    // Spanning two blocks.
    expect(await s.read(1020, 10)).toEqual(data.subarray(1020, 1030));
    expect(calls.length).toBe(2);
    // The last, short block.
    expect(await s.read(9990, 10)).toEqual(data.subarray(9990, 10_000));
    expect(calls.at(-1)).toEqual([9216, 784]);
    // Long reads pass straight through.
    expect(await s.read(100, 3000)).toEqual(data.subarray(100, 3100));
    expect(calls.at(-1)).toEqual([100, 3000]);
  });
});

describe('fromURL against a local HTTP server', () => {
  const data = pattern(3 * 1024 * 1024 + 123);
  let server: Server;
  let base: string;
  let requests: Array<{ url: string; range?: string; method?: string }> = [];
  let modelBytes = new Uint8Array(0);

  function serve(req: IncomingMessage, res: ServerResponse) {
    requests.push({ url: req.url!, range: req.headers.range, method: req.method });
    if (req.url === '/missing') {
      res.writeHead(404).end('no');
      return;
    }
    if (req.url === '/auth' && req.headers.authorization !== 'Bearer t') {
      res.writeHead(401).end();
      return;
    }
    const body = req.url === '/small' ? data.subarray(0, 5000) : req.url === '/stories' ? modelBytes : data;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (req.url?.startsWith('/norange') || !m) {
      res.writeHead(200, { 'Content-Length': body.length }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), body.length - 1);
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${body.length}`, 'Content-Length': end - start + 1 });
    res.end(body.subarray(start, end + 1));
  }

  beforeAll(async () => {
    server = createServer(serve);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('learns the size from the first ranged GET and reads any range', async () => {
    requests = [];
    const s = await fromURL(`${base}/model.gguf`);
    expect(s.size).toBe(data.length);
    expect(requests).toEqual([{ url: '/model.gguf', range: 'bytes=0-1048575', method: 'GET' }]);
    // Small header-like reads inside the first block cost no request.
    for (let o = 0; o < 4096; o += 7) await s.read(o, 7);
    expect(requests.length).toBe(1);
    const big = await s.read(2_000_000, 1_100_000);
    expect(Buffer.from(big).equals(data.subarray(2_000_000, 3_100_000))).toBe(true);
    expect(requests.at(-1)!.range).toBe('bytes=2000000-3099999');
    expect(await s.read(data.length - 3, 3)).toEqual(data.subarray(data.length - 3));
  });

  it('passes headers, maps HTTP errors to HTTP_ERROR', async () => {
    await expect(fromURL(`${base}/missing`)).rejects.toSatisfy(code('HTTP_ERROR'));
    await expect(fromURL(`${base}/auth`)).rejects.toSatisfy(code('HTTP_ERROR'));
    const s = await fromURL(`${base}/auth`, { headers: { Authorization: 'Bearer t' } });
    expect(s.size).toBe(data.length);
  });

  it('a server ignoring Range: RANGE_NOT_SUPPORTED for a large file, read whole for a small one', async () => {
    await expect(fromURL(`${base}/norange`, { maxUnrangedBytes: 1 << 20 })).rejects.toSatisfy(
      code('RANGE_NOT_SUPPORTED'),
    );
    const s = await fromURL(`${base}/norange`, { maxUnrangedBytes: 8 << 20 });
    expect(s.size).toBe(data.length);
    expect(await s.read(5, 5)).toEqual(data.subarray(5, 10));
  });

  it('a file smaller than the first block', async () => {
    const s = await openSource(`${base}/small`);
    expect(s.size).toBe(5000);
    expect(await s.read(4990, 10)).toEqual(data.subarray(4990, 5000));
  });

  it('readGGUF over HTTP: the whole header of a real model in the first request', async () => {
    const path = fixture('models/stories260K.gguf');
    if (!path) return;
    modelBytes = new Uint8Array(readFileSync(path));
    requests = [];
    const s = await fromURL(`${base}/stories`);
    const file = await readGGUF(s);
    expect(file.tensors.length).toBe(48);
    expect(requests.length).toBe(1);
    const t = file.tensors[5];
    expect(await readTensorBytes(s, file, t)).toEqual(modelBytes.subarray(t.fileOffset, t.fileOffset + t.byteSize));
  });

  it('network failure is IO_ERROR; an injected fetch is used', async () => {
    const failing = (async () => {
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    await expect(fromURL('http://example.invalid/x', { fetch: failing })).rejects.toSatisfy(code('IO_ERROR'));
  });
});

describe('openSource', () => {
  it('passes ByteSources through and wraps buffers and blobs', async () => {
    const s = fromBytes(new Uint8Array(4));
    expect(await openSource(s)).toBe(s);
    expect((await openSource(new Uint8Array(7))).size).toBe(7);
    expect((await openSource(new ArrayBuffer(9))).size).toBe(9);
    expect((await openSource(new Blob([new Uint8Array(11)]))).size).toBe(11);
    await expect(openSource('/some/path.gguf')).rejects.toSatisfy(code('INVALID_ARGUMENT'));
  });
});
