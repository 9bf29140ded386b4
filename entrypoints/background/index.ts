import { browser } from 'wxt/browser';
import { forgetTab } from '../../shared/permissions.ts';
import { PORT, parseMessage, RuntimeMessageSchema } from '../../shared/protocol.ts';
import { getModelLimit } from '../../shared/settings.ts';
import { registerContextMenu, summarizeSelection } from './context-menu.ts';
import { EngineLink } from './engine-link.ts';
import { decide, onWindowClosed } from './permission-prompt.ts';
import { callerOf, serveClient } from './router.ts';
import { Scheduler } from './scheduler.ts';

// The background routes: pages and the side panel connect here, the engine host
// (offscreen document) connects here, and this worker decides who may ask what.
export default defineBackground(() => {
  const engine = new EngineLink();
  const scheduler = new Scheduler(1);

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

  browser.windows.onRemoved.addListener(onWindowClosed);
  browser.tabs.onRemoved.addListener((tabId) => void forgetTab(tabId));
  registerContextMenu();
  // Chromium's side panel; Firefox has a sidebar (sidebar_action) instead.
  browser.sidePanel?.setPanelBehavior({ openPanelOnActionClick: true }).catch(() => {});

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
