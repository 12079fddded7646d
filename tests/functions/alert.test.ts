/**
 * The alerter against a local HTTP server standing in for Slack's webhook (real sockets): SQS
 * batches with partial failures, deduplication by alert id, per-source rate limits, CloudWatch
 * alarm notifications, secret scrubbing, and the daily summary.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AlertMessage, SecretStore } from '#store/ports.ts';
import { registerSecret } from '#store/redact.ts';
import {
  buildDailySummary,
  fetchSlackPost,
  handleAlarmNotifications,
  handleAlertBatch,
  InMemoryAlertDedup,
  postDailySummary,
  SourceRateLimiter,
  type AlertDeps,
  type JournalRow,
} from '#functions/alert/core.ts';
import { DynamoAlertDedup } from '#functions/alert/dedup-repo.ts';
import { makeAlertHandler } from '#functions/alert/handler.ts';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { captureOutput } from './support.ts';

/** The fake Slack: records every text it accepted; answers 500 to texts containing "FAIL". */
let slack: Server;
let slackUrl: string;
const posted: string[] = [];
let failMode = false;

beforeAll(async () => {
  slack = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string };
      if (failMode && body.text.includes('FAIL')) {
        res.writeHead(500).end('no');
        return;
      }
      posted.push(body.text);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => slack.listen(0, '127.0.0.1', () => r()));
  slackUrl = `http://127.0.0.1:${(slack.address() as AddressInfo).port}/services/T000/B000/${'x'.repeat(24)}`;
});
afterAll(async () => {
  slack.closeAllConnections();
  await new Promise<void>((r) => slack.close(() => r()));
});

/** A SecretStore holding the local webhook URL (EnvSecretStore insists on https://). */
class LocalSlackSecret implements Pick<SecretStore, 'slackWebhook' | 'invalidate'> {
  invalidated = 0;
  slackWebhook(): Promise<string> {
    return Promise.resolve(slackUrl);
  }
  invalidate(): void {
    this.invalidated++;
  }
}

let clock = Date.UTC(2026, 10, 22, 12, 0, 0);
function deps(over: Partial<AlertDeps> = {}): AlertDeps {
  return {
    secrets: new LocalSlackSecret(),
    post: fetchSlackPost,
    dedup: new InMemoryAlertDedup(),
    limiter: new SourceRateLimiter(10, 60_000),
    now: () => clock,
    ...over,
  };
}

let n = 0;
function alert(over: Partial<AlertMessage> = {}): AlertMessage {
  return {
    v: 1,
    id: `a-${++n}`,
    severity: 'warning',
    source: 'engine',
    title: 'Book unsynced',
    detail: 'BTCUSDT gap',
    ts: clock,
    ...over,
  };
}
const rec = (a: unknown, id = String(++n)) => ({
  messageId: `m-${id}`,
  body: typeof a === 'string' ? a : JSON.stringify(a),
});

beforeEach(() => {
  posted.length = 0;
  failMode = false;
});

describe('alert core: SQS batches', () => {
  it('posts each alert once, reports only the failed and malformed records', async () => {
    const d = deps();
    const a1 = alert({ title: 'one' });
    const a2 = alert({ title: 'two FAIL' });
    const a3 = alert({ title: 'three' });
    failMode = true;
    const r1 = rec(a1, 'x1');
    const r2 = rec(a2, 'x2');
    const bad = rec('{"v":1,"id":"nope"}', 'x3');
    const dup = rec(a1, 'x4');
    const r3 = rec(a3, 'x5');
    const result = await handleAlertBatch(d, [r1, r2, bad, dup, r3]);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: 'm-x2' }, { itemIdentifier: 'm-x3' }]);
    expect(posted).toHaveLength(2);
    expect(posted[0]).toContain('one');
    expect(posted[1]).toContain('three');
    // The redelivery of the failed one succeeds; the posted ones stay deduplicated.
    failMode = false;
    const retry = await handleAlertBatch(d, [r2, r1]);
    expect(retry.batchItemFailures).toEqual([]);
    expect(posted).toHaveLength(3);
    expect(posted[2]).toContain('two FAIL');
  });

  it('rate-limits per source, never critical ones, and says how many it suppressed', async () => {
    const d = deps({ limiter: new SourceRateLimiter(2, 60_000) });
    const batch = [1, 2, 3, 4].map((i) => rec(alert({ source: 'noisy', title: `noisy ${i}` })));
    batch.push(rec(alert({ source: 'noisy', severity: 'critical', title: 'kill' })));
    batch.push(rec(alert({ source: 'quiet', title: 'quiet 1' })));
    expect((await handleAlertBatch(d, batch)).batchItemFailures).toEqual([]);
    expect(posted.map((p) => p.split('\n')[0])).toEqual([
      expect.stringContaining('noisy 1'),
      expect.stringContaining('noisy 2'),
      expect.stringContaining('kill'),
      expect.stringContaining('quiet 1'),
    ]);
    clock += 60_000;
    await handleAlertBatch(d, [rec(alert({ source: 'noisy', title: 'noisy 5' }))]);
    expect(posted[4]).toContain('2 earlier alert(s) from noisy were rate-limited');
  });

  it('scrubs known secrets from what it posts', async () => {
    registerSecret('xoxb-super-secret-token-123');
    await handleAlertBatch(deps(), [rec(alert({ detail: 'auth failed with xoxb-super-secret-token-123' }))]);
    expect(posted[0]).toContain('[REDACTED]');
    expect(posted[0]).not.toContain('xoxb-super-secret-token-123');
  });

  it('deduplicates across containers through DynamoDB', async () => {
    const db: EmbeddedDynamo = await startEmbeddedDynamo({ stage: 'alerts' });
    try {
      const a = alert({ title: 'once only' });
      await handleAlertBatch(deps({ dedup: new DynamoAlertDedup(db.doc, db.table) }), [rec(a)]);
      await handleAlertBatch(deps({ dedup: new DynamoAlertDedup(db.doc, db.table) }), [rec(a)]);
      expect(posted.filter((p) => p.includes('once only'))).toHaveLength(1);
    } finally {
      await db.close();
    }
  });
});

describe('alert core: CloudWatch alarms over SNS', () => {
  it('posts ALARM as critical and throws when Slack is down, so Lambda retries', async () => {
    const sns = (id: string, state: string, name = 'EngineHeartbeat') => ({
      Sns: {
        MessageId: id,
        Subject: 'x',
        Message: JSON.stringify({
          AlarmName: name,
          NewStateValue: state,
          NewStateReason: 'no heartbeat for 60 s',
        }),
      },
    });
    expect(await handleAlarmNotifications(deps(), [sns('s1', 'ALARM')])).toEqual(['posted']);
    expect(posted[0]).toMatch(/CRITICAL\* EngineHeartbeat is ALARM/);
    failMode = true;
    await expect(handleAlarmNotifications(deps(), [sns('s2', 'OK', 'FAIL')])).rejects.toThrow(/500/);
  });
});

describe('daily summary', () => {
  const day = '20261122';
  const rows: JournalRow[] = [
    { kind: 'position', ts: 1, rec: JSON.stringify({ realized: '0', fee: '0.1', roundTrip: null }) },
    {
      kind: 'position',
      ts: 2,
      rec: JSON.stringify({ realized: '5', fee: '0.1', roundTrip: { net: '4.8' } }),
    },
    { kind: 'position', ts: 3, rec: JSON.stringify({ realized: '0', fee: '0.1', roundTrip: null }) },
    {
      kind: 'position',
      ts: 4,
      rec: JSON.stringify({ realized: '-3', fee: '0.1', roundTrip: { net: '-3.2' } }),
    },
    { kind: 'risk', ts: 5, rec: JSON.stringify({ decision: { approved: false, reason: 'MAX_POSITION' } }) },
    { kind: 'risk', ts: 6, rec: JSON.stringify({ decision: { approved: true } }) },
    { kind: 'risk', ts: 7, rec: JSON.stringify({ decision: { approved: false, reason: 'MAX_POSITION' } }) },
  ];

  it('computes P&L, trades, win rate, drawdown and rejections exactly', () => {
    expect(buildDailySummary(day, rows, '1.6')).toEqual({
      day,
      netPnl: '1.6',
      snapshotPnl: '1.6',
      trades: 4,
      roundTrips: 2,
      wins: 1,
      winRate: 0.5,
      maxDrawdown: '3.2',
      rejections: 2,
      rejectionsByReason: { MAX_POSITION: 2 },
    });
  });

  it('posts the summary once per day', async () => {
    const d = deps();
    const source = { journalDay: () => Promise.resolve(rows), pnlToday: () => Promise.resolve('1.6') };
    await postDailySummary(d, source, [0], clock);
    await postDailySummary(d, source, [0], clock);
    expect(posted).toHaveLength(1);
    expect(posted[0]).toContain('win rate: 50.0 %');
    expect(posted[0]).toContain('Risk rejections: 2 (MAX_POSITION 2)');
  });
});

describe('alert handler (middy + Powertools)', () => {
  it('answers an SQS event with batchItemFailures and never logs the webhook URL', async () => {
    const handler = makeAlertHandler(
      { alert: deps() },
      {
        logger: new Logger({ serviceName: 'tradewind-alert', logLevel: 'DEBUG' }),
        metrics: new Metrics({ namespace: 'TradewindTest', serviceName: 'tradewind-alert' }),
      },
    );
    failMode = true;
    registerSecret(slackUrl);
    const event = {
      Records: [
        { ...rec(alert({ title: 'ok one' }), 'h1'), eventSource: 'aws:sqs' },
        { ...rec(alert({ title: 'FAIL one' }), 'h2'), eventSource: 'aws:sqs' },
      ],
    } as unknown as SQSEvent;
    const { result, output } = await captureOutput(() => handler(event, {} as Context));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-h2' }] });
    expect(output).toContain('alert post failed');
    expect(output).not.toContain(slackUrl);
  });
});
