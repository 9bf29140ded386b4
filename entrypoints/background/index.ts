import { browser } from 'wxt/browser';
import { hasInterruptedDownloads } from '../../engine/store/interrupted.ts';
import { forgetTab } from '../../shared/permissions.ts';
import { PORT, parseMessage, RuntimeMessageSchema } from '../../shared/protocol.ts';
import { getModelLimit } from '../../shared/settings.ts';
import { registerContextMenu, summarizeSelection } from './context-menu.ts';
import { EngineLink } from './engine-link.ts';
import { decide, onWindowClosed } from './permission-prompt.ts';
import { callerOf, serveClient } from './router.ts';
import { Scheduler } from './scheduler.ts';

/** How many generations the engine host runs at once, taking turns token by token. */
const GENERATIONS_AT_ONCE = 2;

// The background routes: pages and the side panel connect here, the engine host
// (offscreen document) connects here, and this worker decides who may ask what.
export default defineBackground(() => {
  const engine = new EngineLink();
  // Two generations at a time (their tokens interleave in the engine host; each has its
  // own KV cache); more wait in the fair queue, round-robin across tabs.
  const scheduler = new Scheduler(GENERATIONS_AT_ONCE);

  browser.runtime.onConnect.addListener((port) => {
    if (port.name === PORT.engine) {
      if (port.sender?.url === browser.runtime.getURL('/offscreen.html')) engine.attach(port);
      else port.disconnect();
      return;
    }
    const caller = callerOf(port);
    if (caller) serveClient(port, caller, engine, scheduler);
    else port.disconnect();
  });

  browser.runtime.onMessage.addListener((raw: unknown, sender) => {
    const message = parseMessage(RuntimeMessageSchema, raw, 'background<-runtime');
    if (message?.type === 'get-model-limit' && sender.url === browser.runtime.getURL('/offscreen.html')) {
      return getModelLimit().then((limit) => limit ?? null);
    }
    if (message?.type !== 'permission-decision') return;
    if (sender.id !== browser.runtime.id || !sender.url?.startsWith(browser.runtime.getURL('/permission.html'))) return;
    decide(message.promptId, message.decision);
  });

  // A browser restart mid-download: the engine host (offscreen document, or this page on
  // Firefox) is not started until someone asks for it, so start it now if a download
  // waits; it resumes with HTTP Range from the stored bytes. Checked once per start of
  // this worker: cheap (one index lookup), and harmless when the host already runs.
  let resumeChecked = false;
  const resumeDownloads = () => {
    if (resumeChecked) return;
    resumeChecked = true;
    void hasInterruptedDownloads()
      .then((waiting) => (waiting ? engine.start() : undefined))
      .catch((e: unknown) => console.warn('chord: could not resume downloads', e));
  };
  resumeDownloads();
  // Listening to onStartup makes the browser start this worker when the profile opens.
  browser.runtime.onStartup.addListener(resumeDownloads);

  browser.windows.onRemoved.addListener(onWindowClosed);
  browser.tabs.onRemoved.addListener((tabId) => void forgetTab(tabId));
  registerContextMenu();
  // The toolbar button opens the chat: Chromium's side panel, or Firefox's sidebar (sidebar_action).
  if (browser.sidePanel) browser.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});
  else {
    // toggle() needs the click's user action: called at once, in the listener.
    const ui = browser as unknown as FirefoxUi;
    ui.browserAction?.onClicked.addListener(() => void ui.sidebarAction?.toggle());
  }

  // Hooks for the end-to-end tests (serviceWorker.evaluate): the same handlers the UI uses.
  Object.assign(globalThis, {
    chordBackground: {
      summarizeSelection,
      install: (url: string) => engine.call({ type: 'install', url }),
      models: () => engine.call({ type: 'models' }),
      pendingJobs: () => scheduler.pending,
    },
  });
});

/** Firefox's MV2 toolbar button and sidebar, absent from Chromium's API types. */
interface FirefoxUi {
  browserAction?: { onClicked: { addListener(listener: () => void): void } };
  sidebarAction?: { toggle(): Promise<void> };
}
