import { f16ToF32 } from '../../quant/fp16.ts';
import { GGMLType } from '../../quant/types.ts';
import { fmaF32 } from '../../quant/x86.ts';
import { scaleMinK4 } from '../../quant/x86-k.ts';

const Q4_K_SIZE = 144; // d, dmin (f16), scales[12], qs[128]
const Q8_K_SIZE = 292; // d (f32), qs[256], bsums[16] (i16)

/**
 * Whether llama.cpp's AVX2 build repacks this weight into its CPU_REPACK buffer
 * as block_q4_Kx8 (ggml_repack_get_optimal_repack_type: Q4_K with ne[1] % 8 == 0),
 * so that its products go through ggml_gemv/gemm_q4_K_8x8_q8_K.
 */
export function isQ4_KRepacked(type: GGMLType, nRows: number): boolean {
  return type === GGMLType.Q4_K && nRows % 8 === 0;
}

/**
 * One output of ggml_gemv_q4_K_8x8_q8_K (AVX2), from the plain Q4_K row (the
 * repacking moves bytes, not values): per super-block, the integer sum of each
 * 32-element sub-block's scale times its q4·q8 dot, and the integer sum of each
 * sub-block's min times its activation sum, are each added to a float
 * accumulator by one FMA with float(d_weight · d_activation) (dmin for the
 * mins); the output is acc − accMin.
 */
export function vecDotQ4_KRepacked(
  _type: GGMLType,
  n: number,
  w: Uint8Array,
  wOffset: number,
  a: Uint8Array,
  aOffset: number,
): number {
  return repackedQ4_K(n, w, wOffset, a, aOffset, 8);
}

/**
 * One output of ggml_gemm_q4_K_8x8_q8_K (AVX2), which llama.cpp runs on the
 * activation rows in whole groups of 4 when a product has 4 rows or more (the
 * rest go through the gemv): the same sums as vecDotQ4_KRepacked, but its
 * loop over a super-block takes two sub-blocks at a time and folds each pair
 * into the float accumulators by its own FMA (four per super-block).
 */
export function vecDotQ4_KRepackedGemm(
  _type: GGMLType,
  n: number,
  w: Uint8Array,
  wOffset: number,
  a: Uint8Array,
  aOffset: number,
): number {
  return repackedQ4_K(n, w, wOffset, a, aOffset, 2);
}

/** Whether llama.cpp takes activation row `row` of `rows` through the gemm (whole groups of 4) rather than the gemv. */
export function usesRepackedGemm(row: number, rows: number): boolean {
  return row < rows - (rows % 4);
}

/** The repacked Q4_K product, its integer sums folded into float every `perStep` sub-blocks. */
function repackedQ4_K(
  n: number,
  w: Uint8Array,
  wOffset: number,
  a: Uint8Array,
  aOffset: number,
  perStep: 2 | 8,
): number {
  const av = new DataView(a.buffer, a.byteOffset);
  let acc = 0;
  let accMin = 0;
  for (let b = 0; b < n / 256; b++) {
    const xb = wOffset + b * Q4_K_SIZE;
    const yb = aOffset + b * Q8_K_SIZE;
    const dy = av.getFloat32(yb, true);
    const scale = Math.fround(f16ToF32(w[xb] | (w[xb + 1] << 8)) * dy);
    const minScale = Math.fround(f16ToF32(w[xb + 2] | (w[xb + 3] << 8)) * dy);
    let isum = 0;
    let imin = 0;
    for (let j = 0; j < 8; j++) {
      const qs = xb + 16 + (j >> 1) * 32;
      let dot = 0;
      for (let e = 0; e < 32; e++) {
        const q4 = j & 1 ? w[qs + e] >> 4 : w[qs + e] & 0x0f;
        dot += q4 * ((a[yb + 4 + j * 32 + e] << 24) >> 24);
      }
      isum += scaleMinK4(w, xb + 4, j, 0) * dot;
      const bsum = av.getInt16(yb + 260 + 4 * j, true) + av.getInt16(yb + 262 + 4 * j, true);
      imin += scaleMinK4(w, xb + 4, j, 1) * bsum;
      if ((j + 1) % perStep === 0) {
        acc = fmaF32(Math.fround(isum), scale, acc);
        accMin = fmaF32(Math.fround(imin), minScale, accMin);
        isum = 0;
        imin = 0;
      }
    }
  }
  return Math.fround(acc - accMin);
}
