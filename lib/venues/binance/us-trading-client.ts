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
import type { BackoffOptions } from '../backoff.ts';
import type { HttpMethod, JsonResponse } from '../http.ts';
import { HttpDataError, HttpOperationalError, requestJson } from '../http.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import type {
  CancelResult,
  PlaceResult,
  UserEvent,
  VenueOrderState,
  VenueOrderStatus,
  VenuePosition,
  VenueTrading,
} from '../trading.ts';
import type { ConnectionEvent } from '../ws-connection.ts';
import { WsConnection } from '../ws-connection.ts';
import { binanceInstruments } from './instruments.ts';
import { buildSignedQuery, ServerTimeOffset } from './signing.ts';
import type { TradingDiagnostic, WsLiveness } from './trading-client.ts';

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
  readonly updateTime?: number;
  readonly transactTime?: number;
  readonly time?: number;
}

type Verdict =
  | { readonly kind: 'unknown'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string }
  | { readonly kind: 'duplicate'; readonly message: string }
  | { readonly kind: 'timestamp'; readonly message: string };

const MINUTE = 60_000;
const UNKNOWN_ERROR = /^Unknown error/i;
const DUPLICATE = /^Duplicate order/i;
const SEEN_TRADES_MAX = 20_000;
const ORDER_PATH = '/api/v3/order';

export class BinanceUsTrading implements VenueTrading {
  readonly venue = 'binance-us' as const;
  private readonly opts: Omit<BinanceUsTradingOptions, 'apiSecret'>;
  private readonly clock: Clock;
  private readonly apiKey: string;
  private readonly signQuery: (params: ReadonlyArray<readonly [string, string]>, ts: number) => string;
  private readonly orderTimeoutMs: number;
  private readonly time: ServerTimeOffset;
  private instruments: InstrumentSet = new InstrumentSet([]);
  private readonly configured: boolean;
  private readonly extraInstruments = new Map<string, Instrument>();
  private onEvent: (e: UserEvent) => void = () => {};
  private user: WsConnection | null = null;
  private listenKey = '';
  private keepAliveTimer: ReturnType<typeof setTimeout> | null = null;
  private started = false;
  private stopped = false;
  private userDownAt = 0;
  private userWasUp = false;
  private recovering: Promise<void> | null = null;
  private replacingKey: Promise<void> | null = null;
  private openWaiters: Array<{ conn: WsConnection; resolve: () => void }> = [];
  private readonly clientIdOf = new Map<string, string>();
  private readonly seenTrades = new Map<string, Set<string>>();
  private readonly activeSymbols = new Set<string>();
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
    this.apiKey = opts.apiKey;
    const recvWindow = opts.recvWindow ?? 5000;
    this.signQuery = (params, ts) => buildSignedQuery(params, secret, { timestamp: ts, recvWindow });
    this.orderTimeoutMs = opts.orderTimeoutMs ?? 5000;
    this.time = new ServerTimeOffset({ clock: this.clock });
    this.configured = opts.instruments !== undefined;
    if (opts.instruments) this.instruments = new InstrumentSet(opts.instruments);
  }

  get stats(): { badMessages: number; recoveredFills: number } {
    return { ...this.counters };
  }

  get userStreamUp(): boolean {
    return this.user?.state === 'open';
  }

  get instrumentSet(): InstrumentSet {
    return this.instruments;
  }

  // ------------------------------------------------------------------------------ lifecycle

  async start(onEvent: (e: UserEvent) => void): Promise<void> {
    if (this.started) throw new OperationalError('ALREADY_STARTED', 'binance-us trading: started twice');
    this.started = true;
    this.onEvent = onEvent;
    await this.syncTime();
    if (this.instruments.size === 0) {
      const res = await this.rest<unknown>('GET', '/api/v3/exchangeInfo', { weight: 10 });
      this.instruments = binanceInstruments(res.body, 'binance-us');
    }
    this.listenKey = await this.createListenKey();
    this.diag({ type: 'listen-key', action: 'created', detail: 'listenKey created' });
    const deadline = this.opts.startTimeoutMs ?? 15_000;
    this.user = this.makeUserConnection();
    const opened = this.waitOpen(this.user, deadline);
    this.user.start();
    if (!(await opened)) {
      await this.stop();
      throw new OperationalError(
        'USER_STREAM_DOWN',
        `binance-us trading: the user data stream did not open within ${deadline} ms`,
      );
    }
    this.scheduleKeepAlive(this.opts.listenKeyKeepAliveMs ?? 30 * MINUTE);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.keepAliveTimer) clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = null;
    for (const w of this.openWaiters) w.resolve();
    this.openWaiters = [];
    await this.user?.stop();
    if (this.listenKey) {
      try {
        await this.keyRequest('DELETE');
      } catch {
        // Best effort: the key expires on its own within 60 minutes.
      }
    }
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
    this.activeSymbols.add(instrument.symbol);
    if (!this.instruments.get(instrument.symbol)) this.extraInstruments.set(instrument.symbol, instrument);
    try {
      const res = await this.rest<SpotOrder>('POST', ORDER_PATH, {
        signed: params,
        weight: 1,
        timeoutMs: this.orderTimeoutMs,
        onSent: onWritten,
      });
      return this.ackOf(res.body, instrument);
    } catch (err) {
      return this.resolveVerdict(this.classifyError(err), intent, instrument);
    }
  }

  async cancel(symbol: string, clientOrderId: string): Promise<CancelResult> {
    let verdict: Verdict;
    try {
      const res = await this.rest<SpotOrder>('DELETE', ORDER_PATH, {
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
      verdict = this.classifyError(err);
    }
    if (verdict.kind === 'timestamp') {
      await this.resyncAfter1021();
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
        const res = await this.rest<unknown[]>('DELETE', '/api/v3/openOrders', {
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
      const res = await this.rest<SpotOrder>('GET', ORDER_PATH, {
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
    const res = await this.rest<SpotOrder[]>('GET', '/api/v3/openOrders', {
      signed: symbol ? [['symbol', symbol]] : [],
      weight: symbol ? 6 : 80,
    });
    if (!Array.isArray(res.body)) throw new DataError('BAD_RESPONSE', 'openOrders: not an array');
    return res.body.map((o) => this.orderState(o));
  }

  async positions(): Promise<VenuePosition[]> {
    const res = await this.rest<{ balances?: Array<Record<string, unknown>> }>('GET', '/api/v3/account', {
      signed: [],
      weight: 20,
    });
    const balances = res.body?.balances;
    if (!Array.isArray(balances)) throw new DataError('BAD_RESPONSE', 'account: no balances array');
    const held = new Map<string, Money>();
    for (const b of balances) {
      const asset = str(b.asset);
      held.set(asset, new Money(str(b.free) || '0').plus(new Money(str(b.locked) || '0')));
    }
    const symbols = this.configured ? [...this.instruments].map((i) => i.symbol) : [...this.activeSymbols];
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
    const limit = intent.type === 'limit';
    const postOnly = intent.timeInForce === 'POST_ONLY';
    if (!limit && postOnly) throw new DataError('BAD_ORDER', 'a market order cannot be post-only');
    const params: Array<readonly [string, string]> = [
      ['symbol', inst.symbol],
      ['side', intent.side === 'buy' ? 'BUY' : 'SELL'],
      ['type', !limit ? 'MARKET' : postOnly ? 'LIMIT_MAKER' : 'LIMIT'],
      ['quantity', fromSteps(intent.qtyLots, inst.qty)],
      ['newClientOrderId', intent.clientOrderId],
      ['newOrderRespType', 'RESULT'],
    ];
    if (limit) {
      if (intent.priceTicks === undefined) throw new DataError('BAD_ORDER', 'limit order without a price');
      params.push(['price', fromSteps(intent.priceTicks, inst.price)]);
      if (!postOnly) params.push(['timeInForce', intent.timeInForce]);
    }
    return params;
  }

  private async resolveVerdict(v: Verdict, intent: OrderIntent, inst: Instrument): Promise<PlaceResult> {
    switch (v.kind) {
      case 'unknown':
      case 'rejected':
        return v;
      case 'timestamp':
        await this.resyncAfter1021();
        return { kind: 'rejected', code: '-1021', message: v.message };
      case 'duplicate': {
        try {
          const state = await this.queryOrder(inst.symbol, intent.clientOrderId);
          if (state) return { kind: 'ack', state };
        } catch {
          // fall through: the caller reconciles
        }
        return { kind: 'unknown', reason: `-2010 ${v.message}; the order could not be read back` };
      }
    }
  }

  private classify(status: number, code: number | string | undefined, msg: string | undefined): Verdict {
    const message = msg ?? `HTTP ${status}`;
    const c = typeof code === 'string' ? Number(code) : code;
    if (c === -1007 || status === 408) return { kind: 'unknown', reason: `${c ?? status} ${message}` };
    if (c === -1021) return { kind: 'timestamp', message };
    if (c === -2010 && DUPLICATE.test(message)) return { kind: 'duplicate', message };
    if (status >= 500) {
      if (UNKNOWN_ERROR.test(message)) return { kind: 'unknown', reason: `HTTP ${status} ${message}` };
      return { kind: 'rejected', code: 'UNAVAILABLE', message: `HTTP ${status} ${message}` };
    }
    if (status === 429) return { kind: 'rejected', code: 'RATE_LIMITED', message };
    if (status === 418) return { kind: 'rejected', code: 'IP_BANNED', message };
    return {
      kind: 'rejected',
      code: c !== undefined && Number.isFinite(c) ? String(c) : `HTTP_${status}`,
      message,
    };
  }

  private classifyError(err: unknown): Verdict {
    if (err instanceof HttpDataError) {
      if (err.code === 'BAD_JSON') return { kind: 'unknown', reason: 'unreadable response' };
      return this.classify(err.status, err.venueCode, err.venueMessage);
    }
    if (err instanceof HttpOperationalError) {
      if (err.status === 0) return { kind: 'unknown', reason: `${err.code}: no response` };
      return this.classify(err.status, err.venueCode, err.venueMessage ?? err.code);
    }
    if (err instanceof TradewindError) return { kind: 'rejected', code: err.code, message: err.message };
    return { kind: 'unknown', reason: 'unexpected error' };
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
    this.rememberOrder(venueOrderId, clientOrderId);
    return {
      symbol: inst.symbol,
      clientOrderId,
      venueOrderId,
      status: mapStatus(o.status),
      filledLots: toSteps(o.executedQty, inst.qty),
      ts: o.updateTime ?? o.transactTime ?? o.time ?? this.clock.now(),
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

  private rememberOrder(orderId: string, clientOrderId: string): void {
    if (this.clientIdOf.has(orderId)) return;
    this.clientIdOf.set(orderId, clientOrderId);
    if (this.clientIdOf.size > SEEN_TRADES_MAX)
      this.clientIdOf.delete(this.clientIdOf.keys().next().value as string);
  }

  // ------------------------------------------------------------------------------ REST

  private async rest<T>(
    method: HttpMethod,
    path: string,
    o: {
      signed?: ReadonlyArray<readonly [string, string]>;
      weight?: number;
      timeoutMs?: number;
      onSent?: (() => void) | undefined;
      retried1021?: boolean;
    },
  ): Promise<JsonResponse<T>> {
    let url = `${this.opts.endpoints.rest}${path}`;
    let body: string | undefined;
    const headers: Record<string, string> = { 'X-MBX-APIKEY': this.apiKey };
    if (o.signed) {
      const q = this.signQuery(o.signed, this.time.timestamp());
      if (method === 'POST' || method === 'PUT') {
        body = q;
        headers['content-type'] = 'application/x-www-form-urlencoded';
      } else {
        url += `?${q}`;
      }
    }
    try {
      return await requestJson<T>(method, url, {
        headers,
        body,
        clock: this.clock,
        limiter: this.opts.limiter,
        weight: o.weight ?? 1,
        timeoutMs: o.timeoutMs ?? this.opts.requestTimeoutMs,
        onSent: o.onSent,
      });
    } catch (err) {
      // Reads and cancels are repeated once after re-syncing the clock; orders never are here.
      if (
        err instanceof HttpDataError &&
        err.venueCode === -1021 &&
        o.signed &&
        !o.retried1021 &&
        !(method === 'POST' && path === ORDER_PATH)
      ) {
        await this.resyncAfter1021();
        return this.rest<T>(method, path, { ...o, retried1021: true });
      }
      throw err;
    }
  }

  /** USER_STREAM endpoints: API-key header only; PUT and DELETE name the key. */
  private async keyRequest(method: HttpMethod): Promise<string> {
    const q = method === 'POST' ? '' : `?listenKey=${encodeURIComponent(this.listenKey)}`;
    const res = await requestJson<{ listenKey?: string }>(
      method,
      `${this.opts.endpoints.rest}/api/v3/userDataStream${q}`,
      {
        headers: { 'X-MBX-APIKEY': this.apiKey },
        clock: this.clock,
        limiter: this.opts.limiter,
        weight: 1,
        timeoutMs: this.opts.requestTimeoutMs,
      },
    );
    return typeof res.body?.listenKey === 'string' ? res.body.listenKey : '';
  }

  private async syncTime(): Promise<void> {
    const fetchTime = async () => {
      const res = await requestJson<{ serverTime?: number }>(
        'GET',
        `${this.opts.endpoints.rest}/api/v3/time`,
        {
          clock: this.clock,
          limiter: this.opts.limiter,
          weight: 1,
          timeoutMs: this.opts.requestTimeoutMs,
        },
      );
      const t = res.body?.serverTime;
      if (typeof t !== 'number') throw new DataError('BAD_RESPONSE', '/api/v3/time without serverTime');
      return t;
    };
    let ok = 0;
    for (let i = 0; i < 3; i++) if (await this.time.sync(fetchTime)) ok++;
    this.diag({
      type: 'time-sync',
      ok: ok > 0,
      detail: `${ok}/3 samples, offset ${this.time.offsetMs()} ms`,
    });
  }

  private async resyncAfter1021(): Promise<void> {
    this.time.reset();
    try {
      await this.syncTime();
    } catch (err) {
      this.diag({ type: 'time-sync', ok: false, detail: safeMessage(err) });
    }
  }

  // ------------------------------------------------------------------------------ user stream

  private makeUserConnection(): WsConnection {
    const l = this.opts.userStream ?? {};
    const conn: WsConnection = new WsConnection({
      name: 'binance-us user-stream',
      url: () => `${this.opts.endpoints.ws}/ws/${this.listenKey}`,
      onOpen: () => {},
      onMessage: (text) => this.onUserMessage(text),
      onDown: (reason) => {
        if (conn !== this.user) return;
        this.userDownAt = this.clock.now();
        this.emit({ type: 'stream-down', reason });
      },
      onEvent: (e) => this.onConnEvent(conn, e),
      silentLimitMs: l.silentLimitMs ?? 30_000,
      pingIntervalMs: l.pingIntervalMs ?? 10_000,
      maxAgeMs: l.maxAgeMs ?? 23 * 60 * MINUTE,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      backoff: this.opts.backoff ?? { baseMs: 250, capMs: 10_000, resetAfterMs: 10_000 },
      clock: this.clock,
    });
    return conn;
  }

  private onConnEvent(conn: WsConnection, e: ConnectionEvent): void {
    this.opts.onConnectionEvent?.(e);
    if (e.type !== 'open') return;
    for (const w of this.openWaiters.filter((x) => x.conn === conn)) w.resolve();
    this.openWaiters = this.openWaiters.filter((x) => x.conn !== conn);
    if (conn === this.user) {
      const gapFrom = this.userWasUp ? this.userDownAt : 0;
      this.userWasUp = true;
      this.userDownAt = 0;
      this.emit({ type: 'stream-up' });
      if (gapFrom > 0) this.recoverGap(gapFrom);
    }
  }

  private waitOpen(conn: WsConnection, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.openWaiters = this.openWaiters.filter((w) => w.resolve !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(conn.state === 'open');
      };
      this.openWaiters.push({ conn, resolve: done });
    });
  }

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
      void this.replaceListenKey('listenKeyExpired event');
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
    const venueOrderId = String(m.i);
    this.rememberOrder(venueOrderId, clientOrderId);
    this.activeSymbols.add(inst.symbol);
    const ts = num(m.T) ?? num(m.E) ?? this.clock.now();
    if (m.x === 'TRADE') {
      this.emitFill({
        venue: 'binance-us',
        symbol: inst.symbol,
        tradeId: String(m.t),
        clientOrderId,
        side: m.S === 'SELL' ? 'sell' : 'buy',
        priceTicks: toSteps(str(m.L), inst.price),
        qtyLots: toSteps(str(m.l), inst.qty),
        fee: str(m.n) || '0',
        feeAsset: str(m.N),
        liquidity: m.m === true ? 'maker' : 'taker',
        ts,
      });
    }
    this.emit({
      type: 'order',
      state: {
        symbol: inst.symbol,
        clientOrderId,
        venueOrderId,
        status: mapStatus(str(m.X)),
        filledLots: toSteps(str(m.z), inst.qty),
        ts,
      },
    });
  }

  private emitFill(fill: Fill): boolean {
    let seen = this.seenTrades.get(fill.symbol);
    if (!seen) {
      seen = new Set();
      this.seenTrades.set(fill.symbol, seen);
    }
    if (seen.has(fill.tradeId)) return false;
    seen.add(fill.tradeId);
    if (seen.size > SEEN_TRADES_MAX) seen.delete(seen.values().next().value as string);
    this.emit({ type: 'fill', fill });
    return true;
  }

  /** Fills missed during a stream gap, from `GET /api/v3/myTrades`. */
  private recoverGap(fromMs: number): void {
    const run = async () => {
      let recovered = 0;
      const touched = new Map<string, string>();
      const startTime = Math.floor(fromMs + (this.time.offsetMs() ?? 0) - 5000);
      for (const symbol of this.activeSymbols) {
        const inst = this.findInstrument(symbol);
        if (!inst) continue;
        for await (const fill of this.fillsFrom(inst, startTime)) {
          if (this.emitFill(fill)) {
            recovered++;
            touched.set(fill.clientOrderId, symbol);
          }
        }
      }
      for (const [clientOrderId, symbol] of touched) {
        const state = await this.queryOrder(symbol, clientOrderId);
        if (state) this.emit({ type: 'order', state });
      }
      this.counters.recoveredFills += recovered;
      this.diag({ type: 'recovery', recoveredFills: recovered, detail: `gap from ${fromMs}` });
    };
    const prev = this.recovering ?? Promise.resolve();
    this.recovering = prev
      .then(run)
      .catch((err: unknown) => {
        this.diag({ type: 'recovery', recoveredFills: 0, detail: `failed: ${safeMessage(err)}` });
      })
      .finally(() => {
        this.recovering = null;
      });
  }

  async fillsSince(symbol: string, sinceTs: number): Promise<Fill[]> {
    const inst = this.findInstrument(symbol);
    if (!inst) return [];
    const out: Fill[] = [];
    for await (const f of this.fillsFrom(inst, Math.floor(sinceTs + (this.time.offsetMs() ?? 0))))
      out.push(f);
    return out;
  }

  /**
   * Our fills of one symbol from `startTime` (venue ms) on, oldest first: the first page of
   * `GET /api/v3/myTrades` by startTime, later pages by fromId (not combined with startTime).
   */
  private async *fillsFrom(inst: Instrument, startTime: number): AsyncGenerator<Fill> {
    const LIMIT = 1000;
    let page: ReadonlyArray<readonly [string, string]> = [
      ['symbol', inst.symbol],
      ['startTime', String(startTime)],
      ['limit', String(LIMIT)],
    ];
    for (let pages = 0; pages < 100; pages++) {
      const res = await this.rest<Array<Record<string, unknown>>>('GET', '/api/v3/myTrades', {
        signed: page,
        weight: 20,
      });
      if (!Array.isArray(res.body) || res.body.length === 0) return;
      const trades = [...res.body].sort((a, b) => (num(a.id) ?? 0) - (num(b.id) ?? 0));
      for (const t of trades) {
        const orderId = String(t.orderId);
        let clientOrderId = this.clientIdOf.get(orderId);
        if (clientOrderId === undefined) {
          const o = await this.rest<SpotOrder>('GET', ORDER_PATH, {
            signed: [
              ['symbol', inst.symbol],
              ['orderId', orderId],
            ],
            weight: 4,
          });
          clientOrderId = o.body.clientOrderId;
          this.rememberOrder(orderId, clientOrderId);
        }
        yield {
          venue: 'binance-us',
          symbol: inst.symbol,
          tradeId: String(t.id),
          clientOrderId,
          side: t.isBuyer === true ? 'buy' : 'sell',
          priceTicks: toSteps(str(t.price), inst.price),
          qtyLots: toSteps(str(t.qty), inst.qty),
          fee: str(t.commission) || '0',
          feeAsset: str(t.commissionAsset),
          liquidity: t.isMaker === true ? 'maker' : 'taker',
          ts: num(t.time) ?? this.clock.now(),
        };
      }
      if (trades.length < LIMIT) return;
      const last = num(trades[trades.length - 1]?.id);
      if (last === undefined) return;
      page = [
        ['symbol', inst.symbol],
        ['fromId', String(last + 1)],
        ['limit', String(LIMIT)],
      ];
    }
  }

  /** Resolves when no gap recovery or key replacement is running. */
  async idle(): Promise<void> {
    while (this.recovering || this.replacingKey) await (this.recovering ?? this.replacingKey);
  }

  private async createListenKey(): Promise<string> {
    const key = await this.keyRequest('POST');
    if (!key) throw new DataError('BAD_RESPONSE', 'POST /api/v3/userDataStream without a listenKey');
    return key;
  }

  private scheduleKeepAlive(ms: number): void {
    if (this.stopped) return;
    this.keepAliveTimer = setTimeout(() => void this.keepAlive(), ms);
  }

  private async keepAlive(): Promise<void> {
    const period = this.opts.listenKeyKeepAliveMs ?? 30 * MINUTE;
    try {
      await this.keyRequest('PUT');
      this.diag({ type: 'listen-key', action: 'kept-alive', detail: 'PUT ok' });
      this.scheduleKeepAlive(period);
    } catch (err) {
      if (err instanceof HttpDataError && err.venueCode === -1125) {
        await this.replaceListenKey('keepalive: -1125');
        this.scheduleKeepAlive(period);
      } else {
        this.diag({ type: 'listen-key', action: 'failed', detail: safeMessage(err) });
        this.scheduleKeepAlive(Math.max(1000, Math.floor(period / 10)));
      }
    }
  }

  private replaceListenKey(why: string): Promise<void> {
    if (this.replacingKey) return this.replacingKey;
    const run = async () => {
      if (this.stopped) return;
      const key = await this.createListenKey();
      this.diag({ type: 'listen-key', action: 'recreated', detail: why });
      if (key === this.listenKey && this.user?.state === 'open') return;
      this.listenKey = key;
      const old = this.user;
      const next = this.makeUserConnection();
      this.user = next;
      if (old) {
        await old.stop();
        if (this.userDownAt === 0) {
          this.userDownAt = this.clock.now();
          this.emit({ type: 'stream-down', reason: `listenKey replaced (${why})` });
        }
      }
      if (!this.stopped) next.start();
    };
    this.replacingKey = run()
      .catch((err: unknown) => {
        this.diag({ type: 'listen-key', action: 'failed', detail: safeMessage(err) });
      })
      .finally(() => {
        this.replacingKey = null;
      });
    return this.replacingKey;
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

function mapStatus(s: string): VenueOrderStatus {
  switch (s) {
    case 'NEW':
    case 'PARTIALLY_FILLED':
    case 'FILLED':
    case 'CANCELED':
    case 'EXPIRED':
    case 'REJECTED':
      return s;
    case 'EXPIRED_IN_MATCH':
      return 'EXPIRED';
    default:
      throw new DataError('BAD_STATUS', `unknown Binance.US order status ${JSON.stringify(s)}`);
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function safeMessage(err: unknown): string {
  return err instanceof Error ? err.message : 'non-Error thrown';
}
