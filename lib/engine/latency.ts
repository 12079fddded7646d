/**
 * Latency histograms for the hot path: log-linear buckets (8 per power of two) from 1 ns to ~1 min,
 * so recording is one Math.log2 and an increment — no allocation, bounded memory for runs of any
 * length — and percentiles are accurate to within one bucket (~9 %). The exact maximum is kept.
 */
const SUB = 8;
const MAX_EXP = 36; // 2^36 ns ≈ 69 s
const BUCKETS = SUB * MAX_EXP + 1;

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private maxNs = 0;

  /** Records one duration in nanoseconds. */
  record(ns: number): void {
    if (!(ns >= 1)) ns = 1;
    if (ns > this.maxNs) this.maxNs = ns;
    const idx = Math.min(BUCKETS - 1, Math.floor(Math.log2(ns) * SUB));
    this.counts[idx] = (this.counts[idx] as number) + 1;
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  get max(): number {
    return this.maxNs;
  }

  /** The value at percentile p (0–100), in ns: the upper edge of the bucket holding it, capped at max. */
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min(this.maxNs, 2 ** ((i + 1) / SUB));
    }
    return this.maxNs;
  }

  /** p50/p99/p99.9/max in microseconds, rounded to 0.1 µs. */
  summaryUs(): { count: number; p50: number; p99: number; p999: number; max: number } {
    const us = (ns: number) => (Number.isNaN(ns) ? 0 : Math.round(ns / 100) / 10);
    return {
      count: this.n,
      p50: us(this.percentile(50)),
      p99: us(this.percentile(99)),
      p999: us(this.percentile(99.9)),
      max: us(this.maxNs),
    };
  }
}

/**
 * The hot-path stages measured per market message, each from the message's receive instant.
 * Decoding and applying to the book are one pass (the zero-allocation decoder converts digits
 * straight into the book's integers), so `book` is receive → decoded and applied.
 */
export const STAGES = ['book', 'signal', 'risk', 'written'] as const;
export type Stage = (typeof STAGES)[number];

export class LatencyRecorder {
  readonly stages: Record<Stage, LatencyHistogram> = {
    book: new LatencyHistogram(),
    signal: new LatencyHistogram(),
    risk: new LatencyHistogram(),
    written: new LatencyHistogram(),
  };
  /** Receive → decision (strategy evaluated on the updated book), per book update: the tick-to-decision latency. */
  readonly tickToDecision = new LatencyHistogram();
  /** Signal → order bytes written. */
  readonly signalToOrder = new LatencyHistogram();
}
