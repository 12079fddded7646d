/**
 * The local exchange simulator: one HTTP + WebSocket server on 127.0.0.1 that speaks, per venue,
 * the subset of the public protocol Tradewind uses — market streams with the venue's own shapes,
 * sequence fields and checksums, the REST depth snapshot and metadata endpoints, weight headers —
 * over a synthetic market, with faults on demand. Paths are prefixed by the venue id:
 *
 *   binance-futures  WS /ws/<streams>, /stream?streams=…   REST /fapi/v1/depth, /fapi/v1/exchangeInfo, /fapi/v1/time
 *   binance-us       WS /ws/<streams>, /stream?streams=…   REST /api/v3/depth, /api/v3/exchangeInfo, /api/v3/time
 *   kraken-spot      WS /v2                                REST /0/public/AssetPairs
 *   kraken-futures   WS /ws/v1                             REST /derivatives/api/v3/instruments
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { L2Book } from '#core/book.ts';
import { fromSteps } from '#core/grid.ts';
import type { VenueId } from '#core/instrument.ts';
import { isVenueId, VENUES } from '#core/instrument.ts';
import { BinanceFuturesTradingSim } from './binance-trading.ts'; // binance-trading hook
import { KrakenSpotTradingSim } from './kraken-spot-trading.ts'; // kraken-spot-trading hook
import type { KrakenSpotTradingSimOptions } from './kraken-spot-trading.ts'; // kraken-spot-trading hook
import type { BinanceTradingSimOptions } from './binance-trading.ts'; // binance-trading hook
import { KrakenFuturesTradingSim } from './kraken-futures-trading.ts'; // kraken-futures-trading hook
import type { KrakenFuturesTradingSimOptions } from './kraken-futures-trading.ts'; // kraken-futures-trading hook
import { BinanceUsTradingSim } from './binance-us-trading.ts'; // binance-us-trading hook
import type { BinanceUsTradingSimOptions } from './binance-us-trading.ts'; // binance-us-trading hook
import { BinanceEncoder } from './encoders/binance.ts';
import { KrakenBookView, KrakenFuturesEncoder } from './encoders/kraken.ts';
import { FaultPlan } from './faults.ts';
import type { HttpFault } from './faults.ts';
import type { MarketStep } from './market.ts';
import { SyntheticMarket } from './market.ts';
import { mulberry } from './rng.ts';
import type { SimSymbol, SimSymbolConfig } from './symbols.ts';
import {
  binanceExchangeInfo,
  DEFAULT_SYMBOLS,
  krakenAssetPairs,
  krakenFuturesInstrumentsBody,
  simSymbol,
} from './symbols.ts';

export interface SimOptions {
  /** Instruments to list and trade (default: one per venue). */
  readonly symbols?: readonly SimSymbolConfig[];
  /** Market step and book-stream cadence; 0 = only when `tick()` is called (tests). Default 100 ms. */
  readonly intervalMs?: number;
  readonly seed?: number;
  /** Wall clock for venue timestamps (default Date.now). */
  readonly now?: () => number;
  /** Port to listen on (default: any free port). */
  readonly port?: number;
  /** Binance REQUEST_WEIGHT per minute before the simulator answers 429 (default: the venue's). */
  readonly weightLimit?: Partial<Record<VenueId, number>>;
  /** Binance USD-M private API: accounts, ledger, listenKey validity (lib/sim/binance-trading.ts). */
  readonly binanceTrading?: BinanceTradingSimOptions;
  /** Kraken spot private API (lib/sim/kraken-spot-trading.ts). kraken-spot-trading hook */
  readonly krakenSpotTrading?: KrakenSpotTradingSimOptions;
  /** Binance.US spot private API (lib/sim/binance-us-trading.ts). binance-us-trading hook */
  readonly binanceUsTrading?: BinanceUsTradingSimOptions;
  /** Kraken Futures private API (lib/sim/kraken-futures-trading.ts). kraken-futures-trading hook */
  readonly krakenFuturesTrading?: KrakenFuturesTradingSimOptions;
}

interface SimMarket {
  readonly sym: SimSymbol;
  readonly market: SyntheticMarket;
  readonly binance: BinanceEncoder | null;
  readonly futures: KrakenFuturesEncoder | null;
  /** A book message held back by a 'reorder' fault, sent after the next one. */
  held: Array<() => void>;
}

interface Session {
  readonly id: number;
  readonly venue: VenueId;
  readonly ws: WebSocket;
  /** Binance: lowercase stream names; the frame is wrapped when combined. */
  readonly streams: Set<string>;
  readonly combined: boolean;
  /** Kraken spot: symbol → this connection's view of the book. */
  readonly views: Map<string, KrakenBookView>;
  /** Kraken spot trade / Kraken Futures feeds: "feed symbol" keys. */
  readonly feeds: Set<string>;
}

export interface SimStats {
  /** Every WebSocket handshake and REST request seen, with the status answered (for backoff tests). */
  log: Array<{ venue: VenueId; kind: 'ws' | 'rest'; path: string; ts: number; status: number }>;
  handshakes: number;
  rejectedHandshakes: number;
  restRequests: number;
  connectionsDropped: number;
}

const WEIGHT_LIMITS: Record<VenueId, number> = {
  'binance-futures': 2400,
  'binance-us': 1200,
  'kraken-spot': 1_000_000,
  'kraken-futures': 1_000_000,
};

function depthWeight(venue: VenueId, limit: number): number {
  if (venue === 'binance-futures') return limit <= 50 ? 2 : limit <= 100 ? 5 : limit <= 500 ? 10 : 20;
  return limit <= 100 ? 1 : limit <= 500 ? 5 : limit <= 1000 ? 10 : 50;
}

export class ExchangeSimulator {
  readonly faults = new FaultPlan();
  readonly stats: SimStats = {
    log: [],
    handshakes: 0,
    rejectedHandshakes: 0,
    restRequests: 0,
    connectionsDropped: 0,
  };
  private readonly markets = new Map<string, SimMarket>();
  private readonly sessions = new Set<Session>();
  private readonly opts: SimOptions;
  private readonly now: () => number;
  private readonly wss = new WebSocketServer({ noServer: true, autoPong: false });
  private server: Server | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextSession = 1;
  private lastSecond = 0;
  private readonly weight = new Map<VenueId, { minute: number; used: number }>();
  /** Kraken spot orders, executions and dead man's switch (kraken-spot-trading hook). */
  readonly krakenSpotTrading: KrakenSpotTradingSim;
  /** Binance USD-M orders, user data stream and WS API (binance-trading hook). */
  readonly binanceTrading: BinanceFuturesTradingSim;
  /** Binance.US spot orders and user data stream (binance-us-trading hook). */
  readonly binanceUsTrading: BinanceUsTradingSim;
  /** Kraken Futures orders, private feeds and dead man's switch (kraken-futures-trading hook). */
  readonly krakenFuturesTrading: KrakenFuturesTradingSim;

  constructor(opts: SimOptions = {}) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    const rand = mulberry((opts.seed ?? 7) ^ 0x9e3779b9);
    const configs = opts.symbols ?? VENUES.map((v) => DEFAULT_SYMBOLS[v]);
    let i = 0;
    for (const cfg of configs) {
      const sym = simSymbol(cfg);
      const seed = cfg.seed ?? (opts.seed ?? 7) * 1000 + i++;
      this.markets.set(`${sym.venue} ${sym.symbol}`, {
        sym,
        market: new SyntheticMarket(
          {
            meanLevelQtyLots: sym.meanLevelQtyLots,
            symbol: sym.symbol,
            ...sym.market,
            seed,
            startMidTicks: sym.startMidTicks,
          },
          this.now(),
        ),
        binance: sym.venue.startsWith('binance')
          ? new BinanceEncoder(sym, sym.venue === 'binance-futures', rand)
          : null,
        futures: sym.venue === 'kraken-futures' ? new KrakenFuturesEncoder(sym) : null,
        held: [],
      });
    }
    // kraken-spot-trading hook
    this.krakenSpotTrading = new KrakenSpotTradingSim(
      {
        symbols: configs,
        book: (symbol) => this.markets.get(`kraken-spot ${symbol}`)?.market.book,
        now: this.now,
        faults: this.faults,
      },
      opts.krakenSpotTrading,
    );
    // binance-trading hook
    this.binanceTrading = new BinanceFuturesTradingSim(
      {
        symbols: configs,
        book: (symbol) => this.markets.get(`binance-futures ${symbol}`)?.market.book,
        now: this.now,
        faults: this.faults,
      },
      opts.binanceTrading,
    );
    // binance-us-trading hook
    this.binanceUsTrading = new BinanceUsTradingSim(
      {
        symbols: configs,
        book: (symbol) => this.markets.get(`binance-us ${symbol}`)?.market.book,
        now: this.now,
        faults: this.faults,
      },
      opts.binanceUsTrading,
    );
    // kraken-futures-trading hook
    this.krakenFuturesTrading = new KrakenFuturesTradingSim(
      {
        symbols: configs,
        book: (symbol) => this.markets.get(`kraken-futures ${symbol}`)?.market.book,
        now: this.now,
        faults: this.faults,
      },
      opts.krakenFuturesTrading,
    );
  }

  get port(): number {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') throw new Error('simulator not started');
    return addr.port;
  }

  /** Base URLs a venue client is pointed at instead of the real venue. */
  baseUrl(venue: VenueId): { rest: string; ws: string } {
    return { rest: `http://127.0.0.1:${this.port}/${venue}`, ws: `ws://127.0.0.1:${this.port}/${venue}` };
  }

  symbols(venue?: VenueId): SimSymbol[] {
    return [...this.markets.values()].map((m) => m.sym).filter((s) => !venue || s.venue === venue);
  }

  /** The simulator's true book for a symbol (what every client should converge to). */
  truth(venue: VenueId, symbol: string): L2Book {
    const m = this.markets.get(`${venue} ${symbol}`);
    if (!m) throw new Error(`simulator has no ${venue} ${symbol}`);
    return m.market.book;
  }

  /**
   * A news shock on one market: its fair price jumps by `fraction` (-0.01 = 1 % down) and the next
   * order-flow events sweep the side left stale, as a gap through resting stops does on a venue.
   */
  shock(venue: VenueId, symbol: string, fraction: number): void {
    const m = this.markets.get(`${venue} ${symbol}`);
    if (!m) throw new Error(`simulator has no ${venue} ${symbol}`);
    m.market.shock(fraction);
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.onHttp(req, res));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const interval = this.opts.intervalMs ?? 100;
    if (interval > 0) this.timer = setInterval(() => this.tick(interval), interval);
  }

  /** Freezes the market (the book streams go quiet); `resume()` restarts it. */
  pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  resume(): void {
    const interval = this.opts.intervalMs ?? 100;
    if (!this.timer && interval > 0 && this.server)
      this.timer = setInterval(() => this.tick(interval), interval);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of this.sessions) s.ws.terminate();
    this.sessions.clear();
    this.binanceTrading.stop(); // binance-trading hook
    this.krakenSpotTrading.stop(); // kraken-spot-trading hook
    this.binanceUsTrading.stop(); // binance-us-trading hook
    this.krakenFuturesTrading.stop(); // kraken-futures-trading hook
    this.wss.close();
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** Closes every connection to a venue (or all): the venue dropped us. */
  dropConnections(venue?: VenueId): number {
    let n = 0;
    for (const s of this.sessions) {
      if (venue && s.venue !== venue) continue;
      s.ws.terminate();
      this.sessions.delete(s);
      n++;
    }
    if (!venue || venue === 'binance-futures') n += this.binanceTrading.dropConnections(); // binance-trading hook
    if (!venue || venue === 'kraken-spot') n += this.krakenSpotTrading.dropSockets(); // kraken-spot-trading hook
    if (!venue || venue === 'binance-us') n += this.binanceUsTrading.dropUserStreams(); // binance-us-trading hook
    this.stats.connectionsDropped += n;
    return n;
  }

  connectionCount(venue?: VenueId): number {
    let n = 0;
    for (const s of this.sessions) if (!venue || s.venue === venue) n++;
    return n;
  }

  /** Advances every market by `dtMs` and streams the changes. */
  tick(dtMs = this.opts.intervalMs || 100): void {
    const now = this.now();
    const second = Math.floor(now / 1000);
    const newSecond = second !== this.lastSecond;
    this.lastSecond = second;
    for (const m of this.markets.values()) {
      const step = m.market.step(dtMs);
      if (m.binance) this.streamBinance(m, step, now, newSecond);
      else if (m.futures) this.streamKrakenFutures(m, step, now);
      else this.streamKrakenSpot(m, step, now);
      // binance-trading hook: resting orders fill as makers when the market moves through them.
      if (m.sym.venue === 'kraken-spot')
        this.krakenSpotTrading.onMarketStep(m.sym.symbol, m.market.book, now); // kraken-spot-trading hook
      if (m.sym.venue === 'binance-futures')
        this.binanceTrading.onMarketStep(m.sym.symbol, m.market.book, now);
      if (m.sym.venue === 'binance-us') this.binanceUsTrading.onMarketStep(m.sym.symbol, m.market.book, now); // binance-us-trading hook
      if (m.sym.venue === 'kraken-futures')
        this.krakenFuturesTrading.onMarketStep(m.sym.symbol, m.market.book, now); // kraken-futures-trading hook
    }
    if (newSecond) this.heartbeats(now);
  }

  // ---------------------------------------------------------------- streaming

  private deliver(s: Session, text: string): void {
    if (s.ws.readyState !== WebSocket.OPEN) return;
    if (this.faults.isStalled(s.venue, this.now())) return;
    const delay = this.faults.latencyOf(s.venue);
    if (delay > 0) setTimeout(() => s.ws.readyState === WebSocket.OPEN && s.ws.send(text), delay);
    else s.ws.send(text);
  }

  /** Applies the symbol's next event fault to one book event (a closure that sends it). */
  private emitBookEvent(m: SimMarket, send: () => void): void {
    const fault = this.faults.takeEvent(m.sym.venue, m.sym.symbol);
    const flushHeld = () => {
      const held = m.held;
      m.held = [];
      for (const h of held) h();
    };
    if (fault === 'skip') return;
    if (fault === 'reorder') {
      m.held.push(send);
      return;
    }
    send();
    if (fault === 'duplicate') send();
    flushHeld();
  }

  private streamBinance(m: SimMarket, step: MarketStep, now: number, newSecond: boolean): void {
    const enc = m.binance as BinanceEncoder;
    const lower = m.sym.symbol.toLowerCase();
    const ev = enc.diff(step.changes, now);
    if (ev) {
      const data = JSON.stringify(ev);
      this.emitBookEvent(m, () => {
        for (const s of this.sessions) {
          if (s.venue !== m.sym.venue) continue;
          for (const stream of s.streams) {
            if (stream.startsWith(`${lower}@depth`) && !/@depth\d/.test(stream)) {
              this.deliver(s, s.combined ? `{"stream":"${stream}","data":${data}}` : data);
            }
          }
        }
      });
    }
    const trades = step.trades.map((t) => JSON.stringify(enc.aggTrade(t, now)));
    const mark =
      newSecond && m.sym.venue === 'binance-futures'
        ? JSON.stringify(enc.markPrice(m.market.book, now))
        : null;
    for (const s of this.sessions) {
      if (s.venue !== m.sym.venue) continue;
      for (const stream of s.streams) {
        const wrap = (d: string) => (s.combined ? `{"stream":"${stream}","data":${d}}` : d);
        if (stream === `${lower}@aggtrade`) for (const t of trades) this.deliver(s, wrap(t));
        else if (mark && stream.startsWith(`${lower}@markprice`)) this.deliver(s, wrap(mark));
      }
    }
  }

  private streamKrakenSpot(m: SimMarket, step: MarketStep, now: number): void {
    const fault = step.changes.length > 0 ? this.faults.takeEvent(m.sym.venue, m.sym.symbol) : undefined;
    const sends: Array<() => void> = [];
    for (const s of this.sessions) {
      const view = s.views.get(m.sym.symbol);
      if (!view) continue;
      const msg = view.update(m.market.book, now, fault === 'corrupt-checksum');
      if (msg) sends.push(() => this.deliver(s, msg));
    }
    if (fault === 'skip') {
      // The views moved on without the clients seeing it: their next checksum cannot match.
    } else if (fault === 'reorder') {
      m.held.push(...sends);
    } else {
      for (const send of sends) send();
      if (fault === 'duplicate') for (const send of sends) send();
      const held = m.held;
      m.held = [];
      for (const h of held) h();
    }
    if (step.trades.length > 0) {
      const data = step.trades
        .map(
          (t, i) =>
            `{"symbol":"${m.sym.symbol}","side":"${t.takerSide}","price":${fromSteps(t.price, m.sym.price)},"qty":${fromSteps(t.qty, m.sym.qty)},"ord_type":"market","trade_id":${now * 10 + i},"timestamp":"${new Date(now).toISOString()}"}`,
        )
        .join(',');
      const msg = `{"channel":"trade","type":"update","data":[${data}]}`;
      for (const s of this.sessions) if (s.feeds.has(`trade ${m.sym.symbol}`)) this.deliver(s, msg);
    }
  }

  private streamKrakenFutures(m: SimMarket, step: MarketStep, now: number): void {
    const enc = m.futures as KrakenFuturesEncoder;
    const deltas = enc.deltas(step.changes, now);
    const key = `book ${m.sym.symbol}`;
    for (const text of deltas) {
      this.emitBookEvent(m, () => {
        for (const s of this.sessions)
          if (s.venue === 'kraken-futures' && s.feeds.has(key)) this.deliver(s, text);
      });
    }
  }

  private heartbeats(now: number): void {
    for (const s of this.sessions) {
      if (s.venue === 'kraken-spot' && s.views.size > 0) this.deliver(s, '{"channel":"heartbeat"}');
      if (s.venue === 'kraken-futures' && s.feeds.has('heartbeat'))
        this.deliver(s, `{"feed":"heartbeat","time":${now}}`);
      if (s.venue === 'kraken-futures') {
        for (const m of this.markets.values()) {
          if (m.futures && s.feeds.has(`ticker ${m.sym.symbol}`)) {
            const b = m.market.book;
            const mid = Math.round((b.bestBid() + b.bestAsk()) / 2);
            const p = fromSteps(Number.isFinite(mid) ? mid : m.sym.startMidTicks, m.sym.price);
            this.deliver(
              s,
              `{"feed":"ticker","product_id":"${m.sym.symbol}","markPrice":${p},"funding_rate":0.0001,"time":${now}}`,
            );
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- WebSocket sessions

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://sim');
    const [, venue, ...rest] = url.pathname.split('/');
    if (!venue || !isVenueId(venue)) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.stats.handshakes++;
    const fault = this.faults.takeHandshake(venue);
    this.stats.log.push({
      venue,
      kind: 'ws',
      path: url.pathname,
      ts: this.now(),
      status: fault ? fault.status : 101,
    });
    if (fault) {
      this.stats.rejectedHandshakes++;
      const retry = fault.retryAfterSec !== undefined ? `Retry-After: ${fault.retryAfterSec}\r\n` : '';
      socket.end(
        `HTTP/1.1 ${fault.status} Refused\r\n${retry}Content-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    const path = `/${rest.join('/')}`;
    if (venue === 'kraken-spot' && this.krakenSpotTrading.handlesUpgrade(path)) {
      // kraken-spot-trading hook: the authenticated WS v2 (orders, executions)
      this.wss.handleUpgrade(req, socket, head, (ws) => this.krakenSpotTrading.onConnection(ws));
      return;
    }
    if (venue === 'binance-futures' && this.binanceTrading.handlesUpgrade(path)) {
      // binance-trading hook: user data streams and the WebSocket API
      this.wss.handleUpgrade(req, socket, head, (ws) => this.binanceTrading.onConnection(path, ws));
      return;
    }
    if (venue === 'binance-us' && this.binanceUsTrading.handlesUpgrade(path)) {
      // binance-us-trading hook: user data streams
      this.wss.handleUpgrade(req, socket, head, (ws) => this.binanceUsTrading.onConnection(path, ws));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const combined = path === '/stream';
      const streams = new Set<string>();
      const names = combined
        ? (url.searchParams.get('streams') ?? '')
        : path.startsWith('/ws/')
          ? path.slice(4)
          : '';
      for (const st of names.split('/')) {
        if (st) streams.add(st.toLowerCase());
      }
      const s: Session = {
        id: this.nextSession++,
        venue,
        ws,
        streams,
        combined,
        views: new Map(),
        feeds: new Set(),
      };
      this.sessions.add(s);
      ws.on('close', () => this.sessions.delete(s));
      ws.on('error', () => this.sessions.delete(s));
      ws.on('ping', (data) => {
        if (!this.faults.isStalled(venue, this.now())) ws.pong(data);
      });
      ws.on('message', (data) => this.onClientMessage(s, (data as Buffer).toString('utf8')));
      if (venue === 'kraken-spot') {
        this.deliver(
          s,
          `{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":${s.id},"system":"online","version":"2.0.0"}]}`,
        );
      } else if (venue === 'kraken-futures') {
        this.deliver(s, '{"event":"info","version":1}');
      }
    });
  }

  private onClientMessage(s: Session, text: string): void {
    if (this.faults.isStalled(s.venue, this.now())) return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.deliver(s, '{"error":"invalid JSON"}');
      return;
    }
    if (s.venue === 'binance-futures' || s.venue === 'binance-us') this.onBinanceRequest(s, msg);
    else if (s.venue === 'kraken-spot') this.onKrakenSpotRequest(s, msg);
    else this.onKrakenFuturesRequest(s, msg);
  }

  private onBinanceRequest(s: Session, msg: Record<string, unknown>): void {
    const params = Array.isArray(msg.params)
      ? msg.params.filter((p): p is string => typeof p === 'string')
      : [];
    if (msg.method === 'SUBSCRIBE') for (const p of params) s.streams.add(p.toLowerCase());
    else if (msg.method === 'UNSUBSCRIBE') for (const p of params) s.streams.delete(p.toLowerCase());
    else if (msg.method === 'LIST_SUBSCRIPTIONS') {
      this.deliver(s, JSON.stringify({ result: [...s.streams], id: msg.id }));
      return;
    } else {
      this.deliver(
        s,
        JSON.stringify({ code: 2, msg: `Invalid request: unknown method`, id: msg.id ?? null }),
      );
      return;
    }
    this.deliver(s, JSON.stringify({ result: null, id: msg.id }));
  }

  private onKrakenSpotRequest(s: Session, msg: Record<string, unknown>): void {
    const now = this.now();
    const reqId = typeof msg.req_id === 'number' ? msg.req_id : undefined;
    const stamp = `"time_in":"${new Date(now).toISOString()}","time_out":"${new Date(now).toISOString()}"`;
    const reqPart = reqId !== undefined ? `"req_id":${reqId},` : '';
    if (msg.method === 'ping') {
      this.deliver(s, `{"method":"pong",${reqPart}${stamp}}`);
      return;
    }
    const params = (typeof msg.params === 'object' && msg.params !== null ? msg.params : {}) as Record<
      string,
      unknown
    >;
    const symbols = Array.isArray(params.symbol)
      ? params.symbol.filter((x): x is string => typeof x === 'string')
      : [];
    const channel = params.channel;
    if (msg.method !== 'subscribe' && msg.method !== 'unsubscribe') {
      this.deliver(s, `{"error":"Method not found",${reqPart}"success":false,${stamp}}`);
      return;
    }
    for (const symbol of symbols) {
      const m = this.markets.get(`kraken-spot ${symbol}`);
      if (!m) {
        this.deliver(
          s,
          `{"error":"Currency pair not supported ${symbol}","method":"${msg.method}",${reqPart}"success":false,"symbol":"${symbol}",${stamp}}`,
        );
        continue;
      }
      if (channel === 'book') {
        const depth = typeof params.depth === 'number' ? params.depth : 10;
        if (![10, 25, 100, 500, 1000].includes(depth)) {
          this.deliver(
            s,
            `{"error":"Invalid depth","method":"${msg.method}",${reqPart}"success":false,${stamp}}`,
          );
          continue;
        }
        if (msg.method === 'unsubscribe') {
          s.views.delete(symbol);
        } else if (s.views.has(symbol)) {
          this.deliver(
            s,
            `{"error":"Already subscribed","method":"subscribe",${reqPart}"success":false,"symbol":"${symbol}",${stamp}}`,
          );
          continue;
        }
        this.deliver(
          s,
          `{"method":"${msg.method}","result":{"channel":"book","depth":${depth},"snapshot":true,"symbol":"${symbol}"},"success":true,${reqPart}${stamp}}`,
        );
        if (msg.method === 'subscribe') {
          const view = new KrakenBookView(m.sym, depth);
          s.views.set(symbol, view);
          this.deliver(s, view.snapshot(m.market.book, now));
        }
      } else if (channel === 'trade') {
        if (msg.method === 'subscribe') s.feeds.add(`trade ${symbol}`);
        else s.feeds.delete(`trade ${symbol}`);
        this.deliver(
          s,
          `{"method":"${msg.method}","result":{"channel":"trade","symbol":"${symbol}"},"success":true,${reqPart}${stamp}}`,
        );
      }
    }
  }

  private onKrakenFuturesRequest(s: Session, msg: Record<string, unknown>): void {
    const event = msg.event;
    if (event === 'ping') return; // keeps the connection alive; Kraken Futures does not answer
    if (this.krakenFuturesTrading.onWsMessage(s.ws, msg)) return; // kraken-futures-trading hook: challenge, private feeds
    const feed = typeof msg.feed === 'string' ? msg.feed : '';
    const ids = Array.isArray(msg.product_ids)
      ? msg.product_ids.filter((x): x is string => typeof x === 'string')
      : [];
    if (event !== 'subscribe' && event !== 'unsubscribe') {
      this.deliver(s, '{"event":"error","message":"Invalid event"}');
      return;
    }
    if (feed === 'heartbeat') {
      if (event === 'subscribe') s.feeds.add('heartbeat');
      else s.feeds.delete('heartbeat');
      this.deliver(s, `{"event":"${event}d","feed":"heartbeat"}`);
      return;
    }
    for (const raw of ids) {
      const id = raw.toUpperCase();
      const m = this.markets.get(`kraken-futures ${id}`);
      if (!m || (feed !== 'book' && feed !== 'ticker' && feed !== 'trade')) {
        this.deliver(s, `{"event":"alert","message":"Bad request: ${feed} ${raw}"}`);
        continue;
      }
      const key = `${feed} ${id}`;
      if (event === 'unsubscribe') s.feeds.delete(key);
      else s.feeds.add(key);
      this.deliver(s, `{"event":"${event}d","feed":"${feed}","product_ids":["${id}"]}`);
      if (event === 'subscribe' && feed === 'book')
        this.deliver(s, (m.futures as KrakenFuturesEncoder).snapshot(m.market.book, this.now()));
    }
  }

  // ---------------------------------------------------------------- REST

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    this.stats.restRequests++;
    const url = new URL(req.url ?? '/', 'http://sim');
    const [, venue, ...rest] = url.pathname.split('/');
    const path = `/${rest.join('/')}`;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (venue && isVenueId(venue))
        this.stats.log.push({ venue, kind: 'rest', path, ts: this.now(), status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (!venue || !isVenueId(venue)) return send(404, { error: 'unknown venue' });
    const fault = this.faults.takeHttp(venue, path);
    if (fault) return this.sendFault(venue, fault, send);
    const now = this.now();
    if (venue === 'binance-futures' || venue === 'binance-us') {
      const futures = venue === 'binance-futures';
      const prefix = futures ? '/fapi/v1' : '/api/v3';
      let weight = 1;
      if (path === `${prefix}/depth`)
        weight = depthWeight(venue, Number(url.searchParams.get('limit') ?? 500));
      else if (path === `${prefix}/exchangeInfo`) weight = futures ? 1 : 10;
      const used = this.useWeight(venue, weight, now);
      const headers = { 'x-mbx-used-weight-1m': String(used) };
      const limit = this.opts.weightLimit?.[venue] ?? WEIGHT_LIMITS[venue];
      if (used > limit) {
        const retry = Math.ceil((60_000 - (now % 60_000)) / 1000);
        return send(
          429,
          { code: -1003, msg: 'Too many requests; current limit is exceeded.' },
          { ...headers, 'retry-after': String(retry) },
        );
      }
      if (futures && this.binanceTrading.handlesHttp(req.method ?? 'GET', path)) {
        // binance-trading hook: the private REST API
        return this.binanceTrading.onHttp(req, url, path, (status, body, h) =>
          send(status, body, { ...headers, ...h }),
        );
      }
      if (!futures && this.binanceUsTrading.handlesHttp(req.method ?? 'GET', path)) {
        // binance-us-trading hook: the private REST API
        return this.binanceUsTrading.onHttp(req, url, path, (status, body, h) =>
          send(status, body, { ...headers, ...h }),
        );
      }
      if (path === `${prefix}/time`) return send(200, { serverTime: now }, headers);
      if (path === `${prefix}/exchangeInfo`) {
        return send(200, binanceExchangeInfo(venue, this.symbols(venue), now), headers);
      }
      if (path === `${prefix}/depth`) {
        const symbol = (url.searchParams.get('symbol') ?? '').toUpperCase();
        const m = this.markets.get(`${venue} ${symbol}`);
        if (!m?.binance) return send(400, { code: -1121, msg: 'Invalid symbol.' }, headers);
        const limit = Number(url.searchParams.get('limit') ?? 500);
        if (
          ![5, 10, 20, 50, 100, 500, 1000].includes(limit) &&
          !(venue === 'binance-us' && limit > 0 && limit <= 5000)
        ) {
          return send(400, { code: -1100, msg: "Illegal characters found in parameter 'limit'." }, headers);
        }
        return send(200, m.binance.snapshot(m.market.book, limit, now), headers);
      }
      return send(404, { code: -1, msg: 'Not found' }, headers);
    }
    if (venue === 'kraken-spot' && this.krakenSpotTrading.handlesHttp(req.method ?? 'GET', path))
      return this.krakenSpotTrading.onHttp(req, path, send); // kraken-spot-trading hook
    if (venue === 'kraken-spot' && path === '/0/public/AssetPairs')
      return send(200, krakenAssetPairs(this.symbols(venue)));
    if (venue === 'kraken-futures' && this.krakenFuturesTrading.handlesHttp(req.method ?? 'GET', path))
      return this.krakenFuturesTrading.onHttp(req, url, path, send); // kraken-futures-trading hook
    if (venue === 'kraken-futures' && path === '/derivatives/api/v3/instruments') {
      return send(200, krakenFuturesInstrumentsBody(this.symbols(venue)));
    }
    return send(
      404,
      venue === 'kraken-spot'
        ? { error: ['EGeneral:Unknown method'] }
        : { result: 'error', error: 'not found' },
    );
  }

  private sendFault(
    venue: VenueId,
    fault: HttpFault,
    send: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ): void {
    const headers: Record<string, string> = {};
    if (fault.retryAfterSec !== undefined) headers['retry-after'] = String(fault.retryAfterSec);
    let body: unknown = fault.body;
    if (body === undefined) {
      if (venue.startsWith('binance')) {
        body =
          fault.status === 429 || fault.status === 418
            ? {
                code: -1003,
                msg: fault.status === 418 ? 'Way too many requests; IP banned.' : 'Too many requests.',
              }
            : fault.status === 503
              ? { code: -1000, msg: 'Service Unavailable.' }
              : { code: -1000, msg: 'An unknown error occurred while processing the request.' };
      } else body = { error: [`EService:Unavailable (${fault.status})`] };
    }
    send(fault.status, body, headers);
  }

  private useWeight(venue: VenueId, weight: number, now: number): number {
    const minute = Math.floor(now / 60_000);
    const w = this.weight.get(venue);
    const used = (w && w.minute === minute ? w.used : 0) + weight;
    this.weight.set(venue, { minute, used });
    return used;
  }
}
