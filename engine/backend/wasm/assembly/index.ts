// The kernels' entry points. All memory is managed by the JS side (memory.ts):
// nothing here allocates; every argument is a byte address in the one shared
// memory. Type codes are ggml's (engine/quant/types.ts GGMLType).
import { K16_STRIDE, Q4K_STRIDE, Q8_STRIDE, quantizeQ8, quantizeQ8K, roundRowBf16, roundRowF16 } from './activations';
import { attentionHeads } from './attention';
import {
  dotBF16,
  dotF16,
  dotF16Tiny,
  dotF32,
  dotF32Tiny,
  dotQ2_K,
  dotQ3_K,
  dotQ4_0,
  dotQ4_0Fused,
  dotQ4_0Rows8,
  dotQ4_0Rows8x2,
  dotQ4_1,
  dotQ4_1Fused,
  dotQ4_K,
  dotQ4_KRows4,
  dotQ5_0,
  dotQ5_0Fused,
  dotQ5_1,
  dotQ5_1Fused,
  dotQ5_K,
  dotQ6_K,
  dotQ8_0,
  dotQ8_0Fused,
  dotQ8_0Rows4,
} from './dots';
import { runLightOp } from './ops';

export { quantizeQ8, quantizeQ8K, roundRowBf16, roundRowF16 } from './activations';
export { addBias, addRows, geglu, gelu, scaleRows, swiglu } from './elementwise';
export { fmaf } from './fma';
export { f32ToHalf, halfToF32 } from './half';
export { layerNorm, rmsNorm } from './norms';
export { prepareWeights, unpackRow } from './repack';
export { rope } from './rope';
export { fmaLanes } from './vmath';

const F32: i32 = 0;
const F16: i32 = 1;
const Q4_0: i32 = 2;
const Q4_1: i32 = 3;
const Q5_0: i32 = 6;
const Q5_1: i32 = 7;
const Q8_0: i32 = 8;
const Q2_K: i32 = 10;
const Q3_K: i32 = 11;
const Q4_K: i32 = 12;
const Q5_K: i32 = 13;
const Q6_K: i32 = 14;
const BF16: i32 = 30;

/** Whether this module has a matmul kernel for weights of `type`. */
export function hasKernel(type: i32): bool {
  return dotOf(type) !== null;
}

/** Bytes of one prepared activation row of n values for weights of `type`. */
export function activationRowBytes(type: i32, n: i32): i32 {
  const blocks = n / blockOf(type);
  switch (blockOf(type)) {
    case 32:
      return blocks * Q8_STRIDE;
    case 256:
      return blocks * (type === Q4_K ? Q4K_STRIDE : K16_STRIDE);
    default:
      return n << 2;
  }
}

/** Prepares `rows` activation rows of n f32 values at x for weights of `type`, into dst (rows of activationRowBytes). */
export function prepareActivations(type: i32, x: usize, n: i32, rows: i32, dst: usize): void {
  prepareChunk(type, x, n, rows, dst, 0, 1);
}

/** Values of a block of `type` and of its prepared activations (1: per value, the float formats). */
function blockOf(type: i32): i32 {
  switch (type) {
    case Q4_0:
    case Q4_1:
    case Q5_0:
    case Q5_1:
    case Q8_0:
      return 32;
    case Q2_K:
    case Q3_K:
    case Q4_K:
    case Q5_K:
    case Q6_K:
      return 256;
    default:
      return 1;
  }
}

/**
 * Chunk `rem` of `chunks` of prepareActivations: whole rows when there are at
 * least as many as chunks, else a range of blocks of the one row (a decode
 * step's activations, prepared by every thread at once). Blocks are prepared
 * each on its own, so any cut gives the same bytes.
 */
export function prepareChunk(type: i32, x: usize, n: i32, rows: i32, dst: usize, rem: i32, chunks: i32): void {
  const stride = <usize>activationRowBytes(type, n);
  const bs = blockOf(type);
  const nb = n / bs;
  let r0 = 0;
  let r1 = rows;
  let b0 = 0;
  let b1 = nb;
  if (rows >= chunks) {
    r0 = (rows * rem) / chunks;
    r1 = (rows * (rem + 1)) / chunks;
  } else {
    b0 = (nb * rem) / chunks;
    b1 = (nb * (rem + 1)) / chunks;
  }
  const blockBytes = stride / <usize>nb;
  for (let r = r0; r < r1; r++) {
    const src = x + ((<usize>r * <usize>n + <usize>(b0 * bs)) << 2);
    const out = dst + <usize>r * stride + <usize>b0 * blockBytes;
    const count = b1 - b0;
    switch (type) {
      case Q4_0:
      case Q4_1:
      case Q5_0:
      case Q5_1:
      case Q8_0:
        quantizeQ8(src, count, out, true);
        break;
      case Q2_K:
      case Q3_K:
      case Q5_K:
      case Q6_K:
        quantizeQ8K(src, count, out);
        break;
      case Q4_K:
        quantizeQ8K(src, count, out, true);
        break;
      case F16:
        roundRowF16(src, count, out);
        break;
      case BF16:
        roundRowBf16(src, count, out);
        break;
      default:
        memory.copy(out, src, (<usize>count) << 2);
    }
  }
}

type DotFn = (w: usize, a: usize, count: i32) => f32;

/** dotOf with the host's fused relaxed_madd as fmaf (matmulRange's FUSED_MADD), where a kernel has an fmaf per lane. */
function fusedDotOf(type: i32): DotFn | null {
  switch (type) {
    case Q4_0:
      return dotQ4_0Fused;
    case Q4_1:
      return dotQ4_1Fused;
    case Q5_0:
      return dotQ5_0Fused;
    case Q5_1:
      return dotQ5_1Fused;
    case Q8_0:
      return dotQ8_0Fused;
    default:
      return dotOf(type);
  }
}

function dotOf(type: i32): DotFn | null {
  switch (type) {
    case F32:
      return dotF32;
    case F16:
      return dotF16;
    case BF16:
      return dotBF16;
    case Q4_0:
      return dotQ4_0;
    case Q4_1:
      return dotQ4_1;
    case Q5_0:
      return dotQ5_0;
    case Q5_1:
      return dotQ5_1;
    case Q8_0:
      return dotQ8_0;
    case Q2_K:
      return dotQ2_K;
    case Q3_K:
      return dotQ3_K;
    case Q4_K:
      return dotQ4_K;
    case Q5_K:
      return dotQ5_K;
    case Q6_K:
      return dotQ6_K;
    default:
      return null;
  }
}

/**
 * out[r * nOut + o] = W[o] . act[r] for output rows o in [o0, o1) and every
 * activation row r; W rows are rowBytes apart, act rows actStride apart. The
 * dot product of each pair is the reference backend's (engine/backend/js
 * matmul): tinyBLAS's order for F32/F16 prompt batches, the repacked
 * kernels' order for Q4_0 and Q4_K with a multiple of 8 rows (for Q4_K the
 * gemm's on activation rows below rows - rows % 4), else the type's own.
 * `flags`: FUSED_MADD, the host's relaxed_madd is fmaf (probeFusedMadd), so
 * the kernels may use it; REPACKED, the weights are in the layout that
 * prepareWeights gave them (it does so for every Q4_0 and Q4_K matrix with a
 * multiple of 8 rows, which the reference computes in another order than the rest).
 */
export function matmulRange(
  type: i32,
  w: usize,
  rowBytes: i32,
  n: i32,
  nOut: i32,
  act: usize,
  actStride: i32,
  rows: i32,
  out: usize,
  o0: i32,
  o1: i32,
  flags: i32,
): void {
  const count = n / blockOf(type);
  const fused = (flags & FUSED_MADD) !== 0;
  if (type === Q4_0 && flags & REPACKED) {
    // Eight weight rows at a time (o0 and o1 are multiples of 8: every chunk but the last is).
    const group = (<usize>rowBytes) << 3;
    for (let o = o0; o < o1; o += 8) {
      const wr = w + <usize>(o >> 3) * group;
      let r = 0;
      // Prompt batches: two activation rows per pass over the eight weight rows.
      for (; r + 2 <= rows; r += 2) {
        const at = act + <usize>r * <usize>actStride;
        const ot = out + ((<usize>r * <usize>nOut + <usize>o) << 2);
        dotQ4_0Rows8x2(wr, at, at + <usize>actStride, count, ot, ot + ((<usize>nOut) << 2), fused);
      }
      for (; r < rows; r++) {
        const ot = out + ((<usize>r * <usize>nOut + <usize>o) << 2);
        dotQ4_0Rows8(wr, act + <usize>r * <usize>actStride, count, ot, fused);
      }
    }
    return;
  }
  if (type === Q8_0 && flags & REPACKED) {
    // Four weight rows at a time (o0 and o1 are multiples of 8).
    const group = (<usize>rowBytes) << 2;
    for (let o = o0; o < o1; o += 4) {
      const wr = w + <usize>(o >> 2) * group;
      for (let r = 0; r < rows; r++) {
        dotQ8_0Rows4(wr, act + <usize>r * <usize>actStride, count, out + ((<usize>r * <usize>nOut + <usize>o) << 2));
      }
    }
    return;
  }
  if (type === Q4_K && flags & REPACKED) {
    // Repacked Q4_K, four weight rows at a time (o0, o1 multiples of 8). llama.cpp's gemm (another
    // float order) takes the activation rows in whole groups of 4, the gemv the rest; decided by
    // the row's index among all `rows`, so the same whichever output rows a thread is given.
    const group = (<usize>rowBytes) << 2;
    const gemmRows = rows - (rows % 4);
    for (let o = o0; o < o1; o += 4) {
      const wr = w + <usize>(o >> 2) * group;
      for (let r = 0; r < rows; r++) {
        const four = dotQ4_KRows4(wr, act + <usize>r * <usize>actStride, count, r < gemmRows, fused);
        v128.store(out + ((<usize>r * <usize>nOut + <usize>o) << 2), four);
      }
    }
    return;
  }
  let f = changetype<DotFn>(fused && ASC_FEATURE_RELAXED_SIMD ? fusedDotOf(type) : dotOf(type));
  if (rows >= 2 && n % 8 === 0) {
    if (type === F32) f = dotF32Tiny;
    else if (type === F16) f = dotF16Tiny;
  }
  for (let o = o0; o < o1; o++) {
    const wr = w + <usize>o * <usize>rowBytes;
    for (let r = 0; r < rows; r++) {
      store<f32>(out + ((<usize>r * <usize>nOut + <usize>o) << 2), f(wr, act + <usize>r * <usize>actStride, count));
    }
  }
}

/** matmulRange's flags. */
const FUSED_MADD: i32 = 1;
const REPACKED: i32 = 2;

/**
 * a * b + c through f32x4.relaxed_madd (relaxed-SIMD build; else a plain
 * multiply and add): the caller tells from the result whether the host fuses
 * it. Arguments from the caller, so that no compiler folds it beforehand.
 */
export function probeFusedMadd(a: f32, b: f32, c: f32): f32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return a * b + c;
  return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
}

// ---- Work shared by threads --------------------------------------------------
// A control block of i32 words (at ctrl):
//   0 generation: bumped by the main thread for each batch of commands
//   1 thread count (main thread included)
//   2 chunks finished in this batch
//   3 command count
//   4 address of the commands (CMD_WORDS i32 each)
//   5 quit flag
//   6 the claim word: the batch's number << 20 | its next chunk to hand out
//   7 chunks in this batch
//   8 the batch's number (12 bits)
//   9 threads asleep at a barrier
// A command (CMD_WORDS i32): kind 1 = matmul, then matmulRange's arguments
// except o0, o1, then the thread count its chunks were cut for (chunksOf,
// nextChunkRows). Kind 2 =
// attention, then attentionHeads' arguments except h0, h1 (`fused` in word 15);
// its heads cut into equal chunks (one per head, per group of heads sharing K
// and V, or one for all). Kinds 3 and up: a light op (ops.ts), one chunk (SwiGLU and
// preparing activations: several, rows or ranges of a row). Word 16: the
// command's chunk count; word 17: how many of the batch's chunks must be
// finished before its own start (the JS side puts a barrier before a command
// that reads what an earlier one writes). Threads take chunks in order from a
// shared counter until none are left, so a thread that wakes late (or never:
// an oversubscribed host) only means the others take more chunks; one that
// takes a chunk behind a barrier waits there for the chunks before it, which
// threads that are running hold.

const CMD_WORDS: i32 = 20;
/**
 * A matmul's output rows are handed out guided: each chunk is a 1/(2 * threads) share
 * of the rows not yet handed out, a multiple of 8 (repacked groups), so that chunks
 * shrink as the rows run out and the threads reach the next barrier together; but at
 * least minChunkRows rows, about 2^15 products (a few µs). Each chunk costs atomic
 * operations on words that every thread writes (~0.1-0.5 µs each as the cache line
 * moves between cores): with 16-row chunks of a 2048-wide matrix those were a fifth of
 * a decode step on 2 threads, and with equal chunks of ~2^18 products a thread still
 * waited up to one of them (~20 µs) at each barrier.
 */
function minChunkRows(n: i32, rows: i32): i32 {
  return max(((1 << 15) / max(n * rows, 1)) & ~7, 8);
}

/** Rows of the next chunk when `left` rows are left. */
function nextChunkRows(left: i32, threads: i32, minRows: i32): i32 {
  const share = (left + 2 * threads - 1) / (2 * threads);
  return min(max((share + 7) & ~7, minRows), left);
}

/** The first output row of chunk k. */
function chunkStart(nOut: i32, threads: i32, minRows: i32, k: i32): i32 {
  let o = 0;
  for (let i = 0; i < k; i++) o += nextChunkRows(nOut - o, threads, minRows);
  return o;
}
const SPIN: i32 = 1 << 15;
/**
 * Spins at a barrier before sleeping: about half a millisecond here. A thread that falls
 * asleep takes 50-100 µs to wake, and the wait at a barrier is mostly the other threads'
 * last chunk, tens of µs: at 2^12 spins a 2-thread decode step spent a fifth of its time
 * at barriers, at 2^18 under a tenth.
 */
const BARRIER_SPIN: i32 = 1 << 18;

/** Chunks of a matmul command's output rows for `threads` threads (the JS side sums chunks to fill word 7). */
export function chunksOf(nOut: i32, n: i32, rows: i32, threads: i32): i32 {
  const minRows = minChunkRows(n, rows);
  let chunks = 0;
  for (let o = 0; o < nOut; chunks++) o += nextChunkRows(nOut - o, max(threads, 1), minRows);
  return chunks;
}

/** Runs chunk `rem` of the command at p. */
function runChunk(p: usize, rem: i32): void {
  const kind = load<i32>(p);
  if (kind > 2) {
    runLightOp(p, rem, load<i32>(p, 64), prepareChunk);
    return;
  }
  if (kind === 2) {
    // Chunk rem: heads rem * per .. (rem + 1) * per, the command's heads cut into its chunk count
    const per = load<i32>(p, 28) / load<i32>(p, 64);
    attentionHeads(
      <usize>load<u32>(p, 4),
      <usize>load<u32>(p, 8),
      <usize>load<u32>(p, 12),
      load<i32>(p, 16),
      load<i32>(p, 20),
      <usize>load<u32>(p, 24),
      load<i32>(p, 28),
      load<i32>(p, 32),
      load<i32>(p, 36),
      load<f32>(p, 40),
      load<i32>(p, 44) !== 0,
      <usize>load<u32>(p, 48),
      load<i32>(p, 52),
      <usize>load<u32>(p, 56),
      rem * per,
      (rem + 1) * per,
      load<i32>(p, 60) !== 0,
    );
    return;
  }
  const nOut = load<i32>(p, 20);
  const threads = max(load<i32>(p, 44), 1); // the count chunksOf was given
  const minRows = minChunkRows(load<i32>(p, 16), load<i32>(p, 32));
  const o0 = chunkStart(nOut, threads, minRows, rem);
  matmulRange(
    load<i32>(p, 4),
    <usize>load<u32>(p, 8),
    load<i32>(p, 12),
    load<i32>(p, 16),
    nOut,
    <usize>load<u32>(p, 24),
    load<i32>(p, 28),
    load<i32>(p, 32),
    <usize>load<u32>(p, 36),
    o0,
    o0 + nextChunkRows(nOut - o0, threads, minRows),
    load<i32>(p, 40),
  );
}

/**
 * Waits until `chunks` chunks of the batch are finished: spinning first (BARRIER_SPIN),
 * then, where this thread may block, asleep in steps of 1 ms (the finishing threads
 * notify; the timeout covers a notification missed in between).
 */
function awaitFinished(ctrl: usize, chunks: i32, mayWait: bool): void {
  for (let s = 0; s < BARRIER_SPIN; s++) if (atomic.load<i32>(ctrl, 8) >= chunks) return;
  while (true) {
    const f = atomic.load<i32>(ctrl, 8);
    if (f >= chunks) return;
    if (!mayWait) continue;
    atomic.add<i32>(ctrl + 36, 1);
    memory.atomic.wait32(ctrl + 8, f, 1_000_000);
    atomic.sub<i32>(ctrl + 36, 1);
  }
}

function work(ctrl: usize, mayWait: bool): void {
  // The command holding the chunk claimed last, and the batch's chunk index where it starts:
  // a thread's claims in a batch only go up, so the search goes on from there.
  let c = 0;
  let first = 0;
  let batch: u32 = 0x1000; // none yet
  while (true) {
    // A claim carries its batch's number: one taken late (a thread held up since an earlier
    // batch) is told apart from the current batch's and dropped, so no chunk runs twice.
    const claim = <u32>atomic.add<i32>(ctrl + 24, 1);
    // The batch's total before its number: the JS side stores the number first.
    const total = atomic.load<i32>(ctrl, 28);
    const idx = <i32>(claim & 0xfffff);
    if (<u32>atomic.load<i32>(ctrl, 32) !== claim >> 20 || idx >= total) return;
    if (claim >> 20 !== batch) {
      // A new batch (its first claim, or one that began while this thread was between claims).
      batch = claim >> 20;
      c = 0;
      first = 0;
    }
    const cmds = <usize>load<u32>(ctrl, 16);
    let p = cmds + <usize>(c * CMD_WORDS * 4);
    while (idx >= first + load<i32>(p, 64)) {
      first += load<i32>(p, 64);
      c++;
      p += <usize>(CMD_WORDS * 4);
    }
    // A barrier: the chunks before it, claimed by running threads, finish first.
    awaitFinished(ctrl, load<i32>(p, 68), mayWait);
    runChunk(p, idx - first);
    const finished = atomic.add<i32>(ctrl + 8, 1) + 1;
    if (finished === total || atomic.load<i32>(ctrl, 36) > 0) atomic.notify(ctrl + 8);
  }
}

/** The main thread's part of the current batch: chunks until none are left; `mayWait`: it may block (not a browser's main thread). */
export function runMainShare(ctrl: usize, mayWait: bool): void {
  work(ctrl, mayWait);
}

/**
 * A worker's life: wait for a new generation (spinning a while first, since
 * a sleeping thread takes hundreds of microseconds to wake), take chunks until
 * none are left; until the quit flag is set.
 */
export function workerLoop(ctrl: usize): void {
  let seen = atomic.load<i32>(ctrl);
  while (true) {
    let g = atomic.load<i32>(ctrl);
    for (let s = 0; g === seen && s < SPIN; s++) g = atomic.load<i32>(ctrl);
    if (g === seen) {
      memory.atomic.wait32(ctrl, seen, -1);
      continue;
    }
    seen = g;
    if (atomic.load<i32>(ctrl, 20) !== 0) return;
    work(ctrl, true);
  }
}

export { attentionHeads, attentionScratchPerHead, expF32, kvStore, roundHalfLanes, vExpF32 } from './attention';
