import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '#store/embedded-dynamo.ts';
import {
  ControlReadModel,
  DynamoEngineStateRepo,
  DynamoFillRepo,
  DynamoJournal,
  DynamoLeaseRepo,
  DynamoOrderRepo,
  DynamoPositionRepo,
  VersionConflictError,
  ensureTable,
} from '#store/dynamo/index.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';

let db: EmbeddedDynamo;
beforeAll(async () => {
  db = await startEmbeddedDynamo({ stage: 'repos' });
});
afterAll(async () => {
  await db.close();
});

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

function fill(over: Partial<Fill> = {}): Fill {
  return {
    venue: 'binance-futures',
    symbol: 'BTCUSDT',
    tradeId: '1001',
    clientOrderId: 'tw01000000200000a1',
    side: 'buy',
    priceTicks: 650_000,
    qtyLots: 3,
    fee: '0.0123',
    feeAsset: 'USDT',
    liquidity: 'taker',
    ts: T0,
    ...over,
  };
}

function intent(id: string, over: Partial<OrderIntent> = {}): OrderIntent {
  return {
    clientOrderId: id,
    venue: 'binance-futures',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTC',
    priceTicks: 650_000,
    qtyLots: 3,
    reduceOnly: false,
    purpose: 'entry',
    createdTs: T0,
    ...over,
  };
}

describe('embedded table', () => {
  it('creating the table again is a no-op', async () => {
    await expect(ensureTable(db.client, db.table)).resolves.toBeUndefined();
  });
});

describe('DynamoFillRepo', () => {
  it('stores a fill once under 50 concurrent redeliveries', async () => {
    const repo = new DynamoFillRepo(db.doc, db.table);
    const results = await Promise.all(Array.from({ length: 50 }, () => repo.putFill(fill(), 1)));
    expect(results.filter((r) => r === 'stored')).toHaveLength(1);
    expect(results.filter((r) => r === 'duplicate')).toHaveLength(49);
    expect(await repo.getFill('binance-futures', 'BTCUSDT', '1001')).toEqual(fill());
  });

  it('keeps fills with the same trade id on different symbols apart (Binance numbers trades per symbol)', async () => {
    const repo = new DynamoFillRepo(db.doc, db.table);
    expect(await repo.putFill(fill({ symbol: 'ETHUSDT', tradeId: '1001' }))).toBe('stored');
  });

  it('a redelivery that disagrees with the stored fill is an invariant error', async () => {
    const repo = new DynamoFillRepo(db.doc, db.table);
    await expect(repo.putFill(fill({ qtyLots: 4 }))).rejects.toMatchObject({
      kind: 'invariant',
      code: 'FILL_CONFLICT',
    });
  });

  it('lists a venue’s fills since a time, oldest first', async () => {
    const repo = new DynamoFillRepo(db.doc, db.table);
    await repo.putFill(fill({ venue: 'kraken-spot', symbol: 'XBT/USD', tradeId: 'A', ts: T0 - 10 }));
    await repo.putFill(fill({ venue: 'kraken-spot', symbol: 'XBT/USD', tradeId: 'B', ts: T0 }));
    await repo.putFill(fill({ venue: 'kraken-spot', symbol: 'XBT/USD', tradeId: 'C', ts: T0 + 10 }));
    expect((await repo.listFills('kraken-spot', T0)).map((f) => f.tradeId)).toEqual(['B', 'C']);
  });
});

describe('DynamoEngineStateRepo', () => {
  it('kill flag: the first reason wins, it halts, and only an audited resume clears it', async () => {
    const repo = new DynamoEngineStateRepo(db.doc, db.table);
    await repo.heartbeat(1, 2, 'ACTIVE', T0);
    const killed = await repo.setKill(1, { reason: 'DAILY_LOSS', by: 'risk:DAILY_LOSS', ts: T0 + 1 });
    expect(killed.kill).toEqual({ reason: 'DAILY_LOSS', by: 'risk:DAILY_LOSS', ts: T0 + 1 });
    expect(killed.tradingState).toBe('HALTED');
    const again = await Promise.all([
      repo.setKill(1, { reason: 'operator', by: 'control', ts: T0 + 2 }),
      repo.setKill(1, { reason: 'ctrl-c', by: 'ctrl-c', ts: T0 + 3 }),
    ]);
    expect(again.map((s) => s.kill?.reason)).toEqual(['DAILY_LOSS', 'DAILY_LOSS']);
    // The engine cannot heartbeat itself back to ACTIVE, nor a stale CAS write clear the state.
    await repo.heartbeat(1, 2, 'ACTIVE', T0 + 4);
    const s = await repo.load(1);
    expect(s).toMatchObject({ tradingState: 'HALTED', heartbeatTs: T0 + 4, kill: { reason: 'DAILY_LOSS' } });
    await expect(repo.update(1, s.version, { tradingState: 'ACTIVE' })).rejects.toMatchObject({
      code: 'KILLED',
    });
    await expect(repo.clearKill(1, '', '', T0)).rejects.toThrow(/who and why/);
    const resumed = await repo.clearKill(1, 'ops@desk', 'loss reviewed', T0 + 5);
    expect(resumed).toMatchObject({ kill: null, tradingState: 'ACTIVE' });
    const trail = await repo.auditTrail(1);
    // Newest first.
    expect(trail.map((a) => `${a.action}:${a.reason}`)).toEqual([
      'resume:loss reviewed',
      'kill:ctrl-c',
      'kill:operator',
      'kill:DAILY_LOSS',
    ]);
    expect(trail).toHaveLength(4);
  });

  it('compare-and-set on version: the loser of a race gets a version conflict', async () => {
    const repo = new DynamoEngineStateRepo(db.doc, db.table);
    const s0 = await repo.load(2);
    expect(s0.version).toBe(0);
    const results = await Promise.allSettled([
      repo.update(2, 0, { tradingState: 'REDUCING' }),
      repo.update(2, 0, { tradingState: 'ACTIVE' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(VersionConflictError);
    expect((await repo.load(2)).version).toBe(1);
  });

  it('sequence reservations are monotonic and fenced by epoch', async () => {
    const repo = new DynamoEngineStateRepo(db.doc, db.table);
    await repo.reserveSeq(3, 1, 100);
    await repo.reserveSeq(3, 1, 50); // already reserved further: no-op
    expect(await repo.load(3)).toMatchObject({ epoch: 1, nextSeq: 100 });
    await repo.reserveSeq(3, 2, 10); // new epoch starts its own range
    expect(await repo.load(3)).toMatchObject({ epoch: 2, nextSeq: 10 });
    await expect(repo.reserveSeq(3, 1, 200)).rejects.toMatchObject({ code: 'FENCED' });
    await expect(repo.heartbeat(3, 1, 'ACTIVE', T0)).rejects.toMatchObject({ code: 'FENCED' });
  });
});

describe('DynamoOrderRepo', () => {
  it('stores the intent once, appends legal transitions on version, and lists open orders', async () => {
    const repo = new DynamoOrderRepo(db.doc, db.table);
    const o = await repo.putIntent(7, intent('tw07000000100000001'));
    expect(o).toMatchObject({ state: 'PENDING', version: 1 });
    expect(await repo.putIntent(7, intent('tw07000000100000001'))).toMatchObject({ version: 1 });
    await expect(repo.putIntent(7, intent('tw07000000100000001', { qtyLots: 9 }))).rejects.toMatchObject({
      code: 'ORDER_ID_REUSED',
    });
    await repo.putIntent(7, intent('tw07000000100000002'));
    const sub = await repo.appendState('tw07000000100000001', 1, {
      from: 'PENDING',
      to: 'SUBMITTED',
      ts: T0,
      reason: 'sent',
    });
    expect(sub).toMatchObject({ state: 'SUBMITTED', version: 2 });
    await expect(
      repo.appendState('tw07000000100000001', 1, { from: 'PENDING', to: 'SUBMITTED', ts: T0, reason: 'dup' }),
    ).rejects.toBeInstanceOf(VersionConflictError);
    await expect(
      repo.appendState('tw07000000100000001', 2, { from: 'SUBMITTED', to: 'PENDING', ts: T0, reason: 'x' }),
    ).rejects.toMatchObject({ code: 'ILLEGAL_TRANSITION' });
    await repo.appendState('tw07000000100000001', 2, {
      from: 'SUBMITTED',
      to: 'FILLED',
      ts: T0 + 1,
      reason: 'fill',
    });
    const done = await repo.get('tw07000000100000001');
    expect(done?.history.map((h) => h.to)).toEqual(['SUBMITTED', 'FILLED']);
    expect((await repo.openOrders(7)).map((x) => x.intent.clientOrderId)).toEqual(['tw07000000100000002']);
  });
});

describe('ControlReadModel', () => {
  it('answers status, open orders, positions and P&L today', async () => {
    const leases = new DynamoLeaseRepo(db.doc, db.table);
    const state = new DynamoEngineStateRepo(db.doc, db.table);
    const positions = new DynamoPositionRepo(db.doc, db.table);
    const lease = (await leases.acquire(9, 'engine-a', 10_000, T0))!;
    await state.heartbeat(9, lease.epoch, 'ACTIVE', T0);
    const base = {
      shard: 9,
      venue: 'binance-futures',
      avgEntryPrice: '65000.1',
      day: '20261121',
      epoch: lease.epoch,
      ts: T0,
    } as const;
    await positions.put({ ...base, symbol: 'BTCUSDT', qtyLots: 3, realizedPnlDay: '12.5' });
    await positions.put({ ...base, symbol: 'ETHUSDT', qtyLots: -1, realizedPnlDay: '-0.25' });
    await positions.put({ ...base, symbol: 'SOLUSDT', qtyLots: 0, realizedPnlDay: '100', day: '20261120' });
    await expect(
      positions.put({ ...base, symbol: 'BTCUSDT', qtyLots: 0, realizedPnlDay: '0', epoch: 0 }),
    ).rejects.toMatchObject({ code: 'FENCED' });
    const read = new ControlReadModel(db.doc, db.table);
    expect(await read.status(9, T0 + 1)).toMatchObject({
      engineAlive: true,
      lease: { owner: 'engine-a' },
      state: { tradingState: 'ACTIVE' },
    });
    expect((await read.positions(9)).map((p) => p.symbol).sort()).toEqual(['BTCUSDT', 'ETHUSDT', 'SOLUSDT']);
    expect(await read.pnlToday(9, T0)).toBe('12.25');
    expect(await read.openOrders(9)).toEqual([]);
  });
});

describe('secrets', () => {
  it('no item in the table holds a secret, whatever the repositories were given', async () => {
    const SECRET = 'sk-live-9b1c-DO-NOT-STORE';
    const j = new DynamoJournal({ doc: db.doc, table: db.table, shard: 42, epoch: 1 });
    j.append({
      kind: 'fill',
      ts: T0,
      fill: fill({ tradeId: 'S1' }),
      auth: { apiKey: SECRET, apiSecret: SECRET },
    });
    j.append({ kind: 'order', ts: T0, wire: { signature: SECRET }, intent: intent('tw42000000100000001') });
    await j.flush();
    const orders = new DynamoOrderRepo(db.doc, db.table);
    await orders.putIntent(42, {
      ...intent('tw42000000100000002'),
      ...({ signature: SECRET } as object),
    });
    await new DynamoFillRepo(db.doc, db.table).putFill({
      ...fill({ tradeId: 'S2' }),
      ...({ apiSecret: SECRET } as object),
    });
    await new DynamoEngineStateRepo(db.doc, db.table).setKill(42, { reason: 'test', by: 'control', ts: T0 });
    const all = await db.doc.send(new ScanCommand({ TableName: db.table }));
    expect(all.Items!.length).toBeGreaterThan(5);
    expect(JSON.stringify(all.Items)).not.toContain(SECRET);
  });
});
