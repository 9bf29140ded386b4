/**
 * The seam between the model store and the extension that uses it. The
 * offscreen document owns one ModelStore (createModelStore() in index.ts) and
 * serves model-management messages by calling it.
 */
import type { ByteSource } from '../io/byte-source.ts';

export type ModelState = 'downloading' | 'ready' | 'error';

export interface StoredModel {
  /** Stable id (a slug of the name + a short hash of the source). */
  id: string;
  name: string;
  /** Absent for local files. */
  sourceUrl?: string;
  /** Total bytes expected. */
  size: number;
  bytesDone: number;
  /** Expected (catalog) or computed after download. */
  sha256?: string;
  /** From the GGUF header once validated. */
  arch?: string;
  quantType?: string;
  state: ModelState;
  error?: { code: string; message: string };
  /** ms since epoch */
  lastUsed: number;
  createdAt: number;
}

export interface InstallProgress {
  id: string;
  bytesDone: number;
  size: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
  state: ModelState;
}

export interface InstallOptions {
  name?: string;
  sha256?: string;
  signal?: AbortSignal;
  onProgress?: (p: InstallProgress) => void;
}

export interface ModelStore {
  list(): Promise<StoredModel[]>;
  get(id: string): Promise<StoredModel | undefined>;
  /** Streams a URL into chunks (HTTP Range to resume), verifies sha256 when known, validates the GGUF, then marks ready. */
  installFromUrl(url: string, opts?: InstallOptions): Promise<StoredModel>;
  installFromFile(file: Blob & { name?: string }, opts?: InstallOptions): Promise<StoredModel>;
  /** Resumes a 'downloading' model whose transfer was interrupted (browser restart, network). */
  resume(id: string, opts?: { signal?: AbortSignal; onProgress?: (p: InstallProgress) => void }): Promise<StoredModel>;
  /** URL downloads left `downloading` by a browser or page that stopped mid-way (none running here). */
  interruptedDownloads(): Promise<StoredModel[]>;
  /** Continues those downloads with HTTP Range, one after another; resolves with what each became. */
  resumeInterrupted(opts?: { signal?: AbortSignal }): Promise<StoredModel[]>;
  delete(id: string): Promise<void>;
  /** Lazily reads a ready model's bytes from its chunks; touches lastUsed. */
  open(id: string): Promise<ByteSource>;
  usage(): Promise<{ usedBytes: number; quotaBytes?: number; persisted?: boolean }>;
}
