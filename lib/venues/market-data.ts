/**
 * A venue's market data, kept live for weeks: WebSocket connection(s) per the venue's protocol,
 * exact books through the venue's sync, REST snapshots through a rate limiter, and recovery from
 * every failure — a reconnect or rotation throws every book on that connection away (UNSYNCED
 * until rebuilt), a resync of one symbol touches only that symbol.
 */
import type { L2Book } from '#core/book.ts';
import type { Clock } from '#core/clock.ts';
import { systemClock } from '#core/clock.ts';
import { TradewindError } from '#core/errors.ts';
import type { InstrumentSet, VenueId } from '#core/instrument.ts';
import type { BookFeed, SyncHooks } from './book-feed.ts';
import { createBookFeed, loadInstruments } from './feeds.ts';
import { getText, HttpOperationalError } from './http.ts';
import type { MarketProtocol, VenueEndpoints } from './market-protocols.ts';
import { MARKET_PROTOCOLS } from './market-protocols.ts';
import type { BackoffOptions } from './backoff.ts';
import { RateLimiter } from './rate-limiter.ts';
import { WsConnection } from './ws-connection.ts';
import type { ConnectionEvent } from './ws-connection.ts';

/** Raw traffic, exactly as sent or received, for the recorder. */
export interface TapRecord {
  /** 'conn': a connection (re)opened — every book on it starts over (replay does the same). */
  readonly dir: 'in' | 'out' | 'rest' | 'conn';
  readonly ts: number;
  readonly url?: string | undefined;
  readonly raw: string;
}

export type MarketEvent =
  | { readonly type: 'connection'; readonly venue: VenueId; readonly event: ConnectionEvent }
  | { readonly type: 'resync'; readonly venue: VenueId; readonly symbol: string; readonly reason: string }
  | {
      readonly type: 'snapshot-failed';
      readonly venue: VenueId;
      readonly symbol: string;
      readonly error: string;
    }
  | { readonly type: 'bad-message'; readonly venue: VenueId; readonly error: string }
  | { readonly type: 'stale'; readonly venue: VenueId; readonly symbol: string };

export interface MarketDataOptions {
  readonly venue: VenueId;
  /** The venue's own symbols (BTCUSDT, BTC/USD, PF_XBTUSD). */
  readonly symbols: readonly string[];
  readonly endpoints: VenueEndpoints;
  /** Metadata already loaded; fetched from the venue when absent. */
  readonly instruments?: InstrumentSet;
  /** A book with no update for this long is stale: UNSYNCED and resynced (default 30 s). */
  readonly staleAfterMs?: number;
  /** A book still not SYNCED this long after its snapshot was asked for: ask again (default 5 s). */
  readonly resyncTimeoutMs?: number;
  readonly onBook?: (book: L2Book) => void;
  /** Called first thing for every received frame (the hot path's latency clock starts here). */
  readonly onReceive?: () => void;
  readonly onEvent?: (e: MarketEvent) => void;
  readonly tap?: (r: TapRecord) => void;
  readonly clock?: Clock;
  /** Overrides for tests (shorter liveness limits). */
  readonly protocol?: Partial<MarketProtocol>;
  readonly backoff?: BackoffOptions;
}

export class MarketDataClient {
  readonly venue: VenueId;
  readonly feed: BookFeed;
  private readonly opts: MarketDataOptions;
  private readonly protocol: MarketProtocol;
  private readonly clock: Clock;
  private readonly limiter: RateLimiter;
  private readonly connections: WsConnection[] = [];
  /** Which connection carries each symbol. */
  private readonly connectionOf = new Map<string, WsConnection>();
  private readonly inflight = new Set<string>();
  /** When each symbol's book was last asked for (subscribe, resubscribe or REST snapshot). */
  private readonly askedAt = new Map<string, number>();
  private readonly abort = new AbortController();
  private readonly precision: {
    only?: ReadonlySet<string>;
    instruments?: InstrumentSet | undefined;
    instrumentGrids: boolean;
  } = { instrumentGrids: true };
  private staleTimer: NodeJS.Timeout | null = null;
  private started = false;
  /** Messages that could not be decoded (counted, never fatal). */
  badMessages = 0;

  constructor(opts: MarketDataOptions) {
    this.opts = opts;
    this.venue = opts.venue;
    this.protocol = { ...MARKET_PROTOCOLS[opts.venue], ...opts.protocol };
    this.clock = opts.clock ?? systemClock;
    this.limiter = new RateLimiter({
      name: `${opts.venue} rest`,
      windows: [{ limit: this.protocol.weightPerMinute, intervalMs: 60_000 }],
      clock: this.clock,
    });
    const hooks: SyncHooks = {
      requestResync: (symbol, reason) => this.onResync(symbol, reason),
      ...(opts.onBook ? { onBook: opts.onBook } : {}),
    };
    this.precision.only = new Set(
      opts.symbols.map((s) => (opts.venue === 'kraken-spot' ? s : s.toUpperCase())),
    );
    this.precision.instruments = opts.instruments;
    // Syncs read `instruments` when they first need a grid: after start() has loaded it.
    this.feed = createBookFeed(opts.venue, hooks, this.precision);
  }

  /** Loads metadata (when needed) and opens the connections. Resolves once connecting has begun. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.precision.instruments ??= await this.fetchMetadata();
    const per = this.protocol.symbolsPerConnection;
    for (let i = 0; i < this.opts.symbols.length; i += per)
      this.openConnection(this.opts.symbols.slice(i, i + per));
    const staleAfter = this.opts.staleAfterMs ?? 30_000;
    this.staleTimer = setInterval(() => this.checkStale(staleAfter), Math.min(1000, staleAfter / 2));
  }

  async stop(): Promise<void> {
    this.abort.abort(new Error('market data stopped'));
    if (this.staleTimer) clearInterval(this.staleTimer);
    this.staleTimer = null;
    await Promise.all(this.connections.map((c) => c.stop()));
    this.feed.resetAll('stopped');
  }

  /** The venue's instruments (loaded at start, or given). */
  instrumentSet(): InstrumentSet | undefined {
    return this.precision.instruments;
  }

  books(): Map<string, L2Book> {
    const out = new Map<string, L2Book>();
    for (const [symbol, view] of this.feed.symbols()) out.set(symbol, view.book);
    return out;
  }

  private emit(e: MarketEvent): void {
    this.opts.onEvent?.(e);
  }

  private openConnection(symbols: readonly string[]): void {
    const p = this.protocol;
    const base = this.opts.endpoints.ws;
    let conn: WsConnection | undefined = undefined;
    const reset = (reason: string) => {
      for (const s of symbols) {
        const view = this.feed.symbols().get(this.key(s));
        view?.reset(reason);
      }
    };
    conn = new WsConnection({
      name: `${this.venue} market`,
      url: () => p.wsUrl(base, symbols),
      onOpen: (send) => {
        // A fresh connection: nothing carried over may be trusted.
        reset('connection (re)opened');
        this.opts.tap?.({
          dir: 'conn',
          ts: this.clock.now(),
          raw: JSON.stringify({ event: 'open', symbols }),
        });
        for (const s of symbols) this.askedAt.set(this.key(s), this.clock.now());
        for (const m of p.subscribe(symbols)) {
          this.tapOut(m);
          send(m);
        }
      },
      onMessage: (text, recvTs) => this.onText(text, recvTs),
      onDown: (reason) => reset(`connection down: ${reason}`),
      onEvent: (event) => {
        this.emit({ type: 'connection', venue: this.venue, event });
        if (event.type === 'rotated') reset('connection rotated');
        // A refused handshake is the venue limiting this IP: REST must stay away just as long.
        if (event.type === 'rejected' && event.holdMs !== undefined) this.limiter.penalize(event.holdMs);
      },
      silentLimitMs: p.silentLimitMs,
      pingIntervalMs: p.pingIntervalMs,
      ...(p.appPing ? { appPing: p.appPing } : {}),
      ...(p.maxAgeMs !== undefined ? { maxAgeMs: p.maxAgeMs } : {}),
      connectTimeoutMs: 10_000,
      // A connection that stayed up 5 s was healthy: its drop reconnects fast, while a venue that
      // refuses or drops us at once meets a growing, jittered delay (no reconnect storms).
      backoff: { resetAfterMs: 5_000, ...(this.opts.backoff ?? { baseMs: 250, capMs: 30_000 }) },
      clock: this.clock,
    });
    this.connections.push(conn);
    for (const s of symbols) this.connectionOf.set(this.key(s), conn);
    conn.start();
  }

  private key(symbol: string): string {
    return this.venue === 'kraken-spot' ? symbol : symbol.toUpperCase();
  }

  private tapOut(raw: string): void {
    this.opts.tap?.({ dir: 'out', ts: this.clock.now(), raw });
    try {
      this.feed.onOutbound(JSON.parse(raw));
    } catch {
      // our own frames are JSON
    }
  }

  private onText(text: string, recvTs: number): void {
    this.opts.onReceive?.();
    this.opts.tap?.({ dir: 'in', ts: recvTs, raw: text });
    try {
      // The feed's own decoder takes the frames it fully understands; false (nothing changed): parse.
      if (this.feed.onText?.(text, recvTs)) return;
    } catch (err) {
      this.badMessages++;
      this.emit({ type: 'bad-message', venue: this.venue, error: (err as Error).message });
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.badMessages++;
      this.emit({ type: 'bad-message', venue: this.venue, error: `not JSON: ${text.slice(0, 80)}` });
      return;
    }
    try {
      this.feed.onMessage(msg, recvTs);
    } catch (err) {
      // A malformed venue message is data, not a reason to stop: count it and go on.
      this.badMessages++;
      this.emit({ type: 'bad-message', venue: this.venue, error: (err as Error).message });
    }
  }

  private onResync(symbol: string, reason: string): void {
    this.emit({ type: 'resync', venue: this.venue, symbol, reason });
    this.askedAt.set(symbol, this.clock.now());
    const url = this.protocol.snapshotUrl(this.opts.endpoints.rest, symbol);
    if (url) {
      void this.fetchSnapshot(symbol, url);
      return;
    }
    const conn = this.connectionOf.get(symbol);
    for (const m of this.protocol.resubscribeBook(symbol)) {
      this.tapOut(m);
      conn?.send(m);
    }
  }

  /** One REST snapshot per symbol at a time, retried with backoff until it lands or we stop. */
  private async fetchSnapshot(symbol: string, url: string): Promise<void> {
    if (this.inflight.has(symbol)) return;
    this.inflight.add(symbol);
    try {
      for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
        try {
          const { text, recvTs } = await getText(url, {
            limiter: this.limiter,
            weight: this.protocol.snapshotWeight,
            signal: this.abort.signal,
            timeoutMs: 10_000,
            clock: this.clock,
          });
          this.opts.tap?.({ dir: 'rest', ts: recvTs, url, raw: text });
          this.feed.onSnapshot(symbol, JSON.parse(text), recvTs);
          return;
        } catch (err) {
          if (this.abort.signal.aborted) return;
          this.emit({ type: 'snapshot-failed', venue: this.venue, symbol, error: (err as Error).message });
          this.holdOnBan(err);
          const wait =
            err instanceof TradewindError && err.kind === 'data'
              ? 5000
              : Math.min(30_000, 250 * 2 ** attempt);
          await sleep(wait * (0.5 + Math.random() / 2), this.abort.signal);
        }
      }
    } finally {
      this.inflight.delete(symbol);
    }
  }

  private async fetchMetadata(): Promise<InstrumentSet> {
    const url = this.protocol.metadataUrl(this.opts.endpoints.rest);
    for (let attempt = 0; ; attempt++) {
      try {
        const { text, recvTs } = await getText(url, {
          limiter: this.limiter,
          weight: this.protocol.metadataWeight,
          signal: this.abort.signal,
          timeoutMs: 15_000,
          clock: this.clock,
        });
        this.opts.tap?.({ dir: 'rest', ts: recvTs, url, raw: text });
        return loadInstruments(this.venue, JSON.parse(text));
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        this.emit({
          type: 'snapshot-failed',
          venue: this.venue,
          symbol: '*metadata*',
          error: (err as Error).message,
        });
        this.holdOnBan(err);
        await sleep(Math.min(30_000, 500 * 2 ** attempt), this.abort.signal);
      }
    }
  }

  /** An IP ban answered over REST covers the WebSocket handshakes too. */
  private holdOnBan(err: unknown): void {
    if (err instanceof HttpOperationalError && err.code === 'IP_BANNED' && err.retryAfterMs !== undefined) {
      const until = this.clock.now() + err.retryAfterMs;
      for (const c of this.connections) c.holdReconnectsUntil(until);
    }
  }

  /**
   * Fail-safe for everything the sync cannot see by itself: a SYNCED book that stopped updating
   * (silently dead subscription) is stale; a book still not SYNCED long after it was asked for
   * (a lost subscribe, a snapshot that never came) is asked for again.
   */
  private checkStale(staleAfterMs: number): void {
    const now = this.clock.now();
    const resyncTimeout = this.opts.resyncTimeoutMs ?? 5_000;
    for (const [symbol, view] of this.feed.symbols()) {
      const book = view.book;
      if (book.state === 'SYNCED') {
        if (book.isStale(now, staleAfterMs)) {
          this.emit({ type: 'stale', venue: this.venue, symbol });
          view.reset(`no update for ${staleAfterMs} ms`);
          this.onResync(symbol, 'stale book');
        }
      } else if (now - (this.askedAt.get(symbol) ?? 0) > resyncTimeout) {
        this.onResync(symbol, `still ${book.state} ${resyncTimeout} ms after asking`);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => {
      signal.removeEventListener('abort', done);
      resolve();
    }, ms);
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
  });
}
