import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import type { Browser } from 'wxt/browser';
import { fixture } from '../helpers/fixtures.ts';
import { type Route, startServer, type TestServer } from '../unit/engine/store/http-server.ts';
import { expect, test } from './fixtures.ts';

// The options page as a user drives it, on the built extension: installs go to the
// engine host's store in the offscreen document (by URL) or straight into the shared
// IndexedDB (by file), and the rows show progress, then ready or error.

// The callbacks given to serviceWorker.evaluate run inside the extension, where `chrome` is a global.
declare const chrome: typeof Browser;

const modelPath = fixture('models/stories260K.gguf');
const model = modelPath ? new Uint8Array(readFileSync(modelPath)) : new Uint8Array(0);
/** Served in 64 KiB pieces, 60 ms apart: about a second, long enough to see progress. */
const slow = { pieceBytes: 64 << 10, pauseMs: 60 } satisfies Partial<Route>;

let server: TestServer | undefined;
test.afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function openOptions(page: Page, extensionId: string) {
  await page.goto(`chrome-extension://${extensionId}/options.html`);
  await expect(page.getByTestId('model-empty')).toBeVisible();
}

const rowNamed = (page: Page, name: string) => page.getByTestId('model-row').filter({ hasText: name });

async function installUrl(page: Page, url: string) {
  await page.getByTestId('model-url').fill(url);
  await page.getByTestId('model-install').click();
}

test.describe('options page: models', () => {
  test.skip(!modelPath, 'fixture models/stories260K.gguf is missing');

  test('installs by URL: progress, then ready; then deletes it', async ({ page, extensionId }) => {
    server = await startServer({ '/stories260K.gguf': { data: model, ...slow } });
    await openOptions(page, extensionId);
    await installUrl(page, server.url('/stories260K.gguf'));

    const row = rowNamed(page, 'stories260K.gguf');
    await expect(row).toHaveAttribute('data-state', 'downloading');
    const bar = row.getByTestId('model-progress');
    await expect(bar).toBeVisible();
    // Some bytes but not all: progress is reported while the transfer runs.
    await expect
      .poll(async () => Number(await bar.getAttribute('data-bytes-done')), { timeout: 15_000 })
      .toBeGreaterThan(0);
    expect(Number(await bar.getAttribute('data-bytes-done'))).toBeLessThan(model.length);
    // Bytes of the size, speed and time left, as the user reads them.
    await expect(row.getByTestId('model-progress-text')).toContainText(/ of 1\.1 MiB · [\d.]+ [KM]iB\/s · \d+ s left/);

    await expect(row).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
    await expect(row.getByTestId('model-meta')).toContainText('llama');
    await expect(row.getByTestId('model-progress')).toBeHidden();
    await expect(page.getByTestId('storage-used')).toHaveAttribute('data-used-bytes', String(model.length));

    await row.getByTestId('model-delete').click();
    await expect(page.getByTestId('model-row')).toHaveCount(0);
    await expect(page.getByTestId('storage-used')).toHaveAttribute('data-used-bytes', '0');
  });

  test('installs by file', async ({ page, extensionId }) => {
    await openOptions(page, extensionId);
    await page.getByTestId('model-file').setInputFiles(modelPath!);
    const row = rowNamed(page, 'stories260K.gguf');
    await expect(row).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
    await expect(row.getByTestId('model-meta')).toContainText('F32');
    // The engine host sees it: the store is shared through IndexedDB.
    await page.reload();
    await expect(rowNamed(page, 'stories260K.gguf')).toHaveAttribute('data-state', 'ready');
  });

  test('a download cut halfway resumes with a Range request', async ({ page, extensionId }) => {
    const half = Math.floor(model.length / 2);
    // Chromium drops the bytes it has not handed to the page yet when a connection
    // breaks: send them slowly and give them time to arrive before the cut.
    server = await startServer({
      '/stories260K.gguf': { data: model, pieceBytes: 64 << 10, pauseMs: 30, cutAfter: half, cuts: 1, cutDelayMs: 500 },
    });
    await openOptions(page, extensionId);
    await installUrl(page, server.url('/stories260K.gguf'));
    const row = rowNamed(page, 'stories260K.gguf');
    await expect(row).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
    const gets = server.log.filter((r) => r.status === 200 || r.status === 206);
    expect(
      gets.map((r) => r.status),
      JSON.stringify(server.log),
    ).toEqual([200, 206]);
    const from = Number(/bytes=(\d+)-/.exec(gets[1]!.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(half);
  });

  test('a download goes on when its page closes; a new page follows it, cancels it, and resumes it with Range', async ({
    context,
    extensionId,
  }) => {
    // About 100 kB/s: 12 s for the whole file, time enough to look at it on the way.
    server = await startServer({ '/stories260K.gguf': { data: model, pieceBytes: 16 << 10, pauseMs: 150 } });
    const first = await context.newPage();
    await openOptions(first, extensionId);
    await installUrl(first, server.url('/stories260K.gguf'));
    const bytesIn = (page: Page) =>
      rowNamed(page, 'stories260K.gguf').getByTestId('model-progress').getAttribute('data-bytes-done').then(Number);
    await expect.poll(() => bytesIn(first), { timeout: 15_000 }).toBeGreaterThan(100_000);
    // The download belongs to no page: closing the page that started it does not stop it.
    await first.close();

    const second = await context.newPage();
    await second.goto(`chrome-extension://${extensionId}/options.html`);
    const row = rowNamed(second, 'stories260K.gguf');
    await expect(row).toHaveAttribute('data-state', 'downloading');
    const seen = await bytesIn(second);
    await expect.poll(() => bytesIn(second)).toBeGreaterThan(seen + 32_000);
    expect(server.log.filter((r) => r.status === 200 || r.status === 206)).toHaveLength(1); // the same transfer

    await row.getByTestId('model-cancel').click();
    await expect(row).toHaveAttribute('data-state', 'error');
    await expect(row.getByTestId('model-error')).toContainText('ABORTED');
    const kept = await bytesIn(second);
    expect(kept).toBeGreaterThan(100_000);
    expect(kept).toBeLessThan(model.length);

    await row.getByTestId('model-resume').click();
    await expect(row).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
    const last = server.log.at(-1)!;
    expect(last.status).toBe(206);
    expect(last.range).toBe(`bytes=${kept}-`);
  });

  test('a corrupt file is rejected and nothing else is lost', async ({ page, extensionId }) => {
    const corrupt = model.slice();
    corrupt.set([0x4e, 0x4f, 0x50, 0x45], 0); // not "GGUF"
    server = await startServer({ '/good.gguf': { data: model }, '/corrupt.gguf': { data: corrupt } });
    await openOptions(page, extensionId);
    await installUrl(page, server.url('/good.gguf'));
    const good = rowNamed(page, 'good.gguf');
    await expect(good).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });

    await installUrl(page, server.url('/corrupt.gguf'));
    const bad = rowNamed(page, 'corrupt.gguf');
    await expect(bad).toHaveAttribute('data-state', 'error', { timeout: 30_000 });
    await expect(bad.getByTestId('model-error')).toContainText('GGUF_BAD_MAGIC');

    // A truncated file picked from disk fails the same way.
    await page.getByTestId('model-file').setInputFiles({
      name: 'truncated.gguf',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(model.subarray(0, 4096)),
    });
    const truncated = rowNamed(page, 'truncated.gguf');
    await expect(truncated).toHaveAttribute('data-state', 'error', { timeout: 30_000 });

    await expect(good).toHaveAttribute('data-state', 'ready');
    await expect(page.getByTestId('storage-used')).toHaveAttribute('data-used-bytes', String(model.length));
    // The failed rows go away when deleted; the good model stays.
    await bad.getByTestId('model-delete').click();
    await truncated.getByTestId('model-delete').click();
    await expect(page.getByTestId('model-row')).toHaveCount(1);
    await expect(good).toHaveAttribute('data-state', 'ready');
  });
});

test('options page: a size limit refuses a larger model and evicts the least recently used', async ({
  page,
  extensionId,
}) => {
  test.skip(!modelPath, 'fixture models/stories260K.gguf is missing');
  server = await startServer({ '/a.gguf': { data: model }, '/b.gguf': { data: model } });
  await openOptions(page, extensionId);
  const setLimit = async (bytes: number) => {
    await page.getByTestId('storage-limit').fill((bytes / 1024 ** 3).toFixed(9));
    await page.getByTestId('storage-limit-save').click();
  };
  await setLimit(model.length / 2);
  await installUrl(page, server.url('/a.gguf'));
  const a = rowNamed(page, 'a.gguf');
  await expect(a).toHaveAttribute('data-state', 'error', { timeout: 30_000 });
  await expect(a.getByTestId('model-error')).toContainText('QUOTA_EXCEEDED');

  await setLimit(model.length * 1.5);
  await a.getByTestId('model-resume').click();
  await expect(a).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  await installUrl(page, server.url('/b.gguf'));
  await expect(rowNamed(page, 'b.gguf')).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  // a was used least recently: it made room for b.
  await expect(page.getByTestId('model-row')).toHaveCount(1);
  await expect(page.getByTestId('storage-used')).toHaveAttribute('data-used-bytes', String(model.length));
});

test('options page: site permissions are listed and revocable', async ({ page, extensionId, serviceWorker }) => {
  await serviceWorker.evaluate(async () => {
    const at = Date.now();
    await chrome.storage.local.set({
      'chord.grants': {
        'http://allowed.test': { origin: 'http://allowed.test', decision: 'always', at },
        'http://denied.test': { origin: 'http://denied.test', decision: 'deny', at: at - 1 },
      },
    });
  });
  await page.goto(`chrome-extension://${extensionId}/options.html`);
  const rows = page.getByTestId('grant-row');
  await expect(rows).toHaveCount(2);
  await rows.filter({ hasText: 'allowed.test' }).getByTestId('grant-revoke').click();
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-origin', 'http://denied.test');
  const stored = await serviceWorker.evaluate(
    async () => (await chrome.storage.local.get('chord.grants'))['chord.grants'],
  );
  expect(Object.keys(stored as object)).toEqual(['http://denied.test']);
});
