/**
 * Reconnect and retry pacing. Two rules that must not be confused:
 * - Our own retries use exponential backoff with FULL jitter: delay = random(0, min(cap, base·2^attempt)).
 *   Full jitter spreads a crowd of reconnecting clients evenly instead of in synchronized waves.
 * - When the venue tells us to wait (429/418 with Retry-After, or an IP ban), that is a floor no
 *   jitter may undercut: the next attempt is never earlier than the venue's deadline.
 */

/** How long to wait after a 429 that carried no Retry-After. Binance's request windows are one minute. */
export const DEFAULT_RATE_LIMITED_MS = 60_000;
/** A connection up this long counts as healthy and resets the attempt counter. */
export const DEFAULT_RESET_AFTER_MS = 60_000;
/** How long to wait after a 418 (IP ban). Binance bans grow from 2 minutes to 3 days (VENUES.md 1.6). */
export const DEFAULT_BANNED_MS = 120_000;

export interface BackoffOptions {
  /** The first retry waits up to this long. */
  readonly baseMs: number;
  /** No jittered delay exceeds this. */
  readonly capMs: number;
  /**
   * A connection that stayed up this long was healthy: the next failure starts again from attempt 0.
   * @default DEFAULT_RESET_AFTER_MS
   */
  readonly resetAfterMs?: number;
  /**
   * Floor after HTTP 429 without Retry-After.
   * @default DEFAULT_RATE_LIMITED_MS
   */
  readonly rateLimitedMs?: number;
  /**
   * Floor after HTTP 418 (IP ban); a Retry-After longer than this wins.
   * @default DEFAULT_BANNED_MS
   */
  readonly bannedMs?: number;
}

/** A full-jitter delay for the given 0-based attempt. `random` returns values in [0, 1). */
export function fullJitterMs(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  // 2^attempt overflows to Infinity for huge attempts, and min() then picks the cap: no special case.
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  const r = random();
  // A broken random source must not turn into a negative or beyond-cap delay.
  const clamped = r >= 0 && r < 1 ? r : 0.5;
  return Math.floor(clamped * ceiling);
}

/**
 * Parses an HTTP Retry-After value: delta-seconds (what Binance sends) or an HTTP-date.
 * Returns milliseconds from `nowMs`, or undefined when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | readonly string[] | null | undefined,
  nowMs: number,
): number | undefined {
  const raw = Array.isArray(value) ? (value as readonly string[])[0] : (value as string | null | undefined);
  if (raw === undefined || raw === null) return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * How long the venue told us to stay away, given a rejected handshake or request. Undefined for
 * statuses that are not rate limits (those get ordinary backoff).
 * - 429: Retry-After when present, else `rateLimitedMs`.
 * - 418 (IP ban): at least `bannedMs`, longer if Retry-After says so. Coming back early extends a ban.
 */
export function venueWaitMs(
  status: number,
  retryAfterMs: number | undefined,
  opts: { readonly rateLimitedMs?: number | undefined; readonly bannedMs?: number | undefined } = {},
): number | undefined {
  if (status === 429) return retryAfterMs ?? opts.rateLimitedMs ?? DEFAULT_RATE_LIMITED_MS;
  if (status === 418) return Math.max(retryAfterMs ?? 0, opts.bannedMs ?? DEFAULT_BANNED_MS);
  return undefined;
}

/** Attempts beyond this all get the cap; the counter stops here so it never grows without bound. */
const MAX_ATTEMPT = 64;

/** The pacing state of one retry loop (one connection, one REST poller). Not shared across loops. */
export class Backoff {
  private readonly opts: BackoffOptions;
  private readonly random: () => number;
  private attemptCount = 0;
  private notBeforeMs = 0;

  constructor(opts: BackoffOptions, random: () => number = Math.random) {
    if (!(opts.baseMs > 0) || !(opts.capMs >= opts.baseMs)) {
      throw new RangeError(`backoff needs 0 < baseMs <= capMs (got ${opts.baseMs}, ${opts.capMs})`);
    }
    this.opts = opts;
    this.random = random;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attemptCount;
  }

  /** The earliest wall-clock time the venue allows the next attempt (0 when it said nothing). */
  get notBefore(): number {
    return this.notBeforeMs;
  }

  /** How long a connection must stay up to count as healthy. */
  get resetAfterMs(): number {
    return this.opts.resetAfterMs ?? DEFAULT_RESET_AFTER_MS;
  }

  /**
   * The delay before the next attempt, counting this one as failed: the jittered delay, raised to
   * the venue's floor when one is in force.
   */
  next(nowMs: number): number {
    const jitter = fullJitterMs(this.attemptCount, this.opts.baseMs, this.opts.capMs, this.random);
    this.attemptCount = Math.min(this.attemptCount + 1, MAX_ATTEMPT);
    return Math.max(jitter, this.notBeforeMs - nowMs);
  }

  /** The venue said: not before `untilMs`. Floors only ever move later. */
  holdUntil(untilMs: number): void {
    if (untilMs > this.notBeforeMs) this.notBeforeMs = untilMs;
  }

  /**
   * Records a rejected attempt's status and Retry-After; returns the floor applied (ms from now),
   * or undefined when the status is not a rate limit.
   */
  rejected(status: number, retryAfterMs: number | undefined, nowMs: number): number | undefined {
    const wait = venueWaitMs(status, retryAfterMs, this.opts);
    if (wait !== undefined) this.holdUntil(nowMs + wait);
    return wait;
  }

  /** A healthy connection: forget past failures. The venue's floor stays, it is a deadline. */
  reset(): void {
    this.attemptCount = 0;
  }
}
