/**
 * Kraken market-data messages from the simulator's truth book.
 *
 * Spot WS v2 `book`: each subscription sees the top `depth` levels. Updates carry changed levels,
 * and qty 0 only for levels that left the book — a level pushed out of scope by a better one is
 * NOT deleted on the wire (the client truncates), exactly as Kraken documents. Numbers are written
 * at full precision (trailing zeros kept). The checksum is computed here from the decimal text,
 * independently of the client's integer-based implementation.
 *
 * Futures WS v1 `book`: a snapshot with `seq`, then one message per level change, seq + 1 each.
 */
import { crc32 } from 'node:zlib';
import type { BookSide, L2Book } from '#core/book.ts';
import { fromSteps } from '#core/grid.ts';
import type { LevelChange } from '../market.ts';
import type { SimSymbol } from '../symbols.ts';

type View = Map<number, number>;

function topView(side: BookSide, depth: number): View {
  const v: View = new Map();
  const n = Math.min(depth, side.depth);
  for (let i = 0; i < n; i++) v.set(side.priceAt(i), Number(side.qtyAt(i)));
  return v;
}

/** One spot v2 book subscription's view of a symbol. */
export class KrakenBookView {
  private readonly sym: SimSymbol;
  readonly depth: number;
  private bids: View = new Map();
  private asks: View = new Map();

  constructor(sym: SimSymbol, depth: number) {
    this.sym = sym;
    this.depth = depth;
  }

  private num(steps: number, grid: SimSymbol['price']): string {
    return fromSteps(steps, grid);
  }

  private levelsJson(levels: Array<[number, number]>): string {
    return `[${levels.map(([p, q]) => `{"price":${this.num(p, this.sym.price)},"qty":${this.num(q, this.sym.qty)}}`).join(',')}]`;
  }

  /** Checksum over the top 10 of this view, from the decimal text (documented construction). */
  checksum(): number {
    const fmt = (t: string) => t.replace('.', '').replace(/^0+/, '');
    const part = (v: View, asc: boolean) =>
      [...v.entries()]
        .sort((x, y) => (asc ? x[0] - y[0] : y[0] - x[0]))
        .slice(0, 10)
        .map(([p, q]) => fmt(this.num(p, this.sym.price)) + fmt(this.num(q, this.sym.qty)))
        .join('');
    return crc32(part(this.asks, true) + part(this.bids, false)) >>> 0;
  }

  private message(
    type: 'snapshot' | 'update',
    bids: Array<[number, number]>,
    asks: Array<[number, number]>,
    ts: number,
    corrupt: boolean,
  ): string {
    const sum = this.checksum() ^ (corrupt ? 0x5a5a : 0);
    return `{"channel":"book","type":"${type}","data":[{"symbol":"${this.sym.symbol}","bids":${this.levelsJson(bids)},"asks":${this.levelsJson(asks)},"checksum":${sum >>> 0},"timestamp":"${new Date(ts).toISOString()}"}]}`;
  }

  snapshot(book: L2Book, ts: number): string {
    this.bids = topView(book.bids, this.depth);
    this.asks = topView(book.asks, this.depth);
    return this.message('snapshot', [...this.bids.entries()], [...this.asks.entries()], ts, false);
  }

  /** The update this view needs after the book changed, or null when its top levels did not change. */
  update(book: L2Book, ts: number, corrupt = false): string | null {
    const bids = this.diffSide(this.bids, book.bids);
    const asks = this.diffSide(this.asks, book.asks);
    if (bids.length === 0 && asks.length === 0) return null;
    return this.message('update', bids, asks, ts, corrupt);
  }

  private diffSide(old: View, side: BookSide): Array<[number, number]> {
    const now = topView(side, this.depth);
    const out: Array<[number, number]> = [];
    for (const [p, q] of now) if (old.get(p) !== q) out.push([p, q]);
    for (const p of old.keys()) {
      // Deleted from the book → qty 0; merely pushed out of scope → nothing (the client truncates).
      if (!now.has(p) && side.qtyAtPrice(p) === 0) out.push([p, 0]);
    }
    if (side.isBid) this.bids = now;
    else this.asks = now;
    return out;
  }
}

/** Kraken Futures book feed for one product: seq per product, one delta per level change. */
export class KrakenFuturesEncoder {
  private readonly sym: SimSymbol;
  private seq = 1000;

  constructor(sym: SimSymbol) {
    this.sym = sym;
  }

  private num(steps: number, grid: SimSymbol['price']): string {
    return fromSteps(steps, grid);
  }

  snapshot(book: L2Book, ts: number): string {
    const side = (s: BookSide) =>
      `[${s
        .top(s.depth)
        .map(
          ([p, q]) => `{"price":${this.num(p, this.sym.price)},"qty":${this.num(Number(q), this.sym.qty)}}`,
        )
        .join(',')}]`;
    return `{"feed":"book_snapshot","product_id":"${this.sym.symbol}","timestamp":${ts},"seq":${this.seq},"tickSize":null,"bids":${side(book.bids)},"asks":${side(book.asks)}}`;
  }

  deltas(changes: readonly LevelChange[], ts: number): string[] {
    return changes.map(
      (c) =>
        `{"feed":"book","product_id":"${this.sym.symbol}","side":"${c.side === 'bid' ? 'buy' : 'sell'}","seq":${++this.seq},"price":${this.num(c.price, this.sym.price)},"qty":${this.num(c.qty, this.sym.qty)},"timestamp":${ts}}`,
    );
  }
}
