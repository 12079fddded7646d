/**
 * The simulator's Kraken spot PRIVATE API (VENUES.md §3.4–3.5), over the exchange simulator's
 * HTTP + WS server, with our orders matched by the MatchingEngine (./matching.ts) against the
 * synthetic book. Spot: long-only, a sell needs free base (the engine's spot ledger).
 *
 * REST (under /kraken-spot), every call `POST /0/private/<Method>`, form-encoded body with `nonce`:
 *   AddOrder              pair (wsname or altname), type buy|sell, ordertype market|limit|
 *                         stop-loss|stop-loss-limit, price (limit; stops: the trigger), price2
 *                         (stop-loss-limit: the limit), trigger last|index, volume, timeinforce GTC|IOC,
 *                         oflags post, cl_ord_id
 *                         → {"descr":{"order":"…"},"txid":["O…"]}
 *   CancelOrder           txid (order id) or cl_ord_id → {"count":1}
 *   CancelAll             → {"count":n}
 *   CancelAllOrdersAfter  timeout (s; 0 disables) → {"currentTime","triggerTime"} (RFC 3339)
 *   OpenOrders            [cl_ord_id] → {"open":{"<txid>":order}}
 *   ClosedOrders          [cl_ord_id] → {"closed":{…},"count":n}  (newest first)
 *   QueryOrders           txid (comma list) → {"<txid>":order}
 *   Balance               → {"ZUSD":"…","XXBT":"…"} (Kraken's X/Z asset names for USD, BTC, EUR, ETH)
 *   TradesHistory         → {"trades":{"<trade id>":trade},"count":n}
 *   GetWebSocketsToken    → {"token":"…","expires":900}
 * Answers are HTTP 200 `{"error":[…],"result":{…}}`; a non-empty error array is a failure.
 * Auth (VENUES.md §3.5, checked with verifyKraken): headers `API-Key` and `API-Sign`; unknown key or
 * bad signature → `EAPI:Invalid key`; a nonce not greater than the key's last accepted one →
 * `EAPI:Invalid nonce` (a rejected request does not move the key's nonce).
 *
 * WebSocket v2 auth endpoint: `/kraken-spot/v2-auth` (the real one is wss://ws-auth.kraken.com/v2).
 * Methods add_order, cancel_order (order_id[] or cl_ord_id[]), cancel_all, cancel_all_orders_after,
 * subscribe/unsubscribe {channel:"executions", snap_orders, snap_trades}, ping. Every private
 * request carries `params.token` from GetWebSocketsToken (valid 15 min until first used; then for
 * as long as a connection uses it). Answers:
 *   {"method","req_id","success":true,"result":{…},"time_in","time_out"} or `"success":false,"error":"…"`.
 * executions: a snapshot of the open orders on subscribe (and the last 50 trades with
 * snap_trades:true), then updates: exec_type new / trade / filled / canceled / expired. Trade events
 * carry exec_id, trade_id, last_qty, last_price, cost, liquidity_ind ("m"/"t"), fees [{asset, qty}],
 * cl_ord_id, order_id, order_status, cum_qty, cum_cost, avg_price. Numbers are JSON numbers written
 * as exact decimal text at the pair's precision (never through float).
 * Field names: [DOC docs.kraken.com websocket-v2/executions: channel, snap_orders, snap_trades,
 * order_status]; [SDK nautilus KrakenWsExecutionData: exec_type, order_id, cl_ord_id, symbol, side,
 * order_type, order_qty, limit_price, order_status, cum_qty, cum_cost, avg_price, time_in_force,
 * post_only, timestamp, exec_id, last_qty, last_price, cost, liquidity_ind, fees, fee_usd_equiv,
 * reason]; [SDK kraken-async-rs: liquidity_ind "m"/"t"]; [MEM: fees entries {asset, qty}, a
 * separate "filled" event after the last trade, the invalid-token error text].
 *
 * Stop orders (see `stopOf` and `onOrderUpdate`): WS v2 add_order `order_type` "stop-loss" (a market
 * order once triggered) or "stop-loss-limit" (`limit_price`), with `triggers: {reference: "last" |
 * "index" (default last), price, price_type: "static" (default)}` [DOC
 * https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/add_order]. Other price_types
 * (relative triggers) are not modelled: `EGeneral:Invalid arguments:triggers`. "index" is accepted
 * and treated like "last": this simulator has one price, the touch (lib/sim/matching.ts). A stop whose
 * trigger the market has already reached triggers at once [GUESS, matching.ts]. REST orders show a
 * stop as `descr.ordertype "stop-loss"|"stop-loss-limit"`, `descr.price` = the trigger, `descr.price2`
 * = the limit, plus `stopprice`/`limitprice` [MEM for the REST field set]. Untriggered stops are open
 * orders: OpenOrders, the executions snapshot, cancel_order, cancel_all and the dead man's switch all
 * include them ("all orders in the account are cancelled" [DOC
 * https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/cancel_after]).
 *
 * Dead man's switch: cancel_all_orders_after / CancelAllOrdersAfter(timeout) arms (or re-arms) a
 * per-account timer; when it fires every open order of the account is cancelled (executions carry
 * the cancels) and the switch stays disabled until the next non-zero request; 0 disables it.
 *
 * Accounts: default ONE account, key SIM_KRAKEN_API_KEY with secret SIM_KRAKEN_API_SECRET: a
 * LOCAL-ONLY TEST CREDENTIAL (base64 of a fixed phrase) that means nothing anywhere else.
 *
 * Faults (`faults`), consumed by the next order (REST or WS):
 * - `unknownAfterPlace()`: place it, then answer `EGeneral:Internal error` (outcome unknown [MEM]).
 * - `silentAfterPlace()`: place it and never answer.
 * - `rejectOrder(error)`: reject it with that error string, nothing placed.
 * - `invalidNonce()`: the next signed REST request answers `EAPI:Invalid nonce`.
 * `dropSockets()` closes every private WS; the FaultPlan's stall/latency for kraken-spot applies.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { L2Book } from '#core/book.ts';
import { fromSteps } from '#core/grid.ts';
import { Money } from '#core/money.ts';
import { krakenNonceOf, verifyKraken } from '#venues/kraken-spot/signing.ts';
import type { SimAccountsConfig } from './accounts.ts';
import type { MatchingEngine, SimFill, SimInstrumentSpec, SimOrder, SimOrderRequest } from './matching.ts';
import { parseOrderAmounts } from './matching.ts';
import type { Send, SimCredential, TradingHost } from './trading-common.ts';
import {
  accountRegistry,
  deliverText,
  FillLog,
  header,
  logBounded,
  PlaceAndSignFaults,
  rawText,
  readBody,
  tradingEngine,
} from './trading-common.ts';

const VENUE = 'kraken-spot' as const;

/** Local-only test credential of the default simulator account. Not a real key. */
export const SIM_KRAKEN_API_KEY = 'sim-kraken-key';
export const SIM_KRAKEN_API_SECRET = Buffer.from('sim-kraken-secret-local-only').toString('base64');

export const KRAKEN_WS_AUTH_PATH = '/v2-auth';
const TOKEN_UNUSED_MS = 15 * 60_000;
const SNAP_TRADES = 50;

/** The secret is base64, as Kraken issues them. */
export type KrakenSimApiAccount = SimCredential;

export interface KrakenSpotTradingSimOptions {
  readonly accounts?: readonly KrakenSimApiAccount[];
  readonly ledger?: SimAccountsConfig;
  readonly makerFee?: string;
  readonly takerFee?: string;
}

export type KrakenSpotTradingHost = TradingHost;

/** unknownAfterPlace, silentAfterPlace, rejectOrder(error), invalidNonce (see the module comment). */
export class KrakenSpotTradingFaults extends PlaceAndSignFaults<{
  readonly kind: 'reject';
  readonly error: string;
}> {
  rejectOrder(error: string, count = 1): void {
    this.enqueue({ kind: 'reject', error }, count);
  }

  invalidNonce(count = 1): void {
    this.failSigned(count);
  }

  takeNonce(): boolean {
    return this.takeSigned();
  }
}

/** A JSON number written as this exact text. */
class Num {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** JSON with Num values written verbatim (exact decimals as JSON numbers). */
export function rawJson(v: unknown): string {
  if (v instanceof Num) return v.text;
  if (Array.isArray(v)) return `[${v.map(rawJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x !== undefined) parts.push(`${JSON.stringify(k)}:${rawJson(x)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

class KrakenFailure extends Error {}

interface Token {
  readonly account: string;
  readonly createdAt: number;
  used: boolean;
}

interface Session {
  readonly ws: WebSocket;
  account: string | null;
  executions: boolean;
}

interface Dms {
  timer: ReturnType<typeof setTimeout>;
  triggerAt: number;
}

const PRIVATE = new Set([
  'AddOrder',
  'CancelOrder',
  'CancelAll',
  'CancelAllOrdersAfter',
  'OpenOrders',
  'ClosedOrders',
  'QueryOrders',
  'Balance',
  'TradesHistory',
  'GetWebSocketsToken',
]);

/** Kraken's legacy asset names in REST Balance [MEM: XXBT, ZUSD, ZEUR, XETH]. */
const REST_ASSET: Record<string, string> = { BTC: 'XXBT', USD: 'ZUSD', EUR: 'ZEUR', ETH: 'XETH' };

export class KrakenSpotTradingSim {
  readonly faults = new KrakenSpotTradingFaults();
  readonly engine: MatchingEngine;
  private readonly host: KrakenSpotTradingHost;
  private readonly specs: Map<string, SimInstrumentSpec>;
  private readonly byKey: Map<string, { secret: string; account: string }>;
  private readonly lastNonce = new Map<string, bigint>();
  private readonly tokens = new Map<string, Token>();
  private readonly sessions = new Set<Session>();
  private readonly dms = new Map<string, Dms>();
  private readonly fillLog = new FillLog<SimFill>();
  /** How many times the dead man's switch fired, per account (for tests). */
  readonly dmsFired = new Map<string, number>();
  /** Recent requests (for tests): channel and method. */
  readonly requests: Array<{ channel: 'rest' | 'ws'; what: string; ts: number }> = [];

  constructor(host: KrakenSpotTradingHost, opts: KrakenSpotTradingSimOptions = {}) {
    this.host = host;
    this.byKey = accountRegistry(opts.accounts, {
      apiKey: SIM_KRAKEN_API_KEY,
      secret: SIM_KRAKEN_API_SECRET,
    });
    const t = tradingEngine(VENUE, host, opts, (o, f) => this.onOrderUpdate(o, f));
    this.specs = t.specs;
    this.engine = t.engine;
  }

  fills(account = 'sim'): readonly SimFill[] {
    return this.fillLog.of(account);
  }

  /** When the account's dead man's switch fires (ms), or undefined when disarmed. */
  dmsTriggerAt(account = 'sim'): number | undefined {
    return this.dms.get(account)?.triggerAt;
  }

  connectionCount(): number {
    return this.sessions.size;
  }

  // ------------------------------------------------------------------------------ hooks

  onMarketStep(symbol: string, book: L2Book, now: number): void {
    this.engine.onBookChange(VENUE, symbol, book, now);
  }

  handlesUpgrade(path: string): boolean {
    return path === KRAKEN_WS_AUTH_PATH;
  }

  handlesHttp(method: string, path: string): boolean {
    return method === 'POST' && path.startsWith('/0/private/');
  }

  dropSockets(): number {
    const n = this.sessions.size;
    for (const s of this.sessions) s.ws.terminate();
    this.sessions.clear();
    return n;
  }

  stop(): void {
    this.dropSockets();
    for (const d of this.dms.values()) clearTimeout(d.timer);
    this.dms.clear();
  }

  private log(channel: 'rest' | 'ws', what: string): void {
    logBounded(this.requests, { channel, what, ts: this.host.now() });
  }

  // ------------------------------------------------------------------------------ REST

  onHttp(req: IncomingMessage, path: string, send: Send): void {
    readBody(req, (body) => {
      const method = path.slice('/0/private/'.length);
      this.log('rest', method);
      const reply = (result: unknown) => send(200, { error: [], result });
      try {
        if (!PRIVATE.has(method)) throw new KrakenFailure('EGeneral:Unknown method');
        const account = this.authRest(path, body, header(req, 'api-key'), header(req, 'api-sign'));
        const p = new URLSearchParams(body);
        const get = (k: string) => p.get(k) ?? undefined;
        this.serveRest(method, account, get, reply);
      } catch (err) {
        const msg = err instanceof KrakenFailure ? err.message : 'EGeneral:Internal error';
        send(200, { error: [msg] });
      }
    });
  }

  private authRest(path: string, body: string, apiKey?: string, apiSign?: string): string {
    const acct = apiKey ? this.byKey.get(apiKey) : undefined;
    if (!acct || !apiKey) throw new KrakenFailure('EAPI:Invalid key');
    let ok = false;
    try {
      ok = verifyKraken(acct.secret, path, body, apiSign ?? '');
    } catch {
      ok = false;
    }
    if (!ok) throw new KrakenFailure('EAPI:Invalid key');
    const nonce = BigInt(krakenNonceOf(body) as string);
    const last = this.lastNonce.get(apiKey) ?? -1n;
    if (this.faults.takeNonce() || nonce <= last) throw new KrakenFailure('EAPI:Invalid nonce');
    this.lastNonce.set(apiKey, nonce);
    return acct.account;
  }

  private serveRest(
    method: string,
    account: string,
    p: (k: string) => string | undefined,
    reply: (result: unknown) => void,
  ): void {
    const now = this.host.now();
    switch (method) {
      case 'AddOrder': {
        const ordertype = p('ordertype');
        const oflags = (p('oflags') ?? '').split(',');
        const tif = p('timeinforce') ?? 'GTC';
        const stop = ordertype === 'stop-loss' || ordertype === 'stop-loss-limit';
        // REST stops: `price` is the trigger, `price2` the limit; `trigger` last|index [MEM].
        if (stop && !['last', 'index'].includes(p('trigger') ?? 'last'))
          throw new KrakenFailure('EGeneral:Invalid arguments:trigger');
        return this.addOrder(
          account,
          {
            symbol: p('pair'),
            side: p('type'),
            type: ordertype,
            price: stop ? p('price2') : p('price'),
            trigger: stop ? p('price') : undefined,
            qty: p('volume'),
            tif: oflags.includes('post') ? 'post' : tif.toUpperCase(),
            clOrdId: p('cl_ord_id'),
          },
          now,
          (o, error) => {
            if (error !== undefined) throw new KrakenFailure(error);
            const spec = this.spec(o.request.symbol);
            reply({
              descr: { order: describe(o, spec) },
              txid: [o.orderId],
            });
          },
        );
      }
      case 'CancelOrder': {
        const txid = p('txid');
        const cl = p('cl_ord_id');
        if (txid === undefined && cl === undefined) throw new KrakenFailure('EGeneral:Invalid arguments');
        const sel = txid !== undefined ? { orderId: txid } : { clientOrderId: cl };
        const r = this.engine.cancel(account, VENUE, undefined, sel, now);
        if ('reject' in r) throw new KrakenFailure(r.reject.code);
        return reply({ count: 1 });
      }
      case 'CancelAll':
        return reply({ count: this.engine.cancelAll(account, VENUE, undefined, now, 'all').length });
      case 'CancelAllOrdersAfter':
        return reply(this.armDms(account, p('timeout')));
      case 'OpenOrders': {
        const cl = p('cl_ord_id');
        const open: Record<string, unknown> = {};
        for (const o of this.engine.openOrders(account, VENUE)) {
          if (cl === undefined || o.request.clientOrderId === cl) open[o.orderId] = this.orderInfo(o);
        }
        return reply({ open });
      }
      case 'ClosedOrders': {
        const cl = p('cl_ord_id');
        const closed: Record<string, unknown> = {};
        const all = this.allOrders(account)
          .filter((o) => o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED')
          .filter((o) => cl === undefined || o.request.clientOrderId === cl)
          .reverse();
        for (const o of all.slice(0, 50)) closed[o.orderId] = this.orderInfo(o);
        return reply({ closed, count: all.length });
      }
      case 'QueryOrders': {
        const ids = (p('txid') ?? '').split(',').filter(Boolean);
        if (ids.length === 0) throw new KrakenFailure('EGeneral:Invalid arguments');
        const out: Record<string, unknown> = {};
        for (const id of ids) {
          const o = this.engine.order(account, VENUE, { orderId: id });
          if (!o) throw new KrakenFailure('EOrder:Invalid order');
          out[id] = this.orderInfo(o);
        }
        return reply(out);
      }
      case 'Balance': {
        const out: Record<string, string> = {};
        for (const b of this.engine.balances(account, VENUE))
          out[REST_ASSET[b.asset] ?? b.asset] = b.total.toFixed();
        return reply(out);
      }
      case 'TradesHistory': {
        const trades: Record<string, unknown> = {};
        const start = Number(p('start') ?? '0') * 1000;
        const list = this.fills(account)
          .filter((f) => f.ts > start)
          .reverse();
        for (const f of list.slice(0, 50)) {
          const spec = this.spec(f.symbol);
          trades[f.tradeId] = {
            ordertxid: f.orderId,
            pair: altname(f.symbol),
            time: f.ts / 1000,
            type: f.side,
            ordertype: 'limit',
            price: fromSteps(f.priceTicks, spec.price),
            cost: f.notional,
            fee: f.fee,
            vol: fromSteps(f.qtyLots, spec.qty),
            margin: '0.00000',
            maker: f.liquidity === 'maker',
            misc: '',
          };
        }
        return reply({ trades, count: list.length });
      }
      case 'GetWebSocketsToken': {
        const token = randomBytes(24).toString('base64');
        this.tokens.set(token, { account, createdAt: now, used: false });
        return reply({ token, expires: 900 });
      }
    }
    throw new KrakenFailure('EGeneral:Unknown method');
  }

  private allOrders(account: string): SimOrder[] {
    const out: SimOrder[] = [];
    const seen = new Set<string>();
    for (const f of this.fills(account)) seen.add(f.clientOrderId);
    // The engine has no "all orders" listing: gather by the client ids we have seen.
    for (const id of this.clientIds.get(account) ?? []) seen.add(id);
    for (const id of seen) out.push(...this.engine.ordersByClientId(account, VENUE, id));
    return out.sort((a, b) => a.createdTs - b.createdTs || a.orderId.localeCompare(b.orderId));
  }

  private readonly clientIds = new Map<string, Set<string>>();

  /** Kraken's REST order object [MEM for the field set]. */
  private orderInfo(o: SimOrder): Record<string, unknown> {
    const spec = this.spec(o.request.symbol);
    const r = o.request;
    return {
      refid: null,
      userref: 0,
      cl_ord_id: r.clientOrderId,
      status: restStatus(o),
      opentm: o.createdTs / 1000,
      closetm: restStatus(o) === 'open' ? 0 : o.updatedTs / 1000,
      starttm: 0,
      expiretm: 0,
      descr: {
        pair: altname(r.symbol),
        type: r.side,
        ordertype: wireType(r.type),
        // Kraken's descr: a stop's `price` is its trigger, `price2` a stop-loss-limit's limit [MEM].
        price: fromSteps((stopOf(r) ? r.triggerTicks : r.priceTicks) ?? 0, spec.price),
        price2: stopOf(r) && r.priceTicks !== undefined ? fromSteps(r.priceTicks, spec.price) : '0',
        leverage: 'none',
        order: describe(o, spec),
        close: '',
      },
      vol: fromSteps(r.qtyLots, spec.qty),
      vol_exec: fromSteps(o.filledLots, spec.qty),
      cost: o.cumNotional,
      fee: o.fills.reduce((s, f) => s.plus(new Money(f.fee)), new Money(0)).toFixed(),
      price: avgPrice(o, spec),
      stopprice: stopOf(r) ? fromSteps(r.triggerTicks ?? 0, spec.price) : '0',
      limitprice: stopOf(r) && r.priceTicks !== undefined ? fromSteps(r.priceTicks, spec.price) : '0',
      misc: '',
      oflags: r.timeInForce === 'POST_ONLY' ? 'post,fciq' : 'fciq',
    };
  }

  private spec(symbol: string): SimInstrumentSpec {
    return this.specs.get(`${VENUE} ${symbol}`) as SimInstrumentSpec;
  }

  private resolveSymbol(pair: string | undefined): string | undefined {
    if (pair === undefined) return undefined;
    for (const s of this.specs.values()) {
      if (s.symbol === pair || altname(s.symbol) === pair) return s.symbol;
      if (pair === `XBT${s.quote}` && s.base === 'BTC') return s.symbol;
    }
    return undefined;
  }

  // ------------------------------------------------------------------------------ orders

  private addOrder(
    account: string,
    a: {
      symbol: string | undefined;
      side: string | undefined;
      type: string | undefined;
      price: string | undefined;
      /** Stop orders: the trigger price text. */
      trigger?: string | undefined;
      qty: string | undefined;
      tif: string;
      clOrdId: string | undefined;
    },
    now: number,
    reply: (o: SimOrder, error?: string) => void,
  ): void {
    const symbol = this.resolveSymbol(a.symbol);
    if (!symbol) throw new KrakenFailure('EQuery:Unknown asset pair');
    const spec = this.spec(symbol);
    if (a.side !== 'buy' && a.side !== 'sell') throw new KrakenFailure('EGeneral:Invalid arguments:type');
    const type = ORDER_TYPES[a.type ?? ''];
    if (!type) throw new KrakenFailure('EGeneral:Invalid arguments:ordertype');
    const stop = type === 'stop-market' || type === 'stop-limit';
    if (stop && a.trigger === undefined) throw new KrakenFailure('EGeneral:Invalid arguments:triggers');
    let tif: SimOrderRequest['timeInForce'];
    if (a.tif === 'post') tif = 'POST_ONLY';
    else if (a.tif === 'GTC' || a.tif === 'IOC') tif = a.tif;
    else throw new KrakenFailure('EGeneral:Invalid arguments:timeinforce');
    if (a.qty === undefined) throw new KrakenFailure('EGeneral:Invalid arguments:volume');
    const limitLike = type === 'limit' || type === 'stop-limit';
    if (limitLike && a.price === undefined) throw new KrakenFailure('EGeneral:Invalid arguments:price');
    const cl = a.clOrdId ?? '';
    if (a.clOrdId !== undefined && !/^[\x20-\x7e]{1,18}$/.test(cl) && !/^[0-9a-fA-F-]{32,36}$/.test(cl))
      throw new KrakenFailure('EGeneral:Invalid arguments:cl_ord_id');
    const amounts = parseOrderAmounts(spec, limitLike ? a.price : undefined, a.qty);
    if ('reject' in amounts) throw new KrakenFailure(amounts.reject.code);
    let triggerTicks: number | undefined;
    if (stop) {
      const t = parseOrderAmounts(spec, a.trigger, a.qty);
      if ('reject' in t) throw new KrakenFailure(t.reject.code);
      triggerTicks = t.priceTicks;
    }
    const fault = this.faults.takeOrder();
    if (fault?.kind === 'reject') throw new KrakenFailure(fault.error);
    const book = this.host.book(symbol);
    if (!book) throw new KrakenFailure('EQuery:Unknown asset pair');
    const clientOrderId = a.clOrdId ?? '';
    let ids = this.clientIds.get(account);
    if (!ids) this.clientIds.set(account, (ids = new Set()));
    ids.add(clientOrderId);
    const result = this.engine.place(
      {
        venue: VENUE,
        symbol,
        clientOrderId,
        side: a.side,
        type,
        timeInForce: tif,
        priceTicks: amounts.priceTicks,
        triggerTicks,
        qtyLots: amounts.qtyLots,
        reduceOnly: false,
        account,
        ts: now,
      },
      book,
    );
    if ('reject' in result) throw new KrakenFailure(result.reject.code);
    if (fault?.kind === 'silent') return;
    if (fault?.kind === 'unknown') throw new KrakenFailure('EGeneral:Internal error');
    reply(result.order);
  }

  private armDms(account: string, timeoutText: string | undefined): unknown {
    const timeout = Number(timeoutText);
    if (timeoutText === undefined || !Number.isInteger(timeout) || timeout < 0 || timeout >= 86_400)
      throw new KrakenFailure('EGeneral:Invalid arguments:timeout');
    const now = this.host.now();
    const prev = this.dms.get(account);
    if (prev) clearTimeout(prev.timer);
    this.dms.delete(account);
    if (timeout === 0) return { currentTime: iso(now), triggerTime: '0' };
    const triggerAt = now + timeout * 1000;
    const timer = setTimeout(() => {
      this.dms.delete(account);
      this.dmsFired.set(account, (this.dmsFired.get(account) ?? 0) + 1);
      // Every order of the account, untriggered stops included [DOC cancel_after: "all orders"].
      this.engine.cancelAll(account, VENUE, undefined, this.host.now(), 'all');
    }, timeout * 1000);
    timer.unref?.();
    this.dms.set(account, { timer, triggerAt });
    return { currentTime: iso(now), triggerTime: iso(triggerAt) };
  }

  // ------------------------------------------------------------------------------ WebSocket v2

  onConnection(ws: WebSocket): void {
    const s: Session = { ws, account: null, executions: false };
    this.sessions.add(s);
    const gone = () => this.sessions.delete(s);
    ws.on('close', gone);
    ws.on('error', gone);
    ws.on('ping', (data) => {
      if (!this.host.faults.isStalled(VENUE, this.host.now())) ws.pong(data);
    });
    ws.on('message', (data) => this.onWsMessage(s, rawText(data)));
    this.deliver(
      s,
      '{"channel":"status","type":"update","data":[{"api_version":"v2","system":"online","version":"2.0.0"}]}',
    );
  }

  private onWsMessage(s: Session, text: string): void {
    const timeIn = iso(this.host.now());
    if (this.host.faults.isStalled(VENUE, this.host.now())) return;
    let msg: { method?: unknown; params?: unknown; req_id?: unknown };
    try {
      msg = parseExact(text) as typeof msg;
    } catch {
      this.deliver(
        s,
        JSON.stringify({ error: 'EGeneral:Invalid arguments', success: false, time_in: timeIn }),
      );
      return;
    }
    const method = typeof msg.method === 'string' ? msg.method : '';
    const reqId =
      typeof msg.req_id === 'string' && /^\d+$/.test(msg.req_id) ? new Num(msg.req_id) : undefined;
    this.log('ws', method);
    const answer = (result: unknown, error?: string) => {
      const frame: Record<string, unknown> = { method, req_id: reqId };
      if (error === undefined) frame.result = result;
      else frame.error = error;
      frame.success = error === undefined;
      frame.time_in = timeIn;
      frame.time_out = iso(this.host.now());
      this.deliver(s, rawJson(frame));
    };
    const params =
      typeof msg.params === 'object' && msg.params !== null ? (msg.params as Record<string, unknown>) : {};
    try {
      if (method === 'ping') return answer(undefined);
      const account = this.authWs(s, params.token);
      const now = this.host.now();
      switch (method) {
        case 'add_order': {
          const tif = (str(params.time_in_force) ?? 'gtc').toUpperCase();
          return this.addOrder(
            account,
            {
              symbol: str(params.symbol),
              side: str(params.side),
              type: str(params.order_type),
              price: numText(params.limit_price),
              trigger: triggerPrice(params.triggers),
              qty: numText(params.order_qty),
              tif: params.post_only === true ? 'post' : tif,
              clOrdId: str(params.cl_ord_id),
            },
            now,
            (o) => answer({ order_id: o.orderId, cl_ord_id: o.request.clientOrderId || undefined }),
          );
        }
        case 'cancel_order': {
          const ids = Array.isArray(params.order_id) ? params.order_id : [];
          const cls = Array.isArray(params.cl_ord_id) ? params.cl_ord_id : [];
          if (ids.length + cls.length === 0) throw new KrakenFailure('EGeneral:Invalid arguments');
          const results: Array<{ order_id: string; cl_ord_id?: string }> = [];
          for (const sel of [
            ...ids.map((x) => ({ orderId: String(x) })),
            ...cls.map((x) => ({ clientOrderId: String(x) })),
          ]) {
            const r = this.engine.cancel(account, VENUE, undefined, sel, now);
            if ('reject' in r) throw new KrakenFailure(r.reject.code);
            results.push({ order_id: r.orderId, cl_ord_id: r.request.clientOrderId || undefined });
          }
          // One answer per request here; the venue sends one per order [MEM].
          return answer(results.length === 1 ? results[0] : { count: results.length, orders: results });
        }
        case 'cancel_all':
          return answer({ count: this.engine.cancelAll(account, VENUE, undefined, now, 'all').length });
        case 'cancel_all_orders_after':
          return answer(this.armDms(account, numText(params.timeout)));
        case 'subscribe':
        case 'unsubscribe': {
          if (params.channel !== 'executions') throw new KrakenFailure('EGeneral:Invalid arguments:channel');
          if (method === 'unsubscribe') {
            s.executions = false;
            return answer({ channel: 'executions' });
          }
          const snapOrders = params.snap_orders !== false;
          const snapTrades = params.snap_trades === true;
          answer({ channel: 'executions', snap_orders: snapOrders, snap_trades: snapTrades });
          s.executions = true;
          const data: unknown[] = [];
          if (snapTrades) {
            for (const f of this.fills(account).slice(-SNAP_TRADES)) {
              const o = this.engine.order(account, VENUE, { orderId: f.orderId });
              if (o) data.push(this.tradeExec(o, f));
            }
          }
          if (snapOrders) {
            for (const o of this.engine.openOrders(account, VENUE)) data.push(this.orderExec(o, 'new'));
          }
          this.deliver(s, rawJson({ channel: 'executions', type: 'snapshot', data, sequence: 1 }));
          return;
        }
        default:
          throw new KrakenFailure('EGeneral:Unknown method');
      }
    } catch (err) {
      answer(undefined, err instanceof KrakenFailure ? err.message : 'EGeneral:Internal error');
    }
  }

  private authWs(s: Session, token: unknown): string {
    const t = typeof token === 'string' ? this.tokens.get(token) : undefined;
    // [MEM] the venue's text for a bad or expired token.
    if (!t) throw new KrakenFailure('EAccount:Invalid permissions');
    if (!t.used && this.host.now() - t.createdAt > TOKEN_UNUSED_MS)
      throw new KrakenFailure('EAccount:Invalid permissions');
    t.used = true;
    s.account = t.account;
    return t.account;
  }

  // ------------------------------------------------------------------------------ executions

  private onOrderUpdate(o: SimOrder, f: SimFill | null): void {
    const r = o.request;
    if (r.venue !== VENUE) return;
    const out: unknown[] = [];
    if (f) {
      this.fillLog.record(r.account, f);
      out.push(this.tradeExec(o, f));
      if (o.status === 'FILLED') out.push(this.orderExec(o, 'filled'));
    } else if (o.status === 'NEW' && stopOf(r) && o.triggered) {
      // The market reached the stop's trigger: the order keeps its order_id and cl_ord_id and trades
      // follow as for any order. Kraken's exact text for this event is UNCONFIRMED (research-stops.md
      // §3); chosen [GUESS]: exec_type "status" (one of the documented exec_types), order_status
      // "new" (still open, nothing filled), triggers.status "triggered", order_type now the
      // execution model (market / limit), as the FIX ExecutionReport documents for triggered orders
      // (https://docs.kraken.com/exchange/api-reference/unified-fix/er).
      out.push(this.orderExec(o, 'status'));
    } else if (o.status === 'NEW') out.push(this.orderExec(o, 'new'));
    else if (o.status === 'CANCELED') out.push(this.orderExec(o, 'canceled'));
    else if (o.status === 'EXPIRED') out.push(this.orderExec(o, 'expired'));
    if (out.length === 0) return;
    const text = rawJson({ channel: 'executions', type: 'update', data: out });
    for (const s of this.sessions) if (s.executions && s.account === r.account) this.deliver(s, text);
  }

  private orderExec(o: SimOrder, execType: string): Record<string, unknown> {
    const spec = this.spec(o.request.symbol);
    const r = o.request;
    return {
      order_id: o.orderId,
      cl_ord_id: r.clientOrderId || undefined,
      exec_id: execId(o, execType),
      exec_type: execType,
      symbol: r.symbol,
      side: r.side,
      order_type: execType === 'new' && !o.triggered ? wireType(r.type) : execModel(o),
      order_qty: new Num(fromSteps(r.qtyLots, spec.qty)),
      limit_price: r.priceTicks === undefined ? undefined : new Num(fromSteps(r.priceTicks, spec.price)),
      triggers: this.triggersOf(o),
      time_in_force: r.timeInForce === 'IOC' ? 'IOC' : 'GTC',
      post_only: r.timeInForce === 'POST_ONLY',
      order_status: wsStatus(o),
      cum_qty: new Num(fromSteps(o.filledLots, spec.qty)),
      cum_cost: new Num(o.cumNotional),
      avg_price: new Num(avgPrice(o, spec)),
      reason: execType === 'canceled' ? 'User requested' : undefined,
      timestamp: iso(o.updatedTs),
    };
  }

  private tradeExec(o: SimOrder, f: SimFill): Record<string, unknown> {
    const spec = this.spec(o.request.symbol);
    const idx = o.fills.findIndex((x) => x.tradeId === f.tradeId);
    const upto = idx >= 0 ? o.fills.slice(0, idx + 1) : o.fills;
    const cumLots = upto.reduce((s, x) => s + x.qtyLots, 0);
    const cumCost = upto.reduce((s, x) => s.plus(new Money(x.notional)), new Money(0));
    return {
      order_id: o.orderId,
      cl_ord_id: o.request.clientOrderId || undefined,
      exec_id: f.tradeId,
      exec_type: 'trade',
      trade_id: Number(f.tradeId.replace(/\D/g, '').slice(-9)) || 0,
      symbol: f.symbol,
      side: f.side,
      order_type: execModel(o),
      order_qty: new Num(fromSteps(o.request.qtyLots, spec.qty)),
      last_qty: new Num(fromSteps(f.qtyLots, spec.qty)),
      last_price: new Num(fromSteps(f.priceTicks, spec.price)),
      liquidity_ind: f.liquidity === 'maker' ? 'm' : 't',
      cost: new Num(f.notional),
      order_status: cumLots >= o.request.qtyLots ? 'filled' : 'partially_filled',
      cum_qty: new Num(fromSteps(cumLots, spec.qty)),
      cum_cost: new Num(cumCost.toFixed()),
      fees: [{ asset: f.feeAsset, qty: new Num(f.fee) }],
      fee_usd_equiv: new Num(f.fee),
      triggers: this.triggersOf(o),
      timestamp: iso(f.ts),
    };
  }

  /**
   * A stop's `triggers` echo in executions [GUESS: field names as in add_order; `status`
   * "untriggered" | "triggered" — UNCONFIRMED, research-stops.md §3]; undefined for other orders.
   */
  private triggersOf(o: SimOrder): Record<string, unknown> | undefined {
    const r = o.request;
    if (!stopOf(r)) return undefined;
    return {
      reference: 'last',
      price: new Num(fromSteps(r.triggerTicks ?? 0, this.spec(r.symbol).price)),
      price_type: 'static',
      status: o.triggered ? 'triggered' : 'untriggered',
    };
  }

  private deliver(s: Session, text: string): void {
    deliverText(this.host, VENUE, s.ws, text);
  }
}

function execId(o: SimOrder, execType: string): string {
  return `${o.orderId}-${execType}`;
}

function altname(symbol: string): string {
  return symbol.replace('/', '');
}

function restStatus(o: SimOrder): string {
  switch (o.status) {
    case 'NEW':
    case 'PARTIALLY_FILLED':
      return 'open';
    case 'FILLED':
      return 'closed';
    case 'CANCELED':
      return 'canceled';
    default:
      return 'expired';
  }
}

function wsStatus(o: SimOrder): string {
  switch (o.status) {
    case 'NEW':
      return 'new';
    case 'PARTIALLY_FILLED':
      return 'partially_filled';
    case 'FILLED':
      return 'filled';
    case 'CANCELED':
      return 'canceled';
    default:
      return 'expired';
  }
}

function describe(o: SimOrder, spec: SimInstrumentSpec): string {
  const r = o.request;
  const qty = fromSteps(r.qtyLots, spec.qty);
  const pair = altname(r.symbol);
  const px = (t: number | undefined) => fromSteps(t ?? 0, spec.price);
  // [MEM] Kraken's descr.order texts, e.g. "sell 0.001 XBTUSD @ stop loss 40000.0 -> limit 39900.0".
  switch (r.type) {
    case 'market':
      return `${r.side} ${qty} ${pair} @ market`;
    case 'limit':
      return `${r.side} ${qty} ${pair} @ limit ${px(r.priceTicks)}`;
    case 'stop-market':
      return `${r.side} ${qty} ${pair} @ stop loss ${px(r.triggerTicks)}`;
    case 'stop-limit':
      return `${r.side} ${qty} ${pair} @ stop loss ${px(r.triggerTicks)} -> limit ${px(r.priceTicks)}`;
  }
}

/** Kraken's order_type / ordertype names → the matching engine's order types. */
const ORDER_TYPES: Record<string, SimOrderRequest['type'] | undefined> = {
  market: 'market',
  limit: 'limit',
  'stop-loss': 'stop-market',
  'stop-loss-limit': 'stop-limit',
};

function wireType(t: SimOrderRequest['type']): string {
  return t === 'stop-market' ? 'stop-loss' : t === 'stop-limit' ? 'stop-loss-limit' : t;
}

function stopOf(r: SimOrderRequest): boolean {
  return r.type === 'stop-market' || r.type === 'stop-limit';
}

/** order_type in executions: a triggered stop reports its execution model (FIX ER doc) [GUESS]. */
function execModel(o: SimOrder): string {
  const t = o.request.type;
  if (!o.triggered) return wireType(t);
  return t === 'stop-market' ? 'market' : t === 'stop-limit' ? 'limit' : t;
}

/**
 * The trigger price text of an add_order `triggers` object; throws `EGeneral:Invalid arguments…` for
 * what the simulator does not model (reference other than last/index, price_type other than static).
 */
function triggerPrice(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) throw new KrakenFailure('EGeneral:Invalid arguments:triggers');
  const t = v as Record<string, unknown>;
  if (!['last', 'index'].includes(str(t.reference) ?? 'last'))
    throw new KrakenFailure('EGeneral:Invalid arguments:triggers.reference');
  if ((str(t.price_type) ?? 'static') !== 'static')
    throw new KrakenFailure('EGeneral:Invalid arguments:triggers.price_type (only static is simulated)');
  const price = numText(t.price);
  if (price === undefined) throw new KrakenFailure('EGeneral:Invalid arguments:triggers.price');
  return price;
}

function avgPrice(o: SimOrder, spec: SimInstrumentSpec): string {
  if (o.filledLots === 0) return '0';
  const qty = new Money(fromSteps(o.filledLots, spec.qty));
  return new Money(o.cumNotional)
    .div(qty)
    .toDecimalPlaces(spec.price.scale + 4)
    .toFixed();
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * JSON.parse keeping every JSON number as its exact source text (a string): Kraken v2 numbers are
 * decimals, never floats (Node 24: the reviver's `context.source`).
 */
export function parseExact(text: string): unknown {
  const reviver = (_k: string, v: unknown, ctx?: { source?: string }) =>
    typeof v === 'number' && ctx?.source !== undefined ? ctx.source : v;
  return JSON.parse(text, reviver);
}

/** A number param's exact text (numbers arrive as their source text from parseExact). */
function numText(v: unknown): string | undefined {
  return typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? v : undefined;
}
