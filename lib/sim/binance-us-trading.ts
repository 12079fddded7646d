/**
 * The simulator's Binance.US spot PRIVATE API (VENUES.md §2, signing and codes as §1.5–1.10),
 * served under /binance-us by the exchange simulator, with our orders matched by the
 * MatchingEngine (./matching.ts) against the synthetic book and booked into spot balances
 * (./accounts.ts: position = balance, no shorting).
 *
 * REST (under /binance-us):
 *   POST   /api/v3/order            TRADE      MARKET, LIMIT (GTC|IOC), LIMIT_MAKER (post-only),
 *                                              STOP_LOSS (stopPrice; a market order once triggered),
 *                                              STOP_LOSS_LIMIT (price, stopPrice, timeInForce GTC)
 *   DELETE /api/v3/order            TRADE      by orderId or origClientOrderId; newClientOrderId
 *                                              names the cancel (`C` in executionReport = original)
 *   GET    /api/v3/order            USER_DATA  -2013 "Order does not exist."
 *   GET    /api/v3/openOrders       USER_DATA
 *   DELETE /api/v3/openOrders       TRADE      cancel all of a symbol; -2011 when none is open [MEM]
 *   GET    /api/v3/account          USER_DATA  balances {asset, free, locked}
 *   GET    /api/v3/myTrades         USER_DATA  (symbol, orderId, startTime, endTime, fromId, limit)
 *   POST|PUT|DELETE /api/v3/userDataStream  USER_STREAM (API key only; PUT/DELETE take listenKey)
 *   GET    /api/v3/time is served by the exchange simulator itself.
 * WebSocket: /ws/<listenKey> — `executionReport` for every order change and fill, in order, then
 * `outboundAccountPosition` (base and quote) after every change that moved a balance or a lock.
 *
 * Checked as the venue does: unknown API key → -2015; bad signature → -1022; timestamp rule →
 * -1021; LIMIT_MAKER that would take → -2010 "Order would immediately match and take."; a SELL
 * without free base (or a BUY without free quote) → -2010 "Account has insufficient balance for
 * requested action."; filter failures → -1013; a client id already OPEN → -2010 "Duplicate order
 * sent." (spot answers -2010, not futures' -4116).
 *
 * Stop orders (research-stops.md §2): STOP_LOSS / STOP_LOSS_LIMIT are the matching engine's
 * stop-market / stop-limit, triggered when the book reaches `stopPrice` (./matching.ts "Stop
 * orders"). One order throughout, as on Binance spot: the same orderId and clientOrderId before and
 * after the trigger, `type` stays STOP_LOSS*, `stopPrice` / `P` carry the trigger. Untriggered: status
 * NEW, isWorking / `w` false, workingTime -1, listed by openOrders, cancelled by DELETE order /
 * openOrders, and a SELL stop holds its base (a plain sell of the same base is refused -2010). On the
 * trigger an executionReport x=NEW with `w` true is pushed, then the fills [ASSUMED: the Binance.US
 * doc does not say what the trigger emits, research-stops.md §2]. A stop the market has already
 * reached → -2010 "Stop price would trigger immediately."; stopPrice missing → -1102; off the tick
 * grid → -1013 (as a price); stopPrice on another type → -1106; STOP_LOSS_LIMIT other than GTC →
 * -1115 (Binance also takes IOC/FOK there: not simulated). trailingDelta, TAKE_PROFIT* and OCO are
 * not simulated.
 *
 * Faults (`faults`, the same class as the USD-M module): unknownAfterPlace (placed, then 503
 * "Unknown error…"), silentAfterPlace (placed, never answered), rejectOrder, timestampReject.
 * Connection faults: dropUserStreams(), expireListenKeys().
 *
 * Accounts: default one account, key "sim-key", secret "sim-secret" (LOCAL-ONLY test credential),
 * ledger account "sim". Fees are charged in the quote asset (the ledger's simplification; real
 * Binance.US charges a buy's commission in the received base asset unless BNB pays).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { L2Book } from '#core/book.ts';
import { fromSteps } from '#core/grid.ts';
import { Money } from '#core/money.ts';
import { isStopType } from '#core/trading.ts';
import { verifyBinanceRequest } from '#venues/binance/signing.ts';
import type { SimAccountsConfig } from './accounts.ts';
import type { ApiError, BinanceTradingHost, SimApiAccount } from './binance-trading.ts';
import {
  ApiFailure,
  BINANCE_ERR,
  BinanceTradingFaults,
  checkBinanceTiming,
  CLIENT_ID,
  mandatory,
  rejectFailure,
  required,
  SIM_API_KEY,
  SIM_API_SECRET,
} from './binance-trading.ts';
import type { MatchingEngine, SimFill, SimInstrumentSpec, SimOrder, SimOrderRequest } from './matching.ts';
import { parseOrderAmounts } from './matching.ts';
import type { Send } from './trading-common.ts';
import {
  accountRegistry,
  deliverText,
  FillLog,
  header,
  ListenKeyStreams,
  logBounded,
  readBody,
  tradingEngine,
} from './trading-common.ts';

const VENUE = 'binance-us' as const;

export interface BinanceUsTradingSimOptions {
  /** Default: one account, SIM_API_KEY / SIM_API_SECRET, ledger account "sim". */
  readonly accounts?: readonly SimApiAccount[];
  /** Spot balances (default 100,000 USDT and 2 BTC). */
  readonly ledger?: SimAccountsConfig;
  /** listenKey validity after creation or the last keepalive (default 60 min). */
  readonly listenKeyValidityMs?: number;
  /** Fee rates (default 0.1 % / 0.1 %). */
  readonly makerFee?: string;
  readonly takerFee?: string;
}

const ERR = {
  ...BINANCE_ERR,
  cancelUnknown: { status: 400, code: -2011, msg: 'Unknown order sent.' },
  badSymbol: { status: 400, code: -1121, msg: 'Invalid symbol.' },
} as const satisfies Record<string, ApiError>;

const SIGNED_PATHS = new Set([
  'POST /api/v3/order',
  'DELETE /api/v3/order',
  'GET /api/v3/order',
  'GET /api/v3/openOrders',
  'DELETE /api/v3/openOrders',
  'GET /api/v3/account',
  'GET /api/v3/myTrades',
]);

export class BinanceUsTradingSim {
  readonly faults = new BinanceTradingFaults();
  readonly engine: MatchingEngine;
  private readonly host: BinanceTradingHost;
  private readonly specs: Map<string, SimInstrumentSpec>;
  private readonly byKey: Map<string, { secret: string; account: string }>;
  private readonly streams: ListenKeyStreams;
  private readonly fillLog = new FillLog<SimFill>();
  /** The client id of the cancel being processed (executionReport `c` on CANCELED). */
  private cancelId: string | null = null;
  /** Stop orders: orderId → when the trigger was reached (workingTime). */
  private readonly triggeredAt = new Map<string, number>();
  /** Recent REST requests "METHOD /path" (for tests). */
  readonly requests: Array<{ what: string; ts: number }> = [];

  constructor(host: BinanceTradingHost, opts: BinanceUsTradingSimOptions = {}) {
    this.host = host;
    this.streams = new ListenKeyStreams(opts.listenKeyValidityMs ?? 60 * 60_000);
    this.byKey = accountRegistry(opts.accounts, { apiKey: SIM_API_KEY, secret: SIM_API_SECRET });
    const t = tradingEngine(VENUE, host, opts, (o, f) => this.onOrderUpdate(o, f));
    this.specs = t.specs;
    this.engine = t.engine;
  }

  /** Every fill of an account so far, in order. */
  fills(account = 'sim'): readonly SimFill[] {
    return this.fillLog.of(account);
  }

  listenKeyOf(account = 'sim'): string | undefined {
    return this.streams.liveOf(account, this.host.now())?.key;
  }

  connectionCount(): number {
    return this.streams.socketCount();
  }

  // ------------------------------------------------------------------------------ hooks

  onMarketStep(symbol: string, book: L2Book, now: number): void {
    this.engine.onBookChange(VENUE, symbol, book, now);
    this.sweepListenKeys(now);
  }

  handlesUpgrade(path: string): boolean {
    return path.startsWith('/ws/') && this.streams.has(path.slice(4));
  }

  onConnection(path: string, ws: WebSocket): void {
    ws.on('ping', (data) => {
      if (!this.host.faults.isStalled(VENUE, this.host.now())) ws.pong(data);
    });
    this.streams.attach(path.slice(4), ws, () => this.host.now());
  }

  handlesHttp(method: string, path: string): boolean {
    return SIGNED_PATHS.has(`${method} ${path}`) || path === '/api/v3/userDataStream';
  }

  onHttp(req: IncomingMessage, url: URL, path: string, send: Send): void {
    readBody(req, (body) => {
      const method = req.method ?? 'GET';
      logBounded(this.requests, { what: `${method} ${path}`, ts: this.host.now() });
      try {
        this.serveHttp(method, path, url, body, header(req, 'x-mbx-apikey'), send);
      } catch (err) {
        const e = err instanceof ApiFailure ? err.err : { status: 500, code: -1000, msg: 'Internal error.' };
        send(e.status, { code: e.code, msg: e.msg });
      }
    });
  }

  dropUserStreams(): number {
    return this.streams.dropAll();
  }

  expireListenKeys(): void {
    this.streams.expireAll(this.host.now(), (ws, text) => this.deliver(ws, text));
  }

  stop(): void {
    this.dropUserStreams();
  }

  // ------------------------------------------------------------------------------ REST

  private serveHttp(
    method: string,
    path: string,
    url: URL,
    body: string,
    apiKey: string | undefined,
    send: Send,
  ): void {
    const rawQuery = url.search.startsWith('?') ? url.search.slice(1) : url.search;
    if (path === '/api/v3/userDataStream') return this.serveListenKey(method, apiKey, rawQuery, body, send);
    const account = this.authRest(apiKey, rawQuery, body);
    const params = new URLSearchParams(body);
    for (const [k, v] of new URLSearchParams(rawQuery)) params.set(k, v);
    const p = (name: string) => params.get(name) ?? undefined;
    const now = this.host.now();
    switch (`${method} ${path}`) {
      case 'POST /api/v3/order':
        return this.placeOrder(account, p, now, send);
      case 'DELETE /api/v3/order':
        return send(200, this.cancelOrder(account, p, now));
      case 'GET /api/v3/order': {
        const symbol = this.symbolOf(p);
        const o = this.engine.order(account, VENUE, this.selectOrder(p), symbol);
        if (!o) throw new ApiFailure(ERR.noOrder);
        return send(200, this.orderJson(o));
      }
      case 'GET /api/v3/openOrders': {
        const symbol = p('symbol');
        if (symbol !== undefined && !this.specs.has(`${VENUE} ${symbol}`))
          throw new ApiFailure(ERR.badSymbol);
        return send(
          200,
          this.engine.openOrders(account, VENUE, symbol).map((o) => this.orderJson(o)),
        );
      }
      case 'DELETE /api/v3/openOrders': {
        const symbol = this.symbolOf(p);
        const open = this.engine.openOrders(account, VENUE, symbol);
        if (open.length === 0) throw new ApiFailure(ERR.cancelUnknown);
        const out: unknown[] = [];
        for (const o of open) {
          const cancelId = `sim${randomBytes(9).toString('hex')}`;
          this.cancelId = cancelId;
          try {
            const r = this.engine.cancel(account, VENUE, symbol, { orderId: o.orderId }, now);
            if (!('reject' in r)) out.push(this.cancelJson(r, cancelId));
          } finally {
            this.cancelId = null;
          }
        }
        return send(200, out);
      }
      case 'GET /api/v3/account':
        return send(200, this.accountJson(account, now));
      case 'GET /api/v3/myTrades':
        return send(200, this.myTrades(account, p));
    }
    send(404, { code: -1, msg: 'Not found' });
  }

  private authRest(apiKey: string | undefined, rawQuery: string, body: string): string {
    const acct = apiKey ? this.byKey.get(apiKey) : undefined;
    if (!acct) throw new ApiFailure(ERR.apiKey);
    if (!verifyBinanceRequest(acct.secret, rawQuery, body)) throw new ApiFailure(ERR.signature);
    const params = new URLSearchParams(body);
    for (const [k, v] of new URLSearchParams(rawQuery)) params.set(k, v);
    checkBinanceTiming(this.faults, this.host, params.get('timestamp'), params.get('recvWindow'));
    return acct.account;
  }

  private serveListenKey(
    method: string,
    apiKey: string | undefined,
    rawQuery: string,
    body: string,
    send: Send,
  ): void {
    const acct = apiKey ? this.byKey.get(apiKey) : undefined;
    if (!acct) return send(ERR.apiKey.status, { code: ERR.apiKey.code, msg: ERR.apiKey.msg });
    const now = this.host.now();
    if (method === 'POST') {
      return send(200, { listenKey: this.streams.open(acct.account, now) });
    }
    const params = new URLSearchParams(body);
    for (const [k, v] of new URLSearchParams(rawQuery)) params.set(k, v);
    const named = params.get('listenKey');
    if (!named) return send(400, mandatoryBody('listenKey'));
    const lk = this.streams.get(named);
    const live = lk && lk.account === acct.account && lk.expiresAt > now ? lk : undefined;
    if (method === 'PUT') {
      if (!live) return send(400, { code: ERR.noListenKey.code, msg: ERR.noListenKey.msg });
      this.streams.keepAlive(live, now);
      return send(200, {});
    }
    if (method === 'DELETE') {
      if (live) this.streams.close(live, now);
      return send(200, {});
    }
    send(405, { code: -1, msg: 'Method not allowed' });
  }

  private symbolOf(p: (name: string) => string | undefined): string {
    const symbol = required(p, 'symbol');
    if (!this.specs.has(`${VENUE} ${symbol}`)) throw new ApiFailure(ERR.badSymbol);
    return symbol;
  }

  private selectOrder(p: (name: string) => string | undefined): { orderId?: string; clientOrderId?: string } {
    const orderId = p('orderId');
    const clientOrderId = p('origClientOrderId');
    if (orderId === undefined && clientOrderId === undefined) throw new ApiFailure(mandatory('orderId'));
    return {
      ...(orderId !== undefined ? { orderId } : {}),
      ...(clientOrderId !== undefined ? { clientOrderId } : {}),
    };
  }

  private placeOrder(
    account: string,
    p: (name: string) => string | undefined,
    now: number,
    send: Send,
  ): void {
    const symbol = this.symbolOf(p);
    const spec = this.specs.get(`${VENUE} ${symbol}`) as SimInstrumentSpec;
    const sideText = required(p, 'side');
    if (sideText !== 'BUY' && sideText !== 'SELL')
      throw new ApiFailure({ status: 400, code: -1117, msg: 'Invalid side.' });
    const typeText = required(p, 'type');
    if (!ORDER_TYPES.has(typeText))
      throw new ApiFailure({ status: 400, code: -1116, msg: 'Invalid orderType.' });
    const stop = typeText === 'STOP_LOSS' || typeText === 'STOP_LOSS_LIMIT';
    const priced = typeText === 'LIMIT' || typeText === 'LIMIT_MAKER' || typeText === 'STOP_LOSS_LIMIT';
    const tifText = p('timeInForce');
    let tif: SimOrderRequest['timeInForce'] = 'GTC';
    if (typeText === 'LIMIT' || typeText === 'STOP_LOSS_LIMIT') {
      if (tifText === undefined) throw new ApiFailure(mandatory('timeInForce'));
      if (tifText === 'GTC' || (tifText === 'IOC' && typeText === 'LIMIT')) tif = tifText;
      else throw new ApiFailure({ status: 400, code: -1115, msg: 'Invalid timeInForce.' });
    } else if (tifText !== undefined) {
      throw new ApiFailure(notRequired('timeInForce'));
    }
    if (!stop && p('stopPrice') !== undefined) throw new ApiFailure(notRequired('stopPrice'));
    if (typeText === 'LIMIT_MAKER') tif = 'POST_ONLY';
    const clientOrderId = p('newClientOrderId') ?? `sim${randomBytes(9).toString('hex')}`;
    if (!CLIENT_ID.test(clientOrderId))
      throw new ApiFailure({
        status: 400,
        code: -1100,
        msg: "Illegal characters found in parameter 'newClientOrderId'.",
      });
    const amounts = parseOrderAmounts(
      spec,
      priced ? required(p, 'price') : p('price'),
      required(p, 'quantity'),
    );
    if ('reject' in amounts) throw rejectFailure(amounts.reject);
    // The trigger is parsed exactly as a price is (decimal text → whole ticks, off-grid refused).
    const trigger = stop ? parseOrderAmounts(spec, required(p, 'stopPrice'), required(p, 'quantity')) : null;
    if (trigger && 'reject' in trigger) throw rejectFailure(trigger.reject);
    const respType = p('newOrderRespType') ?? 'FULL';

    const fault = this.faults.takeOrder();
    if (fault?.kind === 'reject') throw new ApiFailure({ status: 400, code: fault.code, msg: fault.msg });
    const book = this.host.book(symbol);
    if (!book) throw new ApiFailure(ERR.badSymbol);
    const result = this.engine.place(
      {
        venue: VENUE,
        symbol,
        clientOrderId,
        side: sideText === 'BUY' ? 'buy' : 'sell',
        type: stop
          ? typeText === 'STOP_LOSS'
            ? 'stop-market'
            : 'stop-limit'
          : typeText === 'MARKET'
            ? 'market'
            : 'limit',
        timeInForce: tif,
        priceTicks: amounts.priceTicks,
        ...(trigger ? { triggerTicks: trigger.priceTicks } : {}),
        qtyLots: amounts.qtyLots,
        reduceOnly: false,
        account,
        ts: now,
      },
      book,
    );
    if (fault?.kind === 'silent') return; // never answered
    if (fault?.kind === 'unknown')
      return send(ERR.unknown.status, { code: ERR.unknown.code, msg: ERR.unknown.msg });
    if ('reject' in result) throw rejectFailure(result.reject);
    const o = result.order;
    if (respType === 'ACK') {
      return send(200, {
        symbol,
        orderId: Number(o.orderId),
        orderListId: -1,
        clientOrderId,
        transactTime: now,
      });
    }
    const json: Record<string, unknown> = { ...this.orderJson(o), transactTime: now };
    if (respType === 'FULL') {
      json.fills = result.fills.map((f) => ({
        price: fromSteps(f.priceTicks, spec.price),
        qty: fromSteps(f.qtyLots, spec.qty),
        commission: f.fee,
        commissionAsset: f.feeAsset,
        tradeId: Number(f.tradeId),
      }));
    }
    send(200, json);
  }

  private cancelOrder(account: string, p: (name: string) => string | undefined, now: number): unknown {
    const symbol = this.symbolOf(p);
    const cancelId = p('newClientOrderId') ?? `sim${randomBytes(9).toString('hex')}`;
    this.cancelId = cancelId;
    try {
      const r = this.engine.cancel(account, VENUE, symbol, this.selectOrder(p), now);
      if ('reject' in r) throw rejectFailure(r.reject);
      return this.cancelJson(r, cancelId);
    } finally {
      this.cancelId = null;
    }
  }

  private myTrades(account: string, p: (name: string) => string | undefined): unknown {
    const symbol = this.symbolOf(p);
    const spec = this.specs.get(`${VENUE} ${symbol}`) as SimInstrumentSpec;
    const orderId = p('orderId');
    const start = p('startTime');
    const end = p('endTime');
    const fromId = p('fromId');
    const limit = Math.min(1000, Math.max(1, Number(p('limit') ?? 500) || 500));
    let list = this.fills(account).filter((f) => f.symbol === symbol);
    if (orderId !== undefined) list = list.filter((f) => f.orderId === orderId);
    if (fromId !== undefined) list = list.filter((f) => Number(f.tradeId) >= Number(fromId));
    if (start !== undefined) list = list.filter((f) => f.ts >= Number(start));
    if (end !== undefined) list = list.filter((f) => f.ts <= Number(end));
    return list.slice(0, limit).map((f) => ({
      symbol: f.symbol,
      id: Number(f.tradeId),
      orderId: Number(f.orderId),
      orderListId: -1,
      price: fromSteps(f.priceTicks, spec.price),
      qty: fromSteps(f.qtyLots, spec.qty),
      quoteQty: f.notional,
      commission: f.fee,
      commissionAsset: f.feeAsset,
      time: f.ts,
      isBuyer: f.side === 'buy',
      isMaker: f.liquidity === 'maker',
      isBestMatch: true,
    }));
  }

  private accountJson(account: string, now: number): unknown {
    const fee = (rate: string) => new Money(rate).times(10_000).toNumber();
    const anySpec = [...this.specs.values()][0];
    return {
      makerCommission: anySpec ? fee(anySpec.makerFee) : 10,
      takerCommission: anySpec ? fee(anySpec.takerFee) : 10,
      buyerCommission: 0,
      sellerCommission: 0,
      canTrade: true,
      canWithdraw: true,
      canDeposit: true,
      updateTime: now,
      accountType: 'SPOT',
      balances: this.engine.balances(account, VENUE).map((b) => ({
        asset: b.asset,
        free: b.free.toFixed(8),
        locked: b.locked.toFixed(8),
      })),
      permissions: ['SPOT'],
    };
  }

  /** Binance spot's order object (GET /api/v3/order, openOrders, the RESULT answer). */
  private orderJson(o: SimOrder): Record<string, unknown> {
    const spec = this.specs.get(`${VENUE} ${o.request.symbol}`) as SimInstrumentSpec;
    const r = o.request;
    return {
      symbol: r.symbol,
      orderId: Number(o.orderId),
      orderListId: -1,
      clientOrderId: r.clientOrderId,
      price: r.priceTicks === undefined ? '0.00000000' : fromSteps(r.priceTicks, spec.price),
      origQty: fromSteps(r.qtyLots, spec.qty),
      executedQty: fromSteps(o.filledLots, spec.qty),
      cummulativeQuoteQty: o.cumNotional,
      status: o.status,
      timeInForce: tifText(r),
      type: typeName(r),
      side: r.side === 'buy' ? 'BUY' : 'SELL',
      stopPrice: stopPriceText(r, spec),
      icebergQty: '0.00000000',
      time: o.createdTs,
      updateTime: o.updatedTs,
      isWorking: o.triggered && (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED'),
      workingTime: o.triggered ? (this.triggeredAt.get(o.orderId) ?? o.createdTs) : -1,
      origQuoteOrderQty: '0.00000000',
      selfTradePreventionMode: 'NONE',
    };
  }

  /** The answer to a cancel: `clientOrderId` names the cancel, `origClientOrderId` the order. */
  private cancelJson(o: SimOrder, cancelId: string): Record<string, unknown> {
    const j = this.orderJson(o);
    return {
      symbol: j.symbol,
      origClientOrderId: o.request.clientOrderId,
      orderId: j.orderId,
      orderListId: -1,
      clientOrderId: cancelId,
      transactTime: o.updatedTs,
      price: j.price,
      origQty: j.origQty,
      executedQty: j.executedQty,
      cummulativeQuoteQty: j.cummulativeQuoteQty,
      status: j.status,
      timeInForce: j.timeInForce,
      type: j.type,
      side: j.side,
      selfTradePreventionMode: 'NONE',
    };
  }

  // ------------------------------------------------------------------------------ user data stream

  private onOrderUpdate(o: SimOrder, f: SimFill | null): void {
    const r = o.request;
    if (r.venue !== VENUE) return;
    const spec = this.specs.get(`${VENUE} ${r.symbol}`) as SimInstrumentSpec;
    const now = this.host.now();
    if (f) {
      this.fillLog.record(r.account, f);
    }
    // A stop's trigger (the engine reports the order, still NEW, now triggered): its workingTime.
    if (isStopType(r.type) && o.triggered && !this.triggeredAt.has(o.orderId))
      this.triggeredAt.set(o.orderId, now);
    const x = f ? 'TRADE' : o.status === 'NEW' ? 'NEW' : o.status === 'CANCELED' ? 'CANCELED' : 'EXPIRED';
    const canceled = x === 'CANCELED';
    const cancelId = canceled ? (this.cancelId ?? `sim${randomBytes(9).toString('hex')}`) : '';
    const lastQuote = f ? f.notional : '0.00000000';
    const report = {
      e: 'executionReport',
      E: now,
      s: r.symbol,
      c: canceled ? cancelId : r.clientOrderId,
      S: r.side === 'buy' ? 'BUY' : 'SELL',
      o: typeName(r),
      f: tifText(r),
      q: fromSteps(r.qtyLots, spec.qty),
      p: r.priceTicks === undefined ? '0.00000000' : fromSteps(r.priceTicks, spec.price),
      P: stopPriceText(r, spec),
      F: '0.00000000',
      g: -1,
      C: canceled ? r.clientOrderId : '',
      x,
      X: o.status,
      r: 'NONE',
      i: Number(o.orderId),
      l: f ? fromSteps(f.qtyLots, spec.qty) : '0.00000000',
      z: fromSteps(o.filledLots, spec.qty),
      L: f ? fromSteps(f.priceTicks, spec.price) : '0.00000000',
      n: f ? f.fee : '0',
      N: f ? f.feeAsset : null,
      T: f ? f.ts : o.updatedTs,
      t: f ? Number(f.tradeId) : -1,
      I: 0,
      w: o.triggered && (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED'),
      m: f ? f.liquidity === 'maker' : false,
      M: false,
      O: o.createdTs,
      Z: o.cumNotional,
      Y: lastQuote,
      Q: '0.00000000',
    };
    this.push(r.account, JSON.stringify(report));
    const balances = [spec.base, spec.quote].map((asset) => {
      const b = this.engine.accounts.balance(r.account, VENUE, asset);
      return { a: asset, f: b.free.toFixed(8), l: b.locked.toFixed(8) };
    });
    this.push(r.account, JSON.stringify({ e: 'outboundAccountPosition', E: now, u: now, B: balances }));
  }

  private push(account: string, text: string): void {
    this.streams.push(account, this.host.now(), text, (ws, t) => this.deliver(ws, t));
  }

  private deliver(ws: WebSocket, text: string): void {
    deliverText(this.host, VENUE, ws, text);
  }

  private sweepListenKeys(now: number): void {
    this.streams.sweep(now, (ws, text) => this.deliver(ws, text));
  }
}

const ORDER_TYPES = new Set(['MARKET', 'LIMIT', 'LIMIT_MAKER', 'STOP_LOSS', 'STOP_LOSS_LIMIT']);

function typeName(r: SimOrderRequest): string {
  if (r.type === 'market') return 'MARKET';
  if (r.type === 'stop-market') return 'STOP_LOSS';
  if (r.type === 'stop-limit') return 'STOP_LOSS_LIMIT';
  return r.timeInForce === 'POST_ONLY' ? 'LIMIT_MAKER' : 'LIMIT';
}

function tifText(r: SimOrderRequest): string {
  return r.type === 'market' || r.type === 'stop-market' || r.timeInForce === 'POST_ONLY'
    ? 'GTC'
    : r.timeInForce;
}

/** `stopPrice` / `P`: the trigger as decimal text on the price grid; zero for other types. */
function stopPriceText(r: SimOrderRequest, spec: SimInstrumentSpec): string {
  return r.triggerTicks === undefined ? '0.00000000' : fromSteps(r.triggerTicks, spec.price);
}

function notRequired(name: string): ApiError {
  return { status: 400, code: -1106, msg: `Parameter '${name}' sent when not required.` };
}

function mandatoryBody(name: string): { code: number; msg: string } {
  const e = mandatory(name);
  return { code: e.code, msg: e.msg };
}
