/**
 * Binance.US spot trading end to end: the real client (lib/venues/binance/us-trading-client.ts)
 * against the simulator's private API (lib/sim/binance-us-trading.ts) over real sockets. Plus the
 * Binance USD-M dead man's switch (countdownCancelAll) of lib/venues/binance/trading-client.ts.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { fromSteps } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import type { Fill, OrderIntent, OrderSide, TimeInForce } from '#core/trading.ts';
import { buildSignedQuery } from '#venues/binance/signing.ts';
import type { TradingDiagnostic } from '#venues/binance/trading-client.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import type { BinanceUsTradingOptions } from '#venues/binance/us-trading-client.ts';
import { BinanceUsTrading } from '#venues/binance/us-trading-client.ts';
import type { UserEvent } from '#venues/trading.ts';
import { SIM_API_KEY, SIM_API_SECRET } from '#sim/binance-trading.ts';
import type { ExchangeSimulator, SimOptions } from '#sim/exchange-sim.ts';
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

async function setup(clientOpts: Partial<BinanceUsTradingOptions> = {}, simOpts: SimOptions = {}) {
  const sim = await startSim(cleanups, { seed: 13, ...simOpts });
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

// ------------------------------------------------------------------------------ protective stops

/** A stop intent (a sell by default: the protective stop of a long's base). */
function stopIntent(
  type: 'stop-market' | 'stop-limit',
  qtyLots: number,
  triggerTicks: number | undefined,
  priceTicks?: number,
  timeInForce: TimeInForce = 'GTC',
): OrderIntent {
  return {
    ...intent('sell', 'market', qtyLots),
    type,
    triggerTicks,
    priceTicks,
    timeInForce,
    purpose: 'protective-stop',
  };
}

/** The truth book shifted `down` ticks, stepped into the simulator's trading module (the market is paused). */
function moveMarketDown(sim: ExchangeSimulator, down: number): void {
  sim.binanceUsTrading.onMarketStep(SYMBOL, shiftedBook(sim.truth('binance-us', SYMBOL), down), Date.now());
}

const rawRest = (sim: ExchangeSimulator, method: string, path: string, params: Array<[string, string]>) =>
  rawBinanceRest(sim, 'binance-us', method, path, params);

/** A second raw socket on the account's listenKey: the executionReports as the venue sends them. */
async function rawReports(sim: ExchangeSimulator): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  const ws = new WebSocket(`${sim.baseUrl('binance-us').ws}/ws/${sim.binanceUsTrading.listenKeyOf() ?? ''}`);
  cleanups.push(() => {
    ws.close();
    return Promise.resolve();
  });
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as Record<string, unknown>;
    if (m.e === 'executionReport') out.push(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return out;
}

const ONLY_USDT: SimOptions = {
  binanceUsTrading: { ledger: { balances: { 'binance-us': { USDT: '100000' } } } },
};

describe('Binance.US spot stops (STOP_LOSS, STOP_LOSS_LIMIT)', () => {
  it('a STOP_LOSS sell protects a bought base: rests NEW holding the base, triggered → fills under our id, base sold', async () => {
    const { sim, client, events, inst, book, fillsOf, statusesOf } = await setup({}, ONLY_USDT);
    expect(client.capabilities).toEqual({
      stopTypes: ['stop-market', 'stop-limit'],
      reduceOnly: false,
      dmsCancelsStops: false,
    });
    const buy = intent('buy', 'market', 1000);
    expect(await client.place(buy, inst)).toMatchObject({ kind: 'ack', state: { status: 'FILLED' } });
    expect(await client.positions()).toEqual([{ symbol: SYMBOL, qtyLots: 1000, entryPrice: '0' }]);
    sim.pause();
    const reports = await rawReports(sim);

    const trigger = book().bestBid() - 40;
    const stop = stopIntent('stop-market', 1000, trigger);
    const r = await client.place(stop, inst);
    expect(r).toMatchObject({
      kind: 'ack',
      state: { clientOrderId: stop.clientOrderId, status: 'NEW', filledLots: 0, stop: true },
    });
    const venueOrderId = r.kind === 'ack' ? r.state.venueOrderId : '';
    // The venue's record: type, exact stop price, not working until triggered.
    const raw = await rawRest(sim, 'GET', '/api/v3/order', [
      ['symbol', SYMBOL],
      ['origClientOrderId', stop.clientOrderId],
    ]);
    expect(raw.body).toMatchObject({
      type: 'STOP_LOSS',
      side: 'SELL',
      status: 'NEW',
      stopPrice: fromSteps(trigger, inst.price),
      origQty: fromSteps(1000, inst.qty),
      isWorking: false,
    });
    expect(await client.openOrders(SYMBOL)).toEqual([
      expect.objectContaining({ clientOrderId: stop.clientOrderId, status: 'NEW', stop: true }),
    ]);
    expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
      status: 'NEW',
      venueOrderId,
      stop: true,
    });
    await until(() =>
      events.some(
        (e) => e.type === 'order' && e.state.clientOrderId === stop.clientOrderId && e.state.stop === true,
      ),
    );
    // The stop holds the base: a plain sell of the same quantity is refused by the venue.
    const plain = await client.place(intent('sell', 'market', 1000), inst);
    expect(plain).toMatchObject({ kind: 'rejected', code: '-2010' });
    if (plain.kind === 'rejected') expect(plain.message).toMatch(/insufficient balance/);
    expect(await client.positions()).toEqual([{ symbol: SYMBOL, qtyLots: 1000, entryPrice: '0' }]);

    // The market falls through the trigger: the same order (our client id) sells the base.
    moveMarketDown(sim, 60);
    await until(() => fillsOf(stop.clientOrderId).reduce((s, f) => s + f.qtyLots, 0) === 1000);
    await until(() => statusesOf(stop.clientOrderId).includes('FILLED'));
    expect(fillsOf(stop.clientOrderId).every((f) => f.side === 'sell' && f.liquidity === 'taker')).toBe(true);
    expect(fillsOf(stop.clientOrderId).every((f) => f.priceTicks <= trigger)).toBe(true);
    // On the wire: one order throughout, type and stop price on every report; working once triggered.
    const mine = reports.filter((m) => m.i === Number(venueOrderId));
    expect(mine.map((m) => [m.x, m.X, m.w])).toEqual([
      ['NEW', 'NEW', false],
      ['NEW', 'NEW', true],
      ...mine.slice(2).map((m) => ['TRADE', m.X, m.X !== 'FILLED']),
    ]);
    expect(mine.at(-1)?.X).toBe('FILLED');
    for (const m of mine) {
      expect(m).toMatchObject({ c: stop.clientOrderId, o: 'STOP_LOSS', P: fromSteps(trigger, inst.price) });
    }
    expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
      status: 'FILLED',
      filledLots: 1000,
      venueOrderId,
      stop: true,
    });
    expect(await client.positions()).toEqual([]);
    expect(await client.openOrders(SYMBOL)).toEqual([]);
    const ours = new Set([buy.clientOrderId, stop.clientOrderId]);
    for (const e of events) {
      if (e.type === 'fill') expect(ours.has(e.fill.clientOrderId)).toBe(true);
      if (e.type === 'order') expect(ours.has(e.state.clientOrderId)).toBe(true);
    }
    expectFillsMatch(
      events.flatMap((e) => (e.type === 'fill' ? [e.fill] : [])),
      sim,
    );
  });

  it('cancel by client id, cancelAll covers stops, -2010 for a stop already reached, the venue checks stopPrice', async () => {
    const { sim, client, inst, book, passive } = await setup();
    sim.pause();
    const s1 = stopIntent('stop-market', 400, book().bestBid() - 100);
    expect(await client.place(s1, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW', stop: true } });
    expect(await client.cancel(SYMBOL, s1.clientOrderId)).toMatchObject({
      kind: 'ok',
      state: { clientOrderId: s1.clientOrderId, status: 'CANCELED', stop: true },
    });
    expect(await client.queryOrder(SYMBOL, s1.clientOrderId)).toMatchObject({
      status: 'CANCELED',
      stop: true,
    });
    expect(await client.openOrders(SYMBOL)).toEqual([]);

    // A stop-limit and a resting limit: cancelAll takes both.
    const s2 = stopIntent('stop-limit', 400, book().bestBid() - 100, book().bestBid() - 120);
    expect(await client.place(s2, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW', stop: true } });
    const lim = intent('buy', 'limit', 100, passive('buy'));
    expect(await client.place(lim, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    expect(await client.openOrders(SYMBOL)).toHaveLength(2);
    expect(await client.cancelAll(SYMBOL)).toBe(2);
    expect(await client.openOrders(SYMBOL)).toEqual([]);
    expect(sim.binanceUsTrading.engine.openOrders('sim', 'binance-us')).toEqual([]);

    // A sell stop the market has already reached.
    const now = await client.place(stopIntent('stop-market', 400, book().bestBid() + 5), inst);
    expect(now).toEqual({
      kind: 'rejected',
      code: '-2010',
      message: 'Stop price would trigger immediately.',
    });

    // Refused locally, never sent: a stop that is not GTC, a stop without a trigger.
    const posts = () => sim.binanceUsTrading.requests.filter((q) => q.what === 'POST /api/v3/order').length;
    const before = posts();
    expect(
      await client.place(
        stopIntent('stop-limit', 400, book().bestBid() - 100, book().bestBid() - 120, 'IOC'),
        inst,
      ),
    ).toMatchObject({ kind: 'rejected', code: 'BAD_ORDER' });
    expect(await client.place(stopIntent('stop-market', 400, undefined), inst)).toMatchObject({
      kind: 'rejected',
      code: 'BAD_ORDER',
    });
    expect(posts()).toBe(before);

    // The simulator checks stopPrice as the venue does.
    const base: Array<[string, string]> = [
      ['symbol', SYMBOL],
      ['side', 'SELL'],
      ['type', 'STOP_LOSS'],
      ['quantity', fromSteps(400, inst.qty)],
    ];
    const missing = await rawRest(sim, 'POST', '/api/v3/order', base);
    expect(missing.body.code).toBe(-1102);
    expect(missing.body.msg).toMatch(/stopPrice/);
    const stopText = fromSteps(book().bestBid() - 100, inst.price); // 8 decimals, tick 0.01
    const offTick = await rawRest(sim, 'POST', '/api/v3/order', [
      ...base,
      ['stopPrice', `${stopText.slice(0, -1)}1`],
    ]);
    expect(offTick.body).toEqual({ code: -1013, msg: 'Filter failure: PRICE_FILTER' });
    const tooPrecise = await rawRest(sim, 'POST', '/api/v3/order', [...base, ['stopPrice', `${stopText}1`]]);
    expect(tooPrecise.body.code).toBe(-1111);
    const onLimit = await rawRest(sim, 'POST', '/api/v3/order', [
      ['symbol', SYMBOL],
      ['side', 'BUY'],
      ['type', 'LIMIT'],
      ['timeInForce', 'GTC'],
      ['quantity', fromSteps(100, inst.qty)],
      ['price', fromSteps(passive('buy'), inst.price)],
      ['stopPrice', fromSteps(passive('buy'), inst.price)],
    ]);
    expect(onLimit.body).toEqual({ code: -1106, msg: "Parameter 'stopPrice' sent when not required." });
    expect(sim.binanceUsTrading.engine.openOrders('sim', 'binance-us')).toEqual([]);
  });

  it('a STOP_LOSS_LIMIT rests as a limit once triggered (same order, working), then fills as maker', async () => {
    const { sim, client, events, inst, book, fillsOf, statusesOf } = await setup();
    sim.pause();
    const bid = book().bestBid();
    // Triggered when the bid falls to bid-40; its limit (bid-40) is above the fallen bid (bid-60).
    const sl = stopIntent('stop-limit', 500, bid - 40, bid - 40);
    expect(await client.place(sl, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW', stop: true } });
    const q = () =>
      rawRest(sim, 'GET', '/api/v3/order', [
        ['symbol', SYMBOL],
        ['origClientOrderId', sl.clientOrderId],
      ]);
    expect((await q()).body).toMatchObject({ type: 'STOP_LOSS_LIMIT', isWorking: false, workingTime: -1 });

    moveMarketDown(sim, 60);
    await until(() => statusesOf(sl.clientOrderId).filter((s) => s === 'NEW').length === 2);
    const working = (await q()).body;
    expect(working).toMatchObject({
      type: 'STOP_LOSS_LIMIT',
      status: 'NEW',
      timeInForce: 'GTC',
      price: fromSteps(bid - 40, inst.price),
      stopPrice: fromSteps(bid - 40, inst.price),
      executedQty: fromSteps(0, inst.qty),
      isWorking: true,
    });
    expect(working.workingTime as number).toBeGreaterThanOrEqual(working.time as number);
    expect(fillsOf(sl.clientOrderId)).toEqual([]);
    expect(await client.openOrders(SYMBOL)).toEqual([
      expect.objectContaining({ clientOrderId: sl.clientOrderId, status: 'NEW', stop: true }),
    ]);

    // The market comes back above its limit: the resting limit fills as maker, same client id.
    moveMarketDown(sim, 0);
    await until(() => statusesOf(sl.clientOrderId).includes('FILLED'));
    expect(fillsOf(sl.clientOrderId).reduce((s, f) => s + f.qtyLots, 0)).toBe(500);
    expect(fillsOf(sl.clientOrderId).every((f) => f.liquidity === 'maker' && f.priceTicks === bid - 40)).toBe(
      true,
    );
    expect(await client.queryOrder(SYMBOL, sl.clientOrderId)).toMatchObject({
      status: 'FILLED',
      filledLots: 500,
      stop: true,
    });
    expectFillsMatch(
      events.flatMap((e) => (e.type === 'fill' ? [e.fill] : [])),
      sim,
    );
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
