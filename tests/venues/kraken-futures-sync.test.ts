/**
 * Kraken Futures WS v1 book (VENUES.md §4.4): `book_snapshot`, then one `book` delta per level with
 * `seq` increasing by exactly 1 per product; qty is absolute, 0 deletes; resubscribe on any gap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { L2Book } from '#core/book.ts';
import { DataError } from '#core/errors.ts';
import { fromSteps } from '#core/grid.ts';
import type { SyncHooks, SyncStats } from '#venues/book-feed.ts';
import type { KrakenFuturesFeedOptions } from '#venues/kraken-futures/book-feed.ts';
import { CROSSED_LIMIT, KrakenFuturesBookFeed } from '#venues/kraken-futures/book-feed.ts';
import { krakenFuturesInstruments } from '#venues/kraken-futures/instruments.ts';

/** `GET /derivatives/api/v3/instruments`, trimmed to the fields the book needs (REST ids may be lowercase). */
const INSTRUMENTS = krakenFuturesInstruments({
  result: 'success',
  instruments: [
    {
      symbol: 'pi_xbtusd',
      type: 'futures_inverse',
      underlying: 'rr_xbtusd',
      tickSize: 0.5,
      contractSize: 1,
      tradeable: true,
    },
    {
      symbol: 'PF_ETHUSD',
      type: 'flexible_futures',
      tickSize: 0.1,
      contractSize: 1,
      contractValueTradePrecision: 3,
    },
    {
      symbol: 'PF_PEPEUSD',
      type: 'flexible_futures',
      tickSize: 1e-10,
      contractSize: 1,
      contractValueTradePrecision: -3,
    },
    { symbol: 'in_xbtusd', type: 'spot index', tradeable: false }, // an index: no tickSize
  ],
});

type Level = { price: number; qty: number };
type Pair = [number, number];

interface Harness {
  feed: KrakenFuturesBookFeed;
  resyncs: Array<{ symbol: string; reason: string }>;
  updates: number;
  snap(product: string, seq: number, bids: Level[], asks: Level[]): void;
  delta(product: string, seq: number, side: 'buy' | 'sell', price: number, qty: number): void;
  book(product: string): L2Book;
  stats(product: string): SyncStats;
  /** The book back in venue numbers, best first. */
  view(product: string): { bids: Pair[]; asks: Pair[] };
}

function harness(opts: KrakenFuturesFeedOptions = { instruments: INSTRUMENTS }): Harness {
  const resyncs: Array<{ symbol: string; reason: string }> = [];
  const hooks: SyncHooks = {
    requestResync: (symbol, reason) => resyncs.push({ symbol, reason }),
    onBook: () => h.updates++,
  };
  const feed = new KrakenFuturesBookFeed(hooks, opts);
  let ts = 0;
  const sync = (product: string) => {
    const s = feed.symbols().get(product);
    if (!s) throw new Error(`no sync for ${product}`);
    return s;
  };
  const h: Harness = {
    feed,
    resyncs,
    updates: 0,
    snap: (product, seq, bids, asks) =>
      feed.onMessage(
        {
          feed: 'book_snapshot',
          product_id: product,
          timestamp: 1_626_994_925_000 + seq,
          seq,
          tickSize: null,
          bids,
          asks,
        },
        ++ts,
      ),
    delta: (product, seq, side, price, qty) =>
      feed.onMessage(
        { feed: 'book', product_id: product, side, seq, price, qty, timestamp: 1_626_994_925_000 + seq },
        ++ts,
      ),
    book: (product) => sync(product).book,
    stats: (product) => sync(product).stats,
    view: (product) => {
      const s = sync(product);
      const g = s.grids;
      if (!g) return { bids: [], asks: [] };
      const numbers = (levels: Array<[number, number | bigint]>): Pair[] =>
        levels.map(([p, q]) => [Number(fromSteps(p, g.price)), Number(fromSteps(q, g.qty))]);
      return { bids: numbers(s.book.bids.top(10_000)), asks: numbers(s.book.asks.top(10_000)) };
    },
  };
  return h;
}

const XBT = 'PI_XBTUSD';
const BIDS: Level[] = [
  { price: 27120.5, qty: 1500 },
  { price: 27120, qty: 300 },
];
const ASKS: Level[] = [
  { price: 27121, qty: 200 },
  { price: 27122.5, qty: 10 },
];

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return (err as DataError).code;
  }
  throw new Error('expected a DataError, nothing was thrown');
}

describe('KrakenFuturesBookFeed', () => {
  it('builds the book from book_snapshot and applies per-level deltas in seq order', () => {
    const h = harness();
    h.snap(XBT, 100, BIDS, ASKS);
    expect(h.book(XBT).state).toBe('SYNCED');
    expect(h.book(XBT).usable).toBe(true);
    h.delta(XBT, 101, 'buy', 27120, 0); // qty 0 deletes
    h.delta(XBT, 102, 'sell', 27121.5, 400);
    h.delta(XBT, 103, 'sell', 27121, 250); // absolute, not a delta
    expect(h.view(XBT)).toEqual({
      bids: [[27120.5, 1500]],
      asks: [
        [27121, 250],
        [27121.5, 400],
        [27122.5, 10],
      ],
    });
    expect(h.stats(XBT)).toMatchObject({ applied: 3, gaps: 0, resyncs: 0 });
    expect(h.book(XBT).lastUpdateId).toBe(103);
    expect(h.book(XBT).venueTs).toBe(1_626_994_925_103);
    expect(h.updates).toBe(4);
  });

  it('counts prices in ticks of the instrument tickSize (0.5)', () => {
    const h = harness();
    h.snap(XBT, 1, BIDS, ASKS);
    expect(h.book(XBT).bestBid()).toBe(27120.5 * 2);
    expect(h.book(XBT).bestAsk()).toBe(27121 * 2);
  });

  it('on a seq gap goes UNSYNCED, requests a resync and drops deltas until the next snapshot', () => {
    const h = harness();
    h.snap(XBT, 100, BIDS, ASKS);
    h.delta(XBT, 102, 'buy', 27119, 5); // 101 is missing
    expect(h.stats(XBT)).toMatchObject({ gaps: 1, resyncs: 1, applied: 0 });
    expect(h.book(XBT).state).toBe('UNSYNCED');
    expect(h.book(XBT).usable).toBe(false);
    expect(h.view(XBT)).toEqual({ bids: [], asks: [] });
    expect(h.resyncs).toEqual([{ symbol: XBT, reason: expect.any(String) as string }]);

    const updates = h.updates;
    h.delta(XBT, 103, 'buy', 27119, 6);
    h.delta(XBT, 104, 'sell', 27125, 6);
    expect(h.stats(XBT)).toMatchObject({ dropped: 2, gaps: 1, resyncs: 1 });
    expect(h.view(XBT)).toEqual({ bids: [], asks: [] });
    expect(h.updates).toBe(updates);
    expect(h.resyncs).toHaveLength(1);

    h.snap(XBT, 200, BIDS, ASKS);
    expect(h.book(XBT).state).toBe('SYNCED');
    h.delta(XBT, 201, 'buy', 27119, 7);
    expect(h.view(XBT).bids).toEqual([
      [27120.5, 1500],
      [27120, 300],
      [27119, 7],
    ]);
  });

  it('treats a repeated or older seq as a gap', () => {
    const h = harness();
    h.snap(XBT, 100, BIDS, ASKS);
    h.delta(XBT, 101, 'buy', 27119, 1);
    h.delta(XBT, 101, 'buy', 27119, 1);
    expect(h.stats(XBT).gaps).toBe(1);
    expect(h.book(XBT).state).toBe('UNSYNCED');
  });

  it('treats a delta without a numeric seq as a gap', () => {
    const h = harness();
    h.snap(XBT, 100, BIDS, ASKS);
    h.feed.onMessage({ feed: 'book', product_id: XBT, side: 'buy', seq: '101', price: 27119, qty: 1 }, 1);
    expect(h.stats(XBT).gaps).toBe(1);
    expect(h.book(XBT).state).toBe('UNSYNCED');
  });

  it('drops deltas that arrive before any snapshot', () => {
    const h = harness();
    h.delta(XBT, 5, 'buy', 27119, 1);
    expect(h.stats(XBT)).toMatchObject({ dropped: 1, applied: 0 });
    expect(h.book(XBT).state).toBe('UNSYNCED');
  });

  it('skips zero-quantity levels in a snapshot', () => {
    const h = harness();
    h.snap(XBT, 1, [...BIDS, { price: 27100, qty: 0 }], [{ price: 27121, qty: 0 }, ...ASKS.slice(1)]);
    expect(h.view(XBT)).toEqual({
      bids: [
        [27120.5, 1500],
        [27120, 300],
      ],
      asks: [[27122.5, 10]],
    });
  });

  it('replaces the whole book on a new snapshot (a resubscribe)', () => {
    const h = harness();
    h.snap(XBT, 100, BIDS, ASKS);
    h.snap(XBT, 500, [{ price: 30000, qty: 1 }], [{ price: 30000.5, qty: 2 }]);
    expect(h.view(XBT)).toEqual({ bids: [[30000, 1]], asks: [[30000.5, 2]] });
    expect(h.book(XBT).state).toBe('SYNCED');
    h.delta(XBT, 501, 'buy', 29999.5, 3);
    expect(h.stats(XBT).gaps).toBe(0);
  });

  it('ignores subscription acks, info events and other feeds', () => {
    const h = harness();
    h.feed.onMessage({ event: 'info', version: 1 }, 1);
    h.feed.onMessage({ event: 'subscribed', feed: 'book', product_ids: [XBT] }, 2);
    h.feed.onMessage({ event: 'subscribed', feed: 'book_snapshot', product_id: XBT }, 3);
    h.feed.onMessage({ feed: 'trade', product_id: XBT, side: 'buy', price: 27120, qty: 1, seq: 1 }, 4);
    h.feed.onMessage({ feed: 'ticker_lite', product_id: XBT, bid: 27120 }, 5);
    h.feed.onMessage(null, 6);
    expect(h.feed.symbols().size).toBe(0);
  });

  it('maps lowercase and uppercase product ids to one book', () => {
    const h = harness();
    h.snap('pi_xbtusd', 100, BIDS, ASKS);
    h.delta('PI_XBTUSD', 101, 'buy', 27119, 1);
    h.delta('Pi_XbtUsd', 102, 'buy', 27118, 1);
    expect([...h.feed.symbols().keys()]).toEqual([XBT]);
    expect(h.stats(XBT)).toMatchObject({ applied: 2, gaps: 0 });
  });

  it('keeps products independent: a gap in one leaves the other synced', () => {
    const h = harness();
    h.snap(XBT, 100, BIDS, ASKS);
    h.snap('PF_ETHUSD', 7, [{ price: 2004.1, qty: 1.5 }], [{ price: 2004.2, qty: 2 }]);
    h.delta(XBT, 105, 'buy', 27119, 1);
    expect(h.book(XBT).state).toBe('UNSYNCED');
    expect(h.book('PF_ETHUSD').state).toBe('SYNCED');
    h.delta('PF_ETHUSD', 8, 'buy', 2004, 0.25);
    expect(h.view('PF_ETHUSD').bids).toEqual([
      [2004.1, 1.5],
      [2004, 0.25],
    ]);
    expect(h.resyncs.map((r) => r.symbol)).toEqual([XBT]);
  });

  it('throws every book away on resetAll without asking, until the next snapshot', () => {
    const h = harness();
    h.snap(XBT, 100, BIDS, ASKS);
    h.feed.resetAll('connection lost');
    expect(h.book(XBT).state).toBe('UNSYNCED');
    expect(h.view(XBT)).toEqual({ bids: [], asks: [] });
    expect(h.resyncs).toEqual([]);
    h.delta(XBT, 101, 'buy', 27119, 1);
    expect(h.stats(XBT)).toMatchObject({ dropped: 1, applied: 0, gaps: 0 });
    h.snap(XBT, 300, BIDS, ASKS);
    expect(h.book(XBT).state).toBe('SYNCED');
  });

  it('tracks only the products it was asked for', () => {
    const h = harness({ instruments: INSTRUMENTS, only: new Set(['PF_ETHUSD']) });
    h.snap(XBT, 100, BIDS, ASKS);
    expect(h.feed.symbols().size).toBe(0);
  });

  describe('crossed books', () => {
    /** Synced on bid 27120.5 / ask 27121, then crossed by a bid at 27121.5. */
    function crossed(): Harness {
      const h = harness();
      h.snap(XBT, 100, BIDS, ASKS);
      h.delta(XBT, 101, 'buy', 27121.5, 1);
      expect(h.book(XBT).isCrossed()).toBe(true);
      return h;
    }

    it('is never usable while crossed, and is not handed on to consumers', () => {
      const h = harness();
      h.snap(XBT, 100, BIDS, ASKS);
      const before = h.updates;
      h.delta(XBT, 101, 'buy', 27121.5, 1);
      expect(h.book(XBT).state).toBe('SYNCED');
      expect(h.book(XBT).usable).toBe(false);
      expect(h.stats(XBT).crossed).toBe(1);
      expect(h.updates).toBe(before);
      h.delta(XBT, 102, 'sell', 27121, 0);
      h.delta(XBT, 103, 'sell', 27122.5, 0);
      expect(h.book(XBT).usable).toBe(true);
      expect(h.updates).toBe(before + 2); // 102 uncrossed it, 103 is an ordinary update
    });

    it('lets a transient cross pass (the next deltas uncross it)', () => {
      const h = crossed();
      h.delta(XBT, 102, 'sell', 27121, 0);
      h.delta(XBT, 103, 'sell', 27122.5, 0);
      h.delta(XBT, 104, 'sell', 27123, 5);
      expect(h.book(XBT).usable).toBe(true);
      expect(h.stats(XBT)).toMatchObject({ resyncs: 0, crossed: 1 });
    });

    it(`resyncs a book that stays crossed for CROSSED_LIMIT (${CROSSED_LIMIT}) deltas in a row`, () => {
      const h = crossed(); // 1 crossed delta so far
      let seq = 101;
      for (let i = 2; i < CROSSED_LIMIT; i++) h.delta(XBT, ++seq, 'buy', 27000 - i, 1);
      expect(h.stats(XBT).resyncs).toBe(0);
      expect(h.book(XBT).state).toBe('SYNCED');
      h.delta(XBT, ++seq, 'buy', 26000, 1);
      expect(h.stats(XBT)).toMatchObject({ resyncs: 1, crossed: 1 });
      expect(h.book(XBT).state).toBe('UNSYNCED');
      expect(h.resyncs.map((r) => r.symbol)).toEqual([XBT]);
    });

    it('counts the crossed run afresh after the book uncrosses', () => {
      const h = crossed();
      let seq = 101;
      for (let i = 2; i < CROSSED_LIMIT; i++) h.delta(XBT, ++seq, 'buy', 27000 - i, 1);
      h.delta(XBT, ++seq, 'buy', 27121.5, 0); // uncrossed
      h.delta(XBT, ++seq, 'buy', 27121.5, 1); // crossed again: a new run
      for (let i = 2; i < CROSSED_LIMIT; i++) h.delta(XBT, ++seq, 'buy', 26000 - i, 1);
      expect(h.stats(XBT)).toMatchObject({ resyncs: 0, crossed: 2 });
      expect(h.book(XBT).state).toBe('SYNCED');
    });
  });

  describe('precision', () => {
    it('converts PF_ETHUSD prices on tick 0.1 and sizes at contractValueTradePrecision 3', () => {
      const h = harness();
      h.snap('PF_ETHUSD', 1, [{ price: 2004.1, qty: 1.234 }], [{ price: 2004.3, qty: 0.001 }]);
      expect(h.book('PF_ETHUSD').bestBid()).toBe(20041);
      expect(h.book('PF_ETHUSD').bids.bestQty()).toBe(1234);
      expect(h.book('PF_ETHUSD').asks.bestQty()).toBe(1);
    });

    it('converts PF_PEPEUSD prices on tick 1e-10 and sizes in lots of 1000 (precision -3)', () => {
      const h = harness();
      h.snap('PF_PEPEUSD', 1, [{ price: 0.0000123456, qty: 5000 }], [{ price: 0.0000123457, qty: 1000 }]);
      expect(h.book('PF_PEPEUSD').bestBid()).toBe(123456);
      expect(h.book('PF_PEPEUSD').bids.bestQty()).toBe(5);
      h.delta('PF_PEPEUSD', 2, 'buy', 0.0000123455, 5500); // not a multiple of 1000
      expect(h.stats('PF_PEPEUSD')).toMatchObject({ errors: 1, resyncs: 1 });
      expect(h.book('PF_PEPEUSD').state).toBe('UNSYNCED');
    });

    it('resyncs and counts an error on an off-grid delta price', () => {
      const h = harness();
      h.snap(XBT, 100, BIDS, ASKS);
      h.delta(XBT, 101, 'buy', 27119.3, 1); // tick is 0.5
      expect(h.stats(XBT)).toMatchObject({ errors: 1, resyncs: 1, applied: 0 });
      expect(h.book(XBT).state).toBe('UNSYNCED');
      expect(h.resyncs).toHaveLength(1);
    });

    it('resyncs and counts an error on an off-grid snapshot', () => {
      const h = harness();
      h.snap(XBT, 100, [{ price: 27120.25, qty: 1 }], ASKS);
      expect(h.stats(XBT)).toMatchObject({ errors: 1, resyncs: 1 });
      expect(h.book(XBT).state).toBe('UNSYNCED');
    });

    it('resyncs and counts an error on a delta side that is neither buy nor sell', () => {
      const h = harness();
      h.snap(XBT, 100, BIDS, ASKS);
      h.feed.onMessage({ feed: 'book', product_id: XBT, side: 'bid', seq: 101, price: 27119, qty: 1 }, 1);
      expect(h.stats(XBT)).toMatchObject({ errors: 1, resyncs: 1 });
    });

    it('throws NO_PRECISION for a product with no instrument metadata', () => {
      expect(codeOf(() => harness({}).snap(XBT, 1, BIDS, ASKS))).toBe('NO_PRECISION');
      expect(codeOf(() => harness().snap('PF_SOLUSD', 1, BIDS, ASKS))).toBe('NO_PRECISION');
      expect(codeOf(() => harness().snap('IN_XBTUSD', 1, BIDS, ASKS))).toBe('NO_PRECISION');
    });

    it('uses explicit precision when given instead of metadata', () => {
      const h = harness({ pricePrecision: 1, qtyPrecision: 0 });
      h.snap('PF_SOLUSD', 1, [{ price: 150.3, qty: 2 }], [{ price: 150.4, qty: 1 }]);
      expect(h.book('PF_SOLUSD').bestBid()).toBe(1503);
      expect(h.book('PF_SOLUSD').state).toBe('SYNCED');
    });
  });

  it('rejects a book_snapshot without seq and any REST snapshot (BAD_MESSAGE)', () => {
    const h = harness();
    expect(
      codeOf(() => h.feed.onMessage({ feed: 'book_snapshot', product_id: XBT, bids: [], asks: [] }, 1)),
    ).toBe('BAD_MESSAGE');
    expect(codeOf(() => h.feed.onMessage({ feed: 'book', side: 'buy', seq: 1 }, 1))).toBe('BAD_MESSAGE');
    expect(codeOf(() => h.feed.onSnapshot())).toBe('BAD_MESSAGE');
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random deltas rebuild a reference book; a dropped or repeated delta is always caught.
// ---------------------------------------------------------------------------------------------

const ETH = 'PF_ETHUSD'; // tick 0.1, size 0.001

/** Ticks and lots written the way the venue's JSON numbers read: "2004.1" → 2004.1. */
const price = (ticks: number): number => Number(`${Math.floor(ticks / 10)}.${ticks % 10}`);
const size = (lots: number): number =>
  Number(`${Math.floor(lots / 1000)}.${String(lots % 1000).padStart(3, '0')}`);

interface Delta {
  side: 'buy' | 'sell';
  ticks: number;
  lots: number;
}

/** Bids on ticks 20000..20099, asks on 20100..20199: the stream never crosses the book. */
const arbDelta: fc.Arbitrary<Delta> = fc.oneof(
  fc.record({
    side: fc.constant('buy' as const),
    ticks: fc.integer({ min: 20_000, max: 20_099 }),
    lots: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 99_999 })),
  }),
  fc.record({
    side: fc.constant('sell' as const),
    ticks: fc.integer({ min: 20_100, max: 20_199 }),
    lots: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 99_999 })),
  }),
);
interface SnapLevel {
  ticks: number;
  lots: number;
}

const arbSnapSide = (lo: number): fc.Arbitrary<SnapLevel[]> =>
  fc.array(
    fc.record({
      ticks: fc.integer({ min: lo, max: lo + 99 }),
      lots: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 99_999 })),
    }),
    { maxLength: 10 },
  );
interface Stream {
  seq: number;
  bids: SnapLevel[];
  asks: SnapLevel[];
  deltas: Delta[];
}

const arbStream: fc.Arbitrary<Stream> = fc.record({
  seq: fc.integer({ min: 0, max: 100_000_000 }),
  bids: arbSnapSide(20_000),
  asks: arbSnapSide(20_100),
  deltas: fc.array(arbDelta, { minLength: 2, maxLength: 60 }),
});

type Ref = { buy: Map<number, number>; sell: Map<number, number> };

function reference(s: Stream): Ref {
  // Snapshot levels are placed in order (a later duplicate price wins); zero-qty levels are not levels.
  const ref: Ref = { buy: new Map(), sell: new Map() };
  for (const [side, levels] of [
    ['buy', s.bids],
    ['sell', s.asks],
  ] as const) {
    for (const l of levels) if (l.lots !== 0) ref[side].set(l.ticks, l.lots);
  }
  for (const d of s.deltas) {
    if (d.lots === 0) ref[d.side].delete(d.ticks);
    else ref[d.side].set(d.ticks, d.lots);
  }
  return ref;
}

function refView(ref: Ref): { bids: Pair[]; asks: Pair[] } {
  const pairs = (m: Map<number, number>, desc: boolean): Pair[] =>
    [...m].sort(([a], [b]) => (desc ? b - a : a - b)).map(([t, l]) => [price(t), size(l)]);
  return { bids: pairs(ref.buy, true), asks: pairs(ref.sell, false) };
}

function playSnapshot(h: Harness, s: Stream): void {
  const lv = (l: SnapLevel): Level => ({ price: price(l.ticks), qty: size(l.lots) });
  h.snap(ETH, s.seq, s.bids.map(lv), s.asks.map(lv));
}

describe('KrakenFuturesBookSync property', () => {
  it('rebuilds the reference book from a snapshot and random per-level deltas', () => {
    fc.assert(
      fc.property(arbStream, (s) => {
        const h = harness();
        playSnapshot(h, s);
        s.deltas.forEach((d, i) => h.delta(ETH, s.seq + 1 + i, d.side, price(d.ticks), size(d.lots)));
        expect(h.stats(ETH)).toMatchObject({ gaps: 0, resyncs: 0, errors: 0, applied: s.deltas.length });
        expect(h.book(ETH).state).toBe('SYNCED');
        expect(h.view(ETH)).toEqual(refView(reference(s)));
      }),
      { numRuns: 300 },
    );
  });

  it('detects a dropped or repeated delta and ignores everything after it until a snapshot', () => {
    const arb = arbStream.chain((s) =>
      fc.record({
        s: fc.constant(s),
        at: fc.integer({ min: 0, max: s.deltas.length - 2 }),
        repeat: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(arb, ({ s, at, repeat }) => {
        const h = harness();
        playSnapshot(h, s);
        const sent = s.deltas.map((d, i) => ({ ...d, seq: s.seq + 1 + i }));
        if (repeat) sent.splice(at + 1, 0, sent[at] as (typeof sent)[number]);
        else sent.splice(at, 1);
        sent.forEach((d) => h.delta(ETH, d.seq, d.side, price(d.ticks), size(d.lots)));

        // Dropping delta `at` is caught by the next one; repeating it is caught by the repeat.
        const caughtAt = repeat ? at + 1 : at;
        expect(h.stats(ETH)).toMatchObject({
          gaps: 1,
          resyncs: 1,
          applied: caughtAt,
          dropped: sent.length - caughtAt - 1,
        });
        expect(h.book(ETH).state).toBe('UNSYNCED');
        expect(h.book(ETH).usable).toBe(false);
        expect(h.resyncs).toHaveLength(1);
      }),
      { numRuns: 300 },
    );
  });
});
