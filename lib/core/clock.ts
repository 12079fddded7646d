/** Time comes from an injected clock so replay and backtest are deterministic and identical to live. */
export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Monotonic nanoseconds for latency measurement. */
  monoNs(): bigint;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monoNs: () => process.hrtime.bigint(),
};

/** A clock a test or a replay sets by hand. */
export class ManualClock implements Clock {
  private ms: number;
  constructor(startMs = 0) {
    this.ms = startMs;
  }
  now(): number {
    return this.ms;
  }
  monoNs(): bigint {
    return BigInt(Math.round(this.ms * 1e6));
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
