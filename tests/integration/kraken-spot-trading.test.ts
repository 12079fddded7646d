/**
 * Kraken spot trading end to end: the real client (lib/venues/kraken-spot/trading-client.ts)
 * against the simulator's private API (lib/sim/kraken-spot-trading.ts) over real sockets — WS v2
 * order entry, REST fallback, the executions channel, signing and nonces, the dead man's switch,
 * unknown outcomes, and that the secret never leaks.
 */
import { describe, expect, it } from 'vitest';
import type { Instrument } from '#core/instrument.ts';
import type { Fill, OrderIntent, OrderSide, TimeInForce } from '#core/trading.ts';
import { WebSocket } from 'ws';
import { fromSteps } from '#core/grid.ts';
import { signKraken } from '#venues/kraken-spot/signing.ts';
import type {
  KrakenSpotTradingOptions,
  KrakenTradingDiagnostic,
} from '#venues/kraken-spot/trading-client.ts';
import { KrakenSpotTrading, krakenTradingEndpointsFor } from '#venues/kraken-spot/trading-client.ts';
import type { UserEvent } from '#venues/trading.ts';
import { SIM_KRAKEN_API_KEY, SIM_KRAKEN_API_SECRET } from '#sim/kraken-spot-trading.ts';
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

const SYMBOL = 'BTC/USD';
const cleanups = cleanupsAfterEach();
const nextId = clientIds(2, 3);

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
    venue: 'kraken-spot',
    symbol: SYMBOL,
    side,
    type,
    qtyLots,
    priceTicks,
    timeInForce,
  });
}

async function setup(clientOpts: Partial<KrakenSpotTradingOptions> = {}) {
  const sim = await startSim(cleanups, { seed: 5 });
  const events: UserEvent[] = [];
  const diagnostics: KrakenTradingDiagnostic[] = [];
  const client = new KrakenSpotTrading({
    endpoints: krakenTradingEndpointsFor(sim.baseUrl('kraken-spot')),
    apiKey: SIM_KRAKEN_API_KEY,
    apiSecret: SIM_KRAKEN_API_SECRET,
    orderTimeoutMs: 2000,
    liveness: { pingIntervalMs: 200, silentLimitMs: 2000 },
    backoff: { baseMs: 20, capMs: 100, resetAfterMs: 1000 },
    onDiagnostic: (d) => diagnostics.push(d),
    ...clientOpts,
  });
  cleanups.push(() => client.stop());
  const book = () => sim.truth('kraken-spot', SYMBOL);
  const { statusesOf, fillsOf } = eventQueries(events);
  const passive = (side: OrderSide, away = 2000) => passivePrice(book(), side, away);
  const start = async () => {
    await client.start((e) => events.push(e));
    return client.instrumentSet.get(SYMBOL) as Instrument;
  };
  return { sim, client, events, diagnostics, book, statusesOf, fillsOf, passive, start };
}

const LOT = 100_000; // 0.001 BTC in 1e-8 lots

/** A protective stop intent (sell by default). */
function stopIntent(
  type: 'stop-market' | 'stop-limit',
  qtyLots: number,
  triggerTicks: number,
  priceTicks?: number,
  side: OrderSide = 'sell',
): OrderIntent {
  return {
    ...manualIntent({
      clientOrderId: nextId(),
      venue: 'kraken-spot',
      symbol: SYMBOL,
      side,
      type: 'market',
      qtyLots,
      priceTicks,
      timeInForce: 'GTC',
    }),
    type,
    triggerTicks,
    purpose: 'protective-stop',
  };
}

describe('Kraken spot trading against the simulator', () => {
  it('place, open orders, query by cl_ord_id, cancel, cancel_all over WS v2; executions order events', async () => {
    const { sim, client, events, statusesOf, passive, start } = await setup({ dms: false });
    const inst = await start();
    expect(inst.symbol).toBe(SYMBOL);
    expect(events[0]).toEqual({ type: 'stream-up' });
    expect(client.wsUp).toBe(true);

    let written = 0;
    const a = intent('buy', 'limit', LOT, passive('buy'));
    const r = await client.place(a, inst, () => written++);
    expect(written).toBe(1);
    expect(r).toMatchObject({ kind: 'ack', state: { clientOrderId: a.clientOrderId, status: 'NEW' } });
    expect(sim.krakenSpotTrading.requests.some((q) => q.channel === 'ws' && q.what === 'add_order')).toBe(
      true,
    );
    await until(() => statusesOf(a.clientOrderId).includes('NEW'));

    const b = intent('sell', 'limit', 2 * LOT, passive('sell'), 'POST_ONLY');
    expect((await client.place(b, inst)).kind).toBe('ack');
    const open = await client.openOrders(SYMBOL);
    expect(open.map((o) => o.clientOrderId).sort()).toEqual([a.clientOrderId, b.clientOrderId].sort());
    expect(await client.queryOrder(SYMBOL, b.clientOrderId)).toMatchObject({ status: 'NEW', filledLots: 0 });
    expect(await client.queryOrder(SYMBOL, 'tw-never-seen')).toBeNull();

    const c = await client.cancel(SYMBOL, a.clientOrderId);
    expect(c).toMatchObject({ kind: 'ok', state: { status: 'CANCELED', clientOrderId: a.clientOrderId } });
    await until(() => statusesOf(a.clientOrderId).includes('CANCELED'));
    expect(await client.queryOrder(SYMBOL, a.clientOrderId)).toMatchObject({ status: 'CANCELED' });
    expect(await client.cancel(SYMBOL, a.clientOrderId)).toMatchObject({
      kind: 'rejected',
      code: 'EOrder:Unknown order',
    });

    expect((await client.place(intent('buy', 'limit', LOT, passive('buy')), inst)).kind).toBe('ack');
    expect(await client.cancelAll()).toBe(2);
    expect(await client.openOrders()).toEqual([]);
    expect((await client.place(intent('buy', 'limit', LOT, passive('buy')), inst)).kind).toBe('ack');
    expect(await client.cancelAll(SYMBOL)).toBe(1);
    // Spot is long-only: selling more base than the balance is the venue's reject.
    const big = await client.place(intent('sell', 'limit', 3 * 100_000_000, passive('sell')), inst);
    expect(big).toMatchObject({ kind: 'rejected', code: 'EOrder:Insufficient funds' });
  });

  it('fills arrive over executions with exact fields; positions are base balances; fillsSince matches', async () => {
    const { sim, client, fillsOf, statusesOf, start } = await setup({ dms: false });
    const inst = await start();
    const before = await client.positions();
    expect(before).toEqual([{ symbol: SYMBOL, qtyLots: 200_000_000, entryPrice: '0' }]);
    const t0 = Date.now() - 1000;
    const m = intent('buy', 'market', 5 * LOT);
    expect((await client.place(m, inst)).kind).toBe('ack');
    await until(() => statusesOf(m.clientOrderId).includes('FILLED'));
    const fills = fillsOf(m.clientOrderId);
    const truth = sim.krakenSpotTrading.fills('sim').filter((f) => f.clientOrderId === m.clientOrderId);
    expect(fills.length).toBe(truth.length);
    expect(fills).toEqual(
      truth.map((t): Fill => ({
        venue: 'kraken-spot',
        symbol: SYMBOL,
        tradeId: t.tradeId,
        clientOrderId: m.clientOrderId,
        side: 'buy',
        priceTicks: t.priceTicks,
        qtyLots: t.qtyLots,
        fee: t.fee,
        feeAsset: 'USD',
        liquidity: 'taker',
        ts: t.ts,
      })),
    );
    expect(fills.reduce((s, f) => s + f.qtyLots, 0)).toBe(5 * LOT);
    expect(Number(fills[0]?.fee)).toBeGreaterThan(0); // positive = paid
    expect(await client.positions()).toEqual([
      { symbol: SYMBOL, qtyLots: 200_000_000 + 5 * LOT, entryPrice: '0' },
    ]);
    expect(await client.queryOrder(SYMBOL, m.clientOrderId)).toMatchObject({
      status: 'FILLED',
      filledLots: 5 * LOT,
    });
    const hist = await client.fillsSince(SYMBOL, t0);
    expect(hist.map((f) => ({ ...f, ts: 0 }))).toEqual(fills.map((f) => ({ ...f, ts: 0 })));
  });

  it('a bad signature → EAPI:Invalid key; the secret never appears in any error, event or diagnostic', async () => {
    const secret = Buffer.from('wrong-kraken-secret-do-not-leak-77').toString('base64');
    const seen: string[] = [];
    const { client, events, diagnostics, start } = await setup({
      apiSecret: secret,
      onConnectionEvent: (e) => seen.push(JSON.stringify(e)),
    });
    const err = await rejectionOf(start);
    expect(err.message).toMatch(/EAPI:Invalid key/);
    seen.push(...errorTexts(err));
    for (const call of [
      () => client.openOrders(),
      () => client.positions(),
      () => client.queryOrder(SYMBOL, 'x'),
    ]) {
      const e = await rejectionOf(call);
      expect(e.message).toMatch(/EAPI:Invalid key/);
      seen.push(...errorTexts(e));
    }
    seen.push(...clientTexts(events, diagnostics, client));
    const all = seen.join('\n');
    expect(all).not.toContain(secret);
    expect(all).not.toContain(Buffer.from(secret, 'base64').toString('utf8'));
  });

  it('nonces: one not above the last accepted → EAPI:Invalid nonce; a transient one is retried once', async () => {
    const { sim, client, start } = await setup({ dms: false });
    await start();
    sim.krakenSpotTrading.faults.invalidNonce(1);
    expect(await client.openOrders()).toEqual([]); // retried with a fresh nonce
    // Another process used the key with a far higher nonce: every request of ours is now stale.
    const path = '/0/private/Balance';
    const nonce = String(BigInt(Date.now()) * 1_000_000n);
    const body = `nonce=${nonce}`;
    const res = await fetch(`${sim.baseUrl('kraken-spot').rest}${path}`, {
      method: 'POST',
      headers: {
        'API-Key': SIM_KRAKEN_API_KEY,
        'API-Sign': signKraken(SIM_KRAKEN_API_SECRET, path, nonce, body),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body,
    });
    expect(((await res.json()) as { error: string[] }).error).toEqual([]);
    // The same nonce again (a replay) is refused too.
    const replay = await fetch(`${sim.baseUrl('kraken-spot').rest}${path}`, {
      method: 'POST',
      headers: {
        'API-Key': SIM_KRAKEN_API_KEY,
        'API-Sign': signKraken(SIM_KRAKEN_API_SECRET, path, nonce, body),
      },
      body,
    });
    expect(((await replay.json()) as { error: string[] }).error).toEqual(['EAPI:Invalid nonce']);
    await expect(client.openOrders()).rejects.toThrow(/EAPI:Invalid nonce/);
  });

  it("the dead man's switch cancels everything when the client stops refreshing; healthy refresh keeps orders", async () => {
    const { sim, client, statusesOf, passive, start } = await setup({
      dms: { intervalMs: 250, timeoutSec: 1 },
    });
    const inst = await start();
    expect(sim.krakenSpotTrading.dmsTriggerAt('sim')).toBeDefined();
    const a = intent('buy', 'limit', LOT, passive('buy'));
    expect((await client.place(a, inst)).kind).toBe('ack');
    await sleep(1500); // refreshed every 250 ms: still open
    expect(await client.queryOrder(SYMBOL, a.clientOrderId)).toMatchObject({ status: 'NEW' });
    expect(sim.krakenSpotTrading.dmsFired.get('sim') ?? 0).toBe(0);
    client.haltDmsRefresh(); // what a hung process looks like
    await until(() => statusesOf(a.clientOrderId).includes('CANCELED'), 3000);
    expect(sim.krakenSpotTrading.dmsFired.get('sim')).toBe(1);
    expect(sim.krakenSpotTrading.dmsTriggerAt('sim')).toBeUndefined(); // disabled once fired
    expect(await client.openOrders()).toEqual([]);
  });

  it('a clean stop disarms the switch', async () => {
    const { sim, client, start } = await setup({ dms: { timeoutSec: 60 } });
    await start();
    expect(sim.krakenSpotTrading.dmsTriggerAt('sim')).toBeGreaterThan(Date.now() + 50_000);
    await client.stop();
    expect(sim.krakenSpotTrading.dmsTriggerAt('sim')).toBeUndefined();
  });

  it('unknown outcome (internal error after placing, or no answer) → query resolves it, a resend makes no duplicate', async () => {
    for (const useWs of [true, false]) {
      const { sim, client, passive, start } = await setup({ dms: false, useWs, orderTimeoutMs: 400 });
      const inst = await start();
      sim.krakenSpotTrading.faults.unknownAfterPlace();
      const a = intent('sell', 'limit', 2 * LOT, passive('sell'));
      expect(await client.place(a, inst)).toMatchObject({ kind: 'unknown' });
      const q = await client.queryOrder(SYMBOL, a.clientOrderId);
      expect(q).toMatchObject({ status: 'NEW', clientOrderId: a.clientOrderId });
      const again = await client.place(a, inst);
      expect(again).toMatchObject({ kind: 'ack', state: { venueOrderId: q?.venueOrderId } });
      expect(
        sim.krakenSpotTrading.engine.ordersByClientId('sim', 'kraken-spot', a.clientOrderId),
      ).toHaveLength(1);

      if (useWs) {
        sim.krakenSpotTrading.faults.silentAfterPlace();
        const b = intent('buy', 'limit', LOT, passive('buy'));
        expect(await client.place(b, inst)).toMatchObject({ kind: 'unknown' });
        expect(await client.queryOrder(SYMBOL, b.clientOrderId)).toMatchObject({ status: 'NEW' });
        sim.krakenSpotTrading.faults.rejectOrder('EOrder:Post only order');
        expect(await client.place(intent('buy', 'limit', LOT, passive('buy')), inst)).toMatchObject({
          kind: 'rejected',
          code: 'EOrder:Post only order',
        });
      } else {
        expect(sim.krakenSpotTrading.requests.some((r) => r.what === 'AddOrder')).toBe(true);
        expect(await client.cancel(SYMBOL, a.clientOrderId)).toMatchObject({ kind: 'ok' });
      }
      await client.stop();
    }
  });

  it('the executions stream survives a drop: stream-down, stream-up, no fill lost or duplicated', async () => {
    const { sim, client, events, fillsOf, statusesOf, start } = await setup({ dms: false });
    const inst = await start();
    const resting = intent('buy', 'limit', LOT, sim.truth('kraken-spot', SYMBOL).bestBid() - 2000);
    expect((await client.place(resting, inst)).kind).toBe('ack');
    await until(() => statusesOf(resting.clientOrderId).length === 1);
    sim.dropConnections('kraken-spot');
    await until(() => events.some((e) => e.type === 'stream-down'));
    await until(() => client.wsUp && events.filter((e) => e.type === 'stream-up').length === 2, 5000);
    // The executions snapshot of the new subscription restates the open order.
    expect(statusesOf(resting.clientOrderId)).toEqual(['NEW', 'NEW']);
    const m = intent('buy', 'market', 2 * LOT);
    expect((await client.place(m, inst)).kind).toBe('ack');
    await until(() => statusesOf(m.clientOrderId).includes('FILLED'));
    const ids = fillsOf(m.clientOrderId).map((f) => f.tradeId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(sim.krakenSpotTrading.fills('sim').length);
  });

  describe('venue-side stop orders (stop-loss, stop-loss-limit)', () => {
    it('capabilities list both stop types; the DMS is declared to cancel stops', async () => {
      const { client } = await setup({ dms: false });
      expect(client.capabilities).toEqual({
        stopTypes: ['stop-market', 'stop-limit'],
        reduceOnly: false,
        dmsCancelsStops: true,
      });
    });

    it('a stop-loss sell rests untriggered (NEW, stop:true), then fills with OUR client id when the market falls through it', async () => {
      const { sim, client, events, statusesOf, fillsOf, book, start } = await setup({ dms: false });
      const inst = await start();
      const buy = intent('buy', 'market', 5 * LOT);
      expect((await client.place(buy, inst)).kind).toBe('ack');
      await until(() => statusesOf(buy.clientOrderId).includes('FILLED'));
      const bought = (await client.positions())[0]?.qtyLots ?? 0;
      expect(bought).toBe(200_000_000 + 5 * LOT);

      sim.pause();
      const trigger = book().bestBid() - 500;
      const stop = stopIntent('stop-market', 5 * LOT, trigger);
      const placed = await client.place(stop, inst);
      expect(placed).toMatchObject({ kind: 'ack', state: { status: 'NEW', stop: true } });
      const r = sim.krakenSpotTrading.requests.filter((q) => q.what === 'add_order');
      expect(r.length).toBe(2); // over the WS
      const sims = sim.krakenSpotTrading.engine.ordersByClientId('sim', 'kraken-spot', stop.clientOrderId);
      expect(sims.map((o) => [o.request.type, o.request.triggerTicks, o.triggered])).toEqual([
        ['stop-market', trigger, false],
      ]);
      await until(() => statusesOf(stop.clientOrderId).includes('NEW'));
      const open = await client.openOrders(SYMBOL);
      expect(open).toEqual([
        expect.objectContaining({ clientOrderId: stop.clientOrderId, status: 'NEW', stop: true }),
      ]);
      expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
        status: 'NEW',
        stop: true,
        filledLots: 0,
      });
      expect(fillsOf(stop.clientOrderId)).toEqual([]);

      // Drive the market down through the trigger: a 2 % shock, then the market runs again.
      sim.shock('kraken-spot', SYMBOL, -0.02);
      sim.resume();
      await until(() => statusesOf(stop.clientOrderId).includes('FILLED'));
      const fills = fillsOf(stop.clientOrderId);
      expect(fills.length).toBeGreaterThan(0);
      for (const f of fills) {
        expect(f).toMatchObject({ clientOrderId: stop.clientOrderId, side: 'sell', liquidity: 'taker' });
        expect(f.priceTicks).toBeLessThan(trigger);
      }
      expect(fills.reduce((s, f) => s + f.qtyLots, 0)).toBe(5 * LOT);
      const last = events
        .filter((e) => e.type === 'order' && e.state.clientOrderId === stop.clientOrderId)
        .at(-1);
      expect(last).toMatchObject({ state: { status: 'FILLED', stop: true, filledLots: 5 * LOT } });
      expect(await client.positions()).toEqual([{ symbol: SYMBOL, qtyLots: 200_000_000, entryPrice: '0' }]);
      expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
        status: 'FILLED',
        stop: true,
      });
      expect(await client.openOrders()).toEqual([]);
    });

    it('a stop-loss-limit goes out with its limit; over REST too; cancel by client id; cancelAll includes stops', async () => {
      for (const useWs of [true, false]) {
        const { sim, client, statusesOf, book, start } = await setup({ dms: false, useWs });
        const inst = await start();
        sim.pause();
        const bid = book().bestBid();
        const a = stopIntent('stop-limit', LOT, bid - 400, bid - 450);
        const b = stopIntent('stop-market', 2 * LOT, bid - 600);
        const c = stopIntent('stop-market', LOT, bid - 700);
        for (const s of [a, b, c])
          expect(await client.place(s, inst)).toMatchObject({ kind: 'ack', state: { stop: true } });
        expect(
          sim.krakenSpotTrading.requests.some((q) => q.what === (useWs ? 'add_order' : 'AddOrder')),
        ).toBe(true);
        const [simA] = sim.krakenSpotTrading.engine.ordersByClientId('sim', 'kraken-spot', a.clientOrderId);
        expect(simA?.request).toMatchObject({
          type: 'stop-limit',
          triggerTicks: bid - 400,
          priceTicks: bid - 450,
        });
        const open = await client.openOrders();
        expect(open.map((o) => [o.clientOrderId, o.status, o.stop]).sort()).toEqual(
          [a, b, c].map((s) => [s.clientOrderId, 'NEW', true]).sort(),
        );
        expect(await client.cancel(SYMBOL, a.clientOrderId)).toMatchObject({
          kind: 'ok',
          state: { status: 'CANCELED', clientOrderId: a.clientOrderId },
        });
        if (useWs) await until(() => statusesOf(a.clientOrderId).includes('CANCELED'));
        expect(await client.queryOrder(SYMBOL, a.clientOrderId)).toMatchObject({
          status: 'CANCELED',
          stop: true,
        });
        expect(await client.cancelAll()).toBe(2);
        expect(await client.openOrders()).toEqual([]);
        const d = stopIntent('stop-market', LOT, bid - 800);
        expect((await client.place(d, inst)).kind).toBe('ack');
        expect(await client.cancelAll(SYMBOL)).toBe(1);
        expect(await client.queryOrder(SYMBOL, d.clientOrderId)).toMatchObject({
          status: 'CANCELED',
          stop: true,
        });
        await client.stop();
      }
    });

    it("the dead man's switch cancels an untriggered stop", async () => {
      const { sim, client, statusesOf, book, start } = await setup({
        dms: { intervalMs: 250, timeoutSec: 1 },
      });
      const inst = await start();
      sim.pause();
      const stop = stopIntent('stop-market', LOT, book().bestBid() - 500);
      expect((await client.place(stop, inst)).kind).toBe('ack');
      await until(() => statusesOf(stop.clientOrderId).includes('NEW'));
      client.haltDmsRefresh();
      await until(() => statusesOf(stop.clientOrderId).includes('CANCELED'), 3000);
      expect(sim.krakenSpotTrading.dmsFired.get('sim')).toBe(1);
      expect(await client.queryOrder(SYMBOL, stop.clientOrderId)).toMatchObject({
        status: 'CANCELED',
        stop: true,
      });
      expect(await client.openOrders()).toEqual([]);
    });

    it('a stop whose trigger the market has already reached triggers and fills at once', async () => {
      const { sim, client, statusesOf, fillsOf, book, start } = await setup({ dms: false });
      const inst = await start();
      sim.pause();
      const stop = stopIntent('stop-market', 3 * LOT, book().bestBid() + 1);
      expect(await client.place(stop, inst)).toMatchObject({ kind: 'ack' });
      await until(() => statusesOf(stop.clientOrderId).includes('FILLED'));
      expect(fillsOf(stop.clientOrderId).reduce((s, f) => s + f.qtyLots, 0)).toBe(3 * LOT);
      expect(fillsOf(stop.clientOrderId).every((f) => f.clientOrderId === stop.clientOrderId)).toBe(true);
      expect(await client.positions()).toEqual([
        { symbol: SYMBOL, qtyLots: 200_000_000 - 3 * LOT, entryPrice: '0' },
      ]);
    });

    it('stops the sim does not model are refused with EGeneral:Invalid arguments; the client checks stops before sending', async () => {
      const { sim, client, book, start } = await setup({ dms: false });
      const inst = await start();
      sim.pause();
      const trigger = book().bestBid() - 500;
      // The client refuses a stop-limit without a limit price and a non-GTC stop before sending.
      const noLimit = stopIntent('stop-limit', LOT, trigger);
      expect(await client.place(noLimit, inst)).toMatchObject({ kind: 'rejected', code: 'BAD_ORDER' });
      const ioc = { ...stopIntent('stop-market', LOT, trigger), timeInForce: 'IOC' as const };
      expect(await client.place(ioc, inst)).toMatchObject({ kind: 'rejected', code: 'BAD_ORDER' });
      expect(sim.krakenSpotTrading.requests.filter((q) => q.what === 'add_order')).toEqual([]);

      // Raw add_order frames on a second private connection (its own token).
      const { rest, ws: wsBase } = sim.baseUrl('kraken-spot');
      const path = '/0/private/GetWebSocketsToken';
      const nonce = String(BigInt(Date.now()) * 1_000_000n);
      const body = `nonce=${nonce}`;
      const res = await fetch(`${rest}${path}`, {
        method: 'POST',
        headers: {
          'API-Key': SIM_KRAKEN_API_KEY,
          'API-Sign': signKraken(SIM_KRAKEN_API_SECRET, path, nonce, body),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body,
      });
      const token = ((await res.json()) as { result: { token: string } }).result.token;
      const ws = new WebSocket(`${wsBase}/v2-auth`);
      cleanups.push(() => {
        ws.close();
        return Promise.resolve();
      });
      const answers: Array<Record<string, unknown>> = [];
      ws.on('message', (d) => {
        const m = JSON.parse((d as Buffer).toString('utf8')) as Record<string, unknown>;
        if (m.method === 'add_order') answers.push(m);
      });
      await new Promise((resolve) => ws.once('open', resolve));
      const px = fromSteps(trigger, inst.price);
      const send = (extra: string) =>
        ws.send(
          `{"method":"add_order","params":{"order_type":"stop-loss","side":"sell","order_qty":0.001,"symbol":"BTC/USD"${extra},"token":${JSON.stringify(token)}},"req_id":${answers.length + 1}}`,
        );
      for (const extra of [
        `,"triggers":{"price":${px},"price_type":"pct"}`, // relative triggers: not modelled
        `,"triggers":{"reference":"mark","price":${px}}`,
        '', // a stop without triggers
        `,"triggers":{"reference":"index","price":${px},"price_type":"static"}`,
      ]) {
        const n = answers.length;
        send(extra);
        await until(() => answers.length === n + 1);
      }
      expect(
        answers.map((a) => [
          a.success,
          typeof a.error === 'string' ? a.error.split(':').slice(0, 2).join(':') : a.error,
        ]),
      ).toEqual([
        [false, 'EGeneral:Invalid arguments'],
        [false, 'EGeneral:Invalid arguments'],
        [false, 'EGeneral:Invalid arguments'],
        [true, undefined],
      ]);
      expect(answers[0]?.error).toMatch(/price_type/);
      const [placed] = sim.krakenSpotTrading.engine.openOrders('sim', 'kraken-spot');
      expect(placed?.request).toMatchObject({ type: 'stop-market', triggerTicks: trigger });
    });
  });
});
