import { expect, test } from '@playwright/test';
import { type HeadedChromium, launchHeadedChromium, missingHeadedParts } from './headed.ts';
import { installStoriesModel, storiesModelPath } from './install.ts';

// The real side panel (not the side panel page in a tab): headed Chromium under
// xvfb-run, the panel opened with chrome.sidePanel.open({windowId}) from an extension
// tab (a user gesture, as DevTools evaluations are), found among the CDP targets.

/** The extension API as an extension tab sees it (only what the test calls). */
declare const chrome: {
  windows: { getCurrent(): Promise<{ id?: number }> };
  sidePanel: { open(options: { windowId: number }): Promise<void> };
  tabs: { query(query: { windowId: number; url: string }): Promise<unknown[]> };
  runtime: { getURL(path: string): string };
};

const testId = (id: string, extra = '') => `[data-testid="${id}"]${extra}`;

test.describe('the real side panel (headed Chromium)', () => {
  const missing = missingHeadedParts();
  if (process.env.CI && missing) throw new Error(missing);
  test.skip(missing !== undefined, missing ?? '');
  test.skip(storiesModelPath === undefined, 'fixture models/stories260K.gguf is absent');

  let chromium: HeadedChromium | undefined;
  test.afterEach(async () => {
    await chromium?.close();
    chromium = undefined;
  });

  test('opens beside the page, streams a reply, and stops it', async () => {
    chromium = await launchHeadedChromium();
    const { browser, extensionId } = chromium;
    await installStoriesModel(await chromium.serviceWorker());

    const tab = await browser.newPage();
    await tab.goto(`chrome-extension://${extensionId}/options.html`);
    const windowId = await tab.evaluate(async () => {
      const win = await chrome.windows.getCurrent();
      await chrome.sidePanel.open({ windowId: win.id! });
      return win.id!;
    });
    const target = await browser.waitForTarget((t) => t.url() === `chrome-extension://${extensionId}/sidepanel.html`);
    const panel = (await target.asPage())!;
    // A panel, not a tab: no tab of that window shows the side panel page.
    const panelTabs = await tab.evaluate(
      (windowId) => chrome.tabs.query({ windowId, url: chrome.runtime.getURL('/sidepanel.html') }),
      windowId,
    );
    expect(panelTabs).toHaveLength(0);
    // The panel's target exists as soon as its page loads, a moment before the panel is shown.
    await expect.poll(() => panel.evaluate(() => document.visibilityState)).toBe('visible');

    await panel.evaluate(() => localStorage.setItem('chord.panel.maxTokens', '2000'));
    await panel.waitForSelector(testId('model-select', ' option:not([disabled])'));
    await panel.type(testId('chat-input'), 'Tell me a story about a cat.');
    await panel.click(testId('chat-send'));
    const user = testId('chat-message', '[data-role="user"]');
    const assistant = testId('chat-message', '[data-role="assistant"]');
    await panel.waitForSelector(user);
    expect(await panel.$eval(user, (e) => e.textContent)).toBe('Tell me a story about a cat.');
    await panel.waitForSelector(`${assistant}[data-state="streaming"]`);
    // Streamed: the reply grows while it is being written.
    const lengthNow = () => panel.$eval(assistant, (e) => (e.textContent ?? '').length);
    await expect.poll(lengthNow).toBeGreaterThan(0);
    const early = await lengthNow();
    await expect.poll(lengthNow).toBeGreaterThan(early);

    await panel.click(testId('chat-stop'));
    await panel.waitForSelector(`${assistant}[data-state="stopped"]`);
    const stopped = await lengthNow();
    await new Promise((r) => setTimeout(r, 500));
    expect(await lengthNow()).toBe(stopped); // nothing arrives after the stop
    expect(await panel.$eval(testId('chat-error'), (e) => (e as HTMLElement).hidden)).toBe(true);

    // A short second turn runs to its end and reports its speed.
    await panel.evaluate(() => localStorage.setItem('chord.panel.maxTokens', '8'));
    await panel.type(testId('chat-input'), 'And then?');
    await panel.keyboard.press('Enter');
    await panel.waitForSelector(`${assistant}[data-state="done"]`);
    expect(await panel.$$eval(`${assistant} .stats`, (s) => s.map((e) => e.textContent))).toContainEqual(
      expect.stringMatching(/tokens\/s/),
    );
  });
});
