/** What a generation streams and how it ends; shared by the engine, the CLI and the extension. */
export interface GenerateOptions {
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  penaltyLastN?: number;
  seed?: number;
  /** Strings that end the generation; they are never emitted. */
  stop?: string[];
  signal?: AbortSignal;
  /** Report the K most probable next tokens (temperature-1 softmax) with each chunk. */
  topLogprobs?: number;
  /** Keep generating past end-of-generation tokens. */
  ignoreEog?: boolean;
}

export interface TokenProbability {
  id: number;
  p: number;
}

export interface GenerationChunk {
  /** Text completed by this token (may be empty while a UTF-8 sequence or a possible stop string is pending). */
  text: string;
  tokenId: number;
  /** The distribution this token was drawn from, when topLogprobs was asked for. */
  top?: TokenProbability[];
}

export type FinishReason = 'eog' | 'length' | 'stop' | 'context' | 'abort';

export interface GenerationResult {
  text: string;
  tokens: number[];
  promptTokens: number[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number };
  timings: { prefillMs: number; decodeMs: number; prefillTokPerS: number; decodeTokPerS: number };
}
