/**
 * Binance market-data messages as the venue writes them, from the simulator's truth book.
 * USD-M futures ids jump (U is never previous u + 1; continuity is pu); Binance.US ids are
 * contiguous (U = previous u + 1). Snapshots carry lastUpdateId = the u of the last event.
 */
import type { L2Book } from '#core/book.ts';
import { fromSteps } from '#core/grid.ts';
import type { LevelChange, TradePrint } from '../market.ts';
import type { SimSymbol } from '../symbols.ts';

export interface BinanceDepthEvent {
  e: 'depthUpdate';
  E: number;
  T?: number;
  s: string;
  U: number;
  u: number;
  pu?: number;
  b: Array<[string, string]>;
  a: Array<[string, string]>;
}

export class BinanceEncoder {
  private readonly sym: SimSymbol;
  private readonly futures: boolean;
  private lastU: number;
  private aggId = 1;
  private readonly rand: () => number;

  constructor(sym: SimSymbol, futures: boolean, rand: () => number, firstId = 1_000_000) {
    this.sym = sym;
    this.futures = futures;
    this.rand = rand;
    this.lastU = firstId;
  }

  get lastUpdateId(): number {
    return this.lastU;
  }

  private level(price: number, qty: number): [string, string] {
    return [fromSteps(price, this.sym.price), fromSteps(qty, this.sym.qty)];
  }

  /** One depthUpdate for a step's changes, or null when nothing changed. */
  diff(changes: readonly LevelChange[], E: number): BinanceDepthEvent | null {
    if (changes.length === 0) return null;
    const b: Array<[string, string]> = [];
    const a: Array<[string, string]> = [];
    for (const c of changes) (c.side === 'bid' ? b : a).push(this.level(c.price, c.qty));
    const prev = this.lastU;
    // Futures: ids advance by more than one per event (other internal updates); spot: contiguous.
    const U = this.futures ? prev + 1 + Math.floor(this.rand() * 4) : prev + 1;
    const u = U + changes.length - 1 + (this.futures ? Math.floor(this.rand() * 3) : 0);
    this.lastU = u;
    const ev: BinanceDepthEvent = { e: 'depthUpdate', E, s: this.sym.symbol, U, u, b, a };
    if (this.futures) {
      ev.T = E - 2;
      ev.pu = prev;
    }
    return ev;
  }

  snapshot(book: L2Book, limit: number, E: number) {
    const side = (s: L2Book['bids']) => s.top(limit).map(([p, q]) => this.level(p, Number(q)));
    const body: Record<string, unknown> = { lastUpdateId: this.lastU };
    if (this.futures) {
      body.E = E;
      body.T = E - 2;
    }
    body.bids = side(book.bids);
    body.asks = side(book.asks);
    return body;
  }

  aggTrade(t: TradePrint, E: number) {
    const id = this.aggId++;
    return {
      e: 'aggTrade',
      E,
      s: this.sym.symbol,
      a: id,
      p: fromSteps(t.price, this.sym.price),
      q: fromSteps(t.qty, this.sym.qty),
      f: id,
      l: id,
      T: E - 1,
      m: t.takerSide === 'sell',
    };
  }

  markPrice(book: L2Book, E: number) {
    const mid = Math.round((book.bestBid() + book.bestAsk()) / 2);
    const p = fromSteps(Number.isFinite(mid) ? mid : this.sym.startMidTicks, this.sym.price);
    const hour = 3_600_000;
    return {
      e: 'markPriceUpdate',
      E,
      s: this.sym.symbol,
      p,
      i: p,
      P: p,
      r: '0.00010000',
      T: Math.ceil(E / (8 * hour)) * 8 * hour,
    };
  }
}
