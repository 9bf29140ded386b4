/**
 * Our tokenizers against llama.cpp itself (node-llama-cpp 3.21.1, vocab-only
 * loads), computed live: tricky strings with and without special-token
 * parsing, detokenization, per-token pieces, end-of-generation and control
 * flags over the whole vocabulary, and the special ids and BOS/EOS flags.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LlamaModel, Token } from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type Tokenizer } from '../../../../engine/tokenizer/index.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { disposeOracle, oracle } from './oracle.ts';
import { TRICKY } from './tricky-strings.ts';
import { readVocabMetadata } from './vocab-fixture.ts';

const vocabDir = fixture('vocab');
const stories = fixture('models/stories260K.gguf');
const files: string[] = [
  ...(vocabDir
    ? readdirSync(vocabDir)
        .filter((f) => f.endsWith('.gguf'))
        .sort()
        .map((f) => join(vocabDir, f))
    : []),
  ...(stories ? [stories] : []),
];

/** Up to `limit` control/user-defined token texts, as llama.cpp reports them. */
function specialTexts(model: LlamaModel, tokenizer: Tokenizer, limit: number): string[] {
  const out: string[] = [];
  for (let id = 0; id < tokenizer.vocabSize && out.length < limit; id++) {
    const a = model.getTokenAttributes(id as Token);
    if (a.control || a.userDefined) out.push(model.detokenize([id as Token], true));
  }
  return out;
}

describe.skipIf(files.length === 0)('tokenizers against llama.cpp (node-llama-cpp, live)', () => {
  afterAll(disposeOracle);

  for (const path of files) {
    const name = path.split('/').pop()!;
    it(name, async () => {
      const model = await (await oracle()).loadModel({ modelPath: path, vocabOnly: true });
      try {
        const tokenizer = loadTokenizer(await readVocabMetadata(path));
        const specials = specialTexts(model, tokenizer, 24);
        const strings = [
          ...TRICKY,
          specials.join(''),
          specials.map((s) => ` ${s}  x\n`).join(''),
          `Hello${specials.slice(0, 4).join(' world ')}\n end`,
        ];
        const mismatches: string[] = [];
        const check = (what: string, want: unknown, got: unknown) => {
          if (JSON.stringify(want) !== JSON.stringify(got)) {
            mismatches.push(`${what}\n    llama.cpp ${JSON.stringify(want)}\n    ours      ${JSON.stringify(got)}`);
          }
        };
        for (const text of strings) {
          for (const parseSpecial of [false, true]) {
            const want = Array.from(model.tokenize(text, parseSpecial));
            check(
              `tokenize ${JSON.stringify(text)} parseSpecial=${parseSpecial}`,
              want,
              tokenizer.tokenize(text, { parseSpecial }),
            );
            check(
              `detokenize ${JSON.stringify(want)} special=${parseSpecial}`,
              model.detokenize(want, parseSpecial),
              tokenizer.detokenize(want, { special: parseSpecial }),
            );
          }
        }
        // pieces of single tokens (a sample across the vocabulary, and all specials)
        for (let id = 0; id < tokenizer.vocabSize; id += id < 600 ? 1 : 97) {
          for (const special of [false, true]) {
            check(
              `detokenize [${id}] special=${special}`,
              model.detokenize([id as Token], special),
              tokenizer.detokenize([id], { special }),
            );
          }
        }
        // end-of-generation and control flags over the whole vocabulary
        let flagMismatches = 0;
        for (let id = 0; id < tokenizer.vocabSize; id++) {
          const eog = model.isEogToken(id as Token);
          const control = model.getTokenAttributes(id as Token).control;
          if (eog !== tokenizer.isEog(id) || control !== tokenizer.isControl(id)) {
            if (flagMismatches++ < 5) check(`flags of ${id} ${tokenizer.tokenText(id)}`, { eog, control }, {});
          }
        }
        const t = model.tokens;
        check(
          'special ids, add_bos, add_eos',
          { bos: t.bos ?? undefined, eos: t.eos ?? undefined, eot: t.eot ?? undefined, sep: t.sep ?? undefined },
          { bos: tokenizer.bos, eos: tokenizer.eos, eot: tokenizer.eot, sep: tokenizer.sep },
        );
        check('add_bos', t.shouldPrependBosToken, tokenizer.addBos);
        check('add_eos', t.shouldAppendEosToken, tokenizer.addEos);
        expect(mismatches, `${mismatches.length} mismatches:\n${mismatches.slice(0, 12).join('\n')}`).toEqual([]);
        expect(flagMismatches).toBe(0);
      } finally {
        await model.dispose();
      }
    }, 180_000);
  }
});
