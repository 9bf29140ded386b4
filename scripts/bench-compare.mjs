// `npm run bench:compare`: bundles the harness (tests/bench/compare.ts, TypeScript that
// Node 20 cannot run directly) with esbuild and runs it. The bundle lies two folders
// below the repository root, as its sources do, so that paths they derive from
// import.meta.url (tests/helpers/fixtures.ts's repoRoot) stay right.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, '.cache', 'bench', 'compare.mjs');
mkdirSync(dirname(outfile), { recursive: true });
await build({
  entryPoints: [join(root, 'tests', 'bench', 'compare.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  packages: 'external',
  logLevel: 'warning',
});
process.setSourceMapsEnabled(true);
const { main } = await import(pathToFileURL(outfile).href);
process.exitCode = await main(process.argv.slice(2));
