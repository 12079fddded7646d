/**
 * record → replay reproduces the simulator's book exactly: the recorder taps the live client's
 * raw traffic (frames in and out, REST snapshots) into gzip JSON lines, and replay rebuilds the
 * same books from that file alone.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromSteps } from '#core/grid.ts';
import { VENUES } from '#core/instrument.ts';
import type { VenueId } from '#core/instrument.ts';
import { RecordingWriter } from '#recorder/recording-writer.ts';
import { replay } from '#replay/replay.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { MarketDataClient } from '#venues/market-data.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await sleep(10);
  }
}

describe('recorder → replay round trip (simulator, real sockets)', () => {
  it.each(VENUES)(
    '%s: the replayed book equals the simulator book, level for level, as the venue writes it',
    async (venue: VenueId) => {
      const sim = new ExchangeSimulator({ intervalMs: 40, seed: 11 });
      await sim.start();
      const dir = mkdtempSync(join(tmpdir(), `tradewind-rec-${venue}-`));
      const writer = new RecordingWriter({ dir, prefix: venue });
      const sym = sim.symbols(venue)[0];
      if (!sym) throw new Error('no symbol');
      const client = new MarketDataClient({
        venue,
        symbols: [sym.symbol],
        endpoints: sim.baseUrl(venue),
        tap: (r) => writer.write(r),
      });
      try {
        await client.start();
        const book = () =>
          client.books().get(venue === 'kraken-spot' ? sym.symbol : sym.symbol.toUpperCase());
        await until(() => book()?.state === 'SYNCED', 10_000);
        // A resync mid-recording must replay too: drop the connection once.
        sim.dropConnections(venue);
        await sleep(100);
        await until(() => book()?.state === 'SYNCED', 10_000);
        await sleep(600);
        sim.pause();
        await sleep(300);
        await client.stop();
        await writer.close();

        const truth = sim.truth(venue, sym.symbol);
        const depth = 10;
        const text = (side: typeof truth.bids) =>
          side.top(depth).map(([p, q]) => [fromSteps(p, sym.price), fromSteps(q, sym.qty)]);
        const result = await replay({ venue, inputs: writer.files, depth });
        const replayed = Object.values(result.symbols)[0];
        expect(replayed?.state).toBe('SYNCED');
        expect(replayed?.bids).toEqual(text(truth.bids));
        expect(replayed?.asks).toEqual(text(truth.asks));
        expect(replayed?.gaps).toBe(0);
        expect(replayed?.checksumBad).toBe(0);
        expect(writer.written).toBeGreaterThan(10);
      } finally {
        await client.stop();
        await writer.close();
        await sim.stop();
      }
    },
    30_000,
  );
});
