import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Side } from '#core/book.ts';
import { BookSide, L2Book } from '#core/book.ts';
import { InvariantError } from '#core/errors.ts';

/** Reference model of one side: a Map from price to quantity, sorted on demand. */
class RefSide<Q extends number | bigint> {
  readonly levels = new Map<number, Q>();
  readonly isBid: boolean;
  constructor(isBid: boolean) {
    this.isBid = isBid;
  }
  set(price: number, qty: Q): void {
    if (qty == 0) this.levels.delete(price);
    else this.levels.set(price, qty);
  }
  /** Best first: bids high → low, asks low → high. */
  sorted(): Array<[number, Q]> {
    return [...this.levels].sort(([a], [b]) => (this.isBid ? b - a : a - b));
  }
  top(n: number): Array<[number, Q]> {
    return this.sorted().slice(0, n);
  }
  truncate(n: number): void {
    for (const [p] of this.sorted().slice(n)) this.levels.delete(p);
  }
}

function filled(bids: Array<[number, number]>, asks: Array<[number, number]>): L2Book {
  const book = new L2Book('TEST');
  for (const [p, q] of bids) book.set('bid', p, q);
  for (const [p, q] of asks) book.set('ask', p, q);
  return book;
}

describe('BookSide', () => {
  it('keeps bids best-first by highest price', () => {
    const bids = new BookSide(true);
    bids.set(100, 1);
    bids.set(102, 2);
    bids.set(101, 3);
    expect(bids.bestPrice()).toBe(102);
    expect(bids.bestQty()).toBe(2);
    expect(bids.top(10)).toEqual([
      [102, 2],
      [101, 3],
      [100, 1],
    ]);
  });

  it('keeps asks best-first by lowest price', () => {
    const asks = new BookSide(false);
    asks.set(105, 1);
    asks.set(103, 2);
    asks.set(104, 3);
    expect(asks.bestPrice()).toBe(103);
    expect(asks.top(2)).toEqual([
      [103, 2],
      [104, 3],
    ]);
    expect(asks.priceAt(2)).toBe(105);
    expect(asks.qtyAt(2)).toBe(1);
  });

  it('replaces the quantity of an existing level (quantities are absolute)', () => {
    const s = new BookSide(true);
    s.set(100, 5);
    s.set(100, 7);
    expect(s.depth).toBe(1);
    expect(s.qtyAtPrice(100)).toBe(7);
  });

  it('deletes a level when its quantity is set to 0', () => {
    const s = new BookSide(false);
    s.set(100, 5);
    s.set(101, 6);
    s.set(100, 0);
    expect(s.depth).toBe(1);
    expect(s.qtyAtPrice(100)).toBe(0);
    expect(s.bestPrice()).toBe(101);
  });

  it('treats deleting an absent level as a no-op', () => {
    const s = new BookSide(true);
    s.set(100, 5);
    s.set(99, 0);
    s.set(101, 0);
    expect(s.top(10)).toEqual([[100, 5]]);
  });

  it('reports an empty side as NaN best price and 0 best quantity', () => {
    const s = new BookSide(true);
    expect(s.bestPrice()).toBeNaN();
    expect(s.bestQty()).toBe(0);
    expect(s.volume(5)).toBe(0);
    expect(s.top(5)).toEqual([]);
  });

  it('sums the volume of the top levels only', () => {
    const s = new BookSide(false);
    s.set(10, 1);
    s.set(11, 2);
    s.set(12, 4);
    expect(s.volume(1)).toBe(1);
    expect(s.volume(2)).toBe(3);
    expect(s.volume(100)).toBe(7);
  });

  it('truncates to the best levels', () => {
    const s = new BookSide(true);
    for (let p = 1; p <= 10; p++) s.set(p, p);
    s.truncate(3);
    expect(s.top(10)).toEqual([
      [10, 10],
      [9, 9],
      [8, 8],
    ]);
    s.truncate(5);
    expect(s.depth).toBe(3);
  });

  it('grows beyond its initial capacity', () => {
    const s = new BookSide(false, 2);
    for (let p = 1000; p > 0; p--) s.set(p, p);
    expect(s.depth).toBe(1000);
    expect(s.bestPrice()).toBe(1);
    expect(s.priceAt(999)).toBe(1000);
  });

  it('keeps quantities beyond 2^53 exact with setExact', () => {
    const s = new BookSide(true);
    const huge = 2n ** 60n + 1n;
    s.setExact(100, huge);
    s.setExact(99, 5n);
    expect(s.exactQtyAt(0)).toBe(huge);
    expect(s.exactQtyAt(1)).toBe(5);
    expect(s.top(2)).toEqual([
      [100, huge],
      [99, 5],
    ]);
    // The plain read is the nearest double (for sums), the exact read stays exact.
    expect(s.qtyAt(0)).toBe(Number(huge));
    s.set(100, 3);
    expect(s.exactQtyAt(0)).toBe(3);
  });

  it('forgets an exact quantity when its level is deleted, truncated or cleared', () => {
    const s = new BookSide(false);
    s.setExact(10, 2n ** 60n + 3n);
    s.set(10, 0);
    s.set(10, 2 ** 60); // a plain double again: no stale exact value
    expect(s.exactQtyAt(0)).toBe(2 ** 60);
    s.setExact(20, 2n ** 61n + 1n);
    s.truncate(1);
    s.setExact(20, 2 ** 61);
    expect(s.top(2)).toEqual([
      [10, 2 ** 60],
      [20, 2 ** 61],
    ]);
    s.setExact(30, 2n ** 62n + 1n);
    s.clear();
    expect(s.depth).toBe(0);
    s.set(30, 2 ** 62);
    expect(s.exactQtyAt(0)).toBe(2 ** 62);
  });

  it('matches a Map-and-sort reference model for random set/truncate sequences', () => {
    const op = fc.oneof(
      {
        weight: 10,
        arbitrary: fc.record({
          kind: fc.constant('set' as const),
          // Up to 150 levels: deep inserts and deletes move long runs of levels, shallow ones few.
          price: fc.integer({ min: 1, max: 150 }),
          qty: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000_000 })),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), n: fc.nat(160) }) },
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 600 }), fc.nat(160), (isBid, ops, n) => {
        const side = new BookSide(isBid, 4);
        const ref = new RefSide<number>(isBid);
        for (const o of ops) {
          if (o.kind === 'set') {
            side.set(o.price, o.qty);
            ref.set(o.price, o.qty);
          } else {
            side.truncate(o.n);
            ref.truncate(o.n);
          }
        }
        const all = ref.sorted();
        expect(side.depth).toBe(all.length);
        expect(side.top(n)).toEqual(ref.top(n));
        expect(side.top(1000)).toEqual(all);
        expect(side.volume(n)).toBe(ref.top(n).reduce((sum, [, q]) => sum + q, 0));
        expect(side.bestPrice()).toBe(all[0]?.[0] ?? NaN);
        expect(side.bestQty()).toBe(all[0]?.[1] ?? 0);
        for (let p = 0; p <= 151; p++) expect(side.qtyAtPrice(p)).toBe(ref.levels.get(p) ?? 0);
      }),
      { numRuns: 500 },
    );
  });

  it('matches a bigint reference model for random setExact sequences', () => {
    const qty = fc.oneof(
      fc.constant(0n),
      fc.bigInt({ min: 1n, max: 1000n }),
      fc.bigInt({ min: 2n ** 53n - 5n, max: 2n ** 53n + 5n }),
      fc.bigInt({ min: 1n, max: 2n ** 80n }),
    );
    const op = fc.record({ price: fc.integer({ min: 1, max: 40 }), qty, asNumber: fc.boolean() });
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 200 }), (isBid, ops) => {
        const side = new BookSide(isBid, 4);
        const ref = new RefSide<bigint>(isBid);
        for (const o of ops) {
          // Safe quantities may come as numbers; both forms mean the same quantity.
          const safe = o.qty <= BigInt(Number.MAX_SAFE_INTEGER);
          side.setExact(o.price, o.asNumber && safe ? Number(o.qty) : o.qty);
          ref.set(o.price, o.qty);
        }
        const got = side.top(1000);
        const want = ref.sorted();
        expect(got.map(([p]) => p)).toEqual(want.map(([p]) => p));
        got.forEach(([, q], i) => {
          const exact = (want[i] as [number, bigint])[1];
          // Exact: numbers while safe, bigints beyond.
          if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) expect(q).toBe(Number(exact));
          else expect(q).toBe(exact);
          expect(side.qtyAt(i)).toBe(Number(exact));
        });
      }),
      { numRuns: 500 },
    );
  });
});

describe('L2Book', () => {
  it('reports best bid and best ask', () => {
    const book = filled(
      [
        [100, 1],
        [99, 2],
      ],
      [
        [101, 3],
        [102, 4],
      ],
    );
    expect(book.bestBid()).toBe(100);
    expect(book.bestAsk()).toBe(101);
    expect(book.isCrossed()).toBe(false);
  });

  it('detects a crossed book (best bid above best ask)', () => {
    expect(filled([[102, 1]], [[101, 1]]).isCrossed()).toBe(true);
  });

  it('detects a locked book (best bid equal to best ask)', () => {
    expect(filled([[101, 1]], [[101, 1]]).isCrossed()).toBe(true);
  });

  it('never calls a book with an empty side crossed', () => {
    expect(filled([[101, 1]], []).isCrossed()).toBe(false);
    expect(filled([], [[101, 1]]).isCrossed()).toBe(false);
    expect(filled([], []).isCrossed()).toBe(false);
  });

  it('computes imbalance as top-N bid volume over top-N ask volume', () => {
    const book = filled(
      [
        [100, 6],
        [99, 4],
        [98, 100],
      ],
      [
        [101, 2],
        [102, 3],
        [103, 100],
      ],
    );
    expect(book.imbalance(2)).toBe(10 / 5);
    expect(book.imbalance(1)).toBe(3);
  });

  it('gives Infinity imbalance with bids and no asks, NaN with neither', () => {
    expect(filled([[100, 1]], []).imbalance(5)).toBe(Infinity);
    expect(filled([], []).imbalance(5)).toBeNaN();
    expect(filled([], [[100, 1]]).imbalance(5)).toBe(0);
  });

  it('starts UNSYNCED with a reason', () => {
    const book = new L2Book('BTCUSDT');
    expect(book.state).toBe('UNSYNCED');
    expect(book.reason).not.toBe('');
    expect(book.usable).toBe(false);
  });

  it('moves UNSYNCED → SYNCING → SYNCED and back to UNSYNCED with a reason', () => {
    const book = new L2Book('BTCUSDT');
    book.markSyncing();
    expect(book.state).toBe('SYNCING');
    book.markSynced();
    expect(book.state).toBe('SYNCED');
    expect(book.reason).toBe('');
    book.markUnsynced('sequence break');
    expect(book.state).toBe('UNSYNCED');
    expect(book.reason).toBe('sequence break');
  });

  it('refuses UNSYNCED → SYNCED (skipping the sync)', () => {
    const book = new L2Book('BTCUSDT');
    expect(() => book.markSynced()).toThrow(InvariantError);
    expect(book.state).toBe('UNSYNCED');
  });

  it('refuses SYNCED → SYNCING', () => {
    const book = new L2Book('BTCUSDT');
    book.markSyncing();
    book.markSynced();
    expect(() => book.markSyncing()).toThrow(InvariantError);
    expect(book.state).toBe('SYNCED');
  });

  it('is usable only when SYNCED and not crossed', () => {
    const book = filled([[100, 1]], [[101, 1]]);
    expect(book.usable).toBe(false); // UNSYNCED
    book.markSyncing();
    expect(book.usable).toBe(false); // SYNCING
    book.markSynced();
    expect(book.usable).toBe(true);
    book.set('bid', 101, 1); // locked
    expect(book.usable).toBe(false);
    book.set('bid', 101, 0);
    expect(book.usable).toBe(true);
    book.markUnsynced('gap');
    expect(book.usable).toBe(false);
  });

  it('is stale only when the last update is older than the limit', () => {
    const book = new L2Book('BTCUSDT');
    book.localTs = 1_000;
    expect(book.isStale(1_500, 500)).toBe(false);
    expect(book.isStale(1_501, 500)).toBe(true);
  });

  it('clears both sides', () => {
    const book = filled([[100, 1]], [[101, 1]]);
    book.clear();
    expect(book.bids.depth + book.asks.depth).toBe(0);
  });

  it('matches a reference model for random set(side, price, qty) sequences', () => {
    const op = fc.record({
      side: fc.constantFrom<Side>('bid', 'ask'),
      price: fc.integer({ min: 1, max: 40 }),
      qty: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.integer({ min: 1, max: 45 }), (ops, n) => {
        const book = new L2Book('TEST');
        const ref = { bid: new RefSide<number>(true), ask: new RefSide<number>(false) };
        for (const o of ops) {
          book.set(o.side, o.price, o.qty);
          ref[o.side].set(o.price, o.qty);
        }
        const bestBid = ref.bid.sorted()[0]?.[0] ?? NaN;
        const bestAsk = ref.ask.sorted()[0]?.[0] ?? NaN;
        expect(book.bids.top(n)).toEqual(ref.bid.top(n));
        expect(book.asks.top(n)).toEqual(ref.ask.top(n));
        expect(book.bids.depth).toBe(ref.bid.levels.size);
        expect(book.asks.depth).toBe(ref.ask.levels.size);
        expect(book.bestBid()).toBe(bestBid);
        expect(book.bestAsk()).toBe(bestAsk);
        expect(book.isCrossed()).toBe(bestBid >= bestAsk);
        const bv = ref.bid.top(n).reduce((s, [, q]) => s + q, 0);
        const av = ref.ask.top(n).reduce((s, [, q]) => s + q, 0);
        expect(book.imbalance(n)).toBe(av === 0 ? (bv === 0 ? NaN : Infinity) : bv / av);
      }),
      { numRuns: 500 },
    );
  });
});
