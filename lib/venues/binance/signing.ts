/**
 * Binance HMAC-SHA256 request signing, shared by USD-M futures and Binance.US spot (VENUES.md 1.5, 2):
 * the REST clients sign with it and the exchange simulator verifies with it.
 *
 * - `signature = hex(HMAC_SHA256(secret, totalParams))`, where totalParams is the query string
 *   concatenated with the request body, with NOTHING between them (`...timeInForce=GTCquantity=1...`).
 * - Sign exactly the bytes that are sent: encode each parameter once, join, hash that string, and
 *   put `signature` last.
 * - The signature is not case sensitive; the secret is.
 * - Server timing rule: `timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow`.
 *   A client clock more than 1 s AHEAD of the server is always rejected (-1021), so timestamps
 *   come from ServerTimeOffset.
 *
 * The futures docs' mixed query+body example only reproduces with a literal space in
 * `timestamp= 1591702613943`: that is a typo in the docs, and nothing here is fitted to it.
 *
 * Secrets never appear in errors or return values (other than through the signature itself).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError } from '#core/errors.ts';

/** Binance's default recvWindow (ms) when the parameter is not sent. */
export const BINANCE_DEFAULT_RECV_WINDOW_MS = 5000;
/** The largest recvWindow Binance accepts (ms). */
export const BINANCE_MAX_RECV_WINDOW_MS = 60_000;
/** The server rejects a timestamp this far (ms) or more ahead of its own clock. */
export const BINANCE_MAX_AHEAD_MS = 1000;

/** Parameters the signer appends itself; callers must not pass them. */
const RESERVED = new Set(['timestamp', 'recvWindow', 'signature']);
const HEX_SIGNATURE = /^[0-9a-fA-F]{64}$/;

function hmacHex(secret: string, message: string): string {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new DataError('BAD_SECRET', 'Binance API secret is empty or not a string');
  }
  return createHmac('sha256', secret).update(message, 'utf8').digest('hex');
}

/** `hex(HMAC_SHA256(secret, queryString ‖ body))`: query and body joined with no separator. */
export function signBinance(secret: string, queryString: string, body = ''): string {
  return hmacHex(secret, queryString + body);
}

/**
 * Percent-encodes one key or value: UTF-8, and everything outside RFC 3986's unreserved set
 * (`A-Z a-z 0-9 - . _ ~`) becomes `%XX` (uppercase hex). Spaces become `%20`, never `+`.
 */
export function percentEncode(text: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(text);
  } catch {
    // A lone UTF-16 surrogate has no UTF-8 form. The text is not quoted: it may be anything.
    throw new DataError('BAD_PARAM', 'parameter text is not well-formed Unicode');
  }
  return encoded.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `k1=v1&k2=v2…` in the given order, each key and value percent-encoded once. */
export function encodeBinanceParams(params: ReadonlyArray<readonly [string, string]>): string {
  return params.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&');
}

export interface SignedQueryTiming {
  /** Request time in ms, from ServerTimeOffset.timestamp(). */
  readonly timestamp: number;
  /** Validity window in ms; omitted means not sent (the server then uses 5000). */
  readonly recvWindow?: number | undefined;
}

/**
 * The complete signed parameter string, ready to send as the query string (or as the whole
 * form body): the params in the given order, encoded once, then `recvWindow` (when given), then
 * `timestamp`, then `signature` LAST. The signature covers exactly the bytes before `&signature=`.
 */
export function buildSignedQuery(
  params: ReadonlyArray<readonly [string, string]>,
  secret: string,
  timing: SignedQueryTiming,
): string {
  for (const [k] of params) {
    if (RESERVED.has(k)) {
      throw new DataError('BAD_PARAM', `parameter ${k} is added by the signer; do not pass it`);
    }
  }
  const { timestamp, recvWindow } = timing;
  if (!Number.isSafeInteger(timestamp) || timestamp <= 0) {
    throw new DataError('BAD_TIMESTAMP', `timestamp must be a positive integer in ms, got ${timestamp}`);
  }
  const all: Array<readonly [string, string]> = [...params];
  if (recvWindow !== undefined) {
    if (!Number.isFinite(recvWindow) || recvWindow <= 0 || recvWindow > BINANCE_MAX_RECV_WINDOW_MS) {
      throw new DataError(
        'BAD_RECV_WINDOW',
        `recvWindow must be in (0, ${BINANCE_MAX_RECV_WINDOW_MS}] ms, got ${recvWindow}`,
      );
    }
    all.push(['recvWindow', String(recvWindow)]);
  }
  all.push(['timestamp', String(timestamp)]);
  const payload = encodeBinanceParams(all);
  return `${payload}&signature=${signBinance(secret, payload)}`;
}

/**
 * Constant-time check of a received signature against `totalParams` (query ‖ body, without the
 * signature parameter). Hex case is ignored; anything that is not 64 hex digits is false.
 */
export function verifyBinance(secret: string, totalParams: string, signature: string): boolean {
  const expected = Buffer.from(hmacHex(secret, totalParams), 'hex');
  if (typeof signature !== 'string' || !HEX_SIGNATURE.test(signature)) return false;
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

/** Splits a trailing `signature=<value>` parameter off a raw (still encoded) parameter string. */
function splitTrailingSignature(raw: string): { rest: string; signature: string } | undefined {
  const i = raw.lastIndexOf('signature=');
  if (i < 0) return undefined;
  if (i > 0 && raw[i - 1] !== '&') return undefined;
  const signature = raw.slice(i + 'signature='.length);
  if (signature.includes('&')) return undefined; // not the last parameter
  return { rest: i === 0 ? '' : raw.slice(0, i - 1), signature };
}

/**
 * Simulator side: verifies a request as received, with `signature` as the last parameter of the
 * body or, when the body has none, of the query string. The bytes checked are the raw query
 * string ‖ raw body with that one parameter removed.
 */
export function verifyBinanceRequest(secret: string, rawQuery: string, rawBody = ''): boolean {
  const inBody = splitTrailingSignature(rawBody);
  if (inBody) return verifyBinance(secret, rawQuery + inBody.rest, inBody.signature);
  const inQuery = splitTrailingSignature(rawQuery);
  if (inQuery) return verifyBinance(secret, inQuery.rest + rawBody, inQuery.signature);
  return false;
}

/**
 * The server's timing rule (VENUES.md 1.5): accept iff the request is less than 1 s ahead of the
 * server clock and at most recvWindow behind it.
 */
export function timestampAcceptable(
  timestamp: number,
  serverTime: number,
  recvWindow: number = BINANCE_DEFAULT_RECV_WINDOW_MS,
): boolean {
  return timestamp < serverTime + BINANCE_MAX_AHEAD_MS && serverTime - timestamp <= recvWindow;
}

export interface ServerTimeOffsetOptions {
  /** Gives the monotonic time that carries the estimate, and the wall time before any sample. */
  readonly clock?: Clock | undefined;
  /** The median is taken over at most this many recent samples. @default 9 */
  readonly maxSamples?: number | undefined;
  /**
   * Samples whose round trip is this long or longer are dropped: half the round trip bounds the
   * error of a sample, and the bound must stay well under the 1 s the server tolerates.
   * @default 1000
   */
  readonly maxRoundTripMs?: number | undefined;
  /** Subtracted from every timestamp. @default 250 */
  readonly safetyMarginMs?: number | undefined;
}

interface Sample {
  /** serverTime − local monotonic ms at the moment the server read its clock (estimated). */
  readonly offsetMs: number;
  readonly roundTripMs: number;
}

const NS_PER_MS = 1_000_000n;

function monoMs(clock: Clock): number {
  return Number(clock.monoNs() / 1000n) / 1000;
}

/**
 * Tracks the server clock from `/time` responses (`{"serverTime": ms}`) to avoid -1021.
 *
 * Each sample assumes the server read its clock halfway through the round trip; the median over
 * recent samples rejects outliers. The estimate is kept against the MONOTONIC clock, so a wall-clock
 * step (NTP) between samples does not move it. A sample's error is at most half its round trip,
 * and samples with a round trip ≥ maxRoundTripMs are dropped, so `timestamp()` is at most
 * maxRoundTripMs/2 − safetyMarginMs ahead of the server: always less than 1 s with the defaults.
 */
export class ServerTimeOffset {
  private readonly clock: Clock;
  private readonly maxSamples: number;
  private readonly maxRoundTripMs: number;
  private readonly safetyMarginMs: number;
  private samples: Sample[] = [];

  constructor(options: ServerTimeOffsetOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxSamples = options.maxSamples ?? 9;
    this.maxRoundTripMs = options.maxRoundTripMs ?? 1000;
    this.safetyMarginMs = options.safetyMarginMs ?? 250;
    if (!Number.isSafeInteger(this.maxSamples) || this.maxSamples < 1) {
      throw new DataError('BAD_OPTION', 'maxSamples must be a positive integer');
    }
    if (!(this.maxRoundTripMs > 0 && this.maxRoundTripMs <= 2 * BINANCE_MAX_AHEAD_MS)) {
      throw new DataError('BAD_OPTION', 'maxRoundTripMs must be in (0, 2000]');
    }
    if (!(this.safetyMarginMs >= 0 && this.safetyMarginMs < BINANCE_DEFAULT_RECV_WINDOW_MS)) {
      throw new DataError('BAD_OPTION', 'safetyMarginMs must be in [0, 5000)');
    }
  }

  /**
   * Records one `/time` response. `sentMonoNs` / `receivedMonoNs` are `clock.monoNs()` readings
   * taken just before sending and just after the response arrived. Returns false when the sample
   * was dropped (round trip too long, negative, or a bad serverTime).
   */
  addSample(serverTime: number, sentMonoNs: bigint, receivedMonoNs: bigint): boolean {
    if (!Number.isFinite(serverTime) || serverTime <= 0) return false;
    const rttNs = receivedMonoNs - sentMonoNs;
    if (rttNs < 0n) return false;
    const roundTripMs = Number(rttNs) / Number(NS_PER_MS);
    if (roundTripMs >= this.maxRoundTripMs) return false;
    const midMonoMs = Number((sentMonoNs + rttNs / 2n) / 1000n) / 1000;
    this.samples.push({ offsetMs: serverTime - midMonoMs, roundTripMs });
    if (this.samples.length > this.maxSamples) this.samples.shift();
    return true;
  }

  /** Calls `fetchServerTime` (e.g. GET /fapi/v1/time → serverTime), timing it, and records it. */
  async sync(fetchServerTime: () => Promise<number>): Promise<boolean> {
    const sent = this.clock.monoNs();
    const serverTime = await fetchServerTime();
    const received = this.clock.monoNs();
    return this.addSample(serverTime, sent, received);
  }

  get sampleCount(): number {
    return this.samples.length;
  }

  /** Forgets all samples (e.g. after a -1021 despite them). */
  reset(): void {
    this.samples = [];
  }

  /** Estimated server time now (ms, fractional), or undefined before any sample. */
  serverNow(): number | undefined {
    if (this.samples.length === 0) return undefined;
    const offsets = this.samples.map((s) => s.offsetMs).sort((a, b) => a - b);
    const mid = offsets.length >> 1;
    const median = offsets.length % 2 === 1 ? offsets[mid]! : (offsets[mid - 1]! + offsets[mid]!) / 2;
    return monoMs(this.clock) + median;
  }

  /** Estimated serverTime − local wall time (ms), or undefined before any sample. For monitoring. */
  offsetMs(): number | undefined {
    const server = this.serverNow();
    return server === undefined ? undefined : server - this.clock.now();
  }

  /**
   * The `timestamp` to sign: estimated server time minus the safety margin, in whole ms. Before any
   * sample it falls back to the local wall clock minus the margin.
   */
  timestamp(): number {
    const base = this.serverNow() ?? this.clock.now();
    return Math.floor(base - this.safetyMarginMs);
  }
}
