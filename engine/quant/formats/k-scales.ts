/**
 * Unpacking of the 6-bit sub-block scales that the K-quants squeeze into 12 bytes.
 */

/**
 * Q4_K / Q5_K (ggml's get_scale_min_k4): 8 scales and 8 mins of 6 bits in 12 bytes.
 * Sub-blocks 0..3 keep their scale in the low 6 bits of bytes 0..3 and their
 * min in bytes 4..7; sub-blocks 4..7 keep the low 4 bits in bytes 8..11 (scale
 * low nibble, min high nibble) and the top 2 bits in the spare top bits of
 * bytes 0..7. Writes scale to out[0] and min to out[1].
 */
export function scaleMinK4(j: number, b: Uint8Array, o: number, out: Int32Array): void {
  if (j < 4) {
    out[0] = b[o + j] & 63;
    out[1] = b[o + j + 4] & 63;
  } else {
    out[0] = (b[o + j + 4] & 0x0f) | ((b[o + j - 4] >> 6) << 4);
    out[1] = (b[o + j + 4] >> 4) | ((b[o + j] >> 6) << 4);
  }
}

/**
 * Q3_K: 16 scales of 6 bits in 12 bytes, stored biased by 32. Low 4 bits: bytes
 * 0..7, low nibbles for scales 0..7 and high nibbles for scales 8..15. High 2
 * bits: bytes 8..11, bit pair k (k = 0..3) of byte 8+i belongs to scale 4k+i.
 * Writes the unbiased scales (-32..31) to out[0..15].
 */
export function unpackQ3KScales(b: Uint8Array, o: number, out: Int32Array): void {
  for (let j = 0; j < 16; j++) {
    const low = j < 8 ? b[o + j] & 0x0f : b[o + j - 8] >> 4;
    const high = (b[o + 8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    out[j] = (low | (high << 4)) - 32;
  }
}
