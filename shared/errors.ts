/**
 * Errors are values with codes, the same across every boundary (engine, CLI,
 * offscreen document, background, page API). A ChordError serializes to
 * `{ code, message, details? }` and back without losing its code.
 */
export const ERROR_CODES = [
  // GGUF structure
  'GGUF_BAD_MAGIC',
  'GGUF_UNSUPPORTED_VERSION',
  'GGUF_TRUNCATED',
  'GGUF_INVALID',
  'GGUF_UNKNOWN_TYPE',
  'GGUF_DUPLICATE_NAME',
  'GGUF_TENSOR_OUT_OF_BOUNDS',
  'GGUF_TENSOR_OVERLAP',
  'GGUF_MISALIGNED',
  'GGUF_MISSING_KEY',
  'GGUF_CHECKSUM_MISMATCH',
  // byte sources
  'IO_ERROR',
  'HTTP_ERROR',
  'RANGE_NOT_SUPPORTED',
  // model store
  'QUOTA_EXCEEDED',
  'DOWNLOAD_FAILED',
  'MODEL_NOT_FOUND',
  'MODEL_NOT_READY',
  // model and engine
  'UNSUPPORTED_ARCHITECTURE',
  'UNSUPPORTED_QUANT_TYPE',
  'MODEL_INVALID',
  'TOKENIZER_UNSUPPORTED',
  'TOKENIZER_INVALID',
  'TEMPLATE_ERROR',
  'CONTEXT_OVERFLOW',
  'BACKEND_UNAVAILABLE',
  'OUT_OF_MEMORY',
  /** The GPU device was lost or reported an error mid-computation (driver reset, out of memory). */
  'GPU_DEVICE_LOST',
  'ABORTED',
  'INVALID_ARGUMENT',
  // messages and permissions
  'BAD_MESSAGE',
  'NOT_ALLOWED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export class ChordError extends Error {
  override readonly name = 'ChordError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toJSON(): ErrorPayload {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static fromPayload(p: ErrorPayload): ChordError {
    return new ChordError(p.code, p.message, p.details);
  }
}

export function isChordError(e: unknown, code?: ErrorCode): e is ChordError {
  return e instanceof ChordError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into a ChordError; AbortError becomes ABORTED. */
export function toChordError(e: unknown): ChordError {
  if (e instanceof ChordError) return e;
  if (e instanceof Error && e.name === 'AbortError') return new ChordError('ABORTED', e.message || 'aborted');
  if (e instanceof RangeError && /allocat|memory/i.test(e.message)) return new ChordError('OUT_OF_MEMORY', e.message);
  return new ChordError('INTERNAL', e instanceof Error ? e.message : String(e));
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ChordError('ABORTED', 'the request was aborted');
}
