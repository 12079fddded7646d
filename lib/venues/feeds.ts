/** One place that knows which book feed and which metadata loader belong to which venue. */
import { DataError } from '#core/errors.ts';
import type { InstrumentSet, VenueId } from '#core/instrument.ts';
import type { BookFeed, PrecisionOptions, SyncHooks } from './book-feed.ts';
import { asRecord } from './book-feed.ts';
import { BinanceBookFeed } from './binance/book-feed.ts';
import { binanceInstruments } from './binance/instruments.ts';
import { KrakenFuturesBookFeed } from './kraken-futures/book-feed.ts';
import { krakenFuturesInstruments } from './kraken-futures/instruments.ts';
import { KrakenSpotBookFeed } from './kraken-spot/book-feed.ts';
import { krakenSpotInstruments } from './kraken-spot/instruments.ts';

export interface FeedOptions extends PrecisionOptions {
  readonly only?: ReadonlySet<string> | undefined;
  readonly depth?: number | undefined;
}

export function createBookFeed(venue: VenueId, hooks: SyncHooks, opts: FeedOptions): BookFeed {
  switch (venue) {
    case 'binance-futures':
    case 'binance-us':
      return new BinanceBookFeed(venue, hooks, opts);
    case 'kraken-spot':
      return new KrakenSpotBookFeed(hooks, opts);
    case 'kraken-futures':
      return new KrakenFuturesBookFeed(hooks, opts);
  }
}

/** Whether a REST body is this venue's instrument metadata (exchangeInfo, AssetPairs, instruments). */
export function isInstrumentMetadata(venue: VenueId, body: unknown): boolean {
  const o = asRecord(body);
  if (!o) return false;
  switch (venue) {
    case 'binance-futures':
    case 'binance-us':
      return Array.isArray(o.symbols) && Array.isArray(o.rateLimits);
    case 'kraken-spot':
      return Array.isArray(o.error) && asRecord(o.result) !== undefined;
    case 'kraken-futures':
      return Array.isArray(o.instruments);
  }
}

export function loadInstruments(venue: VenueId, body: unknown): InstrumentSet {
  switch (venue) {
    case 'binance-futures':
    case 'binance-us':
      return binanceInstruments(body, venue);
    case 'kraken-spot':
      return krakenSpotInstruments(body);
    case 'kraken-futures':
      return krakenFuturesInstruments(body);
  }
}

/** Parses a metadata file's text: a raw JSON body, or a cryptofeed `<url> -> <ts>: <body>` line. */
export function parseMetadataText(text: string, file: string): unknown {
  const firstLine = text.split('\n', 1)[0] ?? '';
  const m = /^\S+ -> [\d.]+: (.*)$/s.exec(firstLine);
  try {
    return JSON.parse(m ? (m[1] as string) : text);
  } catch (err) {
    throw new DataError('BAD_METADATA', `${file}: not a JSON metadata response: ${(err as Error).message}`);
  }
}
