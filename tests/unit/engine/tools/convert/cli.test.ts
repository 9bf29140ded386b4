/**
 * `chord convert` through the CLI entry (engine/node/cli.ts main): exit codes,
 * the --json summary, the written file, and errors that name what is wrong.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../../../engine/node/cli.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { readHeader } from './harness.ts';
import { writeHFFolder } from './hf-model.ts';

let dir = '';
let hfDir = '';
// The folder's tokenizer_config.json has no chat template: the one in chat_template.jinja is used.
const TEMPLATE = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chord-convert-cli-'));
  hfDir = join(dir, 'hf');
  mkdirSync(hfDir, { recursive: true });
  writeFileSync(join(hfDir, 'chat_template.jinja'), TEMPLATE);
  writeHFFolder(
    hfDir,
    { family: 'llama', tokenizer: 'llama2', dim: 64, nLayers: 1, nHeads: 4, nKvHeads: 4, ffn: 64, tied: true },
    3,
  );
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function capture(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    stdout += String(s);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    stderr += String(s);
    return true;
  });
  const log = vi.spyOn(console, 'log').mockImplementation((s) => {
    stdout += `${s}\n`;
  });
  const error = vi.spyOn(console, 'error').mockImplementation((s) => {
    stderr += `${s}\n`;
  });
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    for (const s of [out, err, log, error]) s.mockRestore();
  }
}

describe('chord convert', () => {
  it('converts a folder, reports each tensor and a JSON summary', async () => {
    const outPath = join(dir, 'out.gguf');
    const r = await capture(['convert', hfDir, outPath, '--type', 'q8_0', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ file: outPath, type: 'Q8_0', tensors: 11 });
    expect(summary.bytes).toBe((await readFile(outPath)).length);
    expect(r.stderr).toMatch(/\[ 1\/11\] token_embd\.weight\s+Q8_0/);
    const file = await readHeader(outPath);
    expect(file.metadata.get('general.file_type')?.value).toBe(7);
    expect(file.metadata.get('tokenizer.chat_template')?.value).toBe(TEMPLATE);
    expect(file.tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.type).toBe(GGMLType.Q8_0);
    expect(file.tensors.find((t) => t.name === 'output_norm.weight')?.type).toBe(GGMLType.F32);
  });

  it('refuses bad usage with exit code 1', async () => {
    expect((await capture(['convert', hfDir])).code).toBe(1);
    const r = await capture(['convert', hfDir, join(dir, 'x.gguf'), '--type', 'Q9_9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--type Q9_9: one of F32, F16, .*Q8_0/);
  });

  it('names an architecture it cannot convert (exit code 2), leaving no file behind', async () => {
    const other = join(dir, 'other');
    writeHFFolder(
      other,
      { family: 'llama', tokenizer: 'llama2', dim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, ffn: 32 },
      1,
    );
    const config = JSON.parse(await readFile(join(other, 'config.json'), 'utf8'));
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...config, architectures: ['MambaForCausalLM'] }));
    const outPath = join(other, 'x.gguf');
    const r = await capture(['convert', other, outPath]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/UNSUPPORTED_ARCHITECTURE.*MambaForCausalLM/);
    await expect(readFile(outPath)).rejects.toThrow();
    await expect(readFile(`${outPath}.partial`)).rejects.toThrow();
  });

  it('refuses shards that miss a tensor their index lists', async () => {
    const sharded = join(dir, 'sharded');
    writeHFFolder(
      sharded,
      { family: 'llama', tokenizer: 'llama2', dim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, ffn: 32, shards: 2 },
      2,
    );
    const indexPath = join(sharded, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    index.weight_map['model.layers.1.mlp.up_proj.weight'] = 'model-00002-of-00002.safetensors';
    writeFileSync(indexPath, JSON.stringify(index));
    const r = await capture(['convert', sharded, join(sharded, 'x.gguf')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /MODEL_INVALID: model-00002-of-00002.safetensors has no tensor 'model.layers.1.mlp.up_proj.weight'/,
    );
  });

  it('refuses an embedding whose rows do not match the token list', async () => {
    const other = join(dir, 'mismatch');
    writeHFFolder(
      other,
      { family: 'llama', tokenizer: 'llama2', dim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, ffn: 32 },
      4,
    );
    const config = JSON.parse(await readFile(join(other, 'config.json'), 'utf8'));
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...config, vocab_size: 32016 }));
    const r = await capture(['convert', other, join(other, 'x.gguf')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MODEL_INVALID: the embedding has 32000 rows for 32016 tokens/);
  });
});
