/**
 * The pre-tokenizer table against llama.cpp's source (llama-vocab.cpp of the
 * release node-llama-cpp bundles): every `tokenizer.ggml.pre` name it accepts,
 * the regexes its type applies, byte encoding, and the vocab flags it sets.
 */
import { describe, expect, it } from 'vitest';
import {
  preTokenizerFor,
  preTokenizerRegexes,
  preTokenizerUsesByteEncoding,
  SUPPORTED_PRE_TOKENIZERS,
} from '../../../../engine/tokenizer/pre-table.ts';
import { repoRoot } from '../../../helpers/fixtures.ts';
import { readLlamaCppSource } from './unicode-data.gen.ts';

/** A C++ string literal's value: its escapes (\\ \" \r \n \t) are JSON's. */
const literal = (cpp: string): string => JSON.parse(cpp);
const LITERAL = /"(?:[^"\\]|\\.)*"/g;

interface LlamaPre {
  type: string;
  flags: Record<string, boolean>;
}

/** tokenizer_pre names -> pre type and flags, from the if/else chain in llama_vocab::impl::load. */
function parseNames(src: string): Map<string, LlamaPre> {
  const start = src.indexOf('} else if (tokenizer_pre == "default") {');
  const end = src.indexOf('unknown pre-tokenizer type', start);
  const out = new Map<string, LlamaPre>();
  for (const branch of src.slice(start, end).split('} else if (').slice(1)) {
    const names = [...branch.matchAll(/tokenizer_pre == ("(?:[^"\\]|\\.)*")/g)].map((m) => literal(m[1]));
    const type = /pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);/.exec(branch)?.[1];
    if (!type) throw new Error(`no pre_type in branch ${branch.slice(0, 80)}`);
    const flags: Record<string, boolean> = {};
    if (/clean_spaces = false;/.test(branch)) flags.cleanSpaces = false;
    if (/ignore_merges = true;/.test(branch)) flags.ignoreMerges = true;
    if (/add_bos = true;/.test(branch)) flags.addBos = true;
    if (/add_sep = true;/.test(branch)) flags.addSep = true;
    if (/escape_whitespaces = true;/.test(branch)) flags.escapeWhitespaces = true;
    if (/special_bos_id = LLAMA_TOKEN_NULL;/.test(branch)) flags.noBos = true;
    if (/normalizer_opts\.lowercase = false;/.test(branch)) flags.lowercase = false;
    for (const n of names) if (!out.has(n)) out.set(n, { type, flags });
  }
  return out;
}

/** pre type -> regexes and byte encoding, from the switch in llm_tokenizer_bpe's constructor. */
function parseRegexes(src: string): Map<string, { regexes: string[]; byteEncode: boolean }> {
  const start = src.indexOf('switch (vocab.get_pre_type()) {');
  const end = src.indexOf('std::vector<std::string> regex_exprs;', start);
  const out = new Map<string, { regexes: string[]; byteEncode: boolean }>();
  for (const group of src.slice(start, end).split(/\n\s*break;\n/)) {
    const types = [...group.matchAll(/case LLAMA_VOCAB_PRE_TYPE_(\w+):/g)].map((m) => m[1]);
    if (/\bdefault:/.test(group)) types.push('DEFAULT');
    const body = /regex_exprs = \{([\s\S]*?)\n\s*\};/.exec(group)?.[1];
    if (!body || types.length === 0) continue;
    const code = body
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => !l.startsWith('//'))
      .join('\n');
    const regexes = [...code.matchAll(LITERAL)].map((m) => literal(m[0]));
    const byteEncode = !/byte_encode = false;/.test(group);
    for (const t of types) out.set(t, { regexes, byteEncode });
  }
  return out;
}

const src = readLlamaCppSource(repoRoot, 'src/llama-vocab.cpp');

describe.skipIf(!src)(
  "pre-tokenizer table vs llama.cpp's llama-vocab.cpp",
  () => {
    const names = parseNames(src ?? '');
    const regexes = parseRegexes(src ?? '');

    it('accepts exactly the names llama.cpp accepts', () => {
      expect(names.size).toBeGreaterThan(80);
      expect(new Set(SUPPORTED_PRE_TOKENIZERS)).toEqual(new Set(['default', ...names.keys()]));
    });

    it('applies the same regexes, byte encoding and vocab flags for each name', () => {
      const problems: string[] = [];
      for (const [name, llama] of names) {
        const ours = preTokenizerFor(name);
        const want = regexes.get(llama.type);
        if (!ours || !want) {
          problems.push(`${name}: ${ours ? '' : 'unknown to us'} ${want ? '' : `no regexes for ${llama.type}`}`);
          continue;
        }
        if (JSON.stringify(preTokenizerRegexes(ours.name)) !== JSON.stringify(want.regexes)) {
          problems.push(`${name}: regexes differ from ${llama.type}`);
        }
        if (preTokenizerUsesByteEncoding(ours.name) !== want.byteEncode) problems.push(`${name}: byte encoding`);
        const { name: _, ...ourFlags } = ours;
        if (JSON.stringify(sorted(ourFlags)) !== JSON.stringify(sorted(llama.flags))) {
          problems.push(`${name}: flags ${JSON.stringify(ourFlags)} vs ${JSON.stringify(llama.flags)}`);
        }
      }
      expect(problems).toEqual([]);
    });
  },
  30_000,
);

function sorted(o: Record<string, unknown>): [string, unknown][] {
  return Object.entries(o).sort(([a], [b]) => a.localeCompare(b));
}
