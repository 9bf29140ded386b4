/**
 * The engine's public API, the same in browsers and Node:
 *   const model = await loadModel(source, { backend: 'auto' });
 *   const seq = model.createSequence({ contextSize: 2048 });
 *   for await (const c of seq.generate('Once upon a time', { maxTokens: 30, temperature: 0 })) print(c.text);
 * Node adds file paths in engine/node/.
 */

import type { ByteSource } from './io/byte-source.ts';
import { isByteSource, openSource } from './io/open.ts';
import { type LoadOptions, loadModelFromOwnedSource, loadModelFromSource } from './model/load.ts';
import type { Model } from './model/model.ts';

export type ModelInput = ByteSource | Blob | URL | string | ArrayBuffer | Uint8Array;

export async function loadModel(input: ModelInput, opts: LoadOptions = {}): Promise<Model> {
  if (isByteSource(input)) return loadModelFromSource(input, opts);
  return loadModelFromOwnedSource(() => openSource(input), opts);
}

export type { Backend, BackendName } from './backend/backend.ts';
export type { ChatMessage } from './chat/template.ts';
export type { ByteSource } from './io/byte-source.ts';
export type { FinishReason, GenerateOptions, GenerationChunk, GenerationResult } from './model/generation.ts';
export type { HParams } from './model/hparams.ts';
export type { LoadOptions, LoadProgress } from './model/load.ts';
export type { Model, ModelInfo } from './model/model.ts';
export type { Generation, Sequence } from './model/sequence.ts';
