/**
 * Control λ: a thin middy shell over functions/control/core.ts.
 *
 * Two triggers (lib/infra/functions-stack.ts):
 * - API Gateway REST (proxy integration, IAM auth on every route): the caller's identity is
 *   `requestContext.identity.userArn`, signed by SigV4 and checked by API Gateway; no identity → 403.
 * - The kill SNS topic (critical CloudWatch alarms): an ALARM notification is a kill by
 *   `alarm:<AlarmName>`, idempotent on the SNS message id. A kill that did not fully succeed
 *   throws, so Lambda's async retries (then the subscription DLQ) take over.
 *
 * Environment: TRADEWIND_STAGE, TRADEWIND_TABLE, TRADEWIND_CONTROL_QUEUE_URL,
 * TRADEWIND_ALERTS_QUEUE_URL, TRADEWIND_SECRET_<VENUE>_CANCEL_ONLY (one per venue: the ARN of its
 * cancel-only key), TRADEWIND_SHARDS (optional, default `0`).
 */
import middy from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, SNSEvent } from 'aws-lambda';
import { ControlReadModel, DynamoEngineStateRepo } from '#store/dynamo/index.ts';
import {
  alertsQueueFrom,
  controlQueueFrom,
  dynamoFrom,
  logPort,
  powertools,
  secretsFrom,
  shardsFrom,
  type Env,
} from '../shared/aws.ts';
import { buildVenueTrading, lazyVenueMap, venuesWithSecret } from '../shared/venues.ts';
import { handleControl, type ControlDeps, type ControlRequest, type ControlResponse } from './core.ts';

export type ControlEvent = APIGatewayProxyEvent | SNSEvent;

function isSns(event: ControlEvent): event is SNSEvent {
  return (
    Array.isArray((event as SNSEvent).Records) && (event as SNSEvent).Records[0]?.EventSource === 'aws:sns'
  );
}

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {}))
    if (k.toLowerCase() === name) return v ?? undefined;
  return undefined;
}

/** API Gateway proxy event → the core's request. Only IAM's verified user ARN counts as identity. */
export function toControlRequest(event: APIGatewayProxyEvent): ControlRequest {
  const userArn = event.requestContext?.identity?.userArn;
  const body =
    event.body === null || event.body === undefined
      ? null
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return {
    method: event.httpMethod,
    path: event.resource && event.resource !== '/{proxy+}' ? event.resource : event.path,
    body,
    identity: typeof userArn === 'string' && userArn !== '' ? userArn : null,
    query: event.queryStringParameters ?? {},
    idempotencyKey: header(event, 'idempotency-key'),
  };
}

export function toProxyResult(res: ControlResponse): APIGatewayProxyResult {
  return {
    statusCode: res.statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(res.body),
  };
}

interface AlarmNotification {
  readonly AlarmName?: string;
  readonly NewStateValue?: string;
  readonly NewStateReason?: string;
}

/** The kill requests an SNS batch asks for (ALARM transitions only; OK/INSUFFICIENT_DATA are ignored). */
export function killRequestsFromSns(event: SNSEvent): ControlRequest[] {
  const out: ControlRequest[] = [];
  for (const r of event.Records) {
    let alarm: AlarmNotification = {};
    try {
      alarm = JSON.parse(r.Sns.Message) as AlarmNotification;
    } catch {
      alarm = {
        AlarmName: r.Sns.Subject ?? 'unknown',
        NewStateValue: 'ALARM',
        NewStateReason: 'non-JSON notification',
      };
    }
    if (alarm.NewStateValue !== 'ALARM') continue;
    const name = alarm.AlarmName ?? r.Sns.Subject ?? 'unknown';
    out.push({
      method: 'POST',
      path: '/kill',
      identity: `alarm:${name}`,
      body: JSON.stringify({
        reason: `alarm ${name}: ${alarm.NewStateReason ?? 'in ALARM'}`.slice(0, 1000),
        id: `sns-${r.Sns.MessageId}`.slice(0, 100),
      }),
    });
  }
  return out;
}

/** The handler over explicit deps (tests, and the env-built default below). */
export function makeControlHandler(
  deps: ControlDeps | (() => ControlDeps),
  tools: { logger: Logger; metrics: Metrics },
) {
  let built: ControlDeps | undefined;
  const get = (): ControlDeps => (built ??= typeof deps === 'function' ? deps() : deps);
  const core = async (event: ControlEvent): Promise<APIGatewayProxyResult | undefined> => {
    const d = { ...get(), log: logPort(tools.logger) };
    if (isSns(event)) {
      for (const req of killRequestsFromSns(event)) {
        const res = await handleControl(d, req);
        tools.metrics.addMetric('AlarmKills', MetricUnit.Count, 1);
        if (res.statusCode !== 200) {
          // Retried by Lambda (idempotent on the SNS message id), then the subscription DLQ.
          throw new Error(
            `alarm kill incomplete (${res.statusCode}): ${String(res.body['summary'] ?? res.body['error'])}`,
          );
        }
      }
      return undefined;
    }
    const req = toControlRequest(event);
    const res = await handleControl(d, req);
    tools.metrics.addMetric(`Control_${res.statusCode}`, MetricUnit.Count, 1);
    return toProxyResult(res);
  };
  return middy(core).use(injectLambdaContext(tools.logger)).use(logMetrics(tools.metrics));
}

/** The deps from the Lambda environment (the CDK bind* helpers set these variables). */
export function controlDepsFromEnv(env: Env = process.env): ControlDeps {
  const { doc, table } = dynamoFrom(env);
  const secrets = secretsFrom(env);
  const venues = venuesWithSecret(env, 'cancel-only');
  const alerts = alertsQueueFrom(env);
  return {
    stage: env['TRADEWIND_STAGE'] ?? 'prod',
    shards: shardsFrom(env),
    state: new DynamoEngineStateRepo(doc, table),
    reads: new ControlReadModel(doc, table),
    control: controlQueueFrom(env),
    ...(alerts ? { alerts } : {}),
    venues: lazyVenueMap(venues, (v) => buildVenueTrading(v, secrets, 'cancel-only')),
    now: () => Date.now(),
  };
}

const tools = powertools('tradewind-control');
export const handler = makeControlHandler(() => controlDepsFromEnv(), tools);
