import type { Browser } from 'wxt/browser';
import { expect, test } from './fixtures.ts';

// The callbacks given to serviceWorker.evaluate run inside the extension, where `chrome` is a global.
declare const chrome: typeof Browser;

test('the background service worker starts from the built extension', async ({ serviceWorker, extensionId }) => {
  expect(serviceWorker.url()).toBe(`chrome-extension://${extensionId}/background.js`);
  // The worker runs inside our extension, not some other one.
  expect(await serviceWorker.evaluate(() => chrome.runtime.id)).toBe(extensionId);
});

test('the manifest makes extension pages cross-origin isolated and allows WASM', async ({ serviceWorker }) => {
  const manifest = await serviceWorker.evaluate(() => chrome.runtime.getManifest());
  expect(manifest.manifest_version).toBe(3);
  expect(manifest).toMatchObject({
    cross_origin_embedder_policy: { value: 'require-corp' },
    cross_origin_opener_policy: { value: 'same-origin' },
  });
  const csp = (manifest.content_security_policy as { extension_pages?: string }).extension_pages ?? '';
  expect(csp).toContain("'wasm-unsafe-eval'");
  expect(csp).toContain("script-src 'self'");
});
