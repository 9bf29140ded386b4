/**
 * loadModelFromSource: which architectures load, and the errors for files we
 * cannot run (an unsupported architecture named in the error, a missing or
 * misshapen tensor).
 */
import { describe, expect, it } from 'vitest';
import { parseGGUF } from '../../../../engine/gguf/reader.ts';
import { kv, planGGUF, writeGGUF } from '../../../../engine/gguf/writer.ts';
import { fromBlob } from '../../../../engine/io/blob.ts';
import type { ByteSource } from '../../../../engine/io/byte-source.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { loadModelFromSource, SUPPORTED_ARCHITECTURES } from '../../../../engine/model/load.ts';
import { GGMLType } from '../../../../engine/quant/types.ts';
import { ChordError } from '../../../../shared/errors.ts';
import { type RandomArch, randomLlamaSpec, randomModel } from '../../../helpers/random-model.ts';

const SHAPE = {
  dim: 32,
  nLayers: 1,
  nHeads: 2,
  ffn: 64,
  weightType: GGMLType.F32,
  seed: 1,
  vocab: 'spm-bytes',
} as const;

const load = (bytes: Uint8Array) => loadModelFromSource(fromBlob(new Blob([new Uint8Array(bytes)])), { backend: 'js' });

/** The same file with its tensors (and metadata) changed. */
function rewrite(bytes: Uint8Array, edit: { drop?: string; arch?: string }): Uint8Array {
  const file = parseGGUF(bytes);
  const from = file.metadata.get('general.architecture')!.value as string;
  const metadata = [...file.metadata]
    .filter(([k]) => k !== 'general.alignment')
    .map(([k, e]) => {
      if (!edit.arch) return [k, e] as const;
      if (k === 'general.architecture') return [k, kv.str(edit.arch)] as const;
      return [k.startsWith(`${from}.`) ? `${edit.arch}.${k.slice(from.length + 1)}` : k, e] as const;
    });
  const tensors = file.tensors
    .filter((t) => t.name !== edit.drop)
    .map((t) => ({
      name: t.name,
      shape: t.shape,
      type: t.type,
      data: bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize),
    }));
  return writeGGUF({ metadata: metadata.map(([k, e]) => [k, e]), tensors });
}

describe('loadModelFromSource', () => {
  it('supports the families of engine/model/family.ts', () => {
    expect([...SUPPORTED_ARCHITECTURES].sort()).toEqual(['gemma', 'gemma2', 'llama', 'phi2', 'phi3', 'qwen2']);
  });

  for (const arch of ['llama', 'phi2', 'phi3', 'gemma', 'gemma2'] satisfies RandomArch[]) {
    it(`loads and runs a ${arch} model`, async () => {
      const model = await load(randomModel({ ...SHAPE, arch, vocabSize: arch === 'phi3' ? 300 : 259 }));
      try {
        expect(model.info.arch).toBe(arch);
        const logits = await model.createSequence({ contextSize: 16 }).evaluate([1, 5, 9]);
        expect(logits.length).toBe(model.info.hparams.vocabSize);
        expect(logits.every(Number.isFinite)).toBe(true);
      } finally {
        await model.dispose();
      }
    });
  }

  it('names an unsupported architecture in its error', async () => {
    const bytes = rewrite(randomModel(SHAPE), { arch: 'mamba' });
    await expect(load(bytes)).rejects.toMatchObject({
      code: 'UNSUPPORTED_ARCHITECTURE',
      message: expect.stringContaining("'mamba'"),
      details: { arch: 'mamba' },
    });
  });

  it('refuses a file without a tensor its family requires', async () => {
    const bytes = rewrite(randomModel({ ...SHAPE, arch: 'phi2' }), { drop: 'blk.0.ffn_up.bias' });
    await expect(load(bytes)).rejects.toMatchObject({
      code: 'MODEL_INVALID',
      message: expect.stringContaining('blk.0.ffn_up.bias'),
    });
  });
});

describe('models over the wasm32 limit', () => {
  it('are refused with OUT_OF_MEMORY before any tensor is read', async () => {
    // A 16-layer 4096-wide Q8_0 model: about 4.1 GiB of weights. Only its header exists;
    // the rest of the "file" reads as zeros, and any read past the header is counted.
    const plan = planGGUF(
      randomLlamaSpec({
        dim: 4096,
        nLayers: 16,
        nHeads: 32,
        ffn: 14336,
        weightType: GGMLType.Q8_0,
        seed: 1,
        vocab: 'spm-bytes',
      }),
    );
    let tensorReads = 0;
    const source = {
      size: plan.totalSize,
      name: 'big.gguf',
      async read(offset: number, length: number) {
        if (offset >= plan.header.length) tensorReads++; // the header reader may read a window past the header, never from the data on
        const out = new Uint8Array(length);
        out.set(plan.header.subarray(offset, Math.min(offset + length, plan.header.length)));
        return out;
      },
    };
    for (const backend of ['wasm', 'auto'] as const) {
      await expect(loadModelFromSource(source, { backend, threads: 1 })).rejects.toMatchObject({
        code: 'OUT_OF_MEMORY',
      });
    }
    expect(tensorReads).toBe(0);
  });
});

describe('weights read straight into the wasm memory', () => {
  const bytes = randomModel({ ...SHAPE, weightType: GGMLType.Q4_0, dim: 64, ffn: 128, arch: 'llama', vocabSize: 259 });

  it('hold the file bytes of every tensor, bit for bit', async () => {
    const file = parseGGUF(bytes);
    const model = await loadModelFromSource(fromBlob(new Blob([new Uint8Array(bytes)])), {
      backend: 'wasm',
      threads: 1,
    });
    try {
      const weights = (model as unknown as { weights: Map<string, { bytes: Uint8Array }> }).weights;
      expect(weights.size).toBe(file.tensors.length);
      // Reported memory: the wasm memory, which holds every weight.
      const weightBytes = file.tensors.reduce((a, t) => a + t.byteSize, 0);
      expect(model.memoryUsage().wasmBytes).toBeGreaterThanOrEqual(weightBytes);
      for (const t of file.tensors) {
        expect(
          Buffer.from(weights.get(t.name)!.bytes).equals(bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize)),
        ).toBe(true);
      }
    } finally {
      await model.dispose();
    }
  });

  it('a source failing mid-tensor fails the load with its typed error; the next load works', async () => {
    const file = parseGGUF(bytes);
    const victim = file.tensors[3];
    const inner = fromBytes(bytes);
    let failures = 0;
    const flaky: ByteSource = {
      size: inner.size,
      name: 'flaky.gguf',
      read: (o, l, s) => inner.read(o, l, s),
      async readInto(offset, dest, signal) {
        if (offset === victim.fileOffset && failures++ === 0) {
          dest.set(bytes.subarray(offset, offset + dest.length / 2));
          throw new ChordError('IO_ERROR', 'flaky.gguf: connection reset');
        }
        return inner.readInto!(offset, dest, signal);
      },
    };
    await expect(loadModelFromSource(flaky, { backend: 'wasm', threads: 1 })).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: 'flaky.gguf: connection reset',
    });
    const model = await loadModelFromSource(flaky, { backend: 'wasm', threads: 1 });
    const logits = await model.createSequence({ contextSize: 8 }).evaluate([1, 2]);
    expect(logits.every(Number.isFinite)).toBe(true);
    await model.dispose();
  });
});
