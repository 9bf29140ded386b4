import { EngineRequestSchema, parseMessage, type StreamEvent } from '../../shared/protocol.ts';
import type { EnginePort } from './engine-link.ts';

/**
 * Firefox has no offscreen documents, but its MV2 background is a page with a DOM,
 * IndexedDB and workers: the engine host runs right here. This gives it the same
 * Port-shaped seam the offscreen document uses; messages are structured-cloned and
 * parsed on each side as if they had crossed a process boundary.
 */
export async function createLocalEnginePort(): Promise<EnginePort> {
  const [{ EngineHost }, { createModelStore }, { getModelLimit }] = await Promise.all([
    import('../offscreen/engine-host.ts'),
    import('../../engine/store/index.ts'),
    import('../../shared/settings.ts'),
  ]);
  const messageListeners: ((message: unknown) => void)[] = [];
  const store = createModelStore({ maxBytes: getModelLimit });
  // As in the offscreen document: downloads a browser restart cut off continue.
  void store.resumeInterrupted();
  const host = new EngineHost(store, (event: StreamEvent) => {
    const copy = structuredClone(event);
    setTimeout(() => {
      for (const listener of messageListeners) listener(copy);
    });
  });
  return {
    postMessage(message: unknown) {
      const request = parseMessage(EngineRequestSchema, structuredClone(message), 'engine<-background');
      if (request) setTimeout(() => host.handle(request));
    },
    disconnect() {
      host.abortAll();
    },
    onMessage: { addListener: (listener: (message: unknown) => void) => messageListeners.push(listener) },
    // The host lives as long as the background page: it never disconnects by itself.
    onDisconnect: { addListener: () => {} },
  };
}
