/** Test helper: a vocab GGUF's metadata, read with the engine's GGUF reader once per test process. */
import { readGGUF } from '../../../../engine/gguf/reader.ts';
import type { GGUFMetadataEntry } from '../../../../engine/gguf/types.ts';
import { fromFile } from '../../../../engine/node/file-source.ts';

const cache = new Map<string, Promise<ReadonlyMap<string, GGUFMetadataEntry>>>();

export function readVocabMetadata(path: string): Promise<ReadonlyMap<string, GGUFMetadataEntry>> {
  let m = cache.get(path);
  if (!m) {
    m = (async () => {
      const source = await fromFile(path);
      try {
        return (await readGGUF(source)).metadata;
      } finally {
        await source.close?.();
      }
    })();
    cache.set(path, m);
  }
  return m;
}
