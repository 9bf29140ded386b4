/**
 * How much does rounding alone move llama.cpp's logits? We run llama.cpp against
 * itself under settings that change only rounding (KV cache F16 vs F32, flash
 * attention on vs off, batched vs token-by-token prompt) and measure, per
 * teacher-forced step, how far the top1-top2 logit margin moves and which top-1
 * choices flip. The largest shift bounds the margin below which a top-1
 * disagreement between two correct engines can be rounding noise: the "clear"
 * threshold of compare.ts. Our engine is measured the same way for reference.
 *
 *   npx vite-node tests/oracle/measure-noise.ts            (about 5 minutes on 2 cores)
 *   npx vite-node tests/oracle/measure-noise.ts -- --quick (stories260K only)
 *
 * Results are written up in docs/oracle.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../engine/node/index.ts';
import { GGMLType } from '../../engine/quant/types.ts';
import { fixture } from '../helpers/fixtures.ts';
import { writeRandomLlamaModel } from '../helpers/random-model.ts';
import { chordForced } from './chord.ts';
import {
  disposeOracle,
  llamaCppForced,
  llamaCppTokenize,
  type OracleEvalOptions,
  type OracleRun,
} from './llama-cpp.ts';

const STEPS = 64;
/** Prompt tokens evaluated as one batch before the forced steps. */
const PROMPT = 8;

/** Per step: |shift| of the reference's top1-top2 logit margin, and whether top-1 changed. */
function marginShifts(a: OracleRun, b: OracleRun): { shifts: number[]; flips: { step: number; margin: number }[] } {
  const shifts: number[] = [];
  const flips: { step: number; margin: number }[] = [];
  for (let i = 0; i < Math.min(a.steps.length, b.steps.length); i++) {
    const pa = a.steps[i].probs as Float32Array;
    const pb = b.steps[i].probs as Float32Array;
    const [t1, t2] = [a.steps[i].top[0].id, a.steps[i].top[1].id];
    const ma = Math.log(pa[t1]) - Math.log(pa[t2]);
    const mb = Math.log(pb[t1]) - Math.log(pb[t2]);
    shifts.push(Math.abs(ma - mb));
    if (b.steps[i].top[0].id !== t1) flips.push({ step: i, margin: Math.min(a.margins[i], b.margins[i]) });
  }
  return { shifts, flips };
}

/** Largest top-5 probability difference, by id, over all steps. */
function maxProbDiff(a: OracleRun, b: OracleRun): number {
  let max = 0;
  for (let i = 0; i < Math.min(a.steps.length, b.steps.length); i++) {
    const pb = b.steps[i].probs as Float32Array;
    for (const e of a.steps[i].top) max = Math.max(max, Math.abs(e.p - pb[e.id]));
  }
  return max;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))];
}

function report(label: string, a: OracleRun, b: OracleRun): void {
  const { shifts, flips } = marginShifts(a, b);
  const flipText = flips.map((f) => `${f.step}@${f.margin.toFixed(4)}`).join(' ') || '-';
  console.log(
    `  ${label.padEnd(34)} margin shift p50 ${quantile(shifts, 0.5).toExponential(1)} p99 ${quantile(shifts, 0.99).toExponential(1)} ` +
      `max ${Math.max(...shifts).toExponential(2)} | max |dp| ${maxProbDiff(a, b).toExponential(1)} | flips ${flipText}`,
  );
}

function marginSummary(run: OracleRun): string {
  const m = run.margins;
  return `ref margins: min ${Math.min(...m).toFixed(4)}, p10 ${quantile(m, 0.1).toFixed(3)}, p50 ${quantile(m, 0.5).toFixed(3)}`;
}

/** A deterministic token stream for teacher forcing on random models. */
function randomTokens(n: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(3 + (s % (vocab - 3)));
  }
  return out;
}

async function measure(name: string, path: string, promptTokens: number[], forced: number[]): Promise<void> {
  console.log(`${name} (${forced.length} forced steps)`);
  const full: OracleEvalOptions = { fullDistribution: true, topK: 5 };
  const base = await llamaCppForced(path, promptTokens, forced, full);
  console.log(`  ${marginSummary(base)}`);
  report('llama.cpp KV F16 vs F32', base, await llamaCppForced(path, promptTokens, forced, { ...full, kvType: 'f32' }));
  report(
    'llama.cpp flash attn off vs on',
    base,
    await llamaCppForced(path, promptTokens, forced, { ...full, flashAttention: true }),
  );
  report(
    'llama.cpp batched vs 1-by-1 prompt',
    base,
    await llamaCppForced(path, promptTokens, forced, { ...full, promptBatch: false }),
  );
  report('llama.cpp threads 1 vs 2', base, await llamaCppForced(path, promptTokens, forced, { ...full, threads: 2 }));
  const model = await loadModel(path, { backend: 'js' });
  try {
    report(
      'llama.cpp vs chord (both KV F16)',
      base,
      await chordForced(model, promptTokens, forced, { fullDistribution: true }),
    );
    const base32 = await llamaCppForced(path, promptTokens, forced, { ...full, kvType: 'f32' });
    report(
      'llama.cpp vs chord (both KV F32)',
      base32,
      await chordForced(model, promptTokens, forced, { fullDistribution: true, kvCache: 'f32' }),
    );
  } finally {
    await model.dispose();
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const story =
    'Once upon a time, there was a big dog named Max. Max liked to run in the sun with his red ball. ' +
    'One day, the ball went into the water and Max was sad.';
  for (const suffix of ['', '-F16', '-Q8_0', '-Q4_0', '-Q5_1']) {
    const path = fixture(`models/stories260K${suffix}.gguf`);
    if (!path) continue;
    const ids = await llamaCppTokenize(path, story, { addSpecial: true });
    await measure(`stories260K${suffix || '-F32'} (trained), a story`, path, ids.slice(0, PROMPT), ids.slice(PROMPT));
  }
  if (quick) return;

  const dir = mkdtempSync(join(tmpdir(), 'chord-noise-'));
  try {
    const shapes = [
      { label: 'dim 256, 4 layers, vocab 512', dim: 256, nLayers: 4, nHeads: 8, nKvHeads: 4, ffn: 768, vocabSize: 512 },
      {
        label: 'dim 512, 8 layers, vocab 32000',
        dim: 512,
        nLayers: 8,
        nHeads: 8,
        nKvHeads: 4,
        ffn: 1408,
        vocabSize: 32000,
      },
    ];
    const types: [string, GGMLType][] = [
      ['F32', GGMLType.F32],
      ['Q8_0', GGMLType.Q8_0],
      ['Q4_0', GGMLType.Q4_0],
    ];
    for (const shape of shapes) {
      for (const [typeName, weightType] of types) {
        const path = join(dir, `random-${shape.dim}-${typeName}.gguf`);
        const { label, ...dims } = shape;
        await writeRandomLlamaModel(path, { ...dims, weightType, seed: 7, tiedOutput: false });
        const tokens = randomTokens(PROMPT + STEPS, shape.vocabSize, 11);
        await measure(`random ${label} ${typeName}`, path, [1, ...tokens.slice(0, PROMPT)], tokens.slice(PROMPT));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main()
  .then(disposeOracle)
  .catch(async (e) => {
    console.error(e);
    await disposeOracle();
    process.exitCode = 1;
  });
