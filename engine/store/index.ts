/**
 * The model store: GGUF models kept in IndexedDB (Dexie) in chunks, installed
 * from URLs (resumable) or local files, verified before use, read lazily.
 * Platform-neutral: no extension APIs; Node tests run it over fake-indexeddb.
 */
import { DexieModelStore, type ModelStoreOptions } from './store.ts';
import type { ModelStore } from './types.ts';

export { CATALOG, type CatalogEntry, catalogEntry } from './catalog.ts';
export { fileModelId, urlModelId } from './ids.ts';
export { hasInterruptedDownloads } from './interrupted.ts';
export { DEFAULT_CHUNK_SIZE, DexieModelStore, type ModelStoreOptions, type StorageManagerLike } from './store.ts';
export type { InstallOptions, InstallProgress, ModelState, ModelStore, StoredModel } from './types.ts';

export function createModelStore(opts: ModelStoreOptions = {}): ModelStore & DexieModelStore {
  return new DexieModelStore(opts);
}
