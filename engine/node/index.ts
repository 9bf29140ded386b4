/** Node entry: the engine's API plus file paths as model sources. */
import type { ModelInput } from '../index.ts';
import { isByteSource } from '../io/open.ts';
import { type LoadOptions, loadModelFromOwnedSource, loadModelFromSource } from '../model/load.ts';
import type { Model } from '../model/model.ts';
import { openNodeSource } from './file-source.ts';

export * from '../index.ts';

/** Loads a model from a file path, an http(s) URL, a Blob, a buffer or a ByteSource. */
export async function loadModel(input: ModelInput, opts: LoadOptions = {}): Promise<Model> {
  if (isByteSource(input)) return loadModelFromSource(input, opts);
  return loadModelFromOwnedSource(() => openNodeSource(input), opts);
}
