/**
 * llama.cpp's own tokenizer test suite (test-tokenizer-0): every case of every
 * ggml-vocab-*.gguf.inp/.out pair in the shared fixtures, tokenized with
 * add_special = false and parse_special = false.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../../../engine/tokenizer/index.ts';
import { fixture } from '../../../helpers/fixtures.ts';
import { readVocabMetadata } from './vocab-fixture.ts';

const SEPARATOR = Buffer.from('\n__ggml_vocab_test__\n');

/** The cases of an .inp file: raw bytes split on the separator; the trailing separator ends the last case. */
export function readCases(path: string): Buffer[] {
  const bytes = readFileSync(path);
  const cases: Buffer[] = [];
  let start = 0;
  for (let at = bytes.indexOf(SEPARATOR, start); at >= 0; at = bytes.indexOf(SEPARATOR, start)) {
    cases.push(bytes.subarray(start, at));
    start = at + SEPARATOR.length;
  }
  if (start < bytes.length) cases.push(bytes.subarray(start));
  return cases;
}

/** The expected ids of an .out file: one line per case, trimmed; an empty line is no tokens. */
export function readExpected(path: string): number[][] {
  const lines = readFileSync(path, 'utf8').split('\n');
  return lines.map((l) => (l.trim() === '' ? [] : l.trim().split(/\s+/).map(Number)));
}

const vocabDir = fixture('vocab');
const pairs = vocabDir
  ? readdirSync(vocabDir)
      .filter((f) => f.endsWith('.gguf.inp'))
      .map((f) => f.slice(0, -'.inp'.length))
      .sort()
  : [];
const summary: string[] = [];

describe.skipIf(!vocabDir)("llama.cpp's tokenizer tests (fixtures/vocab)", () => {
  it('has the 15 .inp/.out pairs', () => {
    expect(pairs.length).toBe(15);
  });

  for (const name of pairs) {
    it(name, async () => {
      const dir = vocabDir!;
      const tokenizer = loadTokenizer(await readVocabMetadata(join(dir, name)));
      const cases = readCases(join(dir, `${name}.inp`));
      const expected = readExpected(join(dir, `${name}.out`));
      expect(cases.length).toBeGreaterThan(0);
      // one expected line per case (a trailing newline may add one empty line)
      expect(expected.length).toBeGreaterThanOrEqual(cases.length);
      expect(expected.slice(cases.length).every((ids) => ids.length === 0)).toBe(true);
      const decoder = new TextDecoder('utf-8', { fatal: true });
      const failures: string[] = [];
      cases.forEach((bytes, i) => {
        const text = decoder.decode(bytes);
        const got = tokenizer.tokenize(text);
        if (JSON.stringify(got) !== JSON.stringify(expected[i])) {
          failures.push(`#${i} ${JSON.stringify(text)}\n    want ${expected[i].join(' ')}\n    got  ${got.join(' ')}`);
        }
      });
      summary.push(`${name}: ${cases.length - failures.length}/${cases.length}`);
      expect(failures, failures.join('\n')).toEqual([]);
    });
  }

  afterAll(() => {
    if (summary.length) console.log(`per-vocab results:\n  ${summary.sort().join('\n  ')}`);
  });
});
