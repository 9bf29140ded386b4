/** Node entry: the engine's API plus file paths as model sources. */
import type { ModelInput } from '../index.ts';
import { type LoadOptions, loadModelFromSource } from '../model/load.ts';
import type { Model } from '../model/model.ts';
import { openNodeSource } from './file-source.ts';

export * from '../index.ts';

/** Loads a model from a file path, an http(s) URL, a Blob, a buffer or a ByteSource. */
export async function loadModel(input: ModelInput, opts: LoadOptions = {}): Promise<Model> {
  return loadModelFromSource(await openNodeSource(input), opts);
}
