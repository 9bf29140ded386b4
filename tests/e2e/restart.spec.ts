import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, expect, test, type Worker } from '@playwright/test';
import { fixture } from '../helpers/fixtures.ts';
import { chromiumArgs, chromiumPath } from './fixtures.ts';
import { readModelRows, type SeenModelRow } from './model-db.ts';
import { serveFile } from './serve.ts';

// A download survives a browser restart: the browser is closed mid-download (the model
// row stays `downloading` with the bytes checkpointed so far), started again on the same
// profile, and the extension resumes on its own, with a Range request from the stored
// count, to a `ready` model whose bytes hash to the file's sha256 (Node's crypto, and
// the browser's crypto.subtle over the stored chunks: not the store's own hashing).

const modelPath = fixture('models/stories260K.gguf');

async function launch(profile: string): Promise<{ context: BrowserContext; worker: Worker }> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    ignoreDefaultArgs: ['--disable-extensions'],
  });
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  return { context, worker };
}

/** The store's rows, read in the service worker (asking the engine would start it). */
function rows(worker: Worker): Promise<SeenModelRow[]> {
  return worker.evaluate(readModelRows);
}

/** sha256 of a model's stored chunks, in index order, computed by the browser. */
function storedDigest(worker: Worker, id: string): Promise<{ hex: string; bytes: number }> {
  return worker.evaluate(
    (id) =>
      new Promise<{ hex: string; bytes: number }>((resolve, reject) => {
        const open = indexedDB.open('chord-models');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const range = IDBKeyRange.bound([id, 0], [id, Number.MAX_SAFE_INTEGER]);
          const all = db.transaction('chunks').objectStore('chunks').getAll(range);
          all.onerror = () => reject(all.error);
          all.onsuccess = async () => {
            db.close();
            const chunks = (all.result as { index: number; data: Uint8Array }[]).sort((a, b) => a.index - b.index);
            const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.data.length, 0));
            let at = 0;
            for (const c of chunks) {
              bytes.set(c.data, at);
              at += c.data.length;
            }
            const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
            resolve({ hex: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''), bytes: bytes.length });
          };
        };
      }),
    id,
  );
}

test.describe('downloads across restarts', () => {
  test.skip(modelPath === undefined, 'fixture models/stories260K.gguf is absent');

  test('a download cut by closing the browser resumes with Range when it starts again', async () => {
    const file = readFileSync(modelPath!);
    const sha = createHash('sha256').update(file).digest('hex');
    // About 8 s for the whole file: the store checkpoints every 2 s, so the browser can be closed with part of it stored.
    const served = await serveFile(modelPath!, { bytesPerSecond: 150_000 });
    const profile = mkdtempSync(join(tmpdir(), 'chord-restart-'));
    let context: BrowserContext | undefined;
    try {
      const first = await launch(profile);
      context = first.context;
      // As a user does: the options page starts the download, and the browser is quit with it open.
      const options = await context.newPage();
      await options.goto(`chrome-extension://${new URL(first.worker.url()).host}/options.html`);
      await options.getByTestId('model-url').fill(served.url);
      await options.getByTestId('model-install').click();
      await expect
        .poll(async () => (await rows(first.worker))[0]?.bytesDone ?? 0, { timeout: 20_000 })
        .toBeGreaterThan(200_000);
      const storedBeforeQuit = (await rows(first.worker))[0]!.bytesDone;
      await context.close();
      context = undefined;
      const requestsBefore = served.starts.length;
      served.bytesPerSecond = undefined;

      const second = await launch(profile);
      context = second.context;
      // Nothing but the extension's own startup asks for it.
      await expect.poll(async () => (await rows(second.worker))[0]?.state, { timeout: 30_000 }).toBe('ready');
      const [ready] = await rows(second.worker);
      expect(ready).toMatchObject({ size: file.length, bytesDone: file.length, sha256: sha });
      expect(await storedDigest(second.worker, ready.id)).toEqual({ hex: sha, bytes: file.length });

      // Resumed from what was stored, not from zero: one request after the restart, from at
      // least the count stored before the quit (a later checkpoint may have added some).
      const resumed = served.starts.slice(requestsBefore);
      expect(resumed).toHaveLength(1);
      expect(resumed[0]).toBeGreaterThanOrEqual(storedBeforeQuit);
      expect(resumed[0]).toBeLessThan(file.length);
      expect(served.statuses[206]).toBe(1);
      console.log(
        `restart: ${storedBeforeQuit} of ${file.length} bytes seen stored before the quit; resumed from ${resumed[0]}`,
      );
    } finally {
      await context?.close();
      await served.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  test('a service-worker restart does not stop a download', async () => {
    const file = readFileSync(modelPath!);
    const sha = createHash('sha256').update(file).digest('hex');
    const served = await serveFile(modelPath!, { bytesPerSecond: 150_000 });
    const profile = mkdtempSync(join(tmpdir(), 'chord-restart-'));
    let context: BrowserContext | undefined;
    try {
      const { context: ctx, worker } = await launch(profile);
      context = ctx;
      const extensionId = new URL(worker.url()).host;
      const options = await context.newPage();
      await options.goto(`chrome-extension://${extensionId}/options.html`);
      await options.getByTestId('model-url').fill(served.url);
      await options.getByTestId('model-install').click();
      // Rows are read in a quiet extension page: the stopped worker's handle is gone.
      const quiet = await context.newPage();
      await quiet.goto(`chrome-extension://${extensionId}/permission.html`);
      await expect.poll(async () => (await quiet.evaluate(readModelRows))[0]?.bytesDone ?? 0).toBeGreaterThan(150_000);

      // Stop the service worker as Chrome does when it idles out: the download runs in the
      // engine host (offscreen document), which outlives it.
      const cdp = await context.newCDPSession(quiet);
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.stopAllWorkers');
      served.bytesPerSecond = undefined;

      await expect.poll(async () => (await quiet.evaluate(readModelRows))[0]?.state, { timeout: 30_000 }).toBe('ready');
      expect((await quiet.evaluate(readModelRows))[0]).toMatchObject({ bytesDone: file.length, sha256: sha });
      expect(served.starts).toEqual([0]); // one transfer from the first byte to the last: never cut
    } finally {
      await context?.close();
      await served.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
