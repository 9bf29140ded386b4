// Native llama.cpp's speed on one model, through node-llama-cpp, in a process of its own.
// Plain JavaScript, so that the harness can run a copy of it beside a hard-linked
// node_modules whose ggml CPU variants were pruned (the AVX2 row): `node-llama-cpp`
// resolves from wherever this file lies.
//   node native-runner.mjs '{"model": PATH, "threads": 2, "promptTokens": 128, "genTokens": 64}'
// prints one JSON line: {loadS, prefillTokPerS, decodeTokPerS, peakRssBytes, cpuVariant, version}.
import { readFileSync } from 'node:fs';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const { model: modelPath, threads, promptTokens: nPrompt, genTokens: nGen } = JSON.parse(process.argv[2]);

/** Which libggml-cpu-*.so llama.cpp picked: the one mapped into this process. */
function loadedCpuVariant() {
  const maps = readFileSync('/proc/self/maps', 'utf8');
  const m = /libggml-cpu-([\w-]+)\.so/.exec(maps);
  return m ? m[1] : 'unknown';
}

const t0 = performance.now();
const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({
  contextSize: Math.ceil((nPrompt + nGen + 1) / 256) * 256,
  sequences: 1,
  threads,
  batchSize: Math.max(nPrompt, 1),
});
const loadS = (performance.now() - t0) / 1000;
const sequence = context.getSequence();

// The same token ids as `chord bench`: spread over the vocabulary, meaning nothing.
const vocab = model.tokens.vocabSize ?? model.fileInsights.vocabSize ?? 32000;
const prompt = Array.from({ length: nPrompt }, (_, i) => (i * 7919 + 13) % vocab);

const t1 = performance.now();
const out = await sequence.controlledEvaluate(
  prompt.map((t, i) => (i === nPrompt - 1 ? [t, { generateNext: { token: true } }] : t)),
);
const t2 = performance.now();
let next = out[nPrompt - 1]?.next.token ?? 0;
// Greedy decoding, one token per step; ignoring end-of-generation tokens as the other runtimes do.
let produced = 0;
const t3 = performance.now();
if (nGen > 0) {
  for await (const token of sequence.evaluate([next], { temperature: 0 })) {
    next = token;
    if (++produced >= nGen) break;
  }
}
const t4 = performance.now();

const result = {
  loadS,
  prefillTokPerS: (nPrompt / (t2 - t1)) * 1000,
  decodeTokPerS: (produced / (t4 - t3)) * 1000,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  cpuVariant: loadedCpuVariant(),
};
await context.dispose();
await model.dispose();
await llama.dispose();
process.stdout.write(`${JSON.stringify(result)}\n`);
