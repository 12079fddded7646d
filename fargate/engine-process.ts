/**
 * The engine process as it runs in Fargate (one task per shard): configuration from the
 * environment, the lease (one active engine per shard, fencing epoch in every client order id),
 * the journal and engine state on DynamoDB, venue keys injected from Secrets Manager as
 * environment variables, the control queue, heartbeat and metrics. The same Engine as `npm start`.
 *
 * Environment:
 *   TRADEWIND_STAGE, TRADEWIND_TABLE, TRADEWIND_SHARD (default 0), TRADEWIND_VENUE, TRADEWIND_SYMBOLS,
 *   TRADEWIND_CONTROL_QUEUE_URL (optional), TRADEWIND_CONFIG (engine config JSON file, optional),
 *   TRADEWIND_<VENUE>_TRADE_API_KEY / _API_SECRET (injected secrets),
 *   local overrides: TRADEWIND_DYNAMO_ENDPOINT, TRADEWIND_REST_URL + TRADEWIND_WS_URL (a simulator).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DataError } from '#core/errors.ts';
import { isVenueId } from '#core/instrument.ts';
import type { VenueId } from '#core/instrument.ts';
import { parseEngineConfig } from '#engine/config.ts';
import { runControlInbox } from '#engine/control-inbox.ts';
import { Engine } from '#engine/engine.ts';
import { EngineMetric } from '#infra/metrics.ts';
import { DynamoEngineStateRepo } from '#store/dynamo/engine-state.ts';
import { openProjectedJournal } from '#store/read-model-projection.ts';
import { DynamoLeaseRepo } from '#store/dynamo/lease.ts';
import { documentClient } from '#store/embedded-dynamo.ts';
import { controlCodec } from '#store/messages.ts';
import type { ControlMessage, Lease } from '#store/ports.ts';
import { SqsQueue } from '#store/queues.ts';
import { EnvSecretStore } from '#store/secrets.ts';
import { MarketDataClient } from '#venues/market-data.ts';
import type { MarketEvent } from '#venues/market-data.ts';
import { LIVE_ENDPOINTS } from '#venues/market-protocols.ts';
import type { VenueEndpoints } from '#venues/market-protocols.ts';
import { createTrading } from '#venues/trading-factory.ts';
import { DynamoStateStore } from '#store/dynamo/sync-state-store.ts';
import { EmfMetrics } from './metrics.ts';

const LEASE_TTL_MS = 30_000;
const RENEW_EVERY_MS = 10_000;
const HEARTBEAT_EVERY_MS = 10_000;

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new DataError('BAD_CONFIG', `environment variable ${name} is required`);
  return v;
}

export interface EngineProcess {
  readonly engine: Engine;
  readonly lease: Lease;
  /** Resolves when the process should exit (signal, fenced out, fatal store error). */
  readonly done: Promise<string>;
  stop(flatten: boolean): Promise<void>;
}

export async function startEngineProcess(
  env: NodeJS.ProcessEnv = process.env,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<EngineProcess> {
  const stage = required(env, 'TRADEWIND_STAGE');
  const table = required(env, 'TRADEWIND_TABLE');
  const venueText = required(env, 'TRADEWIND_VENUE');
  if (!isVenueId(venueText)) throw new DataError('BAD_CONFIG', `TRADEWIND_VENUE ${venueText} is not a venue`);
  const venue: VenueId = venueText;
  const symbols = required(env, 'TRADEWIND_SYMBOLS')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const shard = Number(env.TRADEWIND_SHARD ?? '0');
  if (!Number.isInteger(shard) || shard < 0)
    throw new DataError('BAD_CONFIG', 'TRADEWIND_SHARD must be a whole number');
  const config = parseEngineConfig(
    env.TRADEWIND_CONFIG ? (JSON.parse(readFileSync(env.TRADEWIND_CONFIG, 'utf8')) as unknown) : {},
  );
  const endpoints: VenueEndpoints =
    env.TRADEWIND_REST_URL && env.TRADEWIND_WS_URL
      ? { rest: env.TRADEWIND_REST_URL, ws: env.TRADEWIND_WS_URL }
      : LIVE_ENDPOINTS[venue];
  const dynamo = new DynamoDBClient(
    env.TRADEWIND_DYNAMO_ENDPOINT
      ? {
          endpoint: env.TRADEWIND_DYNAMO_ENDPOINT,
          region: 'local',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {},
  );
  const doc = documentClient(dynamo);
  const metrics = new EmfMetrics(stage, shard);

  // One active engine per shard: take the lease, or stop here.
  const owner = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const leases = new DynamoLeaseRepo(doc, table);
  const lease = await leases.acquire(shard, owner, LEASE_TTL_MS, Date.now());
  if (!lease)
    throw new DataError('LEASE_HELD', `shard ${shard} is held by another engine; this one will not trade`);
  log(`engine process: lease on shard ${shard}, epoch ${lease.epoch}`);

  let resolveDone: (why: string) => void = () => undefined;
  const done = new Promise<string>((r) => (resolveDone = r));
  const stateRepo = new DynamoEngineStateRepo(doc, table);
  const state = await DynamoStateStore.open(stateRepo, shard, (err) => {
    log(`engine process: engine state cannot be written: ${err.message}`);
    resolveDone('state store unreachable');
  });
  // The journal, with the read model (orders, positions, fills) the control API and the reconcile
  // λ read projected from it.
  const journal = await openProjectedJournal({
    doc,
    table,
    shard,
    epoch: lease.epoch,
    venue,
    onError: (what, err) => log(`engine process: read model: ${what}: ${err.message}`),
  });
  const creds = await new EnvSecretStore({ env }).credentials(venue, 'trade');
  const trading = createTrading(venue, creds, env.TRADEWIND_REST_URL ? endpoints : undefined, {
    protectiveStops: config.protectiveStop.enabled,
  });
  const engine = new Engine({
    venue,
    symbols,
    config,
    trading,
    journal,
    state,
    shard,
    epoch: lease.epoch,
    onLog: log,
    market: (hooks) =>
      new MarketDataClient({
        venue,
        symbols,
        endpoints,
        onBook: hooks.onBook,
        onReceive: hooks.onReceive,
        onEvent: (e: MarketEvent) => {
          if (e.type === 'resync') metrics.count(EngineMetric.bookResync);
          if (e.type === 'connection' && e.event.type === 'close' && !e.event.planned)
            metrics.count(EngineMetric.wsDisconnect);
          if (
            e.type === 'connection' &&
            e.event.type === 'rejected' &&
            (e.event.status === 429 || e.event.status === 418)
          ) {
            metrics.count(EngineMetric.rateLimited);
          }
        },
      }),
  });

  const timers: NodeJS.Timeout[] = [];
  // Lease renewal: a fenced-out engine stops trading at once.
  let current = lease;
  timers.push(
    setInterval(() => {
      void leases.renew(current, LEASE_TTL_MS, Date.now()).then(
        (ok) => {
          if (ok) current = { ...current, expiresAt: Date.now() + LEASE_TTL_MS };
          else resolveDone('lease lost (fenced out)');
        },
        (err: Error) => log(`engine process: lease renewal failed: ${err.message}`),
      );
    }, RENEW_EVERY_MS),
  );
  let lastOrders = 0;
  let lastRejects = 0;
  timers.push(
    setInterval(() => {
      const s = engine.snapshot();
      const rejects = Object.values(s.rejections).reduce((a, b) => a + b, 0);
      metrics.count(EngineMetric.orderSent, s.orders - lastOrders);
      metrics.count(EngineMetric.orderRejected, rejects - lastRejects);
      lastOrders = s.orders;
      lastRejects = rejects;
      const lossLimit = config.risk.account.dailyLossLimit.abs();
      const loss = s.pnl.isNegative() ? s.pnl.abs() : s.pnl.times(0);
      metrics.flush({
        [EngineMetric.killSwitchActive]: s.kill ? 1 : 0,
        [EngineMetric.dailyLossUsedPercent]: lossLimit.gt(0) ? loss.div(lossLimit).times(100).toNumber() : 0,
      });
      // The reconciler may have set a stricter state on drift: adopt it before reporting ours.
      void stateRepo
        .load(shard)
        .then((rec) => {
          if (rec.tradingState !== 'ACTIVE')
            engine.adoptExternalState(rec.tradingState, 'set in the engine state (reconcile drift)');
          return stateRepo.heartbeat(shard, current.epoch, engine.tradingState, Date.now());
        })
        .catch((err: Error) => log(`engine process: heartbeat failed: ${err.message}`));
    }, HEARTBEAT_EVERY_MS),
  );

  // The control inbox: kill / resume / reconcile from the control λ.
  const queueUrl = env.TRADEWIND_CONTROL_QUEUE_URL;
  const stopInbox = queueUrl
    ? runControlInbox(
        new SqsQueue<ControlMessage>({ client: new SQSClient({}), queueUrl, codec: controlCodec }),
        engine,
        journal,
        log,
      )
    : () => undefined;

  await engine.start();
  return {
    engine,
    lease,
    done,
    stop: async (flatten) => {
      stopInbox();
      for (const t of timers) clearInterval(t);
      await engine.stop({ flatten });
      await state.flush();
      await journal.close();
      await leases.release(current).catch(() => undefined);
      dynamo.destroy();
    },
  };
}
