import { browser } from 'wxt/browser';
import { ChordError } from '../../shared/errors.ts';
import { grantOnce, permissionState, setGrant } from '../../shared/permissions.ts';
import type { PermissionDecision } from '../../shared/protocol.ts';

/**
 * The first call from an origin opens the permission page (permission.html) in a
 * small window, showing the origin and what it asks for. Its buttons answer with a
 * `permission-decision` message. Closing the window without answering refuses this
 * call and decides nothing. Calls from one tab and origin share one prompt.
 */
interface Pending {
  resolve: (decision: PermissionDecision | undefined) => void;
  windowId?: number;
}
const pending = new Map<string, Pending>();
const asking = new Map<string, Promise<boolean>>();

/** The same refusal whatever the reason (denied, dismissed): the site learns nothing more. */
export function notAllowed(): ChordError {
  return new ChordError('NOT_ALLOWED', 'this site is not allowed to use the on-device model');
}

export async function requirePermission(origin: string, tabId: number): Promise<void> {
  const state = await permissionState(origin, tabId);
  if (state === 'granted') return;
  if (state === 'denied') throw notAllowed();
  const key = `${tabId} ${origin}`;
  let answer = asking.get(key);
  if (!answer) {
    answer = askUser(origin, tabId).finally(() => asking.delete(key));
    asking.set(key, answer);
  }
  if (!(await answer)) throw notAllowed();
}

async function askUser(origin: string, tabId: number): Promise<boolean> {
  const promptId = crypto.randomUUID();
  const entry: Pending = { resolve: () => {} };
  const decided = new Promise<PermissionDecision | undefined>((resolve) => {
    entry.resolve = resolve;
  });
  pending.set(promptId, entry);
  try {
    const query = new URLSearchParams({ prompt: promptId, origin, asks: 'generate' });
    const win = await browser.windows.create({
      url: browser.runtime.getURL(`/permission.html?${query}`),
      type: 'popup',
      width: 460,
      height: 360,
      focused: true,
    });
    entry.windowId = win?.id;
    const decision = await decided;
    if (decision === 'always' || decision === 'deny') await setGrant(origin, decision);
    if (decision === 'once') await grantOnce(tabId, origin);
    if (entry.windowId !== undefined) browser.windows.remove(entry.windowId).catch(() => {});
    return decision === 'once' || decision === 'always';
  } finally {
    pending.delete(promptId);
  }
}

/** The permission page's answer. */
export function decide(promptId: string, decision: PermissionDecision): void {
  pending.get(promptId)?.resolve(decision);
}

/** A prompt window closed without an answer refuses the call. */
export function onWindowClosed(windowId: number): void {
  for (const entry of pending.values()) if (entry.windowId === windowId) entry.resolve(undefined);
}
