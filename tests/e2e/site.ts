import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Site {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  url: string;
  close(): Promise<void>;
}

/** A web site on its own origin (its own port) that answers every path with one small HTML page. */
export async function serveSite(title = 'a page that uses window.chord'): Promise<Site> {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><p>${title}</p></body></html>`;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: `${origin}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
