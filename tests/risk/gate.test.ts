import { describe, expect, it } from 'vitest';
import { gridFromStep } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import type { BookView, OrderIntent } from '#core/trading.ts';
import type { RiskContext } from '#risk/context.ts';
import { checkOrder } from '#risk/gate.ts';
import type { RiskLimits } from '#risk/limits.ts';
import type { RiskDecision } from '#risk/reasons.ts';
import {
  BTCUSDT,
  BTC_BOOK,
  DEFAULTS,
  ETHUSDT,
  HOUR,
  NOW,
  PI_XBTUSD,
  SUSHIUSDT,
  XBTUSD_SPOT,
  book,
  context,
  expectApproved,
  expectReject,
  limitOrder,
  limitsWith,
  lots,
  marketOrder,
  symbolRisk,
  ticks,
} from './support.ts';

function check(
  intent: OrderIntent,
  ctx: RiskContext = context(),
  limits: RiskLimits = DEFAULTS,
  bookView: BookView = BTC_BOOK,
  instrument: Instrument = BTCUSDT,
  now = NOW,
): RiskDecision {
  return checkOrder(intent, instrument, bookView, now, ctx, limits);
}

/** A BTCUSDT context holding `qty` BTC (negative = short) at `entry`. */
function btcPosition(
  qty: string,
  entry = '100000',
  over: Parameters<typeof symbolRisk>[2] = {},
): RiskContext {
  const l = qty.startsWith('-') ? -lots(BTCUSDT, qty.slice(1)) : lots(BTCUSDT, qty);
  return context({
    symbols: [symbolRisk(BTCUSDT, '100000', { positionLots: l, avgEntryPrice: new Money(entry), ...over })],
  });
}

const BUY = limitOrder(BTCUSDT, 'buy', '0.01', '100000.0');

describe('checkOrder: an ordinary order', () => {
  it('approves a plain limit buy and lists every check it passed, in order', () => {
    expect(expectApproved(check(BUY))).toEqual([
      'KILL_SWITCH',
      'TRADING_STATE',
      'ORDER_SHAPE',
      'CONTEXT',
      'ACCOUNT',
      'REDUCE_ONLY',
      'BOOK',
      'QTY',
      'PRICE',
      'PRICE_SANITY',
      'MIN_NOTIONAL',
      'MAX_ORDER_NOTIONAL',
      'MAX_OPEN_ORDERS',
      'ORDER_RATE',
      'FUNDING_WINDOW',
      'MAX_POSITION',
      'INSTRUMENT_EXPOSURE',
      'MAX_EXPOSURE',
      'LEVERAGE',
      'LIQUIDATION_DISTANCE',
    ]);
  });

  it('gives the same decision for the same inputs and leaves the context untouched', () => {
    const ctx = btcPosition('0.1');
    const snapshot = JSON.stringify(
      [...ctx.symbols.values()].map((s) => ({ ...s, instrument: s.instrument.symbol })),
    );
    const a = check(BUY, ctx);
    const b = check(BUY, ctx);
    expect(a).toEqual(b);
    expect(
      JSON.stringify([...ctx.symbols.values()].map((s) => ({ ...s, instrument: s.instrument.symbol }))),
    ).toBe(snapshot);
  });
});

describe('max order notional (inclusive)', () => {
  // A real user's setting: $10 per order. SUSHIUSDT book 9.98 / 10.00, mid 9.99.
  const sushiBook = book(SUSHIUSDT, '9.98', '10.00');
  const sushiCtx = context({ symbols: [symbolRisk(SUSHIUSDT, '9.99')] });
  const ten = limitsWith({ defaults: { maxOrderNotional: '10' } });
  const sushi = (price: string, limits = ten): RiskDecision =>
    check(limitOrder(SUSHIUSDT, 'buy', '1', price), sushiCtx, limits, sushiBook, SUSHIUSDT);

  it('$10 limit: an order of $9.99 passes', () => {
    expectApproved(sushi('9.99'));
  });

  it('$10 limit: an order of exactly $10.00 passes (the cap itself is allowed)', () => {
    expectApproved(sushi('10.00'));
  });

  it('$10 limit: an order of $10.01 is rejected, with the exact numbers', () => {
    const r = expectReject(sushi('10.01'), 'MAX_ORDER_NOTIONAL');
    expect(r.detail).toContain('10.01');
    expect(r.detail).toContain('maximum 10');
    expect(r.action).toBeUndefined();
  });

  it('$10 limit set as a per-symbol override, whatever the case of the key', () => {
    const perSymbol = limitsWith({
      symbols: { 'binance-futures': { sushiusdt: { maxOrderNotional: '10' } } },
    });
    expectApproved(sushi('9.99', perSymbol));
    expectReject(sushi('10.01', perSymbol), 'MAX_ORDER_NOTIONAL');
    // BTCUSDT keeps the $10,000 default.
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.1', '100000.0'), context(), perSymbol));
  });

  it('default $10,000: 0.1 BTC at 100000.0 passes, at 100000.1 ($10,000.01) is rejected', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.1', '100000.0')));
    const r = expectReject(check(limitOrder(BTCUSDT, 'buy', '0.1', '100000.1')), 'MAX_ORDER_NOTIONAL');
    expect(r.detail).toContain('10000.01');
  });

  it('values a marketable sell limit at the bid it would fill at', () => {
    // Sell 0.1 at 99600.0 with the bid at 99990.0: it fills at >= 99600, up to 99990 → $9,999.
    const sell = limitOrder(BTCUSDT, 'sell', '0.1', '99600.0');
    expectApproved(check(sell));
    const r = expectReject(
      check(sell, context(), limitsWith({ defaults: { maxOrderNotional: '9998' } })),
      'MAX_ORDER_NOTIONAL',
    );
    expect(r.detail).toContain('9999');
  });

  it('values a market buy at the ask and a market sell at the bid', () => {
    // 0.1 × 100010.0 = 10001 > 10000; 0.1 × 99990.0 = 9999.
    expectReject(check(marketOrder(BTCUSDT, 'buy', '0.1')), 'MAX_ORDER_NOTIONAL');
    expectApproved(check(marketOrder(BTCUSDT, 'sell', '0.1')));
  });

  it('caps reduce-only exits too (they can be split)', () => {
    const exit = limitOrder(BTCUSDT, 'sell', '0.2', '100000.0', { reduceOnly: true });
    expectReject(check(exit, btcPosition('0.2')), 'MAX_ORDER_NOTIONAL');
  });
});

describe('inverse contracts (Kraken PI_)', () => {
  const piCtx = context({ symbols: [symbolRisk(PI_XBTUSD, '50000')] });
  const at = (bid: string, ask: string): BookView => book(PI_XBTUSD, bid, ask);

  it('values qty × contractSize in USD: 10,000 contracts are $10,000 and pass the $10,000 cap', () => {
    const d = check(
      limitOrder(PI_XBTUSD, 'buy', '10000', '50000.0'),
      piCtx,
      DEFAULTS,
      at('49999.5', '50000.5'),
      PI_XBTUSD,
    );
    expectApproved(d);
  });

  it('rejects 10,001 contracts ($10,001), not their 0.2 XBT value', () => {
    const d = check(
      limitOrder(PI_XBTUSD, 'buy', '10001', '50000.0'),
      piCtx,
      DEFAULTS,
      at('49999.5', '50000.5'),
      PI_XBTUSD,
    );
    const r = expectReject(d, 'MAX_ORDER_NOTIONAL');
    expect(r.detail).toContain('10001');
  });

  it('gives the same USD notional at any price', () => {
    const ctx = context({ symbols: [symbolRisk(PI_XBTUSD, '20000')] });
    const d = check(
      limitOrder(PI_XBTUSD, 'buy', '10001', '20000.0'),
      ctx,
      DEFAULTS,
      at('19999.5', '20000.5'),
      PI_XBTUSD,
    );
    expectReject(d, 'MAX_ORDER_NOTIONAL');
  });
});

describe('max position per symbol (inclusive, resting orders count)', () => {
  it('passes a buy that brings the position to exactly $25,000 and rejects one lot more', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.05', '100000.0'), btcPosition('0.2')));
    const r = expectReject(
      check(limitOrder(BTCUSDT, 'buy', '0.051', '100000.0'), btcPosition('0.2')),
      'MAX_POSITION',
    );
    expect(r.detail).toContain('25100');
  });

  it('counts resting buys as filled', () => {
    const ctx = btcPosition('0.1', '100000', { openBuyOrders: 1, openBuyLots: lots(BTCUSDT, '0.1') });
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.05', '100000.0'), ctx));
    expectReject(check(limitOrder(BTCUSDT, 'buy', '0.051', '100000.0'), ctx), 'MAX_POSITION');
  });

  it('does not count resting sells against a growing long', () => {
    const ctx = btcPosition('0.2', '100000', { openSellOrders: 1, openSellLots: lots(BTCUSDT, '0.2') });
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.05', '100000.0'), ctx));
  });

  it('applies to shorts the same way', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'sell', '0.05', '100000.0'), btcPosition('-0.2')));
    expectReject(
      check(limitOrder(BTCUSDT, 'sell', '0.051', '100000.0'), btcPosition('-0.2')),
      'MAX_POSITION',
    );
  });

  it('values the position at the mid when a passive buy is priced far below it', () => {
    // 0.251 BTC at the mid 100000 is $25,100, even though the order's own price is 50000.0.
    const r = expectReject(
      check(limitOrder(BTCUSDT, 'buy', '0.051', '50000.0'), btcPosition('0.2')),
      'MAX_POSITION',
    );
    expect(r.detail).toContain('25100');
  });

  it('checks an order that flips the position as new exposure', () => {
    const limits = limitsWith({ defaults: { maxOrderNotional: '50000', maxPositionNotional: '15000' } });
    // Long 0.1, sell 0.3 → short 0.2 = $20,000 > $15,000.
    expectReject(
      check(limitOrder(BTCUSDT, 'sell', '0.3', '100000.0'), btcPosition('0.1'), limits),
      'MAX_POSITION',
    );
    // Sell 0.25 → short 0.15 = $15,000: passes.
    expectApproved(check(limitOrder(BTCUSDT, 'sell', '0.25', '100000.0'), btcPosition('0.1'), limits));
  });

  it('lets an over-limit position be reduced (exposure limits skip orders that cannot add)', () => {
    const ctx = btcPosition('0.3'); // $30,000 > $25,000
    const flagged = expectApproved(
      check(limitOrder(BTCUSDT, 'sell', '0.05', '100000.0', { reduceOnly: true }), ctx),
    );
    expect(flagged).not.toContain('MAX_POSITION');
    const unflagged = expectApproved(check(limitOrder(BTCUSDT, 'sell', '0.05', '100000.0'), ctx));
    expect(unflagged).not.toContain('MAX_POSITION');
    expectReject(check(limitOrder(BTCUSDT, 'buy', '0.001', '100000.0'), ctx), 'MAX_POSITION');
  });
});

describe('per-instrument exposure: at most 25 % of equity (inclusive)', () => {
  const ctx = (pos: string): RiskContext =>
    context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', {
          positionLots: lots(BTCUSDT, pos),
          avgEntryPrice: new Money('100000'),
        }),
      ],
      account: { equity: new Money('80000'), peakEquity: new Money('80000') },
    });

  it('passes exactly 25 % of $80,000 and rejects one lot more', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.05', '100000.0'), ctx('0.15')));
    const r = expectReject(
      check(limitOrder(BTCUSDT, 'buy', '0.051', '100000.0'), ctx('0.15')),
      'INSTRUMENT_EXPOSURE',
    );
    expect(r.detail).toContain('20100');
    expect(r.detail).toContain('80000');
  });

  it('takes the percentage from config', () => {
    const limits = limitsWith({ defaults: { maxInstrumentExposurePct: '10' } });
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.05', '100000.0'), btcPosition('0.05'), limits));
    expectReject(
      check(limitOrder(BTCUSDT, 'buy', '0.051', '100000.0'), btcPosition('0.05'), limits),
      'INSTRUMENT_EXPOSURE',
    );
  });

  it('allows no new exposure without equity', () => {
    const broke = context({ account: { equity: new Money('0'), peakEquity: new Money('0') } });
    expectReject(check(BUY, broke), 'INSTRUMENT_EXPOSURE');
  });
});

describe('max total exposure across symbols (inclusive)', () => {
  const eth = symbolRisk(ETHUSDT, '3000', {
    positionLots: lots(ETHUSDT, '5'),
    avgEntryPrice: new Money('3000'),
    openBuyOrders: 1,
    openBuyLots: lots(ETHUSDT, '2'),
  });
  const ctx = context({
    symbols: [
      symbolRisk(BTCUSDT, '100000', {
        positionLots: lots(BTCUSDT, '0.1'),
        avgEntryPrice: new Money('100000'),
      }),
      eth,
    ],
  });
  const limits = limitsWith({ account: { maxTotalExposure: '40000' } });

  it('sums worst-case exposure: BTC 0.19 × 100000 + ETH 7 × 3000 = $40,000 passes', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.09', '100000.0'), ctx, limits));
  });

  it('rejects $40,100', () => {
    const r = expectReject(
      check(limitOrder(BTCUSDT, 'buy', '0.091', '100000.0'), ctx, limits),
      'MAX_EXPOSURE',
    );
    expect(r.detail).toContain('40100');
  });

  it('counts spot and inverse positions on other venues in USD, shorts by absolute value', () => {
    const multi = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000'),
        symbolRisk(XBTUSD_SPOT, '100000', {
          positionLots: lots(XBTUSD_SPOT, '0.1'),
          avgEntryPrice: new Money('90000'),
        }),
        symbolRisk(PI_XBTUSD, '50000', { positionLots: -5000, avgEntryPrice: new Money('50000') }),
      ],
    });
    const l = limitsWith({ defaults: { maxOrderNotional: '20000' }, account: { maxTotalExposure: '25000' } });
    // 10000 (BTCUSDT) + 10000 (spot 0.1 × 100000) + 5000 (5000 contracts × $1) = 25000.
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.1', '100000.0'), multi, l));
    expectReject(check(limitOrder(BTCUSDT, 'buy', '0.101', '100000.0'), multi, l), 'MAX_EXPOSURE');
  });
});

describe('leverage (inclusive)', () => {
  it('allows a venue leverage setting of exactly 10x and rejects 10.5x', () => {
    expectApproved(check(BUY, btcPosition('0', '0', { leverage: new Money(10) })));
    const r = expectReject(check(BUY, btcPosition('0', '0', { leverage: new Money('10.5') })), 'LEVERAGE');
    expect(r.detail).toContain('10.5');
  });

  it('takes the cap per symbol from config', () => {
    const limits = limitsWith({ symbols: { 'binance-futures': { BTCUSDT: { maxLeverage: '20' } } } });
    expectApproved(check(BUY, btcPosition('0', '0', { leverage: new Money('10.5') }), limits));
  });

  it('caps total exposure over equity', () => {
    // Equity $10,000; ETH worst case 7 × 3000 = 21000; BTC 0.025 × 100000 = 2500 → 23500 = 2.35x.
    const ctx = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000'),
        symbolRisk(ETHUSDT, '3000', { positionLots: lots(ETHUSDT, '7'), avgEntryPrice: new Money('3000') }),
      ],
      account: { equity: new Money('10000'), peakEquity: new Money('10000') },
    });
    const order = limitOrder(BTCUSDT, 'buy', '0.025', '100000.0');
    expectApproved(check(order, ctx, limitsWith({ account: { maxAccountLeverage: '2.35' } })));
    const r = expectReject(
      check(order, ctx, limitsWith({ account: { maxAccountLeverage: '2.34' } })),
      'LEVERAGE',
    );
    expect(r.detail).toContain('23500');
    // A hair over: 2.35 × 9999.99 = 23499.9765 < 23500.
    const poorer: RiskContext = { ...ctx, account: { ...ctx.account, equity: new Money('9999.99') } };
    const l = limitsWith({
      defaults: { maxInstrumentExposurePct: '30' },
      account: { maxAccountLeverage: '2.35' },
    });
    expectReject(check(order, poorer, l), 'LEVERAGE');
  });
});

describe('max open orders (inclusive, total and per symbol)', () => {
  it('allows the 10th order on a symbol and rejects the 11th', () => {
    expectApproved(check(BUY, btcPosition('0', '0', { openBuyOrders: 5, openSellOrders: 4 })));
    const r = expectReject(
      check(BUY, btcPosition('0', '0', { openBuyOrders: 5, openSellOrders: 5 })),
      'MAX_OPEN_ORDERS',
    );
    expect(r.detail).toContain('per symbol');
  });

  it('allows the 50th order in total and rejects the 51st', () => {
    const ctx = (n: number): RiskContext =>
      context({
        symbols: [symbolRisk(BTCUSDT, '100000'), symbolRisk(ETHUSDT, '3000', { openSellOrders: n })],
      });
    expectApproved(check(BUY, ctx(49)));
    const r = expectReject(check(BUY, ctx(50)), 'MAX_OPEN_ORDERS');
    expect(r.detail).toContain('in total');
  });
});

describe('account trip levels', () => {
  it('passes at -$499.99 realized today; -$500.00 reaches the limit and KILLs', () => {
    expectApproved(check(BUY, context({ account: { realizedPnlToday: new Money('-499.99') } })));
    const r = expectReject(
      check(BUY, context({ account: { realizedPnlToday: new Money('-500') } })),
      'DAILY_LOSS',
    );
    expect(r.action).toBe('KILL');
    expect(r.detail).toContain('-500');
  });

  it('passes a drawdown of -$999.99; -$1,000.00 from peak KILLs', () => {
    expectApproved(check(BUY, context({ account: { equity: new Money('99000.01') } })));
    const r = expectReject(check(BUY, context({ account: { equity: new Money('99000') } })), 'DRAWDOWN');
    expect(r.action).toBe('KILL');
    expect(r.detail).toContain('-1000');
  });

  it('passes 4 losses in a row; the 5th HALTs', () => {
    expectApproved(check(BUY, context({ account: { consecutiveLosses: 4 } })));
    const r = expectReject(check(BUY, context({ account: { consecutiveLosses: 5 } })), 'CONSECUTIVE_LOSSES');
    expect(r.action).toBe('HALT');
  });

  it('rejects reduce-only orders too once tripped (flattening goes through checkFlatten)', () => {
    const ctx = context({
      symbols: [symbolRisk(BTCUSDT, '100000', { positionLots: 100, avgEntryPrice: new Money('100000') })],
      account: { realizedPnlToday: new Money('-600') },
    });
    expectReject(
      check(limitOrder(BTCUSDT, 'sell', '0.1', '100000.0', { reduceOnly: true }), ctx),
      'DAILY_LOSS',
    );
  });

  it('takes its levels from config', () => {
    const limits = limitsWith({ account: { dailyLossLimit: '-50', maxConsecutiveLosses: 2 } });
    expectReject(
      check(BUY, context({ account: { realizedPnlToday: new Money('-50') } }), limits),
      'DAILY_LOSS',
    );
    expectReject(check(BUY, context({ account: { consecutiveLosses: 2 } }), limits), 'CONSECUTIVE_LOSSES');
  });
});

describe('price sanity vs the mid (inclusive)', () => {
  it('passes a buy exactly 50 bps above the mid and rejects one tick more', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.01', '100500.0')));
    const r = expectReject(check(limitOrder(BTCUSDT, 'buy', '0.01', '100500.1')), 'PRICE_SANITY');
    expect(r.detail).toContain('100500.1');
    expect(r.detail).toContain('mid 100000');
    expect(r.detail).toContain('furthest allowed 100500');
  });

  it('passes a sell exactly 50 bps below the mid and rejects one tick more', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'sell', '0.01', '99500.0')));
    expectReject(check(limitOrder(BTCUSDT, 'sell', '0.01', '99499.9')), 'PRICE_SANITY');
  });

  it('does not limit passive prices', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.01', '50000.0')));
    expectApproved(check(limitOrder(BTCUSDT, 'sell', '0.01', '200000.0')));
  });

  it('takes the band per symbol from config', () => {
    const limits = limitsWith({ symbols: { 'binance-futures': { BTCUSDT: { priceBandBps: 10 } } } });
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.01', '100100.0'), context(), limits));
    expectReject(check(limitOrder(BTCUSDT, 'buy', '0.01', '100100.1'), context(), limits), 'PRICE_SANITY');
  });

  it('uses the half-tick mid exactly', () => {
    // bid 99990.0, ask 99990.1 → mid 99990.05; +50 bps = 100490.00025 → 100490.0 passes, 100490.1 not.
    const b = book(BTCUSDT, '99990.0', '99990.1');
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.01', '100490.0'), context(), DEFAULTS, b));
    expectReject(
      check(limitOrder(BTCUSDT, 'buy', '0.01', '100490.1'), context(), DEFAULTS, b),
      'PRICE_SANITY',
    );
  });

  it('needs the touch of a market order inside the band (no blown-out spread)', () => {
    // 99500.0 / 100500.0: the ask is exactly 50 bps from the mid 100000.
    expectApproved(
      check(marketOrder(BTCUSDT, 'buy', '0.01'), context(), DEFAULTS, book(BTCUSDT, '99500.0', '100500.0')),
    );
    expectReject(
      check(marketOrder(BTCUSDT, 'buy', '0.01'), context(), DEFAULTS, book(BTCUSDT, '99499.9', '100500.1')),
      'PRICE_SANITY',
    );
    expectReject(
      check(marketOrder(BTCUSDT, 'sell', '0.01'), context(), DEFAULTS, book(BTCUSDT, '99000.0', '101000.0')),
      'PRICE_SANITY',
    );
  });

  it('needs the top five levels to hold a market order', () => {
    const thin = { ...BTC_BOOK, askVolume5Lots: 10, bidVolume5Lots: 5 };
    expectApproved(check(marketOrder(BTCUSDT, 'buy', '0.01'), context(), DEFAULTS, thin));
    expectReject(
      check(marketOrder(BTCUSDT, 'buy', '0.011'), context(), DEFAULTS, thin),
      'INSUFFICIENT_DEPTH',
    );
    expectReject(
      check(marketOrder(BTCUSDT, 'sell', '0.006'), context(), DEFAULTS, thin),
      'INSUFFICIENT_DEPTH',
    );
    expectApproved(check(marketOrder(BTCUSDT, 'sell', '0.005'), context(), DEFAULTS, thin));
  });
});

describe('book trust', () => {
  it('rejects a book that is not SYNCED', () => {
    expectReject(check(BUY, context(), DEFAULTS, { ...BTC_BOOK, state: 'SYNCING' }), 'BOOK_NOT_SYNCED');
    expectReject(check(BUY, context(), DEFAULTS, { ...BTC_BOOK, state: 'UNSYNCED' }), 'BOOK_NOT_SYNCED');
  });

  it('rejects a crossed book, flagged or not, and a locked one', () => {
    expectReject(check(BUY, context(), DEFAULTS, { ...BTC_BOOK, crossed: true }), 'BOOK_CROSSED');
    expectReject(check(BUY, context(), DEFAULTS, book(BTCUSDT, '100000.0', '100000.0')), 'BOOK_CROSSED');
    expectReject(check(BUY, context(), DEFAULTS, book(BTCUSDT, '100000.1', '100000.0')), 'BOOK_CROSSED');
  });

  it('trades on a book exactly 2000 ms old and not on one 2001 ms old', () => {
    expectApproved(check(BUY, context(), DEFAULTS, { ...BTC_BOOK, localTs: NOW - 2000 }));
    const r = expectReject(
      check(BUY, context(), DEFAULTS, { ...BTC_BOOK, localTs: NOW - 2001 }),
      'BOOK_STALE',
    );
    expect(r.detail).toContain('2001 ms');
  });

  it('takes the staleness limit per symbol from config', () => {
    const limits = limitsWith({ defaults: { maxBookAgeMs: 500 } });
    expectReject(check(BUY, context(), limits, { ...BTC_BOOK, localTs: NOW - 501 }), 'BOOK_STALE');
  });

  it('does not trust a book stamped after now', () => {
    expectReject(check(BUY, context(), DEFAULTS, { ...BTC_BOOK, localTs: NOW + 1 }), 'BOOK_STALE');
  });

  it('rejects a book with an empty side', () => {
    expectReject(check(BUY, context(), DEFAULTS, { ...BTC_BOOK, bestAskTicks: NaN }), 'BOOK_EMPTY');
    expectReject(
      check(marketOrder(BTCUSDT, 'sell', '0.01'), context(), DEFAULTS, { ...BTC_BOOK, bestBidTicks: NaN }),
      'BOOK_EMPTY',
    );
  });
});

describe('venue quantity and price rules', () => {
  it('rejects a quantity that is not a positive whole number of lots', () => {
    for (const q of [0, -1, 1.5, NaN]) expectReject(check({ ...BUY, qtyLots: q }), 'BAD_QTY');
  });

  it('rejects below the minimum quantity and passes at it', () => {
    const ctx = context({ symbols: [symbolRisk(XBTUSD_SPOT, '100000')] });
    const b = book(XBTUSD_SPOT, '99990.0', '100010.0');
    const r = expectReject(
      check(limitOrder(XBTUSD_SPOT, 'buy', '0.00009999', '100000.0'), ctx, DEFAULTS, b, XBTUSD_SPOT),
      'BAD_QTY',
    );
    expect(r.detail).toContain('0.00009999');
    expectApproved(
      check(limitOrder(XBTUSD_SPOT, 'buy', '0.0001', '100000.0'), ctx, DEFAULTS, b, XBTUSD_SPOT),
    );
  });

  it('rejects above the maximum quantity', () => {
    expectReject(check(limitOrder(BTCUSDT, 'buy', '1000.001', '100000.0')), 'BAD_QTY');
    // At the maximum the quantity rule passes (the notional cap is what stops it).
    expectReject(check(limitOrder(BTCUSDT, 'buy', '1000', '100000.0')), 'MAX_ORDER_NOTIONAL');
  });

  it('checks market orders against the market lot grid, limits against the lot grid', () => {
    const coarse: Instrument = { ...BTCUSDT, marketQty: gridFromStep('0.01') };
    expectReject(
      check(marketOrder(coarse, 'buy', '0.015'), context(), DEFAULTS, BTC_BOOK, coarse),
      'BAD_QTY',
    );
    expectApproved(check(marketOrder(coarse, 'buy', '0.02'), context(), DEFAULTS, BTC_BOOK, coarse));
    expectApproved(
      check(limitOrder(coarse, 'buy', '0.015', '100000.0'), context(), DEFAULTS, BTC_BOOK, coarse),
    );
  });

  it('rejects a limit order without a positive whole tick price', () => {
    for (const p of [undefined, 0, -10, 1.5]) expectReject(check({ ...BUY, priceTicks: p }), 'BAD_PRICE');
  });

  it('rejects prices outside the venue min/max and passes at them', () => {
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.01', '556.8')));
    expectReject(check(limitOrder(BTCUSDT, 'buy', '0.01', '556.7')), 'BAD_PRICE');
    expectReject(check(limitOrder(BTCUSDT, 'sell', '0.001', '4529764.1')), 'BAD_PRICE');
  });

  it('rejects a malformed order', () => {
    expectReject(check({ ...marketOrder(BTCUSDT, 'buy', '0.01'), priceTicks: 1000000 }), 'BAD_ORDER');
    expectReject(check(marketOrder(BTCUSDT, 'buy', '0.01', { timeInForce: 'POST_ONLY' })), 'BAD_ORDER');
    expectReject(check({ ...BUY, symbol: 'ETHUSDT' }), 'BAD_ORDER');
    expectReject(check(BUY, context(), DEFAULTS, { ...BTC_BOOK, symbol: 'ETHUSDT' }), 'BAD_ORDER');
    expectReject(check({ ...BUY, side: 'hold' as 'buy' }), 'BAD_ORDER');
    expectReject(check({ ...BUY, type: 'stop' as 'limit' }), 'BAD_ORDER');
  });
});

describe('minimum notional', () => {
  it('rejects below the venue minimum and passes at it', () => {
    // Binance futures minimum $5: 0.001 × 4999.9 = 4.9999; 0.001 × 5000.0 = 5.
    const r = expectReject(check(limitOrder(BTCUSDT, 'buy', '0.001', '4999.9')), 'MIN_NOTIONAL');
    expect(r.detail).toContain('4.9999');
    expectApproved(check(limitOrder(BTCUSDT, 'buy', '0.001', '5000.0')));
  });

  // SUSHIUSDT book 0.99 / 1.01; short 4 SUSHI; buying 4 back at 1.00 is $4.
  const sushiBook = book(SUSHIUSDT, '0.99', '1.01');
  const shortFour = context({
    symbols: [symbolRisk(SUSHIUSDT, '1.00', { positionLots: -4, avgEntryPrice: new Money('1.10') })],
  });

  it('exempts reduce-only orders where the venue does (Binance USD-M)', () => {
    const cover = limitOrder(SUSHIUSDT, 'buy', '4', '1.00', { reduceOnly: true });
    expectApproved(check(cover, shortFour, DEFAULTS, sushiBook, SUSHIUSDT));
    expectReject(
      check({ ...cover, reduceOnly: false }, shortFour, DEFAULTS, sushiBook, SUSHIUSDT),
      'MIN_NOTIONAL',
    );
  });

  it('does not exempt them where the venue does not', () => {
    const cover = limitOrder(SUSHIUSDT, 'buy', '4', '1.00', { reduceOnly: true });
    const noExempt = limitsWith({ venues: { 'binance-futures': { reduceOnlyMinNotionalExempt: false } } });
    expectReject(check(cover, shortFour, noExempt, sushiBook, SUSHIUSDT), 'MIN_NOTIONAL');
    // Kraken spot is not exempt by default: selling 0.0001 XBT at 4000.0 is $0.40 < $0.50.
    const spotCtx = context({
      symbols: [
        symbolRisk(XBTUSD_SPOT, '4000', {
          positionLots: lots(XBTUSD_SPOT, '0.0001'),
          avgEntryPrice: new Money('3000'),
        }),
      ],
    });
    const sell = limitOrder(XBTUSD_SPOT, 'sell', '0.0001', '4000.0', { reduceOnly: true });
    expectReject(
      check(sell, spotCtx, DEFAULTS, book(XBTUSD_SPOT, '3999.9', '4000.1'), XBTUSD_SPOT),
      'MIN_NOTIONAL',
    );
  });
});

describe('spot is long-only', () => {
  const spotBook = book(XBTUSD_SPOT, '99990.0', '100010.0');
  const spot = (pos: string, openSell = '0'): RiskContext =>
    context({
      symbols: [
        symbolRisk(XBTUSD_SPOT, '100000', {
          positionLots: lots(XBTUSD_SPOT, pos),
          avgEntryPrice: new Money('90000'),
          openSellOrders: openSell === '0' ? 0 : 1,
          openSellLots: lots(XBTUSD_SPOT, openSell),
        }),
      ],
    });
  const sell = (qty: string): OrderIntent => limitOrder(XBTUSD_SPOT, 'sell', qty, '100000.0');
  const run = (o: OrderIntent, ctx: RiskContext): RiskDecision =>
    check(o, ctx, DEFAULTS, spotBook, XBTUSD_SPOT);

  it('rejects a sell with nothing held (a shortable future may sell from flat)', () => {
    expectReject(run(sell('0.01'), spot('0')), 'SPOT_SHORT');
    expectApproved(check(limitOrder(BTCUSDT, 'sell', '0.01', '100000.0')));
  });

  it('allows selling exactly the long and not one lot more', () => {
    expectApproved(run(sell('0.05'), spot('0.05')));
    const r = expectReject(run(sell('0.05000001'), spot('0.05')), 'SPOT_SHORT');
    expect(r.detail).toContain('0.05000001');
  });

  it('counts sells already resting against the long', () => {
    expectApproved(run(sell('0.02'), spot('0.05', '0.03')));
    expectReject(run(sell('0.02000001'), spot('0.05', '0.03')), 'SPOT_SHORT');
  });

  it('allows buys, and has no funding or liquidation check', () => {
    const checks = expectApproved(run(limitOrder(XBTUSD_SPOT, 'buy', '0.01', '100000.0'), spot('0')));
    expect(checks).not.toContain('FUNDING_WINDOW');
    expect(checks).not.toContain('LIQUIDATION_DISTANCE');
  });

  it('treats a short spot position as an impossible context', () => {
    const ctx = context({
      symbols: [symbolRisk(XBTUSD_SPOT, '100000', { positionLots: -1, avgEntryPrice: new Money('1') })],
    });
    const r = expectReject(run(limitOrder(XBTUSD_SPOT, 'buy', '0.01', '100000.0'), ctx), 'BAD_CONTEXT');
    expect(r.action).toBe('HALT');
  });
});

describe('trading states', () => {
  const long = btcPosition('0.05');
  const exit = limitOrder(BTCUSDT, 'sell', '0.02', '100000.0', { reduceOnly: true });

  it('KILL_SWITCH rejects everything, reduce-only exits included', () => {
    expectReject(check(BUY, { ...long, killSwitch: true }), 'KILL_SWITCH');
    const r = expectReject(check(exit, { ...long, killSwitch: true }), 'KILL_SWITCH');
    expect(r.action).toBeUndefined();
  });

  it('HALTED rejects everything, reduce-only exits included', () => {
    expectReject(check(BUY, { ...long, tradingState: 'HALTED' }), 'HALTED');
    expectReject(check(exit, { ...long, tradingState: 'HALTED' }), 'HALTED');
  });

  it('REDUCING allows a reduce-only order that shrinks the position', () => {
    expectApproved(check(exit, { ...long, tradingState: 'REDUCING' }));
    expectApproved(check({ ...exit, qtyLots: lots(BTCUSDT, '0.05') }, { ...long, tradingState: 'REDUCING' }));
  });

  it('REDUCING rejects adding, flipping, opening from flat, and exits without the reduce-only flag', () => {
    const reducing = { ...long, tradingState: 'REDUCING' as const };
    expectReject(check(BUY, reducing), 'REDUCING_ONLY');
    expectReject(check({ ...exit, qtyLots: lots(BTCUSDT, '0.051') }, reducing), 'REDUCING_ONLY');
    expectReject(check(exit, { ...context(), tradingState: 'REDUCING' }), 'REDUCING_ONLY');
    const r = expectReject(check({ ...exit, reduceOnly: false }, reducing), 'REDUCING_ONLY');
    expect(r.detail).toContain('reduce-only flag');
  });

  it('REDUCING lets a spot long be sold without a reduce-only flag, never bought', () => {
    const spotBook = book(XBTUSD_SPOT, '99990.0', '100010.0');
    const ctx: RiskContext = {
      ...context({
        symbols: [
          symbolRisk(XBTUSD_SPOT, '100000', {
            positionLots: lots(XBTUSD_SPOT, '0.05'),
            avgEntryPrice: new Money('90000'),
          }),
        ],
      }),
      tradingState: 'REDUCING',
    };
    expectApproved(
      check(limitOrder(XBTUSD_SPOT, 'sell', '0.05', '100000.0'), ctx, DEFAULTS, spotBook, XBTUSD_SPOT),
    );
    expectReject(
      check(limitOrder(XBTUSD_SPOT, 'buy', '0.01', '100000.0'), ctx, DEFAULTS, spotBook, XBTUSD_SPOT),
      'REDUCING_ONLY',
    );
  });

  it('rejects an unknown state as an impossible context', () => {
    const r = expectReject(check(BUY, { ...context(), tradingState: 'PAUSED' as 'ACTIVE' }), 'BAD_CONTEXT');
    expect(r.action).toBe('HALT');
  });

  it('rejects a reduce-only order that cannot reduce (flat, same side, or beyond the position)', () => {
    expectReject(check(exit, context()), 'NOT_REDUCING');
    expectReject(check({ ...exit, side: 'buy' }, long), 'NOT_REDUCING');
    expectReject(check({ ...exit, qtyLots: lots(BTCUSDT, '0.051') }, long), 'NOT_REDUCING');
  });
});

describe('funding window on perpetuals (no new exposure within 60 s either side, inclusive)', () => {
  const at = (last: number | null, next: number | null): RiskContext =>
    btcPosition('0', '0', { lastFundingTs: last, nextFundingTs: next });

  it('rejects exactly 60 s before funding and passes 60.001 s before', () => {
    const r = expectReject(check(BUY, at(NOW - 8 * HOUR, NOW + 60_000)), 'FUNDING_WINDOW');
    expect(r.detail).toContain('60 s to funding');
    expectApproved(check(BUY, at(NOW - 8 * HOUR, NOW + 60_001)));
  });

  it('rejects exactly 60 s after funding and passes 60.001 s after', () => {
    expectReject(check(BUY, at(NOW - 60_000, NOW + 8 * HOUR)), 'FUNDING_WINDOW');
    expectApproved(check(BUY, at(NOW - 60_001, NOW + 8 * HOUR)));
  });

  it('rejects when the next funding is unknown, or in the past beyond the window (stale schedule)', () => {
    expectReject(check(BUY, at(null, null)), 'FUNDING_WINDOW');
    expectReject(check(BUY, at(null, NOW - 60_001)), 'FUNDING_WINDOW');
    // Funding just happened and the schedule has not rolled yet: still inside the window.
    expectReject(check(BUY, at(null, NOW - 30_000)), 'FUNDING_WINDOW');
    // Without a last funding time, far from the next one, it passes.
    expectApproved(check(BUY, at(null, NOW + HOUR)));
  });

  it('allows orders that cannot add exposure inside the window', () => {
    const ctx = btcPosition('0.05', '100000', { nextFundingTs: NOW + 1000 });
    expectApproved(check(limitOrder(BTCUSDT, 'sell', '0.02', '100000.0', { reduceOnly: true }), ctx));
  });

  it('takes the window from config; 0 disables it', () => {
    expectReject(
      check(BUY, at(null, NOW + 200_000), limitsWith({ defaults: { fundingWindowSec: 300 } })),
      'FUNDING_WINDOW',
    );
    const off = expectApproved(check(BUY, at(null, null), limitsWith({ defaults: { fundingWindowSec: 0 } })));
    expect(off).not.toContain('FUNDING_WINDOW');
  });

  it('does not apply to dated futures', () => {
    const dated: Instrument = { ...BTCUSDT, symbol: 'BTCUSDT_250328', kind: 'future' };
    const ctx = context({ symbols: [symbolRisk(dated, '100000')] });
    const checks = expectApproved(
      check(
        limitOrder(dated, 'buy', '0.01', '100000.0'),
        ctx,
        DEFAULTS,
        { ...BTC_BOOK, symbol: dated.symbol },
        dated,
      ),
    );
    expect(checks).not.toContain('FUNDING_WINDOW');
    expect(checks).toContain('LIQUIDATION_DISTANCE');
  });
});

describe('liquidation distance (inclusive)', () => {
  const lev = (l: string, m: string, pct: string): RiskLimits =>
    limitsWith({ defaults: { maintenanceMarginRate: m, minLiquidationDistancePct: pct, maxLeverage: '20' } });
  const flat = (l: string, mark = '100000'): RiskContext =>
    context({ symbols: [symbolRisk(BTCUSDT, mark, { leverage: new Money(l) })] });

  it('linear long at 10x, no maintenance: liquidation 90000 is 10 % under the mark 100000', () => {
    expectApproved(check(BUY, flat('10'), lev('10', '0', '10')));
    const r = expectReject(check(BUY, flat('10'), lev('10', '0', '10.01')), 'LIQUIDATION_DISTANCE');
    expect(r.detail).toContain('90000');
  });

  it('linear short at 10x: liquidation 110000 is 10 % over the mark', () => {
    const sell = limitOrder(BTCUSDT, 'sell', '0.01', '100000.0');
    expectApproved(check(sell, flat('10'), lev('10', '0', '10')));
    const r = expectReject(check(sell, flat('10'), lev('10', '0', '10.01')), 'LIQUIDATION_DISTANCE');
    expect(r.detail).toContain('110000');
  });

  it('counts the maintenance margin: 10x with 1 % → liquidation 90909.09…, 9.09… % away', () => {
    expectApproved(check(BUY, flat('10'), lev('10', '0.01', '9.09')));
    expectReject(check(BUY, flat('10'), lev('10', '0.01', '9.1')), 'LIQUIDATION_DISTANCE');
  });

  it('passes with the defaults (2 %, 1 % maintenance) at the 10x cap', () => {
    expectApproved(check(BUY, flat('10')));
  });

  it('judges an add on the averaged entry: 0.01 at 100000 + 0.01 at 90000 → entry 95000, liquidation 85500', () => {
    const ctx = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', {
          leverage: new Money(10),
          positionLots: lots(BTCUSDT, '0.01'),
          avgEntryPrice: new Money('100000'),
        }),
      ],
    });
    const add = limitOrder(BTCUSDT, 'buy', '0.01', '90000.0');
    expectApproved(check(add, ctx, lev('10', '0', '14.5')));
    expectReject(check(add, ctx, lev('10', '0', '14.51')), 'LIQUIDATION_DISTANCE');
  });

  it('rejects adding to a long whose liquidation is already above the mark (signed distance)', () => {
    const ctx = context({
      symbols: [
        symbolRisk(BTCUSDT, '89000', {
          leverage: new Money(10),
          positionLots: lots(BTCUSDT, '0.01'),
          avgEntryPrice: new Money('100000'),
        }),
      ],
    });
    expectReject(
      check(limitOrder(BTCUSDT, 'buy', '0.001', '100000.0'), ctx, lev('10', '0', '0')),
      'LIQUIDATION_DISTANCE',
    );
  });

  describe('inverse', () => {
    const piBook = book(PI_XBTUSD, '49999.5', '50000.5');
    const pi = (l: string, pos = 0, entry = '0'): RiskContext =>
      context({
        symbols: [
          symbolRisk(PI_XBTUSD, '50000', {
            leverage: new Money(l),
            positionLots: pos,
            avgEntryPrice: new Money(entry),
          }),
        ],
      });
    const run = (o: OrderIntent, ctx: RiskContext, limits: RiskLimits): RiskDecision =>
      check(o, ctx, limits, piBook, PI_XBTUSD);

    it('long at 2x with 20 % maintenance: liquidation E·1.2/1.5 = 40000, 20 % under the mark', () => {
      const buy = limitOrder(PI_XBTUSD, 'buy', '1000', '50000.0');
      expectApproved(run(buy, pi('2'), lev('2', '0.2', '20')));
      expectReject(run(buy, pi('2'), lev('2', '0.2', '20.01')), 'LIQUIDATION_DISTANCE');
    });

    it('averages entries harmonically: 1000 @ 50000 + 1000 @ 40000 → 44444.44…, not 45000', () => {
      // Liquidation 0.8 × 44444.44… = 35555.55…: 28.888… % under 50000 (a linear average would give 28 %).
      const add = limitOrder(PI_XBTUSD, 'buy', '1000', '40000.0');
      expectApproved(run(add, pi('2', 1000, '50000'), lev('2', '0.2', '28.88')));
      expectReject(run(add, pi('2', 1000, '50000'), lev('2', '0.2', '28.89')), 'LIQUIDATION_DISTANCE');
    });

    it('a 1x short never liquidates; a 2x short with 50 % maintenance liquidates at entry', () => {
      const sell = limitOrder(PI_XBTUSD, 'sell', '1000', '50000.0');
      expectApproved(run(sell, pi('1'), lev('1', '0.2', '99')));
      expectApproved(run(sell, pi('2'), lev('2', '0', '99'))); // liquidation 100000: 100 % over
      expectReject(run(sell, pi('2'), lev('2', '0.5', '2')), 'LIQUIDATION_DISTANCE');
    });
  });
});

describe('order rate (sliding windows, inclusive)', () => {
  const sent = (...ago: number[]): RiskContext =>
    context({ recent: { 'binance-futures': ago.map((a) => NOW - a) } });
  const range = (n: number, from: number, step: number): number[] =>
    Array.from({ length: n }, (_, i) => from + i * step);

  it('allows the 10th order in a second and rejects the 11th', () => {
    expectApproved(check(BUY, sent(...range(9, 0, 100))));
    const r = expectReject(check(BUY, sent(...range(10, 0, 99))), 'ORDER_RATE');
    expect(r.detail).toContain('10/s');
  });

  it('does not count an order sent exactly 1000 ms ago in the last second', () => {
    expectApproved(check(BUY, sent(...range(9, 0, 100), 1000)));
  });

  it('counts orders stamped after now (clock disagreement fails closed)', () => {
    expectReject(check(BUY, sent(...range(10, -500, 50))), 'ORDER_RATE');
  });

  it('allows the 100th order in a minute and rejects the 101st', () => {
    expectApproved(check(BUY, sent(...range(99, 1000, 500))));
    const r = expectReject(check(BUY, sent(...range(100, 1000, 500))), 'ORDER_RATE');
    expect(r.detail).toContain('100/min');
    // An order exactly 60 s ago is outside the minute.
    expectApproved(check(BUY, sent(...range(99, 1000, 500), 60_000)));
  });

  it('counts per venue', () => {
    const other = context({ recent: { 'kraken-spot': range(50, 0, 10) } });
    expectApproved(check(BUY, other));
  });

  it('takes the limits per venue from config', () => {
    const limits = limitsWith({ venues: { 'binance-futures': { ordersPerSecond: 2, ordersPerMinute: 3 } } });
    expectApproved(check(BUY, sent(500), limits));
    expectReject(check(BUY, sent(500, 600), limits), 'ORDER_RATE');
    expectReject(check(BUY, sent(5000, 6000, 7000), limits), 'ORDER_RATE');
  });

  it('treats a timestamp that is not a number as an impossible context', () => {
    const r = expectReject(check(BUY, sent(NaN)), 'BAD_CONTEXT');
    expect(r.action).toBe('HALT');
  });
});

describe('context integrity (fail closed, HALT)', () => {
  const bad = (ctx: RiskContext): void => {
    const r = expectReject(check(BUY, ctx), 'BAD_CONTEXT');
    expect(r.action).toBe('HALT');
  };

  it('rejects an order for a symbol the context does not hold (unknown is not flat)', () => {
    bad(context({ symbols: [symbolRisk(ETHUSDT, '3000')] }));
  });

  it('rejects impossible numbers', () => {
    bad(context({ account: { equity: new Money(NaN) } }));
    bad(context({ account: { consecutiveLosses: -1 } }));
    bad(btcPosition('0', '0', { positionLots: 1.5 }));
    bad(btcPosition('0', '0', { openBuyLots: -1 }));
    bad(btcPosition('0', '0', { markPrice: new Money(0) }));
    bad(btcPosition('0.01', '0'));
    bad(btcPosition('0', '0', { leverage: null }));
    bad(btcPosition('0', '0', { leverage: new Money('0.5') }));
  });

  it('rejects when any other symbol in the context is impossible', () => {
    bad(
      context({
        symbols: [symbolRisk(BTCUSDT, '100000'), symbolRisk(ETHUSDT, '3000', { markPrice: new Money(NaN) })],
      }),
    );
  });

  it('rejects a symbol entry filed under another key', () => {
    const ctx = context();
    const wrong: RiskContext = {
      ...ctx,
      symbols: new Map([['binance-futures:BTCUSDT', symbolRisk(ETHUSDT, '3000')]]),
    };
    bad(wrong);
  });

  it('rejects a time that is not a number and an instrument with no contract size', () => {
    expectReject(check(BUY, context(), DEFAULTS, BTC_BOOK, BTCUSDT, NaN), 'BAD_CONTEXT');
    const zero: Instrument = { ...BTCUSDT, contractSize: new Money(0) };
    expectReject(
      check(BUY, context({ symbols: [symbolRisk(zero, '100000')] }), DEFAULTS, BTC_BOOK, zero),
      'BAD_CONTEXT',
    );
  });
});

describe('tick helpers used by these tests', () => {
  it('convert exactly', () => {
    expect(ticks(BTCUSDT, '100000.0')).toBe(1_000_000);
    expect(lots(XBTUSD_SPOT, '0.05000001')).toBe(5_000_001);
  });
});

describe('never throws', () => {
  it('turns an input it cannot even read into a BAD_CONTEXT rejection with HALT', () => {
    const broken = { ...context(), symbols: undefined } as unknown as RiskContext;
    const r = expectReject(check(BUY, broken), 'BAD_CONTEXT');
    expect(r.action).toBe('HALT');
    expect(r.detail).toContain('could not evaluate');
  });
});
