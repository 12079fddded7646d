/**
 * The simulator's matching of OUR orders against its synthetic book: a pure, deterministic,
 * venue-neutral engine with each venue's own validation and error codes, behind the order
 * endpoints the exchange simulator speaks (Binance USD-M and Binance.US REST/WS API, Kraken spot
 * WS v2 add_order, Kraken Futures sendorder).
 *
 * How our orders meet the market:
 * - The synthetic market's book is the truth and stays the market's: our taking never changes it
 *   (the market generator owns every level; editing it would fork the streams every client sees).
 *   Instead each venue+symbol keeps a SHADOW of the levels we have taken from: the level's quantity
 *   when we took, and how much we took. While the level still shows that quantity, only the rest is
 *   available to us; once the market changes the level (any absolute quantity update), the shadow
 *   entry is dropped and the new quantity is available again. So an order never fills more than the
 *   displayed quantity at a price in one sweep, and a second order cannot fill on liquidity the
 *   first one already took. The shadow is shared by all accounts (two of our accounts cannot both
 *   take the same resting order), and our resting orders are invisible to the market's streams.
 * - Market orders walk the levels from the best outward; what the book cannot fill EXPIRES.
 *   IOC limits do the same up to their price. GTC limits take what crosses, then rest the remainder.
 *   POST_ONLY is rejected if any of it would take.
 * - A resting order fills as MAKER, at its own limit price, when the market moves through it:
 *   `onBookChange` offers every level at or through the limit (minus the shadow) to the open orders,
 *   best price first, then oldest first. Call it after each market step.
 * - Reduce-only: rejected when it would increase (or open) the position; otherwise its fills are
 *   capped at the position, a market/IOC remainder beyond it expires, and resting reduce-only orders
 *   expire once the position is flat (Binance and Kraken Futures both size reduce-only orders down
 *   to the position [MEM]). Open orders are not netted against the position (Binance's -4118 case
 *   is not modelled).
 * - Spot venues never short: a sell needs free base, a buy needs free quote for notional + fee at
 *   the worst fee rate; open orders hold (lock) those funds. Futures need initial margin
 *   (notional / leverage) for the part of an order that increases the position.
 * - A client order id must be unique among the account's OPEN orders (per symbol on Binance, per
 *   venue on Kraken); reusing the id of a filled, cancelled or expired order is accepted — venue
 *   truth on Binance ("unique among open orders", -4116 only for open ones, VENUES.md §1.9) and on
 *   Kraken ("uniqueness across open orders", docs.kraken.com spot cl_ord_id guide). A query by
 *   client id answers the open order, else the most recent one with that id.
 * - Fees: notional × rate in Money, exact; notional = price × qty × contract size (linear, spot),
 *   qty × contract size / price in the base asset (inverse; a division, rounded half-even to
 *   DIVISION_DP = 18 places so the ledger's sums stay exact). Reported as plain decimal text in the
 *   settlement asset (quote; base for inverse).
 * - Ids are deterministic counters in each venue's style (Binance integers, Kraken spot
 *   "OXXXXX-XXXXX-XXXXXX", Kraken Futures UUIDs), so a seeded run replays identically.
 * - `onOrderUpdate` sees every state change in order (NEW, then each fill, then CANCELED/EXPIRED),
 *   which is what a venue's user stream (executionReport, ORDER_TRADE_UPDATE, executions, fills)
 *   reports; rejected orders are never recorded, as on the venues.
 *
 * - Stop orders (stop-market, stop-limit) rest untriggered: they take nothing and fill nothing until
 *   the book reaches the trigger (a sell stop: best bid at or below it; a buy stop: best ask at or
 *   above it — the venues use the last trade or mark price; the touch stands in for both). Then,
 *   in `onBookChange` before resting limits are offered anything, each triggered stop takes as a
 *   TAKER what the book has: a stop-market's remainder expires, a stop-limit's rests as a GTC limit.
 *   Binance rejects a stop the market has already reached (-2021 futures, -2010 spot); Kraken
 *   triggers it at once [GUESS for Kraken: the docs do not say]. Untriggered stops are open orders
 *   (queries, cancels, cancel-all, funds held: a spot sell stop holds its base), and a reduce-only
 *   stop expires with the position it protected, like any resting reduce-only order.
 *
 * Error codes: see `rejectFor` below; each is tagged with where it comes from.
 */
import type { L2Book, BookSide } from '#core/book.ts';
import type { Grid } from '#core/grid.ts';
import { decimalsOf, fromSteps, gridFromStep, toSteps } from '#core/grid.ts';
import { DataError } from '#core/errors.ts';
import type { VenueId } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import type { OrderSide, OrderType, TimeInForce } from '#core/trading.ts';
import { isStopType } from '#core/trading.ts';
import type { LedgerInstrument, SimAccountsConfig, SimBalance, SimPosition } from './accounts.ts';
import { DIVISION_DP, SimAccounts } from './accounts.ts';
import type { SimSymbolConfig } from './symbols.ts';

// ------------------------------------------------------------------------------------ public types

export interface SimOrderRequest {
  readonly venue: VenueId;
  readonly symbol: string;
  readonly clientOrderId: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  /** Limit price in ticks; required for limit and stop-limit orders. A non-integer is off the tick grid. */
  readonly priceTicks?: number | undefined;
  /** Stop orders: the trigger price in ticks (see "Stop orders" above). */
  readonly triggerTicks?: number | undefined;
  /** Quantity in lots; a non-integer is off the step grid. */
  readonly qtyLots: number;
  readonly reduceOnly: boolean;
  readonly account: string;
  /** Venue time of the request (ms). */
  readonly ts: number;
}

export type SimOrderStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED' | 'REJECTED';

export interface SimFill {
  readonly tradeId: string;
  readonly orderId: string;
  readonly clientOrderId: string;
  readonly account: string;
  readonly venue: VenueId;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly priceTicks: number;
  readonly qtyLots: number;
  readonly liquidity: 'maker' | 'taker';
  /** Exact notional as decimal text, in the settlement asset (quote; base for inverse). */
  readonly notional: string;
  /** Exact fee as decimal text in `feeAsset`; negative = rebate. */
  readonly fee: string;
  readonly feeAsset: string;
  readonly ts: number;
}

/** Why an order left the book without filling in full. */
export type SimDoneReason =
  | 'canceled'
  | 'ioc' // IOC remainder
  | 'market' // market order remainder: the book ran out
  | 'reduce-only'; // the position it reduced is closed (or smaller than the order)

export interface SimOrder {
  /** The venue-style order id. */
  readonly orderId: string;
  readonly request: SimOrderRequest;
  readonly status: SimOrderStatus;
  readonly filledLots: number;
  /** Volume-weighted average fill price in ticks (may be fractional); 0 before the first fill. */
  readonly avgPriceTicks: number;
  /** Exact Σ notional of the fills, decimal text in the settlement asset. */
  readonly cumNotional: string;
  readonly fills: readonly SimFill[];
  readonly createdTs: number;
  readonly updatedTs: number;
  readonly reason?: SimDoneReason | undefined;
  /** Stop orders: the market reached the trigger (always true for other orders). */
  readonly triggered: boolean;
}

export interface SimReject {
  /** The venue's error code: Binance "-4164", Kraken spot "EOrder:…", Kraken Futures sendStatus. */
  readonly code: string;
  readonly message: string;
}

export type PlaceResult =
  { readonly order: SimOrder; readonly fills: readonly SimFill[] } | { readonly reject: SimReject };

export interface OrderSelector {
  readonly orderId?: string | undefined;
  readonly clientOrderId?: string | undefined;
}

/** An instrument as the matching engine trades it: grids, filters, fees, contract terms. */
export interface SimInstrumentSpec extends LedgerInstrument {
  /** Lowest valid price in ticks (default 1). */
  readonly minPriceTicks?: number | undefined;
  /** Highest valid price in ticks; null = none. */
  readonly maxPriceTicks?: number | null | undefined;
  readonly minQtyLots: number;
  /** null = no maximum. */
  readonly maxQtyLots: number | null;
  /** Binance MARKET_LOT_SIZE maxQty in lots; null = same as maxQtyLots. */
  readonly maxMarketQtyLots?: number | null | undefined;
  /** Minimum order notional in quote; zero = none. */
  readonly minNotional: Money;
  /** Fee rates as decimal text, e.g. "0.0002"; a negative maker rate is a rebate. */
  readonly makerFee: string;
  readonly takerFee: string;
  /** Spot venues are long-only. */
  readonly shortable: boolean;
}

export interface MatchingEngineOptions {
  /** Keyed by instrumentKey(venue, symbol). */
  readonly instruments: ReadonlyMap<string, SimInstrumentSpec>;
  /** The ledger to book fills into, or the config to create one (default balances, 10× leverage). */
  readonly accounts?: SimAccounts | SimAccountsConfig;
  /** Called synchronously after every change of an order (placed, filled, cancelled, expired). */
  readonly onOrderUpdate?: (order: SimOrder, fill: SimFill | null) => void;
}

// ------------------------------------------------------------------------------------ instruments

export function instrumentKey(venue: VenueId, symbol: string): string {
  return `${venue} ${symbol}`;
}

/**
 * Default fee rates per venue at the entry tier [MEM: published tier-0 schedules, not re-read;
 * override per instrument]: Binance USD-M 0.02 % / 0.05 %, Binance.US 0.1 % / 0.1 %, Kraken spot
 * (Kraken Pro) 0.25 % / 0.40 %, Kraken Futures 0.02 % / 0.05 %.
 */
export const DEFAULT_FEES: Readonly<Record<VenueId, { readonly maker: string; readonly taker: string }>> = {
  'binance-futures': { maker: '0.0002', taker: '0.0005' },
  'binance-us': { maker: '0.001', taker: '0.001' },
  'kraken-spot': { maker: '0.0025', taker: '0.004' },
  'kraken-futures': { maker: '0.0002', taker: '0.0005' },
};

function baseQuote(symbol: string): [string, string] {
  if (symbol.includes('/')) {
    const [b = symbol, q = 'USD'] = symbol.split('/');
    return [b, q];
  }
  const m = /^(?:P[FI]_|F[IF]_)?([A-Z]+?)(USDT|USDC|USD|BUSD|EUR)(?:_\d+)?$/.exec(symbol.toUpperCase());
  return m ? [m[1] as string, m[2] as string] : [symbol, 'USD'];
}

const SPOT_VENUES: ReadonlySet<VenueId> = new Set<VenueId>(['binance-us', 'kraken-spot']);

/**
 * The spec of a simulator symbol (lib/sim/symbols.ts) as the venue would trade it: LOT_SIZE minQty
 * = one lot (the simulator's exchangeInfo says so), max 10,000 / market max 1,000 in quantity
 * units on Binance (its exchangeInfo again), the venue's default fees, inverse for Kraken PI_/FI_.
 */
export function simInstrumentSpec(
  cfg: SimSymbolConfig,
  overrides: Partial<SimInstrumentSpec> = {},
): SimInstrumentSpec {
  const price = gridFromStep(cfg.tick);
  const qty = gridFromStep(cfg.lot);
  const [base, quote] = baseQuote(cfg.symbol);
  const spot = SPOT_VENUES.has(cfg.venue);
  const inverse = cfg.venue === 'kraken-futures' && /^(PI|FI)_/i.test(cfg.symbol);
  const binance = cfg.venue.startsWith('binance');
  const lotsOf = (text: string) => toSteps(text, qty);
  const fees = DEFAULT_FEES[cfg.venue];
  return {
    venue: cfg.venue,
    symbol: cfg.symbol,
    base,
    quote,
    settle: inverse ? base : quote,
    price,
    qty,
    contractSize: new Money(1),
    inverse,
    spot,
    minPriceTicks: 1,
    maxPriceTicks: binance ? toSteps('1000000', price) : null,
    minQtyLots: 1,
    maxQtyLots: binance ? lotsOf('10000') : null,
    maxMarketQtyLots: binance ? lotsOf('1000') : null,
    // The defaults symbols.ts publishes: Binance MIN_NOTIONAL 5, Kraken costmin 0.5, none on futures.
    minNotional: new Money(
      cfg.minNotional ?? (cfg.venue === 'kraken-futures' ? '0' : cfg.venue === 'kraken-spot' ? '0.5' : '5'),
    ),
    makerFee: fees.maker,
    takerFee: fees.taker,
    shortable: !spot,
    ...overrides,
  };
}

/** Specs for a list of simulator symbols, keyed for MatchingEngine. */
export function simInstrumentSpecs(
  symbols: Iterable<SimSymbolConfig>,
  overrides: (cfg: SimSymbolConfig) => Partial<SimInstrumentSpec> = () => ({}),
): Map<string, SimInstrumentSpec> {
  const out = new Map<string, SimInstrumentSpec>();
  for (const s of symbols) out.set(instrumentKey(s.venue, s.symbol), simInstrumentSpec(s, overrides(s)));
  return out;
}

// ------------------------------------------------------------------------------------ venue codes

type RejectReason =
  | 'unknownSymbol'
  | 'priceMissing'
  | 'priceNotAllowed'
  | 'badCombination'
  | 'pricePrecision'
  | 'priceOffTick'
  | 'priceTooLow'
  | 'priceTooHigh'
  | 'qtyPrecision'
  | 'qtyOffStep'
  | 'qtyNonPositive'
  | 'qtyTooSmall'
  | 'qtyTooLarge'
  | 'minNotional'
  | 'duplicateClientId'
  | 'reduceOnlyWouldIncrease'
  | 'reduceOnlyUnsupported'
  | 'postOnlyWouldTake'
  | 'iocWouldNotExecute'
  | 'insufficientFunds'
  | 'cancelUnknown'
  | 'triggerMissing'
  | 'stopWouldTrigger';

/**
 * Codes and messages per venue. Sources, in VENUES.md's vocabulary:
 * - Binance USD-M: [DOC] the error-code page (developers.binance.com …/error-code, read in a
 *   verbatim copy): -1102, -1106, -1014, -1111, -1121, -2011, -2019, -2022, -4002, -4003, -4004,
 *   -4005, -4013, -4014, -4023, -4116, -4164, -5022.
 * - Binance.US spot: [DOC] spot errors.md copy: -1013 "Filter failure: …" (PRICE_FILTER, LOT_SIZE,
 *   MARKET_LOT_SIZE, MIN_NOTIONAL), -2010 "Duplicate order sent." / "Account has insufficient
 *   balance for requested action.", -2011 "Unknown order sent."; [SDK nautilus] -2010 "Order would
 *   immediately match and take." (LIMIT_MAKER); [MEM] -1104 for a reduceOnly parameter spot does not
 *   read.
 * - Kraken spot: [DOC] docs.kraken.com spot error list (via a catalog of it): EOrder:Insufficient
 *   funds, EOrder:Order minimum not met, EOrder:Cost minimum not met, EOrder:Tick size check failed,
 *   EOrder:Invalid price, EOrder:Reduce only:No position exists, EQuery:Unknown asset pair,
 *   EGeneral:Invalid arguments; [SDK nautilus] EOrder:Post only order; [REAL, a user's report]
 *   EGeneral:Invalid arguments:volume; [MEM] EOrder:Unknown order (cancel), and the duplicate
 *   cl_ord_id string is a GUESS (the docs say uniqueness is enforced but not the error text).
 * - Kraken Futures: [DOC] sendorder sendStatus.status list: invalidPrice, invalidSize,
 *   insufficientAvailableFunds, clientOrderIdAlreadyExist, postWouldExecute, iocWouldNotExecute,
 *   wouldNotReducePosition, marketInactive, invalidOrderType; cancelStatus notFound [DOC table].
 *   Note: nautilus (and VENUES.md §4.2 from it) lists `reduceOnlyWouldIncreasePosition`, which the
 *   documented enum does not contain; the docs win.
 */
function rejectFor(venue: VenueId, why: RejectReason, detail: { notional?: string } = {}): SimReject {
  const r = (code: string, message: string): SimReject => ({ code, message });
  switch (venue) {
    case 'binance-futures':
      switch (why) {
        case 'unknownSymbol':
          return r('-1121', 'Invalid symbol.');
        case 'priceMissing':
          return r('-1102', "Mandatory parameter 'price' was not sent, was empty/null, or malformed.");
        case 'priceNotAllowed':
          return r('-1106', "Parameter 'price' sent when not required.");
        case 'badCombination':
          return r('-1014', 'Unsupported order combination.');
        case 'pricePrecision':
        case 'qtyPrecision':
          return r('-1111', 'Precision is over the maximum defined for this asset.');
        case 'priceOffTick':
          return r('-4014', 'Price not increased by tick size.');
        case 'priceTooLow':
          return r('-4013', 'Price less than min price.');
        case 'priceTooHigh':
          return r('-4002', 'Price greater than max price.');
        case 'qtyOffStep':
          return r('-4023', 'Qty not increased by step size.');
        case 'qtyNonPositive':
          return r('-4003', 'Quantity less than zero.');
        case 'qtyTooSmall':
          return r('-4004', 'Quantity less than min quantity.');
        case 'qtyTooLarge':
          return r('-4005', 'Quantity greater than max quantity.');
        case 'minNotional':
          return r(
            '-4164',
            `Order's notional must be no smaller than ${detail.notional ?? '5'} (unless you choose reduce only)`,
          );
        case 'duplicateClientId':
          return r('-4116', 'clientOrderId is duplicated');
        case 'reduceOnlyWouldIncrease':
        case 'reduceOnlyUnsupported':
          return r('-2022', 'ReduceOnly Order is rejected.');
        case 'postOnlyWouldTake':
          return r(
            '-5022',
            'Due to the order could not be executed as maker, the Post Only order will be rejected.',
          );
        case 'iocWouldNotExecute':
          return r('-2020', 'Unable to fill.'); // unused: Binance expires an unfilled IOC instead
        case 'insufficientFunds':
          return r('-2019', 'Margin is insufficient.');
        case 'cancelUnknown':
          return r('-2011', 'Unknown order sent.');
        case 'triggerMissing':
          return r('-1102', "Mandatory parameter 'triggerPrice' was not sent, was empty/null, or malformed.");
        case 'stopWouldTrigger':
          return r('-2021', 'Order would immediately trigger.');
      }
      break;
    case 'binance-us':
      switch (why) {
        case 'unknownSymbol':
          return r('-1121', 'Invalid symbol.');
        case 'priceMissing':
          return r('-1102', "Mandatory parameter 'price' was not sent, was empty/null, or malformed.");
        case 'priceNotAllowed':
          return r('-1106', "Parameter 'price' sent when not required.");
        case 'badCombination':
          return r('-1014', 'Unsupported order combination.');
        case 'pricePrecision':
        case 'qtyPrecision':
          return r('-1111', 'Precision is over the maximum defined for this asset.');
        case 'priceOffTick':
        case 'priceTooLow':
        case 'priceTooHigh':
          return r('-1013', 'Filter failure: PRICE_FILTER');
        case 'qtyOffStep':
        case 'qtyNonPositive':
        case 'qtyTooSmall':
          return r('-1013', 'Filter failure: LOT_SIZE');
        case 'qtyTooLarge':
          return r('-1013', 'Filter failure: LOT_SIZE');
        case 'minNotional':
          return r('-1013', 'Filter failure: MIN_NOTIONAL');
        case 'duplicateClientId':
          return r('-2010', 'Duplicate order sent.');
        case 'reduceOnlyWouldIncrease':
        case 'reduceOnlyUnsupported':
          return r('-1104', 'Not all sent parameters were read.');
        case 'postOnlyWouldTake':
          return r('-2010', 'Order would immediately match and take.');
        case 'iocWouldNotExecute':
          return r('-2010', 'Order would immediately match and take.'); // unused
        case 'insufficientFunds':
          return r('-2010', 'Account has insufficient balance for requested action.');
        case 'cancelUnknown':
          return r('-2011', 'Unknown order sent.');
        case 'triggerMissing':
          return r('-1102', "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.");
        case 'stopWouldTrigger':
          return r('-2010', 'Stop price would trigger immediately.');
      }
      break;
    case 'kraken-spot':
      switch (why) {
        case 'unknownSymbol':
          return r('EQuery:Unknown asset pair', 'EQuery:Unknown asset pair');
        case 'priceMissing':
          return r('EGeneral:Invalid arguments:price', 'EGeneral:Invalid arguments:price');
        case 'priceNotAllowed':
        case 'badCombination':
          return r('EGeneral:Invalid arguments', 'EGeneral:Invalid arguments');
        case 'pricePrecision':
        case 'priceOffTick':
          return r('EOrder:Tick size check failed', 'EOrder:Tick size check failed');
        case 'priceTooLow':
        case 'priceTooHigh':
          return r('EOrder:Invalid price', 'EOrder:Invalid price');
        case 'qtyPrecision':
        case 'qtyOffStep':
        case 'qtyNonPositive':
        case 'qtyTooLarge':
          return r('EGeneral:Invalid arguments:volume', 'EGeneral:Invalid arguments:volume');
        case 'qtyTooSmall':
          return r('EOrder:Order minimum not met', 'EOrder:Order minimum not met');
        case 'minNotional':
          return r('EOrder:Cost minimum not met', 'EOrder:Cost minimum not met');
        case 'duplicateClientId':
          return r('EOrder:Duplicate cl_ord_id', 'EOrder:Duplicate cl_ord_id');
        case 'reduceOnlyWouldIncrease':
        case 'reduceOnlyUnsupported':
          return r('EOrder:Reduce only:No position exists', 'EOrder:Reduce only:No position exists');
        case 'postOnlyWouldTake':
          return r('EOrder:Post only order', 'EOrder:Post only order');
        case 'iocWouldNotExecute':
          return r('EOrder:Post only order', 'EOrder:Post only order'); // unused
        case 'insufficientFunds':
          return r('EOrder:Insufficient funds', 'EOrder:Insufficient funds');
        case 'cancelUnknown':
          return r('EOrder:Unknown order', 'EOrder:Unknown order');
        case 'triggerMissing':
          return r('EGeneral:Invalid arguments:triggers', 'EGeneral:Invalid arguments:triggers');
        case 'stopWouldTrigger':
          return r('EOrder:Invalid price', 'EOrder:Invalid price'); // unused: Kraken triggers at once
      }
      break;
    case 'kraken-futures':
      switch (why) {
        case 'unknownSymbol':
          return r('marketInactive', 'the order was not placed because the market is inactive');
        case 'priceMissing':
        case 'pricePrecision':
        case 'priceOffTick':
        case 'priceTooLow':
        case 'priceTooHigh':
          return r(
            'invalidPrice',
            'the order was not placed because limitPrice and/or stopPrice are invalid',
          );
        case 'priceNotAllowed':
        case 'badCombination':
          return r('invalidOrderType', 'the order was not placed because orderType is invalid');
        case 'qtyPrecision':
        case 'qtyOffStep':
        case 'qtyNonPositive':
        case 'qtyTooSmall':
        case 'qtyTooLarge':
        case 'minNotional':
          return r('invalidSize', 'the order was not placed because size is invalid');
        case 'duplicateClientId':
          return r('clientOrderIdAlreadyExist', 'the specified client id already exist');
        case 'reduceOnlyWouldIncrease':
        case 'reduceOnlyUnsupported':
          return r('wouldNotReducePosition', 'the reduce only order would not reduce position');
        case 'postOnlyWouldTake':
          return r(
            'postWouldExecute',
            'the post-only order would be filled upon placement, thus is cancelled',
          );
        case 'iocWouldNotExecute':
          return r('iocWouldNotExecute', 'the immediate-or-cancel order would not execute');
        case 'insufficientFunds':
          return r(
            'insufficientAvailableFunds',
            'the order was not placed because available funds are insufficient',
          );
        case 'cancelUnknown':
          return r('notFound', 'the order was not found');
        case 'triggerMissing':
        case 'stopWouldTrigger': // unused: Kraken triggers at once
          return r(
            'invalidPrice',
            'the order was not placed because limitPrice and/or stopPrice are invalid',
          );
      }
      break;
  }
  throw new Error(`no reject code for ${venue} ${why}`);
}

/**
 * Venue decimal text of a price and a quantity → ticks and lots, or the venue's reject for text
 * off the grid (for the protocol layer, before `place`): more decimals than the grid's scale is a
 * precision error (Binance -1111), a value with valid decimals but not a multiple of the step is a
 * tick/step error (-4014/-4023 futures, -1013 filter failures on spot).
 */
export function parseOrderAmounts(
  spec: SimInstrumentSpec,
  priceText: string | undefined,
  qtyText: string,
): { priceTicks: number | undefined; qtyLots: number } | { reject: SimReject } {
  const one = (
    text: string,
    grid: Grid,
    precision: RejectReason,
    offGrid: RejectReason,
    nonPositive: RejectReason,
  ): number | SimReject => {
    if (/^-/.test(text)) return rejectFor(spec.venue, nonPositive);
    if (!/^\d+(\.\d+)?$/.test(text)) return rejectFor(spec.venue, offGrid);
    const frac = decimalsOf(text);
    if (frac > grid.scale && !/^0*$/.test(text.slice(text.length - (frac - grid.scale))))
      return rejectFor(spec.venue, precision);
    try {
      return toSteps(text, grid);
    } catch (err) {
      if (err instanceof DataError) return rejectFor(spec.venue, offGrid);
      throw err;
    }
  };
  let priceTicks: number | undefined;
  if (priceText !== undefined) {
    const p = one(priceText, spec.price, 'pricePrecision', 'priceOffTick', 'priceTooLow');
    if (typeof p !== 'number') return { reject: p };
    priceTicks = p;
  }
  const q = one(qtyText, spec.qty, 'qtyPrecision', 'qtyOffStep', 'qtyNonPositive');
  if (typeof q !== 'number') return { reject: q };
  return { priceTicks, qtyLots: q };
}

// ------------------------------------------------------------------------------------ ids

function binanceId(n: number): string {
  return String(8_000_000_000 + n);
}

/** Kraken spot style "OQCLML-BW3P3-BUCMWZ": prefix + base-36 counter, 6-5-6. */
function krakenSpotId(prefix: 'O' | 'T', n: number): string {
  const s = n.toString(36).toUpperCase().padStart(16, '0');
  return `${prefix}${s.slice(0, 5)}-${s.slice(5, 10)}-${s.slice(10, 16)}`;
}

/** A UUID v4-shaped id from a counter (Kraken Futures order_id and fill_id). */
function uuidId(kind: number, n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${hex}`;
}

function orderIdFor(venue: VenueId, n: number): string {
  if (venue === 'kraken-spot') return krakenSpotId('O', n);
  if (venue === 'kraken-futures') return uuidId(0x51a0, n);
  return binanceId(n);
}

function tradeIdFor(venue: VenueId, n: number): string {
  if (venue === 'kraken-spot') return krakenSpotId('T', n);
  if (venue === 'kraken-futures') return uuidId(0xf111, n);
  return String(n);
}

// ------------------------------------------------------------------------------------ engine

interface OrderState {
  readonly seq: number;
  readonly orderId: string;
  readonly request: SimOrderRequest;
  readonly spec: SimInstrumentSpec;
  status: SimOrderStatus;
  filledLots: number;
  filledTickLots: bigint;
  cumNotional: Money;
  readonly fills: SimFill[];
  readonly createdTs: number;
  updatedTs: number;
  reason: SimDoneReason | undefined;
  /** False while a stop order waits for its trigger. */
  triggered: boolean;
}

interface ShadowLevel {
  /** The level's quantity when we (last) took from it. */
  readonly seen: number;
  /** Lots we have taken from it since. */
  used: number;
}

interface Take {
  readonly price: number;
  readonly qty: number;
}

const ZERO = new Money(0);
const OPEN: ReadonlySet<SimOrderStatus> = new Set<SimOrderStatus>(['NEW', 'PARTIALLY_FILLED']);

export class MatchingEngine {
  readonly accounts: SimAccounts;
  private readonly instruments: ReadonlyMap<string, SimInstrumentSpec>;
  private readonly onOrderUpdate: ((order: SimOrder, fill: SimFill | null) => void) | undefined;
  private nextOrder = 1;
  private nextTrade = 1;
  private readonly byId = new Map<string, OrderState>();
  /** Open orders per instrument key, in arrival order. */
  private readonly open = new Map<string, Map<number, OrderState>>();
  /** account, venue, client id → every order that used it, oldest first. */
  private readonly byClient = new Map<string, OrderState[]>();
  /** Instrument key → level key (+price bid, −price ask) → what we took. */
  private readonly shadow = new Map<string, Map<number, ShadowLevel>>();

  constructor(opts: MatchingEngineOptions) {
    this.instruments = opts.instruments;
    this.accounts = opts.accounts instanceof SimAccounts ? opts.accounts : new SimAccounts(opts.accounts);
    this.onOrderUpdate = opts.onOrderUpdate;
  }

  instrument(venue: VenueId, symbol: string): SimInstrumentSpec | undefined {
    return this.instruments.get(instrumentKey(venue, symbol));
  }

  // ---------------------------------------------------------------------------------- placing

  place(req: SimOrderRequest, book: L2Book): PlaceResult {
    const venue = req.venue;
    const spec = this.instrument(venue, req.symbol);
    if (!spec) return { reject: rejectFor(venue, 'unknownSymbol') };
    const invalid = this.validate(req, spec);
    if (invalid) return { reject: invalid };
    if (this.openByClientId(req.account, venue, req.symbol, req.clientOrderId))
      return { reject: rejectFor(venue, 'duplicateClientId') };

    const position = this.accounts.positionLots(req.account, venue, req.symbol);
    const sign = req.side === 'buy' ? 1 : -1;
    let maxFill = req.qtyLots;
    if (req.reduceOnly) {
      if (spec.spot) return { reject: rejectFor(venue, 'reduceOnlyUnsupported') };
      if (position === 0 || Math.sign(position) === sign)
        return { reject: rejectFor(venue, 'reduceOnlyWouldIncrease') };
      maxFill = Math.min(maxFill, Math.abs(position));
    }

    const stop = isStopType(req.type);
    const limit = req.type === 'limit' || req.type === 'stop-limit' ? (req.priceTicks as number) : null;
    const key = instrumentKey(venue, req.symbol);
    // A stop takes nothing when placed; it waits for its trigger (see onBookChange).
    const plan = stop ? [] : this.plan(key, book, req.side, limit, maxFill);
    if (stop && triggeredBy(req, book) && venue.startsWith('binance'))
      return { reject: rejectFor(venue, 'stopWouldTrigger') };

    // Minimum notional: the limit price, or for a market order the best opposite price (the
    // venues use a mark or average price; the touch is this simulator's stand-in); a stop-market
    // is valued at its trigger.
    if (spec.minNotional.gt(0) && !(req.reduceOnly && venue === 'binance-futures')) {
      const ref =
        limit ?? (stop ? (req.triggerTicks as number) : req.side === 'buy' ? book.bestAsk() : book.bestBid());
      if (ref === ref && notionalQuote(spec, ref, req.qtyLots).lt(spec.minNotional))
        return { reject: rejectFor(venue, 'minNotional', { notional: spec.minNotional.toFixed() }) };
    }

    const funds = this.checkFunds(req, spec, plan, position);
    if (funds) return { reject: funds };

    if (req.timeInForce === 'POST_ONLY' && plan.length > 0)
      return { reject: rejectFor(venue, 'postOnlyWouldTake') };
    if (venue === 'kraken-futures' && req.type === 'limit' && req.timeInForce === 'IOC' && plan.length === 0)
      return { reject: rejectFor(venue, 'iocWouldNotExecute') };

    const seq = this.nextOrder++;
    const order: OrderState = {
      seq,
      orderId: orderIdFor(venue, seq),
      request: req,
      spec,
      status: 'NEW',
      filledLots: 0,
      filledTickLots: 0n,
      cumNotional: ZERO,
      fills: [],
      createdTs: req.ts,
      updatedTs: req.ts,
      reason: undefined,
      triggered: !stop,
    };
    this.byId.set(order.orderId, order);
    const ck = clientKey(req.account, venue, req.clientOrderId);
    const same = this.byClient.get(ck);
    if (same) same.push(order);
    else this.byClient.set(ck, [order]);
    this.emit(order, null);

    const fills: SimFill[] = [];
    const shadow = this.shadowOf(key);
    const levels = req.side === 'buy' ? book.asks : book.bids;
    for (const t of plan) {
      consume(shadow, levels, t.price, t.qty);
      fills.push(this.fill(order, t.price, t.qty, 'taker', req.ts));
    }

    const rest = req.qtyLots - order.filledLots;
    if (stop) {
      this.rest(key, order);
      // Kraken accepts a stop whose trigger the market has already reached and triggers it at once.
      if (triggeredBy(req, book)) this.trigger(order, book, req.ts);
    } else if (rest > 0) {
      if (req.reduceOnly && this.reducible(order) === 0) {
        // Capped at the position, which these fills closed: nothing is left to reduce.
        this.finish(order, 'EXPIRED', 'reduce-only', req.ts);
      } else if (req.type === 'market' || req.timeInForce === 'IOC') {
        this.finish(order, 'EXPIRED', req.type === 'market' ? 'market' : 'ioc', req.ts);
      } else {
        this.rest(key, order);
      }
    }
    if (fills.length > 0) this.expireReduceOnly(req.account, venue, req.symbol, req.ts);
    return { order: snapshot(order), fills };
  }

  private rest(key: string, order: OrderState): void {
    let m = this.open.get(key);
    if (!m) this.open.set(key, (m = new Map<number, OrderState>()));
    m.set(order.seq, order);
    this.updateLock(order);
  }

  /** Static checks: prices and quantities against the grids and filters. */
  private validate(req: SimOrderRequest, spec: SimInstrumentSpec): SimReject | null {
    const v = req.venue;
    const binance = v.startsWith('binance');
    if (req.type !== 'limit' && req.timeInForce === 'POST_ONLY') return rejectFor(v, 'badCombination');
    if (isStopType(req.type)) {
      const t = req.triggerTicks;
      if (t === undefined || !Number.isFinite(t)) return rejectFor(v, 'triggerMissing');
      if (!Number.isInteger(t)) return rejectFor(v, 'priceOffTick');
      if (t < (spec.minPriceTicks ?? 1)) return rejectFor(v, 'priceTooLow');
      if (spec.maxPriceTicks != null && t > spec.maxPriceTicks) return rejectFor(v, 'priceTooHigh');
      if (req.timeInForce === 'IOC') return rejectFor(v, 'badCombination');
    } else if (req.triggerTicks !== undefined) {
      return rejectFor(v, 'badCombination');
    }
    if (req.type === 'limit' || req.type === 'stop-limit') {
      const p = req.priceTicks;
      if (p === undefined || !Number.isFinite(p)) return rejectFor(v, 'priceMissing');
      if (!Number.isInteger(p)) return rejectFor(v, 'priceOffTick');
      if (p < (spec.minPriceTicks ?? 1)) return rejectFor(v, 'priceTooLow');
      if (spec.maxPriceTicks != null && p > spec.maxPriceTicks) return rejectFor(v, 'priceTooHigh');
    } else if (req.priceTicks !== undefined && binance) {
      return rejectFor(v, 'priceNotAllowed');
    }
    const q = req.qtyLots;
    if (!Number.isFinite(q) || q <= 0) return rejectFor(v, 'qtyNonPositive');
    if (!Number.isInteger(q)) return rejectFor(v, 'qtyOffStep');
    if (q < spec.minQtyLots) return rejectFor(v, 'qtyTooSmall');
    const max = req.type === 'market' ? (spec.maxMarketQtyLots ?? spec.maxQtyLots) : spec.maxQtyLots;
    if (max !== null && q > max) return rejectFor(v, 'qtyTooLarge');
    return null;
  }

  /**
   * Spot: a buy needs free quote for notional + fee at the worst rate (a market buy: what the sweep
   * would cost), a sell needs free base. Futures: initial margin for the part that increases the
   * position, at the limit price (market: the worst price the sweep reaches).
   */
  private checkFunds(
    req: SimOrderRequest,
    spec: SimInstrumentSpec,
    plan: readonly Take[],
    position: number,
  ): SimReject | null {
    const { account, venue } = req;
    const limitLike = req.type === 'limit' || req.type === 'stop-limit';
    if (spec.spot) {
      if (req.side === 'sell') {
        const need = new Money(fromSteps(req.qtyLots, spec.qty));
        return this.accounts.free(account, venue, spec.base).lt(need)
          ? rejectFor(venue, 'insufficientFunds')
          : null;
      }
      let need: Money;
      if (limitLike || req.type === 'stop-market') {
        const at = req.type === 'stop-market' ? (req.triggerTicks as number) : (req.priceTicks as number);
        need = notionalQuote(spec, at, req.qtyLots).times(worstRate(spec).plus(1));
      } else {
        need = ZERO;
        for (const t of plan) need = need.plus(notionalQuote(spec, t.price, t.qty));
        need = need.times(new Money(spec.takerFee).plus(1));
      }
      return this.accounts.free(account, venue, spec.quote).lt(need)
        ? rejectFor(venue, 'insufficientFunds')
        : null;
    }
    if (req.reduceOnly) return null;
    const sign = req.side === 'buy' ? 1 : -1;
    const increasing =
      position === 0 || Math.sign(position) === sign
        ? req.qtyLots
        : Math.max(0, req.qtyLots - Math.abs(position));
    if (increasing === 0) return null;
    const ref = limitLike
      ? (req.priceTicks as number)
      : req.type === 'stop-market'
        ? (req.triggerTicks as number)
        : plan[plan.length - 1]?.price;
    if (ref === undefined) return null; // a market order with nothing to take: it will just expire
    const need = settleNotional(spec, ref, increasing).div(this.accounts.leverage);
    return this.accounts.free(account, venue, spec.settle).lt(need)
      ? rejectFor(venue, 'insufficientFunds')
      : null;
  }

  /** What a taker would get now, level by level, without taking it. */
  private plan(key: string, book: L2Book, side: OrderSide, limit: number | null, maxLots: number): Take[] {
    const levels = side === 'buy' ? book.asks : book.bids;
    const shadow = this.shadow.get(key);
    const out: Take[] = [];
    let left = maxLots;
    for (let i = 0; i < levels.depth && left > 0; i++) {
      const price = levels.priceAt(i);
      if (limit !== null && (side === 'buy' ? price > limit : price < limit)) break;
      const avail = available(shadow, levels, price, levels.qtyAt(i));
      if (avail <= 0) continue;
      const qty = Math.min(avail, left);
      out.push({ price, qty });
      left -= qty;
    }
    return out;
  }

  // ---------------------------------------------------------------------------------- the market moves

  /**
   * The market's book changed: drops the shadow of levels that changed, then fills resting orders
   * the book now crosses, as maker at their own limit price (bids best-first, then asks; oldest
   * first at a price). Returns the fills in the order they happened.
   */
  onBookChange(venue: VenueId, symbol: string, book: L2Book, ts: number): SimFill[] {
    const key = instrumentKey(venue, symbol);
    const shadow = this.shadow.get(key);
    if (shadow) {
      for (const [k, s] of shadow) {
        const side = k > 0 ? book.bids : book.asks;
        if (side.qtyAtPrice(Math.abs(k)) !== s.seen) shadow.delete(k);
      }
    }
    const open = this.open.get(key);
    if (!open || open.size === 0) return [];
    const fills: SimFill[] = [];
    // Stops first, oldest first: each one the book has reached triggers and takes as a taker.
    for (const o of [...open.values()]) {
      if (!o.triggered && OPEN.has(o.status) && triggeredBy(o.request, book))
        fills.push(...this.trigger(o, book, ts));
    }
    for (const side of ['buy', 'sell'] as const) {
      const orders = [...open.values()]
        .filter((o) => o.request.side === side && o.triggered)
        .sort((a, b) => {
          const pa = a.request.priceTicks as number;
          const pb = b.request.priceTicks as number;
          return pa !== pb ? (side === 'buy' ? pb - pa : pa - pb) : a.seq - b.seq;
        });
      const levels = side === 'buy' ? book.asks : book.bids;
      for (const o of orders) {
        if (!OPEN.has(o.status)) continue; // expired by an earlier fill of a reduce-only sibling
        let left = o.request.qtyLots - o.filledLots;
        if (o.request.reduceOnly) left = Math.min(left, this.reducible(o));
        if (left <= 0) continue;
        const plan = this.plan(key, book, side, o.request.priceTicks as number, left);
        if (plan.length === 0) continue;
        let qty = 0;
        const sh = this.shadowOf(key);
        for (const t of plan) {
          consume(sh, levels, t.price, t.qty);
          qty += t.qty;
        }
        fills.push(this.fill(o, o.request.priceTicks as number, qty, 'maker', ts));
        this.expireReduceOnly(o.request.account, venue, symbol, ts);
      }
    }
    return fills;
  }

  /**
   * A stop the market reached: from now on it is a market order (stop-market) or a GTC limit at its
   * price (stop-limit). It takes what the book offers now (reduce-only capped at the position); a
   * stop-market's remainder expires, a stop-limit's rests.
   */
  private trigger(o: OrderState, book: L2Book, ts: number): SimFill[] {
    const req = o.request;
    o.triggered = true;
    o.updatedTs = ts;
    this.emit(o, null);
    const key = instrumentKey(req.venue, req.symbol);
    let left = req.qtyLots - o.filledLots;
    if (req.reduceOnly) left = Math.min(left, this.reducible(o));
    const limit = req.type === 'stop-limit' ? (req.priceTicks as number) : null;
    const plan = left > 0 ? this.plan(key, book, req.side, limit, left) : [];
    const fills: SimFill[] = [];
    const shadow = this.shadowOf(key);
    const levels = req.side === 'buy' ? book.asks : book.bids;
    for (const t of plan) {
      consume(shadow, levels, t.price, t.qty);
      fills.push(this.fill(o, t.price, t.qty, 'taker', ts));
    }
    if (OPEN.has(o.status)) {
      if (req.reduceOnly && this.reducible(o) === 0) this.finish(o, 'EXPIRED', 'reduce-only', ts);
      else if (req.type === 'stop-market') this.finish(o, 'EXPIRED', 'market', ts);
      else this.updateLock(o);
    }
    if (fills.length > 0) this.expireReduceOnly(req.account, req.venue, req.symbol, ts);
    return fills;
  }

  // ---------------------------------------------------------------------------------- fills and state

  private fill(o: OrderState, price: number, qty: number, liquidity: 'maker' | 'taker', ts: number): SimFill {
    const { spec, request: req } = o;
    const notional = settleNotional(spec, price, qty);
    const fee = notional.times(new Money(liquidity === 'maker' ? spec.makerFee : spec.takerFee));
    const f: SimFill = {
      tradeId: tradeIdFor(req.venue, this.nextTrade++),
      orderId: o.orderId,
      clientOrderId: req.clientOrderId,
      account: req.account,
      venue: req.venue,
      symbol: req.symbol,
      side: req.side,
      priceTicks: price,
      qtyLots: qty,
      liquidity,
      notional: notional.toFixed(),
      fee: fee.toFixed(),
      feeAsset: spec.settle,
      ts,
    };
    this.accounts.applyFill(req.account, spec, req.side, qty, notional, fee);
    o.filledLots += qty;
    o.filledTickLots += BigInt(price) * BigInt(qty);
    o.cumNotional = o.cumNotional.plus(notional);
    o.fills.push(f);
    o.status = o.filledLots === req.qtyLots ? 'FILLED' : 'PARTIALLY_FILLED';
    o.updatedTs = ts;
    if (o.status === 'FILLED') this.open.get(instrumentKey(req.venue, req.symbol))?.delete(o.seq);
    this.updateLock(o);
    this.emit(o, f);
    return f;
  }

  /** Lots a reduce-only order may still fill: the opposite position, or 0. */
  private reducible(o: OrderState): number {
    const pos = this.accounts.positionLots(o.request.account, o.request.venue, o.request.symbol);
    const sign = o.request.side === 'buy' ? 1 : -1;
    return pos !== 0 && Math.sign(pos) !== sign ? Math.abs(pos) : 0;
  }

  /** Resting reduce-only orders of a flat (or same-side) position have nothing left to reduce. */
  private expireReduceOnly(account: string, venue: VenueId, symbol: string, ts: number): void {
    const open = this.open.get(instrumentKey(venue, symbol));
    if (!open) return;
    for (const o of [...open.values()]) {
      if (o.request.account === account && o.request.reduceOnly && this.reducible(o) === 0)
        this.finish(o, 'EXPIRED', 'reduce-only', ts);
    }
  }

  private finish(o: OrderState, status: 'CANCELED' | 'EXPIRED', reason: SimDoneReason, ts: number): void {
    o.status = status;
    o.reason = reason;
    o.updatedTs = ts;
    this.open.get(instrumentKey(o.request.venue, o.request.symbol))?.delete(o.seq);
    this.updateLock(o);
    this.emit(o, null);
  }

  /** What an open order holds: spot funds for its remainder, or futures initial margin. */
  private updateLock(o: OrderState): void {
    const { spec, request: req } = o;
    const rest = req.qtyLots - o.filledLots;
    let asset = spec.settle;
    let amount = ZERO;
    if (OPEN.has(o.status) && rest > 0 && req.type !== 'market') {
      // A stop-market holds funds as if it were a limit at its trigger.
      const price = (req.type === 'stop-market' ? req.triggerTicks : req.priceTicks) as number;
      if (spec.spot && req.side === 'sell') {
        asset = spec.base;
        amount = new Money(fromSteps(rest, spec.qty));
      } else if (spec.spot) {
        asset = spec.quote;
        amount = notionalQuote(spec, price, rest).times(worstRate(spec).plus(1));
      } else if (!req.reduceOnly) {
        amount = settleNotional(spec, price, rest).div(this.accounts.leverage);
      }
    }
    this.accounts.setLock(req.account, req.venue, o.orderId, asset, amount);
  }

  private emit(o: OrderState, f: SimFill | null): void {
    this.onOrderUpdate?.(snapshot(o), f);
  }

  private shadowOf(key: string): Map<number, ShadowLevel> {
    let s = this.shadow.get(key);
    if (!s) this.shadow.set(key, (s = new Map<number, ShadowLevel>()));
    return s;
  }

  // ---------------------------------------------------------------------------------- queries, cancels

  private openByClientId(
    account: string,
    venue: VenueId,
    symbol: string,
    clientOrderId: string,
  ): OrderState | undefined {
    const list = this.byClient.get(clientKey(account, venue, clientOrderId));
    if (!list) return undefined;
    // Binance scopes client ids by symbol (its queries need one); Kraken by account.
    const bySymbol = venue.startsWith('binance');
    return list.find((o) => OPEN.has(o.status) && (!bySymbol || o.request.symbol === symbol));
  }

  private find(account: string, venue: VenueId, sel: OrderSelector, symbol?: string): OrderState | undefined {
    if (sel.orderId !== undefined) {
      const o = this.byId.get(sel.orderId);
      if (!o || o.request.account !== account || o.request.venue !== venue) return undefined;
      if (symbol !== undefined && o.request.symbol !== symbol) return undefined;
      if (sel.clientOrderId !== undefined && o.request.clientOrderId !== sel.clientOrderId) return undefined;
      return o;
    }
    if (sel.clientOrderId === undefined) return undefined;
    const list = (this.byClient.get(clientKey(account, venue, sel.clientOrderId)) ?? []).filter(
      (o) => symbol === undefined || o.request.symbol === symbol,
    );
    return list.find((o) => OPEN.has(o.status)) ?? list[list.length - 1];
  }

  /**
   * Cancels one open order. A filled, cancelled or expired order, or an unknown one, is the venue's
   * "unknown order" reject (Binance -2011, Kraken spot EOrder:Unknown order, Kraken Futures notFound).
   */
  cancel(
    account: string,
    venue: VenueId,
    symbol: string | undefined,
    sel: OrderSelector,
    ts?: number,
  ): SimOrder | { reject: SimReject } {
    const o = this.find(account, venue, sel, symbol);
    if (!o || !OPEN.has(o.status)) return { reject: rejectFor(venue, 'cancelUnknown') };
    this.finish(o, 'CANCELED', 'canceled', ts ?? o.updatedTs);
    return snapshot(o);
  }

  /**
   * Cancels every open order of the account on the venue (or one symbol); returns them. `which`
   * narrows it to untriggered stops or to everything else (Binance USD-M keeps stops in a separate
   * Algo Service with its own cancel-all).
   */
  cancelAll(
    account: string,
    venue: VenueId,
    symbol?: string,
    ts?: number,
    which: 'all' | 'stops' | 'non-stops' = 'all',
  ): SimOrder[] {
    const out: SimOrder[] = [];
    for (const o of this.openOrdersState(account, venue, symbol)) {
      const untriggeredStop = isStopType(o.request.type) && !o.triggered;
      if ((which === 'stops' && !untriggeredStop) || (which === 'non-stops' && untriggeredStop)) continue;
      this.finish(o, 'CANCELED', 'canceled', ts ?? o.updatedTs);
      out.push(snapshot(o));
    }
    return out;
  }

  private openOrdersState(account: string, venue: VenueId, symbol?: string): OrderState[] {
    const out: OrderState[] = [];
    for (const m of this.open.values()) {
      for (const o of m.values()) {
        if (o.request.account !== account || o.request.venue !== venue) continue;
        if (symbol !== undefined && o.request.symbol !== symbol) continue;
        out.push(o);
      }
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Open orders, oldest first. */
  openOrders(account: string, venue: VenueId, symbol?: string): SimOrder[] {
    return this.openOrdersState(account, venue, symbol).map(snapshot);
  }

  /** Any order, open or done, by venue id or client id (the open one first, else the latest). */
  order(account: string, venue: VenueId, sel: OrderSelector, symbol?: string): SimOrder | undefined {
    const o = this.find(account, venue, sel, symbol);
    return o ? snapshot(o) : undefined;
  }

  /** Every client order id an account has used on a venue (tests: no duplicate ever reached it). */
  clientOrderIds(account: string, venue: VenueId): string[] {
    const prefix = clientKey(account, venue, '');
    return [...this.byClient.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** Every order ever placed with this client id (tests prove no duplicate reached the venue). */
  ordersByClientId(account: string, venue: VenueId, clientOrderId: string): SimOrder[] {
    return (this.byClient.get(clientKey(account, venue, clientOrderId)) ?? []).map(snapshot);
  }

  positions(account: string, venue: VenueId): SimPosition[] {
    return this.accounts.positions(account, venue);
  }

  balances(account: string, venue: VenueId): SimBalance[] {
    return this.accounts.balances(account, venue);
  }
}

// ------------------------------------------------------------------------------------ helpers

function clientKey(account: string, venue: VenueId, clientOrderId: string): string {
  return `${account}\u0000${venue}\u0000${clientOrderId}`;
}

function levelKey(levels: BookSide, price: number): number {
  return levels.isBid ? price : -price;
}

/** The displayed quantity at a level minus what we took since it last changed. */
function available(
  shadow: Map<number, ShadowLevel> | undefined,
  levels: BookSide,
  price: number,
  displayed: number,
): number {
  const s = shadow?.get(levelKey(levels, price));
  if (!s) return displayed;
  if (s.seen !== displayed) {
    shadow?.delete(levelKey(levels, price));
    return displayed;
  }
  return displayed - s.used;
}

function consume(shadow: Map<number, ShadowLevel>, levels: BookSide, price: number, qty: number): void {
  const k = levelKey(levels, price);
  const displayed = levels.qtyAtPrice(price);
  const s = shadow.get(k);
  if (s && s.seen === displayed) s.used += qty;
  else shadow.set(k, { seen: displayed, used: qty });
}

/** price × qty × contract size in quote (for filters and spot funds), exact. */
function notionalQuote(spec: SimInstrumentSpec, priceTicks: number, qtyLots: number): Money {
  return new Money(fromSteps(priceTicks, spec.price))
    .times(new Money(fromSteps(qtyLots, spec.qty)))
    .times(spec.contractSize);
}

/** Notional in the settlement asset: quote for linear/spot, qty × contract size / price for inverse. */
function settleNotional(spec: SimInstrumentSpec, priceTicks: number, qtyLots: number): Money {
  if (!spec.inverse) return notionalQuote(spec, priceTicks, qtyLots);
  return new Money(fromSteps(qtyLots, spec.qty))
    .times(spec.contractSize)
    .div(new Money(fromSteps(priceTicks, spec.price)))
    .toDecimalPlaces(DIVISION_DP);
}

function worstRate(spec: SimInstrumentSpec): Money {
  return Money.max(new Money(spec.makerFee), new Money(spec.takerFee), ZERO);
}

function snapshot(o: OrderState): SimOrder {
  return {
    orderId: o.orderId,
    request: o.request,
    status: o.status,
    filledLots: o.filledLots,
    avgPriceTicks: o.filledLots === 0 ? 0 : Number(o.filledTickLots) / o.filledLots,
    cumNotional: o.cumNotional.toFixed(),
    fills: [...o.fills],
    createdTs: o.createdTs,
    updatedTs: o.updatedTs,
    reason: o.reason,
    triggered: o.triggered,
  };
}

/**
 * Whether the book has reached a stop's trigger: a sell stop when the best bid is at or below it,
 * a buy stop when the best ask is at or above it. (The venues trigger on the last trade or the
 * mark price; the touch is this simulator's stand-in, as for minimum notional.)
 */
function triggeredBy(req: SimOrderRequest, book: L2Book): boolean {
  const t = req.triggerTicks as number;
  if (req.side === 'sell') {
    const bid = book.bestBid();
    return bid > 0 && bid <= t;
  }
  const ask = book.bestAsk();
  return ask > 0 && ask >= t;
}
