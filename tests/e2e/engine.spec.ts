import { readGgufFileInfo } from 'node-llama-cpp';
import { fixture } from '../helpers/fixtures.ts';
import { bundleForBrowser } from './bundle.ts';
import { expect, test } from './fixtures.ts';
import { serveFile } from './serve.ts';

// The engine is platform-neutral: the same modules that the Node tests cover must run
// inside the extension. Here the GGUF reader reads a model over HTTP Range requests in
// the extension's service worker, and its answer is checked against node-llama-cpp's
// own, independent GGUF parser.

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
