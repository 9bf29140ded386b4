import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared fixtures folder: $CHORD_FIXTURES, else ../shared/fixtures beside the repository. */
export const fixturesDir = process.env.CHORD_FIXTURES ?? resolve(repoRoot, '..', 'shared', 'fixtures');

/**
 * Absolute path of a fixture, or undefined when it is absent. Under CI a missing
 * fixture is an error, never a silent skip.
 */
export function fixture(relativePath: string): string | undefined {
  const p = join(fixturesDir, relativePath);
  if (existsSync(p)) return p;
  if (process.env.CI) throw new Error(`fixture missing under CI: ${p}`);
  console.warn(`[skip] fixture not found: ${p}`);
  return undefined;
}

export { repoRoot };
