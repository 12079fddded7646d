import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format, inspect } from 'node:util';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { DataError, OperationalError } from '#core/errors.ts';
import { REDACTED, containsSecret, knownSecrets, redactKnownSecrets, redactSecrets } from '#store/redact.ts';
import { EnvSecretStore, SecretsManagerStore, envVarNames, parseDotEnv, secretName } from '#store/secrets.ts';

const KEY = 'AKbinanceKey0123456789abcdef';
const SECRET = 'SKbinanceSecret9876543210fedcba';
const KEY2 = 'AKrotatedKey11111111111111';
const SECRET2 = 'SKrotatedSecret2222222222222';
const WEBHOOK = 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX';

/** Everything an error can carry into a log line: message, stack, cause chain, JSON and inspect output. */
function everyRendering(e: unknown): string {
  const parts: string[] = [inspect(e, { depth: 10, showHidden: true })];
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur instanceof Error; i++) {
    parts.push(
      cur.message,
      cur.stack ?? '',
      JSON.stringify(cur),
      JSON.stringify(cur, Object.getOwnPropertyNames(cur)),
    );
    cur = cur.cause;
  }
  return parts.join('\n');
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('secretName', () => {
  it('follows tradewind/<stage>/<venue>/<purpose>', () => {
    expect(secretName('prod', 'binance-futures', 'trade')).toBe('tradewind/prod/binance-futures/trade');
    expect(secretName('staging', 'kraken-spot', 'cancel-only')).toBe(
      'tradewind/staging/kraken-spot/cancel-only',
    );
    expect(secretName('prod', 'slack', 'slack-webhook')).toBe('tradewind/prod/slack-webhook');
    expect(() => secretName('Prod!', 'kraken-spot', 'trade')).toThrow(DataError);
    expect(() => secretName('prod', 'kraken-spot', 'slack-webhook')).toThrow(DataError);
  });
});

describe('SecretsManagerStore', () => {
  const sm = mockClient(SecretsManagerClient);
  beforeEach(() => sm.reset());

  function store(now: () => number = () => 0) {
    return new SecretsManagerStore({
      client: new SecretsManagerClient({ region: 'eu-west-1' }),
      stage: 'prod',
      ttlMs: 60_000,
      now,
    });
  }

  it('fetches one secret per purpose by name and parses {"apiKey","apiSecret"}', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'tradewind/prod/binance-futures/trade' }).resolves({
      SecretString: JSON.stringify({ apiKey: KEY, apiSecret: SECRET }),
    });
    sm.on(GetSecretValueCommand, { SecretId: 'tradewind/prod/slack-webhook' }).resolves({
      SecretString: WEBHOOK,
    });
    const s = store();
    const creds = await s.credentials('binance-futures', 'trade');
    expect(creds.apiKey).toBe(KEY);
    expect(creds.apiSecret).toBe(SECRET);
    expect(await s.slackWebhook()).toBe(WEBHOOK);
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([
      { SecretId: 'tradewind/prod/binance-futures/trade' },
      { SecretId: 'tradewind/prod/slack-webhook' },
    ]);
    expect(knownSecrets()).toEqual(expect.arrayContaining([KEY, SECRET, WEBHOOK]));
  });

  it('accepts the webhook as JSON {"webhookUrl"}', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ webhookUrl: WEBHOOK }) });
    expect(await store().slackWebhook()).toBe(WEBHOOK);
  });

  it('caches for the TTL, shares a concurrent fetch, and refetches after expiry', async () => {
    sm.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ apiKey: KEY, apiSecret: SECRET }),
    });
    let now = 0;
    const s = store(() => now);
    await Promise.all([s.credentials('kraken-spot', 'read-only'), s.credentials('kraken-spot', 'read-only')]);
    now = 59_999;
    await s.credentials('kraken-spot', 'read-only');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    now = 60_000;
    await s.credentials('kraken-spot', 'read-only');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('invalidate() after an auth failure forces a fresh fetch (a rotated key)', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ apiKey: KEY, apiSecret: SECRET }) })
      .resolves({ SecretString: JSON.stringify({ apiKey: KEY2, apiSecret: SECRET2 }) });
    const s = store();
    expect((await s.credentials('binance-futures', 'trade')).apiKey).toBe(KEY);
    expect((await s.credentials('binance-futures', 'trade')).apiKey).toBe(KEY);
    s.invalidate('binance-futures', 'trade');
    expect((await s.credentials('binance-futures', 'trade')).apiKey).toBe(KEY2);
  });

  it('does not cache a failed fetch', async () => {
    sm.on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }))
      .resolves({ SecretString: JSON.stringify({ apiKey: KEY, apiSecret: SECRET }) });
    const s = store();
    const e = await failure(s.credentials('binance-us', 'trade'));
    expect(e).toBeInstanceOf(OperationalError);
    expect(e.message).toContain('ThrottlingException');
    expect((await s.credentials('binance-us', 'trade')).apiSecret).toBe(SECRET);
  });

  it('names a missing secret and a malformed one without echoing any value', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'tradewind/prod/kraken-futures/trade' }).rejects(
      Object.assign(new Error("Secrets Manager can't find the specified secret."), {
        name: 'ResourceNotFoundException',
      }),
    );
    sm.on(GetSecretValueCommand, { SecretId: 'tradewind/prod/kraken-spot/trade' }).resolves({
      SecretString: JSON.stringify({ apiKey: KEY }),
    });
    sm.on(GetSecretValueCommand, { SecretId: 'tradewind/prod/binance-us/trade' }).resolves({
      SecretString: `{"apiKey": "${KEY}", "apiSecret": "${SECRET}"`, // truncated JSON
    });
    const s = store();
    const notFound = await failure(s.credentials('kraken-futures', 'trade'));
    expect((notFound as OperationalError).code).toBe('SECRET_NOT_FOUND');
    expect(notFound.message).toContain('tradewind/prod/kraken-futures/trade');
    const noSecret = await failure(s.credentials('kraken-spot', 'trade'));
    expect(noSecret.message).toContain('"apiSecret"');
    const badJson = await failure(s.credentials('binance-us', 'trade'));
    expect((badJson as DataError).code).toBe('SECRET_MALFORMED');
    for (const e of [notFound, noSecret, badJson]) {
      expect(containsSecret(everyRendering(e), [KEY, SECRET])).toBe(false);
    }
  });
});

describe('EnvSecretStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tradewind-env-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('derives variable names from venue and purpose', () => {
    expect(envVarNames('binance-futures', 'trade')).toEqual({
      apiKey: 'TRADEWIND_BINANCE_FUTURES_TRADE_API_KEY',
      apiSecret: 'TRADEWIND_BINANCE_FUTURES_TRADE_API_SECRET',
    });
    expect(envVarNames('kraken-spot', 'cancel-only').apiSecret).toBe(
      'TRADEWIND_KRAKEN_SPOT_CANCEL_ONLY_API_SECRET',
    );
  });

  it('reads the environment first, then the .env file', async () => {
    const file = join(dir, 'a.env');
    writeFileSync(
      file,
      [
        '# local keys',
        `export TRADEWIND_KRAKEN_SPOT_READ_ONLY_API_KEY=${KEY2}`,
        `TRADEWIND_KRAKEN_SPOT_READ_ONLY_API_SECRET="${SECRET2}"  # rotated`,
        `TRADEWIND_BINANCE_FUTURES_TRADE_API_SECRET=from-file-loses`,
        `TRADEWIND_SLACK_WEBHOOK_URL='${WEBHOOK}'`,
      ].join('\n'),
    );
    const s = new EnvSecretStore({
      envFile: file,
      env: {
        TRADEWIND_BINANCE_FUTURES_TRADE_API_KEY: KEY,
        TRADEWIND_BINANCE_FUTURES_TRADE_API_SECRET: SECRET,
      },
    });
    expect(await s.credentials('binance-futures', 'trade')).toEqual({ apiKey: KEY, apiSecret: SECRET });
    expect(await s.credentials('kraken-spot', 'read-only')).toEqual({ apiKey: KEY2, apiSecret: SECRET2 });
    expect(await s.slackWebhook()).toBe(WEBHOOK);
  });

  it('names the missing variable — never a value', async () => {
    const s = new EnvSecretStore({ envFile: null, env: { TRADEWIND_KRAKEN_FUTURES_TRADE_API_KEY: KEY } });
    const e = await failure(s.credentials('kraken-futures', 'trade'));
    expect(e).toBeInstanceOf(OperationalError);
    expect(e.message).toBe(
      'TRADEWIND_KRAKEN_FUTURES_TRADE_API_SECRET is not set (looked in the environment)',
    );
    expect(containsSecret(everyRendering(e), [KEY])).toBe(false);
    const slack = await failure(s.slackWebhook());
    expect(slack.message).toContain('TRADEWIND_SLACK_WEBHOOK_URL');
  });

  it('re-reads the .env file after invalidate()', async () => {
    const file = join(dir, 'b.env');
    writeFileSync(
      file,
      `TRADEWIND_BINANCE_US_TRADE_API_KEY=${KEY}\nTRADEWIND_BINANCE_US_TRADE_API_SECRET=${SECRET}\n`,
    );
    const s = new EnvSecretStore({ envFile: file, env: {} });
    expect((await s.credentials('binance-us', 'trade')).apiSecret).toBe(SECRET);
    writeFileSync(
      file,
      `TRADEWIND_BINANCE_US_TRADE_API_KEY=${KEY2}\nTRADEWIND_BINANCE_US_TRADE_API_SECRET=${SECRET2}\n`,
    );
    expect((await s.credentials('binance-us', 'trade')).apiSecret).toBe(SECRET);
    s.invalidate('binance-us', 'trade');
    expect((await s.credentials('binance-us', 'trade')).apiSecret).toBe(SECRET2);
  });

  it('reports a bad .env line by number, not by content', () => {
    const e = (() => {
      try {
        parseDotEnv(`A=1\n${SECRET}\n`, 'x.env');
      } catch (err) {
        return err as Error;
      }
      throw new Error('expected an error');
    })();
    expect(e.message).toBe('x.env:2: expected KEY=VALUE');
    expect(parseDotEnv('A="x\\ny" # c\nB=\'lit\\n\'\nC= spaced value # note\nD=\n')).toEqual({
      A: 'x\ny',
      B: 'lit\\n',
      C: 'spaced value',
      D: '',
    });
  });
});

describe('secrets never leak', () => {
  it('hides credential values from JSON and inspect', async () => {
    const s = new EnvSecretStore({
      envFile: null,
      env: { TRADEWIND_KRAKEN_SPOT_TRADE_API_KEY: KEY, TRADEWIND_KRAKEN_SPOT_TRADE_API_SECRET: SECRET },
    });
    const creds = await s.credentials('kraken-spot', 'trade');
    const rendered =
      JSON.stringify({ config: { creds } }) +
      inspect({ creds }, { depth: 5 }) +
      format('%s %o %j', creds, creds, creds);
    expect(containsSecret(rendered, [KEY, SECRET])).toBe(false);
  });

  it('scrubs an auth-failure error that echoed the key (request dump, cause chain, stack)', async () => {
    const s = new EnvSecretStore({
      envFile: null,
      env: { TRADEWIND_BINANCE_US_READ_ONLY_API_KEY: KEY, TRADEWIND_BINANCE_US_READ_ONLY_API_SECRET: SECRET },
    });
    const creds = await s.credentials('binance-us', 'read-only');
    const venueError = new Error(
      `401 Unauthorized: GET /api/v3/account X-MBX-APIKEY=${creds.apiKey} secret=${creds.apiSecret}`,
    );
    const wrapped = new OperationalError('AUTH_FAILED', `auth failed for key ${creds.apiKey}`, {
      cause: venueError,
    });
    Object.assign(wrapped, {
      request: { headers: { 'X-MBX-APIKEY': creds.apiKey }, signingKey: creds.apiSecret },
    });
    expect(containsSecret(everyRendering(wrapped), knownSecrets())).toBe(true);

    const clean = redactKnownSecrets(wrapped);
    expect(clean).toBeInstanceOf(OperationalError);
    expect(clean.code).toBe('AUTH_FAILED');
    expect(clean.message).toBe(`auth failed for key ${REDACTED}`);
    expect(containsSecret(everyRendering(clean), [KEY, SECRET])).toBe(false);
    expect(
      containsSecret(JSON.stringify(redactKnownSecrets({ record: wrapped, at: 1 })), [KEY, SECRET]),
    ).toBe(false);
    // The original is untouched: redaction copies.
    expect(wrapped.message).toContain(KEY);
  });
});

describe('redactSecrets', () => {
  it('handles keys, arrays, Maps, Sets, Dates, cycles and JSON-escaped forms', () => {
    const secret = 'p@ss"word\\with-quote';
    const cyclic: Record<string, unknown> = { [`k-${secret}`]: [secret, 1, true, null], when: new Date(5) };
    cyclic['self'] = cyclic;
    cyclic['m'] = new Map([[secret, new Set([`x${secret}y`])]]);
    const out = redactSecrets(cyclic, [secret]);
    expect(out['self']).toBe(out);
    expect(out[`k-${REDACTED}`]).toEqual([REDACTED, 1, true, null]);
    expect(out['when']).toEqual(new Date(5));
    expect(out['m']).toEqual(new Map([[REDACTED, new Set([`x${REDACTED}y`])]]));
    const { self: _self, ...acyclic } = out;
    expect(containsSecret(JSON.stringify(acyclic), [secret])).toBe(false);
    expect(redactSecrets(JSON.stringify({ a: secret }), [secret])).toBe(`{"a":"${REDACTED}"}`);
  });

  // A template tree whose string leaves are runs of plain text and secret slots; rendered with the
  // secrets it is the input, rendered with the marker it is the expected output.
  type Part = string | { slot: number };
  type Tree = Part[] | Tree[] | { [k: string]: Tree } | number | boolean | null;
  const plain = fc.string({ unit: fc.constantFrom(...'abcdefghij .,-_:'), maxLength: 12 });
  const part: fc.Arbitrary<Part> = fc.oneof(plain, fc.record({ slot: fc.nat({ max: 2 }) }));
  const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.array(part, { maxLength: 4 }).map((parts): Tree => parts),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.record({ list: fc.array(tie('tree'), { maxLength: 3 }) }).map((r): Tree => r.list),
      fc.dictionary(plain, tie('tree'), { maxKeys: 3 }).map((d): Tree => d),
    ),
  }));
  // Secrets use capitals and digits the plain text never contains, and are at least 8 long.
  const secretArb = fc.string({
    unit: fc.constantFrom(...'ABCDEFGHXYZ0123456789'),
    minLength: 8,
    maxLength: 24,
  });

  function render(t: Tree, fill: (slot: number) => string): unknown {
    if (t === null || typeof t !== 'object') return t;
    if (Array.isArray(t)) {
      if (t.every((p) => typeof p === 'string' || (typeof p === 'object' && p !== null && 'slot' in p))) {
        return (t as Part[]).map((p) => (typeof p === 'string' ? p : fill(p.slot))).join('');
      }
      return (t as Tree[]).map((c) => render(c, fill));
    }
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, render(v, fill)]));
  }

  it('leaves no secret behind and changes nothing else (property)', () => {
    fc.assert(
      fc.property(tree, fc.array(secretArb, { minLength: 3, maxLength: 3 }), (t, raw) => {
        // 'S<slot>' prefixes: 'S' appears only at a secret's start, so no secret can hide inside
        // a run of others and the expected output is exactly one marker per slot.
        const secrets = raw.map((r, i) => `S${i}${r}`);
        const input = render(t, (i) => secrets[i] as string);
        const expected = render(t, () => REDACTED);
        const wrapped = { payload: input, error: new Error(`failed: ${JSON.stringify(input)}`) };
        const out = redactSecrets(wrapped, secrets);
        expect(out.payload).toEqual(expected);
        expect(out.error.message).toBe(`failed: ${JSON.stringify(expected)}`);
        expect(
          containsSecret(JSON.stringify(out.payload) + out.error.message + (out.error.stack ?? ''), secrets),
        ).toBe(false);
        // Input untouched.
        expect(input).toEqual(render(t, (i) => secrets[i] as string));
      }),
      { numRuns: 300 },
    );
  });
});
