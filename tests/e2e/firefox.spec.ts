import { expect, test } from '@playwright/test';
import type { Browser, ElementHandle, Page } from 'puppeteer-core';
import { fixture } from '../helpers/fixtures.ts';
import { launchFirefox, missingFirefoxParts, openExtensionPage, waitForExtensionPage } from './firefox.ts';
import { serveFile } from './serve.ts';
import { serveSite } from './site.ts';

// The Firefox build (MV2: no offscreen API, the engine lives in the background page;
// no SharedArrayBuffer, so one wasm thread) in Debian's firefox-esr, driven by
// puppeteer-core over WebDriver BiDi. stories260K is installed through the options
// page from a 127.0.0.1 URL; the expected story is llama.cpp's greedy text.

const STORY = ', there was a little girl named Lily. She loved to play outside in the park. One day,';
const modelPath = fixture('models/stories260K.gguf');

const testId = (id: string, extra = '') => `[data-testid="${id}"]${extra}`;

/** Installs the model by URL through the options page, as a user would; the page stays open. */
async function installThroughOptions(browser: Browser, url: string): Promise<Page> {
  const options = await openExtensionPage(browser, 'options.html');
  await options.type(testId('model-url'), url);
  await options.click(testId('model-install'));
  await options.waitForSelector(testId('model-row', '[data-state="ready"]'), { timeout: 30_000 });
  return options;
}

interface PageReply {
  text?: string;
  chunks?: number;
  done?: { text: string; finishReason: string; usage: { completionTokens: number }; backend: string };
  error?: { name: string; code: string };
}

test.describe('Firefox', () => {
  const missing = missingFirefoxParts();
  test.skip(modelPath === undefined, 'fixture models/stories260K.gguf is absent');
  if (process.env.CI && missing) throw new Error(missing);
  test.skip(missing !== undefined, missing ?? '');

  let browser: Browser | undefined;
  test.afterEach(async () => {
    await browser?.close();
    browser = undefined;
  });

  test("installs through the options page; a page allowed once gets llama.cpp's greedy story", async () => {
    const served = await serveFile(modelPath!);
    const site = await serveSite();
    try {
      browser = await launchFirefox();
      const options = await installThroughOptions(browser, served.url);
      const row = await options.$eval(testId('model-row'), (li) => li.textContent ?? '');
      expect(row).toContain('stories260K');

      const page = await browser.newPage();
      await page.goto(site.url);
      await page.waitForFunction(
        () => typeof (window as { chord?: { generate?: unknown } }).chord?.generate === 'function',
      );
      const reply = page.evaluate(async () => {
        const chord = (
          window as unknown as {
            chord: { generate(i: string, o: object): AsyncIterable<string> & { done: Promise<unknown> } };
          }
        ).chord;
        const out: { text: string; chunks: number; done?: unknown; error?: { name: string; code: string } } = {
          text: '',
          chunks: 0,
        };
        try {
          const r = chord.generate('Once upon a time', { maxTokens: 30, temperature: 0 });
          for await (const t of r) {
            out.text += t;
            out.chunks++;
          }
          out.done = await r.done;
        } catch (e) {
          out.error = { name: (e as Error).name, code: (e as { code: string }).code };
        }
        return out;
      }) as Promise<PageReply>;
      const prompt = await waitForExtensionPage(browser, 'permission.html');
      expect(await prompt.$eval(testId('permission-origin'), (e) => e.textContent)).toBe(site.origin);
      await prompt.click(testId('permission-allow-once')).catch(() => {}); // the window closes as the click lands
      const answer = await reply;
      expect(answer.error).toBeUndefined();
      expect(answer.text).toBe(STORY);
      expect(answer.chunks).toBeGreaterThan(1);
      expect(answer.done).toMatchObject({ text: STORY, finishReason: 'length', usage: { completionTokens: 30 } });
      // One wasm thread: the background page is not cross-origin isolated, so no SharedArrayBuffer.
      expect(answer.done?.backend).toMatch(/^wasm \(SIMD128, 1 thread\)/);
      console.log(`Firefox engine backend: ${answer.done?.backend}`);
    } finally {
      await served.close();
      await site.close();
    }
  });

  test('installs a local file; the real sidebar streams a reply and stops it', async () => {
    browser = await launchFirefox();
    const options = await openExtensionPage(browser, 'options.html');
    const input = (await options.$(testId('model-file'))) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(fixture('models/stories260K-Q8_0.gguf')!);
    await options.waitForSelector(testId('model-row', '[data-state="ready"]'), { timeout: 30_000 });

    // sidebarAction.open() needs a user action: a trusted click (WebDriver input) on a button of an extension page.
    await options.evaluate(() => {
      const button = document.createElement('button');
      button.id = 'open-sidebar';
      button.textContent = 'Open the sidebar';
      button.onclick = () => {
        const sidebar = (globalThis as unknown as { browser: { sidebarAction: { open(): Promise<void> } } }).browser
          .sidebarAction;
        sidebar.open().then(
          () => button.setAttribute('data-opened', 'yes'),
          (e: unknown) => button.setAttribute('data-opened', String(e)),
        );
      };
      document.body.prepend(button);
    });
    await options.click('#open-sidebar');
    await options.waitForSelector('#open-sidebar[data-opened]');
    expect(await options.$eval('#open-sidebar', (b) => b.getAttribute('data-opened'))).toBe('yes');

    // The sidebar lives in the browser's own window, out of WebDriver's reach: drive it from
    // the options page through extension.getViews, which returns the sidebar's window.
    const inSidebar = <T, A>(fn: (doc: Document, arg: A) => T, arg: A): Promise<T> =>
      // A string, evaluated by WebDriver (an extension page's CSP would refuse new Function).
      options.evaluate(
        `(${fn.toString()})(browser.extension.getViews({ type: 'sidebar' })[0].document, ${JSON.stringify(arg)})`,
      ) as Promise<T>;
    expect(await inSidebar((doc) => doc.location.pathname, null)).toBe('/sidepanel.html');
    await expect
      .poll(() =>
        inSidebar((doc) => doc.querySelectorAll('[data-testid="model-select"] option:not([disabled])').length, null),
      )
      .toBe(1);
    await inSidebar((doc, text) => {
      doc.defaultView!.localStorage.setItem('chord.panel.maxTokens', '2000');
      (doc.querySelector('[data-testid="chat-input"]') as HTMLTextAreaElement).value = text;
      (doc.querySelector('[data-testid="chat-send"]') as HTMLButtonElement).click();
    }, 'Tell me a story about a cat.');
    const reply = () =>
      inSidebar((doc) => {
        const m = doc.querySelector('[data-testid="chat-message"][data-role="assistant"]');
        return { state: m?.getAttribute('data-state'), length: (m?.textContent ?? '').length };
      }, null);
    await expect.poll(async () => (await reply()).state).toBe('streaming');
    await expect.poll(async () => (await reply()).length).toBeGreaterThan(0);
    const early = (await reply()).length;
    await expect.poll(async () => (await reply()).length).toBeGreaterThan(early);
    await inSidebar((doc) => (doc.querySelector('[data-testid="chat-stop"]') as HTMLButtonElement).click(), null);
    await expect.poll(async () => (await reply()).state).toBe('stopped');
    const stopped = (await reply()).length;
    await new Promise((r) => setTimeout(r, 500));
    expect((await reply()).length).toBe(stopped); // nothing arrives after the stop
  });
});
