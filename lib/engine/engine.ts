/**
 * The engine: market data in, safe orders out, every decision recorded.
 *
 * Startup is a state machine, INITIALIZING → SYNCING → RECONCILING → READY, and nothing is sent
 * before READY. The hot path — a book update → strategy → risk gate → execution → order bytes on
 * the wire — runs synchronously inside the market-data callback; journaling is enqueued, never
 * awaited there. Trading states ACTIVE / REDUCING / HALTED; the kill switch is HALTED + cancel
 * everything + flatten with reduce-only orders, persisted, and only an explicit resume clears it.
 */
import type { L2Book } from '#core/book.ts';
import { ClientOrderIdSequence, parseClientOrderId } from '#core/client-order-id.ts';
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import type { Instrument, VenueId } from '#core/instrument.ts';
import { fromSteps } from '#core/grid.ts';
import { Money, stepsToMoney } from '#core/money.ts';
import type { ManagedOrder } from '#core/order.ts';
import { isLive } from '#core/order.ts';
import { PositionLedger } from '#core/position.ts';
import type { BookView, Fill, OrderIntent, OrderPurpose, OrderSide } from '#core/trading.ts';
import type { RiskContext, SymbolRisk, TradingState } from '#risk/context.ts';
import { symbolKey } from '#risk/context.ts';
import { checkFlatten, checkOrder, checkProtectiveStop, evaluateAccount } from '#risk/gate.ts';
import { cancelAllBut } from '#venues/cancel-all-but.ts';
import type { RiskDecision } from '#risk/reasons.ts';
import { paramsFor } from '#strategy/config.ts';
import type { ImbalanceParams } from '#strategy/config.ts';
import { exitLevels, ImbalanceStrategy } from '#strategy/imbalance.ts';
import type { Signal } from '#strategy/strategy.ts';
import { strategyPosition } from '#strategy/strategy.ts';
import type { MarketDataClient } from '#venues/market-data.ts';
import type { UserEvent, VenueTrading } from '#venues/trading.ts';
import type { EngineConfig } from './config.ts';
import { Execution } from './execution.ts';
import type { CrashPoint } from './execution.ts';
import { rebuildFromJournal } from './recovery.ts';
import type { Journal } from './journal.ts';
import { LatencyRecorder } from './latency.ts';
import type { ProtectiveStopView } from './protective-stops.ts';
import { leaveStopToVenue, planProtectiveStop } from './protective-stops.ts';
import type { PersistedEngineState, StateStore } from './state-store.ts';

export type EnginePhase = 'INITIALIZING' | 'SYNCING' | 'RECONCILING' | 'READY' | 'STOPPING' | 'STOPPED';

export interface EngineOptions {
  readonly venue: VenueId;
  readonly symbols: readonly string[];
  readonly config: EngineConfig;
  readonly trading: VenueTrading;
  /** Builds the market-data client; the engine passes the callbacks it needs. */
  readonly market: (hooks: { onBook: (book: L2Book) => void; onReceive: () => void }) => MarketDataClient;
  readonly journal: Journal;
  readonly state: StateStore;
  readonly clock?: Clock;
  /** Shard id (one engine per shard of symbols). */
  readonly shard?: number;
  /** How long SYNCING may wait for every book before it reports (it keeps waiting: fail closed). */
  readonly syncTimeoutMs?: number;
  readonly onLog?: (line: string) => void;
  /** Crash-safety tests only: the engine "dies" at this point of the order path. */
  readonly crashAt?: CrashPoint;
  /**
   * The fencing epoch this engine holds (the lease's, on AWS). Default: the persisted epoch + 1,
   * so every start gets client order ids no earlier run can have used.
   */
  readonly epoch?: number;
}

interface SymbolState {
  readonly instrument: Instrument;
  /** One tick as Money (constant per instrument: built once, not per decision). */
  readonly tick: Money;
  /** Per-decision scratch: this symbol's live orders, counted in one pass (see riskContext). */
  openBuyOrders: number;
  openSellOrders: number;
  openBuyLots: number;
  openSellLots: number;
  readonly strategy: ImbalanceStrategy;
  readonly params: ImbalanceParams;
  readonly ledger: PositionLedger;
  /** No protective stop is placed for this symbol before this time (after a refusal, ms). */
  stopRetryTs: number;
  /** The protective stop the engine's own stop exit last stood aside for (journalled once). */
  stoodAsideFor: string | null;
  /** When the strategy last wanted out (ms): no new protective stop is placed while it does. */
  exitWantedTs: number;
  /** Protective stops in a row that ended without guarding (refused, rejected, failed): the backoff. */
  stopFailures: number;
  /** The kill's last flatten for this symbol was refused by the gate (a stale book…): guard meanwhile. */
  flattenBlocked: boolean;
  /** No flatten retry before this time (ms), after a refusal. */
  flattenRetryTs: number;
  book: L2Book | null;
  lastSignal: Signal | null;
}

/** Client order ids are reserved in blocks, so a restart never reuses one and the hot path never writes state. */
const SEQ_BLOCK = 1000;

/** Immutable Money constants of the risk context (decimal.js values never change: safe to share). */
const ZERO = new Money(0);
const ONE = new Money(1);

export class Engine {
  readonly latency = new LatencyRecorder();
  readonly rejections = new Map<string, number>();
  /** Protective stops the gate refused, by reason (not strategy rejections: see send). */
  readonly stopRefusals = new Map<string, number>();
  private readonly opts: EngineOptions;
  private readonly clock: Clock;
  private readonly journal: Journal;
  private _phase: EnginePhase = 'INITIALIZING';
  private _tradingState: TradingState = 'ACTIVE';
  private persisted: PersistedEngineState;
  private ids!: ClientOrderIdSequence;
  private reservedUntil = 0;
  private market!: MarketDataClient;
  private execution!: Execution;
  private readonly symbols = new Map<string, SymbolState>();
  /**
   * The orders that may still be live, by client id: every order execution creates (submit,
   * restore) goes in, and those no longer live are dropped when next read. The same set as
   * `execution.liveOrders()`, which filters every order of the run on each call — the hot path
   * reads this one instead (terminal states are terminal, so dropping them is final).
   */
  private readonly open = new Map<string, ManagedOrder>();
  private readonly recentOrderTs: number[] = [];
  private peakEquity: Money;
  private maxDrawdown: Money = new Money(0);
  /** performance.now() when the message being processed was received (0 outside the hot path). */
  private recvPerf = 0;
  private signalPerf = 0;
  private flattening = false;
  signals = 0;
  ordersSent = 0;
  /** Protective stops placed, and those the venue triggered (filled, at least partly). */
  stopsPlaced = 0;
  private readonly stopsTriggered = new Set<string>();

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.journal = opts.journal;
    this.persisted = opts.state.load();
    this.peakEquity = opts.config.capital;
  }

  get phase(): EnginePhase {
    return this._phase;
  }
  get tradingState(): TradingState {
    return this._tradingState;
  }
  get killFlag(): PersistedEngineState['kill'] {
    return this.persisted.kill;
  }

  private log(line: string): void {
    this.opts.onLog?.(line);
  }

  private enter(phase: EnginePhase, detail = ''): void {
    this._phase = phase;
    this.journal.append({ kind: 'engine', ts: this.clock.now(), event: 'phase', phase, detail });
    this.log(`engine: ${phase}${detail ? ` (${detail})` : ''}`);
  }

  // ------------------------------------------------------------------ startup

  async start(): Promise<void> {
    this.enter('INITIALIZING');
    const p = this.persisted;
    // Every start is a new epoch (the lease's fencing epoch on AWS): client order ids of this run
    // can never collide with those of a run that crashed. A block of ids is reserved up front.
    const epoch = this.opts.epoch ?? p.epoch + 1;
    if (epoch <= p.epoch && this.opts.epoch !== undefined)
      throw new Error(`epoch ${epoch} is not newer than the persisted ${p.epoch}`);
    this.reservedUntil = SEQ_BLOCK;
    this.persisted = { ...p, epoch, nextSeq: this.reservedUntil };
    this.opts.state.save(this.persisted);
    this.ids = new ClientOrderIdSequence(this.opts.shard ?? 0, epoch, 0);
    if (p.kill) {
      this._tradingState = 'HALTED';
      this.log(`engine: kill flag is set (${p.kill.reason}, by ${p.kill.by}): starting HALTED`);
      this.journal.append({ kind: 'kill', ts: this.clock.now(), event: 'start-halted', kill: p.kill });
    }
    this.execution = new Execution({
      trading: this.opts.trading,
      journal: this.journal,
      clock: this.clock,
      hooks: {
        onFill: (o, f) => this.onFill(o, f),
        onDone: (o) => this.onOrderDone(o),
        onStateChange: (o) => {
          if (o.intent.purpose === 'protective-stop' && o.state === 'OPEN') {
            const st = this.symbols.get(o.intent.symbol);
            if (st) st.stopFailures = 0;
          }
          this.guardSymbol(o.intent.symbol);
        },
      },
      onInvariant: (detail) => this.setTradingState('HALTED', `invariant: ${detail}`),
      crashAt: this.opts.crashAt,
      onCrash: () => this.crash(),
      // The venue keeps failing (unknown outcomes, unavailable, rate limited): stop sending.
      onCircuitOpen: (why) => this.setTradingState('HALTED', `circuit breaker: ${why}`),
    });
    await this.opts.trading.start((e: UserEvent) => this.execution.onUserEvent(e));

    this.enter('SYNCING');
    this.market = this.opts.market({
      onBook: (b) => this.onBook(b),
      onReceive: () => {
        this.recvPerf = performance.now();
      },
    });
    await this.market.start();
    const instruments = this.market.instrumentSet();
    for (const s of this.opts.symbols) {
      const instrument = instruments?.get(s);
      if (!instrument) throw new Error(`${this.opts.venue} does not list ${s}`);
      const params = paramsFor(this.opts.config.strategy, this.opts.venue, instrument.symbol);
      this.symbols.set(instrument.symbol, {
        instrument,
        tick: stepsToMoney(1, instrument.price),
        openBuyOrders: 0,
        openSellOrders: 0,
        openBuyLots: 0,
        openSellLots: 0,
        strategy: new ImbalanceStrategy(instrument, params),
        params,
        stopRetryTs: 0,
        stoodAsideFor: null,
        exitWantedTs: -Infinity,
        stopFailures: 0,
        flattenBlocked: false,
        flattenRetryTs: 0,
        ledger: new PositionLedger(instrument, this.opts.config.capital),
        book: null,
        lastSignal: null,
      });
    }
    const deadline = this.clock.now() + (this.opts.syncTimeoutMs ?? 30_000);
    let warned = false;
    while (!this.allSynced()) {
      if (!warned && this.clock.now() > deadline) {
        warned = true;
        this.log('engine: books not in sync yet; still waiting (nothing is sent until they are)');
      }
      await new Promise((r) => setTimeout(r, 20));
    }

    this.enter('RECONCILING');
    await this.recoverJournal();
    await this.reconcile();
    this.enter('READY', `trading ${this._tradingState}`);
    // The housekeeping loop: order TTLs, and protective stops re-checked even when no event comes.
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref?.();
    this.sweep();
  }

  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  /** When the TTL sweep last asked to cancel an order (dropped once the order is done). */
  private readonly ttlCancelTs = new Map<string, number>();

  /** Order TTLs and protective stops; runs every SWEEP_MS while READY. */
  private sweep(): void {
    if (this._phase !== 'READY' || this.crashed) return;
    const now = this.clock.now();
    const ttl = this.opts.config.entry.ttlMs;
    for (const o of this.liveOpen()) {
      if (o.intent.purpose === 'protective-stop') continue;
      if (o.state !== 'OPEN' && o.state !== 'PARTIALLY_FILLED') continue; // unknown: resolveUnknown owns it
      const sent = o.timestamps.SUBMITTED ?? o.intent.createdTs;
      if (now - sent < ttl) continue;
      // One TTL cancel a second per order at most: a cancel the venue keeps refusing is not hammered.
      const last = this.ttlCancelTs.get(o.clientOrderId) ?? -Infinity;
      if (now - last < STOP_RETRY_MS) continue;
      this.ttlCancelTs.set(o.clientOrderId, now);
      void this.execution.cancel(o, `ttl: resting ${now - sent} ms ≥ ${ttl} ms`);
    }
    for (const st of this.symbols.values()) this.guardSymbol(st.instrument.symbol);
    // A kill's flatten that the gate refused (a stale book, a rate limit) or that expired unfilled
    // is tried again: nothing else would (flattenStep skips symbols with an order still working).
    if (this.flattening && !this.flat) void this.flattenStep();
  }

  // ------------------------------------------------------------------ protective stops

  private get stopsEnabled(): boolean {
    return this.opts.config.protectiveStop.enabled && this.opts.trading.capabilities.stopTypes.length > 0;
  }

  /** The live protective stops of a symbol, oldest first, as the planner sees them. */
  private protectiveStops(symbol: string): ProtectiveStopView[] {
    const out: ProtectiveStopView[] = [];
    for (const o of this.liveOpen()) {
      if (o.intent.symbol !== symbol || o.intent.purpose !== 'protective-stop') continue;
      out.push({
        clientOrderId: o.clientOrderId,
        state: o.state,
        side: o.intent.side,
        remainingLots: o.remainingLots,
        triggerTicks: o.intent.triggerTicks as number,
        cancelling: this.execution.cancelling.has(o.clientOrderId),
      });
    }
    return out;
  }

  /** The strategy's stop level for the symbol's position (ticks); null when flat. */
  private stopLevel(st: SymbolState): number | null {
    const pos = strategyPosition(st.ledger);
    if (pos.side === 'flat') return null;
    return exitLevels(pos.side, pos.entryTicks, st.params).stopTicks;
  }

  /**
   * Keeps the venue-side protective stop of a symbol in line with its position (see
   * protective-stops.ts): places through the risk gate's protective-stop path, cancels through
   * execution. Runs after fills, acknowledgements and order ends, and on the sweep.
   */
  private guardSymbol(symbol: string): void {
    if (this._phase !== 'READY' || this.crashed || !this.stopsEnabled) return;
    const st = this.symbols.get(symbol);
    if (!st) return;
    const stops = this.protectiveStops(symbol);
    const actions = planProtectiveStop({
      positionLots: st.ledger.lots,
      stopTicks: this.stopLevel(st),
      stops,
      entryWorking: this.pendingFor(symbol).entry,
      makeBeforeBreak: this.opts.trading.capabilities.reduceOnly,
    });
    const now = this.clock.now();
    for (const a of actions) {
      // While a kill flattens, the flatten is the exit: stops are only cancelled (once flat), unless
      // the gate refuses the flatten (a stale book), when the position is guarded like any other.
      if (a.kind === 'place' && this.flattening && !st.flattenBlocked) continue;
      if (a.kind === 'cancel') {
        const o = this.execution.orders.get(a.clientOrderId);
        if (o) void this.execution.cancel(o, a.why);
        continue;
      }
      // Not while the position is being exited: on spot the exit has just taken the stop down to
      // sell the base, and a fresh stop would take it back (and the exit would cancel it again).
      if (now < st.stopRetryTs || !st.book || now - st.exitWantedTs < STOP_RETRY_MS) continue;
      if (this.pendingFor(symbol).exit) continue;
      const intent = this.protectiveStopIntent(st, a.side, a.qtyLots, a.triggerTicks, now);
      const view = bookView(this.opts.venue, st.book);
      const decision = checkProtectiveStop(
        intent,
        st.instrument,
        view,
        now,
        this.riskContext(now),
        this.opts.config.risk,
      );
      if (!decision.approved) this.stopFailed(st, now, `gate: ${decision.reason}`);
      this.send(st, intent, view, decision, now, 0);
    }
  }

  /**
   * A protective stop that could not guard (refused by the gate, rejected or failed at the venue,
   * gone without a fill): the next attempt for the symbol waits, twice as long each time in a row
   * (1 s … 30 s), so a refusal that will not go away (a dust position under the minimum notional, a
   * market already past the level — the engine's own stop exit handles that) never becomes a storm
   * of orders, and the position's lack of a stop is logged once per streak.
   */
  private stopFailed(st: SymbolState, now: number, why: string): void {
    st.stopFailures++;
    st.stopRetryTs = now + Math.min(STOP_RETRY_MAX_MS, STOP_RETRY_MS * 2 ** (st.stopFailures - 1));
    if (st.stopFailures === 1 && st.ledger.lots !== 0)
      this.log(
        `engine: ${st.instrument.symbol} position has no venue-side stop (${why}); retrying with backoff`,
      );
  }

  private protectiveStopIntent(
    st: SymbolState,
    side: OrderSide,
    qtyLots: number,
    triggerTicks: number,
    now: number,
  ): OrderIntent {
    const caps = this.opts.trading.capabilities;
    const market = caps.stopTypes.includes('stop-market');
    const band = this.opts.config.protectiveStop.stopLimitBandBps;
    const move = Math.max(1, Math.floor((triggerTicks * band) / 10_000));
    return {
      clientOrderId: this.nextClientOrderId(),
      venue: this.opts.venue,
      symbol: st.instrument.symbol,
      side,
      type: market ? 'stop-market' : 'stop-limit',
      timeInForce: 'GTC',
      ...(market
        ? {}
        : { priceTicks: side === 'sell' ? Math.max(1, triggerTicks - move) : triggerTicks + move }),
      triggerTicks,
      qtyLots,
      reduceOnly: caps.reduceOnly,
      purpose: 'protective-stop',
      createdTs: now,
    };
  }

  /**
   * An exit signal meets the protective stop. The engine's own stop exit stands aside while the
   * venue's stop guards the position (until the market is `fallbackBps` past its trigger). On spot
   * every other exit must first get the stop out of the way (it holds the base the exit sells):
   * the stop is cancelled and the exit waits for the next update. Returns true when the exit must
   * not be sent now.
   */
  private exitBlockedByStop(st: SymbolState, signal: Signal): boolean {
    if (!this.stopsEnabled) return false;
    const symbol = st.instrument.symbol;
    const stops = this.protectiveStops(symbol);
    if (stops.length === 0) return false;
    const lots = st.ledger.lots;
    const exitPx = lots > 0 ? signal.book.bestBidTicks : signal.book.bestAskTicks;
    if (
      signal.exitReason === 'stop' &&
      leaveStopToVenue(lots, exitPx, stops, this.opts.config.protectiveStop.fallbackBps)
    ) {
      const guard = stops[stops.length - 1]?.clientOrderId ?? null;
      if (st.stoodAsideFor !== guard) {
        st.stoodAsideFor = guard;
        this.journal.append({
          kind: 'signal',
          ts: signal.ts,
          event: 'stop-left-to-venue',
          symbol,
          protectiveStop: guard,
          exitPriceTicks: exitPx,
        });
      }
      return true;
    }
    if (this.opts.trading.capabilities.reduceOnly) return false;
    for (const s of stops) {
      const o = this.execution.orders.get(s.clientOrderId);
      if (o && !s.cancelling)
        void this.execution.cancel(o, `spot exit (${signal.exitReason ?? 'exit'}) needs the base`);
    }
    return true;
  }

  private allSynced(): boolean {
    const books = this.market.books();
    return this.opts.symbols.every(
      (s) => books.get(s.toUpperCase())?.state === 'SYNCED' || books.get(s)?.state === 'SYNCED',
    );
  }

  private journalSince = NaN;
  /** Trade ids the journal had on record at start (already in the ledgers). */
  private readonly recoveredFills = new Set<string>();

  /** What the journal says happened before this start: fills into the ledgers, live orders as UNKNOWN. */
  private async recoverJournal(): Promise<void> {
    const rec = rebuildFromJournal(await this.journal.read(), this.opts.venue);
    this.journalSince = rec.firstTs;
    let restored = 0;
    for (const f of rec.fills.values()) {
      this.symbols.get(f.symbol)?.ledger.applyFill(f);
      this.recoveredFills.add(f.tradeId);
      this.seenFills.add(f.tradeId);
    }
    for (const o of rec.orders.values()) {
      const last = o.states[o.states.length - 1];
      const st = this.symbols.get(o.intent.symbol);
      if (
        !st ||
        last === undefined ||
        !['PENDING', 'SUBMITTED', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED'].includes(last)
      )
        continue;
      const fills = [...rec.fills.values()].filter((f) => f.clientOrderId === o.intent.clientOrderId);
      this.track(this.execution.restore(o.intent, st.instrument, fills, o.venueOrderId));
      restored++;
    }
    if (rec.records > 0) {
      this.journal.append({
        kind: 'reconcile',
        ts: this.clock.now(),
        event: 'journal-recovered',
        records: rec.records,
        fills: rec.fills.size,
        liveOrders: restored,
      });
      this.log(
        `engine: journal recovered: ${rec.records} records, ${rec.fills.size} fills, ${restored} order(s) to confirm with the venue`,
      );
    }
  }

  /**
   * Venue trades the journal lacks (the crash came before they were persisted) are imported, on
   * the record, into their orders and the ledger.
   */
  private async importVenueFills(): Promise<number> {
    const since = Number.isNaN(this.journalSince)
      ? this.clock.now() - 86_400_000
      : this.journalSince - 60_000;
    let imported = 0;
    for (const st of this.symbols.values()) {
      const known = new Set<string>();
      for (const o of this.execution.orders.values()) for (const f of o.fills) known.add(f.tradeId);
      const venueFills = await this.opts.trading.fillsSince(st.instrument.symbol, since);
      for (const f of venueFills) {
        if (known.has(f.tradeId) || this.recoveredFills.has(f.tradeId)) continue;
        if (parseClientOrderId(f.clientOrderId) === null) continue; // not ours
        if (this.seenFills.has(f.tradeId)) continue;
        imported++;
        const order = this.execution.orders.get(f.clientOrderId);
        this.journal.append({ kind: 'fill', ts: this.clock.now(), event: 'imported', fill: f });
        if (order) this.execution.onUserEvent({ type: 'fill', fill: f });
        else this.onFill(null, f);
      }
    }
    if (imported > 0) this.log(`engine: imported ${imported} venue fill(s) missing from the journal`);
    return imported;
  }

  /**
   * Venue truth before trading: open orders with our client-id format left by a previous run are
   * cancelled (others' orders are left alone, on the record); a venue position the ledger does
   * not know is adopted at the venue's entry price, on the record.
   */
  private async reconcile(): Promise<void> {
    const open = await this.opts.trading.openOrders();
    const ours = open.filter((o) => parseClientOrderId(o.clientOrderId) !== null);
    const foreign = open.filter((o) => parseClientOrderId(o.clientOrderId) === null);
    for (const o of ours) {
      // A protective stop the journal knows still guards the position it was placed for: it stays
      // (the venue's answer about it resolves it, and the guard replaces it if it no longer fits).
      const known = this.execution.orders.get(o.clientOrderId);
      if (known?.intent.purpose === 'protective-stop' && this.symbols.get(o.symbol)?.ledger.lots !== 0) {
        this.journal.append({
          kind: 'reconcile',
          ts: this.clock.now(),
          event: 'kept-protective-stop',
          order: o,
        });
        continue;
      }
      const r = await this.opts.trading.cancel(o.symbol, o.clientOrderId);
      this.journal.append({
        kind: 'reconcile',
        ts: this.clock.now(),
        event: 'cancel-orphan',
        order: o,
        result: r.kind,
      });
    }
    const cancelled = ours.filter(
      (o) =>
        this.execution.orders.get(o.clientOrderId)?.intent.purpose !== 'protective-stop' ||
        this.symbols.get(o.symbol)?.ledger.lots === 0,
    ).length;
    if (cancelled > 0) this.log(`engine: cancelled ${cancelled} order(s) of ours left open at the venue`);
    if (cancelled < ours.length)
      this.log(
        `engine: kept ${ours.length - cancelled} protective stop(s) guarding positions from the previous run`,
      );
    if (foreign.length > 0) {
      this.journal.append({
        kind: 'reconcile',
        ts: this.clock.now(),
        event: 'foreign-orders',
        orders: foreign,
      });
      this.log(`engine: ${foreign.length} open order(s) at the venue are not ours; left alone`);
    }
    await this.importVenueFills();
    for (const pos of await this.opts.trading.positions()) {
      const st = this.symbols.get(pos.symbol);
      if (!st) continue;
      const delta = pos.qtyLots - st.ledger.lots;
      if (delta === 0) continue;
      const i = st.instrument;
      const entryTicks = Math.round(Number(new Money(pos.entryPrice).div(stepsToMoney(1, i.price))));
      const fill: Fill = {
        venue: this.opts.venue,
        symbol: pos.symbol,
        tradeId: `reconcile-${this.clock.now()}-${pos.symbol}`,
        clientOrderId: 'reconcile',
        side: delta > 0 ? 'buy' : 'sell',
        priceTicks: entryTicks,
        qtyLots: Math.abs(delta),
        fee: '0',
        feeAsset: i.quote,
        liquidity: 'taker',
        ts: this.clock.now(),
      };
      st.ledger.applyFill(fill);
      this.journal.append({
        kind: 'reconcile',
        ts: this.clock.now(),
        event: 'adopted-position',
        venue: pos,
        fill,
      });
      this.journalPosition(st, { adopted: true });
      this.log(`engine: adopted a venue position of ${pos.qtyLots} lots ${pos.symbol} @ ${pos.entryPrice}`);
    }
    this.execution.recheckUnknown();
  }

  // ------------------------------------------------------------------ hot path

  /** Every verified book update. Synchronous from receipt to order bytes. */
  onBook(book: L2Book): void {
    if (this.crashed) return;
    const recv = this.recvPerf;
    const t = performance.now();
    if (recv > 0) this.latency.stages.book.record((t - recv) * 1e6);
    const st = this.symbols.get(book.symbol);
    if (!st) return;
    st.book = book;
    if (this._phase !== 'READY') return;
    const now = this.clock.now();
    const ledger = st.ledger;
    const pending = this.pendingFor(book.symbol);
    const signal = st.strategy.onBook(book, {
      now,
      position: strategyPosition(ledger),
      entryPending: pending.entry,
      exitPending: pending.exit || this.flattening,
    });
    const decided = performance.now();
    if (recv > 0) this.latency.tickToDecision.record((decided - recv) * 1e6);
    if (!signal) return;
    this.signals++;
    st.lastSignal = signal;
    this.signalPerf = decided;
    if (recv > 0) this.latency.stages.signal.record((decided - recv) * 1e6);
    this.journal.append({ kind: 'signal', ts: now, signal });
    if (this.opts.crashAt === 'after-signal') {
      this.crash();
      return;
    }
    if (signal.kind === 'exit') {
      st.exitWantedTs = now;
      if (this.exitBlockedByStop(st, signal)) return;
    }
    const intent = this.intentFor(st, signal, now);
    if (!intent) return;
    const decision = checkOrder(
      intent,
      st.instrument,
      signal.book,
      now,
      this.riskContext(now),
      this.opts.config.risk,
    );
    if (recv > 0) this.latency.stages.risk.record((performance.now() - recv) * 1e6);
    this.send(st, intent, signal.book, decision, now, recv);
  }

  private send(
    st: SymbolState,
    intent: OrderIntent,
    view: BookView,
    decision: RiskDecision,
    now: number,
    recv: number,
  ): void {
    this.journal.append({
      kind: 'risk',
      ts: now,
      clientOrderId: intent.clientOrderId,
      intent,
      book: view,
      decision,
    });
    if (!decision.approved) {
      // A refused protective stop is not a refused order of the strategy (it backs off and the
      // engine's own stop exit stands in): counted apart, so it never feeds the reject-rate alarm.
      const tally = intent.purpose === 'protective-stop' ? this.stopRefusals : this.rejections;
      tally.set(decision.reason, (tally.get(decision.reason) ?? 0) + 1);
      if (decision.action) this.onRiskAction(decision.action, decision.reason, decision.detail);
      return;
    }
    this.recentOrderTs.push(now);
    this.ordersSent++;
    if (intent.purpose === 'protective-stop') this.stopsPlaced++;
    const order = this.execution.submit(intent, st.instrument, () => {
      const w = performance.now();
      if (recv > 0) this.latency.stages.written.record((w - recv) * 1e6);
      // Only orders a signal caused (not protective stops or flatten orders, sent later on fills).
      if (recv > 0 && this.signalPerf > 0) this.latency.signalToOrder.record((w - this.signalPerf) * 1e6);
    });
    this.track(order);
  }

  private track(order: ManagedOrder): void {
    this.open.set(order.intent.clientOrderId, order);
  }

  /** The live orders (as `execution.liveOrders()` would list them), pruning the finished ones. */
  private liveOpen(): IterableIterator<ManagedOrder> {
    for (const [id, o] of this.open) if (!isLive(o.state)) this.open.delete(id);
    return this.open.values();
  }

  private pendingFor(symbol: string): { entry: boolean; exit: boolean } {
    let entry = false;
    let exit = false;
    for (const o of this.liveOpen()) {
      if (o.intent.symbol !== symbol) continue;
      if (o.intent.purpose === 'entry') entry = true;
      else if (o.intent.purpose !== 'protective-stop') exit = true;
    }
    return { entry, exit };
  }

  private nextClientOrderId(): string {
    if (this.ids.nextSeq >= this.reservedUntil) {
      // Rare (every SEQ_BLOCK orders): reserve the next block before using it.
      this.reservedUntil += SEQ_BLOCK;
      this.persisted = { ...this.persisted, nextSeq: this.reservedUntil };
      this.opts.state.save(this.persisted);
    }
    return this.ids.next();
  }

  /** Sizing: entries spend `orderNotional` at the touch; exits close the whole position. */
  private intentFor(st: SymbolState, signal: Signal, now: number): OrderIntent | null {
    const i = st.instrument;
    const side: OrderSide = signal.side;
    let qtyLots: number;
    let purpose: OrderPurpose;
    let reduceOnly: boolean;
    if (signal.kind === 'exit') {
      qtyLots = Math.abs(st.ledger.lots);
      purpose =
        signal.exitReason === 'opposite-signal' ? 'exit-signal' : (signal.exitReason ?? 'exit-signal');
      reduceOnly = true;
    } else {
      const touch = side === 'buy' ? signal.book.bestAskTicks : signal.book.bestBidTicks;
      const notional =
        this.opts.config.orderNotionalBySymbol.get(i.symbol.toUpperCase()) ?? this.opts.config.orderNotional;
      const perLot = stepsToMoney(touch, i.price).times(stepsToMoney(1, i.qty)).times(i.contractSize);
      qtyLots = perLot.gt(0) ? notional.div(perLot).floor().toNumber() : 0;
      purpose = 'entry';
      reduceOnly = false;
    }
    if (qtyLots <= 0) {
      this.rejections.set('SIZE_ZERO', (this.rejections.get('SIZE_ZERO') ?? 0) + 1);
      return null;
    }
    // A maker entry joins the near touch (post-only) and rests until filled or its TTL.
    const maker = purpose === 'entry' && this.opts.config.entry.timeInForce === 'POST_ONLY';
    return {
      clientOrderId: this.nextClientOrderId(),
      venue: this.opts.venue,
      symbol: i.symbol,
      side,
      // Otherwise a marketable limit, IOC: it takes what is there up to a known price (so the gate
      // prices it exactly and it can never fill worse), and whatever it cannot get now expires.
      type: 'limit',
      timeInForce: maker ? 'POST_ONLY' : 'IOC',
      priceTicks: maker
        ? side === 'buy'
          ? signal.book.bestBidTicks
          : signal.book.bestAskTicks
        : limitThrough(side, signal.book, purpose === 'entry' ? 0 : EXIT_SLIPPAGE_BPS),
      qtyLots,
      reduceOnly,
      purpose,
      createdTs: now,
    };
  }

  // ------------------------------------------------------------------ risk context

  private markTicks(st: SymbolState): number {
    const b = st.book;
    if (!b) return st.ledger.lastMarkTicks ?? 0;
    const bid = b.bestBid();
    const ask = b.bestAsk();
    return bid > 0 && ask > 0 ? (bid + ask) / 2 : (st.ledger.lastMarkTicks ?? 0);
  }

  equity(): Money {
    let eq = this.opts.config.capital;
    for (const st of this.symbols.values()) {
      const mark = this.markTicks(st);
      eq = eq.plus(st.ledger.realized).minus(st.ledger.fees);
      if (st.ledger.lots !== 0 && mark > 0) eq = eq.plus(st.ledger.unrealized(Math.round(mark)));
    }
    return eq;
  }

  private riskContext(now: number): RiskContext {
    const symbols = new Map<string, SymbolRisk>();
    let realizedToday = ZERO;
    let consecutive = 0;
    // Live orders counted per symbol in one pass (not one filter of every order per symbol).
    for (const st of this.symbols.values()) {
      st.openBuyOrders = 0;
      st.openSellOrders = 0;
      st.openBuyLots = 0;
      st.openSellLots = 0;
    }
    for (const o of this.liveOpen()) {
      // A protective stop can only take the position off (reduce-only; on spot it holds the base it
      // would sell): it is neither exposure nor a resting order an exit could flip the position with.
      if (o.intent.purpose === 'protective-stop') continue;
      const st = this.symbols.get(o.intent.symbol);
      if (st === undefined || st.instrument.symbol !== o.intent.symbol) continue;
      if (o.intent.side === 'buy') {
        st.openBuyOrders++;
        st.openBuyLots += o.remainingLots;
      } else {
        st.openSellOrders++;
        st.openSellLots += o.remainingLots;
      }
    }
    for (const st of this.symbols.values()) {
      const l = st.ledger;
      const i = st.instrument;
      const mark = this.markTicks(st);
      const funding = fundingTimes(this.opts.venue, i, now);
      symbols.set(symbolKey(this.opts.venue, i.symbol), {
        instrument: i,
        positionLots: l.lots,
        avgEntryPrice: l.avgEntryPrice ?? ZERO,
        markPrice: st.tick.times(mark),
        openBuyOrders: st.openBuyOrders,
        openSellOrders: st.openSellOrders,
        openBuyLots: st.openBuyLots,
        openSellLots: st.openSellLots,
        leverage: i.kind === 'spot' ? null : ONE,
        lastFundingTs: funding.lastFundingTs,
        nextFundingTs: funding.nextFundingTs,
      });
      realizedToday = realizedToday.plus(l.dailyPnl(now));
      consecutive = Math.max(consecutive, l.consecutiveLosses);
    }
    const equity = this.equity();
    if (equity.gt(this.peakEquity)) this.peakEquity = equity;
    const dd = equity.minus(this.peakEquity);
    if (dd.lt(this.maxDrawdown)) this.maxDrawdown = dd;
    const cutoff = now - 60_000;
    while (this.recentOrderTs.length > 0 && (this.recentOrderTs[0] as number) < cutoff)
      this.recentOrderTs.shift();
    return {
      tradingState: this._tradingState,
      killSwitch: this.persisted.kill !== null,
      account: {
        equity,
        peakEquity: this.peakEquity,
        realizedPnlToday: realizedToday,
        consecutiveLosses: consecutive,
      },
      symbols,
      recentOrderTs: new Map([[this.opts.venue, [...this.recentOrderTs]]]),
    };
  }

  // ------------------------------------------------------------------ fills, account, kill

  /** Trade ids applied to the ledgers this run (the ledger itself does not deduplicate). */
  private readonly seenFills = new Set<string>();

  private onFill(order: ManagedOrder | null, fill: Fill): void {
    const st = this.symbols.get(fill.symbol);
    if (!st || this.crashed) return;
    if (this.seenFills.has(fill.tradeId)) return;
    this.seenFills.add(fill.tradeId);
    const r = st.ledger.applyFill(fill);
    // The exit the strategy wanted is done: the next position gets its stop at once.
    if (st.ledger.lots === 0) st.exitWantedTs = -Infinity;
    this.journalPosition(st, { realized: r.realized, fee: r.fee, roundTrip: r.roundTrip });
    const evaluation = evaluateAccount(this.riskContext(this.clock.now()), this.opts.config.risk);
    if (evaluation.state !== this._tradingState) {
      const b = evaluation.breaches[0];
      if (evaluation.action === 'KILL')
        this.kill(`${b?.reason ?? 'risk'}: ${b?.detail ?? ''}`, `risk:${b?.reason ?? ''}`);
      else this.setTradingState(evaluation.state, b ? `${b.reason}: ${b.detail}` : 'account evaluation');
    } else if (this.flattening) {
      void this.flattenStep();
    }
    this.guardSymbol(fill.symbol);
    if (order?.intent.purpose === 'protective-stop') this.stopsTriggered.add(order.clientOrderId);
  }

  /**
   * The position after a change, on the record: what the read model's position snapshot is built
   * from (lib/store/read-model-projection.ts), so it carries the average entry and today's P&L.
   */
  private journalPosition(st: SymbolState, change: Record<string, unknown>): void {
    const now = this.clock.now();
    const l = st.ledger;
    this.journal.append({
      kind: 'position',
      ts: now,
      symbol: st.instrument.symbol,
      lots: l.lots,
      avgEntryPrice: l.lots === 0 ? '0' : (l.avgEntryPrice?.toString() ?? '0'),
      realizedPnlDay: l.dailyPnl(now),
      ...change,
      equity: this.equity(),
    });
  }

  private onOrderDone(order: ManagedOrder): void {
    this.ttlCancelTs.delete(order.clientOrderId);
    if (this.flattening && order.intent.purpose === 'flatten') void this.flattenStep();
    const st = this.symbols.get(order.intent.symbol);
    if (st && order.intent.purpose === 'protective-stop') {
      // Rejected or failed at the venue, or gone without a fill while it still had a position to
      // guard and we had not cancelled it: back off. (A reduce-only stop the venue expires with
      // the position it guarded is no failure.)
      const ours = this.execution.cancelRequested.delete(order.clientOrderId);
      const vanished = !ours && order.filledLots === 0 && st.ledger.lots !== 0;
      if (order.state === 'REJECTED' || order.state === 'FAILED' || vanished)
        this.stopFailed(st, this.clock.now(), `venue: ${order.state}`);
    }
    this.guardSymbol(order.intent.symbol);
  }

  private onRiskAction(action: 'HALT' | 'KILL', reason: string, detail: string): void {
    if (action === 'KILL') this.kill(`${reason}: ${detail}`, `risk:${reason}`);
    else this.setTradingState('HALTED', `${reason}: ${detail}`);
  }

  private setTradingState(state: TradingState, why: string): void {
    if (state === this._tradingState) return;
    this.journal.append({
      kind: 'engine',
      ts: this.clock.now(),
      event: 'trading-state',
      from: this._tradingState,
      to: state,
      why,
    });
    this.log(`engine: trading ${this._tradingState} → ${state} (${why})`);
    this._tradingState = state;
  }

  /**
   * The kill switch: HALTED, the flag persisted with its reason, every open order cancelled, every
   * position flattened with reduce-only orders (through the gate's flatten path).
   */
  kill(reason: string, by: string): void {
    if (!this.persisted.kill) {
      this.persisted = { ...this.persisted, kill: { reason, by, ts: this.clock.now() } };
      this.opts.state.save(this.persisted);
      this.journal.append({ kind: 'kill', ts: this.clock.now(), event: 'kill', reason, by });
      this.log(`engine: KILL (${reason}) by ${by}`);
    }
    this.setTradingState('HALTED', `kill: ${reason}`);
    this.flattening = true;
    void this.cancelAllThenFlatten();
  }

  /**
   * The kill's cancel: everything of ours at the venue, except — where the venue has reduce-only —
   * the acknowledged protective stops of open positions. They keep guarding until the flatten has
   * closed the position (both are reduce-only: whichever fills second is cut to nothing), and are
   * cancelled once it is flat; a flatten the gate refuses (a stale book) then leaves no naked
   * position. On spot a stop holds the base the flatten sells: it goes, as flattenStep arranges.
   */
  private async cancelAllThenFlatten(): Promise<void> {
    const keepStops = this.opts.trading.capabilities.reduceOnly;
    for (const st of this.symbols.values()) {
      const symbol = st.instrument.symbol;
      const keep = new Set(
        keepStops && st.ledger.lots !== 0
          ? this.protectiveStops(symbol)
              .filter((v) => (v.state === 'OPEN' || v.state === 'PARTIALLY_FILLED') && !v.cancelling)
              .map((v) => v.clientOrderId)
          : [],
      );
      try {
        const r = await cancelAllBut(this.opts.trading, keep, symbol);
        this.journal.append({
          kind: 'kill',
          ts: this.clock.now(),
          event: 'cancel-all',
          symbol,
          cancelled: r.cancelled,
          keptProtectiveStops: r.kept,
        });
      } catch (err) {
        this.journal.append({
          kind: 'kill',
          ts: this.clock.now(),
          event: 'cancel-all-failed',
          error: (err as Error).message,
        });
      }
    }
    await this.flattenStep();
  }

  /** One flatten order per symbol with a position and nothing already working on it. */
  private async flattenStep(): Promise<void> {
    if (this._phase !== 'READY' && this._phase !== 'STOPPING') return;
    const now = this.clock.now();
    const reduceOnly = this.opts.trading.capabilities.reduceOnly;
    for (const st of this.symbols.values()) {
      const lots = st.ledger.lots;
      const symbol = st.instrument.symbol;
      if (lots === 0 || !st.book || now < st.flattenRetryTs) continue;
      const live = this.execution.liveOrders().filter((o) => o.intent.symbol === symbol);
      // A protective stop does not hold up a flatten where both are reduce-only (whichever fills
      // second is cut to nothing); on spot it holds the base the flatten sells, so it goes first.
      const stops = live.filter((o) => o.intent.purpose === 'protective-stop');
      if (live.length > stops.length) continue;
      if (stops.length > 0 && !reduceOnly) {
        for (const o of stops) void this.execution.cancel(o, 'kill: the flatten sells the base it holds');
        continue;
      }
      const intent: OrderIntent = {
        clientOrderId: this.nextClientOrderId(),
        venue: this.opts.venue,
        symbol: st.instrument.symbol,
        side: lots > 0 ? 'sell' : 'buy',
        type: 'limit',
        timeInForce: 'IOC',
        priceTicks: limitThrough(
          lots > 0 ? 'sell' : 'buy',
          bookView(this.opts.venue, st.book),
          EXIT_SLIPPAGE_BPS,
        ),
        qtyLots: Math.abs(lots),
        reduceOnly: true,
        purpose: 'flatten',
        createdTs: now,
      };
      const view = bookView(this.opts.venue, st.book);
      const decision = checkFlatten(
        intent,
        st.instrument,
        view,
        now,
        this.riskContext(now),
        this.opts.config.risk,
      );
      st.flattenBlocked = !decision.approved;
      if (!decision.approved) st.flattenRetryTs = now + STOP_RETRY_MS;
      this.send(st, intent, view, decision, now, 0);
      if (st.flattenBlocked) this.guardSymbol(symbol);
    }
    await Promise.resolve();
  }

  /** Crash simulation: from here on the engine does nothing, and what the journal had not made durable is lost. */
  crashed = false;
  private crash(): void {
    if (this.crashed) return;
    this.crashed = true;
    this.execution.crashed = true;
    this.journal.abandon();
    this.log('engine: CRASH (simulated)');
  }

  /** After a simulated crash: drop every connection without cancelling anything, as a dead process would. */
  async kill9(): Promise<void> {
    this.crash();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.execution.stop();
    await this.market?.stop();
    await this.opts.trading.stop();
    this._phase = 'STOPPED';
  }

  get flat(): boolean {
    return [...this.symbols.values()].every((s) => s.ledger.lots === 0);
  }

  /**
   * A stricter trading state set outside the engine (the reconciler's REDUCING/HALTED on drift) is
   * adopted; a laxer one never is — leaving HALTED is an explicit resume.
   */
  adoptExternalState(state: TradingState, why: string): void {
    const rank = { ACTIVE: 0, REDUCING: 1, HALTED: 2 } as const;
    if (rank[state] > rank[this._tradingState]) this.setTradingState(state, why);
  }

  /** Asks the venue about every order believed live (the control API's on-demand reconcile). */
  reconcileNow(): void {
    if (this._phase === 'READY') void this.execution.reconcileLive();
  }

  /** Explicit, audited resume: clears the kill flag and returns to ACTIVE. */
  resume(by: string, reason: string): void {
    this.journal.append({
      kind: 'control',
      ts: this.clock.now(),
      event: 'resume',
      by,
      reason,
      kill: this.persisted.kill,
    });
    this.persisted = { ...this.persisted, kill: null };
    this.opts.state.save(this.persisted);
    this.flattening = false;
    this.setTradingState('ACTIVE', `resume by ${by}: ${reason}`);
  }

  /** Stops trading: cancels everything open (fail closed); with `flatten`, kills and waits until flat. */
  async stop(opts: { flatten: boolean; timeoutMs?: number }): Promise<void> {
    if (this._phase === 'STOPPED') return;
    const wasReady = this._phase === 'READY';
    if (wasReady && opts.flatten) {
      this.kill('stop with --flatten-on-exit', 'ctrl-c');
      const deadline = this.clock.now() + (opts.timeoutMs ?? 10_000);
      while (!this.flat && this.clock.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.enter('STOPPING');
    if (wasReady) {
      for (const st of this.symbols.values()) {
        const symbol = st.instrument.symbol;
        try {
          const lots = st.ledger.lots;
          if (lots === 0 || !this.stopsEnabled) {
            await this.opts.trading.cancelAll(symbol);
            continue;
          }
          // The position stays open after we stop: its protective stop stays at the venue to guard
          // it, and everything else of ours is cancelled.
          for (const o of this.liveOpen())
            if (o.intent.symbol === symbol && o.intent.purpose !== 'protective-stop')
              await this.execution.cancel(o, 'engine stopping');
          const guard = this.protectiveStops(symbol).find(
            (v) =>
              (v.state === 'OPEN' || v.state === 'PARTIALLY_FILLED') &&
              !v.cancelling &&
              v.remainingLots >= Math.abs(lots),
          );
          this.journal.append({
            kind: 'engine',
            ts: this.clock.now(),
            event: guard ? 'protective-stop-left' : 'position-left-unguarded',
            symbol,
            positionLots: lots,
            stops: this.protectiveStops(symbol).map((p) => `${p.clientOrderId} ${p.state}`),
          });
          this.log(
            guard
              ? `engine: ${symbol} position left open, guarded by its protective stop at the venue`
              : `engine: WARNING ${symbol} position of ${lots} lots left open WITHOUT a confirmed stop at the venue`,
          );
        } catch (err) {
          this.log(`engine: cancel on stop failed: ${(err as Error).message}`);
        }
      }
    }
    this.execution?.stop();
    await this.market?.stop();
    await this.opts.trading.stop();
    this.enter('STOPPED');
    await this.journal.flush();
  }

  // ------------------------------------------------------------------ reporting

  snapshot() {
    const rows = [...this.symbols.values()].map((st) => {
      const l = st.ledger;
      return {
        symbol: st.instrument.symbol,
        book: st.book?.state ?? 'UNSYNCED',
        lastSignal: st.lastSignal
          ? `${st.lastSignal.kind} ${st.lastSignal.side} (${st.lastSignal.reason})`
          : null,
        positionLots: l.lots,
        position: stepsToMoney(Math.abs(l.lots), st.instrument.qty).times(Math.sign(l.lots)).toString(),
        avgEntry: l.avgEntryPrice?.toString() ?? null,
        realized: l.realized,
        fees: l.fees,
        roundTrips: l.roundTrips,
        wins: l.wins,
        protectiveStop: this.stopText(st),
      };
    });
    const trades = rows.reduce((n, r) => n + r.roundTrips, 0);
    const wins = rows.reduce((n, r) => n + r.wins, 0);
    const fees = rows.reduce((m, r) => m.plus(r.fees), new Money(0));
    const equity = this.equity();
    return {
      phase: this._phase,
      tradingState: this._tradingState,
      kill: this.persisted.kill,
      symbols: rows,
      trades,
      winRate: trades > 0 ? wins / trades : 0,
      pnl: equity.minus(this.opts.config.capital),
      fees,
      equity,
      maxDrawdown: this.maxDrawdown,
      signals: this.signals,
      orders: this.ordersSent,
      protectiveStops: {
        placed: this.stopsPlaced,
        triggered: this.stopsTriggered.size,
        refused: Object.fromEntries(this.stopRefusals),
      },
      openOrders: this.execution ? this.execution.liveOrders().length : 0,
      rejections: Object.fromEntries(this.rejections),
      latencyUs: this.latency.tickToDecision.summaryUs(),
      stagesUs: Object.fromEntries(Object.entries(this.latency.stages).map(([k, h]) => [k, h.summaryUs()])),
      signalToOrderUs: this.latency.signalToOrder.summaryUs(),
      journal: this.journal.path,
    };
  }

  /** The acknowledged protective stop of a symbol as text ("sell 0.023 @ 42570.1"), or null. */
  private stopText(st: SymbolState): string | null {
    if (!this.execution) return null;
    const i = st.instrument;
    const s = this.protectiveStops(i.symbol).filter(
      (v) => v.state === 'OPEN' || v.state === 'PARTIALLY_FILLED',
    );
    const last = s[s.length - 1];
    return last
      ? `${last.side} ${fromSteps(last.remainingLots, i.qty)} @ ${fromSteps(last.triggerTicks, i.price)}`
      : null;
  }

  liveOrders(): ManagedOrder[] {
    return this.execution?.liveOrders() ?? [];
  }
}

const HOUR = 3_600_000;

/** The housekeeping sweep (order TTLs, protective stops) runs this often. */
const SWEEP_MS = 250;
/** After the gate refuses a protective stop, the next attempt for that symbol waits this long. */
const STOP_RETRY_MS = 1_000;
/** The longest wait between protective-stop attempts after failures in a row. */
const STOP_RETRY_MAX_MS = 30_000;

/** Exits (stops, targets, flatten) may walk this far past the touch to get out: inside the gate's 50 bps band. */
const EXIT_SLIPPAGE_BPS = 20;

/** The limit price of a marketable IOC: the touch, moved `bps` further in the direction of the trade, on the tick grid. */
export function limitThrough(side: OrderSide, book: BookView, bps: number): number {
  const touch = side === 'buy' ? book.bestAskTicks : book.bestBidTicks;
  const move = Math.floor((touch * bps) / 10_000);
  return side === 'buy' ? touch + move : Math.max(1, touch - move);
}

/**
 * Funding instants of perpetuals: Binance USD-M every 8 h from 00:00 UTC, Kraken Futures hourly.
 * (The venue's mark-price stream carries the next funding time; this schedule is the fallback.)
 */
export function fundingTimes(
  venue: VenueId,
  i: Instrument,
  now: number,
): { lastFundingTs: number | null; nextFundingTs: number | null } {
  if (i.kind !== 'perpetual') return { lastFundingTs: null, nextFundingTs: null };
  const period = venue === 'binance-futures' ? 8 * HOUR : HOUR;
  const last = Math.floor(now / period) * period;
  return { lastFundingTs: last, nextFundingTs: last + period };
}

/** The book as a decision saw it (for the journal and the gate). */
export function bookView(venue: VenueId, book: L2Book): BookView {
  const bidVolume5Lots = book.bids.volume(5);
  const askVolume5Lots = book.asks.volume(5);
  return {
    venue,
    symbol: book.symbol,
    state: book.state,
    bestBidTicks: book.bestBid(),
    bestAskTicks: book.bestAsk(),
    bidVolume5Lots,
    askVolume5Lots,
    imbalance: askVolume5Lots > 0 ? bidVolume5Lots / askVolume5Lots : NaN,
    crossed: book.isCrossed(),
    venueTs: book.venueTs,
    localTs: book.localTs,
  };
}

export { isLive };
