/**
 * Where node-llama-cpp@3.21.1 keeps llama.cpp's linux-x64 shared libraries
 * (libggml-base.so, libllama.v0.4.0.so, ...), which tests call through koffi as
 * the oracle. Absent on other platforms: tests skip, except under CI on
 * linux-x64, where a missing library is an error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './fixtures.ts';

export const LLAMA_LIB_DIR = join(repoRoot, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');

/** Whether `file` (e.g. 'libggml-base.so') is there to load; warns (or throws under CI) when not. */
export function haveLlamaLib(file: string): boolean {
  const onLinuxX64 = process.platform === 'linux' && process.arch === 'x64';
  if (onLinuxX64 && existsSync(join(LLAMA_LIB_DIR, file))) return true;
  if (process.env.CI && onLinuxX64) throw new Error(`llama.cpp library missing under CI: ${join(LLAMA_LIB_DIR, file)}`);
  console.warn(`[skip] llama.cpp oracle: no ${file} under ${LLAMA_LIB_DIR}`);
  return false;
}

/** llama.cpp's AVX2 build of ggml's CPU backend: the oracle for the x86 float orders the engine mirrors. */
export const HASWELL_LIB = join(LLAMA_LIB_DIR, 'libggml-cpu-haswell.so');

/**
 * Whether this machine can load and run HASWELL_LIB (linux-x64 with AVX2, FMA and
 * F16C, the library present); warns `[skip] what: ...` when not.
 */
export function canRunHaswellLib(what: string): boolean {
  const flags = existsSync('/proc/cpuinfo')
    ? (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(/\s+/)
    : [];
  const ok =
    process.platform === 'linux' &&
    process.arch === 'x64' &&
    existsSync(HASWELL_LIB) &&
    ['avx2', 'fma', 'f16c'].every((f) => flags.includes(f));
  if (!ok) console.warn(`[skip] ${what}: no AVX2 machine with llama.cpp haswell build`);
  return ok;
}
