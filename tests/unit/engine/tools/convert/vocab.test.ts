/**
 * The converter's vocabulary rules on small hand-written tokenizer.json files:
 * pre-tokenizer recognition, merges in both formats, token types, [PAD] filling,
 * special-token keys (gguf-py's spelling), add_bos/add_eos, chat templates.
 */
import { describe, expect, it } from 'vitest';
import type { GGUFMetadataEntry } from '../../../../../engine/gguf/types.ts';
import {
  convertVocab,
  detectPreTokenizer,
  looksSpecial,
  TokenType,
} from '../../../../../engine/tools/convert/vocab.ts';

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const split = (regex: string) => ({
  type: 'Sequence',
  pretokenizers: [
    { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
  ],
});

function byteLevel(extra: Record<string, unknown> = {}) {
  return {
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2, Ġ: 3, ĠĠ: 4 }, merges: ['a b', 'Ġ Ġ'] },
    added_tokens: [
      { id: 5, content: '<|end|>', special: true },
      { id: 6, content: '<think>', special: false },
      { id: 7, content: '<|im_start|>', special: false },
    ],
    pre_tokenizer: split(LLAMA3_REGEX),
    decoder: { type: 'ByteLevel' },
    ...extra,
  };
}

const asMap = (entries: Array<[string, GGUFMetadataEntry]>) => new Map(entries.map(([k, e]) => [k, e.value]));

describe('detectPreTokenizer', () => {
  it('recognises the pre-tokenizers of Llama 3, Qwen2, GPT-2 and SmolLM', () => {
    expect(detectPreTokenizer({ pre_tokenizer: split(LLAMA3_REGEX) })).toBe('llama-bpe');
    expect(detectPreTokenizer({ pre_tokenizer: split(LLAMA3_REGEX.replace('\\p{N}{1,3}', '\\p{N}')) })).toBe('qwen2');
    expect(detectPreTokenizer({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true } })).toBe(
      'gpt-2',
    );
    const smollm = {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    };
    expect(detectPreTokenizer({ pre_tokenizer: smollm })).toBe('smollm');
    expect(detectPreTokenizer({ pre_tokenizer: split('\\w+') })).toBe(undefined);
  });
});

describe('convertVocab', () => {
  it('byte-level BPE: tokens, types, merges, [PAD] up to config vocab_size', () => {
    const md = asMap(convertVocab({ tokenizer: byteLevel(), config: { vocab_size: 10 } }));
    expect(md.get('tokenizer.ggml.model')).toBe('gpt2');
    expect(md.get('tokenizer.ggml.pre')).toBe('llama-bpe');
    expect(md.get('tokenizer.ggml.tokens')).toEqual([
      'a',
      'b',
      'ab',
      'Ġ',
      'ĠĠ',
      '<|end|>',
      '<think>',
      '<|im_start|>',
      '[PAD8]',
      '[PAD9]',
    ]);
    const { NORMAL: N, CONTROL: C, USER_DEFINED: U, UNUSED: X } = TokenType;
    // <|im_start|> is not marked special but looks it (does_token_look_special).
    expect(md.get('tokenizer.ggml.token_type')).toEqual([N, N, N, N, N, C, U, C, X, X]);
    expect(md.get('tokenizer.ggml.merges')).toEqual(['a b', 'Ġ Ġ']);
  });

  it('merges given as pairs become "left right" with spaces as U+0120', () => {
    const tokenizer = byteLevel();
    tokenizer.model.merges = [
      ['a', 'b'],
      ['a b', 'c'],
    ] as unknown as string[];
    const md = asMap(convertVocab({ tokenizer, config: {} }));
    expect(md.get('tokenizer.ggml.merges')).toEqual(['a b', 'a\u0120b c']);
  });

  it('refuses an unknown pre-tokenizer unless --pre names one', () => {
    const tokenizer = byteLevel({ pre_tokenizer: split('\\w+') });
    expect(() => convertVocab({ tokenizer, config: {} })).toThrow(/--pre/);
    expect(asMap(convertVocab({ tokenizer, config: {} }, { pre: 'gpt-2' })).get('tokenizer.ggml.pre')).toBe('gpt-2');
  });

  it('refuses Unigram and WordPiece tokenizers, and ids beyond vocab_size', () => {
    expect(() => convertVocab({ tokenizer: { model: { type: 'Unigram' } }, config: {} })).toThrow(/Unigram/);
    expect(() => convertVocab({ tokenizer: byteLevel(), config: { vocab_size: 4 } })).toThrow(/vocab_size is 4/);
  });

  it('special tokens: tokenizer_config names, config.json ids, gguf-py key spellings, flags, templates', () => {
    const md = asMap(
      convertVocab({
        tokenizer: byteLevel({
          post_processor: {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<|end|>' } }, { Sequence: { id: 'A' } }],
          },
        }),
        tokenizerConfig: {
          bos_token: { content: '<|end|>' },
          eos_token: '<|end|>',
          unk_token: '<think>',
          chat_template: [
            { name: 'default', template: 'D' },
            { name: 'tool_use', template: 'T' },
          ],
        },
        config: { pad_token_id: 7, sep_token_id: 4, eos_token_id: 0 },
      }),
    );
    expect(md.get('tokenizer.ggml.bos_token_id')).toBe(5);
    expect(md.get('tokenizer.ggml.eos_token_id')).toBe(5); // tokenizer_config first, as SpecialVocab
    expect(md.get('tokenizer.ggml.unknown_token_id')).toBe(6);
    expect(md.get('tokenizer.ggml.padding_token_id')).toBe(7);
    expect(md.get('tokenizer.ggml.seperator_token_id')).toBe(4);
    expect(md.get('tokenizer.ggml.add_bos_token')).toBe(true);
    expect(md.get('tokenizer.chat_template')).toBe('D');
    expect(md.get('tokenizer.chat_template.tool_use')).toBe('T');
    expect(md.get('tokenizer.chat_templates')).toEqual(['tool_use']);
  });

  it('SentencePiece-style BPE: scores from merge ranks, byte and unknown types, space prefix', () => {
    const tokenizer = {
      model: {
        type: 'BPE',
        byte_fallback: true,
        unk_token: '<unk>',
        vocab: { '<unk>': 0, '<0x41>': 1, '▁': 2, a: 3, b: 4, '▁a': 5, ab: 6, '▁ab': 7 },
        merges: ['▁ a', 'a b', '▁a b', '▁ ab'],
      },
      added_tokens: [
        { id: 0, content: '<unk>', special: true },
        { id: 8, content: '▁user▁tag', special: false },
      ],
      normalizer: {
        type: 'Sequence',
        normalizers: [
          { type: 'Prepend', prepend: '▁' },
          { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
        ],
      },
      decoder: { type: 'Sequence', decoders: [] },
    };
    const md = asMap(convertVocab({ tokenizer, config: {} }));
    expect(md.get('tokenizer.ggml.model')).toBe('llama');
    expect(md.get('tokenizer.ggml.add_space_prefix')).toBe(true);
    // Each merged token scores -(rank of its first merge): ▁a 0, ab -1, ▁ab -2 (the later ▁+ab merge does not lower it).
    expect(md.get('tokenizer.ggml.scores')).toEqual([0, 0, 0, 0, 0, -0, -1, -2, -1000]);
    const { NORMAL: N, UNKNOWN: K, USER_DEFINED: U, BYTE: B } = TokenType;
    expect(md.get('tokenizer.ggml.token_type')).toEqual([K, B, N, N, N, N, N, N, U]);
    // User-defined tokens are stored pre-normalized (▁ as a space), as convert_hf_to_gguf.py does.
    expect((md.get('tokenizer.ggml.tokens') as string[])[8]).toBe(' user tag');
    const noPrefix = { ...tokenizer, normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' } };
    expect(asMap(convertVocab({ tokenizer: noPrefix, config: {} })).get('tokenizer.ggml.add_space_prefix')).toBe(false);
  });

  it('looksSpecial follows does_token_look_special', () => {
    for (const t of ['<pad>', '<mask>', '<2mass>', '[@BOS@]', '<|x|>', '<｜y｜>', '<unused12>'])
      expect(looksSpecial(t)).toBe(true);
    for (const t of ['<think>', '<s>', 'unused', '<|x']) expect(looksSpecial(t)).toBe(false);
  });
});
