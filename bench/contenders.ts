/**
 * The order-book benchmark's contenders. Each one turns the same raw frames into the same result:
 * parse the frame, keep the book in sync, and read the top-5 imbalance after every message.
 *
 * `prepare()` builds a fresh book from the REST snapshot (untimed); `run()` feeds frames [from, to)
 * and returns a checksum of every imbalance it read, so no work can be optimised away.
 */
import { pro } from 'ccxt';
import { Decimal } from 'decimal.js';
import type { L2Book } from '#core/book.ts';
import { noHooks } from '#venues/book-feed.ts';
import { BinanceBookFeed } from '#venues/binance/book-feed.ts';
import type { DepthStream } from './depth-stream.ts';

/** Levels per side the imbalance reads. */
export const IMBALANCE_LEVELS = 5;

export interface Contender {
  readonly name: string;
  /** Fresh state with the stream's snapshot loaded. */
  prepare(): void;
  /** Feeds frames [from, to); returns the sum of the imbalances read (or another checksum). */
  run(frames: readonly string[], from: number, to: number): number;
  /** Throws when the contender's book is not what it should be after a run (lost sync, gaps). */
  verify(): void;
}

type Level = [string, string];
interface RawDepthUpdate {
  E: number;
  U: number;
  u: number;
  pu: number;
  b: Level[];
  a: Level[];
}
interface RawFrame {
  stream: string;
  data: RawDepthUpdate;
}
interface RawSnapshot {
  lastUpdateId: number;
  T: number;
  bids: Level[];
  asks: Level[];
}

function imbalanceOf(bv: number, av: number): number {
  if (av === 0) return bv === 0 ? NaN : Infinity;
  return bv / av;
}

/** (a) The floor: JSON.parse alone (one field read so the parse result is used). */
export function jsonParseFloor(): Contender {
  return {
    name: 'JSON.parse (floor)',
    prepare() {},
    run(frames, from, to) {
      let sum = 0;
      for (let i = from; i < to; i++) {
        const msg = JSON.parse(frames[i] as string) as RawFrame;
        sum += msg.data.b.length;
      }
      return sum;
    },
    verify() {},
  };
}

/** Tradewind's Binance feed and book, built from the snapshot. */
export function tradewindFeed(stream: DepthStream): { feed: BinanceBookFeed; book: L2Book } {
  const feed = new BinanceBookFeed('binance-futures', noHooks);
  feed.onSnapshot(stream.symbol, JSON.parse(stream.snapshot), 0);
  const sync = feed.sync(stream.symbol);
  if (!sync) throw new Error(`no sync for ${stream.symbol}`);
  return { feed, book: sync.book };
}

/**
 * (b) Tradewind as the live client runs it (MarketDataClient.onText): the feed's text decoder
 * (route, sync, exact ticks, apply; no JSON.parse), with JSON.parse → onMessage for any frame it
 * leaves — then the imbalance.
 */
export function tradewind(stream: DepthStream): Contender {
  let feed: BinanceBookFeed | null = null;
  let book: L2Book | null = null;
  return {
    name: 'Tradewind',
    prepare() {
      ({ feed, book } = tradewindFeed(stream));
    },
    run(frames, from, to) {
      const f = feed as BinanceBookFeed;
      const b = book as L2Book;
      let sum = 0;
      for (let i = from; i < to; i++) {
        const text = frames[i] as string;
        if (!f.onText(text, i)) f.onMessage(JSON.parse(text), i);
        sum += b.imbalance(IMBALANCE_LEVELS);
      }
      return sum;
    },
    verify() {
      const sync = feed?.sync(stream.symbol);
      if (!sync || sync.book.state !== 'SYNCED')
        throw new Error(`Tradewind book not SYNCED: ${sync?.book.reason}`);
      const s = sync.stats;
      if (s.gaps || s.resyncs || s.errors || s.crossed)
        throw new Error(`Tradewind sync trouble: ${JSON.stringify(s)}`);
      // Only the first frame (its symbol not seen yet) may take the JSON.parse path: otherwise the
      // benchmark would be timing the fallback, not the decoder.
      const t = (feed as BinanceBookFeed).textStats();
      const fallbacks = Object.entries(t).filter(([k, v]) => k !== 'ok' && v > 0);
      if (fallbacks.length !== 1 || t['unknown-symbol'] !== 1)
        throw new Error(`Tradewind decoder fell back: ${JSON.stringify(t)}`);
    },
  };
}

/** One side of ccxt's WebSocket order book (ccxt/js/src/base/ws/OrderBookSide.js): rows best first. */
export interface CcxtBookSide extends Array<[number, number]> {
  store(price: number, size: number): void;
}
export interface CcxtBook {
  bids: CcxtBookSide;
  asks: CcxtBookSide;
  nonce: number | undefined;
  timestamp: number | undefined;
  reset(snapshot: object): CcxtBook;
}

/**
 * ccxt's own `OrderBook` (the class ccxt pro's binance `watchOrderBook` keeps), made the way that
 * handler makes it: `exchange.orderBook({}, limit)` with the default `watchOrderBookLimit` of 1000,
 * then `reset()` with the parsed REST snapshot (prices and sizes as numbers, nonce = lastUpdateId).
 */
export function ccxtBook(stream: DepthStream): CcxtBook {
  const exchange = new pro.binanceusdm();
  const book = exchange.orderBook({}, 1000) as unknown as CcxtBook;
  const snap = JSON.parse(stream.snapshot) as RawSnapshot;
  const toNumbers = (levels: Level[]): Array<[number, number]> =>
    levels.map(([p, q]) => [Number(p), Number(q)]);
  book.reset({
    bids: toNumbers(snap.bids),
    asks: toNumbers(snap.asks),
    nonce: snap.lastUpdateId,
    timestamp: snap.T,
    symbol: 'BTC/USDT:USDT',
  });
  return book;
}

/**
 * One frame into ccxt's book, as ccxt pro's binance `handleOrderBook` (futures branch) and
 * `handleOrderBookMessage`/`handleDelta` do it: drop u < nonce, require U <= nonce or pu == nonce,
 * then every delta through `bookside.store(float price, float amount)`, asks first. Leaner than
 * ccxt itself: no safeInteger/safeFloat wrappers, no per-message ISO-8601 datetime.
 */
export function ccxtApply(book: CcxtBook, frame: RawFrame): void {
  const d = frame.data;
  const nonce = book.nonce as number;
  if (d.u < nonce) return;
  if (!(d.U <= nonce || d.pu === nonce)) throw new Error(`ccxt: sequence break at u ${d.u}`);
  const asks = d.a;
  const bookAsks = book.asks;
  for (let i = 0; i < asks.length; i++) {
    const level = asks[i] as Level;
    bookAsks.store(Number(level[0]), Number(level[1]));
  }
  const bids = d.b;
  const bookBids = book.bids;
  for (let i = 0; i < bids.length; i++) {
    const level = bids[i] as Level;
    bookBids.store(Number(level[0]), Number(level[1]));
  }
  book.nonce = d.u;
  book.timestamp = d.E;
}

function ccxtVolume(side: CcxtBookSide, levels: number): number {
  const n = Math.min(levels, side.length);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (side[i] as [number, number])[1];
  return sum;
}

export function ccxtImbalance(book: CcxtBook, levels: number): number {
  return imbalanceOf(ccxtVolume(book.bids, levels), ccxtVolume(book.asks, levels));
}

/** (c) ccxt's OrderBook fed the same parsed deltas, plus the same imbalance from its rows. */
export function ccxt(stream: DepthStream): Contender {
  let book: CcxtBook | null = null;
  return {
    name: 'ccxt OrderBook',
    prepare() {
      book = ccxtBook(stream);
    },
    run(frames, from, to) {
      const b = book as CcxtBook;
      let sum = 0;
      for (let i = from; i < to; i++) {
        ccxtApply(b, JSON.parse(frames[i] as string) as RawFrame);
        sum += ccxtImbalance(b, IMBALANCE_LEVELS);
      }
      return sum;
    },
    verify() {},
  };
}

interface NaiveLevel {
  readonly price: Decimal;
  readonly qty: Decimal;
}

/** A book as a first attempt would write it: decimal.js everywhere, a Map, sort on every read. */
class NaiveBook {
  readonly bids = new Map<string, NaiveLevel>();
  readonly asks = new Map<string, NaiveLevel>();
  lastUpdateId = 0;

  load(side: Map<string, NaiveLevel>, levels: Level[]): void {
    for (const [p, q] of levels) {
      const qty = new Decimal(q);
      if (qty.isZero()) side.delete(p);
      else side.set(p, { price: new Decimal(p), qty });
    }
  }

  volume(side: Map<string, NaiveLevel>, bestFirst: (x: NaiveLevel, y: NaiveLevel) => number): Decimal {
    const sorted = [...side.values()].sort(bestFirst);
    let sum = new Decimal(0);
    for (const level of sorted.slice(0, IMBALANCE_LEVELS)) sum = sum.plus(level.qty);
    return sum;
  }

  imbalance(): number {
    const bv = this.volume(this.bids, (x, y) => y.price.cmp(x.price));
    const av = this.volume(this.asks, (x, y) => x.price.cmp(y.price));
    if (av.isZero()) return bv.isZero() ? NaN : Infinity;
    return bv.div(av).toNumber();
  }
}

/** (d) The naive baseline: decimal.js prices in a Map, sorted per read for the top 5. */
export function naive(stream: DepthStream): Contender {
  let book: NaiveBook | null = null;
  return {
    name: 'naive (decimal.js + Map + sort)',
    prepare() {
      const snap = JSON.parse(stream.snapshot) as RawSnapshot;
      book = new NaiveBook();
      book.load(book.bids, snap.bids);
      book.load(book.asks, snap.asks);
      book.lastUpdateId = snap.lastUpdateId;
    },
    run(frames, from, to) {
      const b = book as NaiveBook;
      let sum = 0;
      for (let i = from; i < to; i++) {
        const d = (JSON.parse(frames[i] as string) as RawFrame).data;
        if (d.u < b.lastUpdateId) continue;
        if (!(d.U <= b.lastUpdateId || d.pu === b.lastUpdateId))
          throw new Error(`naive: sequence break at u ${d.u}`);
        b.load(b.bids, d.b);
        b.load(b.asks, d.a);
        b.lastUpdateId = d.u;
        sum += b.imbalance();
      }
      return sum;
    },
    verify() {},
  };
}
