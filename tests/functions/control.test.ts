/**
 * The control core and its Lambda shell against embedded DynamoDB (dynalite) and the exchange
 * simulator over real sockets: a kill with the engine dead still cancels at the venue, the flag
 * and the audit record are stored, the engine gets its message; resume obeys the stage's rules;
 * bad input is a 400 with its reason, no identity a 403; no secret in any answer or log line.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, SNSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { encodeClientOrderId } from '#core/client-order-id.ts';
import type { OrderIntent } from '#core/trading.ts';
import {
  ControlReadModel,
  DynamoEngineStateRepo,
  DynamoOrderRepo,
  keys,
  PK,
  SK,
} from '#store/dynamo/index.ts';
import { alertCodec, controlCodec } from '#store/messages.ts';
import type { AlertMessage, ControlMessage } from '#store/ports.ts';
import { InProcessQueue } from '#store/queues.ts';
import {
  handleControl,
  RESUME_RULES,
  type ControlDeps,
  type ControlRequest,
} from '#functions/control/core.ts';
import { makeControlHandler } from '#functions/control/handler.ts';
import type { VenueTrading } from '#venues/trading.ts';
import {
  CANCEL_KEY,
  CANCEL_SECRET,
  captureOutput,
  startFixture,
  SYMBOL,
  TRADE_SECRET,
  type Fixture,
} from './support.ts';

let fx: Fixture;
let state: DynamoEngineStateRepo;
let control: InProcessQueue<ControlMessage>;
let alerts: InProcessQueue<AlertMessage>;
let clock = Date.UTC(2026, 10, 22, 9, 0, 0);
const ARN = 'arn:aws:iam::123456789012:user/operator';

beforeAll(async () => {
  fx = await startFixture('control');
  state = new DynamoEngineStateRepo(fx.db.doc, fx.db.table);
});
afterAll(async () => {
  await fx.close();
});
beforeEach(async () => {
  control = new InProcessQueue({ name: 'control', codec: controlCodec });
  alerts = new InProcessQueue({ name: 'alerts', codec: alertCodec });
  // Each test starts unkilled: remove the state item (audit records stay, as in real life).
  await fx.db.doc.send(
    new DeleteCommand({ TableName: fx.db.table, Key: { [PK]: keys.shard(0), [SK]: keys.state } }),
  );
});

function deps(over: Partial<ControlDeps> = {}): ControlDeps {
  return {
    stage: 'staging',
    shards: [0],
    state,
    reads: new ControlReadModel(fx.db.doc, fx.db.table),
    control,
    alerts,
    venues: { 'binance-futures': () => fx.cancelOnly() },
    now: () => clock,
    ...over,
  };
}

function req(method: string, path: string, body?: unknown, identity: string | null = ARN): ControlRequest {
  return {
    method,
    path,
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
    identity,
  };
}

describe('control core: kill', () => {
  it('with the engine dead, cancels the resting orders at the venue, sets flag + audit, and messages the engine', async () => {
    await fx.placeResting('buy', 1);
    await fx.placeResting('sell', 2);
    const probe = await fx.readOnly();
    expect(await probe.openOrders()).toHaveLength(2);
    // The engine is dead: nothing consumes the control queue, nobody else cancels.

    const res = await handleControl(deps(), req('POST', '/kill', { reason: 'operator: runaway losses' }));

    expect(res.statusCode).toBe(200);
    expect(res.body['venues']).toEqual({ 'binance-futures': { ok: true, cancelled: 2 } });
    expect(res.body['engineNotified']).toEqual({ ok: true });
    expect(await probe.openOrders()).toHaveLength(0); // the simulator's truth

    const s = await state.load(0);
    expect(s.tradingState).toBe('HALTED');
    expect(s.kill).toEqual({ reason: 'operator: runaway losses', by: ARN, ts: clock });
    const trail = await state.auditTrail(0);
    expect(trail[0]).toMatchObject({ action: 'kill', by: ARN, reason: 'operator: runaway losses' });

    const [msg] = await control.receive(10, 0);
    expect(msg?.body).toMatchObject({ type: 'kill', by: ARN, reason: 'operator: runaway losses', ts: clock });
    const [alert] = await alerts.receive(10, 0);
    expect(alert?.body).toMatchObject({ severity: 'critical', source: 'control' });
  });

  it('with the engine dead, keeps our protective stops (this key cannot flatten) and cancels everything else', async () => {
    // A long of 2 lots guarded by a reduce-only stop, as the engine leaves it, plus a resting limit.
    const inst = fx.inst;
    const book = fx.sim.truth('binance-futures', SYMBOL);
    const entry = await fx.engine.place(
      {
        clientOrderId: encodeClientOrderId({ shard: 0, epoch: 1, seq: 50 }),
        venue: 'binance-futures',
        symbol: SYMBOL,
        side: 'buy',
        type: 'market',
        timeInForce: 'IOC',
        qtyLots: 2,
        reduceOnly: false,
        purpose: 'entry',
        createdTs: clock,
      },
      inst,
    );
    expect(entry.kind).toBe('ack');
    const stop: OrderIntent = {
      clientOrderId: encodeClientOrderId({ shard: 0, epoch: 1, seq: 51 }),
      venue: 'binance-futures',
      symbol: SYMBOL,
      side: 'sell',
      type: 'stop-market',
      timeInForce: 'GTC',
      triggerTicks: book.bestBid() - 2000,
      qtyLots: 2,
      reduceOnly: true,
      purpose: 'protective-stop',
      createdTs: clock,
    };
    expect((await fx.engine.place(stop, inst)).kind).toBe('ack');
    // The read model knows the stop as an open order of shard 0 (the engine's projection writes it).
    const orders = new DynamoOrderRepo(fx.db.doc, fx.db.table);
    const rec = await orders.putIntent(0, stop);
    await orders.appendState(stop.clientOrderId, rec.version, {
      from: 'PENDING',
      to: 'SUBMITTED',
      ts: clock,
      reason: 'sent',
    });
    await orders.appendState(stop.clientOrderId, rec.version + 1, {
      from: 'SUBMITTED',
      to: 'OPEN',
      ts: clock,
      reason: 'ack',
    });
    const limitId = await fx.placeResting('buy', 52);

    const res = await handleControl(deps(), req('POST', '/kill', { reason: 'operator: engine dead' }));

    expect(res.statusCode).toBe(200);
    expect(res.body['venues']).toEqual({
      'binance-futures': { ok: true, cancelled: 1, keptProtectiveStops: 1 },
    });
    const left = (await (await fx.readOnly()).openOrders()).map((o) => o.clientOrderId);
    expect(left).toEqual([stop.clientOrderId]);
    expect(left).not.toContain(limitId);
    // Tidy up for the next test: the stop and the position.
    await fx.engine.cancelAll();
    await orders.appendState(stop.clientOrderId, rec.version + 2, {
      from: 'OPEN',
      to: 'CANCELLED',
      ts: clock,
      reason: 'test',
    });
    await fx.engine.place(
      {
        ...stop,
        clientOrderId: encodeClientOrderId({ shard: 0, epoch: 1, seq: 53 }),
        type: 'market',
        timeInForce: 'IOC',
        triggerTicks: undefined,
        purpose: 'flatten',
      },
      inst,
    );
  });

  it('keeps the first reason, and a retried request (same id) sends no second engine message', async () => {
    const d = deps();
    const first = await handleControl(d, req('POST', '/kill', { reason: 'first', id: 'k-1' }));
    expect(first.statusCode).toBe(200);
    clock += 1000;
    const again = await handleControl(d, req('POST', '/kill', { reason: 'second', id: 'k-1' }));
    expect(again.statusCode).toBe(200);
    const shard = (again.body['shards'] as Array<Record<string, unknown>>)[0];
    expect(shard).toMatchObject({ ok: true, alreadyKilled: true, kill: { reason: 'first' } });
    expect(await control.receive(10, 0)).toHaveLength(1);
  });

  it('reports a venue failure per venue (502), never hidden, and still sets the flag', async () => {
    const broken: VenueTrading = {
      ...({} as VenueTrading),
      venue: 'kraken-spot',
      cancelAll: () => Promise.reject(new Error(`HTTP 401 for key ${CANCEL_SECRET}`)),
    };
    const res = await handleControl(
      deps({
        venues: { 'binance-futures': () => fx.cancelOnly(), 'kraken-spot': broken },
      }),
      req('POST', '/kill', { reason: 'partial' }),
    );
    expect(res.statusCode).toBe(502);
    expect(res.body['venues']).toMatchObject({
      'binance-futures': { ok: true, cancelled: 0 },
      'kraken-spot': { ok: false },
    });
    expect(JSON.stringify(res.body)).not.toContain(CANCEL_SECRET);
    expect(JSON.stringify(res.body)).toContain('[REDACTED]');
    expect((await state.load(0)).kill?.reason).toBe('partial');
  });

  it('says so (500) when the kill flag write fails, and still cancels at the venues', async () => {
    await fx.placeResting('buy', 3);
    const failing = Object.assign(Object.create(state) as DynamoEngineStateRepo, {
      setKill: () => Promise.reject(new Error('ProvisionedThroughputExceededException')),
    });
    const res = await handleControl(deps({ state: failing }), req('POST', '/kill', { reason: 'db down' }));
    expect(res.statusCode).toBe(500);
    expect(String(res.body['summary'])).toMatch(/NOT SET/);
    expect(res.body['shards']).toEqual([
      { shard: 0, ok: false, error: 'ProvisionedThroughputExceededException' },
    ]);
    expect(res.body['venues']).toEqual({ 'binance-futures': { ok: true, cancelled: 1 } });
  });
});

describe('control core: input and auth', () => {
  it.each([
    [null, 'body must be a JSON object'],
    ['{not json', 'body is not valid JSON'],
    [[], 'body must be a JSON object'],
    [{}, 'field "reason" is missing'],
    [{ reason: '  ' }, 'field "reason" must not be empty'],
    [{ reason: 7 }, 'field "reason" must be a string'],
    [{ reason: 'x', extra: 1 }, 'field "extra" is not allowed'],
    [{ reason: 'x', id: 'has space' }, 'idempotency key'],
  ])('kill with body %j → 400 (%s)', async (body, why) => {
    const res = await handleControl(deps(), req('POST', '/kill', body === null ? undefined : body));
    expect(res.statusCode).toBe(400);
    expect(String(res.body['error'])).toContain(why);
    expect((await state.load(0)).kill).toBeNull();
  });

  it('no identity → 403 and nothing happens', async () => {
    const res = await handleControl(deps(), req('POST', '/kill', { reason: 'x' }, null));
    expect(res.statusCode).toBe(403);
    expect((await state.load(0)).kill).toBeNull();
    expect(control.depth).toBe(0);
  });

  it('unknown route → 404, wrong method → 405, bad shard → 400', async () => {
    expect((await handleControl(deps(), req('GET', '/nope'))).statusCode).toBe(404);
    expect((await handleControl(deps(), req('GET', '/kill'))).statusCode).toBe(405);
    expect(
      (await handleControl(deps(), { ...req('GET', '/status'), query: { shard: '9' } })).statusCode,
    ).toBe(400);
  });
});

describe('control core: resume rules', () => {
  it('refuses without confirm (400), when not killed (409), and within the cooldown (409)', async () => {
    const d = deps({ stage: 'prod' });
    expect(
      (await handleControl(d, req('POST', '/resume', { confirm: true, reason: 'all clear now' }))).statusCode,
    ).toBe(409);
    await handleControl(d, req('POST', '/kill', { reason: 'trip' }));
    const noConfirm = await handleControl(d, req('POST', '/resume', { reason: 'all clear now' }));
    expect(noConfirm.statusCode).toBe(400);
    expect(String(noConfirm.body['error'])).toContain('confirm');
    const short = await handleControl(d, req('POST', '/resume', { confirm: true, reason: 'ok' }));
    expect(short.statusCode).toBe(400);
    clock += RESUME_RULES.prod.cooldownMs - 60_000;
    const early = await handleControl(d, req('POST', '/resume', { confirm: true, reason: 'all clear now' }));
    expect(early.statusCode).toBe(409);
    expect(String(early.body['error'])).toMatch(/wait 60 s more/);
    expect((await state.load(0)).kill).not.toBeNull();
  });

  it('resumes after the cooldown: kill cleared, ACTIVE, audited, engine told', async () => {
    const d = deps({ stage: 'prod' });
    await handleControl(d, req('POST', '/kill', { reason: 'trip' }));
    await control.receive(10, 0).then((ms) => Promise.all(ms.map((m) => control.ack(m.receipt))));
    clock += RESUME_RULES.prod.cooldownMs;
    const res = await handleControl(d, req('POST', '/resume', { confirm: true, reason: 'root cause fixed' }));
    expect(res.statusCode).toBe(200);
    const s = await state.load(0);
    expect(s.kill).toBeNull();
    expect(s.tradingState).toBe('ACTIVE');
    expect((await state.auditTrail(0))[0]).toMatchObject({
      action: 'resume',
      by: ARN,
      reason: 'root cause fixed',
    });
    const [msg] = await control.receive(10, 0);
    expect(msg?.body).toMatchObject({ type: 'resume', reason: 'root cause fixed' });
  });

  it('local stage: no cooldown', async () => {
    const d = deps({ stage: 'local' });
    await handleControl(d, req('POST', '/kill', { reason: 'trip' }));
    expect((await handleControl(d, req('POST', '/resume', { confirm: true, reason: 'go' }))).statusCode).toBe(
      200,
    );
  });
});

describe('control core: reads', () => {
  it('status, positions, orders and pnl come from the read model', async () => {
    await handleControl(deps(), req('POST', '/kill', { reason: 'for status' }));
    const status = await handleControl(deps(), req('GET', '/status'));
    expect(status.statusCode).toBe(200);
    expect(status.body['shards']).toMatchObject([{ shard: 0, tradingState: 'HALTED', engineAlive: false }]);
    for (const route of ['/positions', '/orders', '/pnl']) {
      const r = await handleControl(deps(), req('GET', `/prod${route}`));
      expect(r.statusCode, route).toBe(200);
    }
    expect((await handleControl(deps(), req('GET', '/pnl'))).body['pnl']).toEqual([
      { shard: 0, realizedToday: '0' },
    ]);
  });
});

describe('control handler (middy + Powertools)', () => {
  const context = {
    functionName: 'tradewind-test-control',
    functionVersion: '1',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:tradewind-test-control',
    memoryLimitInMB: '256',
    awsRequestId: 'req-1',
    logGroupName: '/aws/lambda/x',
    logStreamName: 's',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 10_000,
  } as unknown as Context;

  function apiEvent(
    method: string,
    path: string,
    body: unknown,
    userArn: string | null,
  ): APIGatewayProxyEvent {
    return {
      httpMethod: method,
      path,
      resource: path,
      body: body === undefined ? null : JSON.stringify(body),
      isBase64Encoded: false,
      headers: {},
      multiValueHeaders: {},
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      requestContext: { identity: { userArn } } as unknown as APIGatewayProxyEvent['requestContext'],
    };
  }

  it('kills over an API Gateway event; 403 without IAM identity; no secret in responses or logs', async () => {
    await fx.placeResting('buy', 4);
    const handler = makeControlHandler(deps(), {
      logger: new Logger({ serviceName: 'tradewind-control', logLevel: 'DEBUG' }),
      metrics: new Metrics({ namespace: 'TradewindTest', serviceName: 'tradewind-control' }),
    });
    const { result, output } = await captureOutput(async () => {
      const denied = (await handler(
        apiEvent('POST', '/kill', { reason: 'x' }, null),
        context,
      )) as APIGatewayProxyResult;
      const killed = (await handler(
        apiEvent('POST', '/kill', { reason: 'via api' }, ARN),
        context,
      )) as APIGatewayProxyResult;
      return { denied, killed };
    });
    expect(result.denied.statusCode).toBe(403);
    expect(result.killed.statusCode).toBe(200);
    expect(JSON.parse(result.killed.body)).toMatchObject({
      venues: { 'binance-futures': { ok: true, cancelled: 1 } },
    });
    expect(output).toContain('kill done'); // the log lines were captured
    for (const secret of [CANCEL_SECRET, CANCEL_KEY, TRADE_SECRET]) {
      expect(output).not.toContain(secret);
      expect(result.killed.body).not.toContain(secret);
    }
  });

  it('an ALARM notification on the kill topic is a kill by the alarm', async () => {
    const handler = makeControlHandler(deps(), {
      logger: new Logger({ serviceName: 'tradewind-control', logLevel: 'ERROR' }),
      metrics: new Metrics({ namespace: 'TradewindTest', serviceName: 'tradewind-control' }),
    });
    const event = {
      Records: [
        {
          EventSource: 'aws:sns',
          Sns: {
            MessageId: 'm-1',
            Subject: 'ALARM',
            Message: JSON.stringify({
              AlarmName: 'DailyLoss',
              NewStateValue: 'ALARM',
              NewStateReason: 'loss > limit',
            }),
          },
        },
      ],
    } as unknown as SNSEvent;
    await captureOutput(() => handler(event, context));
    expect((await state.load(0)).kill).toMatchObject({ by: 'alarm:DailyLoss' });
  });
});

describe('control handler: wiring from the Lambda environment', () => {
  it('finds the venues from the TRADEWIND_SECRET_<VENUE>_CANCEL_ONLY variables the CDK binds', async () => {
    const { controlDepsFromEnv } = await import('#functions/control/handler.ts');
    const d = controlDepsFromEnv({
      TRADEWIND_STAGE: 'staging',
      TRADEWIND_TABLE: 'tradewind-staging',
      TRADEWIND_CONTROL_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/1/control.fifo',
      TRADEWIND_SECRET_BINANCE_FUTURES_CANCEL_ONLY: 'arn:aws:secretsmanager:eu-west-1:1:secret:a',
      TRADEWIND_SECRET_KRAKEN_SPOT_CANCEL_ONLY: 'arn:aws:secretsmanager:eu-west-1:1:secret:b',
      TRADEWIND_SHARDS: '0,1',
    });
    expect(Object.keys(d.venues).sort()).toEqual(['binance-futures', 'kraken-spot']);
    expect(d.shards).toEqual([0, 1]);
    expect(d.alerts).toBeUndefined();
  });
});
