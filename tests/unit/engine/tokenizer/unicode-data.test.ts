import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../helpers/fixtures.ts';
import { generateUnicodeDataSource, readLlamaCppSource } from './unicode-data.gen.ts';

const target = join(repoRoot, 'engine/tokenizer/unicode-data.ts');

describe('unicode-data.ts', () => {
  it("is llama.cpp's unicode-data.cpp, re-encoded (CHORD_REGEN_UNICODE=1 rewrites it)", () => {
    const cpp = readLlamaCppSource(repoRoot, 'src/unicode-data.cpp');
    if (cpp === undefined) {
      if (process.env.CI) throw new Error('llama.cpp bundle from node-llama-cpp is missing');
      console.warn('[skip] llama.cpp source bundle not available');
      return;
    }
    const generated = generateUnicodeDataSource(cpp);
    if (process.env.CHORD_REGEN_UNICODE) writeFileSync(target, generated);
    expect(readFileSync(target, 'utf8')).toBe(generated);
  }, 30_000);
});
