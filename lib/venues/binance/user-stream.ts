/**
 * The listenKey user data stream both Binance trading clients share: a listenKey created at start,
 * kept alive (PUT) every 30 min, recreated on -1125 or `listenKeyExpired`, and the stream itself on
 * a WsConnection (`${ws}/ws/<listenKey>`) with ping/silence detection. `stream-down` is emitted
 * whenever it drops, `stream-up` when it is back; after a drop, `onGap(droppedAt)` lets the client
 * recover the fills of the gap. What the messages mean is the client's business (`onMessage`).
 */
import type { Clock } from '#core/clock.ts';
import { DataError } from '#core/errors.ts';
import type { BackoffOptions } from '../backoff.ts';
import { HttpDataError } from '../http.ts';
import type { UserEvent } from '../trading.ts';
import type { ConnectionEvent } from '../ws-connection.ts';
import { WsConnection } from '../ws-connection.ts';
import type { BinanceRest, TradingDiagnostic, WsLiveness } from './binance-rest.ts';
import { safeMessage } from './binance-rest.ts';

const MINUTE = 60_000;

/** start() waits for connections to open; stop() releases every waiter. */
export class OpenWaiters {
  private list: Array<{ conn: WsConnection; resolve: () => void }> = [];

  /** Resolves true once `conn` is open, false after `timeoutMs` or when released while not open. */
  wait(conn: WsConnection, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.list = this.list.filter((w) => w.resolve !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(conn.state === 'open');
      };
      this.list.push({ conn, resolve: done });
    });
  }

  opened(conn: WsConnection): void {
    for (const w of this.list.filter((x) => x.conn === conn)) w.resolve();
    this.list = this.list.filter((x) => x.conn !== conn);
  }

  releaseAll(): void {
    for (const w of this.list) w.resolve();
    this.list = [];
  }
}

export interface BinanceUserStreamOptions {
  /** Connection name, e.g. `binance-futures user-stream`. */
  readonly name: string;
  /** Stream base; the stream is `${ws}/ws/<listenKey>`. */
  readonly ws: string;
  /** Does the listenKey requests. */
  readonly http: BinanceRest;
  /** The listenKey path, for the error when POST answers without a key. */
  readonly listenKeyPath: string;
  readonly clock: Clock;
  readonly liveness?: WsLiveness;
  /** @default 10000 */
  readonly connectTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** @default 30 min */
  readonly keepAliveMs?: number;
  readonly waiters: OpenWaiters;
  /** Whether the client has been stopped. */
  readonly stopped: () => boolean;
  readonly onMessage: (text: string, recvTs: number) => void;
  readonly onConnectionEvent?: (e: ConnectionEvent) => void;
  /** The client's event sink (stream-down / stream-up). */
  readonly emit: (e: UserEvent) => void;
  /** The stream is back after a drop at `fromMs` (local clock). */
  readonly onGap: (fromMs: number) => void;
  readonly diag: (d: TradingDiagnostic) => void;
}

export class BinanceUserStream {
  private readonly opts: BinanceUserStreamOptions;
  private conn: WsConnection | null = null;
  private listenKey = '';
  private keepAliveTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the stream went down (0: it is up, or never was). */
  private downAt = 0;
  private wasUp = false;
  private replacing: Promise<void> | null = null;

  constructor(opts: BinanceUserStreamOptions) {
    this.opts = opts;
  }

  get up(): boolean {
    return this.conn?.state === 'open';
  }

  get connection(): WsConnection | null {
    return this.conn;
  }

  /** The key replacement running, if any. */
  get replacingKey(): Promise<void> | null {
    return this.replacing;
  }

  /** Creates the listenKey and the connection on it (not started yet). */
  async create(): Promise<void> {
    this.listenKey = await this.createListenKey();
    this.opts.diag({ type: 'listen-key', action: 'created', detail: 'listenKey created' });
    this.conn = this.makeConnection();
  }

  /** Resolves true once the connection made by create() is open (false after `timeoutMs`). */
  waitOpen(timeoutMs: number): Promise<boolean> {
    if (!this.conn) return Promise.resolve(false);
    return this.opts.waiters.wait(this.conn, timeoutMs);
  }

  startConnection(): void {
    this.conn?.start();
  }

  startKeepAlive(): void {
    this.scheduleKeepAlive(this.opts.keepAliveMs ?? 30 * MINUTE);
  }

  stopKeepAlive(): void {
    if (this.keepAliveTimer) clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = null;
  }

  /** Best effort: the key expires on its own within 60 minutes. */
  async deleteKey(): Promise<void> {
    if (!this.listenKey) return;
    try {
      await this.opts.http.keyRequest('DELETE', this.listenKey);
    } catch {
      // Best effort: the key expires on its own within 60 minutes.
    }
  }

  private makeConnection(): WsConnection {
    const l = this.opts.liveness ?? {};
    const conn: WsConnection = new WsConnection({
      name: this.opts.name,
      url: () => `${this.opts.ws}/ws/${this.listenKey}`,
      onOpen: () => {},
      onMessage: (text, recvTs) => this.opts.onMessage(text, recvTs),
      onDown: (reason) => {
        if (conn !== this.conn) return;
        this.downAt = this.opts.clock.now();
        this.opts.emit({ type: 'stream-down', reason });
      },
      onEvent: (e) => this.onConnEvent(conn, e),
      silentLimitMs: l.silentLimitMs ?? 30_000,
      pingIntervalMs: l.pingIntervalMs ?? 10_000,
      maxAgeMs: l.maxAgeMs ?? 23 * 60 * MINUTE,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      backoff: this.opts.backoff ?? { baseMs: 250, capMs: 10_000, resetAfterMs: 10_000 },
      clock: this.opts.clock,
    });
    return conn;
  }

  private onConnEvent(conn: WsConnection, e: ConnectionEvent): void {
    this.opts.onConnectionEvent?.(e);
    if (e.type !== 'open') return;
    this.opts.waiters.opened(conn);
    if (conn === this.conn) {
      const gapFrom = this.wasUp ? this.downAt : 0;
      this.wasUp = true;
      this.downAt = 0;
      this.opts.emit({ type: 'stream-up' });
      if (gapFrom > 0) this.opts.onGap(gapFrom);
    }
  }

  private async createListenKey(): Promise<string> {
    const key = await this.opts.http.keyRequest('POST', this.listenKey);
    if (!key) throw new DataError('BAD_RESPONSE', `POST ${this.opts.listenKeyPath} without a listenKey`);
    return key;
  }

  private scheduleKeepAlive(ms: number): void {
    if (this.opts.stopped()) return;
    this.keepAliveTimer = setTimeout(() => void this.keepAlive(), ms);
  }

  private async keepAlive(): Promise<void> {
    const period = this.opts.keepAliveMs ?? 30 * MINUTE;
    try {
      await this.opts.http.keyRequest('PUT', this.listenKey);
      this.opts.diag({ type: 'listen-key', action: 'kept-alive', detail: 'PUT ok' });
      this.scheduleKeepAlive(period);
    } catch (err) {
      if (err instanceof HttpDataError && err.venueCode === -1125) {
        await this.replaceListenKey('keepalive: -1125');
        this.scheduleKeepAlive(period);
      } else {
        this.opts.diag({ type: 'listen-key', action: 'failed', detail: safeMessage(err) });
        // Well inside the 60-minute validity: try again soon.
        this.scheduleKeepAlive(Math.max(1000, Math.floor(period / 10)));
      }
    }
  }

  /** A new listenKey (POST) and, when it differs, a new stream connection on it. */
  replaceListenKey(why: string): Promise<void> {
    if (this.replacing) return this.replacing;
    const run = async () => {
      if (this.opts.stopped()) return;
      const key = await this.createListenKey();
      this.opts.diag({ type: 'listen-key', action: 'recreated', detail: why });
      if (key === this.listenKey && this.conn?.state === 'open') return;
      this.listenKey = key;
      const old = this.conn;
      const next = this.makeConnection();
      this.conn = next;
      if (old) {
        // The old connection's down is ours to announce (its onDown is muted once replaced).
        await old.stop();
        if (this.downAt === 0) {
          this.downAt = this.opts.clock.now();
          this.opts.emit({ type: 'stream-down', reason: `listenKey replaced (${why})` });
        }
      }
      if (!this.opts.stopped()) next.start();
    };
    this.replacing = run()
      .catch((err: unknown) => {
        this.opts.diag({ type: 'listen-key', action: 'failed', detail: safeMessage(err) });
      })
      .finally(() => {
        this.replacing = null;
      });
    return this.replacing;
  }
}
