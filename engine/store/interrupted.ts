import { type DBOptions, type ModelDB, type ModelRow, openModelDB } from './db.ts';

/**
 * URL downloads that nothing is running any more: rows still `downloading` after the
 * browser (or the page that ran them) stopped mid-way. Their stored bytes are intact
 * up to `bytesDone`, so they continue with an HTTP Range request from there. A local
 * file's install cannot continue without the user picking the file again.
 */
export function interruptedRows(db: ModelDB): Promise<ModelRow[]> {
  return db.models
    .where('state')
    .equals('downloading')
    .filter((row) => row.sourceUrl !== undefined)
    .toArray();
}

/**
 * Whether the database holds an interrupted URL download: a cheap check for a
 * context that does not host the store (the extension's background, at startup).
 */
export async function hasInterruptedDownloads(opts: DBOptions & { dbName?: string } = {}): Promise<boolean> {
  const db = openModelDB(opts.dbName ?? 'chord-models', opts);
  try {
    return (await interruptedRows(db)).length > 0;
  } finally {
    db.close();
  }
}
