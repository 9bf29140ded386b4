import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { CATALOG, catalogEntry } from '../../../../engine/store/catalog.ts';
import { chunkSource } from '../../../../engine/store/chunk-source.ts';
import { ChunkWriter } from '../../../../engine/store/chunk-writer.ts';
import { openModelDB } from '../../../../engine/store/db.ts';
import { fileModelId, fileNameOf, slug, urlModelId } from '../../../../engine/store/ids.ts';
import { etaSeconds, SpeedMeter } from '../../../../engine/store/meter.ts';

describe('ids', () => {
  it('one URL always maps to one id; another URL with the same file name does not collide', () => {
    const a = 'https://huggingface.co/x/y/resolve/main/Model-Q4_0.gguf';
    const b = 'https://example.com/mirror/Model-Q4_0.gguf';
    expect(urlModelId(a)).toBe(urlModelId(a));
    expect(urlModelId(a)).not.toBe(urlModelId(b));
    expect(urlModelId(a)).toMatch(/^model-q4-0-[0-9a-f]{10}$/);
    expect(fileModelId('a.gguf', 10)).not.toBe(fileModelId('a.gguf', 11));
  });

  it('names from URLs and slugs', () => {
    expect(fileNameOf('https://h/a/b/My%20Model.gguf?download=true')).toBe('My Model.gguf');
    expect(fileNameOf('https://h/')).toBe('h');
    expect(slug('  ##  ')).toBe('model');
    expect(slug('Llama-3.2-1B-Instruct-Q4_K_M.gguf')).toBe('llama-3-2-1b-instruct-q4-k-m');
  });
});

describe('speed meter', () => {
  it('measures over the recent window (5 s), not since the start', () => {
    let t = 0;
    const m = new SpeedMeter(() => t);
    expect(m.sample(0)).toBe(0);
    let bytes = 0;
    for (let s = 1; s <= 10; s++) {
      t = s * 1000;
      bytes += 1000;
      expect(m.sample(bytes)).toBeCloseTo(1000, 6);
    }
    // The link speeds up to 3000 B/s: after 5 s the meter shows only the new speed
    // (the average since the start would be 1900).
    for (let s = 11; s <= 15; s++) {
      t = s * 1000;
      bytes += 3000;
      m.sample(bytes);
    }
    expect(m.sample(bytes)).toBeCloseTo(3000, 6);
  });

  it('ETA from the remaining bytes; unknown without a size or a speed', () => {
    expect(etaSeconds(250, 1250, 100)).toBe(10);
    expect(etaSeconds(250, 0, 100)).toBeNull();
    expect(etaSeconds(250, 1250, 0)).toBeNull();
  });
});

describe('chunk writer and source', () => {
  it('writes fixed-size chunks, resumes a partial last chunk, and reads any range back', async () => {
    const db = openModelDB('t', { indexedDB: new IDBFactory(), IDBKeyRange });
    await db.models.add({
      id: 'm',
      name: 'm',
      size: 0,
      bytesDone: 0,
      state: 'downloading',
      lastUsed: 0,
      createdAt: 0,
      chunkSize: 10,
    });
    const bytes = Uint8Array.from({ length: 57 }, (_, i) => (i * 7 + 3) & 255);
    const w1 = await ChunkWriter.resume(db, 'm', 10, 0);
    await w1.write(bytes.subarray(0, 13));
    await w1.write(bytes.subarray(13, 24));
    await w1.flush(); // 2 full chunks + 4 bytes of the third
    expect((await db.models.get('m'))!.bytesDone).toBe(24);
    const w2 = await ChunkWriter.resume(db, 'm', 10, 24);
    expect(w2.received).toBe(24);
    await w2.write(bytes.subarray(24));
    await w2.flush();
    const rows = await db.chunks.where('modelId').equals('m').sortBy('index');
    expect(rows.map((r) => r.data.length)).toEqual([10, 10, 10, 10, 10, 7]);
    const src = chunkSource(db, 'm', 57, 10, 'm');
    for (let off = 0; off < 57; off += 3) {
      for (const len of [0, 1, 9, 10, 11, 25]) {
        if (off + len > 57) continue;
        expect(await src.read(off, len)).toEqual(bytes.subarray(off, off + len));
      }
    }
    // The writer's digest covers exactly the stored bytes, across the resume.
    const { createHash } = await import('node:crypto');
    expect(w2.digest()).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('a missing chunk is an IO_ERROR, not wrong bytes', async () => {
    const db = openModelDB('t2', { indexedDB: new IDBFactory(), IDBKeyRange });
    await db.chunks.put({ modelId: 'm', index: 0, data: new Uint8Array(10) });
    const src = chunkSource(db, 'm', 25, 10, 'm');
    await expect(src.read(5, 10)).rejects.toMatchObject({ code: 'IO_ERROR' });
  });
});

describe('catalog', () => {
  it('lists real GGUF files on Hugging Face with sizes and quant types', () => {
    const names = CATALOG.map((e) => e.name).join(' | ');
    for (const wanted of ['SmolLM2 135M', 'SmolLM2 360M', 'Qwen2.5 0.5B', 'Llama 3.2 1B', 'TinyLlama 1.1B', 'Phi-2']) {
      expect(names).toContain(wanted);
    }
    expect(new Set(CATALOG.map((e) => e.id)).size).toBe(CATALOG.length);
    for (const e of CATALOG) {
      expect(e.url).toMatch(/^https:\/\/huggingface\.co\/[\w.-]+\/[\w.-]+\/resolve\/main\/[\w.-]+\.gguf$/);
      expect(e.approxSize).toBeGreaterThan(50e6);
      expect(e.url.toLowerCase()).toContain(e.quantType.toLowerCase());
      // The engine's forward pass is llama's only (engine/model/load.ts).
      expect(e.supported).toBe(e.arch === 'llama');
      expect(catalogEntry(e.id)).toBe(e);
    }
  });
});
