/**
 * Per-site permissions for window.chord, kept in extension storage.
 *
 * A lasting decision ('always' or 'deny') is stored per origin in storage.local and
 * listed and revoked from the options page. "Allow once" lasts while the tab that
 * asked stays open (storage.session, keyed by tab and origin): it survives a
 * service-worker restart but not a browser restart.
 *
 * Extension pages (the options page) use listGrants / revokeGrant / onGrantsChanged.
 */
import { browser } from 'wxt/browser';

export type GrantDecision = 'always' | 'deny';

export interface SiteGrant {
  origin: string;
  decision: GrantDecision;
  /** ms since epoch of the decision */
  at: number;
}

const GRANTS_KEY = 'chord.grants';
const ONCE_KEY = 'chord.onceGrants';

type GrantTable = Record<string, SiteGrant>;

async function readGrants(): Promise<GrantTable> {
  const stored = await browser.storage.local.get(GRANTS_KEY);
  return (stored[GRANTS_KEY] as GrantTable | undefined) ?? {};
}

/** Every lasting grant and denial, newest first. */
export async function listGrants(): Promise<SiteGrant[]> {
  return Object.values(await readGrants()).sort((a, b) => b.at - a.at);
}

export async function getGrant(origin: string): Promise<SiteGrant | undefined> {
  return (await readGrants())[origin];
}

export async function setGrant(origin: string, decision: GrantDecision): Promise<void> {
  const grants = await readGrants();
  grants[origin] = { origin, decision, at: Date.now() };
  await browser.storage.local.set({ [GRANTS_KEY]: grants });
}

/** Forgets an origin's decision: its next call asks again. */
export async function revokeGrant(origin: string): Promise<void> {
  const grants = await readGrants();
  delete grants[origin];
  await browser.storage.local.set({ [GRANTS_KEY]: grants });
}

/** Calls `listener` with the new list whenever grants change; returns the unsubscribe function. */
export function onGrantsChanged(listener: (grants: SiteGrant[]) => void): () => void {
  const onChanged = (changes: Record<string, unknown>, area: string) => {
    if (area === 'local' && GRANTS_KEY in changes) void listGrants().then(listener);
  };
  browser.storage.onChanged.addListener(onChanged);
  return () => browser.storage.onChanged.removeListener(onChanged);
}

const onceKey = (tabId: number, origin: string) => `${tabId} ${origin}`;

async function readOnce(): Promise<Record<string, number>> {
  const stored = await browser.storage.session.get(ONCE_KEY);
  return (stored[ONCE_KEY] as Record<string, number> | undefined) ?? {};
}

export async function grantOnce(tabId: number, origin: string): Promise<void> {
  const once = await readOnce();
  once[onceKey(tabId, origin)] = Date.now();
  await browser.storage.session.set({ [ONCE_KEY]: once });
}

export async function hasOnceGrant(tabId: number, origin: string): Promise<boolean> {
  return onceKey(tabId, origin) in (await readOnce());
}

/** A closed tab takes its "allow once" grants with it. */
export async function forgetTab(tabId: number): Promise<void> {
  const once = await readOnce();
  const prefix = `${tabId} `;
  const kept = Object.fromEntries(Object.entries(once).filter(([k]) => !k.startsWith(prefix)));
  if (Object.keys(kept).length !== Object.keys(once).length) await browser.storage.session.set({ [ONCE_KEY]: kept });
}

export type PermissionState = 'granted' | 'denied' | 'prompt';

/** What an origin may do right now from a tab, without asking. */
export async function permissionState(origin: string, tabId: number | undefined): Promise<PermissionState> {
  const grant = await getGrant(origin);
  if (grant?.decision === 'deny') return 'denied';
  if (grant?.decision === 'always') return 'granted';
  if (tabId !== undefined && (await hasOnceGrant(tabId, origin))) return 'granted';
  return 'prompt';
}
