/**
 * Turns a stream of bytes into chunk rows. Bytes collect in a chunk-sized
 * buffer; a full buffer is written as one row together with the model's
 * `bytesDone`, in one transaction, so the stored count never runs ahead of the
 * stored bytes. `flush()` writes a partial last chunk (before a retry, on
 * failure), which a resumed writer reads back and keeps filling.
 *
 * The sha256 is updated with exactly the bytes that reached the database, so
 * after a resume it can be rebuilt from the stored chunks alone.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { ChordError } from '../../shared/errors.ts';
import { chunkRange, type ModelDB } from './db.ts';

type Hash = ReturnType<typeof sha256.create>;

export class ChunkWriter {
  private buffer: Uint8Array;
  /** Bytes in `buffer`. */
  private fill = 0;
  /** Bytes of `buffer` already in the database (a partial chunk flushed before). */
  private stored = 0;

  private constructor(
    private readonly db: ModelDB,
    private readonly modelId: string,
    private readonly chunkSize: number,
    private index: number,
    private readonly hash: Hash,
  ) {
    this.buffer = new Uint8Array(chunkSize);
  }

  /** A writer that continues after the `bytesDone` bytes already stored (0: a fresh start). */
  static async resume(db: ModelDB, modelId: string, chunkSize: number, bytesDone: number): Promise<ChunkWriter> {
    const hash = sha256.create();
    const full = Math.floor(bytesDone / chunkSize);
    const partial = bytesDone - full * chunkSize;
    const writer = new ChunkWriter(db, modelId, chunkSize, full, hash);
    let seen = 0;
    await chunkRange(db, modelId).each((row) => {
      if (row.index < full) {
        hash.update(row.data.subarray(0, chunkSize));
        seen++;
      } else if (row.index === full && partial > 0) {
        writer.buffer.set(row.data.subarray(0, partial));
        hash.update(row.data.subarray(0, partial));
        writer.fill = writer.stored = partial;
        seen++;
      }
    });
    if (seen !== full + (partial > 0 ? 1 : 0)) {
      throw new ChordError('IO_ERROR', `stored chunks of ${modelId} are incomplete`, { modelId, bytesDone });
    }
    // Rows past what bytesDone counts (a write that lost its race with a failure) are dropped.
    await chunkRange(db, modelId, full + (partial > 0 ? 1 : 0)).delete();
    return writer;
  }

  /** Bytes received: stored plus buffered. */
  get received(): number {
    return this.index * this.chunkSize + this.fill;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.chunkSize - this.fill);
      this.buffer.set(bytes.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === this.chunkSize) await this.flush();
    }
  }

  /** Stores the buffered bytes (a full chunk, or a partial last one). */
  async flush(): Promise<void> {
    if (this.fill === this.stored) return;
    const data = this.buffer.slice(0, this.fill);
    const bytesDone = this.index * this.chunkSize + this.fill;
    const { db, modelId, index } = this;
    await db.transaction('rw', db.models, db.chunks, async () => {
      // A model deleted mid-install must not get its chunks back.
      if ((await db.models.get(modelId)) === undefined) {
        throw new ChordError('ABORTED', `model ${modelId} was deleted during its install`);
      }
      await db.chunks.put({ modelId, index, data });
      await db.models.update(modelId, { bytesDone });
    });
    this.hash.update(this.buffer.subarray(this.stored, this.fill));
    if (this.fill === this.chunkSize) {
      this.index++;
      this.fill = this.stored = 0;
    } else {
      this.stored = this.fill;
    }
  }

  /** Hex sha256 of everything stored; call after the last flush. */
  digest(): string {
    return bytesToHex(this.hash.digest());
  }
}
