import { describe, expect, it } from 'vitest';
import { copyStreamInto } from '../../../../engine/io/stream.ts';
import { isChordError } from '../../../../shared/errors.ts';

/** A stream of `chunks`, then an error if `fail` is given; records whether it was cancelled. */
function chunked(chunks: number[][], fail?: Error) {
  const state = { cancelled: false };
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(new Uint8Array(chunks[i++]));
      else if (fail) c.error(fail);
      else c.close();
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

const code = (c: string) => (e: unknown) => isChordError(e, c as never);

describe('copyStreamInto', () => {
  it('copies chunks in order into the destination, which may be a view of shared memory', async () => {
    const dest = new Uint8Array(new SharedArrayBuffer(16), 4, 7);
    await copyStreamInto(chunked([[1, 2], [3], [], [4, 5, 6, 7]]).stream, dest, 'x');
    expect([...dest]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect([...new Uint8Array(dest.buffer, 0, 4)]).toEqual([0, 0, 0, 0]);
  });

  it('a stream that ends early is IO_ERROR', async () => {
    await expect(copyStreamInto(chunked([[1, 2]]).stream, new Uint8Array(3), 'x')).rejects.toSatisfy(code('IO_ERROR'));
  });

  it('a stream with more bytes than asked for is IO_ERROR, and is cancelled', async () => {
    const { stream, state } = chunked([[1, 2], [3, 4], [5]]);
    const dest = new Uint8Array(3);
    await expect(copyStreamInto(stream, dest, 'x')).rejects.toSatisfy(code('IO_ERROR'));
    expect(state.cancelled).toBe(true);
    // Nothing past the end was written.
    expect([...dest]).toEqual([1, 2, 0]);
  });

  it('a stream failing midway is IO_ERROR naming the source and how far it got', async () => {
    const { stream } = chunked([[1, 2]], new TypeError('terminated'));
    await expect(copyStreamInto(stream, new Uint8Array(4), 'model.gguf')).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringMatching(/model\.gguf.*2 of 4 bytes.*terminated/),
    });
  });

  it('an aborted signal is ABORTED and cancels the stream', async () => {
    const ctrl = new AbortController();
    let cancelled = false;
    // The signal aborts while the first chunk is on its way.
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array([1]));
        ctrl.abort();
      },
      cancel() {
        cancelled = true;
      },
    });
    await expect(copyStreamInto(stream, new Uint8Array(3), 'x', ctrl.signal)).rejects.toSatisfy(code('ABORTED'));
    expect(cancelled).toBe(true);
  });

  it('reads a byte stream through a BYOB reader, with the same checks', async () => {
    const byteStream = (chunks: number[][], fail?: Error) => {
      let i = 0;
      return new ReadableStream({
        type: 'bytes',
        pull(c) {
          if (i < chunks.length) c.enqueue(new Uint8Array(chunks[i++]));
          else if (fail) c.error(fail);
          else {
            c.close();
            c.byobRequest?.respond(0); // a closed byte stream answers a pending BYOB read so
          }
        },
      });
    };
    const dest = new Uint8Array(new SharedArrayBuffer(5));
    await copyStreamInto(
      byteStream([
        [1, 2, 3],
        [4, 5],
      ]),
      dest,
      'x',
    );
    expect([...dest]).toEqual([1, 2, 3, 4, 5]);
    await expect(
      copyStreamInto(
        byteStream([
          [1, 2, 3],
          [4, 5, 6],
        ]),
        new Uint8Array(5),
        'x',
      ),
    ).rejects.toSatisfy(code('IO_ERROR'));
    await expect(copyStreamInto(byteStream([[1, 2, 3, 4, 5, 6]]), new Uint8Array(5), 'x')).rejects.toSatisfy(
      code('IO_ERROR'),
    );
    await expect(copyStreamInto(byteStream([[1]]), new Uint8Array(5), 'x')).rejects.toSatisfy(code('IO_ERROR'));
    await expect(
      copyStreamInto(byteStream([[1]], new TypeError('terminated')), new Uint8Array(5), 'x'),
    ).rejects.toSatisfy(code('IO_ERROR'));
    // A big body in many chunks, through the reused staging buffer.
    const big = new Uint8Array(3_000_000).map((_, i) => i % 251);
    const chunks = Array.from({ length: 30 }, (_, k) => Array.from(big.subarray(k * 100_000, (k + 1) * 100_000)));
    const out = new Uint8Array(big.length);
    await copyStreamInto(byteStream(chunks), out, 'x');
    expect(Buffer.from(out).equals(big)).toBe(true);
  });
});
