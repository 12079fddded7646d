/**
 * Kraken Futures WS v1 book: `book_snapshot` then one `book` delta per level, each with `seq`
 * increasing by exactly 1 per product. Any other seq is a gap: the book becomes UNSYNCED and the
 * product is resubscribed; deltas are ignored until the next snapshot.
 *
 * Deltas arrive one level at a time, so the book can look crossed between two deltas of the same
 * venue-side change (a new best bid arrives before the ask it lifted is removed). A crossed book is
 * never usable (`L2Book.usable`), and one that stays crossed for CROSSED_LIMIT deltas in a row is
 * treated as an inconsistency and resynced.
 */
import { L2Book } from '#core/book.ts';
import { DataError } from '#core/errors.ts';
import { numberToSteps } from '#core/grid.ts';
import type { VenueId } from '#core/instrument.ts';
import type {
  BookFeed,
  BookGrids,
  PrecisionOptions,
  SyncHooks,
  SyncStats,
  SymbolBookView,
} from '../book-feed.ts';
import { asRecord, newStats, resolveGrids } from '../book-feed.ts';

export const CROSSED_LIMIT = 20;

export class KrakenFuturesBookSync implements SymbolBookView {
  readonly book: L2Book;
  readonly stats: SyncStats = newStats();
  grids: BookGrids | null = null;
  private readonly hooks: SyncHooks;
  private seq = -1;
  private live = false;
  private crossedRun = 0;

  constructor(symbol: string, hooks: SyncHooks) {
    this.book = new L2Book(symbol);
    this.hooks = hooks;
  }

  onSnapshot(m: Record<string, unknown>, grids: BookGrids, recvTs: number): void {
    this.stats.messages++;
    const book = this.book;
    if (typeof m.seq !== 'number') throw new DataError('BAD_MESSAGE', 'book_snapshot without seq');
    try {
      book.clear();
      loadSide(book, 'bid', m.bids, grids);
      loadSide(book, 'ask', m.asks, grids);
    } catch (err) {
      this.fail(`snapshot unusable: ${(err as Error).message}`);
      return;
    }
    if (book.isCrossed()) {
      // Unlike a delta, a snapshot is atomic: crossed means it is wrong, not half-applied.
      this.stats.crossed++;
      this.resync('crossed snapshot');
      return;
    }
    if (book.state === 'SYNCED') book.markUnsynced('new snapshot');
    book.markSyncing('applying snapshot');
    this.seq = m.seq;
    this.live = true;
    this.crossedRun = 0;
    book.venueTs = typeof m.timestamp === 'number' ? m.timestamp : 0;
    book.localTs = recvTs;
    book.lastUpdateId = m.seq;
    book.markSynced();
    this.hooks.onBook?.(book);
  }

  onDelta(m: Record<string, unknown>, grids: BookGrids, recvTs: number): void {
    this.stats.messages++;
    if (!this.live) {
      this.stats.dropped++;
      return;
    }
    const seq = m.seq;
    if (typeof seq !== 'number' || seq !== this.seq + 1) {
      this.stats.gaps++;
      this.resync(`sequence break: expected seq ${this.seq + 1}, got ${String(seq)}`);
      return;
    }
    const book = this.book;
    try {
      const side = m.side === 'buy' ? book.bids : m.side === 'sell' ? book.asks : null;
      if (!side) throw new DataError('BAD_MESSAGE', `delta side ${JSON.stringify(m.side)} is not buy/sell`);
      side.set(numberToSteps(m.price as number, grids.price), numberToSteps(m.qty as number, grids.qty));
    } catch (err) {
      this.fail(`delta ${seq} unusable: ${(err as Error).message}`);
      return;
    }
    this.seq = seq;
    book.lastUpdateId = seq;
    book.venueTs = typeof m.timestamp === 'number' ? m.timestamp : book.venueTs;
    book.localTs = recvTs;
    this.stats.applied++;
    if (book.isCrossed()) {
      if (this.crossedRun === 0) this.stats.crossed++;
      if (++this.crossedRun >= CROSSED_LIMIT) this.resync(`book stayed crossed for ${CROSSED_LIMIT} deltas`);
      // A crossed book is not handed on: nothing may act on it until the next delta uncrosses it.
      return;
    }
    this.crossedRun = 0;
    this.hooks.onBook?.(book);
  }

  fail(reason: string): void {
    this.stats.errors++;
    this.resync(reason);
  }

  private resync(reason: string): void {
    this.stats.resyncs++;
    this.reset(reason);
    this.hooks.requestResync(this.book.symbol, reason);
  }

  reset(reason: string): void {
    this.live = false;
    this.crossedRun = 0;
    this.book.markUnsynced(reason);
    this.book.clear();
  }
}

function loadSide(book: L2Book, side: 'bid' | 'ask', levels: unknown, grids: BookGrids): void {
  if (!Array.isArray(levels)) throw new DataError('BAD_MESSAGE', 'book_snapshot side is not an array');
  const target = side === 'bid' ? book.bids : book.asks;
  for (const l of levels) {
    const r = asRecord(l);
    if (!r) throw new DataError('BAD_MESSAGE', 'book level is not an object');
    const qty = numberToSteps(r.qty as number, grids.qty);
    // Snapshots may list zero-quantity levels; they are not levels.
    if (qty !== 0) target.set(numberToSteps(r.price as number, grids.price), qty);
  }
}

export interface KrakenFuturesFeedOptions extends PrecisionOptions {
  readonly only?: ReadonlySet<string> | undefined;
}

export class KrakenFuturesBookFeed implements BookFeed {
  readonly venue: VenueId = 'kraken-futures';
  private readonly syncs = new Map<string, KrakenFuturesBookSync>();
  private readonly hooks: SyncHooks;
  private readonly opts: KrakenFuturesFeedOptions;

  constructor(hooks: SyncHooks, opts: KrakenFuturesFeedOptions = {}) {
    this.hooks = hooks;
    this.opts = opts;
  }

  symbols(): ReadonlyMap<string, KrakenFuturesBookSync> {
    return this.syncs;
  }

  onMessage(msg: unknown, recvTs: number): void {
    const m = asRecord(msg);
    // Subscription acks carry "feed":"book" too, but with an "event".
    if (!m || (m.feed !== 'book' && m.feed !== 'book_snapshot') || 'event' in m) return;
    if (typeof m.product_id !== 'string') throw new DataError('BAD_MESSAGE', `${m.feed} without product_id`);
    // REST lists ids lowercase, WS uppercase: one key for both.
    const symbol = m.product_id.toUpperCase();
    let sync = this.syncs.get(symbol);
    if (!sync) {
      if (this.opts.only && !this.opts.only.has(symbol)) return;
      sync = new KrakenFuturesBookSync(symbol, this.hooks);
      this.syncs.set(symbol, sync);
    }
    const grids = (sync.grids ??= resolveGrids(symbol, this.opts));
    if (m.feed === 'book_snapshot') sync.onSnapshot(m, grids, recvTs);
    else sync.onDelta(m, grids, recvTs);
  }

  resetAll(reason: string): void {
    for (const s of this.syncs.values()) s.reset(reason);
  }

  onSnapshot(): void {
    throw new DataError(
      'BAD_MESSAGE',
      'Kraken Futures books come from the WebSocket book_snapshot, not REST',
    );
  }

  onOutbound(): void {
    // Subscriptions carry nothing the book needs.
  }
}
