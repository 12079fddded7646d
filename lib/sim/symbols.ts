/**
 * What the simulator lists: per venue, instruments written the way that venue writes them, and the
 * metadata responses (exchangeInfo, AssetPairs, instruments) built from them in the venue's shape.
 */
import type { Grid } from '#core/grid.ts';
import { decimalsOf, gridFromStep, toSteps } from '#core/grid.ts';
import type { VenueId } from '#core/instrument.ts';
import type { MarketConfig } from './market.ts';

export interface SimSymbolConfig {
  readonly venue: VenueId;
  /** The venue's own symbol: BTCUSDT (Binance), BTC/USD (Kraken v2), PF_XBTUSD (Kraken Futures). */
  readonly symbol: string;
  /** Tick size as the venue writes it ("0.10"). */
  readonly tick: string;
  /** Lot (step) size ("0.001"). */
  readonly lot: string;
  /** Starting mid price as text on the tick grid. */
  readonly startPrice: string;
  readonly minNotional?: string;
  /** Typical size of a level as text (default "0.5"), converted to lots of this instrument. */
  readonly levelQty?: string;
  /** Overrides of the synthetic market's dynamics (e.g. more imbalance episodes for a test). */
  readonly market?: Partial<Omit<MarketConfig, 'seed' | 'startMidTicks'>>;
  readonly seed?: number;
}

export interface SimSymbol extends SimSymbolConfig {
  readonly price: Grid;
  readonly qty: Grid;
  readonly startMidTicks: number;
  readonly meanLevelQtyLots: number;
}

export function simSymbol(cfg: SimSymbolConfig): SimSymbol {
  const price = gridFromStep(cfg.tick);
  const qty = gridFromStep(cfg.lot);
  const meanLevelQtyLots = Math.max(1, toSteps(cfg.levelQty ?? '0.5', qty));
  return { ...cfg, price, qty, startMidTicks: toSteps(cfg.startPrice, price), meanLevelQtyLots };
}

/** Sensible defaults per venue, used by `npm start` and tests. */
export const DEFAULT_SYMBOLS: Record<VenueId, SimSymbolConfig> = {
  'binance-futures': {
    venue: 'binance-futures',
    symbol: 'BTCUSDT',
    tick: '0.10',
    lot: '0.001',
    startPrice: '43000.00',
    minNotional: '5',
  },
  'binance-us': {
    venue: 'binance-us',
    symbol: 'BTCUSDT',
    tick: '0.01000000',
    lot: '0.00001000',
    startPrice: '43000.00',
    minNotional: '10',
  },
  'kraken-spot': {
    venue: 'kraken-spot',
    symbol: 'BTC/USD',
    tick: '0.1',
    lot: '0.00000001',
    startPrice: '43000.0',
    minNotional: '0.5',
  },
  'kraken-futures': {
    venue: 'kraken-futures',
    symbol: 'PF_XBTUSD',
    tick: '0.5',
    lot: '0.0001',
    startPrice: '43000.0',
  },
};

function baseQuote(symbol: string): [string, string] {
  if (symbol.includes('/')) return symbol.split('/') as [string, string];
  const m = /^(?:P[FI]_)?([A-Z]+?)(USDT|USD|BUSD|EUR)$/.exec(symbol);
  return m ? [m[1] as string, m[2] as string] : [symbol, 'USD'];
}

/** Binance exchangeInfo in the venue's shape (futures MIN_NOTIONAL.notional, spot minNotional). */
export function binanceExchangeInfo(
  venue: 'binance-futures' | 'binance-us',
  symbols: readonly SimSymbol[],
  serverTime: number,
) {
  const futures = venue === 'binance-futures';
  return {
    timezone: 'UTC',
    serverTime,
    rateLimits: futures
      ? [
          { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 },
          { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
          { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 300 },
        ]
      : [
          { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
          { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
        ],
    exchangeFilters: [],
    symbols: symbols.map((s) => {
      const [base, quote] = baseQuote(s.symbol);
      const notional = s.minNotional ?? '5';
      return {
        symbol: s.symbol,
        status: 'TRADING',
        ...(futures
          ? {
              contractType: 'PERPETUAL',
              pricePrecision: decimalsOf(s.tick),
              quantityPrecision: decimalsOf(s.lot),
            }
          : {}),
        baseAsset: base,
        quoteAsset: quote,
        filters: [
          { filterType: 'PRICE_FILTER', minPrice: s.tick, maxPrice: '1000000', tickSize: s.tick },
          { filterType: 'LOT_SIZE', minQty: s.lot, maxQty: '10000', stepSize: s.lot },
          {
            filterType: 'MARKET_LOT_SIZE',
            minQty: s.lot,
            maxQty: '1000',
            stepSize: futures ? s.lot : '0.00000000',
          },
          futures
            ? { filterType: 'MIN_NOTIONAL', notional }
            : { filterType: 'MIN_NOTIONAL', minNotional: notional, applyToMarket: true, avgPriceMins: 5 },
        ],
      };
    }),
  };
}

/** Kraken AssetPairs in the venue's shape. */
export function krakenAssetPairs(symbols: readonly SimSymbol[]) {
  const result: Record<string, unknown> = {};
  for (const s of symbols) {
    const [base, quote] = baseQuote(s.symbol);
    result[`${base}${quote}`] = {
      altname: `${base}${quote}`,
      wsname: s.symbol,
      base,
      quote,
      pair_decimals: decimalsOf(s.tick),
      lot_decimals: decimalsOf(s.lot),
      tick_size: s.tick,
      ordermin: s.lot,
      costmin: s.minNotional ?? '0.5',
    };
  }
  return { error: [], result };
}

/** Kraken Futures instruments in the venue's shape (tickSize a JSON number). */
export function krakenFuturesInstrumentsBody(symbols: readonly SimSymbol[]) {
  return {
    result: 'success',
    instruments: symbols.map((s) => ({
      symbol: s.symbol,
      type: s.symbol.startsWith('PI_') ? 'futures_inverse' : 'flexible_futures',
      tickSize: Number(s.tick),
      contractSize: 1,
      tradeable: true,
      contractValueTradePrecision: decimalsOf(s.lot),
    })),
  };
}
