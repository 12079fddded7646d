/**
 * The order lifecycle: one `ManagedOrder` per OrderIntent, moved through a finite state machine
 * by what the venue says (acks, rejects, cancels, expiries, fills) and by what we did (send).
 *
 * States:
 * - PENDING: decided and journalled, not yet on the wire.
 * - SUBMITTED: the request left (WebSocket frame written / REST call made); no answer yet.
 * - UNKNOWN: the submit timed out or got an answer that says the outcome is unknown (Binance 503
 *   "Unknown error", -1007 TIMEOUT, a disconnect before the response). The order may or may not
 *   exist. It is a state of its own, not SUBMITTED, because the rules differ: an UNKNOWN order
 *   must never be resent and must not count as failed; only the venue (a query by client order
 *   id, the user stream, or the late response itself) can move it on. Reconciliation looks for
 *   exactly these orders.
 * - OPEN: the venue acknowledged it and it rests on the book, nothing filled.
 * - PARTIALLY_FILLED: some quantity filled, the rest still working.
 * - FILLED, CANCELLED, EXPIRED: terminal venue outcomes (EXPIRED: IOC remainder, GTD, Binance
 *   GTX-would-take and self-trade prevention; Kraken reports the IOC case as cancelled).
 * - REJECTED: refused, either by the venue after it assessed the order (margin, post-only would
 *   take, min notional, reduce-only) or by our own gate before sending (risk HALTED).
 * - FAILED: never accepted and never will be: the send could not happen, or the venue answered
 *   with a definite failure that is not an assessment of the order (503 "Service Unavailable",
 *   -1008 throttled, 429), or a query after UNKNOWN proved the venue has no such order.
 *
 * Transition table (anything else, including a state to itself, throws InvariantError):
 *
 *   PENDING          → SUBMITTED | REJECTED | FAILED
 *   SUBMITTED        → UNKNOWN | OPEN | PARTIALLY_FILLED | FILLED | CANCELLED | EXPIRED | REJECTED | FAILED
 *   UNKNOWN          →           OPEN | PARTIALLY_FILLED | FILLED | CANCELLED | EXPIRED | REJECTED | FAILED
 *   OPEN             →                  PARTIALLY_FILLED | FILLED | CANCELLED | EXPIRED
 *   PARTIALLY_FILLED →                                     FILLED | CANCELLED | EXPIRED
 *   FILLED, CANCELLED, EXPIRED, REJECTED, FAILED: terminal
 *
 * Why SUBMITTED skips OPEN: a market or marketable order's first answer can already be
 * PARTIALLY_FILLED or FILLED (Binance WS API / RESULT responses), an IOC that finds nothing
 * answers EXPIRED (Binance) or cancelled (Kraken Futures `iocWouldNotExecute`, `postWouldExecute`),
 * and a cancel-all can overtake the ack. UNKNOWN has every exit SUBMITTED has except itself:
 * the late response, the stream or the query tells us any of them. OPEN never goes back to
 * UNKNOWN: the venue has confirmed it, so a lost connection leaves it OPEN until reconciliation.
 *
 * Fills are counted apart from the state, because venues report status and fills on different
 * channels that race (a REST/WS response says FILLED or CANCELED, the user stream's trades come
 * after): applying a fill moves SUBMITTED/UNKNOWN/OPEN/PARTIALLY_FILLED on to PARTIALLY_FILLED or
 * FILLED, and a fill that arrives after FILLED, CANCELLED or EXPIRED is still counted (it happened
 * before the venue closed the order) as long as the total stays within the order quantity. A
 * cancelled or expired order whose fills reach the full quantity is impossible (the venue refuses
 * to cancel a filled order) and throws. Fills on PENDING, REJECTED or FAILED orders throw.
 * Fills are idempotent by trade id; an overfill throws.
 */
import { InvariantError } from './errors.ts';
import type { Instrument } from './instrument.ts';
import { Money, money, stepsToMoney } from './money.ts';
import type { Fill, OrderIntent } from './trading.ts';

export const ORDER_STATES = [
  'PENDING',
  'SUBMITTED',
  'UNKNOWN',
  'OPEN',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELLED',
  'REJECTED',
  'EXPIRED',
  'FAILED',
] as const;
export type OrderState = (typeof ORDER_STATES)[number];

/** The legal transitions, exhaustively (see the file comment for the reasons). */
export const ORDER_TRANSITIONS: Readonly<Record<OrderState, readonly OrderState[]>> = {
  PENDING: ['SUBMITTED', 'REJECTED', 'FAILED'],
  SUBMITTED: ['UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'EXPIRED', 'REJECTED', 'FAILED'],
  UNKNOWN: ['OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'EXPIRED', 'REJECTED', 'FAILED'],
  OPEN: ['PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'EXPIRED'],
  PARTIALLY_FILLED: ['FILLED', 'CANCELLED', 'EXPIRED'],
  FILLED: [],
  CANCELLED: [],
  REJECTED: [],
  EXPIRED: [],
  FAILED: [],
};

export function canTransition(from: OrderState, to: OrderState): boolean {
  return ORDER_TRANSITIONS[from].includes(to);
}

export function isTerminal(state: OrderState): boolean {
  return ORDER_TRANSITIONS[state].length === 0;
}

/** Whether the order may still be (or become) live at the venue: counts against exposure. */
export function isLive(state: OrderState): boolean {
  return state === 'SUBMITTED' || state === 'UNKNOWN' || state === 'OPEN' || state === 'PARTIALLY_FILLED';
}

export interface OrderTransition {
  readonly from: OrderState;
  readonly to: OrderState;
  readonly ts: number;
  readonly reason: string;
}

/** States in which a fill may be applied (see the file comment). */
const FILLABLE: ReadonlySet<OrderState> = new Set<OrderState>([
  'SUBMITTED',
  'UNKNOWN',
  'OPEN',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELLED',
  'EXPIRED',
]);

function feeOf(fill: Fill): Money {
  try {
    return money(fill.fee);
  } catch (err) {
    throw new InvariantError(
      'BAD_FILL',
      `trade ${fill.tradeId}: fee ${JSON.stringify(fill.fee)} is not a decimal`,
      {
        cause: err,
      },
    );
  }
}

function isPositiveInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

/**
 * One order and everything known about it. Mutated in place by `transition` and `applyFill`;
 * every mutation is validated first, so a throw leaves the record unchanged.
 */
export class ManagedOrder {
  readonly intent: OrderIntent;
  private readonly instrument: Pick<Instrument, 'venue' | 'symbol' | 'price' | 'qty'>;
  private _state: OrderState = 'PENDING';
  private _venueOrderId: string | null = null;
  private _filledLots = 0;
  /** Σ price × qty of the fills, exact (quote units per contract; no contract size). */
  private _fillValue: Money = new Money(0);
  private _fees: Money = new Money(0);
  private readonly _fills = new Map<string, Fill>();
  private readonly _history: OrderTransition[] = [];
  private readonly _timestamps: Partial<Record<OrderState, number>> = {};

  constructor(intent: OrderIntent, instrument: Pick<Instrument, 'venue' | 'symbol' | 'price' | 'qty'>) {
    if (intent.venue !== instrument.venue || intent.symbol !== instrument.symbol) {
      throw new InvariantError(
        'ORDER_INSTRUMENT',
        `${intent.clientOrderId}: intent for ${intent.venue} ${intent.symbol} with instrument ${instrument.venue} ${instrument.symbol}`,
      );
    }
    if (!isPositiveInteger(intent.qtyLots)) {
      throw new InvariantError(
        'ORDER_QTY',
        `${intent.clientOrderId}: qty ${intent.qtyLots} lots is not a positive integer`,
      );
    }
    if (
      intent.type === 'limit' &&
      (intent.priceTicks === undefined || !isPositiveInteger(intent.priceTicks))
    ) {
      throw new InvariantError(
        'ORDER_PRICE',
        `${intent.clientOrderId}: limit order price ${intent.priceTicks} ticks is not a positive integer`,
      );
    }
    if (intent.type === 'market' && intent.priceTicks !== undefined) {
      throw new InvariantError('ORDER_PRICE', `${intent.clientOrderId}: market order with a limit price`);
    }
    this.intent = intent;
    this.instrument = instrument;
    this._timestamps.PENDING = intent.createdTs;
  }

  get clientOrderId(): string {
    return this.intent.clientOrderId;
  }

  get state(): OrderState {
    return this._state;
  }

  get venueOrderId(): string | null {
    return this._venueOrderId;
  }

  get filledLots(): number {
    return this._filledLots;
  }

  get remainingLots(): number {
    return this.intent.qtyLots - this._filledLots;
  }

  /** True once fills for the whole order quantity have been counted. */
  get fullyFilled(): boolean {
    return this._filledLots === this.intent.qtyLots;
  }

  /** Σ fill price × fill qty in price units (exact). */
  get fillValue(): Money {
    return this._fillValue;
  }

  /**
   * Volume-weighted average fill price in price units, or null before the first fill. Exact
   * whenever the quotient terminates; otherwise correct to Money's 40 significant digits (the
   * exact numerator and denominator are `fillValue` and `filledLots`).
   */
  get avgFillPrice(): Money | null {
    if (this._filledLots === 0) return null;
    return this._fillValue.div(stepsToMoney(this._filledLots, this.instrument.qty));
  }

  /** Σ fees of the counted fills; negative = net rebate. */
  get fees(): Money {
    return this._fees;
  }

  /** Every transition in order. */
  get history(): readonly OrderTransition[] {
    return this._history;
  }

  /** When the order first entered each state it has been in (PENDING = the intent's createdTs). */
  get timestamps(): Readonly<Partial<Record<OrderState, number>>> {
    return this._timestamps;
  }

  /** The fills counted, in arrival order. */
  get fills(): readonly Fill[] {
    return [...this._fills.values()];
  }

  hasFill(tradeId: string): boolean {
    return this._fills.has(tradeId);
  }

  /** Moves the order to `to`; throws InvariantError for anything not in ORDER_TRANSITIONS. */
  transition(to: OrderState, ts: number, reason = ''): void {
    const from = this._state;
    if (!canTransition(from, to)) {
      throw new InvariantError(
        'ORDER_TRANSITION',
        `${this.clientOrderId}: ${from} → ${to} is not a legal transition${reason ? ` (${reason})` : ''}`,
      );
    }
    this.enter(to, ts, reason);
  }

  private enter(to: OrderState, ts: number, reason: string): void {
    this._history.push({ from: this._state, to, ts, reason });
    this._timestamps[to] ??= ts;
    this._state = to;
  }

  /** Records the venue's order id; the same id again is a no-op, a different one an invariant error. */
  setVenueOrderId(id: string): void {
    if (id === '') throw new InvariantError('VENUE_ORDER_ID', `${this.clientOrderId}: empty venue order id`);
    if (this._venueOrderId !== null && this._venueOrderId !== id) {
      throw new InvariantError(
        'VENUE_ORDER_ID',
        `${this.clientOrderId}: venue order id ${id} after ${this._venueOrderId}`,
      );
    }
    this._venueOrderId = id;
  }

  /**
   * Counts a fill. Returns false (and changes nothing) when this trade id was already counted with
   * the same content; throws InvariantError for a fill that does not belong to this order, a
   * redelivery whose content differs, an overfill, or a fill in a state that cannot have one.
   */
  applyFill(fill: Fill): boolean {
    const id = this.clientOrderId;
    const seen = this._fills.get(fill.tradeId);
    if (seen !== undefined) {
      if (
        seen.priceTicks !== fill.priceTicks ||
        seen.qtyLots !== fill.qtyLots ||
        seen.side !== fill.side ||
        !feeOf(seen).eq(feeOf(fill))
      ) {
        throw new InvariantError(
          'FILL_CONFLICT',
          `${id}: trade ${fill.tradeId} redelivered with different content (${fill.qtyLots}@${fill.priceTicks} fee ${fill.fee}, was ${seen.qtyLots}@${seen.priceTicks} fee ${seen.fee})`,
        );
      }
      return false;
    }
    if (
      fill.clientOrderId !== id ||
      fill.venue !== this.intent.venue ||
      fill.symbol !== this.intent.symbol ||
      fill.side !== this.intent.side
    ) {
      throw new InvariantError(
        'FILL_MISMATCH',
        `${id}: trade ${fill.tradeId} is for ${fill.venue} ${fill.symbol} ${fill.side} ${fill.clientOrderId}`,
      );
    }
    if (!isPositiveInteger(fill.qtyLots) || !isPositiveInteger(fill.priceTicks)) {
      throw new InvariantError(
        'BAD_FILL',
        `${id}: trade ${fill.tradeId} ${fill.qtyLots} lots @ ${fill.priceTicks} ticks is not positive integers`,
      );
    }
    const state = this._state;
    if (!FILLABLE.has(state)) {
      throw new InvariantError('FILL_IN_STATE', `${id}: trade ${fill.tradeId} for an order that is ${state}`);
    }
    const filled = this._filledLots + fill.qtyLots;
    if (filled > this.intent.qtyLots) {
      throw new InvariantError(
        'OVERFILL',
        `${id}: trade ${fill.tradeId} brings the fills to ${filled} lots of an order for ${this.intent.qtyLots}`,
      );
    }
    const complete = filled === this.intent.qtyLots;
    if (complete && (state === 'CANCELLED' || state === 'EXPIRED')) {
      throw new InvariantError(
        'FILL_IN_STATE',
        `${id}: trade ${fill.tradeId} fills the whole order, which the venue reported ${state}`,
      );
    }
    const fee = feeOf(fill);
    // All checks done before the first mutation, so a throw above leaves the order unchanged.
    const value = stepsToMoney(fill.priceTicks, this.instrument.price).times(
      stepsToMoney(fill.qtyLots, this.instrument.qty),
    );
    this._fills.set(fill.tradeId, fill);
    this._filledLots = filled;
    this._fillValue = this._fillValue.plus(value);
    this._fees = this._fees.plus(fee);
    const reason = `fill ${fill.tradeId}`;
    if (complete) {
      if (state !== 'FILLED') this.enter('FILLED', fill.ts, reason);
    } else if (state === 'SUBMITTED' || state === 'UNKNOWN' || state === 'OPEN') {
      this.enter('PARTIALLY_FILLED', fill.ts, reason);
    }
    return true;
  }
}
