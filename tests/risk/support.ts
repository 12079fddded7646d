/**
 * Fixtures for the risk gate tests: instruments shaped like the venues' real ones, a book, a
 * context in which the base order passes every rule, and builders to change one thing at a time.
 */
import { gridFromDecimals, gridFromStep } from '#core/grid.ts';
import type { Instrument, VenueId } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import type { BookView, OrderIntent } from '#core/trading.ts';
import type { AccountState, RiskContext, SymbolRisk } from '#risk/context.ts';
import { symbolKey } from '#risk/context.ts';
import type { RiskLimits } from '#risk/limits.ts';
import { parseRiskLimits } from '#risk/limits.ts';
import type { RiskDecision, RiskRejection } from '#risk/reasons.ts';
import { expect } from 'vitest';

export const NOW = 1_700_000_000_000;
export const HOUR = 3_600_000;

/** Binance USD-M perpetual: tick 0.1, lot 0.001, min notional 5 (the real BTCUSDT filters). */
export const BTCUSDT: Instrument = {
  venue: 'binance-futures',
  symbol: 'BTCUSDT',
  kind: 'perpetual',
  base: 'BTC',
  quote: 'USDT',
  price: gridFromStep('0.1'),
  qty: gridFromStep('0.001'),
  marketQty: gridFromStep('0.001'),
  minQty: new Money('0.001'),
  maxQty: new Money('1000'),
  minPrice: new Money('556.8'),
  maxPrice: new Money('4529764'),
  minNotional: new Money('5'),
  contractSize: new Money(1),
  inverse: false,
  shortable: true,
};

/** Another perpetual on the same venue, to carry exposure on a second symbol. */
export const ETHUSDT: Instrument = {
  ...BTCUSDT,
  symbol: 'ETHUSDT',
  base: 'ETH',
  price: gridFromStep('0.01'),
  qty: gridFromStep('0.001'),
  marketQty: gridFromStep('0.001'),
  minPrice: new Money('39.86'),
  maxPrice: new Money('306177'),
};

/** A cheap perpetual for the $10 user: tick 0.01, whole units, min notional 5. */
export const SUSHIUSDT: Instrument = {
  ...BTCUSDT,
  symbol: 'SUSHIUSDT',
  base: 'SUSHI',
  price: gridFromStep('0.01'),
  qty: gridFromStep('1'),
  marketQty: gridFromStep('1'),
  minQty: new Money('1'),
  maxQty: new Money('10000000'),
  minPrice: new Money('0.01'),
  maxPrice: new Money('500'),
};

/** Kraken Futures inverse perpetual: 1 USD per contract, whole contracts, tick 0.5. */
export const PI_XBTUSD: Instrument = {
  venue: 'kraken-futures',
  symbol: 'PI_XBTUSD',
  kind: 'perpetual',
  base: 'XBT',
  quote: 'USD',
  price: gridFromStep('0.5'),
  qty: gridFromDecimals(0),
  marketQty: null,
  minQty: new Money(1),
  maxQty: null,
  minPrice: null,
  maxPrice: null,
  minNotional: new Money(0),
  contractSize: new Money(1),
  inverse: true,
  shortable: true,
};

/** Kraken spot: long-only, tick 0.1, lot 1e-8, ordermin 0.0001, costmin 0.5. */
export const XBTUSD_SPOT: Instrument = {
  venue: 'kraken-spot',
  symbol: 'XBT/USD',
  kind: 'spot',
  base: 'XBT',
  quote: 'USD',
  price: gridFromDecimals(1),
  qty: gridFromDecimals(8),
  marketQty: null,
  minQty: new Money('0.0001'),
  maxQty: null,
  minPrice: null,
  maxPrice: null,
  minNotional: new Money('0.5'),
  contractSize: new Money(1),
  inverse: false,
  shortable: false,
};

/** Price text → ticks for an instrument (test convenience; exact for the fixtures' grids). */
export function ticks(i: Instrument, price: string): number {
  const units = new Money(price).times(new Money(10).pow(i.price.scale));
  const t = units.div(i.price.stepUnits);
  if (!t.isInteger()) throw new Error(`${price} is off the ${i.price.step} grid`);
  return t.toNumber();
}

/** Quantity text → lots for an instrument. */
export function lots(i: Instrument, qty: string): number {
  const units = new Money(qty).times(new Money(10).pow(i.qty.scale));
  const l = units.div(i.qty.stepUnits);
  if (!l.isInteger()) throw new Error(`${qty} is off the ${i.qty.step} grid`);
  return l.toNumber();
}

/** A SYNCED book around `bid`/`ask`, updated 100 ms before NOW, with deep top-5 volume. */
export function book(i: Instrument, bid: string, ask: string, over: Partial<BookView> = {}): BookView {
  return {
    venue: i.venue,
    symbol: i.symbol,
    state: 'SYNCED',
    bestBidTicks: ticks(i, bid),
    bestAskTicks: ticks(i, ask),
    bidVolume5Lots: 1_000_000_000,
    askVolume5Lots: 1_000_000_000,
    imbalance: 1,
    crossed: false,
    venueTs: NOW - 120,
    localTs: NOW - 100,
    ...over,
  };
}

/** The BTCUSDT book used by most tests: 99990.0 / 100010.0, mid 100000.0. */
export const BTC_BOOK = book(BTCUSDT, '99990.0', '100010.0');

let seq = 0;
export function limitOrder(
  i: Instrument,
  side: 'buy' | 'sell',
  qty: string,
  price: string,
  over: Partial<OrderIntent> = {},
): OrderIntent {
  return {
    clientOrderId: `t-${++seq}`,
    venue: i.venue,
    symbol: i.symbol,
    side,
    type: 'limit',
    timeInForce: 'GTC',
    priceTicks: ticks(i, price),
    qtyLots: lots(i, qty),
    reduceOnly: false,
    purpose: 'entry',
    createdTs: NOW,
    ...over,
  };
}

export function marketOrder(
  i: Instrument,
  side: 'buy' | 'sell',
  qty: string,
  over: Partial<OrderIntent> = {},
): OrderIntent {
  return {
    clientOrderId: `t-${++seq}`,
    venue: i.venue,
    symbol: i.symbol,
    side,
    type: 'market',
    timeInForce: 'IOC',
    qtyLots: lots(i, qty),
    reduceOnly: false,
    purpose: 'entry',
    createdTs: NOW,
    ...over,
  };
}

/** A flat symbol with nothing resting, mark at `mark`, 5x leverage, funding 4 h either side. */
export function symbolRisk(i: Instrument, mark: string, over: Partial<SymbolRisk> = {}): SymbolRisk {
  return {
    instrument: i,
    positionLots: 0,
    avgEntryPrice: new Money(0),
    markPrice: new Money(mark),
    openBuyOrders: 0,
    openSellOrders: 0,
    openBuyLots: 0,
    openSellLots: 0,
    leverage: i.kind === 'spot' ? null : new Money(5),
    lastFundingTs: i.kind === 'perpetual' ? NOW - 4 * HOUR : null,
    nextFundingTs: i.kind === 'perpetual' ? NOW + 4 * HOUR : null,
    ...over,
  };
}

export const ACCOUNT: AccountState = {
  equity: new Money('100000'),
  peakEquity: new Money('100000'),
  realizedPnlToday: new Money('0'),
  consecutiveLosses: 0,
};

export interface CtxOptions {
  symbols?: SymbolRisk[];
  account?: Partial<AccountState>;
  tradingState?: RiskContext['tradingState'];
  killSwitch?: boolean;
  recent?: Partial<Record<VenueId, number[]>>;
}

/** An ACTIVE context with $100,000 equity holding the given symbols (default: flat BTCUSDT). */
export function context(o: CtxOptions = {}): RiskContext {
  const symbols = o.symbols ?? [symbolRisk(BTCUSDT, '100000')];
  const recent = new Map<VenueId, readonly number[]>();
  for (const [v, ts] of Object.entries(o.recent ?? {})) recent.set(v as VenueId, ts);
  return {
    tradingState: o.tradingState ?? 'ACTIVE',
    killSwitch: o.killSwitch ?? false,
    account: { ...ACCOUNT, ...o.account },
    symbols: new Map(symbols.map((s) => [symbolKey(s.instrument.venue, s.instrument.symbol), s])),
    recentOrderTs: recent,
  };
}

export const DEFAULTS: RiskLimits = parseRiskLimits({});

export function limitsWith(json: unknown): RiskLimits {
  return parseRiskLimits(json);
}

/** Asserts a rejection with `reason` and returns it for further checks. */
export function expectReject(d: RiskDecision, reason: RiskRejection['reason']): RiskRejection {
  if (d.approved) throw new Error(`expected ${reason}, got approved after ${d.checks.join(', ')}`);
  expect(d.reason, d.detail).toBe(reason);
  return d;
}

export function expectApproved(d: RiskDecision): readonly string[] {
  if (!d.approved) throw new Error(`expected approval, got ${d.reason}: ${d.detail}`);
  return d.checks;
}
