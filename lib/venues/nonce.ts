/**
 * Nonces for Kraken spot REST (`nonce=` in the body) and Kraken Futures (`Nonce` header).
 *
 * The venue rule (VENUES.md 3.5, 4.1): per API key, each nonce must be greater than the last one the
 * venue accepted; Kraken spot rejects anything else with `EAPI:Invalid nonce`, and repeated
 * failures lead to a temporary lockout. So:
 *
 * 1. **Primary rule: one API key per process and purpose.** A key used by exactly one NonceSource
 *    can never see a nonce out of order, whatever any other process does. Give the trading engine,
 *    the reconciler and any ad-hoc tool separate keys.
 * 2. **Within a process**, all requests on a key take their nonce from ONE NonceSource. `next()` is
 *    synchronous, so on the single JS thread there is nothing to lock; take the nonce immediately
 *    before signing, and send requests on one key in nonce order.
 * 3. **If two processes must share a key**, give each its own lane: `lanes: N` and a distinct
 *    `lane` in `0..N-1` for each process. Every nonce of lane k is ≡ k (mod N), so two lanes can
 *    never produce the same nonce. Lanes prevent COLLISIONS only. Both processes still read the
 *    same wall clock, so their nonces interleave, and a request can still arrive after a higher
 *    nonce from the other process. For that, configure a nonce window on the Kraken key, at least
 *    as large as the worst skew between the processes (network jitter plus clock difference).
 *
 * Value: wall-clock microseconds (ms × 1000), plus a counter when several nonces fall in the same
 * millisecond: `next = max(nowMs × 1000, last + 1)`, rounded up to the lane. It never goes
 * backwards: if the wall clock steps back, the source keeps counting up from the last nonce until
 * the clock catches up. A source therefore hands out at most 1000 / lanes nonces per millisecond
 * before it runs ahead of the clock; running ahead is harmless.
 *
 * Across restarts the wall clock carries the order (a restart takes longer than a millisecond).
 * If the clock may have stepped back across a restart, persist `last` and pass it back as `floor`.
 * A key that once used larger nonces (e.g. nanoseconds) cannot go back to these: use a fresh key.
 *
 * Nonces are bigint (Kraken spot: unsigned 64-bit; ms × 1000 ≈ 1.7e15 today).
 */
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError } from '#core/errors.ts';

/** Microseconds per millisecond: the scale of the wall-clock seed. */
export const NONCE_TICKS_PER_MS = 1000n;

export interface NonceSourceOptions {
  /** Wall clock (only `now()` in ms is read). @default systemClock */
  readonly clock?: Pick<Clock, 'now'> | undefined;
  /** Number of lanes sharing the key (processes sharing one key). @default 1 */
  readonly lanes?: number | undefined;
  /** This source's lane, in 0..lanes-1. @default 0 */
  readonly lane?: number | undefined;
  /** Every nonce is greater than this (e.g. the last nonce persisted before a restart). */
  readonly floor?: bigint | undefined;
}

/** Strictly increasing nonces for one API key in one process (see the module comment). */
export class NonceSource {
  readonly lanes: number;
  readonly lane: number;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly lanesN: bigint;
  private readonly laneN: bigint;
  private lastN: bigint;

  constructor(options: NonceSourceOptions = {}) {
    const lanes = options.lanes ?? 1;
    const lane = options.lane ?? 0;
    if (!Number.isSafeInteger(lanes) || lanes < 1 || lanes > 1000) {
      throw new DataError('BAD_NONCE_LANES', `nonce lanes must be an integer in 1..1000, got ${lanes}`);
    }
    if (!Number.isSafeInteger(lane) || lane < 0 || lane >= lanes) {
      throw new DataError('BAD_NONCE_LANE', `nonce lane must be an integer in 0..${lanes - 1}, got ${lane}`);
    }
    const floor = options.floor ?? -1n;
    if (floor < -1n) throw new DataError('BAD_NONCE_FLOOR', 'nonce floor must not be negative');
    this.clock = options.clock ?? systemClock;
    this.lanes = lanes;
    this.lane = lane;
    this.lanesN = BigInt(lanes);
    this.laneN = BigInt(lane);
    this.lastN = floor;
  }

  /** The last nonce handed out (or the floor, -1 when none). */
  get last(): bigint {
    return this.lastN;
  }

  /** The next nonce: greater than every earlier one, and ≡ lane (mod lanes). */
  next(): bigint {
    let candidate = this.lastN + 1n;
    const ms = this.clock.now();
    // A broken clock (NaN, Infinity) cannot seed; the counter alone still increases.
    if (Number.isFinite(ms) && ms > 0) {
      const fromClock = BigInt(Math.floor(ms)) * NONCE_TICKS_PER_MS;
      if (fromClock > candidate) candidate = fromClock;
    }
    // Round up to this lane: the smallest n >= candidate with n mod lanes == lane.
    const shift = (((this.laneN - candidate) % this.lanesN) + this.lanesN) % this.lanesN;
    const nonce = candidate + shift;
    this.lastN = nonce;
    return nonce;
  }

  /** `next()` as the decimal string the venues take. */
  nextString(): string {
    return this.next().toString();
  }

  /**
   * Raises the floor: later nonces are greater than `nonce`. For a value learned elsewhere (e.g. the
   * last nonce persisted by a previous run). Never lowers it.
   */
  observe(nonce: bigint): void {
    if (nonce > this.lastN) this.lastN = nonce;
  }
}
