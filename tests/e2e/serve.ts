import { createReadStream, statSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';

export interface ServedFile {
  url: string;
  /** Number of requests answered so far, by status code (e.g. { 206: 3 }). */
  statuses: Record<number, number>;
  /** The first byte each GET asked for (0 without a Range header), in order. */
  starts: number[];
  /** A slow link: body bytes per second (undefined: as fast as it goes). Changes apply to running answers. */
  bytesPerSecond: number | undefined;
  close(): Promise<void>;
}

/**
 * Serves one file on 127.0.0.1 with single-range Range support, as a model host
 * (Hugging Face, a CDN) would. CORS headers let an extension fetch it; CORP lets
 * a cross-origin isolated page (COEP require-corp) use the answer.
 */
export async function serveFile(path: string, opts: { bytesPerSecond?: number } = {}): Promise<ServedFile> {
  const size = statSync(path).size;
  const name = `/${basename(path)}`;
  const statuses: Record<number, number> = {};
  const starts: number[] = [];
  const server = createServer((req, res) => {
    const answer = (status: number, headers: Record<string, string | number> = {}) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      res.writeHead(status, {
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Headers': 'Range',
        'Access-Control-Expose-Headers': 'Content-Range, Content-Length, Accept-Ranges',
        'Cross-Origin-Resource-Policy': 'cross-origin',
        'Accept-Ranges': 'bytes',
        ...headers,
      });
    };
    const answerEmpty = (status: number, headers: Record<string, string | number> = {}) => {
      answer(status, headers);
      res.end();
    };
    if (req.method === 'OPTIONS') return answerEmpty(204);
    if (req.url !== name || (req.method !== 'GET' && req.method !== 'HEAD')) return answerEmpty(404);

    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (req.headers.range !== undefined && !range) return answerEmpty(416);
    const start = range ? Number(range[1]) : 0;
    const end = range ? Math.min(range[2] ? Number(range[2]) : size - 1, size - 1) : size - 1;
    if (start >= size && size > 0) return answerEmpty(416, { 'Content-Range': `bytes */${size}` });
    const length = Math.max(0, end - start + 1);
    answer(range ? 206 : 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': length,
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    starts.push(start);
    void send(createReadStream(path, { start, end, highWaterMark: 16 << 10 }), res);
  });
  /** Streams the file's bytes, at most `served.bytesPerSecond` of them each second. */
  async function send(file: ReturnType<typeof createReadStream>, res: ServerResponse): Promise<void> {
    try {
      for await (const piece of file as AsyncIterable<Buffer>) {
        if (res.destroyed) break;
        if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve));
        const rate = served.bytesPerSecond;
        if (rate) await new Promise((resolve) => setTimeout(resolve, (1000 * piece.length) / rate));
      }
      res.end();
    } catch {
      res.destroy();
    } finally {
      file.destroy();
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const served: ServedFile = {
    url: `http://127.0.0.1:${port}${name}`,
    statuses,
    starts,
    bytesPerSecond: opts.bytesPerSecond,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return served;
}
