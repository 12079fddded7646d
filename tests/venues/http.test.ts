import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError, OperationalError } from '#core/errors.ts';
import { getJson, getText, HttpDataError, HttpOperationalError, redactUrl } from '#venues/http.ts';
import { RateLimiter } from '#venues/rate-limiter.ts';

/** A local venue answering each path the way Binance does. */
const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/fapi/v1/depth': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'X-MBX-USED-WEIGHT-1M': '1500' });
    res.end(
      '{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00000000","431.00000000"]],"asks":[]}',
    );
  },
  '/429': (_req, res) => {
    res.writeHead(429, { 'Retry-After': '2', 'X-MBX-USED-WEIGHT-1M': '2401' });
    res.end('{"code":-1003,"msg":"Too many requests; current limit of IP is 2400 requests per minute."}');
  },
  '/418': (_req, res) => {
    res.writeHead(418, { 'Retry-After': '300' });
    res.end('{"code":-1003,"msg":"Way too many requests; IP banned until 1589437222972."}');
  },
  '/418-bare': (_req, res) => res.writeHead(418).end(),
  '/503': (_req, res) => res.writeHead(503).end('Service Unavailable.'),
  '/400': (_req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"code":-1121,"msg":"Invalid symbol."}');
  },
  '/not-json': (_req, res) => res.writeHead(200).end('<html>maintenance</html>'),
  '/hang': () => undefined,
  '/slow-body': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"bids":[');
  },
};

let server: Server;
let base = '';
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    seen.push(path);
    (routes[path] ?? ((_q, r: ServerResponse) => r.writeHead(404).end()))(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const newLimiter = () =>
  new RateLimiter({ name: 'binance-futures rest', windows: [{ limit: 2400, intervalMs: 60_000 }] });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('getJson', () => {
  it('returns the parsed body, its text and receive time, and counts the venue weight', async () => {
    const limiter = newLimiter();
    const before = Date.now();
    const res = await getJson<{ lastUpdateId: number }>(`${base}/fapi/v1/depth?symbol=BTCUSDT&limit=1000`, {
      limiter,
      weight: 20,
    });
    expect(res.status).toBe(200);
    expect(res.body.lastUpdateId).toBe(1027024);
    expect(res.text).toContain('"lastUpdateId":1027024');
    expect(res.recvTs).toBeGreaterThanOrEqual(before);
    // Our 20, raised to the venue's 1500 by the header.
    expect(limiter.snapshot().windows[0]?.used).toBe(1500);
  });

  it('on 429 reads Retry-After, blocks the limiter and throws RATE_LIMITED', async () => {
    const limiter = newLimiter();
    const at = Date.now();
    const err = await failure(getJson(`${base}/429`, { limiter }));
    expect(err).toBeInstanceOf(HttpOperationalError);
    expect(err).toBeInstanceOf(OperationalError);
    expect(err).toMatchObject({ kind: 'operational', code: 'RATE_LIMITED', status: 429, retryAfterMs: 2000 });
    expect(err.message).toMatch(
      /HTTP 429 \(Retry-After 2000 ms\); holding off 2000 ms: -1003 Too many requests/,
    );
    const blocked = limiter.snapshot().blockedUntil;
    expect(blocked).toBeGreaterThanOrEqual(at + 2000);
    expect(blocked).toBeLessThan(at + 2500);
    expect(limiter.snapshot().windows[0]?.used).toBe(2401); // headers observed on failures too
    // Nothing goes out while blocked: a caller waiting in the limiter can give up.
    const n = seen.length;
    const gaveUp = await failure(
      getJson(`${base}/fapi/v1/depth`, { limiter, signal: AbortSignal.timeout(100) }),
    );
    expect(gaveUp).toMatchObject({ code: 'ABORTED' });
    expect(seen.length).toBe(n);
    limiter.close();
  });

  it('on 418 throws IP_BANNED and holds off at least the ban floor', async () => {
    const limiter = newLimiter();
    const err = await failure(getJson(`${base}/418`, { limiter }));
    expect(err).toMatchObject({ code: 'IP_BANNED', status: 418, retryAfterMs: 300_000 });
    expect(limiter.snapshot().blockedUntil).toBeGreaterThanOrEqual(Date.now() + 299_000);
    const bare = await failure(getJson(`${base}/418-bare`, { bannedMs: 180_000 }));
    expect(bare).toMatchObject({ code: 'IP_BANNED', retryAfterMs: 180_000 });
    limiter.close();
  });

  it('turns 5xx into an OperationalError', async () => {
    const err = await failure(getJson(`${base}/503`));
    expect(err).toBeInstanceOf(OperationalError);
    expect(err).toMatchObject({ code: 'VENUE_UNAVAILABLE', status: 503 });
    expect(err.message).toBe(`GET ${base}/503: HTTP 503: Service Unavailable.`);
  });

  it("turns other 4xx into a DataError with the venue's error, and never shows the query", async () => {
    const url = `${base}/400?symbol=NOPE&timestamp=1&signature=deadbeefcafe`;
    const err = await failure(getJson(url));
    expect(err).toBeInstanceOf(HttpDataError);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({
      kind: 'data',
      code: 'VENUE_REJECTED',
      status: 400,
      venueCode: -1121,
      venueMessage: 'Invalid symbol.',
    });
    expect(err.message).toBe(`GET ${base}/400?…: HTTP 400: -1121 Invalid symbol.`);
    expect(err.message).not.toContain('signature');
  });

  it('bounds the request, body included, with timeoutMs', async () => {
    const t0 = performance.now();
    const hung = await failure(getJson(`${base}/hang`, { timeoutMs: 150 }));
    expect(hung).toMatchObject({ kind: 'operational', code: 'TIMEOUT', status: 0 });
    const slow = await failure(getJson(`${base}/slow-body`, { timeoutMs: 150 }));
    expect(slow).toMatchObject({ code: 'TIMEOUT' });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("honours the caller's signal", async () => {
    const ac = new AbortController();
    const p = getJson(`${base}/hang`, { signal: ac.signal, timeoutMs: 5000 });
    setTimeout(() => ac.abort(new Error('stopping')), 50);
    expect(await failure(p)).toMatchObject({ code: 'ABORTED' });
  });

  it('reports a body that is not JSON as a DataError, and a refused connection as NETWORK', async () => {
    expect(await failure(getJson(`${base}/not-json`))).toMatchObject({ kind: 'data', code: 'BAD_JSON' });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(getText(`http://127.0.0.1:${port}/x?signature=abc`));
    expect(err).toMatchObject({ kind: 'operational', code: 'NETWORK' });
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.message).not.toContain('signature');
  });

  it('redacts query strings from URLs it shows', () => {
    expect(redactUrl('https://fapi.binance.com/fapi/v1/order?symbol=X&signature=abc')).toBe(
      'https://fapi.binance.com/fapi/v1/order?…',
    );
    expect(redactUrl('https://api.kraken.com/0/public/AssetPairs')).toBe(
      'https://api.kraken.com/0/public/AssetPairs',
    );
    expect(redactUrl('not a url?key=1')).toBe('not a url?…');
  });
});
