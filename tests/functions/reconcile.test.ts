/**
 * Reconcile against embedded DynamoDB and the simulator (real sockets): orphans of ours are
 * cancelled, missing fills imported exactly once, drift recorded, an alert sent, and the trading
 * state lowered to REDUCING or HALTED by the drift score.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { encodeClientOrderId } from '#core/client-order-id.ts';
import type { OrderIntent } from '#core/trading.ts';
import {
  DynamoEngineStateRepo,
  DynamoFillRepo,
  DynamoOrderRepo,
  DynamoPositionRepo,
  keys,
  PK,
  SK,
  utcDay,
} from '#store/dynamo/index.ts';
import { alertCodec } from '#store/messages.ts';
import type { AlertMessage } from '#store/ports.ts';
import { InProcessQueue } from '#store/queues.ts';
import { reconcile, type ReconcileDeps } from '#functions/reconcile/core.ts';
import { DynamoDriftRepo } from '#functions/reconcile/drift-repo.ts';
import { startFixture, SYMBOL, type Fixture } from './support.ts';

let fx: Fixture;
let alerts: InProcessQueue<AlertMessage>;
let orders: DynamoOrderRepo;
let fills: DynamoFillRepo;
let state: DynamoEngineStateRepo;
let drift: DynamoDriftRepo;

beforeAll(async () => {
  fx = await startFixture('reconcile');
  orders = new DynamoOrderRepo(fx.db.doc, fx.db.table);
  fills = new DynamoFillRepo(fx.db.doc, fx.db.table);
  state = new DynamoEngineStateRepo(fx.db.doc, fx.db.table);
  drift = new DynamoDriftRepo(fx.db.doc, fx.db.table);
});
afterAll(async () => {
  await fx.close();
});
beforeEach(async () => {
  alerts = new InProcessQueue({ name: 'alerts', codec: alertCodec });
  await fx.db.doc.send(
    new DeleteCommand({ TableName: fx.db.table, Key: { [PK]: keys.shard(0), [SK]: keys.state } }),
  );
  await fx.engine.cancelAll();
});

function deps(over: Partial<ReconcileDeps> = {}): ReconcileDeps {
  return {
    shards: [0],
    venues: { 'binance-futures': () => fx.readOnly() },
    cancellers: { 'binance-futures': () => fx.cancelOnly() },
    orders,
    fills,
    positions: new DynamoPositionRepo(fx.db.doc, fx.db.table),
    state,
    drift,
    alerts,
    now: () => Date.now(),
    orphanGraceMs: 0, // the orders these tests place are seconds old
    ...over,
  };
}

function intent(seq: number, over: Partial<OrderIntent> = {}): OrderIntent {
  return {
    clientOrderId: encodeClientOrderId({ shard: 0, epoch: 1, seq }),
    venue: 'binance-futures',
    symbol: SYMBOL,
    side: 'buy',
    type: 'market',
    timeInForce: 'IOC',
    qtyLots: 1,
    reduceOnly: false,
    purpose: 'manual',
    createdTs: Date.now(),
    ...over,
  };
}

describe('reconcile', () => {
  it('cancels orphans, imports missing fills once, records drift, alerts and sets REDUCING', async () => {
    // Known order: in the repo and resting at the venue — not drift.
    const known = await fx.placeResting('buy', 20);
    const knownRec = await orders.putIntent(0, {
      ...intent(20),
      clientOrderId: known,
      type: 'limit',
      timeInForce: 'GTC',
    });
    expect(knownRec.state).toBe('PENDING');
    // Orphan: ours by format, resting at the venue, unknown to the repo.
    const orphan = await fx.placeResting('sell', 21);
    // A fill the repo never got (the engine died between the venue's ack and the journal).
    const market = intent(22);
    const placed = await fx.engine.place(market, fx.inst);
    expect(placed.kind).toBe('ack');
    // In the repo as open, but the venue never saw it (older than the grace period).
    await orders.putIntent(
      0,
      intent(23, { createdTs: Date.now() - 120_000, type: 'limit', timeInForce: 'GTC', priceTicks: 1 }),
    );

    const report = await reconcile(deps({ thresholds: { reduceAt: 1, haltAt: 10 } }), 'run-1');

    const v = report.venues['binance-futures'];
    expect(v?.ok).toBe(true);
    expect(v?.orphans).toEqual([{ clientOrderId: orphan, symbol: SYMBOL, cancelled: true }]);
    expect(v?.missingAtVenue).toEqual([encodeClientOrderId({ shard: 0, epoch: 1, seq: 23 })]);
    expect(v?.fillsImported).toBeGreaterThanOrEqual(1);
    expect(v?.positionMismatches).toEqual([{ symbol: SYMBOL, venueLots: 1, storedLots: 0 }]);
    expect(report.score).toBe(3);
    expect(report.action).toBe('REDUCING');

    // The simulator: the orphan is gone, the known order still rests.
    const open = (await (await fx.readOnly()).openOrders()).map((o) => o.clientOrderId);
    expect(open).toContain(known);
    expect(open).not.toContain(orphan);
    // The fill is stored, the state lowered, the drift recorded, one alert sent.
    const stored = await fills.listFills('binance-futures', 0);
    expect(stored.filter((f) => f.clientOrderId === market.clientOrderId).length).toBeGreaterThanOrEqual(1);
    expect((await state.load(0)).tradingState).toBe('REDUCING');
    const kinds = (await drift.list(utcDay(report.ts))).filter((d) => d.runId === 'run-1').map((d) => d.kind);
    expect(kinds.sort()).toEqual(
      ['missing-fill', 'order-missing-at-venue', 'orphan-order', 'position-mismatch']
        .concat(Array(Math.max(0, (v?.fillsImported ?? 1) - 1)).fill('missing-fill') as string[])
        .sort(),
    );
    const sent = await alerts.receive(10, 0);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body).toMatchObject({ source: 'reconcile', severity: 'critical', id: 'reconcile-run-1' });

    // A second run imports nothing again (stored once) and finds no orphan.
    const again = await reconcile(deps({ thresholds: { reduceAt: 1, haltAt: 10 } }), 'run-2');
    expect(again.venues['binance-futures']?.fillsImported).toBe(0);
    expect(again.venues['binance-futures']?.orphans).toEqual([]);
    expect(stored.length).toBe((await fills.listFills('binance-futures', 0)).length);
  });

  it('an order of ours the repo does not know yet is not an orphan while young (the read model lags the ack)', async () => {
    const id = await fx.placeResting('buy', 40);
    const young = await reconcile(deps({ orphanGraceMs: 60_000 }));
    expect(young.venues['binance-futures']?.orphans).toEqual([]);
    const old = await reconcile(deps({ orphanGraceMs: 0 }));
    expect(old.venues['binance-futures']?.orphans.map((o) => o.clientOrderId)).toEqual([id]);
  });

  it('HALTs through the kill flag when the score reaches haltAt', async () => {
    await fx.placeResting('sell', 30);
    const report = await reconcile(deps({ thresholds: { reduceAt: 1, haltAt: 2 } }), 'run-3');
    // orphan + the still-open position (+ the order the venue never saw) ≥ 2
    expect(report.score).toBeGreaterThanOrEqual(2);
    expect(report.action).toBe('HALTED');
    const s = await state.load(0);
    expect(s.tradingState).toBe('HALTED');
    expect(s.kill).toMatchObject({ by: 'reconcile' });
  });

  it('without a cancel key reports the orphan as not cancelled; an unreachable venue is recorded, not scored', async () => {
    const orphan = await fx.placeResting('buy', 40);
    const report = await reconcile(
      deps({
        cancellers: {},
        venues: {
          'binance-futures': () => fx.readOnly(),
          'kraken-futures': () => Promise.reject(new Error('connect ECONNREFUSED')),
        },
        thresholds: { reduceAt: 100, haltAt: 200 },
      }),
      'run-4',
    );
    expect(report.venues['binance-futures']?.orphans).toEqual([
      {
        clientOrderId: orphan,
        symbol: SYMBOL,
        cancelled: false,
        error: 'no cancel-capable key configured for this venue',
      },
    ]);
    expect(report.venues['kraken-futures']).toMatchObject({ ok: false, error: 'connect ECONNREFUSED' });
    expect(report.action).toBe('none');
    const [alert] = await alerts.receive(10, 0);
    expect(alert?.body.severity).toBe('warning');
    expect(alert?.body.detail).toContain('venue-unreachable');
  });
});
