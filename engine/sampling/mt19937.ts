/**
 * MT19937: the 32-bit Mersenne Twister (Matsumoto & Nishimura, 1998), the
 * generator behind llama.cpp's `dist` sampler (`std::mt19937`).
 *
 * `nextDouble()` reproduces how libstdc++'s `std::uniform_real_distribution<double>(0, 1)`
 * draws from a 32-bit engine (`generate_canonical<double, 53>`): two outputs
 * a, b combined as (a + b·2³²) / 2⁶⁴, clamped below 1. With the same seed and the
 * same candidate probabilities we therefore draw the same uniform number as llama.cpp.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const TWO_POW_32 = 4294967296;
const TWO_POW_64 = TWO_POW_32 * TWO_POW_32;
/** The largest double below 1, what libstdc++ returns when the quotient rounds up to 1. */
const ONE_MINUS_ULP = 1 - 2 ** -53;

export class MT19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    this.seed(seed);
  }

  /** Re-initializes the state from a 32-bit seed (Knuth's multiplier 1812433253, as in init_genrand). */
  seed(seed: number): void {
    const mt = this.state;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i, modulo 2^32, without losing bits to doubles
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  /** The next 32-bit output, as an unsigned integer. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    // tempering
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform double in [0, 1), drawn exactly as libstdc++'s uniform_real_distribution<double> does. */
  nextDouble(): number {
    const a = this.nextUint32();
    const b = this.nextUint32();
    const u = (a + b * TWO_POW_32) / TWO_POW_64;
    return u >= 1 ? ONE_MINUS_ULP : u;
  }

  private twist(): void {
    const mt = this.state;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & UPPER_MASK) | (mt[(i + 1) % N] & LOWER_MASK);
      mt[i] = mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }
}

/** A fresh random 32-bit seed from the platform's CSPRNG (Web Crypto exists in browsers and Node 20). */
export function randomSeed(): number {
  const buf = new Uint32Array(1);
  globalThis.crypto.getRandomValues(buf);
  return buf[0];
}
