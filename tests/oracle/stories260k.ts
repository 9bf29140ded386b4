/** The stories260K workload the oracle files share: one prompt, one forced text, every fixture format. */

export const PROMPT = 'Once upon a time';
export const GREEDY_TOKENS = 30;
/** Not the greedy story, so teacher forcing visits flatter distributions too. */
export const FORCED_TEXT =
  'Once upon a time, there was a big dog named Max. Max liked to run in the sun with his red ball. ' +
  'One day, the ball went into the water and Max was sad.';
/** Prompt tokens evaluated as one batch before the forced steps. */
export const FORCED_PROMPT = 6;

/** Weight format → fixture path (under ../shared/fixtures). */
export const STORIES_FILES = {
  F32: 'models/stories260K.gguf',
  F16: 'models/stories260K-F16.gguf',
  Q8_0: 'models/stories260K-Q8_0.gguf',
  Q4_0: 'models/stories260K-Q4_0.gguf',
  Q5_1: 'models/stories260K-Q5_1.gguf',
} as const;
