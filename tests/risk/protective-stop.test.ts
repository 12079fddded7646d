import { describe, expect, it } from 'vitest';
import { Money } from '#core/money.ts';
import type { BookView, OrderIntent } from '#core/trading.ts';
import type { RiskContext } from '#risk/context.ts';
import { checkOrder, checkFlatten, checkProtectiveStop } from '#risk/gate.ts';
import type { RiskLimits } from '#risk/limits.ts';
import type { RiskDecision } from '#risk/reasons.ts';
import {
  BTCUSDT,
  BTC_BOOK,
  DEFAULTS,
  NOW,
  XBTUSD_SPOT,
  book,
  context,
  expectApproved,
  expectReject,
  limitsWith,
  lots,
  marketOrder,
  symbolRisk,
  ticks,
} from './support.ts';

/** BTCUSDT holding `qty` BTC (negative = short). */
function holding(qty: string, state: Partial<RiskContext> = {}): RiskContext {
  const l = qty.startsWith('-') ? -lots(BTCUSDT, qty.slice(1)) : lots(BTCUSDT, qty);
  return {
    ...context({
      symbols: [symbolRisk(BTCUSDT, '100000', { positionLots: l, avgEntryPrice: new Money('100000') })],
    }),
    ...state,
  };
}

let seq = 0;
/** A protective stop on BTCUSDT: stop-market unless a limit price is given. */
function stop(
  side: 'buy' | 'sell',
  qty: string,
  trigger: string,
  over: Partial<OrderIntent> = {},
): OrderIntent {
  return {
    clientOrderId: `ps-${++seq}`,
    venue: BTCUSDT.venue,
    symbol: BTCUSDT.symbol,
    side,
    type: 'stop-market',
    timeInForce: 'GTC',
    triggerTicks: ticks(BTCUSDT, trigger),
    qtyLots: lots(BTCUSDT, qty),
    reduceOnly: true,
    purpose: 'protective-stop',
    createdTs: NOW,
    ...over,
  };
}

function check(
  intent: OrderIntent,
  ctx: RiskContext,
  limits: RiskLimits = DEFAULTS,
  b: BookView = BTC_BOOK,
): RiskDecision {
  return checkProtectiveStop(intent, BTCUSDT, b, NOW, ctx, limits);
}

describe('checkProtectiveStop', () => {
  it('approves a reduce-only sell stop under the bid for a long, listing its checks', () => {
    expect(expectApproved(check(stop('sell', '0.5', '99850.0'), holding('0.5')))).toEqual([
      'ORDER_SHAPE',
      'CONTEXT',
      'REDUCE_ONLY',
      'BOOK',
      'QTY',
      'PRICE',
      'PRICE_SANITY',
      'MIN_NOTIONAL',
      'ORDER_RATE',
    ]);
    expectApproved(check(stop('buy', '0.5', '100160.0'), holding('-0.5')));
  });

  it('is allowed with the kill switch on and while HALTED: it can only take risk off', () => {
    expectApproved(
      check(stop('sell', '0.5', '99850.0'), holding('0.5', { killSwitch: true, tradingState: 'HALTED' })),
    );
  });

  it('refuses a stop with nothing to protect, on the wrong side, or bigger than the position', () => {
    expectReject(check(stop('sell', '0.5', '99850.0'), holding('0')), 'NOT_REDUCING');
    expectReject(check(stop('buy', '0.5', '100160.0'), holding('0.5')), 'NOT_REDUCING');
    expectReject(check(stop('sell', '0.6', '99850.0'), holding('0.5')), 'NOT_REDUCING');
  });

  it('needs reduce-only on derivatives', () => {
    expectReject(check(stop('sell', '0.5', '99850.0', { reduceOnly: false }), holding('0.5')), 'BAD_ORDER');
  });

  it('refuses a trigger the market has already reached (that is an exit, not a stop)', () => {
    // best bid 99990.0: a sell stop at or above it fires at once
    expectReject(check(stop('sell', '0.5', '99990.0'), holding('0.5')), 'BAD_PRICE');
    expectApproved(check(stop('sell', '0.5', '99989.9'), holding('0.5')));
    // best ask 100010.0: a buy stop at or below it fires at once
    expectReject(check(stop('buy', '0.5', '100010.0'), holding('-0.5')), 'BAD_PRICE');
    expectApproved(check(stop('buy', '0.5', '100010.1'), holding('-0.5')));
  });

  it('checks a stop-limit: a limit that could never fill once triggered is refused', () => {
    const p = (x: string) => ticks(BTCUSDT, x);
    expectApproved(
      check(stop('sell', '0.5', '99850.0', { type: 'stop-limit', priceTicks: p('99800.0') }), holding('0.5')),
    );
    expectApproved(
      check(stop('sell', '0.5', '99850.0', { type: 'stop-limit', priceTicks: p('99850.0') }), holding('0.5')),
    );
    expectReject(
      check(stop('sell', '0.5', '99850.0', { type: 'stop-limit', priceTicks: p('99850.1') }), holding('0.5')),
      'BAD_PRICE',
    );
    expectReject(check(stop('sell', '0.5', '99850.0', { type: 'stop-limit' }), holding('0.5')), 'BAD_PRICE');
  });

  it('refuses malformed stops: no trigger, off-grid trigger, not GTC, a price on a stop-market, not a protective stop', () => {
    expectReject(
      check(stop('sell', '0.5', '99850.0', { triggerTicks: undefined }), holding('0.5')),
      'BAD_PRICE',
    );
    expectReject(
      check(stop('sell', '0.5', '99850.0', { triggerTicks: 998500.5 }), holding('0.5')),
      'BAD_PRICE',
    );
    expectReject(check(stop('sell', '0.5', '99850.0', { timeInForce: 'IOC' }), holding('0.5')), 'BAD_ORDER');
    expectReject(check(stop('sell', '0.5', '99850.0', { priceTicks: 1 }), holding('0.5')), 'BAD_ORDER');
    expectReject(check(stop('sell', '0.5', '99850.0', { purpose: 'stop' }), holding('0.5')), 'BAD_ORDER');
    expectReject(check(stop('sell', '0.5', '99850.0', { type: 'limit' }), holding('0.5')), 'BAD_ORDER');
  });

  it('needs a usable book', () => {
    const stale = book(BTCUSDT, '99990.0', '100010.0', { localTs: NOW - 60_000 });
    expectReject(check(stop('sell', '0.5', '99850.0'), holding('0.5'), DEFAULTS, stale), 'BOOK_STALE');
    const unsynced = book(BTCUSDT, '99990.0', '100010.0', { state: 'SYNCING' });
    expectReject(
      check(stop('sell', '0.5', '99850.0'), holding('0.5'), DEFAULTS, unsynced),
      'BOOK_NOT_SYNCED',
    );
  });

  it('checks minimum notional at the trigger unless the venue exempts reduce-only', () => {
    const strict = limitsWith({ venues: { 'binance-futures': { reduceOnlyMinNotionalExempt: false } } });
    // BTCUSDT's minimum notional is 5 (support.ts): 0.001 BTC triggered at 4,000 is worth 4
    expectReject(check(stop('sell', '0.001', '4000.0'), holding('0.001'), strict), 'MIN_NOTIONAL');
    expectApproved(check(stop('sell', '0.001', '4000.0'), holding('0.001')));
    expectApproved(check(stop('sell', '0.001', '5000.0'), holding('0.001'), strict));
  });

  it('on spot: a plain (not reduce-only) sell of the base held', () => {
    const spotCtx = context({
      symbols: [
        symbolRisk(XBTUSD_SPOT, '100000', {
          positionLots: lots(XBTUSD_SPOT, '0.5'),
          avgEntryPrice: new Money('100000'),
        }),
      ],
    });
    const b = book(XBTUSD_SPOT, '99990.0', '100010.0');
    const spotStop = (reduceOnly: boolean): OrderIntent => ({
      ...stop('sell', '0.5', '99850.0'),
      venue: XBTUSD_SPOT.venue,
      symbol: XBTUSD_SPOT.symbol,
      triggerTicks: ticks(XBTUSD_SPOT, '99850.0'),
      qtyLots: lots(XBTUSD_SPOT, '0.5'),
      reduceOnly,
    });
    expectApproved(checkProtectiveStop(spotStop(false), XBTUSD_SPOT, b, NOW, spotCtx, DEFAULTS));
    expectReject(checkProtectiveStop(spotStop(true), XBTUSD_SPOT, b, NOW, spotCtx, DEFAULTS), 'BAD_ORDER');
  });

  it('stops go through no other path: checkOrder and checkFlatten refuse them', () => {
    const s = stop('sell', '0.5', '99850.0');
    expectReject(checkOrder(s, BTCUSDT, BTC_BOOK, NOW, holding('0.5'), DEFAULTS), 'BAD_ORDER');
    expectReject(
      checkFlatten({ ...s, purpose: 'flatten' }, BTCUSDT, BTC_BOOK, NOW, holding('0.5'), DEFAULTS),
      'BAD_ORDER',
    );
    // and a market order carrying a trigger is malformed
    const m = marketOrder(BTCUSDT, 'sell', '0.5', { reduceOnly: true, triggerTicks: 1 });
    expectReject(checkOrder(m, BTCUSDT, BTC_BOOK, NOW, holding('0.5'), DEFAULTS), 'BAD_ORDER');
  });
});
