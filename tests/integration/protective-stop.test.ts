/**
 * Venue-side protective stops, end to end: the engine on the real Binance USD-M adapters against
 * the simulator over real sockets (stops go through the Algo Service there). What is proven:
 * every position is guarded at the venue by a stop for all of it at the strategy's stop level,
 * placed through the gate; the stop outlives the engine (and the dead man's switch) and closes
 * the position in a gap while no engine runs; a restart adopts the stop instead of cancelling it;
 * a flat position leaves no stop behind; the kill switch takes stops down with everything else.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Money } from '#core/money.ts';
import { parseEngineConfig } from '#engine/config.ts';
import { Engine } from '#engine/engine.ts';
import { MemoryJournal } from '#engine/journal.ts';
import { MemoryStateStore } from '#engine/state-store.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import type { SimOrder } from '#sim/matching.ts';
import { DEFAULT_SYMBOLS } from '#sim/symbols.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import { cleanupsAfterEach, marketData, sleep, waitFor } from '#tests/support/engine-harness.ts';
import { createTrading } from '#venues/trading-factory.ts';

const VENUE = 'binance-futures' as const;
const SYMBOL = 'BTCUSDT';
const ACCOUNT = 'paper';
const cleanups = cleanupsAfterEach();

const until = waitFor;

async function startSim() {
  const apiKey = `test-${randomBytes(6).toString('hex')}`;
  const apiSecret = randomBytes(32).toString('hex');
  const sim = new ExchangeSimulator({
    intervalMs: 50,
    seed: 11,
    symbols: [{ ...DEFAULT_SYMBOLS[VENUE], market: { signalsPerMinute: 40 } }],
    binanceTrading: { accounts: [{ apiKey, secret: apiSecret, account: ACCOUNT }] },
  });
  await sim.start();
  cleanups.push(() => sim.stop());
  return { sim, apiKey, apiSecret };
}

/** A strategy that holds: wide target, 1 % stop, long time stop (the tests decide when it ends). */
const HOLDING = {
  strategy: { defaults: { profitTargetPct: '5', stopLossPct: '1', timeStopSeconds: 600 } },
};

function engineOn(
  env: Awaited<ReturnType<typeof startSim>>,
  store: { journal: MemoryJournal; state: MemoryStateStore },
  config: unknown = HOLDING,
  onLog?: (line: string) => void,
) {
  const endpoints = env.sim.baseUrl(VENUE);
  const engine = new Engine({
    venue: VENUE,
    symbols: [SYMBOL],
    config: parseEngineConfig(config),
    trading: new BinanceFuturesTrading({
      endpoints: tradingEndpointsFor(endpoints),
      apiKey: env.apiKey,
      apiSecret: env.apiSecret,
      // A short dead man's switch, so a dead engine's countdown runs out within the test.
      deadManSwitch: { countdownMs: 1500, refreshMs: 300, symbols: [SYMBOL] },
    }),
    journal: store.journal,
    state: store.state,
    ...(onLog ? { onLog } : {}),
    market: marketData(VENUE, [SYMBOL], endpoints),
  });
  cleanups.push(() => engine.stop({ flatten: false }));
  return engine;
}

const venueStops = (sim: ExchangeSimulator): SimOrder[] =>
  sim.binanceTrading.engine
    .openOrders(ACCOUNT, VENUE, SYMBOL)
    .filter((o) => o.request.type === 'stop-market' || o.request.type === 'stop-limit');
const venuePosition = (sim: ExchangeSimulator): number =>
  sim.binanceTrading.engine.positions(ACCOUNT, VENUE).find((p) => p.symbol === SYMBOL)?.qtyLots ?? 0;
const liveStops = (e: Engine) => e.liveOrders().filter((o) => o.intent.purpose === 'protective-stop');

/** Runs the engine until it holds a position guarded by an acknowledged protective stop. */
async function guardedPosition(engine: Engine, sim: ExchangeSimulator) {
  await until(
    () =>
      venuePosition(sim) !== 0 &&
      liveStops(engine).some((o) => o.state === 'OPEN') &&
      venueStops(sim).length === 1,
    60_000,
    'a position guarded by a venue-side stop',
  );
  const stop = liveStops(engine).find((o) => o.state === 'OPEN');
  if (!stop) throw new Error('no acknowledged protective stop');
  return stop;
}

describe('protective stops (engine + Binance USD-M simulator, real sockets)', () => {
  it('guards a position at the venue: one reduce-only stop for all of it at the stop level of its entry, through the gate', async () => {
    const env = await startSim();
    const store = { journal: new MemoryJournal(), state: new MemoryStateStore() };
    const engine = engineOn(env, store);
    await engine.start();
    const stop = await guardedPosition(engine, env.sim);

    const pos = venuePosition(env.sim);
    const [atVenue] = venueStops(env.sim);
    expect(atVenue?.request.clientOrderId).toBe(stop.clientOrderId);
    expect(atVenue?.request.reduceOnly).toBe(true);
    expect(atVenue?.request.side).toBe(pos > 0 ? 'sell' : 'buy');
    expect(atVenue?.request.qtyLots).toBe(Math.abs(pos));
    expect(atVenue?.triggered).toBe(false);

    // The level: 1 % beyond the average entry of the venue's fills, on the tick grid, rounded
    // toward the entry (a long's stop up, a short's down) — from the venue's own record.
    const fills = env.sim.binanceTrading
      .fills(ACCOUNT)
      .filter((f) => f.symbol === SYMBOL && f.side === (pos > 0 ? 'buy' : 'sell'));
    const qty = fills.reduce((n, f) => n + f.qtyLots, 0);
    expect(qty).toBe(Math.abs(pos));
    const avg = fills
      .reduce((m, f) => m.plus(new Money(f.priceTicks).times(f.qtyLots)), new Money(0))
      .div(qty);
    const level = pos > 0 ? avg.times('0.99').ceil() : avg.times('1.01').floor();
    expect(atVenue?.request.triggerTicks).toBe(level.toNumber());

    // On the record: an approving protective-stop decision before it was sent.
    const recs = store.journal.records;
    const risk = recs.find((r) => r.kind === 'risk' && r.clientOrderId === stop.clientOrderId);
    const sent = recs.find(
      (r) => r.kind === 'order' && r.event === 'sent' && r.clientOrderId === stop.clientOrderId,
    );
    expect((risk?.decision as { approved: boolean; checks: string[] }).checks).toContain('REDUCE_ONLY');
    expect(risk?.seq).toBeLessThan(sent?.seq as number);
    expect(sent?.purpose).toBe('protective-stop');
  }, 90_000);

  it('outlives a dead engine and its dead man’s switch, closes the position in a gap, and a restart books the fill', async () => {
    const env = await startSim();
    const store = { journal: new MemoryJournal(), state: new MemoryStateStore() };
    const first = engineOn(env, store);
    await first.start();
    const stop = await guardedPosition(first, env.sim);
    const long = venuePosition(env.sim) > 0;

    // The process dies: nothing is cancelled, the dead man's switch stops being refreshed.
    await first.kill9();
    store.journal.revive(); // the store outlives the process
    await sleep(2_500); // past the 1.5 s countdown: the venue cancelled our ordinary orders…
    expect(venueStops(env.sim).map((o) => o.request.clientOrderId)).toEqual([stop.clientOrderId]);

    // …and a 3 % gap against the position triggers the stop with nobody watching.
    env.sim.shock(VENUE, SYMBOL, long ? -0.03 : 0.03);
    await until(() => venuePosition(env.sim) === 0, 10_000, 'the venue stop to close the position');
    expect(
      env.sim.binanceTrading.engine.order(ACCOUNT, VENUE, { clientOrderId: stop.clientOrderId })?.status,
    ).toBe('FILLED');

    // Restart on the same store: the stop's fills are booked to it, the ledger is flat, no stop remains.
    const second = engineOn(env, store);
    await second.start();
    await until(() => second.flat && liveStops(second).length === 0, 15_000, 'the restart to settle flat');
    const stopFills = env.sim.binanceTrading
      .fills(ACCOUNT)
      .filter((f) => f.clientOrderId === stop.clientOrderId);
    expect(stopFills.length).toBeGreaterThan(0);
    const booked = store.journal.records.filter(
      (r) =>
        r.kind === 'fill' &&
        (r.fill as { clientOrderId?: string } | undefined)?.clientOrderId === stop.clientOrderId,
    );
    expect(new Set(booked.map((r) => (r.fill as { tradeId: string }).tradeId))).toEqual(
      new Set(stopFills.map((f) => f.tradeId)),
    );
    expect(env.sim.binanceTrading.engine.ordersByClientId(ACCOUNT, VENUE, stop.clientOrderId)).toHaveLength(
      1,
    );
  }, 90_000);

  it('a restart with the position still open keeps the resting stop: not cancelled, not placed twice', async () => {
    const env = await startSim();
    const store = { journal: new MemoryJournal(), state: new MemoryStateStore() };
    const first = engineOn(env, store);
    await first.start();
    const stop = await guardedPosition(first, env.sim);
    await first.kill9();
    store.journal.revive(); // the store outlives the process

    const second = engineOn(env, store);
    await second.start();
    await until(
      () => liveStops(second).some((o) => o.clientOrderId === stop.clientOrderId && o.state === 'OPEN'),
      15_000,
      'the kept stop to be confirmed',
    );
    await sleep(1_000); // give a wrong guard time to place or cancel something
    expect(venueStops(env.sim).map((o) => o.request.clientOrderId)).toEqual([stop.clientOrderId]);
    expect(
      store.journal.records.some((r) => r.kind === 'reconcile' && r.event === 'kept-protective-stop'),
    ).toBe(true);
    const sentAfterRestart = store.journal.records.filter(
      (r) => r.kind === 'order' && r.event === 'sent' && r.purpose === 'protective-stop',
    );
    expect(sentAfterRestart.map((r) => r.clientOrderId)).toEqual([stop.clientOrderId]);
  }, 90_000);

  it('stopping without --flatten-on-exit leaves the position guarded by its stop', async () => {
    const env = await startSim();
    const store = { journal: new MemoryJournal(), state: new MemoryStateStore() };
    const engine = engineOn(env, store);
    await engine.start();
    const stop = await guardedPosition(engine, env.sim);
    await engine.stop({ flatten: false });
    expect(venueStops(env.sim).map((o) => o.request.clientOrderId)).toEqual([stop.clientOrderId]);
    expect(store.journal.records.some((r) => r.kind === 'engine' && r.event === 'protective-stop-left')).toBe(
      true,
    );
  }, 90_000);

  it('an exit by the strategy leaves no stop behind; the kill switch cancels stops with everything else', async () => {
    const env = await startSim();
    const store = { journal: new MemoryJournal(), state: new MemoryStateStore() };
    // A 2 s time stop: every position ends by the strategy's own exit.
    const engine = engineOn(env, store, {
      strategy: { defaults: { profitTargetPct: '5', stopLossPct: '1', timeStopSeconds: 2 } },
    });
    await engine.start();
    const stop = await guardedPosition(engine, env.sim);
    await until(
      () =>
        engine.snapshot().trades >= 1 &&
        !venueStops(env.sim).some((o) => o.request.clientOrderId === stop.clientOrderId),
      15_000,
      'the time stop to close the position and the stop to go',
    );
    expect(liveStops(engine).map((o) => o.clientOrderId)).not.toContain(stop.clientOrderId);

    // The next guarded position meets the kill switch: stop cancelled, position flattened.
    await guardedPosition(engine, env.sim);
    engine.kill('test', 'operator');
    await until(
      () => engine.flat && venuePosition(env.sim) === 0 && venueStops(env.sim).length === 0,
      15_000,
      'the kill switch to cancel and flatten',
    );
    expect(env.sim.binanceTrading.engine.openOrders(ACCOUNT, VENUE)).toEqual([]);
  }, 120_000);
});

describe('a protective stop the venue will not take', () => {
  it('backs off (1 s, 2 s, 4 s…) instead of re-sending at once, and logs the unguarded position once', async () => {
    const env = await startSim();
    const store = { journal: new MemoryJournal(), state: new MemoryStateStore() };
    const logs: string[] = [];
    const engine = engineOn(env, store, HOLDING, (l) => logs.push(l));
    await engine.start();
    const stop = await guardedPosition(engine, env.sim);
    // From now on the venue rejects every order (as -2021 would near the trigger), and the resting
    // stop disappears without our asking (as a venue-side expiry would).
    env.sim.binanceTrading.faults.rejectOrder(-2021, 'Order would immediately trigger.', 1000);
    const before = store.journal.records.length;
    env.sim.binanceTrading.engine.cancel(ACCOUNT, VENUE, SYMBOL, { clientOrderId: stop.clientOrderId });
    await sleep(4_000);
    const attempts = store.journal.records
      .slice(before)
      .filter((r) => r.kind === 'order' && r.event === 'sent' && r.purpose === 'protective-stop');
    // Without the backoff this is one attempt per round trip or sweep: dozens in 4 s.
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.length).toBeLessThanOrEqual(3);
    expect(logs.filter((l) => /has no venue-side stop/.test(l))).toHaveLength(1);
    expect(engine.tradingState).toBe('ACTIVE');
    expect(venuePosition(env.sim)).not.toBe(0);
  }, 90_000);
});

describe('kill switch when the book is stale', () => {
  it('a flatten the gate refuses (stale book) is retried until the position is closed; the stop guards it meanwhile', async () => {
    const env = await startSim();
    const store = { journal: new MemoryJournal(), state: new MemoryStateStore() };
    const engine = engineOn(env, store);
    await engine.start();
    const stop = await guardedPosition(engine, env.sim);
    // The market goes quiet: no book update for longer than the 2 s staleness limit.
    env.sim.pause();
    await sleep(2_500);
    engine.kill('test: stale book', 'operator');
    await until(
      () =>
        store.journal.records.some(
          (r) =>
            r.kind === 'risk' &&
            (r.intent as { purpose?: string } | undefined)?.purpose === 'flatten' &&
            /BOOK_STALE|BOOK_NOT_SYNCED/.test(String((r.decision as { reason?: string }).reason)),
        ),
      5_000,
      'the refused flatten',
    );
    expect(engine.flat).toBe(false);
    // Meanwhile the position is not naked: on a reduce-only venue the kill kept its stop.
    expect(venueStops(env.sim).map((o) => o.request.clientOrderId)).toEqual([stop.clientOrderId]);
    // The market comes back: the flatten is tried again, the position closes, the stop goes.
    env.sim.resume();
    await until(
      () => engine.flat && venuePosition(env.sim) === 0 && venueStops(env.sim).length === 0,
      15_000,
      'the retried flatten',
    );
  }, 90_000);
});

describe('protective stops on spot (engine + Kraken spot simulator, real sockets)', () => {
  it('a spot exit first takes its stop down (the stop holds the base), then sells; the dead man’s switch is never armed', async () => {
    const SPOT = 'kraken-spot' as const;
    const PAIR = DEFAULT_SYMBOLS[SPOT].symbol;
    const apiKey = `test-${randomBytes(6).toString('hex')}`;
    const apiSecret = randomBytes(64).toString('base64');
    const sim = new ExchangeSimulator({
      intervalMs: 50,
      seed: 11,
      symbols: [{ ...DEFAULT_SYMBOLS[SPOT], market: { signalsPerMinute: 40 } }],
      krakenSpotTrading: {
        accounts: [{ apiKey, secret: apiSecret, account: ACCOUNT }],
        ledger: { balances: { [SPOT]: { USD: '100000' } } },
      },
    });
    await sim.start();
    cleanups.push(() => sim.stop());
    const endpoints = sim.baseUrl(SPOT);
    const config = parseEngineConfig({
      strategy: { defaults: { profitTargetPct: '5', stopLossPct: '1', timeStopSeconds: 2 } },
    });
    const journal = new MemoryJournal();
    const engine = new Engine({
      venue: SPOT,
      symbols: [PAIR],
      config,
      // The factory, as npm start and the Fargate task build it: protective stops on, so no DMS.
      trading: createTrading(SPOT, { apiKey, apiSecret }, endpoints, {
        protectiveStops: config.protectiveStop.enabled,
      }),
      journal,
      state: new MemoryStateStore(),
      market: marketData(SPOT, [PAIR], endpoints),
    });
    cleanups.push(() => engine.stop({ flatten: false }));
    await engine.start();

    const spotStops = () =>
      sim.krakenSpotTrading.engine
        .openOrders(ACCOUNT, SPOT)
        .filter((o) => o.request.type === 'stop-market' || o.request.type === 'stop-limit');
    await until(
      () => liveStops(engine).some((o) => o.state === 'OPEN') && spotStops().length === 1,
      60_000,
      'a spot position guarded by a stop',
    );
    const stop = liveStops(engine).find((o) => o.state === 'OPEN');
    const [atVenue] = spotStops();
    expect(atVenue?.request.clientOrderId).toBe(stop?.clientOrderId);
    expect(atVenue?.request.side).toBe('sell');
    expect(atVenue?.request.reduceOnly).toBe(false);

    // The 2 s time stop ends the position: the stop is cancelled first, then the exit sells.
    // (Not "flat": the strategy may enter again the moment it is out.)
    await until(
      () =>
        engine.snapshot().trades >= 1 &&
        !spotStops().some((o) => o.request.clientOrderId === stop?.clientOrderId),
      20_000,
      'the exit',
    );
    const recs = journal.records;
    const cancel = recs.find(
      (r) => r.kind === 'order' && r.event === 'cancel-requested' && r.clientOrderId === stop?.clientOrderId,
    );
    expect(cancel?.why).toMatch(/^spot exit \(time-stop\) needs the base$/);
    const exit = recs.find((r) => r.kind === 'order' && r.event === 'sent' && r.purpose === 'time-stop');
    expect(exit?.seq).toBeGreaterThan(cancel?.seq as number);
    // No exit was refused for the base the stop held.
    expect(recs.filter((r) => r.kind === 'order' && r.event === 'rejected')).toEqual([]);
    expect(sim.krakenSpotTrading.dmsTriggerAt(ACCOUNT)).toBeUndefined();
  }, 90_000);
});
