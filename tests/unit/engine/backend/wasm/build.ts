/**
 * Builds the wasm kernels if they are missing or stale (npm ci's postinstall
 * normally has), so that the wasm tests need no manual step.
 */
export async function ensureWasmBuilt(): Promise<void> {
  const script: string = '../../../../../scripts/build-wasm.mjs';
  const mod = (await import(script)) as { buildWasm(): Promise<string> };
  await mod.buildWasm();
}
