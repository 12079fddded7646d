import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Money } from '#core/money.ts';
import type { Fill } from '#core/trading.ts';
import type { JournalRecord } from '#engine/journal.ts';
import { DynamoFillRepo, DynamoOrderRepo, DynamoPositionRepo } from '#store/dynamo/index.ts';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { ReadModelProjection } from '#store/read-model-projection.ts';

let db: EmbeddedDynamo;
beforeAll(async () => {
  db = await startEmbeddedDynamo({ stage: 'projection' });
});
afterAll(async () => {
  await db.close();
});

const T0 = Date.UTC(2026, 10, 22, 9, 0, 0);

function projection(errors: string[] = [], epoch = 3) {
  return new ReadModelProjection({
    venue: 'binance-futures',
    shard: 4,
    epoch,
    orders: new DynamoOrderRepo(db.doc, db.table),
    positions: new DynamoPositionRepo(db.doc, db.table),
    fills: new DynamoFillRepo(db.doc, db.table),
    onError: (what, err) => errors.push(`${what}: ${err.message}`),
  });
}

/** An order record as execution journals it (lib/engine/execution.ts journalOrder). */
function orderRecord(
  id: string,
  event: string,
  state: string,
  ts: number,
  over: Record<string, unknown> = {},
): JournalRecord {
  return {
    kind: 'order',
    ts,
    event,
    clientOrderId: id,
    state,
    symbol: 'BTCUSDT',
    side: 'sell',
    type: 'stop-market',
    tif: 'GTC',
    triggerTicks: 998_500,
    qtyLots: 5,
    reduceOnly: true,
    purpose: 'protective-stop',
    filledLots: 0,
    ...over,
  };
}

function fill(id: string, tradeId: string, qtyLots: number): Fill {
  return {
    venue: 'binance-futures',
    symbol: 'BTCUSDT',
    tradeId,
    clientOrderId: id,
    side: 'sell',
    priceTicks: 998_400,
    qtyLots,
    fee: '0.04',
    feeAsset: 'USDT',
    liquidity: 'taker',
    ts: T0 + 5,
  };
}

describe('ReadModelProjection (embedded DynamoDB)', () => {
  it('projects an order through its lifecycle, including the states fills move it to; a terminal order leaves the open list', async () => {
    const p = projection();
    const id = 'tw04000000300000a1';
    p.observe(orderRecord(id, 'decided', 'PENDING', T0));
    p.observe(orderRecord(id, 'sent', 'SUBMITTED', T0 + 1));
    p.observe(orderRecord(id, 'cancel-requested', 'SUBMITTED', T0 + 1)); // no change of state
    p.observe(orderRecord(id, 'ack', 'OPEN', T0 + 2));
    const orders = new DynamoOrderRepo(db.doc, db.table);
    await p.flush();
    expect((await orders.openOrders(4)).map((o) => o.intent.clientOrderId)).toContain(id);
    p.observe({
      kind: 'fill',
      ts: T0 + 5,
      fill: fill(id, 't1', 2),
      orderState: 'PARTIALLY_FILLED',
      from: 'OPEN',
    });
    p.observe({
      kind: 'fill',
      ts: T0 + 6,
      fill: fill(id, 't2', 3),
      orderState: 'FILLED',
      from: 'PARTIALLY_FILLED',
    });
    await p.flush();
    const stored = await orders.get(id);
    expect(stored?.state).toBe('FILLED');
    expect(stored?.intent.triggerTicks).toBe(998_500);
    expect(stored?.history.map((h) => [h.from, h.to, h.reason])).toEqual([
      ['PENDING', 'SUBMITTED', 'sent'],
      ['SUBMITTED', 'OPEN', 'ack'],
      ['OPEN', 'PARTIALLY_FILLED', 'fill'],
      ['PARTIALLY_FILLED', 'FILLED', 'fill'],
    ]);
    expect((await orders.openOrders(4)).map((o) => o.intent.clientOrderId)).not.toContain(id);
    const fills = new DynamoFillRepo(db.doc, db.table);
    expect((await fills.getFill('binance-futures', 'BTCUSDT', 't2'))?.qtyLots).toBe(3);
    expect(p.failures).toBe(0);
  });

  it('after a restart (a new projection) carries on from the stored state, without re-creating the order', async () => {
    const id = 'tw04000000300000a2';
    const first = projection();
    first.observe(orderRecord(id, 'decided', 'PENDING', T0));
    first.observe(orderRecord(id, 'sent', 'SUBMITTED', T0 + 1));
    await first.flush();
    // The next process sees the order first in a later record (ts differs from the stored intent's).
    const errors: string[] = [];
    const second = projection(errors, 4);
    second.observe(orderRecord(id, 'query', 'OPEN', T0 + 60_000));
    second.observe(orderRecord(id, 'cancel', 'CANCELLED', T0 + 61_000));
    await second.flush();
    expect(errors).toEqual([]);
    const stored = await new DynamoOrderRepo(db.doc, db.table).get(id);
    expect(stored?.state).toBe('CANCELLED');
    expect(stored?.intent.createdTs).toBe(T0);
  });

  it('reports a transition the FSM forbids (never throws into the engine), and keeps the stored truth', async () => {
    const id = 'tw04000000300000a3';
    const errors: string[] = [];
    const p = projection(errors);
    p.observe(orderRecord(id, 'decided', 'PENDING', T0));
    p.observe(orderRecord(id, 'sent', 'SUBMITTED', T0 + 1));
    p.observe(orderRecord(id, 'rejected', 'REJECTED', T0 + 2));
    p.observe(orderRecord(id, 'stream', 'OPEN', T0 + 3)); // REJECTED is terminal
    await p.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/stored REJECTED cannot become OPEN/);
    expect(p.failures).toBe(1);
    expect((await new DynamoOrderRepo(db.doc, db.table).get(id))?.state).toBe('REJECTED');
  });

  it('walks the item through states the journal skipped (a lost write), and ignores a restart’s UNKNOWN for an order already past it', async () => {
    const id = 'tw04000000300000a4';
    const errors: string[] = [];
    const p = projection(errors);
    p.observe(orderRecord(id, 'decided', 'PENDING', T0));
    p.observe(orderRecord(id, 'ack', 'OPEN', T0 + 2)); // SUBMITTED never reached the projection
    await p.flush();
    const orders = new DynamoOrderRepo(db.doc, db.table);
    expect((await orders.get(id))?.history.map((h) => [h.from, h.to, h.reason])).toEqual([
      ['PENDING', 'SUBMITTED', 'ack (via)'],
      ['SUBMITTED', 'OPEN', 'ack'],
    ]);
    const restarted = projection(errors, 4);
    restarted.observe(orderRecord(id, 'restored', 'UNKNOWN', T0 + 60_000));
    restarted.observe(orderRecord(id, 'query', 'OPEN', T0 + 60_001));
    await restarted.flush();
    expect(errors).toEqual([]);
    expect((await orders.get(id))?.state).toBe('OPEN');
  });

  it('writes the position snapshot with exact decimal text, fenced by the epoch', async () => {
    const p = projection([], 7);
    p.observe({
      kind: 'position',
      ts: T0,
      symbol: 'ETHUSDT',
      lots: -12,
      avgEntryPrice: '3012.45',
      realizedPnlDay: new Money('-1.000000000000000001'),
    });
    await p.flush();
    const snap = (await new DynamoPositionRepo(db.doc, db.table).list(4)).find((s) => s.symbol === 'ETHUSDT');
    expect(snap).toMatchObject({
      qtyLots: -12,
      avgEntryPrice: '3012.45',
      realizedPnlDay: '-1.000000000000000001',
      epoch: 7,
      day: '20261122', // the table's UTC day key (yyyymmdd), as pnlToday reads it
    });
    // An older epoch cannot overwrite it: reported, not thrown.
    const errors: string[] = [];
    const stale = projection(errors, 6);
    stale.observe({
      kind: 'position',
      ts: T0 + 1,
      symbol: 'ETHUSDT',
      lots: 0,
      avgEntryPrice: '0',
      realizedPnlDay: '0',
    });
    await stale.flush();
    expect(errors[0]).toMatch(/fenced/);
  });
});
