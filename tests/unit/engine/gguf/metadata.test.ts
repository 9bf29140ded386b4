import { describe, expect, it } from 'vitest';
import {
  getArray,
  getBool,
  getNumber,
  getNumberArray,
  getString,
  getStringArray,
  hasKey,
  optBool,
  optNumber,
  optString,
} from '../../../../engine/gguf/metadata.ts';
import { type GGUFMetadataEntry, GGUFValueType as T } from '../../../../engine/gguf/types.ts';
import { isChordError } from '../../../../shared/errors.ts';

const md = new Map<string, GGUFMetadataEntry>([
  ['s', { type: T.STRING, value: 'llama' }],
  ['u32', { type: T.UINT32, value: 7 }],
  ['f32', { type: T.FLOAT32, value: 0.5 }],
  ['u64', { type: T.UINT64, value: 2n ** 40n }],
  ['huge', { type: T.UINT64, value: 2n ** 60n }],
  ['b', { type: T.BOOL, value: true }],
  ['toks', { type: T.ARRAY, arrayType: T.STRING, value: ['a', 'b'] }],
  ['ids', { type: T.ARRAY, arrayType: T.INT64, value: [1n, -2n] }],
]);
const code = (c: string) => (e: unknown) => isChordError(e, c as never);

describe('metadata getters', () => {
  it('return typed values; 64-bit ints become numbers when exact', () => {
    expect(getString(md, 's')).toBe('llama');
    expect(getNumber(md, 'u32')).toBe(7);
    expect(getNumber(md, 'f32')).toBe(0.5);
    expect(getNumber(md, 'u64')).toBe(2 ** 40);
    expect(getBool(md, 'b')).toBe(true);
    expect(getStringArray(md, 'toks')).toEqual(['a', 'b']);
    expect(getNumberArray(md, 'ids')).toEqual([1, -2]);
    expect(getArray(md, 'ids')).toEqual([1n, -2n]);
    expect(hasKey(md, 's')).toBe(true);
  });

  it('missing keys: opt* gives undefined, a fallback is used, get* throws GGUF_MISSING_KEY', () => {
    expect(optString(md, 'nope')).toBeUndefined();
    expect(optNumber(md, 'nope')).toBeUndefined();
    expect(optBool(md, 'nope')).toBeUndefined();
    expect(getNumber(md, 'nope', 3)).toBe(3);
    expect(() => getNumber(md, 'nope')).toThrow(expect.objectContaining({ code: 'GGUF_MISSING_KEY' }));
    try {
      getString(md, 'nope');
      expect.unreachable();
    } catch (e) {
      expect(code('GGUF_MISSING_KEY')(e)).toBe(true);
    }
  });

  it('wrong types and inexact 64-bit values are GGUF_INVALID', () => {
    expect(() => getString(md, 'u32')).toThrow(expect.objectContaining({ code: 'GGUF_INVALID' }));
    expect(() => getNumber(md, 's')).toThrow(expect.objectContaining({ code: 'GGUF_INVALID' }));
    expect(() => getNumber(md, 'huge')).toThrow(expect.objectContaining({ code: 'GGUF_INVALID' }));
    expect(() => getStringArray(md, 'ids')).toThrow(expect.objectContaining({ code: 'GGUF_INVALID' }));
    expect(() => optBool(md, 'u32')).toThrow(expect.objectContaining({ code: 'GGUF_INVALID' }));
  });
});
