/**
 * Alert λ: a thin middy shell over functions/alert/core.ts. Three event shapes:
 * - SQS (the alerts queue, `reportBatchItemFailures`): answers `{ batchItemFailures }`;
 * - SNS (the alarm topic: CloudWatch alarm notifications): throws when a post failed, so Lambda's
 *   async retries (then the subscription DLQ) take over; already-posted ones are deduplicated;
 * - an EventBridge scheduled event: the daily summary of the UTC day containing `now − 12 h` (a
 *   rule at 00:05 UTC summarises yesterday). Needs the table bound (TRADEWIND_TABLE).
 *
 * Environment: TRADEWIND_STAGE, TRADEWIND_SECRET_SLACK_WEBHOOK (the secret's ARN),
 * TRADEWIND_ALERT_CHANNEL (optional), TRADEWIND_TABLE (optional: cross-container dedup and the
 * daily summary), TRADEWIND_SHARDS (default `0`).
 */
import middy from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { SNSEvent, SQSEvent } from 'aws-lambda';
import { ControlReadModel, readJournalDay } from '#store/dynamo/index.ts';
import { dynamoFrom, logPort, powertools, secretsFrom, shardsFrom, type Env } from '../shared/aws.ts';
import {
  fetchSlackPost,
  handleAlarmNotifications,
  handleAlertBatch,
  InMemoryAlertDedup,
  postDailySummary,
  SourceRateLimiter,
  type AlertDeps,
  type BatchResult,
  type DailySummary,
  type SummarySource,
} from './core.ts';
import { DynamoAlertDedup } from './dedup-repo.ts';

export interface AlertHandlerDeps {
  readonly alert: AlertDeps;
  readonly summary?: { readonly source: SummarySource; readonly shards: readonly number[] };
}

type AlertEvent = SQSEvent | SNSEvent | { readonly 'detail-type'?: string; readonly time?: string };

function records(event: AlertEvent): Array<Record<string, unknown>> {
  const r = (event as { Records?: unknown }).Records;
  return Array.isArray(r) ? (r as Array<Record<string, unknown>>) : [];
}

export function makeAlertHandler(
  deps: AlertHandlerDeps | (() => AlertHandlerDeps),
  tools: { logger: Logger; metrics: Metrics },
) {
  let built: AlertHandlerDeps | undefined;
  const core = async (event: AlertEvent): Promise<BatchResult | DailySummary | undefined> => {
    built ??= typeof deps === 'function' ? deps() : deps;
    const alert: AlertDeps = { ...built.alert, log: logPort(tools.logger) };
    const recs = records(event);
    if (recs.length > 0 && recs[0]?.['eventSource'] === 'aws:sqs') {
      const result = await handleAlertBatch(alert, (event as SQSEvent).Records);
      tools.metrics.addMetric('AlertFailures', MetricUnit.Count, result.batchItemFailures.length);
      return result;
    }
    if (recs.length > 0 && recs[0]?.['EventSource'] === 'aws:sns') {
      await handleAlarmNotifications(alert, (event as SNSEvent).Records);
      return undefined;
    }
    if (built.summary === undefined) throw new Error('daily summary needs TRADEWIND_TABLE (the read model)');
    return postDailySummary(alert, built.summary.source, built.summary.shards, alert.now() - 12 * 3_600_000);
  };
  return middy(core).use(injectLambdaContext(tools.logger)).use(logMetrics(tools.metrics));
}

export function alertDepsFromEnv(env: Env = process.env): AlertHandlerDeps {
  const secrets = secretsFrom(env);
  const hasTable = (env['TRADEWIND_TABLE'] ?? '') !== '';
  const db = hasTable ? dynamoFrom(env) : null;
  const channel = env['TRADEWIND_ALERT_CHANNEL'];
  const alert: AlertDeps = {
    secrets,
    post: fetchSlackPost,
    dedup: db ? new DynamoAlertDedup(db.doc, db.table) : new InMemoryAlertDedup(),
    limiter: new SourceRateLimiter(10, 60_000),
    now: () => Date.now(),
    ...(channel ? { channel } : {}),
  };
  if (!db) return { alert };
  const reads = new ControlReadModel(db.doc, db.table);
  return {
    alert,
    summary: {
      shards: shardsFrom(env),
      source: {
        journalDay: (shard, day) => readJournalDay(db.doc, db.table, shard, day),
        pnlToday: (shard, now) => reads.pnlToday(shard, now),
      },
    },
  };
}

const tools = powertools('tradewind-alert');
export const handler = makeAlertHandler(() => alertDepsFromEnv(), tools);
