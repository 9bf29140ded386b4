/**
 * The WebGPU backend under test, in Node through the `webgpu` package (Dawn) on
 * SwiftShader. Without an adapter the tests skip with a message, except under
 * CI, where that is a failure.
 */
import type { Activation } from '../../../../../engine/backend/backend.ts';
import type { GGUFTensorInfo } from '../../../../../engine/gguf/types.ts';
import { f32ToF16 } from '../../../../../engine/quant/fp16.ts';
import { canQuantize, quantizeRow, rowBytes } from '../../../../../engine/quant/index.ts';
import { GGMLType, TYPE_TRAITS } from '../../../../../engine/quant/types.ts';

process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';

const { probeWebGPU } = await import('../../../../../engine/backend/webgpu/index.ts');
const probe = await probeWebGPU();
if (!probe.ok) {
  if (process.env.CI) throw new Error(`no WebGPU adapter under CI: ${probe.reason}`);
  console.warn(`[skip] no WebGPU adapter: ${probe.reason}`);
}

/** Whether the WebGPU tests can run here. */
export const gpuAvailable = probe.ok;

export function tensorInfo(name: string, type: GGMLType, shape: number[]): GGUFTensorInfo {
  const n = shape.reduce((a, b) => a * b, 1);
  const byteSize = (n / TYPE_TRAITS.get(type)!.blockSize) * TYPE_TRAITS.get(type)!.typeSize;
  return { name, type, shape, offset: 0, fileOffset: 0, byteSize, nElements: n };
}

/**
 * Byte offsets of the f16 scales of the K-quant blocks (filled with random bytes:
 * random bytes there would make NaN or huge weights).
 */
const K_SCALE_FIELDS: Partial<Record<GGMLType, number[]>> = {
  [GGMLType.Q2_K]: [80, 82],
  [GGMLType.Q3_K]: [108],
  [GGMLType.Q4_K]: [0, 2],
  [GGMLType.Q5_K]: [0, 2],
  [GGMLType.Q6_K]: [208],
};

/** nOut rows of n weights: quantized random values where a quantizer exists, else random blocks with sane scales. */
export function randomWeightBytes(type: GGMLType, n: number, nOut: number, next: () => number): Uint8Array {
  const rb = rowBytes(type, n);
  const out = new Uint8Array(rb * nOut);
  const fields = K_SCALE_FIELDS[type];
  if (fields !== undefined) {
    const size = TYPE_TRAITS.get(type)!.typeSize;
    for (let i = 0; i < out.length; i++) out[i] = Math.floor(next() * 256);
    const view = new DataView(out.buffer);
    for (let b = 0; b < out.length / size; b++) {
      for (const f of fields) view.setUint16(b * size + f, f32ToF16((next() - 0.3) * 0.05), true);
    }
    return out;
  }
  if (!canQuantize(type)) throw new Error(`no quantizer for type ${type}`);
  const row = new Float32Array(n);
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < n; i++) row[i] = (next() + next() - 1) * 0.5;
    out.set(quantizeRow(type, row), o * rb);
  }
  return out;
}

/** Sets the contents of a reference-backend activation (its data array). */
export function writeJs(a: Activation, values: Float32Array): void {
  (a as Activation & { data: Float32Array }).data.set(values);
}

export function randomValues(n: number, next: () => number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (next() + next() - 1) * scale;
  return x;
}

/** max |a - b| / max |b|: the error relative to the values' own scale. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (a.length !== b.length || Number.isNaN(diff)) return Number.POSITIVE_INFINITY;
  return diff / scale;
}
