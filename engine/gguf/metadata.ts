/**
 * Typed access to GGUF metadata. Each getter comes in two forms:
 *   getX(src, key)            the value; a missing key throws GGUF_MISSING_KEY
 *   getX(src, key, fallback)  the value, or `fallback` when the key is missing
 *   optX(src, key)            the value, or undefined when the key is missing
 * A key holding a value of the wrong type throws GGUF_INVALID in every form.
 */
import { ChordError } from '../../shared/errors.ts';
import { type GGUFFile, type GGUFMetadataEntry, type GGUFValue, GGUFValueType } from './types.ts';

export type MetadataSource = GGUFFile | ReadonlyMap<string, GGUFMetadataEntry>;

function mapOf(src: MetadataSource): ReadonlyMap<string, GGUFMetadataEntry> {
  return src instanceof Map ? src : (src as GGUFFile).metadata;
}

export function getEntry(src: MetadataSource, key: string): GGUFMetadataEntry | undefined {
  return mapOf(src).get(key);
}

export function hasKey(src: MetadataSource, key: string): boolean {
  return mapOf(src).has(key);
}

function missing(key: string): ChordError {
  return new ChordError('GGUF_MISSING_KEY', `metadata key '${key}' is missing`, { key });
}

function wrongType(key: string, expected: string, entry: GGUFMetadataEntry): ChordError {
  return new ChordError(
    'GGUF_INVALID',
    `metadata key '${key}' should hold ${expected}, has ${GGUFValueType[entry.type]}`,
    {
      key,
      type: entry.type,
    },
  );
}

const NUMERIC = new Set([
  GGUFValueType.UINT8,
  GGUFValueType.INT8,
  GGUFValueType.UINT16,
  GGUFValueType.INT16,
  GGUFValueType.UINT32,
  GGUFValueType.INT32,
  GGUFValueType.FLOAT32,
  GGUFValueType.UINT64,
  GGUFValueType.INT64,
  GGUFValueType.FLOAT64,
]);

/** A number from any numeric value; 64-bit integers must fit a double exactly. */
function toNumber(key: string, v: GGUFValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new ChordError('GGUF_INVALID', `metadata key '${key}' holds ${v}, too large for a number`, { key });
    }
    return Number(v);
  }
  throw new ChordError('GGUF_INVALID', `metadata key '${key}' does not hold a number`, { key });
}

// --- strings
export function optString(src: MetadataSource, key: string): string | undefined {
  const e = getEntry(src, key);
  if (e === undefined) return undefined;
  if (e.type !== GGUFValueType.STRING) throw wrongType(key, 'a string', e);
  return e.value as string;
}
export function getString(src: MetadataSource, key: string, fallback?: string): string {
  return optString(src, key) ?? fallbackOr(key, fallback);
}

// --- numbers (any integer or float type)
export function optNumber(src: MetadataSource, key: string): number | undefined {
  const e = getEntry(src, key);
  if (e === undefined) return undefined;
  if (!NUMERIC.has(e.type)) throw wrongType(key, 'a number', e);
  return toNumber(key, e.value);
}
export function getNumber(src: MetadataSource, key: string, fallback?: number): number {
  return optNumber(src, key) ?? fallbackOr(key, fallback);
}

// --- booleans
export function optBool(src: MetadataSource, key: string): boolean | undefined {
  const e = getEntry(src, key);
  if (e === undefined) return undefined;
  if (e.type !== GGUFValueType.BOOL) throw wrongType(key, 'a bool', e);
  return e.value as boolean;
}
export function getBool(src: MetadataSource, key: string, fallback?: boolean): boolean {
  return optBool(src, key) ?? fallbackOr(key, fallback);
}

// --- arrays
export function optArray(src: MetadataSource, key: string): readonly GGUFValue[] | undefined {
  const e = getEntry(src, key);
  if (e === undefined) return undefined;
  if (e.type !== GGUFValueType.ARRAY) throw wrongType(key, 'an array', e);
  return e.value as GGUFValue[];
}
export function getArray(src: MetadataSource, key: string, fallback?: readonly GGUFValue[]): readonly GGUFValue[] {
  return optArray(src, key) ?? fallbackOr(key, fallback);
}

/** An array of strings (e.g. tokenizer.ggml.tokens, tokenizer.ggml.merges). */
export function optStringArray(src: MetadataSource, key: string): readonly string[] | undefined {
  const e = getEntry(src, key);
  if (e === undefined) return undefined;
  if (e.type !== GGUFValueType.ARRAY || e.arrayType !== GGUFValueType.STRING) throw wrongType(key, 'strings', e);
  return e.value as string[];
}
export function getStringArray(src: MetadataSource, key: string, fallback?: readonly string[]): readonly string[] {
  return optStringArray(src, key) ?? fallbackOr(key, fallback);
}

/** An array of numbers of any numeric type (e.g. tokenizer.ggml.scores, token_type); 64-bit ints converted. */
export function optNumberArray(src: MetadataSource, key: string): readonly number[] | undefined {
  const e = getEntry(src, key);
  if (e === undefined) return undefined;
  if (e.type !== GGUFValueType.ARRAY || e.arrayType === undefined || !NUMERIC.has(e.arrayType)) {
    throw wrongType(key, 'numbers', e);
  }
  const v = e.value as GGUFValue[];
  return e.arrayType === GGUFValueType.UINT64 || e.arrayType === GGUFValueType.INT64
    ? v.map((x) => toNumber(key, x))
    : (v as number[]);
}
export function getNumberArray(src: MetadataSource, key: string, fallback?: readonly number[]): readonly number[] {
  return optNumberArray(src, key) ?? fallbackOr(key, fallback);
}

function fallbackOr<T>(key: string, fallback: T | undefined): T {
  if (fallback === undefined) throw missing(key);
  return fallback;
}
