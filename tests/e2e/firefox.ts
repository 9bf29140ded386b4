import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { repoRoot } from '../helpers/fixtures.ts';

/** The Firefox build (`wxt build -b firefox`, part of `npm run build`): MV2, the engine in the background page. */
export const firefoxExtensionDir = join(repoRoot, '.output', 'firefox-mv2');
export const firefoxPath = process.env.CHORD_FIREFOX ?? '/usr/bin/firefox-esr';
/** browser_specific_settings.gecko.id in wxt.config.ts. */
const ADDON_ID = 'chord@chord.invalid';
/**
 * Firefox gives each add-on a random internal UUID per profile (its moz-extension://
 * host); this preference fixes it, so tests can open the add-on's pages.
 */
const ADDON_UUID = '6b1e4c36-0c1f-4a39-9d5e-0d6f1c0ca001';
export const firefoxExtensionOrigin = `moz-extension://${ADDON_UUID}`;

export function missingFirefoxParts(): string | undefined {
  if (!existsSync(join(firefoxExtensionDir, 'manifest.json'))) {
    return `no Firefox build at ${firefoxExtensionDir}: run \`npm run build\` first`;
  }
  if (!existsSync(firefoxPath)) return `no Firefox at ${firefoxPath}: run \`bash scripts/ensure-system-packages.sh\``;
  return undefined;
}

const prefs = { 'extensions.webextensions.uuids': JSON.stringify({ [ADDON_ID]: ADDON_UUID }) };

/**
 * Debian's firefox-esr, headless, driven over WebDriver BiDi, with the built add-on.
 * Without a profile: a fresh one, the add-on installed temporarily (gone at exit).
 * With `profile`: that profile, kept across launches, where the add-on is installed
 * for good (an extension proxy file; ESR accepts unsigned add-ons when
 * xpinstall.signatures.required is off), so a browser restart keeps it and its data.
 */
export async function launchFirefox(opts: { profile?: string } = {}): Promise<Browser> {
  if (opts.profile) {
    mkdirSync(join(opts.profile, 'extensions'), { recursive: true });
    writeFileSync(join(opts.profile, 'extensions', ADDON_ID), `${firefoxExtensionDir}\n`);
    return puppeteer.launch({
      browser: 'firefox',
      executablePath: firefoxPath,
      headless: true,
      userDataDir: opts.profile,
      args: ['--remote-allow-system-access'],
      extraPrefsFirefox: {
        ...prefs,
        'xpinstall.signatures.required': false,
        'extensions.autoDisableScopes': 0,
        'extensions.startupScanScopes': 1,
      },
    });
  }
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: firefoxPath,
    headless: true,
    args: ['--remote-allow-system-access'],
    extraPrefsFirefox: prefs,
  });
  try {
    await browser.installExtension(firefoxExtensionDir);
  } catch (e) {
    await browser.close();
    throw e;
  }
  return browser;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A page's location, or '' while it cannot be asked (navigating). */
async function hrefOf(page: Page): Promise<string> {
  return page.evaluate(() => location.href).catch(() => '');
}

/**
 * Opens one of the add-on's pages in a new tab. puppeteer's goto never resolves on
 * moz-extension pages, so the navigation is started and its arrival polled.
 */
export async function openExtensionPage(browser: Browser, path: string): Promise<Page> {
  const page = await browser.newPage();
  const url = `${firefoxExtensionOrigin}/${path}`;
  page.goto(url).catch(() => {});
  const deadline = Date.now() + 15_000;
  while ((await hrefOf(page)) !== url) {
    if (Date.now() > deadline) throw new Error(`Firefox did not open ${url}`);
    await sleep(100);
  }
  await page.waitForFunction(() => document.readyState === 'complete');
  return page;
}

/**
 * Waits for a tab or window of the add-on whose URL starts with `path` (e.g. a
 * permission prompt it opened), and that contains `containing` when given.
 */
export async function waitForExtensionPage(
  browser: Browser,
  path: string,
  timeoutMs = 15_000,
  containing = '',
): Promise<Page> {
  const prefix = `${firefoxExtensionOrigin}/${path}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const page of await browser.pages()) {
      const href = await hrefOf(page);
      if (href.startsWith(prefix) && decodeURIComponent(href).includes(containing)) {
        await page.waitForFunction(() => document.readyState === 'complete');
        return page;
      }
    }
    if (Date.now() > deadline) throw new Error(`no ${prefix} page appeared`);
    await sleep(100);
  }
}
