/**
 * Our tokenizers against llama.cpp itself (node-llama-cpp 3.21.1, vocab-only
 * loads), computed live: tricky strings with and without special-token
 * parsing, detokenization, per-token pieces, end-of-generation and control
 * flags over the whole vocabulary, and the special ids and BOS/EOS flags.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { getLlama, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type Tokenizer } from '../../../../engine/tokenizer/index.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { readVocabMetadata } from './vocab-fixture.ts';

/** Strings where tokenizers tend to differ. */
export const TRICKY: readonly string[] = [
  '',
  ' ',
  '\n',
  'Hello world',
  ' Hello world',
  'Hello World! How are you?',
  '  leading spaces',
  'trailing spaces   ',
  '\n\n\nnewlines\r\n\r\nand CRLF\r',
  '   \n   \n\n\t\t  x  \r\n  ',
  'tabs\tand\t\tmore\t',
  `a${' '.repeat(40)}b`,
  ' '.repeat(17),
  '\t'.repeat(9),
  '🦙🦙 llama emoji 🚀',
  '👩‍👩‍👧‍👦 family 🇫🇷 flag 1️⃣ keycap ❤️ 👍🏽',
  '日本語のテキスト、東京。カタカナ ひらがな',
  '中文测试，你好世界！𠀀𠀁',
  '한국어 텍스트 ㄱㄴㄷ',
  'ÀÉÎÕÜ café naïve résumé Ångström',
  'e\u0301 combining a\u0300\u0301 Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗͚',
  'ﬁ ligature Ⅻ ½ ² ① ٣٤٥ ४२',
  '12345678901234567890',
  '3.14159 1,000,000 -42 0x1F 1e-9',
  'function f(x) { return x * 2; }\n\tif (a && b) { y += 1; }\n',
  'def main():\n    for i in range(10):\n        print(i)  # comment\n',
  "don't I'm we'll they've it's She'S YOU'RE o'clock ’s ’LL",
  '!!!???... ---- ==== ____ ****',
  '∀x∈ℝ: x²≥0 → ∞',
  'https://example.com/a?b=c&d=e#f user@example.com',
  '\u00a0nbsp\u2003em\u3000ideographic\u202fnarrow',
  'Ωmega σς ΣΑΣ İstanbul ǅ',
  '\u0000null\u0001ctl\u0007bell\u001b[31m',
  'zero\u200bwidth\ufeffbom\u200djoiner',
  'मराठी हिन्दी বাংলা',
  'العربية עברית',
  'ไทย ภาษา',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛',
  'new in Unicode 16: \u1c89\u1c8a \u{10d40}\u{10d41} \u0897',
  'x\u0085y\u2028z\u2029',
  'a'.repeat(300),
  '<s>hello</s>',
  '<|endoftext|><|im_start|>user',
  '<|im_start|>system\nYou are helpful<|im_end|>\n',
  '[CLS] [SEP] [MASK] [UNK]',
  '<unk> <pad> <mask>',
  ' <mask> test',
  '[PAD151646] user-defined?',
  '<start_of_turn>user\nhi<end_of_turn>',
  '<|user|> hi <|end|>\n<|assistant|>',
];

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

let llama: Llama;

describe.skipIf(files.length === 0)('tokenizers against llama.cpp (node-llama-cpp, live)', () => {
  beforeAll(async () => {
    llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: 'error' as never });
  }, 60_000);
  afterAll(async () => {
    await llama?.dispose();
  });

  for (const path of files) {
    const name = path.split('/').pop()!;
    it(name, async () => {
      const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
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
