/**
 * The hand-over from the "Summarize selection" menu (background) to the side
 * panel: the job waits in storage.session under this key, so that a panel that
 * opens later still finds it.
 */
export const SUMMARIZE_JOB_KEY = 'chord.summarizeJob';

export interface SummarizeJob {
  jobId: string;
  text: string;
  /** ms since epoch; a panel ignores jobs older than a few minutes */
  at: number;
}

/** The user turn the side panel sends for a job (the model's chat template wraps it). */
export function summarizePrompt(text: string): string {
  return `Summarize the following text in a few sentences:\n\n${text}`;
}
