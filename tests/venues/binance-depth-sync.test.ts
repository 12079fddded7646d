/**
 * Binance diff-depth sync: every rule of the published local-book procedures (VENUES.md §1.3 for
 * USD-M futures, §2 for Binance.US spot) has a test here that fails if the rule is removed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { L2Book } from '#core/book.ts';
import { DataError } from '#core/errors.ts';
import { fromSteps } from '#core/grid.ts';
import type { SyncHooks } from '#venues/book-feed.ts';
import { BinanceBookFeed } from '#venues/binance/book-feed.ts';
import type { BinanceDepthSync } from '#venues/binance/depth-sync.ts';

type Level = [string, string];
type Venue = 'binance-futures' | 'binance-us';

interface Diff {
  U: number;
  u: number;
  pu?: number;
  b?: Level[];
  a?: Level[];
}

/** A `depthUpdate` as the venue sends it (futures carry `pu` and `T`, Binance.US neither). */
function depthUpdate(symbol: string, d: Diff): Record<string, unknown> {
  const msg: Record<string, unknown> = {
    e: 'depthUpdate',
    E: 1_700_000_000_000 + d.u,
    s: symbol,
    U: d.U,
    u: d.u,
    b: d.b ?? [],
    a: d.a ?? [],
  };
  if (d.pu !== undefined) {
    msg.T = msg.E;
    msg.pu = d.pu;
  }
  return msg;
}

function snapshot(lastUpdateId: number, bids: Level[], asks: Level[]): Record<string, unknown> {
  return { lastUpdateId, E: 1_700_000_000_000, bids, asks };
}

interface Harness {
  feed: BinanceBookFeed;
  resyncs: Array<{ symbol: string; reason: string }>;
  updates: string[];
  diff(d: Diff, symbol?: string): void;
  snap(lastUpdateId: number, bids: Level[], asks: Level[], symbol?: string | null): void;
  sync(symbol?: string): BinanceDepthSync;
  book(symbol?: string): L2Book;
  /** The book as venue text, best first, so expectations read like the venue's own messages. */
  view(symbol?: string): { bids: Level[]; asks: Level[] };
}

function harness(venue: Venue, opts: ConstructorParameters<typeof BinanceBookFeed>[2] = {}): Harness {
  const resyncs: Array<{ symbol: string; reason: string }> = [];
  const updates: string[] = [];
  const hooks: SyncHooks = {
    requestResync: (symbol, reason) => resyncs.push({ symbol, reason }),
    onBook: (book) => updates.push(book.symbol),
  };
  const feed = new BinanceBookFeed(venue, hooks, opts);
  let ts = 0;
  const h: Harness = {
    feed,
    resyncs,
    updates,
    diff: (d, symbol = 'SUSHIUSDT') => feed.onMessage(depthUpdate(symbol, d), ++ts),
    snap: (id, bids, asks, symbol = 'SUSHIUSDT') =>
      feed.onSnapshot(symbol ?? undefined, snapshot(id, bids, asks), ++ts),
    sync: (symbol = 'SUSHIUSDT') => {
      const s = feed.symbols().get(symbol);
      if (!s) throw new Error(`no sync for ${symbol}`);
      return s;
    },
    book: (symbol) => h.sync(symbol).book,
    view: (symbol) => {
      const s = h.sync(symbol);
      const grids = s.grids;
      if (!grids) return { bids: [], asks: [] };
      const asText = (levels: Array<[number, number | bigint]>): Level[] =>
        levels.map(([p, q]) => [fromSteps(p, grids.price), fromSteps(q, grids.qty)]);
      return { bids: asText(s.book.bids.top(10_000)), asks: asText(s.book.asks.top(10_000)) };
    },
  };
  return h;
}

const BIDS: Level[] = [
  ['7.6110', '6'],
  ['7.6080', '161'],
];
const ASKS: Level[] = [
  ['7.6120', '297'],
  ['7.6150', '1563'],
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

describe('BinanceDepthSync with USD-M futures rules', () => {
  /** A futures book synced on snapshot 1000 and one event [1000, 1000]. */
  function synced(): Harness {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 995, u: 1000, pu: 990, b: [['7.6100', '3']] });
    expect(h.book().state).toBe('SYNCED');
    return h;
  }

  it('buffers events that arrive before the snapshot and applies them after it', () => {
    const h = harness('binance-futures');
    h.diff({ U: 998, u: 1003, pu: 990, b: [['7.6100', '5']] });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.book().bids.depth).toBe(0);
    expect(h.sync().awaitingSnapshot).toBe(true);
    h.snap(1000, BIDS, ASKS);
    expect(h.book().state).toBe('SYNCED');
    expect(h.view().bids).toEqual([
      ['7.6110', '6'],
      ['7.6100', '5'],
      ['7.6080', '161'],
    ]);
    expect(h.sync().stats.applied).toBe(1);
  });

  it('loads the snapshot and waits (SYNCING) for the first event after it', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    expect(h.book().state).toBe('SYNCING');
    expect(h.book().usable).toBe(false);
    expect(h.view()).toEqual({ bids: BIDS, asks: ASKS });
    expect(h.book().lastUpdateId).toBe(1000);
  });

  it('skips zero-quantity levels in the snapshot', () => {
    const h = harness('binance-futures');
    h.snap(
      1000,
      [
        ['7.6110', '6'],
        ['7.6100', '0'],
      ],
      [
        ['7.6120', '0.000'],
        ['7.6130', '2'],
      ],
    );
    expect(h.view()).toEqual({ bids: [['7.6110', '6']], asks: [['7.6130', '2']] });
  });

  it('drops events with u < lastUpdateId', () => {
    const h = harness('binance-futures');
    h.diff({ U: 990, u: 999, pu: 985, b: [['7.0000', '9']] });
    h.snap(1000, BIDS, ASKS);
    expect(h.sync().stats.dropped).toBe(1);
    expect(h.view().bids).toEqual(BIDS);
    expect(h.book().state).toBe('SYNCING');
  });

  it('keeps the event whose u equals lastUpdateId (spot would drop it)', () => {
    const h = harness('binance-futures');
    h.diff({ U: 990, u: 999, pu: 985, b: [['7.0000', '9']] });
    h.diff({ U: 1000, u: 1000, pu: 999, b: [['7.6100', '5']] });
    h.snap(1000, BIDS, ASKS);
    expect(h.sync().stats).toMatchObject({ dropped: 1, applied: 1, gaps: 0 });
    expect(h.view().bids).toEqual([
      ['7.6110', '6'],
      ['7.6100', '5'],
      ['7.6080', '161'],
    ]);
    expect(h.book().state).toBe('SYNCED');
    expect(h.book().lastUpdateId).toBe(1000);
  });

  it('resyncs, counting a gap, when the first event after the snapshot does not bracket lastUpdateId', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 1001, u: 1005, pu: 1000, b: [['7.6100', '5']] }); // U > L: events were missed
    expect(h.sync().stats).toMatchObject({ gaps: 1, resyncs: 1, applied: 0 });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.book().bids.depth + h.book().asks.depth).toBe(0);
    expect(h.resyncs).toEqual([{ symbol: 'SUSHIUSDT', reason: expect.any(String) as string }]);
  });

  it('continues on pu == previous u even though U is not previous u + 1', () => {
    const h = synced();
    h.diff({ U: 1010, u: 1012, pu: 1000, b: [['7.6110', '0']] });
    h.diff({ U: 1020, u: 1025, pu: 1012, a: [['7.6120', '1']] });
    expect(h.sync().stats).toMatchObject({ gaps: 0, resyncs: 0, applied: 3 });
    expect(h.book().state).toBe('SYNCED');
    expect(h.view()).toEqual({
      bids: [
        ['7.6100', '3'],
        ['7.6080', '161'],
      ],
      asks: [
        ['7.6120', '1'],
        ['7.6150', '1563'],
      ],
    });
  });

  it('resyncs when pu is not the previous u, even if U is previous u + 1', () => {
    const h = synced();
    h.diff({ U: 1001, u: 1004, pu: 999, b: [['7.6090', '4']] });
    expect(h.sync().stats).toMatchObject({ gaps: 1, resyncs: 1 });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.resyncs.map((r) => r.symbol)).toEqual(['SUSHIUSDT']);
  });

  it('after a break: UNSYNCED, one resync request, events held until a new snapshot, then back in sync', () => {
    const h = synced();
    h.diff({ U: 1020, u: 1025, pu: 1015, b: [['7.6090', '4']] }); // break
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.book().usable).toBe(false);
    expect(h.book().reason).not.toBe('');
    expect(h.resyncs).toHaveLength(1);
    const applied = h.sync().stats.applied;
    const updates = h.updates.length;

    h.diff({ U: 1026, u: 1030, pu: 1025, a: [['7.6130', '8']] });
    expect(h.sync().stats.applied).toBe(applied);
    expect(h.book().bids.depth + h.book().asks.depth).toBe(0);
    expect(h.resyncs).toHaveLength(1);
    expect(h.updates).toHaveLength(updates); // strategy hears nothing meanwhile

    h.snap(1027, [['7.6000', '1']], [['7.6200', '2']]); // 1025 < 1027 dropped; [1026, 1030] brackets it
    expect(h.book().state).toBe('SYNCED');
    expect(h.view()).toEqual({
      bids: [['7.6000', '1']],
      asks: [
        ['7.6130', '8'],
        ['7.6200', '2'],
      ],
    });
    h.diff({ U: 1031, u: 1031, pu: 1030, b: [['7.6010', '1']] });
    expect(h.view().bids).toEqual([
      ['7.6010', '1'],
      ['7.6000', '1'],
    ]);
    expect(h.sync().stats).toMatchObject({ gaps: 1, resyncs: 1 });
  });

  it('keeps the event that broke the sequence for the next snapshot (start again from step 3)', () => {
    const h = synced();
    h.diff({ U: 1020, u: 1025, pu: 1015, b: [['7.6090', '4']] }); // break
    h.snap(1022, BIDS, ASKS); // the breaking event brackets the new snapshot
    expect(h.book().state).toBe('SYNCED');
    expect(h.view().bids).toContainEqual(['7.6090', '4']);
  });

  it('keeps a first event that was too new for the old snapshot for the next one', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 1010, u: 1015, pu: 1005, b: [['7.6090', '4']] }); // too new: resync
    h.snap(1012, BIDS, ASKS);
    expect(h.book().state).toBe('SYNCED');
    expect(h.view().bids).toContainEqual(['7.6090', '4']);
  });

  it('resyncs when an event leaves the book crossed', () => {
    const h = synced();
    h.diff({ U: 1001, u: 1001, pu: 1000, b: [['7.6130', '1']] }); // bid above the best ask 7.6120
    expect(h.sync().stats).toMatchObject({ crossed: 1, resyncs: 1 });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.resyncs).toHaveLength(1);
  });

  it('resyncs when an event leaves the book locked (bid == ask)', () => {
    const h = synced();
    h.diff({ U: 1001, u: 1001, pu: 1000, a: [['7.6110', '1']] });
    expect(h.sync().stats.crossed).toBe(1);
    expect(h.book().state).toBe('UNSYNCED');
  });

  it('does not call the book synced when the first event crosses it', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 1000, u: 1001, pu: 999, b: [['7.6200', '1']] });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.sync().stats.resyncs).toBe(1);
  });

  it('resyncs and counts an error on an off-grid price', () => {
    const h = synced();
    h.diff({ U: 1001, u: 1001, pu: 1000, b: [['7.61005', '1']] }); // 5 decimals on a 4-decimal book
    expect(h.sync().stats).toMatchObject({ errors: 1, resyncs: 1 });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.resyncs).toHaveLength(1);
  });

  it('resyncs and counts an error on a malformed quantity', () => {
    const h = synced();
    h.diff({ U: 1001, u: 1001, pu: 1000, a: [['7.6130', 'abc']] });
    expect(h.sync().stats).toMatchObject({ errors: 1, resyncs: 1 });
    expect(h.book().state).toBe('UNSYNCED');
  });

  it('resyncs when the snapshot itself is off-grid', () => {
    const h = harness('binance-futures');
    h.snap(
      1000,
      [
        ['7.6110', '6'],
        ['7.60805', '1'],
      ],
      ASKS,
    );
    expect(h.sync().stats).toMatchObject({ errors: 1, resyncs: 1 });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.sync().awaitingSnapshot).toBe(true);
  });

  it('ignores a snapshot that arrives while the book is live', () => {
    const h = synced();
    h.snap(5000, [['1.0000', '1']], [['9.0000', '1']]);
    expect(h.book().state).toBe('SYNCED');
    expect(h.view().bids).toEqual([
      ['7.6110', '6'],
      ['7.6100', '3'],
      ['7.6080', '161'],
    ]);
    h.diff({ U: 1001, u: 1001, pu: 1000, b: [['7.6000', '1']] });
    expect(h.sync().stats.gaps).toBe(0);
  });

  it('calls onBook after each applied update once synced', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    expect(h.updates).toEqual([]);
    h.diff({ U: 1000, u: 1000, pu: 999 });
    h.diff({ U: 1002, u: 1002, pu: 1000 });
    expect(h.updates).toEqual(['SUSHIUSDT', 'SUSHIUSDT']);
  });

  it('keeps at most 10 000 events while waiting for a snapshot, dropping the oldest', () => {
    const h = harness('binance-futures');
    // The oldest event would bracket snapshot 1; once it is evicted the next one must bracket 2.
    for (let i = 1; i <= 10_001; i++) h.diff({ U: i, u: i, pu: i - 1, b: i === 1 ? [['7.0000', '1']] : [] });
    expect(h.sync().stats.dropped).toBe(1);
    h.snap(2, BIDS, ASKS);
    expect(h.sync().stats).toMatchObject({ applied: 10_000, gaps: 0 });
    expect(h.view().bids).toEqual(BIDS);
  });
});

describe('BinanceDepthSync with Binance.US spot rules', () => {
  function synced(): Harness {
    const h = harness('binance-us');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 1001, u: 1005, b: [['7.6100', '3']] });
    expect(h.book().state).toBe('SYNCED');
    return h;
  }

  it('buffers events that arrive before the snapshot and applies them after it', () => {
    const h = harness('binance-us');
    h.diff({ U: 999, u: 1003, b: [['7.6100', '5']] });
    expect(h.book().bids.depth).toBe(0);
    h.snap(1000, BIDS, ASKS);
    expect(h.book().state).toBe('SYNCED');
    expect(h.view().bids).toEqual([
      ['7.6110', '6'],
      ['7.6100', '5'],
      ['7.6080', '161'],
    ]);
  });

  it('drops events with u <= lastUpdateId, including u == lastUpdateId', () => {
    const h = harness('binance-us');
    h.diff({ U: 990, u: 999, b: [['7.0000', '9']] });
    h.diff({ U: 1000, u: 1000, b: [['7.1000', '9']] });
    h.snap(1000, BIDS, ASKS);
    expect(h.sync().stats).toMatchObject({ dropped: 2, applied: 0 });
    expect(h.view().bids).toEqual(BIDS);
    expect(h.book().state).toBe('SYNCING');
  });

  it('accepts a first event that brackets lastUpdateId + 1 (futures would not)', () => {
    const h = harness('binance-us');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 1001, u: 1001, b: [['7.6100', '5']] });
    expect(h.book().state).toBe('SYNCED');
    expect(h.sync().stats.gaps).toBe(0);
  });

  it('resyncs, counting a gap, when the first event starts after lastUpdateId + 1', () => {
    const h = harness('binance-us');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 1002, u: 1005, b: [['7.6100', '5']] });
    expect(h.sync().stats).toMatchObject({ gaps: 1, resyncs: 1, applied: 0 });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.resyncs.map((r) => r.symbol)).toEqual(['SUSHIUSDT']);
  });

  it('continues on U == previous u + 1', () => {
    const h = synced();
    h.diff({ U: 1006, u: 1010, a: [['7.6120', '0']] });
    h.diff({ U: 1011, u: 1011, a: [['7.6130', '7']] });
    expect(h.sync().stats).toMatchObject({ gaps: 0, applied: 3 });
    expect(h.view().asks).toEqual([
      ['7.6130', '7'],
      ['7.6150', '1563'],
    ]);
  });

  it('resyncs when U skips past previous u + 1', () => {
    const h = synced();
    h.diff({ U: 1007, u: 1010 });
    expect(h.sync().stats).toMatchObject({ gaps: 1, resyncs: 1 });
    expect(h.book().state).toBe('UNSYNCED');
  });

  it('resyncs when an event repeats or overlaps earlier ids', () => {
    const h = synced();
    h.diff({ U: 1005, u: 1008 });
    expect(h.sync().stats.gaps).toBe(1);
    expect(h.book().state).toBe('UNSYNCED');
  });

  it('judges continuity by U, not by a stray pu field', () => {
    const h = synced();
    h.diff({ U: 1006, u: 1006, pu: 123 });
    expect(h.sync().stats.gaps).toBe(0);
    h.diff({ U: 1008, u: 1008, pu: 1006 });
    expect(h.sync().stats.gaps).toBe(1);
  });

  it('after a break holds events until a new snapshot, then is back in sync', () => {
    const h = synced();
    h.diff({ U: 1010, u: 1012, b: [['7.6090', '4']] }); // break: expected U 1006
    h.diff({ U: 1013, u: 1015, a: [['7.6130', '8']] });
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.resyncs).toHaveLength(1);
    h.snap(1012, [['7.6000', '1']], [['7.6200', '2']]); // [1010, 1012] dropped, [1013, 1015] brackets 1013
    expect(h.book().state).toBe('SYNCED');
    expect(h.view()).toEqual({
      bids: [['7.6000', '1']],
      asks: [
        ['7.6130', '8'],
        ['7.6200', '2'],
      ],
    });
  });

  it('resyncs when an event leaves the book crossed', () => {
    const h = synced();
    h.diff({ U: 1006, u: 1006, b: [['7.6200', '1']] });
    expect(h.sync().stats).toMatchObject({ crossed: 1, resyncs: 1 });
    expect(h.book().state).toBe('UNSYNCED');
  });
});

describe('BinanceBookFeed', () => {
  it('asks for a snapshot once when events for a symbol start arriving', () => {
    const h = harness('binance-futures');
    h.diff({ U: 998, u: 1003, pu: 990 });
    h.diff({ U: 1004, u: 1005, pu: 1003 });
    expect(h.resyncs.map((r) => r.symbol)).toEqual(['SUSHIUSDT']);
    h.snap(1000, BIDS, ASKS);
    expect(h.book().state).toBe('SYNCED');
    expect(h.resyncs).toHaveLength(1);
  });

  it('throws every book away on resetAll without asking, and asks when events flow again', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    h.diff({ U: 1000, u: 1000, pu: 999 });
    expect(h.book().state).toBe('SYNCED');
    h.feed.resetAll('connection lost');
    expect(h.book().state).toBe('UNSYNCED');
    expect(h.book().reason).toBe('connection lost');
    expect(h.view()).toEqual({ bids: [], asks: [] });
    expect(h.resyncs).toEqual([]);
    expect(h.sync().stats.resyncs).toBe(0);

    h.diff({ U: 2000, u: 2001, pu: 1990, b: [['7.6000', '1']] }); // a new connection's first event
    expect(h.resyncs.map((r) => r.symbol)).toEqual(['SUSHIUSDT']);
    h.snap(2000, BIDS, ASKS);
    expect(h.book().state).toBe('SYNCED');
    expect(h.view().bids).toContainEqual(['7.6000', '1']);
  });

  it('keeps a resync of one symbol away from another symbol (two symbols through one feed)', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS, 'SUSHIUSDT');
    h.diff({ U: 1000, u: 1000, pu: 999, b: [['7.6100', '3']] }, 'SUSHIUSDT');
    h.snap(500, [['0.01730', '1000']], [['0.01740', '2000']], 'AKROUSDT');
    h.diff({ U: 500, u: 501, pu: 499 }, 'AKROUSDT');
    const sushiBefore = h.view('SUSHIUSDT');
    expect(h.book('AKROUSDT').state).toBe('SYNCED');

    h.diff({ U: 510, u: 511, pu: 505 }, 'AKROUSDT'); // AKRO breaks
    expect(h.book('AKROUSDT').state).toBe('UNSYNCED');
    expect(h.resyncs.map((r) => r.symbol)).toEqual(['AKROUSDT']);
    expect(h.book('SUSHIUSDT').state).toBe('SYNCED');
    expect(h.view('SUSHIUSDT')).toEqual(sushiBefore);
    expect(h.sync('SUSHIUSDT').stats).toMatchObject({ gaps: 0, resyncs: 0 });

    // SUSHI keeps going while AKRO waits; AKRO's events are held for its own snapshot.
    h.diff({ U: 1001, u: 1001, pu: 1000, b: [['7.6090', '2']] }, 'SUSHIUSDT');
    h.diff({ U: 512, u: 513, pu: 511, a: [['0.01735', '5']] }, 'AKROUSDT');
    expect(h.book('SUSHIUSDT').state).toBe('SYNCED');
    expect(h.view('SUSHIUSDT').bids).toContainEqual(['7.6090', '2']);
    expect(h.view('AKROUSDT')).toEqual({ bids: [], asks: [] });

    h.snap(512, [['0.01730', '900']], [['0.01740', '2000']], null); // no symbol: the one waiting
    expect(h.book('AKROUSDT').state).toBe('SYNCED');
    expect(h.view('AKROUSDT').asks).toEqual([
      ['0.01735', '5'],
      ['0.01740', '2000'],
    ]);
    expect(h.sync('SUSHIUSDT').stats.resyncs).toBe(0);
  });

  it('unwraps combined-stream frames', () => {
    const h = harness('binance-futures');
    h.snap(1000, BIDS, ASKS);
    h.feed.onMessage(
      {
        stream: 'sushiusdt@depth@100ms',
        data: depthUpdate('SUSHIUSDT', { U: 999, u: 1001, pu: 998, b: [['7.6100', '5']] }),
      },
      10,
    );
    expect(h.book().state).toBe('SYNCED');
    expect(h.view().bids).toContainEqual(['7.6100', '5']);
  });

  it('ignores frames that are not depth updates', () => {
    const h = harness('binance-futures');
    h.feed.onMessage(
      { stream: 'sushiusdt@bookTicker', data: { e: 'bookTicker', u: 1, s: 'SUSHIUSDT', b: '7.6110' } },
      1,
    );
    h.feed.onMessage({ e: 'aggTrade', s: 'SUSHIUSDT', p: '7.6110', q: '1' }, 2);
    h.feed.onMessage({ result: null, id: 1 }, 3);
    h.feed.onMessage('not json', 4);
    expect(h.feed.symbols().size).toBe(0);
  });

  it('maps lowercase symbols on snapshots to the uppercase stream symbol', () => {
    const h = harness('binance-futures');
    h.diff({ U: 999, u: 1001, pu: 998 });
    h.snap(1000, BIDS, ASKS, 'sushiusdt');
    expect(h.feed.symbols().size).toBe(1);
    expect(h.book().state).toBe('SYNCED');
  });

  it('gives a snapshot without a symbol to the single symbol waiting for one', () => {
    const h = harness('binance-us');
    h.diff({ U: 999, u: 1003 }, 'COMPUSDT');
    h.snap(1000, BIDS, ASKS, null);
    expect(h.book('COMPUSDT').state).toBe('SYNCED');
  });

  it('rejects a snapshot without a symbol when several symbols are waiting (AMBIGUOUS_SNAPSHOT)', () => {
    const h = harness('binance-us');
    h.diff({ U: 999, u: 1003 }, 'COMPUSDT');
    h.diff({ U: 999, u: 1003 }, 'CRVUSDT');
    expect(codeOf(() => h.snap(1000, BIDS, ASKS, null))).toBe('AMBIGUOUS_SNAPSHOT');
    expect(h.book('COMPUSDT').state).toBe('UNSYNCED');
    expect(h.book('CRVUSDT').state).toBe('UNSYNCED');
  });

  it('rejects a snapshot without a symbol when no symbol is waiting for one', () => {
    const h = harness('binance-us');
    h.snap(1000, BIDS, ASKS, 'COMPUSDT');
    h.diff({ U: 1001, u: 1001 }, 'COMPUSDT');
    expect(codeOf(() => h.snap(2000, BIDS, ASKS, null))).toBe('AMBIGUOUS_SNAPSHOT');
    expect(h.book('COMPUSDT').state).toBe('SYNCED');
  });

  it('holds a snapshot without a symbol that comes before any symbol for the first symbol seen', () => {
    // A recording that starts with its REST snapshot.
    const h = harness('binance-us');
    h.snap(1000, BIDS, ASKS, null);
    expect(h.feed.symbols().size).toBe(0);
    h.diff({ U: 1001, u: 1002, b: [['7.6100', '5']] }, 'COMPUSDT');
    expect(h.book('COMPUSDT').state).toBe('SYNCED');
    expect(h.view('COMPUSDT').bids).toEqual([
      ['7.6110', '6'],
      ['7.6100', '5'],
      ['7.6080', '161'],
    ]);
  });

  it('gives a snapshot without a symbol to the only tracked symbol', () => {
    const h = harness('binance-us', { only: new Set(['COMPUSDT']) });
    h.snap(1000, BIDS, ASKS, null);
    expect(h.book('COMPUSDT').state).toBe('SYNCING');
  });

  it('tracks only the symbols it was asked for', () => {
    const h = harness('binance-futures', { only: new Set(['SUSHIUSDT']) });
    h.diff({ U: 1, u: 2, pu: 0 }, 'AKROUSDT');
    h.snap(1000, BIDS, ASKS, 'AKROUSDT');
    expect([...h.feed.symbols().keys()]).toEqual([]);
  });

  it('rejects malformed depth messages and snapshots with BAD_MESSAGE', () => {
    const h = harness('binance-futures');
    expect(codeOf(() => h.feed.onMessage({ e: 'depthUpdate', U: 1, u: 2, b: [], a: [] }, 1))).toBe(
      'BAD_MESSAGE',
    );
    expect(codeOf(() => h.feed.onMessage({ e: 'depthUpdate', s: 'X', U: '1', u: 2, b: [], a: [] }, 1))).toBe(
      'BAD_MESSAGE',
    );
    expect(codeOf(() => h.feed.onSnapshot('SUSHIUSDT', { bids: [], asks: [] }, 1))).toBe('BAD_MESSAGE');
    expect(codeOf(() => h.feed.onSnapshot('SUSHIUSDT', null, 1))).toBe('BAD_MESSAGE');
  });

  it('uses explicit precision over the text of the first level', () => {
    const h = harness('binance-futures', { pricePrecision: 3, qtyPrecision: 0 });
    h.snap(1000, [['7.6110', '6']], [['7.6120', '1']]);
    expect(h.sync().grids?.price.scale).toBe(3);
    expect(h.book().bestBid()).toBe(7611);
    h.diff({ U: 1000, u: 1000, pu: 999, b: [['7.6115', '1']] }); // off the 3-decimal grid
    expect(h.sync().stats.errors).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: a random valid stream rebuilds a reference book; a dropped or swapped event is caught.
// ---------------------------------------------------------------------------------------------

type RefBook = { bid: Map<number, number>; ask: Map<number, number> };

interface GenDiff {
  U: number;
  u: number;
  pu: number;
  b: Array<[number, number]>;
  a: Array<[number, number]>;
}

/** Bids live on ticks 100..199 and asks on 200..299 so that no stream ever crosses the book. */
const arbLevels = (lo: number) =>
  fc.array(
    fc.tuple(
      fc.integer({ min: lo, max: lo + 99 }),
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
    ),
    { maxLength: 4 },
  );
const arbSide = (lo: number) =>
  fc.array(fc.tuple(fc.integer({ min: lo, max: lo + 99 }), fc.integer({ min: 1, max: 50 })), {
    maxLength: 8,
  });

const px = (ticks: number): string => `${Math.floor(ticks / 100)}.${String(ticks % 100).padStart(2, '0')}`;
const qt = (lots: number): string => `${lots}.000`;
const text = (levels: Array<[number, number]>): Level[] => levels.map(([p, q]) => [px(p), qt(q)]);

/** Chains ids the way each venue does: futures leave holes between events and link them by pu. */
function chain(
  rules: 'futures' | 'spot',
  start: number,
  shape: Array<{ hole: number; len: number; b: Array<[number, number]>; a: Array<[number, number]> }>,
): GenDiff[] {
  let prev = start;
  return shape.map(({ hole, len, b, a }) => {
    const U = prev + 1 + (rules === 'futures' ? hole : 0);
    const d = { U, u: U + len, pu: prev, b, a };
    prev = d.u;
    return d;
  });
}

const arbShape = fc.array(
  fc.record({
    hole: fc.integer({ min: 0, max: 5 }),
    len: fc.integer({ min: 0, max: 4 }),
    b: arbLevels(100),
    a: arbLevels(200),
  }),
  { minLength: 2, maxLength: 30 },
);

interface Scenario {
  rules: 'futures' | 'spot';
  snapBids: Array<[number, number]>;
  snapAsks: Array<[number, number]>;
  events: GenDiff[];
  /** Events before `first` predate the snapshot; `first` is the one that brackets it. */
  first: number;
  lastUpdateId: number;
  /** How many events arrive before the snapshot (buffered). */
  early: number;
}

function arbScenario(rules: 'futures' | 'spot'): fc.Arbitrary<Scenario> {
  return fc
    .record({
      snapBids: arbSide(100),
      snapAsks: arbSide(200),
      start: fc.integer({ min: 1, max: 1_000_000 }),
      shape: arbShape,
      firstPick: fc.nat(),
      idPick: fc.nat(),
      earlyPick: fc.nat(),
    })
    .map(({ snapBids, snapAsks, start, shape, firstPick, idPick, earlyPick }) => {
      const events = chain(rules, start, shape);
      const first = firstPick % events.length;
      const f = events[first] as GenDiff;
      // Futures: U <= L <= u. Spot: U <= L + 1 <= u.
      const lo = rules === 'futures' ? f.U : f.U - 1;
      const lastUpdateId = lo + (idPick % (f.u - f.U + 1));
      return {
        rules,
        snapBids,
        snapAsks,
        events,
        first,
        lastUpdateId,
        early: earlyPick % (events.length + 1),
      };
    });
}

function applyRef(ref: RefBook, d: GenDiff): void {
  for (const [side, levels] of [
    [ref.bid, d.b],
    [ref.ask, d.a],
  ] as const) {
    for (const [p, q] of levels) {
      if (q === 0) side.delete(p);
      else side.set(p, q);
    }
  }
}

function refBook(bids: Array<[number, number]>, asks: Array<[number, number]>): RefBook {
  return { bid: new Map(bids), ask: new Map(asks) };
}

function refView(ref: RefBook): { bids: Level[]; asks: Level[] } {
  return {
    bids: text([...ref.bid].sort(([a], [b]) => b - a)),
    asks: text([...ref.ask].sort(([a], [b]) => a - b)),
  };
}

/**
 * Feeds `events` with the snapshot arriving after `early` of them. Returns how many snapshot
 * requests had been made before the snapshot (the initial one, when events came first).
 */
function play(h: Harness, s: Scenario, events: GenDiff[], early: number): number {
  const venueDiff = (d: GenDiff): Diff => ({
    U: d.U,
    u: d.u,
    ...(s.rules === 'futures' ? { pu: d.pu } : {}),
    b: text(d.b),
    a: text(d.a),
  });
  events.slice(0, early).forEach((d) => h.diff(venueDiff(d)));
  const requested = h.resyncs.length;
  h.snap(s.lastUpdateId, text(s.snapBids), text(s.snapAsks));
  events.slice(early).forEach((d) => h.diff(venueDiff(d)));
  return requested;
}

function venueOf(rules: 'futures' | 'spot'): Venue {
  return rules === 'futures' ? 'binance-futures' : 'binance-us';
}

/** Precision fixed up front: a random snapshot may be empty, and then there is no text to read it from. */
const PRECISION = { pricePrecision: 2, qtyPrecision: 3 };

describe.each(['futures', 'spot'] as const)('BinanceDepthSync property (%s rules)', (rules) => {
  it('rebuilds the reference book from a snapshot and a valid random stream', () => {
    fc.assert(
      fc.property(arbScenario(rules), (s) => {
        const h = harness(venueOf(rules), PRECISION);
        const requested = play(h, s, s.events, s.early);
        const ref = refBook(s.snapBids, s.snapAsks);
        s.events.slice(s.first).forEach((d) => applyRef(ref, d));
        expect(h.sync().stats).toMatchObject({
          gaps: 0,
          resyncs: 0,
          dropped: s.first,
          applied: s.events.length - s.first,
        });
        expect(h.book().state).toBe('SYNCED');
        expect(h.view()).toEqual(refView(ref));
        expect(h.book().lastUpdateId).toBe(s.events.at(-1)?.u);
        expect(h.resyncs.slice(requested)).toEqual([]); // nothing asked for once the snapshot is in
      }),
      { numRuns: 300 },
    );
  });

  it('detects a dropped or swapped event, never reports SYNCED after it, and recovers on a new snapshot', () => {
    const arb = arbScenario(rules)
      .filter((s) => s.events.length - s.first >= 2)
      .chain((s) =>
        fc.record({
          s: fc.constant(s),
          // Only events from the first applied one on matter; the last cannot be caught by a successor.
          at: fc.integer({ min: s.first, max: s.events.length - 2 }),
          swap: fc.boolean(),
          more: arbShape,
          idPick: fc.nat(),
        }),
      );
    fc.assert(
      fc.property(arb, ({ s, at, swap, more, idPick }) => {
        const h = harness(venueOf(rules), PRECISION);
        const mutated = [...s.events];
        if (swap) mutated.splice(at, 2, mutated[at + 1] as GenDiff, mutated[at] as GenDiff);
        else mutated.splice(at, 1);
        const requested = play(h, s, mutated, Math.min(s.early, mutated.length));

        expect(h.sync().stats.gaps).toBe(1);
        expect(h.sync().stats.resyncs).toBe(1);
        expect(h.resyncs.slice(requested)).toHaveLength(1);
        expect(h.book().state).toBe('UNSYNCED');
        expect(h.book().usable).toBe(false);

        // The venue moves on; a fresh snapshot taken during the next event brings the book back.
        const truth = refBook(s.snapBids, s.snapAsks);
        s.events.slice(s.first).forEach((d) => applyRef(truth, d));
        const next = chain(rules, (s.events.at(-1) as GenDiff).u, more);
        next.forEach((d) =>
          h.diff({
            U: d.U,
            u: d.u,
            ...(rules === 'futures' ? { pu: d.pu } : {}),
            b: text(d.b),
            a: text(d.a),
          }),
        );
        const c0 = next[0] as GenDiff;
        const lo = rules === 'futures' ? c0.U : c0.U - 1;
        const snapBids = [...truth.bid];
        const snapAsks = [...truth.ask];
        h.snap(lo + (idPick % (c0.u - c0.U + 1)), text(snapBids), text(snapAsks));
        next.forEach((d) => applyRef(truth, d));

        expect(h.book().state).toBe('SYNCED');
        expect(h.view()).toEqual(refView(truth));
        expect(h.sync().stats.resyncs).toBe(1);
        expect(h.resyncs.slice(requested)).toHaveLength(1); // held events asked for nothing more
      }),
      { numRuns: 300 },
    );
  });
});
