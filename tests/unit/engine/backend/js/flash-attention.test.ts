import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Activation, Backend } from '../../../../../engine/backend/backend.ts';
import { JsBackend } from '../../../../../engine/backend/js/index.ts';
import { f16ToF32, f32ToF16 } from '../../../../../engine/quant/fp16.ts';
import { GGMLType } from '../../../../../engine/quant/types.ts';
import { canRunHaswellLib, HASWELL_LIB, LLAMA_LIB_DIR } from '../../../../helpers/llama-libs.ts';
import { rng } from '../../../../helpers/rng.ts';

const canRun = canRunHaswellLib('flash attention');

// biome-ignore lint/suspicious/noExplicitAny: koffi's function objects are untyped variadic calls
type CFunc = (...args: any[]) => any;

/** Rows of f32 values as an activation (through getRows of an F32 table, the public way in). */
async function rows(be: Backend, n: number, cols: number, values: Float32Array): Promise<Activation> {
  const bytes = new Uint8Array(values.slice().buffer);
  const info = { name: 'x', shape: [cols, n], type: GGMLType.F32, offset: 0, fileOffset: 0, byteSize: 0, nElements: 0 };
  const w = await be.loadWeight(info, bytes);
  const a = be.createActivation(n, cols);
  be.getRows(
    w,
    Array.from({ length: n }, (_, r) => r),
    a,
  );
  return a;
}

describe.skipIf(!canRun)('flash attention vs ggml_flash_attn_ext', () => {
  // biome-ignore lint/suspicious/noExplicitAny: the koffi module
  let koffi: any;
  let ggml: Record<string, CFunc>;
  beforeAll(async () => {
    koffi = (await import('koffi')).default;
    const base = koffi.load(join(LLAMA_LIB_DIR, 'libggml-base.so'));
    const cpu = koffi.load(HASWELL_LIB);
    cpu.func('void ggml_cpu_init(void)')();
    koffi.struct('ggml_init_params', { mem_size: 'size_t', mem_buffer: 'void *', no_alloc: 'bool' });
    ggml = {
      init: base.func('void *ggml_init(ggml_init_params p)'),
      free: base.func('void ggml_free(void *ctx)'),
      tensor: base.func('void *ggml_new_tensor_4d(void *ctx, int type, int64_t a, int64_t b, int64_t c, int64_t d)'),
      fa: base.func(
        'void *ggml_flash_attn_ext(void *ctx, void *q, void *k, void *v, void *mask, float scale, float max_bias, float softcap)',
      ),
      graph: base.func('void *ggml_new_graph(void *ctx)'),
      expand: base.func('void ggml_build_forward_expand(void *g, void *t)'),
      data: base.func('void *ggml_get_data(void *t)'),
      compute: cpu.func('int ggml_graph_compute_with_ctx(void *ctx, void *g, int n)'),
    };
  });

  /** ggml's answer for nQ queries over nKv F16 keys and values (no mask: every key visible). */
  function ggmlAttention(
    D: number,
    nQ: number,
    nKv: number,
    q: Float32Array,
    k: Uint16Array,
    v: Uint16Array,
    scale: number,
    cap: number,
  ) {
    const ctx = ggml.init({ mem_size: 16 << 20, mem_buffer: null, no_alloc: false });
    try {
      const [tq, tk, tv] = [
        ggml.tensor(ctx, 0, D, nQ, 1, 1),
        ggml.tensor(ctx, 1, D, nKv, 1, 1),
        ggml.tensor(ctx, 1, D, nKv, 1, 1),
      ];
      koffi.encode(ggml.data(tq), koffi.array('float', D * nQ), [...q]);
      koffi.encode(ggml.data(tk), koffi.array('uint16_t', D * nKv), [...k]);
      koffi.encode(ggml.data(tv), koffi.array('uint16_t', D * nKv), [...v]);
      const out = ggml.fa(ctx, tq, tk, tv, null, scale, 0, cap);
      const g = ggml.graph(ctx);
      ggml.expand(g, out);
      ggml.compute(ctx, g, 1);
      // out is [D, n_head, nQ]: one row per query here
      return Float32Array.from(koffi.decode(ggml.data(out), koffi.array('float', D * nQ)) as number[]);
    } finally {
      ggml.free(ctx);
    }
  }

  /** Our attention for nQ queries that all see the nKv cached cells, and whether it equals ggml's bit for bit. */
  async function sameAsGgml(D: number, nQ: number, nKv: number, cap: number, next: () => number): Promise<boolean> {
    const q = Float32Array.from({ length: D * nQ }, () => (next() - 0.5) * 3);
    const k = Uint16Array.from({ length: D * nKv }, () => f32ToF16((next() - 0.5) * 2));
    const v = Uint16Array.from({ length: D * nKv }, () => f32ToF16((next() - 0.5) * 2));
    const scale = Math.fround(1 / Math.sqrt(D));
    const want = ggmlAttention(D, nQ, nKv, q, k, v, scale, cap);

    const be = new JsBackend();
    const cache = be.createKVCache({ nLayers: 1, nCtx: nKv, nKvHeads: 1, headDim: D, type: 'f16' });
    const kr = await rows(be, nKv, D, Float32Array.from(k, f16ToF32));
    const vr = await rows(be, nKv, D, Float32Array.from(v, f16ToF32));
    be.kvStore(
      cache,
      0,
      kr,
      vr,
      Array.from({ length: nKv }, (_, i) => i),
    );
    const out = be.createActivation(nQ, D);
    const p = { nHeads: 1, nKvHeads: 1, headDim: D, scale, softcap: cap || undefined };
    be.attention(cache, 0, await rows(be, nQ, D, q), new Array(nQ).fill(nKv - 1), p, out);
    const got = await be.read(out);
    return got.every((x, i) => Object.is(x, want[i]));
  }

  for (const D of [16, 64, 128, 256])
    for (const cap of [0, 2.5])
      it(`one query (ggml's one-chunk kernel), head size ${D}${cap ? `, soft-cap ${cap}` : ''}: bit for bit`, async () => {
        const next = rng(D + 100 * cap);
        let differing = 0;
        for (let trial = 0; trial < 12; trial++)
          if (!(await sameAsGgml(D, 1, 1 + Math.floor(next() * 24), cap, next))) differing++;
        expect(differing).toBe(0);
      });

  for (const D of [64, 128])
    for (const cap of [0, 2.5])
      it(`64+ queries (ggml's tiled kernel), head size ${D}${cap ? `, soft-cap ${cap}` : ''}: bit for bit`, async () => {
        const next = rng(7 * D + 100 * cap);
        let differing = 0;
        for (let trial = 0; trial < 3; trial++) {
          // With soft-capping, ggml's tiled kernel caps its padding past the last KV tile
          // (tanh(-inf)·cap), which llama.cpp never has (its KV length is a multiple of 256):
          // whole tiles of cells there.
          const nKv = cap ? 64 * (1 + Math.floor(next() * 3)) : 1 + Math.floor(next() * 150);
          if (!(await sameAsGgml(D, 64 + Math.floor(next() * 8), nKv, cap, next))) differing++;
        }
        expect(differing).toBe(0);
      });
});
