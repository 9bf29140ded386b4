import { ChordError } from '../../../shared/errors.ts';

/**
 * Finding a WebGPU adapter: `navigator.gpu` in browsers (and workers), the
 * `webgpu` npm package (Google's Dawn) in Node. The Node package is imported
 * lazily through a computed specifier so that browser bundles never pull it in.
 */

/** SwiftShader's Vulkan driver as Debian's Chromium ships it: Dawn's software fallback in Node. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

interface NodeProcess {
  versions?: { node?: string };
  env?: Record<string, string | undefined>;
}

function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return p?.versions?.node !== undefined ? p : undefined;
}

let nodeGpu: Promise<GPU> | undefined;

/** Dawn's GPU object in Node; points Vulkan at SwiftShader when no ICD is configured. */
async function nodeGPU(proc: NodeProcess): Promise<GPU> {
  nodeGpu ??= (async () => {
    if (proc.env && proc.env.VK_ICD_FILENAMES === undefined) {
      const fs = (await import(/* @vite-ignore */ ['node', 'fs'].join(':'))) as { existsSync(p: string): boolean };
      if (fs.existsSync(SWIFTSHADER_ICD)) proc.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    }
    const specifier = ['web', 'gpu'].join('');
    const mod = (await import(/* @vite-ignore */ specifier)) as {
      create(options: string[]): GPU;
      globals: Record<string, unknown>;
    };
    // The GPUBufferUsage / GPUShaderStage / GPUMapMode constants the API expects as globals.
    for (const [k, v] of Object.entries(mod.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    return mod.create([]);
  })();
  return nodeGpu;
}

/** The host's GPU entry point, or a reason why there is none. */
async function hostGPU(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const proc = nodeProcess();
  if (proc) {
    try {
      return await nodeGPU(proc);
    } catch (e) {
      throw new ChordError('BACKEND_UNAVAILABLE', `webgpu: the 'webgpu' package did not load: ${(e as Error).message}`);
    }
  }
  throw new ChordError('BACKEND_UNAVAILABLE', 'webgpu: this browser has no navigator.gpu');
}

export async function requestAdapter(): Promise<GPUAdapter> {
  const gpu = await hostGPU();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new ChordError('BACKEND_UNAVAILABLE', 'webgpu: no adapter');
  return adapter;
}

/** "vendor architecture (description)", as far as the adapter says. */
export function describeAdapter(adapter: GPUAdapter): string {
  const i = adapter.info;
  const parts = [i.vendor, i.architecture, i.device].filter((s) => s !== undefined && s !== '');
  const name = parts.join(' ') || 'unknown adapter';
  return i.description ? `${name} (${i.description})` : name;
}

export interface WebGPUProbe {
  ok: boolean;
  reason?: string;
  adapter?: string;
  /** A CPU implementation (SwiftShader, WARP...): slower than the wasm backend. */
  software?: boolean;
  /** The adapter's buffer limits (the device asks for these). */
  limits?: BufferLimits;
}

/** The limits that decide whether a model's buffers can be made at all. */
export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** A CPU rasterizer behind WebGPU (SwiftShader, llvmpipe, WARP): usable, but never faster than wasm. */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const i = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return i.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|warp/i.test(describeAdapter(adapter));
}

/** Whether WebGPU is usable here, without keeping a device. */
export async function probeWebGPU(): Promise<WebGPUProbe> {
  try {
    const adapter = await requestAdapter();
    const { maxBufferSize, maxStorageBufferBindingSize } = adapter.limits;
    return {
      ok: true,
      adapter: describeAdapter(adapter),
      software: isSoftwareAdapter(adapter),
      limits: { maxBufferSize, maxStorageBufferBindingSize },
    };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/**
 * What a model asks of the GPU, as the loader estimates it: the weights, a KV
 * cache for one sequence and the forward pass's activations, and the largest
 * single buffer of each (weights are split by rows, so for them one row).
 */
export interface GpuNeeds {
  weightBytes: number;
  /** The longest row of any weight matrix. */
  weightRowBytes: number;
  kvCacheBytes: number;
  /** One layer's K (or V): one buffer. */
  kvLayerBytes: number;
  activationBytes: number;
  largestActivationBytes: number;
}

const GIB = 1024 ** 3;

/**
 * What `auto` lets a model take on the GPU when the browser says nothing of the
 * GPU's memory (WebGPU never does): 4 GiB, or half the machine's memory where
 * `navigator.deviceMemory` tells it (Chromium: RAM in GiB, rounded down to a
 * power of two, at most 8) and that is less. Integrated GPUs share that memory,
 * and a browser tab that exceeds it loses its device rather than swapping.
 */
export function defaultWebGPUBudget(): number {
  const ram = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  const budget = 4 * GIB;
  return typeof ram === 'number' && ram > 0 ? Math.min(budget, (ram * GIB) / 2) : budget;
}

/** Bytes as people read them: "9.1 GiB", "512 MiB". */
export function formatBytes(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
  return `${(n / 1024).toFixed(0)} KiB`;
}

/**
 * Why a model does not fit a WebGPU device with these limits and this budget, or
 * undefined when it fits: every buffer must be bindable (at most
 * min(maxStorageBufferBindingSize, maxBufferSize) bytes: a weight's row, a KV
 * cache layer, an activation), and everything together must stay within `budget`.
 */
export function webgpuMisfit(needs: GpuNeeds, limits: BufferLimits, budget: number): string | undefined {
  const binding = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const buffers: [string, number][] = [
    ['a weight row', needs.weightRowBytes],
    ['a KV cache layer', needs.kvLayerBytes],
    ['an activation', needs.largestActivationBytes],
  ];
  for (const [what, bytes] of buffers) {
    if (bytes > binding) {
      return `${what} needs ${formatBytes(bytes)} in one buffer, over the adapter's limit of ${formatBytes(binding)}`;
    }
  }
  const total = needs.weightBytes + needs.kvCacheBytes + needs.activationBytes;
  if (total > budget) {
    return (
      `the model needs ${formatBytes(total)} (weights ${formatBytes(needs.weightBytes)}, KV cache ` +
      `${formatBytes(needs.kvCacheBytes)}, activations ${formatBytes(needs.activationBytes)}), ` +
      `over the WebGPU budget of ${formatBytes(budget)}`
    );
  }
  return undefined;
}

/**
 * Whether `--backend auto` should take WebGPU here, and why (or why not).
 * In Node only on request (CHORD_WEBGPU=1): Dawn there often runs on a software
 * Vulkan driver, and Node's tests count on auto being wasm. In browsers, any
 * adapter that is not a software fallback. With `needs`, only when the model fits
 * (webgpuMisfit against the adapter's limits and `budget`).
 */
export async function webgpuForAuto(
  needs?: GpuNeeds,
  budget = defaultWebGPUBudget(),
): Promise<{ use: boolean; reason: string }> {
  const proc = nodeProcess();
  if (proc && proc.env?.CHORD_WEBGPU !== '1')
    return { use: false, reason: 'webgpu not tried in Node (CHORD_WEBGPU=1)' };
  const probe = await probeWebGPU();
  if (!probe.ok) return { use: false, reason: `webgpu unavailable: ${probe.reason}` };
  if (probe.software && !proc) return { use: false, reason: `webgpu adapter is a software one (${probe.adapter})` };
  const misfit = needs && probe.limits ? webgpuMisfit(needs, probe.limits, budget) : undefined;
  if (misfit) return { use: false, reason: `webgpu skipped: ${misfit}` };
  return { use: true, reason: `auto: webgpu adapter ${probe.adapter}` };
}

/** The device with the adapter's largest buffer limits, and the features we use when present. */
export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const l = adapter.limits;
  const features: GPUFeatureName[] = [];
  if (adapter.features.has('subgroups')) features.push('subgroups' as GPUFeatureName);
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: Math.min(l.maxComputeInvocationsPerWorkgroup, 256),
    },
  });
  return device;
}
