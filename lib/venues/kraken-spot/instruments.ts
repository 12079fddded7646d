/**
 * Instruments from Kraken `GET /0/public/AssetPairs`. Keyed by `wsname` (what the book channel
 * sends). WS v2 renamed some assets (XBT → BTC, XDG → DOGE), so lookups accept either name.
 */
import { DataError } from '#core/errors.ts';
import { gridFromDecimals, gridFromStep } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
import { Money, money } from '#core/money.ts';
import { asRecord } from '../book-feed.ts';

const V2_NAMES: Record<string, string> = { XBT: 'BTC', XDG: 'DOGE' };

/** XBT/USD and BTC/USD are the same pair. */
export function normalizeKrakenSymbol(symbol: string): string {
  return symbol
    .toUpperCase()
    .split('/')
    .map((a) => V2_NAMES[a] ?? a)
    .join('/');
}

export function krakenSpotInstruments(body: unknown): InstrumentSet {
  const root = asRecord(body);
  const errors = root?.error;
  if (Array.isArray(errors) && errors.length > 0)
    throw new DataError('BAD_METADATA', `AssetPairs error: ${errors.join(', ')}`);
  const result = asRecord(root?.result);
  if (!result) throw new DataError('BAD_METADATA', 'AssetPairs without a result object');
  const out: Instrument[] = [];
  for (const [key, raw] of Object.entries(result)) {
    const p = asRecord(raw);
    if (!p || typeof p.pair_decimals !== 'number' || typeof p.lot_decimals !== 'number') continue;
    const symbol = typeof p.wsname === 'string' ? p.wsname : key;
    const [base = '', quote = ''] = symbol.split('/');
    // Newer responses publish tick_size; older ones imply 10^-pair_decimals.
    const price =
      typeof p.tick_size === 'string'
        ? gridFromStep(p.tick_size, p.pair_decimals)
        : gridFromDecimals(p.pair_decimals);
    out.push({
      venue: 'kraken-spot',
      symbol,
      kind: 'spot',
      base,
      quote,
      price,
      qty: gridFromDecimals(p.lot_decimals),
      marketQty: null,
      minQty: typeof p.ordermin === 'string' ? money(p.ordermin) : new Money(0),
      maxQty: null,
      minPrice: null,
      maxPrice: null,
      minNotional: typeof p.costmin === 'string' ? money(p.costmin) : new Money(0),
      contractSize: new Money(1),
      inverse: false,
      shortable: false,
    });
  }
  return new InstrumentSet(out, normalizeKrakenSymbol);
}
