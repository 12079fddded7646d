/**
 * The engine process as Fargate runs it, configured only by the environment, against the local
 * simulator and embedded DynamoDB: it takes the shard's lease, a second engine is refused, it
 * heartbeats into the engine state, emits EMF metrics, and adopts a stricter state set outside.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startEngineProcess } from '../../fargate/engine-process.ts';
import type { EngineProcess } from '../../fargate/engine-process.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { DynamoEngineStateRepo } from '#store/dynamo/engine-state.ts';
import { startEmbeddedDynamo } from '#store/embedded-dynamo.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('tradewind engine (the Fargate process)', () => {
  it('takes the lease, refuses a second engine on the shard, heartbeats and honours a stricter stored state', async () => {
    const apiKey = `k-${randomBytes(6).toString('hex')}`;
    const apiSecret = randomBytes(32).toString('hex');
    const sim = new ExchangeSimulator({
      intervalMs: 50,
      binanceTrading: { accounts: [{ apiKey, secret: apiSecret, account: 'paper' }] },
    });
    await sim.start();
    cleanups.push(() => sim.stop());
    const dynamo = await startEmbeddedDynamo({ stage: 'test' });
    cleanups.push(() => dynamo.close());
    const base = sim.baseUrl('binance-futures');
    const env = {
      TRADEWIND_STAGE: 'test',
      TRADEWIND_TABLE: dynamo.table,
      TRADEWIND_SHARD: '0',
      TRADEWIND_VENUE: 'binance-futures',
      TRADEWIND_SYMBOLS: 'BTCUSDT',
      TRADEWIND_DYNAMO_ENDPOINT: dynamo.endpoint,
      TRADEWIND_REST_URL: base.rest,
      TRADEWIND_WS_URL: base.ws,
      TRADEWIND_BINANCE_FUTURES_TRADE_API_KEY: apiKey,
      TRADEWIND_BINANCE_FUTURES_TRADE_API_SECRET: apiSecret,
    };
    const logs: string[] = [];
    const proc: EngineProcess = await startEngineProcess(env, (l) => logs.push(l));
    cleanups.push(() => proc.stop(false));
    expect(proc.engine.phase).toBe('READY');
    expect(proc.lease.epoch).toBeGreaterThanOrEqual(1);
    // One active engine per shard.
    await expect(startEngineProcess(env, () => undefined)).rejects.toThrow(/held by another engine/);
    // A stricter state stored by the reconciler is adopted at the next heartbeat (every 10 s).
    const repo = new DynamoEngineStateRepo(dynamo.doc, dynamo.table);
    const rec = await repo.load(0);
    await repo.update(0, rec.version, { tradingState: 'REDUCING' });
    const start = Date.now();
    while (proc.engine.tradingState === 'ACTIVE' && Date.now() - start < 15_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(proc.engine.tradingState).toBe('REDUCING');
    expect((await repo.load(0)).heartbeatTs).toBeGreaterThan(start - 1000);
    // The secret never reaches the logs.
    expect(logs.join('\n')).not.toContain(apiSecret);
  }, 60_000);
});
