/**
 * The AWS side of the functions' wiring, shared by the three handlers: environment reading, the
 * Powertools logger/metrics, and the store adapters built from the variables the CDK `bind*`
 * helpers set (lib/infra/tradewind-function.ts). Nothing here runs at import time: a handler builds
 * its dependencies on the first invocation, so tests can import the module without AWS.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { VenueId } from '#core/instrument.ts';
import { alertCodec, controlCodec } from '#store/messages.ts';
import type { AlertMessage, ControlMessage, SecretPurpose } from '#store/ports.ts';
import { SqsQueue } from '#store/queues.ts';
import { secretName, SecretsManagerStore } from '#store/secrets.ts';
import type { LogPort } from './ports.ts';
import { secretEnvName } from './venues.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
}

/** `TRADEWIND_SHARDS=0,1` (default `0`). */
export function shardsFrom(env: Env): number[] {
  const raw = env['TRADEWIND_SHARDS'] ?? '0';
  const shards = raw.split(',').map((s) => s.trim());
  if (shards.some((s) => !/^\d+$/.test(s)))
    throw new Error(`TRADEWIND_SHARDS must be comma-separated integers`);
  return shards.map(Number);
}

export function powertools(service: string): { logger: Logger; metrics: Metrics } {
  return {
    logger: new Logger({ serviceName: service }),
    metrics: new Metrics({ namespace: 'Tradewind', serviceName: service }),
  };
}

/** Powertools' Logger as the cores' LogPort (the cores scrub secrets before calling it). */
export function logPort(logger: Logger): LogPort {
  return {
    info: (m, e) => (e ? logger.info(m, e) : logger.info(m)),
    warn: (m, e) => (e ? logger.warn(m, e) : logger.warn(m)),
    error: (m, e) => (e ? logger.error(m, e) : logger.error(m)),
  };
}

/**
 * The document client with the settings every repository expects — the same as
 * lib/store/embedded-dynamo.ts `documentClient`, not imported from there because that module loads
 * dynalite at import time, which the Lambda bundle does not (and must not) contain.
 */
export function dynamoFrom(env: Env) {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { doc, table: required(env, 'TRADEWIND_TABLE') };
}

/**
 * Secrets by the ARN in `TRADEWIND_SECRET_<VENUE>_<PURPOSE>` (what bindSecret granted: exactly
 * that secret), falling back to the conventional name.
 */
export function secretsFrom(env: Env): SecretsManagerStore {
  const stage = required(env, 'TRADEWIND_STAGE');
  return new SecretsManagerStore({
    client: new SecretsManagerClient({}),
    stage,
    name: (s: string, venue: VenueId | 'slack', purpose: SecretPurpose) =>
      (venue === 'slack' ? env['TRADEWIND_SECRET_SLACK_WEBHOOK'] : env[secretEnvName(venue, purpose)]) ||
      secretName(s, venue, purpose),
  });
}

let sqs: SQSClient | undefined;
function sqsClient(): SQSClient {
  sqs ??= new SQSClient({});
  return sqs;
}

export function controlQueueFrom(env: Env): SqsQueue<ControlMessage> {
  return new SqsQueue({
    client: sqsClient(),
    queueUrl: required(env, 'TRADEWIND_CONTROL_QUEUE_URL'),
    codec: controlCodec,
  });
}

export function alertsQueueFrom(env: Env): SqsQueue<AlertMessage> | undefined {
  const url = env['TRADEWIND_ALERTS_QUEUE_URL'];
  if (url === undefined || url === '') return undefined;
  return new SqsQueue({
    client: sqsClient(),
    queueUrl: url,
    codec: alertCodec,
    // One group per source: one noisy source cannot hold back another's alerts.
    messageGroupId: (m) => m.source,
  });
}
