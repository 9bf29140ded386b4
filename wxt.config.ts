import { defineConfig } from 'wxt';

// The engine is platform-neutral code under engine/; the extension only hosts it.
// Chromium gets MV3 (service worker + offscreen engine host, side panel); Firefox gets
// WXT's default MV2 (a background page that hosts the engine itself, a sidebar).
export default defineConfig({
  modules: ['@wxt-dev/webextension-polyfill'],
  webExt: { disabled: true },
  vite: () => ({ worker: { format: 'es' } }),
  manifest: ({ browser }) => {
    const common = {
      name: 'Chord',
      description: 'An on-device LLM for every tab. Nothing leaves the machine.',
      // The toolbar button opens the side panel (background: setPanelBehavior).
      action: { default_title: 'Chord' },
    };
    if (browser === 'firefox') {
      return {
        ...common,
        // No offscreen or sidePanel API there (sidebar_action comes from the side panel entrypoint).
        permissions: ['storage', 'unlimitedStorage', 'contextMenus'],
        // A fixed id keeps storage (grants, models) across reinstalls and lets tests address the add-on.
        browser_specific_settings: { gecko: { id: 'chord@chord.invalid', strict_min_version: '128.0' } },
        content_security_policy: { extension_pages: "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'" },
      };
    }
    return {
      ...common,
      permissions: ['offscreen', 'storage', 'unlimitedStorage', 'sidePanel', 'contextMenus'],
      cross_origin_embedder_policy: { value: 'require-corp' },
      cross_origin_opener_policy: { value: 'same-origin' },
      content_security_policy: {
        extension_pages: "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'",
      },
    };
  },
});
