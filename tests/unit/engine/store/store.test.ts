import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readGGUF } from '../../../../engine/gguf/reader.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { loadModelFromSource } from '../../../../engine/model/load.ts';
import { chunkRange } from '../../../../engine/store/db.ts';
import { createModelStore, type ModelStoreOptions } from '../../../../engine/store/index.ts';
import type { InstallProgress } from '../../../../engine/store/types.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { type Route, startServer, type TestServer } from './http-server.ts';

const modelPath = fixture('models/stories260K.gguf');
const model = modelPath ? new Uint8Array(readFileSync(modelPath)) : new Uint8Array(0);
const q8Path = fixture('models/stories260K-Q8_0.gguf');
const q8 = q8Path ? new Uint8Array(readFileSync(q8Path)) : new Uint8Array(0);
/** Golden digests from Node's own SHA-256, not from the store's hashing. */
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const CHUNK = 64 << 10;

let server: TestServer | undefined;
let idb: IDBFactory;
beforeEach(() => {
  idb = new IDBFactory();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function store(opts: ModelStoreOptions = {}) {
  return createModelStore({
    indexedDB: idb,
    IDBKeyRange,
    chunkSize: CHUNK,
    storage: null,
    retryDelayMs: 5,
    progressIntervalMs: 0,
    ...opts,
  });
}

async function serve(routes: Record<string, Route>) {
  server = await startServer(routes);
  return server;
}

async function expectCode(p: Promise<unknown>, code: string) {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isChordError(e), `expected a ChordError ${code}, got ${e}`).toBe(true);
  expect((e as { code: string }).code).toBe(code);
}

describe.skipIf(!modelPath)('model store: install from a URL', () => {
  it('streams into chunks, verifies, reads the GGUF header, marks ready', async () => {
    const srv = await serve({ '/m.gguf': { data: model } });
    const s = store();
    const progress: InstallProgress[] = [];
    const m = await s.installFromUrl(srv.url('/m.gguf'), { onProgress: (p) => progress.push(p) });
    expect(m.state).toBe('ready');
    expect(m.size).toBe(model.length);
    expect(m.bytesDone).toBe(model.length);
    expect(m.sha256).toBe(sha(model));
    expect(m.arch).toBe('llama');
    expect(m.quantType).toBe('F32');
    expect(m.name).toBe('m.gguf');
    expect(m.sourceUrl).toBe(srv.url('/m.gguf'));
    // Chunked: every row but the last is exactly one chunk.
    const rows = await chunkRange(s.db, m.id).toArray();
    expect(rows.length).toBe(Math.ceil(model.length / CHUNK));
    expect(rows.slice(0, -1).every((r) => r.data.length === CHUNK)).toBe(true);
    // Progress: bytes only grow, size known, ends with one 'ready'.
    expect(progress.length).toBeGreaterThan(3);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.bytesDone).toBeGreaterThanOrEqual(progress[i - 1]!.bytesDone);
    expect(progress.every((p) => p.size === model.length && p.id === m.id)).toBe(true);
    expect(progress.at(-1)!.state).toBe('ready');
    expect(progress.filter((p) => p.state === 'ready').length).toBe(1);
    expect(await s.list()).toEqual([m]);
    // Not internal fields.
    expect(Object.keys(m)).not.toContain('chunkSize');
  });

  it('open() reads the stored bytes lazily, across chunk boundaries, and the engine loads from it', async () => {
    const srv = await serve({ '/m.gguf': { data: model } });
    let t = 1000;
    const s = store({ now: () => t });
    const m = await s.installFromUrl(srv.url('/m.gguf'));
    t = 5000;
    const src = await s.open(m.id);
    expect((await s.get(m.id))!.lastUsed).toBe(5000);
    expect(src.size).toBe(model.length);
    for (const [off, len] of [
      [0, 16],
      [CHUNK - 5, 10],
      [CHUNK * 2 - 1, CHUNK * 3 + 2],
      [model.length - 7, 7],
      [0, model.length],
    ] as const) {
      // Compared by digest: a deep equality over a megabyte of elements takes seconds.
      expect(sha(await src.read(off, len))).toBe(sha(model.subarray(off, off + len)));
    }
    await expectCode(src.read(model.length - 1, 2), 'GGUF_TRUNCATED');
    const header = await readGGUF(src);
    expect(header.tensors.length).toBe((await readGGUF(fromBytes(model))).tensors.length);
    const loaded = await loadModelFromSource(src, { backend: 'js' });
    expect(loaded.info.arch).toBe('llama');
    await src.close?.();
  });

  it('resumes with a Range request when the connection is cut halfway', async () => {
    const half = Math.floor(model.length / 2);
    const srv = await serve({ '/m.gguf': { data: model, cutAfter: half } });
    const m = await store().installFromUrl(srv.url('/m.gguf'));
    expect(m.state).toBe('ready');
    expect(m.sha256).toBe(sha(model));
    expect(srv.log.map((r) => r.status)).toEqual([200, 206]);
    // The second request asked for the rest, from at least the first whole chunk on.
    const from = Number(/bytes=(\d+)-/.exec(srv.log[1]!.range!)![1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(half);
  });

  it('keeps the partial bytes after giving up, and a later install of the same URL continues', async () => {
    const srv = await serve({ '/m.gguf': { data: model, cutAfter: 300_000, cuts: 1 } });
    const s = store({ retries: 0 });
    const url = srv.url('/m.gguf');
    await expectCode(s.installFromUrl(url), 'DOWNLOAD_FAILED');
    const [failed] = await s.list();
    expect(failed!.state).toBe('error');
    expect(failed!.error!.code).toBe('DOWNLOAD_FAILED');
    expect(failed!.bytesDone).toBeGreaterThan(0);
    expect(failed!.bytesDone).toBeLessThanOrEqual(300_000);
    await expectCode(s.open(failed!.id), 'MODEL_NOT_READY');
    const m = await s.installFromUrl(url);
    expect(m.id).toBe(failed!.id);
    expect(m.state).toBe('ready');
    expect(m.sha256).toBe(sha(model));
    expect(srv.log[1]!.range).toBe(`bytes=${failed!.bytesDone}-`);
    expect(srv.log[1]!.status).toBe(206);
  });

  it('resumes after a cancel and a restart (a new store over the same database)', async () => {
    const srv = await serve({ '/m.gguf': { data: model, pieceBytes: 16 << 10, pauseMs: 5 } });
    // Chunks larger than the file: what arrived before the cancel is kept as a partial chunk.
    const first = store({ chunkSize: 8 << 20 });
    const controller = new AbortController();
    const url = srv.url('/m.gguf');
    const p = first.installFromUrl(url, {
      signal: controller.signal,
      onProgress: (pr) => pr.bytesDone > 400_000 && controller.abort(),
    });
    await expectCode(p, 'ABORTED');
    const stopped = (await first.list())[0]!;
    expect(stopped.state).toBe('error');
    expect(stopped.error!.code).toBe('ABORTED');
    expect(stopped.bytesDone).toBeGreaterThan(0);
    first.close();
    const second = store({ chunkSize: 8 << 20 });
    const m = await second.resume(stopped.id);
    expect(m.state).toBe('ready');
    expect(m.sha256).toBe(sha(model));
    expect(srv.log.at(-1)!.range).toBe(`bytes=${stopped.bytesDone}-`);
  });

  it('finds a download the browser left mid-way and a new store resumes it with Range, losing nothing', async () => {
    const srv = await serve({ '/m.gguf': { data: model, pieceBytes: 16 << 10, pauseMs: 2 } });
    // The first store's transfer stops dead after 300 kB, as a killed browser's would: no
    // error, no end, the row stays `downloading` with its checkpointed bytes.
    const frozen: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const reader = res.body!.getReader();
      let passed = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (passed >= 300_000) return new Promise<void>(() => {});
          const { done, value } = await reader.read();
          if (done) return controller.close();
          passed += value.length;
          controller.enqueue(value);
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const first = store({ chunkSize: 128 << 10, checkpointMs: 20, fetch: frozen });
    const url = srv.url('/m.gguf');
    void first.installFromUrl(url).catch(() => undefined);
    await expect.poll(async () => (await first.db.models.toArray())[0]?.bytesDone ?? 0).toBeGreaterThan(250_000);
    // The first store is running it: not interrupted for that instance.
    expect(await first.interruptedDownloads()).toEqual([]);

    const second = store({ chunkSize: 128 << 10 });
    const left = await second.interruptedDownloads();
    expect(left.map((m) => [m.sourceUrl, m.state])).toEqual([[url, 'downloading']]);
    const [done] = await second.resumeInterrupted();
    expect(done!.state).toBe('ready');
    expect(done!.sha256).toBe(sha(model));
    expect(srv.log.at(-1)!.range).toBe(`bytes=${left[0]!.bytesDone}-`);
    expect(srv.log.at(-1)!.status).toBe(206);
    expect(await second.interruptedDownloads()).toEqual([]);
    const src = await second.open(done!.id);
    expect(sha(await src.read(0, model.length))).toBe(sha(model));
  });

  it('leaves local-file installs out of the interrupted downloads (the file must be picked again)', async () => {
    const s = store();
    await s.db.models.add({
      id: 'f-1',
      name: 'f.gguf',
      size: 10,
      bytesDone: 5,
      state: 'downloading',
      lastUsed: 0,
      createdAt: 0,
      chunkSize: CHUNK,
    });
    expect(await s.interruptedDownloads()).toEqual([]);
    expect(await s.resumeInterrupted()).toEqual([]);
  });

  it('checkpoints a partial chunk while a long chunk fills, so the database shows the download advancing', async () => {
    const srv = await serve({ '/m.gguf': { data: model, pieceBytes: 32 << 10, pauseMs: 10 } });
    const s = store({ chunkSize: 8 << 20, checkpointMs: 50 });
    const stored: number[] = [];
    const progress: InstallProgress[] = [];
    const done = s.installFromUrl(srv.url('/m.gguf'), {
      onProgress: (p) => {
        progress.push(p);
        void s.list().then(([m]) => m && stored.push(m.bytesDone));
      },
    });
    const m = await done;
    // Speed and time left while downloading (about 3 MB/s from this server).
    const midway = progress.filter((p) => p.state === 'downloading' && p.bytesPerSecond > 0);
    expect(midway.length).toBeGreaterThan(0);
    for (const p of midway) expect(p.etaSeconds).toBeCloseTo((p.size - p.bytesDone) / p.bytesPerSecond, 6);
    expect(m.sha256).toBe(sha(model));
    // Stored counts strictly between nothing and everything: partial chunks reached the database.
    expect(stored.some((n) => n > 0 && n < model.length)).toBe(true);
    expect(await chunkRange(s.db, m.id).count()).toBe(1);
  });

  it('starts over when the server ignores Range', async () => {
    const srv = await serve({ '/m.gguf': { data: model, ranges: false, cutAfter: 500_000 } });
    const m = await store().installFromUrl(srv.url('/m.gguf'));
    expect(m.sha256).toBe(sha(model));
    expect(srv.log.map((r) => r.status)).toEqual([200, 200]);
  });

  it('starts over when the file changed on the server (ETag)', async () => {
    const srv = await serve({ '/m.gguf': { data: model, etag: '"v1"', cutAfter: 500_000 } });
    const s = store({ retries: 0 });
    const url = srv.url('/m.gguf');
    await expectCode(s.installFromUrl(url), 'DOWNLOAD_FAILED');
    srv.routes.set('/m.gguf', { data: q8, etag: '"v2"' });
    const m = await s.installFromUrl(url);
    expect(m.sha256).toBe(sha(q8));
    expect(m.quantType).toBe('Q8_0');
  });

  it('verifies the sha256 it is given', async () => {
    const srv = await serve({ '/m.gguf': { data: model } });
    const m = await store().installFromUrl(srv.url('/m.gguf'), { sha256: sha(model).toUpperCase() });
    expect(m.state).toBe('ready');
    expect(m.sha256).toBe(sha(model));
  });

  it('rejects a sha256 mismatch: error state, bytes dropped, other models untouched', async () => {
    const srv = await serve({ '/a.gguf': { data: model }, '/b.gguf': { data: q8 } });
    const s = store();
    const a = await s.installFromUrl(srv.url('/a.gguf'));
    await expectCode(s.installFromUrl(srv.url('/b.gguf'), { sha256: sha(model) }), 'GGUF_CHECKSUM_MISMATCH');
    const b = (await s.list()).find((m) => m.id !== a.id)!;
    expect(b.state).toBe('error');
    expect(b.error!.code).toBe('GGUF_CHECKSUM_MISMATCH');
    expect(b.bytesDone).toBe(0);
    expect(await chunkRange(s.db, b.id).count()).toBe(0);
    await expectCode(s.open(b.id), 'MODEL_NOT_READY');
    const src = await s.open(a.id);
    expect(sha(await src.read(0, model.length))).toBe(sha(model));
  });

  it('rejects a corrupt GGUF (bad magic, truncated) and never marks it ready', async () => {
    const badMagic = model.slice();
    badMagic[0] = 0x58;
    const truncated = model.slice(0, model.length - 1000);
    const srv = await serve({
      '/ok.gguf': { data: model },
      '/x.gguf': { data: badMagic },
      '/t.gguf': { data: truncated },
    });
    const s = store();
    const ok = await s.installFromUrl(srv.url('/ok.gguf'));
    await expectCode(s.installFromUrl(srv.url('/x.gguf')), 'GGUF_BAD_MAGIC');
    const e = await s.installFromUrl(srv.url('/t.gguf')).catch((err) => err);
    expect(e.code).toMatch(/^GGUF_/);
    const states = Object.fromEntries((await s.list()).map((m) => [m.name, m.state]));
    expect(states).toEqual({ 'ok.gguf': 'ready', 'x.gguf': 'error', 't.gguf': 'error' });
    expect((await s.get(ok.id))!.sha256).toBe(sha(model));
    expect((await s.usage()).usedBytes).toBe(model.length);
  });

  it('does not retry an HTTP 404', async () => {
    const srv = await serve({});
    await expectCode(store().installFromUrl(srv.url('/none.gguf')), 'HTTP_ERROR');
    expect(srv.log.length).toBe(1);
  });

  it('rejects non-http URLs', async () => {
    await expectCode(store().installFromUrl('file:///etc/passwd'), 'INVALID_ARGUMENT');
    await expectCode(store().installFromUrl('not a url'), 'INVALID_ARGUMENT');
  });

  it('joins a second install of the same URL instead of downloading twice', async () => {
    const srv = await serve({ '/m.gguf': { data: model } });
    const s = store();
    const [a, b] = await Promise.all([s.installFromUrl(srv.url('/m.gguf')), s.installFromUrl(srv.url('/m.gguf'))]);
    expect(a).toEqual(b);
    expect(srv.log.length).toBe(1);
    // A ready model is not downloaded again.
    await s.installFromUrl(srv.url('/m.gguf'));
    expect(srv.log.length).toBe(1);
  });

  it('a caller that joined an install can cancel it; the bytes are kept', async () => {
    const srv = await serve({ '/m.gguf': { data: model, pieceBytes: 16 << 10, pauseMs: 5 } });
    const s = store({ chunkSize: 8 << 20, checkpointMs: 20 });
    const url = srv.url('/m.gguf');
    const first = s.installFromUrl(url);
    const controller = new AbortController();
    const joined = s.installFromUrl(url, {
      signal: controller.signal,
      onProgress: (p) => p.bytesDone > 200_000 && controller.abort(),
    });
    await expectCode(joined, 'ABORTED');
    await expectCode(first, 'ABORTED');
    const [m] = await s.list();
    expect(m).toMatchObject({ state: 'error', error: { code: 'ABORTED' } });
    expect(m!.bytesDone).toBeGreaterThan(0);
    expect(srv.log.length).toBe(1);
  });
});

describe.skipIf(!modelPath)('model store: quota, limit, delete, persistence', () => {
  it('refuses up front when the browser quota has no room', async () => {
    const srv = await serve({ '/m.gguf': { data: model } });
    const s = store({ storage: { estimate: async () => ({ usage: 900_000, quota: 1_000_000 }) } });
    const e = await s.installFromUrl(srv.url('/m.gguf')).catch((err) => err);
    expect(e.code).toBe('QUOTA_EXCEEDED');
    expect(e.message).toMatch(/not enough storage/);
    const [m] = await s.list();
    expect(m!.state).toBe('error');
    expect(m!.bytesDone).toBe(0);
  });

  it('refuses a model larger than the size limit', async () => {
    const srv = await serve({ '/m.gguf': { data: model } });
    await expectCode(store({ maxBytes: model.length - 1 }).installFromUrl(srv.url('/m.gguf')), 'QUOTA_EXCEEDED');
    // The limit may be a setting read at each install.
    let limit: number | undefined = 1000;
    const s = store({ maxBytes: async () => limit });
    await expectCode(s.installFromUrl(srv.url('/m.gguf')), 'QUOTA_EXCEEDED');
    limit = undefined;
    expect((await s.installFromUrl(srv.url('/m.gguf'))).state).toBe('ready');
  });

  it('evicts the least-recently-used ready model past the size limit, never an open one', async () => {
    const srv = await serve({ '/a.gguf': { data: model }, '/b.gguf': { data: model }, '/c.gguf': { data: model } });
    let t = 0;
    const s = store({ maxBytes: Math.floor(model.length * 2.5), now: () => ++t });
    const a = await s.installFromUrl(srv.url('/a.gguf'));
    const b = await s.installFromUrl(srv.url('/b.gguf'));
    const src = await s.open(a.id); // a is now the most recently used, and open
    await s.installFromUrl(srv.url('/c.gguf'));
    expect((await s.list()).map((m) => m.name)).toEqual(['a.gguf', 'c.gguf']);
    expect(await chunkRange(s.db, b.id).count()).toBe(0);
    expect(await src.read(0, 4)).toEqual(model.subarray(0, 4));
  });

  it('delete removes the model and its chunks, and cancels a running install', async () => {
    const srv = await serve({
      '/a.gguf': { data: model },
      '/slow.gguf': { data: model, pieceBytes: 8 << 10, pauseMs: 10 },
    });
    const s = store();
    const a = await s.installFromUrl(srv.url('/a.gguf'));
    let started!: () => void;
    const seen = new Promise<void>((r) => {
      started = r;
    });
    const slow = s.installFromUrl(srv.url('/slow.gguf'), { onProgress: (p) => p.bytesDone > 0 && started() });
    await seen;
    const slowId = (await s.list()).find((m) => m.name === 'slow.gguf')!.id;
    await s.delete(slowId);
    await expectCode(slow, 'ABORTED');
    expect(await s.get(slowId)).toBeUndefined();
    expect(await chunkRange(s.db, slowId).count()).toBe(0);
    await s.delete(a.id);
    expect(await s.list()).toEqual([]);
    expect(await s.db.chunks.count()).toBe(0);
    await expectCode(s.open(a.id), 'MODEL_NOT_FOUND');
  });

  it('asks for persistent storage once and reports usage', async () => {
    const srv = await serve({ '/m.gguf': { data: model } });
    let asked = 0;
    const s = store({
      storage: {
        estimate: async () => ({ usage: 0, quota: 1e12 }),
        persist: async () => {
          asked++;
          return true;
        },
        persisted: async () => asked > 0,
      },
    });
    await s.installFromUrl(srv.url('/m.gguf'));
    expect(asked).toBe(1);
    expect(await s.usage()).toEqual({ usedBytes: model.length, quotaBytes: 1e12, persisted: true });
  });
});

describe.skipIf(!modelPath)('model store: install from a file', () => {
  it('stores a Blob in chunks and validates it', async () => {
    const s = store();
    const progress: InstallProgress[] = [];
    const file = new File([model], 'stories.gguf');
    const m = await s.installFromFile(file, { onProgress: (p) => progress.push(p) });
    expect(m).toMatchObject({ name: 'stories.gguf', state: 'ready', size: model.length, sha256: sha(model) });
    expect(m.sourceUrl).toBeUndefined();
    expect(progress.at(-1)!.state).toBe('ready');
    const src = await s.open(m.id);
    expect(await src.read(CHUNK - 3, 6)).toEqual(model.subarray(CHUNK - 3, CHUNK + 3));
    expect((await s.resume(m.id)).state).toBe('ready');
  });

  it('rejects a corrupt file and keeps the others', async () => {
    const s = store();
    const good = await s.installFromFile(new Blob([model]), { name: 'good.gguf' });
    await expectCode(s.installFromFile(new Blob([model.subarray(0, 5000)]), { name: 'bad.gguf' }), 'GGUF_TRUNCATED');
    const bad = (await s.list()).find((m) => m.name === 'bad.gguf')!;
    expect(bad).toMatchObject({ state: 'error', bytesDone: 0 });
    expect(bad.error!.code).toBe('GGUF_TRUNCATED');
    await expectCode(s.resume(bad.id), 'INVALID_ARGUMENT');
    expect((await s.get(good.id))!.state).toBe('ready');
  });
});
