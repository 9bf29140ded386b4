/**
 * Test-side block builders, written from the block layouts in ggml-common.h and
 * the packing loops of ggml's quantize_row_*_ref (the specification), not from
 * our decoders. Each takes the logical fields of one block and returns its bytes.
 */

import { rng } from '../../../helpers/rng.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >> 8) & 0xff;
}

export function putF32(b: Uint8Array, o: number, x: number): void {
  f32[0] = x;
  const v = u32[0] as number;
  for (let k = 0; k < 4; k++) b[o + k] = (v >>> (8 * k)) & 0xff;
}

/** 4-bit quants in ggml's legacy order: byte j = q[j] | q[j+16] << 4. */
function packNibbles32(b: Uint8Array, o: number, q: readonly number[]): void {
  for (let j = 0; j < 16; j++) b[o + j] = (q[j] as number) | ((q[j + 16] as number) << 4);
}

/** Fifth bits of 32 quants as a little-endian u32: bit j is bit 4 of q[j]. */
function packHighBits32(b: Uint8Array, o: number, q: readonly number[]): void {
  let qh = 0;
  for (let j = 0; j < 32; j++) qh |= (((q[j] as number) >> 4) & 1) << j;
  for (let k = 0; k < 4; k++) b[o + k] = (qh >>> (8 * k)) & 0xff;
}

/** Q4_0: dBits (f16), q[32] in 0..15. */
export function packQ4_0(dBits: number, q: readonly number[]): Uint8Array {
  const b = new Uint8Array(18);
  putU16(b, 0, dBits);
  packNibbles32(b, 2, q);
  return b;
}

export function packQ4_1(dBits: number, mBits: number, q: readonly number[]): Uint8Array {
  const b = new Uint8Array(20);
  putU16(b, 0, dBits);
  putU16(b, 2, mBits);
  packNibbles32(b, 4, q);
  return b;
}

/** Q5_0: q[32] in 0..31. */
export function packQ5_0(dBits: number, q: readonly number[]): Uint8Array {
  const b = new Uint8Array(22);
  putU16(b, 0, dBits);
  packHighBits32(b, 2, q);
  packNibbles32(
    b,
    6,
    q.map((v) => v & 15),
  );
  return b;
}

export function packQ5_1(dBits: number, mBits: number, q: readonly number[]): Uint8Array {
  const b = new Uint8Array(24);
  putU16(b, 0, dBits);
  putU16(b, 2, mBits);
  packHighBits32(b, 4, q);
  packNibbles32(
    b,
    8,
    q.map((v) => v & 15),
  );
  return b;
}

/** Q8_0: q[32] in -128..127. */
export function packQ8_0(dBits: number, q: readonly number[]): Uint8Array {
  const b = new Uint8Array(34);
  putU16(b, 0, dBits);
  for (let j = 0; j < 32; j++) b[2 + j] = (q[j] as number) & 0xff;
  return b;
}

export function packQ8_1(dBits: number, sBits: number, q: readonly number[]): Uint8Array {
  const b = new Uint8Array(36);
  putU16(b, 0, dBits);
  putU16(b, 2, sBits);
  for (let j = 0; j < 32; j++) b[4 + j] = (q[j] as number) & 0xff;
  return b;
}

/** Q8_K: d (float32), q[256], bsums computed as the spec defines them. */
export function packQ8_K(d: number, q: readonly number[]): Uint8Array {
  const b = new Uint8Array(292);
  putF32(b, 0, d);
  for (let j = 0; j < 256; j++) b[4 + j] = (q[j] as number) & 0xff;
  for (let g = 0; g < 16; g++) {
    let s = 0;
    for (let l = 0; l < 16; l++) s += q[16 * g + l] as number;
    putU16(b, 260 + 2 * g, s & 0xffff);
  }
  return b;
}

/** 2-bit planes as in Q2_K/Q3_K: for each 128-half, qs[l] = L[l] | L[l+32]<<2 | L[l+64]<<4 | L[l+96]<<6. */
function pack2BitPlanes(b: Uint8Array, o: number, L: readonly number[]): void {
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      b[o + j / 4 + l] =
        ((L[j + l] as number) & 3) |
        (((L[j + l + 32] as number) & 3) << 2) |
        (((L[j + l + 64] as number) & 3) << 4) |
        (((L[j + l + 96] as number) & 3) << 6);
    }
  }
}

/** Q2_K: scales[16] and mins[16] in 0..15, q[256] in 0..3. */
export function packQ2_K(
  dBits: number,
  dminBits: number,
  scales: readonly number[],
  mins: readonly number[],
  q: readonly number[],
): Uint8Array {
  const b = new Uint8Array(84);
  for (let j = 0; j < 16; j++) b[j] = (scales[j] as number) | ((mins[j] as number) << 4);
  pack2BitPlanes(b, 16, q);
  putU16(b, 80, dBits);
  putU16(b, 82, dminBits);
  return b;
}

/** Q3_K: scales[16] in -32..31, q[256] in -4..3. */
export function packQ3_K(dBits: number, scales: readonly number[], q: readonly number[]): Uint8Array {
  const b = new Uint8Array(110);
  // Quants stored as L = q + 4 in 0..7: the high bit goes to hmask, bit (j / 32) of hmask[j % 32].
  const L = q.map((v) => v + 4);
  for (let j = 0; j < 256; j++) {
    if ((L[j] as number) > 3) {
      b[j % 32] = (b[j % 32] as number) | (1 << Math.floor(j / 32));
      L[j] = (L[j] as number) - 4;
    }
  }
  pack2BitPlanes(b, 32, L);
  for (let j = 0; j < 16; j++) {
    const l = (scales[j] as number) + 32;
    if (j < 8) b[96 + j] = l & 0xf;
    else b[96 + j - 8] = (b[96 + j - 8] as number) | ((l & 0xf) << 4);
    b[96 + 8 + (j % 4)] = (b[96 + 8 + (j % 4)] as number) | ((l >> 4) << (2 * Math.floor(j / 4)));
  }
  putU16(b, 108, dBits);
  return b;
}

/** The 12-byte scale/min packing of Q4_K and Q5_K: 8 scales and 8 mins in 0..63. */
function packScaleMinK4(b: Uint8Array, o: number, scales: readonly number[], mins: readonly number[]): void {
  for (let j = 0; j < 8; j++) {
    const ls = scales[j] as number;
    const lm = mins[j] as number;
    if (j < 4) {
      b[o + j] = ls;
      b[o + j + 4] = lm;
    } else {
      b[o + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      b[o + j - 4] = (b[o + j - 4] as number) | ((ls >> 4) << 6);
      b[o + j] = (b[o + j] as number) | ((lm >> 4) << 6);
    }
  }
}

/** Q4_K: scales[8], mins[8] in 0..63, q[256] in 0..15. */
export function packQ4_K(
  dBits: number,
  dminBits: number,
  scales: readonly number[],
  mins: readonly number[],
  q: readonly number[],
): Uint8Array {
  const b = new Uint8Array(144);
  putU16(b, 0, dBits);
  putU16(b, 2, dminBits);
  packScaleMinK4(b, 4, scales, mins);
  for (let j = 0; j < 256; j += 64) {
    for (let l = 0; l < 32; l++) b[16 + j / 2 + l] = (q[j + l] as number) | ((q[j + l + 32] as number) << 4);
  }
  return b;
}

/** Q5_K: scales[8], mins[8] in 0..63, q[256] in 0..31. */
export function packQ5_K(
  dBits: number,
  dminBits: number,
  scales: readonly number[],
  mins: readonly number[],
  q: readonly number[],
): Uint8Array {
  const b = new Uint8Array(176);
  putU16(b, 0, dBits);
  putU16(b, 2, dminBits);
  packScaleMinK4(b, 4, scales, mins);
  let m1 = 1;
  let m2 = 2;
  for (let n = 0; n < 256; n += 64) {
    for (let j = 0; j < 32; j++) {
      let l1 = q[n + j] as number;
      if (l1 > 15) {
        l1 -= 16;
        b[16 + j] = (b[16 + j] as number) | m1;
      }
      let l2 = q[n + j + 32] as number;
      if (l2 > 15) {
        l2 -= 16;
        b[16 + j] = (b[16 + j] as number) | m2;
      }
      b[48 + n / 2 + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
  }
  return b;
}

/** Q6_K: scales[16] in -128..127, q[256] in -32..31. */
export function packQ6_K(dBits: number, scales: readonly number[], q: readonly number[]): Uint8Array {
  const b = new Uint8Array(210);
  const L = q.map((v) => v + 32);
  for (let j = 0; j < 256; j += 128) {
    const ql = j / 2;
    const qh = 128 + j / 4;
    for (let l = 0; l < 32; l++) {
      const q1 = (L[j + l] as number) & 0xf;
      const q2 = (L[j + l + 32] as number) & 0xf;
      const q3 = (L[j + l + 64] as number) & 0xf;
      const q4 = (L[j + l + 96] as number) & 0xf;
      b[ql + l] = q1 | (q3 << 4);
      b[ql + l + 32] = q2 | (q4 << 4);
      b[qh + l] =
        ((L[j + l] as number) >> 4) |
        (((L[j + l + 32] as number) >> 4) << 2) |
        (((L[j + l + 64] as number) >> 4) << 4) |
        (((L[j + l + 96] as number) >> 4) << 6);
    }
  }
  for (let j = 0; j < 16; j++) b[192 + j] = (scales[j] as number) & 0xff;
  putU16(b, 208, dBits);
  return b;
}

export { rng };

/** n random integers in [lo, hi]. */
export function ints(next: () => number, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => lo + Math.floor(next() * (hi - lo + 1)));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
