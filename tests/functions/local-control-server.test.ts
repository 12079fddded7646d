/**
 * The local control server over real HTTP: bearer token auth, the same core as the λ, the kill
 * reaching the simulator, and nothing listening beyond 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlReadModel, DynamoEngineStateRepo } from '#store/dynamo/index.ts';
import { controlCodec } from '#store/messages.ts';
import type { ControlMessage } from '#store/ports.ts';
import { InProcessQueue } from '#store/queues.ts';
import { startLocalControlServer, type LocalControlServer } from '../../lib/control/local-server.ts';
import { CANCEL_SECRET, startFixture, type Fixture } from './support.ts';

let fx: Fixture;
let server: LocalControlServer;
let control: InProcessQueue<ControlMessage>;
let state: DynamoEngineStateRepo;
const printed: string[] = [];

beforeAll(async () => {
  fx = await startFixture('localctl');
  state = new DynamoEngineStateRepo(fx.db.doc, fx.db.table);
  control = new InProcessQueue({ name: 'control', codec: controlCodec });
  server = await startLocalControlServer({
    deps: {
      stage: 'local',
      shards: [0],
      state,
      reads: new ControlReadModel(fx.db.doc, fx.db.table),
      control,
      venues: { 'binance-futures': () => fx.cancelOnly() },
      now: () => Date.now(),
    },
    print: (line) => printed.push(line),
  });
});
afterAll(async () => {
  await server.close();
  await fx.close();
});

function call(method: string, path: string, body?: unknown, token: string | null = server.token) {
  return fetch(`${server.url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe('local control server', () => {
  it('listens on 127.0.0.1 with a random token printed once', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.token.length).toBeGreaterThanOrEqual(40);
    expect(printed).toHaveLength(1);
    expect(printed[0]).toContain(server.token);
  });

  it('answers 403 without the token or with a wrong one', async () => {
    expect((await call('GET', '/status', undefined, null)).status).toBe(403);
    expect((await call('GET', '/status', undefined, 'wrong')).status).toBe(403);
    expect((await call('POST', '/kill', { reason: 'x' }, `${server.token}x`)).status).toBe(403);
    expect((await state.load(0)).kill).toBeNull();
  });

  it('kills over HTTP: the resting order is cancelled at the simulator, then resume works locally', async () => {
    await fx.placeResting('buy', 11);
    const bad = await call('POST', '/kill', { why: 'x' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('"why" is not allowed');

    const res = await call('POST', '/kill', { reason: 'local test kill' });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(CANCEL_SECRET);
    expect(JSON.parse(text)).toMatchObject({ venues: { 'binance-futures': { ok: true, cancelled: 1 } } });
    expect(await (await fx.readOnly()).openOrders()).toHaveLength(0);
    expect((await state.load(0)).kill).toMatchObject({ by: 'local:operator', reason: 'local test kill' });
    expect((await control.receive(10, 0))[0]?.body.type).toBe('kill');

    const status = (await (await call('GET', '/status')).json()) as {
      shards: Array<{ tradingState: string }>;
    };
    expect(status.shards[0]?.tradingState).toBe('HALTED');

    expect((await call('POST', '/resume', { reason: 'done' })).status).toBe(400);
    expect((await call('POST', '/resume', { confirm: true, reason: 'done' })).status).toBe(200);
    expect((await state.load(0)).tradingState).toBe('ACTIVE');
  });
});
