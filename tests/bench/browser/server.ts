/**
 * A tiny local web server for the browser rows: one cross-origin isolated page
 * (COOP same-origin + COEP require-corp, so SharedArrayBuffer and wasm threads
 * work), the scripts it runs, and the model, all from 127.0.0.1 (a secure
 * context). Files are answered with single-range Range support, as a model host
 * would, since the engine reads models by ranges. Handler routes answer what
 * the page posts (its reports to the harness, which runs no DevTools in it).
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Route =
  | { file: string; type: string }
  | { text: string; type: string }
  | { handle: (body: string) => string | Promise<string>; type: string };

export interface BenchServer {
  origin: string;
  close(): Promise<void>;
}

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

export async function startBenchServer(routes: Record<string, Route>): Promise<BenchServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const route = routes[path];
    if (route && 'handle' in route) {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', async () => {
        const answer = await route.handle(body);
        res.writeHead(200, { ...ISOLATION_HEADERS, 'Content-Type': route.type }).end(answer);
      });
      return;
    }
    if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
      if (process.env.CHORD_BENCH_DEBUG) console.error(`bench server: 404 ${req.method} ${path}`);
      res.writeHead(404, ISOLATION_HEADERS).end();
      return;
    }
    if ('text' in route) {
      res
        .writeHead(200, { ...ISOLATION_HEADERS, 'Content-Type': route.type })
        .end(req.method === 'HEAD' ? undefined : route.text);
      return;
    }
    const size = statSync(route.file).size;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range ? Math.min(range[2] ? Number(range[2]) : size - 1, size - 1) : size - 1;
    if ((req.headers.range !== undefined && !range) || (start >= size && size > 0)) {
      res.writeHead(416, { ...ISOLATION_HEADERS, 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    const length = Math.max(0, end - start + 1);
    res.writeHead(range ? 206 : 200, {
      ...ISOLATION_HEADERS,
      'Content-Type': route.type,
      'Content-Length': length,
      'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) res.end();
    else createReadStream(route.file, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
