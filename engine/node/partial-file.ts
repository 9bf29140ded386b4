import { open, rename, rm } from 'node:fs/promises';

/**
 * Writes `outPath` through `OUT.partial` beside it, renamed only once `write`
 * has finished: an interrupted or failed write never leaves a file that looks
 * complete, and never replaces a good one.
 */
export async function writeThroughPartialFile<T>(
  outPath: string,
  write: (sink: (chunk: Uint8Array) => Promise<void>) => Promise<T>,
): Promise<T> {
  const partial = `${outPath}.partial`;
  try {
    const out = await open(partial, 'w');
    let result: T;
    try {
      result = await write(async (chunk) => {
        await out.write(chunk);
      });
    } finally {
      await out.close();
    }
    await rename(partial, outPath);
    return result;
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
}
