/**
 * Rounding noise on random-weight models (the cases of random-models.ts), to
 * choose the clear-margin threshold of random-models.test.ts. Per weight type
 * and seed, along llama.cpp's greedy tokens, we compare with llama.cpp's default
 * run (flash attention, KV cache F16):
 *   - llama.cpp itself without flash attention: the same maths, rounded
 *     differently (softmax in F32 and V products in F16 instead of the online
 *     softmax with V accumulated in F16);
 *   - our engine with its defaults (which mirror llama.cpp's), teacher-forced.
 * and print how far each moves the top1-top2 logit margin, at which margins the
 * top-1 flips, and how many steps keep every top-5 probability within 2e-3.
 *
 *   npx vite-node tests/oracle/measure-random-noise.ts [-- --seeds 1,2,3,4] [Q4_K ...]
 *
 * Results are written up in docs/oracle.md ("Random-weight models").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../engine/node/index.ts';
import { chordForced } from './chord.ts';
import { compareRuns } from './compare.ts';
import { disposeOracle, llamaCppForced, llamaCppGreedy, type OracleRun } from './llama-cpp.ts';
import { marginShifts, RANDOM_CASES, RANDOM_PROMPTS, STEPS_PER_PROMPT, writeRandomCase } from './random-models.ts';

const PROB_TOL = 2e-3;

interface Tally {
  steps: number;
  within: number;
  maxDp: number;
  shifts: number[];
  flipMargins: number[];
}

function tally(t: Tally, other: OracleRun, ref: OracleRun): void {
  const c = compareRuns(other, ref, { probTol: PROB_TOL });
  t.steps += c.stepsCompared;
  t.within += c.withinTolOnClear;
  t.maxDp = Math.max(t.maxDp, c.maxProbDiff);
  t.shifts.push(...marginShifts(other, ref).filter((x) => !Number.isNaN(x)));
  ref.steps.forEach((s, i) => {
    if (other.steps[i].top[0].id !== s.top[0].id) t.flipMargins.push(ref.margins[i]);
  });
}

const fresh = (): Tally => ({ steps: 0, within: 0, maxDp: 0, shifts: [], flipMargins: [] });

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? Number.NaN;
}

function line(t: Tally): string {
  const flips = t.flipMargins.map((m) => m.toFixed(3)).join(',') || '-';
  return (
    `within ${t.within}/${t.steps}, max |dp| ${t.maxDp.toExponential(1)}, ` +
    `margin shift p50 ${quantile(t.shifts, 0.5).toExponential(1)} max ${Math.max(...t.shifts).toExponential(1)}, flips at ${flips}`
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const seedsAt = args.indexOf('--seeds');
  const seeds = seedsAt >= 0 ? args.splice(seedsAt, 2)[1].split(',').map(Number) : [1, 2, 3, 4];
  const only = args;
  const dir = mkdtempSync(join(tmpdir(), 'chord-random-noise-'));
  const all = { fa: fresh(), chord: fresh() };
  try {
    for (const rc of RANDOM_CASES) {
      if (only.length > 0 && !only.includes(rc.label)) continue;
      const fa = fresh();
      const ours = fresh();
      const p1: number[] = [];
      for (const seed of seeds) {
        const path = writeRandomCase(dir, rc, seed);
        const model = await loadModel(path, { backend: 'js' });
        try {
          for (const prompt of RANDOM_PROMPTS) {
            const ref = await llamaCppGreedy(path, prompt, STEPS_PER_PROMPT, { stopAtEog: false });
            p1.push(...ref.steps.map((s) => s.top[0].p));
            const noFa = await llamaCppForced(path, ref.promptTokens, ref.tokens, { flashAttention: false });
            for (const t of [fa, all.fa]) tally(t, noFa, ref);
            const chord = await chordForced(model, ref.promptTokens, ref.tokens);
            for (const t of [ours, all.chord]) tally(t, chord, ref);
          }
        } finally {
          await model.dispose();
        }
      }
      console.log(`${rc.label} (seeds ${seeds.join(',')}; top-1 p median ${quantile(p1, 0.5).toFixed(3)})`);
      console.log(`  llama.cpp FA on vs off: ${line(fa)}`);
      console.log(`  llama.cpp vs chord:     ${line(ours)}`);
    }
    console.log('all types');
    console.log(`  llama.cpp FA on vs off: ${line(all.fa)}`);
    console.log(`  llama.cpp vs chord:     ${line(all.chord)}`);
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
