/**
 * The wire form of a Binance USD-M protective stop (POST /fapi/v1/algoOrder, algoOrder.place):
 * parameter names and values as the Algo Service documents them (research-stops.md §1a).
 */
import { describe, expect, it } from 'vitest';
import type { OrderIntent } from '#core/trading.ts';
import { algoOrderParams } from '#venues/binance/algo-orders.ts';
import { BTCUSDT } from '../risk/support.ts';

const stop: OrderIntent = {
  clientOrderId: 'tw0000000010000007',
  venue: 'binance-futures',
  symbol: 'BTCUSDT',
  side: 'sell',
  type: 'stop-market',
  timeInForce: 'GTC',
  triggerTicks: 998_501, // 99,850.1 on the 0.1 tick grid
  qtyLots: 1_250, // 1.25 BTC in 0.001 lots
  reduceOnly: true,
  purpose: 'protective-stop',
  createdTs: 0,
};

describe('algoOrderParams', () => {
  it('a reduce-only STOP_MARKET triggered by the mark price, exact decimal text, our id as clientAlgoId', () => {
    expect(Object.fromEntries(algoOrderParams(stop, BTCUSDT))).toEqual({
      algoType: 'CONDITIONAL',
      symbol: 'BTCUSDT',
      side: 'SELL',
      type: 'STOP_MARKET',
      quantity: '1.250',
      triggerPrice: '99850.1',
      workingType: 'MARK_PRICE',
      clientAlgoId: 'tw0000000010000007',
      newOrderRespType: 'RESULT',
      reduceOnly: 'true',
    });
  });

  it('a stop-limit is type STOP with a GTC limit price; a stop without a trigger or a non-GTC stop-limit never leaves', () => {
    const p = Object.fromEntries(
      algoOrderParams({ ...stop, type: 'stop-limit', priceTicks: 998_000 }, BTCUSDT),
    );
    expect(p).toMatchObject({ type: 'STOP', price: '99800.0', timeInForce: 'GTC', triggerPrice: '99850.1' });
    expect(() => algoOrderParams({ ...stop, triggerTicks: undefined }, BTCUSDT)).toThrow(/trigger/);
    expect(() =>
      algoOrderParams({ ...stop, type: 'stop-limit', priceTicks: 998_000, timeInForce: 'IOC' }, BTCUSDT),
    ).toThrow(/GTC/);
  });
});
