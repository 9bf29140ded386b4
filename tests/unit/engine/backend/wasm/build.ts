/**
 * Builds the wasm kernels if they are missing or stale (npm ci's postinstall
 * normally has), so that the wasm tests need no manual step.
 */
export async function ensureWasmBuilt(): Promise<void> {
  const script: string = '../../../../../scripts/build-wasm.mjs';
  const mod = (await import(script)) as { buildWasm(): Promise<string> };
  await mod.buildWasm();
}

let relaxedWanted = true;

/**
 * Which build of the kernels the kernel tests compile: the relaxed-SIMD one
 * (default; where the host validates it) or, after wantPlainKernels(), the
 * SIMD128-only one (kernels-plain.test.ts runs kernels.test.ts's tests on it).
 */
export function relaxedKernelsWanted(): boolean {
  return relaxedWanted;
}

export function wantPlainKernels(): void {
  relaxedWanted = false;
}
