import type { TopLogits } from '../../backend.ts';

/**
 * The k best logits of a row and its log-sum-exp, so that a token step reads
 * back a few dozen words instead of the whole vocabulary (Backend.readTopK).
 *
 * One workgroup per row, TOP_K_THREADS threads, thread t owning the elements
 * t, t + TOP_K_THREADS, ... Each thread holds, in rank order, the best
 * TOP_K_HELD elements of its share that it has not yet given up. A round
 * reduces the threads' first candidates to the best one (a tree in workgroup
 * memory) and writes it out; its owner moves on to its next, and scans its
 * share again only when it has given up all it held. k rounds give the k best
 * in rank order: higher value first, among equal values the lower index (the
 * sampler's order, so ties break as on the CPU). With the best logits spread
 * over the shares, the row is scanned about once. The values are copied, never
 * recomputed: sampling from them is sampling from the row.
 *
 * Then Σ exp(x - max) in f32: each thread sums its share in order, a tree adds
 * the partial sums. NaN and infinities are counted (read from the bits: WGSL
 * may assume there are none) and left out; a row with any is read whole.
 *
 * Output per row, as u32 words: [non-finite count, max (f32 bits), sum (f32
 * bits), 0, k ids, k values (f32 bits)]. An id of 0xffffffff: fewer than k
 * finite values.
 */

export const TOP_K_THREADS = 256;
/** Candidates each thread holds between scans of its share. */
export const TOP_K_HELD = 8;

/** Words of output per row for k. */
export function topKWords(k: number): number {
  return 4 + 2 * k;
}

export const TOP_K = /* wgsl */ `
struct Params { n: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
const WG = ${TOP_K_THREADS}u;
const NONE = 0xffffffffu;
var<workgroup> best_v: array<f32, ${TOP_K_THREADS}>;
var<workgroup> best_i: array<u32, ${TOP_K_THREADS}>;
var<workgroup> sums: array<f32, ${TOP_K_THREADS}>;
var<workgroup> non_finite: atomic<u32>;

fn is_finite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }

// (av, ai) ranks before (bv, bi): the higher value, then the lower index; NONE ranks last.
fn before(av: f32, ai: u32, bv: f32, bi: u32) -> bool {
  if (ai == NONE) { return false; }
  if (bi == NONE) { return true; }
  return av > bv || (av == bv && ai < bi);
}

const M = ${TOP_K_HELD}u;
// This thread's candidates in rank order, cand[first..held) not yet given up.
var<private> cand_v: array<f32, ${TOP_K_HELD}>;
var<private> cand_i: array<u32, ${TOP_K_HELD}>;
var<private> held: u32;
var<private> first: u32;

// Holds the M best finite elements of thread t's share that rank after (after_v, after_i) (NONE: the best of all).
fn hold_best_after(base: u32, t: u32, after_v: f32, after_i: u32) {
  held = 0u;
  first = 0u;
  for (var i = t; i < p.n; i += WG) {
    let v = X[base + i];
    if (!is_finite(v) || (after_i != NONE && !before(after_v, after_i, v, i))) { continue; }
    if (held == M && !before(v, i, cand_v[M - 1u], cand_i[M - 1u])) { continue; }
    // insertion into the ranked list; a full list drops its last
    var j = min(held, M - 1u);
    while (j > 0u && before(v, i, cand_v[j - 1u], cand_i[j - 1u])) {
      cand_v[j] = cand_v[j - 1u];
      cand_i[j] = cand_i[j - 1u];
      j--;
    }
    cand_v[j] = v;
    cand_i[j] = i;
    held = min(held + 1u, M);
  }
}

@compute @workgroup_size(${TOP_K_THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let base = wid.x * p.n;
  let o = wid.x * (4u + 2u * p.k);
  var bad = 0u;
  for (var i = t; i < p.n; i += WG) { if (!is_finite(X[base + i])) { bad += 1u; } }
  atomicAdd(&non_finite, bad);
  hold_best_after(base, t, 0.0, NONE);
  var max_v = 0.0;
  for (var r = 0u; r < p.k; r++) {
    if (first < held) {
      best_v[t] = cand_v[first];
      best_i[t] = cand_i[first];
    } else {
      best_v[t] = 0.0;
      best_i[t] = NONE;
    }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (t < s && before(best_v[t + s], best_i[t + s], best_v[t], best_i[t])) {
        best_v[t] = best_v[t + s];
        best_i[t] = best_i[t + s];
      }
      workgroupBarrier();
    }
    let win_v = best_v[0];
    let win_i = best_i[0];
    workgroupBarrier(); // everyone has read the winner before the next round writes
    if (r == 0u) { max_v = win_v; }
    if (t == 0u) {
      out[o + 4u + r] = win_i;
      out[o + 4u + p.k + r] = bitcast<u32>(win_v);
    }
    if (win_i != NONE && win_i % WG == t) {
      first++;
      // all given up, and the share may hold more: scan it again below the winner
      if (first == M) { hold_best_after(base, t, win_v, win_i); }
    }
  }
  var sum = 0.0;
  for (var i = t; i < p.n; i += WG) {
    let v = X[base + i];
    if (is_finite(v)) { sum += exp(v - max_v); }
  }
  sums[t] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { sums[t] += sums[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    out[o] = atomicLoad(&non_finite);
    out[o + 1u] = bitcast<u32>(max_v);
    out[o + 2u] = bitcast<u32>(sums[0]);
    out[o + 3u] = 0u;
  }
}
`;

/** The TopLogits of one row of TOP_K's output; logSumExp = max + ln(sum), in double. */
export function parseTopK(words: Uint32Array, k: number, row = 0): TopLogits {
  const o = row * topKWords(k);
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  let found = 0;
  while (found < k && words[o + 4 + found] !== 0xffffffff) found++;
  const ids = Int32Array.from(words.subarray(o + 4, o + 4 + found));
  const logits = floats.slice(o + 4 + k, o + 4 + k + found);
  const logSumExp = words[o] === 0 ? floats[o + 1] + Math.log(floats[o + 2]) : Number.NaN;
  return { ids, logits, logSumExp };
}
