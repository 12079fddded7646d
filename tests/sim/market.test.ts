import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { L2Book } from '#core/book.ts';
import type { BookSide } from '#core/book.ts';
import type { BookSnapshot, MarketConfig, MarketStep } from '#sim/market.ts';
import { SyntheticMarket } from '#sim/market.ts';
import { Rng, mulberry } from '#sim/rng.ts';

const BTC = 43_000_00; // 43000.00 at tick 0.01

/** All levels of a side, best first. */
function levels(side: BookSide): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < side.depth; i++) out.push([side.priceAt(i), side.qtyAt(i)]);
  return out;
}

/** A replica the way a venue client builds one: snapshot first, then every change in order. */
function replicaOf(snap: BookSnapshot): L2Book {
  const book = new L2Book('REPLICA');
  for (const [p, q] of snap.bids) book.set('bid', p, q);
  for (const [p, q] of snap.asks) book.set('ask', p, q);
  return book;
}

/** The first difference between two books' sides, or null when they hold exactly the same levels. */
function diff(a: L2Book, b: L2Book): string | null {
  for (const [x, y, name] of [
    [a.bids, b.bids, 'bid'],
    [a.asks, b.asks, 'ask'],
  ] as const) {
    if (x.depth !== y.depth) return `${name} depth ${x.depth} vs ${y.depth}`;
    for (let i = 0; i < x.depth; i++) {
      if (x.priceAt(i) !== y.priceAt(i) || x.qtyAt(i) !== y.qtyAt(i))
        return `${name} level ${i}: ${x.priceAt(i)} × ${x.qtyAt(i)} vs ${y.priceAt(i)} × ${y.qtyAt(i)}`;
    }
  }
  return null;
}

/** Every level is a positive-integer quantity at a positive-integer price, sorted, and the book is not crossed. */
function checkBook(m: SyntheticMarket): void {
  const { book } = m;
  expect(book.state).toBe('SYNCED');
  expect(book.isCrossed()).toBe(false);
  expect(book.usable).toBe(true);
  for (const side of [book.bids, book.asks]) {
    let prev = NaN;
    for (const [p, q] of levels(side)) {
      if (!(Number.isSafeInteger(p) && p > 0 && Number.isSafeInteger(q) && q > 0)) {
        throw new Error(`bad level ${p} × ${q} on the ${side.isBid ? 'bid' : 'ask'} side`);
      }
      if (prev === prev && (side.isBid ? p >= prev : p <= prev))
        throw new Error(`levels out of order at ${p}`);
      prev = p;
    }
  }
}

function run(cfg: MarketConfig, steps: number, dtMs = 100): MarketStep[] {
  const m = new SyntheticMarket(cfg);
  const out: MarketStep[] = [];
  for (let i = 0; i < steps; i++) out.push(m.step(dtMs));
  return out;
}

/**
 * Steps a market in 100 ms steps and measures, over samples where the top-5 ratio is beyond 3 (or
 * under 1/3), how often the mid `horizon` steps later has moved that way rather than the other.
 */
function hitRates(cfg: MarketConfig, steps: number, horizon = 50) {
  const m = new SyntheticMarket(cfg);
  const mids = new Float64Array(steps);
  const ratios = new Float64Array(steps);
  for (let i = 0; i < steps; i++) {
    m.step(100);
    mids[i] = m.mid();
    ratios[i] = m.imbalance(5);
  }
  let bidUp = 0;
  let bidDown = 0;
  let askDown = 0;
  let askUp = 0;
  let extreme = 0;
  for (let i = 0; i < steps; i++) {
    const r = ratios[i]!;
    if (r > 3 || r < 1 / 3) extreme++;
    if (i + horizon >= steps) continue;
    const move = mids[i + horizon]! - mids[i]!;
    if (r > 3) {
      if (move > 0) bidUp++;
      else if (move < 0) bidDown++;
    } else if (r < 1 / 3) {
      if (move < 0) askDown++;
      else if (move > 0) askUp++;
    }
  }
  return {
    bidHeavy: bidUp / (bidUp + bidDown),
    askHeavy: askDown / (askDown + askUp),
    bidHeavySamples: bidUp + bidDown,
    askHeavySamples: askDown + askUp,
    extremeShare: extreme / steps,
  };
}

describe('Rng', () => {
  it('gives the same sequence for the same seed and different ones for different seeds', () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 64 }, () => r.nextU32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(0)).not.toEqual(draw(1));
    const a = mulberry(7);
    const b = mulberry(7);
    const c = mulberry(8);
    const sa = Array.from({ length: 16 }, a);
    expect(Array.from({ length: 16 }, b)).toEqual(sa);
    expect(Array.from({ length: 16 }, c)).not.toEqual(sa);
    for (const x of sa) expect(x >= 0 && x < 1).toBe(true);
  });

  it('draws integers uniformly over an inclusive range', () => {
    const r = new Rng(1);
    const counts = new Array<number>(10).fill(0);
    const n = 100_000;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const k = r.int(-3, 6);
      if (!Number.isInteger(k) || k < -3 || k > 6) outside++;
      else counts[k + 3]!++;
    }
    expect(outside).toBe(0);
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.999 quantile.
    const chi2 = counts.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
    expect(chi2).toBeLessThan(27.9);
    expect(r.int(5, 5)).toBe(5);
    expect(() => r.int(2, 1)).toThrow(RangeError);
  });

  it('has distribution helpers with the right means and variances', () => {
    const r = new Rng(2024);
    const n = 200_000;
    const moments = (f: () => number) => {
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const x = f();
        s += x;
        s2 += x * x;
      }
      const mean = s / n;
      return { mean, variance: s2 / n - mean * mean };
    };
    const u = moments(() => r.uniform());
    expect(u.mean).toBeCloseTo(0.5, 2);
    expect(u.variance).toBeCloseTo(1 / 12, 2);
    const z = moments(() => r.normal(3, 2));
    expect(z.mean).toBeCloseTo(3, 1);
    expect(z.variance / 4).toBeCloseTo(1, 1);
    const e = moments(() => r.exponential(4));
    expect(e.mean).toBeCloseTo(0.25, 2);
    expect(e.variance).toBeCloseTo(1 / 16, 2);
    for (const lambda of [0.5, 3, 9.5, 10, 40, 1000]) {
      const p = moments(() => r.poisson(lambda));
      expect(Math.abs(p.mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / n) + 1e-9);
      expect(p.variance / lambda).toBeCloseTo(1, 1);
    }
    const g = moments(() => r.geometric(0.25));
    expect(g.mean).toBeCloseTo(3, 1); // (1 − p) / p
    // Pareto(xm = 1, alpha = 3): mean 1.5, P(X > 2) = 1/8.
    let above = 0;
    const pm = moments(() => {
      const x = r.pareto(1, 3);
      if (x > 2) above++;
      return x;
    });
    expect(pm.mean).toBeCloseTo(1.5, 1);
    expect(above / n).toBeCloseTo(0.125, 2);
  });
});

describe('SyntheticMarket', () => {
  it('is deterministic: the same seed gives the same steps, another seed different ones', () => {
    const a = run({ seed: 5, startMidTicks: BTC }, 300);
    const b = run({ seed: 5, startMidTicks: BTC }, 300);
    const c = run({ seed: 6, startMidTicks: BTC }, 300);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.reduce((n, s) => n + s.trades.length, 0)).toBeGreaterThan(0);
    // Two generators interleaved do not share state.
    const x = new SyntheticMarket({ seed: 5, startMidTicks: BTC });
    const y = new SyntheticMarket({ seed: 6, startMidTicks: BTC });
    for (let i = 0; i < 300; i++) {
      expect(x.step(100)).toEqual(a[i]);
      expect(y.step(100)).toEqual(c[i]);
    }
  });

  it('generates the same events however the caller slices time', () => {
    const fine = new SyntheticMarket({ seed: 9, startMidTicks: BTC }, 1_700_000_000_000);
    const coarse = new SyntheticMarket({ seed: 9, startMidTicks: BTC }, 1_700_000_000_000);
    for (let s = 0; s < 30; s++) {
      const trades = [];
      for (let i = 0; i < 10; i++) trades.push(...fine.step(100).trades);
      expect(coarse.step(1000).trades).toEqual(trades);
      expect(diff(coarse.book, fine.book)).toBeNull();
    }
    expect(fine.ts).toBe(coarse.ts);
  });

  it('never crosses and keeps every level a positive integer at a positive integer price (any seed)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.integer({ min: 2, max: 5_000_000_000 }),
        fc.integer({ min: 5, max: 300 }),
        fc.double({ min: 0, max: 1e-3, noNaN: true }),
        fc.integer({ min: 1, max: 5 }),
        (seed, startMidTicks, depth, volatility, minQtyLots) => {
          const m = new SyntheticMarket({ seed, startMidTicks, depth, volatility, minQtyLots });
          checkBook(m);
          for (let i = 0; i < 160; i++) {
            const s = m.step(250);
            if (m.book.isCrossed()) throw new Error(`crossed after step ${i}`);
            for (const c of s.changes) {
              if (!(
                Number.isSafeInteger(c.qty) &&
                c.qty >= 0 &&
                Number.isSafeInteger(c.price) &&
                c.price > 0
              ))
                throw new Error(`bad change ${JSON.stringify(c)}`);
            }
            for (const t of s.trades) {
              if (!(Number.isSafeInteger(t.qty) && t.qty > 0 && Number.isSafeInteger(t.price) && t.price > 0))
                throw new Error(`bad trade ${JSON.stringify(t)}`);
            }
            if (i % 20 === 0) checkBook(m);
          }
          checkBook(m);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('keeps the depth of each side within ±10 % of the configured depth', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.integer({ min: 5, max: 400 }),
        fc.integer({ min: 100_000, max: 100_000_000 }),
        (seed, depth, startMidTicks) => {
          const m = new SyntheticMarket({ seed, startMidTicks, depth });
          const slack = Math.max(1, Math.round(depth * 0.1));
          for (let i = 0; i < 600; i++) {
            m.step(100);
            for (const side of [m.book.bids, m.book.asks]) {
              if (side.depth < depth - slack || side.depth > depth + slack)
                throw new Error(`depth ${side.depth} outside ${depth} ± ${slack} at step ${i}`);
            }
          }
        },
      ),
      { numRuns: 10 },
    );
  });

  it('reproduces its book exactly from the snapshot plus every step, never crossing mid-step', () => {
    const configs: MarketConfig[] = [
      { seed: 1, startMidTicks: BTC },
      { seed: 2, startMidTicks: 430_000, depth: 50, meanLevelQtyLots: 3 }, // 0.10 tick
      { seed: 3, startMidTicks: 120, depth: 20, volatility: 5e-4 }, // a cheap coin, gap of one tick
      { seed: 4, startMidTicks: BTC, eventsPerSecond: 400, signalsPerMinute: 10 },
    ];
    for (const cfg of configs) {
      const m = new SyntheticMarket(cfg);
      const replica = replicaOf(m.snapshot());
      for (let i = 0; i < 1200; i++) {
        const step = m.step(i % 7 === 0 ? 1000 : 40);
        for (const c of step.changes) {
          replica.set(c.side, c.price, c.qty);
          if (replica.isCrossed()) throw new Error(`replica crossed half-way through step ${i}`);
        }
        const d = diff(replica, m.book);
        if (d !== null) throw new Error(`replica differs after step ${i}: ${d}`);
      }
      // A snapshot taken mid-run is the same book.
      expect(diff(replicaOf(m.snapshot()), m.book)).toBeNull();
    }
  });

  it('reports only net changes: one per side and price, none for a level that ended where it began', () => {
    const m = new SyntheticMarket({ seed: 12, startMidTicks: BTC });
    for (let i = 0; i < 200; i++) {
      const before = replicaOf(m.snapshot());
      const { changes } = m.step(500);
      const keys = changes.map((c) => `${c.side} ${c.price}`);
      expect(new Set(keys).size).toBe(keys.length);
      for (const c of changes) {
        expect((c.side === 'bid' ? before.bids : before.asks).qtyAtPrice(c.price)).not.toBe(c.qty);
      }
    }
  });

  it('prints trades that walk the levels they hit, removing exactly the traded quantity', () => {
    const m = new SyntheticMarket({ seed: 77, startMidTicks: BTC });
    const replica = replicaOf(m.snapshot());
    let takerEvents = 0;
    let multiLevel = 0;
    for (let e = 0; e < 30_000; e++) {
      const step = m.nextEvent();
      const taken = new Map<string, number>();
      if (step.trades.length > 0) {
        takerEvents++;
        if (step.trades.length >= 3) multiLevel++;
        // One taker per event: one side, prices strictly walking away from the touch.
        const buy = step.trades[0]!.takerSide === 'buy';
        let prev = buy ? -Infinity : Infinity;
        for (const t of step.trades) {
          expect(t.takerSide).toBe(buy ? 'buy' : 'sell');
          expect(buy ? t.price > prev : t.price < prev).toBe(true);
          expect(t.ts).toBe(Math.floor(step.ts));
          prev = t.price;
          taken.set(`${t.price}`, (taken.get(`${t.price}`) ?? 0) + t.qty);
        }
        const hit = buy ? replica.asks : replica.bids;
        // It took the best level first.
        expect(step.trades[0]!.price).toBe(hit.bestPrice());
        const before = new Map([...taken.keys()].map((p) => [p, hit.qtyAtPrice(Number(p))]));
        for (const c of step.changes) replica.set(c.side, c.price, c.qty);
        for (const [p, q] of taken) expect((before.get(p) ?? 0) - hit.qtyAtPrice(Number(p))).toBe(q);
        // Every level it walked through, except maybe the last, is gone.
        for (const t of step.trades.slice(0, -1)) expect(hit.qtyAtPrice(t.price)).toBe(0);
      } else {
        for (const c of step.changes) replica.set(c.side, c.price, c.qty);
      }
    }
    expect(takerEvents).toBeGreaterThan(1000);
    expect(multiLevel).toBeGreaterThan(50);
  });

  it('comes in bursts: events per second are over-dispersed, and the mid moves at the configured scale', () => {
    const m = new SyntheticMarket({ seed: 3, startMidTicks: BTC, signalsPerMinute: 0, volatility: 2e-4 });
    const perSecond: number[] = [];
    const logReturns: number[] = [];
    let events = 0;
    let mid = m.mid();
    for (let i = 0; i < 1800; i++) {
      m.step(1000);
      const n = m.stats.events;
      perSecond.push(n - events);
      events = n;
      logReturns.push(Math.log(m.mid() / mid));
      mid = m.mid();
    }
    const mean = perSecond.reduce((a, b) => a + b, 0) / perSecond.length;
    const variance = perSecond.reduce((a, b) => a + (b - mean) ** 2, 0) / perSecond.length;
    expect(mean).toBeGreaterThan(40);
    expect(mean).toBeLessThan(60);
    expect(variance / mean).toBeGreaterThan(4); // a Poisson stream would give 1
    const vol = Math.sqrt(logReturns.reduce((a, r) => a + r * r, 0) / logReturns.length);
    expect(vol).toBeGreaterThan(1e-4);
    expect(vol).toBeLessThan(4e-4);
  });

  it('keeps typical level sizes near meanLevelQtyLots', () => {
    for (const meanLevelQtyLots of [10, 500]) {
      const m = new SyntheticMarket({ seed: 8, startMidTicks: BTC, meanLevelQtyLots });
      let sum = 0;
      let n = 0;
      for (let i = 0; i < 600; i++) {
        m.step(100);
        if (i % 20 === 0) {
          for (const [, q] of [...levels(m.book.bids), ...levels(m.book.asks)]) {
            sum += q;
            n++;
          }
        }
      }
      expect(sum / n).toBeGreaterThan(meanLevelQtyLots / 2);
      expect(sum / n).toBeLessThan(meanLevelQtyLots * 2);
    }
  });

  it('gives top-5 imbalance a genuine edge: past 3 (or under 1/3) the mid 5 s later has moved its way more often', () => {
    let bidHeavy = 0;
    let askHeavy = 0;
    let n = 0;
    for (const seed of [101, 202, 303]) {
      const h = hitRates({ seed, startMidTicks: BTC }, 36_000); // one hour each
      bidHeavy += h.bidHeavy;
      askHeavy += h.askHeavy;
      // Observed often enough to trade on, but not all the time.
      expect(h.bidHeavySamples).toBeGreaterThan(1000);
      expect(h.askHeavySamples).toBeGreaterThan(1000);
      expect(h.extremeShare).toBeLessThan(0.4);
      n++;
    }
    // A genuine but noisy edge: clearly better than a coin, far from certain.
    expect(bidHeavy / n).toBeGreaterThan(0.56);
    expect(askHeavy / n).toBeGreaterThan(0.56);
    expect(bidHeavy / n).toBeLessThan(0.8);
    expect(askHeavy / n).toBeLessThan(0.8);
  });

  it('takes its edge from signalAccuracy: all spoofs turn it around, all-truthful episodes make it strong', () => {
    const spoofs = hitRates({ seed: 404, startMidTicks: BTC, signalAccuracy: 0 }, 18_000);
    const truthful = hitRates({ seed: 404, startMidTicks: BTC, signalAccuracy: 1 }, 18_000);
    expect(spoofs.bidHeavy).toBeLessThan(0.45);
    expect(spoofs.askHeavy).toBeLessThan(0.45);
    expect(truthful.bidHeavy).toBeGreaterThan(0.75);
    expect(truthful.askHeavy).toBeGreaterThan(0.75);
  });

  it('stacks one side of the top 5 mostly during imbalance episodes', () => {
    const calm = hitRates({ seed: 31, startMidTicks: BTC, signalsPerMinute: 0 }, 12_000);
    const lively = hitRates({ seed: 31, startMidTicks: BTC, signalsPerMinute: 6 }, 12_000);
    expect(calm.extremeShare).toBeLessThan(lively.extremeShare / 2);
  });

  it('rejects configurations it cannot honour', () => {
    expect(() => new SyntheticMarket({ seed: 1, startMidTicks: 0 })).toThrow(RangeError);
    expect(() => new SyntheticMarket({ seed: 1, startMidTicks: 1.5 })).toThrow(RangeError);
    expect(() => new SyntheticMarket({ seed: NaN, startMidTicks: BTC })).toThrow(RangeError);
    expect(() => new SyntheticMarket({ seed: 1, startMidTicks: BTC, depth: 3 })).toThrow(RangeError);
    expect(() => new SyntheticMarket({ seed: 1, startMidTicks: BTC, minQtyLots: 0.5 })).toThrow(RangeError);
    expect(() => new SyntheticMarket({ seed: 1, startMidTicks: BTC, eventsPerSecond: 0 })).toThrow(
      RangeError,
    );
    expect(() => new SyntheticMarket({ seed: 1, startMidTicks: BTC, signalAccuracy: 1.5 })).toThrow(
      RangeError,
    );
    const m = new SyntheticMarket({ seed: 1, startMidTicks: BTC });
    expect(() => m.step(-1)).toThrow(RangeError);
  });
});

describe('SyntheticMarket.shock', () => {
  it('a 2 % fall: the next events sweep the bids to the new fair price', () => {
    const m = new SyntheticMarket({ seed: 3, startMidTicks: 100_000, eventsPerSecond: 200 });
    m.step(1_000);
    const before = m.bestBid();
    m.shock(-0.02);
    m.step(200);
    expect(m.bestBid()).toBeLessThan(before * 0.985);
    expect(m.bestAsk()).toBeGreaterThan(m.bestBid());
    expect(() => m.shock(-1)).toThrow(RangeError);
  });
});
