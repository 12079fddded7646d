/**
 * `npm run bench:engine` (and the engine case of `npm run bench`): the whole hot path per market
 * message — decode → book → strategy → risk gate → order bytes — in-process, without sockets.
 *
 *   node bench/engine-bench.ts [--messages N] [--seed S] [--rounds R] [--json]
 *
 * The real Engine runs on the real MarketDataClient (instruments given, so start() only has to
 * skip opening connections) and its BinanceBookFeed, fed the seeded Binance USD-M stream of
 * bench/depth-stream.ts frame by frame exactly as the live client's onText does (onReceive, the
 * feed's text decoder, JSON.parse → onMessage for what the decoder leaves). The journal is the real
 * FileJournal (a temporary file, removed after). Trading is a stand-in whose place() serialises the order the
 * way BinanceFuturesTrading does over its WebSocket API — the same params, signed with
 * buildSignedQuery, wrapped in the request frame — calls onWritten (the "order bytes" point) and
 * acks the IOC as EXPIRED (nothing filled), so the account stays flat and the strategy keeps
 * deciding. Time is a ManualClock advanced 100 ms per frame (the stream's cadence).
 *
 * Reported per message (median of rounds): JSON.parse (floor), book only (the feed's decoder and
 * sync), book + strategy (the ImbalanceStrategy on every book update, flat), and the full engine
 * path. Separately: ns per decision that reaches the gate (signal → intent → risk context → gate
 * → journal → submit → order bytes, i.e. the full path's time on those frames minus an ordinary
 * frame's), and ns per order serialised (timed inside place()).
 *
 * Between frames that produced an order the timer stops and the event loop turns once, so the
 * venue's ack (a resolved promise) and the journal's writes land before the next frame, as they
 * would 100 ms later in live trading.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '#core/clock.ts';
import type { Instrument, InstrumentSet } from '#core/instrument.ts';
import { fromSteps } from '#core/grid.ts';
import { PositionLedger } from '#core/position.ts';
import type { OrderIntent } from '#core/trading.ts';
import { parseEngineConfig } from '#engine/config.ts';
import { Engine } from '#engine/engine.ts';
import { FileJournal } from '#engine/journal.ts';
import { MemoryStateStore } from '#engine/state-store.ts';
import { DEFAULT_SYMBOLS, binanceExchangeInfo, simSymbol } from '#sim/symbols.ts';
import { paramsFor } from '#strategy/config.ts';
import { ImbalanceStrategy } from '#strategy/imbalance.ts';
import { strategyPosition } from '#strategy/strategy.ts';
import { noHooks } from '#venues/book-feed.ts';
import { BinanceBookFeed } from '#venues/binance/book-feed.ts';
import { binanceInstruments } from '#venues/binance/instruments.ts';
import { buildSignedQuery } from '#venues/binance/signing.ts';
import { MarketDataClient } from '#venues/market-data.ts';
import type { PlaceResult, UserEvent, VenueTrading } from '#venues/trading.ts';
import type { DepthStream } from './depth-stream.ts';
import { generateDepthStream } from './depth-stream.ts';

const VENUE = 'binance-futures' as const;
const FRAME_MS = 100;
const HOUR = 3_600_000;
const SECRET = 'b'.repeat(64);
const API_KEY = 'bench-api-key';

export interface EngineBenchResult {
  messages: number;
  seed: number;
  rounds: number;
  floorNsPerMsg: number;
  bookNsPerMsg: number;
  bookStrategyNsPerMsg: number;
  fullPathNsPerMsg: number;
  fullPathRatioToFloor: number;
  signals: number;
  decisionsAtGate: number;
  ordersSerialised: number;
  rejections: Record<string, number>;
  nsPerDecision: number;
  nsPerOrderSerialised: number;
  /** The engine's own receive → stage latency histograms (last round), µs. */
  engineLatencyUs: Record<string, { count: number; p50: number; p99: number; max: number }>;
  samplesNsPerMsg: { floor: number[]; book: number[]; bookStrategy: number[]; fullPath: number[] };
  node: string;
}

/** A full collection before each timed run. */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : () => undefined;
})();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function instrumentsFor(): InstrumentSet {
  return binanceInstruments(binanceExchangeInfo(VENUE, [simSymbol(DEFAULT_SYMBOLS[VENUE])], 0), VENUE);
}

function instrumentFor(stream: DepthStream): Instrument {
  const i = instrumentsFor().get(stream.symbol);
  if (!i) throw new Error(`no instrument ${stream.symbol}`);
  return i;
}

/** Start of the simulated clock: an hour past a funding instant, so the run stays clear of its window. */
function startMs(): number {
  return Math.floor(1_760_000_000_000 / (8 * HOUR)) * 8 * HOUR + HOUR;
}

// ------------------------------------------------------------------------------ contenders

function timeFloor(frames: readonly string[]): number {
  collect();
  let sum = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 1; i < frames.length; i++)
    sum += (JSON.parse(frames[i] as string) as { data: { u: number } }).data.u;
  const t1 = process.hrtime.bigint();
  if (sum === 0) throw new Error('floor read nothing');
  return Number(t1 - t0) / (frames.length - 1);
}

/** The feed alone (decode, sync, apply); with `strategy`, the ImbalanceStrategy on every update. */
function timeFeed(stream: DepthStream, withStrategy: boolean): { ns: number; signals: number } {
  const instrument = instrumentFor(stream);
  const clock = new ManualClock(startMs());
  const strategy = new ImbalanceStrategy(
    instrument,
    paramsFor(parseEngineConfig({}).strategy, VENUE, instrument.symbol),
  );
  const flat = strategyPosition(new PositionLedger(instrument, parseEngineConfig({}).capital));
  let signals = 0;
  const feed = new BinanceBookFeed(
    VENUE,
    withStrategy
      ? {
          ...noHooks,
          onBook: (book) => {
            const s = strategy.onBook(book, {
              now: clock.now(),
              position: flat,
              entryPending: false,
              exitPending: false,
            });
            if (s) signals++;
          },
        }
      : noHooks,
  );
  const frames = stream.frames;
  feed.onSnapshot(stream.symbol, JSON.parse(stream.snapshot), clock.now());
  if (!feed.onText(frames[0] as string, clock.now()))
    feed.onMessage(JSON.parse(frames[0] as string), clock.now());
  collect();
  const t0 = process.hrtime.bigint();
  for (let i = 1; i < frames.length; i++) {
    clock.advance(FRAME_MS);
    const text = frames[i] as string;
    const recv = clock.now();
    if (!feed.onText(text, recv)) feed.onMessage(JSON.parse(text), recv);
  }
  const t1 = process.hrtime.bigint();
  const book = feed.sync(stream.symbol)?.book;
  if (book?.state !== 'SYNCED') throw new Error(`book not SYNCED: ${book?.reason}`);
  return { ns: Number(t1 - t0) / (frames.length - 1), signals };
}

/** What BinanceFuturesTrading sends for an order, serialised, signed and framed; nothing is sent. */
class SerialisingTrading implements VenueTrading {
  readonly venue = VENUE;
  readonly capabilities = { stopTypes: [], reduceOnly: true, dmsCancelsStops: false } as const;
  orders = 0;
  bytes = 0;
  serialiseNs = 0;
  private reqSeq = 0;
  private readonly clock: ManualClock;
  constructor(clock: ManualClock) {
    this.clock = clock;
  }
  start(_onEvent: (e: UserEvent) => void): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  place(intent: OrderIntent, inst: Instrument, onWritten?: () => void): Promise<PlaceResult> {
    const t0 = process.hrtime.bigint();
    // BinanceFuturesTrading.orderParams, then the signed WS API request frame.
    const params: Array<readonly [string, string]> = [
      ['symbol', inst.symbol],
      ['side', intent.side === 'buy' ? 'BUY' : 'SELL'],
      ['type', intent.type === 'market' ? 'MARKET' : 'LIMIT'],
      ['quantity', fromSteps(intent.qtyLots, inst.qty)],
      ['newClientOrderId', intent.clientOrderId],
      ['newOrderRespType', 'RESULT'],
    ];
    if (intent.type === 'limit') {
      params.push(['price', fromSteps(intent.priceTicks as number, inst.price)]);
      params.push(['timeInForce', intent.timeInForce === 'POST_ONLY' ? 'GTX' : intent.timeInForce]);
    }
    if (intent.reduceOnly) params.push(['reduceOnly', 'true']);
    params.push(['apiKey', API_KEY]);
    const signed = buildSignedQuery(params, SECRET, { timestamp: this.clock.now(), recvWindow: 5000 });
    const text = `{"id":"tw${++this.reqSeq}","method":"order.place","params":${JSON.stringify(Object.fromEntries(new URLSearchParams(signed)))}}`;
    this.bytes += text.length;
    this.orders++;
    this.serialiseNs += Number(process.hrtime.bigint() - t0);
    onWritten?.();
    return Promise.resolve({
      kind: 'ack',
      state: {
        symbol: inst.symbol,
        clientOrderId: intent.clientOrderId,
        venueOrderId: String(this.reqSeq),
        status: 'EXPIRED',
        filledLots: 0,
        ts: this.clock.now(),
      },
    });
  }
  cancel(): Promise<never> {
    return Promise.reject(new Error('bench: no cancels'));
  }
  cancelAll(): Promise<number> {
    return Promise.resolve(0);
  }
  queryOrder(): Promise<null> {
    return Promise.resolve(null);
  }
  openOrders(): Promise<[]> {
    return Promise.resolve([]);
  }
  positions(): Promise<[]> {
    return Promise.resolve([]);
  }
  fillsSince(): Promise<[]> {
    return Promise.resolve([]);
  }
}

interface FullRun {
  ns: number;
  signals: number;
  decisions: number;
  orders: number;
  nsPerDecision: number;
  nsPerOrder: number;
  rejections: Record<string, number>;
  latency: EngineBenchResult['engineLatencyUs'];
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The real Engine, READY, fed every frame as MarketDataClient.onText feeds it. */
async function timeEngine(stream: DepthStream): Promise<FullRun> {
  const clock = new ManualClock(startMs());
  const trading = new SerialisingTrading(clock);
  const dir = mkdtempSync(join(tmpdir(), 'tradewind-engine-bench-'));
  const journal = new FileJournal(join(dir, 'journal.jsonl'));
  let client: MarketDataClient | null = null;
  let onReceive: () => void = () => undefined;
  const frames = stream.frames;
  const engine = new Engine({
    venue: VENUE,
    symbols: [stream.symbol],
    config: parseEngineConfig({}),
    trading,
    journal,
    state: new MemoryStateStore(),
    clock,
    market: (hooks) => {
      const c = new MarketDataClient({
        venue: VENUE,
        symbols: [stream.symbol],
        endpoints: { rest: 'http://127.0.0.1:9', ws: 'ws://127.0.0.1:9' },
        instruments: instrumentsFor(),
        onBook: hooks.onBook,
        onReceive: hooks.onReceive,
        clock,
      });
      onReceive = hooks.onReceive;
      // No sockets: the snapshot and the first frame arrive the moment the engine starts it.
      c.start = () => {
        c.feed.onSnapshot(stream.symbol, JSON.parse(stream.snapshot), clock.now());
        if (!c.feed.onText?.(frames[0] as string, clock.now()))
          c.feed.onMessage(JSON.parse(frames[0] as string), clock.now());
        return Promise.resolve();
      };
      client = c;
      return c;
    },
  });
  await engine.start();
  if (engine.phase !== 'READY' || !client) throw new Error(`engine not READY: ${engine.phase}`);
  const feed = (client as MarketDataClient).feed;

  // Timer overhead of one hrtime pair, subtracted from every per-frame time below.
  let overhead = 0;
  for (let i = 0; i < 10_000; i++) {
    const a = process.hrtime.bigint();
    overhead += Number(process.hrtime.bigint() - a);
  }
  overhead /= 10_000;

  collect();
  let total = 0;
  let decisionFramesNs = 0;
  let decisionFrames = 0;
  const gateCount = (): number => {
    let n = engine.ordersSent;
    for (const [k, v] of engine.rejections) if (k !== 'SIZE_ZERO') n += v;
    return n;
  };
  let atGate = gateCount();
  for (let i = 1; i < frames.length; i++) {
    clock.advance(FRAME_MS);
    const text = frames[i] as string;
    const recv = clock.now();
    const t0 = process.hrtime.bigint();
    onReceive();
    if (!feed.onText?.(text, recv)) feed.onMessage(JSON.parse(text), recv);
    const ns = Number(process.hrtime.bigint() - t0) - overhead;
    total += ns;
    const g = gateCount();
    if (g !== atGate) {
      atGate = g;
      decisionFrames++;
      decisionFramesNs += ns;
      await turn();
    }
  }
  const book = feed.symbols().get(stream.symbol)?.book;
  if (book?.state !== 'SYNCED') throw new Error(`engine book not SYNCED: ${book?.reason}`);
  const snap = engine.snapshot();
  await engine.stop({ flatten: false });
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
  const n = frames.length - 1;
  const ordinary = (total - decisionFramesNs) / Math.max(1, n - decisionFrames);
  const decisions = decisionFrames;
  const pick = (h: { count: number; p50: number; p99: number; max: number }) => ({
    count: h.count,
    p50: h.p50,
    p99: h.p99,
    max: h.max,
  });
  return {
    ns: total / n,
    signals: engine.signals,
    decisions,
    orders: trading.orders,
    nsPerDecision: decisions > 0 ? decisionFramesNs / decisions - ordinary : NaN,
    nsPerOrder: trading.orders > 0 ? trading.serialiseNs / trading.orders : NaN,
    rejections: Object.fromEntries(engine.rejections),
    latency: {
      ...Object.fromEntries(Object.entries(snap.stagesUs).map(([k, h]) => [k, pick(h)])),
      tickToDecision: pick(snap.latencyUs),
      signalToOrder: pick(snap.signalToOrderUs),
    },
  };
}

// ------------------------------------------------------------------------------ driver

export async function runEngineBench(opts: {
  messages: number;
  seed: number;
  rounds: number;
  progress?: (line: string) => void;
}): Promise<EngineBenchResult> {
  const progress = opts.progress ?? (() => undefined);
  const stream = generateDepthStream({ messages: opts.messages + 1, seed: opts.seed });
  const frames = stream.frames;
  progress('engine bench: warming up…');
  timeFloor(frames);
  timeFeed(stream, false);
  timeFeed(stream, true);
  await timeEngine(stream);
  const s = {
    floor: [] as number[],
    book: [] as number[],
    bookStrategy: [] as number[],
    fullPath: [] as number[],
  };
  const perDecision: number[] = [];
  const perOrder: number[] = [];
  let last: FullRun | null = null;
  let signals = 0;
  for (let r = 0; r < opts.rounds; r++) {
    s.floor.push(timeFloor(frames));
    s.book.push(timeFeed(stream, false).ns);
    const st = timeFeed(stream, true);
    s.bookStrategy.push(st.ns);
    signals = st.signals;
    last = await timeEngine(stream);
    s.fullPath.push(last.ns);
    perDecision.push(last.nsPerDecision);
    perOrder.push(last.nsPerOrder);
    progress(
      `engine round ${r + 1}/${opts.rounds}: floor ${s.floor[r]?.toFixed(0)} ns, book ${s.book[r]?.toFixed(0)} ns, ` +
        `book+strategy ${s.bookStrategy[r]?.toFixed(0)} ns, full ${last.ns.toFixed(0)} ns/msg; ` +
        `${last.decisions} decisions at the gate (${last.nsPerDecision.toFixed(0)} ns each), ${last.orders} orders`,
    );
  }
  if (!last) throw new Error('no rounds');
  if (signals === 0 || last.decisions === 0)
    throw new Error('the strategy never fired: nothing reached the gate');
  const floor = median(s.floor);
  const full = median(s.fullPath);
  return {
    messages: opts.messages,
    seed: opts.seed,
    rounds: opts.rounds,
    floorNsPerMsg: Math.round(floor),
    bookNsPerMsg: Math.round(median(s.book)),
    bookStrategyNsPerMsg: Math.round(median(s.bookStrategy)),
    fullPathNsPerMsg: Math.round(full),
    fullPathRatioToFloor: Number((full / floor).toFixed(3)),
    signals: last.signals,
    decisionsAtGate: last.decisions,
    ordersSerialised: last.orders,
    rejections: last.rejections,
    nsPerDecision: Math.round(median(perDecision)),
    nsPerOrderSerialised: Math.round(median(perOrder)),
    engineLatencyUs: last.latency,
    samplesNsPerMsg: {
      floor: s.floor.map(Math.round),
      book: s.book.map(Math.round),
      bookStrategy: s.bookStrategy.map(Math.round),
      fullPath: s.fullPath.map(Math.round),
    },
    node: process.version,
  };
}

export function formatEngineBench(r: EngineBenchResult): string {
  const row = (name: string, ns: number, note = '') =>
    `  ${name.padEnd(52)} ${Math.round(ns).toString().padStart(7)} ns${note}`;
  const risk = r.engineLatencyUs.risk;
  const written = r.engineLatencyUs.written;
  return [
    `Engine hot path, Binance USD-M BTCUSDT, ${r.messages} frames, seed ${r.seed}, median of ${r.rounds} rounds, ${r.node}`,
    '',
    row('JSON.parse (floor)', r.floorNsPerMsg, '/msg'),
    row('book only (decode + sync + apply)', r.bookNsPerMsg, '/msg'),
    row('book + strategy', r.bookStrategyNsPerMsg, '/msg'),
    row(
      'full path (engine: book → strategy → gate → bytes)',
      r.fullPathNsPerMsg,
      `/msg  ${r.fullPathRatioToFloor.toFixed(2)}× floor`,
    ),
    row(`per decision at the gate (${r.decisionsAtGate} of them)`, r.nsPerDecision, '/decision'),
    row(`per order serialised + signed (${r.ordersSerialised})`, r.nsPerOrderSerialised, '/order'),
    '',
    `  engine receive→risk p50 ${risk?.p50 ?? 0} µs p99 ${risk?.p99 ?? 0} µs; receive→written p50 ${written?.p50 ?? 0} µs p99 ${written?.p99 ?? 0} µs`,
    `  rejections: ${JSON.stringify(r.rejections)}`,
  ].join('\n');
}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text)))
    throw new Error(`--${name} ${JSON.stringify(text)} is not a positive integer`);
  return Number(text);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      messages: { type: 'string' },
      seed: { type: 'string' },
      rounds: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const result = await runEngineBench({
    messages: positiveInt('messages', values.messages, 15_000),
    seed: values.seed === undefined ? 1 : positiveInt('seed', values.seed, 1),
    rounds: positiveInt('rounds', values.rounds, 5),
    progress: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : `${formatEngineBench(result)}\n`);
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`engine-bench: ${(err as Error).message.split('\n')[0]}\n`);
    process.exitCode = 1;
  });
}
