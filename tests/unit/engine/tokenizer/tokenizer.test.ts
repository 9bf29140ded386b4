/**
 * The Tokenizer API beyond llama.cpp's own test cases: streaming decode of
 * byte-fallback tokens, detokenize round trips, add_special, errors, speed,
 * and the code point table.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GGUFMetadataEntry } from '../../../../engine/gguf/types.ts';
import { GGUFValueType } from '../../../../engine/gguf/types.ts';
import { loadTokenizer, type Tokenizer } from '../../../../engine/tokenizer/index.ts';
import {
  CPT_LETTER,
  CPT_NUMBER,
  CPT_UNDEFINED,
  CPT_WHITESPACE,
  cptFlags,
} from '../../../../engine/tokenizer/unicode.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { readVocabMetadata } from './vocab-fixture.ts';

const vocabDir = fixture('vocab');
const stories = fixture('models/stories260K.gguf');

async function vocab(name: string): Promise<Tokenizer> {
  return loadTokenizer(await readVocabMetadata(join(vocabDir!, `ggml-vocab-${name}.gguf`)));
}

const isByteToken = (t: Tokenizer, id: number) => /^<0x[0-9A-F]{2}>$/.test(t.tokenText(id));

function streamAll(t: Tokenizer, ids: readonly number[], special = false): string[] {
  const decoder = t.createStreamDecoder({ special });
  const chunks = ids.map((id) => decoder.push(id));
  chunks.push(decoder.flush());
  return chunks;
}

describe.skipIf(!stories)('stream decoding (stories260K: 512 tokens, emoji and CJK become byte tokens)', () => {
  it('never emits a broken UTF-8 sequence and adds up to the text', async () => {
    const t = loadTokenizer(await readVocabMetadata(stories!));
    const text = 'Lily saw a 🦙 and said 你好! Ünïcödé 🚀🚀';
    const ids = t.tokenize(text);
    expect(ids.filter((id) => isByteToken(t, id)).length).toBeGreaterThan(10);
    const chunks = streamAll(t, ids);
    for (const c of chunks) expect(c).not.toContain('\ufffd');
    // some chunks are empty: the decoder held bytes back until their character was complete
    expect(chunks.some((c, i) => c === '' && i < ids.length)).toBe(true);
    expect(chunks.join('')).toBe(` ${text}`); // SPM adds the leading space; the stream keeps it
    expect(t.detokenize(ids)).toBe(text); // detokenize removes it, as llama.cpp does
  });
});

describe.skipIf(!vocabDir)('tokenizer API on the llama.cpp vocabs', () => {
  it('streams byte-fallback emoji in llama-spm without U+FFFD', async () => {
    const t = await vocab('llama-spm');
    const text = '🦙🦙 llama 𝔘𝔫𝔦 🏽🇫🇷';
    const ids = t.tokenize(text);
    expect(ids.some((id) => isByteToken(t, id))).toBe(true);
    const chunks = streamAll(t, ids);
    for (const c of chunks) expect(c).not.toContain('\ufffd');
    expect(chunks.join('')).toBe(` ${text}`);
  });

  it('streams byte-level BPE pieces that split characters (llama-bpe)', async () => {
    const t = await vocab('llama-bpe');
    const text = '🦙 a 𠀀 b 👩‍👩‍👧‍👦';
    const ids = t.tokenize(text);
    // a byte-level token holding part of a character decodes to an incomplete sequence on its own
    expect(ids.some((id) => new TextDecoder().decode(t.tokenToPiece(id)).includes('\ufffd'))).toBe(true);
    const chunks = streamAll(t, ids);
    for (const c of chunks) expect(c).not.toContain('\ufffd');
    expect(chunks.join('')).toBe(text);
  });

  it('emits U+FFFD for bytes that can never complete a character, and on flush', async () => {
    const t = await vocab('llama-spm');
    const byteId = (b: number) => {
      const text = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      for (let id = 0; id < 300; id++) if (t.tokenText(id) === text) return id;
      throw new Error(`no ${text}`);
    };
    const d = t.createStreamDecoder();
    expect(d.push(t.tokenize('a')[0])).toBe(' a');
    expect(d.push(byteId(0x80))).toBe('\ufffd'); // a continuation byte with nothing to continue
    expect(d.push(byteId(0xf0))).toBe(''); // the start of a 4-byte sequence: held
    expect(d.push(byteId(0x9f))).toBe('');
    expect(d.flush()).toBe('\ufffd'); // the stream ended inside the sequence
  });

  it('hides control tokens unless special is asked for', async () => {
    const t = await vocab('llama-bpe');
    expect(t.tokenToPiece(t.bos!)).toEqual(new Uint8Array(0));
    expect(new TextDecoder().decode(t.tokenToPiece(t.bos!, { special: true }))).toBe('<|begin_of_text|>');
    expect(t.isControl(t.bos!)).toBe(true);
    expect(t.isEog(t.eos!)).toBe(true);
    expect(t.isEog(t.bos!)).toBe(false);
    const ids = t.tokenize('<|begin_of_text|>hi<|eot_id|>', { parseSpecial: true });
    expect(ids[0]).toBe(t.bos);
    expect(t.isEog(ids[ids.length - 1])).toBe(true);
    expect(t.detokenize(ids)).toBe('hi');
    expect(t.detokenize(ids, { special: true })).toBe('<|begin_of_text|>hi<|eot_id|>');
    expect(t.tokenize('<|begin_of_text|>hi').length).toBeGreaterThan(3); // plain text without parseSpecial
  });

  it('round-trips text through tokenize and detokenize (SPM and byte-level BPE)', async () => {
    const texts = [
      'Hello world',
      'The quick brown fox\njumps over\tthe lazy dog.',
      '🦙 日本語 한국어 café',
      '  two leading spaces and trailing  ',
      'def f(x):\n    return x  # note\n',
    ];
    for (const name of ['llama-spm', 'phi-3', 'gemma-4', 'llama-bpe', 'qwen2', 'gpt-2', 'command-r', 'deepseek-llm']) {
      const t = await vocab(name);
      for (const text of texts) expect(t.detokenize(t.tokenize(text)), `${name}: ${JSON.stringify(text)}`).toBe(text);
    }
  });

  it('adds BOS/EOS with addSpecial as the vocab asks (CLS/SEP for WPM)', async () => {
    const text = 'Hello world';
    for (const name of ['llama-spm', 'llama-bpe', 'gpt-2', 'qwen2', 'gemma-4', 'nomic-bert-moe']) {
      const t = await vocab(name);
      const plain = t.tokenize(text);
      const expected = [...(t.addBos ? [t.bos!] : []), ...plain, ...(t.addEos ? [t.eos!] : [])];
      expect(t.tokenize(text, { addSpecial: true }), name).toEqual(expected);
    }
    const spm = await vocab('llama-spm');
    expect(spm.addBos).toBe(true);
    expect(spm.tokenize('', { addSpecial: true })).toEqual([spm.bos]);
    const bert = await vocab('bert-bge');
    expect(bert.model).toBe('wpm');
    expect(bert.tokenize(text, { addSpecial: true })).toEqual([bert.cls, ...bert.tokenize(text), bert.sep]);
    expect(bert.cls).toBe(101);
    expect(bert.sep).toBe(102);
  });

  it('reports the tokenizer kind and vocabulary', async () => {
    const cases: [string, string, number][] = [
      ['llama-spm', 'spm', 32000],
      ['llama-bpe', 'bpe', 128256],
      ['bert-bge', 'wpm', 30522],
      ['nomic-bert-moe', 'ugm', 250048],
      ['gemma-4', 'bpe', 262144],
    ];
    for (const [name, model, size] of cases) {
      const t = await vocab(name);
      expect([t.model, t.vocabSize]).toEqual([model, size]);
    }
    const t = await vocab('llama-spm');
    expect(t.tokenText(1)).toBe('<s>');
    expect(() => t.tokenText(32000)).toThrow();
  });

  it('tokenizes a few KB in milliseconds', async () => {
    const text =
      'The quick brown fox jumps over the lazy dog. 日本語のテキスト 🦙 f(x) { return x * 2; }\n\t  12345 '.repeat(50);
    for (const name of ['llama-spm', 'llama-bpe', 'qwen2', 'gemma-4', 'deepseek-llm', 'bert-bge', 'nomic-bert-moe']) {
      const t = await vocab(name);
      t.tokenize(text.slice(0, 500)); // warm up
      const t0 = performance.now();
      const ids = t.tokenize(text);
      const ms = performance.now() - t0;
      expect(ids.length).toBeGreaterThan(1000);
      expect(ms, `${name}: ${text.length} chars took ${ms.toFixed(1)} ms`).toBeLessThan(300);
    }
  });
});

function withEntry(
  meta: ReadonlyMap<string, GGUFMetadataEntry>,
  key: string,
  entry: GGUFMetadataEntry | undefined,
): Map<string, GGUFMetadataEntry> {
  const m = new Map(meta);
  if (entry) m.set(key, entry);
  else m.delete(key);
  return m;
}

const str = (value: string): GGUFMetadataEntry => ({ type: GGUFValueType.STRING, value });

function expectChordError(fn: () => unknown, code: 'TOKENIZER_UNSUPPORTED' | 'TOKENIZER_INVALID', text?: string) {
  try {
    fn();
  } catch (e) {
    expect(isChordError(e, code), String(e)).toBe(true);
    if (text) expect((e as Error).message).toContain(text);
    return;
  }
  throw new Error('expected a ChordError');
}

describe.skipIf(!vocabDir)('loading errors', () => {
  it('names an unknown pre-tokenizer; "default" and a missing one are the default', async () => {
    const meta = await readVocabMetadata(join(vocabDir!, 'ggml-vocab-gpt-2.gguf'));
    expectChordError(
      () => loadTokenizer(withEntry(meta, 'tokenizer.ggml.pre', str('no-such-pre'))),
      'TOKENIZER_UNSUPPORTED',
      'no-such-pre',
    );
    expect(loadTokenizer(withEntry(meta, 'tokenizer.ggml.pre', str('default'))).model).toBe('bpe');
    expect(loadTokenizer(withEntry(meta, 'tokenizer.ggml.pre', undefined)).model).toBe('bpe');
  });

  it('rejects unknown tokenizer models and broken vocabularies', async () => {
    const meta = await readVocabMetadata(join(vocabDir!, 'ggml-vocab-llama-spm.gguf'));
    expectChordError(
      () => loadTokenizer(withEntry(meta, 'tokenizer.ggml.model', str('rwkv'))),
      'TOKENIZER_UNSUPPORTED',
    );
    expectChordError(() => loadTokenizer(withEntry(meta, 'tokenizer.ggml.model', undefined)), 'TOKENIZER_INVALID');
    expectChordError(() => loadTokenizer(withEntry(meta, 'tokenizer.ggml.tokens', undefined)), 'TOKENIZER_INVALID');
    const bpe = await readVocabMetadata(join(vocabDir!, 'ggml-vocab-gpt-2.gguf'));
    expectChordError(() => loadTokenizer(withEntry(bpe, 'tokenizer.ggml.merges', undefined)), 'TOKENIZER_INVALID');
    expectChordError(
      () =>
        loadTokenizer(
          withEntry(meta, 'tokenizer.ggml.scores', {
            type: GGUFValueType.ARRAY,
            arrayType: GGUFValueType.FLOAT32,
            value: [0],
          }),
        ),
      'TOKENIZER_INVALID',
    );
  });
});

describe("code point classes (llama.cpp's table)", () => {
  it('classifies as llama.cpp does', () => {
    expect(cptFlags(0x41) & CPT_LETTER).toBeTruthy();
    expect(cptFlags(0x663) & CPT_NUMBER).toBeTruthy(); // ARABIC-INDIC DIGIT THREE
    expect(cptFlags(0x3000) & CPT_WHITESPACE).toBeTruthy();
    expect(cptFlags(0x20000) & CPT_LETTER).toBeTruthy(); // CJK extension B, beyond the BMP
    expect(cptFlags(0x110000)).toBe(CPT_UNDEFINED);
  });

  it('predates Unicode 16: code points assigned since are undefined, where JS knows them', () => {
    // U+1C89 CYRILLIC CAPITAL LETTER TJE (Unicode 16.0)
    expect(/\p{L}/u.test('\u1c89')).toBe(true);
    expect(cptFlags(0x1c89)).toBe(CPT_UNDEFINED);
  });
});
