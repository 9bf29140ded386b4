// `npm start`, after the build (scripts/start.sh): Chromium with the built extension,
// a demo web page that uses window.chord, and a model installed in the extension.
//
//   CHORD_MODEL=path/to/model.gguf   served from 127.0.0.1 (with HTTP Range) and installed
//   CHORD_MODEL=https://.../x.gguf   installed from that URL
//   (unset)                          the options page opens: pick a model from the catalog
//   CHORD_START_SMOKE=1              a scripted check: allow the permission prompt, click
//                                    Generate, print the text, screenshot /tmp/demo.png, exit
//
// The browser stays open until you close it; then this exits 0.
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const extensionDir = join(repoRoot, '.output', 'chrome-mv3');
const chromiumPath = process.env.CHORD_CHROMIUM ?? '/usr/bin/chromium';
const demoHtml = readFileSync(join(repoRoot, 'scripts', 'demo', 'index.html'));
const smoke = process.env.CHORD_START_SMOKE === '1';

// The same flags as the end-to-end tests (tests/e2e/fixtures.ts): only our extension,
// no sandbox (containers run as root), no background network, updates, sync or QUIC.
const chromiumArgs = [
  `--load-extension=${extensionDir}`,
  `--disable-extensions-except=${extensionDir}`,
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Where the model comes from: a local file this script serves, a URL, or the catalog (undefined). */
function modelSource() {
  const given = process.env.CHORD_MODEL?.trim();
  if (!given) return undefined;
  if (/^https?:\/\//i.test(given)) return { url: given };
  const path = resolve(given);
  if (!existsSync(path) || !statSync(path).isFile()) fail(`CHORD_MODEL=${given}: no such file`);
  return { path };
}

function fail(message) {
  console.error(`npm start: ${message}`);
  process.exit(1);
}

/**
 * One small server on 127.0.0.1: the demo page at /, and the local model (if any) at
 * /models/<name> with single-range Range support and CORS, as a model host would answer.
 */
async function serve(modelPath) {
  const modelName = modelPath ? `/models/${encodeURIComponent(basename(modelPath))}` : undefined;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(demoHtml);
      return;
    }
    const cors = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': 'Range',
      'Access-Control-Expose-Headers': 'Content-Range, Content-Length, Accept-Ranges',
      'Cross-Origin-Resource-Policy': 'cross-origin',
      'Accept-Ranges': 'bytes',
    };
    if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
    if (url.pathname !== modelName || (req.method !== 'GET' && req.method !== 'HEAD')) {
      return res.writeHead(404, cors).end();
    }
    const size = statSync(modelPath).size;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (req.headers.range !== undefined && !range) return res.writeHead(416, cors).end();
    const start = range ? Number(range[1]) : 0;
    const end = range ? Math.min(range[2] ? Number(range[2]) : size - 1, size - 1) : size - 1;
    if (start >= size && size > 0) return res.writeHead(416, { ...cors, 'Content-Range': `bytes */${size}` }).end();
    const length = Math.max(0, end - start + 1);
    res.writeHead(range ? 206 : 200, {
      ...cors,
      'Content-Type': 'application/octet-stream',
      'Content-Length': length,
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) return res.end();
    createReadStream(modelPath, { start, end }).pipe(res);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    demoUrl: `${origin}/`,
    modelUrl: modelName ? `${origin}${modelName}` : undefined,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The smoke check: allow this site once, generate, print and screenshot the answer. */
async function smokeCheck(context, demo) {
  const prompt = context.waitForEvent('page', {
    predicate: (p) => p.url().includes('/permission.html'),
    timeout: 30_000,
  });
  await demo.getByRole('button', { name: 'Generate' }).click();
  const promptPage = await prompt;
  await promptPage
    .getByTestId('permission-allow-once')
    .click({ noWaitAfter: true })
    .catch((e) => {
      if (!promptPage.isClosed()) throw e;
    });
  await demo.waitForFunction(
    () => document.body.dataset.state === 'done' || document.body.dataset.state === 'error',
    null,
    {
      timeout: 120_000,
    },
  );
  const output = await demo.locator('#output').textContent();
  const status = await demo.locator('#status').textContent();
  await demo.screenshot({ path: '/tmp/demo.png', fullPage: true });
  console.log(`npm start (smoke): ${status}\n${output}\nscreenshot: /tmp/demo.png`);
  const ok = (await demo.evaluate(() => document.body.dataset.state)) === 'done' && (output ?? '').length > 0;
  return ok;
}

async function main() {
  if (!existsSync(join(extensionDir, 'manifest.json')))
    fail(`no built extension at ${extensionDir}: run \`npm run build\``);
  if (!existsSync(chromiumPath)) fail(`no Chromium at ${chromiumPath}: run \`bash scripts/ensure-system-packages.sh\``);
  const source = modelSource();
  if (smoke && !source) fail('CHORD_START_SMOKE=1 needs CHORD_MODEL');

  const server = await serve(source?.path);
  const profile = mkdtempSync(join(tmpdir(), 'chord-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: false,
    viewport: null,
    args: chromiumArgs,
    // Playwright adds --disable-extensions by default, which would hide ours.
    ignoreDefaultArgs: ['--disable-extensions'],
  });
  const closed = new Promise((done) => context.on('close', done));
  const cleanUp = () => {
    server.close();
    rmSync(profile, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void context.close());

  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  const extensionId = new URL(worker.url()).host;
  const firstTab = context.pages()[0] ?? (await context.newPage());

  let installed = false;
  if (source) {
    const url = source.url ?? server.modelUrl;
    console.log(`npm start: installing ${source.path ?? url} into the extension…`);
    try {
      const model = await worker.evaluate((u) => globalThis.chordBackground.install(u), url);
      console.log(`npm start: model ${model.name ?? model.id} is ${model.state}`);
      installed = model.state === 'ready';
    } catch (e) {
      console.error(`npm start: installing the model failed: ${e instanceof Error ? e.message : e}`);
    }
  }
  if (!installed) {
    const options = `chrome-extension://${extensionId}/options.html`;
    console.log(`npm start: pick a model in the options page (${options}), then use the demo tab`);
    await firstTab.goto(options);
  }
  const demo = installed ? firstTab : await context.newPage();
  await demo.goto(server.demoUrl);
  console.log(`npm start: demo page at ${server.demoUrl}; close the browser to finish`);

  if (smoke) {
    let ok = false;
    try {
      ok = installed && (await smokeCheck(context, demo));
    } finally {
      await context.close();
      cleanUp();
    }
    process.exit(ok ? 0 : 1);
  }
  await closed;
  cleanUp();
  process.exit(0);
}

main().catch((e) => fail(e instanceof Error ? (e.stack ?? e.message) : String(e)));
