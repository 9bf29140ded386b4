import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../../engine/backend/backend.ts';
import type { Forward } from '../../../../engine/model/forward.ts';
import type { GenerateOptions, GenerationChunk } from '../../../../engine/model/generation.ts';
import type { Model } from '../../../../engine/model/model.ts';
import { prefillBatches, Sequence } from '../../../../engine/model/sequence.ts';
import { loadModel } from '../../../../engine/node/index.ts';
import { argmax } from '../../../../engine/sampling/index.ts';
import { topLogits } from '../../../../engine/sampling/top.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';

const modelPath = fixture('models/stories260K.gguf');
// llama.cpp's greedy continuation, from the fixtures README.
const EXPECTED = ', there was a little girl named Lily. She loved to play outside in the park. One day,';

describe.skipIf(!modelPath)('Sequence on stories260K', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(modelPath!, { backend: 'js' });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('streams llama.cpp’s greedy continuation, and done reports it whole', async () => {
    const gen = model
      .createSequence({ contextSize: 256 })
      .generate('Once upon a time', { maxTokens: 30, temperature: 0 });
    const pieces: string[] = [];
    for await (const c of gen) pieces.push(c.text);
    const r = await gen.done;
    expect(pieces.join('')).toBe(EXPECTED);
    expect(r.text).toBe(EXPECTED);
    expect(r.tokens).toHaveLength(30);
    expect(r.finishReason).toBe('length');
    expect(r.usage).toEqual({ promptTokens: 5, completionTokens: 30 });
    expect(r.promptTokens[0]).toBe(model.tokenizer.bos);
  });

  it('never emits a stop string and ends there', async () => {
    const gen = model.createSequence().generate('Once upon a time', { maxTokens: 30, temperature: 0, stop: ['Lily'] });
    const text = await gen.text();
    expect(text).toBe(', there was a little girl named ');
    expect((await gen.done).finishReason).toBe('stop');
  });

  it('reuses a cached prefix and gives the same tokens as a fresh sequence', async () => {
    const seq = model.createSequence();
    await seq.generate('Once upon a time', { maxTokens: 5, temperature: 0 }).text();
    const again = await seq.generate('Once upon a time, there was', { maxTokens: 10, temperature: 0 }).done;
    const fresh = await model
      .createSequence()
      .generate('Once upon a time, there was', { maxTokens: 10, temperature: 0 }).done;
    expect(again.tokens).toEqual(fresh.tokens);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    const gen = model
      .createSequence()
      .generate('Once upon a time', { maxTokens: 100, temperature: 0, signal: controller.signal });
    let n = 0;
    for await (const _ of gen) if (++n === 3) controller.abort();
    const r = await gen.done;
    expect(r.finishReason).toBe('abort');
    expect(r.tokens).toHaveLength(3);
  });

  it('seeded sampling is reproducible', async () => {
    const opts = { maxTokens: 20, temperature: 1, topK: 40, topP: 0.95, seed: 42 };
    const a = await model.createSequence().generate('Once upon a time', opts).done;
    const b = await model.createSequence().generate('Once upon a time', opts).done;
    expect(a.tokens).toEqual(b.tokens);
  });

  it('ends with finishReason context when the context fills up', async () => {
    const r = await model
      .createSequence({ contextSize: 12 })
      .generate('Once upon a time', { maxTokens: 100, temperature: 0 }).done;
    expect(r.finishReason).toBe('context');
    expect(r.promptTokens.length + r.tokens.length).toBe(13);
  });

  it('rejects a prompt longer than the context with CONTEXT_OVERFLOW', async () => {
    const gen = model.createSequence({ contextSize: 4 }).generate('Once upon a time there was a dog', { maxTokens: 1 });
    await expect(gen.text()).rejects.toSatisfy((e) => isChordError(e, 'CONTEXT_OVERFLOW'));
  });

  it('rejects token ids outside the vocabulary', async () => {
    await expect(model.createSequence().evaluate([1, 99999])).rejects.toSatisfy((e) =>
      isChordError(e, 'INVALID_ARGUMENT'),
    );
  });

  it('takes chat messages through the fallback format when the model has no template', async () => {
    expect(model.info.chatTemplate).toBeUndefined();
    const r = await model
      .createSequence()
      .generate([{ role: 'user', content: 'Tell me a story.' }], { maxTokens: 5, temperature: 0 }).done;
    expect(r.tokens.length).toBeGreaterThan(0);
    expect(model.detokenize(r.promptTokens)).toContain('Tell me a story.');
  });

  it('describes the model', () => {
    expect(model.info.arch).toBe('llama');
    expect(model.info.hparams).toMatchObject({
      nEmbd: 64,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      ropeDims: 8,
    });
    expect(model.info.quantType).toBe('F32');
  });
});

describe.skipIf(!modelPath)('Sequence end of generation', () => {
  it('reports the end token as a chunk without text, with its distribution', async () => {
    const model = await loadModel(modelPath!, { backend: 'js' });
    try {
      const eos = model.tokenizer.eos!;
      const vocab = model.info.hparams.vocabSize;
      // A forward pass that makes token 400 most likely twice, then the end token.
      let calls = 0;
      const forward = {
        async forward(): Promise<Float32Array> {
          const logits = new Float32Array(vocab);
          logits[++calls <= 2 ? 400 : eos] = 10;
          return logits;
        },
      } as unknown as Forward;
      const gen = new Sequence(model, forward, 64).generate('Once upon a time', {
        maxTokens: 10,
        temperature: 0,
        topLogprobs: 2,
      });
      const chunks = [];
      for await (const c of gen) chunks.push(c);
      const r = await gen.done;
      expect(r.finishReason).toBe('eog');
      expect(r.tokens).toEqual([400, 400, eos]);
      expect(chunks.map((c) => c.tokenId)).toEqual([400, 400, eos]);
      expect(chunks[2].text).toBe('');
      expect(chunks[2].top?.[0].id).toBe(eos);
      expect(r.text).toBe(chunks.map((c) => c.text).join(''));
      expect(r.text.trim()).toBe(model.detokenize([400, 400]).trim());
    } finally {
      await model.dispose();
    }
  });
});

describe('prefillBatches', () => {
  it('cuts llama.cpp ubatches of 512 into batches of 64 or more, keeping short ones whole', () => {
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    expect(prefillBatches(1)).toEqual([1]);
    expect(prefillBatches(63)).toEqual([63]);
    expect(prefillBatches(64)).toEqual([64]);
    expect(prefillBatches(127)).toEqual([127]);
    expect(prefillBatches(130)).toEqual([64, 66]);
    expect(prefillBatches(512)).toEqual([64, 64, 64, 64, 64, 64, 64, 64]);
    // a ubatch's remainder under 64 stays one batch (llama.cpp's one-chunk kernel for it too)
    expect(prefillBatches(512 + 10)).toEqual([64, 64, 64, 64, 64, 64, 64, 64, 10]);
    for (const n of [1, 70, 200, 511, 513, 1100]) {
      const b = prefillBatches(n);
      expect(sum(b)).toBe(n);
      expect(b.every((x) => x > 0 && x < 128)).toBe(true);
    }
  });
});

describe.skipIf(!modelPath)('generation from the best logits (Backend.readTopK)', () => {
  async function run(model: Model, opts: GenerateOptions): Promise<GenerationChunk[]> {
    const chunks: GenerationChunk[] = [];
    for await (const c of model.createSequence({ contextSize: 128 }).generate('Once upon a time', opts)) chunks.push(c);
    return chunks;
  }

  it('gives the tokens and top probabilities of the whole-row path, and is used only where it can be', async () => {
    const whole = await loadModel(modelPath!, { backend: 'js' });
    // The reference backend given readTopK as the reference computes it.
    const best = await loadModel(modelPath!, { backend: 'js' });
    const backend = (best as unknown as { backend: Backend }).backend;
    const asked: number[] = [];
    backend.readTopK = async (x, k) => {
      asked.push(k);
      return topLogits(await backend.read(x), k);
    };
    try {
      const cases: [GenerateOptions, number | undefined][] = [
        [{ temperature: 0, topLogprobs: 5 }, 5],
        [{ temperature: 0 }, 1],
        [{ seed: 7, topLogprobs: 3 }, 40],
        [{ seed: 8, temperature: 1.5, topK: 100, topP: 0.9, minP: 0 }, 100],
        [{ seed: 9, topK: 0 }, undefined], // no top-k: the whole row
        [{ seed: 10, repeatPenalty: 1.3 }, undefined], // penalties: the whole row
        [{ temperature: 0, topLogprobs: 200 }, undefined], // more than MAX_BEST_LOGITS
      ];
      for (const [opts, k] of cases) {
        asked.length = 0;
        const a = await run(whole, { maxTokens: 12, ...opts });
        const b = await run(best, { maxTokens: 12, ...opts });
        const name = JSON.stringify(opts);
        expect(
          b.map((c) => c.tokenId),
          name,
        ).toEqual(a.map((c) => c.tokenId));
        expect(b.map((c) => c.top?.map((t) => t.id))).toEqual(a.map((c) => c.top?.map((t) => t.id)));
        for (let i = 0; i < a.length; i++) {
          for (let j = 0; j < (a[i].top?.length ?? 0); j++) {
            expect(Math.abs(b[i].top![j].p - a[i].top![j].p)).toBeLessThan(1e-12);
          }
        }
        expect(new Set(asked), name).toEqual(new Set(k === undefined ? [] : [k]));
      }
    } finally {
      await whole.dispose();
      await best.dispose();
    }
  });

  it('evaluateGreedy picks what argmax of the whole row picks, reading back one logit where it can', async () => {
    const model = await loadModel(modelPath!, { backend: 'js' });
    const backend = (model as unknown as { backend: Backend }).backend;
    try {
      const prompt = model.tokenize('Once upon a time', { addSpecial: true });
      const whole = model.createSequence({ contextSize: 64 });
      const wholeIds = [argmax(await whole.evaluate(prompt))];
      for (let i = 0; i < 8; i++) wholeIds.push(argmax(await whole.evaluate([wholeIds[i]])));

      const withoutTopK = model.createSequence({ contextSize: 64 });
      const plainIds = [await withoutTopK.evaluateGreedy(prompt)];
      for (let i = 0; i < 8; i++) plainIds.push(await withoutTopK.evaluateGreedy([plainIds[i]]));
      expect(plainIds).toEqual(wholeIds);

      const asked: number[] = [];
      backend.readTopK = async (x, k) => {
        asked.push(k);
        return topLogits(await backend.read(x), k);
      };
      const short = model.createSequence({ contextSize: 64 });
      const shortIds = [await short.evaluateGreedy(prompt)];
      for (let i = 0; i < 8; i++) shortIds.push(await short.evaluateGreedy([shortIds[i]]));
      expect(shortIds).toEqual(wholeIds);
      expect(new Set(asked)).toEqual(new Set([1]));
    } finally {
      await model.dispose();
    }
  });
});
