/**
 * Every venue, end to end: the engine with the venue's real adapters (built by the same factory
 * `npm start` and the Fargate task use) against the simulator over real sockets, through a whole
 * round trip — entry, protective stop at the venue, the strategy's exit, the stop gone — and then
 * the kill switch. Catches what per-venue client tests cannot: an engine order a venue's adapter
 * refuses (a spot exit flagged reduce-only once made every Kraken spot position unclosable).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { VenueId } from '#core/instrument.ts';
import { parseEngineConfig } from '#engine/config.ts';
import { Engine } from '#engine/engine.ts';
import { MemoryJournal } from '#engine/journal.ts';
import { MemoryStateStore } from '#engine/state-store.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import type { SimOptions } from '#sim/exchange-sim.ts';
import { DEFAULT_SYMBOLS } from '#sim/symbols.ts';
import { cleanupsAfterEach, marketData, waitFor } from '#tests/support/engine-harness.ts';
import { createTrading } from '#venues/trading-factory.ts';

const cleanups = cleanupsAfterEach();

const until = waitFor;

const ACCOUNT = 'paper';

function simTrading(venue: VenueId, apiKey: string, secret: string): Partial<SimOptions> {
  const accounts = [{ apiKey, secret, account: ACCOUNT }];
  const quote = venue.startsWith('binance') ? 'USDT' : 'USD';
  const ledger = { balances: { [venue]: { [quote]: '100000' } } };
  switch (venue) {
    case 'binance-futures':
      return { binanceTrading: { accounts, ledger } };
    case 'binance-us':
      return { binanceUsTrading: { accounts, ledger } };
    case 'kraken-spot':
      return { krakenSpotTrading: { accounts, ledger } };
    case 'kraken-futures':
      return { krakenFuturesTrading: { accounts, ledger } };
  }
}

const VENUES: VenueId[] = ['binance-futures', 'binance-us', 'kraken-spot', 'kraken-futures'];

describe('a round trip on every venue (engine + factory-built adapters + simulator, real sockets)', () => {
  it.each(VENUES)(
    '%s: entry, venue-side stop, the strategy’s exit, no stop left, then kill → flat; the venue refuses nothing',
    async (venue) => {
      const apiKey = `test-${randomBytes(6).toString('hex')}`;
      const apiSecret = venue.startsWith('binance')
        ? randomBytes(32).toString('hex')
        : randomBytes(64).toString('base64');
      const sym = DEFAULT_SYMBOLS[venue];
      const sim = new ExchangeSimulator({
        intervalMs: 50,
        seed: 21,
        symbols: [{ ...sym, market: { signalsPerMinute: 40 } }],
        ...simTrading(venue, apiKey, apiSecret),
      });
      await sim.start();
      cleanups.push(() => sim.stop());
      const endpoints = sim.baseUrl(venue);
      const config = parseEngineConfig({
        orderNotional: '2000',
        strategy: { defaults: { profitTargetPct: '5', stopLossPct: '1', timeStopSeconds: 2 } },
      });
      const journal = new MemoryJournal();
      const engine = new Engine({
        venue,
        symbols: [sym.symbol],
        config,
        trading: createTrading(venue, { apiKey, apiSecret }, endpoints, {
          protectiveStops: config.protectiveStop.enabled,
        }),
        journal,
        state: new MemoryStateStore(),
        market: marketData(venue, [sym.symbol], endpoints),
      });
      cleanups.push(() => engine.stop({ flatten: false }));
      const orders = () => journal.records.filter((r) => r.kind === 'order');
      const why = () =>
        JSON.stringify(
          orders()
            .slice(-12)
            .map((r) => [r.event, r.purpose, r.state, r.code ?? '', r.message ?? '']),
        );
      await engine.start();

      // A whole round trip, guarded by an acknowledged venue-side stop while it was open. (Not
      // "flat" here: the strategy may enter again the moment it is out.)
      await until(() => engine.snapshot().trades >= 1, 60_000, 'a round trip', why);
      const stops = orders().filter((r) => r.purpose === 'protective-stop');
      expect(stops.some((r) => r.state === 'OPEN')).toBe(true);
      const exits = orders().filter(
        (r) =>
          r.event === 'sent' && ['time-stop', 'target', 'exit-signal', 'stop'].includes(r.purpose as string),
      );
      expect(exits.length).toBeGreaterThan(0);
      // The first position's stop is gone with it (cancelled, or expired with the position).
      const firstStop = stops[0]?.clientOrderId as string;
      await until(
        () => !engine.liveOrders().some((o) => o.clientOrderId === firstStop),
        10_000,
        'the first stop to go with its position',
        why,
      );

      // The kill switch on whatever is open now: everything cancelled, flat.
      engine.kill('test', 'operator');
      await until(() => engine.flat && engine.liveOrders().length === 0, 20_000, 'kill → flat', why);

      // Nothing the engine sent was refused by the venue or its adapter.
      expect(orders().filter((r) => r.event === 'rejected' || r.event === 'failed')).toEqual([]);
    },
    90_000,
  );
});
