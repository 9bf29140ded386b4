/**
 * Every pre-tokenizer llama.cpp has, checked against llama.cpp live: the GPT-2
 * vocabulary is re-written with each `tokenizer.ggml.pre` value (one per
 * distinct behaviour) and loaded by node-llama-cpp. BPE never merges across pre-tokenizer words, so
 * any difference in splitting shows up in the token ids.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GGUFMetadataEntry } from '../../../../engine/gguf/types.ts';
import { kv, writeGGUF } from '../../../../engine/gguf/writer.ts';
import { loadTokenizer, SUPPORTED_PRE_TOKENIZERS } from '../../../../engine/tokenizer/index.ts';
import { preTokenizerFor } from '../../../../engine/tokenizer/pre-table.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { disposeOracle, oracle } from './oracle.ts';
import { TRICKY } from './tricky-strings.ts';
import { readVocabMetadata } from './vocab-fixture.ts';

const gpt2 = fixture('vocab/ggml-vocab-gpt-2.gguf');
const vocabDir = fixture('vocab');

const EXTRA = [
  '1234567 12 123 1234 12345678901 ٣٤٥٦٧',
  "It's 'S 'll 'VE 'Re x'd 'm",
  'CamelCaseWord HTTPServer iPhone ÉCOLE école',
  'a/b/c\r\n/d //e',
  '<sentinel:12> IMGIMGABCZ  \t\n    x',
  '   indented\n\n\n  \t code',
  '中文，测试。日本語！カタカナ 한국어 ㄱㄴ',
  '…。，、।۔، punctuation (a|b)',
];

afterAll(disposeOracle);

let dir: string;

describe.skipIf(!gpt2)('pre-tokenizers against llama.cpp (GPT-2 vocab re-labelled)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'chord-pre-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('knows every name llama.cpp knows', () => {
    expect(SUPPORTED_PRE_TOKENIZERS.length).toBeGreaterThanOrEqual(85);
  });

  // 'whitespace' belongs to the 'whitespace' tokenizer model, which drops white space before BPE;
  // with a GPT-2 model llama.cpp would hand BPE words with spaces and abort (GGML_ASSERT).
  // One name per distinct behaviour: names that select the same pre-tokenizer and flags are
  // aliases (pre-tokenizer-table.test.ts checks each name's mapping against llama.cpp's source).
  const seen = new Set<string>();
  const distinct = SUPPORTED_PRE_TOKENIZERS.filter((p) => {
    const key = JSON.stringify(preTokenizerFor(p));
    if (seen.has(key)) return false;
    seen.add(key);
    return p !== 'whitespace';
  });
  const cases: [model: string, pre: string][] = [
    ...distinct.map((p): [string, string] => ['gpt2', p]),
    ['whitespace', 'whitespace'],
  ];
  for (const [tokenizerModel, pre] of cases) {
    it(tokenizerModel === 'gpt2' ? pre : `${pre} (model ${tokenizerModel})`, async () => {
      const base = await readVocabMetadata(gpt2!);
      const metadata = new Map<string, GGUFMetadataEntry>(base);
      metadata.set('tokenizer.ggml.model', kv.str(tokenizerModel));
      metadata.set('tokenizer.ggml.pre', kv.str(pre));
      const path = join(dir, `${tokenizerModel}-${pre.replace(/[^\w.-]/g, '_')}.gguf`);
      writeFileSync(path, writeGGUF({ metadata, tensors: [] }));
      const tokenizer = loadTokenizer(metadata);
      const model = await (await oracle()).loadModel({ modelPath: path, vocabOnly: true });
      try {
        const mismatches: string[] = [];
        for (const text of [...TRICKY, ...EXTRA]) {
          for (const parseSpecial of [false, true]) {
            const want = Array.from(model.tokenize(text, parseSpecial));
            const got = tokenizer.tokenize(text, { parseSpecial });
            if (JSON.stringify(want) !== JSON.stringify(got)) {
              mismatches.push(
                `${JSON.stringify(text)} parseSpecial=${parseSpecial}\n    llama.cpp ${want}\n    ours      ${got}`,
              );
            }
            const dWant = model.detokenize(want, parseSpecial);
            const dGot = tokenizer.detokenize(want, { special: parseSpecial });
            if (dWant !== dGot) mismatches.push(`detokenize ${JSON.stringify(dWant)} vs ${JSON.stringify(dGot)}`);
          }
        }
        expect(tokenizer.addBos, 'add_bos').toBe(model.tokens.shouldPrependBosToken);
        expect(mismatches, mismatches.slice(0, 6).join('\n')).toEqual([]);
      } finally {
        await model.dispose();
      }
    }, 60_000);
  }
});

/** Metadata flags that change tokenization, each checked against llama.cpp on a re-written vocab. */
const VARIANTS: [vocab: string, label: string, overrides: Record<string, GGUFMetadataEntry | undefined>][] = [
  ['llama-spm', 'add_space_prefix=false', { 'tokenizer.ggml.add_space_prefix': kv.bool(false) }],
  ['phi-3', 'not named phi-3 (no rstrip on special tokens)', { 'general.name': kv.str('some-model') }],
  ['llama-spm', 'no token types', { 'tokenizer.ggml.token_type': undefined }],
  ['bert-bge', 'lowercase=false', { 'tokenizer.ggml.normalizer.lowercase': kv.bool(false) }],
  ['bert-bge', 'strip_accents=false', { 'tokenizer.ggml.normalizer.strip_accents': kv.bool(false) }],
  ['nomic-bert-moe', 'remove_extra_whitespaces=false', { 'tokenizer.ggml.remove_extra_whitespaces': kv.bool(false) }],
  ['nomic-bert-moe', 'add_space_prefix=false', { 'tokenizer.ggml.add_space_prefix': kv.bool(false) }],
  [
    'gpt-2',
    'add_bos, add_eos, eot id',
    {
      'tokenizer.ggml.add_bos_token': kv.bool(true),
      'tokenizer.ggml.add_eos_token': kv.bool(true),
      'tokenizer.ggml.eot_token_id': kv.u32(13),
    },
  ],
  ['gemma-4', 'add_bos=false (llama.cpp forces it)', { 'tokenizer.ggml.add_bos_token': kv.bool(false) }],
  ['qwen2', 'no pre (default)', { 'tokenizer.ggml.pre': undefined }],
];

describe.skipIf(!vocabDir)('vocab flags against llama.cpp (re-written vocabs)', () => {
  let flagsDir: string;
  beforeAll(() => {
    flagsDir = mkdtempSync(join(tmpdir(), 'chord-flags-'));
  });
  afterAll(() => {
    if (flagsDir) rmSync(flagsDir, { recursive: true, force: true });
  });

  VARIANTS.forEach(([vocab, label, overrides], i) => {
    it(`${vocab}: ${label}`, async () => {
      const metadata = new Map<string, GGUFMetadataEntry>(
        await readVocabMetadata(join(vocabDir!, `ggml-vocab-${vocab}.gguf`)),
      );
      for (const [key, entry] of Object.entries(overrides)) {
        if (entry) metadata.set(key, entry);
        else metadata.delete(key);
      }
      const path = join(flagsDir, `${i}.gguf`);
      writeFileSync(path, writeGGUF({ metadata, tensors: [] }));
      const tokenizer = loadTokenizer(metadata);
      const model = await (await oracle()).loadModel({ modelPath: path, vocabOnly: true });
      try {
        const specials = [tokenizer.bos, tokenizer.eos, tokenizer.eot, tokenizer.unk]
          .filter((id) => id !== undefined)
          .map((id) => tokenizer.tokenText(id!));
        const mismatches: string[] = [];
        for (const text of [...TRICKY, ...EXTRA, specials.map((s) => ` ${s}  a \n`).join('')]) {
          for (const parseSpecial of [false, true]) {
            const want = Array.from(model.tokenize(text, parseSpecial));
            const got = tokenizer.tokenize(text, { parseSpecial });
            if (JSON.stringify(want) !== JSON.stringify(got)) {
              mismatches.push(
                `${JSON.stringify(text)} parseSpecial=${parseSpecial}\n    llama.cpp ${want}\n    ours      ${got}`,
              );
            }
            const dWant = model.detokenize(want, parseSpecial);
            const dGot = tokenizer.detokenize(want, { special: parseSpecial });
            if (dWant !== dGot) mismatches.push(`detokenize ${JSON.stringify(dWant)} vs ${JSON.stringify(dGot)}`);
          }
        }
        // node-llama-cpp only reports BOS/EOS/EOT when they are control tokens (and add_bos/add_eos only with a BOS)
        const control = (id: number | undefined) => (id !== undefined && tokenizer.isControl(id) ? id : undefined);
        const bos = control(tokenizer.bos);
        expect(bos, 'bos').toBe(model.tokens.bos ?? undefined);
        expect(tokenizer.addBos && bos !== undefined, 'add_bos').toBe(model.tokens.shouldPrependBosToken);
        expect(tokenizer.addEos && bos !== undefined, 'add_eos').toBe(model.tokens.shouldAppendEosToken);
        expect(tokenizer.eot, 'eot').toBe(model.tokens.eot ?? undefined); // reported as is
        expect(mismatches, mismatches.slice(0, 6).join('\n')).toEqual([]);
      } finally {
        await model.dispose();
      }
    }, 60_000);
  });
});
