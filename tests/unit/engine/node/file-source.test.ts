import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fromFile, openNodeSource } from '../../../../engine/node/file-source.ts';
import { isChordError } from '../../../../shared/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'chord-file-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fromFile', () => {
  it('reads with positions beyond 2 GiB (sparse file)', async () => {
    const path = join(dir, 'big.bin');
    const fd = openSync(path, 'w');
    const at = 2 ** 31 + 12345;
    ftruncateSync(fd, 3 * 2 ** 30);
    writeSync(fd, Buffer.from('chord'), 0, 5, at);
    closeSync(fd);
    const s = await fromFile(path);
    try {
      expect(s.size).toBe(3 * 2 ** 30);
      expect(new TextDecoder().decode(await s.read(at, 5))).toBe('chord');
      expect(await s.read(s.size - 4, 4)).toEqual(new Uint8Array(4));
      await expect(s.read(s.size - 2, 4)).rejects.toSatisfy((e) => isChordError(e, 'GGUF_TRUNCATED'));
    } finally {
      await s.close!();
    }
  });

  it('readInto fills a view of shared memory (a wasm memory) with positioned reads', async () => {
    const path = join(dir, 'pattern.bin');
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131) & 0xff;
    const fd = openSync(path, 'w');
    writeSync(fd, data);
    closeSync(fd);
    const s = await fromFile(path);
    try {
      const mem = new Uint8Array(new SharedArrayBuffer(70_002));
      const dest = mem.subarray(1, 70_001);
      await s.readInto!(20_000, dest);
      expect(Buffer.from(dest).equals(data.subarray(20_000, 90_000))).toBe(true);
      expect([mem[0], mem[70_001]]).toEqual([0, 0]);
      await expect(s.readInto!(40_000, dest)).rejects.toSatisfy((e) => isChordError(e, 'GGUF_TRUNCATED'));
      // A file cut short after it was opened: the read that reaches its new end fails, typed.
      const shrink = openSync(path, 'r+');
      ftruncateSync(shrink, 50_000);
      closeSync(shrink);
      await expect(s.readInto!(20_000, dest)).rejects.toSatisfy((e) => isChordError(e, 'GGUF_TRUNCATED'));
    } finally {
      await s.close!();
    }
    await expect(s.readInto!(0, new Uint8Array(1))).rejects.toSatisfy((e) => isChordError(e, 'IO_ERROR'));
  });

  it('opens paths and file: URLs through openNodeSource; a missing file is IO_ERROR', async () => {
    const path = join(dir, 'small.bin');
    const fd = openSync(path, 'w');
    writeSync(fd, Buffer.from([1, 2, 3]));
    closeSync(fd);
    const a = await openNodeSource(path);
    const b = await openNodeSource(pathToFileURL(path));
    expect(await a.read(0, 3)).toEqual(new Uint8Array([1, 2, 3]));
    expect(b.size).toBe(3);
    await a.close!();
    await b.close!();
    await expect(fromFile(join(dir, 'nope'))).rejects.toSatisfy((e) => isChordError(e, 'IO_ERROR'));
  });
});
