import { browser } from 'wxt/browser';
import { SUMMARIZE_JOB_KEY, type SummarizeJob } from '../../shared/summarize-job.ts';

/**
 * "Summarize selection": the menu item hands the selected text to the side panel,
 * which streams a summary with the model's chat template. The hand-over goes
 * through storage.session (a panel that opens later still finds it) and a
 * `summarize` message (a panel already open starts at once).
 */
export const SUMMARIZE_MENU_ID = 'chord-summarize';

export function registerContextMenu(): void {
  browser.runtime.onInstalled.addListener(() => {
    browser.contextMenus.create({ id: SUMMARIZE_MENU_ID, title: 'Summarize selection', contexts: ['selection'] });
  });
  browser.contextMenus.onClicked.addListener((info, tab) => {
    if (info.menuItemId === SUMMARIZE_MENU_ID) void summarizeSelection(info.selectionText ?? '', tab?.windowId);
  });
}

/** The menu's handler (tests call it directly: context-menu clicks cannot be automated). */
export async function summarizeSelection(text: string, windowId?: number): Promise<string> {
  // sidePanel.open needs the user's gesture: call it before anything is awaited.
  const opened = openPanel(windowId).catch((e: unknown) => console.warn('side panel did not open', e));
  const job: SummarizeJob = { jobId: crypto.randomUUID(), text: text.trim(), at: Date.now() };
  await browser.storage.session.set({ [SUMMARIZE_JOB_KEY]: job });
  await opened;
  browser.runtime.sendMessage({ type: 'summarize', jobId: job.jobId }).catch(() => {});
  return job.jobId;
}

/** Chromium's side panel, or Firefox's sidebar. */
function openPanel(windowId: number | undefined): Promise<unknown> {
  if (windowId === undefined) return Promise.resolve();
  if (browser.sidePanel) return browser.sidePanel.open({ windowId });
  const sidebar = (browser as unknown as { sidebarAction?: { open(): Promise<void> } }).sidebarAction;
  return sidebar ? sidebar.open() : Promise.resolve();
}
