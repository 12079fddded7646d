/**
 * The private REST plumbing both Binance trading clients share (USD-M futures, trading-client.ts,
 * and Binance.US spot, us-trading-client.ts): signed requests (`X-MBX-APIKEY` header; query for
 * GET/DELETE, form body for POST/PUT), server-time sync with a one-off re-sync-and-retry on -1021
 * for everything but order placement, the listenKey (USER_STREAM) requests, and the sorting of a
 * venue error into a Verdict. The venue-specific parts (paths, duplicate-order code) are options.
 *
 * Secrets: the API secret is captured by the signing closures only; it is not a property, never
 * logged, never in an error, event or diagnostic.
 */
import type { Clock } from '#core/clock.ts';
import { DataError, TradewindError } from '#core/errors.ts';
import type { HttpMethod, JsonResponse } from '../http.ts';
import { HttpDataError, HttpOperationalError, requestJson } from '../http.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import type { PlaceResult, VenueOrderState, VenueOrderStatus } from '../trading.ts';
import { buildSignedQuery, ServerTimeOffset, signBinance } from './signing.ts';

export interface WsLiveness {
  /** Ping this often. */
  readonly pingIntervalMs?: number;
  /** Open but silent this long (not even a pong) = dead. */
  readonly silentLimitMs?: number;
  /** Planned rotation before the venue's 24 h cut. */
  readonly maxAgeMs?: number;
}

/** Things worth a log line that are not UserEvents. Never carries keys, secrets or signatures. */
export type TradingDiagnostic =
  | { readonly type: 'bad-message'; readonly source: 'user-stream' | 'ws-api'; readonly error: string }
  | { readonly type: 'late-response'; readonly requestId: string; readonly afterMs: number }
  | {
      readonly type: 'listen-key';
      readonly action: 'created' | 'kept-alive' | 'recreated' | 'failed';
      readonly detail: string;
    }
  | { readonly type: 'time-sync'; readonly ok: boolean; readonly detail: string }
  | { readonly type: 'recovery'; readonly recoveredFills: number; readonly detail: string }
  | { readonly type: 'skipped'; readonly detail: string }
  | {
      readonly type: 'dead-man-switch';
      readonly action: 'armed' | 'refreshed' | 'disarmed' | 'failed' | 'unhealthy';
      readonly detail: string;
    };

/** A venue answer sorted into what the caller must do. */
export type Verdict =
  | { readonly kind: 'unknown'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string }
  | { readonly kind: 'duplicate'; readonly message: string }
  | { readonly kind: 'timestamp'; readonly message: string };

export type SignedParams = ReadonlyArray<readonly [string, string]>;

export interface RestCallOptions {
  readonly signed?: SignedParams;
  readonly weight?: number;
  readonly timeoutMs?: number;
  readonly onSent?: (() => void) | undefined;
  readonly retried1021?: boolean;
}

export interface BinanceRestOptions {
  /** REST base URL. */
  readonly rest: string;
  readonly apiKey: string;
  readonly recvWindow: number;
  readonly clock: Clock;
  readonly limiter?: RateLimiter;
  readonly requestTimeoutMs?: number;
  /** e.g. `/fapi/v1/time`. */
  readonly timePath: string;
  /** The order path: a POST there (placing an order) is never repeated after -1021. */
  readonly orderPath: string;
  /** e.g. `/fapi/v1/listenKey`. */
  readonly listenKeyPath: string;
  /** PUT and DELETE name the key as `?listenKey=` (spot) rather than not at all (futures). */
  readonly listenKeyInQuery: boolean;
  /** Whether a venue error means "this client order id is already open". */
  readonly isDuplicate: (code: number | undefined, message: string) => boolean;
  readonly diag: (d: TradingDiagnostic) => void;
}

const UNKNOWN_ERROR = /^Unknown error/i;

export class BinanceRest {
  readonly time: ServerTimeOffset;
  private readonly opts: Omit<BinanceRestOptions, 'apiKey'>;
  private readonly apiKey: string;
  /** HMAC-SHA256 hex with the secret (WS API payloads). */
  readonly sign: (payload: string) => string;
  /** The signed REST parameter string (query or body). */
  private readonly signQuery: (params: SignedParams, ts: number) => string;

  /** The secret is a separate argument so that no options object holding it is ever kept. */
  constructor(opts: BinanceRestOptions, secret: string) {
    const { apiKey, ...rest } = opts;
    this.opts = rest;
    this.apiKey = apiKey;
    const recvWindow = opts.recvWindow;
    this.sign = (payload) => signBinance(secret, payload);
    this.signQuery = (params, ts) => buildSignedQuery(params, secret, { timestamp: ts, recvWindow });
    this.time = new ServerTimeOffset({ clock: opts.clock });
  }

  async request<T>(method: HttpMethod, path: string, o: RestCallOptions): Promise<JsonResponse<T>> {
    let url = `${this.opts.rest}${path}`;
    let body: string | undefined;
    const headers: Record<string, string> = { 'X-MBX-APIKEY': this.apiKey };
    if (o.signed) {
      const q = this.signQuery(o.signed, this.time.timestamp());
      if (method === 'POST' || method === 'PUT') {
        body = q;
        headers['content-type'] = 'application/x-www-form-urlencoded';
      } else {
        url += `?${q}`;
      }
    }
    try {
      return await requestJson<T>(method, url, {
        headers,
        body,
        clock: this.opts.clock,
        limiter: this.opts.limiter,
        weight: o.weight ?? 1,
        timeoutMs: o.timeoutMs ?? this.opts.requestTimeoutMs,
        onSent: o.onSent,
      });
    } catch (err) {
      // Reads and cancels are safe to repeat once after re-syncing the clock; orders are not
      // repeated here (the engine decides, with the same client id).
      if (
        err instanceof HttpDataError &&
        err.venueCode === -1021 &&
        o.signed &&
        !o.retried1021 &&
        !(method === 'POST' && path === this.opts.orderPath)
      ) {
        await this.resyncAfter1021();
        return this.request<T>(method, path, { ...o, retried1021: true });
      }
      throw err;
    }
  }

  /** USER_STREAM endpoints: API-key header only, no signature. Resolves with the key ('' if none). */
  async keyRequest(method: HttpMethod, listenKey: string): Promise<string> {
    const q =
      this.opts.listenKeyInQuery && method !== 'POST' ? `?listenKey=${encodeURIComponent(listenKey)}` : '';
    const res = await requestJson<{ listenKey?: string }>(
      method,
      `${this.opts.rest}${this.opts.listenKeyPath}${q}`,
      {
        headers: { 'X-MBX-APIKEY': this.apiKey },
        clock: this.opts.clock,
        limiter: this.opts.limiter,
        weight: 1,
        timeoutMs: this.opts.requestTimeoutMs,
      },
    );
    return typeof res.body?.listenKey === 'string' ? res.body.listenKey : '';
  }

  async syncTime(): Promise<void> {
    const fetchTime = async () => {
      const res = await requestJson<{ serverTime?: number }>(
        'GET',
        `${this.opts.rest}${this.opts.timePath}`,
        {
          clock: this.opts.clock,
          limiter: this.opts.limiter,
          weight: 1,
          timeoutMs: this.opts.requestTimeoutMs,
        },
      );
      const t = res.body?.serverTime;
      if (typeof t !== 'number')
        throw new DataError('BAD_RESPONSE', `${this.opts.timePath} without serverTime`);
      return t;
    };
    let ok = 0;
    for (let i = 0; i < 3; i++) if (await this.time.sync(fetchTime)) ok++;
    this.opts.diag({
      type: 'time-sync',
      ok: ok > 0,
      detail: `${ok}/3 samples, offset ${this.time.offsetMs()} ms`,
    });
  }

  async resyncAfter1021(): Promise<void> {
    this.time.reset();
    try {
      await this.syncTime();
    } catch (err) {
      this.opts.diag({ type: 'time-sync', ok: false, detail: safeMessage(err) });
    }
  }

  /** Sorts a venue error into what to do (VENUES.md §1.6, §1.8). */
  classify(status: number, code: number | string | undefined, msg: string | undefined): Verdict {
    const message = msg ?? `HTTP ${status}`;
    const c = typeof code === 'string' ? Number(code) : code;
    if (c === -1007 || status === 408) return { kind: 'unknown', reason: `${c ?? status} ${message}` };
    if (c === -1021) return { kind: 'timestamp', message };
    if (this.opts.isDuplicate(c, message)) return { kind: 'duplicate', message };
    if (status >= 500) {
      if (UNKNOWN_ERROR.test(message)) return { kind: 'unknown', reason: `HTTP ${status} ${message}` };
      return { kind: 'rejected', code: 'UNAVAILABLE', message: `HTTP ${status} ${message}` };
    }
    if (status === 429) return { kind: 'rejected', code: 'RATE_LIMITED', message };
    if (status === 418) return { kind: 'rejected', code: 'IP_BANNED', message };
    return {
      kind: 'rejected',
      code: c !== undefined && Number.isFinite(c) ? String(c) : `HTTP_${status}`,
      message,
    };
  }

  classifyError(err: unknown): Verdict {
    if (err instanceof HttpDataError) {
      if (err.code === 'BAD_JSON') return { kind: 'unknown', reason: 'unreadable response' };
      return this.classify(err.status, err.venueCode, err.venueMessage);
    }
    if (err instanceof HttpOperationalError) {
      if (err.status === 0) {
        // No response: the request may have reached the venue.
        return { kind: 'unknown', reason: `${err.code}: no response` };
      }
      return this.classify(err.status, err.venueCode, err.venueMessage ?? err.code);
    }
    if (err instanceof TradewindError) return { kind: 'rejected', code: err.code, message: err.message };
    return { kind: 'unknown', reason: 'unexpected error' };
  }
}

/**
 * What a failed place() answers: `unknown`/`rejected` as they are; -1021 re-syncs the clock and is
 * rejected `-1021` (the engine retries with the same client id); a duplicate client id (already
 * OPEN at the venue: that order is ours, deterministic ids) is answered from `readBack`.
 */
export async function placeVerdictResult(
  v: Verdict,
  http: BinanceRest,
  duplicateCode: string,
  readBack: () => Promise<VenueOrderState | null>,
): Promise<PlaceResult> {
  switch (v.kind) {
    case 'unknown':
    case 'rejected':
      return v;
    case 'timestamp':
      await http.resyncAfter1021();
      return { kind: 'rejected', code: '-1021', message: v.message };
    case 'duplicate': {
      try {
        const state = await readBack();
        if (state) return { kind: 'ack', state };
      } catch {
        // fall through: the caller reconciles
      }
      return { kind: 'unknown', reason: `${duplicateCode} ${v.message}; the order could not be read back` };
    }
  }
}

/** Binance order status → the port's; `label` names the venue in the error. */
export function mapStatus(s: string, label: string): VenueOrderStatus {
  switch (s) {
    case 'NEW':
    case 'PARTIALLY_FILLED':
    case 'FILLED':
    case 'CANCELED':
    case 'EXPIRED':
    case 'REJECTED':
      return s;
    case 'EXPIRED_IN_MATCH':
      return 'EXPIRED';
    default:
      throw new DataError('BAD_STATUS', `unknown ${label} order status ${JSON.stringify(s)}`);
  }
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** An error's message: ours never contain secrets (URLs are redacted by http.ts). */
export function safeMessage(err: unknown): string {
  return err instanceof Error ? err.message : 'non-Error thrown';
}
