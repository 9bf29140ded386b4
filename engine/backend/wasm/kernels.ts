/**
 * Loads the AssemblyScript kernels (assembly/, built by scripts/build-wasm.mjs
 * into generated/kernels.ts as base64, so that no fetch path is needed) and
 * finds out what this host can run: SIMD128, relaxed SIMD (a faster Q4_K
 * kernel, bit for bit the same results), and threads (a shared memory).
 */

/** The kernels' exports (assembly/index.ts); addresses are byte offsets in the memory. */
export interface KernelExports {
  hasKernel(type: number): number;
  activationRowBytes(type: number, n: number): number;
  prepareActivations(type: number, x: number, n: number, rows: number, dst: number): void;
  matmulRange(
    type: number,
    w: number,
    rowBytes: number,
    n: number,
    nOut: number,
    act: number,
    actStride: number,
    rows: number,
    out: number,
    o0: number,
    o1: number,
    flags: number,
  ): void;
  prepareWeights(type: number, w: number, rowBytes: number, nOut: number, scratch: number, fused: number): number;
  unpackRow(type: number, w: number, rowBytes: number, row: number, dst: number): void;
  probeFusedMadd(a: number, b: number, c: number): number;
  quantizeQ8(x: number, nb: number, dst: number): void;
  quantizeQ8K(x: number, nb: number, dst: number): void;
  chunksOf(nOut: number, n: number, rows: number, threads: number): number;
  kvStore(
    kc: number,
    vc: number,
    k: number,
    v: number,
    width: number,
    rows: number,
    positions: number,
    f16: number,
  ): void;
  attentionHeads(
    kc: number,
    vc: number,
    q: number,
    qCols: number,
    rows: number,
    positions: number,
    nHeads: number,
    nKvHeads: number,
    headDim: number,
    scale: number,
    f16: number,
    out: number,
    outCols: number,
    scratch: number,
    h0: number,
    h1: number,
    fused: number,
  ): void;
  attentionScratchPerHead(headDim: number): number;
  roundHalfLanes(src: number, n: number, dst: number): void;
  rmsNorm(x: number, g: number, n: number, rows: number, eps: number, out: number): void;
  layerNorm(x: number, g: number, b: number, n: number, rows: number, eps: number, out: number): void;
  rope(
    x: number,
    cols: number,
    rows: number,
    nHeads: number,
    headDim: number,
    nDims: number,
    neox: number,
    table: number,
  ): void;
  swiglu(gate: number, up: number, n: number, rows: number): void;
  gelu(x: number, n: number, table: number): void;
  geglu(gate: number, up: number, n: number, table: number): void;
  addRows(x: number, y: number, n: number): void;
  addBias(x: number, b: number, n: number, rows: number): void;
  scaleRows(x: number, n: number, s: number): void;
  runMainShare(ctrl: number, mayWait: number): void;
  workerLoop(ctrl: number): void;
}

export interface CompiledKernels {
  /** Imports a shared memory: usable from several threads. */
  readonly shared: boolean;
  /** The build with relaxed SIMD (i16x8.relaxed_dot_i8x16_i7x16_s in the Q4_K kernel). */
  readonly relaxed: boolean;
  readonly module: WebAssembly.Module;
}

/** Pages of 64 KiB; the memory may grow to the whole wasm32 space. */
export const INITIAL_PAGES = 32;
export const MAXIMUM_PAGES = 65536;

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** Whether shared memories can be made here (SharedArrayBuffer exists and, in a browser, the page is isolated). */
export function sharedMemoryReason(): string | undefined {
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is not available (not cross-origin isolated)';
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (g.crossOriginIsolated === false) return 'the page is not cross-origin isolated';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return `shared WebAssembly memory is not supported: ${(e as Error).message}`;
  }
  return undefined;
}

/**
 * Node 20's V8 has relaxed SIMD behind a flag (on by default from Node 22 and
 * in Chromium); V8's flags are the process's, so this turns it on for workers too.
 * Must run before the first validate or compile of a relaxed module.
 */
async function enableRelaxedSimdInNode(): Promise<void> {
  const g = globalThis as { process?: { versions?: { node?: string } } };
  if (g.process?.versions?.node === undefined) return;
  try {
    // A computed specifier keeps bundlers for the browser from resolving Node's module.
    const specifier = ['node', 'v8'].join(':');
    const v8 = (await import(/* @vite-ignore */ specifier)) as { setFlagsFromString(flags: string): void };
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // not Node after all, or no such flag: validation decides
  }
}

/**
 * Whether the environment asks for the SIMD128-only build (CHORD_WASM_RELAXED_SIMD=0
 * in Node), to compare the two builds from the CLI without a flag of its own.
 */
export function relaxedSimdOffByEnv(): boolean {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return g.process?.env?.CHORD_WASM_RELAXED_SIMD === '0';
}

interface GeneratedKernels {
  KERNELS_SHARED_BASE64: string;
  KERNELS_SINGLE_BASE64: string;
  KERNELS_SHARED_RELAXED_BASE64: string;
  KERNELS_SINGLE_RELAXED_BASE64: string;
}

/**
 * Compiles the kernels: the shared-memory build when `wantShared` and the host
 * allows it, else the single-thread build; built with relaxed SIMD when
 * `wantRelaxed` and the host validates that build, else with SIMD128 alone.
 * Throws with the reason when the host has no WebAssembly SIMD (validation
 * fails) or the kernels were not built.
 */
export async function compileKernels(
  wantShared: boolean,
  wantRelaxed = true,
): Promise<CompiledKernels & { sharedUnavailable?: string }> {
  if (typeof WebAssembly === 'undefined') throw new Error('WebAssembly is not available');
  let generated: GeneratedKernels;
  try {
    generated = await import('./generated/kernels.ts');
  } catch {
    throw new Error('the wasm kernels are not built (run npm run build:wasm)');
  }
  const sharedUnavailable = wantShared ? sharedMemoryReason() : undefined;
  const shared = wantShared && sharedUnavailable === undefined;
  if (wantRelaxed) {
    await enableRelaxedSimdInNode();
    const relaxedBytes = decodeBase64(
      shared ? generated.KERNELS_SHARED_RELAXED_BASE64 : generated.KERNELS_SINGLE_RELAXED_BASE64,
    );
    if (WebAssembly.validate(relaxedBytes)) {
      return { shared, relaxed: true, module: await WebAssembly.compile(relaxedBytes), sharedUnavailable };
    }
  }
  const bytes = decodeBase64(shared ? generated.KERNELS_SHARED_BASE64 : generated.KERNELS_SINGLE_BASE64);
  if (!WebAssembly.validate(bytes))
    throw new Error('this WebAssembly engine lacks SIMD128 (the kernels do not validate)');
  const module = await WebAssembly.compile(bytes);
  return { shared, relaxed: false, module, sharedUnavailable };
}

/**
 * Whether these kernels' f32x4.relaxed_madd is a fused multiply-add here (V8 on
 * x64 with FMA3, on arm64): then it is fmaf itself, the one rounding of llama.cpp's
 * _mm256_fmadd_ps, and the matmul kernels use it for their per-block fmaf (matmulRange's
 * MATMUL_FUSED_MADD) instead of the emulation through f64. The relaxed-SIMD
 * proposal makes an engine's choice the same for every call of an instruction,
 * so one probe tells: a*a - (1 + 2^-22) for a = 1 + 2^-23 is 2^-46 fused, 0 not.
 */
export function hasFusedMadd(k: KernelExports): boolean {
  const a = Math.fround(1 + 2 ** -23);
  return k.probeFusedMadd(a, a, -Math.fround(1 + 2 ** -22)) === 2 ** -46;
}

/** matmulRange's flags (assembly/index.ts): the fused relaxed_madd may be used; the weights are repacked. */
export const MATMUL_FUSED_MADD = 1;
export const MATMUL_REPACKED = 2;

export function createMemory(shared: boolean): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared });
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
