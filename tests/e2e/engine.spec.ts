import { readFileSync } from 'node:fs';
import { readGgufFileInfo } from 'node-llama-cpp';
import { fixture } from '../helpers/fixtures.ts';
import { bundleForBrowser } from './bundle.ts';
import { expect, test } from './fixtures.ts';
import { serveFile } from './serve.ts';

// The engine is platform-neutral: the same modules that the Node tests cover must run
// inside the extension. Engine modules are bundled for the browser and evaluated in the
// extension's service worker, which reads the model over HTTP Range requests from a local
// server. Expected answers come from llama.cpp (node-llama-cpp's GGUF parser, and the
// oracle file of greedy tokens and probabilities), never from our own code.

interface TensorSummary {
  name: string;
  shape: number[];
  type: number;
  offset: number;
  fileOffset: number;
}
interface HeaderSummary {
  version: number;
  architecture: unknown;
  blockCount: unknown;
  tensors: TensorSummary[];
}
interface EngineGlobal {
  fromURL(url: string): Promise<unknown>;
  readGGUF(source: unknown): Promise<{
    version: number;
    metadata: ReadonlyMap<string, { value: unknown }>;
    tensors: readonly TensorSummary[];
  }>;
}

test('the GGUF reader parses stories260K over HTTP inside the service worker', async ({ serviceWorker }) => {
  const modelPath = fixture('models/stories260K.gguf');
  test.skip(modelPath === undefined, 'fixture models/stories260K.gguf is absent');
  if (modelPath === undefined) return;

  const expected = await readGgufFileInfo(modelPath, { readTensorInfo: true });
  const served = await serveFile(modelPath);
  try {
    const code = await bundleForBrowser(
      `export { fromURL } from './engine/io/url.ts';
       export { readGGUF } from './engine/gguf/reader.ts';`,
      'chordEngine',
    );
    await serviceWorker.evaluate(code);

    const header = await serviceWorker.evaluate(async (url): Promise<HeaderSummary> => {
      const engine = (globalThis as unknown as { chordEngine: EngineGlobal }).chordEngine;
      const file = await engine.readGGUF(await engine.fromURL(url));
      return {
        version: file.version,
        architecture: file.metadata.get('general.architecture')?.value,
        blockCount: file.metadata.get('llama.block_count')?.value,
        tensors: file.tensors.map(({ name, shape, type, offset, fileOffset }) => ({
          name,
          shape: [...shape],
          type,
          offset,
          fileOffset,
        })),
      };
    }, served.url);

    expect(header.version).toBe(expected.version);
    expect(header.architecture).toBe(expected.metadata.general.architecture);
    expect(header.blockCount).toBe(expected.metadata.llama?.block_count);
    expect(header.tensors).toEqual(
      (expected.tensorInfo ?? []).map((t) => ({
        name: t.name,
        shape: t.dimensions.map(Number),
        type: t.ggmlType,
        offset: t.offset,
        fileOffset: t.fileOffset,
      })),
    );
    expect(header.tensors.length).toBe(48);
    // It read through Range requests, not by downloading the file whole.
    expect(served.statuses[206]).toBeGreaterThan(0);
    expect(served.statuses[200]).toBeUndefined();
  } finally {
    await served.close();
  }
});

interface Oracle {
  prompt: string;
  promptTokens: number[];
  greedyTokens: number[];
  greedyText: string;
  steps: { top: { id: number; p: number }[] }[];
}
interface GenerationSummary {
  promptTokens: number[];
  tokens: number[];
  text: string;
  tops: { id: number; p: number }[][];
}
interface LoadedEngine {
  loadModel(
    url: string,
    opts: { backend: 'js' },
  ): Promise<{
    createSequence(opts: { contextSize: number }): {
      generate(
        prompt: string,
        opts: { maxTokens: number; temperature: number; topLogprobs: number },
      ): AsyncIterable<{ tokenId: number; top?: { id: number; p: number }[] }> & {
        done: Promise<{ promptTokens: number[]; tokens: number[]; text: string }>;
      };
    };
    dispose(): Promise<void>;
  }>;
}

test("the engine writes llama.cpp's greedy story inside the service worker", async ({ serviceWorker }) => {
  const modelPath = fixture('models/stories260K.gguf');
  const oraclePath = fixture('models/stories260K.oracle.json');
  test.skip(modelPath === undefined || oraclePath === undefined, 'stories260K fixtures are absent');
  if (modelPath === undefined || oraclePath === undefined) return;
  const oracle = JSON.parse(readFileSync(oraclePath, 'utf8')) as Oracle;

  const served = await serveFile(modelPath);
  try {
    await serviceWorker.evaluate(
      await bundleForBrowser(`export { loadModel } from './engine/index.ts';`, 'chordModelEngine'),
    );
    const result = await serviceWorker.evaluate(
      async ({ url, prompt, maxTokens }): Promise<GenerationSummary> => {
        const engine = (globalThis as unknown as { chordModelEngine: LoadedEngine }).chordModelEngine;
        const model = await engine.loadModel(url, { backend: 'js' });
        try {
          const generation = model
            .createSequence({ contextSize: 64 })
            .generate(prompt, { maxTokens, temperature: 0, topLogprobs: 5 });
          const tops: { id: number; p: number }[][] = [];
          for await (const chunk of generation) tops.push(chunk.top ?? []);
          const { promptTokens, tokens, text } = await generation.done;
          return { promptTokens, tokens, text, tops };
        } finally {
          await model.dispose();
        }
      },
      { url: served.url, prompt: oracle.prompt, maxTokens: oracle.greedyTokens.length },
    );

    expect(result.promptTokens).toEqual(oracle.promptTokens);
    expect(result.tokens).toEqual(oracle.greedyTokens);
    expect(result.text).toBe(oracle.greedyText);
    // llama.cpp keeps its KV cache in F16 as we do by default; the rest is float rounding.
    expect(result.tops).toHaveLength(oracle.steps.length);
    let worst = 0;
    result.tops.forEach((top, step) => {
      const want = oracle.steps[step].top;
      expect(top.map((t) => t.id)).toEqual(want.map((t) => t.id));
      for (const [i, t] of top.entries()) worst = Math.max(worst, Math.abs(t.p - want[i].p));
    });
    console.log(`largest probability difference from llama.cpp: ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-3);
  } finally {
    await served.close();
  }
});
