import { browser } from 'wxt/browser';

/**
 * The offscreen document that hosts the engine: created on demand, at most one
 * (Chrome allows one per extension), re-created when it is gone.
 */
const OFFSCREEN_PATH = '/offscreen.html';

let creating: Promise<void> | undefined;

export async function offscreenExists(): Promise<boolean> {
  const contexts = await browser.runtime.getContexts({
    contextTypes: [browser.runtime.ContextType.OFFSCREEN_DOCUMENT],
    documentUrls: [browser.runtime.getURL(OFFSCREEN_PATH)],
  });
  return contexts.length > 0;
}

export async function ensureOffscreen(): Promise<void> {
  if (await offscreenExists()) return;
  // Two callers at once must not both create it: the second call would throw.
  creating ??= browser.offscreen
    .createDocument({
      url: OFFSCREEN_PATH,
      // The engine runs its kernels in workers; the model store lives in IndexedDB.
      reasons: [browser.offscreen.Reason.WORKERS],
      justification: 'Runs the on-device language model (WASM/WebGPU workers) and its model store.',
    })
    .finally(() => {
      creating = undefined;
    });
  await creating;
}

export async function closeOffscreen(): Promise<void> {
  if (await offscreenExists()) await browser.offscreen.closeDocument();
}
