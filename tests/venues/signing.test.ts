import { createHash, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock } from '#core/clock.ts';
import { ManualClock } from '#core/clock.ts';
import { DataError } from '#core/errors.ts';
import {
  buildSignedQuery,
  encodeBinanceParams,
  percentEncode,
  ServerTimeOffset,
  signBinance,
  timestampAcceptable,
  verifyBinance,
  verifyBinanceRequest,
} from '#venues/binance/signing.ts';
import {
  futuresSigningPath,
  signChallenge,
  signKrakenFutures,
  verifyChallenge,
  verifyKrakenFutures,
} from '#venues/kraken-futures/signing.ts';
import { decodeKrakenSecret, krakenNonceOf, signKraken, verifyKraken } from '#venues/kraken-spot/signing.ts';
import { NonceSource } from '#venues/nonce.ts';

/** Runs `fn`, expects a DataError, and checks the secret appears nowhere in it. */
function expectDataErrorWithoutSecret(fn: () => unknown, secret: string): DataError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DataError);
  const err = caught as DataError;
  for (const text of [err.message, String(err), err.stack ?? '', JSON.stringify(err)]) {
    expect(text).not.toContain(secret);
  }
  return err;
}

// ---------------------------------------------------------------------------------------------
// Binance. Vectors from the official docs, binance/binance-spot-api-docs rest-api.md
// ("SIGNED Endpoint Examples for POST /api/v3/order"; the non-ASCII one from the newer "HMAC Keys"
// section). The secret is the docs' illustrative one, not a real key.
// ---------------------------------------------------------------------------------------------
const BINANCE_DOC_SECRET = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';
const BINANCE_DOC_PAYLOAD =
  'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559';
const BINANCE_DOC_SIG = 'c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71';
const BINANCE_DOC_MIXED_QUERY = 'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC';
const BINANCE_DOC_MIXED_BODY = 'quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559';
const BINANCE_DOC_MIXED_SIG = '0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77';
const BINANCE_DOC_UNICODE_PAYLOAD =
  'symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559';
const BINANCE_DOC_UNICODE_SIG = 'e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3';
const BINANCE_DOC_ORDER: Array<[string, string]> = [
  ['symbol', 'LTCBTC'],
  ['side', 'BUY'],
  ['type', 'LIMIT'],
  ['timeInForce', 'GTC'],
  ['quantity', '1'],
  ['price', '0.1'],
];

describe('Binance signing: official docs vectors', () => {
  it('signs the query-string (or body-only) example', () => {
    expect(signBinance(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD)).toBe(BINANCE_DOC_SIG);
    expect(signBinance(BINANCE_DOC_SECRET, '', BINANCE_DOC_PAYLOAD)).toBe(BINANCE_DOC_SIG);
  });

  it('joins query and body with no separator (example 3: "...GTCquantity=1...")', () => {
    expect(signBinance(BINANCE_DOC_SECRET, BINANCE_DOC_MIXED_QUERY, BINANCE_DOC_MIXED_BODY)).toBe(
      BINANCE_DOC_MIXED_SIG,
    );
    // With an '&' inserted it is a different string, hence the plain example's signature.
    expect(signBinance(BINANCE_DOC_SECRET, `${BINANCE_DOC_MIXED_QUERY}&`, BINANCE_DOC_MIXED_BODY)).toBe(
      BINANCE_DOC_SIG,
    );
  });

  it('buildSignedQuery reproduces the documented request byte for byte, signature last', () => {
    const q = buildSignedQuery(BINANCE_DOC_ORDER, BINANCE_DOC_SECRET, {
      timestamp: 1499827319559,
      recvWindow: 5000,
    });
    expect(q).toBe(`${BINANCE_DOC_PAYLOAD}&signature=${BINANCE_DOC_SIG}`);
  });

  it('percent-encodes non-ASCII before signing (docs symbol "１２３４５６")', () => {
    const params: Array<[string, string]> = [['symbol', '１２３４５６'], ...BINANCE_DOC_ORDER.slice(1)];
    const q = buildSignedQuery(params, BINANCE_DOC_SECRET, { timestamp: 1499827319559, recvWindow: 5000 });
    expect(q).toBe(`${BINANCE_DOC_UNICODE_PAYLOAD}&signature=${BINANCE_DOC_UNICODE_SIG}`);
  });

  it('verifies the documented signatures, in any hex case', () => {
    expect(verifyBinance(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD, BINANCE_DOC_SIG)).toBe(true);
    expect(verifyBinance(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD, BINANCE_DOC_SIG.toUpperCase())).toBe(true);
    expect(
      verifyBinance(
        BINANCE_DOC_SECRET,
        BINANCE_DOC_MIXED_QUERY + BINANCE_DOC_MIXED_BODY,
        BINANCE_DOC_MIXED_SIG,
      ),
    ).toBe(true);
  });
});

describe('Binance signing: behaviour', () => {
  it('signs exactly the bytes before &signature=', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ minLength: 1 }), fc.string()), { maxLength: 8 }),
        fc.integer({ min: 1, max: 2 ** 45 }),
        (pairs, ts) => {
          const params = pairs.filter(([k]) => !['timestamp', 'recvWindow', 'signature'].includes(k));
          const q = buildSignedQuery(params, BINANCE_DOC_SECRET, { timestamp: ts, recvWindow: 5000 });
          const i = q.lastIndexOf('&signature=');
          const payload = q.slice(0, i);
          const sig = q.slice(i + '&signature='.length);
          expect(sig).toMatch(/^[0-9a-f]{64}$/);
          expect(createHmac('sha256', BINANCE_DOC_SECRET).update(payload).digest('hex')).toBe(sig);
          expect(verifyBinanceRequest(BINANCE_DOC_SECRET, q)).toBe(true);
          // What the server decodes is what the caller meant: encoded once, nothing lost.
          const decoded = [...new URLSearchParams(q)];
          expect(decoded).toEqual([
            ...params,
            ['recvWindow', '5000'],
            ['timestamp', String(ts)],
            ['signature', sig],
          ]);
        },
      ),
    );
  });

  it('percent-encodes everything outside the RFC 3986 unreserved set, once', () => {
    expect(percentEncode('a b+c&d=e')).toBe('a%20b%2Bc%26d%3De');
    expect(percentEncode("!'()*")).toBe('%21%27%28%29%2A');
    expect(percentEncode('AZaz09-._~')).toBe('AZaz09-._~');
    expect(percentEncode('%41')).toBe('%2541'); // already-encoded text is encoded again, not passed through
    expect(encodeBinanceParams([['batchOrders', '[{"symbol":"BTCUSDT"}]']])).toBe(
      'batchOrders=%5B%7B%22symbol%22%3A%22BTCUSDT%22%7D%5D',
    );
  });

  it('rejects parameters it adds itself, and bad timing values', () => {
    for (const k of ['timestamp', 'recvWindow', 'signature']) {
      expectDataErrorWithoutSecret(
        () => buildSignedQuery([[k, '1']], BINANCE_DOC_SECRET, { timestamp: 1 }),
        BINANCE_DOC_SECRET,
      );
    }
    for (const timestamp of [0, -1, 1.5, Number.NaN]) {
      expectDataErrorWithoutSecret(
        () => buildSignedQuery([], BINANCE_DOC_SECRET, { timestamp }),
        BINANCE_DOC_SECRET,
      );
    }
    for (const recvWindow of [0, -5, 60_001, Number.POSITIVE_INFINITY]) {
      expectDataErrorWithoutSecret(
        () => buildSignedQuery([], BINANCE_DOC_SECRET, { timestamp: 1, recvWindow }),
        BINANCE_DOC_SECRET,
      );
    }
    expect(buildSignedQuery([], BINANCE_DOC_SECRET, { timestamp: 7 })).toMatch(
      /^timestamp=7&signature=[0-9a-f]{64}$/,
    );
  });

  it('rejects text with a lone surrogate without quoting it', () => {
    const err = expectDataErrorWithoutSecret(
      () => buildSignedQuery([['note', 'x\uD800y']], BINANCE_DOC_SECRET, { timestamp: 1 }),
      BINANCE_DOC_SECRET,
    );
    expect(err.code).toBe('BAD_PARAM');
  });

  it('rejects an empty secret', () => {
    expect(() => signBinance('', 'a=1')).toThrow(DataError);
  });

  it('verify: false for tampered payloads and malformed signatures', () => {
    expect(verifyBinance(BINANCE_DOC_SECRET, `${BINANCE_DOC_PAYLOAD}0`, BINANCE_DOC_SIG)).toBe(false);
    expect(verifyBinance(`${BINANCE_DOC_SECRET}x`, BINANCE_DOC_PAYLOAD, BINANCE_DOC_SIG)).toBe(false);
    expect(verifyBinance(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD, BINANCE_DOC_SIG.slice(2))).toBe(false);
    expect(verifyBinance(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD, `${BINANCE_DOC_SIG}00`)).toBe(false);
    expect(verifyBinance(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD, `${BINANCE_DOC_SIG.slice(1)}g`)).toBe(
      false,
    );
    expect(verifyBinance(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD, '')).toBe(false);
  });

  it('verifyBinanceRequest finds the signature at the end of the body or of the query', () => {
    // The docs' curl for example 3 sends the signature at the end of the body.
    expect(
      verifyBinanceRequest(
        BINANCE_DOC_SECRET,
        BINANCE_DOC_MIXED_QUERY,
        `${BINANCE_DOC_MIXED_BODY}&signature=${BINANCE_DOC_MIXED_SIG}`,
      ),
    ).toBe(true);
    expect(
      verifyBinanceRequest(BINANCE_DOC_SECRET, `${BINANCE_DOC_PAYLOAD}&signature=${BINANCE_DOC_SIG}`),
    ).toBe(true);
    expect(
      verifyBinanceRequest(BINANCE_DOC_SECRET, '', `${BINANCE_DOC_PAYLOAD}&signature=${BINANCE_DOC_SIG}`),
    ).toBe(true);
    // Not last, missing, or a look-alike parameter name: rejected.
    expect(
      verifyBinanceRequest(BINANCE_DOC_SECRET, `signature=${BINANCE_DOC_SIG}&${BINANCE_DOC_PAYLOAD}`),
    ).toBe(false);
    expect(verifyBinanceRequest(BINANCE_DOC_SECRET, BINANCE_DOC_PAYLOAD)).toBe(false);
    expect(
      verifyBinanceRequest(BINANCE_DOC_SECRET, `${BINANCE_DOC_PAYLOAD}&xsignature=${BINANCE_DOC_SIG}`),
    ).toBe(false);
  });
});

describe('Binance timing rule', () => {
  it('accepts < 1 s ahead and <= recvWindow behind, exactly at the boundaries', () => {
    const server = 1_700_000_000_000;
    expect(timestampAcceptable(server + 999, server)).toBe(true);
    expect(timestampAcceptable(server + 1000, server)).toBe(false);
    expect(timestampAcceptable(server + 1000, server, 60_000)).toBe(false); // recvWindow does not help
    expect(timestampAcceptable(server - 5000, server)).toBe(true);
    expect(timestampAcceptable(server - 5001, server)).toBe(false);
    expect(timestampAcceptable(server - 10_000, server, 10_000)).toBe(true);
    expect(timestampAcceptable(server - 10_001, server, 10_000)).toBe(false);
  });
});

/** A clock whose wall time and monotonic time move independently (NTP steps only the wall clock). */
class SplitClock implements Clock {
  wallMs: number;
  monoMsValue: number;
  constructor(wallMs: number, monoMs: number) {
    this.wallMs = wallMs;
    this.monoMsValue = monoMs;
  }
  now(): number {
    return this.wallMs;
  }
  monoNs(): bigint {
    return BigInt(Math.round(this.monoMsValue * 1e6));
  }
  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMsValue += ms;
  }
}

describe('ServerTimeOffset', () => {
  it('falls back to wall clock minus the margin before any sample', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const sto = new ServerTimeOffset({ clock, safetyMarginMs: 250 });
    expect(sto.offsetMs()).toBeUndefined();
    expect(sto.timestamp()).toBe(1_700_000_000_000 - 250);
  });

  it('corrects by half the round trip and takes the median', () => {
    const clock = new ManualClock(1_000_000);
    const sto = new ServerTimeOffset({ clock, safetyMarginMs: 100 });
    const trueOffset = 3000; // server ahead of us by 3 s
    for (const rtt of [40, 60, 50]) {
      const sent = clock.monoNs();
      clock.advance(rtt / 2);
      const serverTime = clock.now() + trueOffset; // server reads its clock mid-flight
      clock.advance(rtt / 2);
      expect(sto.addSample(serverTime, sent, clock.monoNs())).toBe(true);
    }
    // One wild outlier (server reading 2 s off) does not move the median.
    const sent = clock.monoNs();
    clock.advance(10);
    expect(sto.addSample(clock.now() + trueOffset + 2000, sent, clock.monoNs())).toBe(true);
    expect(sto.offsetMs()).toBe(trueOffset);
    clock.advance(1234);
    expect(sto.timestamp()).toBe(clock.now() + trueOffset - 100);
  });

  it('drops samples whose round trip is too long, negative, or whose serverTime is bad', () => {
    const clock = new ManualClock(1_000_000);
    const sto = new ServerTimeOffset({ clock });
    const t0 = clock.monoNs();
    expect(sto.addSample(5, t0, t0 + 1_000_000_000n)).toBe(false); // 1000 ms round trip
    expect(sto.addSample(5, t0, t0 - 1n)).toBe(false);
    expect(sto.addSample(Number.NaN, t0, t0)).toBe(false);
    expect(sto.addSample(0, t0, t0)).toBe(false);
    expect(sto.sampleCount).toBe(0);
  });

  it('is immune to wall-clock steps between samples (it runs on the monotonic clock)', () => {
    const clock = new SplitClock(1_700_000_000_000, 50);
    const sto = new ServerTimeOffset({ clock, safetyMarginMs: 0 });
    const serverAt = (monoMs: number): number => 1_700_000_000_500 + (monoMs - 50);
    const sent = clock.monoNs();
    clock.advance(20);
    expect(sto.addSample(serverAt(clock.monoMsValue - 10), sent, clock.monoNs())).toBe(true);
    clock.wallMs -= 3_600_000; // NTP steps the wall clock back an hour
    clock.advance(700);
    expect(sto.timestamp()).toBe(serverAt(clock.monoMsValue));
  });

  it('sync() times the fetch itself', async () => {
    const clock = new ManualClock(2_000_000);
    const sto = new ServerTimeOffset({ clock, safetyMarginMs: 0 });
    const ok = await sto.sync(() => {
      clock.advance(30);
      const t = clock.now() + 700;
      clock.advance(30);
      return Promise.resolve(t);
    });
    expect(ok).toBe(true);
    expect(sto.timestamp()).toBe(clock.now() + 700);
    sto.reset();
    expect(sto.sampleCount).toBe(0);
  });

  it('property: timestamps always pass the server rule (never >= 1 s ahead, within recvWindow)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -600_000, max: 600_000 }), // true server − local offset
        fc.array(
          fc.record({
            rtt: fc.integer({ min: 0, max: 1500 }),
            // where in the round trip the server read its clock (0 = at send, 1 = at receive)
            at: fc.double({ min: 0, max: 1, noNaN: true }),
            gap: fc.integer({ min: 0, max: 60_000 }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        fc.integer({ min: 0, max: 30_000 }),
        (trueOffset, samples, later) => {
          const clock = new ManualClock(1_700_000_000_000);
          const sto = new ServerTimeOffset({ clock, maxSamples: 5 });
          for (const s of samples) {
            clock.advance(s.gap);
            const sent = clock.monoNs();
            const serverTime = Math.floor(clock.now() + s.rtt * s.at + trueOffset);
            clock.advance(s.rtt);
            sto.addSample(serverTime, sent, clock.monoNs());
          }
          if (sto.sampleCount === 0) return; // every round trip too long: nothing learned
          clock.advance(later);
          const serverNow = clock.now() + trueOffset;
          expect(timestampAcceptable(sto.timestamp(), serverNow, 5000)).toBe(true);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Kraken spot. Vector from the Spot REST Authentication guide,
// https://docs.kraken.com/api/docs/guides/spot-rest-auth (example private key; not a real key).
// ---------------------------------------------------------------------------------------------
const KRAKEN_DOC_SECRET =
  'kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==';
const KRAKEN_DOC_NONCE = '1616492376594';
const KRAKEN_DOC_BODY = 'nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25';
const KRAKEN_DOC_PATH = '/0/private/AddOrder';
const KRAKEN_DOC_SIGN =
  '4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==';
/** The Futures docs' example secret: 87 characters, not valid base64 (VENUES.md 4.1). */
const KRAKEN_FUTURES_DOC_BAD_SECRET =
  'rttp4AzwRfYEdQ7R7X8Z/04Y4TZPa97pqCypi3xXxAqftygftnI6H9yGV+OcUOOJeFtZkr8mVwbAndU3Kz4Q+eG';

/** Spot API-Sign, derived step by step here, independently of the code under test. */
function referenceSpotSign(secret: string, path: string, nonce: string, body: string): string {
  const inner = createHash('sha256');
  inner.update(Buffer.from(nonce, 'utf8'));
  inner.update(Buffer.from(body, 'utf8'));
  const message = Buffer.concat([Buffer.from(path, 'utf8'), inner.digest()]);
  return createHmac('sha512', Buffer.from(secret, 'base64')).update(message).digest('base64');
}

describe('Kraken spot signing', () => {
  it('matches the official docs example', () => {
    expect(signKraken(KRAKEN_DOC_SECRET, KRAKEN_DOC_PATH, KRAKEN_DOC_NONCE, KRAKEN_DOC_BODY)).toBe(
      KRAKEN_DOC_SIGN,
    );
    expect(signKraken(KRAKEN_DOC_SECRET, KRAKEN_DOC_PATH, 1616492376594n, KRAKEN_DOC_BODY)).toBe(
      KRAKEN_DOC_SIGN,
    );
    expect(verifyKraken(KRAKEN_DOC_SECRET, KRAKEN_DOC_PATH, KRAKEN_DOC_BODY, KRAKEN_DOC_SIGN)).toBe(true);
  });

  it('verify: false for a tampered body, path, secret, or a malformed signature', () => {
    expect(
      verifyKraken(
        KRAKEN_DOC_SECRET,
        KRAKEN_DOC_PATH,
        KRAKEN_DOC_BODY.replace('1.25', '12.5'),
        KRAKEN_DOC_SIGN,
      ),
    ).toBe(false);
    expect(verifyKraken(KRAKEN_DOC_SECRET, '/0/private/Balance', KRAKEN_DOC_BODY, KRAKEN_DOC_SIGN)).toBe(
      false,
    );
    const other = randomBytes(64).toString('base64');
    expect(verifyKraken(other, KRAKEN_DOC_PATH, KRAKEN_DOC_BODY, KRAKEN_DOC_SIGN)).toBe(false);
    expect(verifyKraken(KRAKEN_DOC_SECRET, KRAKEN_DOC_PATH, KRAKEN_DOC_BODY, KRAKEN_DOC_SIGN.slice(4))).toBe(
      false,
    );
    expect(verifyKraken(KRAKEN_DOC_SECRET, KRAKEN_DOC_PATH, KRAKEN_DOC_BODY, `${KRAKEN_DOC_SIGN}AAAA`)).toBe(
      false,
    );
    expect(verifyKraken(KRAKEN_DOC_SECRET, KRAKEN_DOC_PATH, KRAKEN_DOC_BODY, 'not base64!')).toBe(false);
    expect(verifyKraken(KRAKEN_DOC_SECRET, KRAKEN_DOC_PATH, 'ordertype=limit', KRAKEN_DOC_SIGN)).toBe(false);
  });

  it('requires the body to carry exactly the nonce being signed', () => {
    const s = KRAKEN_DOC_SECRET;
    expectDataErrorWithoutSecret(() => signKraken(s, KRAKEN_DOC_PATH, '1616492376595', KRAKEN_DOC_BODY), s);
    expectDataErrorWithoutSecret(() => signKraken(s, KRAKEN_DOC_PATH, '1', 'ordertype=limit'), s);
    expectDataErrorWithoutSecret(() => signKraken(s, KRAKEN_DOC_PATH, '1', 'nonce=1&nonce=1'), s);
    expectDataErrorWithoutSecret(() => signKraken(s, KRAKEN_DOC_PATH, '-1', 'nonce=-1'), s);
    expectDataErrorWithoutSecret(() => signKraken(s, 'AddOrder', '1', 'nonce=1'), s);
    expectDataErrorWithoutSecret(() => signKraken(s, '/0/private/AddOrder?x=1', '1', 'nonce=1'), s);
    expect(krakenNonceOf('a=1&nonce=42&b=2')).toBe('42');
    expect(krakenNonceOf('xnonce=42')).toBeUndefined();
  });

  it('rejects a secret that is not strict base64, without quoting it', () => {
    for (const bad of [KRAKEN_FUTURES_DOC_BAD_SECRET, `${KRAKEN_DOC_SECRET.slice(0, -2)}`, 'abc$', '']) {
      const err = expectDataErrorWithoutSecret(
        () => signKraken(bad, KRAKEN_DOC_PATH, KRAKEN_DOC_NONCE, KRAKEN_DOC_BODY),
        bad || 'unused-marker',
      );
      expect(err.code).toBe('BAD_SECRET');
    }
    expect(decodeKrakenSecret(KRAKEN_DOC_SECRET)).toHaveLength(64);
  });

  it('property: equals an independent step-by-step derivation, and verifies', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 128 }),
        fc.stringMatching(/^\/0\/private\/[A-Za-z]{1,20}$/),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.string()), { maxLength: 5 }),
        (secretBytes, path, nonceN, params) => {
          const secret = Buffer.from(secretBytes).toString('base64');
          const nonce = nonceN.toString();
          const body = new URLSearchParams([
            ['nonce', nonce],
            ...params.filter(([k]) => k !== 'nonce'),
          ]).toString();
          const sig = signKraken(secret, path, nonce, body);
          expect(sig).toBe(referenceSpotSign(secret, path, nonce, body));
          expect(verifyKraken(secret, path, body, sig)).toBe(true);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Kraken Futures. The docs give no usable Authent vector (their example secret is malformed), so
// Authent is checked against a derivation written out here, plus properties. The WS challenge
// vector is official: https://docs.kraken.com/api/docs/guides/futures-websockets
// ---------------------------------------------------------------------------------------------

/** Futures Authent, derived step by step here, independently of the code under test. */
function referenceAuthent(secret: string, path: string, nonce: string, postData: string): string {
  const step1 = postData + nonce + path;
  const step2 = createHash('sha256').update(Buffer.from(step1, 'utf8')).digest();
  const step3 = Buffer.from(secret, 'base64');
  const step4 = createHmac('sha512', step3).update(step2).digest();
  return step4.toString('base64');
}

const FUT_SECRET = Buffer.from(
  '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0011',
  'hex',
).toString('base64');

describe('Kraken Futures signing', () => {
  const body = 'orderType=lmt&symbol=PF_XBTUSD&side=buy&size=1&limitPrice=30000.5';

  it('equals the independent derivation: SHA256(postData + nonce + path)', () => {
    const nonce = '1700000000000';
    const expected = referenceAuthent(FUT_SECRET, '/api/v3/sendorder', nonce, body);
    expect(signKrakenFutures(FUT_SECRET, '/api/v3/sendorder', nonce, body)).toBe(expected);
    expect(signKrakenFutures(FUT_SECRET, '/api/v3/sendorder', 1700000000000n, body)).toBe(expected);
    // Not spot's order (nonce first):
    expect(expected).not.toBe(referenceAuthent(FUT_SECRET, '/api/v3/sendorder', '', nonce + body));
    expect(verifyKrakenFutures(FUT_SECRET, '/api/v3/sendorder', nonce, body, expected)).toBe(true);
  });

  it('strips a /derivatives prefix: both spellings sign the same string', () => {
    const a = signKrakenFutures(FUT_SECRET, '/derivatives/api/v3/sendorder', '5', body);
    const b = signKrakenFutures(FUT_SECRET, '/api/v3/sendorder', '5', body);
    expect(a).toBe(b);
    expect(a).toBe(referenceAuthent(FUT_SECRET, '/api/v3/sendorder', '5', body));
    expect(a).not.toBe(referenceAuthent(FUT_SECRET, '/derivatives/api/v3/sendorder', '5', body));
    expect(verifyKrakenFutures(FUT_SECRET, '/derivatives/api/v3/sendorder', '5', body, b)).toBe(true);
    expect(futuresSigningPath('/derivatives/api/v3/openpositions')).toBe('/api/v3/openpositions');
    expect(futuresSigningPath('/derivativesx/api')).toBe('/derivativesx/api');
    expect(futuresSigningPath('/api/v3/openpositions')).toBe('/api/v3/openpositions');
  });

  it('allows an empty nonce (no Nonce header) and empty postData (GET)', () => {
    const expected = referenceAuthent(FUT_SECRET, '/api/v3/openpositions', '', '');
    expect(signKrakenFutures(FUT_SECRET, '/api/v3/openpositions', '', '')).toBe(expected);
    expect(signKrakenFutures(FUT_SECRET, '/api/v3/openpositions', undefined, '')).toBe(expected);
    expect(verifyKrakenFutures(FUT_SECRET, '/api/v3/openpositions', undefined, '', expected)).toBe(true);
  });

  it('hashes postData without a leading "?", as encoded (batchorder JSON)', () => {
    const encoded = `json=${encodeURIComponent('{"batchOrder":[{"order":"send","order_tag":"1"}]}')}`;
    expect(signKrakenFutures(FUT_SECRET, '/api/v3/batchorder', '9', `?${encoded}`)).toBe(
      referenceAuthent(FUT_SECRET, '/api/v3/batchorder', '9', encoded),
    );
    // The pre-2024 decoded form is a different signature.
    expect(signKrakenFutures(FUT_SECRET, '/api/v3/batchorder', '9', encoded)).not.toBe(
      referenceAuthent(FUT_SECRET, '/api/v3/batchorder', '9', decodeURIComponent(encoded)),
    );
  });

  it('rejects bad inputs without quoting the secret; verify returns false instead', () => {
    const err = expectDataErrorWithoutSecret(
      () => signKrakenFutures(KRAKEN_FUTURES_DOC_BAD_SECRET, '/api/v3/sendorder', '1', body),
      KRAKEN_FUTURES_DOC_BAD_SECRET,
    );
    expect(err.code).toBe('BAD_SECRET');
    expectDataErrorWithoutSecret(() => signKrakenFutures(FUT_SECRET, '/api/v3/x', '1a', body), FUT_SECRET);
    expectDataErrorWithoutSecret(() => signKrakenFutures(FUT_SECRET, 'api/v3/x', '1', body), FUT_SECRET);
    expectDataErrorWithoutSecret(() => signKrakenFutures(FUT_SECRET, '/api/v3/x?a=1', '1', ''), FUT_SECRET);
    const good = signKrakenFutures(FUT_SECRET, '/api/v3/x', '1', body);
    expect(verifyKrakenFutures(FUT_SECRET, '/api/v3/x', '1a', body, good)).toBe(false);
    expect(verifyKrakenFutures(FUT_SECRET, 'api/v3/x', '1', body, good)).toBe(false);
    expect(verifyKrakenFutures(FUT_SECRET, '/api/v3/x', '1', body, 'garbage')).toBe(false);
  });

  it('property: any change of path, nonce or data changes the signature', () => {
    const path = fc.stringMatching(/^\/api\/v3\/[a-z]{1,12}$/);
    const nonce = fc.oneof(fc.constant(''), fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String));
    const data = fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s));
    fc.assert(
      fc.property(fc.tuple(path, nonce, data), fc.tuple(path, nonce, data), ([p1, n1, d1], [p2, n2, d2]) => {
        const s1 = signKrakenFutures(FUT_SECRET, p1, n1, d1);
        expect(s1).toBe(referenceAuthent(FUT_SECRET, p1, n1, d1));
        const s2 = signKrakenFutures(FUT_SECRET, p2, n2, d2);
        // Same concatenation ⇔ same signature (the concatenation itself can coincide, e.g. "1"+"2" / "12"+"").
        expect(s1 === s2).toBe(d1 + n1 + p1 === d2 + n2 + p2);
        expect(verifyKrakenFutures(FUT_SECRET, p1, n1, d1, s2)).toBe(s1 === s2);
      }),
    );
  });

  it('signs the WS challenge: official docs vector', () => {
    const secret = '7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm';
    const challenge = 'c100b894-1729-464d-ace1-52dbce11db42';
    const signed = '4JEpF3ix66GA2B+ooK128Ift4XQVtc137N9yeg4Kqsn9PI0Kpzbysl9M1IeCEdjg0zl00wkVqcsnG4bmnlMb3A==';
    expect(signChallenge(secret, challenge)).toBe(signed);
    expect(verifyChallenge(secret, challenge, signed)).toBe(true);
    expect(verifyChallenge(secret, challenge.replace('c100', 'c101'), signed)).toBe(false);
    expect(verifyChallenge(secret, '', signed)).toBe(false);
    expectDataErrorWithoutSecret(() => signChallenge(secret, ''), secret);
  });
});

// ---------------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32) for the long runs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A wall clock that mostly ticks forward and sometimes jumps back (up to an hour). */
function jumpyClock(seed: number, startMs: number): { now: () => number } {
  const r = rng(seed);
  let ms = startMs;
  return {
    now: () => {
      const x = r();
      if (x < 0.01) ms -= Math.floor(r() * 3_600_000);
      else if (x < 0.5) ms += Math.floor(r() * 3);
      return ms;
    },
  };
}

describe('NonceSource', () => {
  it('is seeded from wall-clock microseconds', () => {
    const clock = new ManualClock(1_700_000_000_123);
    const src = new NonceSource({ clock });
    expect(src.next()).toBe(1_700_000_000_123_000n);
    expect(src.next()).toBe(1_700_000_000_123_001n);
    clock.advance(1);
    expect(src.nextString()).toBe('1700000000124000');
  });

  it('is strictly increasing over 1e5 calls while the clock jumps backwards', () => {
    const src = new NonceSource({ clock: jumpyClock(42, 1_700_000_000_000) });
    let prev = -1n;
    for (let i = 0; i < 100_000; i++) {
      const n = src.next();
      if (n <= prev) throw new Error(`nonce went from ${prev} to ${n} at call ${i}`);
      prev = n;
    }
    expect(src.last).toBe(prev);
  });

  it('property: strictly increasing for any clock sequence, and never behind the clock', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4_000_000_000_000 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 16 }),
        (times, lanes) => {
          let i = 0;
          const src = new NonceSource({ clock: { now: () => times[i]! }, lanes, lane: lanes - 1 });
          let prev = -1n;
          for (; i < times.length; i++) {
            const n = src.next();
            expect(n > prev).toBe(true);
            expect(n >= BigInt(times[i]!) * 1000n).toBe(true);
            expect(n % BigInt(lanes)).toBe(BigInt(lanes - 1));
            prev = n;
          }
        },
      ),
    );
  });

  it('lanes never collide, even with the same clock and with jumping clocks', () => {
    for (const lanes of [2, 3, 7]) {
      const seen = new Map<bigint, number>();
      for (let lane = 0; lane < lanes; lane++) {
        // Every "process" starts at the same ms; only the lane keeps them apart. Half of them see a
        // steadily ticking clock, the other half one that jumps back.
        const shared = new ManualClock(1_700_000_000_000);
        const src =
          lane % 2 === 0
            ? new NonceSource({ clock: shared, lanes, lane })
            : new NonceSource({ clock: jumpyClock(1000 + lane, 1_700_000_000_000), lanes, lane });
        let prev = -1n;
        for (let i = 0; i < 20_000; i++) {
          if (i % 5 === 0) shared.advance(1);
          const n = src.next();
          if (n <= prev) throw new Error(`lane ${lane} went from ${prev} to ${n}`);
          prev = n;
          const owner = seen.get(n);
          if (owner !== undefined) throw new Error(`lanes ${owner} and ${lane} both issued ${n}`);
          seen.set(n, lane);
          if (Number(n % BigInt(lanes)) !== lane) throw new Error(`lane ${lane} issued ${n}`);
        }
      }
    }
  });

  it('property: two lanes on the same clock readings never issue the same nonce', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10 }).chain((lanes) =>
          fc.tuple(
            fc.constant(lanes),
            fc.uniqueArray(fc.integer({ min: 0, max: lanes - 1 }), { minLength: 2, maxLength: 2 }),
            fc.array(fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_050 }), {
              minLength: 1,
              maxLength: 200,
            }),
          ),
        ),
        ([lanes, [laneA, laneB], times]) => {
          let i = 0;
          const clock = { now: () => times[i % times.length]! };
          const a = new NonceSource({ clock, lanes, lane: laneA });
          const b = new NonceSource({ clock, lanes, lane: laneB });
          const fromA = new Set<bigint>();
          const fromB: bigint[] = [];
          for (; i < times.length * 2; i++) {
            fromA.add(a.next());
            fromB.push(b.next());
          }
          for (const n of fromB) expect(fromA.has(n)).toBe(false);
        },
      ),
    );
  });

  it('respects a floor, observe() only raises it, and a broken clock still counts up', () => {
    const clock = new ManualClock(1000);
    const src = new NonceSource({ clock, floor: 5_000_000n });
    expect(src.next()).toBe(5_000_001n);
    src.observe(9_000_000n);
    src.observe(1n);
    expect(src.next()).toBe(9_000_001n);
    clock.set(Number.NaN);
    expect(src.next()).toBe(9_000_002n);
  });

  it('rejects bad lane settings', () => {
    expect(() => new NonceSource({ lanes: 0 })).toThrow(DataError);
    expect(() => new NonceSource({ lanes: 2, lane: 2 })).toThrow(DataError);
    expect(() => new NonceSource({ lanes: 2, lane: -1 })).toThrow(DataError);
    expect(() => new NonceSource({ lanes: 1.5 })).toThrow(DataError);
    expect(() => new NonceSource({ floor: -2n })).toThrow(DataError);
  });
});
