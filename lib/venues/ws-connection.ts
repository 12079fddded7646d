/**
 * A venue-agnostic WebSocket connection that stays up for weeks without a human: it reconnects
 * forever with capped, jittered backoff, honours the venue's Retry-After on 429/418 handshakes,
 * replaces a connection that is open but silent, and rotates before the venue's own cut (Binance
 * drops every connection at 24 h) by opening the new socket before closing the old one.
 *
 * Every socket gets a generation number. Only the current generation may reach `onMessage`; a
 * socket that was replaced, went stale or is closing can still have frames in flight, and those are
 * dropped and counted, never delivered.
 *
 * Timers use the global setTimeout. Durations are measured with the injected clock, so a test that
 * fakes time must fake both (vitest fake timers do). Every timer belongs to a socket or to the
 * retry loop and is cleared when either ends; `stop()` leaves nothing behind.
 */
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { Backoff, parseRetryAfter } from './backoff.ts';
import type { BackoffOptions } from './backoff.ts';

export type WsState = 'idle' | 'connecting' | 'open' | 'backoff' | 'stopped';

/** Why a socket was being opened: the first or a replacement connection, or a planned rotation. */
export type ConnectPurpose = 'connect' | 'rotate';

interface EventBase {
  /** The connection's name from the options, so one logger can serve many connections. */
  readonly name: string;
  /** Wall-clock ms from the injected clock. */
  readonly at: number;
}

/** Structured events for logs and metrics. None carries the URL: it can hold a listenKey. */
export type ConnectionEvent = EventBase &
  (
    | {
        readonly type: 'connecting';
        readonly generation: number;
        readonly host: string;
        readonly purpose: ConnectPurpose;
      }
    | { readonly type: 'open'; readonly generation: number; readonly connectMs: number }
    | {
        readonly type: 'close';
        readonly generation: number;
        readonly reason: string;
        /** Whether the socket had finished its handshake. */
        readonly wasOpen: boolean;
        /** A planned close (rotation or stop), not a failure. */
        readonly planned: boolean;
      }
    | { readonly type: 'error'; readonly generation: number; readonly message: string }
    | { readonly type: 'stale'; readonly generation: number; readonly silentMs: number }
    | {
        readonly type: 'backoff';
        readonly delayMs: number;
        readonly attempt: number;
        readonly purpose: ConnectPurpose;
      }
    | {
        readonly type: 'rejected';
        readonly generation: number;
        readonly status: number;
        /** Retry-After as sent, in ms; undefined when absent. */
        readonly retryAfterMs: number | undefined;
        /** The wait we imposed on ourselves because of it (undefined: ordinary backoff). */
        readonly holdMs: number | undefined;
      }
    | { readonly type: 'rotated'; readonly from: number; readonly to: number; readonly ageMs: number }
  );

export interface WsConnectionOptions {
  /** For logs, e.g. "binance-futures market". */
  readonly name: string;
  /** Re-evaluated on each connect: combined-stream URLs change with the symbol set. */
  readonly url: () => string;
  /**
   * Subscribe here. Runs on every (re)connect and rotation, when the socket is open and before it
   * becomes current, so no message of the new socket can arrive before its subscriptions are sent.
   */
  readonly onOpen: (send: (text: string) => void) => void;
  /**
   * Raw text exactly as received, with the local receive time (ms, injected clock). Never called for
   * a socket that is not the current generation. Hot path: an exception thrown here is a bug and is
   * not caught (crash-only), so venue clients handle their own data errors.
   */
  readonly onMessage: (text: string, recvTs: number) => void;
  /**
   * The connection that was up is gone (dropped, stale, stopped): books must go UNSYNCED now. Not
   * called for a planned rotation; that emits a 'rotated' event instead.
   */
  readonly onDown?: (reason: string) => void;
  /** Structured events for logs/metrics. Exceptions thrown here are swallowed: logging must not break transport. */
  readonly onEvent?: (e: ConnectionEvent) => void;
  /** Open but silent this long (no message, no ping, no pong) = dead: terminate and reconnect. */
  readonly silentLimitMs: number;
  /** Send a ping this often (a WS ping frame, or `appPing()` text where the venue wants app-level pings). */
  readonly pingIntervalMs?: number;
  /** App-level ping text, e.g. Kraken spot v2 `{"method":"ping"}`. Its reply reaches `onMessage`. */
  readonly appPing?: () => string;
  /** Planned rotation age, before the venue's cut (Binance 24 h: rotate at ~23 h). */
  readonly maxAgeMs?: number;
  /** Socket + TLS + upgrade must finish within this. */
  readonly connectTimeoutMs: number;
  /**
   * A graceful close (rotation, stop) that has not finished after this is terminated.
   * @default 2000
   */
  readonly closeTimeoutMs?: number;
  readonly backoff: BackoffOptions;
  readonly clock?: Clock;
  /** Random source for backoff jitter, values in [0, 1). */
  readonly random?: () => number;
}

export interface WsConnectionStats {
  /** Sockets created (connects, reconnects, rotations). */
  readonly connects: number;
  /** Sockets that finished the handshake. */
  readonly opens: number;
  readonly rotations: number;
  /** Messages handed to onMessage. */
  readonly delivered: number;
  /** Messages that arrived on a socket that was not current, dropped. */
  readonly droppedStale: number;
  /** Open connections replaced because they went silent. */
  readonly stale: number;
  /** Handshakes refused with an HTTP status. */
  readonly rejected: number;
}

type Timer = ReturnType<typeof setTimeout>;

/** One socket's life. Everything it owns is cleared in `retire`. */
interface Conn {
  readonly gen: number;
  readonly ws: WebSocket;
  readonly purpose: ConnectPurpose;
  readonly startedAt: number;
  openedAt: number;
  lastActivity: number;
  /** Retired: no longer current or pending, ignore everything it says. */
  dead: boolean;
  /** The ws 'close' event fired: the socket is gone. */
  closed: boolean;
  onClosed: (() => void) | undefined;
  connectTimer: Timer | undefined;
  silenceTimer: Timer | undefined;
  pingTimer: ReturnType<typeof setInterval> | undefined;
  ageTimer: Timer | undefined;
  closeTimer: Timer | undefined;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 2000;

export class WsConnection {
  private readonly opts: WsConnectionOptions;
  private readonly clock: Clock;
  private readonly backoffState: Backoff;
  /** The socket whose messages reach onMessage. */
  private current: Conn | null = null;
  /** A socket still in its handshake: a reconnect, or a rotation candidate while `current` is up. */
  private pending: Conn | null = null;
  /** Retired sockets whose close has not finished yet (kept so stop() can wait for them). */
  private readonly closing = new Set<Conn>();
  private retryTimer: Timer | undefined;
  private started = false;
  private stopped = false;
  private stopPromise: Promise<void> | undefined;
  private genCounter = 0;
  private currentGen = 0;
  private counters = {
    connects: 0,
    opens: 0,
    rotations: 0,
    delivered: 0,
    droppedStale: 0,
    stale: 0,
    rejected: 0,
  };

  constructor(opts: WsConnectionOptions) {
    if (!(opts.silentLimitMs > 0)) throw new RangeError(`${opts.name}: silentLimitMs must be > 0`);
    if (!(opts.connectTimeoutMs > 0)) throw new RangeError(`${opts.name}: connectTimeoutMs must be > 0`);
    if (opts.pingIntervalMs !== undefined && !(opts.pingIntervalMs > 0)) {
      throw new RangeError(`${opts.name}: pingIntervalMs must be > 0`);
    }
    if (opts.maxAgeMs !== undefined && !(opts.maxAgeMs > 0))
      throw new RangeError(`${opts.name}: maxAgeMs must be > 0`);
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.backoffState = new Backoff(opts.backoff, opts.random);
  }

  get state(): WsState {
    if (this.stopped) return 'stopped';
    if (this.current) return 'open';
    if (this.pending) return 'connecting';
    if (this.retryTimer) return 'backoff';
    return 'idle';
  }

  /** The generation of the socket that is (or was last) current; 0 before the first open. */
  get generation(): number {
    return this.currentGen;
  }

  get stats(): WsConnectionStats {
    return { ...this.counters };
  }

  /** Starts connecting. Idempotent; a stopped connection stays stopped. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.connect();
  }

  /** Sends on the current socket. False when there is none or it is not open (nothing was sent). */
  send(text: string): boolean {
    const conn = this.current;
    return conn ? this.sendOn(conn, text) : false;
  }

  /**
   * The venue told us elsewhere (a REST 418 from the same IP) not to come back before `untilMs`
   * (wall clock): no reconnect or rotation starts earlier. The open socket is left alone.
   */
  holdReconnectsUntil(untilMs: number): void {
    this.backoffState.holdUntil(untilMs);
  }

  /**
   * Closes every socket and clears every timer. Calls onDown('stopped') if a connection was up.
   * Resolves when every socket has closed (a socket that does not finish its close handshake within
   * closeTimeoutMs is terminated).
   */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopped = true;
    this.clearRetry();
    const wasUp = this.current !== null;
    for (const conn of [this.current, this.pending]) {
      if (conn) this.retire(conn, 'stopped', true);
    }
    const waits = [...this.closing].map((c) => new Promise<void>((resolve) => (c.onClosed = resolve)));
    this.stopPromise = Promise.all(waits).then(() => undefined);
    if (wasUp) this.opts.onDown?.('stopped');
    return this.stopPromise;
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.stopped || this.pending) return;
    const purpose: ConnectPurpose = this.current ? 'rotate' : 'connect';
    // Every path (start, retry, rotation) respects the venue's floor: knocking during a ban extends it.
    const floorMs = this.backoffState.notBefore - this.clock.now();
    if (floorMs > 0) {
      this.retryTimer = setTimeout(() => this.connect(), floorMs);
      this.emit({ type: 'backoff', delayMs: floorMs, attempt: this.backoffState.attempts, purpose });
      return;
    }
    const gen = ++this.genCounter;
    let url = '';
    let ws: WebSocket;
    try {
      url = this.opts.url();
      // No permessage-deflate: inflating on the hot path costs latency and a threadpool hop.
      ws = new WebSocket(url, { perMessageDeflate: false });
    } catch (err) {
      // ws quotes a bad URL whole; it may hold a listenKey.
      const text = (err as Error).message;
      const message = url ? text.split(url).join(hostOf(url)) : text;
      this.emit({ type: 'error', generation: gen, message: `cannot connect: ${message}` });
      this.scheduleRetry();
      return;
    }
    this.counters.connects++;
    const now = this.clock.now();
    const conn: Conn = {
      gen,
      ws,
      purpose,
      startedAt: now,
      openedAt: 0,
      lastActivity: now,
      dead: false,
      closed: false,
      onClosed: undefined,
      connectTimer: undefined,
      silenceTimer: undefined,
      pingTimer: undefined,
      ageTimer: undefined,
      closeTimer: undefined,
    };
    this.pending = conn;
    conn.connectTimer = setTimeout(() => {
      conn.connectTimer = undefined;
      this.fail(conn, `connect timeout after ${this.opts.connectTimeoutMs} ms`);
    }, this.opts.connectTimeoutMs);

    ws.on('open', () => this.handleOpen(conn));
    ws.on('message', (data: RawData) => this.handleMessage(conn, data));
    ws.on('ping', () => this.touch(conn));
    ws.on('pong', () => this.touch(conn));
    ws.on('unexpected-response', (_req, res: IncomingMessage) => this.handleRejected(conn, res));
    // Always listened to: ws emits 'error' for sockets we terminate during the handshake too.
    ws.on('error', (err: Error) => {
      if (conn.dead) return;
      this.emit({ type: 'error', generation: gen, message: err.message });
      this.fail(conn, `error: ${err.message}`);
    });
    ws.on('close', (code: number, reason: Buffer) => this.handleClose(conn, code, reason));
    // Emitted last: a listener may call stop(), which must find this socket fully set up.
    this.emit({ type: 'connecting', generation: gen, host: hostOf(url), purpose });
  }

  private handleOpen(conn: Conn): void {
    if (conn.dead) return;
    clearTimer(conn.connectTimer);
    conn.connectTimer = undefined;
    const now = this.clock.now();
    conn.openedAt = now;
    conn.lastActivity = now;
    this.counters.opens++;
    try {
      this.opts.onOpen((text) => void this.sendOn(conn, text));
    } catch (err) {
      this.emit({ type: 'error', generation: conn.gen, message: `onOpen threw: ${(err as Error).message}` });
      this.fail(conn, 'onOpen threw');
      return;
    }
    if (conn.dead) return; // onOpen's send failed the socket, or stop() ran inside onOpen.
    // The switch: synchronous, so no frame of either socket can be processed in between.
    const old = this.current;
    this.pending = null;
    this.current = conn;
    this.currentGen = conn.gen;
    this.armSilence(conn);
    this.armPing(conn);
    this.armAge(conn);
    if (old) {
      const ageMs = now - old.openedAt;
      if (ageMs >= this.backoffState.resetAfterMs) this.backoffState.reset();
      this.counters.rotations++;
      this.retire(old, 'rotated', true);
      this.emit({ type: 'rotated', from: old.gen, to: conn.gen, ageMs });
    } else {
      this.emit({ type: 'open', generation: conn.gen, connectMs: now - conn.startedAt });
    }
  }

  private handleMessage(conn: Conn, data: RawData): void {
    if (conn !== this.current) {
      this.counters.droppedStale++;
      return;
    }
    const recvTs = this.clock.now();
    conn.lastActivity = recvTs;
    this.counters.delivered++;
    this.opts.onMessage(rawText(data), recvTs);
  }

  private touch(conn: Conn): void {
    if (!conn.dead) conn.lastActivity = this.clock.now();
  }

  private handleRejected(conn: Conn, res: IncomingMessage): void {
    // Drain so the response socket can be released; ws.terminate() below destroys it anyway.
    res.resume();
    if (conn.dead) return;
    const status = res.statusCode ?? 0;
    const now = this.clock.now();
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now);
    const holdMs = this.backoffState.rejected(status, retryAfterMs, now);
    this.counters.rejected++;
    this.emit({ type: 'rejected', generation: conn.gen, status, retryAfterMs, holdMs });
    this.fail(conn, `handshake rejected: HTTP ${status}`);
  }

  private handleClose(conn: Conn, code: number, reason: Buffer): void {
    conn.closed = true;
    clearTimer(conn.closeTimer);
    conn.closeTimer = undefined;
    this.closing.delete(conn);
    if (!conn.dead) {
      const text = reason.length > 0 ? ` ${reason.toString('utf8')}` : '';
      this.retire(conn, `closed by server: ${code}${text}`, false);
    }
    conn.onClosed?.();
  }

  private fail(conn: Conn, reason: string): void {
    this.retire(conn, reason, false);
  }

  /**
   * Takes a socket out of service: clears its timers, closes it (gracefully when planned and open,
   * otherwise at once) and, for an unplanned loss, tells the owner and schedules what comes next.
   */
  private retire(conn: Conn, reason: string, planned: boolean): void {
    if (conn.dead) return;
    conn.dead = true;
    for (const t of [conn.connectTimer, conn.silenceTimer, conn.ageTimer]) clearTimer(t);
    if (conn.pingTimer) clearInterval(conn.pingTimer);
    conn.connectTimer = conn.silenceTimer = conn.ageTimer = conn.pingTimer = undefined;
    const wasCurrent = conn === this.current;
    const wasPending = conn === this.pending;
    if (wasCurrent) this.current = null;
    if (wasPending) this.pending = null;
    const wasOpen = conn.openedAt > 0;

    if (!conn.closed) {
      this.closing.add(conn);
      if (planned && conn.ws.readyState === WebSocket.OPEN) {
        conn.ws.close(1000, reason);
        conn.closeTimer = setTimeout(() => {
          conn.closeTimer = undefined;
          conn.ws.terminate();
        }, this.opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
      } else {
        conn.ws.terminate();
      }
    }
    this.emit({ type: 'close', generation: conn.gen, reason, wasOpen, planned });
    if (this.stopped || planned) return;

    if (wasCurrent) {
      if (this.clock.now() - conn.openedAt >= this.backoffState.resetAfterMs) this.backoffState.reset();
      // A rotation candidate already in its handshake becomes the replacement; otherwise retry.
      if (!this.pending && !this.retryTimer) this.scheduleRetry();
      this.opts.onDown?.(reason);
    } else if (wasPending) {
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    this.clearRetry();
    const delayMs = this.backoffState.next(this.clock.now());
    const purpose: ConnectPurpose = this.current ? 'rotate' : 'connect';
    this.retryTimer = setTimeout(() => this.connect(), delayMs);
    this.emit({ type: 'backoff', delayMs, attempt: this.backoffState.attempts, purpose });
  }

  private clearRetry(): void {
    clearTimer(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** One timer per socket, re-armed for the remaining time instead of being reset on every message. */
  private armSilence(conn: Conn): void {
    const limit = this.opts.silentLimitMs;
    const due = conn.lastActivity + limit - this.clock.now();
    conn.silenceTimer = setTimeout(
      () => {
        conn.silenceTimer = undefined;
        if (conn.dead) return;
        const silentMs = this.clock.now() - conn.lastActivity;
        if (silentMs >= limit) {
          this.counters.stale++;
          this.emit({ type: 'stale', generation: conn.gen, silentMs });
          this.fail(conn, `silent for ${silentMs} ms`);
        } else {
          this.armSilence(conn);
        }
      },
      Math.max(due, 1),
    );
  }

  private armPing(conn: Conn): void {
    const every = this.opts.pingIntervalMs;
    if (every === undefined) return;
    const appPing = this.opts.appPing;
    conn.pingTimer = setInterval(() => {
      if (conn.dead || conn.ws.readyState !== WebSocket.OPEN) return;
      if (appPing) this.sendOn(conn, appPing());
      else conn.ws.ping();
    }, every);
  }

  private armAge(conn: Conn): void {
    const maxAge = this.opts.maxAgeMs;
    if (maxAge === undefined) return;
    conn.ageTimer = setTimeout(() => {
      conn.ageTimer = undefined;
      // Make-before-break: the old socket keeps delivering until the new one is open.
      if (conn === this.current && !this.pending && !this.retryTimer) this.connect();
    }, maxAge);
  }

  private sendOn(conn: Conn, text: string): boolean {
    if (conn.dead || conn.ws.readyState !== WebSocket.OPEN) return false;
    conn.ws.send(text);
    return true;
  }

  private emit(e: DistributiveOmit<ConnectionEvent, 'name' | 'at'>): void {
    const sink = this.opts.onEvent;
    if (!sink) return;
    try {
      sink({ ...e, name: this.opts.name, at: this.clock.now() });
    } catch {
      // A failing logger must not break reconnection.
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function clearTimer(t: Timer | undefined): void {
  if (t !== undefined) clearTimeout(t);
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** The host only: paths can carry a listenKey, queries a signature. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}
