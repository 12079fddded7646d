import { describe, expect, it } from 'vitest';
import { L2Book } from '#core/book.ts';
import { InvariantError } from '#core/errors.ts';
import { gridFromStep } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import { PositionLedger } from '#core/position.ts';
import type { Fill } from '#core/trading.ts';
import { DEFAULT_IMBALANCE_PARAMS } from '#strategy/config.ts';
import type { ImbalanceParams } from '#strategy/config.ts';
import { ImbalanceStrategy, exitLevels } from '#strategy/imbalance.ts';
import type { StrategyContext, StrategyPosition } from '#strategy/strategy.ts';
import { FLAT, strategyPosition } from '#strategy/strategy.ts';

function instrument(over: Partial<Instrument> = {}): Instrument {
  return {
    venue: 'binance-futures',
    symbol: 'BTCUSDT',
    kind: 'perpetual',
    base: 'BTC',
    quote: 'USDT',
    price: gridFromStep('0.1'),
    qty: gridFromStep('0.001'),
    marketQty: null,
    minQty: new Money('0.001'),
    maxQty: null,
    minPrice: null,
    maxPrice: null,
    minNotional: new Money(0),
    contractSize: new Money(1),
    inverse: false,
    shortable: true,
    ...over,
  };
}
const futures = instrument();
const spot = instrument({ venue: 'binance-us', kind: 'spot', shortable: false });

type Level = [price: number, qty: number];

/** Whole lots over five levels, the remainder on the best: [7, 6, 6, 6, 6] for 31. */
function spread(vol: number): number[] {
  const each = Math.floor(vol / 5);
  return [vol - 4 * each, each, each, each, each];
}

/**
 * A SYNCED book: up to five bid levels from `bid` down and five ask levels from `ask` up, holding
 * exactly bidVol and askVol lots in all.
 */
function bookOf(bidVol: number, askVol: number, bid = 99_990, ask = 100_010, extra: { bids?: Level[] } = {}) {
  const book = new L2Book('BTCUSDT');
  const bids = spread(bidVol);
  const asks = spread(askVol);
  for (let i = 0; i < 5; i++) {
    book.set('bid', bid - i, bids[i] as number);
    book.set('ask', ask + i, asks[i] as number);
  }
  for (const [p, q] of extra.bids ?? []) book.set('bid', p, q);
  book.markSyncing();
  book.markSynced();
  book.venueTs = 111;
  book.localTs = 222;
  return book;
}

function ctx(over: Partial<StrategyContext> = {}): StrategyContext {
  return { now: 1_000_000, position: FLAT, entryPending: false, exitPending: false, ...over };
}

function long(entryTicks: number, entryTs = 1_000_000): StrategyPosition {
  return { side: 'long', entryTicks, entryTs };
}
function short(entryTicks: number, entryTs = 1_000_000): StrategyPosition {
  return { side: 'short', entryTicks, entryTs };
}

const strategy = (inst = futures, params: ImbalanceParams = DEFAULT_IMBALANCE_PARAMS) =>
  new ImbalanceStrategy(inst, params);

describe('ImbalanceStrategy entries', () => {
  it('a ratio of exactly 3.0 is not above 3.0: no signal', () => {
    expect(strategy().onBook(bookOf(30, 10), ctx())).toBeNull();
  });

  it('a ratio above 3.0 enters long, with the book it saw', () => {
    const s = strategy().onBook(bookOf(31, 10), ctx());
    expect(s).not.toBeNull();
    expect(s).toMatchObject({
      venue: 'binance-futures',
      symbol: 'BTCUSDT',
      side: 'buy',
      kind: 'entry',
      ts: 1_000_000,
    });
    expect(s?.exitReason).toBeUndefined();
    // strength 1 − 3/3.1
    expect(s?.strength).toBeCloseTo(1 - 3 / 3.1, 12);
    expect(s?.book).toEqual({
      venue: 'binance-futures',
      symbol: 'BTCUSDT',
      state: 'SYNCED',
      bestBidTicks: 99_990,
      bestAskTicks: 100_010,
      bidVolume5Lots: 31,
      askVolume5Lots: 10,
      imbalance: 3.1,
      imbalanceLevels: 5,
      crossed: false,
      venueTs: 111,
      localTs: 222,
    });
  });

  it('a ratio of exactly 0.33 is not below 0.33: no signal', () => {
    expect(strategy().onBook(bookOf(33, 100), ctx())).toBeNull();
  });

  it('a ratio below 0.33 enters short where shorting is allowed', () => {
    const s = strategy().onBook(bookOf(32, 100), ctx());
    expect(s).toMatchObject({ side: 'sell', kind: 'entry' });
    // strength 1 − 0.32/0.33
    expect(s?.strength).toBeCloseTo(1 - 0.32 / 0.33, 12);
  });

  it('spot is long-only: a sell signal never opens a short', () => {
    expect(strategy(spot).onBook(bookOf(32, 100), ctx())).toBeNull();
    expect(strategy(spot).onBook(bookOf(1, 100), ctx())).toBeNull();
    expect(strategy(spot).onBook(bookOf(31, 10), ctx())).toMatchObject({ side: 'buy', venue: 'binance-us' });
  });

  it('neutral ratios give nothing', () => {
    for (const [b, a] of [
      [10, 10],
      [29, 10],
      [34, 100],
    ] as const) {
      expect(strategy().onBook(bookOf(b, a), ctx())).toBeNull();
    }
  });

  it('sums only the configured number of levels', () => {
    // A huge sixth bid level below the top five.
    const book = bookOf(20, 10, 99_990, 100_010, { bids: [[99_900, 1_000]] });
    expect(strategy().onBook(book, ctx())).toBeNull(); // top 5: 20/10 = 2
    const six = strategy(futures, { ...DEFAULT_IMBALANCE_PARAMS, levels: 6 }).onBook(book, ctx());
    expect(six).toMatchObject({ side: 'buy' }); // top 6: 1020/10
    expect(six?.book.imbalanceLevels).toBe(6);
  });

  it('no new entry while an entry is pending or a position is open', () => {
    const book = bookOf(50, 10);
    expect(strategy().onBook(book, ctx({ entryPending: true }))).toBeNull();
    // long with a strong buy ratio: no entry, and no exit either (price inside the levels)
    expect(strategy().onBook(book, ctx({ position: long(100_000) }))).toBeNull();
  });
});

describe('ImbalanceStrategy and untrusted books', () => {
  it('says nothing from an UNSYNCED or SYNCING book, however strong the ratio', () => {
    const unsynced = new L2Book('BTCUSDT');
    unsynced.set('bid', 99_990, 100);
    unsynced.set('ask', 100_010, 1);
    expect(strategy().onBook(unsynced, ctx())).toBeNull();
    unsynced.markSyncing();
    expect(strategy().onBook(unsynced, ctx())).toBeNull();
    unsynced.markSynced();
    expect(strategy().onBook(unsynced, ctx())).toMatchObject({ side: 'buy' });
  });

  it('says nothing from a crossed or locked book', () => {
    expect(strategy().onBook(bookOf(100, 1, 100_010, 100_000), ctx())).toBeNull();
    expect(strategy().onBook(bookOf(100, 1, 100_000, 100_000), ctx())).toBeNull();
    // and no exit either
    expect(strategy().onBook(bookOf(1, 100, 100_010, 100_000), ctx({ position: long(200_000) }))).toBeNull();
  });

  it('says nothing when a side is empty', () => {
    const book = new L2Book('BTCUSDT');
    book.set('bid', 99_990, 100);
    book.markSyncing();
    book.markSynced();
    expect(strategy().onBook(book, ctx())).toBeNull();
    expect(strategy().onBook(book, ctx({ position: long(100_000, 0) }))).toBeNull();
  });

  it("refuses another symbol's book", () => {
    const other = new L2Book('ETHUSDT');
    other.set('bid', 1, 1);
    other.set('ask', 2, 1);
    other.markSyncing();
    other.markSynced();
    expect(() => strategy().onBook(other, ctx())).toThrow(InvariantError);
  });
});

describe('exitLevels', () => {
  it('long at 100000 ticks: target 100000 × 1.002 = 100200, stop 100000 × 0.9985 = 99850', () => {
    expect(exitLevels('long', 100_000, DEFAULT_IMBALANCE_PARAMS)).toEqual({
      targetTicks: 100_200,
      stopTicks: 99_850,
    });
  });

  it('short at 100000 ticks: target 100000 × 0.998 = 99800, stop 100000 × 1.0015 = 100150', () => {
    expect(exitLevels('short', 100_000, DEFAULT_IMBALANCE_PARAMS)).toEqual({
      targetTicks: 99_800,
      stopTicks: 100_150,
    });
  });

  it('rounds targets away from the entry and stops toward it', () => {
    // long 1001: 1001 × 1.002 = 1003.002 → 1004; 1001 × 0.9985 = 999.4985 → 1000
    expect(exitLevels('long', 1001, DEFAULT_IMBALANCE_PARAMS)).toEqual({
      targetTicks: 1004,
      stopTicks: 1000,
    });
    // short 1001: 1001 × 0.998 = 998.998 → 998; 1001 × 1.0015 = 1002.5015 → 1002
    expect(exitLevels('short', 1001, DEFAULT_IMBALANCE_PARAMS)).toEqual({
      targetTicks: 998,
      stopTicks: 1002,
    });
    // an average entry: 1000.5 × 1.002 = 1002.501 → 1003; 1000.5 × 0.9985 = 998.99925 → 999
    expect(exitLevels('long', 1000.5, DEFAULT_IMBALANCE_PARAMS)).toEqual({
      targetTicks: 1003,
      stopTicks: 999,
    });
  });

  it('uses the configured percentages exactly', () => {
    const p = { profitTargetPct: '1.5', stopLossPct: '0.333' };
    // 20000 × 1.015 = 20300; 20000 × 0.99667 = 19933.4 → 19934
    expect(exitLevels('long', 20_000, p)).toEqual({ targetTicks: 20_300, stopTicks: 19_934 });
  });

  it('refuses a non-positive entry price', () => {
    expect(() => exitLevels('long', 0, DEFAULT_IMBALANCE_PARAMS)).toThrow(InvariantError);
    expect(() => exitLevels('long', NaN, DEFAULT_IMBALANCE_PARAMS)).toThrow(InvariantError);
  });
});

describe('ImbalanceStrategy exits', () => {
  // Neutral ratio (1.0) throughout, so only price and time decide.
  const longAt = (bid: number, pos = long(100_000), over: Partial<StrategyContext> = {}) =>
    strategy().onBook(bookOf(10, 10, bid, bid + 1), ctx({ position: pos, ...over }));
  const shortAt = (ask: number, pos = short(100_000), over: Partial<StrategyContext> = {}) =>
    strategy().onBook(bookOf(10, 10, ask - 1, ask), ctx({ position: pos, ...over }));

  it('a long takes profit when the best bid reaches the target (100200), not before', () => {
    expect(longAt(100_199)).toBeNull();
    expect(longAt(100_200)).toMatchObject({ kind: 'exit', side: 'sell', exitReason: 'target', strength: 1 });
    expect(longAt(100_500)).toMatchObject({ exitReason: 'target' });
  });

  it('a long stops out when the best bid falls to the stop (99850), not before', () => {
    expect(longAt(99_851)).toBeNull();
    expect(longAt(99_850)).toMatchObject({ kind: 'exit', side: 'sell', exitReason: 'stop' });
  });

  it('a long is judged on the best bid, not the ask or the mid', () => {
    // ask at the target, bid one tick below it: not reached
    expect(strategy().onBook(bookOf(10, 10, 100_199, 100_200), ctx({ position: long(100_000) }))).toBeNull();
  });

  it('a short takes profit at best ask ≤ 99800 and stops at best ask ≥ 100150', () => {
    expect(shortAt(99_801)).toBeNull();
    expect(shortAt(99_800)).toMatchObject({ kind: 'exit', side: 'buy', exitReason: 'target' });
    expect(shortAt(100_149)).toBeNull();
    expect(shortAt(100_150)).toMatchObject({ kind: 'exit', side: 'buy', exitReason: 'stop' });
  });

  it('time-stops a position held 60 s or more', () => {
    const pos = long(100_000, 1_000_000);
    expect(longAt(100_000, pos, { now: 1_059_999 })).toBeNull();
    const s = longAt(100_000, pos, { now: 1_060_000 });
    expect(s).toMatchObject({ kind: 'exit', side: 'sell', exitReason: 'time-stop', ts: 1_060_000 });
    expect(shortAt(100_000, short(100_000, 1_000_000), { now: 1_060_000 })).toMatchObject({
      side: 'buy',
      exitReason: 'time-stop',
    });
  });

  it('a stop wins over a time-stop when both apply', () => {
    expect(longAt(99_000, long(100_000, 0), { now: 1_000_000 })).toMatchObject({ exitReason: 'stop' });
  });

  it('an opposite imbalance closes the position', () => {
    const longPos = ctx({ position: long(100_000) });
    expect(strategy().onBook(bookOf(32, 100), longPos)).toMatchObject({
      kind: 'exit',
      side: 'sell',
      exitReason: 'opposite-signal',
    });
    expect(strategy().onBook(bookOf(33, 100), longPos)).toBeNull(); // 0.33 is not below 0.33
    const shortPos = ctx({ position: short(100_000) });
    expect(strategy().onBook(bookOf(31, 10), shortPos)).toMatchObject({
      side: 'buy',
      exitReason: 'opposite-signal',
    });
    expect(strategy().onBook(bookOf(30, 10), shortPos)).toBeNull(); // 3.0 is not above 3.0
  });

  it('on spot a sell signal closes the long', () => {
    expect(strategy(spot).onBook(bookOf(1, 100), ctx({ position: long(100_000) }))).toMatchObject({
      kind: 'exit',
      side: 'sell',
      exitReason: 'opposite-signal',
    });
  });

  it('no further exit while one is pending', () => {
    expect(longAt(99_000, long(100_000), { exitPending: true })).toBeNull();
  });

  it('computes the exit levels once per entry, not per book update', () => {
    let reads = 0;
    const params: ImbalanceParams = {
      ...DEFAULT_IMBALANCE_PARAMS,
      get profitTargetPct() {
        reads++;
        return '0.20';
      },
    };
    const s = strategy(futures, params);
    const c = ctx({ position: long(100_000) });
    for (let bid = 99_900; bid < 100_100; bid += 10) s.onBook(bookOf(10, 10, bid, bid + 1), c);
    expect(reads).toBe(1);
    expect(s.exitLevels).toEqual({ targetTicks: 100_200, stopTicks: 99_850 });
    // a new entry: new levels
    s.onBook(bookOf(10, 10, 99_990, 99_991), ctx({ position: long(50_000, 2_000_000), now: 2_000_000 }));
    expect(reads).toBe(2);
    expect(s.exitLevels).toEqual({ targetTicks: 50_100, stopTicks: 49_925 });
  });
});

describe('strategyPosition', () => {
  it('maps a ledger to what the strategy sees', () => {
    expect(strategyPosition({ lots: 0, avgEntryTicks: NaN, entryTs: null })).toBe(FLAT);
    expect(strategyPosition({ lots: 3, avgEntryTicks: 1000.5, entryTs: 7 })).toEqual(long(1000.5, 7));
    expect(strategyPosition({ lots: -3, avgEntryTicks: 1000, entryTs: 7 })).toEqual(short(1000, 7));
  });

  it('reads a real ledger and hands out the same object until the position changes', () => {
    const ledger = new PositionLedger(futures, new Money(10_000));
    expect(strategyPosition(ledger)).toBe(FLAT);
    const fill = (side: 'buy' | 'sell', qtyLots: number, priceTicks: number, ts: number): Fill => ({
      venue: 'binance-futures',
      symbol: 'BTCUSDT',
      tradeId: `t${ts}`,
      clientOrderId: 'tw0100000010000001',
      side,
      priceTicks,
      qtyLots,
      fee: '0',
      feeAsset: 'USDT',
      liquidity: 'taker',
      ts,
    });
    ledger.applyFill(fill('buy', 1, 100_000, 5));
    const a = strategyPosition(ledger);
    expect(a).toEqual(long(100_000, 5));
    expect(strategyPosition(ledger)).toBe(a);
    // 1 lot at 100000 and 1 at 100001 ticks: average 100000.5 ticks (10000.05)
    ledger.applyFill(fill('buy', 1, 100_001, 6));
    const b = strategyPosition(ledger);
    expect(b).toEqual(long(100_000.5, 5));
    expect(b).not.toBe(a);
  });
});
