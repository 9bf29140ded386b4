/**
 * Records dispatches into one command encoder, and the small per-dispatch data
 * (uniform parameters, token ids, positions, RoPE tables) into an arena of
 * CPU-side chunks, uploaded with queue.writeBuffer right before the single
 * submission. queue.writeBuffer is ordered with submissions, so a chunk is
 * reused by the next recording without waiting for the GPU.
 */

/** WebGPU's minimum alignment for uniform and storage binding offsets. */
const BINDING_ALIGN = 256;
const CHUNK_BYTES = 1 << 20;

interface Chunk {
  buffer: GPUBuffer;
  data: Uint8Array<ArrayBuffer>;
  used: number;
}

/** A slice of an arena chunk, ready to bind. */
export interface ArenaSlice {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class Arena {
  private readonly chunks: Chunk[] = [];
  private current = 0;

  constructor(private readonly device: GPUDevice) {}

  /** Copies `bytes` into the arena; returns where they will be on the GPU. */
  put(bytes: Uint8Array): ArenaSlice {
    const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
    let c = this.chunks[this.current];
    while (c !== undefined && c.used + size > c.data.byteLength) c = this.chunks[++this.current];
    if (c === undefined) {
      const capacity = Math.max(CHUNK_BYTES, Math.ceil(size / BINDING_ALIGN) * BINDING_ALIGN);
      c = {
        buffer: this.device.createBuffer({
          size: capacity,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
        }),
        data: new Uint8Array(new ArrayBuffer(capacity)),
        used: 0,
      };
      this.chunks.push(c);
      this.current = this.chunks.length - 1;
    }
    const offset = c.used;
    c.data.set(bytes, offset);
    c.used = Math.ceil((offset + size) / BINDING_ALIGN) * BINDING_ALIGN;
    return { buffer: c.buffer, offset, size };
  }

  /** Uploads what was put since the last upload, and starts over. */
  upload(queue: GPUQueue): void {
    for (const c of this.chunks) {
      if (c.used > 0) queue.writeBuffer(c.buffer, 0, c.data, 0, Math.min(c.used, c.data.byteLength));
      c.used = 0;
    }
    this.current = 0;
  }

  destroy(): void {
    for (const c of this.chunks) c.buffer.destroy();
    this.chunks.length = 0;
  }
}

/** Packs uniform parameters: integers as u32, numbers marked with f() as f32. */
export function packParams(values: readonly (number | { f32: number })[]): Uint8Array {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(values.length / 4) * 16));
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  values.forEach((v, i) => {
    if (typeof v === 'number') u[i] = v;
    else f[i] = v.f32;
  });
  return new Uint8Array(buf);
}

export const f = (x: number): { f32: number } => ({ f32: x });

export type Binding = GPUBuffer | ArenaSlice;

/** The command encoder of one submission, with its compute pass. */
export class Recorder {
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  readonly arena: Arena;
  /** Dispatches recorded since the last submission. */
  dispatches = 0;

  constructor(private readonly device: GPUDevice) {
    this.arena = new Arena(device);
  }

  /** Records one dispatch; bindings are numbered 0.. in the order given. */
  dispatch(
    pipeline: GPUComputePipeline,
    bindings: readonly Binding[],
    groups: readonly [number, number, number],
  ): void {
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: bindings.map((b, binding) => ({
        binding,
        resource: 'buffer' in b ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b },
      })),
    });
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.dispatches++;
  }

  /** Ends the pass, copies `src` to `dst` (when given), and submits everything recorded. */
  submit(copy?: { src: GPUBuffer; dst: GPUBuffer; size: number }): void {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass?.end();
    this.pass = undefined;
    if (copy) this.encoder.copyBufferToBuffer(copy.src, 0, copy.dst, 0, copy.size);
    this.arena.upload(this.device.queue);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.dispatches = 0;
  }
}
