/**
 * Property: over random contexts, books, limits and orders, the gate approves exactly the orders
 * that break no rule, and when it rejects, the reason it gives is a rule the order really breaks.
 * "Breaks a rule" is decided by `violations` below: the rules restated from scratch in whole
 * numbers and BigInt fractions (the instruments have a $1 tick and a 1-unit lot, so every price
 * is an integer and every notional a product of integers), sharing no code with the gate.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gridFromStep } from '#core/grid.ts';
import type { Instrument, VenueId } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import type { BookView, OrderIntent } from '#core/trading.ts';
import type { RiskContext, SymbolRisk, TradingState } from '#risk/context.ts';
import { checkFlatten, checkOrder } from '#risk/gate.ts';
import { parseRiskLimits } from '#risk/limits.ts';
import type { RejectReason } from '#risk/reasons.ts';

const NOW = 1_700_000_000_000;

function instrument(over: Partial<Instrument> & Pick<Instrument, 'venue' | 'symbol' | 'kind'>): Instrument {
  return {
    base: 'X',
    quote: 'USD',
    price: gridFromStep('1'),
    qty: gridFromStep('1'),
    marketQty: null,
    minQty: new Money(1),
    maxQty: null,
    minPrice: null,
    maxPrice: null,
    minNotional: new Money(5),
    contractSize: new Money(1),
    inverse: false,
    shortable: true,
    ...over,
  };
}

const LIN = instrument({
  venue: 'binance-futures',
  symbol: 'LIN',
  kind: 'perpetual',
  marketQty: gridFromStep('2'),
  maxQty: new Money(50),
  minNotional: new Money(250),
});
const FUT = instrument({ venue: 'binance-futures', symbol: 'FUT', kind: 'future' });
const INV = instrument({
  venue: 'kraken-futures',
  symbol: 'INV',
  kind: 'perpetual',
  inverse: true,
  minNotional: new Money(0),
});
const SPOT = instrument({
  venue: 'kraken-spot',
  symbol: 'SPT/USD',
  kind: 'spot',
  shortable: false,
  minNotional: new Money(150),
});
const UNIVERSE = [LIN, FUT, INV, SPOT];
const VENUE_IDS: VenueId[] = ['binance-futures', 'kraken-futures', 'kraken-spot', 'binance-us'];

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

interface Lim {
  maxOrderNotional: number;
  maxPosition: number;
  pct: number;
  perSymbolOrders: number;
  band: number;
  fundingSec: number;
  maxLeverage: number;
  liqPct: number;
  mmrMilli: number;
  maxTotal: number;
  maxOrders: number;
  acctLeverage: number;
  perSecond: number;
  perMinute: number;
  exemptBinance: boolean;
}

/** Mostly values that pass, sometimes anything in range: so both verdicts get exercised. */
function mostly<T>(usual: fc.Arbitrary<T>, any: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 6, arbitrary: usual }, { weight: 1, arbitrary: any });
}
const int = (min: number, max: number): fc.Arbitrary<number> => fc.integer({ min, max });

const limArb: fc.Arbitrary<Lim> = fc.record({
  maxOrderNotional: mostly(int(1000, 4000), int(20, 4000)),
  maxPosition: mostly(int(2000, 6000), int(50, 6000)),
  pct: mostly(int(30, 100), int(1, 100)),
  perSymbolOrders: mostly(int(5, 12), int(1, 12)),
  band: mostly(int(200, 600), int(1, 600)),
  fundingSec: int(0, 120),
  maxLeverage: mostly(int(10, 15), int(1, 15)),
  liqPct: mostly(int(0, 5), int(0, 30)),
  mmrMilli: fc.constantFrom(0, 5, 10, 10, 50, 250),
  maxTotal: mostly(int(4000, 12000), int(100, 12000)),
  maxOrders: mostly(int(15, 40), int(1, 40)),
  acctLeverage: mostly(int(2, 10), int(1, 10)),
  perSecond: mostly(int(5, 10), int(1, 10)),
  perMinute: mostly(int(50, 100), int(10, 100)),
  exemptBinance: fc.boolean(),
});

function limitsJson(l: Lim): unknown {
  return {
    defaults: {
      maxOrderNotional: String(l.maxOrderNotional),
      maxPositionNotional: String(l.maxPosition),
      maxInstrumentExposurePct: String(l.pct),
      maxOpenOrdersPerSymbol: l.perSymbolOrders,
      priceBandBps: l.band,
      maxBookAgeMs: 2000,
      fundingWindowSec: l.fundingSec,
      maxLeverage: String(l.maxLeverage),
      minLiquidationDistancePct: String(l.liqPct),
      maintenanceMarginRate: String(l.mmrMilli / 1000),
    },
    account: {
      maxTotalExposure: String(l.maxTotal),
      maxOpenOrders: l.maxOrders,
      maxAccountLeverage: String(l.acctLeverage),
    },
    venues: Object.fromEntries(
      VENUE_IDS.map((v) => [
        v,
        {
          ordersPerSecond: l.perSecond,
          ordersPerMinute: l.perMinute,
          reduceOnlyMinNotionalExempt: v === 'binance-futures' && l.exemptBinance,
        },
      ]),
    ),
  };
}

interface Sym {
  pos: number;
  entry: number;
  mark: number;
  openBuyOrders: number;
  openSellOrders: number;
  openBuyLots: number;
  openSellLots: number;
  leverage: number;
  lastAgo: number | null;
  nextIn: number | null;
}

const symArb = (spot: boolean): fc.Arbitrary<Sym> =>
  fc.record({
    pos: spot ? mostly(int(0, 10), int(0, 40)) : mostly(int(-10, 10), int(-40, 40)),
    entry: int(80, 120),
    mark: int(85, 115),
    openBuyOrders: mostly(int(0, 2), int(0, 12)),
    openSellOrders: mostly(int(0, 2), int(0, 12)),
    openBuyLots: mostly(int(0, 4), int(0, 30)),
    openSellLots: mostly(int(0, 4), int(0, 30)),
    leverage: mostly(int(1, 10), int(1, 16)),
    lastAgo: mostly(
      fc.option(int(150_000, 600_000), { nil: null }),
      fc.option(int(-10_000, 600_000), { nil: null }),
    ),
    nextIn: mostly(int(150_000, 600_000), fc.option(int(-150_000, 600_000), { nil: null })),
  });

interface Scenario {
  lim: Lim;
  which: number;
  syms: Sym[];
  equity: number;
  peakOver: number;
  pnl: number;
  losses: number;
  state: TradingState;
  recent: number[][];
  bid: number;
  spread: number;
  bookState: BookView['state'];
  crossedFlag: boolean;
  age: number;
  bidVol: number;
  askVol: number;
  side: 'buy' | 'sell';
  market: boolean;
  price: number;
  qty: number;
  reduceOnly: boolean;
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  lim: limArb,
  which: int(0, UNIVERSE.length - 1),
  syms: fc.tuple(symArb(false), symArb(false), symArb(false), symArb(true)),
  equity: mostly(int(5_000, 20_000), int(0, 20_000)),
  peakOver: mostly(int(0, 800), int(0, 1_100)),
  pnl: mostly(int(-400, 200), int(-550, 200)),
  losses: mostly(int(0, 3), int(0, 6)),
  state: mostly(
    fc.constant<TradingState>('ACTIVE'),
    fc.constantFrom<TradingState>('ACTIVE', 'REDUCING', 'HALTED'),
  ),
  recent: fc.array(
    mostly(
      fc.array(int(-200, 70_000), { maxLength: 3 }),
      fc.oneof(
        fc.array(int(-200, 70_000), { maxLength: 120 }),
        fc.array(int(-200, 1_200), { maxLength: 12 }),
      ),
    ),
    {
      minLength: VENUE_IDS.length,
      maxLength: VENUE_IDS.length,
    },
  ),
  bid: int(90, 110),
  spread: mostly(int(1, 3), int(0, 3)),
  bookState: mostly(
    fc.constant<BookView['state']>('SYNCED'),
    fc.constantFrom<BookView['state']>('SYNCED', 'SYNCING', 'UNSYNCED'),
  ),
  crossedFlag: int(0, 29).map((n) => n === 0),
  age: mostly(int(0, 1500), int(-5, 2_100)),
  bidVol: mostly(int(10, 60), int(0, 60)),
  askVol: mostly(int(10, 60), int(0, 60)),
  side: fc.constantFrom<'buy' | 'sell'>('buy', 'sell'),
  market: fc.boolean(),
  price: mostly(int(95, 105), int(80, 125)),
  qty: mostly(int(1, 10), int(-1, 60)),
  reduceOnly: int(0, 3).map((n) => n === 0),
});

/** The kill switch on in about one scenario in twenty (deterministic, from fast-check's seed). */
const killArb = fc.integer({ min: 0, max: 19 }).map((n) => n === 0);

interface Built {
  intent: OrderIntent;
  inst: Instrument;
  book: BookView;
  ctx: RiskContext;
}

function build(s: Scenario, kill: boolean): Built {
  const inst = UNIVERSE[s.which] as Instrument;
  const symbols = new Map<string, SymbolRisk>();
  UNIVERSE.forEach((i, k) => {
    const y = s.syms[k] as Sym;
    symbols.set(`${i.venue}:${i.symbol}`, {
      instrument: i,
      positionLots: y.pos,
      avgEntryPrice: new Money(y.entry),
      markPrice: new Money(y.mark),
      openBuyOrders: y.openBuyOrders,
      openSellOrders: y.openSellOrders,
      openBuyLots: y.openBuyLots,
      openSellLots: y.openSellLots,
      leverage: i.kind === 'spot' ? null : new Money(y.leverage),
      lastFundingTs: y.lastAgo === null ? null : NOW - y.lastAgo,
      nextFundingTs: y.nextIn === null ? null : NOW + y.nextIn,
    });
  });
  const recentOrderTs = new Map<VenueId, readonly number[]>();
  VENUE_IDS.forEach((v, k) =>
    recentOrderTs.set(
      v,
      (s.recent[k] ?? []).map((ago) => NOW - ago),
    ),
  );
  const ctx: RiskContext = {
    tradingState: s.state,
    killSwitch: kill,
    account: {
      equity: new Money(s.equity),
      peakEquity: new Money(s.equity + s.peakOver),
      realizedPnlToday: new Money(s.pnl),
      consecutiveLosses: s.losses,
    },
    symbols,
    recentOrderTs,
  };
  const book: BookView = {
    venue: inst.venue,
    symbol: inst.symbol,
    state: s.bookState,
    bestBidTicks: s.bid,
    bestAskTicks: s.bid + s.spread,
    bidVolume5Lots: s.bidVol,
    askVolume5Lots: s.askVol,
    imbalance: 1,
    crossed: s.crossedFlag,
    venueTs: NOW - s.age,
    localTs: NOW - s.age,
  };
  const intent: OrderIntent = {
    clientOrderId: 'p-1',
    venue: inst.venue,
    symbol: inst.symbol,
    side: s.side,
    type: s.market ? 'market' : 'limit',
    timeInForce: s.market ? 'IOC' : 'GTC',
    priceTicks: s.market ? undefined : s.price,
    qtyLots: s.qty,
    reduceOnly: s.reduceOnly,
    purpose: 'entry',
    createdTs: NOW,
  };
  return { intent, inst, book, ctx };
}

// ---------------------------------------------------------------------------------------------
// The rules, restated independently
// ---------------------------------------------------------------------------------------------

const big = BigInt;
const abs = (n: number): number => (n < 0 ? -n : n);

/** Every rule the order breaks, per the specification (whole-number arithmetic only). */
function violations(s: Scenario, kill: boolean): Set<RejectReason> {
  const v = new Set<RejectReason>();
  const l = s.lim;
  const inst = UNIVERSE[s.which] as Instrument;
  const y = s.syms[s.which] as Sym;
  if (kill) v.add('KILL_SWITCH');
  if (s.state === 'HALTED') v.add('HALTED');
  const qty = s.qty;
  if (qty <= 0) {
    v.add('BAD_QTY');
    return v; // nothing else about the order is meaningful
  }
  if (s.pnl <= -500) v.add('DAILY_LOSS');
  if (-s.peakOver <= -1000) v.add('DRAWDOWN');
  if (s.losses >= 5) v.add('CONSECUTIVE_LOSSES');

  const buy = s.side === 'buy';
  const pos = y.pos;
  const shrinks = buy ? pos < 0 && qty <= -pos : pos > 0 && qty <= pos;
  if (s.state === 'REDUCING' && (!shrinks || (inst.shortable && !s.reduceOnly))) v.add('REDUCING_ONLY');
  if (s.reduceOnly && !shrinks) v.add('NOT_REDUCING');

  const bid = s.bid;
  const ask = s.bid + s.spread;
  if (s.bookState !== 'SYNCED') v.add('BOOK_NOT_SYNCED');
  if (s.crossedFlag || bid >= ask) v.add('BOOK_CROSSED');
  if (s.age > 2000 || s.age < 0) v.add('BOOK_STALE');

  if (inst.maxQty !== null && qty > inst.maxQty.toNumber()) v.add('BAD_QTY');
  if (s.market && inst.marketQty !== null && qty % Number(inst.marketQty.step) !== 0) v.add('BAD_QTY');

  // Price band around mid = (bid + ask) / 2, doubled to stay whole.
  const twoMid = bid + ask;
  const px = s.market ? (buy ? ask : bid) : s.price;
  const inBand = buy ? px * 20_000 <= twoMid * (10_000 + l.band) : px * 20_000 >= twoMid * (10_000 - l.band);
  if (!inBand) v.add('PRICE_SANITY');
  if (s.market && qty > (buy ? s.askVol : s.bidVol)) v.add('INSUFFICIENT_DEPTH');

  const notional = (price: number, q: number): number => (inst.inverse ? q : price * q);
  const fillPx = buy ? px : Math.max(px, bid);
  const exempt = s.reduceOnly && inst.venue === 'binance-futures' && l.exemptBinance;
  if (notional(px, qty) < inst.minNotional.toNumber() && !exempt) v.add('MIN_NOTIONAL');
  if (notional(fillPx, qty) > l.maxOrderNotional) v.add('MAX_ORDER_NOTIONAL');

  let totalOrders = 0;
  for (const z of s.syms) totalOrders += z.openBuyOrders + z.openSellOrders;
  if (totalOrders + 1 > l.maxOrders || y.openBuyOrders + y.openSellOrders + 1 > l.perSymbolOrders)
    v.add('MAX_OPEN_ORDERS');

  const sent = s.recent[VENUE_IDS.indexOf(inst.venue)] ?? [];
  const lastSecond = sent.filter((ago) => ago < 1000).length;
  const lastMinute = sent.filter((ago) => ago < 60_000).length;
  if (lastSecond + 1 > l.perSecond || lastMinute + 1 > l.perMinute) v.add('ORDER_RATE');

  if (!inst.shortable && !buy && qty + y.openSellLots > pos) v.add('SPOT_SHORT');

  // Does it add to the worst-case position (all resting orders on its side filled)?
  const sign = buy ? 1 : -1;
  const same = buy ? y.openBuyLots : y.openSellLots;
  const venueReduces = s.reduceOnly && inst.shortable && shrinks;
  const adds = !venueReduces && abs(pos + sign * (same + qty)) > abs(pos + sign * same);
  if (!adds) return v;

  if (inst.kind === 'perpetual' && l.fundingSec > 0) {
    const w = l.fundingSec * 1000;
    if (
      y.nextIn === null ||
      y.nextIn < -w ||
      abs(y.nextIn) <= w ||
      (y.lastAgo !== null && abs(y.lastAgo) <= w)
    )
      v.add('FUNDING_WINDOW');
  }

  // Exposures, all doubled (the mid can be a half dollar).
  const worst = Math.max(
    abs(pos + y.openBuyLots + (buy ? qty : 0)),
    abs(pos - y.openSellLots - (buy ? 0 : qty)),
  );
  const value2 = inst.inverse ? 2 * worst : Math.max(2 * fillPx, twoMid) * worst;
  if (value2 > 2 * l.maxPosition) v.add('MAX_POSITION');
  if (value2 * 100 > 2 * s.equity * l.pct) v.add('INSTRUMENT_EXPOSURE');
  let total2 = value2;
  UNIVERSE.forEach((i, k) => {
    if (k === s.which) return;
    const z = s.syms[k] as Sym;
    const w = Math.max(abs(z.pos + z.openBuyLots), abs(z.pos - z.openSellLots));
    total2 += 2 * (i.inverse ? w : z.mark * w);
  });
  if (total2 > 2 * l.maxTotal) v.add('MAX_EXPOSURE');
  if ((inst.kind !== 'spot' && y.leverage > l.maxLeverage) || total2 > 2 * s.equity * l.acctLeverage)
    v.add('LEVERAGE');

  if (inst.kind !== 'spot') {
    const q1 = pos + sign * qty;
    if (q1 !== 0 && !liquidationFarEnough(inst.inverse, pos, q1, qty, y, px, l))
      v.add('LIQUIDATION_DISTANCE');
  }
  return v;
}

/** Isolated-margin liquidation vs the mark, as exact BigInt fractions. */
function liquidationFarEnough(
  inverse: boolean,
  pos: number,
  q1: number,
  qty: number,
  y: Sym,
  px: number,
  l: Lim,
): boolean {
  const long = q1 > 0;
  // Average entry en/ed after the order.
  let en: bigint;
  let ed: bigint;
  if (pos === 0 || pos > 0 !== long) [en, ed] = [big(px), 1n];
  else if (abs(q1) > abs(pos)) {
    const a = big(abs(pos));
    const b = big(qty);
    [en, ed] = inverse
      ? [(a + b) * big(y.entry) * big(px), a * big(px) + b * big(y.entry)]
      : [a * big(y.entry) + b * big(px), a + b];
  } else [en, ed] = [big(y.entry), 1n];
  const L = big(y.leverage);
  const m = big(l.mmrMilli); // maintenance = m / 1000
  // Liquidation price ln/ld from margin (entry value / L) + P&L = maintenance.
  let ln: bigint;
  let ld: bigint;
  if (!inverse && long) [ln, ld] = [en * (L - 1n) * 1000n, ed * L * (1000n - m)];
  else if (!inverse) [ln, ld] = [en * (L + 1n) * 1000n, ed * L * (1000n + m)];
  else if (long) [ln, ld] = [en * (1000n + m) * L, ed * 1000n * (L + 1n)];
  else {
    if (L === 1n) return true; // a 1x inverse short cannot be liquidated
    [ln, ld] = [en * (1000n - m) * L, ed * 1000n * (L - 1n)];
  }
  const mark = big(y.mark);
  const room = long ? mark * ld - ln : ln - mark * ld; // × ld
  return room * 100n >= mark * big(l.liqPct) * ld;
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('checkOrder properties', () => {
  it('approves exactly the orders that break no rule; a rejection names a rule really broken', () => {
    let approved = 0;
    let runs = 0;
    fc.assert(
      fc.property(scenarioArb, killArb, (s, kill) => {
        const b = build(s, kill);
        const limits = parseRiskLimits(limitsJson(s.lim));
        const d = checkOrder(b.intent, b.inst, b.book, NOW, b.ctx, limits);
        const broken = violations(s, kill);
        runs++;
        if (d.approved) {
          approved++;
          expect([...broken], `approved but breaks ${[...broken].join(', ')}`).toEqual([]);
        } else {
          expect(
            broken.has(d.reason),
            `rejected ${d.reason} (${d.detail}) but breaks only ${[...broken].join(', ')}`,
          ).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
    // The property is only worth something if both sides are exercised.
    expect(approved).toBeGreaterThan(runs / 50);
    expect(approved).toBeLessThan(runs);
  });

  it('is deterministic: the same inputs give the same decision', () => {
    fc.assert(
      fc.property(scenarioArb, killArb, (s, kill) => {
        const limits = parseRiskLimits(limitsJson(s.lim));
        const a = build(s, kill);
        const b = build(s, kill);
        const first = checkOrder(a.intent, a.inst, a.book, NOW, a.ctx, limits);
        expect(checkOrder(a.intent, a.inst, a.book, NOW, a.ctx, limits)).toEqual(first);
        expect(checkOrder(b.intent, b.inst, b.book, NOW, b.ctx, limits)).toEqual(first);
      }),
      { numRuns: 500 },
    );
  });
});

describe('checkFlatten properties', () => {
  it('never approves an order that would flip or grow the position, even counting resting orders', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const b = build({ ...s, reduceOnly: true }, false);
        const limits = parseRiskLimits(limitsJson(s.lim));
        const d = checkFlatten(b.intent, b.inst, b.book, NOW, b.ctx, limits);
        if (!d.approved) return;
        const y = s.syms[s.which] as Sym;
        const buy = s.side === 'buy';
        const resting = buy ? y.openBuyLots : y.openSellLots;
        const after = y.pos + (buy ? 1 : -1) * (s.qty + resting);
        // Toward zero, never past it.
        expect(y.pos).not.toBe(0);
        expect(Math.sign(after) === Math.sign(y.pos) || after === 0).toBe(true);
        expect(abs(after)).toBeLessThan(abs(y.pos));
      }),
      { numRuns: 2000 },
    );
  });
});
