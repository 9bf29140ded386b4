import { type ChordError, toChordError } from '../../shared/errors.ts';

/** What the user reads when something goes wrong: what happened and what to do. */
const MESSAGES: Partial<Record<ChordError['code'], string>> = {
  MODEL_NOT_FOUND: 'No model is installed yet. Install one from the options page.',
  MODEL_NOT_READY: 'This model is still downloading (or failed to). Pick a ready model.',
  OUT_OF_MEMORY: 'The model does not fit in memory here. Try a smaller model or close other tabs.',
  QUOTA_EXCEEDED: 'Not enough storage space for this model.',
  CONTEXT_OVERFLOW: "This conversation is longer than the model's context. Start a new chat.",
  UNSUPPORTED_ARCHITECTURE: 'This model architecture is not supported yet.',
  UNSUPPORTED_QUANT_TYPE: 'This model uses a quantization type that is not supported yet.',
  BACKEND_UNAVAILABLE: 'No compute backend is available in this browser.',
  INTERNAL: 'The engine stopped unexpectedly. Try again.',
};

export function describeError(e: unknown): string {
  const error = toChordError(e);
  const hint = MESSAGES[error.code];
  return hint ? `${hint} (${error.code}: ${error.message})` : `${error.code}: ${error.message}`;
}
