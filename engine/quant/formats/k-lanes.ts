/**
 * The accumulation scheme of ggml's generic K-quant dot products
 * (ggml_vec_dot_q{3,4,5,6}_K_q8_K_generic): products q8 * q are summed, times
 * the sub-block scale, in eight int32 lanes (lane = weight index mod 8). Each
 * block then adds d * lane to eight float partial sums, which are added up in
 * lane order at the very end. The lanes are converted to float one by one, so
 * the float result depends on keeping them apart: we do.
 */
import { fround } from './block.ts';

/**
 * lanes[l] += scale * sum over g of a8[aq + 8g + l] * q[k + 8g + l], for the
 * `count` weights (a multiple of 8) starting at k. Integer arithmetic: exact.
 */
export function addScaledLanes(
  lanes: Int32Array,
  scale: number,
  a8: Int8Array,
  aq: number,
  q: Int8Array,
  k: number,
  count: number,
): void {
  // Eight running sums, one per lane, walking the weights in memory order.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  for (let g = 0; g < count; g += 8) {
    const x = aq + g;
    const y = k + g;
    s0 += a8[x] * q[y];
    s1 += a8[x + 1] * q[y + 1];
    s2 += a8[x + 2] * q[y + 2];
    s3 += a8[x + 3] * q[y + 3];
    s4 += a8[x + 4] * q[y + 4];
    s5 += a8[x + 5] * q[y + 5];
    s6 += a8[x + 6] * q[y + 6];
    s7 += a8[x + 7] * q[y + 7];
  }
  lanes[0] += scale * s0;
  lanes[1] += scale * s1;
  lanes[2] += scale * s2;
  lanes[3] += scale * s3;
  lanes[4] += scale * s4;
  lanes[5] += scale * s5;
  lanes[6] += scale * s6;
  lanes[7] += scale * s7;
}

/** sums[l] += d * float(lanes[l]), each step rounded to float32. */
export function addLanesToSums(sums: Float64Array, d: number, lanes: Int32Array): void {
  for (let l = 0; l < 8; l++) sums[l] = fround(sums[l] + fround(d * fround(lanes[l])));
}

/** The final sumf += sums[l] for l = 0..7, starting from `sumf`. */
export function addSums(sumf: number, sums: Float64Array): number {
  let s = sumf;
  for (let l = 0; l < 8; l++) s = fround(s + sums[l]);
  return s;
}
