/**
 * Node only: a Hugging Face model folder on disk, and the whole conversion to a
 * GGUF file (streamed: the output is written tensor by tensor).
 *
 * The folder holds config.json, tokenizer.json, optionally tokenizer_config.json
 * (special tokens, chat template) or chat_template.jinja / chat_template.json,
 * and the weights: model.safetensors, or shards listed by
 * model.safetensors.index.json.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ChordError } from '../../shared/errors.ts';
import { writeGGUFStream } from '../gguf/writer.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { type ConvertOptions, type HFModel, type HFTensor, planConversion } from '../tools/convert/convert.ts';
import { parseSafetensorsIndex, readSafetensors } from '../tools/safetensors.ts';
import { fromFile } from './file-source.ts';
import { writeThroughPartialFile } from './partial-file.ts';

async function readJson(path: string, required: true): Promise<Record<string, unknown>>;
async function readJson(path: string, required: false): Promise<Record<string, unknown> | undefined>;
async function readJson(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) {
    if (required) throw new ChordError('MODEL_NOT_FOUND', `${path} not found`, { path });
    return undefined;
  }
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ChordError('MODEL_INVALID', `${path}: ${e instanceof Error ? e.message : String(e)}`, { path });
  }
}

/**
 * The safetensors files of a folder: the index's shards, else every *.safetensors,
 * sorted; and the index's tensor-to-shard map when there is one.
 */
async function shardNames(dir: string): Promise<{ shards: string[]; index?: Map<string, string> }> {
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (existsSync(indexPath)) {
    const index = parseSafetensorsIndex(await readFile(indexPath, 'utf8'), indexPath);
    return { shards: [...new Set(index.values())].sort(), index };
  }
  const shards = (await readdir(dir)).filter((n) => n.endsWith('.safetensors')).sort();
  if (shards.length === 0) throw new ChordError('MODEL_NOT_FOUND', `${dir}: no *.safetensors files`, { path: dir });
  return { shards };
}

export interface OpenHFFolder extends HFModel {
  close(): Promise<void>;
}

/** Reads the folder's JSON files and every shard's header; tensor data stays on disk. */
export async function openHFFolder(dir: string): Promise<OpenHFFolder> {
  const config = await readJson(join(dir, 'config.json'), true);
  const tokenizer = await readJson(join(dir, 'tokenizer.json'), true);
  const tokenizerConfig = await readJson(join(dir, 'tokenizer_config.json'), false);
  let chatTemplateFile: string | undefined;
  if (existsSync(join(dir, 'chat_template.jinja'))) {
    chatTemplateFile = await readFile(join(dir, 'chat_template.jinja'), 'utf8');
  } else {
    const json = await readJson(join(dir, 'chat_template.json'), false);
    if (typeof json?.chat_template === 'string') chatTemplateFile = json.chat_template;
  }

  const sources: ByteSource[] = [];
  const close = async () => {
    for (const s of sources) await s.close?.();
  };
  try {
    const tensors: HFTensor[] = [];
    const seen = new Set<string>();
    const { shards, index } = await shardNames(dir);
    for (const shard of shards) {
      const source = await fromFile(join(dir, shard));
      sources.push(source);
      const file = await readSafetensors(source);
      for (const info of file.tensors.values()) {
        if (seen.has(info.name)) throw new ChordError('MODEL_INVALID', `tensor '${info.name}' is in two shards`);
        seen.add(info.name);
        tensors.push({ info, source });
      }
    }
    // A shard missing a tensor its index lists: an incomplete download or a wrong index.
    for (const [name, shard] of index ?? []) {
      if (!seen.has(name))
        throw new ChordError('MODEL_INVALID', `${shard} has no tensor '${name}' (the index lists it)`);
    }
    const name = basename(resolve(dir));
    return { name, config, tokenizer, tokenizerConfig, chatTemplateFile, tensors, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Converts the folder into `outPath` (written to a temporary name beside it and
 * renamed when complete). Resolves to the file size.
 */
export async function convertHFFolder(dir: string, outPath: string, opts: ConvertOptions = {}): Promise<number> {
  const model = await openHFFolder(dir);
  try {
    const { spec } = planConversion(model, opts);
    return await writeThroughPartialFile(outPath, (sink) => writeGGUFStream(spec, sink));
  } finally {
    await model.close();
  }
}
