// Weights put into the layouts the matmul kernels read, in place, once on
// load (llama.cpp repacks Q4_0 and Q4_K this way on x86): per group of `rows`
// consecutive rows and per block index, each field of the block for the
// group's rows one after another. A kernel then reads one stream of memory per
// group rather than one per row, and a field of all its rows with one load.
//
//   Q4_0, 8 rows (block_q4_0x8): fields 2 (f16 scale), 16 (nibbles)
//   Q4_K, 4 rows: fields 2 (d), 2 (dmin), 12 (6-bit scales and mins), 128 (nibbles;
//     in the relaxed-SIMD build each 32 bytes of them in activations.ts pairSlot's order)
//   Q8_0, 4 rows (where dots.ts canRepackQ8_0 allows): fields 2 (scale), 32 (quants)
import { pairSlot } from './activations';
import { canRepackQ8_0 } from './dots';

const Q4_0: i32 = 2;
const Q8_0: i32 = 8;
const Q4_K: i32 = 12;

/**
 * The layouts, inlined where `type` is a constant so that every size below is
 * one too: static methods, the one place a decorator is valid TypeScript as well.
 */
// biome-ignore lint/complexity/noStaticOnlyClass: static methods are where @inline can go
class Layout {
  /** Rows in a repacked group. */
  @inline static rows(type: i32): usize {
    return type === Q4_0 ? 8 : 4;
  }

  /** Bytes of a block. */
  @inline static block(type: i32): usize {
    return type === Q4_0 ? 18 : type === Q8_0 ? 34 : 144;
  }

  /** Bytes of field k of a block (0: no such field). */
  @inline static field(type: i32, k: i32): usize {
    if (type === Q4_K) return k === 0 || k === 1 ? 2 : k === 2 ? 12 : 128;
    if (k === 0) return 2;
    return k === 1 ? Layout.block(type) - 2 : 0;
  }

  /** n bytes from `from` to `to`: the sizes of fields as plain loads where they have one. */
  @inline static copy(to: usize, from: usize, n: usize): void {
    if (n === 2) store<u16>(to, load<u16>(from));
    else if (n === 16) v128.store(to, v128.load(from));
    else if (n === 32) {
      v128.store(to, v128.load(from));
      v128.store(to, v128.load(from, 16), 16);
    } else memory.copy(to, from, n);
  }

  /** Moves row r's block between its plain place and its place in a repacked block (toPacked: into it). */
  @inline static move(type: i32, packed: usize, plain: usize, r: usize, toPacked: bool): void {
    let p = packed;
    let q = plain;
    // The four fields one after another, written out so that each size is a constant
    Layout.moveField(Layout.field(type, 0), p, q, r, toPacked);
    p += Layout.rows(type) * Layout.field(type, 0);
    q += Layout.field(type, 0);
    Layout.moveField(Layout.field(type, 1), p, q, r, toPacked);
    p += Layout.rows(type) * Layout.field(type, 1);
    q += Layout.field(type, 1);
    Layout.moveField(Layout.field(type, 2), p, q, r, toPacked);
    p += Layout.rows(type) * Layout.field(type, 2);
    q += Layout.field(type, 2);
    Layout.moveField(Layout.field(type, 3), p, q, r, toPacked);
  }

  /** One field of f bytes (none when 0) between row r's place in a packed field and its plain place. */
  @inline static moveField(f: usize, packed: usize, plain: usize, r: usize, toPacked: bool): void {
    if (f === 0) return;
    if (toPacked) Layout.copy(packed + r * f, plain, f);
    else Layout.copy(plain, packed + r * f, f);
  }

  /** The nOut rows at w (rb bytes each) repacked in place, through rows * rb bytes of scratch. */
  @inline static pack(type: i32, w: usize, rb: usize, nOut: i32, scratch: usize): void {
    const rows = Layout.rows(type);
    const block = Layout.block(type);
    const nb = rb / block;
    for (let g: usize = 0; g < <usize>nOut; g += rows) {
      const base = w + g * rb;
      memory.copy(scratch, base, rb * rows);
      for (let r: usize = 0; r < rows; r++) {
        for (let i: usize = 0; i < nb; i++) {
          Layout.move(type, base + i * block * rows, scratch + r * rb + i * block, r, true);
        }
      }
    }
  }

  /** Row `row` of a matrix at w (rb bytes a row) repacked by pack, in GGUF's layout at dst. */
  @inline static unpack(type: i32, w: usize, rb: usize, row: i32, dst: usize): void {
    const rows = Layout.rows(type);
    const block = Layout.block(type);
    const r = <usize>row % rows;
    const base = w + (<usize>row - r) * rb;
    for (let i: usize = 0; i < rb / block; i++) Layout.move(type, base + i * block * rows, dst + i * block, r, false);
  }
}

/** Nibble x (0..63) of the 32 bytes at p: the low nibble of byte x & 31 up to 31, then the high ones. */
function nibble(p: usize, x: i32): i32 {
  return (load<u8>(p + <usize>(x & 31)) >> ((<u32>(x >> 5)) << 2)) & 15;
}

/**
 * 32 bytes of Q4_K nibbles in pairSlot's order at `from`, in GGUF's at `to` (a
 * row taken back out, a nibble at a time: unpacking is rare).
 */
function nibblesFromPairSlots(from: usize, to: usize): void {
  memory.fill(to, 0, 32);
  for (let x = 0; x < 64; x++) {
    const b = to + <usize>(x & 31);
    store<u8>(b, load<u8>(b) | (nibble(from, pairSlot(x)) << ((<u32>(x >> 5)) << 2)));
  }
}

/**
 * 32 bytes of Q4_K nibbles at `from` (GGUF's order: byte b holds value b of the
 * first sub-block, A, in its low nibble and of the second, B, in its high one)
 * into pairSlot's order at `to`. Output byte 16h + j (j = 4m + 2s + p) holds, of
 * sub-block s, value 8h + 2m + p in its low nibble and 16 + 8h + 2m + p in its
 * high one: a byte shuffle of each half of the input, then nibble selects.
 */
function nibblesToPairSlots(from: usize, to: usize): void {
  const g0 = v128.load(from);
  const g1 = v128.load(from, 16);
  const m = i8x16.splat(0x0f);
  // s = 1 (sub-block B: the inputs' high nibbles) in bytes 4m + 2 and 4m + 3
  const b = i8x16(0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1);
  let idx = i8x16(0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7);
  for (let h: usize = 0; h < 32; h += 16) {
    const lo = i8x16.swizzle(g0, idx); // values 8h + 2m + p
    const hi = i8x16.swizzle(g1, idx); // values 16 + 8h + 2m + p
    const a = v128.or(v128.and(lo, m), i16x8.shl(v128.and(hi, m), 4));
    const bb = v128.or(v128.and(i16x8.shr_u(lo, 4), m), v128.andnot(hi, m));
    v128.store(to + h, v128.bitselect(bb, a, b));
    idx = i8x16.add(idx, i8x16.splat(8));
  }
}

/** The nibbles of repacked Q4_K rows into pairSlot's order, a group at a time from a copy in the scratch. */
function q4KToPairSlots(w: usize, rb: usize, nOut: i32, scratch: usize): void {
  for (let g: usize = 0; g < <usize>nOut; g += 4) {
    const group = w + g * rb;
    memory.copy(scratch, group, 4 * rb);
    for (let i: usize = 0; i < rb / 144; i++) {
      for (let r: usize = 0; r < 4; r++) {
        const nibbles = i * 576 + 64 + r * 128; // row r's in repacked block i
        for (let c: usize = 0; c < 128; c += 32) nibblesToPairSlots(scratch + nibbles + c, group + nibbles + c);
      }
    }
  }
}

/**
 * Puts the nOut rows of `type` at w (rowBytes each) into the layout the kernels
 * read, in place, through 8 * rowBytes bytes of scratch: Q4_0 and Q4_K with a
 * multiple of 8 rows (the reference computes those in llama.cpp's repacked
 * order), Q8_0 with a multiple of 4 where the relaxed-SIMD kernel takes it
 * (`fused` as matmulRange's FUSED_MADD; canRepackQ8_0); anything else stays as
 * it is. Returns whether the layout changed: then matmulRange takes REPACKED,
 * and unpackRow gives a row back.
 */
export function prepareWeights(type: i32, w: usize, rowBytes: i32, nOut: i32, scratch: usize, fused: bool): bool {
  const rb = <usize>rowBytes;
  if (type === Q4_0 && nOut % 8 === 0) Layout.pack(Q4_0, w, rb, nOut, scratch);
  else if (type === Q4_K && nOut % 8 === 0) {
    Layout.pack(Q4_K, w, rb, nOut, scratch);
    if (ASC_FEATURE_RELAXED_SIMD) q4KToPairSlots(w, rb, nOut, scratch);
  } else if (type === Q8_0 && canRepackQ8_0(w, rb, nOut, fused)) Layout.pack(Q8_0, w, rb, nOut, scratch);
  else return false;
  return true;
}

/** Row `row` of weights that prepareWeights repacked, in GGUF's layout at dst (rowBytes bytes). */
export function unpackRow(type: i32, w: usize, rowBytes: i32, row: i32, dst: usize): void {
  const rb = <usize>rowBytes;
  if (type === Q4_0) Layout.unpack(Q4_0, w, rb, row, dst);
  else if (type === Q4_K) {
    Layout.unpack(Q4_K, w, rb, row, dst);
    const r = <usize>row % 4;
    const group = w + (<usize>row - r) * rb;
    if (ASC_FEATURE_RELAXED_SIMD) {
      for (let i: usize = 0; i < rb / 144; i++) {
        const nibbles = group + i * 576 + 64 + r * 128;
        for (let c: usize = 0; c < 128; c += 32) nibblesFromPairSlots(nibbles + c, dst + i * 144 + 16 + c);
      }
    }
  } else if (type === Q8_0) Layout.unpack(Q8_0, w, rb, row, dst);
}
