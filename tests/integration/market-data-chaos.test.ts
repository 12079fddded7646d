/**
 * The real venue clients against the simulator over real sockets, with 100 random faults in one
 * run: every book comes back in sync and equal to the simulator's truth, nothing is ever emitted
 * from a book that is not SYNCED, and no book is ever crossed.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from '#sim/chaos.ts';

describe('market data under chaos (all four venues, simulator, real sockets)', () => {
  it('100 random drops/stalls/gaps/duplicates/reorders/corrupt checksums/429s: all books back in sync, never crossed, nothing emitted unsynced', async () => {
    const r = await runChaos({ faults: 100, seed: 42 });
    expect(r.violations).toEqual([]);
    expect(r.mismatches).toEqual([]);
    expect(Object.values(r.injected).reduce((a, b) => a + b, 0)).toBe(100);
    // The faults did bite: books were thrown away and rebuilt, connections replaced.
    expect(r.resyncs).toBeGreaterThan(20);
    expect(r.reconnects).toBeGreaterThan(20);
    for (const venue of ['binance-futures', 'binance-us', 'kraken-spot', 'kraken-futures']) {
      // Books kept flowing between the faults (a count, not a rate: the machine may be loaded).
      expect(r.emitted[venue], venue).toBeGreaterThan(10);
    }
  }, 120_000);
});
