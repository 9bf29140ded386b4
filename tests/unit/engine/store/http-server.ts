import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How one path misbehaves, as real hosts do. */
export interface Route {
  data: Uint8Array;
  /** Answer Range requests with 206 (default true); false: always 200 with the whole file. */
  ranges?: boolean;
  /** Destroy the connection after this many body bytes, on the first `cuts` responses. */
  cutAfter?: number;
  cuts?: number;
  /** How long the sent bytes get to reach the client before the cut (default 20 ms). */
  cutDelayMs?: number;
  /** Send the body in pieces of this size with a pause between them (a slow link). */
  pieceBytes?: number;
  pauseMs?: number;
  /** Answer with this status and no body. */
  status?: number;
  etag?: string;
}

export interface RequestLog {
  path: string;
  range?: string;
  status: number;
}

export interface TestServer {
  url(path: string): string;
  routes: Map<string, Route>;
  log: RequestLog[];
  close(): Promise<void>;
}

/** A model host on 127.0.0.1 with single-range support and scripted failures. */
export async function startServer(routes: Record<string, Route>): Promise<TestServer> {
  const table = new Map(Object.entries(routes));
  const log: RequestLog[] = [];
  const served = new Map<string, number>();

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = table.get(path);
    const answer = (status: number, headers: Record<string, string | number> = {}) => {
      log.push({ path, range: req.headers.range, status });
      res.writeHead(status, {
        'Accept-Ranges': route?.ranges === false ? 'none' : 'bytes',
        // What a model host sends so that an extension (cross-origin isolated) may read it.
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Headers': 'Range',
        'Access-Control-Expose-Headers': 'Content-Range, Content-Length, Accept-Ranges, ETag',
        'Cross-Origin-Resource-Policy': 'cross-origin',
        ...headers,
      });
    };
    const answerEmpty = (status: number, headers: Record<string, string | number> = {}) => {
      answer(status, headers);
      res.end();
    };
    if (req.method === 'OPTIONS') return answerEmpty(204);
    if (!route) return answerEmpty(404);
    if (route.status) return answerEmpty(route.status);
    const size = route.data.length;
    const m = route.ranges === false ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const useRange = m !== null && (ifRange === undefined || ifRange === route.etag);
    const start = useRange ? Number(m![1]) : 0;
    const end = useRange && m![2] ? Math.min(Number(m![2]), size - 1) : size - 1;
    if (useRange && start >= size) return answerEmpty(416, { 'Content-Range': `bytes */${size}` });
    const body = route.data.subarray(start, end + 1);
    answer(useRange ? 206 : 200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': body.length,
      ...(useRange ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
      ...(route.etag ? { ETag: route.etag } : {}),
    });
    const n = (served.get(path) ?? 0) + 1;
    served.set(path, n);
    const cut = route.cutAfter !== undefined && n <= (route.cuts ?? 1) ? Math.min(route.cutAfter, body.length) : -1;
    const limit = cut >= 0 ? cut : body.length;
    const piece = route.pieceBytes ?? 1 << 16;
    for (let at = 0; at < limit; at += piece) {
      if (res.destroyed) return;
      const part = body.subarray(at, Math.min(limit, at + piece));
      if (!res.write(part)) await new Promise((r) => res.once('drain', r));
      if (route.pauseMs) await new Promise((r) => setTimeout(r, route.pauseMs));
    }
    if (cut >= 0) {
      // Let the bytes leave, then drop the connection mid-body.
      await new Promise((r) => setTimeout(r, route.cutDelayMs ?? 20));
      res.socket?.destroy();
      return;
    }
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    routes: table,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
