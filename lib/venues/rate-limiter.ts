/**
 * A per-venue REST rate limiter: weight-based sliding windows with headroom, a FIFO queue, the
 * venue's own counters folded in, and a hard block when the venue says 429/418.
 *
 * Windows are sliding (a log of grants), which is never more permissive than the venue's count:
 * Binance counts fixed clock-aligned windows (X-MBX-USED-WEIGHT-1M resets each minute), and any
 * fixed window is covered by the sliding window ending at the same instant. A decaying counter
 * (Kraken's call counter: max N, decays at r/s) is approximated by {limit: N, intervalMs: N/r s},
 * which also never exceeds it.
 *
 * Headroom (default 25 %) is kept out of every window: we plan to use at most 75 % of a limit,
 * leaving room for clock skew, requests in flight and anything else on the same IP.
 */
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError, OperationalError } from '#core/errors.ts';

export interface RateWindow {
  /** The venue's limit for this window, e.g. REQUEST_WEIGHT 2400. */
  readonly limit: number;
  /** The window's length, e.g. 60_000 for a per-minute limit. */
  readonly intervalMs: number;
}

export interface RateLimiterOptions {
  /** For errors and logs. @default 'rest' */
  readonly name?: string;
  readonly windows: readonly RateWindow[];
  /**
   * Fraction of every limit never planned for, 0 ≤ headroom < 1.
   * @default 0.25
   */
  readonly headroom?: number;
  /**
   * Header name prefix of the venue's used-weight counters; the rest of the name is the interval
   * (`1M`, `10S`, `1H`, `1D`). Compared case-insensitively.
   * @default 'x-mbx-used-weight-'
   */
  readonly usedWeightHeader?: string;
  readonly clock?: Clock;
}

/** Headers as fetch gives them, or as node:http gives them. */
export type HeaderSource =
  | { forEach(cb: (value: string, key: string) => void): void }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface WindowUsage {
  readonly limit: number;
  readonly intervalMs: number;
  /** The most we plan to use: floor(limit × (1 − headroom)). */
  readonly budget: number;
  /** Weight counted in the window ending now (ours, raised to the venue's count when it said more). */
  readonly used: number;
}

export interface LimiterSnapshot {
  readonly windows: readonly WindowUsage[];
  /** Requests waiting. */
  readonly queued: number;
  /** Wall-clock ms until which everything waits (0: not penalized). */
  readonly blockedUntil: number;
}

/** Parses an interval suffix such as `1M`, `10S`, `1H`, `1D` (case-insensitive) into ms. */
export function parseIntervalSuffix(suffix: string): number | undefined {
  const m = /^(\d+)([smhd])$/i.exec(suffix.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] as string).toLowerCase();
  const ms = unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  return n > 0 ? n * ms : undefined;
}

/** One sliding window: a log of (time, weight) grants and their running sum. */
class SlidingWindow {
  readonly limit: number;
  readonly intervalMs: number;
  readonly budget: number;
  private times: number[] = [];
  private weights: number[] = [];
  private head = 0;
  private sum = 0;

  constructor(w: RateWindow, headroom: number) {
    this.limit = w.limit;
    this.intervalMs = w.intervalMs;
    this.budget = Math.max(1, Math.floor(w.limit * (1 - headroom)));
  }

  used(now: number): number {
    this.prune(now);
    return this.sum;
  }

  add(now: number, weight: number): void {
    if (weight <= 0) return;
    this.times.push(now);
    this.weights.push(weight);
    this.sum += weight;
  }

  /** The venue counted `venueUsed` in a window ending now: never believe less than that. */
  raiseTo(now: number, venueUsed: number): void {
    const used = this.used(now);
    if (venueUsed > used) this.add(now, venueUsed - used);
  }

  /**
   * Ms from now until `weight` fits, 0 when it fits now. A request heavier than the whole budget
   * goes alone once the window is empty, so it is late but never stuck.
   */
  waitFor(now: number, weight: number): number {
    this.prune(now);
    if (this.sum === 0 || this.sum + weight <= this.budget) return 0;
    let remaining = this.sum;
    for (let i = this.head; i < this.times.length; i++) {
      remaining -= this.weights[i] as number;
      if (remaining === 0 || remaining + weight <= this.budget) {
        return (this.times[i] as number) + this.intervalMs - now;
      }
    }
    return this.intervalMs; // unreachable: the loop ends with remaining === 0
  }

  private prune(now: number): void {
    const cutoff = now - this.intervalMs;
    while (this.head < this.times.length && (this.times[this.head] as number) <= cutoff) {
      this.sum -= this.weights[this.head] as number;
      this.head++;
    }
    if (this.head === this.times.length) {
      this.times = [];
      this.weights = [];
      this.head = 0;
      this.sum = 0;
    } else if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.weights = this.weights.slice(this.head);
      this.head = 0;
    }
  }
}

interface Waiter {
  readonly weight: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

export class RateLimiter {
  readonly name: string;
  private readonly clock: Clock;
  private readonly windows: SlidingWindow[];
  private readonly byInterval = new Map<number, SlidingWindow>();
  private readonly headerPrefix: string;
  private readonly queue: Waiter[] = [];
  private blockedUntilMs = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(opts: RateLimiterOptions) {
    this.name = opts.name ?? 'rest';
    const headroom = opts.headroom ?? 0.25;
    if (!(headroom >= 0 && headroom < 1)) throw new RangeError(`${this.name}: headroom must be in [0, 1)`);
    if (opts.windows.length === 0) throw new RangeError(`${this.name}: at least one window is needed`);
    for (const w of opts.windows) {
      if (!(w.limit > 0) || !(w.intervalMs > 0)) {
        throw new RangeError(`${this.name}: window limit and intervalMs must be > 0`);
      }
    }
    this.clock = opts.clock ?? systemClock;
    this.windows = opts.windows.map((w) => new SlidingWindow(w, headroom));
    for (const w of this.windows)
      if (!this.byInterval.has(w.intervalMs)) this.byInterval.set(w.intervalMs, w);
    this.headerPrefix = (opts.usedWeightHeader ?? 'x-mbx-used-weight-').toLowerCase();
  }

  /**
   * Resolves when a request of `weight` may go; the weight is counted from that moment. Strictly
   * FIFO: a light request never overtakes a heavy one that is waiting. Rejects with an
   * OperationalError ABORTED when `signal` aborts first, and with a DataError when the weight can
   * never fit (heavier than a whole limit).
   */
  acquire(weight: number, signal?: AbortSignal): Promise<void> {
    if (!(weight >= 0) || !Number.isFinite(weight)) {
      return Promise.reject(
        new DataError('BAD_WEIGHT', `${this.name}: request weight must be >= 0 (got ${weight})`),
      );
    }
    const over = this.windows.find((w) => weight > w.limit);
    if (over) {
      return Promise.reject(
        new DataError(
          'WEIGHT_EXCEEDS_LIMIT',
          `${this.name}: request weight ${weight} exceeds the limit ${over.limit} per ${over.intervalMs} ms`,
        ),
      );
    }
    if (this.closed) return Promise.reject(this.closedError());
    if (signal?.aborted) return Promise.reject(this.abortError(weight, signal));
    if (this.queue.length === 0 && this.waitFor(weight, this.clock.now()) === 0) {
      this.grant(weight);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = signal
        ? () => {
            const i = this.queue.indexOf(waiter);
            if (i >= 0) this.queue.splice(i, 1);
            reject(this.abortError(weight, signal));
            // The head may have changed: whoever is next gets re-planned.
            this.pump();
          }
        : undefined;
      const waiter: Waiter = { weight, resolve, reject, signal, onAbort };
      if (signal && onAbort) signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /**
   * Folds in the venue's own counters (`X-MBX-USED-WEIGHT-1M: 731`). The venue's count is the
   * truth, but a response can be stale (responses overtake each other), so it only ever raises
   * ours; windows slide, so our count falls back on its own. Unknown intervals are ignored.
   */
  observe(headers: HeaderSource): void {
    const now = this.clock.now();
    let changed = false;
    const visit = (value: string | readonly string[] | undefined, key: string) => {
      const name = key.toLowerCase();
      if (!name.startsWith(this.headerPrefix) || value === undefined) return;
      const interval = parseIntervalSuffix(name.slice(this.headerPrefix.length));
      const window = interval === undefined ? undefined : this.byInterval.get(interval);
      const text = typeof value === 'string' ? value : value[0];
      if (!window || text === undefined || !/^\d+$/.test(text.trim())) return;
      window.raiseTo(now, Number(text));
      changed = true;
    };
    if (typeof headers.forEach === 'function') {
      (headers as { forEach(cb: (value: string, key: string) => void): void }).forEach(visit);
    } else {
      for (const [key, value] of Object.entries(headers))
        visit(value as string | readonly string[] | undefined, key);
    }
    // More usage can only make waiters wait longer; re-plan the timer.
    if (changed) this.pump();
  }

  /** The venue said stop (429/418 Retry-After): nothing goes until `retryAfterMs` from now. */
  penalize(retryAfterMs: number): void {
    if (!(retryAfterMs > 0)) return;
    const until = this.clock.now() + retryAfterMs;
    if (until > this.blockedUntilMs) this.blockedUntilMs = until;
    this.pump();
  }

  snapshot(): LimiterSnapshot {
    const now = this.clock.now();
    return {
      windows: this.windows.map((w) => ({
        limit: w.limit,
        intervalMs: w.intervalMs,
        budget: w.budget,
        used: w.used(now),
      })),
      queued: this.queue.length,
      blockedUntil: this.blockedUntilMs > now ? this.blockedUntilMs : 0,
    };
  }

  /** Rejects every waiter and clears the timer; later acquires reject at once. */
  close(): void {
    this.closed = true;
    this.clearTimer();
    const waiters = this.queue.splice(0);
    for (const w of waiters) {
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.reject(this.closedError());
    }
  }

  private waitFor(weight: number, now: number): number {
    let wait = this.blockedUntilMs > now ? this.blockedUntilMs - now : 0;
    for (const w of this.windows) wait = Math.max(wait, w.waitFor(now, weight));
    return wait;
  }

  private grant(weight: number): void {
    const now = this.clock.now();
    for (const w of this.windows) w.add(now, weight);
  }

  /** Lets every waiter go that may, in order; then sleeps until the head can go. */
  private pump(): void {
    this.clearTimer();
    while (this.queue.length > 0) {
      const head = this.queue[0] as Waiter;
      const wait = this.waitFor(head.weight, this.clock.now());
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      if (head.signal && head.onAbort) head.signal.removeEventListener('abort', head.onAbort);
      this.grant(head.weight);
      head.resolve();
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private abortError(weight: number, signal: AbortSignal): OperationalError {
    const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
    return new OperationalError(
      'ABORTED',
      `${this.name}: request of weight ${weight} cancelled while waiting for the rate limit (${why})`,
      { cause: signal.reason },
    );
  }

  private closedError(): OperationalError {
    return new OperationalError('LIMITER_CLOSED', `${this.name}: rate limiter closed`);
  }
}
