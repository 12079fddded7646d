/**
 * A small fetch wrapper for REST snapshots and metadata. Every request is rate limited (when a
 * limiter is given), bounded by a timeout combined with the caller's signal, and its failure is
 * typed so the caller knows what to do:
 * - 429 / 418: the limiter is blocked for the venue's Retry-After, then OperationalError
 *   RATE_LIMITED / IP_BANNED carrying `retryAfterMs`.
 * - 5xx, 408, network failure, timeout: OperationalError (retry with backoff).
 * - other 4xx: DataError VENUE_REJECTED with the venue's error body (Binance `{"code":-1121,"msg":…}`).
 *
 * Error messages name the URL without its query string: queries can carry signatures and keys.
 */
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { DataError, OperationalError } from '#core/errors.ts';
import { parseRetryAfter, venueWaitMs } from './backoff.ts';
import type { RateLimiter } from './rate-limiter.ts';

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
/** Venue error bodies are quoted in errors up to this many characters. */
const BODY_QUOTE_CHARS = 300;

export interface HttpRequestOptions {
  readonly limiter?: RateLimiter | undefined;
  /** The request's weight in the limiter. @default 1 */
  readonly weight?: number | undefined;
  /** The caller's cancellation (e.g. shutdown). Also cancels waiting in the limiter. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Bound on the request itself, body included; the wait in the limiter is not counted.
   * @default DEFAULT_HTTP_TIMEOUT_MS
   */
  readonly timeoutMs?: number | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Gives `recvTs`. */
  readonly clock?: Clock | undefined;
  /** Waits after a 429 without Retry-After / after a 418; see venueWaitMs. */
  readonly rateLimitedMs?: number | undefined;
  readonly bannedMs?: number | undefined;
  /** For tests. @default globalThis.fetch */
  readonly fetch?: typeof globalThis.fetch | undefined;
}

export interface TextResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The body exactly as received. */
  readonly text: string;
  /** Local receive time (ms, the injected clock), taken when the body was complete. */
  readonly recvTs: number;
}

export interface JsonResponse<T = unknown> extends TextResponse {
  readonly body: T;
}

/** An operational HTTP failure: retry later (after `retryAfterMs` when set). */
export class HttpOperationalError extends OperationalError {
  /** HTTP status, or 0 when no response arrived (network failure, timeout, abort). */
  readonly status: number;
  /** How long we (and the limiter) stay away, for 429/418. */
  readonly retryAfterMs: number | undefined;
  /** The venue's own error code and message from a 5xx body, when it sent one (Binance 503 `-1000`). */
  readonly venueCode: number | string | undefined;
  readonly venueMessage: string | undefined;
  constructor(
    code: string,
    message: string,
    status: number,
    retryAfterMs?: number,
    options?: ErrorOptions,
    venue?: { code?: number | string | undefined; msg?: string | undefined },
  ) {
    super(code, message, options);
    this.name = 'HttpOperationalError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.venueCode = venue?.code;
    this.venueMessage = venue?.msg;
  }
}

/** The venue refused this request (4xx) or sent a body we cannot read: do not retry it unchanged. */
export class HttpDataError extends DataError {
  readonly status: number;
  /** The venue's own error code, e.g. Binance -1121. */
  readonly venueCode: number | string | undefined;
  readonly venueMessage: string | undefined;
  /** The start of the response body. */
  readonly body: string;
  constructor(
    code: string,
    message: string,
    status: number,
    venue: { code?: number | string | undefined; msg?: string | undefined },
    body: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = 'HttpDataError';
    this.status = status;
    this.venueCode = venue.code;
    this.venueMessage = venue.msg;
    this.body = body;
  }
}

/** The URL as it may appear in logs and errors: no query string, no credentials. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    const q = url.indexOf('?');
    return q >= 0 ? `${url.slice(0, q)}?…` : url;
  }
}

/** GET returning the body as text; see the module comment for the failure contract. */
export function getText(url: string, opts: HttpRequestOptions = {}): Promise<TextResponse> {
  return requestText('GET', url, opts);
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface HttpSendOptions extends HttpRequestOptions {
  /** Request body, sent as is (e.g. a signed `application/x-www-form-urlencoded` string). */
  readonly body?: string | undefined;
  /**
   * Called synchronously right after the request has been handed to fetch, before any await on
   * it (a latency measurement point). Not called when the limiter wait is cancelled.
   */
  readonly onSent?: (() => void) | undefined;
}

/**
 * Any method, returning the body as text, with the same failure contract as `getText` (a 5xx
 * error also carries the venue's code and message when the body had them). Bodies are never
 * quoted in errors for success responses; error bodies are quoted as for GET.
 */
export async function requestText(
  method: HttpMethod,
  url: string,
  opts: HttpSendOptions = {},
): Promise<TextResponse> {
  const where = `${method} ${redactUrl(url)}`;
  const clock = opts.clock ?? systemClock;
  const callerSignal = opts.signal;
  if (opts.limiter) {
    await opts.limiter.acquire(opts.weight ?? 1, callerSignal);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
  const doFetch = opts.fetch ?? globalThis.fetch;

  let res: Response;
  let text: string;
  try {
    const pending = doFetch(url, {
      method,
      headers: { accept: 'application/json', ...opts.headers },
      signal,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    });
    opts.onSent?.();
    res = await pending;
    // Headers first: the venue's count is news even when the body never arrives.
    opts.limiter?.observe(res.headers);
    text = await res.text();
  } catch (err) {
    if (callerSignal?.aborted) {
      throw new HttpOperationalError('ABORTED', `${where}: cancelled`, 0, undefined, { cause: err });
    }
    if (timeout.aborted) {
      throw new HttpOperationalError(
        'TIMEOUT',
        `${where}: no complete response within ${timeoutMs} ms`,
        0,
        undefined,
        {
          cause: err,
        },
      );
    }
    // Some fetch errors quote the whole URL (e.g. "Failed to parse URL from …?signature=…"):
    // redact the message and keep such an error out of the cause chain a logger would print.
    const detail = describe(err);
    const leaks = url.includes('?') && detail.includes(url);
    throw new HttpOperationalError(
      'NETWORK',
      `${where}: ${detail.split(url).join(redactUrl(url))}`,
      0,
      undefined,
      leaks ? undefined : { cause: err },
    );
  }
  const recvTs = clock.now();
  const status = res.status;

  if (status === 429 || status === 418) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), clock.now());
    const wait = venueWaitMs(status, retryAfterMs, opts) as number;
    opts.limiter?.penalize(wait);
    const code = status === 418 ? 'IP_BANNED' : 'RATE_LIMITED';
    const said = retryAfterMs === undefined ? 'no Retry-After' : `Retry-After ${retryAfterMs} ms`;
    throw new HttpOperationalError(
      code,
      `${where}: HTTP ${status} (${said}); holding off ${wait} ms${venueSuffix(text)}`,
      status,
      wait,
    );
  }
  if (status >= 200 && status < 300) return { status, headers: res.headers, text, recvTs };
  if (status >= 500 || status === 408) {
    throw new HttpOperationalError(
      status === 408 ? 'VENUE_TIMEOUT' : 'VENUE_UNAVAILABLE',
      `${where}: HTTP ${status}${venueSuffix(text)}`,
      status,
      undefined,
      undefined,
      venueError(text),
    );
  }
  if (status >= 400) {
    const venue = venueError(text);
    throw new HttpDataError(
      'VENUE_REJECTED',
      `${where}: HTTP ${status}${venueSuffix(text)}`,
      status,
      venue,
      quote(text),
    );
  }
  throw new HttpOperationalError('UNEXPECTED_STATUS', `${where}: HTTP ${status}`, status);
}

/** GET returning parsed JSON (plus the text and receive time); a 2xx body that is not JSON is a DataError. */
export function getJson<T = unknown>(url: string, opts: HttpRequestOptions = {}): Promise<JsonResponse<T>> {
  return requestJson<T>('GET', url, opts);
}

/** `requestText` returning parsed JSON; a 2xx body that is not JSON is a DataError. */
export async function requestJson<T = unknown>(
  method: HttpMethod,
  url: string,
  opts: HttpSendOptions = {},
): Promise<JsonResponse<T>> {
  const res = await requestText(method, url, opts);
  let body: T;
  try {
    body = JSON.parse(res.text) as T;
  } catch (err) {
    throw new HttpDataError(
      'BAD_JSON',
      `${method} ${redactUrl(url)}: HTTP ${res.status} body is not JSON: ${(err as Error).message}`,
      res.status,
      {},
      quote(res.text),
      { cause: err },
    );
  }
  return { ...res, body };
}

/** The venue's error code and message from the common shapes (Binance, Kraken spot, Kraken Futures). */
function venueError(text: string): { code?: number | string; msg?: string } {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof o !== 'object' || o === null) return {};
  const r = o as Record<string, unknown>;
  const code = typeof r.code === 'number' || typeof r.code === 'string' ? r.code : undefined;
  const msg =
    typeof r.msg === 'string'
      ? r.msg
      : typeof r.error === 'string'
        ? r.error
        : Array.isArray(r.error)
          ? r.error.filter((e) => typeof e === 'string').join('; ')
          : undefined;
  return { ...(code !== undefined ? { code } : {}), ...(msg !== undefined ? { msg } : {}) };
}

function venueSuffix(text: string): string {
  const v = venueError(text);
  if (v.code !== undefined || v.msg !== undefined) {
    return `: ${v.code !== undefined ? `${v.code} ` : ''}${v.msg ?? ''}`.trimEnd();
  }
  const q = quote(text).trim();
  return q ? `: ${q}` : '';
}

function quote(text: string): string {
  return text.length > BODY_QUOTE_CHARS ? `${text.slice(0, BODY_QUOTE_CHARS)}…` : text;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici says "fetch failed" and puts the reason (ECONNREFUSED …) in the cause.
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
