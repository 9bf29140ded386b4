/**
 * K-quant dot products as llama.cpp's x86 AVX2 build computes them (see x86.ts
 * for why the float order matters).
 *
 * Q2_K: on AVX2 llama.cpp does not repack Q2_K (ggml_repack_get_optimal_repack_type
 * repacks it only with AVX-512), so ggml_vec_dot_q2_K_q8_K (arch/x86/quants.c)
 * runs. Per super-block it keeps 8 float lanes:
 *   lane k += dmin' · (min[2k]·bsum[2k] + min[2k+1]·bsum[2k+1])     (one FMA, dmin' = -(dy·dmin))
 *   lane k += d · Σ_{16-element group g} scale[g] · Σ q2·q8 over the 4 elements
 *            at 4k..4k+3 of each 32-element chunk                   (one FMA, d = dy·dx)
 * where lanes 0-3 take the first 16 elements of a chunk (scale 2l of its half)
 * and lanes 4-7 the last 16 (scale 2l+1). The integer sums are exact; only the
 * two FMAs per lane and the final hsum_float_8 round. The generic code instead
 * rounds dall·isum − dmin·summs once per super-block.
 */
import { f16ToF32 } from './fp16.ts';
import { fmaF32, hsumF32x8 } from './x86.ts';

const fround = Math.fround;
const Q2_K_SIZE = 84; // scales[16], qs[64], d, dmin
const Q8_K_SIZE = 292; // d (f32), qs[256], bsums[16] (i16)

const lanes = new Float32Array(8);
const sumi = new Int32Array(8);

/** ggml_vec_dot_q2_K_q8_K, AVX2 float order, over nBlocks super-blocks of 256. */
export function dotQ2_KX86(nBlocks: number, w: Uint8Array, wOffset: number, a: Uint8Array, aOffset: number): number {
  const av = new DataView(a.buffer, a.byteOffset);
  lanes.fill(0);
  for (let i = 0; i < nBlocks; i++) {
    const xb = wOffset + i * Q2_K_SIZE;
    const yb = aOffset + i * Q8_K_SIZE;
    const dy = av.getFloat32(yb, true);
    const d = fround(dy * half(w, xb + 80));
    const dmin = -fround(dy * half(w, xb + 82));
    for (let k = 0; k < 8; k++) {
      const m0 = w[xb + 2 * k] >> 4;
      const m1 = w[xb + 2 * k + 1] >> 4;
      const prod = m0 * av.getInt16(yb + 260 + 4 * k, true) + m1 * av.getInt16(yb + 262 + 4 * k, true);
      lanes[k] = fmaF32(dmin, prod, lanes[k]);
    }
    sumi.fill(0);
    for (let j = 0; j < 2; j++) {
      for (let l = 0; l < 4; l++) {
        for (let k = 0; k < 8; k++) {
          const scale = w[xb + j * 8 + 2 * l + (k >> 2)] & 0x0f;
          let s = 0;
          for (let e = 4 * k; e < 4 * k + 4; e++) {
            const q2 = (w[xb + 16 + j * 32 + e] >> (2 * l)) & 3;
            s += q2 * ((a[yb + 4 + j * 128 + l * 32 + e] << 24) >> 24);
          }
          sumi[k] += scale * s;
        }
      }
    }
    for (let k = 0; k < 8; k++) lanes[k] = fmaF32(d, sumi[k], lanes[k]);
  }
  return hsumF32x8(lanes);
}

function half(b: Uint8Array, o: number): number {
  return f16ToF32(b[o] | (b[o + 1] << 8));
}
