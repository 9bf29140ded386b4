/**
 * fmaf(a, b, c) from exact integer arithmetic: a*b + c as an integer times a
 * power of two (BigInt), rounded once to f32 (to nearest, ties to even,
 * subnormals and overflow included). Slow, and independent of any float
 * trick, so that it can judge the fast ones (engine/quant/x86.ts fmaF32,
 * the wasm kernels' fma.ts).
 */

const view = new DataView(new ArrayBuffer(8));

/** A finite double as [integer significand with sign, exponent]: x = m * 2^e. */
function decompose(x: number): [bigint, number] {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased !== 0) m |= 1n << 52n;
  const e = biased === 0 ? -1074 : biased - 1075;
  return [hi >>> 31 ? -m : m, e];
}

/** The f32 nearest to t * 2^e (t > 0), ties to even. */
function roundToF32(t: bigint, e: number): number {
  const top = e + t.toString(2).length - 1; // exponent of the leading bit
  const lsb = Math.max(top - 23, -149); // f32's last place there (subnormals: 2^-149)
  let q = t;
  let at = e;
  if (lsb > e) {
    const shift = BigInt(lsb - e);
    q = t >> shift;
    const rest = t - (q << shift);
    const half = 1n << (shift - 1n);
    if (rest > half || (rest === half && (q & 1n) === 1n)) q += 1n;
    at = lsb;
  }
  const value = Number(q) * 2 ** at; // q < 2^25 here when rounded: exact
  return value >= 2 ** 128 ? Number.POSITIVE_INFINITY : value;
}

/** fmaf(a, b, c) for finite f32 values a, b, c. */
export function exactFmaf(a: number, b: number, c: number): number {
  const [ma, ea] = decompose(a);
  const [mb, eb] = decompose(b);
  const [mc, ec] = decompose(c);
  const ep = ea + eb;
  const e = Math.min(ep, ec);
  const total = ((ma * mb) << BigInt(ep - e)) + (mc << BigInt(ec - e));
  if (total === 0n) return a * b + c; // an exact zero: the sign rule of IEEE addition, which JS follows
  const r = roundToF32(total < 0n ? -total : total, e);
  return total < 0n ? -r : r;
}
