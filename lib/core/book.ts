/**
 * An L2 order book on integer ticks and lots.
 *
 * Each side is a pair of parallel typed arrays sorted so that the best level is the LAST element:
 * bids ascending by price, asks descending. Almost all activity happens near the top, so inserts
 * and deletes there move few elements, and best/top-N reads are index lookups. Quantities are
 * absolute (venue semantics): setting 0 deletes the level.
 *
 * The book knows whether it can be trusted. Only a venue sync (lib/venues/*) moves it to SYNCED,
 * and any inconsistency sends it back to UNSYNCED; consumers must check `usable` first.
 */
import { InvariantError } from './errors.ts';

export type BookState = 'UNSYNCED' | 'SYNCING' | 'SYNCED';
export type Side = 'bid' | 'ask';

const INITIAL_CAPACITY = 64;
/**
 * Inserts and deletes near the top move a few elements; below this many a plain loop is cheaper
 * than two copyWithin calls (a C++ builtin with a fixed cost per call).
 */
const SMALL_MOVE = 32;

export class BookSide {
  /** Prices in ticks, best last. */
  private px: Float64Array;
  /** Quantities in lots, parallel to px. */
  private qty: Float64Array;
  private n = 0;
  /**
   * Exact quantities of the rare levels too large for a safe integer (qty holds their nearest
   * double for volume sums). Null until the first such level, so the hot path pays one null check.
   */
  private big: Map<number, bigint> | null = null;
  readonly isBid: boolean;

  constructor(isBid: boolean, capacity = INITIAL_CAPACITY) {
    this.isBid = isBid;
    this.px = new Float64Array(capacity);
    this.qty = new Float64Array(capacity);
  }

  get depth(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
    this.big = null;
  }

  /** Index of `price` if present, else -(insertion point) - 1. */
  private find(price: number): number {
    const px = this.px;
    const bid = this.isBid;
    let lo = 0;
    let hi = this.n - 1;
    // "a is worse than b": for bids lower price, for asks higher price; the array is worst → best.
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const p = px[mid] as number;
      if (p === price) return mid;
      if (bid ? p < price : p > price) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  /** Sets the absolute quantity at a price; 0 removes the level (absent level: no-op). */
  set(price: number, qty: number): void {
    if (this.big !== null) this.big.delete(price);
    const i = this.find(price);
    if (i >= 0) {
      if (qty === 0) {
        const n = this.n - 1;
        if (n - i <= SMALL_MOVE) {
          const px = this.px;
          const qa = this.qty;
          for (let k = i; k < n; k++) {
            px[k] = px[k + 1] as number;
            qa[k] = qa[k + 1] as number;
          }
        } else {
          this.px.copyWithin(i, i + 1, this.n);
          this.qty.copyWithin(i, i + 1, this.n);
        }
        this.n = n;
      } else {
        this.qty[i] = qty;
      }
      return;
    }
    if (qty === 0) return;
    const at = -i - 1;
    if (this.n === this.px.length) this.grow();
    const n = this.n;
    const px = this.px;
    const qa = this.qty;
    if (n - at <= SMALL_MOVE) {
      for (let k = n; k > at; k--) {
        px[k] = px[k - 1] as number;
        qa[k] = qa[k - 1] as number;
      }
    } else {
      px.copyWithin(at + 1, at, n);
      qa.copyWithin(at + 1, at, n);
    }
    px[at] = price;
    qa[at] = qty;
    this.n = n + 1;
  }

  /** Sets a quantity that may be too large for a safe integer (a bigint then), keeping it exact. */
  setExact(price: number, qty: number | bigint): void {
    if (typeof qty === 'number' || qty <= BigInt(Number.MAX_SAFE_INTEGER)) {
      this.set(price, Number(qty));
      return;
    }
    this.set(price, Number(qty));
    (this.big ??= new Map()).set(price, qty);
  }

  /** The exact quantity of the i-th level from the top: a number, or a bigint when beyond 2^53. */
  exactQtyAt(i: number): number | bigint {
    const q = this.qty[this.n - 1 - i] as number;
    return this.big === null || q <= Number.MAX_SAFE_INTEGER ? q : (this.big.get(this.priceAt(i)) ?? q);
  }

  private grow(): void {
    const px = new Float64Array(this.px.length * 2);
    const qty = new Float64Array(this.qty.length * 2);
    px.set(this.px);
    qty.set(this.qty);
    this.px = px;
    this.qty = qty;
  }

  /** Best price in ticks, or NaN when the side is empty. */
  bestPrice(): number {
    return this.n === 0 ? NaN : (this.px[this.n - 1] as number);
  }

  bestQty(): number {
    return this.n === 0 ? 0 : (this.qty[this.n - 1] as number);
  }

  /** Price of the i-th level from the top (0 = best). */
  priceAt(i: number): number {
    return this.px[this.n - 1 - i] as number;
  }

  qtyAt(i: number): number {
    return this.qty[this.n - 1 - i] as number;
  }

  /** Quantity at a price (0 when absent). */
  qtyAtPrice(price: number): number {
    const i = this.find(price);
    return i >= 0 ? (this.qty[i] as number) : 0;
  }

  /** Sum of the quantities of the top `levels` levels, in lots. */
  volume(levels: number): number {
    const n = this.n;
    const stop = levels >= n ? 0 : n - levels;
    let sum = 0;
    for (let i = n - 1; i >= stop; i--) sum += this.qty[i] as number;
    return sum;
  }

  /** Keeps only the best `levels` levels (Kraken: truncate to the subscribed depth). */
  truncate(levels: number): void {
    if (this.n <= levels) return;
    const drop = this.n - levels;
    if (this.big !== null) for (let i = 0; i < drop; i++) this.big.delete(this.px[i] as number);
    this.px.copyWithin(0, drop, this.n);
    this.qty.copyWithin(0, drop, this.n);
    this.n = levels;
  }

  /** Top `levels` levels as [price, exact qty] pairs, best first. */
  top(levels: number): Array<[number, number | bigint]> {
    const out: Array<[number, number | bigint]> = [];
    const count = Math.min(levels, this.n);
    for (let i = 0; i < count; i++) out.push([this.priceAt(i), this.exactQtyAt(i)]);
    return out;
  }
}

export class L2Book {
  readonly symbol: string;
  readonly bids = new BookSide(true);
  readonly asks = new BookSide(false);
  private _state: BookState = 'UNSYNCED';
  private _reason = 'no snapshot yet';
  /** Venue timestamp (ms) of the last applied update. */
  venueTs = 0;
  /** Local receive timestamp (ms) of the last applied update. */
  localTs = 0;
  /** The venue's sequence/update id of the last applied update, where it has one. */
  lastUpdateId = 0;

  constructor(symbol: string) {
    this.symbol = symbol;
  }

  get state(): BookState {
    return this._state;
  }

  /** Why the book is not SYNCED (empty when it is). */
  get reason(): string {
    return this._reason;
  }

  /** True only when the book may be traded on: SYNCED and not crossed. */
  get usable(): boolean {
    return this._state === 'SYNCED' && !this.isCrossed();
  }

  markUnsynced(reason: string): void {
    this._state = 'UNSYNCED';
    this._reason = reason;
  }

  markSyncing(reason = 'waiting for the first update after the snapshot'): void {
    if (this._state === 'SYNCED')
      throw new InvariantError('BOOK_STATE', `${this.symbol}: SYNCED → SYNCING is not a transition`);
    this._state = 'SYNCING';
    this._reason = reason;
  }

  markSynced(): void {
    if (this._state === 'UNSYNCED')
      throw new InvariantError('BOOK_STATE', `${this.symbol}: UNSYNCED → SYNCED skips the sync`);
    this._state = 'SYNCED';
    this._reason = '';
  }

  clear(): void {
    this.bids.clear();
    this.asks.clear();
  }

  set(side: Side, price: number, qty: number): void {
    (side === 'bid' ? this.bids : this.asks).set(price, qty);
  }

  bestBid(): number {
    return this.bids.bestPrice();
  }

  bestAsk(): number {
    return this.asks.bestPrice();
  }

  /** Crossed or locked: best bid at or above best ask. An empty side is never crossed. */
  isCrossed(): boolean {
    const b = this.bids.bestPrice();
    const a = this.asks.bestPrice();
    return b >= a; // NaN compares false
  }

  /**
   * Top-N bid volume / top-N ask volume, in lots. Infinity when the ask side is empty and bids are
   * not, NaN when both are empty.
   */
  imbalance(levels: number): number {
    const bv = this.bids.volume(levels);
    const av = this.asks.volume(levels);
    if (av === 0) return bv === 0 ? NaN : Infinity;
    return bv / av;
  }

  /** True when the last update is older than `maxAgeMs` at local time `nowMs`. */
  isStale(nowMs: number, maxAgeMs: number): boolean {
    return nowMs - this.localTs > maxAgeMs;
  }
}
