/** Test helper: llama.cpp through node-llama-cpp (CPU, prebuilt binary, no downloads), one per test file. */
import { getLlama, type Llama, LlamaLogLevel } from 'node-llama-cpp';

let llama: Promise<Llama> | undefined;

export function oracle(): Promise<Llama> {
  llama ??= getLlama({
    gpu: false,
    build: 'never',
    skipDownload: true,
    logLevel: LlamaLogLevel.error,
    // vocab-only loads report the missing weights as errors; everything else is worth seeing
    logger: (_level, message) => {
      if (!/missing tensor|failed to load model|error loading model/.test(message)) console.error(message);
    },
  });
  return llama;
}

export async function disposeOracle(): Promise<void> {
  const l = await llama;
  llama = undefined;
  await l?.dispose();
}
