import { describe, expect, it } from 'vitest';
import { Money } from '#core/money.ts';
import type { BookView, OrderIntent } from '#core/trading.ts';
import type { RiskContext } from '#risk/context.ts';
import { checkFlatten } from '#risk/gate.ts';
import type { RiskLimits } from '#risk/limits.ts';
import type { RiskDecision } from '#risk/reasons.ts';
import {
  BTCUSDT,
  BTC_BOOK,
  DEFAULTS,
  NOW,
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
} from './support.ts';

/** BTCUSDT holding `qty` BTC (negative = short), with optional resting lots per side. */
function holding(
  qty: string,
  over: Parameters<typeof symbolRisk>[2] = {},
  state: Partial<RiskContext> = {},
): RiskContext {
  const l = qty.startsWith('-') ? -lots(BTCUSDT, qty.slice(1)) : lots(BTCUSDT, qty);
  return {
    ...context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', { positionLots: l, avgEntryPrice: new Money('100000'), ...over }),
      ],
    }),
    ...state,
  };
}

function flatten(
  intent: OrderIntent,
  ctx: RiskContext,
  limits: RiskLimits = DEFAULTS,
  b: BookView = BTC_BOOK,
): RiskDecision {
  return checkFlatten(intent, BTCUSDT, b, NOW, ctx, limits);
}

const sell = (qty: string, over: Partial<OrderIntent> = {}): OrderIntent =>
  marketOrder(BTCUSDT, 'sell', qty, { reduceOnly: true, purpose: 'flatten', ...over });

describe('checkFlatten', () => {
  it('closes a whole long, and lists the checks it passed', () => {
    expect(expectApproved(flatten(sell('0.5'), holding('0.5')))).toEqual([
      'ORDER_SHAPE',
      'CONTEXT',
      'REDUCE_ONLY',
      'BOOK',
      'QTY',
      'PRICE_SANITY',
      'MIN_NOTIONAL',
      'ORDER_RATE',
    ]);
  });

  it('works with the kill switch on and while HALTED or REDUCING', () => {
    expectApproved(flatten(sell('0.5'), holding('0.5', {}, { killSwitch: true, tradingState: 'HALTED' })));
    expectApproved(flatten(sell('0.5'), holding('0.5', {}, { tradingState: 'REDUCING' })));
  });

  it('ignores trip levels and exposure caps: they are what is being unwound', () => {
    const ctx = holding(
      '0.5',
      {},
      { account: { ...context().account, realizedPnlToday: new Money('-5000') } },
    );
    expectApproved(flatten(sell('0.5'), ctx));
    // $50,000 in one order, far over the $10,000 cap of checkOrder.
    expectApproved(flatten(limitOrder(BTCUSDT, 'sell', '0.5', '99990.0', { reduceOnly: true }), ctx));
  });

  it('closes a short with a buy', () => {
    expectApproved(flatten(marketOrder(BTCUSDT, 'buy', '0.3', { reduceOnly: true }), holding('-0.3')));
  });

  it('never flips: one lot past the position is rejected', () => {
    const r = expectReject(flatten(sell('0.501'), holding('0.5')), 'NOT_REDUCING');
    expect(r.detail).toContain('flip');
    expectReject(
      flatten(marketOrder(BTCUSDT, 'buy', '0.301', { reduceOnly: true }), holding('-0.3')),
      'NOT_REDUCING',
    );
  });

  it('counts orders already resting on the same side toward the position', () => {
    const ctx = holding('0.5', { openSellOrders: 1, openSellLots: lots(BTCUSDT, '0.2') });
    expectApproved(flatten(sell('0.3'), ctx));
    expectReject(flatten(sell('0.301'), ctx), 'NOT_REDUCING');
  });

  it('rejects adding to the position, flattening nothing, and orders without the reduce-only flag', () => {
    expectReject(
      flatten(marketOrder(BTCUSDT, 'buy', '0.1', { reduceOnly: true }), holding('0.5')),
      'NOT_REDUCING',
    );
    expectReject(flatten(sell('0.1'), holding('0')), 'NOT_REDUCING');
    expectReject(flatten(sell('0.1', { reduceOnly: false }), holding('0.5')), 'NOT_REDUCING');
  });

  it('still needs a book it can trust and a sane price', () => {
    expectReject(
      flatten(sell('0.5'), holding('0.5'), DEFAULTS, { ...BTC_BOOK, localTs: NOW - 2001 }),
      'BOOK_STALE',
    );
    expectReject(
      flatten(sell('0.5'), holding('0.5'), DEFAULTS, { ...BTC_BOOK, state: 'UNSYNCED' }),
      'BOOK_NOT_SYNCED',
    );
    expectReject(
      flatten(limitOrder(BTCUSDT, 'sell', '0.5', '99499.9', { reduceOnly: true }), holding('0.5')),
      'PRICE_SANITY',
    );
    expectReject(
      flatten(sell('0.5'), holding('0.5'), DEFAULTS, { ...BTC_BOOK, bidVolume5Lots: lots(BTCUSDT, '0.4') }),
      'INSUFFICIENT_DEPTH',
    );
  });

  it('still applies the venue quantity rules and the order rate limits', () => {
    expectReject(flatten({ ...sell('0.5'), qtyLots: 0 }, holding('0.5')), 'BAD_QTY');
    const busy = holding(
      '0.5',
      {},
      { recentOrderTs: new Map([['binance-futures', Array.from({ length: 10 }, () => NOW - 1)]]) },
    );
    expectReject(flatten(sell('0.5'), busy), 'ORDER_RATE');
  });

  it('exempts from the minimum notional only where the venue does', () => {
    const sushi = context({
      symbols: [symbolRisk(SUSHIUSDT, '1.00', { positionLots: 4, avgEntryPrice: new Money('1.10') })],
    });
    const b = book(SUSHIUSDT, '0.99', '1.01');
    const o = limitOrder(SUSHIUSDT, 'sell', '4', '1.00', { reduceOnly: true });
    expectApproved(checkFlatten(o, SUSHIUSDT, b, NOW, sushi, DEFAULTS));
    const noExempt = limitsWith({ venues: { 'binance-futures': { reduceOnlyMinNotionalExempt: false } } });
    expectReject(checkFlatten(o, SUSHIUSDT, b, NOW, sushi, noExempt), 'MIN_NOTIONAL');
  });

  it('flattens a spot long (the reduce-only flag is the engine’s, the adapter drops it)', () => {
    const ctx = context({
      symbols: [
        symbolRisk(XBTUSD_SPOT, '100000', {
          positionLots: lots(XBTUSD_SPOT, '0.5'),
          avgEntryPrice: new Money('90000'),
        }),
      ],
    });
    const b = book(XBTUSD_SPOT, '99990.0', '100010.0');
    const o = marketOrder(XBTUSD_SPOT, 'sell', '0.5', { reduceOnly: true });
    expectApproved(checkFlatten(o, XBTUSD_SPOT, b, NOW, ctx, DEFAULTS));
    expectReject(
      checkFlatten({ ...o, qtyLots: o.qtyLots + 1 }, XBTUSD_SPOT, b, NOW, ctx, DEFAULTS),
      'NOT_REDUCING',
    );
  });

  it('rejects an impossible context with HALT', () => {
    const r = expectReject(flatten(sell('0.5'), context({ symbols: [] })), 'BAD_CONTEXT');
    expect(r.action).toBe('HALT');
    expectReject(flatten(sell('0.5'), holding('0.5', { avgEntryPrice: new Money(0) })), 'BAD_CONTEXT');
  });
});

describe('checkFlatten never throws', () => {
  it('turns an unreadable input into BAD_CONTEXT with HALT', () => {
    const broken = { ...context(), symbols: null } as unknown as RiskContext;
    expect(flatten(sell('0.5'), broken)).toMatchObject({
      approved: false,
      reason: 'BAD_CONTEXT',
      action: 'HALT',
    });
  });
});
