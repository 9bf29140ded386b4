/**
 * Models people ask for, as GGUF files on Hugging Face. The sizes were written
 * down from the model cards, not measured here (no network when this was
 * written): `approxSize` is within a few percent, good for a quota check and a
 * progress bar, never for verification; no sha256 is given, so a catalog
 * install checks the GGUF structure only. Any other GGUF URL or file works too.
 *
 * `supported` says whether the engine runs the architecture today: llama only
 * (SmolLM2, Llama 3.2, TinyLlama are llama models); qwen2, phi2 and gemma2
 * come later.
 */
export interface CatalogEntry {
  id: string;
  name: string;
  url: string;
  /** Approximate file size in bytes. */
  approxSize: number;
  quantType: string;
  /** GGUF general.architecture. */
  arch: string;
  /** Parameters, for display. */
  params: string;
  supported: boolean;
  license: string;
}

const MB = 1_000_000;
const hf = (repo: string, file: string) => `https://huggingface.co/${repo}/resolve/main/${file}`;
const SUPPORTED_ARCHS = new Set(['llama']);

const entries: Omit<CatalogEntry, 'supported'>[] = [
  {
    id: 'smollm2-135m-instruct-q8_0',
    name: 'SmolLM2 135M Instruct',
    url: hf('bartowski/SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct-Q8_0.gguf'),
    approxSize: 145 * MB,
    quantType: 'Q8_0',
    arch: 'llama',
    params: '135M',
    license: 'Apache-2.0',
  },
  {
    id: 'smollm2-360m-instruct-q8_0',
    name: 'SmolLM2 360M Instruct',
    url: hf('bartowski/SmolLM2-360M-Instruct-GGUF', 'SmolLM2-360M-Instruct-Q8_0.gguf'),
    approxSize: 386 * MB,
    quantType: 'Q8_0',
    arch: 'llama',
    params: '360M',
    license: 'Apache-2.0',
  },
  {
    id: 'qwen2.5-0.5b-instruct-q8_0',
    name: 'Qwen2.5 0.5B Instruct',
    url: hf('Qwen/Qwen2.5-0.5B-Instruct-GGUF', 'qwen2.5-0.5b-instruct-q8_0.gguf'),
    approxSize: 676 * MB,
    quantType: 'Q8_0',
    arch: 'qwen2',
    params: '0.5B',
    license: 'Apache-2.0',
  },
  {
    id: 'llama-3.2-1b-instruct-q4_k_m',
    name: 'Llama 3.2 1B Instruct',
    url: hf('bartowski/Llama-3.2-1B-Instruct-GGUF', 'Llama-3.2-1B-Instruct-Q4_K_M.gguf'),
    approxSize: 808 * MB,
    quantType: 'Q4_K_M',
    arch: 'llama',
    params: '1.2B',
    license: 'Llama 3.2 Community License',
  },
  {
    id: 'tinyllama-1.1b-chat-v1.0-q4_0',
    name: 'TinyLlama 1.1B Chat v1.0',
    url: hf('TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF', 'tinyllama-1.1b-chat-v1.0.Q4_0.gguf'),
    approxSize: 638 * MB,
    quantType: 'Q4_0',
    arch: 'llama',
    params: '1.1B',
    license: 'Apache-2.0',
  },
  {
    id: 'phi-2-q4_0',
    name: 'Phi-2',
    url: hf('TheBloke/phi-2-GGUF', 'phi-2.Q4_0.gguf'),
    approxSize: 1602 * MB,
    quantType: 'Q4_0',
    arch: 'phi2',
    params: '2.7B',
    license: 'MIT',
  },
  {
    id: 'gemma-2-2b-it-q4_k_m',
    name: 'Gemma 2 2B Instruct',
    url: hf('bartowski/gemma-2-2b-it-GGUF', 'gemma-2-2b-it-Q4_K_M.gguf'),
    approxSize: 1709 * MB,
    quantType: 'Q4_K_M',
    arch: 'gemma2',
    params: '2.6B',
    license: 'Gemma Terms of Use',
  },
];

export const CATALOG: readonly CatalogEntry[] = entries.map((e) => ({ ...e, supported: SUPPORTED_ARCHS.has(e.arch) }));

export function catalogEntry(id: string): CatalogEntry | undefined {
  return CATALOG.find((e) => e.id === id);
}
