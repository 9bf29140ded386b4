// Bundles the Node CLI (engine/node/cli.ts and everything it imports) into dist/cli.mjs,
// which bin/chord.mjs loads. Node 20 cannot run our .ts sources directly, hence a bundle.
import { build } from 'esbuild';

await build({
  entryPoints: ['engine/node/cli.ts'],
  outfile: 'dist/cli.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  // npm packages stay imports, resolved from node_modules at run time: node-llama-cpp
  // (the llama.cpp oracle) ships native binaries that cannot be bundled.
  packages: 'external',
  logLevel: 'warning',
});
