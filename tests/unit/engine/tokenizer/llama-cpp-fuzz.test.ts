/**
 * Random strings (fast-check, fixed seed) built from the pieces tokenizers
 * trip over, plus random code points anywhere in Unicode, tokenized by us and
 * by llama.cpp (node-llama-cpp, live), with and without special parsing.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../../../engine/tokenizer/index.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { disposeOracle, oracle } from './oracle.ts';
import { readVocabMetadata } from './vocab-fixture.ts';

const PIECES = [
  'a',
  'Z',
  'hello',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  "'s",
  "'LL",
  '123',
  '4567',
  '.',
  ',',
  '!?',
  '...',
  '(',
  '{',
  '"',
  '-',
  '_',
  '日本',
  '中',
  '한',
  'é',
  'e\u0301',
  '\u0300',
  '🦙',
  '👩‍👧',
  '🇫🇷',
  '\u00a0',
  '\u3000',
  '\u200b',
  '\ufeff',
  '\u0000',
  '\u0085',
  'ß',
  'İ',
  'Σ',
  'ǅ',
  '<s>',
  '</s>',
  '<|endoftext|>',
  '<|im_start|>',
  '[CLS]',
  '<mask>',
  '▁',
  'Ġ',
  '\\',
  '$',
  '+',
  '<',
  '=',
  '>',
  '^',
  '`',
  '|',
  '~',
  '٣',
  '①',
  '½',
  'ﬁ',
];

const text = fc
  .array(
    fc.oneof(
      fc.constantFrom(...PIECES),
      fc.integer({ min: 0, max: 0x2fff }).map((c) => String.fromCodePoint(c)),
      fc
        .integer({ min: 0x3000, max: 0x10ffff })
        .filter((c) => c < 0xd800 || c > 0xdfff)
        .map((c) => String.fromCodePoint(c)),
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));

const vocabDir = fixture('vocab');
const VOCABS = [
  'llama-spm',
  'llama-bpe',
  'qwen35',
  'gemma-4',
  'deepseek-llm',
  'command-r',
  'bert-bge',
  'nomic-bert-moe',
];

describe.skipIf(!vocabDir)('random strings against llama.cpp', () => {
  afterAll(disposeOracle);

  for (const name of VOCABS) {
    it(name, async () => {
      const path = join(vocabDir!, `ggml-vocab-${name}.gguf`);
      const tokenizer = loadTokenizer(await readVocabMetadata(path));
      const model = await (await oracle()).loadModel({ modelPath: path, vocabOnly: true });
      try {
        fc.assert(
          fc.property(text, fc.boolean(), (s, parseSpecial) => {
            const want = Array.from(model.tokenize(s, parseSpecial));
            expect(tokenizer.tokenize(s, { parseSpecial })).toEqual(want);
            expect(tokenizer.detokenize(want, { special: parseSpecial })).toBe(model.detokenize(want, parseSpecial));
          }),
          { numRuns: 250, seed: 20261129 },
        );
      } finally {
        await model.dispose();
      }
    }, 120_000);
  }
});
