import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvariantError } from '#core/errors.ts';
import { gridFromStep } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import { PositionLedger } from '#core/position.ts';
import type { Fill, OrderSide } from '#core/trading.ts';

function instrument(over: Partial<Instrument> = {}): Instrument {
  return {
    venue: 'binance-futures',
    symbol: 'TESTUSDT',
    kind: 'perpetual',
    base: 'TEST',
    quote: 'USDT',
    // Whole prices and whole quantities: ticks are the price, lots the quantity.
    price: gridFromStep('1'),
    qty: gridFromStep('1'),
    marketQty: null,
    minQty: new Money(1),
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

/** PI_XBTUSD: inverse, tick 0.5 USD, 1 contract = 1 USD. */
const inverseXbt = instrument({
  venue: 'kraken-futures',
  symbol: 'PI_XBTUSD',
  base: 'XBT',
  quote: 'USD',
  price: gridFromStep('0.5'),
  inverse: true,
});

let tradeSeq = 0;
function fill(
  inst: Instrument,
  side: OrderSide,
  qtyLots: number,
  priceTicks: number,
  fee = '0',
  ts = 1_700_000_000_000,
): Fill {
  return {
    venue: inst.venue,
    symbol: inst.symbol,
    tradeId: `t${++tradeSeq}`,
    clientOrderId: 'tw0100000010000001',
    side,
    priceTicks,
    qtyLots,
    fee,
    feeAsset: inst.quote,
    liquidity: 'taker',
    ts,
  };
}

const m = (x: string | number) => new Money(x);

describe('PositionLedger, linear', () => {
  it('buy 2 @100, sell 1 @110, sell 2 @90: realizes 10, then −10 and flips short 1 @90', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(1000));
    const r1 = p.applyFill(fill(inst, 'buy', 2, 100, '0', 1));
    expect(r1.realized.eq(0)).toBe(true);
    expect(p.lots).toBe(2);
    expect(p.avgEntryPrice?.eq(100)).toBe(true);
    expect(p.costBasis.eq(200)).toBe(true);
    expect(p.entryTs).toBe(1);

    const r2 = p.applyFill(fill(inst, 'sell', 1, 110, '0', 2));
    // (110 − 100) × 1
    expect(r2.realized.eq(10)).toBe(true);
    expect(r2.closedLots).toBe(1);
    expect(p.lots).toBe(1);
    expect(p.avgEntryPrice?.eq(100)).toBe(true);

    const r3 = p.applyFill(fill(inst, 'sell', 2, 90, '0', 3));
    // closes 1: (90 − 100) × 1 = −10; opens short 1 at 90
    expect(r3.realized.eq(-10)).toBe(true);
    expect(r3.closedLots).toBe(1);
    expect(r3.openedLots).toBe(1);
    expect(p.lots).toBe(-1);
    expect(p.side).toBe('short');
    expect(p.avgEntryPrice?.eq(90)).toBe(true);
    expect(p.entryTs).toBe(3);
    expect(p.realized.eq(0)).toBe(true); // 10 − 10
    expect(r3.roundTrip).toMatchObject({ side: 'long', openedTs: 1, closedTs: 3 });
    expect(r3.roundTrip?.realized.eq(0)).toBe(true);
    expect(p.roundTrips).toBe(1);

    // short 1 from 90, marked at 80: +10
    expect(p.unrealized(80).eq(10)).toBe(true);
    expect(p.unrealized(95).eq(-5)).toBe(true);
    expect(p.equity(80).eq(1010)).toBe(true);
  });

  it('a short: sell 2 @50, buy 2 @45 realizes (50 − 45) × 2 = 10', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(0));
    p.applyFill(fill(inst, 'sell', 2, 50));
    expect(p.lots).toBe(-2);
    expect(p.unrealized(47).eq(6)).toBe(true);
    const r = p.applyFill(fill(inst, 'buy', 2, 45));
    expect(r.realized.eq(10)).toBe(true);
    expect(p.side).toBe('flat');
    expect(p.avgEntryPrice).toBeNull();
    expect(p.entryTs).toBeNull();
    expect(p.costBasis.eq(0)).toBe(true);
  });

  it('fees: equity = capital + realized + unrealized − fees; a rebate adds', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(1000));
    p.applyFill(fill(inst, 'buy', 3, 100, '0.3'));
    p.applyFill(fill(inst, 'sell', 3, 105, '0.315'));
    // realized (105 − 100) × 3 = 15, fees 0.615
    expect(p.realized.eq(15)).toBe(true);
    expect(p.fees.eq('0.615')).toBe(true);
    expect(p.equity().eq('1014.385')).toBe(true);
    expect(p.lastRoundTrip?.net.eq('14.385')).toBe(true);
    p.applyFill(fill(inst, 'buy', 1, 100, '-0.01')); // maker rebate
    expect(p.fees.eq('0.605')).toBe(true);
    // marked at 102: unrealized +2
    expect(p.equity(102).eq('1016.395')).toBe(true);
  });

  it('rounds a non-terminating basis share, and the round trip still realizes exactly', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(0));
    expect(p.pnlScale).toBe(10);
    p.applyFill(fill(inst, 'buy', 1, 100));
    p.applyFill(fill(inst, 'buy', 2, 101));
    // basis 302 for 3: average 100.666…
    expect(p.costBasis.eq(302)).toBe(true);
    expect(p.avgEntryPrice?.toString()).toBe('100.6666666666666666666666666666666666667');
    const r1 = p.applyFill(fill(inst, 'sell', 1, 110));
    // share 302/3 = 100.66666666666… → 100.6666666667 at 10 decimals; 110 − that
    expect(r1.realized.toString()).toBe('9.3333333333');
    expect(p.costBasis.toString()).toBe('201.3333333333');
    const r2 = p.applyFill(fill(inst, 'sell', 2, 110));
    expect(r2.realized.toString()).toBe('18.6666666667');
    // 3 × 110 − 302 = 28, exactly
    expect(p.realized.toString()).toBe('28');
  });

  it('uses the grids and the contract size: 1.5 BTC from 65000.1 to 65010.1 is 15', () => {
    const inst = instrument({ price: gridFromStep('0.1'), qty: gridFromStep('0.001') });
    const p = new PositionLedger(inst, m(0));
    p.applyFill(fill(inst, 'buy', 1500, 650_001));
    expect(p.avgEntryPrice?.toString()).toBe('65000.1');
    expect(p.avgEntryTicks).toBe(650_001);
    const r = p.applyFill(fill(inst, 'sell', 1500, 650_101));
    expect(r.realized.toString()).toBe('15');

    const tenth = instrument({ contractSize: m('0.1') }); // 0.1 unit per contract
    const q = new PositionLedger(tenth, m(0));
    q.applyFill(fill(tenth, 'buy', 4, 200));
    // (250 − 200) × 4 × 0.1 = 20
    expect(q.applyFill(fill(tenth, 'sell', 4, 250)).realized.eq(20)).toBe(true);
  });

  it('peak equity and drawdown follow the marks', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(1000));
    expect(p.peakEquity.eq(1000)).toBe(true);
    p.applyFill(fill(inst, 'buy', 10, 100));
    expect(p.mark(110).eq(1100)).toBe(true);
    expect(p.peakEquity.eq(1100)).toBe(true);
    expect(p.drawdown.eq(0)).toBe(true);
    expect(p.mark(95).eq(950)).toBe(true);
    expect(p.peakEquity.eq(1100)).toBe(true);
    expect(p.drawdown.eq(150)).toBe(true);
    // 150 / 1100
    expect(p.drawdownFraction.eq(m(150).div(1100))).toBe(true);
    p.mark(120);
    expect(p.peakEquity.eq(1200)).toBe(true);
    expect(p.drawdown.eq(0)).toBe(true);
    expect(() => p.mark(0)).toThrow(InvariantError);
  });

  it('daily P&L is per UTC day of the fill and starts again at midnight', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(0));
    const day1 = Date.UTC(2024, 2, 1, 23, 0);
    const lastMs = Date.UTC(2024, 2, 1, 23, 59, 59, 999);
    const midnight = Date.UTC(2024, 2, 2, 0, 0, 0, 0);
    p.applyFill(fill(inst, 'buy', 1, 100, '0.1', day1));
    p.applyFill(fill(inst, 'sell', 1, 110, '0.11', lastMs));
    // 10 − 0.1 − 0.11
    expect(p.dailyPnl(lastMs).eq('9.79')).toBe(true);
    expect(p.dailyPnl(midnight).eq(0)).toBe(true);
    p.applyFill(fill(inst, 'buy', 1, 110, '0.11', midnight));
    expect(p.dailyPnl(midnight).eq('-0.11')).toBe(true);
    expect(p.dailyPnl(Date.UTC(2024, 2, 2, 18)).eq('-0.11')).toBe(true);
    expect(p.dailyPnl(Date.UTC(2024, 2, 1, 0, 0)).eq('9.79')).toBe(true);
    expect(p.dailyPnl(Date.UTC(2024, 2, 3)).eq(0)).toBe(true);
  });

  it('counts round trips, wins, losses and the losing streak, net of fees', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(0));
    const trip = (entry: number, exit: number, fee = '0') => {
      p.applyFill(fill(inst, 'buy', 1, entry, fee));
      p.applyFill(fill(inst, 'sell', 1, exit, fee));
    };
    trip(100, 99);
    expect(p.consecutiveLosses).toBe(1);
    trip(100, 98);
    expect(p.consecutiveLosses).toBe(2);
    trip(100, 101, '0.4'); // +1 − 0.8 = +0.2: a win
    expect(p.consecutiveLosses).toBe(0);
    trip(100, 101, '0.6'); // +1 − 1.2 = −0.2: gross gain, net loss
    expect(p.consecutiveLosses).toBe(1);
    expect(p.roundTrips).toBe(4);
    expect(p.wins).toBe(1);
    expect(p.losses).toBe(3);
    expect(p.winRate).toBe(0.25);
    trip(100, 100); // breakeven: neither, ends the streak
    expect(p.consecutiveLosses).toBe(0);
    expect(p.roundTrips).toBe(5);
    expect(p.wins + p.losses).toBe(4);
    expect(p.fillCount).toBe(10);
  });

  it("gives a flipping fill's whole fee to the round trip it closes", () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(0));
    p.applyFill(fill(inst, 'buy', 1, 100, '1', 10));
    const r = p.applyFill(fill(inst, 'sell', 3, 100, '3', 20));
    expect(r.roundTrip?.fees.eq(4)).toBe(true);
    expect(r.roundTrip?.net.eq(-4)).toBe(true);
    expect(p.consecutiveLosses).toBe(1);
    const r2 = p.applyFill(fill(inst, 'buy', 2, 100, '0', 30));
    expect(r2.roundTrip).toMatchObject({ side: 'short', openedTs: 20, closedTs: 30 });
    expect(r2.roundTrip?.net.eq(0)).toBe(true);
    expect(p.consecutiveLosses).toBe(0);
  });

  it('refuses fills of another instrument or with bad numbers', () => {
    const inst = instrument();
    const p = new PositionLedger(inst, m(0));
    expect(() => p.applyFill({ ...fill(inst, 'buy', 1, 100), symbol: 'OTHER' })).toThrow(InvariantError);
    expect(() => p.applyFill(fill(inst, 'buy', 0, 100))).toThrow(InvariantError);
    expect(() => p.applyFill(fill(inst, 'buy', 1, 100, '1e-3'))).toThrow(InvariantError);
    expect(p.fillCount).toBe(0);
  });
});

describe('PositionLedger, inverse (PI_XBTUSD, P&L in XBT)', () => {
  it('long 10000 contracts from 50000 to 55000: 10000 × (1/50000 − 1/55000) XBT', () => {
    const p = new PositionLedger(inverseXbt, m(1));
    p.applyFill(fill(inverseXbt, 'buy', 10_000, 100_000)); // 100000 ticks of 0.5 = 50000
    expect(p.costBasis.eq('0.2')).toBe(true); // 10000 / 50000
    expect(p.avgEntryPrice?.eq(50_000)).toBe(true);
    // marked at 40000: 0.2 − 10000/40000 = −0.05
    expect(p.unrealized(80_000).eq('-0.05')).toBe(true);
    const r = p.applyFill(fill(inverseXbt, 'sell', 10_000, 110_000));
    // 10000/55000 = 0.181818… → 0.181818181818181818 (18 decimals); 0.2 − that
    expect(r.realized.toString()).toBe('0.018181818181818182');
  });

  it('short 1000 contracts from 40000 to 50000 loses 1000 × (1/40000 − 1/50000) = 0.005 XBT', () => {
    const p = new PositionLedger(inverseXbt, m(1));
    p.applyFill(fill(inverseXbt, 'sell', 1000, 80_000));
    expect(p.unrealized(100_000).eq('-0.005')).toBe(true);
    const r = p.applyFill(fill(inverseXbt, 'buy', 1000, 100_000));
    expect(r.realized.eq('-0.005')).toBe(true);
    expect(p.equity().eq('0.995')).toBe(true);
  });

  it('averages entries harmonically: 100 @40000 and 100 @60000 average 48000', () => {
    const p = new PositionLedger(inverseXbt, m(1));
    p.applyFill(fill(inverseXbt, 'buy', 100, 80_000));
    p.applyFill(fill(inverseXbt, 'buy', 100, 120_000));
    // 2 / (1/40000 + 1/60000) = 48000, up to the 18-decimal rounding of 100/60000
    const avg = p.avgEntryPrice as Money;
    expect(avg.minus(48_000).abs().lt('1e-9')).toBe(true);
  });
});

describe('PositionLedger, cash-flow identity (property)', () => {
  const fills = fc.array(
    fc.record({
      side: fc.constantFrom<OrderSide>('buy', 'sell'),
      qtyLots: fc.integer({ min: 1, max: 5_000 }),
      priceTicks: fc.integer({ min: 1, max: 2_000_000 }),
      feeCents: fc.integer({ min: -50, max: 500 }),
      ts: fc.integer({ min: 0, max: 10 * 86_400_000 }),
    }),
    { minLength: 1, maxLength: 60 },
  );

  it('linear: Σ realized + unrealized at mark = Σ sells × price − Σ buys × price + position × mark, exactly', () => {
    // Price steps of 0.01, quantity steps of 0.001: prices and quantities are ticks/100, lots/1000.
    const inst = instrument({ price: gridFromStep('0.01'), qty: gridFromStep('0.001') });
    fc.assert(
      fc.property(fills, fc.integer({ min: 1, max: 2_000_000 }), (seq, markTicks) => {
        const p = new PositionLedger(inst, m(10_000));
        let cash = m(0);
        let fees = m(0);
        let lots = 0;
        let realizedPerFill = m(0);
        const daily = new Map<number, Money>();
        for (const f of seq.sort((a, b) => a.ts - b.ts)) {
          const fee = m(f.feeCents).div(100).toFixed(2);
          const r = p.applyFill(fill(inst, f.side, f.qtyLots, f.priceTicks, fee, f.ts));
          const value = m(f.priceTicks).div(100).times(m(f.qtyLots).div(1000));
          cash = f.side === 'sell' ? cash.plus(value) : cash.minus(value);
          fees = fees.plus(fee);
          lots += f.side === 'buy' ? f.qtyLots : -f.qtyLots;
          realizedPerFill = realizedPerFill.plus(r.realized);
          const day = Math.floor(f.ts / 86_400_000);
          daily.set(day, (daily.get(day) ?? m(0)).plus(r.realized).minus(fee));
        }
        const mark = m(markTicks).div(100);
        const expected = cash.plus(m(lots).div(1000).times(mark));
        expect(p.lots).toBe(lots);
        expect(p.realized.eq(realizedPerFill)).toBe(true);
        expect(p.realized.plus(p.unrealized(markTicks)).eq(expected)).toBe(true);
        expect(p.fees.eq(fees)).toBe(true);
        expect(p.equity(markTicks).eq(m(10_000).plus(expected).minus(fees))).toBe(true);
        for (const [day, pnl] of daily) expect(p.dailyPnl(day * 86_400_000 + 1).eq(pnl)).toBe(true);
        if (lots === 0) expect(p.costBasis.eq(0)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('inverse: Σ realized + unrealized = Σ buy values − Σ sell values − position × cs / mark, each value q × cs / p rounded to 18 decimals', () => {
    const round18 = (x: Money) => x.toDecimalPlaces(18, Money.ROUND_HALF_EVEN);
    fc.assert(
      fc.property(fills, fc.integer({ min: 1, max: 2_000_000 }), (seq, markTicks) => {
        const p = new PositionLedger(inverseXbt, m(1));
        let cash = m(0);
        let lots = 0;
        for (const f of seq) {
          p.applyFill(fill(inverseXbt, f.side, f.qtyLots, f.priceTicks, '0', f.ts));
          const value = round18(m(f.qtyLots).div(m(f.priceTicks).div(2)));
          cash = f.side === 'buy' ? cash.plus(value) : cash.minus(value);
          lots += f.side === 'buy' ? f.qtyLots : -f.qtyLots;
        }
        const markValue = round18(m(Math.abs(lots)).div(m(markTicks).div(2)));
        const expected = lots >= 0 ? cash.minus(markValue) : cash.plus(markValue);
        expect(p.realized.plus(p.unrealized(markTicks)).eq(expected)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
