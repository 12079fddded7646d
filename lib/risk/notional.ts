/**
 * Notional value in the account (quote) currency, the unit of every risk limit.
 *
 * Linear contracts and spot: price × qty × contractSize (contractSize is 1 on spot and Binance).
 *
 * Inverse contracts (Kraken PI_/FI_): one contract is worth `contractSize` USD whatever the price,
 * so the USD notional is qty × contractSize. qty × contractSize / price is the same position
 * valued in the base currency (XBT), the currency its margin and P&L are in; comparing that
 * number with a USD limit would let a $100,000 order through as "2". Limits are in USD, so the
 * gate uses the USD value, and the base value only where margin is concerned (liquidation).
 */
import type { Instrument } from '#core/instrument.ts';
import type { Money } from '#core/money.ts';
import { stepsToMoney } from '#core/money.ts';

/** Quote value of `qtyLots` (a non-negative integer) of the instrument at `price` (quote per base). */
export function notionalAt(instrument: Instrument, price: Money, qtyLots: number): Money {
  const qty = stepsToMoney(qtyLots, instrument.qty);
  return instrument.inverse
    ? qty.times(instrument.contractSize)
    : qty.times(price).times(instrument.contractSize);
}

/** Base-currency value of `qtyLots` of an inverse instrument at `price`: qty × contractSize / price. */
export function inverseBaseValue(instrument: Instrument, price: Money, qtyLots: number): Money {
  return stepsToMoney(qtyLots, instrument.qty).times(instrument.contractSize).div(price);
}
