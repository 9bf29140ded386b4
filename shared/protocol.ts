/**
 * Every message that crosses a boundary in the extension, as zod schemas.
 *
 *   page ──window.chord──▶ bridge content script ──Port 'chord-page'──▶ background
 *   side panel ─────────────────────────────────Port 'chord-panel'──▶ background
 *   background ─────────────────────────────────Port 'chord-engine'─▶ offscreen engine host
 *
 * A client sends requests (each with its own `id`); the answer to a request is a
 * stream of events with the same `id`: `chunk`s and `progress`, then exactly one
 * `done`, `result` or `error`. Anything that fails to parse is dropped with a
 * logged BAD_MESSAGE error and never reaches the engine.
 */
import { z } from 'zod';
import { ChordError, ERROR_CODES } from './errors.ts';

/** Port names: the background tells its callers apart by them. */
export const PORT = {
  page: 'chord-page',
  panel: 'chord-panel',
  engine: 'chord-engine',
} as const;

const RequestId = z.string().min(1).max(64);
/** Model ids are the store's; generous bound, plain text. */
const ModelId = z.string().min(1).max(256);

export const ErrorPayloadSchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const ChatMessageSchema = z.object({
  role: z.string().min(1).max(32),
  content: z.string().max(1_000_000),
});

/** A prompt string (raw completion) or chat messages (the model's chat template). */
export const GenerateInputSchema = z.union([z.string().max(1_000_000), z.array(ChatMessageSchema).min(1).max(512)]);

/** Generation options as they travel: the AbortSignal stays with the caller and becomes an `abort` message. */
export const GenerateOptionsSchema = z
  .object({
    maxTokens: z.number().int().min(1).max(32_768),
    temperature: z.number().min(0).max(100),
    topK: z.number().int().min(0).max(1_000_000),
    topP: z.number().min(0).max(1),
    minP: z.number().min(0).max(1),
    repeatPenalty: z.number().min(0).max(100),
    seed: z.number().int().min(0).max(0xffffffff),
    stop: z.array(z.string().min(1).max(256)).max(16),
    /** Which stored model answers; the most recently used ready one when absent. */
    model: ModelId,
  })
  .partial()
  .strict();

export type GenerateInput = z.infer<typeof GenerateInputSchema>;
export type GenerateOptionsWire = z.infer<typeof GenerateOptionsSchema>;

const generate = z.object({
  type: z.literal('generate'),
  id: RequestId,
  input: GenerateInputSchema,
  options: GenerateOptionsSchema.default({}),
});
const abort = z.object({ type: z.literal('abort'), id: RequestId });
const models = z.object({ type: z.literal('models'), id: RequestId });
const availability = z.object({ type: z.literal('availability'), id: RequestId });
const install = z.object({
  type: z.literal('install'),
  id: RequestId,
  url: z.url({ protocol: /^https?$/ }),
  name: z.string().max(256).optional(),
});
const remove = z.object({ type: z.literal('delete'), id: RequestId, model: ModelId });

/** What a web page may ask (through window.chord and the bridge content script). */
export const PageRequestSchema = z.discriminatedUnion('type', [generate, abort, models, availability]);
/** What the side panel (an extension page) may ask: the page's requests plus model management. */
export const PanelRequestSchema = z.discriminatedUnion('type', [
  generate,
  abort,
  models,
  availability,
  install,
  remove,
]);
/** What the background asks the offscreen engine host. */
export const EngineRequestSchema = z.discriminatedUnion('type', [generate, abort, models, install, remove]);

export type PageRequest = z.infer<typeof PageRequestSchema>;
export type PanelRequest = z.infer<typeof PanelRequestSchema>;
export type EngineRequest = z.infer<typeof EngineRequestSchema>;

/** The public description of a stored model (what `models()` returns). */
export const ModelSummarySchema = z.object({
  id: ModelId,
  name: z.string(),
  state: z.enum(['downloading', 'ready', 'error']),
  size: z.number(),
  bytesDone: z.number(),
  arch: z.string().optional(),
  quantType: z.string().optional(),
  lastUsed: z.number(),
});
export type ModelSummary = z.infer<typeof ModelSummarySchema>;

export const FinishReasonSchema = z.enum(['eog', 'length', 'stop', 'context', 'abort']);

export const GenerationSummarySchema = z.object({
  text: z.string(),
  finishReason: FinishReasonSchema,
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }),
  timings: z.object({
    prefillMs: z.number(),
    decodeMs: z.number(),
    prefillTokPerS: z.number(),
    decodeTokPerS: z.number(),
  }),
  model: z.string().optional(),
  /** The engine backend that computed it (e.g. 'wasm (4 threads)', 'js'). */
  backend: z.string().optional(),
});
export type GenerationSummary = z.infer<typeof GenerationSummarySchema>;

export const ProgressSchema = z.object({
  phase: z.enum(['load', 'download']),
  bytesDone: z.number(),
  size: z.number(),
  bytesPerSecond: z.number().optional(),
  etaSeconds: z.number().nullable().optional(),
});
export type Progress = z.infer<typeof ProgressSchema>;

const chunk = z.object({ type: z.literal('chunk'), id: RequestId, text: z.string() });
const progress = z.object({ type: z.literal('progress'), id: RequestId, progress: ProgressSchema });
const done = z.object({ type: z.literal('done'), id: RequestId, result: GenerationSummarySchema });
const result = z.object({ type: z.literal('result'), id: RequestId, value: z.unknown() });
const error = z.object({ type: z.literal('error'), id: RequestId, error: ErrorPayloadSchema });

/** Every answer, on every Port: chunks and progress, then exactly one of done, result or error. */
export const StreamEventSchema = z.discriminatedUnion('type', [chunk, progress, done, result, error]);
export type StreamEvent = z.infer<typeof StreamEventSchema>;

export function isTerminal(e: StreamEvent): boolean {
  return e.type === 'done' || e.type === 'result' || e.type === 'error';
}

/** Availability as a page sees it; without a grant it learns only that it needs one. */
export const AvailabilitySchema = z.enum(['available', 'no-model', 'permission-required', 'denied']);
export type Availability = z.infer<typeof AvailabilitySchema>;

/** One-shot messages (runtime.sendMessage) between extension pages and the background. */
export const PermissionDecisionSchema = z.enum(['once', 'always', 'deny']);
export type PermissionDecision = z.infer<typeof PermissionDecisionSchema>;
export const RuntimeMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('permission-decision'),
    promptId: z.string().min(1).max(64),
    decision: PermissionDecisionSchema,
  }),
  z.object({ type: z.literal('permission-prompt-info'), promptId: z.string().min(1).max(64) }),
  /** The background asks a running engine host to connect to it (after a service-worker restart). */
  z.object({ type: z.literal('engine-connect') }),
  /** The engine host asks for the model size limit (offscreen documents cannot read extension storage). */
  z.object({ type: z.literal('get-model-limit') }),
  /** The background tells an open side panel to summarize a selection (from the context menu). */
  z.object({ type: z.literal('summarize'), jobId: z.string().min(1).max(64) }),
]);
export type RuntimeMessage = z.infer<typeof RuntimeMessageSchema>;

export { BRIDGE_TAG } from './bridge.ts';

/**
 * Parses a message that arrived at `where`; on failure logs a typed BAD_MESSAGE
 * error and returns undefined, so the caller drops the message.
 */
export function parseMessage<T>(schema: z.ZodType<T>, raw: unknown, where: string): T | undefined {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const err = new ChordError('BAD_MESSAGE', `dropped a malformed message at ${where}`, {
    issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
  });
  console.warn(err.code, err.message, err.details);
  return undefined;
}

/** The request id of a malformed message, when it has one we can answer to. */
export function requestIdOf(raw: unknown): string | undefined {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
}
