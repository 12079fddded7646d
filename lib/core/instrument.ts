/**
 * An instrument as the rest of Tradewind sees it, whichever venue it came from. Built by each
 * venue's metadata loader (lib/venues/<venue>/instruments.ts) from the venue's own response.
 */
import type { Grid } from './grid.ts';
import type { Money } from './money.ts';

export const VENUES = ['binance-futures', 'binance-us', 'kraken-spot', 'kraken-futures'] as const;
export type VenueId = (typeof VENUES)[number];

export function isVenueId(v: string): v is VenueId {
  return (VENUES as readonly string[]).includes(v);
}

export type InstrumentKind = 'spot' | 'perpetual' | 'future';

export interface Instrument {
  readonly venue: VenueId;
  /** The venue's own symbol as it appears in its market data (SUSHIUSDT, XBT/USD, PI_XBTUSD). */
  readonly symbol: string;
  readonly kind: InstrumentKind;
  readonly base: string;
  readonly quote: string;
  /** Price grid: tick size and the decimals the venue writes. */
  readonly price: Grid;
  /** Quantity grid: lot (step) size and decimals. */
  readonly qty: Grid;
  /** Quantity grid for market orders where it differs (Binance MARKET_LOT_SIZE); null = same as qty. */
  readonly marketQty: Grid | null;
  readonly minQty: Money;
  /** null = no maximum published. */
  readonly maxQty: Money | null;
  readonly minPrice: Money | null;
  readonly maxPrice: Money | null;
  /** Minimum order notional in quote currency; zero = none. */
  readonly minNotional: Money;
  /** Quote value of one unit of quantity per unit of price (1 for linear; USD per contract for inverse). */
  readonly contractSize: Money;
  readonly inverse: boolean;
  /** Whether the venue allows short positions on this instrument (spot venues are long-only). */
  readonly shortable: boolean;
}

/** A lookup by symbol that matches the way venues vary case and aliases. */
export class InstrumentSet {
  private readonly bySymbol = new Map<string, Instrument>();
  private readonly normalize: (symbol: string) => string;
  constructor(
    instruments: Iterable<Instrument>,
    normalize: (symbol: string) => string = (s) => s.toUpperCase(),
  ) {
    this.normalize = normalize;
    for (const i of instruments) this.bySymbol.set(this.normalize(i.symbol), i);
  }
  get(symbol: string): Instrument | undefined {
    return this.bySymbol.get(this.normalize(symbol));
  }
  get size(): number {
    return this.bySymbol.size;
  }
  [Symbol.iterator](): IterableIterator<Instrument> {
    return this.bySymbol.values();
  }
}
