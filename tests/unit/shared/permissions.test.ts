import { beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeBrowser } from 'wxt/testing/fake-browser';

// The extension's storage areas, in memory (WXT's fake browser).
vi.mock('wxt/browser', () => ({ browser: fakeBrowser }));
const permissions = await import('../../../shared/permissions.ts');

const SITE = 'https://example.org';
const OTHER = 'https://other.example';

describe('site permissions', () => {
  beforeEach(() => fakeBrowser.reset());

  it('asks by default, then remembers always and deny per origin', async () => {
    expect(await permissions.permissionState(SITE, 1)).toBe('prompt');
    await permissions.setGrant(SITE, 'always');
    await permissions.setGrant(OTHER, 'deny');
    expect(await permissions.permissionState(SITE, 1)).toBe('granted');
    expect(await permissions.permissionState(SITE, 2)).toBe('granted'); // any tab
    expect(await permissions.permissionState(OTHER, 1)).toBe('denied');
    expect((await permissions.listGrants()).map((g) => [g.origin, g.decision]).sort()).toEqual([
      [SITE, 'always'],
      [OTHER, 'deny'],
    ]);
  });

  it('revoking makes the origin ask again', async () => {
    await permissions.setGrant(SITE, 'deny');
    await permissions.revokeGrant(SITE);
    expect(await permissions.permissionState(SITE, 1)).toBe('prompt');
    expect(await permissions.listGrants()).toEqual([]);
  });

  it('"allow once" holds for that tab and origin only, until the tab closes', async () => {
    await permissions.grantOnce(7, SITE);
    expect(await permissions.permissionState(SITE, 7)).toBe('granted');
    expect(await permissions.permissionState(SITE, 8)).toBe('prompt');
    expect(await permissions.permissionState(OTHER, 7)).toBe('prompt');
    expect(await permissions.listGrants()).toEqual([]); // not a lasting grant
    await permissions.forgetTab(7);
    expect(await permissions.permissionState(SITE, 7)).toBe('prompt');
  });

  it('a stored denial wins over an "allow once"', async () => {
    await permissions.grantOnce(7, SITE);
    await permissions.setGrant(SITE, 'deny');
    expect(await permissions.permissionState(SITE, 7)).toBe('denied');
  });

  it('tells the options page when grants change', async () => {
    const seen: string[][] = [];
    const stop = permissions.onGrantsChanged((grants) => seen.push(grants.map((g) => g.origin)));
    await permissions.setGrant(SITE, 'always');
    await vi.waitFor(() => expect(seen).toEqual([[SITE]]));
    stop();
    await permissions.revokeGrant(SITE);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([[SITE]]);
  });
});
