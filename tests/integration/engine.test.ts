/**
 * The whole engine against the simulator over real sockets: the real Binance USD-M adapters, the
 * strategy, the gate, execution, the kill switch and persistence. No mocks.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseEngineConfig } from '#engine/config.ts';
import { Engine } from '#engine/engine.ts';
import { MemoryJournal } from '#engine/journal.ts';
import { MemoryStateStore } from '#engine/state-store.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { DEFAULT_SYMBOLS } from '#sim/symbols.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import { cleanupsAfterEach, marketData, sleep, waitFor } from '#tests/support/engine-harness.ts';

const VENUE = 'binance-futures' as const;
const SYMBOL = 'BTCUSDT';
const cleanups = cleanupsAfterEach();

/** Engines under test, so a timeout can say what they were doing. */
const running: Engine[] = [];

const until = (cond: () => boolean, timeoutMs: number, what: string) =>
  waitFor(cond, timeoutMs, what, () =>
    running
      .map((e) => JSON.stringify(e.snapshot(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))
      .join(' | '),
  );

/** A simulator whose market shows imbalance episodes often, so the strategy trades within seconds. */
async function startSim() {
  const apiKey = `test-${randomBytes(6).toString('hex')}`;
  const apiSecret = randomBytes(32).toString('hex');
  const sim = new ExchangeSimulator({
    intervalMs: 50,
    seed: 5,
    symbols: [{ ...DEFAULT_SYMBOLS[VENUE], market: { signalsPerMinute: 40 } }],
    binanceTrading: { accounts: [{ apiKey, secret: apiSecret, account: 'paper' }] },
  });
  await sim.start();
  cleanups.push(() => sim.stop());
  return { sim, apiKey, apiSecret };
}

function engineFor(
  env: Awaited<ReturnType<typeof startSim>>,
  opts: { config?: unknown; state?: MemoryStateStore; orderTimeoutMs?: number } = {},
) {
  const journal = new MemoryJournal();
  const state = opts.state ?? new MemoryStateStore();
  const endpoints = env.sim.baseUrl(VENUE);
  const trading = new BinanceFuturesTrading({
    endpoints: tradingEndpointsFor(endpoints),
    apiKey: env.apiKey,
    apiSecret: env.apiSecret,
    ...(opts.orderTimeoutMs !== undefined ? { orderTimeoutMs: opts.orderTimeoutMs } : {}),
  });
  const engine = new Engine({
    venue: VENUE,
    symbols: [SYMBOL],
    config: parseEngineConfig(opts.config ?? {}),
    trading,
    journal,
    state,
    market: marketData(VENUE, [SYMBOL], endpoints),
  });
  cleanups.push(() => engine.stop({ flatten: false }));
  running.push(engine);
  return { engine, journal, state, trading };
}

const openAtVenue = (sim: ExchangeSimulator) => sim.binanceTrading.engine.openOrders('paper', VENUE).length;
const positionAtVenue = (sim: ExchangeSimulator) =>
  sim.binanceTrading.engine.positions('paper', VENUE).reduce((n, p) => n + Math.abs(p.qtyLots), 0);

describe('engine (simulator, real sockets, real adapters)', () => {
  it('starts INITIALIZING → SYNCING → RECONCILING → READY and trades the imbalance strategy through the gate', async () => {
    const env = await startSim();
    const { engine, journal } = engineFor(env);
    await engine.start();
    const phases = journal.records
      .filter((r) => r.kind === 'engine' && r.event === 'phase')
      .map((r) => r.phase);
    expect(phases).toEqual(['INITIALIZING', 'SYNCING', 'RECONCILING', 'READY']);
    await until(() => engine.snapshot().orders > 0, 60_000, 'an order');
    await until(() => journal.records.some((r) => r.kind === 'fill'), 10_000, 'a fill');
    // Every order on the record was preceded by its signal and an approving risk decision.
    const sent = journal.records.filter((r) => r.kind === 'order' && r.event === 'sent');
    for (const o of sent) {
      const risk = journal.records.find((r) => r.kind === 'risk' && r.clientOrderId === o.clientOrderId);
      expect((risk?.decision as { approved: boolean } | undefined)?.approved).toBe(true);
      expect(risk?.seq).toBeLessThan(o.seq);
    }
  }, 60_000);

  it('daily-loss breach → KILL: HALTED, kill flag persisted with the reason, everything cancelled and flat at the venue', async () => {
    const env = await startSim();
    // The first entry's fee alone breaches a one-cent daily loss limit.
    const { engine, state, journal } = engineFor(env, {
      config: { risk: { account: { dailyLossLimit: '-0.01' } } },
    });
    await engine.start();
    await until(() => engine.killFlag !== null, 40_000, 'the kill switch');
    expect(engine.tradingState).toBe('HALTED');
    expect(state.state.kill?.reason).toMatch(/DAILY_LOSS/);
    await until(
      () => engine.flat && openAtVenue(env.sim) === 0 && positionAtVenue(env.sim) === 0,
      15_000,
      'flat',
    );
    expect(journal.records.some((r) => r.kind === 'kill' && r.event === 'kill')).toBe(true);
    // Nothing but flatten orders after the kill.
    const killSeq = journal.records.find((r) => r.kind === 'kill' && r.event === 'kill')?.seq ?? 0;
    const after = journal.records.filter((r) => r.kind === 'order' && r.event === 'sent' && r.seq > killSeq);
    for (const o of after) expect(o.purpose).toBe('flatten');
  }, 60_000);

  it('a restart with the kill flag set stays HALTED and sends nothing until an audited resume', async () => {
    const env = await startSim();
    const state = new MemoryStateStore();
    state.state = { kill: { reason: 'test', by: 'operator', ts: Date.now() }, nextSeq: 1, epoch: 1 };
    const { engine, journal } = engineFor(env, { state });
    await engine.start();
    expect(engine.tradingState).toBe('HALTED');
    await until(() => engine.snapshot().signals > 0, 40_000, 'a signal');
    await sleep(500);
    expect(engine.snapshot().orders).toBe(0);
    expect(
      env.sim.binanceTrading.requests.filter((r) => /order/.test(r.what) && /place|POST/.test(r.what)),
    ).toEqual([]);
    engine.resume('test', 'checked');
    expect(state.state.kill).toBeNull();
    expect(journal.records.some((r) => r.kind === 'control' && r.event === 'resume')).toBe(true);
  }, 60_000);

  it('the venue circuit breaker: three consecutive venue failures halt trading', async () => {
    const env = await startSim();
    const { engine, journal } = engineFor(env);
    env.sim.binanceTrading.faults.unknownAfterPlace(3);
    await engine.start();
    await until(() => engine.tradingState === 'HALTED', 100_000, 'the circuit breaker');
    expect(journal.records.some((r) => r.kind === 'engine' && r.event === 'circuit-open')).toBe(true);
    // HALTED is not a kill: nothing is flattened, nothing more is sent.
    expect(engine.killFlag).toBeNull();
    const sent = engine.snapshot().orders;
    await sleep(1500);
    expect(engine.snapshot().orders).toBe(sent);
  }, 130_000);

  it('an order answered by nothing (timeout, then 503 unknown) is resolved from the venue: no duplicate, no lost fill', async () => {
    const env = await startSim();
    const { engine, journal } = engineFor(env, { orderTimeoutMs: 300 });
    const faults = env.sim.binanceTrading.faults;
    faults.silentAfterPlace(1);
    faults.unknownAfterPlace(1);
    await engine.start();
    await until(
      () => journal.records.filter((r) => r.kind === 'order' && r.event === 'sent').length >= 2,
      40_000,
      'two orders',
    );
    const ids = journal.records
      .filter((r) => r.kind === 'order' && r.event === 'sent')
      .slice(0, 2)
      .map((r) => r.clientOrderId as string);
    await until(
      () => engine.liveOrders().every((o) => !ids.includes(o.clientOrderId)),
      15_000,
      'both orders to settle',
    );
    for (const id of ids) {
      // Exactly one order with this id ever reached the venue: nothing was resent blind.
      expect(env.sim.binanceTrading.engine.ordersByClientId('paper', VENUE, id)).toHaveLength(1);
      const venueOrder = env.sim.binanceTrading.engine.order('paper', VENUE, { clientOrderId: id });
      const ours = engine.liveOrders().find((o) => o.clientOrderId === id);
      expect(ours).toBeUndefined();
      // Every venue fill of it is on our record, once.
      const venueFills = env.sim.binanceTrading.fills('paper').filter((f) => f.clientOrderId === id);
      const ourFills = journal.records.filter(
        (r) =>
          r.kind === 'fill' &&
          r.event === undefined &&
          (r.fill as { clientOrderId: string }).clientOrderId === id,
      );
      expect(ourFills.length).toBe(venueFills.length);
      expect(venueOrder?.status).toMatch(/FILLED|EXPIRED|CANCELED/);
    }
    // The orders' outcomes really were unknown to the transport at first.
    const unknownOrStream = journal.records.filter(
      (r) =>
        r.kind === 'order' &&
        ids.includes(r.clientOrderId as string) &&
        (r.event === 'unknown' || r.event === 'stream' || r.event === 'query'),
    );
    expect(unknownOrStream.length).toBeGreaterThan(0);
  }, 60_000);
});

describe('order TTL (post-only entries)', () => {
  it('a post-only entry rests at the near touch and is cancelled at its TTL unless it filled; nothing of ours is left resting', async () => {
    const env = await startSim();
    const { engine, journal } = engineFor(env, {
      config: { entry: { timeInForce: 'POST_ONLY', ttlMs: 400 }, protectiveStop: { enabled: false } },
    });
    await engine.start();
    await until(
      () => journal.records.some((r) => r.kind === 'order' && r.event === 'cancel-requested'),
      60_000,
      'an entry to reach its TTL',
    );
    const req = journal.records.find((r) => r.kind === 'order' && r.event === 'cancel-requested');
    expect(req?.why).toMatch(/^ttl: resting \d+ ms ≥ 400 ms$/);
    expect(req?.tif).toBe('POST_ONLY');
    const id = req?.clientOrderId as string;
    // It rested first: sent, acknowledged open, then cancelled at the venue — never a taker fill.
    await until(() => !engine.liveOrders().some((o) => o.clientOrderId === id), 5_000, 'the cancel');
    const venueOrder = env.sim.binanceTrading.engine.order('paper', VENUE, { clientOrderId: id });
    expect(venueOrder?.request.timeInForce).toBe('POST_ONLY');
    expect(venueOrder?.status).toMatch(/CANCELED|FILLED/);
    expect(venueOrder?.fills.every((f) => f.liquidity === 'maker')).toBe(true);
    const sent = journal.records.find(
      (r) => r.kind === 'order' && r.event === 'sent' && r.clientOrderId === id,
    );
    expect((req?.ts as number) - (sent?.ts as number)).toBeGreaterThanOrEqual(400);
  }, 90_000);
});
