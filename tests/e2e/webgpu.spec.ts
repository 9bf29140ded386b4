import { readFileSync } from 'node:fs';
import { fixture } from '../helpers/fixtures.ts';
import { bundleForBrowser } from './bundle.ts';
import { expect, test } from './fixtures.ts';
import { serveFile } from './serve.ts';

// The whole model on the WebGPU backend inside the extension: the engine, bundled for
// the browser, runs in an extension page of the built extension, with Chromium's
// WebGPU turned on (`--enable-unsafe-webgpu`: headless, a SwiftShader adapter), and
// reads stories260K over HTTP from 127.0.0.1. The greedy tokens must be llama.cpp's
// (the oracle file), never an answer of our own engine.

test.use({ extraArgs: ['--enable-unsafe-webgpu'] });

interface Oracle {
  prompt: string;
  promptTokens: number[];
  greedyTokens: number[];
  steps: { top: { id: number; p: number }[] }[];
}
interface WebGPURun {
  backend: string;
  promptTokens: number[];
  tokens: number[];
  tops: { id: number; p: number }[][];
}
interface LoadedEngine {
  loadModel(
    url: string,
    opts: { backend: 'webgpu' },
  ): Promise<{
    info: { backend: string };
    createSequence(opts: { contextSize: number }): {
      generate(
        prompt: string,
        opts: { maxTokens: number; temperature: number; topLogprobs: number },
      ): AsyncIterable<{ top?: { id: number; p: number }[] }> & {
        done: Promise<{ promptTokens: number[]; tokens: number[] }>;
      };
    };
    dispose(): Promise<void>;
  }>;
}

test("stories260K on WebGPU (SwiftShader) in an extension page writes llama.cpp's greedy tokens", async ({
  context,
  extensionId,
}) => {
  test.setTimeout(60_000);
  const modelPath = fixture('models/stories260K.gguf');
  const oraclePath = fixture('models/stories260K.oracle.json');
  test.skip(modelPath === undefined || oraclePath === undefined, 'stories260K fixtures are absent');
  if (modelPath === undefined || oraclePath === undefined) return;
  const oracle = JSON.parse(readFileSync(oraclePath, 'utf8')) as Oracle;
  const maxTokens = oracle.greedyTokens.length;

  const served = await serveFile(modelPath);
  try {
    const page = await context.newPage();
    await page.goto(`chrome-extension://${extensionId}/permission.html`);
    await page.evaluate(await bundleForBrowser(`export { loadModel } from './engine/index.ts';`, 'chordGpuEngine'));
    const run = await page.evaluate(
      async ({ url, prompt, maxTokens }): Promise<WebGPURun> => {
        const engine = (globalThis as unknown as { chordGpuEngine: LoadedEngine }).chordGpuEngine;
        const model = await engine.loadModel(url, { backend: 'webgpu' });
        try {
          const generation = model
            .createSequence({ contextSize: 64 })
            .generate(prompt, { maxTokens, temperature: 0, topLogprobs: 5 });
          const tops: { id: number; p: number }[][] = [];
          for await (const chunk of generation) tops.push(chunk.top ?? []);
          const { promptTokens, tokens } = await generation.done;
          return { backend: model.info.backend, promptTokens, tokens, tops };
        } finally {
          await model.dispose();
        }
      },
      { url: served.url, prompt: oracle.prompt, maxTokens },
    );

    console.log(`backend: ${run.backend}`);
    expect(run.backend).toMatch(/^webgpu \(.*swiftshader/i);
    expect(run.promptTokens).toEqual(oracle.promptTokens);
    expect(run.tokens).toEqual(oracle.greedyTokens);
    // Top-5 as the Node oracle test holds the F32 model (F16 KV cache, GPU summation order).
    let worst = 0;
    run.tops.forEach((top, step) => {
      const want = oracle.steps[step].top;
      expect(top[0].id).toBe(want[0].id);
      for (const [i, t] of top.entries()) if (t.id === want[i].id) worst = Math.max(worst, Math.abs(t.p - want[i].p));
    });
    console.log(`largest top-5 probability difference from llama.cpp: ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(2e-3);
  } finally {
    await served.close();
  }
});
