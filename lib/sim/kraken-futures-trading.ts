/**
 * The simulator's Kraken Futures PRIVATE API (VENUES.md §4), speaking the venue's protocol over the
 * exchange simulator's HTTP + WS server, with our orders matched by the MatchingEngine
 * (./matching.ts; its Kraken Futures codes are the documented sendStatus values).
 *
 * REST (under /kraken-futures/derivatives/api/v3, every call signed):
 *   POST sendorder              orderType lmt|post|ioc|mkt|stp, symbol, side, size, limitPrice,
 *                               stopPrice, triggerSignal, cliOrdId, reduceOnly → {"result":"success",
 *                               "serverTime","sendStatus":{"order_id","status","receivedTime",
 *                               "cli_ord_id","orderEvents":[PLACE, EXECUTION…]}}. Stops: see below.
 *                               A rejected order is STILL `result:"success"` with sendStatus.status the
 *                               reason (postWouldExecute, iocWouldNotExecute, wouldNotReducePosition,
 *                               insufficientAvailableFunds, invalidSize, invalidPrice, …) [DOC FR].
 *   POST cancelorder            order_id or cliOrdId → cancelStatus {status cancelled|notFound, …}
 *   POST cancelallorders        optional symbol → cancelStatus {status cancelled|noOrdersToCancel,
 *                               cancelledOrders[{order_id, cliOrdId}], cancelOnly}
 *   POST cancelallordersafter   timeout (s, 0 = off) → {"status":{"currentTime","triggerTime"}}; when
 *                               it fires every open order of the account is cancelled (reason
 *                               dead_man_switch on the open_orders feed).
 *   GET  openorders             {"openOrders":[{order_id, cliOrdId, symbol, side, orderType, limitPrice,
 *                               unfilledSize, filledSize, receivedTime, lastUpdateTime, status, reduceOnly}]}
 *                               (an untriggered stop: orderType "stp", stopPrice, triggerSignal)
 *   GET  openpositions          {"openPositions":[{side long|short, symbol, price, fillTime, size,
 *                               unrealizedFunding}]}
 *   GET  fills                  {"fills":[{fill_id, symbol, side, order_id, cliOrdId, size, price,
 *                               fillTime, fillType maker|taker}]} (optional lastFillTime: fills before it)
 *   GET  accounts               {"accounts":{"flex":{…}}} (a minimal multi-collateral shape)
 * Authentication: `APIKey`, `Authent`, `Nonce` headers; Authent verified with verifyKrakenFutures over
 * postData (the query string, or the form body when the query is empty) + Nonce + the path without
 * `/derivatives`. Unknown key or bad Authent → {"result":"error","error":"authenticationError"}; a nonce
 * already used → "nonceDuplicate"; one far below the highest seen → "nonceBelowThreshold" (out-of-order
 * nonces inside a 10 s window are tolerated, as the venue says it briefly does). Errors answer HTTP 200
 * with `result:"error"` [MEM: the HTTP status of Kraken Futures error answers is not verified].
 *
 * Numbers: prices, sizes and fees are JSON numbers written from exact decimal text (JSON.rawJSON).
 *
 * WebSocket (/kraken-futures/ws/v1, shared with the public feeds; exchange-sim.ts forwards messages):
 *   {"event":"challenge","api_key"} → {"event":"challenge","message":"<uuid>"}; then
 *   {"event":"subscribe","feed":"open_orders"|"fills","api_key","original_challenge","signed_challenge"}
 *   → {"event":"subscribed","feed":…}, a snapshot (open_orders_snapshot / fills_snapshot, the last 100
 *   fills), then deltas:
 *   open_orders  {"feed":"open_orders","order":{instrument,time,last_update_time,qty,filled,limit_price,
 *                stop_price,type,order_id,cli_ord_id,direction 0 buy|1 sell,reduce_only},"is_cancel":false,
 *                "reason":"new_placed_order_by_user"|"partial_fill"} or {"feed":"open_orders","order_id",
 *                "cli_ord_id","is_cancel":true,"reason":"full_fill"|"cancelled_by_user"|"dead_man_switch"|…}.
 *                Only resting orders (lmt, post, untriggered stops) appear; mkt/ioc orders never
 *                rest [MEM]. An untriggered stop has type "stop", stop_price and triggerSignal [DOC
 *                https://docs.kraken.com/api/docs/futures-api/websocket/open_orders: "type … limit,
 *                take_profit, or stop", "stop_price", "triggerSignal"].
 *   fills        {"feed":"fills","username","fills":[{instrument,time,price,seq,buy,qty,remaining_order_qty,
 *                order_id,cli_ord_id,fill_id,fill_type maker|taker,fee_paid,fee_currency,order_type}]}
 *                fee_paid positive = paid, negative = rebate.
 *   [DOC FW] for the challenge flow and the subscribe fields; [MEM] for the reply field names and the
 *   delta shapes, which were not read in full.
 *
 * Stop orders (/work/research-stops.md §4):
 * - [DOC https://docs.kraken.com/api-reference/order-management/send-order] `orderType=stp` needs
 *   `stopPrice`; "If no limitPrice is provided the stp … order will trigger a market order": stp
 *   without limitPrice is a stop-market, with it a stop-limit. `triggerSignal` mark | index | last
 *   [DOC schema enum] is accepted and echoed, but this simulator triggers on its book touch for all
 *   three (a sell stop when the best bid reaches the trigger; see matching.ts). Its default when
 *   absent is UNCONFIRMED; the simulator records "last".
 * - A stop whose trigger the market has already reached triggers at once (matching.ts, [GUESS]).
 * - [UNCONFIRMED] sendStatus of an untriggered stop: one PLACE event whose payload is `orderTrigger`
 *   {uid, clientId, type "stop", symbol, side, quantity, limitPrice (null = market), triggerPrice,
 *   triggerSide trigger_above|trigger_below, triggerSignal mark_price|index_price|last_price,
 *   reduceOnly, timestamp, lastUpdateTimestamp} instead of `order`. A stop that triggered at once
 *   reports PLACE with the `order` it became (type mkt or lmt) and its EXECUTIONs.
 * - [UNCONFIRMED] open_orders on a trigger: a stop-limit is re-sent as a limit order with the same
 *   order_id / cli_ord_id (reason "limit_order_from_stop" [MEM]); a stop-market sends nothing until
 *   it ends (full_fill, …). Fills of a triggered stop carry its order_id and cli_ord_id.
 * - cancelorder, cancelallorders and the dead man's switch cancel untriggered stops too [DOC
 *   https://docs.kraken.com/api-reference/order-management/dead-mans-switch: "cancel all user
 *   orders"].
 *
 * Faults (`faults`), consumed by the next sendorder:
 * - `dropAfterPlace()`: place it, then destroy the connection without an answer (unknown outcome).
 * - `silentAfterPlace()`: place it and never answer (the client times out).
 * - `unavailable()`: answer 503 without placing it.
 * - `rejectOrder(status)`: answer success with that sendStatus.status, unplaced.
 *
 * Accounts: key KRAKEN_FUTURES_SIM_API_KEY with secret KRAKEN_FUTURES_SIM_API_SECRET, ledger "sim":
 * a LOCAL-ONLY TEST CREDENTIAL that means nothing anywhere else.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { L2Book } from '#core/book.ts';
import { fromSteps } from '#core/grid.ts';
import { isStopType } from '#core/trading.ts';
import { verifyChallenge, verifyKrakenFutures } from '#venues/kraken-futures/signing.ts';
import type { SimAccountsConfig } from './accounts.ts';
import type { MatchingEngine, SimFill, SimInstrumentSpec, SimOrder } from './matching.ts';
import { parseOrderAmounts } from './matching.ts';
import type { Send, SimCredential, TradingHost } from './trading-common.ts';
import {
  accountRegistry,
  deliverText,
  FillLog,
  header,
  logBounded,
  OrderFaults,
  readBody,
  tradingEngine,
} from './trading-common.ts';

const VENUE = 'kraken-futures' as const;
const API = '/derivatives/api/v3/';

/** Local-only test credential of the default simulator account. Not a real key. */
export const KRAKEN_FUTURES_SIM_API_KEY = 'sim-kf-key';
export const KRAKEN_FUTURES_SIM_API_SECRET = Buffer.from(
  'tradewind simulator kraken futures local-only test secret',
).toString('base64');

/** The secret is base64, as Kraken issues them. */
export type KrakenFuturesSimAccount = SimCredential;

export interface KrakenFuturesTradingSimOptions {
  readonly accounts?: readonly KrakenFuturesSimAccount[];
  readonly ledger?: SimAccountsConfig;
  readonly makerFee?: string;
  readonly takerFee?: string;
  /** Out-of-order nonces are accepted within this many ms of the highest seen. @default 10000 */
  readonly nonceWindowMs?: number;
}

export type KrakenFuturesTradingHost = TradingHost;

/** dropAfterPlace, silentAfterPlace, unavailable, rejectOrder(status) (see the module comment). */
export class KrakenFuturesTradingFaults extends OrderFaults<
  | { readonly kind: 'drop' }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'reject'; readonly status: string }
> {
  dropAfterPlace(count = 1): void {
    this.enqueue({ kind: 'drop' }, count);
  }
  unavailable(count = 1): void {
    this.enqueue({ kind: 'unavailable' }, count);
  }
  rejectOrder(status: string, count = 1): void {
    this.enqueue({ kind: 'reject', status }, count);
  }
}

export interface KrakenFuturesRecordedFill extends SimFill {
  readonly seq: number;
}

const ENDPOINTS = new Set([
  'POST sendorder',
  'POST cancelorder',
  'POST cancelallorders',
  'POST cancelallordersafter',
  'GET openorders',
  'GET openpositions',
  'GET fills',
  'GET accounts',
]);

const rawJSON = (text: string): unknown =>
  (JSON as unknown as { rawJSON(this: void, text: string): unknown }).rawJSON(text);
/** A JSON number written from exact decimal text. */
const num = (text: string): unknown => rawJSON(text);
const iso = (ms: number) => new Date(ms).toISOString();
/** sendorder `triggerSignal` values [DOC schema enum]. */
const TRIGGER_SIGNALS = new Set(['mark', 'index', 'last']);

class ApiError extends Error {}

interface PrivateSocket {
  readonly ws: WebSocket;
  challenge?: { readonly apiKey: string; readonly message: string };
  account?: string;
  readonly feeds: Set<string>;
}

export class KrakenFuturesTradingSim {
  readonly faults = new KrakenFuturesTradingFaults();
  readonly engine: MatchingEngine;
  /** Requests seen (method + endpoint), for tests. */
  readonly requests: Array<{ what: string; ts: number; nonce: string | undefined }> = [];
  private readonly host: KrakenFuturesTradingHost;
  private readonly specs: Map<string, SimInstrumentSpec>;
  private readonly byKey: Map<string, { secret: string; account: string }>;
  private readonly nonces = new Map<string, { max: bigint; recent: Set<string> }>();
  private readonly nonceWindow: bigint;
  private readonly sockets = new Map<WebSocket, PrivateSocket>();
  private readonly fillLog = new FillLog<KrakenFuturesRecordedFill>();
  private readonly dms = new Map<string, { timer: ReturnType<typeof setTimeout>; triggerAt: number }>();
  /** Accounts whose cancels right now come from the dead man's switch. */
  private dmsFiring = false;
  private fillSeq = 0;
  /** Dead man's switch firings, per account (for tests). */
  readonly dmsFired = new Map<string, number>();
  /** triggerSignal of each stop, by order id (the last 10,000). */
  private readonly signals = new Map<string, string>();
  /** The triggerSignal of the sendorder being placed (the engine reports the order inside place()). */
  private placingSignal: string | undefined;

  constructor(host: KrakenFuturesTradingHost, opts: KrakenFuturesTradingSimOptions = {}) {
    this.host = host;
    this.nonceWindow = BigInt(opts.nonceWindowMs ?? 10_000) * 1000n;
    this.byKey = accountRegistry(opts.accounts, {
      apiKey: KRAKEN_FUTURES_SIM_API_KEY,
      secret: KRAKEN_FUTURES_SIM_API_SECRET,
    });
    const t = tradingEngine(VENUE, host, opts, (o, f) => this.onOrderUpdate(o, f));
    this.specs = t.specs;
    this.engine = t.engine;
  }

  fills(account = 'sim'): readonly KrakenFuturesRecordedFill[] {
    return this.fillLog.of(account);
  }

  /** Whether the account's dead man's switch is armed, and when it fires. */
  dmsTrigger(account = 'sim'): number | undefined {
    return this.dms.get(account)?.triggerAt;
  }

  /** The triggerSignal a stop was placed with (for tests). */
  triggerSignalOf(orderId: string): string | undefined {
    return this.signals.get(orderId);
  }

  privateConnections(): number {
    let n = 0;
    for (const s of this.sockets.values()) if (s.feeds.size > 0) n++;
    return n;
  }

  // ------------------------------------------------------------------------------ hooks

  onMarketStep(symbol: string, book: L2Book, now: number): void {
    this.engine.onBookChange(VENUE, symbol, book, now);
  }

  handlesHttp(method: string, path: string): boolean {
    return path.startsWith(API) && ENDPOINTS.has(`${method} ${path.slice(API.length)}`);
  }

  onHttp(req: IncomingMessage, url: URL, path: string, send: Send): void {
    readBody(req, (body) => {
      const method = req.method ?? 'GET';
      const endpoint = path.slice(API.length);
      const nonce = header(req, 'nonce');
      logBounded(this.requests, { what: `${method} ${endpoint}`, ts: this.host.now(), nonce });
      const reply = (status: number, json: unknown) => send(status, JSON.stringify(json));
      const now = this.host.now();
      try {
        const rawQuery = url.search.startsWith('?') ? url.search.slice(1) : url.search;
        const postData = rawQuery !== '' ? rawQuery : body;
        const account = this.auth(header(req, 'apikey'), header(req, 'authent'), nonce, path, postData);
        const params = new URLSearchParams(postData);
        const p = (name: string) => params.get(name) ?? undefined;
        switch (endpoint) {
          case 'sendorder':
            return this.sendOrder(account, p, now, req, reply);
          case 'cancelorder':
            return reply(200, this.ok(now, { cancelStatus: this.cancelOrder(account, p, now) }));
          case 'cancelallorders':
            return reply(200, this.ok(now, { cancelStatus: this.cancelAll(account, p('symbol'), now) }));
          case 'cancelallordersafter':
            return reply(200, this.ok(now, { status: this.armDms(account, p('timeout'), now) }));
          case 'openorders':
            return reply(200, this.ok(now, { openOrders: this.openOrders(account) }));
          case 'openpositions':
            return reply(200, this.ok(now, { openPositions: this.openPositions(account, now) }));
          case 'fills':
            return reply(200, this.ok(now, { fills: this.fillsJson(account, p('lastFillTime')) }));
          case 'accounts':
            return reply(200, this.ok(now, { accounts: this.accountsJson(account) }));
        }
      } catch (err) {
        const error = err instanceof ApiError ? err.message : 'internalServerError';
        reply(200, { result: 'error', serverTime: iso(now), error });
      }
    });
  }

  /** A message on a Kraken Futures WS session; true when it was ours (challenge, private feed). */
  onWsMessage(ws: WebSocket, msg: Record<string, unknown>): boolean {
    const event = msg.event;
    const feed = typeof msg.feed === 'string' ? msg.feed : '';
    const isPrivate = feed === 'open_orders' || feed === 'fills';
    if (event !== 'challenge' && !((event === 'subscribe' || event === 'unsubscribe') && isPrivate)) {
      return false;
    }
    let s = this.sockets.get(ws);
    if (!s) {
      const state: PrivateSocket = { ws, feeds: new Set() };
      this.sockets.set(ws, state);
      const gone = () => this.sockets.delete(ws);
      ws.on('close', gone);
      ws.on('error', gone);
      s = state;
    }
    const apiKey = typeof msg.api_key === 'string' ? msg.api_key : '';
    if (event === 'challenge') {
      if (!this.byKey.has(apiKey)) {
        this.deliver(ws, { event: 'error', message: 'Invalid API key' });
        return true;
      }
      s.challenge = { apiKey, message: randomUUID() };
      this.deliver(ws, { event: 'challenge', message: s.challenge.message });
      return true;
    }
    const acct = this.byKey.get(apiKey);
    const original = typeof msg.original_challenge === 'string' ? msg.original_challenge : '';
    const signed = typeof msg.signed_challenge === 'string' ? msg.signed_challenge : '';
    if (
      !acct ||
      !s.challenge ||
      s.challenge.apiKey !== apiKey ||
      s.challenge.message !== original ||
      !verifyChallenge(acct.secret, original, signed)
    ) {
      this.deliver(ws, { event: 'error', message: 'Invalid challenge' });
      return true;
    }
    s.account = acct.account;
    if (event === 'unsubscribe') {
      s.feeds.delete(feed);
      this.deliver(ws, { event: 'unsubscribed', feed });
      return true;
    }
    s.feeds.add(feed);
    this.deliver(ws, { event: 'subscribed', feed });
    if (feed === 'fills') {
      this.deliver(ws, {
        feed: 'fills_snapshot',
        account: acct.account,
        fills: this.fills(acct.account)
          .slice(-100)
          .map((f) => this.wsFill(f)),
      });
    } else {
      this.deliver(ws, {
        feed: 'open_orders_snapshot',
        account: acct.account,
        orders: this.engine.openOrders(acct.account, VENUE).map((o) => this.wsOrder(o)),
      });
    }
    return true;
  }

  stop(): void {
    for (const d of this.dms.values()) clearTimeout(d.timer);
    this.dms.clear();
    for (const s of this.sockets.values()) s.ws.terminate();
    this.sockets.clear();
  }

  // ------------------------------------------------------------------------------ REST

  private ok(now: number, fields: Record<string, unknown>): unknown {
    return { result: 'success', ...fields, serverTime: iso(now) };
  }

  private auth(
    apiKey: string | undefined,
    authent: string | undefined,
    nonce: string | undefined,
    path: string,
    postData: string,
  ): string {
    const acct = apiKey ? this.byKey.get(apiKey) : undefined;
    if (!acct || !authent) throw new ApiError('authenticationError');
    let good = false;
    try {
      good = verifyKrakenFutures(acct.secret, path, nonce, postData, authent);
    } catch {
      good = false;
    }
    if (!good) throw new ApiError('authenticationError');
    if (nonce !== undefined && nonce !== '') {
      const n = BigInt(nonce);
      let st = this.nonces.get(apiKey as string);
      if (!st) this.nonces.set(apiKey as string, (st = { max: -1n, recent: new Set() }));
      if (st.recent.has(nonce)) throw new ApiError('nonceDuplicate');
      if (n < st.max - this.nonceWindow) throw new ApiError('nonceBelowThreshold');
      st.recent.add(nonce);
      if (st.recent.size > 1000) st.recent.delete(st.recent.values().next().value as string);
      if (n > st.max) st.max = n;
    }
    return acct.account;
  }

  private sendOrder(
    account: string,
    p: (name: string) => string | undefined,
    now: number,
    req: IncomingMessage,
    reply: (status: number, json: unknown) => void,
  ): void {
    const orderType = p('orderType');
    const symbolRaw = p('symbol');
    const side = p('side');
    const size = p('size');
    if (!orderType || !symbolRaw || !side || !size) throw new ApiError('requiredArgumentMissing');
    const cliOrdId = p('cliOrdId');
    const receivedTime = iso(now);
    const rejected = (status: string) =>
      reply(
        200,
        this.ok(now, {
          sendStatus: {
            status,
            receivedTime,
            ...(cliOrdId !== undefined ? { cli_ord_id: cliOrdId } : {}),
            orderEvents: [],
          },
        }),
      );
    if (cliOrdId !== undefined && (cliOrdId.length === 0 || cliOrdId.length > 100))
      return rejected('clientOrderIdTooLong');
    if (side !== 'buy' && side !== 'sell') throw new ApiError('invalidArgument: side');
    if (!['lmt', 'post', 'ioc', 'mkt', 'stp'].includes(orderType)) return rejected('invalidOrderType');
    const stop = orderType === 'stp';
    const triggerSignal = stop ? (p('triggerSignal') ?? 'last') : undefined;
    if (triggerSignal !== undefined && !TRIGGER_SIGNALS.has(triggerSignal))
      throw new ApiError('invalidArgument: triggerSignal');
    const symbol = symbolRaw.toUpperCase();
    const spec = this.specs.get(`${VENUE} ${symbol}`);
    if (!spec) return rejected('marketInactive');
    const fault = this.faults.takeOrder();
    if (fault?.kind === 'unavailable') {
      reply(503, { result: 'error', serverTime: receivedTime, error: 'Service Unavailable' });
      return;
    }
    if (fault?.kind === 'reject') return rejected(fault.status);
    const market = orderType === 'mkt';
    const limitPrice = p('limitPrice');
    if (!market && !stop && limitPrice === undefined) return rejected('invalidPrice');
    const amounts = parseOrderAmounts(spec, market ? undefined : limitPrice, size);
    if ('reject' in amounts) return rejected(amounts.reject.code);
    // A missing stopPrice reaches the engine as no trigger: invalidPrice, as for a missing limit.
    const stopPrice = stop ? p('stopPrice') : undefined;
    const trigger = stopPrice === undefined ? undefined : parseOrderAmounts(spec, stopPrice, size);
    if (trigger && 'reject' in trigger) return rejected(trigger.reject.code);
    const book = this.host.book(symbol);
    if (!book) return rejected('marketInactive');
    this.placingSignal = triggerSignal;
    let result;
    try {
      result = this.engine.place(
        {
          venue: VENUE,
          symbol,
          clientOrderId: cliOrdId ?? '',
          side,
          type: market
            ? 'market'
            : stop
              ? limitPrice === undefined
                ? 'stop-market'
                : 'stop-limit'
              : 'limit',
          timeInForce: orderType === 'post' ? 'POST_ONLY' : orderType === 'ioc' ? 'IOC' : 'GTC',
          priceTicks: amounts.priceTicks,
          triggerTicks: trigger?.priceTicks,
          qtyLots: amounts.qtyLots,
          reduceOnly: p('reduceOnly') === 'true',
          account,
          ts: now,
        },
        book,
      );
    } finally {
      this.placingSignal = undefined;
    }
    if ('reject' in result) return rejected(result.reject.code);
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'silent') return;
    const o = result.order;
    // An untriggered stop is a trigger, not yet an order [UNCONFIRMED shape, see the module comment].
    const events: unknown[] = [
      o.triggered
        ? { type: 'PLACE', order: this.restOrder(o, 0), reducedQuantity: null }
        : { type: 'PLACE', orderTrigger: this.restTrigger(o) },
    ];
    let filled = 0;
    // o.fills: a stop triggered at once filled inside place(), after the fills it returns.
    for (const f of o.fills) {
      events.push({
        type: 'EXECUTION',
        executionId: f.tradeId,
        price: num(fromSteps(f.priceTicks, spec.price)),
        amount: num(fromSteps(f.qtyLots, spec.qty)),
        orderPriorEdit: null,
        orderPriorExecution: this.restOrder(o, filled),
        takerReducedQuantity: null,
      });
      filled += f.qtyLots;
    }
    reply(
      200,
      this.ok(now, {
        sendStatus: {
          order_id: o.orderId,
          status: 'placed',
          receivedTime,
          ...(cliOrdId !== undefined ? { cli_ord_id: cliOrdId } : {}),
          orderEvents: events,
        },
      }),
    );
  }

  /** The order object inside orderEvents [MEM field names]. */
  private restOrder(o: SimOrder, filledLots: number): unknown {
    const r = o.request;
    const spec = this.spec(r.symbol);
    return {
      orderId: o.orderId,
      cliOrdId: r.clientOrderId || null,
      type: orderTypeOf(o),
      symbol: r.symbol,
      side: r.side,
      quantity: num(fromSteps(r.qtyLots, spec.qty)),
      filled: num(fromSteps(filledLots, spec.qty)),
      limitPrice: r.priceTicks === undefined ? null : num(fromSteps(r.priceTicks, spec.price)),
      reduceOnly: r.reduceOnly,
      timestamp: iso(o.createdTs),
      lastUpdateTimestamp: iso(o.updatedTs),
    };
  }

  /** The `orderTrigger` payload of an untriggered stop [UNCONFIRMED field names]. */
  private restTrigger(o: SimOrder): unknown {
    const r = o.request;
    const spec = this.spec(r.symbol);
    return {
      uid: o.orderId,
      clientId: r.clientOrderId || null,
      type: 'stop',
      symbol: r.symbol,
      side: r.side,
      quantity: num(fromSteps(r.qtyLots, spec.qty)),
      limitPrice: r.priceTicks === undefined ? null : num(fromSteps(r.priceTicks, spec.price)),
      triggerPrice: num(fromSteps(r.triggerTicks as number, spec.price)),
      triggerSide: r.side === 'sell' ? 'trigger_below' : 'trigger_above',
      triggerSignal: `${this.signals.get(o.orderId) ?? 'last'}_price`,
      reduceOnly: r.reduceOnly,
      timestamp: iso(o.createdTs),
      lastUpdateTimestamp: iso(o.updatedTs),
    };
  }

  private cancelOrder(account: string, p: (name: string) => string | undefined, now: number): unknown {
    const orderId = p('order_id');
    const cliOrdId = p('cliOrdId');
    if (orderId === undefined && cliOrdId === undefined) throw new ApiError('requiredArgumentMissing');
    const sel = orderId !== undefined ? { orderId } : { clientOrderId: cliOrdId };
    const r = this.engine.cancel(account, VENUE, undefined, sel, now);
    if ('reject' in r) return { status: 'notFound', receivedTime: iso(now) };
    return {
      status: 'cancelled',
      order_id: r.orderId,
      ...(r.request.clientOrderId ? { cliOrdId: r.request.clientOrderId } : {}),
      receivedTime: iso(now),
      orderEvents: [
        r.triggered
          ? { type: 'CANCEL', uid: r.orderId, order: this.restOrder(r, r.filledLots) }
          : { type: 'CANCEL', uid: r.orderId, orderTrigger: this.restTrigger(r) },
      ],
    };
  }

  private cancelAll(account: string, symbolRaw: string | undefined, now: number): unknown {
    const symbol = symbolRaw?.toUpperCase();
    const done = this.engine.cancelAll(account, VENUE, symbol, now);
    return {
      receivedTime: iso(now),
      cancelOnly: symbol ?? 'all',
      status: done.length > 0 ? 'cancelled' : 'noOrdersToCancel',
      cancelledOrders: done.map((o) => ({
        order_id: o.orderId,
        ...(o.request.clientOrderId ? { cliOrdId: o.request.clientOrderId } : {}),
      })),
      orderEvents: [],
    };
  }

  private armDms(account: string, timeoutText: string | undefined, now: number): unknown {
    if (timeoutText === undefined || !/^\d+$/.test(timeoutText))
      throw new ApiError('invalidArgument: timeout');
    const timeout = Number(timeoutText);
    const old = this.dms.get(account);
    if (old) clearTimeout(old.timer);
    this.dms.delete(account);
    if (timeout === 0) return { currentTime: iso(now), triggerTime: '0' };
    const triggerAt = now + timeout * 1000;
    const timer = setTimeout(() => this.fireDms(account), timeout * 1000);
    timer.unref?.();
    this.dms.set(account, { timer, triggerAt });
    return { currentTime: iso(now), triggerTime: iso(triggerAt) };
  }

  /** Cancels every open order of the account, untriggered stops included ("all user orders"). */
  private fireDms(account: string): void {
    this.dms.delete(account);
    this.dmsFired.set(account, (this.dmsFired.get(account) ?? 0) + 1);
    this.dmsFiring = true;
    try {
      this.engine.cancelAll(account, VENUE, undefined, this.host.now());
    } finally {
      this.dmsFiring = false;
    }
  }

  private openOrders(account: string): unknown[] {
    return this.engine.openOrders(account, VENUE).map((o) => {
      const spec = this.spec(o.request.symbol);
      const r = o.request;
      return {
        order_id: o.orderId,
        ...(r.clientOrderId ? { cliOrdId: r.clientOrderId } : {}),
        symbol: r.symbol.toLowerCase(),
        side: r.side,
        orderType: orderTypeOf(o),
        ...(r.priceTicks === undefined ? {} : { limitPrice: num(fromSteps(r.priceTicks, spec.price)) }),
        unfilledSize: num(fromSteps(r.qtyLots - o.filledLots, spec.qty)),
        filledSize: num(fromSteps(o.filledLots, spec.qty)),
        receivedTime: iso(o.createdTs),
        lastUpdateTime: iso(o.updatedTs),
        status: o.filledLots > 0 ? 'partiallyFilled' : 'untouched',
        reduceOnly: r.reduceOnly,
        ...(o.triggered
          ? {}
          : {
              stopPrice: num(fromSteps(r.triggerTicks as number, spec.price)),
              triggerSignal: this.signals.get(o.orderId) ?? 'last',
            }),
      };
    });
  }

  private openPositions(account: string, now: number): unknown[] {
    const out: unknown[] = [];
    for (const spec of this.specs.values()) {
      const pos = this.engine.accounts.position(account, VENUE, spec.symbol);
      if (pos.qtyLots === 0) continue;
      out.push({
        side: pos.qtyLots > 0 ? 'long' : 'short',
        symbol: spec.symbol.toLowerCase(),
        price: num(pos.entryPrice.toDecimalPlaces(8).toFixed()),
        fillTime: iso(now),
        size: num(fromSteps(Math.abs(pos.qtyLots), spec.qty)),
        unrealizedFunding: num('0'),
      });
    }
    return out;
  }

  private fillsJson(account: string, lastFillTime: string | undefined): unknown[] {
    const before = lastFillTime !== undefined ? Date.parse(lastFillTime) : Infinity;
    return this.fills(account)
      .filter((f) => f.ts < before)
      .slice(-100)
      .reverse()
      .map((f) => {
        const spec = this.spec(f.symbol);
        return {
          fill_id: f.tradeId,
          symbol: f.symbol.toLowerCase(),
          side: f.side,
          order_id: f.orderId,
          ...(f.clientOrderId ? { cliOrdId: f.clientOrderId } : {}),
          size: num(fromSteps(f.qtyLots, spec.qty)),
          price: num(fromSteps(f.priceTicks, spec.price)),
          fillTime: iso(f.ts),
          fillType: f.liquidity,
        };
      });
  }

  private accountsJson(account: string): unknown {
    const currencies: Record<string, unknown> = {};
    for (const b of this.engine.balances(account, VENUE)) {
      currencies[b.asset] = {
        quantity: num(b.total.toFixed()),
        value: num(b.total.toFixed()),
        collateral: num(b.total.toFixed()),
        available: num(b.free.toFixed()),
      };
    }
    return { flex: { type: 'multiCollateralMarginAccount', currencies } };
  }

  // ------------------------------------------------------------------------------ private feeds

  private onOrderUpdate(o: SimOrder, f: SimFill | null): void {
    const r = o.request;
    if (r.venue !== VENUE) return;
    const spec = this.spec(r.symbol);
    if (f) {
      const rec: KrakenFuturesRecordedFill = { ...f, seq: ++this.fillSeq };
      this.fillLog.record(r.account, rec);
      this.push(r.account, 'fills', {
        feed: 'fills',
        username: r.account,
        fills: [this.wsFill(rec, r.qtyLots - o.filledLots, spec)],
      });
    }
    const stop = isStopType(r.type);
    if (stop && !o.triggered && !f && this.placingSignal !== undefined && !this.signals.has(o.orderId)) {
      this.signals.set(o.orderId, this.placingSignal);
      if (this.signals.size > 10_000) this.signals.delete(this.signals.keys().next().value as string);
    }
    // Only orders that can rest appear on open_orders.
    if (!stop && (r.type !== 'limit' || r.timeInForce === 'IOC')) return;
    if (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED') {
      // A triggered stop-market is a market order now: its fills and its end follow.
      if (r.type === 'stop-market' && o.triggered) return;
      this.push(r.account, 'open_orders', {
        feed: 'open_orders',
        order: this.wsOrder(o),
        is_cancel: false,
        reason: f
          ? 'partial_fill'
          : stop && o.triggered
            ? 'limit_order_from_stop' // [MEM] the stop-limit's trigger: it rests as a limit now
            : 'new_placed_order_by_user',
      });
      return;
    }
    const reason =
      o.status === 'FILLED'
        ? 'full_fill'
        : o.reason === 'reduce-only'
          ? 'would_not_reduce_position'
          : this.dmsFiring
            ? 'dead_man_switch'
            : 'cancelled_by_user';
    this.push(r.account, 'open_orders', {
      feed: 'open_orders',
      order_id: o.orderId,
      ...(r.clientOrderId ? { cli_ord_id: r.clientOrderId } : {}),
      is_cancel: true,
      reason,
    });
  }

  private wsOrder(o: SimOrder): unknown {
    const r = o.request;
    const spec = this.spec(r.symbol);
    return {
      instrument: r.symbol,
      time: o.createdTs,
      last_update_time: o.updatedTs,
      qty: num(fromSteps(r.qtyLots, spec.qty)),
      filled: num(fromSteps(o.filledLots, spec.qty)),
      limit_price: num(fromSteps(r.priceTicks ?? 0, spec.price)),
      stop_price: num(o.triggered ? '0' : fromSteps(r.triggerTicks as number, spec.price)),
      type: o.triggered ? 'limit' : 'stop',
      ...(o.triggered ? {} : { triggerSignal: this.signals.get(o.orderId) ?? 'last' }),
      order_id: o.orderId,
      ...(r.clientOrderId ? { cli_ord_id: r.clientOrderId } : {}),
      direction: r.side === 'buy' ? 0 : 1,
      reduce_only: r.reduceOnly,
    };
  }

  private wsFill(f: KrakenFuturesRecordedFill, remainingLots = 0, specIn?: SimInstrumentSpec): unknown {
    const spec = specIn ?? this.spec(f.symbol);
    return {
      instrument: f.symbol,
      time: f.ts,
      price: num(fromSteps(f.priceTicks, spec.price)),
      seq: f.seq,
      buy: f.side === 'buy',
      qty: num(fromSteps(f.qtyLots, spec.qty)),
      remaining_order_qty: num(fromSteps(remainingLots, spec.qty)),
      order_id: f.orderId,
      ...(f.clientOrderId ? { cli_ord_id: f.clientOrderId } : {}),
      fill_id: f.tradeId,
      fill_type: f.liquidity,
      fee_paid: num(f.fee),
      fee_currency: f.feeAsset,
    };
  }

  private push(account: string, feed: string, msg: unknown): void {
    for (const s of this.sockets.values()) {
      if (s.account === account && s.feeds.has(feed)) this.deliver(s.ws, msg);
    }
  }

  private deliver(ws: WebSocket, msg: unknown): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    deliverText(this.host, VENUE, ws, JSON.stringify(msg));
  }

  private spec(symbol: string): SimInstrumentSpec {
    return this.specs.get(`${VENUE} ${symbol}`) as SimInstrumentSpec;
  }
}

/** The REST orderType: an untriggered stop is "stp" [UNCONFIRMED on openorders]; a triggered one is what it became. */
function orderTypeOf(o: SimOrder): string {
  const r = o.request;
  if (!o.triggered) return 'stp';
  if (r.type === 'market' || r.type === 'stop-market') return 'mkt';
  return r.timeInForce === 'POST_ONLY' ? 'post' : r.timeInForce === 'IOC' ? 'ioc' : 'lmt';
}
