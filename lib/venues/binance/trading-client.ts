/**
 * Binance USD-M futures trading (VENUES.md §1.5–1.10): the VenueTrading port over the venue's own
 * private API.
 *
 * - Orders go over the WebSocket API (`order.place` / `order.cancel`), one persistent connection
 *   opened at start(): place() signs and writes the frame synchronously, calls onWritten right after
 *   the socket took it, then awaits the response (default 5 s; no answer = `unknown`). When that
 *   connection is down, the same request goes over REST (`POST /fapi/v1/order`).
 * - WS API signing: every param except `signature` (apiKey, timestamp and recvWindow included),
 *   sorted by name, joined as `k=v&…`, HMAC-SHA256 hex. REST signing: query ‖ body, signature last
 *   (lib/venues/binance/signing.ts).
 * - Outcomes: 503 "Unknown error…", -1007, 408, a timeout or a lost connection → `unknown` (the
 *   order may exist: ask queryOrder, never resend blindly). 5xx "Service Unavailable" → rejected
 *   `UNAVAILABLE` (definitely not placed; retry with backoff). -4116 (client id already open) →
 *   the order exists: answered from a query. -1021 → the server-time offset is re-synced and the
 *   order is rejected with code `-1021` (the engine retries with the same client id).
 * - User data stream: a listenKey created at start, kept alive (PUT) every 30 min, recreated on
 *   -1125 or `listenKeyExpired`; the stream runs on a WsConnection with ping/silence detection.
 *   `stream-down` is emitted whenever it drops, `stream-up` when it is back; after a drop the fills
 *   of the gap are recovered from `GET /fapi/v1/userTrades` (deduplicated by trade id), so none is
 *   lost even though Binance does not replay the stream.
 * - Event order: per ORDER_TRADE_UPDATE, a trade's `fill` comes before the `order` state it led to.
 *   Gap recovery restores fills (and the state of the orders they belong to); an order cancelled or
 *   expired during a gap without fills is only seen through queryOrder/openOrders: reconcile on
 *   every `stream-down`, as the port says.
 * - Stop orders (stop-market, stop-limit) go to the Algo Service (./algo-orders.ts): `cancel`,
 *   `queryOrder`, `openOrders` and `cancelAll` cover them, and the fills of a triggered stop reach
 *   the engine under our stop's client id.
 * - cancelAll resolves with the number of orders open just before (Binance's answer has no count).
 * - A WS API rotation (23 h) can strand a response sent on the old socket: that request then times
 *   out as `unknown` (rare: only requests in flight at the switch).
 *
 * Fee sign (Fill.fee): positive = a fee we paid, negative = a rebate. Binance's ORDER_TRADE_UPDATE
 * `n` is taken as the commission charged, positive for a charge, and passed through as exact text;
 * the same for `commission` in userTrades. VENUES.md §1.10 says the opposite ("a negative n means a
 * fee charged", unverified): check against a live fill before trading real money.
 *
 * Secrets: the API secret is captured by the signing closure only; it is not a property, never
 * logged, never in an error, event or diagnostic. The API key travels in the `X-MBX-APIKEY`
 * header and in WS API params, and is likewise never put into messages.
 */
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError, OperationalError, TradewindError } from '#core/errors.ts';
import { fromSteps, toSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
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
import { WsConnection } from '../ws-connection.ts';
import { binanceInstruments } from './instruments.ts';
import type { SignedParams, TradingDiagnostic, Verdict, WsLiveness } from './binance-rest.ts';
import { BinanceRest, mapStatus, num, placeVerdictResult, safeMessage, str } from './binance-rest.ts';
import { executionEvents, FillRecovery } from './fill-recovery.ts';
import type { AlgoOrderJson } from './algo-orders.ts';
import { AlgoOrders, algoOrderParams } from './algo-orders.ts';
import { BinanceUserStream, OpenWaiters } from './user-stream.ts';

export type { TradingDiagnostic, WsLiveness } from './binance-rest.ts';

export interface BinanceFuturesTradingEndpoints {
  /** REST base, e.g. https://fapi.binance.com (simulator: http://127.0.0.1:port/binance-futures). */
  readonly rest: string;
  /** Stream base; the user stream is `${ws}/ws/<listenKey>`. */
  readonly ws: string;
  /** The WebSocket API's full URL, e.g. wss://ws-fapi.binance.com/ws-fapi/v1. */
  readonly wsApi: string;
}

export const BINANCE_FUTURES_TRADING_ENDPOINTS: BinanceFuturesTradingEndpoints = {
  rest: 'https://fapi.binance.com',
  ws: 'wss://fstream.binance.com',
  wsApi: 'wss://ws-fapi.binance.com/ws-fapi/v1',
};

/** Trading endpoints for a base shaped like the simulator's (`${ws}/ws-fapi/v1` is the WS API). */
export function tradingEndpointsFor(base: { rest: string; ws: string }): BinanceFuturesTradingEndpoints {
  return { rest: base.rest, ws: base.ws, wsApi: `${base.ws}/ws-fapi/v1` };
}

/**
 * Dead man's switch: `POST /fapi/v1/countdownCancelAll` (symbol, countdownTime ms; 0 stops it;
 * developers.binance.com …/usds-margined-futures/trade/rest-api/Auto-Cancel-All-Open-Orders). When
 * a countdown runs out, the venue cancels every open order of the symbol. Armed at start for the
 * known symbols, and within ~1 s for a symbol first traded later; refreshed while healthy; set to 0
 * on a clean stop. A dead engine stops refreshing, so its resting orders go away on their own.
 */
export interface DeadManSwitchOptions {
  /** countdownTime sent with every refresh. @default 60000 */
  readonly countdownMs?: number;
  /** Refresh period; well under countdownMs. @default 20000 */
  readonly refreshMs?: number;
  /** Symbols armed at start (default: the configured `instruments`; none when fetched). */
  readonly symbols?: readonly string[];
  /** Refreshes only while this returns true (default: always); false lets the countdowns lapse. */
  readonly healthy?: () => boolean;
}

export interface BinanceFuturesTradingOptions {
  readonly endpoints: BinanceFuturesTradingEndpoints;
  readonly apiKey: string;
  /** Never logged, never in errors: only the signing closure keeps it. */
  readonly apiSecret: string;
  readonly clock?: Clock;
  /** @default 5000 */
  readonly recvWindow?: number;
  /** Instruments to trade; fetched from `/fapi/v1/exchangeInfo` at start when absent. */
  readonly instruments?: Iterable<Instrument>;
  /** An order/cancel without an answer after this is `unknown`. @default 5000 */
  readonly orderTimeoutMs?: number;
  /** Bound on other REST calls. @default 10000 */
  readonly requestTimeoutMs?: number;
  /** listenKey keepalive period. @default 30 min */
  readonly listenKeyKeepAliveMs?: number;
  /** Send orders over the WebSocket API (REST when false or while it is down). @default true */
  readonly useWsApi?: boolean;
  readonly userStream?: WsLiveness;
  readonly wsApiLiveness?: WsLiveness;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /** start() gives up when the user stream is not open after this. @default 15000 */
  readonly startTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** REST request-weight limiter (weights per the venue's docs). */
  readonly limiter?: RateLimiter;
  readonly onConnectionEvent?: (e: ConnectionEvent) => void;
  readonly onDiagnostic?: (d: TradingDiagnostic) => void;
  /** The dead man's switch; `false` disables it. @default enabled, 60 s countdown, 20 s refresh */
  readonly deadManSwitch?: DeadManSwitchOptions | false;
}

/** Binance's order object (REST responses, WS API results, GET /fapi/v1/order). */
interface BinanceOrder {
  readonly symbol: string;
  readonly orderId: number;
  readonly clientOrderId: string;
  readonly status: string;
  readonly executedQty: string;
  readonly updateTime?: number;
  readonly time?: number;
}

interface WsApiResponse {
  readonly id: string;
  readonly status: number;
  readonly result?: unknown;
  readonly error?: { readonly code?: number; readonly msg?: string };
}

interface Pending {
  readonly sentAt: number;
  readonly resolve: (r: WsApiResponse | { readonly lost: string }) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

const MINUTE = 60_000;

export class BinanceFuturesTrading implements VenueTrading {
  readonly capabilities: TradingCapabilities = {
    stopTypes: ['stop-market', 'stop-limit'],
    reduceOnly: true,
    // The countdown is taken to spare Algo Service orders [ASSUMED, see ./algo-orders.ts].
    dmsCancelsStops: false,
  };
  readonly venue = 'binance-futures' as const;
  /** The options minus the secret (so no inspect/serialization of the client can show it). */
  private readonly opts: Omit<BinanceFuturesTradingOptions, 'apiSecret'>;
  private readonly clock: Clock;
  private readonly apiKey: string;
  /** Signed REST, server time, listenKey requests, WS API signing; the only holder of the secret. */
  private readonly http: BinanceRest;
  private readonly recvWindow: number;
  private readonly orderTimeoutMs: number;
  private instruments: InstrumentSet = new InstrumentSet([]);
  /** Instruments callers passed to place() that the set did not have. */
  private readonly extraInstruments = new Map<string, Instrument>();
  private onEvent: (e: UserEvent) => void = () => {};

  private wsApi: WsConnection | null = null;
  /** listenKey, keepalive and the user data stream connection. */
  private readonly stream: BinanceUserStream;
  private readonly waiters = new OpenWaiters();
  private readonly pending = new Map<string, Pending>();
  private readonly lateIds = new Map<string, number>();
  private reqSeq = 0;
  private started = false;
  private stopped = false;
  /** Fill dedupe, orderId → clientOrderId, active symbols, gap recovery from userTrades. */
  private readonly fills: FillRecovery;
  /** Stop orders in the Algo Service, and the link to the orders their triggers create. */
  private readonly algo: AlgoOrders;
  private readonly counters = { badMessages: 0, lateResponses: 0, recoveredFills: 0, restFallbacks: 0 };
  /** Dead man's switch: symbols covered, and the refresh / first-arm timers. */
  private readonly dmsSymbols = new Set<string>();
  private dmsTimer: ReturnType<typeof setTimeout> | null = null;
  private dmsSoonTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(opts: BinanceFuturesTradingOptions) {
    if (typeof opts.apiKey !== 'string' || opts.apiKey === '') {
      throw new DataError('BAD_OPTION', 'Binance API key is empty');
    }
    if (typeof opts.apiSecret !== 'string' || opts.apiSecret === '') {
      throw new DataError('BAD_OPTION', 'Binance API secret is empty');
    }
    const { apiSecret: secret, ...rest } = opts;
    this.opts = rest;
    this.clock = opts.clock ?? systemClock;
    this.apiKey = opts.apiKey;
    this.recvWindow = opts.recvWindow ?? 5000;
    this.http = new BinanceRest(
      {
        rest: opts.endpoints.rest,
        apiKey: opts.apiKey,
        recvWindow: this.recvWindow,
        clock: this.clock,
        limiter: opts.limiter,
        requestTimeoutMs: opts.requestTimeoutMs,
        timePath: '/fapi/v1/time',
        orderPath: '/fapi/v1/order',
        listenKeyPath: '/fapi/v1/listenKey',
        listenKeyInQuery: false,
        isDuplicate: (code) => code === -4116,
        diag: (d) => this.diag(d),
      },
      secret,
    );
    this.fills = new FillRecovery({
      venue: 'binance-futures',
      http: this.http,
      clock: this.clock,
      tradesPath: '/fapi/v1/userTrades',
      tradesWeight: 5,
      orderPath: '/fapi/v1/order',
      orderWeight: 1,
      side: (t) => (t.side === 'SELL' ? 'sell' : 'buy'),
      maker: (t) => t.maker === true,
      findInstrument: (symbol) => this.findInstrument(symbol),
      queryOrder: (symbol, clientOrderId) => this.queryOrder(symbol, clientOrderId),
      beforeTrades: (inst, startTime) =>
        this.algo.learnSince(inst.symbol, startTime).catch((err: unknown) => {
          this.diag({ type: 'recovery', recoveredFills: 0, detail: `allAlgoOrders: ${safeMessage(err)}` });
        }),
      emit: (e) => this.emit(e),
      onRecovered: (n) => {
        this.counters.recoveredFills += n;
      },
      diag: (d) => this.diag(d),
    });
    this.algo = new AlgoOrders({
      http: this.http,
      instrumentOf: (symbol) => this.instrumentOf(symbol),
      now: () => this.clock.now(),
      release: (msg, clientOrderId) => this.safeOrderUpdate(msg, clientOrderId),
      relink: (msg, clientOrderId) => {
        const o = (msg.o ?? {}) as Record<string, unknown>;
        this.fills.forgetTrade(str(o.s), str(o.t));
        this.safeOrderUpdate(msg, clientOrderId);
      },
      link: (orderId, clientOrderId) => this.fills.rekey(orderId, clientOrderId),
      diag: (d) => this.diag(d),
    });
    this.stream = new BinanceUserStream({
      name: 'binance-futures user-stream',
      ws: opts.endpoints.ws,
      http: this.http,
      listenKeyPath: '/fapi/v1/listenKey',
      clock: this.clock,
      liveness: opts.userStream,
      connectTimeoutMs: opts.connectTimeoutMs,
      backoff: opts.backoff,
      keepAliveMs: opts.listenKeyKeepAliveMs,
      waiters: this.waiters,
      stopped: () => this.stopped,
      onMessage: (text, recvTs) => this.onUserMessage(text, recvTs),
      onConnectionEvent: opts.onConnectionEvent,
      emit: (e) => this.emit(e),
      onGap: (fromMs) => this.fills.recoverGap(fromMs),
      diag: (d) => this.diag(d),
    });
    this.orderTimeoutMs = opts.orderTimeoutMs ?? 5000;
    if (opts.instruments) this.instruments = new InstrumentSet(opts.instruments);
  }

  /** Counters for metrics. */
  get stats(): {
    badMessages: number;
    lateResponses: number;
    recoveredFills: number;
    restFallbacks: number;
  } {
    return { ...this.counters };
  }

  /** Whether orders currently go over the WebSocket API. */
  get wsApiUp(): boolean {
    return this.wsApi?.state === 'open';
  }

  get userStreamUp(): boolean {
    return this.stream.up;
  }

  /** The instruments this client converts with. */
  get instrumentSet(): InstrumentSet {
    return this.instruments;
  }

  // ------------------------------------------------------------------------------ lifecycle

  async start(onEvent: (e: UserEvent) => void): Promise<void> {
    if (this.started) throw new OperationalError('ALREADY_STARTED', 'binance-futures trading: started twice');
    this.started = true;
    this.onEvent = onEvent;
    await this.http.syncTime();
    if (this.instruments.size === 0) {
      const res = await this.http.request<unknown>('GET', '/fapi/v1/exchangeInfo', { weight: 1 });
      this.instruments = binanceInstruments(res.body, 'binance-futures');
    }
    // A restarted client learns its resting stops (best effort: queries fall back to the algo
    // endpoints anyway).
    await this.algo.open().catch((err: unknown) => {
      this.diag({ type: 'skipped', detail: `openAlgoOrders at start: ${safeMessage(err)}` });
    });
    await this.stream.create();
    const deadline = this.opts.startTimeoutMs ?? 15_000;
    const waits: Array<Promise<boolean>> = [];
    waits.push(this.stream.waitOpen(deadline));
    if (this.opts.useWsApi !== false) {
      this.wsApi = this.makeWsApiConnection();
      waits.push(this.waiters.wait(this.wsApi, deadline));
    }
    this.stream.startConnection();
    this.wsApi?.start();
    const [userOpen] = await Promise.all(waits);
    if (!userOpen) {
      await this.stop();
      throw new OperationalError(
        'USER_STREAM_DOWN',
        `binance-futures trading: the user data stream did not open within ${deadline} ms`,
      );
    }
    this.stream.startKeepAlive();
    await this.startDeadManSwitch();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stream.stopKeepAlive();
    await this.disarmDeadManSwitch();
    this.waiters.releaseAll();
    this.algo.clear();
    this.failPending('client stopped');
    const conns = [this.stream.connection, this.wsApi].filter((c): c is WsConnection => c !== null);
    await Promise.all(conns.map((c) => c.stop()));
    await this.stream.deleteKey();
  }

  // ------------------------------------------------------------------------------ orders

  place(intent: OrderIntent, instrument: Instrument, onWritten?: () => void): Promise<PlaceResult> {
    // Everything up to the socket write is synchronous: no await before the bytes leave.
    let params: Array<readonly [string, string]>;
    const stop = isStopType(intent.type);
    try {
      params = stop ? this.stopParams(intent, instrument) : this.orderParams(intent, instrument);
    } catch (err) {
      const e = err as TradewindError;
      return Promise.resolve({ kind: 'rejected', code: e.code ?? 'BAD_ORDER', message: e.message });
    }
    this.fills.activeSymbols.add(instrument.symbol);
    if (!this.instruments.get(instrument.symbol)) this.extraInstruments.set(instrument.symbol, instrument);
    this.coverSymbol(instrument.symbol);
    if (stop) this.algo.remember(intent.clientOrderId, instrument.symbol);
    const sent = this.sendWsApi(stop ? 'algoOrder.place' : 'order.place', params);
    if (sent) {
      onWritten?.();
      return sent.then((r) => this.placeOutcome(r, intent, instrument));
    }
    this.counters.restFallbacks++;
    return this.placeRest(params, intent, instrument, onWritten);
  }

  private stopParams(intent: OrderIntent, inst: Instrument): Array<readonly [string, string]> {
    if (intent.venue !== 'binance-futures' || inst.venue !== 'binance-futures') {
      throw new DataError('WRONG_VENUE', `order for ${intent.venue} sent to binance-futures`);
    }
    return algoOrderParams(intent, inst);
  }

  async cancel(symbol: string, clientOrderId: string): Promise<CancelResult> {
    if (this.algo.isAlgo(clientOrderId)) return this.cancelStop(symbol, clientOrderId);
    const r = await this.cancelPlain(symbol, clientOrderId);
    // Not an open order: after a restart it may be one of our stops.
    if (r.kind !== 'rejected' || r.code !== '-2011') return r;
    const s = await this.cancelStop(symbol, clientOrderId);
    return s.kind === 'rejected' && s.code === '-2011' ? r : s;
  }

  /** An algo order: `algoOrder.cancel` / `DELETE /fapi/v1/algoOrder`; a triggered one by its order id. */
  private async cancelStop(symbol: string, clientOrderId: string): Promise<CancelResult> {
    const r = await this.cancelCall(
      'algoOrder.cancel',
      '/fapi/v1/algoOrder',
      [['clientAlgoId', clientOrderId]],
      (b) => this.stopCancelOk(b, symbol, clientOrderId),
    );
    if (r.kind !== 'rejected' || r.code !== '-2011') return r;
    // Triggered (a stop-limit resting in the matching engine): cancel that order.
    const a = await this.algo.fetch(clientOrderId);
    const actual = a ? String(a.actualOrderId ?? '') : '';
    if (a) this.algo.learn(a);
    if (actual === '') return r;
    const params: SignedParams = [
      ['symbol', symbol],
      ['orderId', actual],
    ];
    return this.cancelCall(null, '/fapi/v1/order', params, (b) => this.cancelOk(b));
  }

  /** A cancel answer of the Algo Service: the algo object, or {algoId, clientAlgoId, code, msg}. */
  private stopCancelOk(raw: unknown, symbol: string, clientOrderId: string): CancelResult {
    const a = (raw ?? {}) as AlgoOrderJson;
    return {
      kind: 'ok',
      state: {
        symbol,
        clientOrderId,
        venueOrderId: str(a.algoId),
        status: 'CANCELED',
        filledLots: 0,
        ts: num(a.updateTime) ?? this.clock.now(),
        stop: true,
      },
    };
  }

  private cancelPlain(symbol: string, clientOrderId: string): Promise<CancelResult> {
    const params: SignedParams = [
      ['symbol', symbol],
      ['origClientOrderId', clientOrderId],
    ];
    return this.cancelCall('order.cancel', '/fapi/v1/order', params, (b) => this.cancelOk(b));
  }

  /**
   * One cancel: over the WS API `method` while it is connected (null: REST only), else
   * `DELETE path`; the answer mapped by `ok`, a failure classified (a lost WS answer is unknown).
   */
  private async cancelCall(
    method: string | null,
    path: string,
    params: SignedParams,
    ok: (body: unknown) => CancelResult,
  ): Promise<CancelResult> {
    const sent = method === null ? null : this.sendWsApi(method, params);
    let verdict: Verdict;
    if (sent) {
      const r = await sent;
      if ('lost' in r) return { kind: 'unknown', reason: r.lost };
      if (r.status === 200) return ok(r.result);
      verdict = this.http.classify(r.status, r.error?.code, r.error?.msg);
    } else {
      try {
        const res = await this.http.request<unknown>('DELETE', path, {
          signed: params,
          weight: 1,
          timeoutMs: this.orderTimeoutMs,
        });
        return ok(res.body);
      } catch (err) {
        verdict = this.http.classifyError(err);
      }
    }
    if (verdict.kind === 'timestamp') {
      await this.http.resyncAfter1021();
      return { kind: 'rejected', code: '-1021', message: verdict.message };
    }
    if (verdict.kind === 'duplicate') return { kind: 'rejected', code: '-4116', message: verdict.message };
    return verdict;
  }

  async cancelAll(symbol?: string): Promise<number> {
    const open = await this.openOrders(symbol);
    const symbols = symbol ? [symbol] : [...new Set(open.map((o) => o.symbol))];
    for (const s of symbols) {
      await this.http.request('DELETE', '/fapi/v1/allOpenOrders', { signed: [['symbol', s]], weight: 1 });
      // allOpenOrders is taken to spare the Algo Service's stops [ASSUMED, ./algo-orders.ts].
      await this.http.request('DELETE', '/fapi/v1/algoOpenOrders', { signed: [['symbol', s]], weight: 1 });
    }
    // Binance does not say how many it cancelled: the count is what was open just before.
    return open.length;
  }

  async queryOrder(symbol: string, clientOrderId: string): Promise<VenueOrderState | null> {
    if (this.algo.isAlgo(clientOrderId)) return this.queryStop(clientOrderId);
    try {
      const res = await this.http.request<BinanceOrder>('GET', '/fapi/v1/order', {
        signed: [
          ['symbol', symbol],
          ['origClientOrderId', clientOrderId],
        ],
        weight: 1,
      });
      return this.orderState(res.body);
    } catch (err) {
      // Not in the matching engine: after a restart it may be one of our stops.
      if (err instanceof HttpDataError && err.venueCode === -2013) return this.queryStop(clientOrderId);
      throw err;
    }
  }

  private async queryStop(clientOrderId: string): Promise<VenueOrderState | null> {
    const a = await this.algo.fetch(clientOrderId);
    return a ? this.algo.stateOf(a) : null;
  }

  async openOrders(symbol?: string): Promise<VenueOrderState[]> {
    const res = await this.http.request<BinanceOrder[]>('GET', '/fapi/v1/openOrders', {
      signed: symbol ? [['symbol', symbol]] : [],
      weight: symbol ? 1 : 40,
    });
    if (!Array.isArray(res.body)) throw new DataError('BAD_RESPONSE', 'openOrders: not an array');
    const stops = await this.algo.open(symbol);
    const out = res.body.map((o) => this.orderState(o));
    for (const a of stops) out.push(await this.algo.stateOf(a));
    return out;
  }

  async positions(): Promise<VenuePosition[]> {
    const res = await this.http.request<Array<Record<string, unknown>>>('GET', '/fapi/v2/positionRisk', {
      signed: [],
      weight: 5,
    });
    if (!Array.isArray(res.body)) throw new DataError('BAD_RESPONSE', 'positionRisk: not an array');
    const out: VenuePosition[] = [];
    for (const p of res.body) {
      const symbol = str(p.symbol);
      const amt = str(p.positionAmt);
      const neg = amt.startsWith('-');
      const abs = neg ? amt.slice(1) : amt;
      if (/^0*(\.0*)?$/.test(abs)) continue;
      const inst = this.findInstrument(symbol);
      if (!inst) {
        // A position we cannot express in lots must not be silently dropped.
        throw new DataError('UNKNOWN_INSTRUMENT', `positionRisk: open position in unknown symbol ${symbol}`);
      }
      const lots = toSteps(abs, inst.qty);
      out.push({ symbol: inst.symbol, qtyLots: neg ? -lots : lots, entryPrice: str(p.entryPrice) || '0' });
    }
    return out;
  }

  // ------------------------------------------------------------------------------ dead man's switch

  private dmsOptions(): DeadManSwitchOptions | null {
    const d = this.opts.deadManSwitch;
    return d === false ? null : (d ?? {});
  }

  private async startDeadManSwitch(): Promise<void> {
    const d = this.dmsOptions();
    if (!d) return;
    const initial = d.symbols ?? (this.opts.instruments ? [...this.instruments].map((i) => i.symbol) : []);
    for (const s of initial) this.dmsSymbols.add(s);
    await this.sendCountdowns('armed');
    this.scheduleDms(d.refreshMs ?? 20_000);
  }

  /** A symbol traded for the first time is armed within about a second (not before the order). */
  private coverSymbol(symbol: string): void {
    const d = this.dmsOptions();
    if (!d || this.dmsSymbols.has(symbol) || this.stopped) return;
    this.dmsSymbols.add(symbol);
    if (this.dmsSoonTimer) return;
    this.dmsSoonTimer = setTimeout(
      () => {
        this.dmsSoonTimer = null;
        if (!this.stopped) void this.sendCountdowns('armed');
      },
      Math.min(1000, d.refreshMs ?? 20_000),
    );
  }

  private scheduleDms(ms: number): void {
    if (this.stopped) return;
    this.dmsTimer = setTimeout(() => void this.refreshDms(), ms);
  }

  private async refreshDms(): Promise<void> {
    const d = this.dmsOptions();
    if (!d || this.stopped) return;
    let healthy = true;
    try {
      healthy = d.healthy ? d.healthy() : true;
    } catch {
      healthy = false;
    }
    if (healthy) await this.sendCountdowns('refreshed');
    else
      this.diag({ type: 'dead-man-switch', action: 'unhealthy', detail: 'not refreshed: engine unhealthy' });
    this.scheduleDms(d.refreshMs ?? 20_000);
  }

  /** POSTs the countdown (or 0 to disarm) for every covered symbol; failures are diagnostics. */
  private async sendCountdowns(action: 'armed' | 'refreshed' | 'disarmed'): Promise<void> {
    const d = this.dmsOptions();
    if (!d) return;
    const ms = action === 'disarmed' ? 0 : (d.countdownMs ?? 60_000);
    for (const symbol of [...this.dmsSymbols]) {
      if (this.stopped && action !== 'disarmed') return;
      try {
        await this.http.request('POST', '/fapi/v1/countdownCancelAll', {
          signed: [
            ['symbol', symbol],
            ['countdownTime', String(ms)],
          ],
          weight: 10,
        });
        this.diag({ type: 'dead-man-switch', action, detail: `${symbol} ${ms} ms` });
      } catch (err) {
        this.diag({ type: 'dead-man-switch', action: 'failed', detail: `${symbol}: ${safeMessage(err)}` });
      }
    }
  }

  private async disarmDeadManSwitch(): Promise<void> {
    if (this.dmsTimer) clearTimeout(this.dmsTimer);
    if (this.dmsSoonTimer) clearTimeout(this.dmsSoonTimer);
    this.dmsTimer = null;
    this.dmsSoonTimer = null;
    if (!this.started || this.dmsSymbols.size === 0) return;
    await this.sendCountdowns('disarmed');
  }

  // ------------------------------------------------------------------------------ order plumbing

  private orderParams(intent: OrderIntent, inst: Instrument): Array<readonly [string, string]> {
    if (intent.venue !== 'binance-futures' || inst.venue !== 'binance-futures') {
      throw new DataError('WRONG_VENUE', `order for ${intent.venue} sent to binance-futures`);
    }
    const params: Array<readonly [string, string]> = [
      ['symbol', inst.symbol],
      ['side', intent.side === 'buy' ? 'BUY' : 'SELL'],
      ['type', intent.type === 'market' ? 'MARKET' : 'LIMIT'],
      ['quantity', fromSteps(intent.qtyLots, inst.qty)],
      ['newClientOrderId', intent.clientOrderId],
      ['newOrderRespType', 'RESULT'],
    ];
    if (intent.type === 'limit') {
      if (intent.priceTicks === undefined) throw new DataError('BAD_ORDER', 'limit order without a price');
      params.push(['price', fromSteps(intent.priceTicks, inst.price)]);
      params.push(['timeInForce', intent.timeInForce === 'POST_ONLY' ? 'GTX' : intent.timeInForce]);
    } else if (intent.timeInForce === 'POST_ONLY') {
      throw new DataError('BAD_ORDER', 'a market order cannot be post-only');
    }
    if (intent.reduceOnly) params.push(['reduceOnly', 'true']);
    return params;
  }

  private sendWsApi(
    method: string,
    params: ReadonlyArray<readonly [string, string]>,
  ): Promise<WsApiResponse | { readonly lost: string }> | null {
    const conn = this.wsApi;
    if (!conn || conn.state !== 'open' || this.stopped) return null;
    const id = `tw${++this.reqSeq}`;
    const all: Record<string, string | number> = {};
    for (const [k, v] of params) all[k] = v;
    all.apiKey = this.apiKey;
    all.recvWindow = this.recvWindow;
    all.timestamp = this.http.time.timestamp();
    const payload = Object.keys(all)
      .sort()
      .map((k) => `${k}=${all[k]}`)
      .join('&');
    all.signature = this.http.sign(payload);
    const text = JSON.stringify({ id, method, params: all });
    if (!conn.send(text)) return null;
    const sentAt = this.clock.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.lateIds.set(id, sentAt);
        if (this.lateIds.size > 1000) this.lateIds.delete(this.lateIds.keys().next().value as string);
        resolve({ lost: `no response within ${this.orderTimeoutMs} ms` });
      }, this.orderTimeoutMs);
      this.pending.set(id, { sentAt, resolve, timer });
    });
  }

  private async placeOutcome(
    r: WsApiResponse | { readonly lost: string },
    intent: OrderIntent,
    inst: Instrument,
  ): Promise<PlaceResult> {
    if ('lost' in r) return { kind: 'unknown', reason: r.lost };
    if (r.status === 200)
      return isStopType(intent.type) ? this.algoAck(r.result) : this.ackOf(r.result, inst);
    return this.resolveVerdict(this.http.classify(r.status, r.error?.code, r.error?.msg), intent, inst);
  }

  private async placeRest(
    params: ReadonlyArray<readonly [string, string]>,
    intent: OrderIntent,
    inst: Instrument,
    onWritten?: () => void,
  ): Promise<PlaceResult> {
    const stop = isStopType(intent.type);
    try {
      const res = await this.http.request<BinanceOrder>(
        'POST',
        stop ? '/fapi/v1/algoOrder' : '/fapi/v1/order',
        {
          signed: params,
          weight: 0,
          timeoutMs: this.orderTimeoutMs,
          onSent: onWritten,
          // A placement is never repeated after -1021 (the engine retries with the same id).
          retried1021: true,
        },
      );
      return stop ? this.algoAck(res.body) : this.ackOf(res.body, inst);
    } catch (err) {
      return this.resolveVerdict(this.http.classifyError(err), intent, inst);
    }
  }

  private resolveVerdict(v: Verdict, intent: OrderIntent, inst: Instrument): Promise<PlaceResult> {
    return placeVerdictResult(v, this.http, '-4116', () =>
      this.queryOrder(inst.symbol, intent.clientOrderId),
    );
  }

  /** A success answer to an order: an ack, or `unknown` when it cannot be read (it was accepted). */
  private ackOf(raw: unknown, inst: Instrument): PlaceResult {
    try {
      return { kind: 'ack', state: this.orderState(raw, inst) };
    } catch (err) {
      return { kind: 'unknown', reason: `unreadable ack: ${safeMessage(err)}` };
    }
  }

  private cancelOk(raw: unknown): CancelResult {
    try {
      return { kind: 'ok', state: this.orderState(raw) };
    } catch (err) {
      return { kind: 'unknown', reason: `unreadable cancel answer: ${safeMessage(err)}` };
    }
  }

  private orderState(raw: unknown, hint?: Instrument): VenueOrderState {
    const o = raw as BinanceOrder;
    if (!o || typeof o !== 'object' || typeof o.symbol !== 'string') {
      throw new DataError('BAD_RESPONSE', 'order response without a symbol');
    }
    const inst = hint && hint.symbol === o.symbol ? hint : this.instrumentOf(o.symbol);
    const venueOrderId = String(o.orderId);
    // A triggered stop's order carries the venue's client id: ours is the stop's.
    const stopId = this.algo.clientIdOfActual(venueOrderId);
    const clientOrderId = stopId ?? o.clientOrderId;
    this.fills.rememberOrder(venueOrderId, clientOrderId);
    return {
      symbol: inst.symbol,
      clientOrderId,
      venueOrderId,
      status: mapStatus(o.status, 'Binance'),
      filledLots: toSteps(o.executedQty, inst.qty),
      ts: o.updateTime ?? o.time ?? this.clock.now(),
      ...(stopId !== undefined ? { stop: true } : {}),
    };
  }

  /** A successful algo order answer (place): its state, or `unknown` when it cannot be read. */
  private async algoAck(raw: unknown): Promise<PlaceResult> {
    try {
      const a = raw as AlgoOrderJson;
      if (!a || typeof a !== 'object' || typeof a.symbol !== 'string')
        throw new DataError('BAD_RESPONSE', 'algo order response without a symbol');
      return { kind: 'ack', state: await this.algo.stateOf(a) };
    } catch (err) {
      return { kind: 'unknown', reason: `unreadable ack: ${safeMessage(err)}` };
    }
  }

  private findInstrument(symbol: string): Instrument | undefined {
    return this.instruments.get(symbol) ?? this.extraInstruments.get(symbol);
  }

  private instrumentOf(symbol: string): Instrument {
    const inst = this.findInstrument(symbol);
    if (!inst) throw new DataError('UNKNOWN_INSTRUMENT', `binance-futures: no instrument ${symbol}`);
    return inst;
  }

  // ------------------------------------------------------------------------------ WS API

  private makeWsApiConnection(): WsConnection {
    const l = this.opts.wsApiLiveness ?? {};
    const conn: WsConnection = new WsConnection({
      name: 'binance-futures ws-api',
      url: () => this.opts.endpoints.wsApi,
      onOpen: () => {},
      onMessage: (text) => this.onWsApiMessage(text),
      onDown: (reason) => this.failPending(`ws-api connection lost (${reason})`),
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

  private onWsApiMessage(text: string): void {
    let msg: WsApiResponse;
    try {
      msg = JSON.parse(text) as WsApiResponse;
    } catch {
      this.badMessage('ws-api', 'not JSON');
      return;
    }
    const id = msg && typeof msg.id === 'string' ? msg.id : undefined;
    if (id === undefined) {
      this.badMessage('ws-api', 'response without an id');
      return;
    }
    const p = this.pending.get(id);
    if (!p) {
      const sentAt = this.lateIds.get(id);
      if (sentAt !== undefined) {
        this.lateIds.delete(id);
        this.counters.lateResponses++;
        this.diag({ type: 'late-response', requestId: id, afterMs: this.clock.now() - sentAt });
      }
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(id);
    p.resolve(msg);
  }

  /** Every request in flight is now `unknown`: it may have been executed. */
  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve({ lost: reason });
    }
  }

  // ------------------------------------------------------------------------------ user stream

  /** The WS API connection's events (the user stream handles its own). */
  private onConnEvent(conn: WsConnection, e: ConnectionEvent): void {
    this.opts.onConnectionEvent?.(e);
    if (e.type === 'open') this.waiters.opened(conn);
  }

  private onUserMessage(text: string, _recvTs: number): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.badMessage('user-stream', 'not JSON');
      return;
    }
    const e = msg?.e;
    if (e === 'ORDER_TRADE_UPDATE') {
      const o = msg.o as Record<string, unknown> | undefined;
      // An order we do not know may be a triggered stop whose ALGO_UPDATE has not come yet.
      if (
        o &&
        typeof o === 'object' &&
        this.algo.clientIdOfActual(str(o.i)) === undefined &&
        this.algo.hold(msg, o)
      )
        return;
      this.safeOrderUpdate(msg, undefined);
    } else if (e === 'ALGO_UPDATE') {
      try {
        const o = msg.o as Record<string, unknown> | undefined;
        if (!o || typeof o !== 'object') throw new DataError('BAD_MESSAGE', 'no "o" object');
        const state = this.algo.onAlgoUpdate(o, num(msg.E) ?? num(msg.T) ?? this.clock.now());
        if (state) this.emit({ type: 'order', state });
      } catch (err) {
        this.badMessage('user-stream', `ALGO_UPDATE: ${(err as Error).message}`);
      }
    } else if (e === 'listenKeyExpired') {
      void this.stream.replaceListenKey('listenKeyExpired event');
    }
    // ACCOUNT_UPDATE and others: positions are read with positions(); nothing to map here.
  }

  private safeOrderUpdate(msg: Record<string, unknown>, clientOrderId: string | undefined): void {
    try {
      this.onOrderUpdate(msg, clientOrderId);
    } catch (err) {
      this.badMessage('user-stream', `ORDER_TRADE_UPDATE: ${(err as Error).message}`);
    }
  }

  /** `stopId`: our stop's client id when this is the order its trigger created. */
  private onOrderUpdate(msg: Record<string, unknown>, stopId: string | undefined): void {
    const o = msg.o as Record<string, unknown> | undefined;
    if (!o || typeof o !== 'object') throw new DataError('BAD_MESSAGE', 'no "o" object');
    const symbol = str(o.s);
    const inst = this.findInstrument(symbol);
    if (!inst) {
      this.diag({ type: 'skipped', detail: `ORDER_TRADE_UPDATE for unknown symbol ${symbol}` });
      return;
    }
    const stop = stopId ?? this.algo.clientIdOfActual(str(o.i));
    const clientOrderId = stop ?? str(o.c);
    const { fill, state: plain } = executionEvents(
      o,
      'binance-futures',
      inst,
      clientOrderId,
      num(o.T) ?? num(msg.T) ?? num(msg.E) ?? this.clock.now(),
    );
    const state = stop !== undefined ? { ...plain, stop: true } : plain;
    this.fills.rememberOrder(state.venueOrderId, clientOrderId);
    this.fills.activeSymbols.add(inst.symbol);
    if (fill) this.fills.emitFill(fill);
    this.emit({ type: 'order', state });
  }

  /** Our fills of `symbol` from `sinceTs` on, from `GET /fapi/v1/userTrades` (not emitted). */
  async fillsSince(symbol: string, sinceTs: number): Promise<Fill[]> {
    const inst = this.findInstrument(symbol);
    if (!inst) return [];
    return this.fills.fillsSince(inst, sinceTs);
  }

  /** Resolves when no gap recovery is running (for tests and orderly shutdown). */
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

  private badMessage(source: 'user-stream' | 'ws-api', error: string): void {
    this.counters.badMessages++;
    this.diag({ type: 'bad-message', source, error });
  }

  private diag(d: TradingDiagnostic): void {
    try {
      this.opts.onDiagnostic?.(d);
    } catch {
      // Logging must not break trading.
    }
  }
}
