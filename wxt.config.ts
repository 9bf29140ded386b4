import { defineConfig } from 'wxt';

// The engine is platform-neutral code under engine/; the extension only hosts it.
export default defineConfig({
  modules: ['@wxt-dev/webextension-polyfill'],
  webExt: { disabled: true },
  vite: () => ({ worker: { format: 'es' } }),
  manifest: {
    name: 'Chord',
    description: 'An on-device LLM for every tab. Nothing leaves the machine.',
    permissions: ['offscreen', 'storage', 'unlimitedStorage', 'sidePanel', 'contextMenus'],
    // The toolbar button opens the side panel (background: setPanelBehavior).
    action: { default_title: 'Chord' },
    cross_origin_embedder_policy: { value: 'require-corp' },
    cross_origin_opener_policy: { value: 'same-origin' },
    content_security_policy: {
      extension_pages: "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'",
    },
  },
});
