/**
 * Kraken Futures trading end to end: the real client (lib/venues/kraken-futures/trading-client.ts)
 * against the simulator's private API (lib/sim/kraken-futures-trading.ts) over real sockets.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Instrument } from '#core/instrument.ts';
import type { Fill, OrderIntent, OrderSide, TimeInForce } from '#core/trading.ts';
import type {
  KrakenFuturesDiagnostic,
  KrakenFuturesTradingOptions,
} from '#venues/kraken-futures/trading-client.ts';
import {
  KrakenFuturesTrading,
  krakenFuturesTradingEndpointsFor,
} from '#venues/kraken-futures/trading-client.ts';
import type { UserEvent } from '#venues/trading.ts';
import { KRAKEN_FUTURES_SIM_API_KEY, KRAKEN_FUTURES_SIM_API_SECRET } from '#sim/kraken-futures-trading.ts';
import {
  cleanupsAfterEach,
  clientIds,
  eventQueries,
  manualIntent,
  passivePrice,
  sleep,
  startSim,
  until,
  shiftedBook,
} from '#tests/support/trading-harness.ts';

const SYMBOL = 'PF_XBTUSD';
const cleanups = cleanupsAfterEach();
const nextId = clientIds(2, 9);

function intent(
  side: OrderSide,
  type: 'market' | 'limit',
  qtyLots: number,
  priceTicks?: number,
  timeInForce: TimeInForce = 'GTC',
  reduceOnly = false,
): OrderIntent {
  return manualIntent({
    clientOrderId: nextId(),
    venue: 'kraken-futures',
    symbol: SYMBOL,
    side,
    type,
    qtyLots,
    priceTicks,
    timeInForce,
    reduceOnly,
  });
}

/** A stop intent: `triggerTicks`, and `priceTicks` for a stop-limit. */
function stopIntent(
  side: OrderSide,
  qtyLots: number,
  triggerTicks: number,
  priceTicks?: number,
  reduceOnly = true,
): OrderIntent {
  return {
    ...intent(side, 'market', qtyLots, undefined, 'GTC', reduceOnly),
    type: priceTicks === undefined ? 'stop-market' : 'stop-limit',
    priceTicks,
    triggerTicks,
  };
}

/**
 * The market `drop` ticks lower: every level of the book shifted down. Handed to the simulator's
 * market-step hook, it is a crash through our triggers (the synthetic market cannot be steered).
 */
const crashed = shiftedBook;

async function setup(clientOpts: Partial<KrakenFuturesTradingOptions> = {}) {
  const sim = await startSim(cleanups, { seed: 5 });
  const events: UserEvent[] = [];
  const diagnostics: KrakenFuturesDiagnostic[] = [];
  const client = new KrakenFuturesTrading({
    endpoints: krakenFuturesTradingEndpointsFor(sim.baseUrl('kraken-futures')),
    apiKey: KRAKEN_FUTURES_SIM_API_KEY,
    apiSecret: KRAKEN_FUTURES_SIM_API_SECRET,
    orderTimeoutMs: 1500,
    pingIntervalMs: 200,
    silentLimitMs: 2000,
    backoff: { baseMs: 20, capMs: 100, resetAfterMs: 1000 },
    onDiagnostic: (d) => diagnostics.push(d),
    ...clientOpts,
  });
  cleanups.push(() => client.stop());
  await client.start((e) => events.push(e));
  const inst = client.instrumentSet.get(SYMBOL) as Instrument;
  expect(inst).toBeDefined();
  const kf = sim.krakenFuturesTrading;
  const book = () => sim.truth('kraken-futures', SYMBOL);
  const { fillsOf, statusesOf } = eventQueries(events);
  const passive = (side: OrderSide, away = 200) => passivePrice(book(), side, away);
  return { sim, kf, client, events, diagnostics, inst, book, fillsOf, statusesOf, passive };
}

describe('Kraken Futures trading against the simulator', () => {
  it('orders of every type, sendStatus rejects, cancels, open orders, positions, fills on the feed', async () => {
    const { kf, client, events, inst, book, fillsOf, statusesOf, passive } = await setup();
    expect(events[0]).toEqual({ type: 'stream-up' });
    expect(kf.dmsTrigger('sim')).toBeGreaterThan(Date.now() + 50_000); // armed with 60 s

    // mkt: placed, filled as taker; fills over the private feed equal the venue's record exactly.
    let written = 0;
    const mkt = intent('buy', 'market', 30);
    const r1 = await client.place(mkt, inst, () => written++);
    expect(written).toBe(1);
    expect(r1).toMatchObject({ kind: 'ack', state: { status: 'FILLED', filledLots: 30 } });
    await until(() => fillsOf(mkt.clientOrderId).reduce((s, f) => s + f.qtyLots, 0) === 30);
    const truth = kf.fills('sim').filter((f) => f.clientOrderId === mkt.clientOrderId);
    expect(fillsOf(mkt.clientOrderId)).toEqual(
      truth.map((t): Fill => ({
        venue: 'kraken-futures',
        symbol: SYMBOL,
        tradeId: t.tradeId,
        clientOrderId: t.clientOrderId,
        side: 'buy',
        priceTicks: t.priceTicks,
        qtyLots: t.qtyLots,
        fee: t.fee,
        feeAsset: t.feeAsset,
        liquidity: 'taker',
        ts: t.ts,
      })),
    );
    for (const f of fillsOf(mkt.clientOrderId)) expect(Number(f.fee)).toBeGreaterThan(0);
    expect(await client.positions()).toEqual([
      expect.objectContaining({
        symbol: SYMBOL,
        qtyLots: kf.engine.accounts.positionLots('sim', 'kraken-futures', SYMBOL),
      }),
    ]);
    expect(await client.queryOrder(SYMBOL, mkt.clientOrderId)).toMatchObject({
      status: 'FILLED',
      filledLots: 30,
    });
    expect((await client.fillsSince(SYMBOL, 0)).map((f) => f.tradeId)).toEqual(truth.map((t) => t.tradeId));

    // lmt rests: open orders, queryOrder, feed NEW; cancel → CANCELED; a second cancel → notFound.
    const lim = intent('buy', 'limit', 5, passive('buy'));
    expect(await client.place(lim, inst)).toMatchObject({
      kind: 'ack',
      state: { status: 'NEW', filledLots: 0 },
    });
    expect((await client.openOrders(SYMBOL)).map((o) => o.clientOrderId)).toEqual([lim.clientOrderId]);
    expect(await client.queryOrder(SYMBOL, lim.clientOrderId)).toMatchObject({ status: 'NEW' });
    await until(() => statusesOf(lim.clientOrderId).includes('NEW'));
    expect(await client.cancel(SYMBOL, lim.clientOrderId)).toMatchObject({
      kind: 'ok',
      state: { status: 'CANCELED' },
    });
    expect(await client.cancel(SYMBOL, lim.clientOrderId)).toMatchObject({
      kind: 'rejected',
      code: 'notFound',
    });
    await until(() => statusesOf(lim.clientOrderId).includes('CANCELED'));
    expect(await client.queryOrder(SYMBOL, lim.clientOrderId)).toMatchObject({ status: 'CANCELED' });
    expect(await client.queryOrder(SYMBOL, 'never-sent')).toBeNull();

    // post: would take → postWouldExecute (result success, yet a reject); passive → placed.
    expect(await client.place(intent('buy', 'limit', 1, book().bestAsk(), 'POST_ONLY'), inst)).toMatchObject({
      kind: 'rejected',
      code: 'postWouldExecute',
    });
    const po = intent('sell', 'limit', 2, passive('sell'), 'POST_ONLY');
    expect(await client.place(po, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });

    // ioc: not marketable → iocWouldNotExecute; marketable → filled (or the rest expired).
    expect(await client.place(intent('sell', 'limit', 2, passive('sell'), 'IOC'), inst)).toMatchObject({
      kind: 'rejected',
      code: 'iocWouldNotExecute',
    });
    const ioc = await client.place(intent('sell', 'limit', 3, book().bestBid() - 20, 'IOC'), inst);
    expect(ioc.kind).toBe('ack');
    if (ioc.kind === 'ack') expect(['FILLED', 'EXPIRED']).toContain(ioc.state.status);

    // reduce-only that would increase the (long) position → wouldNotReducePosition.
    expect(await client.place(intent('buy', 'market', 1, undefined, 'GTC', true), inst)).toMatchObject({
      kind: 'rejected',
      code: 'wouldNotReducePosition',
    });

    // cancel-all counts what the venue cancelled.
    await client.place(intent('buy', 'limit', 1, passive('buy', 300)), inst);
    expect(await client.cancelAll()).toBe(2);
    expect(await client.openOrders()).toEqual([]);
    expect(await client.cancelAll(SYMBOL)).toBe(0);

    // nonces only grew, and every request carried one.
    const nonces = kf.requests.map((r) => BigInt(r.nonce ?? '0'));
    expect(new Set(nonces).size).toBe(nonces.length);
    expect(client.lastNonce).toBe(nonces.reduce((a, b) => (a > b ? a : b)));
  });

  it('unknown outcomes resolve without a duplicate; 5xx is unknown and not placed', async () => {
    const { kf, client, inst, passive } = await setup();
    // Placed, then the connection dies without an answer.
    kf.faults.dropAfterPlace();
    const a = intent('buy', 'limit', 4, passive('buy'));
    const ra = await client.place(a, inst);
    expect(ra.kind).toBe('unknown');
    const qa = await client.queryOrder(SYMBOL, a.clientOrderId);
    expect(qa).toMatchObject({ status: 'NEW', clientOrderId: a.clientOrderId });
    expect(kf.engine.ordersByClientId('sim', 'kraken-futures', a.clientOrderId)).toHaveLength(1);
    // Re-sending the same id anyway is caught by the venue and answered from a query: still one order.
    expect(await client.place(a, inst)).toMatchObject({ kind: 'ack', state: { status: 'NEW' } });
    expect(kf.engine.ordersByClientId('sim', 'kraken-futures', a.clientOrderId)).toHaveLength(1);

    // Placed and filled, never answered (timeout): found through fills.
    kf.faults.silentAfterPlace();
    const b = intent('buy', 'market', 2);
    expect((await client.place(b, inst)).kind).toBe('unknown');
    expect(await client.queryOrder(SYMBOL, b.clientOrderId)).toMatchObject({
      status: 'FILLED',
      filledLots: 2,
    });

    // 503: unknown to the client; the query says it does not exist, so the resend is safe.
    kf.faults.unavailable();
    const c = intent('buy', 'limit', 1, passive('buy'));
    expect((await client.place(c, inst)).kind).toBe('unknown');
    expect(await client.queryOrder(SYMBOL, c.clientOrderId)).toBeNull();
    expect(await client.place(c, inst)).toMatchObject({ kind: 'ack' });
    expect(kf.engine.ordersByClientId('sim', 'kraken-futures', c.clientOrderId)).toHaveLength(1);

    // A scripted sendStatus reject.
    kf.faults.rejectOrder('insufficientAvailableFunds');
    expect(await client.place(intent('buy', 'limit', 1, passive('buy')), inst)).toMatchObject({
      kind: 'rejected',
      code: 'insufficientAvailableFunds',
    });
  });

  it('wrong secret: authenticationError, and the secret never appears in results, events or errors', async () => {
    const { sim, client, events, diagnostics, inst, passive } = await setup();
    const wrongSecret = Buffer.from('a different local-only secret for this test').toString('base64');
    const bad = new KrakenFuturesTrading({
      endpoints: krakenFuturesTradingEndpointsFor(sim.baseUrl('kraken-futures')),
      apiKey: KRAKEN_FUTURES_SIM_API_KEY,
      apiSecret: wrongSecret,
      instruments: [inst],
      orderTimeoutMs: 1500,
    });
    const r = await bad.place(intent('buy', 'limit', 1, passive('buy')), inst);
    expect(r).toMatchObject({ kind: 'rejected', code: 'authenticationError' });
    const err = await bad.openOrders().catch((e: unknown) => e);
    expect(String(err)).toContain('authenticationError');
    const dump = [
      inspect(client, { depth: 8 }),
      inspect(bad, { depth: 8 }),
      JSON.stringify(events),
      JSON.stringify(diagnostics),
      JSON.stringify(r),
      inspect(err),
    ].join('\n');
    expect(dump).not.toContain(KRAKEN_FUTURES_SIM_API_SECRET);
    expect(dump).not.toContain(wrongSecret);
    const endpoints = krakenFuturesTradingEndpointsFor(sim.baseUrl('kraken-futures'));
    expect(() => new KrakenFuturesTrading({ endpoints, apiKey: 'k', apiSecret: 'not base64!' })).toThrow(
      /not valid standard base64/,
    );
  });

  it('the dead man’s switch cancels everything when refreshing stops; a clean stop disarms it', async () => {
    const { kf, client, inst, passive, statusesOf } = await setup({ dmsTimeoutSec: 1, dmsRefreshMs: 200 });
    const o = intent('buy', 'limit', 1, passive('buy'));
    expect(await client.place(o, inst)).toMatchObject({ kind: 'ack' });
    // Refreshing keeps it alive past the 1 s timeout.
    await sleep(1400);
    expect(kf.engine.openOrders('sim', 'kraken-futures')).toHaveLength(1);
    client.freezeDeadMansSwitch();
    await until(() => (kf.dmsFired.get('sim') ?? 0) === 1, 3000);
    expect(kf.engine.openOrders('sim', 'kraken-futures')).toHaveLength(0);
    await until(() => statusesOf(o.clientOrderId).includes('CANCELED'));

    const { kf: kf2, client: c2 } = await setup();
    expect(kf2.dmsTrigger('sim')).toBeDefined();
    await c2.stop();
    expect(kf2.dmsTrigger('sim')).toBeUndefined();
  });

  describe('venue-side stops', () => {
    /** Far enough below the touch that the synthetic market does not reach it during a test. */
    const AWAY = 2000;

    async function long(qtyLots: number) {
      const ctx = await setup();
      const buy = intent('buy', 'market', qtyLots);
      expect(await ctx.client.place(buy, ctx.inst)).toMatchObject({
        kind: 'ack',
        state: { status: 'FILLED' },
      });
      expect(await ctx.client.positions()).toEqual([expect.objectContaining({ qtyLots })]);
      return ctx;
    }

    it('a reduce-only stop-market rests as a NEW stop, triggers on a drop and closes the long', async () => {
      const { sim, kf, client, inst, book, fillsOf, statusesOf, events } = await long(30);
      expect(client.capabilities.stopTypes).toEqual(['stop-market', 'stop-limit']);
      const trigger = book().bestBid() - AWAY;
      const stp = stopIntent('sell', 30, trigger);
      const placed = await client.place(stp, inst);
      expect(placed).toMatchObject({ kind: 'ack', state: { status: 'NEW', filledLots: 0, stop: true } });
      const venueOrderId = placed.kind === 'ack' ? placed.state.venueOrderId : '';
      expect(kf.triggerSignalOf(venueOrderId)).toBe('mark');
      const [venueRecord] = kf.engine.ordersByClientId('sim', 'kraken-futures', stp.clientOrderId);
      expect(venueRecord?.request).toMatchObject({
        type: 'stop-market',
        triggerTicks: trigger,
        reduceOnly: true,
      });
      expect(await client.openOrders(SYMBOL)).toEqual([
        expect.objectContaining({ clientOrderId: stp.clientOrderId, status: 'NEW', stop: true }),
      ]);
      expect(await client.queryOrder(SYMBOL, stp.clientOrderId)).toMatchObject({ status: 'NEW', stop: true });
      await until(() =>
        events.some((e) => e.type === 'order' && e.state.clientOrderId === stp.clientOrderId && e.state.stop),
      );
      expect(fillsOf(stp.clientOrderId)).toEqual([]);

      // The market falls through the trigger: the stop sells 30 lots as a taker, with OUR id.
      sim.pause();
      kf.onMarketStep(SYMBOL, crashed(book(), AWAY + 500), Date.now());
      sim.resume();
      await until(() => fillsOf(stp.clientOrderId).reduce((n, f) => n + f.qtyLots, 0) === 30);
      for (const f of fillsOf(stp.clientOrderId)) {
        expect(f).toMatchObject({ side: 'sell', liquidity: 'taker' });
        expect(f.priceTicks).toBeLessThanOrEqual(trigger);
      }
      await until(() => statusesOf(stp.clientOrderId).includes('FILLED'));
      expect(await client.positions()).toEqual([]);
      expect(await client.openOrders()).toEqual([]);
      expect(await client.queryOrder(SYMBOL, stp.clientOrderId)).toMatchObject({
        status: 'FILLED',
        filledLots: 30,
      });
    });

    it('cancel by client id and cancel-all take untriggered stops', async () => {
      const { client, inst, book, statusesOf, passive } = await long(20);
      const a = stopIntent('sell', 10, book().bestBid() - AWAY);
      const b = stopIntent('sell', 10, book().bestBid() - AWAY, book().bestBid() - AWAY - 10);
      expect(await client.place(a, inst)).toMatchObject({
        kind: 'ack',
        state: { status: 'NEW', stop: true },
      });
      expect(await client.place(b, inst)).toMatchObject({
        kind: 'ack',
        state: { status: 'NEW', stop: true },
      });
      expect(await client.cancel(SYMBOL, a.clientOrderId)).toMatchObject({
        kind: 'ok',
        state: { status: 'CANCELED', stop: true },
      });
      await until(() => statusesOf(a.clientOrderId).includes('CANCELED'));
      expect((await client.openOrders()).map((o) => [o.clientOrderId, o.stop])).toEqual([
        [b.clientOrderId, true],
      ]);
      expect(await client.place(intent('buy', 'limit', 1, passive('buy')), inst)).toMatchObject({
        kind: 'ack',
      });
      expect(await client.cancelAll(SYMBOL)).toBe(2);
      expect(await client.openOrders()).toEqual([]);
      await until(() => statusesOf(b.clientOrderId).includes('CANCELED'));
    });

    it('the dead man’s switch cancels untriggered stops too', async () => {
      const { kf, client, inst, book, statusesOf } = await setup({ dmsTimeoutSec: 1, dmsRefreshMs: 200 });
      expect(client.capabilities.dmsCancelsStops).toBe(true);
      await client.place(intent('buy', 'market', 10), inst);
      const stp = stopIntent('sell', 10, book().bestBid() - AWAY);
      expect(await client.place(stp, inst)).toMatchObject({
        kind: 'ack',
        state: { status: 'NEW', stop: true },
      });
      client.freezeDeadMansSwitch();
      await until(() => (kf.dmsFired.get('sim') ?? 0) === 1, 3000);
      expect(await client.openOrders()).toEqual([]);
      await until(() => statusesOf(stp.clientOrderId).includes('CANCELED'));
      expect(await client.positions()).toEqual([expect.objectContaining({ qtyLots: 10 })]);
    });

    it('a triggered stop-limit rests as a limit; a stop already reached triggers at once', async () => {
      const { sim, kf, client, inst, book, fillsOf, events } = await long(30);
      const trigger = book().bestBid() - AWAY;
      const limit = trigger - 100;
      const stl = stopIntent('sell', 10, trigger, limit);
      expect(await client.place(stl, inst)).toMatchObject({
        kind: 'ack',
        state: { status: 'NEW', stop: true },
      });

      // Triggered by a crash below its limit: nothing fills, it rests as a plain limit order.
      sim.pause();
      kf.onMarketStep(SYMBOL, crashed(book(), AWAY + 500), Date.now());
      const open = await client.openOrders(SYMBOL);
      expect(open).toEqual([expect.objectContaining({ clientOrderId: stl.clientOrderId, status: 'NEW' })]);
      expect(open[0]?.stop).toBeUndefined();
      await until(() =>
        events.some(
          (e) => e.type === 'order' && e.state.clientOrderId === stl.clientOrderId && !e.state.stop,
        ),
      );
      expect(fillsOf(stl.clientOrderId)).toEqual([]);
      // The market comes back above the limit: it fills there as a maker.
      sim.resume();
      await until(() => fillsOf(stl.clientOrderId).reduce((n, f) => n + f.qtyLots, 0) === 10);
      for (const f of fillsOf(stl.clientOrderId))
        expect(f).toMatchObject({ priceTicks: limit, liquidity: 'maker' });

      // A sell stop above the bid has been reached already: Kraken triggers it at once.
      const now = stopIntent('sell', 5, book().bestBid() + 50);
      const r = await client.place(now, inst);
      expect(r).toMatchObject({ kind: 'ack', state: { status: 'FILLED', filledLots: 5 } });
      expect(r.kind === 'ack' && r.state.stop).toBeUndefined();
      await until(() => fillsOf(now.clientOrderId).reduce((n, f) => n + f.qtyLots, 0) === 5);
    });
  });
});
