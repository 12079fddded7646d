/**
 * Instruments from Binance `exchangeInfo` (USD-M `/fapi/v1/exchangeInfo`, Binance.US
 * `/api/v3/exchangeInfo`). Filter semantics: any rule whose value is 0 is disabled; futures
 * MIN_NOTIONAL carries `notional`, spot MIN_NOTIONAL/NOTIONAL carry `minNotional`.
 */
import { DataError } from '#core/errors.ts';
import type { Grid } from '#core/grid.ts';
import { gridFromStep } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
import { Money, money } from '#core/money.ts';
import { asRecord } from '../book-feed.ts';

type Filter = Record<string, unknown>;

function isZero(text: string): boolean {
  return /^0*(\.0*)?$/.test(text);
}

function text(f: Filter | undefined, key: string): string | undefined {
  const v = f?.[key];
  return typeof v === 'string' ? v : undefined;
}

/** A positive limit as money, or null when absent or zero (disabled). */
function limit(f: Filter | undefined, key: string): Money | null {
  const v = text(f, key);
  return v === undefined || isZero(v) ? null : money(v);
}

function stepGrid(f: Filter | undefined, key: string, symbol: string): Grid | null {
  const v = text(f, key);
  if (v === undefined || isZero(v)) return null;
  try {
    return gridFromStep(v);
  } catch (err) {
    throw new DataError('BAD_METADATA', `${symbol}: ${key} ${v}: ${(err as Error).message}`);
  }
}

export function binanceInstruments(body: unknown, venue: 'binance-futures' | 'binance-us'): InstrumentSet {
  const root = asRecord(body);
  if (!root || !Array.isArray(root.symbols))
    throw new DataError('BAD_METADATA', 'exchangeInfo without a symbols array');
  const out: Instrument[] = [];
  for (const raw of root.symbols) {
    const s = asRecord(raw);
    if (!s || typeof s.symbol !== 'string' || !Array.isArray(s.filters)) continue;
    const symbol = s.symbol;
    const filters = new Map<string, Filter>();
    for (const f of s.filters) {
      const r = asRecord(f);
      if (r && typeof r.filterType === 'string') filters.set(r.filterType, r);
    }
    const priceFilter = filters.get('PRICE_FILTER');
    const lot = filters.get('LOT_SIZE');
    const price = stepGrid(priceFilter, 'tickSize', symbol);
    const qty = stepGrid(lot, 'stepSize', symbol);
    if (!price || !qty) continue; // not tradable as a book (no grid published)
    const minNotionalText =
      text(filters.get('MIN_NOTIONAL'), 'notional') ??
      text(filters.get('MIN_NOTIONAL'), 'minNotional') ??
      text(filters.get('NOTIONAL'), 'minNotional') ??
      '0';
    const futures = venue === 'binance-futures';
    const contractType = typeof s.contractType === 'string' ? s.contractType : '';
    out.push({
      venue,
      symbol,
      kind: futures ? (contractType === 'PERPETUAL' ? 'perpetual' : 'future') : 'spot',
      base: typeof s.baseAsset === 'string' ? s.baseAsset : '',
      quote: typeof s.quoteAsset === 'string' ? s.quoteAsset : '',
      price,
      qty,
      marketQty: stepGrid(filters.get('MARKET_LOT_SIZE'), 'stepSize', symbol),
      minQty: limit(lot, 'minQty') ?? new Money(0),
      maxQty: limit(lot, 'maxQty'),
      minPrice: limit(priceFilter, 'minPrice'),
      maxPrice: limit(priceFilter, 'maxPrice'),
      minNotional: money(minNotionalText),
      contractSize: new Money(1),
      inverse: false,
      shortable: futures,
    });
  }
  return new InstrumentSet(out);
}
