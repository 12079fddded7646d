/**
 * Kraken Futures trading (VENUES.md §4, §5 items 7–9): the VenueTrading port over the venue's REST v3
 * (orders; Kraken Futures has no WS order entry) and the WS v1 private feeds `open_orders` + `fills`.
 *
 * - Signing: `Authent` = signKrakenFutures(secret, path without /derivatives, Nonce, postData), where
 *   postData is the URL-encoded string exactly as sent (form body for POST, query for GET). Nonces
 *   come from one NonceSource (strictly increasing; taken right before signing).
 * - place(): POST sendorder (orderType mkt | lmt | post | ioc | stp from the intent, size/limitPrice on the
 *   instrument grid, cliOrdId = our client order id, reduceOnly). `result:"success"` alone is NEVER an
 *   ack: `sendStatus.status === "placed"` is; any other status is `rejected` with that status as the
 *   code (postWouldExecute, wouldNotReducePosition, iocWouldNotExecute, insufficientAvailableFunds,
 *   …). `clientOrderIdAlreadyExist` means our order exists: answered from queryOrder. No answer
 *   (timeout, connection lost), an unreadable answer or any 5xx → `unknown` (a gateway 5xx may come
 *   after the order was placed): ask queryOrder, never resend blindly. `result:"error"` → rejected
 *   with the venue's error string (e.g. authenticationError, nonceBelowThreshold).
 *   Ack state: from sendStatus.orderEvents (EXECUTION amounts summed); a mkt/ioc remainder is gone
 *   at once, so such an order is FILLED or EXPIRED in the ack.
 * - Stops (/work/research-stops.md §4): a 'stop-market' intent is `orderType=stp` with `stopPrice`
 *   and no limitPrice, a 'stop-limit' one adds `limitPrice` [DOC
 *   https://docs.kraken.com/api-reference/order-management/send-order: "If no limitPrice is provided
 *   the stp … order will trigger a market order"]. `triggerSignal=mark` always: the documented
 *   choice for protective stops on perpetuals, less prone to wicks of the last trade than `last`
 *   (enum mark | index | last [DOC schema]). reduceOnly as the intent says. An untriggered stop is
 *   NEW with `stop: true`: from a PLACE/CANCEL event carrying `orderTrigger` instead of `order`
 *   [UNCONFIRMED], openorders `orderType` "stp" (or "stop") [UNCONFIRMED], open_orders `type`
 *   "stop" [DOC https://docs.kraken.com/api/docs/futures-api/websocket/open_orders]. A triggered
 *   stop-limit rests as a limit (no `stop` flag); a triggered stop's fills come on the fills feed
 *   with its order_id and our cliOrdId. Capabilities: both stop types, reduce-only, and the dead
 *   man's switch cancels stops too [DOC https://docs.kraken.com/api-reference/order-management/dead-mans-switch:
 *   "cancel all user orders"].
 * - queryOrder(cliOrdId): the venue keeps no queryable history by client id on these endpoints, so
 *   (1) GET openorders, matched by cliOrdId → NEW / PARTIALLY_FILLED; else (2) GET fills (the last
 *   100), matched by cliOrdId or by the order_id we learned → FILLED when the fills reach the size
 *   we sent (else CANCELED with that filled size); else (3) what this client saw itself (a cancel,
 *   a feed event) → that state; else null. A finished order WITHOUT fills that this process never
 *   saw end (e.g. cancelled by the DMS while we were restarting) is reported null: not found, which
 *   is right for "was it placed?" only when the order has not rested before. [Not used here: the
 *   `/orders/status` endpoint, which covers orders finished in the last few seconds.]
 * - positions(): GET openpositions; size is unsigned with side long/short → signed lots.
 * - Private feeds: challenge → signed challenge → subscribe open_orders + fills, on every
 *   (re)connect. Fills → Fill (tradeId = fill_id, fee = fee_paid exact text, positive = paid),
 *   deduplicated by fill_id, so the fills_snapshot after a reconnect recovers a gap's fills
 *   (at-least-once; the venue's snapshot is bounded). open_orders → order events (full_fill →
 *   FILLED, other cancels → CANCELED). Numbers are read from their JSON source text (no float).
 *   `stream-down` on every drop, `stream-up` when both feeds are subscribed again.
 * - Dead man's switch: cancelallordersafter(timeout = 60 s) armed at start and refreshed every
 *   15 s while the private stream is up (docs: 15–20 s with 60 s); disarmed (timeout=0) on a clean
 *   stop. If the stream stays down longer than the timeout, the venue cancels everything: intended.
 * - Secrets: the API secret lives only in the signing closures; never a property, never in an error,
 *   event or diagnostic.
 */
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError } from '#core/errors.ts';
import { fromSteps, toSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';
import type { BackoffOptions } from '../backoff.ts';
import type { HttpMethod } from '../http.ts';
import { HttpDataError, HttpOperationalError, requestText } from '../http.ts';
import { NonceSource } from '../nonce.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import type {
  CancelResult,
  PlaceResult,
  UserEvent,
  VenueOrderState,
  VenueOrderStatus,
  VenuePosition,
  VenueTrading,
  TradingCapabilities,
} from '../trading.ts';
import type { ConnectionEvent } from '../ws-connection.ts';
import { WsConnection } from '../ws-connection.ts';
import { krakenFuturesInstruments } from './instruments.ts';
import { signChallenge, signKrakenFutures } from './signing.ts';

export interface KrakenFuturesTradingEndpoints {
  /** REST origin; paths are `/derivatives/api/v3/...` (simulator: http://127.0.0.1:port/kraken-futures). */
  readonly rest: string;
  /** The WS v1 URL, e.g. wss://futures.kraken.com/ws/v1. */
  readonly ws: string;
}

export const KRAKEN_FUTURES_TRADING_ENDPOINTS: KrakenFuturesTradingEndpoints = {
  rest: 'https://futures.kraken.com',
  ws: 'wss://futures.kraken.com/ws/v1',
};

/** Endpoints for a base shaped like the simulator's baseUrl(). */
export function krakenFuturesTradingEndpointsFor(base: {
  rest: string;
  ws: string;
}): KrakenFuturesTradingEndpoints {
  return { rest: base.rest, ws: `${base.ws}/ws/v1` };
}

export type KrakenFuturesDiagnostic =
  | { readonly type: 'bad-message'; readonly error: string }
  | { readonly type: 'feed-error'; readonly message: string }
  | { readonly type: 'dms'; readonly ok: boolean; readonly detail: string };

export interface KrakenFuturesTradingOptions {
  readonly endpoints: KrakenFuturesTradingEndpoints;
  readonly apiKey: string;
  /** Base64; never logged, never in errors: only the signing closures keep it. */
  readonly apiSecret: string;
  readonly clock?: Clock;
  readonly instruments?: Iterable<Instrument>;
  /** An order/cancel without an answer after this is `unknown`. @default 5000 */
  readonly orderTimeoutMs?: number;
  /** @default 10000 */
  readonly requestTimeoutMs?: number;
  /** Dead man's switch timeout in seconds (0 = do not arm). @default 60 */
  readonly dmsTimeoutSec?: number;
  /** Refresh period of the switch. @default 15000 */
  readonly dmsRefreshMs?: number;
  /** Nonce lanes when processes share a key (see nonce.ts). */
  readonly nonce?: { readonly lanes?: number; readonly lane?: number; readonly floor?: bigint };
  readonly pingIntervalMs?: number;
  readonly silentLimitMs?: number;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /** start() gives up when the private feeds are not subscribed after this. @default 15000 */
  readonly startTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly limiter?: RateLimiter;
  readonly onConnectionEvent?: (e: ConnectionEvent) => void;
  readonly onDiagnostic?: (d: KrakenFuturesDiagnostic) => void;
}

type Json = Record<string, unknown>;

interface KnownOrder {
  readonly symbol: string;
  readonly qtyLots: number;
  venueOrderId: string;
  /** Terminal state seen by this client (cancel answer, feed), if any. */
  final: VenueOrderState | null;
  filledLots: number;
}

type RestOutcome =
  | { readonly kind: 'ok'; readonly body: Json }
  | { readonly kind: 'error'; readonly code: string; readonly message: string }
  | { readonly kind: 'unknown'; readonly reason: string };

const API = '/derivatives/api/v3/';
const SEEN_MAX = 20_000;
/** openorders `orderType` of an untriggered stop: "stp" as sent; "stop" also read [UNCONFIRMED]. */
const STOP_TYPES = new Set(['stp', 'stop']);

export class KrakenFuturesTrading implements VenueTrading {
  readonly capabilities: TradingCapabilities = {
    stopTypes: ['stop-market', 'stop-limit'],
    reduceOnly: true,
    dmsCancelsStops: true,
  };
  readonly venue = 'kraken-futures' as const;
  private readonly opts: Omit<KrakenFuturesTradingOptions, 'apiSecret'>;
  private readonly clock: Clock;
  private readonly apiKey: string;
  private readonly authent: (path: string, nonce: string, postData: string) => string;
  private readonly signCh: (challenge: string) => string;
  private readonly nonces: NonceSource;
  private instruments = new InstrumentSet([]);
  private onEvent: (e: UserEvent) => void = () => {};
  private conn: WsConnection | null = null;
  private subscribed = new Set<string>();
  private streamUp = false;
  private upWaiters: Array<() => void> = [];
  private dmsTimer: ReturnType<typeof setTimeout> | null = null;
  private dmsFrozen = false;
  private stopped = false;
  private readonly known = new Map<string, KnownOrder>();
  private readonly cliOf = new Map<string, string>();
  /** fill_id → the Fill the private feed gave (fees are only on the feed). */
  private readonly seenFills = new Map<string, Fill>();

  constructor(opts: KrakenFuturesTradingOptions) {
    if (typeof opts.apiKey !== 'string' || opts.apiKey === '')
      throw new DataError('BAD_OPTION', 'Kraken Futures API key is empty');
    if (typeof opts.apiSecret !== 'string' || opts.apiSecret === '')
      throw new DataError('BAD_OPTION', 'Kraken Futures API secret is empty');
    const { apiSecret: secret, ...rest } = opts;
    // Fails now (without quoting it) when the secret is not base64.
    signChallenge(secret, 'probe');
    this.opts = rest;
    this.clock = opts.clock ?? systemClock;
    this.apiKey = opts.apiKey;
    this.authent = (path, nonce, postData) => signKrakenFutures(secret, path, nonce, postData);
    this.signCh = (challenge) => signChallenge(secret, challenge);
    this.nonces = new NonceSource({ clock: this.clock, ...opts.nonce });
    if (opts.instruments) this.instruments = new InstrumentSet(opts.instruments);
  }

  get instrumentSet(): InstrumentSet {
    return this.instruments;
  }

  get privateStreamUp(): boolean {
    return this.streamUp;
  }

  /** The last nonce used (tests check it only grows). */
  get lastNonce(): bigint {
    return this.nonces.last;
  }

  async start(onEvent: (e: UserEvent) => void): Promise<void> {
    this.onEvent = onEvent;
    this.stopped = false;
    if (this.instruments.size === 0) {
      const res = await requestText('GET', `${this.opts.endpoints.rest}${API}instruments`, {
        clock: this.clock,
        limiter: this.opts.limiter,
        timeoutMs: this.opts.requestTimeoutMs,
      });
      this.instruments = krakenFuturesInstruments(JSON.parse(res.text));
    }
    const conn = this.makeConnection();
    this.conn = conn;
    const up = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.opts.startTimeoutMs ?? 15_000);
      this.upWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    conn.start();
    if (!(await up)) {
      await this.stop();
      throw new DataError('START_FAILED', 'Kraken Futures private feeds not subscribed in time');
    }
    await this.refreshDms();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.dmsTimer) clearTimeout(this.dmsTimer);
    this.dmsTimer = null;
    if ((this.opts.dmsTimeoutSec ?? 60) > 0 && !this.dmsFrozen) {
      const r = await this.rest('POST', 'cancelallordersafter', [['timeout', '0']]);
      this.diag({
        type: 'dms',
        ok: r.kind === 'ok',
        detail: r.kind === 'ok' ? 'disarmed' : `disarm: ${r.kind}`,
      });
    }
    const conn = this.conn;
    this.conn = null;
    if (conn) await conn.stop();
    if (this.streamUp) {
      this.streamUp = false;
      this.onEvent({ type: 'stream-down', reason: 'stopped' });
    }
  }

  /** Test hook: stops refreshing the dead man's switch without disarming it (a hung process). */
  freezeDeadMansSwitch(): void {
    this.dmsFrozen = true;
    if (this.dmsTimer) clearTimeout(this.dmsTimer);
    this.dmsTimer = null;
  }

  place(intent: OrderIntent, instrument: Instrument, onWritten?: () => void): Promise<PlaceResult> {
    let params: Array<readonly [string, string]>;
    try {
      params = this.orderParams(intent, instrument);
    } catch (err) {
      const e = err as DataError;
      return Promise.resolve({ kind: 'rejected', code: e.code ?? 'BAD_ORDER', message: e.message });
    }
    const prior = this.known.get(intent.clientOrderId);
    if (!prior || prior.final) {
      this.known.set(intent.clientOrderId, {
        symbol: instrument.symbol,
        qtyLots: intent.qtyLots,
        venueOrderId: '',
        final: null,
        filledLots: 0,
      });
    }
    return this.rest('POST', 'sendorder', params, this.opts.orderTimeoutMs ?? 5000, onWritten).then((r) =>
      this.placeOutcome(r, intent, instrument),
    );
  }

  async cancel(symbol: string, clientOrderId: string): Promise<CancelResult> {
    const r = await this.rest(
      'POST',
      'cancelorder',
      [['cliOrdId', clientOrderId]],
      this.opts.orderTimeoutMs ?? 5000,
    );
    if (r.kind !== 'ok')
      return r.kind === 'unknown' ? r : { kind: 'rejected', code: r.code, message: r.message };
    const cs = asJson(r.body.cancelStatus);
    const status = str(cs?.status);
    if (status !== 'cancelled') {
      return {
        kind: 'rejected',
        code: status || 'BAD_RESPONSE',
        message: `cancelorder: ${status || 'no cancelStatus'}`,
      };
    }
    const k = this.known.get(clientOrderId);
    const venueOrderId = str(cs?.order_id) || k?.venueOrderId || '';
    const events = Array.isArray(cs?.orderEvents) ? cs.orderEvents : [];
    const stop = events.some((e) => asJson(asJson(e)?.orderTrigger) !== undefined);
    const state: VenueOrderState = {
      symbol: k?.symbol ?? symbol,
      clientOrderId,
      venueOrderId,
      status: 'CANCELED',
      filledLots: k?.filledLots ?? 0,
      ts: this.clock.now(),
      ...(stop ? { stop: true } : {}),
    };
    if (k) k.final = state;
    return { kind: 'ok', state };
  }

  async cancelAll(symbol?: string): Promise<number> {
    const r = await this.rest('POST', 'cancelallorders', symbol ? [['symbol', symbol]] : []);
    if (r.kind !== 'ok')
      throw new DataError('CANCEL_ALL_FAILED', `cancelallorders: ${r.kind === 'error' ? r.code : r.reason}`);
    const cs = asJson(r.body.cancelStatus);
    // `noOrdersToCancel` may come with a non-empty cancelledOrders: count the list, not the status.
    return Array.isArray(cs?.cancelledOrders) ? cs.cancelledOrders.length : 0;
  }

  async queryOrder(symbol: string, clientOrderId: string): Promise<VenueOrderState | null> {
    const open = await this.openOrders();
    const o = open.find((x) => x.clientOrderId === clientOrderId);
    if (o) return o;
    const k = this.known.get(clientOrderId);
    const r = await this.rest('GET', 'fills', []);
    if (r.kind !== 'ok')
      throw new DataError('QUERY_FAILED', `fills: ${r.kind === 'error' ? r.code : r.reason}`);
    let filled = 0;
    let venueOrderId = k?.venueOrderId ?? '';
    let ts = 0;
    let inst: Instrument | undefined;
    for (const f of Array.isArray(r.body.fills) ? r.body.fills : []) {
      const j = asJson(f);
      if (!j) continue;
      const oid = str(j.order_id);
      if (str(j.cliOrdId) !== clientOrderId && (venueOrderId === '' || oid !== venueOrderId)) continue;
      inst = this.instruments.get(str(j.symbol).toUpperCase());
      if (!inst) continue;
      venueOrderId = oid;
      filled += toSteps(str(j.size), inst.qty);
      ts = Math.max(ts, Date.parse(str(j.fillTime)) || 0);
    }
    if (filled > 0 && inst) {
      const status: VenueOrderStatus =
        k === undefined || filled >= k.qtyLots ? 'FILLED' : (k.final?.status ?? 'CANCELED');
      return { symbol: inst.symbol, clientOrderId, venueOrderId, status, filledLots: filled, ts };
    }
    if (k?.final) return k.final;
    void symbol;
    return null;
  }

  async openOrders(symbol?: string): Promise<VenueOrderState[]> {
    const r = await this.rest('GET', 'openorders', []);
    if (r.kind !== 'ok')
      throw new DataError('QUERY_FAILED', `openorders: ${r.kind === 'error' ? r.code : r.reason}`);
    const out: VenueOrderState[] = [];
    for (const raw of Array.isArray(r.body.openOrders) ? r.body.openOrders : []) {
      const j = asJson(raw);
      const inst = j ? this.instruments.get(str(j.symbol).toUpperCase()) : undefined;
      if (!j || !inst) continue;
      if (symbol !== undefined && inst.symbol !== symbol.toUpperCase()) continue;
      const filledLots = toSteps(str(j.filledSize) || '0', inst.qty);
      const clientOrderId = str(j.cliOrdId);
      this.learn(clientOrderId, str(j.order_id));
      out.push({
        symbol: inst.symbol,
        clientOrderId,
        venueOrderId: str(j.order_id),
        status: filledLots > 0 ? 'PARTIALLY_FILLED' : 'NEW',
        filledLots,
        ts: Date.parse(str(j.lastUpdateTime)) || this.clock.now(),
        ...(STOP_TYPES.has(str(j.orderType)) ? { stop: true } : {}),
      });
    }
    return out;
  }

  async positions(): Promise<VenuePosition[]> {
    const r = await this.rest('GET', 'openpositions', []);
    if (r.kind !== 'ok')
      throw new DataError('QUERY_FAILED', `openpositions: ${r.kind === 'error' ? r.code : r.reason}`);
    const out: VenuePosition[] = [];
    for (const raw of Array.isArray(r.body.openPositions) ? r.body.openPositions : []) {
      const j = asJson(raw);
      if (!j) continue;
      const symbol = str(j.symbol).toUpperCase();
      const inst = this.instruments.get(symbol);
      if (!inst)
        throw new DataError('UNKNOWN_INSTRUMENT', `openpositions: position in unknown symbol ${symbol}`);
      const lots = toSteps(str(j.size), inst.qty);
      if (lots === 0) continue;
      out.push({ symbol, qtyLots: str(j.side) === 'short' ? -lots : lots, entryPrice: str(j.price) || '0' });
    }
    return out;
  }

  /**
   * Fills of a symbol since `sinceTs`, oldest first, from GET fills (the venue's last 100; older
   * pages via lastFillTime are not walked here). The REST fill carries no fee [DOC example]: a fill
   * this client saw on the private feed keeps the feed's exact fee; one it never saw has fee "0"
   * and feeAsset "" (unknown, to be reconciled from the account log).
   */
  async fillsSince(symbol: string, sinceTs: number): Promise<Fill[]> {
    const inst = this.instruments.get(symbol);
    if (!inst) return [];
    const r = await this.rest('GET', 'fills', []);
    if (r.kind !== 'ok')
      throw new DataError('QUERY_FAILED', `fills: ${r.kind === 'error' ? r.code : r.reason}`);
    const out: Fill[] = [];
    for (const raw of Array.isArray(r.body.fills) ? r.body.fills : []) {
      const j = asJson(raw);
      if (!j || str(j.symbol).toUpperCase() !== inst.symbol) continue;
      const ts = Date.parse(str(j.fillTime)) || 0;
      if (ts < sinceTs) continue;
      const fillId = str(j.fill_id);
      const seen = this.seenFills.get(fillId);
      if (seen) {
        out.push(seen);
        continue;
      }
      const orderId = str(j.order_id);
      out.push({
        venue: 'kraken-futures',
        symbol: inst.symbol,
        tradeId: fillId,
        clientOrderId: str(j.cliOrdId) || this.cliOf.get(orderId) || '',
        side: str(j.side) === 'sell' ? 'sell' : 'buy',
        priceTicks: toSteps(str(j.price), inst.price),
        qtyLots: toSteps(str(j.size), inst.qty),
        fee: '0',
        feeAsset: '',
        liquidity: str(j.fillType) === 'maker' ? 'maker' : 'taker',
        ts,
      });
    }
    return out.sort((a, b) => a.ts - b.ts);
  }

  // ------------------------------------------------------------------------------ orders

  private orderParams(intent: OrderIntent, inst: Instrument): Array<readonly [string, string]> {
    if (intent.venue !== 'kraken-futures' || inst.venue !== 'kraken-futures')
      throw new DataError('WRONG_VENUE', `order for ${intent.venue} sent to kraken-futures`);
    let orderType: string;
    if (intent.type === 'stop-market' || intent.type === 'stop-limit') {
      if (intent.timeInForce !== 'GTC') throw new DataError('BAD_ORDER', 'a stop order is GTC');
      if (intent.triggerTicks === undefined) throw new DataError('BAD_ORDER', 'stop order without a trigger');
      orderType = 'stp';
    } else if (intent.type === 'market') {
      if (intent.timeInForce === 'POST_ONLY')
        throw new DataError('BAD_ORDER', 'a market order cannot be post-only');
      orderType = 'mkt';
    } else {
      orderType = intent.timeInForce === 'POST_ONLY' ? 'post' : intent.timeInForce === 'IOC' ? 'ioc' : 'lmt';
    }
    const params: Array<readonly [string, string]> = [
      ['orderType', orderType],
      ['symbol', inst.symbol],
      ['side', intent.side],
      ['size', fromSteps(intent.qtyLots, inst.qty)],
    ];
    if (intent.type === 'limit' || intent.type === 'stop-limit') {
      if (intent.priceTicks === undefined) throw new DataError('BAD_ORDER', 'limit order without a price');
      params.push(['limitPrice', fromSteps(intent.priceTicks, inst.price)]);
    }
    if (orderType === 'stp') {
      params.push(['stopPrice', fromSteps(intent.triggerTicks as number, inst.price)]);
      params.push(['triggerSignal', 'mark']);
    }
    params.push(['cliOrdId', intent.clientOrderId]);
    if (intent.reduceOnly) params.push(['reduceOnly', 'true']);
    return params;
  }

  private async placeOutcome(r: RestOutcome, intent: OrderIntent, inst: Instrument): Promise<PlaceResult> {
    if (r.kind === 'unknown') return r;
    if (r.kind === 'error') return { kind: 'rejected', code: r.code, message: r.message };
    const ss = asJson(r.body.sendStatus);
    if (!ss) return { kind: 'unknown', reason: 'result success without sendStatus' };
    const status = str(ss.status);
    if (status === 'clientOrderIdAlreadyExist') {
      try {
        const state = await this.queryOrder(inst.symbol, intent.clientOrderId);
        if (state) return { kind: 'ack', state };
      } catch {
        // the caller reconciles
      }
      return { kind: 'unknown', reason: 'clientOrderIdAlreadyExist; the order could not be read back' };
    }
    if (status !== 'placed') {
      const k = this.known.get(intent.clientOrderId);
      if (k && !k.venueOrderId) this.known.delete(intent.clientOrderId);
      return {
        kind: 'rejected',
        code: status || 'BAD_RESPONSE',
        message: `sendorder: ${status || 'no status'}`,
      };
    }
    const venueOrderId = str(ss.order_id);
    if (!venueOrderId) return { kind: 'unknown', reason: 'placed without an order_id' };
    this.learn(intent.clientOrderId, venueOrderId);
    let filled = 0;
    // A stop that rests untriggered is placed as an `orderTrigger`; one the market has already
    // reached is placed as the order it became [UNCONFIRMED].
    let untriggered = false;
    try {
      for (const ev of Array.isArray(ss.orderEvents) ? ss.orderEvents : []) {
        const e = asJson(ev);
        if (e?.type === 'EXECUTION') filled += toSteps(str(e.amount), inst.qty);
        if (e?.type === 'PLACE' && asJson(e.orderTrigger)) untriggered = true;
      }
    } catch (err) {
      return { kind: 'unknown', reason: `unreadable orderEvents: ${safeMessage(err)}` };
    }
    const immediate =
      intent.type === 'market' ||
      intent.timeInForce === 'IOC' ||
      (intent.type === 'stop-market' && !untriggered);
    const state: VenueOrderState = {
      symbol: inst.symbol,
      clientOrderId: intent.clientOrderId,
      venueOrderId,
      status:
        filled >= intent.qtyLots ? 'FILLED' : immediate ? 'EXPIRED' : filled > 0 ? 'PARTIALLY_FILLED' : 'NEW',
      filledLots: filled,
      ts: Date.parse(str(ss.receivedTime)) || this.clock.now(),
      ...(untriggered ? { stop: true } : {}),
    };
    const k = this.known.get(intent.clientOrderId);
    if (k) {
      k.filledLots = Math.max(k.filledLots, filled);
      if (state.status === 'FILLED' || state.status === 'EXPIRED') k.final = state;
    }
    return { kind: 'ack', state };
  }

  private learn(clientOrderId: string, venueOrderId: string): void {
    if (!clientOrderId || !venueOrderId) return;
    this.cliOf.set(venueOrderId, clientOrderId);
    if (this.cliOf.size > SEEN_MAX) this.cliOf.delete(this.cliOf.keys().next().value as string);
    const k = this.known.get(clientOrderId);
    if (k && !k.venueOrderId) k.venueOrderId = venueOrderId;
  }

  // ------------------------------------------------------------------------------ REST

  private async rest(
    method: HttpMethod,
    endpoint: string,
    params: ReadonlyArray<readonly [string, string]>,
    timeoutMs?: number,
    onSent?: () => void,
  ): Promise<RestOutcome> {
    const postData = new URLSearchParams(params.map(([k, v]): [string, string] => [k, v])).toString();
    const path = `${API}${endpoint}`;
    const nonce = this.nonces.nextString();
    const headers: Record<string, string> = {
      APIKey: this.apiKey,
      Nonce: nonce,
      Authent: this.authent(path, nonce, postData),
    };
    let url = `${this.opts.endpoints.rest}${path}`;
    let body: string | undefined;
    if (method === 'GET') {
      if (postData) url += `?${postData}`;
    } else {
      body = postData;
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    let text: string;
    try {
      const res = await requestText(method, url, {
        headers,
        body,
        clock: this.clock,
        limiter: this.opts.limiter,
        timeoutMs: timeoutMs ?? this.opts.requestTimeoutMs,
        onSent,
      });
      text = res.text;
    } catch (err) {
      if (err instanceof HttpOperationalError) {
        if (err.status === 0) return { kind: 'unknown', reason: `${err.code}: no response` };
        if (err.status === 429) return { kind: 'error', code: 'RATE_LIMITED', message: 'HTTP 429' };
        return { kind: 'unknown', reason: `HTTP ${err.status}` };
      }
      if (err instanceof HttpDataError) {
        const j = parseExact(err.body);
        if (j && j.result === 'error')
          return { kind: 'error', code: str(j.error) || `HTTP_${err.status}`, message: `HTTP ${err.status}` };
        return { kind: 'error', code: `HTTP_${err.status}`, message: `HTTP ${err.status}` };
      }
      return { kind: 'unknown', reason: safeMessage(err) };
    }
    const j = parseExact(text);
    if (!j) return { kind: 'unknown', reason: 'unreadable response' };
    if (j.result === 'success') return { kind: 'ok', body: j };
    if (j.result === 'error') {
      const code = str(j.error) || 'error';
      return { kind: 'error', code, message: `${endpoint}: ${code}` };
    }
    return { kind: 'unknown', reason: 'response without a result' };
  }

  // ------------------------------------------------------------------------------ dead man's switch

  private async refreshDms(): Promise<void> {
    const timeout = this.opts.dmsTimeoutSec ?? 60;
    if (timeout <= 0 || this.stopped || this.dmsFrozen) return;
    if (this.streamUp) {
      const r = await this.rest('POST', 'cancelallordersafter', [['timeout', String(timeout)]]);
      this.diag({
        type: 'dms',
        ok: r.kind === 'ok',
        detail: r.kind === 'ok' ? `armed ${timeout} s` : r.kind === 'error' ? r.code : r.reason,
      });
    }
    if (this.stopped || this.dmsFrozen) return;
    this.dmsTimer = setTimeout(() => void this.refreshDms(), this.opts.dmsRefreshMs ?? 15_000);
  }

  // ------------------------------------------------------------------------------ private feeds

  private makeConnection(): WsConnection {
    const conn: WsConnection = new WsConnection({
      name: 'kraken-futures private',
      url: () => this.opts.endpoints.ws,
      onOpen: (send) => {
        this.subscribed = new Set();
        send(JSON.stringify({ event: 'challenge', api_key: this.apiKey }));
      },
      onMessage: (text) => this.onMessage(conn, text),
      onDown: (reason) => {
        this.subscribed = new Set();
        if (this.streamUp) {
          this.streamUp = false;
          this.emit({ type: 'stream-down', reason });
        }
      },
      onEvent: (e) => this.opts.onConnectionEvent?.(e),
      silentLimitMs: this.opts.silentLimitMs ?? 30_000,
      pingIntervalMs: this.opts.pingIntervalMs ?? 15_000,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      backoff: this.opts.backoff ?? { baseMs: 250, capMs: 10_000, resetAfterMs: 10_000 },
      clock: this.clock,
    });
    return conn;
  }

  private onMessage(conn: WsConnection, text: string): void {
    const msg = parseExact(text);
    if (!msg) return this.diag({ type: 'bad-message', error: 'not JSON' });
    try {
      if (msg.event === 'challenge' && typeof msg.message === 'string') {
        const signed = this.signCh(msg.message);
        for (const feed of ['open_orders', 'fills']) {
          conn.send(
            JSON.stringify({
              event: 'subscribe',
              feed,
              api_key: this.apiKey,
              original_challenge: msg.message,
              signed_challenge: signed,
            }),
          );
        }
        return;
      }
      if (msg.event === 'subscribed') {
        this.subscribed.add(str(msg.feed));
        if (this.subscribed.has('open_orders') && this.subscribed.has('fills') && !this.streamUp) {
          this.streamUp = true;
          this.emit({ type: 'stream-up' });
          for (const w of this.upWaiters.splice(0)) w();
        }
        return;
      }
      if (msg.event === 'error' || msg.event === 'alert') {
        return this.diag({ type: 'feed-error', message: str(msg.message).slice(0, 200) });
      }
      if (msg.feed === 'fills' || msg.feed === 'fills_snapshot') {
        for (const f of Array.isArray(msg.fills) ? msg.fills : []) this.onFill(asJson(f));
        return;
      }
      if (msg.feed === 'open_orders_snapshot') {
        for (const o of Array.isArray(msg.orders) ? msg.orders : []) this.onOpenOrder(asJson(o));
        return;
      }
      if (msg.feed === 'open_orders') {
        if (msg.is_cancel === true) this.onOrderGone(msg);
        else this.onOpenOrder(asJson(msg.order));
      }
    } catch (err) {
      this.diag({ type: 'bad-message', error: safeMessage(err) });
    }
  }

  private onFill(j: Json | undefined): void {
    if (!j) return;
    const fillId = str(j.fill_id);
    const inst = this.instruments.get(str(j.instrument).toUpperCase());
    if (!fillId || !inst)
      return this.diag({ type: 'bad-message', error: 'fill without fill_id or known instrument' });
    if (this.seenFills.has(fillId)) return;
    const orderId = str(j.order_id);
    const clientOrderId = str(j.cli_ord_id) || this.cliOf.get(orderId) || '';
    this.learn(clientOrderId, orderId);
    const qtyLots = toSteps(str(j.qty), inst.qty);
    const k = this.known.get(clientOrderId);
    if (k) k.filledLots += qtyLots;
    const fill: Fill = {
      venue: 'kraken-futures',
      symbol: inst.symbol,
      tradeId: fillId,
      clientOrderId,
      side: j.buy === true ? 'buy' : 'sell',
      priceTicks: toSteps(str(j.price), inst.price),
      qtyLots,
      fee: str(j.fee_paid) || '0',
      feeAsset: str(j.fee_currency),
      liquidity: str(j.fill_type) === 'maker' ? 'maker' : 'taker',
      ts: Number(str(j.time)) || this.clock.now(),
    };
    this.seenFills.set(fillId, fill);
    if (this.seenFills.size > SEEN_MAX) this.seenFills.delete(this.seenFills.keys().next().value as string);
    this.emit({ type: 'fill', fill });
  }

  private onOpenOrder(o: Json | undefined): void {
    if (!o) return;
    const inst = this.instruments.get(str(o.instrument).toUpperCase());
    if (!inst) return;
    const clientOrderId = str(o.cli_ord_id);
    const venueOrderId = str(o.order_id);
    this.learn(clientOrderId, venueOrderId);
    const filledLots = toSteps(str(o.filled) || '0', inst.qty);
    this.emit({
      type: 'order',
      state: {
        symbol: inst.symbol,
        clientOrderId,
        venueOrderId,
        status: filledLots > 0 ? 'PARTIALLY_FILLED' : 'NEW',
        filledLots,
        ts: Number(str(o.last_update_time)) || this.clock.now(),
        ...(str(o.type) === 'stop' ? { stop: true } : {}),
      },
    });
  }

  private onOrderGone(msg: Json): void {
    const venueOrderId = str(msg.order_id);
    const clientOrderId = str(msg.cli_ord_id) || this.cliOf.get(venueOrderId) || '';
    const k = this.known.get(clientOrderId);
    const reason = str(msg.reason);
    const state: VenueOrderState = {
      symbol: k?.symbol ?? '',
      clientOrderId,
      venueOrderId,
      status: reason === 'full_fill' ? 'FILLED' : 'CANCELED',
      filledLots: reason === 'full_fill' && k ? k.qtyLots : (k?.filledLots ?? 0),
      ts: this.clock.now(),
    };
    if (k) k.final = state;
    this.emit({ type: 'order', state });
  }

  private emit(e: UserEvent): void {
    if (this.stopped && e.type !== 'stream-down') return;
    this.onEvent(e);
  }

  private diag(d: KrakenFuturesDiagnostic): void {
    try {
      this.opts.onDiagnostic?.(d);
    } catch {
      // logging must not break trading
    }
  }
}

/** JSON with every number kept as its source text (no float rounding of prices, sizes, fees). */
function parseExact(text: string): Json | undefined {
  try {
    const v = JSON.parse(text, (_k, value: unknown, ctx?: { source?: string }) =>
      typeof value === 'number' && ctx?.source !== undefined ? ctx.source : value,
    ) as unknown;
    return asJson(v);
  } catch {
    return undefined;
  }
}

function asJson(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function safeMessage(err: unknown): string {
  return err instanceof Error ? err.message : 'non-Error thrown';
}
