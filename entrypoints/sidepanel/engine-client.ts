import { browser } from 'wxt/browser';
import { ChordError } from '../../shared/errors.ts';
import {
  isTerminal,
  type PanelRequest,
  PORT,
  parseMessage,
  type StreamEvent,
  StreamEventSchema,
} from '../../shared/protocol.ts';

type Port = ReturnType<typeof browser.runtime.connect>;
type Listener = (event: StreamEvent) => void;
type Call = PanelRequest extends infer R ? (R extends { id: string } ? Omit<R, 'id'> : never) : never;

/**
 * The side panel's Port to the background, shared by all its requests. If the
 * background restarts, the Port drops: every open request ends with an error
 * and the next request connects again.
 */
export class EngineClient {
  private port: Port | undefined;
  private readonly listeners = new Map<string, Listener>();
  private nextId = 0;

  private connect(): Port {
    if (this.port) return this.port;
    const port = browser.runtime.connect({ name: PORT.panel });
    port.onMessage.addListener((raw: unknown) => {
      const event = parseMessage(StreamEventSchema, raw, 'panel<-background');
      const listener = event && this.listeners.get(event.id);
      if (!event || !listener) return;
      if (isTerminal(event)) this.listeners.delete(event.id);
      listener(event);
    });
    port.onDisconnect.addListener(() => {
      this.port = undefined;
      const error = new ChordError('INTERNAL', 'the extension restarted before the answer was complete');
      for (const [id, listener] of this.listeners) listener({ type: 'error', id, error: error.toJSON() });
      this.listeners.clear();
    });
    this.port = port;
    return port;
  }

  /** Sends a request; returns its abort. */
  request(call: Call, listener: Listener): () => void {
    const id = `c${++this.nextId}`;
    const port = this.connect();
    this.listeners.set(id, listener);
    port.postMessage({ ...call, id });
    return () => {
      if (this.listeners.has(id)) this.port?.postMessage({ type: 'abort', id });
    };
  }

  call<T>(call: Call, onEvent?: Listener): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.request(call, (event) => {
        if (event.type === 'result') resolve(event.value as T);
        else if (event.type === 'error') reject(ChordError.fromPayload(event.error));
        else onEvent?.(event);
      });
    });
  }
}
