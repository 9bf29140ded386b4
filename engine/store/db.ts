/**
 * The IndexedDB layout (through Dexie). A model is one row in `models` and its
 * bytes are rows in `chunks`, each `chunkSize` bytes except the last, keyed by
 * [modelId, index]: no single huge ArrayBuffer, and a reader fetches only the
 * chunks a range touches.
 */
import { Dexie, type EntityTable, type Table } from 'dexie';
import type { StoredModel } from './types.ts';

/** A model's row: the public metadata plus what the store needs to resume. */
export interface ModelRow extends StoredModel {
  /** Bytes per chunk row, fixed when the install starts. */
  chunkSize: number;
  /** The source's validators, sent back on resume so a changed file restarts. */
  etag?: string;
  /** sha256 the caller expects (the catalog's), checked before `ready`. */
  expectedSha256?: string;
}

export interface ChunkRow {
  modelId: string;
  index: number;
  /** Exactly the chunk's bytes (its own buffer: a view would store its whole backing buffer). */
  data: Uint8Array;
}

export type ModelDB = Dexie & {
  models: EntityTable<ModelRow, 'id'>;
  chunks: Table<ChunkRow, [string, number]>;
};

export interface DBOptions {
  /** IndexedDB factory (default: the global one); tests pass fake-indexeddb's. */
  indexedDB?: IDBFactory;
  IDBKeyRange?: typeof IDBKeyRange;
}

export function openModelDB(name: string, opts: DBOptions = {}): ModelDB {
  const dexieOpts = opts.indexedDB ? { indexedDB: opts.indexedDB, IDBKeyRange: opts.IDBKeyRange } : undefined;
  const db = new Dexie(name, dexieOpts) as ModelDB;
  db.version(1).stores({
    models: 'id, lastUsed, state',
    chunks: '[modelId+index], modelId',
  });
  return db;
}

/** The chunks of a model from `fromIndex` on, in order. */
export function chunkRange(db: ModelDB, modelId: string, fromIndex = 0) {
  return db.chunks.where('[modelId+index]').between([modelId, fromIndex], [modelId, Dexie.maxKey], true, true);
}
