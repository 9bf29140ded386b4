import { fixture } from '../helpers/fixtures.ts';
import { expect } from './fixtures.ts';
import { serveFile } from './serve.ts';

/** The fixture model every extension spec installs. */
export const storiesModelPath = fixture('models/stories260K.gguf');

interface InstallHook {
  install(url: string): Promise<{ state: string }>;
}

/** A service worker as Playwright (Chromium) or Puppeteer (headed Chromium, Firefox) hands it over. */
interface Evaluating {
  evaluate(f: (url: string) => Promise<{ state: string }>, url: string): Promise<{ state: string }>;
}

/**
 * Installs stories260K into the extension's store through the background's test
 * hook (what the options page's "Add by URL" calls), served from 127.0.0.1, and
 * checks that it is ready.
 */
export async function installStoriesModel(serviceWorker: Evaluating): Promise<void> {
  const served = await serveFile(storiesModelPath!);
  try {
    const model = await serviceWorker.evaluate(
      (url) => (globalThis as unknown as { chordBackground: InstallHook }).chordBackground.install(url),
      served.url,
    );
    expect(model.state).toBe('ready');
  } finally {
    await served.close();
  }
}
