/**
 * Binance.US spot trading end to end: the real client (lib/venues/binance/us-trading-client.ts)
 * against the simulator's private API (lib/sim/binance-us-trading.ts) over real sockets. Plus the
 * Binance USD-M dead man's switch (countdownCancelAll) of lib/venues/binance/trading-client.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Instrument } from '#core/instrument.ts';
import type { Fill, OrderIntent, OrderSide, TimeInForce } from '#core/trading.ts';
import { buildSignedQuery } from '#venues/binance/signing.ts';
import type { TradingDiagnostic } from '#venues/binance/trading-client.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import type { BinanceUsTradingOptions } from '#venues/binance/us-trading-client.ts';
import { BinanceUsTrading } from '#venues/binance/us-trading-client.ts';
import type { UserEvent } from '#venues/trading.ts';
import { SIM_API_KEY, SIM_API_SECRET } from '#sim/binance-trading.ts';
import type { ExchangeSimulator } from '#sim/exchange-sim.ts';
import {
  cleanupsAfterEach,
  clientIds,
  clientTexts,
  errorTexts,
  eventQueries,
  manualIntent,
  passivePrice,
  rejectionOf,
  sleep,
  startSim,
  until,
} from '#tests/support/trading-harness.ts';

const SYMBOL = 'BTCUSDT';
const cleanups = cleanupsAfterEach();
const nextId = clientIds(2, 3);

function intent(
  side: OrderSide,
  type: 'market' | 'limit',
  qtyLots: number,
  priceTicks?: number,
  timeInForce: TimeInForce = 'GTC',
  venue: 'binance-us' | 'binance-futures' = 'binance-us',
): OrderIntent {
  return manualIntent({
    clientOrderId: nextId(),
    venue,
    symbol: SYMBOL,
    side,
    type,
    qtyLots,
    priceTicks,
    timeInForce,
  });
}

async function setup(clientOpts: Partial<BinanceUsTradingOptions> = {}) {
  const sim = await startSim(cleanups, { seed: 13 });
  const events: UserEvent[] = [];
  const diagnostics: TradingDiagnostic[] = [];
  const client = new BinanceUsTrading({
    endpoints: sim.baseUrl('binance-us'),
    apiKey: SIM_API_KEY,
    apiSecret: SIM_API_SECRET,
    orderTimeoutMs: 2000,
    userStream: { pingIntervalMs: 200, silentLimitMs: 2000 },
    backoff: { baseMs: 20, capMs: 100, resetAfterMs: 1000 },
    onDiagnostic: (d) => diagnostics.push(d),
    ...clientOpts,
  });
  cleanups.push(() => client.stop());
  await client.start((e) => events.push(e));
  const inst = client.instrumentSet.get(SYMBOL) as Instrument;
  expect(inst).toBeDefined();
  const book = () => sim.truth('binance-us', SYMBOL);
  const { fillsOf, statusesOf } = eventQueries(events);
  const passive = (side: OrderSide, away = 20_000) => passivePrice(book(), side, away);
  return { sim, client, events, diagnostics, inst, book, fillsOf, statusesOf, passive };
}

function expectFillsMatch(received: readonly Fill[], sim: ExchangeSimulator): void {
  const truth = sim.binanceUsTrading.fills('sim');
  const byId = new Map(received.map((f) => [f.tradeId, f]));
  expect(byId.size).toBe(received.length);
  expect(received.length).toBe(truth.length);
  for (const t of truth) {
    expect(byId.get(t.tradeId)).toEqual({
      venue: 'binance-us',
      symbol: t.symbol,
      tradeId: t.tradeId,
      clientOrderId: t.clientOrderId,
      side: t.side,
      priceTicks: t.priceTicks,
      qtyLots: t.qtyLots,
      fee: t.fee,
      feeAsset: 'USDT',
      liquidity: t.liquidity,
      ts: t.ts,
    });
  }
}

describe('Binance.US spot trading against the simulator', () => {
  it('place, fills via executionReport, query, cancel, open orders, cancel-all, positions = balance', async () => {
    const { sim, client, events, inst, fillsOf, statusesOf, passive } = await setup();
    expect(events[0]).toEqual({ type: 'stream-up' });
    // No symbol traded yet (instruments came from exchangeInfo): no positions to report.
    expect(await client.positions()).toEqual([]);
    const startLots = 200_000; // the simulator's default 2 BTC

    // Market buy of 0.01 BTC: taker fills over the stream, exact fields, fee positive in USDT.
    let written = 0;
    const mkt = intent('buy', 'market', 1000);
    const r1 = await client.place(mkt, inst, () => written++);
    expect(written).toBe(1);
    expect(r1).toMatchObject({ kind: 'ack', state: { status: 'FILLED', filledLots: 1000 } });
    await until(() => fillsOf(mkt.clientOrderId).reduce((s, f) => s + f.qtyLots, 0) === 1000);
    await until(() => statusesOf(mkt.clientOrderId).includes('FILLED'));
    expect(statusesOf(mkt.clientOrderId)[0]).toBe('NEW');
    for (const f of fillsOf(mkt.clientOrderId)) {
      expect(f.liquidity).toBe('taker');
      expect(Number(f.fee)).toBeGreaterThan(0);
    }
    // Spot: the position is the base balance (2 BTC at start + 0.01).
    expect(await client.positions()).toEqual([
      { symbol: SYMBOL, qtyLots: startLots + 1000, entryPrice: '0' },
    ]);

    // Resting GTC limits: open orders, query, cancel (the original client id comes back).
    const a = intent('buy', 'limit', 100, passive('buy'));
    const b = intent('sell', 'limit', 100, passive('sell'));
    expect(await client.place(a, inst)).toMatchObject({
      kind: 'ack',
      state: { status: 'NEW', clientOrderId: a.clientOrderId },
    });
    expect(await client.place(b, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    expect((await client.openOrders(SYMBOL)).map((o) => o.clientOrderId).sort()).toEqual(
      [a.clientOrderId, b.clientOrderId].sort(),
    );
    expect(await client.queryOrder(SYMBOL, a.clientOrderId)).toMatchObject({ status: 'NEW', filledLots: 0 });
    expect(await client.cancel(SYMBOL, a.clientOrderId)).toMatchObject({
      kind: 'ok',
      state: { status: 'CANCELED', clientOrderId: a.clientOrderId },
    });
    await until(() => statusesOf(a.clientOrderId).includes('CANCELED'));
    expect(await client.cancel(SYMBOL, a.clientOrderId)).toMatchObject({ kind: 'rejected', code: '-2011' });
    expect(await client.queryOrder(SYMBOL, 'never-sent')).toBeNull();

    // IOC that cannot execute expires unfilled.
    expect(await client.place(intent('sell', 'limit', 100, passive('sell'), 'IOC'), inst)).toMatchObject({
      kind: 'ack',
      state: { status: 'EXPIRED', filledLots: 0 },
    });

    // cancelAll for the symbol: counts what the venue cancelled; then nothing open (-2011 → 0).
    await client.place(intent('buy', 'limit', 100, passive('buy', 30_000)), inst);
    expect(await client.cancelAll(SYMBOL)).toBe(2);
    await until(() => statusesOf(b.clientOrderId).includes('CANCELED'));
    expect(await client.openOrders()).toEqual([]);
    expect(await client.cancelAll(SYMBOL)).toBe(0);
    expect(await client.cancelAll()).toBe(0);

    expectFillsMatch(
      events.flatMap((e) => (e.type === 'fill' ? [e.fill] : [])),
      sim,
    );
    expect(await client.fillsSince(SYMBOL, Date.now() - 60_000)).toHaveLength(
      sim.binanceUsTrading.fills().length,
    );
  });

  it('no shorting: a SELL beyond the free base is rejected -2010; LIMIT_MAKER that would take is rejected -2010', async () => {
    const { sim, client, inst, book, passive } = await setup();
    // 2 BTC held: selling 3 BTC is refused by the venue.
    const short = await client.place(intent('sell', 'limit', 300_000, passive('sell')), inst);
    expect(short).toMatchObject({ kind: 'rejected', code: '-2010' });
    if (short.kind === 'rejected') expect(short.message).toMatch(/insufficient balance/);
    // A reduce-only buy has nothing to reduce on spot: refused before it is sent.
    const roBuy = await client.place(
      { ...intent('buy', 'limit', 100, passive('buy')), reduceOnly: true },
      inst,
    );
    expect(roBuy).toMatchObject({ kind: 'rejected', code: 'REDUCE_ONLY_BUY' });

    const po = await client.place(intent('buy', 'limit', 100, book().bestAsk(), 'POST_ONLY'), inst);
    expect(po).toMatchObject({ kind: 'rejected', code: '-2010' });
    if (po.kind === 'rejected') expect(po.message).toMatch(/immediately match and take/);
    const ok = await client.place(intent('buy', 'limit', 100, passive('buy'), 'POST_ONLY'), inst);
    expect(ok).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    expect(sim.binanceUsTrading.engine.openOrders('sim', 'binance-us')).toHaveLength(1);
    expect(sim.binanceUsTrading.engine.openOrders('sim', 'binance-us')[0]?.request.timeInForce).toBe(
      'POST_ONLY',
    );
  });

  it('a resting LIMIT_MAKER fills as maker when the market moves through it', async () => {
    const { sim, client, inst, book, fillsOf, statusesOf } = await setup();
    let resting: OrderIntent | undefined;
    for (let i = 0; i < 20 && !resting; i++) {
      const it = intent('buy', 'limit', 100, book().bestAsk() - 1, 'POST_ONLY');
      if ((await client.place(it, inst)).kind === 'ack') resting = it;
    }
    expect(resting).toBeDefined();
    const id = (resting as OrderIntent).clientOrderId;
    await until(() => statusesOf(id).includes('FILLED'), 8000);
    const fills = fillsOf(id);
    expect(fills.reduce((s, f) => s + f.qtyLots, 0)).toBe(100);
    for (const f of fills) expect(f.liquidity).toBe('maker');
    expectFillsMatch(fills, sim);
  });

  it('a wrong secret → -1022, and the secret never appears in any error, event or diagnostic', async () => {
    const secret = 'wrong-us-secret-do-not-leak-77ab1';
    const seen: string[] = [];
    const { client, events, diagnostics, inst, passive } = await setup({
      apiSecret: secret,
      onConnectionEvent: (e) => seen.push(JSON.stringify(e)),
    });
    const r = await client.place(intent('buy', 'limit', 100, passive('buy')), inst);
    expect(r).toMatchObject({ kind: 'rejected', code: '-1022' });
    seen.push(JSON.stringify(r), JSON.stringify(await client.cancel(SYMBOL, 'x')));
    for (const call of [
      () => client.queryOrder(SYMBOL, 'x'),
      () => client.openOrders(),
      () => client.positions(),
      () => client.cancelAll(SYMBOL),
      () => client.fillsSince(SYMBOL, 0),
    ]) {
      const err = await rejectionOf(call);
      expect(err.message).toMatch(/-1022/);
      seen.push(...errorTexts(err));
    }
    seen.push(...clientTexts(events, diagnostics, client));
    expect(seen.join('\n')).not.toContain(secret);
  });

  it('the simulator checks the timing rule (-1021), unknown keys (-2015) and unsigned requests (-1022)', async () => {
    const { sim, client, inst, passive } = await setup();
    sim.binanceUsTrading.faults.timestampReject();
    const it = intent('buy', 'limit', 100, passive('buy'));
    expect(await client.place(it, inst)).toMatchObject({ kind: 'rejected', code: '-1021' });
    expect(await client.queryOrder(SYMBOL, it.clientOrderId)).toBeNull();
    expect(await client.place(it, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    const rest = sim.baseUrl('binance-us').rest;
    const ahead = buildSignedQuery([], SIM_API_SECRET, { timestamp: Date.now() + 1500, recvWindow: 5000 });
    const r1 = await fetch(`${rest}/api/v3/openOrders?${ahead}`, {
      headers: { 'X-MBX-APIKEY': SIM_API_KEY },
    });
    expect(((await r1.json()) as { code: number }).code).toBe(-1021);
    const q = buildSignedQuery([], SIM_API_SECRET, { timestamp: Date.now() });
    const r2 = await fetch(`${rest}/api/v3/account?${q}`, { headers: { 'X-MBX-APIKEY': 'nobody' } });
    expect(((await r2.json()) as { code: number }).code).toBe(-2015);
    const r3 = await fetch(`${rest}/api/v3/account?timestamp=${Date.now()}`, {
      headers: { 'X-MBX-APIKEY': SIM_API_KEY },
    });
    expect(((await r3.json()) as { code: number }).code).toBe(-1022);
  });

  it('unknown outcomes (503 "Unknown error", silence) are resolved by query, and a resend creates no duplicate', async () => {
    const { sim, client, inst, passive } = await setup({ orderTimeoutMs: 300 });
    sim.binanceUsTrading.faults.unknownAfterPlace();
    const it = intent('sell', 'limit', 100, passive('sell'));
    expect((await client.place(it, inst)).kind).toBe('unknown');
    const q = await client.queryOrder(SYMBOL, it.clientOrderId);
    expect(q).toMatchObject({ status: 'NEW', clientOrderId: it.clientOrderId });
    // Resent while open: spot's -2010 "Duplicate order sent." → answered from the venue's record.
    expect(await client.place(it, inst)).toMatchObject({
      kind: 'ack',
      state: { venueOrderId: q?.venueOrderId },
    });
    expect(sim.binanceUsTrading.engine.ordersByClientId('sim', 'binance-us', it.clientOrderId)).toHaveLength(
      1,
    );

    sim.binanceUsTrading.faults.silentAfterPlace();
    const silent = intent('buy', 'limit', 100, passive('buy'));
    expect((await client.place(silent, inst)).kind).toBe('unknown');
    expect(await client.queryOrder(SYMBOL, silent.clientOrderId)).toMatchObject({ status: 'NEW' });

    // A definite failure is not unknown: 503 "Service Unavailable." before placing.
    sim.faults.httpError('binance-us', { status: 503, path: '/api/v3/order' });
    expect(await client.place(intent('sell', 'limit', 100, passive('sell')), inst)).toMatchObject({
      kind: 'rejected',
      code: 'UNAVAILABLE',
    });
    sim.faults.clear();
  });

  it('the user stream: a drop is recovered from myTrades; listenKey expiry → a new key; keepalive keeps it', async () => {
    const { sim, client, events, inst, fillsOf } = await setup({ listenKeyKeepAliveMs: 100 });
    const key = sim.binanceUsTrading.listenKeyOf();
    expect(key).toBeDefined();
    sim.faults.rejectHandshake('binance-us', { status: 503 }, 2);
    expect(sim.binanceUsTrading.dropUserStreams()).toBe(1);
    await until(() => events.some((e) => e.type === 'stream-down'));
    const during = intent('buy', 'market', 500);
    expect(await client.place(during, inst)).toMatchObject({ kind: 'ack', state: { status: 'FILLED' } });
    await until(() => events.filter((e) => e.type === 'stream-up').length === 2);
    await client.idle();
    expect(fillsOf(during.clientOrderId).reduce((s, f) => s + f.qtyLots, 0)).toBe(500);
    expect(client.stats.recoveredFills).toBeGreaterThan(0);
    expect(sim.binanceUsTrading.listenKeyOf()).toBe(key);

    sim.binanceUsTrading.expireListenKeys();
    await until(() => events.filter((e) => e.type === 'stream-up').length === 3);
    expect(sim.binanceUsTrading.listenKeyOf()).not.toBe(key);
    const after = intent('sell', 'market', 500);
    await client.place(after, inst);
    await until(() => fillsOf(after.clientOrderId).reduce((s, f) => s + f.qtyLots, 0) === 500);
  });
});

describe("Binance USD-M dead man's switch (countdownCancelAll)", () => {
  it('armed and refreshed while healthy; a dead engine stops refreshing and the venue cancels the resting orders', async () => {
    const sim = await startSim(cleanups, { seed: 17 });
    let alive = true;
    const events: UserEvent[] = [];
    const diagnostics: TradingDiagnostic[] = [];
    const client = new BinanceFuturesTrading({
      endpoints: tradingEndpointsFor(sim.baseUrl('binance-futures')),
      apiKey: SIM_API_KEY,
      apiSecret: SIM_API_SECRET,
      userStream: { pingIntervalMs: 200, silentLimitMs: 2000 },
      wsApiLiveness: { pingIntervalMs: 200, silentLimitMs: 2000 },
      deadManSwitch: { countdownMs: 600, refreshMs: 150, symbols: [SYMBOL], healthy: () => alive },
      onDiagnostic: (d) => diagnostics.push(d),
    });
    cleanups.push(() => client.stop());
    await client.start((e) => events.push(e));
    expect([...sim.binanceTrading.countdownsArmed().keys()]).toEqual([`sim ${SYMBOL}`]);
    const inst = client.instrumentSet.get(SYMBOL) as Instrument;
    const book = sim.truth('binance-futures', SYMBOL);
    const ids: string[] = [];
    for (const [side, price] of [
      ['buy', book.bestBid() - 300],
      ['sell', book.bestAsk() + 300],
    ] as const) {
      const it = intent(side, 'limit', 1, price, 'GTC', 'binance-futures');
      expect(await client.place(it, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
      ids.push(it.clientOrderId);
    }
    // Healthy: well past one countdown, the orders are still there.
    await sleep(1000);
    expect(sim.binanceTrading.engine.openOrders('sim', 'binance-futures')).toHaveLength(2);
    expect(diagnostics.some((d) => d.type === 'dead-man-switch' && d.action === 'refreshed')).toBe(true);

    // The engine dies (no refresh, no disarm): the venue cancels everything and says so.
    alive = false;
    await until(() => sim.binanceTrading.engine.openOrders('sim', 'binance-futures').length === 0, 3000);
    for (const id of ids) {
      await until(() =>
        events.some(
          (e) => e.type === 'order' && e.state.clientOrderId === id && e.state.status === 'CANCELED',
        ),
      );
    }

    // Healthy again and a clean stop: the countdown is disarmed (0).
    alive = true;
    await sleep(300);
    expect(sim.binanceTrading.countdownsArmed().size).toBe(1);
    await client.stop();
    expect(sim.binanceTrading.countdownsArmed().size).toBe(0);
  });
});
