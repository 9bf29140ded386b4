/**
 * Half-precision (IEEE binary16) and bfloat16 conversions, bit-exact with ggml.
 *
 * - f32 -> f16 rounds to nearest, ties to even, as x86 F16C `_cvtss_sh(x, 0)`
 *   (which is what ggml's GGML_FP32_TO_FP16 compiles to on x86): subnormal
 *   halves are produced, overflow goes to infinity, NaN stays NaN (quiet bit set,
 *   upper payload bits kept).
 * - f32 -> bf16 is ggml_compute_fp32_to_bf16: NaN forced quiet, otherwise round
 *   to nearest even on the upper 16 bits.
 *
 * JavaScript numbers are doubles: every input is first rounded to float32
 * (Math.fround) so that a conversion sees the same float the C code would.
 */

// One 4-byte scratch word, seen as a float and as its bits. Little-endian
// hosts only (every host we target); the bit layout of float32 itself does not
// depend on byte order when read through these same-typed views.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The IEEE-754 bits of fround(x). */
export function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0];
}

/** The float32 whose bits are `bits` (an unsigned 32-bit integer). */
export function f32FromBits(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0];
}

let halfTable: Float32Array | undefined;

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = halfToFloatSlow(h);
  return table;
}

/** binary16 -> number by the definition (used to build the table). */
function halfToFloatSlow(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 31) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** The 65536 f16 values as float32, built on first use. Index with the f16 bits. */
export function f16Table(): Float32Array {
  if (halfTable === undefined) halfTable = buildHalfTable();
  return halfTable;
}

/** binary16 bits -> float value (exact: every half is a float32). */
export function f16ToF32(bits: number): number {
  if (halfTable === undefined) halfTable = buildHalfTable();
  return halfTable[bits & 0xffff];
}

/** float -> binary16 bits, round to nearest even (x86 F16C `_cvtss_sh(x, 0)`). */
export function f32ToF16(x: number): number {
  const bits = f32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;

  if (exp === 0xff) {
    // Infinity, or NaN made quiet with the top of its payload kept.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7c00 | 0x200 | (mant >>> 13);
  }
  if (exp > 142) return sign | 0x7c00; // >= 2^16: beyond every half, even after rounding

  if (exp >= 113) {
    // Normal half: keep 10 of 23 mantissa bits; a carry out of the mantissa
    // correctly bumps the exponent (up to infinity for 65520 and above).
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }

  // Subnormal half (or zero): count in units of 2^-24. The float's value is
  // full * 2^(exp-150), i.e. full >> (126 - exp) units.
  const shift = 126 - exp;
  if (shift > 24) return sign; // below half the smallest subnormal (f32 subnormals included)
  const full = mant | 0x800000;
  let h = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (h & 1) !== 0)) h++;
  return sign | h;
}

/** x rounded to the nearest half and back: f16ToF32(f32ToF16(x)). */
export function roundToF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}

/** bfloat16 bits -> float value: the upper half of a float32. */
export function bf16ToF32(bits: number): number {
  return f32FromBits((bits & 0xffff) << 16);
}

/** float -> bfloat16 bits as ggml_compute_fp32_to_bf16: NaN -> quiet NaN, else round to nearest even. */
export function f32ToBf16(x: number): number {
  const bits = f32Bits(x);
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 64) & 0xffff;
  // No wrap-around: the largest non-NaN word, 0xff800000, plus 0x8000 stays below 2^32.
  return (bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16;
}
