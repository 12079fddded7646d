/**
 * Fill bookkeeping both Binance trading clients share: fills emitted once per trade id, the
 * orderId → clientOrderId map, the symbols we have been active in, and the recovery of fills from
 * the account's trade history (futures `GET /fapi/v1/userTrades`, spot `GET /api/v3/myTrades`)
 * after a user stream gap or on request (fillsSince). Binance does not replay a user stream, so
 * fills during a drop are fetched for every active symbol from shortly before the drop.
 */
import type { Clock } from '#core/clock.ts';
import { toSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import type { Fill } from '#core/trading.ts';
import type { UserEvent, VenueOrderState } from '../trading.ts';
import type { BinanceRest, SignedParams, TradingDiagnostic } from './binance-rest.ts';
import { mapStatus, num, safeMessage, str } from './binance-rest.ts';

/** Trade ids remembered per symbol for deduplication (recovery overlaps the live stream). */
export const SEEN_TRADES_MAX = 20_000;

export interface FillRecoveryOptions {
  readonly venue: Fill['venue'];
  readonly http: BinanceRest;
  readonly clock: Clock;
  /** The trade history path and its request weight. */
  readonly tradesPath: string;
  readonly tradesWeight: number;
  /** The single-order path (to learn a trade's clientOrderId) and its weight. */
  readonly orderPath: string;
  readonly orderWeight: number;
  /** A history row's side and whether we were the maker (the field names differ per venue). */
  readonly side: (t: Record<string, unknown>) => 'buy' | 'sell';
  readonly maker: (t: Record<string, unknown>) => boolean;
  readonly findInstrument: (symbol: string) => Instrument | undefined;
  readonly queryOrder: (symbol: string, clientOrderId: string) => Promise<VenueOrderState | null>;
  /**
   * Runs before a symbol's trade history is read (futures: learn which orders were triggered stops,
   * whose trades are re-keyed to the stop's client id through `rekey`).
   */
  readonly beforeTrades?: (inst: Instrument, startTime: number) => Promise<void>;
  readonly emit: (e: UserEvent) => void;
  /** Called with the number of fills a gap recovery restored. */
  readonly onRecovered: (n: number) => void;
  readonly diag: (d: TradingDiagnostic) => void;
}

export class FillRecovery {
  private readonly opts: FillRecoveryOptions;
  /** orderId → clientOrderId, from every order we have seen (for trade history recovery). */
  private readonly clientIdOf = new Map<string, string>();
  /** symbol → trade ids already emitted (insertion-ordered, bounded). */
  private readonly seenTrades = new Map<string, Set<string>>();
  /** Symbols with our activity: recovery looks there. */
  readonly activeSymbols = new Set<string>();
  private running: Promise<void> | null = null;

  constructor(opts: FillRecoveryOptions) {
    this.opts = opts;
  }

  /** The gap recovery running, if any. */
  get recovering(): Promise<void> | null {
    return this.running;
  }

  rememberOrder(orderId: string, clientOrderId: string): void {
    if (this.clientIdOf.has(orderId)) return;
    this.clientIdOf.set(orderId, clientOrderId);
    if (this.clientIdOf.size > SEEN_TRADES_MAX) {
      this.clientIdOf.delete(this.clientIdOf.keys().next().value as string);
    }
  }

  /** Trades of `orderId` are ours under `clientOrderId` (overrides what the venue's order said). */
  rekey(orderId: string, clientOrderId: string): void {
    this.clientIdOf.set(orderId, clientOrderId);
  }

  /** Forgets that a trade was emitted (it was emitted under the wrong order and is emitted again). */
  forgetTrade(symbol: string, tradeId: string): void {
    this.seenTrades.get(symbol)?.delete(tradeId);
  }

  /** Emits a fill once per trade id. */
  emitFill(fill: Fill): boolean {
    let seen = this.seenTrades.get(fill.symbol);
    if (!seen) {
      seen = new Set();
      this.seenTrades.set(fill.symbol, seen);
    }
    if (seen.has(fill.tradeId)) return false;
    seen.add(fill.tradeId);
    if (seen.size > SEEN_TRADES_MAX) seen.delete(seen.values().next().value as string);
    this.opts.emit({ type: 'fill', fill });
    return true;
  }

  /** Fills missed during a stream gap that began at `fromMs` (local clock), and their orders' state. */
  recoverGap(fromMs: number): void {
    const run = async () => {
      let recovered = 0;
      const touched = new Map<string, string>(); // clientOrderId → symbol
      // The drop time on the venue's clock, with a margin for events in flight before it.
      const startTime = Math.floor(fromMs + (this.opts.http.time.offsetMs() ?? 0) - 5000);
      for (const symbol of this.activeSymbols) {
        const inst = this.opts.findInstrument(symbol);
        if (!inst) continue;
        for await (const fill of this.fillsFrom(inst, startTime)) {
          if (this.emitFill(fill)) {
            recovered++;
            touched.set(fill.clientOrderId, symbol);
          }
        }
      }
      // The orders those fills belong to: their current state, since their updates were missed too.
      for (const [clientOrderId, symbol] of touched) {
        const state = await this.opts.queryOrder(symbol, clientOrderId);
        if (state) this.opts.emit({ type: 'order', state });
      }
      this.opts.onRecovered(recovered);
      this.opts.diag({ type: 'recovery', recoveredFills: recovered, detail: `gap from ${fromMs}` });
    };
    const prev = this.running ?? Promise.resolve();
    this.running = prev
      .then(run)
      .catch((err: unknown) => {
        this.opts.diag({ type: 'recovery', recoveredFills: 0, detail: `failed: ${safeMessage(err)}` });
      })
      .finally(() => {
        this.running = null;
      });
  }

  /** Our fills of `inst` from `sinceTs` (local clock) on, oldest first; not emitted. */
  async fillsSince(inst: Instrument, sinceTs: number): Promise<Fill[]> {
    const out: Fill[] = [];
    const startTime = Math.floor(sinceTs + (this.opts.http.time.offsetMs() ?? 0));
    for await (const f of this.fillsFrom(inst, startTime)) out.push(f);
    return out;
  }

  /**
   * Our fills of one symbol from `startTime` (venue ms) on, oldest first: the first page by
   * startTime, later pages by fromId (Binance does not take fromId together with startTime).
   */
  private async *fillsFrom(inst: Instrument, startTime: number): AsyncGenerator<Fill> {
    const LIMIT = 1000;
    const o = this.opts;
    await o.beforeTrades?.(inst, startTime);
    let page: SignedParams = [
      ['symbol', inst.symbol],
      ['startTime', String(startTime)],
      ['limit', String(LIMIT)],
    ];
    for (let pages = 0; pages < 100; pages++) {
      const res = await o.http.request<Array<Record<string, unknown>>>('GET', o.tradesPath, {
        signed: page,
        weight: o.tradesWeight,
      });
      if (!Array.isArray(res.body) || res.body.length === 0) return;
      const trades = [...res.body].sort((a, b) => (num(a.id) ?? 0) - (num(b.id) ?? 0));
      for (const t of trades) {
        const orderId = String(t.orderId);
        let clientOrderId = this.clientIdOf.get(orderId);
        if (clientOrderId === undefined) {
          const q = await o.http.request<{ clientOrderId: string }>('GET', o.orderPath, {
            signed: [
              ['symbol', inst.symbol],
              ['orderId', orderId],
            ],
            weight: o.orderWeight,
          });
          clientOrderId = q.body.clientOrderId;
          this.rememberOrder(orderId, clientOrderId);
        }
        yield {
          venue: o.venue,
          symbol: inst.symbol,
          tradeId: String(t.id),
          clientOrderId,
          side: o.side(t),
          priceTicks: toSteps(str(t.price), inst.price),
          qtyLots: toSteps(str(t.qty), inst.qty),
          fee: str(t.commission) || '0',
          feeAsset: str(t.commissionAsset),
          liquidity: o.maker(t) ? 'maker' : 'taker',
          ts: num(t.time) ?? o.clock.now(),
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
}

/**
 * One Binance execution (USD-M `ORDER_TRADE_UPDATE.o` and Binance.US `executionReport` use the same
 * field letters) as our events: the fill when it is a TRADE, and the order's state after it.
 */
export function executionEvents(
  x: Record<string, unknown>,
  venue: 'binance-futures' | 'binance-us',
  inst: Instrument,
  clientOrderId: string,
  ts: number,
): { fill: Fill | null; state: VenueOrderState } {
  const fill: Fill | null =
    x.x === 'TRADE'
      ? {
          venue,
          symbol: inst.symbol,
          tradeId: String(x.t),
          clientOrderId,
          side: x.S === 'SELL' ? 'sell' : 'buy',
          priceTicks: toSteps(str(x.L), inst.price),
          qtyLots: toSteps(str(x.l), inst.qty),
          fee: str(x.n) || '0',
          feeAsset: str(x.N),
          liquidity: x.m === true ? 'maker' : 'taker',
          ts,
        }
      : null;
  const state: VenueOrderState = {
    symbol: inst.symbol,
    clientOrderId,
    venueOrderId: String(x.i),
    status: mapStatus(str(x.X), venue === 'binance-us' ? 'Binance.US' : 'Binance'),
    filledLots: toSteps(str(x.z), inst.qty),
    ts,
  };
  return { fill, state };
}
