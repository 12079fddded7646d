/**
 * Kraken spot trading (VENUES.md §3.4–3.5): the VenueTrading port over the venue's own private API.
 *
 * - One authenticated WebSocket v2 connection (wss://ws-auth.kraken.com/v2) carries orders
 *   (add_order, cancel_order, cancel_all, cancel_all_orders_after) and the `executions` channel.
 *   Its token comes from `POST /0/private/GetWebSocketsToken` (signed REST); a fresh token is
 *   fetched for every (re)connection (the docs: use within 15 min, one per connection).
 * - place() builds the add_order frame and writes it synchronously, calls onWritten, then awaits
 *   the answer matched by req_id (default 5 s; none = `unknown`). When the socket is down the order
 *   goes over signed REST (`AddOrder`). Numbers in requests are exact decimal text at the pair's
 *   precision written as JSON numbers; numbers in answers/events are parsed keeping their source text
 *   (never through float).
 * - cl_ord_id = our client order id (Tradewind ids are 18 chars, within Kraken's ≤ 18 free-text
 *   rule). A duplicate-id reject is answered from a query (the order exists: it is ours).
 * - Outcomes: no answer, a lost connection, `EGeneral:Internal error`, `EService:Timeout`,
 *   `EService:Deadline elapsed` → `unknown` [MEM: Kraken documents these as "status unknown"]; REST
 *   network failure with no response → `unknown`; `EService:Unavailable` / `EService:Busy` → rejected
 *   UNAVAILABLE; anything else → rejected with the error string as code. `EAPI:Invalid nonce` on a
 *   read or a cancel is retried once with a fresh nonce; on AddOrder it is a reject (nonce is checked
 *   before the order is processed [MEM]).
 * - queryOrder: OpenOrders then ClosedOrders, both filtered by `cl_ord_id` (REST).
 * - positions(): spot, position = balance: `Balance`, the base asset of each traded pair, in lots
 *   (balance decimals beyond the lot precision are dust and truncated). entryPrice "0".
 * - executions → UserEvent: `trade` → fill (tradeId = exec_id, fee = fees[0].qty exact text,
 *   positive = paid, feeAsset = fees[0].asset, liquidity_ind m/t) then the order state; new / filled /
 *   canceled / expired → order state. `stream-down` when the socket drops; `stream-up` after the
 *   executions snapshot of a (re)subscription; a re-subscription asks snap_trades:true (last 50
 *   fills) so fills of a short gap are recovered, deduplicated by exec_id.
 * - Dead man's switch: armed at start and re-armed every `dms.intervalMs` (default 20 s) with
 *   `dms.timeoutSec` (default 60), over the WS (REST when it is down); disarmed (timeout 0) on a
 *   clean stop. `dms: false` disables it.
 * - Spot is long-only; the venue rejects a sell without base (EOrder:Insufficient funds).
 * - Stop orders (capabilities.stopTypes): 'stop-market' → add_order `order_type` "stop-loss",
 *   'stop-limit' → "stop-loss-limit" with `limit_price`, both with `triggers: {reference: "last",
 *   price: <trigger>, price_type: "static"}` [DOC
 *   https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/add_order]; over REST AddOrder
 *   `price` = the trigger, `price2` = the limit, `trigger=last` [MEM]. GTC only (an IOC or post-only
 *   stop is refused here). A resting sell stop holds its base; spot has no reduce-only. The stop
 *   flag of a state comes from REST `descr.ordertype` "stop-loss*" [MEM] and, in executions, from a
 *   `triggers` object or a stop order_type [GUESS: after the trigger Kraken may report the execution
 *   model (market/limit) as order_type, as its FIX ExecutionReport does
 *   (https://docs.kraken.com/exchange/api-reference/unified-fix/er), so a stop stays a stop by cl_ord_id].
 *   The trigger event's exact exec_type/order_status text is UNCONFIRMED (research-stops.md §3):
 *   any order_status other than the known ones yields no order event; fills carry cl_ord_id as usual.
 * - The dead man's switch cancels every order of the account, untriggered stops included [DOC
 *   https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/cancel_after]:
 *   capabilities.dmsCancelsStops.
 *
 * Secrets: the API secret lives only in the signing closure; the WS token is never put into an
 * error, event or diagnostic. Nonces come from one NonceSource per client (lib/venues/nonce.ts).
 */
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError, OperationalError } from '#core/errors.ts';
import { fromSteps, toSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';
import { isStopType } from '#core/trading.ts';
import type { BackoffOptions } from '../backoff.ts';
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
import { krakenSpotInstruments, normalizeKrakenSymbol } from './instruments.ts';
import { decodeKrakenSecret, signKraken } from './signing.ts';

export interface KrakenSpotTradingEndpoints {
  /** REST base: https://api.kraken.com (simulator: http://127.0.0.1:port/kraken-spot). */
  readonly rest: string;
  /** Authenticated WS v2: wss://ws-auth.kraken.com/v2 (simulator: ws://…/kraken-spot/v2-auth). */
  readonly wsAuth: string;
}

export const KRAKEN_SPOT_TRADING_ENDPOINTS: KrakenSpotTradingEndpoints = {
  rest: 'https://api.kraken.com',
  wsAuth: 'wss://ws-auth.kraken.com/v2',
};

/** Endpoints for the simulator's base URLs. */
export function krakenTradingEndpointsFor(base: { rest: string; ws: string }): KrakenSpotTradingEndpoints {
  return { rest: base.rest, wsAuth: `${base.ws}/v2-auth` };
}

export type KrakenTradingDiagnostic =
  | { readonly type: 'bad-message'; readonly error: string }
  | { readonly type: 'late-response'; readonly reqId: number; readonly afterMs: number }
  | { readonly type: 'token'; readonly ok: boolean; readonly detail: string }
  | { readonly type: 'dms'; readonly action: 'armed' | 'disarmed' | 'failed'; readonly detail: string }
  | { readonly type: 'subscribe'; readonly ok: boolean; readonly detail: string };

export interface KrakenSpotTradingOptions {
  readonly endpoints: KrakenSpotTradingEndpoints;
  readonly apiKey: string;
  /** Base64 as Kraken issues it. Never logged, never in errors: only the signing closure keeps it. */
  readonly apiSecret: string;
  readonly clock?: Clock;
  /** One per API key per process (lib/venues/nonce.ts). @default new NonceSource({ clock }) */
  readonly nonce?: NonceSource;
  /** Pairs to trade (and whose base balances positions() reports); from AssetPairs when absent. */
  readonly instruments?: Iterable<Instrument>;
  /** @default 5000 */
  readonly orderTimeoutMs?: number;
  /** @default 10000 */
  readonly requestTimeoutMs?: number;
  /** Dead man's switch cadence and timeout; false = never armed. @default {intervalMs: 20000, timeoutSec: 60} */
  readonly dms?: false | { readonly intervalMs?: number; readonly timeoutSec?: number };
  /** Orders over the WS (REST when false or while it is down). @default true */
  readonly useWs?: boolean;
  readonly liveness?: { readonly pingIntervalMs?: number; readonly silentLimitMs?: number };
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  /** @default 15000 */
  readonly startTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly limiter?: RateLimiter;
  readonly onConnectionEvent?: (e: ConnectionEvent) => void;
  readonly onDiagnostic?: (d: KrakenTradingDiagnostic) => void;
}

interface WsAnswer {
  readonly method?: string;
  readonly req_id?: string;
  readonly success?: boolean;
  readonly result?: Record<string, unknown>;
  readonly error?: string;
}

type Outcome = WsAnswer | { readonly lost: string };

interface Pending {
  readonly sentAt: number;
  readonly resolve: (r: Outcome) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** A Kraken `{"error":[…]}` answer. */
export class KrakenApiError extends DataError {
  readonly errors: readonly string[];
  constructor(where: string, errors: readonly string[]) {
    super('VENUE_REJECTED', `${where}: ${errors.join('; ')}`);
    this.name = 'KrakenApiError';
    this.errors = errors;
  }
}

const UNKNOWN_ERRORS = /^(EGeneral:Internal error|EService:Timeout|EService:Deadline elapsed)/;
const UNAVAILABLE_ERRORS = /^(EService:Unavailable|EService:Busy|EService:Market in cancel_only mode)/;
const DUPLICATE = /^EOrder:Duplicate/;
const SEEN_MAX = 20_000;
/** Our order types → Kraken's order_type / ordertype [DOC add_order]. */
const KRAKEN_ORDER_TYPE: Record<OrderIntent['type'], string> = {
  market: 'market',
  limit: 'limit',
  'stop-market': 'stop-loss',
  'stop-limit': 'stop-loss-limit',
};
const STOP_ORDER_TYPES = new Set(['stop-loss', 'stop-loss-limit']);
const REST_ASSET: Record<string, string> = {
  XXBT: 'BTC',
  XBT: 'BTC',
  ZUSD: 'USD',
  ZEUR: 'EUR',
  XETH: 'ETH',
  XXDG: 'DOGE',
  XDG: 'DOGE',
};

export class KrakenSpotTrading implements VenueTrading {
  readonly capabilities: TradingCapabilities = {
    stopTypes: ['stop-market', 'stop-limit'],
    reduceOnly: false,
    dmsCancelsStops: true,
  };
  readonly venue = 'kraken-spot' as const;
  private readonly opts: Omit<KrakenSpotTradingOptions, 'apiSecret'>;
  private readonly clock: Clock;
  private readonly apiKey: string;
  private readonly sign: (path: string, nonce: string, body: string) => string;
  private readonly nonce: NonceSource;
  private readonly orderTimeoutMs: number;
  private instruments: InstrumentSet = new InstrumentSet([], normalizeKrakenSymbol);
  private onEvent: (e: UserEvent) => void = () => {};
  private ws: WsConnection | null = null;
  private token = '';
  private tokenFresh = false;
  private reqSeq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly lateIds = new Map<number, number>();
  private started = false;
  private stopped = false;
  private streamUp = false;
  private subscribedOnce = false;
  private snapshotWaiters: Array<() => void> = [];
  private dmsTimer: ReturnType<typeof setInterval> | null = null;
  private readonly seenExec = new Set<string>();
  /** clOrdId → last known state (from executions). */
  private readonly states = new Map<string, VenueOrderState>();
  private readonly counters = { badMessages: 0, lateResponses: 0, restFallbacks: 0, dmsArmed: 0 };

  constructor(opts: KrakenSpotTradingOptions) {
    if (typeof opts.apiKey !== 'string' || opts.apiKey === '')
      throw new DataError('BAD_OPTION', 'Kraken API key is empty');
    decodeKrakenSecret(opts.apiSecret); // validates without quoting it
    const { apiSecret: secret, ...rest } = opts;
    this.opts = rest;
    this.clock = opts.clock ?? systemClock;
    this.apiKey = opts.apiKey;
    this.sign = (path, nonce, body) => signKraken(secret, path, nonce, body);
    this.nonce = opts.nonce ?? new NonceSource({ clock: this.clock });
    this.orderTimeoutMs = opts.orderTimeoutMs ?? 5000;
    if (opts.instruments) this.instruments = new InstrumentSet(opts.instruments, normalizeKrakenSymbol);
  }

  get stats(): { badMessages: number; lateResponses: number; restFallbacks: number; dmsArmed: number } {
    return { ...this.counters };
  }

  get wsUp(): boolean {
    return this.ws?.state === 'open';
  }

  get instrumentSet(): InstrumentSet {
    return this.instruments;
  }

  // ------------------------------------------------------------------------------ lifecycle

  async start(onEvent: (e: UserEvent) => void): Promise<void> {
    if (this.started) throw new OperationalError('ALREADY_STARTED', 'kraken-spot trading: started twice');
    this.started = true;
    this.onEvent = onEvent;
    if (this.instruments.size === 0) {
      const res = await requestText('GET', `${this.opts.endpoints.rest}/0/public/AssetPairs`, {
        clock: this.clock,
        limiter: this.opts.limiter,
        timeoutMs: this.opts.requestTimeoutMs,
      });
      this.instruments = krakenSpotInstruments(JSON.parse(res.text));
    }
    await this.refreshToken();
    const deadline = this.opts.startTimeoutMs ?? 15_000;
    const snap = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), deadline);
      this.snapshotWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    this.ws = this.makeConnection();
    this.ws.start();
    if (!(await snap)) {
      await this.stop();
      throw new OperationalError(
        'USER_STREAM_DOWN',
        `kraken-spot trading: no executions snapshot within ${deadline} ms`,
      );
    }
    if (this.opts.dms !== false) {
      await this.armDms();
      const every = this.opts.dms?.intervalMs ?? 20_000;
      this.dmsTimer = setInterval(() => void this.armDms(), every);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.dmsTimer) clearInterval(this.dmsTimer);
    this.dmsTimer = null;
    if (this.started && this.opts.dms !== false && this.subscribedOnce) {
      try {
        await this.setDms(0);
        this.diag({ type: 'dms', action: 'disarmed', detail: 'clean stop' });
      } catch (err) {
        this.diag({ type: 'dms', action: 'failed', detail: `disarm: ${safeMessage(err)}` });
      }
    }
    this.stopped = true;
    for (const w of this.snapshotWaiters) w();
    this.snapshotWaiters = [];
    this.failPending('client stopped');
    await this.ws?.stop();
  }

  /** Stops re-arming the dead man's switch without disarming it (what a hung process looks like). */
  haltDmsRefresh(): void {
    if (this.dmsTimer) clearInterval(this.dmsTimer);
    this.dmsTimer = null;
  }

  // ------------------------------------------------------------------------------ orders

  place(intent: OrderIntent, instrument: Instrument, onWritten?: () => void): Promise<PlaceResult> {
    let fields: Array<[string, string, boolean]>;
    try {
      fields = this.orderFields(intent, instrument);
    } catch (err) {
      const e = err as DataError;
      return Promise.resolve({ kind: 'rejected', code: e.code ?? 'BAD_ORDER', message: e.message });
    }
    const sent = this.opts.useWs === false ? null : this.sendWs('add_order', fields);
    if (sent) {
      onWritten?.();
      return sent.then((r) => this.placeOutcome(r, intent, instrument));
    }
    this.counters.restFallbacks++;
    return this.placeRest(intent, instrument, onWritten);
  }

  async cancel(symbol: string, clientOrderId: string): Promise<CancelResult> {
    const sent =
      this.opts.useWs === false
        ? null
        : this.sendWs('cancel_order', [['cl_ord_id', JSON.stringify([clientOrderId]), true]]);
    if (sent) {
      const r = await sent;
      if ('lost' in r) return { kind: 'unknown', reason: r.lost };
      if (r.success === true)
        return { kind: 'ok', state: this.canceledState(symbol, clientOrderId, str(r.result?.order_id)) };
      return this.errorVerdict(r.error ?? 'no error text');
    }
    try {
      await this.rest('CancelOrder', [['cl_ord_id', clientOrderId]], { timeoutMs: this.orderTimeoutMs });
      return { kind: 'ok', state: this.canceledState(symbol, clientOrderId, '') };
    } catch (err) {
      return this.errorOf(err);
    }
  }

  async cancelAll(symbol?: string): Promise<number> {
    if (symbol !== undefined) {
      const open = await this.openOrders(symbol);
      let n = 0;
      for (const o of open) {
        const r = await this.cancel(symbol, o.clientOrderId);
        if (r.kind === 'ok') n++;
      }
      return n;
    }
    const sent = this.opts.useWs === false ? null : this.sendWs('cancel_all', []);
    if (sent) {
      const r = await sent;
      if ('lost' in r) throw new OperationalError('UNKNOWN_OUTCOME', `cancel_all: ${r.lost}`);
      if (r.success !== true) throw new KrakenApiError('cancel_all', [r.error ?? 'failed']);
      return Number(r.result?.count ?? 0);
    }
    const res = await this.rest('CancelAll', []);
    return Number(res.count ?? 0);
  }

  async queryOrder(symbol: string, clientOrderId: string): Promise<VenueOrderState | null> {
    const open = await this.rest('OpenOrders', [['cl_ord_id', clientOrderId]]);
    const o = this.firstOrder(open.open, symbol, clientOrderId);
    if (o) return o;
    const closed = await this.rest('ClosedOrders', [['cl_ord_id', clientOrderId]]);
    return this.firstOrder(closed.closed, symbol, clientOrderId);
  }

  async openOrders(symbol?: string): Promise<VenueOrderState[]> {
    const res = await this.rest('OpenOrders', []);
    const out: VenueOrderState[] = [];
    for (const [txid, raw] of Object.entries(asRecord(res.open) ?? {})) {
      const s = this.restOrderState(txid, raw);
      if (s && (symbol === undefined || s.symbol === this.instruments.get(symbol)?.symbol)) out.push(s);
    }
    return out;
  }

  async positions(): Promise<VenuePosition[]> {
    const res = await this.rest('Balance', []);
    const balances = new Map<string, string>();
    for (const [asset, v] of Object.entries(res)) {
      if (typeof v === 'string') balances.set(REST_ASSET[asset] ?? asset, v);
    }
    const out: VenuePosition[] = [];
    for (const inst of this.instruments) {
      const bal = balances.get(normalizeKrakenSymbol(inst.base));
      if (bal === undefined) continue;
      const lots = toSteps(truncate(bal, inst.qty.scale), inst.qty);
      if (lots !== 0) out.push({ symbol: inst.symbol, qtyLots: lots, entryPrice: '0' });
    }
    return out;
  }

  /**
   * Fills since `sinceTs` from `TradesHistory` (start in seconds), oldest first. The trade id is the
   * history key, which is the executions channel's exec_id [MEM]; the client id comes from
   * QueryOrders on the trade's ordertxid. One page (50 trades) per call [MEM: `ofs` paging left out].
   */
  async fillsSince(symbol: string, sinceTs: number): Promise<Fill[]> {
    const inst = this.instruments.get(symbol);
    if (!inst) return [];
    const res = await this.rest('TradesHistory', [['start', String(Math.floor(sinceTs / 1000) - 1)]]);
    const rows: Array<[string, Record<string, unknown>]> = [];
    for (const [id, raw] of Object.entries(asRecord(res.trades) ?? {})) {
      const t = asRecord(raw);
      if (t && this.byPair(str(t.pair))?.symbol === inst.symbol && Number(t.time) * 1000 >= sinceTs)
        rows.push([id, t]);
    }
    rows.sort((a, b) => Number(a[1].time) - Number(b[1].time));
    const clientOf = new Map<string, string>();
    const txids = [...new Set(rows.map(([, t]) => str(t.ordertxid)))].filter(Boolean);
    if (txids.length > 0) {
      const q = await this.rest('QueryOrders', [['txid', txids.join(',')]]);
      for (const [txid, o] of Object.entries(q)) clientOf.set(txid, str(asRecord(o)?.cl_ord_id));
    }
    return rows.map(([id, t]) => ({
      venue: 'kraken-spot',
      symbol: inst.symbol,
      tradeId: id,
      clientOrderId: clientOf.get(str(t.ordertxid)) ?? '',
      side: t.type === 'sell' ? 'sell' : 'buy',
      priceTicks: toSteps(str(t.price), inst.price),
      qtyLots: toSteps(truncate(str(t.vol), inst.qty.scale), inst.qty),
      fee: str(t.fee) || '0',
      feeAsset: inst.quote,
      liquidity: t.maker === true ? 'maker' : 'taker',
      ts: Math.round(Number(t.time) * 1000),
    }));
  }

  // ------------------------------------------------------------------------------ order plumbing

  /** add_order params as [name, JSON text, raw]; raw values are written verbatim (numbers). */
  private orderFields(intent: OrderIntent, inst: Instrument): Array<[string, string, boolean]> {
    if (intent.venue !== 'kraken-spot' || inst.venue !== 'kraken-spot')
      throw new DataError('WRONG_VENUE', `order for ${intent.venue} sent to kraken-spot`);
    // Spot has no reduce-only: the engine's flag on an exit sell is its own (the gate has checked
    // the sell is covered by the base held) and is not sent; a reduce-only buy has no short to reduce.
    if (intent.reduceOnly && intent.side === 'buy')
      throw new DataError(
        'BAD_ORDER',
        'kraken-spot: spot has no short to reduce: a reduce-only buy is refused',
      );
    if (intent.clientOrderId.length > 18)
      throw new DataError('BAD_ORDER', 'kraken-spot: cl_ord_id longer than 18');
    const f: Array<[string, string, boolean]> = [
      ['order_type', KRAKEN_ORDER_TYPE[intent.type], false],
      ['side', intent.side, false],
      ['order_qty', fromSteps(intent.qtyLots, inst.qty), true],
      ['symbol', inst.symbol, false],
    ];
    if (isStopType(intent.type)) {
      if (intent.triggerTicks === undefined) throw new DataError('BAD_ORDER', 'stop order without a trigger');
      if (intent.timeInForce !== 'GTC') throw new DataError('BAD_ORDER', 'kraken-spot: stop orders are GTC');
      const trigger = fromSteps(intent.triggerTicks, inst.price);
      f.push(['triggers', `{"reference":"last","price":${trigger},"price_type":"static"}`, true]);
      if (intent.type === 'stop-limit') {
        if (intent.priceTicks === undefined)
          throw new DataError('BAD_ORDER', 'stop-limit order without a price');
        f.push(['limit_price', fromSteps(intent.priceTicks, inst.price), true]);
      }
      f.push(['time_in_force', 'gtc', false]);
    } else if (intent.type === 'limit') {
      if (intent.priceTicks === undefined) throw new DataError('BAD_ORDER', 'limit order without a price');
      f.push(['limit_price', fromSteps(intent.priceTicks, inst.price), true]);
      f.push(['time_in_force', intent.timeInForce === 'IOC' ? 'ioc' : 'gtc', false]);
      if (intent.timeInForce === 'POST_ONLY') f.push(['post_only', 'true', true]);
    } else if (intent.timeInForce === 'POST_ONLY') {
      throw new DataError('BAD_ORDER', 'a market order cannot be post-only');
    }
    f.push(['cl_ord_id', intent.clientOrderId, false]);
    return f;
  }

  /** Writes one WS request synchronously; null when the socket is not open (nothing sent). */
  private sendWs(
    method: string,
    fields: ReadonlyArray<readonly [string, string, boolean]>,
  ): Promise<Outcome> | null {
    const conn = this.ws;
    if (!conn || conn.state !== 'open' || this.stopped || !this.tokenFresh) return null;
    const id = ++this.reqSeq;
    const params = [...fields, ['token', this.token, false] as const]
      .map(([k, v, raw]) => `${JSON.stringify(k)}:${raw ? v : JSON.stringify(v)}`)
      .join(',');
    const text = `{"method":${JSON.stringify(method)},"params":{${params}},"req_id":${id}}`;
    if (!conn.send(text)) return null;
    const sentAt = this.clock.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.lateIds.set(id, sentAt);
        if (this.lateIds.size > 1000) this.lateIds.delete(this.lateIds.keys().next().value as number);
        resolve({ lost: `no response within ${this.orderTimeoutMs} ms` });
      }, this.orderTimeoutMs);
      this.pending.set(id, { sentAt, resolve, timer });
    });
  }

  private async placeOutcome(r: Outcome, intent: OrderIntent, inst: Instrument): Promise<PlaceResult> {
    if ('lost' in r) return { kind: 'unknown', reason: r.lost };
    if (r.success === true) return this.ack(intent, inst, str(r.result?.order_id));
    return this.rejectOrDuplicate(r.error ?? 'no error text', intent, inst);
  }

  private async placeRest(
    intent: OrderIntent,
    inst: Instrument,
    onWritten?: () => void,
  ): Promise<PlaceResult> {
    try {
      this.orderFields(intent, inst); // the same checks as over the WS
    } catch (err) {
      const e = err as DataError;
      return { kind: 'rejected', code: e.code ?? 'BAD_ORDER', message: e.message };
    }
    const p: Array<[string, string]> = [
      ['pair', inst.symbol],
      ['type', intent.side],
      ['ordertype', KRAKEN_ORDER_TYPE[intent.type]],
      ['volume', fromSteps(intent.qtyLots, inst.qty)],
      ['cl_ord_id', intent.clientOrderId],
    ];
    if (intent.type === 'limit') {
      p.push(['price', fromSteps(intent.priceTicks as number, inst.price)]);
      if (intent.timeInForce === 'IOC') p.push(['timeinforce', 'IOC']);
      if (intent.timeInForce === 'POST_ONLY') p.push(['oflags', 'post']);
    } else if (isStopType(intent.type)) {
      // REST AddOrder stops: price = trigger, price2 = limit, trigger = last [MEM].
      p.push(['price', fromSteps(intent.triggerTicks as number, inst.price)], ['trigger', 'last']);
      if (intent.type === 'stop-limit')
        p.push(['price2', fromSteps(intent.priceTicks as number, inst.price)]);
    }
    try {
      const res = await this.rest('AddOrder', p, {
        timeoutMs: this.orderTimeoutMs,
        onSent: onWritten,
        noRetry: true,
      });
      const txid = Array.isArray(res.txid) ? str(res.txid[0]) : '';
      return this.ack(intent, inst, txid);
    } catch (err) {
      if (err instanceof KrakenApiError) return this.rejectOrDuplicate(err.errors[0] ?? '', intent, inst);
      return this.errorOf(err);
    }
  }

  private ack(intent: OrderIntent, inst: Instrument, orderId: string): PlaceResult {
    const known = this.states.get(intent.clientOrderId);
    const state: VenueOrderState =
      known && known.venueOrderId === orderId
        ? known
        : {
            symbol: inst.symbol,
            clientOrderId: intent.clientOrderId,
            venueOrderId: orderId,
            status: 'NEW',
            filledLots: 0,
            ts: this.clock.now(),
            ...(isStopType(intent.type) ? { stop: true } : {}),
          };
    return { kind: 'ack', state };
  }

  private async rejectOrDuplicate(
    error: string,
    intent: OrderIntent,
    inst: Instrument,
  ): Promise<PlaceResult> {
    if (DUPLICATE.test(error)) {
      try {
        const s = await this.queryOrder(inst.symbol, intent.clientOrderId);
        if (s) return { kind: 'ack', state: s };
      } catch {
        // the caller reconciles
      }
      return { kind: 'unknown', reason: `${error}; the order could not be read back` };
    }
    const v = this.errorVerdict(error);
    return v;
  }

  private errorVerdict(
    error: string,
  ): { kind: 'unknown'; reason: string } | { kind: 'rejected'; code: string; message: string } {
    if (UNKNOWN_ERRORS.test(error)) return { kind: 'unknown', reason: error };
    if (UNAVAILABLE_ERRORS.test(error)) return { kind: 'rejected', code: 'UNAVAILABLE', message: error };
    return { kind: 'rejected', code: error.split(':').slice(0, 2).join(':') || 'REJECTED', message: error };
  }

  private errorOf(err: unknown): CancelResult & { kind: 'unknown' | 'rejected' } {
    if (err instanceof KrakenApiError) return this.errorVerdict(err.errors[0] ?? '');
    if (err instanceof HttpOperationalError && err.status === 0)
      return { kind: 'unknown', reason: `${err.code}: no response` };
    if (err instanceof HttpOperationalError)
      return { kind: 'rejected', code: 'UNAVAILABLE', message: safeMessage(err) };
    if (err instanceof HttpDataError) return { kind: 'rejected', code: err.code, message: safeMessage(err) };
    return { kind: 'unknown', reason: safeMessage(err) };
  }

  private canceledState(symbol: string, clientOrderId: string, orderId: string): VenueOrderState {
    const known = this.states.get(clientOrderId);
    return {
      symbol: this.instruments.get(symbol)?.symbol ?? symbol,
      clientOrderId,
      venueOrderId: orderId || known?.venueOrderId || '',
      status: 'CANCELED',
      filledLots: known?.filledLots ?? 0,
      ts: this.clock.now(),
      ...(known?.stop ? { stop: true } : {}),
    };
  }

  private firstOrder(map: unknown, symbol: string, clientOrderId: string): VenueOrderState | null {
    const want = this.instruments.get(symbol)?.symbol ?? symbol;
    for (const [txid, raw] of Object.entries(asRecord(map) ?? {})) {
      const s = this.restOrderState(txid, raw);
      if (s && s.clientOrderId === clientOrderId && s.symbol === want) return s;
    }
    return null;
  }

  /** A REST order object (OpenOrders/ClosedOrders/QueryOrders) → state; null for unknown pairs. */
  private restOrderState(txid: string, raw: unknown): VenueOrderState | null {
    const o = asRecord(raw);
    const descr = asRecord(o?.descr);
    if (!o || !descr) throw new DataError('BAD_RESPONSE', 'order without descr');
    const inst = this.byPair(str(descr.pair));
    if (!inst) return null;
    const volExec = str(o.vol_exec) || '0';
    const lots = toSteps(truncate(volExec, inst.qty.scale), inst.qty);
    const vol = toSteps(truncate(str(o.vol) || '0', inst.qty.scale), inst.qty);
    let status: VenueOrderStatus;
    switch (o.status) {
      case 'pending':
      case 'open':
        status = lots > 0 ? 'PARTIALLY_FILLED' : 'NEW';
        break;
      case 'closed':
        status = 'FILLED';
        break;
      case 'canceled':
        status = 'CANCELED';
        break;
      case 'expired':
        status = 'EXPIRED';
        break;
      default:
        throw new DataError('BAD_STATUS', `unknown Kraken order status ${JSON.stringify(o.status)}`);
    }
    void vol;
    const tm = Number(o.closetm) || Number(o.opentm) || 0;
    return {
      symbol: inst.symbol,
      clientOrderId: str(o.cl_ord_id),
      venueOrderId: txid,
      status,
      filledLots: lots,
      ts: tm > 0 ? Math.round(tm * 1000) : this.clock.now(),
      ...(STOP_ORDER_TYPES.has(str(descr.ordertype)) ? { stop: true } : {}),
    };
  }

  /** REST descr.pair is the altname (XBTUSD); WS uses BTC/USD. */
  private byPair(pair: string): Instrument | undefined {
    const direct = this.instruments.get(pair);
    if (direct) return direct;
    const key = pairKey(pair);
    for (const inst of this.instruments) if (pairKey(inst.symbol) === key) return inst;
    return undefined;
  }

  // ------------------------------------------------------------------------------ DMS

  private async armDms(): Promise<void> {
    if (this.stopped || this.opts.dms === false) return;
    const timeout = this.opts.dms?.timeoutSec ?? 60;
    try {
      await this.setDms(timeout);
      this.counters.dmsArmed++;
      this.diag({ type: 'dms', action: 'armed', detail: `timeout ${timeout} s` });
    } catch (err) {
      this.diag({ type: 'dms', action: 'failed', detail: safeMessage(err) });
    }
  }

  private async setDms(timeout: number): Promise<void> {
    const sent = this.sendWs('cancel_all_orders_after', [['timeout', String(timeout), true]]);
    if (sent) {
      const r = await sent;
      if ('lost' in r) throw new OperationalError('DMS', `cancel_all_orders_after: ${r.lost}`);
      if (r.success !== true) throw new KrakenApiError('cancel_all_orders_after', [r.error ?? 'failed']);
      return;
    }
    await this.rest('CancelAllOrdersAfter', [['timeout', String(timeout)]]);
  }

  // ------------------------------------------------------------------------------ REST

  /** A signed private call; resolves with `result`, throws KrakenApiError on a non-empty error array. */
  private async rest(
    method: string,
    params: ReadonlyArray<readonly [string, string]>,
    o: { timeoutMs?: number; onSent?: (() => void) | undefined; noRetry?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    for (let attempt = 0; ; attempt++) {
      const path = `/0/private/${method}`;
      const nonce = this.nonce.nextString();
      const body = new URLSearchParams([
        ['nonce', nonce],
        ...params.map(([k, v]) => [k, v] as [string, string]),
      ]).toString();
      const res = await requestText('POST', `${this.opts.endpoints.rest}${path}`, {
        headers: {
          'API-Key': this.apiKey,
          'API-Sign': this.sign(path, nonce, body),
          'content-type': 'application/x-www-form-urlencoded',
          'user-agent': 'tradewind',
        },
        body,
        clock: this.clock,
        limiter: this.opts.limiter,
        timeoutMs: o.timeoutMs ?? this.opts.requestTimeoutMs,
        onSent: o.onSent,
      });
      let parsed: unknown;
      try {
        parsed = JSON.parse(res.text);
      } catch {
        throw new DataError('BAD_RESPONSE', `${method}: body is not JSON`);
      }
      const root = asRecord(parsed);
      const errors = Array.isArray(root?.error) ? (root.error as unknown[]).map(String) : [];
      if (errors.length > 0) {
        if (errors[0]?.startsWith('EAPI:Invalid nonce') && attempt === 0 && !o.noRetry) continue;
        throw new KrakenApiError(method, errors);
      }
      const result = asRecord(root?.result);
      if (!result) throw new DataError('BAD_RESPONSE', `${method}: no result`);
      return result;
    }
  }

  private async refreshToken(): Promise<void> {
    const r = await this.rest('GetWebSocketsToken', []);
    const token = str(r.token);
    if (!token) throw new DataError('BAD_RESPONSE', 'GetWebSocketsToken without a token');
    this.token = token;
    this.tokenFresh = true;
    this.diag({ type: 'token', ok: true, detail: `expires ${str(r.expires)} s` });
  }

  // ------------------------------------------------------------------------------ WS

  private makeConnection(): WsConnection {
    const l = this.opts.liveness ?? {};
    const conn: WsConnection = new WsConnection({
      name: 'kraken-spot private',
      url: () => this.opts.endpoints.wsAuth,
      onOpen: (send) => {
        const snapTrades = this.subscribedOnce;
        send(
          `{"method":"subscribe","params":{"channel":"executions","token":${JSON.stringify(this.token)},"snap_orders":true,"snap_trades":${snapTrades}},"req_id":${++this.reqSeq}}`,
        );
      },
      onMessage: (text) => this.onMessage(text),
      onDown: (reason) => {
        this.failPending(`connection lost (${reason})`);
        if (this.streamUp) {
          this.streamUp = false;
          this.emit({ type: 'stream-down', reason });
        }
        // A fresh token for the next connection.
        if (!this.stopped) {
          this.tokenFresh = false;
          this.refreshToken().catch((err: unknown) =>
            this.diag({ type: 'token', ok: false, detail: safeMessage(err) }),
          );
        }
      },
      onEvent: (e) => this.opts.onConnectionEvent?.(e),
      silentLimitMs: l.silentLimitMs ?? 30_000,
      pingIntervalMs: l.pingIntervalMs ?? 10_000,
      appPing: () => '{"method":"ping"}',
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      backoff: this.opts.backoff ?? { baseMs: 250, capMs: 10_000, resetAfterMs: 10_000 },
      clock: this.clock,
    });
    return conn;
  }

  private onMessage(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = parseExact(text) as Record<string, unknown>;
    } catch {
      this.badMessage('not JSON');
      return;
    }
    if (msg.channel === 'executions') {
      try {
        this.onExecutions(msg);
      } catch (err) {
        this.badMessage(`executions: ${safeMessage(err)}`);
      }
      return;
    }
    if (typeof msg.method === 'string' && msg.req_id !== undefined) {
      const id = Number(msg.req_id);
      if (msg.method === 'subscribe') {
        this.diag({ type: 'subscribe', ok: msg.success === true, detail: str(msg.error) || 'executions' });
        return;
      }
      const p = this.pending.get(id);
      if (!p) {
        const sentAt = this.lateIds.get(id);
        if (sentAt !== undefined) {
          this.lateIds.delete(id);
          this.counters.lateResponses++;
          this.diag({ type: 'late-response', reqId: id, afterMs: this.clock.now() - sentAt });
        }
        return;
      }
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve(msg);
    }
    // status, heartbeat, pong: nothing to do.
  }

  private onExecutions(msg: Record<string, unknown>): void {
    const data = Array.isArray(msg.data) ? msg.data : [];
    for (const raw of data) {
      const e = asRecord(raw);
      if (e) this.onExec(e);
    }
    if (msg.type === 'snapshot') {
      this.subscribedOnce = true;
      if (!this.streamUp) {
        this.streamUp = true;
        this.emit({ type: 'stream-up' });
      }
      for (const w of this.snapshotWaiters) w();
      this.snapshotWaiters = [];
    }
  }

  private onExec(e: Record<string, unknown>): void {
    const inst = this.byPair(str(e.symbol));
    const prev = this.states.get(str(e.cl_ord_id));
    const symbolInst = inst ?? (prev ? this.instruments.get(prev.symbol) : undefined);
    if (!symbolInst) {
      this.badMessage(`execution for unknown symbol ${str(e.symbol)}`);
      return;
    }
    const clientOrderId = str(e.cl_ord_id);
    const ts = Date.parse(str(e.timestamp)) || this.clock.now();
    const execType = str(e.exec_type);
    if (execType === 'trade') {
      const execId = str(e.exec_id);
      if (this.seenExec.has(execId)) return;
      this.seenExec.add(execId);
      if (this.seenExec.size > SEEN_MAX) this.seenExec.delete(this.seenExec.values().next().value as string);
      const fee = asRecord(Array.isArray(e.fees) ? e.fees[0] : undefined);
      const fill: Fill = {
        venue: 'kraken-spot',
        symbol: symbolInst.symbol,
        tradeId: execId,
        clientOrderId,
        side: e.side === 'sell' ? 'sell' : 'buy',
        priceTicks: toSteps(str(e.last_price), symbolInst.price),
        qtyLots: toSteps(str(e.last_qty), symbolInst.qty),
        fee: str(fee?.qty) || '0',
        feeAsset: normalizeKrakenSymbol(str(fee?.asset) || symbolInst.quote),
        liquidity: e.liquidity_ind === 'm' ? 'maker' : 'taker',
        ts,
      };
      this.emit({ type: 'fill', fill });
    }
    const status = wsStatus(str(e.order_status), execType);
    if (!status) return;
    const cum = str(e.cum_qty);
    const stop = e.triggers !== undefined || STOP_ORDER_TYPES.has(str(e.order_type)) || prev?.stop === true;
    const state: VenueOrderState = {
      symbol: symbolInst.symbol,
      clientOrderId,
      venueOrderId: str(e.order_id),
      status,
      filledLots: cum ? toSteps(cum, symbolInst.qty) : (prev?.filledLots ?? 0),
      ts,
      ...(stop ? { stop: true } : {}),
    };
    if (clientOrderId) {
      this.states.set(clientOrderId, state);
      if (this.states.size > SEEN_MAX) this.states.delete(this.states.keys().next().value as string);
    }
    this.emit({ type: 'order', state });
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve({ lost: reason });
    }
  }

  // ------------------------------------------------------------------------------ helpers

  private emit(e: UserEvent): void {
    if (this.stopped && e.type !== 'stream-down') return;
    this.onEvent(e);
  }

  private badMessage(error: string): void {
    this.counters.badMessages++;
    this.diag({ type: 'bad-message', error });
  }

  private diag(d: KrakenTradingDiagnostic): void {
    try {
      this.opts.onDiagnostic?.(d);
    } catch {
      // Logging must not break trading.
    }
  }
}

function wsStatus(orderStatus: string, execType: string): VenueOrderStatus | null {
  switch (orderStatus) {
    case 'pending_new':
    case 'new':
      return 'NEW';
    case 'partially_filled':
      return 'PARTIALLY_FILLED';
    case 'filled':
      return 'FILLED';
    case 'canceled':
      return 'CANCELED';
    case 'expired':
      return 'EXPIRED';
  }
  if (execType === 'canceled') return 'CANCELED';
  if (execType === 'expired') return 'EXPIRED';
  return null;
}

/** JSON.parse keeping each JSON number as its exact source text (Node 24 reviver context). */
export function parseExact(text: string): unknown {
  const reviver = (_k: string, v: unknown, ctx?: { source?: string }) =>
    typeof v === 'number' && ctx?.source !== undefined ? ctx.source : v;
  return JSON.parse(text, reviver);
}

function pairKey(pair: string): string {
  return normalizeKrakenSymbol(
    pair.includes('/') ? pair : pair.replace(/^XBT/, 'BTC/').replace(/^XDG/, 'DOGE/'),
  )
    .replace('/', '')
    .replace(/^XBT/, 'BTC');
}

/** Drops decimals beyond `scale` (balance dust below one lot). */
function truncate(text: string, scale: number): string {
  const dot = text.indexOf('.');
  if (dot < 0) return text;
  const cut = text.slice(0, dot + 1 + scale);
  return cut.endsWith('.') ? cut.slice(0, -1) : cut;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

function safeMessage(err: unknown): string {
  return err instanceof Error ? err.message : 'non-Error thrown';
}
