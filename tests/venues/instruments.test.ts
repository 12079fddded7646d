import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromSteps, toSteps } from '#core/grid.ts';
import { binanceInstruments } from '#venues/binance/instruments.ts';
import { krakenFuturesInstruments } from '#venues/kraken-futures/instruments.ts';
import { krakenSpotInstruments } from '#venues/kraken-spot/instruments.ts';
import { parseMetadataText } from '#venues/feeds.ts';
import { dataFile, hasExchangeData } from '../support/exchange-data.ts';

/** The USD-M SUSHIUSDT filters exactly as VENUES.md §1.7 quotes them from exchangeInfo (2021). */
const sushi = {
  symbol: 'SUSHIUSDT',
  contractType: 'PERPETUAL',
  baseAsset: 'SUSHI',
  quoteAsset: 'USDT',
  pricePrecision: 4,
  quantityPrecision: 0,
  filters: [
    { filterType: 'PRICE_FILTER', minPrice: '0.1430', maxPrice: '500', tickSize: '0.0010' },
    { filterType: 'LOT_SIZE', minQty: '1', maxQty: '10000000', stepSize: '1' },
    { filterType: 'MARKET_LOT_SIZE', minQty: '1', maxQty: '100000', stepSize: '1' },
    { filterType: 'MAX_NUM_ORDERS', limit: 200 },
    { filterType: 'MIN_NOTIONAL', notional: '5' },
    { filterType: 'PERCENT_PRICE', multiplierUp: '1.1500', multiplierDown: '0.8500', multiplierDecimal: '4' },
  ],
};

/** Binance.US COMPUSDT filters as VENUES.md §2 quotes them (spot names, MARKET_LOT_SIZE step "0"). */
const comp = {
  symbol: 'COMPUSDT',
  baseAsset: 'COMP',
  quoteAsset: 'USDT',
  filters: [
    {
      filterType: 'PRICE_FILTER',
      minPrice: '0.01000000',
      maxPrice: '100000.00000000',
      tickSize: '0.01000000',
    },
    { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '900000.00000000', stepSize: '0.00001000' },
    { filterType: 'MIN_NOTIONAL', minNotional: '10.00000000', applyToMarket: true, avgPriceMins: 5 },
    { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '5219.23531479', stepSize: '0.00000000' },
  ],
};

describe('Binance exchangeInfo', () => {
  it('reads USD-M filters: tick 0.0010 at 4 decimals, futures MIN_NOTIONAL.notional', () => {
    const set = binanceInstruments({ symbols: [sushi], rateLimits: [] }, 'binance-futures');
    const i = set.get('sushiusdt');
    expect(i?.kind).toBe('perpetual');
    expect(i?.minNotional.toString()).toBe('5');
    expect(i?.minPrice?.toString()).toBe('0.143');
    expect(i?.shortable).toBe(true);
    if (!i) throw new Error('missing');
    expect(toSteps('7.6110', i.price)).toBe(7611 / 1);
    expect(fromSteps(toSteps('7.6110', i.price), i.price)).toBe('7.6110');
    expect(() => toSteps('7.6115', i.price)).toThrow(/multiple|decimals/);
    expect(() => toSteps('1.5', i.qty)).toThrow(/decimals/);
  });

  it('reads spot filters, and a MARKET_LOT_SIZE stepSize of 0 means disabled, not a zero divisor', () => {
    const set = binanceInstruments({ symbols: [comp], rateLimits: [] }, 'binance-us');
    const i = set.get('COMPUSDT');
    expect(i?.kind).toBe('spot');
    expect(i?.shortable).toBe(false);
    expect(i?.marketQty).toBeNull();
    expect(i?.minNotional.toString()).toBe('10');
    expect(i?.qty.scale).toBe(8);
    expect(i?.qty.stepUnits).toBe(1000);
  });

  it('rejects a response without symbols', () => {
    expect(() => binanceInstruments({ nope: 1 }, 'binance-us')).toThrow(/symbols/);
  });

  it.skipIf(!hasExchangeData)('loads the real recorded exchangeInfo responses', () => {
    const fut = binanceInstruments(
      parseMetadataText(readFileSync(dataFile('cryptofeed', 'BINANCE_FUTURES.0'), 'utf8'), 'x'),
      'binance-futures',
    );
    expect(fut.get('SUSHIUSDT')?.price.step).toBe('0.0010');
    expect(fut.get('SUSHIUSDT')?.minNotional.toString()).toBe('5');
    const us = binanceInstruments(
      parseMetadataText(readFileSync(dataFile('cryptofeed', 'BINANCE_US.0'), 'utf8'), 'x'),
      'binance-us',
    );
    expect(us.get('COMPUSDT')?.marketQty).toBeNull();
    expect(us.size).toBeGreaterThan(50);
  });
});

describe('Kraken AssetPairs', () => {
  const body = {
    error: [],
    result: {
      XXBTZUSD: {
        altname: 'XBTUSD',
        wsname: 'XBT/USD',
        pair_decimals: 1,
        lot_decimals: 8,
        ordermin: '0.0002',
      },
      NEWPAIR: {
        altname: 'ABCUSD',
        wsname: 'ABC/USD',
        pair_decimals: 4,
        lot_decimals: 2,
        tick_size: '0.0005',
        costmin: '0.5',
      },
    },
  };

  it('uses pair_decimals/lot_decimals, accepts v2 names (BTC for XBT)', () => {
    const set = krakenSpotInstruments(body);
    const btc = set.get('BTC/USD');
    expect(btc?.symbol).toBe('XBT/USD');
    expect(btc?.price.scale).toBe(1);
    expect(btc?.qty.scale).toBe(8);
    expect(btc?.minQty.toString()).toBe('0.0002');
    expect(btc?.shortable).toBe(false);
  });

  it('prefers tick_size when published', () => {
    const abc = krakenSpotInstruments(body).get('ABC/USD');
    expect(abc?.price.stepUnits).toBe(5);
    expect(abc?.minNotional.toString()).toBe('0.5');
  });

  it('an error array is a failure even with a result', () => {
    expect(() => krakenSpotInstruments({ error: ['EGeneral:Internal error'], result: {} })).toThrow(
      /EGeneral/,
    );
  });
});

describe('Kraken Futures instruments', () => {
  it('reads numeric tickSize, negative contractValueTradePrecision, inverse type; skips indices', () => {
    const set = krakenFuturesInstruments({
      result: 'success',
      instruments: [
        { symbol: 'pi_xbtusd', type: 'futures_inverse', tickSize: 0.5, contractSize: 1 },
        {
          symbol: 'PF_PEPEUSD',
          type: 'flexible_futures',
          tickSize: 1e-10,
          contractSize: 1,
          contractValueTradePrecision: -3,
        },
        {
          symbol: 'PF_ETHUSD',
          type: 'flexible_futures',
          tickSize: 0.1,
          contractSize: 1,
          contractValueTradePrecision: 3,
        },
        { symbol: 'in_xbtusd', type: 'spot index' },
      ],
    });
    expect(set.size).toBe(3);
    const xbt = set.get('PI_XBTUSD');
    expect(xbt?.inverse).toBe(true);
    expect(xbt?.kind).toBe('perpetual');
    expect(xbt && toSteps('32000.5', xbt.price)).toBe(64001);
    const pepe = set.get('pf_pepeusd');
    expect(pepe?.qty.stepUnits).toBe(1000);
    expect(pepe && toSteps('5000', pepe.qty)).toBe(5);
    expect(() => pepe && toSteps('1500', pepe.qty)).toThrow(/multiple/);
    expect(pepe?.price.scale).toBe(10);
    expect(set.get('PF_ETHUSD')?.qty.scale).toBe(3);
  });

  it('rejects a response that is not a success', () => {
    expect(() => krakenFuturesInstruments({ result: 'error', error: 'x' })).toThrow(/success/);
  });
});
