import { build } from 'esbuild';
import { repoRoot } from '../helpers/fixtures.ts';

/**
 * Bundles engine modules for a browser context as one classic script that sets
 * `globalThis[globalName]` to the module's exports, for `serviceWorker.evaluate`.
 * platform 'browser' makes any Node-only import (node:fs, ...) a build error: the
 * bundle doubles as a check that the engine stays platform-neutral.
 */
export async function bundleForBrowser(source: string, globalName: string): Promise<string> {
  const result = await build({
    stdin: { contents: source, resolveDir: repoRoot, loader: 'ts', sourcefile: `${globalName}.ts` },
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    globalName,
    target: 'chrome120',
    logLevel: 'silent',
  });
  return `${result.outputFiles[0].text}\nglobalThis.${globalName} = ${globalName};`;
}
