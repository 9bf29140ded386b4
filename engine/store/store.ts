/**
 * The model store: models kept in IndexedDB as chunk rows (db.ts), installed
 * from a URL (resumable, chunk-writer.ts + http.ts) or a local file, verified
 * (sha256 of the stored bytes, then the GGUF header read back from the chunks)
 * before they are `ready`, and read lazily by the engine (chunk-source.ts).
 *
 * What a failure leaves behind:
 * - a network failure, a cancel or a full disk: the model stays, in `error`
 *   (or `downloading` if the page died), with its stored bytes; installing the
 *   same URL again, or resume(id), continues with an HTTP Range request;
 * - a checksum mismatch or a file that is not a valid GGUF: the bytes are
 *   deleted and the row stays in `error` with the reason;
 * - other models are never touched, except by the optional size limit, which
 *   evicts least-recently-used ready models only after a new one is ready.
 */
import { ChordError, type ErrorCode, throwIfAborted, toChordError } from '../../shared/errors.ts';
import { optString } from '../gguf/metadata.ts';
import { readGGUF } from '../gguf/reader.ts';
import type { GGUFFile } from '../gguf/types.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { GGMLType } from '../quant/types.ts';
import { chunkSource } from './chunk-source.ts';
import { ChunkWriter } from './chunk-writer.ts';
import { chunkRange, type DBOptions, type ModelDB, type ModelRow, openModelDB } from './db.ts';
import { requestFrom } from './http.ts';
import { fileModelId, fileNameOf, urlModelId } from './ids.ts';
import { interruptedRows } from './interrupted.ts';
import { etaSeconds, SpeedMeter } from './meter.ts';
import type { InstallOptions, InstallProgress, ModelState, ModelStore, StoredModel } from './types.ts';

/** The parts of navigator.storage the store uses. */
export interface StorageManagerLike {
  estimate?(): Promise<{ usage?: number; quota?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

export interface ModelStoreOptions extends DBOptions {
  /** IndexedDB database name (default 'chord-models'). */
  dbName?: string;
  /** Bytes per chunk row (default 32 MiB). */
  chunkSize?: number;
  /** Optional limit on the bytes all models may take; least-recently-used ready models are evicted past it. */
  maxBytes?: number | (() => number | undefined | Promise<number | undefined>);
  fetch?: typeof fetch;
  /** Default: navigator.storage where it exists; null to skip quota and persistence. */
  storage?: StorageManagerLike | null;
  /** Automatic retries (with HTTP Range) of a failed transfer that made no progress (default 4). */
  retries?: number;
  /** First retry delay, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
  /** Least time between two progress reports (default 100 ms). */
  progressIntervalMs?: number;
  /**
   * Longest time received bytes wait in memory before they are stored as a partial
   * chunk (default 2000 ms): a crash loses at most that much, and other readers of
   * the database (the options page) see the download advance.
   */
  checkpointMs?: number;
  now?: () => number;
}

export const DEFAULT_CHUNK_SIZE = 32 << 20;

/** Codes after which the stored bytes are still good and the download can continue. */
const RESUMABLE: ReadonlySet<ErrorCode> = new Set(['DOWNLOAD_FAILED', 'HTTP_ERROR', 'ABORTED', 'QUOTA_EXCEEDED']);

type Emit = (p: InstallProgress) => void;

interface ActiveInstall {
  promise: Promise<StoredModel>;
  listeners: Set<Emit>;
  controller: AbortController;
}

function publicModel(row: ModelRow): StoredModel {
  const { chunkSize: _c, etag: _e, expectedSha256: _x, ...model } = row;
  return model;
}

function mib(n: number): string {
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** DOMException QuotaExceededError (IndexedDB out of space) becomes QUOTA_EXCEEDED. */
function asChordError(e: unknown): ChordError {
  const name = (e as { name?: string } | null)?.name;
  const inner = (e as { inner?: { name?: string } } | null)?.inner?.name;
  if (name === 'QuotaExceededError' || inner === 'QuotaExceededError') {
    return new ChordError('QUOTA_EXCEEDED', 'the browser ran out of storage space for models');
  }
  return toChordError(e);
}

/** The quant type holding most of the weight bytes (what a model is called by: Q4_0, Q8_0 ...). */
export function dominantQuantType(file: GGUFFile): string | undefined {
  const bytes = new Map<GGMLType, number>();
  for (const t of file.tensors) bytes.set(t.type, (bytes.get(t.type) ?? 0) + t.byteSize);
  let best: GGMLType | undefined;
  for (const [type, n] of bytes) if (best === undefined || n > bytes.get(best)!) best = type;
  return best === undefined ? undefined : (GGMLType[best] ?? `type ${best}`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ChordError('ABORTED', 'the download was cancelled'));
    const timer = setTimeout(done, ms);
    function done() {
      signal.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(new ChordError('ABORTED', 'the download was cancelled'));
    }
    signal.addEventListener('abort', abort, { once: true });
  });
}

/** Progress reports, at most one per interval except the first and the final one. */
class Reporter {
  private meter: SpeedMeter;
  private last = Number.NEGATIVE_INFINITY;
  size = 0;

  constructor(
    private readonly id: string,
    private readonly emit: Emit,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {
    this.meter = new SpeedMeter(now);
  }

  report(bytesDone: number, state: ModelState = 'downloading', force = false): void {
    const bytesPerSecond = this.meter.sample(bytesDone);
    const t = this.now();
    if (!force && state === 'downloading' && t - this.last < this.intervalMs) return;
    this.last = t;
    const size = this.size || bytesDone;
    this.emit({
      id: this.id,
      bytesDone,
      size,
      bytesPerSecond,
      etaSeconds: etaSeconds(bytesDone, size, bytesPerSecond),
      state,
    });
  }
}

export class DexieModelStore implements ModelStore {
  readonly db: ModelDB;
  private readonly chunkSize: number;
  private readonly doFetch: typeof fetch;
  private readonly storage: StorageManagerLike | undefined;
  private readonly now: () => number;
  private readonly active = new Map<string, ActiveInstall>();
  /** Open ByteSources per model: an open model is never evicted. */
  private readonly openCount = new Map<string, number>();
  private persistRequested = false;

  constructor(private readonly opts: ModelStoreOptions = {}) {
    this.db = openModelDB(opts.dbName ?? 'chord-models', opts);
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.doFetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const nav = (globalThis as { navigator?: { storage?: StorageManagerLike } }).navigator;
    this.storage = opts.storage === null ? undefined : (opts.storage ?? nav?.storage);
    this.now = opts.now ?? Date.now;
  }

  async list(): Promise<StoredModel[]> {
    const rows = await this.db.models.orderBy('id').toArray();
    return rows.sort((a, b) => a.createdAt - b.createdAt).map(publicModel);
  }

  async get(id: string): Promise<StoredModel | undefined> {
    const row = await this.db.models.get(id);
    return row && publicModel(row);
  }

  /** Whether an install of `id` is running in this store instance. */
  isInstalling(id: string): boolean {
    return this.active.has(id);
  }

  installFromUrl(url: string, opts: InstallOptions = {}): Promise<StoredModel> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return Promise.reject(new ChordError('INVALID_ARGUMENT', `not a URL: ${url}`));
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      return Promise.reject(new ChordError('INVALID_ARGUMENT', `only http(s) URLs can be installed: ${url}`));
    }
    const id = urlModelId(url);
    return this.run(id, opts, async (signal, emit) => {
      const now = this.now();
      const expected = opts.sha256?.toLowerCase();
      let row = await this.db.models.get(id);
      if (row?.state === 'ready') return publicModel(row);
      if (row === undefined) {
        row = {
          id,
          name: opts.name ?? fileNameOf(url),
          sourceUrl: url,
          size: 0,
          bytesDone: 0,
          state: 'downloading',
          lastUsed: now,
          createdAt: now,
          chunkSize: this.chunkSize,
          ...(expected ? { sha256: expected, expectedSha256: expected } : {}),
        };
        await this.db.models.add(row);
      } else {
        const changes: Partial<ModelRow> = { state: 'downloading', error: undefined };
        if (opts.name) changes.name = opts.name;
        if (expected) Object.assign(changes, { sha256: expected, expectedSha256: expected });
        await this.db.models.update(id, changes);
        row = { ...row, ...changes };
      }
      return this.download(row, signal, emit);
    });
  }

  async resume(id: string, opts: { signal?: AbortSignal; onProgress?: Emit } = {}): Promise<StoredModel> {
    const row = await this.db.models.get(id);
    if (!row) throw new ChordError('MODEL_NOT_FOUND', `no model '${id}'`, { id });
    if (row.state === 'ready') return publicModel(row);
    if (!row.sourceUrl) {
      throw new ChordError('INVALID_ARGUMENT', `model '${id}' came from a local file: pick the file again`, { id });
    }
    return this.installFromUrl(row.sourceUrl, opts);
  }

  /** URL downloads left `downloading` with none of this instance's installs running them (a browser restart). */
  async interruptedDownloads(): Promise<StoredModel[]> {
    return (await interruptedRows(this.db)).filter((row) => !this.active.has(row.id)).map(publicModel);
  }

  /**
   * Continues every interrupted URL download, one after another (they share one
   * link), each from its stored byte count. Resolves with what each became; a
   * failure is written to its row as for any install and does not stop the others.
   */
  async resumeInterrupted(opts: { signal?: AbortSignal } = {}): Promise<StoredModel[]> {
    const finished: StoredModel[] = [];
    for (const model of await this.interruptedDownloads()) {
      if (opts.signal?.aborted) break;
      const after = await this.resume(model.id, { signal: opts.signal }).catch(() => this.get(model.id));
      if (after) finished.push(after);
    }
    return finished;
  }

  installFromFile(file: Blob & { name?: string }, opts: InstallOptions = {}): Promise<StoredModel> {
    const name = opts.name ?? file.name ?? 'model.gguf';
    const id = fileModelId(name, file.size);
    return this.run(id, opts, async (signal, emit) => {
      const existing = await this.db.models.get(id);
      if (existing?.state === 'ready') return publicModel(existing);
      const now = this.now();
      const expected = opts.sha256?.toLowerCase();
      const row: ModelRow = {
        id,
        name,
        size: file.size,
        bytesDone: 0,
        state: 'downloading',
        lastUsed: now,
        createdAt: existing?.createdAt ?? now,
        chunkSize: this.chunkSize,
        ...(expected ? { sha256: expected, expectedSha256: expected } : {}),
      };
      await this.db.transaction('rw', this.db.models, this.db.chunks, async () => {
        await chunkRange(this.db, id).delete();
        await this.db.models.put(row);
      });
      return this.guard(row, signal, emit, async (reporter) => {
        reporter.size = file.size;
        await this.checkSpace(file.size, file.size);
        void this.requestPersistence();
        const writer = await ChunkWriter.resume(this.db, id, this.chunkSize, 0);
        for (let at = 0; at < file.size; at += this.chunkSize) {
          throwIfAborted(signal);
          let bytes: Uint8Array;
          try {
            bytes = new Uint8Array(await file.slice(at, Math.min(file.size, at + this.chunkSize)).arrayBuffer());
          } catch (e) {
            throw new ChordError('IO_ERROR', `${name}: cannot read the file: ${e instanceof Error ? e.message : e}`);
          }
          await writer.write(bytes);
          reporter.report(writer.received);
        }
        await writer.flush();
        return writer;
      });
    });
  }

  async delete(id: string): Promise<void> {
    const running = this.active.get(id);
    if (running) {
      running.controller.abort();
      await running.promise.catch(() => undefined);
    }
    await this.db.transaction('rw', this.db.models, this.db.chunks, async () => {
      await chunkRange(this.db, id).delete();
      await this.db.models.delete(id);
    });
  }

  async open(id: string): Promise<ByteSource> {
    const row = await this.db.models.get(id);
    if (!row) throw new ChordError('MODEL_NOT_FOUND', `no model '${id}'`, { id });
    if (row.state !== 'ready') {
      throw new ChordError('MODEL_NOT_READY', `model '${row.name}' is ${row.state}, not ready`, {
        id,
        state: row.state,
      });
    }
    await this.db.models.update(id, { lastUsed: this.now() });
    const source = chunkSource(this.db, id, row.size, row.chunkSize, row.name);
    this.openCount.set(id, (this.openCount.get(id) ?? 0) + 1);
    let closed = false;
    return {
      size: source.size,
      name: source.name,
      read: source.read,
      close: async () => {
        if (closed) return;
        closed = true;
        const n = (this.openCount.get(id) ?? 1) - 1;
        if (n > 0) this.openCount.set(id, n);
        else this.openCount.delete(id);
        await source.close?.();
      },
    };
  }

  async usage(): Promise<{ usedBytes: number; quotaBytes?: number; persisted?: boolean }> {
    let usedBytes = 0;
    await this.db.models.each((row) => {
      usedBytes += row.bytesDone;
    });
    const out: { usedBytes: number; quotaBytes?: number; persisted?: boolean } = { usedBytes };
    const estimate = await this.storage?.estimate?.().catch(() => undefined);
    if (estimate?.quota !== undefined) out.quotaBytes = estimate.quota;
    const persisted = await this.storage?.persisted?.().catch(() => undefined);
    if (persisted !== undefined) out.persisted = persisted;
    const limit = await this.sizeLimit();
    if (limit !== undefined) out.quotaBytes = Math.min(out.quotaBytes ?? Infinity, limit);
    return out;
  }

  close(): void {
    for (const a of this.active.values()) a.controller.abort();
    this.db.close();
  }

  // --- internals

  /** One install per model id at a time: a second call joins the running one (and may cancel it). */
  private run(
    id: string,
    opts: { signal?: AbortSignal; onProgress?: Emit },
    job: (signal: AbortSignal, emit: Emit) => Promise<StoredModel>,
  ): Promise<StoredModel> {
    const running = this.active.get(id);
    if (running) {
      if (opts.onProgress) running.listeners.add(opts.onProgress);
      // There is one download: whoever joined it may cancel it.
      if (opts.signal?.aborted) running.controller.abort();
      else opts.signal?.addEventListener('abort', () => running.controller.abort(), { once: true });
      return running.promise;
    }
    const controller = new AbortController();
    if (opts.signal) {
      if (opts.signal.aborted) controller.abort();
      else opts.signal.addEventListener('abort', () => controller.abort(), { once: true });
    }
    const listeners = new Set<Emit>(opts.onProgress ? [opts.onProgress] : []);
    const emit: Emit = (p) => {
      for (const l of listeners) {
        try {
          l(p);
        } catch {
          // A listener's bug must not break the install.
        }
      }
    };
    const promise = Promise.resolve()
      .then(() => job(controller.signal, emit))
      .finally(() => this.active.delete(id));
    this.active.set(id, { promise, listeners, controller });
    return promise;
  }

  /** Streams the URL into the row's chunks, retrying with Range after failures. */
  private download(row: ModelRow, signal: AbortSignal, emit: Emit): Promise<StoredModel> {
    const url = row.sourceUrl!;
    const retries = this.opts.retries ?? 4;
    const retryDelayMs = this.opts.retryDelayMs ?? 1000;
    return this.guard(row, signal, emit, async (reporter) => {
      void this.requestPersistence();
      let writer = await ChunkWriter.resume(this.db, row.id, row.chunkSize, row.bytesDone);
      reporter.size = row.size;
      let spaceChecked = false;
      let failures = 0;
      for (;;) {
        const before = writer.received;
        try {
          const res = await requestFrom(this.doFetch, url, before, signal);
          if (res === 'complete') break;
          const changed =
            before > 0 &&
            (res === 'changed' ||
              res.start === 0 ||
              (row.size > 0 && res.size !== undefined && res.size !== row.size) ||
              (row.etag !== undefined && res.etag !== undefined && res.etag !== row.etag));
          if (changed) {
            // The server ignored Range, or the file changed since we began: start over.
            await this.db.transaction('rw', this.db.models, this.db.chunks, async () => {
              await chunkRange(this.db, row.id).delete();
              await this.db.models.update(row.id, { bytesDone: 0 });
            });
            writer = await ChunkWriter.resume(this.db, row.id, row.chunkSize, 0);
            spaceChecked = false;
            if (res === 'changed' || res.start !== 0) {
              if (res !== 'changed') await res.body.cancel().catch(() => undefined);
              continue;
            }
          }
          if (res === 'changed') {
            // Cannot happen from byte 0; treat it as a failed request.
            throw new ChordError('DOWNLOAD_FAILED', `${url}: the server refused the range`);
          }
          if (!spaceChecked || changed) {
            if (res.size !== undefined) await this.checkSpace(res.size - writer.received, res.size);
            spaceChecked = true;
            row.size = res.size ?? 0;
            row.etag = res.etag;
            reporter.size = row.size;
            await this.db.models.update(row.id, { size: row.size, etag: res.etag });
          }
          await this.pump(res.body, writer, reporter);
          if (row.size > 0 && writer.received !== row.size) {
            throw new ChordError(
              'DOWNLOAD_FAILED',
              `${url}: the connection closed after ${writer.received} of ${row.size} bytes`,
              { retryable: true },
            );
          }
          break;
        } catch (e) {
          const err = asChordError(e);
          if (signal.aborted) {
            // Keep what arrived (unless the model was deleted): a later install continues from it.
            await writer.flush().catch(() => undefined);
            throw new ChordError('ABORTED', 'the download was cancelled');
          }
          const retryable = err.details?.retryable === true;
          if (writer.received > before) failures = 0;
          if (!retryable || ++failures > retries) {
            await writer.flush().catch(() => undefined);
            throw err;
          }
          // Keep what arrived, then ask for the rest.
          await writer.flush();
          await sleep(retryDelayMs * 2 ** (failures - 1), signal);
        }
      }
      await writer.flush();
      if (row.size === 0) row.size = writer.received;
      return writer;
    });
  }

  private async pump(body: ReadableStream<Uint8Array>, writer: ChunkWriter, reporter: Reporter): Promise<void> {
    const reader = body.getReader();
    const checkpointMs = this.opts.checkpointMs ?? 2000;
    let lastCheckpoint = this.now();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw new ChordError('DOWNLOAD_FAILED', `the download broke off: ${e instanceof Error ? e.message : e}`, {
            retryable: true,
          });
        }
        if (chunk.done) return;
        await writer.write(chunk.value);
        reporter.report(writer.received);
        if (this.now() - lastCheckpoint >= checkpointMs) {
          await writer.flush();
          lastCheckpoint = this.now();
        }
      }
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  /**
   * Runs a transfer, then verifies and validates what it stored. Any failure is
   * written to the row (and the bytes dropped unless the download can resume).
   */
  private async guard(
    row: ModelRow,
    signal: AbortSignal,
    emit: Emit,
    transfer: (reporter: Reporter) => Promise<ChunkWriter>,
  ): Promise<StoredModel> {
    const reporter = new Reporter(row.id, emit, this.opts.progressIntervalMs ?? 100, this.now);
    let stage = 'transfer';
    try {
      const writer = await transfer(reporter);
      stage = 'verify';
      const size = writer.received;
      const sha256 = writer.digest();
      if (row.expectedSha256 && sha256 !== row.expectedSha256) {
        throw new ChordError(
          'GGUF_CHECKSUM_MISMATCH',
          `${row.name}: sha256 ${sha256}, expected ${row.expectedSha256}`,
          {
            actual: sha256,
            expected: row.expectedSha256,
          },
        );
      }
      throwIfAborted(signal);
      const file = await readGGUF(chunkSource(this.db, row.id, size, row.chunkSize, row.name), { signal });
      const ready: Partial<ModelRow> = {
        state: 'ready',
        size,
        bytesDone: size,
        sha256,
        arch: optString(file, 'general.architecture'),
        quantType: dominantQuantType(file),
        error: undefined,
        lastUsed: this.now(),
      };
      const updated = await this.db.transaction('rw', this.db.models, async () => {
        if ((await this.db.models.get(row.id)) === undefined) {
          throw new ChordError('ABORTED', `model ${row.id} was deleted during its install`);
        }
        await this.db.models.update(row.id, ready);
        return (await this.db.models.get(row.id))!;
      });
      reporter.size = size;
      reporter.report(size, 'ready', true);
      await this.enforceLimit(row.id);
      return publicModel(updated);
    } catch (e) {
      let err = asChordError(e);
      if (signal.aborted) err = new ChordError('ABORTED', 'the install was cancelled');
      const keep = stage === 'transfer' && row.sourceUrl !== undefined && RESUMABLE.has(err.code);
      const failed: Partial<ModelRow> = { state: 'error', error: { code: err.code, message: err.message } };
      await this.db
        .transaction('rw', this.db.models, this.db.chunks, async () => {
          if (!keep) {
            await chunkRange(this.db, row.id).delete();
            failed.bytesDone = 0;
          }
          await this.db.models.update(row.id, failed);
        })
        .catch(() => undefined);
      const now = await this.db.models.get(row.id).catch(() => undefined);
      reporter.report(now?.bytesDone ?? 0, 'error', true);
      throw err;
    }
  }

  /** Throws QUOTA_EXCEEDED before a download when the space is not there. */
  private async checkSpace(needed: number, modelSize: number): Promise<void> {
    const limit = await this.sizeLimit();
    if (limit !== undefined && modelSize > limit) {
      throw new ChordError(
        'QUOTA_EXCEEDED',
        `the model needs ${mib(modelSize)}, more than the ${mib(limit)} limit set for models`,
        { needed: modelSize, limit },
      );
    }
    const estimate = await this.storage?.estimate?.().catch(() => undefined);
    if (estimate?.quota === undefined) return;
    const free = estimate.quota - (estimate.usage ?? 0);
    if (needed > free) {
      throw new ChordError(
        'QUOTA_EXCEEDED',
        `not enough storage: the model needs ${mib(needed)} more, the browser allows ${mib(Math.max(0, free))}`,
        { needed, free },
      );
    }
  }

  /** Past the size limit, deletes least-recently-used ready models (never `keep`, an open or installing one). */
  private async enforceLimit(keep: string): Promise<void> {
    const limit = await this.sizeLimit();
    if (limit === undefined) return;
    const rows = await this.db.models.toArray();
    let total = rows.reduce((a, r) => a + r.bytesDone, 0);
    const victims = rows
      .filter((r) => r.id !== keep && r.state === 'ready' && !this.active.has(r.id) && !this.openCount.has(r.id))
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const victim of victims) {
      if (total <= limit) break;
      await this.delete(victim.id);
      total -= victim.bytesDone;
    }
  }

  /** The size limit now (a setting the user may change between installs). */
  private async sizeLimit(): Promise<number | undefined> {
    const { maxBytes } = this.opts;
    const limit = typeof maxBytes === 'function' ? await maxBytes() : maxBytes;
    return limit !== undefined && Number.isFinite(limit) && limit > 0 ? limit : undefined;
  }

  private async requestPersistence(): Promise<void> {
    if (this.persistRequested || !this.storage?.persist) return;
    this.persistRequested = true;
    try {
      if (!(await this.storage.persisted?.())) await this.storage.persist();
    } catch {
      // Persistence is a request; the browser may say no.
    }
  }
}
