/**
 * The venue says "slow down": the real client against the simulator honours Retry-After on
 * refused handshakes (429), stays away for the ban on 418, and waits out a REST 429 on snapshots —
 * no reconnect storms.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { VenueId } from '#core/instrument.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { MarketDataClient } from '#venues/market-data.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(venue: VenueId, bannedMs = 120_000) {
  const sim = new ExchangeSimulator({ intervalMs: 50, seed: 3 });
  await sim.start();
  const symbols = sim.symbols(venue).map((s) => s.symbol);
  const client = new MarketDataClient({
    venue,
    symbols,
    endpoints: sim.baseUrl(venue),
    backoff: { baseMs: 20, capMs: 200, bannedMs },
  });
  cleanups.push(async () => {
    await client.stop();
    await sim.stop();
  });
  await client.start();
  const synced = () =>
    client.books().size > 0 && [...client.books().values()].every((b) => b.state === 'SYNCED');
  for (let i = 0; i < 500 && !synced(); i++) await sleep(10);
  expect(synced()).toBe(true);
  return { sim, client, synced };
}

describe('backoff against the simulator', () => {
  it('a 429 handshake with Retry-After: 1 → the next handshake waits at least 1 s', async () => {
    const { sim, synced } = await setup('binance-futures');
    sim.faults.rejectHandshake('binance-futures', { status: 429, retryAfterSec: 1 }, 1);
    sim.dropConnections('binance-futures');
    for (let i = 0; i < 50 && synced(); i++) await sleep(5);
    for (let i = 0; i < 500 && !synced(); i++) await sleep(10);
    const ws = sim.stats.log.filter((l) => l.kind === 'ws');
    const refused = ws.findIndex((l) => l.status === 429);
    expect(refused).toBeGreaterThan(0);
    const next = ws[refused + 1];
    expect(next?.status).toBe(101);
    expect((next?.ts ?? 0) - (ws[refused]?.ts ?? 0)).toBeGreaterThanOrEqual(1000);
    expect(synced()).toBe(true);
  }, 20_000);

  it('a 418 (IP ban) handshake → no attempt at all during the ban, then back in sync', async () => {
    const { sim, synced } = await setup('kraken-futures', 1500);
    sim.faults.rejectHandshake('kraken-futures', { status: 418, retryAfterSec: 1 }, 1);
    sim.dropConnections('kraken-futures');
    await sleep(1200);
    const ws = sim.stats.log.filter((l) => l.kind === 'ws');
    const refused = ws.findIndex((l) => l.status === 418);
    expect(refused).toBeGreaterThan(0);
    // The ban is max(Retry-After, bannedMs) = 1.5 s: nothing may knock during it.
    expect(ws.slice(refused + 1)).toEqual([]);
    for (let i = 0; i < 500 && !synced(); i++) await sleep(10);
    const after = sim.stats.log.filter((l) => l.kind === 'ws').slice(refused + 1);
    expect((after[0]?.ts ?? 0) - (ws[refused]?.ts ?? 0)).toBeGreaterThanOrEqual(1500);
    expect(synced()).toBe(true);
  }, 20_000);

  it('a REST 429 on the depth snapshot → the retry waits out Retry-After, then the book syncs', async () => {
    const { sim, synced } = await setup('binance-us');
    sim.faults.httpError('binance-us', { status: 429, retryAfterSec: 1, path: '/api/v3/depth' }, 1);
    sim.dropConnections('binance-us');
    for (let i = 0; i < 50 && synced(); i++) await sleep(5);
    for (let i = 0; i < 500 && !synced(); i++) await sleep(10);
    const rest = sim.stats.log.filter((l) => l.kind === 'rest' && l.path === '/api/v3/depth');
    const limited = rest.findIndex((l) => l.status === 429);
    expect(limited).toBeGreaterThanOrEqual(0);
    expect(rest[limited + 1]?.status).toBe(200);
    expect((rest[limited + 1]?.ts ?? 0) - (rest[limited]?.ts ?? 0)).toBeGreaterThanOrEqual(1000);
    expect(synced()).toBe(true);
  }, 20_000);
});
