/**
 * User settings kept in extension storage, read where they apply.
 *
 * The model size limit: when set, the model store refuses a model larger than it
 * and, after a new model is ready, evicts least-recently-used models until all fit.
 */
import { browser } from 'wxt/browser';

const MODEL_LIMIT_KEY = 'chord.modelLimitBytes';

/** The limit in bytes, or undefined for none. */
export async function getModelLimit(): Promise<number | undefined> {
  const stored = (await browser.storage.local.get(MODEL_LIMIT_KEY))[MODEL_LIMIT_KEY];
  return typeof stored === 'number' && Number.isFinite(stored) && stored > 0 ? stored : undefined;
}

export async function setModelLimit(bytes: number | undefined): Promise<void> {
  if (bytes === undefined) await browser.storage.local.remove(MODEL_LIMIT_KEY);
  else await browser.storage.local.set({ [MODEL_LIMIT_KEY]: bytes });
}
