/**
 * Reconcile λ: a thin middy shell over functions/reconcile/core.ts. Triggered by the EventBridge
 * schedule (every minute) and on demand (a direct invoke with any payload, e.g. `{}` or
 * `{"source":"manual"}`). Reserved concurrency 1 (infra), so runs never overlap.
 *
 * Environment: TRADEWIND_STAGE, TRADEWIND_TABLE, TRADEWIND_ALERTS_QUEUE_URL,
 * TRADEWIND_SECRET_<VENUE>_READ_ONLY (per venue), optionally TRADEWIND_SECRET_<VENUE>_CANCEL_ONLY
 * (orphans are cancelled only where that key is bound), TRADEWIND_SHARDS (default `0`),
 * TRADEWIND_RECONCILE_SYMBOLS (JSON `{"binance-futures":["BTCUSDT"]}`: symbols to check for fills
 * even when nothing is open there).
 */
import middy from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { VenueId } from '#core/instrument.ts';
import {
  DynamoEngineStateRepo,
  DynamoFillRepo,
  DynamoOrderRepo,
  DynamoPositionRepo,
} from '#store/dynamo/index.ts';
import {
  alertsQueueFrom,
  dynamoFrom,
  logPort,
  powertools,
  secretsFrom,
  shardsFrom,
  type Env,
} from '../shared/aws.ts';
import { buildVenueTrading, lazyVenueMap, venuesWithSecret } from '../shared/venues.ts';
import { reconcile, type ReconcileDeps, type ReconcileReport } from './core.ts';
import { DynamoDriftRepo } from './drift-repo.ts';

/** An EventBridge scheduled event has an `id`; reuse it so a retried delivery is the same run. */
function runIdOf(event: unknown): string | undefined {
  const id = (event as { id?: unknown } | null)?.id;
  return typeof id === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(id) ? id : undefined;
}

export function makeReconcileHandler(
  deps: ReconcileDeps | (() => ReconcileDeps),
  tools: { logger: Logger; metrics: Metrics },
) {
  let built: ReconcileDeps | undefined;
  const core = async (event: unknown): Promise<ReconcileReport> => {
    built ??= typeof deps === 'function' ? deps() : deps;
    const report = await reconcile({ ...built, log: logPort(tools.logger) }, runIdOf(event));
    tools.metrics.addMetric('ReconcileDriftScore', MetricUnit.Count, report.score);
    tools.metrics.addMetric('ReconcileFindings', MetricUnit.Count, report.drift);
    return report;
  };
  return middy(core).use(injectLambdaContext(tools.logger)).use(logMetrics(tools.metrics));
}

function symbolsFrom(env: Env): Partial<Record<VenueId, string[]>> | undefined {
  const raw = env['TRADEWIND_RECONCILE_SYMBOLS'];
  if (raw === undefined || raw === '') return undefined;
  return JSON.parse(raw) as Partial<Record<VenueId, string[]>>;
}

export function reconcileDepsFromEnv(env: Env = process.env): ReconcileDeps {
  const { doc, table } = dynamoFrom(env);
  const secrets = secretsFrom(env);
  const alerts = alertsQueueFrom(env);
  if (alerts === undefined) throw new Error('environment variable TRADEWIND_ALERTS_QUEUE_URL is not set');
  const symbols = symbolsFrom(env);
  return {
    shards: shardsFrom(env),
    venues: lazyVenueMap(venuesWithSecret(env, 'read-only'), (v) =>
      buildVenueTrading(v, secrets, 'read-only'),
    ),
    cancellers: lazyVenueMap(venuesWithSecret(env, 'cancel-only'), (v) =>
      buildVenueTrading(v, secrets, 'cancel-only'),
    ),
    orders: new DynamoOrderRepo(doc, table),
    fills: new DynamoFillRepo(doc, table),
    positions: new DynamoPositionRepo(doc, table),
    state: new DynamoEngineStateRepo(doc, table),
    drift: new DynamoDriftRepo(doc, table),
    alerts,
    now: () => Date.now(),
    ...(symbols ? { symbols } : {}),
  };
}

const tools = powertools('tradewind-reconcile');
export const handler = makeReconcileHandler(() => reconcileDepsFromEnv(), tools);
