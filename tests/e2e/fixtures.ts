import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, test as base, chromium, type Worker } from '@playwright/test';
import { repoRoot } from '../helpers/fixtures.ts';

/** The production build that `npm run build` (wxt build) writes; the e2e tests never build it themselves. */
export const extensionDir = join(repoRoot, '.output', 'chrome-mv3');
export const chromiumPath = process.env.CHORD_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Chromium loads only our extension, runs without its sandbox (CI runs as root in
 * containers), and stays quiet: no background network, component updates, sync or QUIC.
 */
export const chromiumArgs = [
  `--load-extension=${extensionDir}`,
  `--disable-extensions-except=${extensionDir}`,
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

type ExtensionFixtures = {
  /** Chromium flags one spec adds for its tests (`test.use({ extraArgs: [...] })`). */
  extraArgs: string[];
  context: BrowserContext;
  serviceWorker: Worker;
  extensionId: string;
};

export const test = base.extend<ExtensionFixtures>({
  extraArgs: [[], { option: true }],
  context: async ({ extraArgs }, use) => {
    if (!existsSync(join(extensionDir, 'manifest.json'))) {
      throw new Error(`no built extension at ${extensionDir}: run \`npm run build\` first`);
    }
    if (!existsSync(chromiumPath)) {
      throw new Error(`no Chromium at ${chromiumPath}: run \`bash scripts/ensure-system-packages.sh\``);
    }
    const profile = mkdtempSync(join(tmpdir(), 'chord-e2e-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [...chromiumArgs, ...extraArgs],
      // Playwright adds --disable-extensions by default, which would hide ours.
      ignoreDefaultArgs: ['--disable-extensions'],
    });
    try {
      await use(context);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
  serviceWorker: async ({ context }, use) => {
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
    await use(worker);
  },
  extensionId: async ({ serviceWorker }, use) => {
    await use(new URL(serviceWorker.url()).host);
  },
});

export const expect = test.expect;
