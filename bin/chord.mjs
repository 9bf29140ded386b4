#!/usr/bin/env node
// The `chord` command: a thin launcher for the bundled CLI (dist/cli.mjs, made by `npm run build`).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli.mjs', import.meta.url);
if (!existsSync(bundle)) {
  console.error('chord: the CLI is not built yet (dist/cli.mjs is missing). Run `npm run build` first.');
  process.exit(1);
}
process.setSourceMapsEnabled(true);
const { main } = await import(bundle.href);
process.exitCode = await main(process.argv.slice(2));
