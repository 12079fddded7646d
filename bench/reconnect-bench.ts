/**
 * Reconnect + resync time after a dropped connection, per venue, with the production client
 * settings (backoff, liveness) against the local simulator over real sockets: the venue closes
 * the socket, and we time until every book of that venue is SYNCED again.
 *
 *   npm run bench:reconnect [-- --drops N] [--json]
 */
import { parseArgs } from 'node:util';
import { VENUES } from '#core/instrument.ts';
import type { VenueId } from '#core/instrument.ts';
import { percentile } from '#sim/chaos.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { MarketDataClient } from '#venues/market-data.ts';

const { values } = parseArgs({ options: { drops: { type: 'string' }, json: { type: 'boolean' } } });
const drops = Number(values.drops ?? 12);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sim = new ExchangeSimulator({ intervalMs: 100 });
await sim.start();
const results: Record<string, { n: number; p50: number; p99: number; max: number }> = {};
// Venues run side by side; drops are spaced past the client's 5 s "healthy connection" mark, so
// each measures a first drop, not a reconnect storm (that is the backoff's job, tested elsewhere).
await Promise.all(
  (VENUES as readonly VenueId[]).map(async (venue) => {
    const client = new MarketDataClient({
      venue,
      symbols: sim.symbols(venue).map((s) => s.symbol),
      endpoints: sim.baseUrl(venue),
    });
    await client.start();
    const synced = () =>
      client.books().size > 0 && [...client.books().values()].every((b) => b.state === 'SYNCED');
    while (!synced()) await sleep(5);
    const times: number[] = [];
    for (let i = 0; i < drops; i++) {
      await sleep(5_500 + Math.random() * 500);
      const t0 = performance.now();
      sim.dropConnections(venue);
      while (synced()) await sleep(1);
      while (!synced()) await sleep(1);
      times.push(performance.now() - t0);
      process.stderr.write(`${venue}: ${i + 1}/${drops} ${times.at(-1)?.toFixed(0)} ms\n`);
    }
    await client.stop();
    results[venue] = {
      n: times.length,
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      max: Math.max(...times),
    };
  }),
);
await sim.stop();
if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`);
else {
  process.stdout.write('reconnect + resync after a drop (ms)\nvenue             n     p50     p99     max\n');
  for (const [v, r] of Object.entries(results)) {
    process.stdout.write(
      `${v.padEnd(16)} ${String(r.n).padStart(3)} ${r.p50.toFixed(0).padStart(7)} ${r.p99.toFixed(0).padStart(7)} ${r.max.toFixed(0).padStart(7)}\n`,
    );
  }
}
