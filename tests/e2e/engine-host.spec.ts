import type { BrowserContext, Page, Worker } from '@playwright/test';
import type { Browser } from 'wxt/browser';
import { expect, test } from './fixtures.ts';
import { installStoriesModel, storiesModelPath } from './install.ts';
import { type Site, serveSite } from './site.ts';

// The engine host's life: the offscreen document dying mid-stream, the service
// worker restarting mid-stream, and malformed messages. In each case the caller
// hears an error (never a stream that silently stops), and the next request works.

declare const chrome: typeof Browser;
declare global {
  interface Window {
    chordRun?: { text: string; chunks: number; end?: { ok: boolean; code?: string; text?: string } };
  }
}

const STORY = ', there was a little girl named Lily. She loved to play outside in the park. One day,';

/** A site whose origin is always allowed (as if the user had clicked "Always allow" before). */
async function allowedPage(context: BrowserContext, serviceWorker: Worker, site: Site): Promise<Page> {
  await serviceWorker.evaluate(
    (origin) => chrome.storage.local.set({ 'chord.grants': { [origin]: { origin, decision: 'always', at: 1 } } }),
    site.origin,
  );
  const page = await context.newPage();
  await page.goto(site.url);
  await page.waitForFunction(() => 'chord' in window);
  return page;
}

/** Starts a generation that records its progress in window.chordRun. */
async function startRun(page: Page, maxTokens: number): Promise<void> {
  await page.evaluate((maxTokens) => {
    const run: NonNullable<Window['chordRun']> = { text: '', chunks: 0 };
    window.chordRun = run;
    const chord = (window as unknown as { chord: { generate(i: string, o: object): AsyncIterable<string> } }).chord;
    void (async () => {
      try {
        for await (const t of chord.generate('Once upon a time', { maxTokens, temperature: 0 })) {
          run.text += t;
          run.chunks++;
        }
        run.end = { ok: true, text: run.text };
      } catch (e) {
        run.end = { ok: false, code: (e as { code: string }).code };
      }
    })();
  }, maxTokens);
}

const runEnd = (page: Page) =>
  page.waitForFunction(() => window.chordRun?.end, undefined, { timeout: 20_000 }).then((h) => h.jsonValue());

test.describe('engine host', () => {
  test.skip(storiesModelPath === undefined, 'fixture models/stories260K.gguf is absent');
  let site: Site | undefined;
  test.afterEach(async () => site?.close());

  test('a dead offscreen document ends its streams with an error and is re-created', async ({
    context,
    serviceWorker,
  }) => {
    await installStoriesModel(serviceWorker);
    site = await serveSite();
    const page = await allowedPage(context, serviceWorker, site);
    await startRun(page, 2000);
    await page.waitForFunction(() => (window.chordRun?.chunks ?? 0) >= 3);
    await serviceWorker.evaluate(() => chrome.offscreen.closeDocument());
    expect(await runEnd(page)).toEqual({ ok: false, code: 'INTERNAL' });

    await startRun(page, 30);
    expect(await runEnd(page)).toEqual({ ok: true, text: STORY });
    expect(
      await serviceWorker.evaluate(() => chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] })),
    ).toHaveLength(1);
  });

  test('a service-worker restart mid-stream reaches the page as an error; the next call works', async ({
    context,
    serviceWorker,
    extensionId,
  }) => {
    await installStoriesModel(serviceWorker);
    site = await serveSite();
    const page = await allowedPage(context, serviceWorker, site);
    await startRun(page, 2000);
    await page.waitForFunction(() => (window.chordRun?.chunks ?? 0) >= 3);

    // Stop the extension's service worker as Chrome does when it idles out.
    const extensionPage = await context.newPage();
    await extensionPage.goto(`chrome-extension://${extensionId}/permission.html`);
    const cdp = await context.newCDPSession(extensionPage);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    expect(await runEnd(page)).toEqual({ ok: false, code: 'INTERNAL' });

    // The worker starts again on the next call, finds the engine host, and answers.
    await startRun(page, 30);
    expect(await runEnd(page)).toEqual({ ok: true, text: STORY });
  });

  test('a malformed request from a page is dropped with BAD_MESSAGE', async ({ context, serviceWorker }) => {
    await installStoriesModel(serviceWorker);
    site = await serveSite();
    const page = await allowedPage(context, serviceWorker, site);
    const answers = await page.evaluate(async () => {
      const ask = (request: unknown) =>
        new Promise<unknown>((resolve) => {
          const channel = new MessageChannel();
          channel.port1.onmessage = (e) => resolve(e.data);
          window.postMessage({ tag: 'chord-bridge-v1', request }, '*', [channel.port2]);
        });
      return [
        await ask({ type: 'generate', id: 'x1', input: 'hi', options: { maxTokens: -5 } }),
        await ask({ type: 'install', id: 'x2', url: 'http://127.0.0.1:1/evil.gguf' }),
        await ask({ type: 'generate', id: 'x3', input: 'hi', options: { backend: 'js' } }),
      ];
    });
    for (const answer of answers) expect(answer).toMatchObject({ type: 'error', error: { code: 'BAD_MESSAGE' } });
  });
});
