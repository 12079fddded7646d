/**
 * Binance USD-M trading end to end: the real client (lib/venues/binance/trading-client.ts) against
 * the simulator's private API (lib/sim/binance-trading.ts) over real sockets — WS API order entry,
 * REST fallback, the user data stream, and the failures that decide whether money is safe: unknown
 * outcomes, timeouts, -1021, bad signatures, dropped streams.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { fromSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import type { Fill, OrderIntent, OrderSide, TimeInForce } from '#core/trading.ts';
import { buildSignedQuery } from '#venues/binance/signing.ts';
import type { BinanceFuturesTradingOptions, TradingDiagnostic } from '#venues/binance/trading-client.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import type { UserEvent } from '#venues/trading.ts';
import { SIM_API_KEY, SIM_API_SECRET } from '#sim/binance-trading.ts';
import type { BinanceTradingSimOptions } from '#sim/binance-trading.ts';
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
  shiftedBook,
  rawBinanceRest,
} from '#tests/support/trading-harness.ts';

const SYMBOL = 'BTCUSDT';
const cleanups = cleanupsAfterEach();

/** A new deterministic client order id per call (shard 1, epoch 7). */
const nextId = clientIds(1, 7);

function intent(
  side: OrderSide,
  type: 'market' | 'limit',
  qtyLots: number,
  priceTicks?: number,
  timeInForce: TimeInForce = 'GTC',
  clientOrderId = nextId(),
): OrderIntent {
  return manualIntent({
    clientOrderId,
    venue: 'binance-futures',
    symbol: SYMBOL,
    side,
    type,
    qtyLots,
    priceTicks,
    timeInForce,
  });
}

async function setup(
  clientOpts: Partial<BinanceFuturesTradingOptions> = {},
  simOpts: BinanceTradingSimOptions = {},
) {
  const sim = await startSim(cleanups, { seed: 11, binanceTrading: simOpts });
  const events: UserEvent[] = [];
  const diagnostics: TradingDiagnostic[] = [];
  const client = new BinanceFuturesTrading({
    endpoints: tradingEndpointsFor(sim.baseUrl('binance-futures')),
    apiKey: SIM_API_KEY,
    apiSecret: SIM_API_SECRET,
    orderTimeoutMs: 2000,
    userStream: { pingIntervalMs: 200, silentLimitMs: 2000 },
    wsApiLiveness: { pingIntervalMs: 200, silentLimitMs: 2000 },
    backoff: { baseMs: 20, capMs: 100, resetAfterMs: 1000 },
    onDiagnostic: (d) => diagnostics.push(d),
    ...clientOpts,
  });
  cleanups.push(() => client.stop());
  await client.start((e) => events.push(e));
  const inst = client.instrumentSet.get(SYMBOL) as Instrument;
  expect(inst).toBeDefined();
  const book = () => sim.truth('binance-futures', SYMBOL);
  const fillsOf = (clientOrderId: string) =>
    events.filter(
      (e): e is { type: 'fill'; fill: Fill } => e.type === 'fill' && e.fill.clientOrderId === clientOrderId,
    );
  const { statusesOf } = eventQueries(events);
  /** A passive price `away` ticks behind the touch. */
  const passive = (side: OrderSide, away = 200) => passivePrice(book(), side, away);
  return { sim, client, events, diagnostics, inst, book, fillsOf, statusesOf, passive };
}

/** Every fill the client reported equals the simulator's record of that trade, field by field. */
function expectFillsMatch(received: readonly Fill[], sim: ExchangeSimulator, clientOrderId?: string) {
  const truth = sim.binanceTrading
    .fills('sim')
    .filter((f) => !clientOrderId || f.clientOrderId === clientOrderId);
  const byId = new Map(received.map((f) => [f.tradeId, f]));
  expect(byId.size).toBe(received.length); // no duplicates
  for (const t of truth) {
    const f = byId.get(t.tradeId);
    expect(f, `fill ${t.tradeId} missing`).toBeDefined();
    expect(f).toEqual({
      venue: 'binance-futures',
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
  expect(received.length).toBe(truth.length);
}

describe('Binance USD-M trading against the simulator', () => {
  it('market, limit, IOC and post-only orders: acks, fills over the user stream, queries, cancels', async () => {
    const { sim, client, events, inst, book, fillsOf, statusesOf, passive } = await setup();
    expect(client.wsApiUp).toBe(true);
    expect(events[0]).toEqual({ type: 'stream-up' });

    // Market buy: taker fills, exact fields, position follows.
    let written = 0;
    const mkt = intent('buy', 'market', 5);
    const r1 = await client.place(mkt, inst, () => written++);
    expect(written).toBe(1);
    expect(r1.kind).toBe('ack');
    if (r1.kind !== 'ack') return;
    expect(r1.state.status).toBe('FILLED');
    expect(r1.state.filledLots).toBe(5);
    await until(() => fillsOf(mkt.clientOrderId).reduce((s, e) => s + e.fill.qtyLots, 0) === 5);
    expectFillsMatch(
      fillsOf(mkt.clientOrderId).map((e) => e.fill),
      sim,
      mkt.clientOrderId,
    );
    for (const e of fillsOf(mkt.clientOrderId)) {
      expect(e.fill.liquidity).toBe('taker');
      expect(Number(e.fill.fee)).toBeGreaterThan(0); // positive = fee paid
    }
    await until(() => statusesOf(mkt.clientOrderId).includes('FILLED'));
    expect(statusesOf(mkt.clientOrderId)[0]).toBe('NEW');
    expect(await client.positions()).toEqual([
      expect.objectContaining({
        symbol: SYMBOL,
        qtyLots: sim.binanceTrading.engine.accounts.positionLots('sim', 'binance-futures', SYMBOL),
      }),
    ]);

    // Passive GTC limit: rests, visible in openOrders and queryOrder, then cancelled.
    const lim = intent('buy', 'limit', 3, passive('buy'));
    const r2 = await client.place(lim, inst);
    expect(r2).toMatchObject({
      kind: 'ack',
      state: { status: 'NEW', filledLots: 0, clientOrderId: lim.clientOrderId },
    });
    expect((await client.openOrders(SYMBOL)).map((o) => o.clientOrderId)).toContain(lim.clientOrderId);
    expect(await client.queryOrder(SYMBOL, lim.clientOrderId)).toMatchObject({ status: 'NEW' });
    const c = await client.cancel(SYMBOL, lim.clientOrderId);
    expect(c).toMatchObject({ kind: 'ok', state: { status: 'CANCELED' } });
    expect(await client.queryOrder(SYMBOL, lim.clientOrderId)).toMatchObject({ status: 'CANCELED' });
    expect(await client.cancel(SYMBOL, lim.clientOrderId)).toMatchObject({ kind: 'rejected', code: '-2011' });
    expect(await client.queryOrder(SYMBOL, 'tw-never-sent')).toBeNull();
    await until(() => statusesOf(lim.clientOrderId).includes('CANCELED'));

    // IOC: a non-marketable one expires unfilled; a marketable one takes what is there.
    const ioc1 = await client.place(intent('sell', 'limit', 2, passive('sell'), 'IOC'), inst);
    expect(ioc1).toMatchObject({ kind: 'ack', state: { status: 'EXPIRED', filledLots: 0 } });
    const ioc2i = intent('sell', 'limit', 2, book().bestBid() - 50, 'IOC');
    const ioc2 = await client.place(ioc2i, inst);
    expect(ioc2.kind).toBe('ack');
    if (ioc2.kind === 'ack') {
      expect(ioc2.state.filledLots).toBeGreaterThan(0);
      await until(
        () => fillsOf(ioc2i.clientOrderId).reduce((s, e) => s + e.fill.qtyLots, 0) === ioc2.state.filledLots,
      );
    }

    // Post-only: rejected when it would take (-5022), accepted when passive.
    const po1 = await client.place(intent('buy', 'limit', 1, book().bestAsk(), 'POST_ONLY'), inst);
    expect(po1).toMatchObject({ kind: 'rejected', code: '-5022' });
    const po2 = await client.place(intent('buy', 'limit', 1, passive('buy'), 'POST_ONLY'), inst);
    expect(po2).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });

    // cancelAll: everything open goes, with CANCELED events.
    await client.place(intent('sell', 'limit', 1, passive('sell')), inst);
    await client.place(intent('sell', 'limit', 1, passive('sell', 300)), inst);
    expect(await client.cancelAll(SYMBOL)).toBe(3);
    expect(await client.openOrders(SYMBOL)).toEqual([]);
    expect(sim.binanceTrading.engine.openOrders('sim', 'binance-futures')).toEqual([]);

    // Every fill so far arrived once, exactly as the simulator booked it.
    expectFillsMatch(
      events.flatMap((e) => (e.type === 'fill' ? [e.fill] : [])),
      sim,
    );
  });

  it('a resting post-only limit fills as maker when the market moves through it', async () => {
    const { sim, client, inst, book, fillsOf, statusesOf } = await setup();
    let resting: OrderIntent | undefined;
    for (let i = 0; i < 20 && !resting; i++) {
      // One tick inside the ask: the next dip of the asks trades with it.
      const it = intent('buy', 'limit', 2, book().bestAsk() - 1, 'POST_ONLY');
      const r = await client.place(it, inst);
      if (r.kind === 'ack') resting = it;
    }
    expect(resting).toBeDefined();
    const id = (resting as OrderIntent).clientOrderId;
    await until(() => statusesOf(id).includes('FILLED'), 8000);
    const fills = fillsOf(id).map((e) => e.fill);
    expect(fills.reduce((s, f) => s + f.qtyLots, 0)).toBe(2);
    for (const f of fills) {
      expect(f.liquidity).toBe('maker');
      expect(f.priceTicks).toBe((resting as OrderIntent).priceTicks);
    }
    expectFillsMatch(fills, sim, id);
    expect(await client.queryOrder(SYMBOL, id)).toMatchObject({ status: 'FILLED', filledLots: 2 });
  });

  it('a wrong secret → -1022, and the secret never appears in any error, event or diagnostic', async () => {
    const secret = 'wrong-secret-do-not-leak-5f3a9c';
    const seen: string[] = [];
    for (const useWsApi of [true, false]) {
      const { client, events, diagnostics, inst, passive } = await setup({
        apiSecret: secret,
        useWsApi,
        onConnectionEvent: (e) => seen.push(JSON.stringify(e)),
      });
      const r = await client.place(intent('buy', 'limit', 1, passive('buy')), inst);
      expect(r).toMatchObject({ kind: 'rejected', code: '-1022' });
      seen.push(JSON.stringify(r));
      for (const call of [
        () => client.queryOrder(SYMBOL, 'x'),
        () => client.openOrders(),
        () => client.positions(),
        () => client.cancelAll(SYMBOL),
      ]) {
        const err = await rejectionOf(call);
        expect(err.message).toMatch(/-1022/);
        seen.push(...errorTexts(err));
      }
      seen.push(JSON.stringify(await client.cancel(SYMBOL, 'x')));
      seen.push(...clientTexts(events, diagnostics, client));
    }
    expect(seen.join('\n')).not.toContain(secret);
  });

  it('WS API signing agrees with an independent implementation (ccxt binanceusdm signParams)', async () => {
    const { sim } = await setup();
    const { default: ccxt } = await import('ccxt');
    const ex = new ccxt.pro.binanceusdm({ apiKey: SIM_API_KEY, secret: SIM_API_SECRET });
    const signParams = (ex as unknown as { signParams(p: object): Record<string, unknown> }).signParams.bind(
      ex,
    );
    const ws = new WebSocket(`${sim.baseUrl('binance-futures').ws}/ws-fapi/v1`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const ask = (id: string, params: Record<string, unknown>) =>
      new Promise<{ id: string; status: number; error?: { code: number } }>((resolve) => {
        ws.on('message', (data: Buffer) => {
          const m = JSON.parse(data.toString('utf8')) as {
            id: string;
            status: number;
            error?: { code: number };
          };
          if (m.id === id) resolve(m);
        });
        ws.send(JSON.stringify({ id, method: 'order.status', params }));
      });
    const params = signParams({ symbol: SYMBOL, origClientOrderId: 'never-placed' });
    // Signature accepted: the venue looks for the order and has none.
    expect((await ask('a', params)).error?.code).toBe(-2013);
    // Any change of a signed value breaks it.
    expect((await ask('b', { ...params, symbol: 'ETHUSDT' })).error?.code).toBe(-1022);
    ws.close();
  });

  it('-1021: the offset is re-synced, the order rejected with -1021, and a retry with the same id goes through', async () => {
    const { sim, client, inst, passive } = await setup();
    const timeCalls = () => sim.stats.log.filter((l) => l.path === '/fapi/v1/time').length;
    const before = timeCalls();
    sim.binanceTrading.faults.timestampReject();
    const it = intent('buy', 'limit', 1, passive('buy'));
    const r = await client.place(it, inst);
    expect(r).toMatchObject({ kind: 'rejected', code: '-1021' });
    expect(timeCalls()).toBeGreaterThan(before);
    expect(await client.queryOrder(SYMBOL, it.clientOrderId)).toBeNull();
    expect(await client.place(it, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });

    // The simulator applies the venue's timing rule itself: 1 s ahead, or older than recvWindow.
    const rest = sim.baseUrl('binance-futures').rest;
    for (const [timestamp, msg] of [
      [Date.now() + 1500, /ahead/],
      [Date.now() - 6000, /recvWindow/],
    ] as const) {
      const q = buildSignedQuery([], SIM_API_SECRET, { timestamp, recvWindow: 5000 });
      const res = await fetch(`${rest}/fapi/v1/openOrders?${q}`, {
        headers: { 'X-MBX-APIKEY': SIM_API_KEY },
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { code: number; msg: string };
      expect(body.code).toBe(-1021);
      expect(body.msg).toMatch(msg);
    }
    // Unknown key → -2015; no signature → -1022.
    const q = buildSignedQuery([], SIM_API_SECRET, { timestamp: Date.now() });
    const bad = await fetch(`${rest}/fapi/v1/openOrders?${q}`, { headers: { 'X-MBX-APIKEY': 'nobody' } });
    expect(await bad.json()).toEqual({ code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
    const unsigned = await fetch(`${rest}/fapi/v1/openOrders?timestamp=${Date.now()}`, {
      headers: { 'X-MBX-APIKEY': SIM_API_KEY },
    });
    expect(((await unsigned.json()) as { code: number }).code).toBe(-1022);
  });

  it('503 "Unknown error" after placing → unknown; the query finds the order; a resend with the same id creates no duplicate', async () => {
    for (const useWsApi of [true, false]) {
      const { sim, client, inst, passive } = await setup({ useWsApi });
      sim.binanceTrading.faults.unknownAfterPlace();
      const it = intent('sell', 'limit', 2, passive('sell'));
      const r = await client.place(it, inst);
      expect(r.kind).toBe('unknown');
      const q = await client.queryOrder(SYMBOL, it.clientOrderId);
      expect(q).toMatchObject({ status: 'NEW', clientOrderId: it.clientOrderId });
      // Resending while it is open: -4116, answered from the venue's record of the same order.
      const again = await client.place(it, inst);
      expect(again).toMatchObject({ kind: 'ack', state: { venueOrderId: q?.venueOrderId } });
      const open = sim.binanceTrading.engine.openOrders('sim', 'binance-futures');
      expect(open.filter((o) => o.request.clientOrderId === it.clientOrderId)).toHaveLength(1);
      // A definite failure is not unknown: 503 "Service Unavailable." before placing.
      sim.faults.httpError('binance-futures', { status: 503, path: '/fapi/v1/order' });
      if (!useWsApi) {
        const un = await client.place(intent('sell', 'limit', 1, passive('sell')), inst);
        expect(un).toMatchObject({ kind: 'rejected', code: 'UNAVAILABLE' });
      }
      sim.faults.clear();
    }
  });

  it('a WS API timeout → unknown, then queryOrder resolves it', async () => {
    const { sim, client, inst, passive } = await setup({ orderTimeoutMs: 300 });
    sim.binanceTrading.faults.silentAfterPlace();
    const it = intent('buy', 'limit', 1, passive('buy'));
    const t0 = Date.now();
    const r = await client.place(it, inst);
    expect(r.kind).toBe('unknown');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(await client.queryOrder(SYMBOL, it.clientOrderId)).toMatchObject({ status: 'NEW' });
    // The connection is still usable.
    expect(await client.place(intent('buy', 'limit', 1, passive('buy')), inst)).toMatchObject({
      kind: 'ack',
    });
  });

  it('orders fall back to REST while the WS API is down', async () => {
    const { sim, client, inst, passive } = await setup();
    sim.faults.rejectHandshake('binance-futures', { status: 503 }, 3);
    sim.binanceTrading.dropWsApi();
    await until(() => !client.wsApiUp);
    let written = 0;
    const r = await client.place(intent('buy', 'limit', 1, passive('buy')), inst, () => written++);
    expect(r).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    expect(written).toBe(1);
    expect(client.stats.restFallbacks).toBe(1);
    expect(sim.binanceTrading.requests.at(-1)).toMatchObject({
      channel: 'rest',
      what: 'POST /fapi/v1/order',
    });
    await until(() => client.wsApiUp);
  });

  it('the user stream survives a drop: stream-down, stream-up on the same listenKey, no fill lost', async () => {
    const { sim, client, events, inst, fillsOf } = await setup();
    const key = sim.binanceTrading.listenKeyOf();
    expect(key).toBeDefined();
    // Keep the stream down for a while (refused handshakes) and trade meanwhile.
    sim.faults.rejectHandshake('binance-futures', { status: 503 }, 2);
    expect(sim.binanceTrading.dropUserStreams()).toBe(1);
    await until(() => events.some((e) => e.type === 'stream-down'));
    const during = intent('buy', 'market', 4);
    expect(await client.place(during, inst)).toMatchObject({ kind: 'ack', state: { status: 'FILLED' } });
    await until(() => events.filter((e) => e.type === 'stream-up').length === 2);
    await client.idle();
    expect(sim.binanceTrading.listenKeyOf()).toBe(key);
    expect(fillsOf(during.clientOrderId).reduce((s, e) => s + e.fill.qtyLots, 0)).toBe(4);
    expect(client.stats.recoveredFills).toBeGreaterThan(0);
    // And after: live again.
    const after = intent('sell', 'market', 4);
    await client.place(after, inst);
    await until(() => fillsOf(after.clientOrderId).reduce((s, e) => s + e.fill.qtyLots, 0) === 4);
    expectFillsMatch(
      events.flatMap((e) => (e.type === 'fill' ? [e.fill] : [])),
      sim,
    );
    const downs = events.findIndex((e) => e.type === 'stream-down');
    expect(events.slice(downs + 1).some((e) => e.type === 'stream-up')).toBe(true);
  });

  it('listenKey expiry → listenKeyExpired → a new key and stream; keepalive keeps a key alive', async () => {
    const { sim, client, events, inst, fillsOf } = await setup(
      { listenKeyKeepAliveMs: 100 },
      { listenKeyValidityMs: 400 },
    );
    const key = sim.binanceTrading.listenKeyOf();
    await sleep(900); // more than twice the validity: only keepalives keep it
    expect(sim.binanceTrading.listenKeyOf()).toBe(key);
    expect(events.filter((e) => e.type === 'stream-down')).toEqual([]);

    sim.binanceTrading.expireListenKeys();
    await until(() => events.filter((e) => e.type === 'stream-up').length === 2);
    const fresh = sim.binanceTrading.listenKeyOf();
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(key);
    const it = intent('buy', 'market', 1);
    await client.place(it, inst);
    await until(() => fillsOf(it.clientOrderId).length > 0);
  });

  it('place → ack latency over the WS API', async () => {
    const { client, inst, passive } = await setup();
    const lat: number[] = [];
    const wire: number[] = [];
    for (let i = 0; i < 200; i++) {
      const it = intent(
        i % 2 ? 'buy' : 'sell',
        'limit',
        1,
        passive(i % 2 ? 'buy' : 'sell', 300 + (i % 50)),
        'POST_ONLY',
      );
      const t0 = process.hrtime.bigint();
      let tw = 0n;
      const r = await client.place(it, inst, () => (tw = process.hrtime.bigint()));
      const t1 = process.hrtime.bigint();
      expect(r.kind).toBe('ack');
      lat.push(Number(t1 - t0) / 1e6);
      wire.push(Number(tw - t0) / 1e6);
    }
    await client.cancelAll(SYMBOL);
    const pct = (xs: number[], p: number) =>
      [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] as number;
    console.log(
      `binance-futures WS API place→ack over ${lat.length} orders: p50 ${pct(lat, 0.5).toFixed(3)} ms, p99 ${pct(lat, 0.99).toFixed(3)} ms; place→onWritten p50 ${pct(wire, 0.5).toFixed(3)} ms, p99 ${pct(wire, 0.99).toFixed(3)} ms`,
    );
    expect(pct(lat, 0.5)).toBeLessThan(50);
  });
});

// ------------------------------------------------------------------------------ protective stops

/** A stop intent (reduce-only sell by default: the protective stop of a long). */
function stopIntent(
  type: 'stop-market' | 'stop-limit',
  qtyLots: number,
  triggerTicks: number,
  priceTicks?: number,
  side: OrderSide = 'sell',
): OrderIntent {
  return {
    ...intent(side, 'market', qtyLots),
    type,
    triggerTicks,
    priceTicks,
    timeInForce: 'GTC',
    reduceOnly: true,
    purpose: 'protective-stop',
  };
}

/** The truth book moved `down` ticks, stepped into the simulator's trading module (the market is paused). */
function moveMarketDown(sim: ExchangeSimulator, down: number): void {
  sim.binanceTrading.onMarketStep(
    SYMBOL,
    shiftedBook(sim.truth('binance-futures', SYMBOL), down),
    Date.now(),
  );
}

const rawRest = (sim: ExchangeSimulator, method: string, path: string, params: Array<[string, string]>) =>
  rawBinanceRest(sim, 'binance-futures', method, path, params);

describe('Binance USD-M protective stops (Algo Service)', () => {
  it.each([
    ['the ALGO_UPDATE comes after the fills', false],
    ['no ALGO_UPDATE TRIGGERED at all (resolved by the algo query)', true],
    ['no ALGO_UPDATE, and the first algo queries lag (passed on, then re-keyed by a later query)', 'lag'],
  ] as const)(
    'a reduce-only STOP_MARKET protects a long: listed, NEW, triggered → our fills, flat (%s)',
    async (_, withhold) => {
      const { sim, client, events, inst, book, fillsOf, statusesOf } = await setup({ deadManSwitch: false });
      sim.binanceTrading.faults.withholdAlgoTriggers = withhold !== false;
      if (withhold === 'lag') sim.binanceTrading.faults.laggingAlgoQueries = 1;
      const t0 = Date.now();
      const open = intent('buy', 'market', 5);
      expect(await client.place(open, inst)).toMatchObject({ kind: 'ack', state: { status: 'FILLED' } });
      sim.pause();
      const stop = stopIntent('stop-market', 5, book().bestBid() - 40);
      const r = await client.place(stop, inst);
      expect(r).toMatchObject({
        kind: 'ack',
        state: { clientOrderId: stop.clientOrderId, status: 'NEW', stop: true },
      });
      expect(sim.binanceTrading.requests.some((q) => q.what === 'algoOrder.place')).toBe(true);
      expect(await client.openOrders(SYMBOL)).toEqual([
        expect.objectContaining({ clientOrderId: stop.clientOrderId, status: 'NEW', stop: true }),
      ]);
      expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
        status: 'NEW',
        stop: true,
      });
      await until(() => statusesOf(stop.clientOrderId).includes('NEW'));

      moveMarketDown(sim, 60);
      await until(() => fillsOf(stop.clientOrderId).reduce((s, e) => s + e.fill.qtyLots, 0) === 5, 8000);
      await until(() => statusesOf(stop.clientOrderId).includes('FILLED'), 8000);
      expectFillsMatch(
        fillsOf(stop.clientOrderId).map((e) => e.fill),
        sim,
        stop.clientOrderId,
      );
      expect(fillsOf(stop.clientOrderId).every((e) => e.fill.side === 'sell')).toBe(true);
      expect(await client.positions()).toEqual([]);
      expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
        status: 'FILLED',
        filledLots: 5,
        stop: true,
      });
      const ours = new Set([open.clientOrderId, stop.clientOrderId]);
      if (withhold !== 'lag') {
        // No event under the venue's own client id of the triggered order.
        for (const e of events) {
          if (e.type === 'fill') expect(ours.has(e.fill.clientOrderId)).toBe(true);
          if (e.type === 'order') expect(ours.has(e.state.clientOrderId)).toBe(true);
        }
      } else {
        // Passed on first under the venue's id (nothing could tell it was ours), then every fill
        // again under our stop's id once a later query linked it: none lost, none counted twice.
        const foreign = events.filter((e) => e.type === 'fill' && !ours.has(e.fill.clientOrderId));
        expect(foreign.length).toBeGreaterThan(0);
        const ids = (list: typeof events) =>
          list.flatMap((e) => (e.type === 'fill' ? [e.fill.tradeId] : [])).sort();
        expect(ids(fillsOf(stop.clientOrderId))).toEqual(ids(foreign));
      }

      // Trade-history recovery by a client with no memory re-keys the stop's trades too.
      const fresh = new BinanceFuturesTrading({
        endpoints: tradingEndpointsFor(sim.baseUrl('binance-futures')),
        apiKey: SIM_API_KEY,
        apiSecret: SIM_API_SECRET,
        deadManSwitch: false,
      });
      cleanups.push(() => fresh.stop());
      await fresh.start(() => {});
      const recovered = await fresh.fillsSince(SYMBOL, t0 - 1000);
      expect(
        recovered.filter((f) => f.clientOrderId === stop.clientOrderId).reduce((s, f) => s + f.qtyLots, 0),
      ).toBe(5);
      expect(recovered.every((f) => ours.has(f.clientOrderId))).toBe(true);
    },
  );

  it('cancel by client id, cancelAll covers stops, -4120 on the order endpoint, -2021 for a stop already reached', async () => {
    const { sim, client, inst, book, passive } = await setup({ deadManSwitch: false });
    expect(await client.place(intent('buy', 'market', 4), inst)).toMatchObject({ kind: 'ack' });
    sim.pause();
    const s1 = stopIntent('stop-market', 4, book().bestBid() - 100);
    expect(await client.place(s1, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    expect(await client.cancel(SYMBOL, s1.clientOrderId)).toMatchObject({
      kind: 'ok',
      state: { clientOrderId: s1.clientOrderId, status: 'CANCELED', stop: true },
    });
    expect(await client.queryOrder(SYMBOL, s1.clientOrderId)).toMatchObject({ status: 'CANCELED' });
    expect(await client.openOrders(SYMBOL)).toEqual([]);

    // A stop-limit and a resting limit: cancelAll takes both.
    const s2 = stopIntent('stop-limit', 4, book().bestBid() - 100, book().bestBid() - 120);
    expect(await client.place(s2, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW', stop: true } });
    const lim = intent('buy', 'limit', 1, passive('buy'));
    expect(await client.place(lim, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    expect(await client.openOrders(SYMBOL)).toHaveLength(2);
    expect(await client.cancelAll(SYMBOL)).toBe(2);
    expect(await client.openOrders(SYMBOL)).toEqual([]);
    expect(sim.binanceTrading.engine.openOrders('sim', 'binance-futures')).toEqual([]);

    // The old endpoint refuses conditional types.
    const old = await rawRest(sim, 'POST', '/fapi/v1/order', [
      ['symbol', SYMBOL],
      ['side', 'SELL'],
      ['type', 'STOP_MARKET'],
      ['quantity', fromStepsText(inst, 4)],
      ['stopPrice', priceText(inst, book().bestBid() - 100)],
      ['reduceOnly', 'true'],
    ]);
    expect(old.body).toEqual({
      code: -4120,
      msg: 'Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.',
    });
    // A sell stop the market has already reached.
    const now = stopIntent('stop-market', 4, book().bestBid() + 5);
    expect(await client.place(now, inst)).toMatchObject({ kind: 'rejected', code: '-2021' });
  });

  it('the countdown (DMS) cancels a resting order but spares the stop; a new client (no memory) queries and cancels it', async () => {
    let alive = true;
    const { sim, client, inst, book, passive, statusesOf } = await setup({
      deadManSwitch: { countdownMs: 500, refreshMs: 100, symbols: [SYMBOL], healthy: () => alive },
    });
    expect(await client.place(intent('buy', 'market', 3), inst)).toMatchObject({ kind: 'ack' });
    const stop = stopIntent('stop-market', 3, book().bestBid() - 400);
    expect(await client.place(stop, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    const lim = intent('buy', 'limit', 1, passive('buy', 400));
    expect(await client.place(lim, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    alive = false;
    await until(() => statusesOf(lim.clientOrderId).includes('CANCELED'), 3000);
    expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({ status: 'NEW', stop: true });
    expect(await client.openOrders(SYMBOL)).toEqual([
      expect.objectContaining({ clientOrderId: stop.clientOrderId, stop: true }),
    ]);

    const fresh = new BinanceFuturesTrading({
      endpoints: tradingEndpointsFor(sim.baseUrl('binance-futures')),
      apiKey: SIM_API_KEY,
      apiSecret: SIM_API_SECRET,
      deadManSwitch: false,
    });
    cleanups.push(() => fresh.stop());
    await fresh.start(() => {});
    // Forget what start() loaded, as if the stop were unknown: the fallbacks find it by client id.
    const blank = new BinanceFuturesTrading({
      endpoints: tradingEndpointsFor(sim.baseUrl('binance-futures')),
      apiKey: SIM_API_KEY,
      apiSecret: SIM_API_SECRET,
      instruments: [inst],
      deadManSwitch: false,
      useWsApi: false,
    });
    expect(await blank.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
      clientOrderId: stop.clientOrderId,
      status: 'NEW',
      stop: true,
    });
    const blank2 = new BinanceFuturesTrading({
      endpoints: tradingEndpointsFor(sim.baseUrl('binance-futures')),
      apiKey: SIM_API_KEY,
      apiSecret: SIM_API_SECRET,
      instruments: [inst],
      deadManSwitch: false,
      useWsApi: false,
    });
    expect(await blank2.cancel(SYMBOL, stop.clientOrderId)).toMatchObject({
      kind: 'ok',
      state: { status: 'CANCELED', stop: true },
    });
    expect(await fresh.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
      status: 'CANCELED',
      stop: true,
    });
  });
});

function fromStepsText(inst: Instrument, lots: number): string {
  return fromSteps(lots, inst.qty);
}

function priceText(inst: Instrument, ticks: number): string {
  return fromSteps(ticks, inst.price);
}
