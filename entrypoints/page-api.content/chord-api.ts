import { BRIDGE_TAG } from '../../shared/bridge.ts';
import type { ErrorPayload } from '../../shared/errors.ts';
import type {
  Availability,
  GenerateInput,
  GenerateOptionsWire,
  GenerationSummary,
  ModelSummary,
  StreamEvent,
} from '../../shared/protocol.ts';

/**
 * window.chord for web pages:
 *   const reply = window.chord.generate('Once upon a time', { maxTokens: 30, signal });
 *   for await (const text of reply) output.append(text);
 *   const { usage, timings, finishReason } = await reply.done;
 * Errors carry the engine's codes; NOT_ALLOWED arrives as a 'NotAllowedError',
 * ABORTED as an 'AbortError'.
 */
export type GenerateOptions = GenerateOptionsWire & { signal?: AbortSignal };

export interface ChordReply extends AsyncIterable<string> {
  /** The whole output. */
  text(): Promise<string>;
  /** Usage, timings and finish reason once the generation ends. */
  readonly done: Promise<GenerationSummary>;
}

const ERROR_NAMES: Partial<Record<string, string>> = { NOT_ALLOWED: 'NotAllowedError', ABORTED: 'AbortError' };

export class ChordPageError extends Error {
  readonly code: string;
  constructor({ code, message }: ErrorPayload) {
    super(message);
    this.code = code;
    this.name = ERROR_NAMES[code] ?? 'ChordError';
  }
}

let nextId = 0;

/** Sends one request through the bridge on its own MessagePort; `onEvent` sees its answers. */
function send(request: Record<string, unknown>, onEvent: (e: StreamEvent) => void): (msg: object) => void {
  const id = `p${++nextId}`;
  const channel = new MessageChannel();
  channel.port1.onmessage = (event: MessageEvent) => onEvent(event.data as StreamEvent);
  window.postMessage({ tag: BRIDGE_TAG, request: { ...request, id } }, '*', [channel.port2]);
  return (msg) => channel.port1.postMessage({ ...msg, id });
}

function call<T>(request: Record<string, unknown>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    send(request, (e) => {
      if (e.type === 'result') resolve(e.value as T);
      else if (e.type === 'error') reject(new ChordPageError(e.error));
    });
  });
}

function generate(input: GenerateInput, options: GenerateOptions = {}): ChordReply {
  const { signal, ...wire } = options;
  const chunks: string[] = [];
  let wake: (() => void) | undefined;
  let failure: ChordPageError | undefined;
  let finished = false;
  let resolveDone!: (r: GenerationSummary) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<GenerationSummary>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => {}); // seen through iteration or text() when the page cares

  const end = (error?: ChordPageError, result?: GenerationSummary) => {
    if (finished) return;
    finished = true;
    if (error) {
      failure = error;
      rejectDone(error);
    } else resolveDone(result!);
    wake?.();
  };

  const post = send({ type: 'generate', input, options: wire }, (e) => {
    if (e.type === 'chunk') {
      chunks.push(e.text);
      wake?.();
    } else if (e.type === 'done') end(undefined, e.result);
    else if (e.type === 'error') end(new ChordPageError(e.error));
  });
  const abort = () => {
    if (finished) return;
    post({ type: 'abort' });
    end(new ChordPageError({ code: 'ABORTED', message: 'the generation was aborted' }));
  };
  if (signal?.aborted) abort();
  else signal?.addEventListener('abort', abort, { once: true });

  return {
    done,
    text: async () => (await done).text,
    async *[Symbol.asyncIterator]() {
      try {
        while (true) {
          if (chunks.length > 0) {
            yield chunks.shift()!;
            continue;
          }
          if (failure) throw failure;
          if (finished) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        // A page that stops reading early ends the generation.
        if (!finished) abort();
      }
    },
  };
}

export function installChordApi(): void {
  const chord = Object.freeze({
    generate,
    availability: () => call<Availability>({ type: 'availability' }),
    models: () => call<ModelSummary[]>({ type: 'models' }),
  });
  Object.defineProperty(window, 'chord', { value: chord, enumerable: true, configurable: false, writable: false });
  window.dispatchEvent(new Event('chord:ready'));
}
