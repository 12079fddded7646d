/**
 * Kraken spot book sync (WS v2 `book`, and the legacy v1 `book-N` messages the recordings hold).
 *
 * Snapshot, then updates with absolute quantities (0 deletes). After every message: truncate each
 * side to the subscribed depth (Kraken never sends deletes for levels that fall out of scope),
 * then verify the CRC32 over the top 10. A mismatch makes the book UNSYNCED and asks for a fresh
 * snapshot (resubscribe); updates are ignored until it arrives.
 */
import { L2Book } from '#core/book.ts';
import type { SyncHooks, SyncStats, SymbolBookView, BookGrids } from '../book-feed.ts';
import { newStats } from '../book-feed.ts';
import { bookChecksum } from './checksum.ts';

/** A decoded level: integer ticks and lots. */
export interface StepLevel {
  readonly price: number;
  /** Lots; a bigint only for the rare quantity beyond 2^53 units. */
  readonly qty: number | bigint;
}

export interface KrakenBookMessage {
  readonly bids: readonly StepLevel[];
  readonly asks: readonly StepLevel[];
  /** Unsigned CRC32 the venue sent; undefined when the message carries none (v1 snapshots). */
  readonly checksum: number | undefined;
  /** Venue timestamp in ms (0 when unknown). */
  readonly venueTs: number;
}

export class KrakenBookSync implements SymbolBookView {
  readonly book: L2Book;
  readonly stats: SyncStats = newStats();
  grids: BookGrids | null = null;
  /** Subscribed depth: each side is truncated to it after every message. */
  depth: number;
  private readonly hooks: SyncHooks;
  private live = false;

  constructor(symbol: string, depth: number, hooks: SyncHooks) {
    this.book = new L2Book(symbol);
    this.depth = depth;
    this.hooks = hooks;
  }

  onSnapshot(msg: KrakenBookMessage, recvTs: number): void {
    this.stats.messages++;
    const book = this.book;
    book.clear();
    if (book.state === 'SYNCED') book.markUnsynced('new snapshot');
    book.markSyncing('applying snapshot');
    for (const l of msg.bids) book.bids.setExact(l.price, l.qty);
    for (const l of msg.asks) book.asks.setExact(l.price, l.qty);
    this.finish(msg, recvTs, 'snapshot');
  }

  onUpdate(msg: KrakenBookMessage, recvTs: number): void {
    this.stats.messages++;
    if (!this.live) {
      this.stats.dropped++;
      return;
    }
    const book = this.book;
    for (const l of msg.bids) book.bids.setExact(l.price, l.qty);
    for (const l of msg.asks) book.asks.setExact(l.price, l.qty);
    this.stats.applied++;
    this.finish(msg, recvTs, 'update');
  }

  /** Marks the book unusable after a message that could not be decoded. */
  fail(reason: string): void {
    this.stats.errors++;
    this.resync(reason);
  }

  private finish(msg: KrakenBookMessage, recvTs: number, what: string): void {
    const book = this.book;
    book.bids.truncate(this.depth);
    book.asks.truncate(this.depth);
    book.venueTs = msg.venueTs;
    book.localTs = recvTs;
    if (msg.checksum !== undefined) {
      const ours = bookChecksum(book, this.grids as BookGrids);
      if (ours !== msg.checksum) {
        this.stats.checksumBad++;
        this.resync(`checksum mismatch after ${what}: venue ${msg.checksum}, book ${ours}`);
        return;
      }
      this.stats.checksumOk++;
    }
    if (book.isCrossed()) {
      this.stats.crossed++;
      this.resync(`crossed book after ${what}`);
      return;
    }
    this.live = true;
    if (book.state !== 'SYNCED') book.markSynced();
    this.hooks.onBook?.(book);
  }

  private resync(reason: string): void {
    this.stats.resyncs++;
    this.reset(reason);
    this.hooks.requestResync(this.book.symbol, reason);
  }

  reset(reason: string): void {
    this.live = false;
    this.book.markUnsynced(reason);
    this.book.clear();
  }
}
