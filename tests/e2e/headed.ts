import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type WebWorker } from 'puppeteer-core';
import { chromiumArgs, chromiumPath, extensionDir } from './fixtures.ts';

/**
 * Headed Chromium on a virtual display (`xvfb-run -a`, Debian's xvfb): what headless
 * mode does not show, such as the real side panel, runs here. Driven by puppeteer-core
 * over CDP, whose targets include the side panel (Playwright's pages do not).
 */
export interface HeadedChromium {
  browser: Browser;
  extensionId: string;
  /** The extension's service worker. */
  serviceWorker(): Promise<WebWorker>;
  close(): Promise<void>;
}

export function missingHeadedParts(): string | undefined {
  if (!existsSync(join(extensionDir, 'manifest.json')))
    return `no built extension at ${extensionDir}: run \`npm run build\``;
  if (!existsSync(chromiumPath)) return `no Chromium at ${chromiumPath}`;
  if (!existsSync('/usr/bin/xvfb-run')) return 'no xvfb-run: run `bash scripts/ensure-system-packages.sh`';
  return undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Chromium writes its DevTools port to the profile once it listens. */
async function devToolsPort(profile: string, child: ChildProcess): Promise<number> {
  const file = join(profile, 'DevToolsActivePort');
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`xvfb-run chromium exited with ${child.exitCode}`);
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
    if (lines.length >= 2 && Number(lines[0]) > 0) return Number(lines[0]);
    if (Date.now() > deadline) throw new Error('headed Chromium did not open its DevTools port');
    await sleep(100);
  }
}

export async function launchHeadedChromium(): Promise<HeadedChromium> {
  const profile = mkdtempSync(join(tmpdir(), 'chord-headed-'));
  // Its own process group, so that Xvfb and every Chromium process go together.
  const child = spawn(
    'xvfb-run',
    ['-a', chromiumPath, `--user-data-dir=${profile}`, '--remote-debugging-port=0', ...chromiumArgs, 'about:blank'],
    { detached: true, stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const port = await devToolsPort(profile, child);
    const browser = await puppeteer.connect({ browserURL: `http://127.0.0.1:${port}`, defaultViewport: null });
    const worker = () =>
      browser.waitForTarget((t) => t.type() === 'service_worker' && t.url().endsWith('/background.js'));
    const extensionId = new URL((await worker()).url()).host;
    return {
      browser,
      extensionId,
      serviceWorker: async () => (await (await worker()).worker())!,
      close: async () => {
        await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
        await Promise.race([exited, sleep(5000)]);
        await kill();
      },
    };
  } catch (e) {
    await kill();
    throw e;
  }
}
