/**
 * The pre-trade risk gate. Every order passes `checkOrder` (or, while flattening, `checkFlatten`;
 * a venue-side protective stop, `checkProtectiveStop`) before any venue sees it; there is no other
 * path. Pure: no I/O, no clock (time is `now`), the
 * same inputs always give the same decision, so replay reproduces live.
 *
 * Fail closed: anything the gate cannot establish (a missing symbol in the context, a NaN, a book
 * it cannot read, an unknown funding time) rejects the order. Checks run cheapest first and stop
 * at the first failure; Money is only built for the checks that need it.
 *
 * Boundaries: every cap is inclusive — the configured value itself is allowed (max order notional
 * $10: $10.00 passes, $10.01 does not; a 2000 ms book age passes, 2001 does not; exactly 50 bps
 * from the mid passes). Every trip level is reached inclusively — realized P&L today of exactly
 * -$500 trips the -$500 daily loss limit; the 5th loss in a row trips a limit of 5. Distances that
 * must be kept are inclusive too: exactly 2 % between liquidation and mark passes, and an order
 * exactly 60 s from funding is inside the 60 s window (rejected).
 *
 * Prices an order is valued at. Max notional uses the highest price it can fill at: a buy limit
 * its price, a sell limit the higher of its price and the best bid (a marketable sell fills at
 * the bid or below, never under its limit). Minimum notional uses the price the venue checks:
 * the limit. A market order has no price bound: it is valued at the touch it takes (ask for a
 * buy, bid for a sell) and must fit in the top five levels with the touch inside the price band,
 * but it can still fill a little worse than the touch. Where a cap must hold to the cent, send a
 * marketable limit (IOC) instead: the gate prices those exactly. Positions are valued at the
 * higher of that fill price and the mid (this symbol) or at the mark (the others).
 *
 * Worst case: position limits count every resting order on the symbol as filled, per side
 * (max(|pos + open buys|, |pos − open sells|)), so resting entries cannot stack past a limit.
 */
import { fromSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { Money, stepsToMoney } from '#core/money.ts';
import type { BookView, OrderIntent } from '#core/trading.ts';
import type { AccountState, RiskContext, SymbolRisk, TradingState } from './context.ts';
import { symbolKey } from './context.ts';
import type { AccountLimits, RiskLimits, SymbolLimits } from './limits.ts';
import { symbolLimits } from './limits.ts';
import { notionalAt } from './notional.ts';
import type { RejectReason, RiskAction, RiskCheck, RiskDecision, RiskRejection } from './reasons.ts';
import { reject } from './reasons.ts';

const BPS = 10_000;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const SECOND_MS = 1000;
const MINUTE_MS = 60_000;
const ZERO = new Money(0);
const ONE = new Money(1);
const TWO = new Money(2);
const HUNDRED = new Money(100);

// ---------------------------------------------------------------------------------------------
// Small exact helpers
// ---------------------------------------------------------------------------------------------

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function isFiniteMoney(m: Money | null | undefined): m is Money {
  return m != null && Money.isDecimal(m) && m.isFinite();
}

/** > 0 without a comparison (no allocation): these run for every symbol on every order. */
function isPositiveMoney(m: Money | null | undefined): m is Money {
  return isFiniteMoney(m) && m.isPositive() && !m.isZero();
}

function isNonNegativeMoney(m: Money | null | undefined): m is Money {
  return isFiniteMoney(m) && (m.isZero() || m.isPositive());
}

/**
 * Whether `priceTicks` is within `band` bps of the mid on the aggressive side: for a buy
 * price ≤ mid·(1 + band/10⁴), for a sell price ≥ mid·(1 − band/10⁴). Exact integer arithmetic
 * (mid = (bid + ask) / 2, so both sides are multiplied by 2·10⁴); BigInt only past 2^53.
 */
function withinBand(buy: boolean, priceTicks: number, bid: number, ask: number, band: number): boolean {
  const k = buy ? BPS + band : BPS - band;
  const l = priceTicks * 2 * BPS;
  const r = (bid + ask) * k;
  if (l <= MAX_SAFE && r <= MAX_SAFE) return buy ? l <= r : l >= r;
  const lb = BigInt(priceTicks) * BigInt(2 * BPS);
  const rb = (BigInt(bid) + BigInt(ask)) * BigInt(k);
  return buy ? lb <= rb : lb >= rb;
}

/** The mid price as Money (exact: half of bid + ask ticks). */
function midMoney(instrument: Instrument, bid: number, ask: number): Money {
  const sum = bid + ask <= MAX_SAFE ? bid + ask : BigInt(bid) + BigInt(ask);
  return new Money(fromSteps(sum, instrument.price)).div(TWO);
}

/** The price band edge (the furthest sane price) for the detail of a rejection. */
function bandEdge(mid: Money, buy: boolean, band: number): Money {
  return mid.times(buy ? BPS + band : BPS - band).div(BPS);
}

function px(ticks: number, instrument: Instrument): string {
  return fromSteps(ticks, instrument.price);
}

function lots(n: number, instrument: Instrument): string {
  return fromSteps(n, instrument.qty);
}

/**
 * The gate must answer, never throw: an exception escaping it would leave the caller to guess.
 * Anything unexpected (a malformed input the checks did not foresee) is a rejection and a HALT.
 */
function crashed(err: unknown): RiskRejection {
  const message = err instanceof Error ? err.message : String(err);
  return reject('BAD_CONTEXT', `risk gate could not evaluate its inputs: ${message}`, 'HALT');
}

function halt(detail: string): RiskRejection {
  // The context is our own state: if it is impossible, that is an invariant breach (DESIGN.md §4).
  return reject('BAD_CONTEXT', detail, 'HALT');
}

// ---------------------------------------------------------------------------------------------
// Input validation
// ---------------------------------------------------------------------------------------------

/** The instrument values the gate computes with must be usable, or nothing it computes is. */
function instrumentProblem(i: Instrument): string | null {
  if (!isPositiveMoney(i.contractSize)) return `contractSize ${String(i.contractSize)} is not > 0`;
  if (!isNonNegativeMoney(i.minQty)) return `minQty ${String(i.minQty)} is not >= 0`;
  if (!isNonNegativeMoney(i.minNotional)) return `minNotional ${String(i.minNotional)} is not >= 0`;
  return null;
}

/** A symbol's entry in the context must be internally possible. */
function symbolProblem(s: SymbolRisk, key: string): string | null {
  const p = s.instrument ? instrumentProblem(s.instrument) : 'no instrument';
  if (p !== null) return `${key}: ${p}`;
  if (symbolKey(s.instrument.venue, s.instrument.symbol) !== key)
    return `${key}: holds the instrument of ${s.instrument.venue}:${s.instrument.symbol}`;
  if (!Number.isSafeInteger(s.positionLots))
    return `${key}: positionLots ${s.positionLots} is not an integer`;
  if (!isCount(s.openBuyOrders) || !isCount(s.openSellOrders))
    return `${key}: open order counts are not counts`;
  if (!isCount(s.openBuyLots) || !isCount(s.openSellLots)) return `${key}: open order lots are not counts`;
  if (!isPositiveMoney(s.markPrice)) return `${key}: markPrice ${String(s.markPrice)} is not > 0`;
  if (s.positionLots !== 0 && !isPositiveMoney(s.avgEntryPrice))
    return `${key}: avgEntryPrice ${String(s.avgEntryPrice)} is not > 0 on a non-flat position`;
  if (!s.instrument.shortable && s.positionLots < 0)
    return `${key}: short position ${s.positionLots} lots on an instrument that cannot be shorted`;
  if (s.leverage !== null && (!isFiniteMoney(s.leverage) || s.leverage.lt(ONE)))
    return `${key}: leverage ${String(s.leverage)} is not >= 1`;
  if (s.instrument.kind !== 'spot' && s.leverage === null)
    return `${key}: derivative without a leverage setting`;
  const worst = Math.max(Math.abs(s.positionLots + s.openBuyLots), Math.abs(s.positionLots - s.openSellLots));
  if (!Number.isSafeInteger(worst) || !Number.isSafeInteger(s.openBuyLots + s.openSellLots))
    return `${key}: position and open lots overflow`;
  return null;
}

function accountProblem(a: AccountState): string | null {
  if (!isFiniteMoney(a.equity)) return `equity ${String(a.equity)} is not a finite amount`;
  if (!isFiniteMoney(a.peakEquity)) return `peakEquity ${String(a.peakEquity)} is not a finite amount`;
  if (!isFiniteMoney(a.realizedPnlToday))
    return `realizedPnlToday ${String(a.realizedPnlToday)} is not a finite amount`;
  if (!isCount(a.consecutiveLosses)) return `consecutiveLosses ${a.consecutiveLosses} is not a count`;
  return null;
}

/*
 * Trip levels. Daily loss and drawdown mean the strategy or the market is not what we think:
 * KILL (cancel all and flatten). A run of losses is weaker evidence: HALT and let a human look.
 */

function dailyLossTrip(a: AccountState, al: AccountLimits): RiskRejection | null {
  if (!a.realizedPnlToday.lte(al.dailyLossLimit)) return null;
  return reject(
    'DAILY_LOSS',
    `realized P&L today ${a.realizedPnlToday.toString()} reached the daily loss limit ${al.dailyLossLimit.toString()}`,
    'KILL',
  );
}

function drawdownTrip(a: AccountState, al: AccountLimits): RiskRejection | null {
  const drawdown = a.equity.minus(a.peakEquity);
  if (!drawdown.lte(al.maxDrawdown)) return null;
  return reject(
    'DRAWDOWN',
    `equity ${a.equity.toString()} is ${drawdown.toString()} from peak ${a.peakEquity.toString()}, reaching the drawdown limit ${al.maxDrawdown.toString()}`,
    'KILL',
  );
}

function consecutiveLossTrip(a: AccountState, al: AccountLimits): RiskRejection | null {
  if (a.consecutiveLosses < al.maxConsecutiveLosses) return null;
  return reject(
    'CONSECUTIVE_LOSSES',
    `${a.consecutiveLosses} losses in a row reached the limit ${al.maxConsecutiveLosses}`,
    'HALT',
  );
}

/**
 * The order must be what it claims to be, for the instrument and book it was decided on. Stop
 * orders are only valid where `stops` says so (the protective-stop path); everywhere else an order
 * acts now (market or limit).
 */
function shapeProblem(
  intent: OrderIntent,
  instrument: Instrument,
  book: BookView,
  now: number,
  stops = false,
): RiskRejection | null {
  if (!Number.isFinite(now)) return halt(`now ${now} is not a time`);
  const ip = instrumentProblem(instrument);
  if (ip !== null) return halt(`instrument ${instrument.venue}:${instrument.symbol}: ${ip}`);
  if (intent.venue !== instrument.venue || intent.symbol !== instrument.symbol)
    return reject(
      'BAD_ORDER',
      `order for ${intent.venue}:${intent.symbol} checked against instrument ${instrument.venue}:${instrument.symbol}`,
    );
  if (book.venue !== intent.venue || book.symbol !== intent.symbol)
    return reject(
      'BAD_ORDER',
      `order for ${intent.venue}:${intent.symbol} checked against the book of ${book.venue}:${book.symbol}`,
    );
  if (intent.side !== 'buy' && intent.side !== 'sell')
    return reject('BAD_ORDER', `side ${String(intent.side)} is not buy or sell`);
  if (!Number.isSafeInteger(intent.qtyLots) || intent.qtyLots <= 0)
    return reject('BAD_QTY', `qty ${intent.qtyLots} lots is not a positive integer number of lots`);
  if (stops) {
    if (intent.type !== 'stop-market' && intent.type !== 'stop-limit')
      return reject('BAD_ORDER', `a protective stop must be a stop order, not ${String(intent.type)}`);
    const t = intent.triggerTicks;
    if (t === undefined || !Number.isSafeInteger(t) || t <= 0)
      return reject('BAD_PRICE', `trigger ${String(t)} ticks is not a positive integer number of ticks`);
    if (intent.timeInForce !== 'GTC')
      return reject('BAD_ORDER', `a protective stop must rest (GTC), not ${String(intent.timeInForce)}`);
    const p = intent.priceTicks;
    if (intent.type === 'stop-market' && p !== undefined)
      return reject('BAD_ORDER', `a stop-market order carries a limit price (${p} ticks)`);
    if (intent.type === 'stop-limit' && (p === undefined || !Number.isSafeInteger(p) || p <= 0))
      return reject(
        'BAD_PRICE',
        `stop-limit price ${String(p)} ticks is not a positive integer number of ticks`,
      );
    return null;
  }
  if (intent.triggerTicks !== undefined)
    return reject(
      'BAD_ORDER',
      `a ${String(intent.type)} order carries a trigger (${intent.triggerTicks} ticks)`,
    );
  if (intent.type === 'limit') {
    const p = intent.priceTicks;
    if (p === undefined || !Number.isSafeInteger(p) || p <= 0)
      return reject('BAD_PRICE', `limit price ${String(p)} ticks is not a positive integer number of ticks`);
  } else if (intent.type === 'market') {
    if (intent.priceTicks !== undefined)
      return reject('BAD_ORDER', `market order carries a price (${intent.priceTicks} ticks)`);
    if (intent.timeInForce === 'POST_ONLY') return reject('BAD_ORDER', 'a market order cannot be post-only');
  } else {
    return reject('BAD_ORDER', `order type ${String(intent.type)} is not market or limit`);
  }
  return null;
}

/**
 * Trade only on a book we trust (DESIGN.md §3): SYNCED, not crossed or locked, both sides present,
 * and updated within the staleness limit of local time. A book timestamped after `now` means the
 * clocks disagree; that is not trusted either.
 */
function bookProblem(book: BookView, now: number, maxAgeMs: number): RiskRejection | null {
  if (book.state !== 'SYNCED') return reject('BOOK_NOT_SYNCED', `book is ${String(book.state)}, not SYNCED`);
  if (book.crossed)
    return reject(
      'BOOK_CROSSED',
      `book is flagged crossed (bid ${book.bestBidTicks}, ask ${book.bestAskTicks} ticks)`,
    );
  const age = now - book.localTs;
  if (!Number.isFinite(age) || age > maxAgeMs || age < 0)
    return reject(
      'BOOK_STALE',
      `book last updated at ${book.localTs}, ${age} ms before now ${now}; limit ${maxAgeMs} ms`,
    );
  const bid = book.bestBidTicks;
  const ask = book.bestAskTicks;
  if (!Number.isSafeInteger(bid) || bid <= 0 || !Number.isSafeInteger(ask) || ask <= 0)
    return reject('BOOK_EMPTY', `book has no usable best bid/ask (bid ${bid}, ask ${ask} ticks)`);
  if (bid >= ask) return reject('BOOK_CROSSED', `best bid ${bid} ticks is at or above best ask ${ask} ticks`);
  return null;
}

/** The venue's own rules on size and price: rejected there anyway, so reject here, first. */
function venueRulesProblem(intent: OrderIntent, instrument: Instrument, qty: Money): RiskRejection | null {
  if (qty.lt(instrument.minQty))
    return reject('BAD_QTY', `qty ${qty.toString()} is below the minimum ${instrument.minQty.toString()}`);
  if (instrument.maxQty !== null && qty.gt(instrument.maxQty))
    return reject('BAD_QTY', `qty ${qty.toString()} is above the maximum ${instrument.maxQty.toString()}`);
  if (intent.type === 'market' && instrument.marketQty !== null) {
    const step = new Money(instrument.marketQty.step);
    if (!qty.mod(step).isZero())
      return reject(
        'BAD_QTY',
        `market qty ${qty.toString()} is not a multiple of the market lot ${instrument.marketQty.step}`,
      );
  }
  const limit = intent.type === 'limit' || intent.type === 'stop-limit' ? intent.priceTicks : undefined;
  return priceRangeProblem(limit, instrument) ?? priceRangeProblem(intent.triggerTicks, instrument);
}

/** A price (limit or trigger; undefined = none) inside the instrument's min/max price. */
function priceRangeProblem(ticks: number | undefined, instrument: Instrument): RiskRejection | null {
  if (ticks === undefined) return null;
  const price = stepsToMoney(ticks, instrument.price);
  if (instrument.minPrice !== null && price.lt(instrument.minPrice))
    return reject(
      'BAD_PRICE',
      `price ${price.toString()} is below the minimum ${instrument.minPrice.toString()}`,
    );
  if (instrument.maxPrice !== null && price.gt(instrument.maxPrice))
    return reject(
      'BAD_PRICE',
      `price ${price.toString()} is above the maximum ${instrument.maxPrice.toString()}`,
    );
  return null;
}

/**
 * Price sanity. A limit price past the mid by more than the band on the aggressive side (a buy
 * above, a sell below) is a fat finger or a bad signal: it would take liquidity far through the
 * book. Passive prices are not limited (they can only fill at their own price or better). A market
 * order has no price, so the book must be usable for it: the touch it takes must itself be within
 * the band (no blown-out spread), and the top five levels it takes from must hold its whole qty.
 */
function priceSanityProblem(
  intent: OrderIntent,
  instrument: Instrument,
  book: BookView,
  band: number,
): RiskRejection | null {
  const buy = intent.side === 'buy';
  const bid = book.bestBidTicks;
  const ask = book.bestAskTicks;
  if (intent.type === 'limit') {
    const p = intent.priceTicks as number;
    if (withinBand(buy, p, bid, ask, band)) return null;
    const mid = midMoney(instrument, bid, ask);
    return reject(
      'PRICE_SANITY',
      `${intent.side} limit ${px(p, instrument)} is more than ${band} bps ${buy ? 'above' : 'below'} the mid ${mid.toString()} (furthest allowed ${bandEdge(mid, buy, band).toString()})`,
    );
  }
  const touch = buy ? ask : bid;
  if (!withinBand(buy, touch, bid, ask, band)) {
    const mid = midMoney(instrument, bid, ask);
    return reject(
      'PRICE_SANITY',
      `market ${intent.side}: the ${buy ? 'ask' : 'bid'} ${px(touch, instrument)} is more than ${band} bps from the mid ${mid.toString()} (spread too wide)`,
    );
  }
  const depth = buy ? book.askVolume5Lots : book.bidVolume5Lots;
  if (!isCount(depth) || intent.qtyLots > depth)
    return reject(
      'INSUFFICIENT_DEPTH',
      `market ${intent.side} of ${lots(intent.qtyLots, instrument)} exceeds the top-5 ${buy ? 'ask' : 'bid'} volume ${isCount(depth) ? lots(depth, instrument) : String(depth)}`,
    );
  return null;
}

/** Sliding-window rate limits under the venue's, counting timestamps in (now - window, now]. */
function rateProblem(
  ctx: RiskContext,
  intent: OrderIntent,
  now: number,
  perSecond: number,
  perMinute: number,
): RiskRejection | null {
  const sent = ctx.recentOrderTs.get(intent.venue);
  let inSecond = 0;
  let inMinute = 0;
  if (sent !== undefined) {
    for (let i = 0; i < sent.length; i++) {
      const ts = sent[i] as number;
      // A NaN would silently count as "long ago" and let a burst through.
      if (!Number.isFinite(ts)) return halt(`recent order timestamp ${ts} for ${intent.venue} is not a time`);
      // Timestamps after now (clock disagreement) count as recent: fail closed.
      if (ts > now - MINUTE_MS) {
        inMinute++;
        if (ts > now - SECOND_MS) inSecond++;
      }
    }
  }
  if (inSecond + 1 > perSecond)
    return reject(
      'ORDER_RATE',
      `${inSecond} orders to ${intent.venue} in the last second; limit ${perSecond}/s`,
    );
  if (inMinute + 1 > perMinute)
    return reject(
      'ORDER_RATE',
      `${inMinute} orders to ${intent.venue} in the last minute; limit ${perMinute}/min`,
    );
  return null;
}

/**
 * Whether the order shrinks the current position without flipping it: opposite side, qty at most
 * the position. Resting orders are not counted here (a stop and a target may both rest for the
 * full size; the venue's reduce-only flag trims whichever comes second).
 */
function reducesPosition(buy: boolean, qtyLots: number, positionLots: number): boolean {
  return (buy ? positionLots < 0 : positionLots > 0) && qtyLots <= Math.abs(positionLots);
}

/** The worst-case |position| in lots if every resting order on the symbol (and this one) fills. */
function worstLots(pos: number, openBuy: number, openSell: number): number {
  return Math.max(Math.abs(pos + openBuy), Math.abs(pos - openSell));
}

// ---------------------------------------------------------------------------------------------
// Liquidation estimate
// ---------------------------------------------------------------------------------------------

/**
 * Estimated liquidation price of a position with average entry `entry`, on an isolated margin of
 * 1/leverage of its entry value and maintenance rate `m`: the price at which margin + P&L falls to
 * maintenance. Isolated is the conservative model (cross margin has the rest of the account
 * behind the position). Linear long: E(1 − 1/L)/(1 − m); short: E(1 + 1/L)/(1 + m). Inverse (P&L
 * in base currency) long: E(1 + m)/(1 + 1/L); short: E(1 − m)/(1 − 1/L), none when L ≤ 1.
 * Returns null when there is no liquidation price.
 */
export function estimateLiquidationPrice(
  inverse: boolean,
  long: boolean,
  entry: Money,
  leverage: Money,
  maintenanceRate: Money,
): Money | null {
  const im = ONE.div(leverage);
  if (!inverse) {
    return long
      ? entry.times(ONE.minus(im)).div(ONE.minus(maintenanceRate))
      : entry.times(ONE.plus(im)).div(ONE.plus(maintenanceRate));
  }
  if (long) return entry.times(ONE.plus(maintenanceRate)).div(ONE.plus(im));
  const denom = ONE.minus(im);
  return denom.lte(ZERO) ? null : entry.times(ONE.minus(maintenanceRate)).div(denom);
}

/** Wide enough that products of a few 40-digit amounts never round: the verdict is exact. */
const Exact = Money.clone({ precision: 1000 });

/**
 * Whether the estimated liquidation price of a position with average entry num/den is at least
 * `pct` % of the mark away from it on the losing side. The formulas of `estimateLiquidationPrice`,
 * cross-multiplied so that no division (and no rounding) decides the outcome; a long whose
 * liquidation is already above the mark (a short's below) has negative room and fails.
 *   linear long:   100·N·(L−1)     ≤ D·mark·(100−pct)·L·(1−m)
 *   linear short:  100·N·(L+1)     ≥ D·mark·(100+pct)·L·(1+m)
 *   inverse long:  100·N·(1+m)·L   ≤ D·mark·(100−pct)·(L+1)
 *   inverse short: 100·N·(1−m)·L   ≥ D·mark·(100+pct)·(L−1)   (always true at L = 1: no liquidation)
 */
function liquidationClear(
  inverse: boolean,
  long: boolean,
  num: Money,
  den: Money,
  leverage: Money,
  maintenanceRate: Money,
  mark: Money,
  pct: Money,
): boolean {
  const N = new Exact(num).times(100);
  const D = new Exact(den).times(mark);
  const L = new Exact(leverage);
  const m = new Exact(maintenanceRate);
  const band = long ? new Exact(100).minus(pct) : new Exact(100).plus(pct);
  let lhs: Money;
  let rhs: Money;
  if (!inverse) {
    lhs = N.times(long ? L.minus(1) : L.plus(1));
    rhs = D.times(band)
      .times(L)
      .times(long ? Exact.sub(1, m) : m.plus(1));
  } else {
    lhs = N.times(long ? m.plus(1) : Exact.sub(1, m)).times(L);
    rhs = D.times(band).times(long ? L.plus(1) : L.minus(1));
  }
  return long ? lhs.lte(rhs) : lhs.gte(rhs);
}

/** A pre-trade check: the order, what it trades, the book it saw, the time, the context, the limits. */
export type OrderCheck = (
  intent: OrderIntent,
  instrument: Instrument,
  book: BookView,
  now: number,
  ctx: RiskContext,
  limits: RiskLimits,
) => RiskDecision;

/** The gate never throws: an unexpected error is a BAD_CONTEXT rejection that halts (fail closed). */
function guarded(check: OrderCheck): OrderCheck {
  return (intent, instrument, book, now, ctx, limits) => {
    try {
      return check(intent, instrument, book, now, ctx, limits);
    } catch (err) {
      return crashed(err);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// checkOrder
// ---------------------------------------------------------------------------------------------

/**
 * The pre-trade gate for every new order. Returns the first failed rule, or the list of checks
 * that passed. Cancels never come here (they are always allowed); flattening during a kill goes
 * through `checkFlatten`.
 */
export const checkOrder: OrderCheck = guarded(checkOrderUnguarded);

function checkOrderUnguarded(
  intent: OrderIntent,
  instrument: Instrument,
  book: BookView,
  now: number,
  ctx: RiskContext,
  limits: RiskLimits,
): RiskDecision {
  const checks: RiskCheck[] = [];

  // Kill switch and HALTED: nothing but cancels. Not even reduce-only orders: a kill flattens
  // through its own explicit path, so a strategy's exit cannot race it.
  if (ctx.killSwitch)
    return reject('KILL_SWITCH', 'kill switch is on: only cancels and explicit flatten orders are allowed');
  checks.push('KILL_SWITCH');
  const state: TradingState = ctx.tradingState;
  if (state === 'HALTED') return reject('HALTED', 'trading is HALTED: only cancels are allowed');
  if (state !== 'ACTIVE' && state !== 'REDUCING') return halt(`unknown trading state ${String(state)}`);
  checks.push('TRADING_STATE');

  const shape = shapeProblem(intent, instrument, book, now);
  if (shape !== null) return shape;
  checks.push('ORDER_SHAPE');

  // The context must hold this symbol and be possible; an unknown symbol is not "flat".
  const key = symbolKey(intent.venue, intent.symbol);
  const sym = ctx.symbols.get(key);
  if (sym === undefined) return halt(`no risk context for ${key}`);
  let totalOpenOrders = 0;
  for (const [k, s] of ctx.symbols) {
    const p = symbolProblem(s, k);
    if (p !== null) return halt(p);
    totalOpenOrders += s.openBuyOrders + s.openSellOrders;
  }
  const ap = accountProblem(ctx.account);
  if (ap !== null) return halt(ap);
  checks.push('CONTEXT');

  // Trip levels are re-checked here, not only after fills: an order must not slip through between
  // a losing fill and the state change it causes.
  const trip =
    dailyLossTrip(ctx.account, limits.account) ??
    drawdownTrip(ctx.account, limits.account) ??
    consecutiveLossTrip(ctx.account, limits.account);
  if (trip !== null) return trip;
  checks.push('ACCOUNT');

  const buy = intent.side === 'buy';
  const qtyLots = intent.qtyLots;
  const pos = sym.positionLots;
  const reduces = reducesPosition(buy, qtyLots, pos);
  // REDUCING: only orders that shrink a position. On a venue with reduce-only (the shortable
  // ones) the flag is required too, so that if the position changes in flight (another exit fills)
  // the venue trims the order instead of opening the other way.
  if (state === 'REDUCING') {
    if (!reduces)
      return reject(
        'REDUCING_ONLY',
        `trading is REDUCING: ${intent.side} ${lots(qtyLots, instrument)} does not reduce the position of ${pos} lots`,
      );
    if (instrument.shortable && !intent.reduceOnly)
      return reject('REDUCING_ONLY', 'trading is REDUCING: orders must carry the venue reduce-only flag');
  }
  // A reduce-only order that cannot reduce is a logic error upstream (the position it was meant
  // to close is gone); the venue would reject it.
  if (intent.reduceOnly && !reduces)
    return reject(
      'NOT_REDUCING',
      `reduce-only ${intent.side} of ${qtyLots} lots does not reduce the position of ${pos} lots`,
    );
  checks.push('REDUCE_ONLY');

  const sl: SymbolLimits = symbolLimits(limits, intent.venue, intent.symbol);
  const book_ = bookProblem(book, now, sl.maxBookAgeMs);
  if (book_ !== null) return book_;
  checks.push('BOOK');

  const qty = stepsToMoney(qtyLots, instrument.qty);
  const rules = venueRulesProblem(intent, instrument, qty);
  if (rules !== null) return rules;
  checks.push('QTY');
  if (intent.type === 'limit') checks.push('PRICE');

  const sanity = priceSanityProblem(intent, instrument, book, sl.priceBandBps);
  if (sanity !== null) return sanity;
  checks.push('PRICE_SANITY');

  // Prices: the one the venue checks its minimum notional at (the limit, or the touch a market
  // order takes) and the highest price the order can fill at (a buy limit fills at or below its
  // price; a sell limit at or above it, up to the bid if marketable; a market order at the touch
  // and beyond — see the design note on market orders).
  const bid = book.bestBidTicks;
  const ask = book.bestAskTicks;
  const venueTicks = intent.type === 'limit' ? (intent.priceTicks as number) : buy ? ask : bid;
  const worstTicks = buy ? venueTicks : Math.max(venueTicks, bid);
  const venuePrice = stepsToMoney(venueTicks, instrument.price);
  const worstPrice = worstTicks === venueTicks ? venuePrice : stepsToMoney(worstTicks, instrument.price);
  const venueNotional = notionalAt(instrument, venuePrice, qtyLots);
  const orderNotional =
    worstTicks === venueTicks ? venueNotional : notionalAt(instrument, worstPrice, qtyLots);

  // Below the venue's minimum the venue rejects the order: catching it here saves a round trip and
  // an order-rate slot. Reduce-only orders are exempt where the venue exempts them, so a dust
  // remainder can still be closed.
  const vl = limits.venues[intent.venue];
  if (venueNotional.lt(instrument.minNotional) && !(intent.reduceOnly && vl.reduceOnlyMinNotionalExempt))
    return reject(
      'MIN_NOTIONAL',
      `notional ${venueNotional.toString()} is below the venue minimum ${instrument.minNotional.toString()}`,
    );
  checks.push('MIN_NOTIONAL');

  // Fat-finger cap on any single order, exits included (they can be split).
  if (orderNotional.gt(sl.maxOrderNotional))
    return reject(
      'MAX_ORDER_NOTIONAL',
      `order notional ${orderNotional.toString()} (${lots(qtyLots, instrument)} at ${worstPrice.toString()}) exceeds the maximum ${sl.maxOrderNotional.toString()}`,
    );
  checks.push('MAX_ORDER_NOTIONAL');

  // A runaway loop shows up first as a pile of resting orders.
  if (totalOpenOrders + 1 > limits.account.maxOpenOrders)
    return reject(
      'MAX_OPEN_ORDERS',
      `${totalOpenOrders} open orders; limit ${limits.account.maxOpenOrders} in total`,
    );
  const symOpen = sym.openBuyOrders + sym.openSellOrders;
  if (symOpen + 1 > sl.maxOpenOrdersPerSymbol)
    return reject(
      'MAX_OPEN_ORDERS',
      `${symOpen} open orders on ${key}; limit ${sl.maxOpenOrdersPerSymbol} per symbol`,
    );
  checks.push('MAX_OPEN_ORDERS');

  // Stay under the venue's limits: breaking them gets the IP or account banned (Binance 418).
  const rate = rateProblem(ctx, intent, now, vl.ordersPerSecond, vl.ordersPerMinute);
  if (rate !== null) return rate;
  checks.push('ORDER_RATE');

  // Spot is long-only: a sell may only sell what we hold, net of sells already resting.
  if (!instrument.shortable && !buy) {
    if (qtyLots + sym.openSellLots > pos)
      return reject(
        'SPOT_SHORT',
        `sell ${lots(qtyLots, instrument)} with ${lots(sym.openSellLots, instrument)} already offered exceeds the long position ${lots(Math.max(pos, 0), instrument)} on a long-only instrument`,
      );
    checks.push('SPOT_SHORT');
  }

  // Does the order raise the worst-case |position| (every resting order on its side filling)?
  // A reduce-only order the venue enforces cannot, whatever else rests. Orders that cannot add
  // exposure skip the exposure limits: they must stay possible when the account is over them.
  const openSame = buy ? sym.openBuyLots : sym.openSellLots;
  const dir = buy ? 1 : -1;
  const before = pos + dir * openSame;
  const after = before + dir * qtyLots;
  const venueEnforcedReduce = intent.reduceOnly && instrument.shortable && reduces;
  const addsExposure = !venueEnforcedReduce && Math.abs(after) > Math.abs(before);
  if (!addsExposure) return { approved: true, checks };

  const equity = ctx.account.equity;

  // Funding on perpetuals: around the funding instant the mark and the book jump and the funding
  // payment is decided; do not open into it. Unknown schedule = cannot tell = no.
  if (instrument.kind === 'perpetual' && sl.fundingWindowSec > 0) {
    const windowMs = sl.fundingWindowSec * SECOND_MS;
    const next = sym.nextFundingTs;
    const last = sym.lastFundingTs;
    if (next === null || !Number.isFinite(next))
      return reject('FUNDING_WINDOW', `next funding time of ${key} is unknown`);
    if (next < now - windowMs)
      return reject(
        'FUNDING_WINDOW',
        `next funding time ${next} of ${key} is in the past (now ${now}): schedule is stale`,
      );
    if (Math.abs(next - now) <= windowMs)
      return reject(
        'FUNDING_WINDOW',
        `${(next - now) / SECOND_MS} s to funding at ${next}; no new exposure within ${sl.fundingWindowSec} s`,
      );
    if (last !== null && (!Number.isFinite(last) || Math.abs(now - last) <= windowMs))
      return reject(
        'FUNDING_WINDOW',
        `${(now - last) / SECOND_MS} s since funding at ${last}; no new exposure within ${sl.fundingWindowSec} s`,
      );
    checks.push('FUNDING_WINDOW');
  }

  // This symbol's worst case, valued at the higher of the order's fill bound and the mid (a
  // passive buy far below the market must not value the whole position at its own low price).
  const mid = midMoney(instrument, bid, ask);
  const valuePrice = worstPrice.gt(mid) ? worstPrice : mid;
  const symWorst = worstLots(
    pos,
    sym.openBuyLots + (buy ? qtyLots : 0),
    sym.openSellLots + (buy ? 0 : qtyLots),
  );
  if (!Number.isSafeInteger(symWorst)) return halt(`${key}: projected position overflows`);
  const symNotional = notionalAt(instrument, valuePrice, symWorst);

  if (symNotional.gt(sl.maxPositionNotional))
    return reject(
      'MAX_POSITION',
      `worst-case position ${lots(symWorst, instrument)} on ${key} is worth ${symNotional.toString()}, above the maximum ${sl.maxPositionNotional.toString()}`,
    );
  checks.push('MAX_POSITION');

  // No single instrument may carry more than its share of the account.
  if (symNotional.times(HUNDRED).gt(equity.times(sl.maxInstrumentExposurePct)))
    return reject(
      'INSTRUMENT_EXPOSURE',
      `worst-case position on ${key} is worth ${symNotional.toString()}, above ${sl.maxInstrumentExposurePct.toString()} % of equity ${equity.toString()}`,
    );
  checks.push('INSTRUMENT_EXPOSURE');

  let total = symNotional;
  for (const s of ctx.symbols.values()) {
    if (s === sym) continue;
    const w = worstLots(s.positionLots, s.openBuyLots, s.openSellLots);
    if (w !== 0) total = total.plus(notionalAt(s.instrument, s.markPrice, w));
  }
  if (total.gt(limits.account.maxTotalExposure))
    return reject(
      'MAX_EXPOSURE',
      `total worst-case exposure ${total.toString()} would exceed the maximum ${limits.account.maxTotalExposure.toString()}`,
    );
  checks.push('MAX_EXPOSURE');

  // Leverage: the venue setting caps how far one position can run; total exposure over equity
  // caps the account.
  if (sym.leverage !== null && sym.leverage.gt(sl.maxLeverage))
    return reject(
      'LEVERAGE',
      `${key} is set to ${sym.leverage.toString()}x leverage, above the maximum ${sl.maxLeverage.toString()}x`,
    );
  const maxLev = limits.account.maxAccountLeverage;
  if (total.gt(equity.times(maxLev)))
    return reject(
      'LEVERAGE',
      `total exposure ${total.toString()} on equity ${equity.toString()} is above ${maxLev.toString()}x`,
    );
  checks.push('LEVERAGE');

  // Never add to a derivative position whose estimated liquidation would sit within the buffer of
  // the mark: one ordinary move would liquidate it at the venue's price, not ours.
  if (instrument.kind !== 'spot' && sym.leverage !== null) {
    const q1 = pos + dir * qtyLots;
    if (q1 !== 0) {
      const long = q1 > 0;
      const wasLong = pos > 0;
      const a = Math.abs(pos);
      // Average entry after the order as an exact fraction num/den (no rounding in the verdict).
      let num: Money;
      let den: Money = ONE;
      if (pos === 0 || wasLong !== long) num = venuePrice;
      else if (Math.abs(q1) > a) {
        const A = new Money(a);
        const B = new Money(qtyLots);
        if (instrument.inverse) {
          // Inverse contracts average harmonically: contracts / Σ(contracts / price).
          num = A.plus(B).times(sym.avgEntryPrice).times(venuePrice);
          den = A.times(venuePrice).plus(B.times(sym.avgEntryPrice));
        } else {
          num = A.times(sym.avgEntryPrice).plus(B.times(venuePrice));
          den = A.plus(B);
        }
      } else num = sym.avgEntryPrice;
      const mark = sym.markPrice;
      const pct = sl.minLiquidationDistancePct;
      if (
        !liquidationClear(
          instrument.inverse,
          long,
          num,
          den,
          sym.leverage,
          sl.maintenanceMarginRate,
          mark,
          pct,
        )
      ) {
        const entry = new Money(num).div(den);
        const liq = estimateLiquidationPrice(
          instrument.inverse,
          long,
          entry,
          sym.leverage,
          sl.maintenanceMarginRate,
        );
        return reject(
          'LIQUIDATION_DISTANCE',
          `estimated liquidation ${String(liq)} of the ${long ? 'long' : 'short'} (entry ${entry.toString()}, ${sym.leverage.toString()}x, maintenance ${sl.maintenanceMarginRate.toString()}) is within ${pct.toString()} % of the mark ${mark.toString()}`,
        );
      }
      checks.push('LIQUIDATION_DISTANCE');
    }
  }

  return { approved: true, checks };
}

// ---------------------------------------------------------------------------------------------
// checkFlatten
// ---------------------------------------------------------------------------------------------

/**
 * The explicit flatten path of the kill switch (and of an operator's "close everything"). Allowed
 * in every trading state, kill switch included, because it can only take risk off: the order must
 * be reduce-only and shrink the position toward zero without ever flipping it, counting the
 * orders already resting on its side. It still needs a usable book (a blind market order on a
 * thin book is how a flatten becomes a second loss; cancel-all needs no book and goes first),
 * the venue's qty/price rules, and the venue rate limits (a ban would stop the flatten outright).
 * Exposure caps and max order notional do not apply: they are what is being unwound.
 */
export const checkFlatten: OrderCheck = guarded(checkFlattenUnguarded);

function checkFlattenUnguarded(
  intent: OrderIntent,
  instrument: Instrument,
  book: BookView,
  now: number,
  ctx: RiskContext,
  limits: RiskLimits,
): RiskDecision {
  const checks: RiskCheck[] = [];
  const shape = shapeProblem(intent, instrument, book, now);
  if (shape !== null) return shape;
  checks.push('ORDER_SHAPE');

  const key = symbolKey(intent.venue, intent.symbol);
  const sym = symbolContext(ctx, key);
  if ('approved' in sym) return sym;
  checks.push('CONTEXT');

  const buy = intent.side === 'buy';
  if (!intent.reduceOnly) return reject('NOT_REDUCING', 'a flatten order must be reduce-only');
  const nr = notReducing(intent, key, sym.positionLots, buy ? sym.openBuyLots : sym.openSellLots);
  if (nr !== null) return nr;
  checks.push('REDUCE_ONLY');

  const sl = symbolLimits(limits, intent.venue, intent.symbol);
  const bp = bookProblem(book, now, sl.maxBookAgeMs);
  if (bp !== null) return bp;
  checks.push('BOOK');

  const qty = stepsToMoney(intent.qtyLots, instrument.qty);
  const rules = venueRulesProblem(intent, instrument, qty);
  if (rules !== null) return rules;
  checks.push('QTY');
  if (intent.type === 'limit') checks.push('PRICE');

  const sanity = priceSanityProblem(intent, instrument, book, sl.priceBandBps);
  if (sanity !== null) return sanity;
  checks.push('PRICE_SANITY');

  const venueTicks =
    intent.type === 'limit' ? (intent.priceTicks as number) : buy ? book.bestAskTicks : book.bestBidTicks;
  return reducingTail(intent, instrument, venueTicks, now, ctx, limits, checks);
}

/**
 * An order that may only take a position off (flatten, protective stop): there must be a position,
 * the order must be on its other side, and with `resting` lots already on that side it must not
 * be able to flip it.
 */
function notReducing(intent: OrderIntent, key: string, pos: number, resting: number): RiskRejection | null {
  if (pos === 0) return reject('NOT_REDUCING', `no position on ${key} to reduce`);
  if (intent.side === 'buy' ? pos > 0 : pos < 0)
    return reject(
      'NOT_REDUCING',
      `${intent.side} would add to the ${pos > 0 ? 'long' : 'short'} of ${Math.abs(pos)} lots`,
    );
  if (intent.qtyLots + resting > Math.abs(pos))
    return reject(
      'NOT_REDUCING',
      `${intent.side} ${intent.qtyLots} lots with ${resting} lots already resting on that side would flip the position of ${pos} lots`,
    );
  return null;
}

/** The symbol's risk entry; a missing or impossible one halts (fail closed). */
function symbolContext(ctx: RiskContext, key: string): SymbolRisk | RiskRejection {
  const sym = ctx.symbols.get(key);
  if (sym === undefined) return halt(`no risk context for ${key}`);
  const sp = symbolProblem(sym, key);
  return sp !== null ? halt(sp) : sym;
}

/**
 * The last checks of an order that can only reduce (flatten, protective stop): the venue's minimum
 * notional at the price it is valued at (unless the venue exempts reduce-only orders), then the
 * venue rate limits.
 */
function reducingTail(
  intent: OrderIntent,
  instrument: Instrument,
  atTicks: number,
  now: number,
  ctx: RiskContext,
  limits: RiskLimits,
  checks: RiskCheck[],
): RiskDecision {
  const vl = limits.venues[intent.venue];
  if (!(intent.reduceOnly && vl.reduceOnlyMinNotionalExempt) && instrument.minNotional.gt(ZERO)) {
    const n = notionalAt(instrument, stepsToMoney(atTicks, instrument.price), intent.qtyLots);
    if (n.lt(instrument.minNotional))
      return reject(
        'MIN_NOTIONAL',
        `notional ${n.toString()} is below the venue minimum ${instrument.minNotional.toString()}`,
      );
  }
  checks.push('MIN_NOTIONAL');

  const rate = rateProblem(ctx, intent, now, vl.ordersPerSecond, vl.ordersPerMinute);
  if (rate !== null) return rate;
  checks.push('ORDER_RATE');
  return { approved: true, checks };
}

// ---------------------------------------------------------------------------------------------
// checkProtectiveStop
// ---------------------------------------------------------------------------------------------

/**
 * The venue-side protective stop: a resting stop order that guards an open position while the
 * engine cannot (dead, disconnected, halted). Like the flatten path it is allowed in every trading
 * state, kill switch included, because all it can do is take the position off:
 * - it is a stop (market or limit on trigger) that rests (GTC), on the side opposite the position,
 *   for no more than the position (reduce-only where the venue has it, i.e. not on spot, where
 *   the long-only sell can sell at most the base held);
 * - its trigger is on the losing side of the market (a sell stop below the best bid, a buy stop
 *   above the best ask: one already reached would fire at once, which is an exit, not a stop) and
 *   a stop-limit's limit is at or beyond its trigger (else it could never fill when triggered);
 * - the book it was priced from is usable, the quantity and prices follow the venue's rules, the
 *   minimum notional is met at the trigger (unless the venue exempts reduce-only), and the venue
 *   rate limits hold.
 * Other protective stops already resting are not counted against the position: replacing a stop
 * places the new one before the old is cancelled, and at the venue only one of them can ever fill
 * (reduce-only caps the second; on spot the first holds the base the second would sell).
 */
export const checkProtectiveStop: OrderCheck = guarded(checkProtectiveStopUnguarded);

function checkProtectiveStopUnguarded(
  intent: OrderIntent,
  instrument: Instrument,
  book: BookView,
  now: number,
  ctx: RiskContext,
  limits: RiskLimits,
): RiskDecision {
  const checks: RiskCheck[] = [];
  const shape = shapeProblem(intent, instrument, book, now, true);
  if (shape !== null) return shape;
  if (intent.purpose !== 'protective-stop')
    return reject('BAD_ORDER', `a ${intent.purpose} order is not a protective stop`);
  checks.push('ORDER_SHAPE');

  const key = symbolKey(intent.venue, intent.symbol);
  const sym = symbolContext(ctx, key);
  if ('approved' in sym) return sym;
  checks.push('CONTEXT');

  const buy = intent.side === 'buy';
  const spot = instrument.kind === 'spot';
  const nr = notReducing(intent, key, sym.positionLots, 0);
  if (nr !== null) return nr;
  if (intent.reduceOnly === spot)
    return reject(
      'BAD_ORDER',
      spot
        ? 'spot has no reduce-only: a protective stop there is a plain sell of the base held'
        : 'a protective stop on a derivative must be reduce-only',
    );
  checks.push('REDUCE_ONLY');

  const sl = symbolLimits(limits, intent.venue, intent.symbol);
  const bp = bookProblem(book, now, sl.maxBookAgeMs);
  if (bp !== null) return bp;
  checks.push('BOOK');

  const qty = stepsToMoney(intent.qtyLots, instrument.qty);
  const rules = venueRulesProblem(intent, instrument, qty);
  if (rules !== null) return rules;
  checks.push('QTY');
  checks.push('PRICE');

  const trigger = intent.triggerTicks as number;
  if (buy ? trigger <= book.bestAskTicks : trigger >= book.bestBidTicks)
    return reject(
      'BAD_PRICE',
      `a ${intent.side} stop triggered at ${px(trigger, instrument)} is already reached (best ${buy ? 'ask' : 'bid'} ${px(buy ? book.bestAskTicks : book.bestBidTicks, instrument)})`,
    );
  if (intent.type === 'stop-limit') {
    const limit = intent.priceTicks as number;
    if (buy ? limit < trigger : limit > trigger)
      return reject(
        'BAD_PRICE',
        `a ${intent.side} stop-limit at ${px(limit, instrument)} could not fill once triggered at ${px(trigger, instrument)}`,
      );
  }
  checks.push('PRICE_SANITY');

  const at = intent.type === 'stop-limit' ? (intent.priceTicks as number) : trigger;
  return reducingTail(intent, instrument, at, now, ctx, limits, checks);
}

// ---------------------------------------------------------------------------------------------
// evaluateAccount
// ---------------------------------------------------------------------------------------------

/** One reason the account is not fully ACTIVE, and the state it demands. */
export interface AccountBreach {
  readonly reason: RejectReason;
  readonly detail: string;
  readonly state: 'REDUCING' | 'HALTED';
  readonly action?: RiskAction;
}

export interface AccountEvaluation {
  /** The state trading must be in: never less severe than the context's current state. */
  readonly state: TradingState;
  /** The strongest action any breach demands (KILL over HALT); undefined when none. */
  readonly action?: RiskAction;
  readonly breaches: readonly AccountBreach[];
}

const SEVERITY: Record<TradingState, number> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 };

/**
 * The account-level verdict, run after every fill (and on every mark update if wanted). Trip
 * levels halt (consecutive losses) or kill (daily loss, drawdown); exposure over its caps — which
 * a price move or a resting order's fill can cause without any new order — makes trading
 * REDUCING until it is back under. It never lowers the current state: leaving HALTED (or an
 * operator's REDUCING) is an explicit, audited resume, not something a good fill can do.
 */
export function evaluateAccount(ctx: RiskContext, limits: RiskLimits): AccountEvaluation {
  try {
    return evaluateAccountUnguarded(ctx, limits);
  } catch (err) {
    const r = crashed(err);
    return {
      state: 'HALTED',
      action: 'HALT',
      breaches: [{ reason: r.reason, detail: r.detail, state: 'HALTED', action: 'HALT' }],
    };
  }
}

function evaluateAccountUnguarded(ctx: RiskContext, limits: RiskLimits): AccountEvaluation {
  const breaches: AccountBreach[] = [];
  let state: TradingState =
    ctx.killSwitch || ctx.tradingState === 'HALTED'
      ? 'HALTED'
      : ctx.tradingState === 'REDUCING'
        ? 'REDUCING'
        : ctx.tradingState === 'ACTIVE'
          ? 'ACTIVE'
          : 'HALTED';
  const add = (b: AccountBreach): void => {
    breaches.push(b);
    if (SEVERITY[b.state] > SEVERITY[state]) state = b.state;
  };
  if (SEVERITY[ctx.tradingState] === undefined)
    add({
      reason: 'BAD_CONTEXT',
      detail: `unknown trading state ${String(ctx.tradingState)}`,
      state: 'HALTED',
      action: 'HALT',
    });

  const al = limits.account;
  const a = ctx.account;
  const ap = accountProblem(a);
  if (ap !== null) {
    add({ reason: 'BAD_CONTEXT', detail: ap, state: 'HALTED', action: 'HALT' });
  } else {
    for (const trip of [dailyLossTrip(a, al), drawdownTrip(a, al), consecutiveLossTrip(a, al)]) {
      if (trip !== null)
        add({ reason: trip.reason, detail: trip.detail, state: 'HALTED', action: trip.action });
    }
  }

  let total = ZERO;
  let contextOk = ap === null;
  for (const [key, s] of ctx.symbols) {
    const p = symbolProblem(s, key);
    if (p !== null) {
      add({ reason: 'BAD_CONTEXT', detail: p, state: 'HALTED', action: 'HALT' });
      contextOk = false;
      continue;
    }
    const w = worstLots(s.positionLots, s.openBuyLots, s.openSellLots);
    if (w === 0) continue;
    const n = notionalAt(s.instrument, s.markPrice, w);
    total = total.plus(n);
    const sl = symbolLimits(limits, s.instrument.venue, s.instrument.symbol);
    if (n.gt(sl.maxPositionNotional))
      add({
        reason: 'MAX_POSITION',
        detail: `worst-case position on ${key} is worth ${n.toString()}, above the maximum ${sl.maxPositionNotional.toString()}`,
        state: 'REDUCING',
      });
    if (ap === null && n.times(HUNDRED).gt(a.equity.times(sl.maxInstrumentExposurePct)))
      add({
        reason: 'INSTRUMENT_EXPOSURE',
        detail: `worst-case position on ${key} is worth ${n.toString()}, above ${sl.maxInstrumentExposurePct.toString()} % of equity ${a.equity.toString()}`,
        state: 'REDUCING',
      });
    if (s.leverage !== null && s.leverage.gt(sl.maxLeverage))
      add({
        reason: 'LEVERAGE',
        detail: `${key} is set to ${s.leverage.toString()}x leverage, above the maximum ${sl.maxLeverage.toString()}x`,
        state: 'REDUCING',
      });
  }
  if (contextOk) {
    if (total.gt(al.maxTotalExposure))
      add({
        reason: 'MAX_EXPOSURE',
        detail: `total worst-case exposure ${total.toString()} is above the maximum ${al.maxTotalExposure.toString()}`,
        state: 'REDUCING',
      });
    if (total.gt(a.equity.times(al.maxAccountLeverage)))
      add({
        reason: 'LEVERAGE',
        detail: `total exposure ${total.toString()} on equity ${a.equity.toString()} is above ${al.maxAccountLeverage.toString()}x`,
        state: 'REDUCING',
      });
  }

  let action: RiskAction | undefined;
  for (const b of breaches) {
    if (b.action === 'KILL') action = 'KILL';
    else if (b.action === 'HALT' && action === undefined) action = 'HALT';
  }
  return action === undefined ? { state, breaches } : { state, action, breaches };
}
