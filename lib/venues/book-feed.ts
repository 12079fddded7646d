/**
 * What every venue's book sync shares: per-symbol counters, the grids a symbol's text converts on,
 * and the interface a transport (live WebSocket or a recording) drives.
 */
import type { L2Book } from '#core/book.ts';
import { DataError } from '#core/errors.ts';
import type { Grid } from '#core/grid.ts';
import { decimalsOf, gridFromDecimals } from '#core/grid.ts';
import type { InstrumentSet, VenueId } from '#core/instrument.ts';

export interface SyncStats {
  /** Book messages seen for this symbol (snapshots and updates). */
  messages: number;
  /** Updates applied to the book. */
  applied: number;
  /** Updates dropped because they predate the snapshot or arrived while the book was unsynced. */
  dropped: number;
  /** Sequence breaks detected. */
  gaps: number;
  /** Times the book was thrown away and a fresh snapshot requested. */
  resyncs: number;
  /** Checksums verified and matching. */
  checksumOk: number;
  /** Checksums verified and not matching. */
  checksumBad: number;
  /** Crossed books seen after a complete update. */
  crossed: number;
  /** Messages whose content could not be converted (off-grid, malformed). */
  errors: number;
}

export function newStats(): SyncStats {
  return {
    messages: 0,
    applied: 0,
    dropped: 0,
    gaps: 0,
    resyncs: 0,
    checksumOk: 0,
    checksumBad: 0,
    crossed: 0,
    errors: 0,
  };
}

export interface BookGrids {
  readonly price: Grid;
  readonly qty: Grid;
}

/** What the sync asks of its transport. */
export interface SyncHooks {
  /** The symbol's book is unusable and needs a fresh snapshot (REST fetch or resubscribe). */
  requestResync(symbol: string, reason: string): void;
  /** The book changed after a complete, verified update (hot path: keep it cheap). */
  onBook?(book: L2Book): void;
}

export const noHooks: SyncHooks = { requestResync: () => undefined };

/** A symbol's book as the feed keeps it. */
export interface SymbolBookView {
  readonly book: L2Book;
  readonly stats: SyncStats;
  /** Null until the first message told us (or metadata gave) the symbol's precision. */
  readonly grids: BookGrids | null;
  /** UNSYNCED now, waiting for a fresh snapshot; nothing is requested. */
  reset(reason: string): void;
}

/** A venue's book feed: routes raw venue messages to per-symbol syncs. */
export interface BookFeed {
  readonly venue: VenueId;
  /** A WebSocket message, already JSON-parsed. `recvTs` is local receive time in ms. */
  onMessage(msg: unknown, recvTs: number): void;
  /**
   * Optional fast path: a WebSocket message as raw text. True when the feed handled it; false
   * (nothing changed) when the caller must JSON.parse it and call `onMessage` instead.
   */
  onText?(text: string, recvTs: number): boolean;
  /** A REST depth snapshot response body; `symbol` from the request when known. */
  onSnapshot(symbol: string | undefined, body: unknown, recvTs: number): void;
  /** A frame we sent (subscriptions carry the book depth on Kraken v2). */
  onOutbound(msg: unknown): void;
  /** Every symbol seen so far, in first-seen order. */
  symbols(): ReadonlyMap<string, SymbolBookView>;
  /**
   * Throws every book away (the connection that fed them is gone): all UNSYNCED until each is
   * rebuilt from a fresh snapshot. Does not request anything — the transport resubscribes.
   */
  resetAll(reason: string): void;
}

export interface PrecisionOptions {
  /** The venue's own metadata, when available. */
  readonly instruments?: InstrumentSet | undefined;
  /**
   * Trading: books count in the instrument's own ticks and lots (what strategy, risk and orders
   * use), and a price off that grid is an inconsistency (stale metadata) that makes the book
   * UNSYNCED. Replay leaves this off: the text's own precision is exact whatever the metadata says.
   */
  readonly instrumentGrids?: boolean | undefined;
  /** Explicit decimals, overriding metadata (for recordings whose numbers lost trailing zeros). */
  readonly pricePrecision?: number | undefined;
  readonly qtyPrecision?: number | undefined;
}

/**
 * Decides the grids a symbol's book converts on. Explicit precision wins. Venues that send decimal
 * text (Binance, Kraken v1) carry their own precision: the book counts in units of the text's last
 * decimal, which is exact whatever the metadata says (real metadata goes stale: a recorded
 * exchangeInfo's tick can be coarser than the prices the feed later sends). Venues that send JSON
 * numbers (Kraken v2, Kraken Futures) need the venue's metadata.
 */
export function resolveGrids(
  symbol: string,
  opts: PrecisionOptions,
  sample?: { price: string; qty: string },
): BookGrids {
  const inst = sample && !opts.instrumentGrids ? undefined : opts.instruments?.get(symbol);
  const price =
    opts.pricePrecision !== undefined
      ? gridFromDecimals(opts.pricePrecision)
      : inst
        ? inst.price
        : sample
          ? gridFromDecimals(decimalsOf(sample.price))
          : undefined;
  const qty =
    opts.qtyPrecision !== undefined
      ? gridFromDecimals(opts.qtyPrecision)
      : inst
        ? inst.qty
        : sample
          ? gridFromDecimals(decimalsOf(sample.qty))
          : undefined;
  if (!price || !qty) {
    throw new DataError(
      'NO_PRECISION',
      `no precision known for ${symbol}: give the venue's instrument metadata (--instruments) or --price-precision and --qty-precision`,
    );
  }
  return { price, qty };
}

/** Unwraps a value that must be an object. */
export function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}
