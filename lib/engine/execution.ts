/**
 * Execution: approved intents → the venue port → order state machines, and venue truth (acks,
 * user-stream updates, fills) back into them. Never sends anything the risk gate did not approve
 * (the engine calls `submit` only with an approved intent), never resends blind: an unknown outcome
 * is resolved by asking the venue about that client order id, and only a venue that says "no such
 * order" makes a resend (with the same id) safe.
 */
import type { Clock } from '#core/clock.ts';
import type { Instrument } from '#core/instrument.ts';
import { canTransition, isLive, ManagedOrder } from '#core/order.ts';
import type { OrderState } from '#core/order.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';
import type { PlaceResult, UserEvent, VenueOrderState, VenueTrading } from '#venues/trading.ts';
import type { Journal } from './journal.ts';

/**
 * Rejections that say the venue (or our access to it) is in trouble, not that the order was
 * wrong: they count toward the circuit breaker. Business rejections (margin, filters, post-only)
 * do not.
 */
const VENUE_FAILURE_CODES = new Set([
  'UNAVAILABLE',
  'RATE_LIMITED',
  'IP_BANNED',
  'NETWORK',
  'TIMEOUT',
  '-1021',
  '-1003',
  '-1008',
]);

/** The points of the order path where crash-safety tests kill the engine. */
export type CrashPoint = 'after-signal' | 'after-intent' | 'after-send' | 'after-ack' | 'after-fill';

export interface ExecutionHooks {
  /** A fill counted for the first time (already journalled). */
  onFill(order: ManagedOrder, fill: Fill): void;
  /** An order reached a terminal state. */
  onDone?(order: ManagedOrder): void;
  /** The venue moved an order on (acknowledged, filled, cancelled…): after the transition. */
  onStateChange?(order: ManagedOrder): void;
}

export interface ExecutionOptions {
  readonly trading: VenueTrading;
  readonly journal: Journal;
  readonly clock: Clock;
  readonly hooks: ExecutionHooks;
  /** First delay before asking the venue about an unknown outcome (doubles, capped at 5 s). */
  readonly queryDelayMs?: number;
  /**
   * How long after sending the venue could still accept the request: the signed recvWindow plus
   * clock slack. Past it, "no such order" means it never arrived. Default 6000 (recvWindow 5000).
   */
  readonly acceptWindowMs?: number;
  /** Venue truth contradicts our state machine (e.g. a fill for an order we marked FAILED). */
  readonly onInvariant?: (detail: string) => void;
  /** Consecutive venue failures that open the circuit breaker (default 3). */
  readonly circuitBreakerFailures?: number;
  /** The venue keeps failing: trading must halt until a human looks. */
  readonly onCircuitOpen?: (reason: string) => void;
  /** Crash-safety tests: the process "dies" at this point of the order path. */
  readonly crashAt?: CrashPoint | undefined;
  readonly onCrash?: (() => void) | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The order state a venue status maps to. */
function stateOf(v: VenueOrderState): OrderState {
  switch (v.status) {
    case 'NEW':
      return 'OPEN';
    case 'PARTIALLY_FILLED':
      return 'PARTIALLY_FILLED';
    case 'FILLED':
      return 'FILLED';
    case 'CANCELED':
      return 'CANCELLED';
    case 'EXPIRED':
      return 'EXPIRED';
    case 'REJECTED':
      return 'REJECTED';
  }
}

export class Execution {
  readonly orders = new Map<string, ManagedOrder>();
  private readonly opts: ExecutionOptions;
  /** Fills that arrived before the order they belong to was known here (stream raced the ack). */
  private readonly early = new Map<string, Fill[]>();
  /** Unknown outcomes being resolved. */
  readonly resolving = new Set<string>();
  /** Cancels requested and not yet answered. */
  readonly cancelling = new Set<string>();
  /** Orders we asked the venue to cancel (a cancelled end is then ours, not the venue's doing). */
  readonly cancelRequested = new Set<string>();
  private stopped = false;
  /** Crash simulation: nothing more happens here, as when the process dies. */
  crashed = false;

  private crashHere(point: CrashPoint): boolean {
    if (this.crashed) return true;
    if (this.opts.crashAt !== point) return false;
    this.crashed = true;
    this.opts.onCrash?.();
    return true;
  }

  constructor(opts: ExecutionOptions) {
    this.opts = opts;
  }

  /** Orders that may still be live at the venue. */
  liveOrders(): ManagedOrder[] {
    return [...this.orders.values()].filter((o) => isLive(o.state));
  }

  /**
   * Sends an approved intent. Synchronous up to the moment the bytes are written (`onWritten`),
   * then the venue's answer arrives asynchronously.
   */
  submit(intent: OrderIntent, instrument: Instrument, onWritten?: () => void): ManagedOrder {
    const order = new ManagedOrder(intent, instrument);
    this.orders.set(intent.clientOrderId, order);
    this.journalOrder(order, 'decided');
    if (this.opts.crashAt === 'after-intent' && !this.crashed) {
      // Dies once the intent is durable, before anything is sent.
      void this.opts.journal.flush().then(() => this.crashHere('after-intent'));
      return order;
    }
    if (this.crashed) return order;
    const now = this.opts.clock.now();
    order.transition('SUBMITTED', now, 'sent');
    const pending = this.opts.trading.place(intent, instrument, onWritten);
    if (this.crashHere('after-send')) return order;
    this.journalOrder(order, 'sent');
    void pending.then(
      (r) => this.onPlaceResult(order, instrument, r),
      (err: unknown) =>
        this.onPlaceResult(order, instrument, { kind: 'unknown', reason: (err as Error).message }),
    );
    for (const f of this.early.get(intent.clientOrderId) ?? []) this.countFill(order, f);
    this.early.delete(intent.clientOrderId);
    return order;
  }

  /** Consecutive venue failures (unknown outcomes, unavailable, rate limited): the circuit breaker. */
  private venueFailures = 0;

  private countVenueOutcome(r: PlaceResult): void {
    const failure = r.kind === 'unknown' || (r.kind === 'rejected' && VENUE_FAILURE_CODES.has(r.code));
    if (!failure) {
      this.venueFailures = 0;
      return;
    }
    this.venueFailures++;
    const limit = this.opts.circuitBreakerFailures ?? 3;
    if (this.venueFailures === limit) {
      const why = r.kind === 'unknown' ? r.reason : `${r.code}: ${r.message}`;
      this.opts.journal.append({
        kind: 'engine',
        ts: this.opts.clock.now(),
        event: 'circuit-open',
        failures: limit,
        last: why,
      });
      this.opts.onCircuitOpen?.(`${limit} consecutive venue failures, last: ${why}`);
    }
  }

  private onPlaceResult(order: ManagedOrder, instrument: Instrument, r: PlaceResult): void {
    if (this.crashed || (r.kind === 'ack' && this.crashHere('after-ack'))) return;
    this.countVenueOutcome(r);
    const now = this.opts.clock.now();
    if (r.kind === 'ack') {
      this.applyVenueState(order, r.state, 'ack');
    } else if (r.kind === 'rejected') {
      if (order.state === 'SUBMITTED' || order.state === 'UNKNOWN') {
        order.transition('REJECTED', now, `${r.code}: ${r.message}`);
        this.journalOrder(order, 'rejected', { code: r.code, message: r.message });
        this.opts.hooks.onDone?.(order);
      }
    } else if (order.state === 'SUBMITTED') {
      order.transition('UNKNOWN', now, r.reason);
      this.journalOrder(order, 'unknown', { reason: r.reason });
      void this.resolveUnknown(order);
    }
  }

  /**
   * Asks the venue what became of an order whose outcome we do not know — never resends it. The
   * venue's record wins. "No such order" only settles it once the venue can no longer accept the
   * request (its timestamp is older than the signed recvWindow): then it never arrived, and the
   * order is FAILED (the strategy may decide again, with a new id). Until then, and while queries
   * themselves fail, it stays UNKNOWN: it counts as live, so no new entry races it, and the
   * reconciler keeps asking.
   */
  private async resolveUnknown(order: ManagedOrder): Promise<void> {
    const id = order.clientOrderId;
    if (this.resolving.has(id)) return;
    this.resolving.add(id);
    const sentTs = order.timestamps.SUBMITTED ?? this.opts.clock.now();
    const settleAfter = sentTs + (this.opts.acceptWindowMs ?? 6_000);
    try {
      for (let i = 0; order.state === 'UNKNOWN' && !this.stopped; i++) {
        await sleep(Math.min(5_000, (this.opts.queryDelayMs ?? 200) * 2 ** Math.min(i, 5)));
        if (order.state !== 'UNKNOWN') return; // the user stream or the late answer settled it
        let found: VenueOrderState | null;
        try {
          found = await this.opts.trading.queryOrder(order.intent.symbol, id);
        } catch (err) {
          this.journalOrder(order, 'query-failed', { error: (err as Error).message, attempt: i + 1 });
          continue;
        }
        if (found) {
          this.applyVenueState(order, found, 'query');
          return;
        }
        if (this.opts.clock.now() > settleAfter) {
          order.transition(
            'FAILED',
            this.opts.clock.now(),
            'the venue has no such order and can no longer accept it',
          );
          this.journalOrder(order, 'failed');
          this.opts.hooks.onDone?.(order);
          return;
        }
      }
    } finally {
      this.resolving.delete(id);
    }
  }

  /**
   * An order the journal knew as live before a restart: its outcome since is unknown until the
   * venue says. Fills already on record are counted (without hooks: the ledger has them).
   */
  restore(
    intent: OrderIntent,
    instrument: Instrument,
    fills: readonly Fill[],
    venueOrderId: string | null,
  ): ManagedOrder {
    const order = new ManagedOrder(intent, instrument);
    const now = this.opts.clock.now();
    order.transition('SUBMITTED', intent.createdTs, 'restored');
    order.transition('UNKNOWN', now, 'restart: outcome since the crash unknown');
    if (venueOrderId) order.setVenueOrderId(venueOrderId);
    for (const f of fills) order.applyFill(f);
    this.orders.set(intent.clientOrderId, order);
    return order;
  }

  /** Every order whose outcome is still unknown is asked about again (reconciliation, restarts). */
  recheckUnknown(): void {
    for (const o of this.orders.values()) if (o.state === 'UNKNOWN') void this.resolveUnknown(o);
  }

  stop(): void {
    this.stopped = true;
  }

  /** Moves an order to what the venue says, never backwards (stale answers after newer ones are ignored). */
  private applyVenueState(order: ManagedOrder, v: VenueOrderState, source: string): void {
    if (v.venueOrderId) order.setVenueOrderId(v.venueOrderId);
    const target = stateOf(v);
    // Same state, or one the order has already moved past (a stale answer, or fills that got
    // here first): nothing to do.
    if (order.state === target || !canTransition(order.state, target)) return;
    try {
      order.transition(target, this.opts.clock.now(), source);
    } catch (err) {
      this.journalOrder(order, 'transition-refused', { to: target, error: (err as Error).message });
      return;
    }
    this.journalOrder(order, source, { venueStatus: v.status, venueFilledLots: v.filledLots });
    this.opts.hooks.onStateChange?.(order);
    if (!isLive(order.state)) this.opts.hooks.onDone?.(order);
  }

  /**
   * Cancels one of our orders at the venue, on the record (why it was cancelled goes in the
   * journal first). The venue's answer moves the order; a refused cancel ("unknown order": it
   * filled or ended meanwhile) or an unknown outcome is settled by asking the venue about the order.
   * Cancels are never risk-checked: they can only take risk off.
   */
  async cancel(order: ManagedOrder, why: string): Promise<void> {
    const id = order.clientOrderId;
    if (this.crashed || this.stopped || this.cancelling.has(id) || !isLive(order.state)) return;
    this.cancelling.add(id);
    this.cancelRequested.add(id);
    this.journalOrder(order, 'cancel-requested', { why });
    try {
      const r = await this.opts.trading.cancel(order.intent.symbol, id);
      if (this.crashed) return;
      if (r.kind === 'ok') {
        this.applyVenueState(order, r.state, 'cancel');
        return;
      }
      this.journalOrder(
        order,
        r.kind === 'rejected' ? 'cancel-rejected' : 'cancel-unknown',
        r.kind === 'rejected' ? { code: r.code, message: r.message } : { reason: r.reason },
      );
      await this.reconcileOne(order);
    } catch (err) {
      this.journalOrder(order, 'cancel-failed', { error: (err as Error).message });
      await this.reconcileOne(order);
    } finally {
      this.cancelling.delete(id);
    }
  }

  /** Venue truth from the private stream. */
  onUserEvent(e: UserEvent): void {
    if (this.crashed || (e.type === 'fill' && this.crashHere('after-fill'))) return;
    if (e.type === 'order') {
      const order = this.orders.get(e.state.clientOrderId);
      if (order) this.applyVenueState(order, e.state, 'stream');
      else
        this.opts.journal.append({
          kind: 'order',
          ts: this.opts.clock.now(),
          event: 'foreign',
          state: e.state,
        });
    } else if (e.type === 'fill') {
      const order = this.orders.get(e.fill.clientOrderId);
      if (order) this.countFill(order, e.fill);
      else {
        const list = this.early.get(e.fill.clientOrderId) ?? [];
        list.push(e.fill);
        this.early.set(e.fill.clientOrderId, list);
        this.opts.journal.append({
          kind: 'fill',
          ts: this.opts.clock.now(),
          event: 'unmatched',
          fill: e.fill,
        });
      }
    } else {
      this.opts.journal.append({
        kind: 'engine',
        ts: this.opts.clock.now(),
        event: e.type,
        ...('reason' in e ? { reason: e.reason } : {}),
      });
      // While the stream was down, a cancel or expiry of ours may have gone unseen: ask the venue.
      if (e.type === 'stream-up') void this.reconcileLive();
    }
  }

  /** Asks the venue about every order we believe live (after a private-stream gap, or on demand). */
  async reconcileLive(): Promise<void> {
    for (const order of this.liveOrders()) {
      if (order.state === 'UNKNOWN') continue; // resolveUnknown owns it
      await this.reconcileOne(order);
    }
  }

  private async reconcileOne(order: ManagedOrder): Promise<void> {
    if (this.crashed || !isLive(order.state) || order.state === 'UNKNOWN') return;
    try {
      const v = await this.opts.trading.queryOrder(order.intent.symbol, order.clientOrderId);
      if (v) this.applyVenueState(order, v, 'reconcile');
    } catch (err) {
      this.journalOrder(order, 'query-failed', { error: (err as Error).message });
    }
  }

  private countFill(order: ManagedOrder, fill: Fill): void {
    const before = order.state;
    let fresh: boolean;
    try {
      fresh = order.applyFill(fill);
    } catch (err) {
      // The venue says this fill happened; our order record disagrees. The position must still
      // follow the venue (a lost fill is worse), and trading must stop until a human looks.
      this.opts.journal.append({
        kind: 'fill',
        ts: this.opts.clock.now(),
        event: 'invariant',
        fill,
        orderState: order.state,
        error: (err as Error).message,
      });
      this.opts.onInvariant?.(`${order.clientOrderId}: ${(err as Error).message}`);
      this.opts.hooks.onFill(order, fill);
      return;
    }
    if (!fresh) return; // redelivery
    this.opts.journal.append({
      kind: 'fill',
      ts: this.opts.clock.now(),
      fill,
      orderState: order.state,
      from: before,
    });
    this.opts.hooks.onFill(order, fill);
    if (!isLive(order.state)) this.opts.hooks.onDone?.(order);
  }

  private journalOrder(order: ManagedOrder, event: string, extra: Record<string, unknown> = {}): void {
    const i = order.intent;
    this.opts.journal.append({
      kind: 'order',
      ts: this.opts.clock.now(),
      event,
      clientOrderId: i.clientOrderId,
      state: order.state,
      symbol: i.symbol,
      side: i.side,
      type: i.type,
      tif: i.timeInForce,
      priceTicks: i.priceTicks,
      ...(i.triggerTicks !== undefined ? { triggerTicks: i.triggerTicks } : {}),
      qtyLots: i.qtyLots,
      reduceOnly: i.reduceOnly,
      purpose: i.purpose,
      filledLots: order.filledLots,
      venueOrderId: order.venueOrderId,
      ...extra,
    });
  }
}
