import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Browser, ElementHandle, Page } from 'puppeteer-core';
import { fixture } from '../helpers/fixtures.ts';
import { launchFirefox, missingFirefoxParts, openExtensionPage, waitForExtensionPage } from './firefox.ts';
import { readModelRows, type SeenModelRow } from './model-db.ts';
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

/** A web page on `url`, once `window.chord` is there. */
async function openSite(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(
    () => typeof (window as { chord?: { generate?: unknown } }).chord?.generate === 'function',
  );
  return page;
}

/** `window.chord.generate('Once upon a time', options)` in the page, read to its end. */
function generateOn(page: Page, options: Record<string, unknown>): Promise<PageReply> {
  return page.evaluate(async (options) => {
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
      const r = chord.generate('Once upon a time', options);
      for await (const t of r) {
        out.text += t;
        out.chunks++;
      }
      out.done = await r.done;
    } catch (e) {
      out.error = { name: (e as Error).name, code: (e as { code: string }).code };
    }
    return out;
  }, options) as Promise<PageReply>;
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

  test("installs through the options page; a page allowed once gets llama.cpp's greedy story, a denied one is refused", async () => {
    const served = await serveFile(modelPath!);
    const site = await serveSite();
    const denied = await serveSite();
    try {
      browser = await launchFirefox();
      const options = await installThroughOptions(browser, served.url);
      const row = await options.$eval(testId('model-row'), (li) => li.textContent ?? '');
      expect(row).toContain('stories260K');

      const page = await openSite(browser, site.url);
      const reply = generateOn(page, { maxTokens: 30, temperature: 0 });
      const prompt = await waitForExtensionPage(browser, 'permission.html');
      expect(await prompt.$eval(testId('permission-origin'), (e) => e.textContent)).toBe(site.origin);
      await prompt.click(testId('permission-allow-once')).catch(() => {}); // the window closes as the click lands
      const answer = await reply;
      expect(answer.error).toBeUndefined();
      expect(answer.text).toBe(STORY);
      expect(answer.chunks).toBeGreaterThan(1);
      expect(answer.done).toMatchObject({ text: STORY, finishReason: 'length', usage: { completionTokens: 30 } });
      // One wasm thread: the background page is not cross-origin isolated, so no SharedArrayBuffer.
      expect(answer.done?.backend).toMatch(/^wasm \(SIMD128( \+ relaxed(, fused madd)?)?, 1 thread\)/);
      console.log(`Firefox engine backend: ${answer.done?.backend}`);

      // Another origin, denied: refused with NotAllowedError, and not asked again.
      const other = await openSite(browser, denied.url);
      const refused = generateOn(other, { maxTokens: 5 });
      const secondPrompt = await waitForExtensionPage(browser, `permission.html?prompt=`, 15_000, denied.origin);
      await secondPrompt.click(testId('permission-deny')).catch(() => {});
      expect((await refused).error).toEqual({ name: 'NotAllowedError', code: 'NOT_ALLOWED' });
      expect((await generateOn(other, { maxTokens: 5 })).error).toEqual({
        name: 'NotAllowedError',
        code: 'NOT_ALLOWED',
      });
    } finally {
      await served.close();
      await site.close();
      await denied.close();
    }
  });

  test('installs a local file; the real sidebar streams a reply, stops it, and summarizes a selection', async () => {
    browser = await launchFirefox();
    const options = await openExtensionPage(browser, 'options.html');
    const input = (await options.$(testId('model-file'))) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(fixture('models/stories260K-Q8_0.gguf')!);
    await options.waitForSelector(testId('model-row', '[data-state="ready"]'), { timeout: 30_000 });

    // sidebarAction.open() needs a user action: a trusted click (WebDriver input) on a button of an extension page.
    await clickToRun(options, 'open-sidebar', () =>
      (globalThis as unknown as { browser: { sidebarAction: { open(): Promise<void> } } }).browser.sidebarAction.open(),
    );

    // The sidebar lives in the browser's own window, out of WebDriver's reach: drive it from
    // the options page through extension.getViews, which returns the sidebar's window.
    const inSidebar = <T, A>(fn: (doc: Document, arg: A) => T, arg: A): Promise<T> =>
      // A string, evaluated by WebDriver (an extension page's CSP would refuse new Function).
      options.evaluate(
        `(${fn.toString()})(browser.extension.getViews({ type: 'sidebar' })[0].document, ${JSON.stringify(arg)})`,
      ) as Promise<T>;
    // open() can resolve before the sidebar's page has loaded: wait for its view.
    await expect.poll(() => options.evaluate(`browser.extension.getViews({ type: 'sidebar' }).length`)).toBe(1);
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

    // "Summarize selection" (the context menu's handler, called directly: menu clicks cannot be automated).
    const selection = 'Lily went to the park. She saw a big red ball and played with her dog all day.';
    await inSidebar((doc) => doc.defaultView!.localStorage.setItem('chord.panel.maxTokens', '30'), null);
    await options.evaluate(
      `browser.runtime.getBackgroundPage().then((bg) => bg.chordBackground.summarizeSelection(${JSON.stringify(selection)}))`,
    );
    const summary = () =>
      inSidebar((doc) => {
        const user = [...doc.querySelectorAll('[data-testid="chat-message"][data-role="user"]')].at(-1);
        const reply = [...doc.querySelectorAll('[data-testid="chat-message"][data-role="assistant"]')].at(-1);
        return {
          asked: user?.textContent ?? '',
          state: reply?.getAttribute('data-state'),
          text: reply?.textContent ?? '',
        };
      }, null);
    await expect.poll(async () => (await summary()).asked).toContain(selection);
    await expect.poll(async () => (await summary()).state, { timeout: 20_000 }).toBe('done');
    expect((await summary()).text).not.toBe('');
  });

  test('a download cut by quitting Firefox resumes with Range when it starts again', async () => {
    const file = readFileSync(modelPath!);
    const sha = createHash('sha256').update(file).digest('hex');
    const served = await serveFile(modelPath!, { bytesPerSecond: 150_000 });
    const profile = mkdtempSync(join(tmpdir(), 'chord-firefox-'));
    try {
      browser = await launchFirefox({ profile });
      const options = await openExtensionPage(browser, 'options.html');
      await options.type(testId('model-url'), served.url);
      await options.click(testId('model-install'));
      // Read from a page that asks nothing of the engine (the options page would follow the download).
      const quiet = await openExtensionPage(browser, 'permission.html');
      await expect
        .poll(async () => (await storedRows(quiet))[0]?.bytesDone ?? 0, { timeout: 20_000 })
        .toBeGreaterThan(200_000);
      // Quit with no page of the add-on that would ask the engine anything at the next start:
      // the options page (the download goes on without it) and the sidebar (Firefox opens it
      // at install and reopens it at startup) are closed first.
      await options.close();
      await clickToRun(quiet, 'close-sidebar', () =>
        (
          globalThis as unknown as { browser: { sidebarAction: { close(): Promise<void> } } }
        ).browser.sidebarAction.close(),
      );
      const storedBeforeQuit = (await storedRows(quiet))[0]!.bytesDone;
      await browser.close();
      browser = undefined;
      const requestsBefore = served.starts.length;
      served.bytesPerSecond = undefined;

      browser = await launchFirefox({ profile });
      const after = await openExtensionPage(browser, 'permission.html');
      // Nothing but the add-on's own startup asks for it.
      await expect.poll(async () => (await storedRows(after))[0]?.state, { timeout: 30_000 }).toBe('ready');
      const [ready] = await storedRows(after);
      expect(ready).toMatchObject({ size: file.length, bytesDone: file.length, sha256: sha });
      // One request after the restart, from at least the count stored before the quit.
      const resumed = served.starts.slice(requestsBefore);
      expect(resumed).toHaveLength(1);
      expect(resumed[0]).toBeGreaterThanOrEqual(storedBeforeQuit);
      expect(resumed[0]).toBeLessThan(file.length);
      console.log(
        `Firefox restart: ${storedBeforeQuit} of ${file.length} bytes seen stored before the quit; resumed from ${resumed[0]}`,
      );
    } finally {
      await browser?.close();
      browser = undefined;
      await served.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

/** The model store's rows, read in an extension page that asks nothing of the engine. */
function storedRows(page: Page): Promise<SeenModelRow[]> {
  return page.evaluate(readModelRows);
}

/**
 * Runs `action` (an extension API that needs the user's action, such as opening the
 * sidebar) from a trusted click, WebDriver's input, on a button added to an extension
 * page. The script is a string evaluated by WebDriver (the page's CSP forbids eval).
 */
async function clickToRun(page: Page, buttonId: string, action: () => Promise<void>): Promise<void> {
  await page.evaluate(`(() => {
    const button = document.createElement('button');
    button.id = ${JSON.stringify(buttonId)};
    button.textContent = button.id;
    const action = ${action.toString()};
    button.onclick = () =>
      action().then(() => button.setAttribute('data-done', 'yes'), (e) => button.setAttribute('data-done', String(e)));
    document.body.prepend(button);
  })()`);
  await page.click(`#${buttonId}`);
  await page.waitForSelector(`#${buttonId}[data-done]`);
  expect(await page.$eval(`#${buttonId}`, (b) => b.getAttribute('data-done'))).toBe('yes');
}
