import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';

export interface ServedFile {
  url: string;
  /** Number of requests answered so far, by status code (e.g. { 206: 3 }). */
  statuses: Record<number, number>;
  close(): Promise<void>;
}

/**
 * Serves one file on 127.0.0.1 with single-range Range support, as a model host
 * (Hugging Face, a CDN) would. CORS headers let an extension fetch it; CORP lets
 * a cross-origin isolated page (COEP require-corp) use the answer.
 */
export async function serveFile(path: string): Promise<ServedFile> {
  const size = statSync(path).size;
  const name = `/${basename(path)}`;
  const statuses: Record<number, number> = {};
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
    createReadStream(path, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${name}`,
    statuses,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
