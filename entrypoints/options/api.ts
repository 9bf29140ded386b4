/**
 * Everything the options page asks of the rest of the extension, in one place.
 *
 * - Downloads by URL and deletes go to the engine host in the offscreen document
 *   (over the side panel's Port to the background), so that the host that owns
 *   the loaded model unloads it first and a download keeps the engine's store.
 * - Listing, storage use and installs from a local file use the model store
 *   directly: the options page and the offscreen document share the extension's
 *   origin, so they share the IndexedDB database; a File cannot travel through
 *   extension messages.
 * - Site grants live in extension storage (shared/permissions.ts).
 */
import { browser } from 'wxt/browser';
import { urlModelId } from '../../engine/store/ids.ts';
import { createModelStore, type InstallProgress, type StoredModel } from '../../engine/store/index.ts';
import { ChordError, type ErrorPayload } from '../../shared/errors.ts';
import { listGrants, onGrantsChanged, revokeGrant, type SiteGrant } from '../../shared/permissions.ts';
import {
  isTerminal,
  type PanelRequest,
  PORT,
  parseMessage,
  type StreamEvent,
  StreamEventSchema,
} from '../../shared/protocol.ts';
import { getModelLimit, setModelLimit } from '../../shared/settings.ts';

export type { InstallProgress, SiteGrant, StoredModel };

export { getModelLimit, setModelLimit };

const store = createModelStore({ maxBytes: getModelLimit });

type Port = ReturnType<typeof browser.runtime.connect>;
type Listener = (event: StreamEvent) => void;

/** The Port to the background, opened on first use and again after it drops (a service-worker restart). */
let port: Port | undefined;
const listeners = new Map<string, Listener>();
let nextId = 0;

function connection(): Port {
  if (port) return port;
  const p = browser.runtime.connect({ name: PORT.panel });
  p.onMessage.addListener((raw: unknown) => {
    const event = parseMessage(StreamEventSchema, raw, 'options<-background');
    if (!event) return;
    listeners.get(event.id)?.(event);
    if (isTerminal(event)) listeners.delete(event.id);
  });
  p.onDisconnect.addListener(() => {
    if (port === p) port = undefined;
    const lost: ErrorPayload = { code: 'INTERNAL', message: 'the connection to the extension was lost' };
    for (const [id, listener] of listeners) listener({ type: 'error', id, error: lost });
    listeners.clear();
  });
  port = p;
  return p;
}

type PanelCall = PanelRequest extends infer R ? (R extends { id: string } ? Omit<R, 'id'> : never) : never;

/** Sends one request; events go to `onEvent`; resolves with the result value, rejects with its error. */
function request<T>(call: PanelCall, onEvent?: Listener, id = newRequestId()): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    listeners.set(id, (event) => {
      onEvent?.(event);
      if (event.type === 'result') resolve(event.value as T);
      else if (event.type === 'error') reject(ChordError.fromPayload(event.error));
      else if (event.type === 'done') resolve(event.result as T);
    });
    try {
      connection().postMessage({ ...call, id });
    } catch (e) {
      listeners.delete(id);
      port = undefined;
      reject(e);
    }
  });
}

function newRequestId(): string {
  return `options-${Date.now().toString(36)}-${nextId++}`;
}

export function listModels(): Promise<StoredModel[]> {
  return store.list();
}

export function storageUsage(): Promise<{ usedBytes: number; quotaBytes?: number; persisted?: boolean }> {
  return store.usage();
}

/** The id a URL's model gets (the same the engine host's store gives it). */
export function modelIdForUrl(url: string): string {
  return urlModelId(url);
}

/**
 * Downloads a model in the engine host, or follows the download of that URL already
 * running there; progress until it is ready or fails. The download does not depend
 * on this page: closing it leaves the download running. `cancel` stops it (the
 * stored bytes are kept for a later resume).
 */
export function installFromUrl(
  url: string,
  onProgress: (p: InstallProgress) => void,
  name?: string,
): { done: Promise<void>; cancel(): void } {
  const model = urlModelId(url);
  const id = newRequestId();
  const done = request<unknown>(
    { type: 'install', url, ...(name ? { name } : {}) },
    (event) => {
      if (event.type === 'progress' && event.progress.phase === 'download') {
        const { bytesDone, size, bytesPerSecond = 0, etaSeconds = null } = event.progress;
        onProgress({ id: model, bytesDone, size, bytesPerSecond, etaSeconds, state: 'downloading' });
      }
    },
    id,
  ).then(() => undefined);
  const cancel = () => {
    try {
      connection().postMessage({ type: 'abort', id });
    } catch {
      // The connection is gone: nothing to cancel through it.
    }
  };
  return { done, cancel };
}

/** Copies a local file into the store (here: a File cannot be sent to the offscreen document). */
export async function installFromFile(file: File, onProgress: (p: InstallProgress) => void): Promise<void> {
  await store.installFromFile(file, { onProgress });
}

export async function deleteModel(id: string): Promise<void> {
  if (store.isInstalling(id)) {
    // A file install runs here, not in the engine host.
    await store.delete(id);
    return;
  }
  await request<null>({ type: 'delete', model: id });
}

export { listGrants, onGrantsChanged, revokeGrant };
