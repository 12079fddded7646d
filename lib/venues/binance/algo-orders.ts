/**
 * Binance USD-M conditional (stop) orders: since 2025-12-09 they live in the Algo Service, not the
 * matching engine [DOC: https://developers.binance.com/docs/derivatives/change-log#2025-11-06;
 * all facts with sources in research-stops.md §1]. What this module does for the futures client:
 *
 * - Places them with `algoOrder.place` (WS API) / `POST /fapi/v1/algoOrder`: algoType=CONDITIONAL,
 *   type STOP_MARKET | STOP (+ price, timeInForce GTC), triggerPrice, quantity, reduceOnly,
 *   workingType, clientAlgoId = our client order id [DOC]. The order endpoints answer -4120 [DOC].
 * - Remembers which of our client ids are algo orders, and the link algo ↔ the matching-engine
 *   order a trigger creates (`actualOrderId` / ALGO_UPDATE `ai` = ORDER_TRADE_UPDATE `i`) [DOC].
 *   That order's `c` is undocumented [ASSUMED: not ours], so its updates are re-keyed to our
 *   clientAlgoId by `i`. Its fills may reach us before the ALGO_UPDATE that names `ai`
 *   [community: nautilus_trader#3664]: updates of an unknown `i` whose `c` is not one of our ids
 *   are held while we have untriggered stops in the symbol, released when an ALGO_UPDATE links
 *   them, or after `holdMs` resolved by querying those stops (`GET /fapi/v1/algoOrder`,
 *   `actualOrderId`); unresolved ones go out unchanged.
 * - Statuses [DOC: ALGO_UPDATE X]: NEW / TRIGGERING → NEW (stop: true); TRIGGERED / FINISHED → the
 *   triggered order's own status and filled quantity (read from `GET /fapi/v1/order?orderId=ai`);
 *   CANCELED, EXPIRED, REJECTED → the same.
 * - A restarted client knows nothing: the open stops are loaded at start (`GET
 *   /fapi/v1/openAlgoOrders`), a query or cancel by client id falls back to the algo endpoints when
 *   the order endpoints say -2013 / -2011, and trade-history recovery learns `actualOrderId` →
 *   clientAlgoId from `GET /fapi/v1/allAlgoOrders` [DOC].
 * - countdownCancelAll and `DELETE /fapi/v1/allOpenOrders` are taken NOT to cancel algo orders
 *   [ASSUMED: undocumented, research-stops.md §1e]: cancelAll also calls
 *   `DELETE /fapi/v1/algoOpenOrders`.
 */
import { parseClientOrderId } from '#core/client-order-id.ts';
import { DataError, OperationalError } from '#core/errors.ts';
import { fromSteps, toSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import type { OrderIntent } from '#core/trading.ts';
import { HttpDataError } from '../http.ts';
import type { VenueOrderState, VenueOrderStatus } from '../trading.ts';
import type { BinanceRest, SignedParams, TradingDiagnostic } from './binance-rest.ts';
import { mapStatus, num, safeMessage, str } from './binance-rest.ts';

/** An algo order object (REST / WS API answers, research-stops.md §1a/§1b). */
export interface AlgoOrderJson {
  readonly algoId?: number | string;
  readonly clientAlgoId?: string;
  readonly symbol?: string;
  readonly algoStatus?: string;
  readonly actualOrderId?: string | number;
  readonly quantity?: string;
  readonly updateTime?: number;
}

export interface AlgoOrdersOptions {
  readonly http: BinanceRest;
  readonly instrumentOf: (symbol: string) => Instrument;
  readonly now: () => number;
  /** Hands a held ORDER_TRADE_UPDATE back, with our client id when it was resolved. */
  readonly release: (msg: Record<string, unknown>, clientOrderId: string | undefined) => void;
  /**
   * Hands back, under our client id, an update that was passed on unchanged (not then known to be
   * a stop's) and is now: its fill must reach the engine as ours, even if it was emitted before.
   */
  readonly relink: (msg: Record<string, unknown>, clientOrderId: string) => void;
  /** Teaches fill recovery that trades of `orderId` are our `clientOrderId`. */
  readonly link: (orderId: string, clientOrderId: string) => void;
  readonly diag: (d: TradingDiagnostic) => void;
  /** How long updates of an unknown order are held for an ALGO_UPDATE. @default 300 */
  readonly holdMs?: number;
}

/** The request params of a stop intent (`algoOrder.place` / `POST /fapi/v1/algoOrder`). */
export function algoOrderParams(intent: OrderIntent, inst: Instrument): Array<readonly [string, string]> {
  if (intent.triggerTicks === undefined) throw new DataError('BAD_ORDER', 'stop order without a trigger');
  const params: Array<readonly [string, string]> = [
    ['algoType', 'CONDITIONAL'],
    ['symbol', inst.symbol],
    ['side', intent.side === 'buy' ? 'BUY' : 'SELL'],
    ['type', intent.type === 'stop-limit' ? 'STOP' : 'STOP_MARKET'],
    ['quantity', fromSteps(intent.qtyLots, inst.qty)],
    ['triggerPrice', fromSteps(intent.triggerTicks, inst.price)],
    // Triggered by the mark price, not the last trade: a protective stop should not be taken out
    // by one thin-book wick (Kraken Futures stops use triggerSignal=mark for the same reason); the
    // engine's fallbackBps takes over if the mark lags a real move.
    ['workingType', 'MARK_PRICE'],
    ['clientAlgoId', intent.clientOrderId],
    ['newOrderRespType', 'RESULT'],
  ];
  if (intent.type === 'stop-limit') {
    if (intent.priceTicks === undefined) throw new DataError('BAD_ORDER', 'stop-limit order without a price');
    if (intent.timeInForce !== 'GTC') throw new DataError('BAD_ORDER', 'a stop-limit order must be GTC');
    params.push(['price', fromSteps(intent.priceTicks, inst.price)]);
    params.push(['timeInForce', 'GTC']);
  }
  if (intent.reduceOnly) params.push(['reduceOnly', 'true']);
  return params;
}

/** -2013 "Order does not exist." / -2011 "Unknown order sent.": the endpoint does not know it. */
export function isUnknownOrder(err: unknown): boolean {
  return err instanceof HttpDataError && (err.venueCode === -2013 || err.venueCode === -2011);
}

/** How many orders' passed-on updates are kept for a late link. */
const LATE_MAX = 200;
/** When an update passed on unchanged is looked into again (ms after the previous attempt). */
const LATE_RETRY_MS = [2_000, 5_000, 15_000];

export class AlgoOrders {
  private readonly opts: AlgoOrdersOptions;
  /** Our client ids that are algo orders → symbol. */
  private readonly symbolOf = new Map<string, string>();
  /** Client ids not yet known to be triggered (candidates for an unknown `i`). */
  private readonly untriggered = new Set<string>();
  /** Matching-engine order id (`ai`) → our client id. */
  private readonly byActual = new Map<string, string>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private stopped = false;
  /** Updates passed on unchanged, by `i` (bounded): a later link to one of our stops re-keys them. */
  private readonly late = new Map<string, Record<string, unknown>[]>();
  /** Held ORDER_TRADE_UPDATEs by `i`, in arrival order. */
  private readonly held = new Map<
    string,
    { msgs: Record<string, unknown>[]; timer: ReturnType<typeof setTimeout> }
  >();

  constructor(opts: AlgoOrdersOptions) {
    this.opts = opts;
  }

  isAlgo(clientOrderId: string): boolean {
    return this.symbolOf.has(clientOrderId);
  }

  /** Our client id of a matching-engine order a stop became, if known. */
  clientIdOfActual(orderId: string): string | undefined {
    return this.byActual.get(orderId);
  }

  remember(clientOrderId: string, symbol: string): void {
    if (this.symbolOf.has(clientOrderId)) return;
    this.symbolOf.set(clientOrderId, symbol);
    this.untriggered.add(clientOrderId);
  }

  private linkActual(clientOrderId: string, actual: string): void {
    if (actual === '' || this.byActual.get(actual) === clientOrderId) return;
    this.byActual.set(actual, clientOrderId);
    this.untriggered.delete(clientOrderId);
    this.opts.link(actual, clientOrderId);
    const passed = this.late.get(actual);
    if (passed) {
      this.late.delete(actual);
      for (const m of passed) this.opts.relink(m, clientOrderId);
    }
    const h = this.held.get(actual);
    if (!h) return;
    clearTimeout(h.timer);
    this.held.delete(actual);
    for (const m of h.msgs) this.opts.release(m, clientOrderId);
  }

  /** Learns from an algo object (answers, queries, lists). */
  learn(a: AlgoOrderJson): void {
    const id = str(a.clientAlgoId);
    if (!id || !a.symbol) return;
    this.remember(id, a.symbol);
    this.linkActual(id, str(a.actualOrderId));
  }

  /** An ALGO_UPDATE: our order event for it, if it is one the engine must hear about. */
  onAlgoUpdate(o: Record<string, unknown>, ts: number): VenueOrderState | null {
    const clientOrderId = str(o.caid);
    const symbol = str(o.s);
    if (!clientOrderId || !symbol) throw new DataError('BAD_MESSAGE', 'ALGO_UPDATE without caid or s');
    this.remember(clientOrderId, symbol);
    this.linkActual(clientOrderId, str(o.ai));
    const X = str(o.X);
    // TRIGGERED / FINISHED: the triggered order's own updates say what happened.
    if (X === 'TRIGGERING' || X === 'TRIGGERED' || X === 'FINISHED') return null;
    const inst = this.opts.instrumentOf(symbol);
    return {
      symbol,
      clientOrderId,
      venueOrderId: str(o.aid),
      status: X === 'NEW' ? 'NEW' : mapStatus(X, 'Binance algo'),
      filledLots: toSteps(str(o.aq) || '0', inst.qty),
      ts,
      stop: true,
    };
  }

  /**
   * Whether an ORDER_TRADE_UPDATE of an unknown order must be held: its `c` is not one of ours and
   * we have stops in the symbol that may have become it.
   */
  hold(msg: Record<string, unknown>, o: Record<string, unknown>): boolean {
    const i = str(o.i);
    const h = this.held.get(i);
    if (h) {
      h.msgs.push(msg);
      return true;
    }
    if (parseClientOrderId(str(o.c)) !== null) return false;
    const symbol = str(o.s);
    if (![...this.untriggered].some((id) => this.symbolOf.get(id) === symbol)) return false;
    const timer = setTimeout(() => void this.resolveHeld(i, symbol), this.opts.holdMs ?? 300);
    this.held.set(i, { msgs: [msg], timer });
    return true;
  }

  /** No ALGO_UPDATE came: ask the Algo Service which of our stops became order `i`. */
  private async resolveHeld(i: string, symbol: string): Promise<void> {
    await this.askStops(symbol, () => this.held.has(i));
    const h = this.held.get(i);
    if (!h) return;
    this.held.delete(i);
    this.opts.diag({ type: 'skipped', detail: `order ${i}: not one of our stops; passed on unchanged` });
    this.late.set(i, h.msgs);
    if (this.late.size > LATE_MAX) this.late.delete(this.late.keys().next().value as string);
    for (const m of h.msgs) this.opts.release(m, undefined);
    this.askAgain(i, symbol, 0);
  }

  /** Queries the symbol's untriggered stops (learning any trigger link) while `wanted()` holds. */
  private async askStops(symbol: string, wanted: () => boolean): Promise<void> {
    for (const id of [...this.untriggered]) {
      if (!wanted()) return;
      if (this.symbolOf.get(id) !== symbol) continue;
      try {
        const a = await this.fetch(id);
        if (a) this.learn(a);
      } catch (err) {
        this.opts.diag({ type: 'skipped', detail: `algo query for ${id}: ${safeMessage(err)}` });
      }
    }
  }

  /**
   * An update passed on unchanged may still be one of our stops' (the query failed, the Algo
   * Service lagged): asked again after 2, 5 and 15 s; a link found re-keys it (`relink`).
   */
  private askAgain(i: string, symbol: string, attempt: number): void {
    const delay = LATE_RETRY_MS[attempt];
    if (delay === undefined || this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      void this.askStops(symbol, () => this.late.has(i)).then(() => {
        if (this.late.has(i)) this.askAgain(i, symbol, attempt + 1);
      });
    }, delay);
    this.timers.add(t);
  }

  /** `GET /fapi/v1/algoOrder` by our client id; null when the venue does not know it. */
  async fetch(clientOrderId: string): Promise<AlgoOrderJson | null> {
    try {
      const res = await this.opts.http.request<AlgoOrderJson>('GET', '/fapi/v1/algoOrder', {
        signed: [['clientAlgoId', clientOrderId]],
        weight: 1,
      });
      return res.body;
    } catch (err) {
      if (isUnknownOrder(err)) return null;
      throw err;
    }
  }

  /** Open (untriggered) stops, learned; `GET /fapi/v1/openAlgoOrders`. */
  async open(symbol?: string): Promise<AlgoOrderJson[]> {
    const res = await this.opts.http.request<AlgoOrderJson[]>('GET', '/fapi/v1/openAlgoOrders', {
      signed: symbol ? [['symbol', symbol]] : [],
      weight: symbol ? 1 : 40,
    });
    if (!Array.isArray(res.body)) throw new DataError('BAD_RESPONSE', 'openAlgoOrders: not an array');
    for (const a of res.body) this.learn(a);
    return res.body;
  }

  /** Learns actualOrderId → clientAlgoId of the symbol's algo orders since `startTime` (venue ms). */
  async learnSince(symbol: string, startTime: number): Promise<void> {
    const signed: SignedParams = [
      ['symbol', symbol],
      ['startTime', String(startTime)],
      ['limit', '1000'],
    ];
    const res = await this.opts.http.request<AlgoOrderJson[]>('GET', '/fapi/v1/allAlgoOrders', {
      signed,
      weight: 5,
    });
    if (Array.isArray(res.body)) for (const a of res.body) this.learn(a);
  }

  /**
   * Our state of an algo order. Once triggered it is the matching-engine order's status and filled
   * quantity, read by its id.
   */
  async stateOf(a: AlgoOrderJson): Promise<VenueOrderState> {
    this.learn(a);
    const symbol = str(a.symbol);
    const clientOrderId = str(a.clientAlgoId);
    const inst = this.opts.instrumentOf(symbol);
    const status = str(a.algoStatus);
    const base = { symbol, clientOrderId, venueOrderId: str(a.algoId), stop: true } as const;
    const ts = num(a.updateTime) ?? this.opts.now();
    const plain: Record<string, VenueOrderStatus> = {
      NEW: 'NEW',
      TRIGGERING: 'NEW',
      CANCELED: 'CANCELED',
      EXPIRED: 'EXPIRED',
      REJECTED: 'REJECTED',
    };
    const actual = str(a.actualOrderId);
    const p = plain[status];
    if (p && (actual === '' || status === 'TRIGGERING')) return { ...base, status: p, filledLots: 0, ts };
    if (actual === '')
      throw new DataError('BAD_RESPONSE', `algo order ${clientOrderId}: ${status} without an order`);
    let o: Record<string, unknown>;
    try {
      const res = await this.opts.http.request<Record<string, unknown>>('GET', '/fapi/v1/order', {
        signed: [
          ['symbol', symbol],
          ['orderId', actual],
        ],
        weight: 1,
      });
      o = res.body;
    } catch (err) {
      if (status === 'TRIGGERED' && isUnknownOrder(err)) return { ...base, status: 'NEW', filledLots: 0, ts };
      throw new OperationalError('ALGO_ORDER_UNREADABLE', `algo order ${clientOrderId}: ${safeMessage(err)}`);
    }
    return {
      ...base,
      venueOrderId: actual,
      status: mapStatus(str(o.status), 'Binance'),
      filledLots: toSteps(str(o.executedQty) || '0', inst.qty),
      ts: num(o.updateTime) ?? ts,
    };
  }

  /** Pending holds are dropped (client stop). */
  clear(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const h of this.held.values()) clearTimeout(h.timer);
    this.held.clear();
  }
}
