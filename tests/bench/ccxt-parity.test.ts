/**
 * The order-book benchmark compares like with like: on the benchmark's own seeded stream,
 * Tradewind's book and ccxt's OrderBook (fed the way the benchmark feeds it) hold the same top of
 * book after every message, and the stream is the realistic Binance USD-M traffic it claims to be.
 */
import { describe, expect, it } from 'vitest';
import type { BookSide } from '#core/book.ts';
import type { Grid } from '#core/grid.ts';
import { fromSteps } from '#core/grid.ts';
import type { BinanceBookFeed } from '#venues/binance/book-feed.ts';
import type { CcxtBookSide } from '../../bench/contenders.ts';
import {
  ccxt,
  ccxtApply,
  ccxtBook,
  ccxtImbalance,
  jsonParseFloor,
  naive,
  tradewind,
  tradewindFeed,
} from '../../bench/contenders.ts';
import { generateDepthStream, mulberry32 } from '../../bench/depth-stream.ts';

const TOP = 10;

type Level = [string, string];
interface Frame {
  stream: string;
  data: {
    e: string;
    E: number;
    T: number;
    s: string;
    U: number;
    u: number;
    pu: number;
    b: Level[];
    a: Level[];
  };
}

/** Tradewind's top levels as the numbers ccxt would hold: exact text first, then Number(). */
function tradewindTop(side: BookSide, price: Grid, qty: Grid): Array<[number, number]> {
  return side.top(TOP).map(([p, q]) => [Number(fromSteps(p, price)), Number(fromSteps(q, qty))]);
}

function ccxtTop(side: CcxtBookSide): Array<[number, number]> {
  return side.slice(0, TOP).map(([p, q]) => [p, q]);
}

/**
 * One frame into Tradewind's feed: as the live client does it (the text decoder, JSON.parse for
 * what it leaves), or always through JSON.parse → onMessage.
 */
function feedFrame(feed: BinanceBookFeed, path: 'text' | 'json', text: string, ts: number): void {
  if (path === 'text' && feed.onText(text, ts)) return;
  feed.onMessage(JSON.parse(text), ts);
}

describe('Tradewind vs ccxt OrderBook on the benchmark stream', () => {
  for (const [seed, path] of [
    [1, 'text'],
    [20260101, 'text'],
    [1, 'json'],
  ] as const) {
    it(`holds the same top ${TOP} bids and asks after every message (seed ${seed}, ${path} path)`, () => {
      const stream = generateDepthStream({ messages: 2_500, seed });
      const { feed, book } = tradewindFeed(stream);
      const cx = ccxtBook(stream);
      const sync = feed.sync(stream.symbol);
      const grids = sync?.grids;
      if (!sync || !grids) throw new Error('the snapshot did not set up the Tradewind sync');

      let compared = 0;
      for (let i = 0; i < stream.frames.length; i++) {
        const text = stream.frames[i] as string;
        feedFrame(feed, path, text, i);
        ccxtApply(cx, JSON.parse(text) as Frame);
        const tw = {
          bids: tradewindTop(book.bids, grids.price, grids.qty),
          asks: tradewindTop(book.asks, grids.price, grids.qty),
        };
        const other = { bids: ccxtTop(cx.bids), asks: ccxtTop(cx.asks) };
        if (JSON.stringify(tw) !== JSON.stringify(other)) {
          // Only build the detailed diff on failure: toEqual on every message is slow.
          expect({ message: i, ...tw }).toEqual({ message: i, ...other });
        }
        expect(book.imbalance(5)).toBeCloseTo(ccxtImbalance(cx, 5), 12);
        compared++;
      }

      expect(compared).toBe(stream.frames.length);
      expect(book.state).toBe('SYNCED');
      expect(sync.stats).toMatchObject({ gaps: 0, resyncs: 0, errors: 0, crossed: 0 });
      expect(sync.stats.applied).toBe(stream.frames.length);
      // Both keep every level, not just the top.
      expect(book.bids.depth).toBe(cx.bids.length);
      expect(book.asks.depth).toBe(cx.asks.length);
      expect(cx.nonce).toBe(book.lastUpdateId);
      // The text path decoded every frame but the first (its symbol was not known yet).
      if (path === 'text')
        expect(feed.textStats()).toMatchObject({ ok: stream.frames.length - 1, 'unknown-symbol': 1 });
    });
  }

  it.each(['text', 'json'] as const)(
    'ends with exactly the true book the generator kept (%s path)',
    (path) => {
      const stream = generateDepthStream({ messages: 1_500, seed: 7 });
      const { feed, book } = tradewindFeed(stream);
      for (let i = 0; i < stream.frames.length; i++) feedFrame(feed, path, stream.frames[i] as string, i);
      const grids = feed.sync(stream.symbol)?.grids;
      if (!grids) throw new Error('no grids');
      const asText = (side: BookSide): Map<string, string> => {
        const out = new Map<string, string>();
        for (const [p, q] of side.top(side.depth))
          out.set(fromSteps(p, grids.price), fromSteps(q, grids.qty));
        return out;
      };
      const truth = stream.truth();
      expect(asText(book.bids)).toEqual(truth.bids);
      expect(asText(book.asks)).toEqual(truth.asks);
    },
  );

  it('gives every contender the same imbalances, so the benchmark times the same work', () => {
    const stream = generateDepthStream({ messages: 300, seed: 3 });
    const sums = [tradewind(stream), ccxt(stream), naive(stream)].map((c) => {
      c.prepare();
      const sum = c.run(stream.frames, 0, stream.frames.length);
      c.verify();
      return sum;
    });
    expect(Number.isFinite(sums[0])).toBe(true);
    expect(sums[1]).toBeCloseTo(sums[0] as number, 6);
    expect(sums[2]).toBeCloseTo(sums[0] as number, 6);
    const floor = jsonParseFloor();
    floor.prepare();
    expect(floor.run(stream.frames, 0, stream.frames.length)).toBe(300 * 20);
  });
});

describe('the benchmark depth stream', () => {
  const stream = generateDepthStream({ messages: 2_000, seed: 11 });
  const frames = stream.frames.map((f) => JSON.parse(f) as Frame);

  it('is deterministic per seed', () => {
    const again = generateDepthStream({ messages: 2_000, seed: 11 });
    expect(again.snapshot).toBe(stream.snapshot);
    expect(again.frames).toEqual(stream.frames);
    expect(generateDepthStream({ messages: 50, seed: 12 }).frames).not.toEqual(stream.frames.slice(0, 50));
  });

  it('starts from a 1000-level REST snapshot that the first frame brackets', () => {
    const snap = JSON.parse(stream.snapshot) as { lastUpdateId: number; bids: Level[]; asks: Level[] };
    expect(snap.bids).toHaveLength(1000);
    expect(snap.asks).toHaveLength(1000);
    const first = frames[0]?.data;
    expect(first?.U).toBeLessThanOrEqual(snap.lastUpdateId);
    expect(first?.u).toBeGreaterThanOrEqual(snap.lastUpdateId);
    // Best first, as /fapi/v1/depth sends them, and never crossed.
    expect(Number(snap.bids[0]?.[0])).toBeLessThan(Number(snap.asks[0]?.[0]));
  });

  it('sends combined-stream depthUpdate frames of 20 levels per side, chained by pu', () => {
    let prevU = -1;
    for (const { stream: name, data } of frames) {
      expect(name).toBe('btcusdt@depth@100ms');
      expect(data.e).toBe('depthUpdate');
      expect(data.s).toBe('BTCUSDT');
      expect(data.b).toHaveLength(20);
      expect(data.a).toHaveLength(20);
      expect(data.T).toBeLessThanOrEqual(data.E);
      expect(data.U).toBeLessThanOrEqual(data.u);
      if (prevU >= 0) {
        expect(data.pu).toBe(prevU);
        // Futures ids are not contiguous: only pu carries continuity.
        expect(data.U).toBeGreaterThan(prevU + 1);
      }
      prevU = data.u;
    }
  });

  it('writes prices on the 0.10 tick with two decimals and sizes on the 0.001 lot, with deletes', () => {
    let levels = 0;
    let deletes = 0;
    const bad: string[] = [];
    for (const { data } of frames) {
      for (const side of [data.b, data.a]) {
        for (let i = 0; i < side.length; i++) {
          const [p, q] = side[i] as Level;
          if (!/^[1-9]\d*\.\d0$/.test(p) || !/^\d+\.\d{3}$/.test(q)) bad.push(`${p} ${q}`);
          // Each side in ascending price order, as the venue sends diffs.
          if (i > 0 && Number((side[i - 1] as Level)[0]) >= Number(p)) bad.push(`order at ${p}`);
          levels++;
          if (q === '0.000') deletes++;
        }
      }
    }
    expect(bad).toEqual([]);
    expect(deletes / levels).toBeGreaterThan(0.05);
    expect(deletes / levels).toBeLessThan(0.4);
  });
});

describe('mulberry32', () => {
  it('is a deterministic stream of [0, 1) numbers', () => {
    const a = mulberry32(5);
    const b = mulberry32(5);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});
