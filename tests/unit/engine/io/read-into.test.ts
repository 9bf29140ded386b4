/**
 * readInto: every ByteSource fills a caller's view (in the engine, of the wasm
 * memory) straight from its bytes, and a source failing mid-range gives a typed
 * error rather than a short or silent read.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBlob } from '../../../../engine/io/blob.ts';
import { type ByteSource, readInto } from '../../../../engine/io/byte-source.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { withReadCache } from '../../../../engine/io/cache.ts';
import { fromURL } from '../../../../engine/io/url.ts';
import { isChordError } from '../../../../shared/errors.ts';

function pattern(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
  return b;
}

const code = (c: string) => (e: unknown) => isChordError(e, c as never);

/** A view into shared memory, as a wasm backend's weights are, with a guard byte either side. */
function sharedView(length: number): Uint8Array {
  const mem = new Uint8Array(new SharedArrayBuffer(length + 2));
  mem[0] = 0xa5;
  mem[length + 1] = 0x5a;
  return mem.subarray(1, length + 1);
}

function guardsIntact(view: Uint8Array): boolean {
  const mem = new Uint8Array(view.buffer);
  return mem[view.byteOffset - 1] === 0xa5 && mem[view.byteOffset + view.length] === 0x5a;
}

describe('readInto', () => {
  const data = pattern(10_000);

  it('fromBytes and fromBlob fill the view; ranges past the end are GGUF_TRUNCATED', async () => {
    for (const s of [fromBytes(data), fromBlob(new Blob([data]))]) {
      expect(s.readInto).toBeDefined();
      const dest = sharedView(3000);
      await readInto(s, 6000, dest);
      expect(dest).toEqual(data.subarray(6000, 9000));
      expect(guardsIntact(dest)).toBe(true);
      await expect(readInto(s, 8000, sharedView(3000))).rejects.toSatisfy(code('GGUF_TRUNCATED'));
    }
  });

  it('a source without readInto is read and copied', async () => {
    const inner = fromBytes(data);
    const plain: ByteSource = { size: inner.size, name: 'plain', read: (o, l, sig) => inner.read(o, l, sig) };
    const dest = sharedView(100);
    await readInto(plain, 50, dest);
    expect(dest).toEqual(data.subarray(50, 150));
    await expect(readInto(plain, 9950, sharedView(100))).rejects.toSatisfy(code('GGUF_TRUNCATED'));
  });

  it('withReadCache: long reads go to the inner readInto, short ones come from its blocks', async () => {
    const inner = fromBytes(data);
    const calls: string[] = [];
    const counted: ByteSource = {
      ...inner,
      read: (o, l, sig) => {
        calls.push(`read ${o} ${l}`);
        return inner.read(o, l, sig);
      },
      readInto: (o, d, sig) => {
        calls.push(`readInto ${o} ${d.length}`);
        return inner.readInto!(o, d, sig);
      },
    };
    const s = withReadCache(counted, { blockSize: 1024, maxBlocks: 2 });
    const long = sharedView(5000);
    await readInto(s, 100, long);
    expect(long).toEqual(data.subarray(100, 5100));
    const short = sharedView(100);
    await readInto(s, 1000, short); // spans blocks 0 and 1
    expect(short).toEqual(data.subarray(1000, 1100));
    expect(calls).toEqual(['readInto 100 5000', 'read 0 1024', 'read 1024 1024']);
  });
});

describe('readInto over HTTP', () => {
  const data = pattern(3 * 1024 * 1024 + 123);
  let server: Server;
  let base: string;

  /** Ranged answers; '/cut' stops halfway through any range past the first MiB, '/long' sends a byte too many. */
  function serve(req: IncomingMessage, res: ServerResponse) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), data.length - 1);
    const last = req.url === '/long' && start > 0 ? end + 1 : end;
    res.writeHead(206, {
      'Content-Range': `bytes ${start}-${end}/${data.length}`,
      'Content-Length': last - start + 1,
    });
    if (req.url === '/cut' && start > 0) {
      res.write(data.subarray(start, start + (end - start + 1) / 2), () => res.destroy());
      return;
    }
    res.end(data.subarray(start, last + 1));
  }

  beforeAll(async () => {
    server = createServer(serve);
    // Longer than any test: an idle connection closed by the server while reused fails a fetch.
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('streams a range into a view of shared memory', async () => {
    const s = await fromURL(`${base}/model.gguf`);
    const dest = sharedView(2_000_000);
    await readInto(s, 1_000_001, dest);
    expect(Buffer.from(dest).equals(data.subarray(1_000_001, 3_000_001))).toBe(true);
    expect(guardsIntact(dest)).toBe(true);
    // read() takes the same path into a buffer of its own.
    const tail = await s.read(data.length - 1_500_000, 1_500_000);
    expect(Buffer.from(tail).equals(data.subarray(data.length - 1_500_000))).toBe(true);
  });

  it('a connection cut mid-range is IO_ERROR', async () => {
    const s = await fromURL(`${base}/cut`);
    await expect(readInto(s, 1_500_000, sharedView(1_200_000))).rejects.toSatisfy(code('IO_ERROR'));
  });

  it('a body longer than the range is IO_ERROR, nothing written past the view', async () => {
    const s = await fromURL(`${base}/long`);
    const dest = sharedView(1_200_000);
    await expect(readInto(s, 1_500_000, dest)).rejects.toSatisfy(code('IO_ERROR'));
    expect(guardsIntact(dest)).toBe(true);
  });

  it('an aborted read is ABORTED', async () => {
    const s = await fromURL(`${base}/model.gguf`);
    const ctrl = new AbortController();
    const p = readInto(s, 1_100_000, sharedView(2_000_000), ctrl.signal);
    ctrl.abort();
    await expect(p).rejects.toSatisfy(code('ABORTED'));
  });
});
