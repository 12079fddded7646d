import { describe, expect, it } from 'vitest';
import { DataError } from '#core/errors.ts';
import { DEFAULT_RISK_LIMITS, RiskLimitsError, parseRiskLimits, symbolLimits } from '#risk/limits.ts';

/** The fields named by the error `parseRiskLimits(doc)` throws (fails when it does not throw). */
function badFields(doc: unknown): string[] {
  try {
    parseRiskLimits(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(RiskLimitsError);
    expect(err).toBeInstanceOf(DataError);
    const e = err as RiskLimitsError;
    expect(e.code).toBe('BAD_RISK_LIMITS');
    for (const i of e.issues) expect(e.message).toContain(i.field);
    return e.issues.map((i) => i.field);
  }
  throw new Error('expected a RiskLimitsError');
}

describe('parseRiskLimits: defaults', () => {
  it('parses an empty document to the documented defaults', () => {
    const l = parseRiskLimits({});
    const d = l.defaults;
    expect(d.maxOrderNotional.toString()).toBe('10000');
    expect(d.maxPositionNotional.toString()).toBe('25000');
    expect(d.maxInstrumentExposurePct.toString()).toBe('25');
    expect(d.maxOpenOrdersPerSymbol).toBe(10);
    expect(d.priceBandBps).toBe(50);
    expect(d.maxBookAgeMs).toBe(2000);
    expect(d.fundingWindowSec).toBe(60);
    expect(d.maxLeverage.toString()).toBe('10');
    expect(d.minLiquidationDistancePct.toString()).toBe('2');
    expect(d.maintenanceMarginRate.toString()).toBe('0.01');
    const a = l.account;
    expect(a.maxTotalExposure.toString()).toBe('50000');
    expect(a.maxOpenOrders).toBe(50);
    expect(a.dailyLossLimit.toString()).toBe('-500');
    expect(a.maxDrawdown.toString()).toBe('-1000');
    expect(a.maxConsecutiveLosses).toBe(5);
    expect(a.maxAccountLeverage.toString()).toBe('10');
    expect(l.venues['binance-futures']).toEqual({
      ordersPerSecond: 10,
      ordersPerMinute: 100,
      reduceOnlyMinNotionalExempt: true,
    });
    expect(l.venues['kraken-spot'].reduceOnlyMinNotionalExempt).toBe(false);
    expect(l.venues['binance-us'].reduceOnlyMinNotionalExempt).toBe(false);
    expect(l.venues['kraken-futures'].reduceOnlyMinNotionalExempt).toBe(false);
    expect(DEFAULT_RISK_LIMITS.defaults.maxOrderNotional.toString()).toBe('10000');
  });

  it('accepts JSON text', () => {
    expect(
      parseRiskLimits('{"defaults":{"maxOrderNotional":"10"}}').defaults.maxOrderNotional.toString(),
    ).toBe('10');
  });
});

describe('parseRiskLimits: per-symbol overrides', () => {
  const l = parseRiskLimits({
    defaults: { maxOrderNotional: '500', priceBandBps: 30 },
    symbols: {
      'binance-futures': { btcusdt: { maxOrderNotional: '10' } },
      'kraken-spot': { 'XBT/USD': { maxBookAgeMs: 500 } },
    },
  });

  it('merges an override over the document defaults, field by field', () => {
    const btc = symbolLimits(l, 'binance-futures', 'BTCUSDT');
    expect(btc.maxOrderNotional.toString()).toBe('10');
    expect(btc.priceBandBps).toBe(30);
    expect(symbolLimits(l, 'kraken-spot', 'XBT/USD').maxBookAgeMs).toBe(500);
  });

  it('matches symbols case-insensitively (a missed override would silently apply the defaults)', () => {
    expect(symbolLimits(l, 'binance-futures', 'btcusdt').maxOrderNotional.toString()).toBe('10');
    expect(symbolLimits(l, 'binance-futures', 'BtcUsdt').maxOrderNotional.toString()).toBe('10');
  });

  it('keys overrides by venue: the same symbol elsewhere takes the defaults', () => {
    expect(symbolLimits(l, 'binance-us', 'BTCUSDT').maxOrderNotional.toString()).toBe('500');
    expect(symbolLimits(l, 'binance-futures', 'ETHUSDT').maxOrderNotional.toString()).toBe('500');
  });

  it('rejects two keys for one symbol', () => {
    expect(badFields({ symbols: { 'binance-futures': { BTCUSDT: {}, btcusdt: {} } } })).toEqual([
      'symbols.binance-futures.btcusdt',
    ]);
  });
});

describe('parseRiskLimits: validation names the bad field', () => {
  it('rejects amounts given as JSON numbers (a float is not an amount)', () => {
    expect(badFields({ defaults: { maxOrderNotional: 10000 } })).toEqual(['defaults.maxOrderNotional']);
  });

  it('rejects malformed decimal text', () => {
    for (const v of ['1e4', '10,000', ' 10', '$10', '', '.5', 'NaN', 'Infinity']) {
      expect(badFields({ defaults: { maxOrderNotional: v } })).toEqual(['defaults.maxOrderNotional']);
    }
  });

  it('rejects values out of range', () => {
    expect(badFields({ defaults: { maxOrderNotional: '0' } })).toEqual(['defaults.maxOrderNotional']);
    expect(badFields({ defaults: { maxOrderNotional: '-10' } })).toEqual(['defaults.maxOrderNotional']);
    expect(badFields({ defaults: { maxPositionNotional: '0' } })).toEqual(['defaults.maxPositionNotional']);
    expect(badFields({ defaults: { maxInstrumentExposurePct: '100.01' } })).toEqual([
      'defaults.maxInstrumentExposurePct',
    ]);
    expect(badFields({ defaults: { maxInstrumentExposurePct: '0' } })).toEqual([
      'defaults.maxInstrumentExposurePct',
    ]);
    expect(badFields({ defaults: { maxLeverage: '0.9' } })).toEqual(['defaults.maxLeverage']);
    expect(badFields({ defaults: { minLiquidationDistancePct: '100' } })).toEqual([
      'defaults.minLiquidationDistancePct',
    ]);
    expect(badFields({ defaults: { maintenanceMarginRate: '1' } })).toEqual([
      'defaults.maintenanceMarginRate',
    ]);
    expect(badFields({ defaults: { priceBandBps: 0 } })).toEqual(['defaults.priceBandBps']);
    expect(badFields({ defaults: { priceBandBps: 10_001 } })).toEqual(['defaults.priceBandBps']);
    expect(badFields({ defaults: { priceBandBps: 12.5 } })).toEqual(['defaults.priceBandBps']);
    expect(badFields({ defaults: { maxBookAgeMs: 0 } })).toEqual(['defaults.maxBookAgeMs']);
    expect(badFields({ defaults: { fundingWindowSec: -1 } })).toEqual(['defaults.fundingWindowSec']);
    expect(badFields({ defaults: { maxOpenOrdersPerSymbol: '10' } })).toEqual([
      'defaults.maxOpenOrdersPerSymbol',
    ]);
    expect(badFields({ account: { dailyLossLimit: '500' } })).toEqual(['account.dailyLossLimit']);
    expect(badFields({ account: { dailyLossLimit: '0' } })).toEqual(['account.dailyLossLimit']);
    expect(badFields({ account: { maxDrawdown: '1000' } })).toEqual(['account.maxDrawdown']);
    expect(badFields({ account: { maxConsecutiveLosses: 0 } })).toEqual(['account.maxConsecutiveLosses']);
    expect(badFields({ account: { maxOpenOrders: 0 } })).toEqual(['account.maxOpenOrders']);
    expect(badFields({ account: { maxTotalExposure: '0' } })).toEqual(['account.maxTotalExposure']);
    expect(badFields({ account: { maxAccountLeverage: '0' } })).toEqual(['account.maxAccountLeverage']);
    expect(badFields({ venues: { 'binance-us': { ordersPerSecond: 0 } } })).toEqual([
      'venues.binance-us.ordersPerSecond',
    ]);
    expect(badFields({ venues: { 'binance-us': { ordersPerSecond: 20, ordersPerMinute: 10 } } })).toEqual([
      'venues.binance-us.ordersPerMinute',
    ]);
    expect(badFields({ venues: { 'binance-us': { reduceOnlyMinNotionalExempt: 'yes' } } })).toEqual([
      'venues.binance-us.reduceOnlyMinNotionalExempt',
    ]);
  });

  it('names the path of a bad per-symbol override', () => {
    expect(badFields({ symbols: { 'kraken-futures': { PI_XBTUSD: { maxOrderNotional: 'ten' } } } })).toEqual([
      'symbols.kraken-futures.PI_XBTUSD.maxOrderNotional',
    ]);
  });

  it('rejects unknown fields, sections and venues (a typo must not leave a default in force)', () => {
    expect(badFields({ defaults: { maxOrderNotinal: '10' } })).toEqual(['defaults.maxOrderNotinal']);
    expect(badFields({ limits: {} })).toEqual(['limits']);
    expect(badFields({ symbols: { binance: { BTCUSDT: {} } } })).toEqual(['symbols.binance']);
    expect(badFields({ venues: { kraken: {} } })).toEqual(['venues.kraken']);
    expect(badFields({ account: { maxOrderNotional: '10' } })).toEqual(['account.maxOrderNotional']);
  });

  it('rejects sections that are not objects, and a document that is not one', () => {
    expect(badFields({ defaults: [] })).toEqual(['defaults']);
    expect(badFields({ symbols: { 'binance-futures': { BTCUSDT: 10 } } })).toEqual([
      'symbols.binance-futures.BTCUSDT',
    ]);
    expect(badFields([])).toEqual(['(document)']);
    expect(badFields(null)).toEqual(['(document)']);
    expect(badFields('{not json')).toEqual(['(document)']);
  });

  it('lists every problem at once', () => {
    expect(
      badFields({ defaults: { maxOrderNotional: 1, priceBandBps: -1 }, account: { maxDrawdown: '5' } }),
    ).toEqual(['account.maxDrawdown', 'defaults.maxOrderNotional', 'defaults.priceBandBps']);
  });
});
