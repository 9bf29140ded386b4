import { browser } from 'wxt/browser';
import { ChordError } from '../../shared/errors.ts';
import {
  type EngineRequest,
  isTerminal,
  parseMessage,
  type StreamEvent,
  StreamEventSchema,
} from '../../shared/protocol.ts';
import { ensureOffscreen } from './offscreen.ts';

/** What the link needs of a Port (the offscreen document's, or Firefox's in-page host). */
export interface EnginePort {
  postMessage(message: unknown): void;
  disconnect(): void;
  onMessage: { addListener(listener: (message: unknown) => void): void };
  onDisconnect: { addListener(listener: () => void): void };
}
type Port = EnginePort;
type Listener = (event: StreamEvent) => void;
/** An engine request as the router makes it: the link gives it its id. */
export type EngineCall = EngineRequest extends infer R ? (R extends { id: string } ? Omit<R, 'id'> : never) : never;

const CONNECT_TIMEOUT_MS = 20_000;

/**
 * The background's one Port to the engine host in the offscreen document. Every
 * request gets a fresh id; its events go to the listener given with it until the
 * terminal one. If the document dies (crash, closed, out of memory), the Port
 * disconnects and every open request ends with an error; the next request
 * creates a new document.
 */
export class EngineLink {
  private port: Port | undefined;
  private waiting: ((port: Port) => void)[] = [];
  private readonly listeners = new Map<string, Listener>();
  private nextId = 0;

  /** Called by the router when the offscreen document connects. */
  attach(port: Port): void {
    this.port?.disconnect();
    this.port = port;
    port.onMessage.addListener((raw: unknown) => {
      const event = parseMessage(StreamEventSchema, raw, 'background<-engine');
      if (!event) return;
      const listener = this.listeners.get(event.id);
      if (!listener) return;
      if (isTerminal(event)) this.listeners.delete(event.id);
      listener(event);
    });
    port.onDisconnect.addListener(() => {
      if (this.port !== port) return;
      this.port = undefined;
      const error = new ChordError('INTERNAL', 'the engine host stopped (offscreen document closed or crashed)');
      for (const [id, listener] of this.listeners) listener({ type: 'error', id, error: error.toJSON() });
      this.listeners.clear();
    });
    for (const resolve of this.waiting.splice(0)) resolve(port);
  }

  /** Starts the engine host (if it is not running) without asking it anything: it resumes interrupted downloads as it starts. */
  async start(): Promise<void> {
    await this.connect();
  }

  get connected(): boolean {
    return this.port !== undefined;
  }

  private async connect(): Promise<Port> {
    if (this.port) return this.port;
    if (import.meta.env.FIREFOX) {
      // No offscreen API: the background page hosts the engine itself.
      const { createLocalEnginePort } = await import('./local-engine.ts');
      if (!this.port) this.attach(await createLocalEnginePort());
      return this.port!;
    }
    const arrived = new Promise<Port>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ChordError('INTERNAL', 'the engine host did not start')),
        CONNECT_TIMEOUT_MS,
      );
      this.waiting.push((port) => {
        clearTimeout(timer);
        resolve(port);
      });
    });
    await ensureOffscreen();
    // A document that outlived a service-worker restart is asked to connect again;
    // a new one connects by itself when it loads.
    browser.runtime.sendMessage({ type: 'engine-connect' }).catch(() => {});
    return arrived;
  }

  /** Sends a request; returns a function that aborts it. Errors (no engine) arrive as an `error` event. */
  request(call: EngineCall, listener: Listener): { id: string; abort(): void } {
    const id = `e${++this.nextId}`;
    this.listeners.set(id, listener);
    const sent = this.connect().then(
      (port) => {
        if (this.listeners.has(id)) port.postMessage({ ...call, id });
      },
      (e: unknown) => {
        if (!this.listeners.delete(id)) return;
        const error = e instanceof ChordError ? e : new ChordError('INTERNAL', String(e));
        listener({ type: 'error', id, error: error.toJSON() });
      },
    );
    return {
      id,
      abort: () => {
        void sent.then(() => {
          if (this.listeners.has(id)) this.port?.postMessage({ type: 'abort', id });
        });
      },
    };
  }

  /** A request that ends in one value (models, install, delete). */
  call<T = unknown>(call: EngineCall, onProgress?: (event: StreamEvent) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.request(call, (event) => {
        if (event.type === 'result') resolve(event.value as T);
        else if (event.type === 'error') reject(ChordError.fromPayload(event.error));
        else if (event.type === 'done') resolve(event.result as T);
        else onProgress?.(event);
      });
    });
  }
}
