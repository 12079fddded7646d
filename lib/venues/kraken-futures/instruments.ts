/**
 * Instruments from Kraken Futures `GET /derivatives/api/v3/instruments`. `tickSize` and
 * `contractSize` are JSON numbers; size precision is `contractValueTradePrecision` (negative =
 * multiples of 10^-p, e.g. -3 → lots of 1000), absent on older inverse contracts (whole contracts).
 * Index entries (no tickSize) are not instruments.
 */
import { DataError } from '#core/errors.ts';
import { gridFromDecimals, gridFromNumber, plainDecimal } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import { asRecord } from '../book-feed.ts';

export function krakenFuturesInstruments(body: unknown): InstrumentSet {
  const root = asRecord(body);
  if (!root || root.result !== 'success' || !Array.isArray(root.instruments)) {
    throw new DataError(
      'BAD_METADATA',
      'instruments response is not {"result":"success","instruments":[...]}',
    );
  }
  const out: Instrument[] = [];
  for (const raw of root.instruments) {
    const i = asRecord(raw);
    if (!i || typeof i.symbol !== 'string' || typeof i.tickSize !== 'number') continue;
    const symbol = i.symbol.toUpperCase();
    const type = typeof i.type === 'string' ? i.type : '';
    const precision = typeof i.contractValueTradePrecision === 'number' ? i.contractValueTradePrecision : 0;
    const perpetual = symbol.startsWith('PI_') || symbol.startsWith('PF_');
    const pair = symbol.split('_')[1] ?? '';
    out.push({
      venue: 'kraken-futures',
      symbol,
      kind: perpetual ? 'perpetual' : 'future',
      base: pair.slice(0, -3),
      quote: pair.slice(-3),
      price: gridFromNumber(i.tickSize),
      qty: gridFromDecimals(precision),
      marketQty: null,
      minQty: new Money(gridFromDecimals(precision).step),
      maxQty: typeof i.maxPositionSize === 'number' ? new Money(plainDecimal(i.maxPositionSize)) : null,
      minPrice: null,
      maxPrice: null,
      minNotional: new Money(0),
      contractSize: new Money(typeof i.contractSize === 'number' ? plainDecimal(i.contractSize) : '1'),
      inverse: type === 'futures_inverse',
      shortable: true,
    });
  }
  return new InstrumentSet(out);
}
