/**
 * Binance.US spot trading (VENUES.md §2; signing, codes and outcomes as §1.5–1.10): the
 * VenueTrading port over the venue's REST API and listenKey user data stream.
 *
 * - Orders go over REST (`POST /api/v3/order`). Binance.US also documents a WebSocket API
 *   (`wss://ws-api.binance.us:443/ws-api/v3`, binance-us-api-docs web-socket-api.md, 2023-09-06);
 *   it is not used here (REST only, like the simulator). onWritten fires when the request bytes
 *   are handed to the socket.
 * - Order types: market → MARKET; limit GTC/IOC → LIMIT with timeInForce; POST_ONLY → LIMIT_MAKER
 *   (no timeInForce: the venue rejects one with -1106). Spot has no reduce-only: a reduce-only
 *   SELL is sent as a plain SELL (long-only, it cannot open a short: the venue rejects it -2010
 *   without free base); a reduce-only BUY is rejected locally (`REDUCE_ONLY_BUY`).
 * - Stops (research-stops.md §2): stop-market → STOP_LOSS, stop-limit → STOP_LOSS_LIMIT (price,
 *   timeInForce GTC), both with `stopPrice` = the trigger as exact decimal text from ticks. Only GTC
 *   stops with a trigger are sent (else rejected locally `BAD_ORDER`). A stop is one order on spot:
 *   the same orderId / clientOrderId before and after its trigger, so fills arrive under our client
 *   id. Every state of a STOP_LOSS* order (ack, cancel, query, openOrders, executionReport `o`) has
 *   `stop: true`; untriggered it is NEW. A resting SELL stop holds its base: spot has no
 *   reduce-only, so an exit must cancel the stop first (capabilities.reduceOnly false). Binance.US
 *   has no dead man's switch (dmsCancelsStops false).
 * - Outcomes: 503 "Unknown error…", -1007, 408, a timeout or no response → `unknown` (query by
 *   origClientOrderId, never resend blindly). 5xx otherwise → rejected `UNAVAILABLE`. -2010
 *   "Duplicate order sent." (spot's answer to a client id already OPEN) → the order exists: answered
 *   from a query. Other -2010 (insufficient balance, LIMIT_MAKER would take) → rejected `-2010`.
 *   -1021 → the server-time offset is re-synced and the order is rejected `-1021`.
 * - User data stream: listenKey from `POST /api/v3/userDataStream`, kept alive (PUT ?listenKey=)
 *   every 30 min, recreated on -1125 or `listenKeyExpired`; `executionReport` → fill (x=TRADE,
 *   tradeId = String(t), fee = `n` as exact text, feeAsset = `N`) then order state. On a cancel the
 *   report's `c` names the cancel request and `C` the original order: the original is used.
 *   `outboundAccountPosition` is not mapped (positions() reads balances). After a stream gap the
 *   fills are recovered from `GET /api/v3/myTrades` (deduplicated by trade id).
 * - positions(): spot position = balance. For every traded symbol (the configured instruments, or
 *   every symbol this client has placed or seen an order on), the base asset's free + locked
 *   balance, floored to whole lots (dust below one lot is not reported). Two symbols with the same
 *   base asset report the same balance. entryPrice is "0" (spot has none).
 *
 * Fee sign (Fill.fee): positive = a fee we paid (Binance's commission `n` is a positive charge).
 *
 * Secrets: the API secret lives only in the signing closure; never a property, never logged, never
 * in an error, event or diagnostic.
 */
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError, OperationalError, TradewindError } from '#core/errors.ts';
import { fromSteps, toSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';
import { isStopType } from '#core/trading.ts';
import type { BackoffOptions } from '../backoff.ts';
import { HttpDataError } from '../http.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import type {
  CancelResult,
  PlaceResult,
  UserEvent,
  VenueOrderState,
  VenuePosition,
  VenueTrading,
  TradingCapabilities,
} from '../trading.ts';
import type { ConnectionEvent } from '../ws-connection.ts';
import { binanceInstruments } from './instruments.ts';
import type { TradingDiagnostic, Verdict, WsLiveness } from './binance-rest.ts';
import { BinanceRest, mapStatus, num, placeVerdictResult, safeMessage, str } from './binance-rest.ts';
import { executionEvents, FillRecovery } from './fill-recovery.ts';
import { BinanceUserStream, OpenWaiters } from './user-stream.ts';

export interface BinanceUsTradingEndpoints {
  /** REST base, e.g. https://api.binance.us (simulator: http://127.0.0.1:port/binance-us). */
  readonly rest: string;
  /** Stream base; the user stream is `${ws}/ws/<listenKey>`. */
  readonly ws: string;
}

export const BINANCE_US_TRADING_ENDPOINTS: BinanceUsTradingEndpoints = {
  rest: 'https://api.binance.us',
  ws: 'wss://stream.binance.us:9443',
};

export interface BinanceUsTradingOptions {
  readonly endpoints: BinanceUsTradingEndpoints;
  readonly apiKey: string;
  /** Never logged, never in errors: only the signing closure keeps it. */
  readonly apiSecret: string;
  readonly clock?: Clock;
  /** @default 5000 */
  readonly recvWindow?: number;
  /** Instruments to trade; fetched from `/api/v3/exchangeInfo` at start when absent. */
  readonly instruments?: Iterable<Instrument>;
  /** An order/cancel without an answer after this is `unknown`. @default 5000 */
  readonly orderTimeoutMs?: number;
  /** @default 10000 */
  readonly requestTimeoutMs?: number;
  /** listenKey keepalive period. @default 30 min */
  readonly listenKeyKeepAliveMs?: number;
  readonly userStream?: WsLiveness;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /** @default 15000 */
  readonly startTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly limiter?: RateLimiter;
  readonly onConnectionEvent?: (e: ConnectionEvent) => void;
  readonly onDiagnostic?: (d: TradingDiagnostic) => void;
}

interface SpotOrder {
  readonly symbol: string;
  readonly orderId: number;
  readonly clientOrderId: string;
  /** Present on cancel answers: the cancelled order's id (`clientOrderId` names the cancel). */
  readonly origClientOrderId?: string;
  readonly status: string;
  readonly executedQty: string;
  /** MARKET, LIMIT, LIMIT_MAKER, STOP_LOSS, STOP_LOSS_LIMIT, … */
  readonly type?: string;
  readonly updateTime?: number;
  readonly transactTime?: number;
  readonly time?: number;
}

const DUPLICATE = /^Duplicate order/i;
const ORDER_PATH = '/api/v3/order';
/** Binance spot's stop types (TAKE_PROFIT* are never sent by this client). */
const STOP_TYPES = new Set(['STOP_LOSS', 'STOP_LOSS_LIMIT']);

export class BinanceUsTrading implements VenueTrading {
  readonly capabilities: TradingCapabilities = {
    stopTypes: ['stop-market', 'stop-limit'],
    reduceOnly: false,
    dmsCancelsStops: false,
  };
  readonly venue = 'binance-us' as const;
  private readonly opts: Omit<BinanceUsTradingOptions, 'apiSecret'>;
  private readonly clock: Clock;
  /** Signed REST, server time, listenKey requests; the only holder of the secret (in a closure). */
  private readonly http: BinanceRest;
  private readonly orderTimeoutMs: number;
  private instruments: InstrumentSet = new InstrumentSet([]);
  private readonly configured: boolean;
  private readonly extraInstruments = new Map<string, Instrument>();
  private onEvent: (e: UserEvent) => void = () => {};
  /** listenKey, keepalive and the user data stream connection. */
  private readonly stream: BinanceUserStream;
  private readonly waiters = new OpenWaiters();
  private started = false;
  private stopped = false;
  /** Fill dedupe, orderId → clientOrderId, active symbols, gap recovery from myTrades. */
  private readonly fills: FillRecovery;
  private readonly counters = { badMessages: 0, recoveredFills: 0 };

  constructor(opts: BinanceUsTradingOptions) {
    if (typeof opts.apiKey !== 'string' || opts.apiKey === '') {
      throw new DataError('BAD_OPTION', 'Binance.US API key is empty');
    }
    if (typeof opts.apiSecret !== 'string' || opts.apiSecret === '') {
      throw new DataError('BAD_OPTION', 'Binance.US API secret is empty');
    }
    const { apiSecret: secret, ...rest } = opts;
    this.opts = rest;
    this.clock = opts.clock ?? systemClock;
    this.http = new BinanceRest(
      {
        rest: opts.endpoints.rest,
        apiKey: opts.apiKey,
        recvWindow: opts.recvWindow ?? 5000,
        clock: this.clock,
        limiter: opts.limiter,
        requestTimeoutMs: opts.requestTimeoutMs,
        timePath: '/api/v3/time',
        orderPath: ORDER_PATH,
        listenKeyPath: '/api/v3/userDataStream',
        listenKeyInQuery: true,
        isDuplicate: (code, message) => code === -2010 && DUPLICATE.test(message),
        diag: (d) => this.diag(d),
      },
      secret,
    );
    this.fills = new FillRecovery({
      venue: 'binance-us',
      http: this.http,
      clock: this.clock,
      tradesPath: '/api/v3/myTrades',
      tradesWeight: 20,
      orderPath: ORDER_PATH,
      orderWeight: 4,
      side: (t) => (t.isBuyer === true ? 'buy' : 'sell'),
      maker: (t) => t.isMaker === true,
      findInstrument: (symbol) => this.findInstrument(symbol),
      queryOrder: (symbol, clientOrderId) => this.queryOrder(symbol, clientOrderId),
      emit: (e) => this.emit(e),
      onRecovered: (n) => {
        this.counters.recoveredFills += n;
      },
      diag: (d) => this.diag(d),
    });
    this.stream = new BinanceUserStream({
      name: 'binance-us user-stream',
      ws: opts.endpoints.ws,
      http: this.http,
      listenKeyPath: '/api/v3/userDataStream',
      clock: this.clock,
      liveness: opts.userStream,
      connectTimeoutMs: opts.connectTimeoutMs,
      backoff: opts.backoff,
      keepAliveMs: opts.listenKeyKeepAliveMs,
      waiters: this.waiters,
      stopped: () => this.stopped,
      onMessage: (text) => this.onUserMessage(text),
      onConnectionEvent: opts.onConnectionEvent,
      emit: (e) => this.emit(e),
      onGap: (fromMs) => this.fills.recoverGap(fromMs),
      diag: (d) => this.diag(d),
    });
    this.orderTimeoutMs = opts.orderTimeoutMs ?? 5000;
    this.configured = opts.instruments !== undefined;
    if (opts.instruments) this.instruments = new InstrumentSet(opts.instruments);
  }

  get stats(): { badMessages: number; recoveredFills: number } {
    return { ...this.counters };
  }

  get userStreamUp(): boolean {
    return this.stream.up;
  }

  get instrumentSet(): InstrumentSet {
    return this.instruments;
  }

  // ------------------------------------------------------------------------------ lifecycle

  async start(onEvent: (e: UserEvent) => void): Promise<void> {
    if (this.started) throw new OperationalError('ALREADY_STARTED', 'binance-us trading: started twice');
    this.started = true;
    this.onEvent = onEvent;
    await this.http.syncTime();
    if (this.instruments.size === 0) {
      const res = await this.http.request<unknown>('GET', '/api/v3/exchangeInfo', { weight: 10 });
      this.instruments = binanceInstruments(res.body, 'binance-us');
    }
    await this.stream.create();
    const deadline = this.opts.startTimeoutMs ?? 15_000;
    const opened = this.stream.waitOpen(deadline);
    this.stream.startConnection();
    if (!(await opened)) {
      await this.stop();
      throw new OperationalError(
        'USER_STREAM_DOWN',
        `binance-us trading: the user data stream did not open within ${deadline} ms`,
      );
    }
    this.stream.startKeepAlive();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stream.stopKeepAlive();
    this.waiters.releaseAll();
    await this.stream.connection?.stop();
    await this.stream.deleteKey();
  }

  // ------------------------------------------------------------------------------ orders

  async place(intent: OrderIntent, instrument: Instrument, onWritten?: () => void): Promise<PlaceResult> {
    let params: Array<readonly [string, string]>;
    try {
      params = this.orderParams(intent, instrument);
    } catch (err) {
      const e = err as TradewindError;
      return { kind: 'rejected', code: e.code ?? 'BAD_ORDER', message: e.message };
    }
    this.fills.activeSymbols.add(instrument.symbol);
    if (!this.instruments.get(instrument.symbol)) this.extraInstruments.set(instrument.symbol, instrument);
    try {
      const res = await this.http.request<SpotOrder>('POST', ORDER_PATH, {
        signed: params,
        weight: 1,
        timeoutMs: this.orderTimeoutMs,
        onSent: onWritten,
      });
      return this.ackOf(res.body, instrument);
    } catch (err) {
      return this.resolveVerdict(this.http.classifyError(err), intent, instrument);
    }
  }

  async cancel(symbol: string, clientOrderId: string): Promise<CancelResult> {
    let verdict: Verdict;
    try {
      const res = await this.http.request<SpotOrder>('DELETE', ORDER_PATH, {
        signed: [
          ['symbol', symbol],
          ['origClientOrderId', clientOrderId],
        ],
        weight: 1,
        timeoutMs: this.orderTimeoutMs,
      });
      try {
        return { kind: 'ok', state: this.orderState(res.body) };
      } catch (err) {
        return { kind: 'unknown', reason: `unreadable cancel answer: ${safeMessage(err)}` };
      }
    } catch (err) {
      verdict = this.http.classifyError(err);
    }
    if (verdict.kind === 'timestamp') {
      await this.http.resyncAfter1021();
      return { kind: 'rejected', code: '-1021', message: verdict.message };
    }
    if (verdict.kind === 'duplicate') return { kind: 'rejected', code: '-2010', message: verdict.message };
    return verdict;
  }

  async cancelAll(symbol?: string): Promise<number> {
    const symbols = symbol ? [symbol] : [...new Set((await this.openOrders()).map((o) => o.symbol))];
    let n = 0;
    for (const s of symbols) {
      try {
        const res = await this.http.request<unknown[]>('DELETE', '/api/v3/openOrders', {
          signed: [['symbol', s]],
          weight: 1,
        });
        if (Array.isArray(res.body)) n += res.body.length;
      } catch (err) {
        // Nothing open: spot answers -2011 "Unknown order sent." [MEM].
        if (err instanceof HttpDataError && err.venueCode === -2011) continue;
        throw err;
      }
    }
    return n;
  }

  async queryOrder(symbol: string, clientOrderId: string): Promise<VenueOrderState | null> {
    try {
      const res = await this.http.request<SpotOrder>('GET', ORDER_PATH, {
        signed: [
          ['symbol', symbol],
          ['origClientOrderId', clientOrderId],
        ],
        weight: 4,
      });
      return this.orderState(res.body);
    } catch (err) {
      if (err instanceof HttpDataError && err.venueCode === -2013) return null;
      throw err;
    }
  }

  async openOrders(symbol?: string): Promise<VenueOrderState[]> {
    const res = await this.http.request<SpotOrder[]>('GET', '/api/v3/openOrders', {
      signed: symbol ? [['symbol', symbol]] : [],
      weight: symbol ? 6 : 80,
    });
    if (!Array.isArray(res.body)) throw new DataError('BAD_RESPONSE', 'openOrders: not an array');
    return res.body.map((o) => this.orderState(o));
  }

  async positions(): Promise<VenuePosition[]> {
    const res = await this.http.request<{ balances?: Array<Record<string, unknown>> }>(
      'GET',
      '/api/v3/account',
      {
        signed: [],
        weight: 20,
      },
    );
    const balances = res.body?.balances;
    if (!Array.isArray(balances)) throw new DataError('BAD_RESPONSE', 'account: no balances array');
    const held = new Map<string, Money>();
    for (const b of balances) {
      const asset = str(b.asset);
      held.set(asset, new Money(str(b.free) || '0').plus(new Money(str(b.locked) || '0')));
    }
    const symbols = this.configured
      ? [...this.instruments].map((i) => i.symbol)
      : [...this.fills.activeSymbols];
    const out: VenuePosition[] = [];
    for (const symbol of [...new Set(symbols)].sort()) {
      const inst = this.findInstrument(symbol);
      if (!inst) continue;
      const total = held.get(inst.base) ?? new Money(0);
      const lots = total.div(new Money(inst.qty.step)).floor().toNumber();
      if (lots === 0) continue;
      out.push({ symbol: inst.symbol, qtyLots: lots, entryPrice: '0' });
    }
    return out;
  }

  // ------------------------------------------------------------------------------ order plumbing

  private orderParams(intent: OrderIntent, inst: Instrument): Array<readonly [string, string]> {
    if (intent.venue !== 'binance-us' || inst.venue !== 'binance-us') {
      throw new DataError('WRONG_VENUE', `order for ${intent.venue} sent to binance-us`);
    }
    if (intent.reduceOnly && intent.side === 'buy') {
      throw new DataError('REDUCE_ONLY_BUY', 'spot has no short to reduce: a reduce-only buy is refused');
    }
    const stop = isStopType(intent.type);
    const limit = intent.type === 'limit' || intent.type === 'stop-limit';
    const postOnly = intent.timeInForce === 'POST_ONLY';
    if (intent.type !== 'limit' && postOnly)
      throw new DataError('BAD_ORDER', `a ${intent.type} order cannot be post-only`);
    if (stop && intent.timeInForce !== 'GTC') {
      throw new DataError(
        'BAD_ORDER',
        `a stop order rests until triggered: GTC only, not ${intent.timeInForce}`,
      );
    }
    if (stop && (intent.triggerTicks === undefined || !Number.isInteger(intent.triggerTicks))) {
      throw new DataError('BAD_ORDER', 'stop order without a whole-tick trigger');
    }
    const type = stop
      ? intent.type === 'stop-market'
        ? 'STOP_LOSS'
        : 'STOP_LOSS_LIMIT'
      : !limit
        ? 'MARKET'
        : postOnly
          ? 'LIMIT_MAKER'
          : 'LIMIT';
    const params: Array<readonly [string, string]> = [
      ['symbol', inst.symbol],
      ['side', intent.side === 'buy' ? 'BUY' : 'SELL'],
      ['type', type],
      ['quantity', fromSteps(intent.qtyLots, inst.qty)],
      ['newClientOrderId', intent.clientOrderId],
      ['newOrderRespType', 'RESULT'],
    ];
    if (limit) {
      if (intent.priceTicks === undefined)
        throw new DataError('BAD_ORDER', `${intent.type} order without a price`);
      params.push(['price', fromSteps(intent.priceTicks, inst.price)]);
      if (!postOnly) params.push(['timeInForce', intent.timeInForce]);
    }
    if (stop) params.push(['stopPrice', fromSteps(intent.triggerTicks as number, inst.price)]);
    return params;
  }

  private resolveVerdict(v: Verdict, intent: OrderIntent, inst: Instrument): Promise<PlaceResult> {
    return placeVerdictResult(v, this.http, '-2010', () =>
      this.queryOrder(inst.symbol, intent.clientOrderId),
    );
  }

  private ackOf(raw: unknown, inst: Instrument): PlaceResult {
    try {
      return { kind: 'ack', state: this.orderState(raw, inst) };
    } catch (err) {
      return { kind: 'unknown', reason: `unreadable ack: ${safeMessage(err)}` };
    }
  }

  private orderState(raw: unknown, hint?: Instrument): VenueOrderState {
    const o = raw as SpotOrder;
    if (!o || typeof o !== 'object' || typeof o.symbol !== 'string') {
      throw new DataError('BAD_RESPONSE', 'order response without a symbol');
    }
    const inst = hint && hint.symbol === o.symbol ? hint : this.instrumentOf(o.symbol);
    const clientOrderId = o.origClientOrderId ?? o.clientOrderId;
    const venueOrderId = String(o.orderId);
    this.fills.rememberOrder(venueOrderId, clientOrderId);
    return {
      symbol: inst.symbol,
      clientOrderId,
      venueOrderId,
      status: mapStatus(o.status, 'Binance.US'),
      filledLots: toSteps(o.executedQty, inst.qty),
      ts: o.updateTime ?? o.transactTime ?? o.time ?? this.clock.now(),
      ...(STOP_TYPES.has(str(o.type)) ? { stop: true } : {}),
    };
  }

  private findInstrument(symbol: string): Instrument | undefined {
    return this.instruments.get(symbol) ?? this.extraInstruments.get(symbol);
  }

  private instrumentOf(symbol: string): Instrument {
    const inst = this.findInstrument(symbol);
    if (!inst) throw new DataError('UNKNOWN_INSTRUMENT', `binance-us: no instrument ${symbol}`);
    return inst;
  }

  // ------------------------------------------------------------------------------ user stream

  private onUserMessage(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.badMessage('not JSON');
      return;
    }
    const e = msg?.e;
    if (e === 'executionReport') {
      try {
        this.onExecutionReport(msg);
      } catch (err) {
        this.badMessage(`executionReport: ${safeMessage(err)}`);
      }
    } else if (e === 'listenKeyExpired') {
      void this.stream.replaceListenKey('listenKeyExpired event');
    }
    // outboundAccountPosition, balanceUpdate: balances are read with positions().
  }

  private onExecutionReport(m: Record<string, unknown>): void {
    const symbol = str(m.s);
    const inst = this.findInstrument(symbol);
    if (!inst) {
      this.diag({ type: 'skipped', detail: `executionReport for unknown symbol ${symbol}` });
      return;
    }
    // On a cancel `c` names the cancel request and `C` the order it cancelled.
    const orig = str(m.C);
    const clientOrderId = m.x === 'CANCELED' && orig !== '' ? orig : str(m.c);
    const { fill, state } = executionEvents(
      m,
      'binance-us',
      inst,
      clientOrderId,
      num(m.T) ?? num(m.E) ?? this.clock.now(),
    );
    this.fills.rememberOrder(state.venueOrderId, clientOrderId);
    this.fills.activeSymbols.add(inst.symbol);
    if (fill) this.fills.emitFill(fill);
    this.emit({ type: 'order', state: STOP_TYPES.has(str(m.o)) ? { ...state, stop: true } : state });
  }

  /** Our fills of `symbol` from `sinceTs` on, from `GET /api/v3/myTrades` (not emitted). */
  async fillsSince(symbol: string, sinceTs: number): Promise<Fill[]> {
    const inst = this.findInstrument(symbol);
    if (!inst) return [];
    return this.fills.fillsSince(inst, sinceTs);
  }

  /** Resolves when no gap recovery or key replacement is running. */
  async idle(): Promise<void> {
    while (this.fills.recovering || this.stream.replacingKey) {
      await (this.fills.recovering ?? this.stream.replacingKey);
    }
  }

  // ------------------------------------------------------------------------------ helpers

  private emit(e: UserEvent): void {
    if (this.stopped && e.type !== 'stream-down') return;
    this.onEvent(e);
  }

  private badMessage(error: string): void {
    this.counters.badMessages++;
    this.diag({ type: 'bad-message', source: 'user-stream', error });
  }

  private diag(d: TradingDiagnostic): void {
    try {
      this.opts.onDiagnostic?.(d);
    } catch {
      // Logging must not break trading.
    }
  }
}
