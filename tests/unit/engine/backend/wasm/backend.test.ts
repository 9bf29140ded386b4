import { beforeAll, describe, expect, it } from 'vitest';
import type { WasmBackend as WasmBackendClass } from '../../../../../engine/backend/wasm/index.ts';
import { ensureWasmBuilt } from './build.ts';

let WasmBackend: typeof WasmBackendClass;

beforeAll(async () => {
  await ensureWasmBuilt();
  ({ WasmBackend } = await import('../../../../../engine/backend/wasm/index.ts'));
});

describe('WasmBackend threads and fallbacks', () => {
  it('falls back to one thread, saying why, when workers cannot start', async () => {
    const b = await WasmBackend.create({
      threads: 2,
      spawn: async () => {
        throw new Error('no workers here');
      },
    });
    expect(b.threads).toBe(1);
    expect(b.description).toBe('wasm (SIMD128, 1 thread); 1 thread: workers did not start (no workers here)');
    await b.dispose();
  });

  it('falls back to one thread when a worker only reports an error event', async () => {
    const listeners: Array<(e: unknown) => void> = [];
    const b = await WasmBackend.create({
      threads: 2,
      spawn: async () => ({
        postMessage: () =>
          setTimeout(() => {
            for (const f of listeners) f(new Error('blocked by CSP'));
          }),
        terminate: () => undefined,
        on: (event: string, f: (e: unknown) => void) => {
          if (event === 'error') listeners.push(f);
        },
      }),
    });
    expect(b.description).toContain('workers did not start (wasm worker failed: blocked by CSP)');
    await b.dispose();
  });

  it('runs with two threads and reports the memory it holds', async () => {
    const b = await WasmBackend.create({ threads: 2 });
    expect(b.threads).toBe(2);
    expect(b.description).toBe('wasm (SIMD128, 2 threads)');
    const x = b.createActivation(3, 64);
    const before = b.memoryUsage().usedBytes;
    b.createActivation(100, 1000);
    expect(b.memoryUsage().usedBytes).toBeGreaterThanOrEqual(before + 400_000);
    expect(b.memoryUsage().memoryBytes).toBeGreaterThanOrEqual(b.memoryUsage().usedBytes);
    expect(x.rows).toBe(3);
    await b.dispose();
  });
});
