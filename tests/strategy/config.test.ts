import { describe, expect, it } from 'vitest';
import { DataError } from '#core/errors.ts';
import {
  DEFAULT_IMBALANCE_PARAMS,
  StrategyConfigError,
  paramsFor,
  parseStrategyConfig,
} from '#strategy/config.ts';

/** The issues of a config that must fail. */
function issuesOf(json: unknown): readonly string[] {
  try {
    parseStrategyConfig(json);
  } catch (err) {
    expect(err).toBeInstanceOf(StrategyConfigError);
    return (err as StrategyConfigError).issues;
  }
  throw new Error('the config was accepted');
}

describe('parseStrategyConfig', () => {
  it('defaults: buy above 3.0, sell below 0.33, +0.20 % target, −0.15 % stop, 60 s, 5 levels', () => {
    expect(DEFAULT_IMBALANCE_PARAMS).toEqual({
      buyThreshold: 3.0,
      sellThreshold: 0.33,
      profitTargetPct: '0.20',
      stopLossPct: '0.15',
      timeStopSeconds: 60,
      levels: 5,
    });
    const c = parseStrategyConfig('{}');
    expect(c.defaults).toEqual(DEFAULT_IMBALANCE_PARAMS);
    expect(c.symbols.size).toBe(0);
  });

  it('applies file defaults over built-in ones and per-symbol overrides over both', () => {
    const c = parseStrategyConfig(
      JSON.stringify({
        defaults: { timeStopSeconds: 30 },
        symbols: {
          'binance-futures:BTCUSDT': { buyThreshold: 4, profitTargetPct: '0.5' },
          'kraken-spot:XBT/USD': { levels: 10 },
        },
      }),
    );
    expect(c.defaults).toEqual({ ...DEFAULT_IMBALANCE_PARAMS, timeStopSeconds: 30 });
    expect(paramsFor(c, 'binance-futures', 'BTCUSDT')).toEqual({
      ...DEFAULT_IMBALANCE_PARAMS,
      timeStopSeconds: 30,
      buyThreshold: 4,
      profitTargetPct: '0.5',
    });
    expect(paramsFor(c, 'kraken-spot', 'xbt/usd').levels).toBe(10);
    expect(paramsFor(c, 'binance-us', 'BTCUSDT')).toEqual(c.defaults); // another venue's BTCUSDT
    expect(paramsFor(c, 'binance-futures', 'ETHUSDT')).toEqual(c.defaults);
  });

  it('accepts an already-parsed object', () => {
    expect(parseStrategyConfig({ defaults: { levels: 50 } }).defaults.levels).toBe(50);
  });

  it.each([
    [{ buyThreshold: 0 }, 'defaults.buyThreshold: must be a number > 0'],
    [{ buyThreshold: -2 }, 'defaults.buyThreshold: must be a number > 0'],
    [{ buyThreshold: '3' }, 'defaults.buyThreshold: must be a number > 0'],
    [{ sellThreshold: 0 }, 'defaults.sellThreshold: must be a number > 0'],
    [{ buyThreshold: 0.9 }, 'defaults.buyThreshold: must be > 1'],
    [{ buyThreshold: 1 }, 'defaults.buyThreshold: must be > 1'],
    [{ sellThreshold: 1 }, 'defaults.sellThreshold: must be < 1'],
    [{ sellThreshold: 1.5 }, 'defaults.sellThreshold: must be < 1'],
    [{ profitTargetPct: 0.2 }, 'defaults.profitTargetPct: must be a percentage as decimal text'],
    [{ profitTargetPct: '1e-1' }, 'defaults.profitTargetPct: must be a percentage as decimal text'],
    [{ profitTargetPct: '-0.2' }, 'defaults.profitTargetPct: must be a percentage as decimal text'],
    [{ profitTargetPct: '0' }, 'defaults.profitTargetPct: must be > 0 and < 100 percent'],
    [{ stopLossPct: '0.00' }, 'defaults.stopLossPct: must be > 0 and < 100 percent'],
    [{ stopLossPct: '100' }, 'defaults.stopLossPct: must be > 0 and < 100 percent'],
    [{ stopLossPct: 'abc' }, 'defaults.stopLossPct: must be a percentage as decimal text'],
    [{ timeStopSeconds: 0 }, 'defaults.timeStopSeconds: must be a number of seconds > 0'],
    [{ timeStopSeconds: -60 }, 'defaults.timeStopSeconds: must be a number of seconds > 0'],
    [{ timeStopSeconds: '60' }, 'defaults.timeStopSeconds: must be a number of seconds > 0'],
    [{ levels: 0 }, 'defaults.levels: must be an integer in 1..50'],
    [{ levels: 51 }, 'defaults.levels: must be an integer in 1..50'],
    [{ levels: 2.5 }, 'defaults.levels: must be an integer in 1..50'],
    [{ buyTreshold: 4 }, 'defaults.buyTreshold: unknown field'],
  ])('rejects defaults %j, naming the field', (defaults, message) => {
    const issues = issuesOf({ defaults });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(message);
  });

  it('validates each symbol merged with the defaults, naming the symbol', () => {
    // 1.5 is a valid number on its own, but not below 1
    const issues = issuesOf({ symbols: { 'binance-futures:BTCUSDT': { sellThreshold: 1.5 } } });
    expect(issues).toEqual(['symbols["binance-futures:BTCUSDT"].sellThreshold: must be < 1 (got 1.5)']);
    expect(issuesOf({ symbols: { 'binance-futures:BTCUSDT': { levels: 0 } } })[0]).toContain(
      'symbols["binance-futures:BTCUSDT"].levels',
    );
  });

  it('rejects bad symbol keys, duplicates and unknown top-level fields', () => {
    expect(issuesOf({ symbols: { BTCUSDT: {} } })[0]).toContain(
      'symbols["BTCUSDT"]: key must be "venue:symbol"',
    );
    expect(issuesOf({ symbols: { 'binance:BTCUSDT': {} } })[0]).toContain('symbols["binance:BTCUSDT"]');
    expect(issuesOf({ symbols: { 'kraken-spot:': {} } })[0]).toContain('key must be');
    expect(issuesOf({ symbols: { 'kraken-spot:XBT/USD': {}, 'kraken-spot:xbt/usd': {} } })[0]).toContain(
      'configured twice',
    );
    expect(issuesOf({ symbols: { 'kraken-spot:XBT/USD': 5 } })[0]).toContain('must be an object');
    expect(issuesOf({ symbols: [] })[0]).toContain('symbols: must be an object');
    expect(issuesOf({ default: {} })[0]).toContain('default: unknown field');
  });

  it('reports every problem at once', () => {
    const issues = issuesOf({
      defaults: { levels: 0, timeStopSeconds: 0 },
      symbols: { 'binance-futures:X': { buyThreshold: 0.5 } },
    });
    expect(issues).toHaveLength(3);
  });

  it('rejects text that is not JSON or not an object, as a data error', () => {
    expect(issuesOf('{"defaults": ')[0]).toContain('not valid JSON');
    expect(issuesOf('[]')[0]).toContain('must be a JSON object');
    expect(issuesOf(null)[0]).toContain('must be a JSON object');
    let err: unknown;
    try {
      parseStrategyConfig('nope');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('BAD_STRATEGY_CONFIG');
  });
});
