/**
 * The read model the control API and the reconcile λ read, projected from the engine's journal
 * (lib/store/read-model-projection.ts), end to end: the engine trades on the simulator with its
 * journal in embedded DynamoDB, and the reconcile λ's core then compares the venue with what the
 * store believes. A resting protective stop must be a known open order (not an orphan to cancel),
 * the position snapshot must equal the venue's position, and fills must be stored — while a
 * genuinely foreign order of ours is still caught.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeClientOrderId } from '#core/client-order-id.ts';
import type { Instrument } from '#core/instrument.ts';
import { parseEngineConfig } from '#engine/config.ts';
import { Engine } from '#engine/engine.ts';
import { MemoryStateStore } from '#engine/state-store.ts';
import { reconcile } from '#functions/reconcile/core.ts';
import { DynamoDriftRepo } from '#functions/reconcile/drift-repo.ts';
import { buildVenueTrading } from '#functions/shared/venues.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { DEFAULT_SYMBOLS } from '#sim/symbols.ts';
import { ControlReadModel } from '#store/dynamo/control-read.ts';
import {
  DynamoEngineStateRepo,
  DynamoFillRepo,
  DynamoOrderRepo,
  DynamoPositionRepo,
} from '#store/dynamo/index.ts';
import { DynamoJournal } from '#store/dynamo/journal.ts';
import { startEmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { alertCodec } from '#store/messages.ts';
import { InProcessQueue } from '#store/queues.ts';
import { ProjectingJournal, ReadModelProjection } from '#store/read-model-projection.ts';
import { EnvSecretStore, envVarNames } from '#store/secrets.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import { cleanupsAfterEach, marketData, waitFor } from '#tests/support/engine-harness.ts';

const VENUE = 'binance-futures' as const;
const SYMBOL = 'BTCUSDT';
const cleanups = cleanupsAfterEach();

const until = waitFor;

const key = () => ({
  apiKey: `k-${randomBytes(6).toString('hex')}`,
  secret: randomBytes(32).toString('hex'),
});

describe('read model projected from the journal (engine + DynamoDB + reconcile core, real sockets)', () => {
  it('a resting protective stop is a known open order, the position snapshot equals the venue, fills are stored; a foreign order of ours is still an orphan', async () => {
    const db = await startEmbeddedDynamo({ stage: 'read-model' });
    cleanups.push(() => db.close());
    const trade = key();
    const cancel = key();
    const read = key();
    const accounts = [trade, cancel, read].map((k) => ({
      apiKey: k.apiKey,
      secret: k.secret,
      account: 'main',
    }));
    const sim = new ExchangeSimulator({
      intervalMs: 50,
      seed: 11,
      symbols: [{ ...DEFAULT_SYMBOLS[VENUE], market: { signalsPerMinute: 40 } }],
      binanceTrading: { accounts },
    });
    await sim.start();
    cleanups.push(() => sim.stop());
    const endpoints = sim.baseUrl(VENUE);

    const epoch = 2;
    const errors: string[] = [];
    const projection = new ReadModelProjection({
      venue: VENUE,
      shard: 0,
      epoch,
      orders: new DynamoOrderRepo(db.doc, db.table),
      positions: new DynamoPositionRepo(db.doc, db.table),
      fills: new DynamoFillRepo(db.doc, db.table),
      onError: (what, err) => errors.push(`${what}: ${err.message}`),
    });
    const journal = new ProjectingJournal(
      await DynamoJournal.open({ doc: db.doc, table: db.table, shard: 0, epoch }),
      projection,
    );
    const trading = new BinanceFuturesTrading({
      endpoints: tradingEndpointsFor(endpoints),
      apiKey: trade.apiKey,
      apiSecret: trade.secret,
    });
    const engine = new Engine({
      venue: VENUE,
      symbols: [SYMBOL],
      epoch,
      config: parseEngineConfig({
        strategy: { defaults: { profitTargetPct: '5', stopLossPct: '1', timeStopSeconds: 600 } },
      }),
      trading,
      journal,
      state: new MemoryStateStore(),
      market: marketData(VENUE, [SYMBOL], endpoints),
    });
    cleanups.push(async () => {
      await engine.stop({ flatten: false });
      await journal.close();
    });
    await engine.start();
    const venuePos = () =>
      sim.binanceTrading.engine.positions('main', VENUE).find((p) => p.symbol === SYMBOL)?.qtyLots ?? 0;
    await until(
      () =>
        venuePos() !== 0 &&
        engine.liveOrders().some((o) => o.intent.purpose === 'protective-stop' && o.state === 'OPEN'),
      60_000,
      'a guarded position',
    );
    const stop = engine.liveOrders().find((o) => o.intent.purpose === 'protective-stop');
    await journal.flush();
    expect(errors).toEqual([]);

    // The control API's view: the stop is an open order of shard 0, OPEN, with its history.
    const reads = new ControlReadModel(db.doc, db.table);
    const open = await reads.openOrders(0);
    const stored = open.find((o) => o.intent.clientOrderId === stop?.clientOrderId);
    expect(stored?.state).toBe('OPEN');
    expect(stored?.intent.purpose).toBe('protective-stop');
    expect(stored?.history.map((h) => h.to)).toEqual(['SUBMITTED', 'OPEN']);
    // The entry, done at the venue, is stored in its final state and no longer listed open.
    const entryId = (await journal.read()).find(
      (r) => r.kind === 'order' && r.event === 'sent' && r.purpose === 'entry',
    )?.clientOrderId as string;
    const entry = await new DynamoOrderRepo(db.doc, db.table).get(entryId);
    expect(['FILLED', 'EXPIRED']).toContain(entry?.state);
    expect(open.map((o) => o.intent.clientOrderId)).not.toContain(entryId);
    const positions = await reads.positions(0);
    expect(positions.find((p) => p.symbol === SYMBOL)?.qtyLots).toBe(venuePos());

    // A foreign order under our id format (placed around the engine) is what an orphan is.
    const inst = trading.instrumentSet.get(SYMBOL) as Instrument;
    const book = sim.truth(VENUE, SYMBOL);
    const foreignId = encodeClientOrderId({ shard: 0, epoch: 99, seq: 1 });
    const placed = await trading.place(
      {
        clientOrderId: foreignId,
        venue: VENUE,
        symbol: SYMBOL,
        side: 'buy',
        type: 'limit',
        timeInForce: 'GTC',
        priceTicks: book.bestBid() - 500,
        qtyLots: 1,
        reduceOnly: false,
        purpose: 'manual',
        createdTs: Date.now(),
      },
      inst,
    );
    expect(placed.kind).toBe('ack');

    // The reconcile λ's core, with the read-only and cancel-only keys as on AWS.
    const cancelNames = envVarNames(VENUE, 'cancel-only');
    const readNames = envVarNames(VENUE, 'read-only');
    const secrets = new EnvSecretStore({
      env: {
        [cancelNames.apiKey]: cancel.apiKey,
        [cancelNames.apiSecret]: cancel.secret,
        [readNames.apiKey]: read.apiKey,
        [readNames.apiSecret]: read.secret,
      },
      envFile: null,
    });
    const bases = { [VENUE]: endpoints };
    const report = await reconcile({
      shards: [0],
      venues: { [VENUE]: () => buildVenueTrading(VENUE, secrets, 'read-only', bases) },
      cancellers: { [VENUE]: () => buildVenueTrading(VENUE, secrets, 'cancel-only', bases) },
      orders: new DynamoOrderRepo(db.doc, db.table),
      fills: new DynamoFillRepo(db.doc, db.table),
      positions: new DynamoPositionRepo(db.doc, db.table),
      state: new DynamoEngineStateRepo(db.doc, db.table),
      drift: new DynamoDriftRepo(db.doc, db.table),
      alerts: new InProcessQueue({ name: 'alerts', codec: alertCodec }),
      now: () => Date.now(),
      orphanGraceMs: 0, // the foreign order below is placed a moment before this run
    });
    const v = report.venues[VENUE];
    // Exactly the foreign order is an orphan; the engine's stop is not, and it still rests.
    expect(v?.orphans.map((o) => o.clientOrderId)).toEqual([foreignId]);
    expect(v?.positionMismatches).toEqual([]);
    expect(v?.fillsImported).toBe(0); // every fill was already stored by the projection
    expect(v?.fillsSeen).toBeGreaterThan(0);
    const stillResting = sim.binanceTrading.engine
      .openOrders('main', VENUE, SYMBOL)
      .map((o) => o.request.clientOrderId);
    expect(stillResting).toContain(stop?.clientOrderId);
    expect(stillResting).not.toContain(foreignId);
  }, 90_000);
});
