/**
 * Small, fast, seedable pseudo-random numbers for the simulator and backtests.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, 128-bit state, period at
 * least 2^32, passes PractRand), seeded through splitmix32 so that neighbouring seeds give unrelated
 * streams. Everything is 32-bit integer arithmetic (`Math.imul`, `>>>`), so `nextU32()`, `uniform()`
 * and `int()` are bit-identical on every machine and engine. The distribution helpers add
 * `Math.log`/`Math.cos`/`Math.sqrt`; V8 implements those with the same fdlibm port everywhere, so a
 * given Node version reproduces them exactly across machines too.
 *
 * Not for cryptography.
 */

/** splitmix32 step: a well-mixed 32-bit value from a counter (used only for seeding). */
function splitmix32(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const TWO_POW_32 = 4294967296;
const LOG_2PI = 1.8378770664093453;
/** Coefficients of the Stirling series for log Γ (as in numpy's random_loggam). */
const LOGGAM_A = [
  8.333333333333333e-2, -2.777777777777778e-3, 7.936507936507937e-4, -5.952380952380952e-4,
  8.417508417508418e-4, -1.917526917526918e-3, 6.41025641025641e-3, -2.955065359477124e-2,
  1.796443723688307e-1, -1.3924322169059,
];

/** log Γ(x) for x > 0, accurate to ~1e-15 (enough for Poisson rejection sampling). */
export function logGamma(x: number): number {
  if (x === 1 || x === 2) return 0;
  let x0 = x;
  let n = 0;
  if (x < 7) {
    n = Math.floor(7 - x);
    x0 = x + n;
  }
  const x2 = 1 / (x0 * x0);
  let gl0 = LOGGAM_A[9] as number;
  for (let k = 8; k >= 0; k--) gl0 = gl0 * x2 + (LOGGAM_A[k] as number);
  let gl = gl0 / x0 + 0.5 * LOG_2PI + (x0 - 0.5) * Math.log(x0) - x0;
  for (let k = 1; k <= n; k++) {
    gl -= Math.log(x0 - 1);
    x0 -= 1;
  }
  return gl;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** Box-Muller yields normals in pairs; the second one waits here. */
  private spare = 0;
  private hasSpare = false;

  /** Any number is a seed; non-integers and values beyond 32 bits are folded into 32 bits. */
  constructor(seed: number) {
    let s = Number.isInteger(seed) && Math.abs(seed) <= 0xffffffff ? seed | 0 : foldSeed(seed);
    this.a = splitmix32(s);
    s = (s + 0x9e3779b9) | 0;
    this.b = splitmix32(s);
    s = (s + 0x9e3779b9) | 0;
    this.c = splitmix32(s);
    this.d = 1;
    // Discard the first outputs: sfc32's state needs a few rounds to mix.
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** The next raw 32-bit unsigned integer. */
  nextU32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    this.c = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform in (0, 1]: safe to take the logarithm of. */
  uniformPos(): number {
    return (this.nextU32() + 1) / TWO_POW_32;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [lo, hi] inclusive, unbiased (rejection sampling) for spans up to 2^32. */
  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo)
      throw new RangeError(`int(${lo}, ${hi}): bounds must be safe integers with lo ≤ hi`);
    const span = hi - lo + 1;
    if (span > TWO_POW_32) return lo + Math.floor(this.uniform() * span); // wide spans: bias ≤ 2^-32·span
    // Accept only the largest multiple of span below 2^32, so every remainder is equally likely.
    const limit = TWO_POW_32 - (TWO_POW_32 % span);
    for (;;) {
      const r = this.nextU32();
      if (r < limit) return lo + (r % span);
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.uniform() < p;
  }

  /** Exponential with the given rate (mean 1/rate). */
  exponential(rate = 1): number {
    return -Math.log(this.uniformPos()) / rate;
  }

  /** Normal via Box-Muller (the pair's second value is kept for the next call). */
  normal(mean = 0, sd = 1): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + sd * this.spare;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniformPos()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return mean + sd * r * Math.cos(theta);
  }

  /** Pareto with scale xm and tail index alpha: P(X > x) = (xm/x)^alpha, mean alpha·xm/(alpha−1). */
  pareto(xm: number, alpha: number): number {
    return xm * Math.pow(this.uniformPos(), -1 / alpha);
  }

  /** Geometric on {0, 1, 2, …}: the number of failures before the first success of probability p. */
  geometric(p: number): number {
    if (p >= 1) return 0;
    return Math.floor(Math.log(this.uniformPos()) / Math.log(1 - p));
  }

  /**
   * Poisson with mean lambda: Knuth's product method below 10, Hörmann's PTRS transformed rejection
   * above (constant expected time).
   */
  poisson(lambda: number): number {
    if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new RangeError(`poisson(${lambda}): bad mean`);
    if (lambda === 0) return 0;
    if (lambda < 10) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let prod = this.uniform();
      while (prod > limit) {
        k++;
        prod *= this.uniform();
      }
      return k;
    }
    const slam = Math.sqrt(lambda);
    const loglam = Math.log(lambda);
    const b = 0.931 + 2.53 * slam;
    const a = -0.059 + 0.02483 * b;
    const invalpha = 1.1239 + 1.1328 / (b - 3.4);
    const vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
      const u = this.uniform() - 0.5;
      const v = this.uniform();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (
        Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <=
        -lambda + k * loglam - logGamma(k + 1)
      )
        return k;
    }
  }

  /** Picks an element uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  /** A new generator seeded from this one: independent streams for sub-components. */
  fork(): Rng {
    return new Rng(this.nextU32() | 0);
  }
}

/** Folds any finite number (or NaN/Infinity) into a 32-bit seed deterministically. */
function foldSeed(seed: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, seed);
  return (view.getUint32(0) ^ Math.imul(view.getUint32(4), 0x9e3779b1)) | 0;
}

/**
 * mulberry32 as a bare `() => number` in [0, 1): the smallest seedable source, for callers that only
 * need uniforms (jitter, ids). Same seed, same sequence everywhere.
 */
export function mulberry(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32;
  };
}
