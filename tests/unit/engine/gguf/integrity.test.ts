import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readGgufFileInfo } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { sha256Source, sha256Tensors, verifySource, verifyTensors } from '../../../../engine/gguf/integrity.ts';
import { readGGUF } from '../../../../engine/gguf/reader.ts';
import { fromBytes } from '../../../../engine/io/bytes.ts';
import { fromFile } from '../../../../engine/node/file-source.ts';
import { isChordError } from '../../../../shared/errors.ts';
import { fixture } from '../../../helpers/fixtures.ts';

const nodeSha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('sha256', () => {
  it('known answers (FIPS 180-2 examples)', async () => {
    expect(await sha256Source(fromBytes(new Uint8Array(0)))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(await sha256Source(fromBytes(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  const path = fixture('models/stories260K.gguf');
  it.skipIf(!path)('whole file, in small chunks, equals Node crypto; progress reaches the total', async () => {
    const bytes = new Uint8Array(readFileSync(path!));
    const source = await fromFile(path!);
    const progress: number[] = [];
    try {
      const hex = await sha256Source(source, { chunkSize: 100_000, onProgress: (d) => progress.push(d) });
      expect(hex).toBe(nodeSha256(bytes));
      expect(hex.startsWith('270cba1b')).toBe(true); // the fixture README's hash
      expect(progress.at(-1)).toBe(bytes.length);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      await verifySource(source, hex.toUpperCase());
      await expect(verifySource(source, '00'.repeat(32))).rejects.toSatisfy((e) =>
        isChordError(e, 'GGUF_CHECKSUM_MISMATCH'),
      );
    } finally {
      await source.close?.();
    }
  });

  it.skipIf(!path)(
    'per tensor, against slices at node-llama-cpp offsets; verifyTensors reports mismatches',
    async () => {
      const bytes = new Uint8Array(readFileSync(path!));
      const source = fromBytes(bytes);
      const file = await readGGUF(source);
      const oracle = await readGgufFileInfo(path!, { readTensorInfo: true });
      const hashes = await sha256Tensors(source, file);
      expect(hashes.size).toBe(oracle.tensorInfo!.length);
      for (const t of oracle.tensorInfo!) {
        const start = Number(t.fileOffset);
        const ours = file.tensors.find((x) => x.name === t.name)!;
        expect(hashes.get(t.name), t.name).toBe(nodeSha256(bytes.subarray(start, start + ours.byteSize)));
      }
      const expected = Object.fromEntries(hashes);
      expect((await verifyTensors(source, file, expected)).length).toBe(hashes.size);

      const corrupted = bytes.slice();
      corrupted[file.tensors[3].fileOffset + 5] ^= 1;
      const err = await verifyTensors(fromBytes(corrupted), file, { ...expected, 'no.such': 'ab' }).catch((e) => e);
      expect(isChordError(err, 'GGUF_CHECKSUM_MISMATCH')).toBe(true);
      expect(err.details).toEqual({ mismatched: [file.tensors[3].name], missing: ['no.such'] });
    },
  );

  it('aborts', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sha256Source(fromBytes(new Uint8Array(10)), { signal: ac.signal })).rejects.toSatisfy((e) =>
      isChordError(e, 'ABORTED'),
    );
  });
});
