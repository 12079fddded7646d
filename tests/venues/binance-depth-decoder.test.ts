/**
 * The Binance depth text decoder (depth-decoder.ts) and the sync entry point behind it
 * (BinanceDepthSync.onDecoded, BinanceBookFeed.onText).
 *
 * The decoder is an optimisation, never a second set of rules: fed the same frames, a feed that
 * goes through `onText` (falling back to JSON.parse → onMessage) and a feed that always goes
 * through JSON.parse → onMessage must hold the same books, counters, states, hooks and errors
 * after every single message. That is proven here on the real recordings (when present) and on
 * generated traffic full of the odd things venues and networks do; each fallback reason has a unit
 * test of its own.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BookSide } from '#core/book.ts';
import type { Grid } from '#core/grid.ts';
import { fromSteps, gridFromDecimals, gridFromStep } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { InstrumentSet } from '#core/instrument.ts';
import type { ReplayRecord } from '#replay/records.ts';
import { mergeRecords, readRecords } from '#replay/records.ts';
import type { BookGrids } from '#venues/book-feed.ts';
import { BinanceBookFeed } from '#venues/binance/book-feed.ts';
import type { DecodeReason, DepthEvent, LevelBuffer } from '#venues/binance/depth-decoder.ts';
import { Decode, DepthDecoder, FALLBACK_REASONS } from '#venues/binance/depth-decoder.ts';
import { dataFile, hasExchangeData, skipReason } from '../support/exchange-data.ts';

type Venue = 'binance-futures' | 'binance-us';
type FeedOptions = ConstructorParameters<typeof BinanceBookFeed>[2];

// ---------------------------------------------------------------------------------------------
// Two feeds side by side: the JSON path and the text path.
// ---------------------------------------------------------------------------------------------

interface Side {
  readonly feed: BinanceBookFeed;
  /** Every hook call, in order. */
  readonly log: string[];
}

function side(venue: Venue, opts: FeedOptions): Side {
  const log: string[] = [];
  const feed = new BinanceBookFeed(
    venue,
    {
      requestResync: (symbol, reason) => log.push(`resync ${symbol}: ${reason}`),
      onBook: (book) => log.push(`book ${book.symbol} ${book.lastUpdateId} ${book.venueTs} ${book.localTs}`),
    },
    opts,
  );
  return { feed, log };
}

function outcome(fn: () => void): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

/** Exact level-by-level equality, without building anything (the books can hold 1000s of levels). */
function sameSide(a: BookSide, b: BookSide): boolean {
  if (a.depth !== b.depth) return false;
  for (let i = 0; i < a.depth; i++) {
    if (a.priceAt(i) !== b.priceAt(i) || a.exactQtyAt(i) !== b.exactQtyAt(i)) return false;
  }
  return true;
}

function dumpSide(s: BookSide, grids: BookGrids | null): string[] {
  return s
    .top(s.depth)
    .map(([p, q]) =>
      grids ? `${fromSteps(p, grids.price)} ${fromSteps(q, grids.qty)}` : `${p} ${String(q)}`,
    );
}

/** Everything observable about a feed, for a readable diff when two differ. */
function dump(feed: BinanceBookFeed): unknown {
  return [...feed.symbols()].map(([symbol, s]) => ({
    symbol,
    stats: s.stats,
    state: s.book.state,
    reason: s.book.reason,
    awaiting: s.awaitingSnapshot,
    lastUpdateId: s.book.lastUpdateId,
    venueTs: s.book.venueTs,
    localTs: s.book.localTs,
    grids: s.grids,
    bids: dumpSide(s.book.bids, s.grids),
    asks: dumpSide(s.book.asks, s.grids),
  }));
}

function sameFeeds(a: BinanceBookFeed, b: BinanceBookFeed): boolean {
  const sa = [...a.symbols()];
  const sb = [...b.symbols()];
  if (sa.length !== sb.length) return false;
  for (let i = 0; i < sa.length; i++) {
    const [ka, x] = sa[i] as (typeof sa)[number];
    const [kb, y] = sb[i] as (typeof sb)[number];
    if (
      ka !== kb ||
      JSON.stringify(x.stats) !== JSON.stringify(y.stats) ||
      x.book.state !== y.book.state ||
      x.book.reason !== y.book.reason ||
      x.awaitingSnapshot !== y.awaitingSnapshot ||
      x.book.lastUpdateId !== y.book.lastUpdateId ||
      x.book.venueTs !== y.book.venueTs ||
      x.book.localTs !== y.book.localTs ||
      JSON.stringify(x.grids) !== JSON.stringify(y.grids) ||
      !sameSide(x.book.bids, y.book.bids) ||
      !sameSide(x.book.asks, y.book.asks)
    )
      return false;
  }
  return true;
}

class Twin {
  readonly json: Side;
  readonly text: Side;
  steps = 0;

  constructor(venue: Venue, opts: FeedOptions = {}) {
    this.json = side(venue, opts);
    this.text = side(venue, opts);
  }

  /** One WebSocket frame through both paths; then both feeds must be indistinguishable. */
  frame(raw: string, ts: number): void {
    const a = outcome(() => this.json.feed.onMessage(JSON.parse(raw), ts));
    const b = outcome(() => {
      if (!this.text.feed.onText(raw, ts)) this.text.feed.onMessage(JSON.parse(raw), ts);
    });
    this.check(raw, a, b);
  }

  snapshot(symbol: string | undefined, body: string, ts: number): void {
    const a = outcome(() => this.json.feed.onSnapshot(symbol, JSON.parse(body), ts));
    const b = outcome(() => this.text.feed.onSnapshot(symbol, JSON.parse(body), ts));
    this.check(`snapshot ${symbol}`, a, b);
  }

  resetAll(reason: string): void {
    this.json.feed.resetAll(reason);
    this.text.feed.resetAll(reason);
    this.check(`resetAll`, 'ok', 'ok');
  }

  private check(what: string, a: string, b: string): void {
    this.steps++;
    const same =
      a === b &&
      this.json.log.length === this.text.log.length &&
      this.json.log.at(-1) === this.text.log.at(-1) &&
      sameFeeds(this.json.feed, this.text.feed);
    if (!same) {
      expect({ step: this.steps, what, outcome: b, log: this.text.log, feed: dump(this.text.feed) }).toEqual({
        step: this.steps,
        what,
        outcome: a,
        log: this.json.log,
        feed: dump(this.json.feed),
      });
    }
  }

  /** How the text path fared: frames decoded and the reasons for the others. */
  stats(): Record<DecodeReason, number> {
    return this.text.feed.textStats();
  }
}

// ---------------------------------------------------------------------------------------------
// The real recordings.
// ---------------------------------------------------------------------------------------------

async function replayTwin(venue: Venue, ws: string, http: string): Promise<Twin> {
  const twin = new Twin(venue);
  for await (const rec of mergeRecords([readRecords(ws), readRecords(http)])) {
    if (rec.kind === 'conn') twin.resetAll('connection (re)opened');
    else if (rec.kind === 'in') twin.frame(rec.text, rec.recvTs);
    else if (rec.kind === 'rest') {
      const symbol = rec.url ? (new URL(rec.url).searchParams.get('symbol') ?? undefined) : undefined;
      twin.snapshot(symbol, rec.text, rec.recvTs);
    }
  }
  expect(twin.json.log.join('\n')).toBe(twin.text.log.join('\n'));
  expect(dump(twin.text.feed)).toEqual(dump(twin.json.feed));
  return twin;
}

describe.skipIf(!hasExchangeData)('text path = JSON path on the real recordings', () => {
  const cf = (f: string) => dataFile('cryptofeed', f);

  it('Binance USD-M futures: same books, counters and hooks after every frame', async () => {
    const twin = await replayTwin(
      'binance-futures',
      cf('BINANCE_FUTURES.ws.1.0'),
      cf('BINANCE_FUTURES.http.0.0'),
    );
    const views = [...twin.text.feed.symbols().values()];
    expect(views).toHaveLength(4);
    for (const v of views) {
      expect(v.book.state).toBe('SYNCED');
      expect(v.stats).toMatchObject({ gaps: 0, resyncs: 0, errors: 0 });
    }
    const s = twin.stats();
    // Every depth frame after its symbol's snapshot decoded from text; before it, the symbol and
    // its precision were unknown; everything else (aggTrade, kline, bookTicker) went to JSON.parse.
    expect(s.ok).toBeGreaterThan(600);
    expect(s['not-depth-update']).toBe(91 + 67 + 613);
    expect(s['unknown-symbol']).toBe(4);
    expect(s.ok + s['unknown-symbol'] + s['no-grid']).toBe(764);
  });

  it('Binance.US spot: same books, counters and hooks after every frame', async () => {
    const twin = await replayTwin('binance-us', cf('BINANCE_US.ws.1.0'), cf('BINANCE_US.http.0.0'));
    const views = [...twin.text.feed.symbols().values()];
    expect(views).toHaveLength(4);
    for (const v of views) {
      expect(v.book.state).toBe('SYNCED');
      expect(v.stats).toMatchObject({ gaps: 0, resyncs: 0, errors: 0 });
    }
    const s = twin.stats();
    expect(s.ok).toBeGreaterThan(250);
    expect(s.ok + s['unknown-symbol'] + s['no-grid']).toBe(336);
  });

  it('also holds with a connection reset in the middle (decoded events buffered before a snapshot)', async () => {
    const twin = new Twin('binance-futures');
    const records: ReplayRecord[] = [];
    for await (const rec of mergeRecords([
      readRecords(cf('BINANCE_FUTURES.ws.1.0')),
      readRecords(cf('BINANCE_FUTURES.http.0.0')),
    ]))
      records.push(rec);
    const snapshots = records.filter((r) => r.kind === 'rest');
    const play = (from: number, to: number) => {
      for (const rec of records.slice(from, to)) {
        if (rec.kind === 'in') twin.frame(rec.text, rec.recvTs);
        else if (rec.kind === 'rest')
          twin.snapshot(
            new URL(rec.url as string).searchParams.get('symbol') ?? undefined,
            rec.text,
            rec.recvTs,
          );
      }
    };
    const half = Math.floor(records.length / 2);
    play(0, half);
    const okBefore = twin.stats().ok;
    twin.resetAll('connection lost');
    play(half, half + 200);
    // The books now wait for snapshots with their grids known: decoded events are copied into the
    // buffer. Replaying a recorded snapshot bracketed by none of them resyncs both paths alike.
    for (const s of snapshots) {
      twin.snapshot(new URL(s.url as string).searchParams.get('symbol') ?? undefined, s.text, s.recvTs);
    }
    play(half + 200, records.length);
    expect(twin.stats().ok).toBeGreaterThan(okBefore + 100);
    expect(dump(twin.text.feed)).toEqual(dump(twin.json.feed));
  });
});

if (!hasExchangeData) {
  describe('text path = JSON path on the real recordings', () => {
    it.skip(skipReason, () => undefined);
  });
}

// ---------------------------------------------------------------------------------------------
// Generated traffic: mostly valid, with every variation the decoder must either get right or
// leave to JSON.parse.
// ---------------------------------------------------------------------------------------------

interface SymbolSpec {
  readonly symbol: string;
  readonly priceDecimals: number;
  readonly qtyDecimals: number;
  /** Bids are drawn from [lo, mid), asks from [mid, hi) — in ticks of the last decimal. */
  readonly lo: number;
  readonly mid: number;
  readonly hi: number;
}

const SYMBOLS: readonly SymbolSpec[] = [
  { symbol: 'SUSHIUSDT', priceDecimals: 4, qtyDecimals: 0, lo: 76_000, mid: 76_120, hi: 76_240 },
  { symbol: 'BTCUSDT', priceDecimals: 2, qtyDecimals: 3, lo: 4_321_000, mid: 4_321_060, hi: 4_321_120 },
];

function decimalText(units: number, decimals: number): string {
  if (decimals === 0) return String(units);
  const s = String(units).padStart(decimals + 1, '0');
  return `${s.slice(0, s.length - decimals)}.${s.slice(s.length - decimals)}`;
}

type LevelVariant =
  | 'plain'
  | 'zero'
  | 'cross'
  | 'off-grid'
  | 'trailing-zero'
  | 'leading-zero'
  | 'negative'
  | 'not-a-number'
  | 'huge-qty'
  | 'huge-price'
  | 'escape';

interface LevelSpec {
  readonly tick: number;
  readonly lots: number;
  readonly variant: LevelVariant;
  readonly pick: number;
}

const NOT_NUMBERS = ['abc', '', '1e5', '.5', '5.', '1.2.3', '+1', ' 1', '١', '0x10', 'Infinity', 'é'];
const HUGE_QTY = ['99999999999999999999', '9007199254740993', '123456789012345678901234', '9007199254740992'];
const HUGE_PRICE = ['99999999999999999999', '9007199254740993', '12345678901234567'];

/** A level as JSON text. The tick offset is relative to the symbol's range. */
function levelText(spec: SymbolSpec, bid: boolean, l: LevelSpec): string {
  const range = bid ? spec.mid - spec.lo : spec.hi - spec.mid;
  let tick = (bid ? spec.lo : spec.mid) + (l.tick % range);
  if (l.variant === 'cross') tick = bid ? spec.mid + (l.tick % 5) : spec.mid - 1 - (l.tick % 5);
  let price = decimalText(tick * tickStep, spec.priceDecimals);
  let qty = decimalText(l.variant === 'zero' ? 0 : l.lots, spec.qtyDecimals);
  const which = l.pick % 2 === 0;
  switch (l.variant) {
    case 'off-grid':
      if (which) price += '5';
      else qty = spec.qtyDecimals === 0 ? `${qty}.5` : `${qty}7`;
      break;
    case 'trailing-zero':
      if (which) price += '00';
      else qty = spec.qtyDecimals === 0 ? `${qty}.000` : `${qty}0`;
      break;
    case 'leading-zero':
      if (which) price = `00${price}`;
      else qty = `0${qty}`;
      break;
    case 'negative':
      if (which) price = `-${price}`;
      else qty = `-${qty}`;
      break;
    case 'not-a-number':
      if (which) price = NOT_NUMBERS[l.pick % NOT_NUMBERS.length] as string;
      else qty = NOT_NUMBERS[l.pick % NOT_NUMBERS.length] as string;
      break;
    case 'huge-qty': {
      const q = HUGE_QTY[l.pick % HUGE_QTY.length] as string;
      qty = spec.qtyDecimals === 0 ? q : `${q}.${'0'.repeat(spec.qtyDecimals)}`;
      break;
    }
    case 'huge-price': {
      const p = HUGE_PRICE[l.pick % HUGE_PRICE.length] as string;
      price = `${p}.${'0'.repeat(spec.priceDecimals)}`;
      break;
    }
    case 'escape':
      // "\u0037…": the same string once parsed, but not what the decoder reads.
      price = `\\u00${price.charCodeAt(0).toString(16)}${price.slice(1)}`;
      break;
    default:
  }
  return `["${price}","${qty}"]`;
}

type IdMode = 'next' | 'gap' | 'stale' | 'repeat';
type NumForm = 'plain' | 'string' | 'fraction' | 'exponent' | 'negative' | 'leading-zero' | 'beyond-2^53';
type SymbolForm = 'plain' | 'lower' | 'escaped' | 'unknown';
type Form = 'raw' | 'combined' | 'combined-data-first';
type Spacing = 'none' | 'after-colon' | 'pretty' | 'trailing-newline' | 'inside-level';
type Extra = 'none' | 'unknown-field' | 'duplicate-field' | 'extra-outer';

interface DiffOp {
  readonly kind: 'diff';
  readonly sym: number;
  readonly id: IdMode;
  readonly hole: number;
  readonly len: number;
  readonly b: LevelSpec[];
  readonly a: LevelSpec[];
  readonly form: Form;
  readonly order: number[] | null;
  readonly spacing: Spacing;
  readonly omit: number | null;
  readonly extra: Extra;
  readonly num: NumForm;
  readonly symbolForm: SymbolForm;
  readonly event: 'depthUpdate' | 'aggTrade' | 'escaped-type' | 'pu-in-spot';
}
interface SnapOp {
  readonly kind: 'snap';
  readonly sym: number;
  readonly back: number;
  readonly within: number;
  readonly named: boolean;
  readonly b: LevelSpec[];
  readonly a: LevelSpec[];
}
interface OtherOp {
  readonly kind: 'other';
  readonly which: number;
  readonly sym: number;
}
interface ResetOp {
  readonly kind: 'reset';
}
type Op = DiffOp | SnapOp | OtherOp | ResetOp;

const weighted = <T>(pairs: Array<[T, number]>): fc.Arbitrary<T> =>
  fc.oneof(...pairs.map(([v, weight]) => ({ arbitrary: fc.constant(v), weight })));

const arbLevel = (rare: number): fc.Arbitrary<LevelSpec> =>
  fc.record({
    tick: fc.nat(10_000),
    lots: fc.integer({ min: 1, max: 50_000 }),
    pick: fc.nat(1000),
    variant: weighted<LevelVariant>([
      ['plain', 120],
      ['zero', 25],
      ['cross', rare],
      ['off-grid', rare],
      ['trailing-zero', rare],
      ['leading-zero', rare],
      ['negative', rare],
      ['not-a-number', rare],
      ['huge-qty', rare],
      ['huge-price', rare],
      ['escape', rare],
    ]),
  });

const FIELDS = ['e', 'E', 'T', 's', 'U', 'u', 'pu', 'b', 'a'] as const;

const arbDiff: fc.Arbitrary<DiffOp> = fc.record({
  kind: fc.constant('diff' as const),
  sym: fc.nat(SYMBOLS.length - 1),
  id: weighted<IdMode>([
    ['next', 30],
    ['gap', 1],
    ['stale', 1],
    ['repeat', 1],
  ]),
  hole: fc.nat(5),
  len: fc.nat(4),
  b: fc.array(arbLevel(1), { maxLength: 6 }),
  a: fc.array(arbLevel(1), { maxLength: 6 }),
  form: weighted<Form>([
    ['combined', 6],
    ['raw', 3],
    ['combined-data-first', 1],
  ]),
  order: fc.option(fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7, 8], { minLength: 9, maxLength: 9 }), {
    freq: 6,
  }),
  spacing: weighted<Spacing>([
    ['none', 40],
    ['after-colon', 1],
    ['pretty', 1],
    ['trailing-newline', 1],
    ['inside-level', 1],
  ]),
  omit: fc.oneof(
    { arbitrary: fc.constant(null), weight: 30 },
    { arbitrary: fc.nat(FIELDS.length - 1), weight: 1 },
  ),
  extra: weighted<Extra>([
    ['none', 40],
    ['unknown-field', 1],
    ['duplicate-field', 1],
    ['extra-outer', 1],
  ]),
  num: weighted<NumForm>([
    ['plain', 60],
    ['string', 1],
    ['fraction', 1],
    ['exponent', 1],
    ['negative', 1],
    ['leading-zero', 1],
    ['beyond-2^53', 1],
  ]),
  symbolForm: weighted<SymbolForm>([
    ['plain', 40],
    ['lower', 1],
    ['escaped', 1],
    ['unknown', 1],
  ]),
  event: weighted<'depthUpdate' | 'aggTrade' | 'escaped-type' | 'pu-in-spot'>([
    ['depthUpdate', 40],
    ['aggTrade', 1],
    ['escaped-type', 1],
    ['pu-in-spot', 2],
  ]),
});

const arbSnap: fc.Arbitrary<SnapOp> = fc.record({
  kind: fc.constant('snap' as const),
  sym: fc.nat(SYMBOLS.length - 1),
  back: fc.nat(3),
  within: fc.nat(),
  named: weighted([
    [true, 8],
    [false, 1],
  ]),
  b: fc.array(arbLevel(0), { maxLength: 8 }),
  a: fc.array(arbLevel(0), { maxLength: 8 }),
});

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: arbDiff, weight: 20 },
  { arbitrary: arbSnap, weight: 3 },
  {
    arbitrary: fc.record({ kind: fc.constant('other' as const), which: fc.nat(), sym: fc.nat(1) }),
    weight: 1,
  },
  { arbitrary: fc.constant({ kind: 'reset' as const }), weight: 1 },
);

/** A named, non-empty snapshot per symbol. */
const LEAD: Op[] = SYMBOLS.map((_, sym) => {
  const level = (tick: number): LevelSpec => ({ tick, lots: 5, variant: 'plain', pick: 0 });
  return { kind: 'snap', sym, back: 0, within: 0, named: true, b: [level(3), level(9)], a: [level(4)] };
});

interface IdState {
  prevU: number;
  /** [U, u] of the last few events sent, for snapshots that bracket one of them. */
  recent: Array<[number, number]>;
}

/** Builds frames from the ops, deterministically, and plays them through a twin. */
/** Generated prices are multiples of this many units of their last decimal. */
let tickStep = 1;

function play(venue: Venue, base: number, ops: Op[], opts: FeedOptions = {}, step = 1): Twin {
  tickStep = step;
  const futures = venue === 'binance-futures';
  const twin = new Twin(venue, opts);
  const ids: IdState[] = SYMBOLS.map(() => ({ prevU: base, recent: [] }));
  let ts = 0;
  for (const op of ops) {
    ts++;
    if (op.kind === 'reset') twin.resetAll('connection lost');
    else if (op.kind === 'other') twin.frame(otherFrame(op), ts);
    else if (op.kind === 'snap') {
      const spec = SYMBOLS[op.sym] as SymbolSpec;
      const st = ids[op.sym] as IdState;
      const ev = st.recent[st.recent.length - 1 - (op.back % Math.max(1, st.recent.length))];
      const L = ev ? (futures ? ev[0] : ev[0] - 1) + (op.within % (ev[1] - ev[0] + 1)) : st.prevU;
      const body = `{"lastUpdateId":${L},"E":${1_700_000_000_000 + L},"bids":[${op.b.map((l) => levelText(spec, true, l)).join(',')}],"asks":[${op.a.map((l) => levelText(spec, false, l)).join(',')}]}`;
      twin.snapshot(op.named ? spec.symbol : undefined, body, ts);
    } else {
      twin.frame(diffFrame(futures, op, ids[op.sym] as IdState), ts);
    }
  }
  return twin;
}

function otherFrame(op: OtherOp): string {
  const s = (SYMBOLS[op.sym] as SymbolSpec).symbol;
  const frames = [
    '{"result":null,"id":1}',
    `{"stream":"${s.toLowerCase()}@aggTrade","data":{"e":"aggTrade","E":1,"s":"${s}","a":1,"p":"7.6110","q":"1","T":1,"m":true}}`,
    `{"stream":"${s.toLowerCase()}@bookTicker","data":{"e":"bookTicker","u":1,"s":"${s}","b":"7.6110","B":"2","a":"7.6120","A":"297"}}`,
    `{"e":"markPriceUpdate","E":1,"s":"${s}","p":"7.6110"}`,
    `{"u":400900217,"s":"${s}","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}`,
    'not json',
    '',
    '[]',
    'null',
    '{"stream":"x@depth","data":null}',
    '{"stream":7,"data":{"e":"depthUpdate"}}',
    '{"data":{"e":"depthUpdate","s":"' + s + '"}}',
    `{"stream":"x","data":{"e":"depthUpdate","E":1,"s":"${s}","U":1,"u":2,"pu":0,"T":1,"b":[],"a":[]`,
    `{"e":"depthUpdate","E":1,"T":1,"s":"${s}","U":1,"u":2,"pu":0,"b":[["1"]],"a":[]}`,
    `{"e":"depthUpdate","E":1,"T":1,"s":"${s}","U":1,"u":2,"pu":0,"b":[["1","2","3"]],"a":[]}`,
    `{"e":"depthUpdate","E":1,"T":1,"s":"${s}","U":1,"u":2,"pu":0,"b":[[1,2]],"a":[]}`,
    `{"e":"depthUpdate","E":1,"T":1,"s":"${s}","U":1,"u":2,"pu":0,"b":{},"a":[]}`,
    `{"e":"depthUpdate","E":1,"T":1,"s":"${s}","U":1,"u":2,"pu":0,"b":[],"a":[]}x`,
  ];
  return frames[op.which % frames.length] as string;
}

function diffFrame(futures: boolean, op: DiffOp, st: IdState): string {
  const spec = SYMBOLS[op.sym] as SymbolSpec;
  let U: number;
  let u: number;
  let pu: number;
  if (op.id === 'stale') {
    u = Math.max(1, st.prevU - 3 - op.hole);
    U = Math.max(1, u - op.len);
    pu = U - 1;
  } else if (op.id === 'repeat') {
    U = st.prevU;
    u = st.prevU + op.len;
    pu = st.prevU - 1;
  } else {
    U = st.prevU + 1 + (op.id === 'gap' ? 2 + op.hole : futures ? op.hole : 0);
    u = U + op.len;
    pu = op.id === 'gap' ? st.prevU - 1 : st.prevU;
  }
  if (op.id !== 'stale') {
    st.prevU = Math.max(st.prevU, u);
    st.recent.push([U, u]);
    if (st.recent.length > 4) st.recent.shift();
  }
  const E = 1_700_000_000_000 + (u % 1_000_000_000);
  const num = (v: number, field: string): string => {
    if (field !== 'U' || op.num === 'plain') return String(v);
    switch (op.num) {
      case 'string':
        return `"${v}"`;
      case 'fraction':
        return `${v}.0`;
      case 'exponent':
        return `${v}e0`;
      case 'negative':
        return `-${v}`;
      case 'leading-zero':
        return `0${v}`;
      default:
        return '9007199254740993';
    }
  };
  let symbol = spec.symbol;
  if (op.symbolForm === 'lower') symbol = symbol.toLowerCase();
  else if (op.symbolForm === 'escaped')
    symbol = `\\u0053${symbol.slice(1)}`; // "S…"
  else if (op.symbolForm === 'unknown') symbol = 'ZZZUSDT';
  const type =
    op.event === 'aggTrade' ? 'aggTrade' : op.event === 'escaped-type' ? 'depth\\u0055pdate' : 'depthUpdate';
  const colon = op.spacing === 'after-colon' ? ': ' : ':';
  const levels = (bid: boolean, ls: LevelSpec[]): string =>
    `[${ls.map((l) => levelText(spec, bid, l)).join(op.spacing === 'inside-level' ? ', ' : ',')}]`;
  const values: Record<(typeof FIELDS)[number], string> = {
    e: `"${type}"`,
    E: String(E),
    T: String(E - 7),
    s: `"${symbol}"`,
    U: num(U, 'U'),
    u: String(u),
    pu: String(pu),
    b: levels(true, op.b),
    a: levels(false, op.a),
  };
  const withPu = futures || op.event === 'pu-in-spot';
  let keys: string[] = (op.order ?? [0, 1, 2, 3, 4, 5, 6, 7, 8]).map((i) => FIELDS[i] as string);
  if (!withPu) keys = keys.filter((k) => k !== 'pu' && k !== 'T');
  if (op.omit !== null) keys = keys.filter((k) => k !== FIELDS[op.omit as number]);
  const parts = keys.map((k) => `"${k}"${colon}${values[k as keyof typeof values]}`);
  if (op.extra === 'unknown-field') parts.splice(parts.length >> 1, 0, `"X"${colon}1`);
  if (op.extra === 'duplicate-field') parts.push(`"u"${colon}${u + 1}`);
  let data = `{${parts.join(',')}}`;
  if (op.spacing === 'pretty') data = `{\n  ${data.slice(1).replace(/,"/g, ',\n  "')}`;
  const stream = `"${spec.symbol.toLowerCase()}@depth@100ms"`;
  const extraOuter = op.extra === 'extra-outer' ? `,"id"${colon}1` : '';
  let frame =
    op.form === 'raw'
      ? data
      : op.form === 'combined'
        ? `{"stream"${colon}${stream},"data"${colon}${data}${extraOuter}}`
        : `{"data"${colon}${data},"stream"${colon}${stream}${extraOuter}}`;
  if (op.spacing === 'trailing-newline') frame += '\n';
  return frame;
}

describe.each(['binance-futures', 'binance-us'] as const)(
  'text path = JSON path on generated traffic (%s)',
  (venue) => {
    const seen: Record<string, number> = {};
    const outcomes: Record<string, number> = {};
    const tally = (twin: Twin) => {
      for (const [k, v] of Object.entries(twin.stats())) seen[k] = (seen[k] ?? 0) + v;
      for (const view of twin.text.feed.symbols().values())
        for (const [k, v] of Object.entries(view.stats) as Array<[string, number]>)
          outcomes[k] = (outcomes[k] ?? 0) + v;
    };

    it('same books, counters, states, hooks and errors after every message', () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.constant(9_007_199_254_000_000)),
          fc.array(arbOp, { minLength: 10, maxLength: 80 }),
          fc.boolean(),
          (base, ops, lead) => {
            // Half the runs start with both snapshots in (grids known from the start, as live).
            tally(play(venue, base, lead ? [...LEAD, ...ops] : ops));
          },
        ),
        { numRuns: 400 },
      );
      // The property must have exercised the decoder, not just the fallback, and every reason.
      expect(seen.ok).toBeGreaterThan(1000);
      // …and every outcome of the sync.
      for (const k of ['applied', 'dropped', 'gaps', 'resyncs', 'crossed', 'errors'])
        expect({ k, n: outcomes[k] ?? 0 }).not.toEqual({ k, n: 0 });
      for (const reason of FALLBACK_REASONS)
        expect({ reason, n: seen[reason] ?? 0 }).not.toEqual({ reason, n: 0 });
    });

    it('the same with precision given up front', () => {
      fc.assert(
        fc.property(fc.array(arbOp, { minLength: 1, maxLength: 60 }), (ops) => {
          tally(play(venue, 1000, ops, { pricePrecision: 4, qtyPrecision: 3 }));
        }),
        { numRuns: 150 },
      );
    });

    it("the same on the instruments' own grids, whose step is not one unit of the last decimal", () => {
      // As the live client runs: a 0.0010 tick at 4 decimals, a 0.10 tick at 2 (10 units a step).
      const inst = (symbol: string, price: string, qty: string) =>
        ({ symbol, price: gridFromStep(price), qty: gridFromStep(qty) }) as unknown as Instrument;
      const instruments = new InstrumentSet([
        inst('SUSHIUSDT', '0.0010', '1'),
        inst('BTCUSDT', '0.10', '0.001'),
      ]);
      let decoded = 0;
      fc.assert(
        fc.property(fc.array(arbOp, { minLength: 10, maxLength: 60 }), fc.boolean(), (ops, lead) => {
          const twin = play(
            venue,
            1000,
            lead ? [...LEAD, ...ops] : ops,
            { instruments, instrumentGrids: true },
            10,
          );
          decoded += twin.stats().ok;
          for (const [symbol, v] of twin.text.feed.symbols())
            if (v.grids && instruments.get(symbol)) expect(v.grids.price.stepUnits).toBe(10);
        }),
        { numRuns: 150 },
      );
      expect(decoded).toBeGreaterThan(500);
    });

    it('a long mostly-valid stream keeps books live on both paths', () => {
      // Deterministic: one snapshot, then valid diffs only; the books must end SYNCED.
      const rand = fc.sample(fc.array(arbLevel(0), { minLength: 1, maxLength: 10 }), {
        seed: 42,
        numRuns: 400,
      });
      const ops: Op[] = [];
      const plainDiff = (sym: number, i: number): DiffOp => ({
        kind: 'diff',
        sym,
        id: 'next',
        hole: i % 3,
        len: i % 2,
        b: (rand[i] as LevelSpec[]).filter((l) => l.variant !== 'cross'),
        a: (rand[(i + 1) % rand.length] as LevelSpec[]).filter((l) => l.variant !== 'cross'),
        form: 'combined',
        order: null,
        spacing: 'none',
        omit: null,
        extra: 'none',
        num: 'plain',
        symbolForm: 'plain',
        event: 'depthUpdate',
      });
      ops.push(plainDiff(0, 0), plainDiff(1, 1));
      for (let sym = 0; sym < 2; sym++)
        ops.push({
          kind: 'snap',
          sym,
          back: 0,
          within: 0,
          named: true,
          b: rand[2] as LevelSpec[],
          a: rand[3] as LevelSpec[],
        });
      for (let i = 0; i < 300; i++) ops.push(plainDiff(i % 2, i + 4));
      const twin = play(venue, 5000, ops);
      for (const v of twin.text.feed.symbols().values()) {
        expect(v.book.state).toBe('SYNCED');
        expect(v.stats.applied).toBeGreaterThan(140);
      }
      expect(twin.stats().ok).toBeGreaterThanOrEqual(300);
    });
  },
);

// ---------------------------------------------------------------------------------------------
// The decoder by itself.
// ---------------------------------------------------------------------------------------------

const grid = (d: number): Grid => gridFromDecimals(d);

function decoderFor(futures: boolean, grids: BookGrids | null = { price: grid(4), qty: grid(0) }) {
  const target = { grids };
  const d = new DepthDecoder<typeof target>(futures);
  d.register('SUSHIUSDT', target);
  return { d, target };
}

const FUT =
  '{"stream":"sushiusdt@depth@100ms","data":{"e":"depthUpdate","E":1626992741037,"T":1626992741024,"s":"SUSHIUSDT","U":600859599090,"u":600859600917,"pu":600859598061,"b":[["7.5040","813"],["7.6090","0"],["7.6110","2"]],"a":[["7.6150","1563"],["7.6220","3284"]]}}';
const SPOT =
  '{"e":"depthUpdate","E":1633998275194,"s":"SUSHIUSDT","U":1938833,"u":1938834,"b":[["2.63700000","0.00000000"],["2.63400000","91.00000000"]],"a":[]}';

function levelsOf(buf: LevelBuffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < buf.n; i++) out.push([buf.price[i] as number, buf.qty[i] as number]);
  return out;
}

function slowOf(ev: DepthEvent, buf: LevelBuffer): Array<[number, string, string]> {
  const out: Array<[number, string, string]> = [];
  for (let k = 0; k < buf.slowN; k++) {
    const o = k * 4;
    const t = buf.slowText;
    out.push([buf.slowAt[k] as number, ev.text.slice(t[o], t[o + 1]), ev.text.slice(t[o + 2], t[o + 3])]);
  }
  return out;
}

describe('DepthDecoder', () => {
  it('decodes a real futures frame: ids, times, levels in integer steps', () => {
    const { d, target } = decoderFor(true);
    expect(d.decode(FUT)).toBe(Decode.OK);
    const ev = d.event;
    expect(d.target).toBe(target);
    expect(ev).toMatchObject({
      E: 1626992741037,
      U: 600859599090,
      u: 600859600917,
      pu: 600859598061,
      hasPu: true,
    });
    expect(levelsOf(ev.bids)).toEqual([
      [75040, 813],
      [76090, 0],
      [76110, 2],
    ]);
    expect(levelsOf(ev.asks)).toEqual([
      [76150, 1563],
      [76220, 3284],
    ]);
    expect(ev.bids.slowN + ev.asks.slowN).toBe(0);
  });

  it('decodes a raw Binance.US frame (no T, no pu) and an empty side', () => {
    const { d } = decoderFor(false, { price: grid(8), qty: grid(8) });
    expect(d.decode(SPOT)).toBe(Decode.OK);
    expect(d.event).toMatchObject({ U: 1938833, u: 1938834, hasPu: false });
    expect(Number.isNaN(d.event.pu)).toBe(true);
    expect(levelsOf(d.event.bids)).toEqual([
      [263700000, 0],
      [263400000, 9100000000],
    ]);
    expect(d.event.asks.n).toBe(0);
  });

  it('takes any field order, and the combined wrapper either way round', () => {
    const { d } = decoderFor(true);
    const reordered =
      '{"data":{"a":[["7.6150","1563"]],"b":[["7.6110","2"]],"pu":5,"u":9,"U":7,"s":"SUSHIUSDT","T":1,"E":2,"e":"depthUpdate"},"stream":"x"}';
    expect(d.decode(reordered)).toBe(Decode.OK);
    expect(d.event).toMatchObject({ E: 2, U: 7, u: 9, pu: 5 });
    // b and a came before the symbol: converted on its grid once it was known.
    expect(levelsOf(d.event.bids)).toEqual([[76110, 2]]);
    expect(levelsOf(d.event.asks)).toEqual([[76150, 1563]]);
  });

  it('applies the step: a 0.10 tick at 2 decimals counts in tenths', () => {
    const target = { grids: { price: { step: '0.10', scale: 2, stepUnits: 10 }, qty: grid(3) } };
    const d = new DepthDecoder<typeof target>(false);
    d.register('BTCUSDT', target);
    const f = (p: string) =>
      `{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["${p}","0.001"]],"a":[]}`;
    expect(d.decode(f('43210.10'))).toBe(Decode.OK);
    expect(levelsOf(d.event.bids)).toEqual([[432101, 1]]);
    expect(d.decode(f('43210.15'))).toBe(Decode.OK);
    expect(slowOf(d.event, d.event.bids)).toEqual([[0, '43210.15', '0.001']]); // toSteps says OFF_GRID
  });

  it('leaves every value toSteps must judge to toSteps, keeping its text (and converts the rest)', () => {
    const { d } = decoderFor(true);
    const values: Array<[string, string]> = [
      ['7.6110', '1'],
      ['7.61105', '1'], // off-grid
      ['7.611000', '1'], // extra zeros: on the grid, still fast
      ['-7.6110', '1'],
      ['7.6110', '-1'],
      ['abc', '1'],
      ['', '1'],
      ['.5', '1'],
      ['5.', '1'],
      ['1e5', '1'],
      ['7.6110', '99999999999999999999'], // beyond 2^53 lots: the bigint path
      ['99999999999999999999.0000', '1'], // beyond 2^53 ticks
      ['007.6110', '0001'], // leading zeros: fine
    ];
    const frame = `{"e":"depthUpdate","E":1,"T":1,"s":"SUSHIUSDT","U":1,"u":2,"pu":0,"b":[${values
      .map(([p, q]) => `["${p}","${q}"]`)
      .join(',')}],"a":[]}`;
    expect(d.decode(frame)).toBe(Decode.OK);
    const slow = slowOf(d.event, d.event.bids);
    expect(slow.map(([i]) => i)).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(slow.map(([, p, q]) => [p, q])).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((i) => values[i]));
    const levels = levelsOf(d.event.bids);
    expect(levels[0]).toEqual([76110, 1]);
    expect(levels[2]).toEqual([76110, 1]);
    expect(levels[12]).toEqual([76110, 1]);
  });

  it('takes ids right up to 2^53 - 1 exactly, and no further', () => {
    const { d } = decoderFor(false);
    const f = (U: string) => `{"e":"depthUpdate","E":0,"s":"SUSHIUSDT","U":${U},"u":1,"b":[],"a":[]}`;
    expect(d.decode(f('9007199254740991'))).toBe(Decode.OK);
    expect(d.event.U).toBe(Number.MAX_SAFE_INTEGER);
    expect(d.decode(f('9007199254740992'))).toBe(Decode.NUMBER_FORM);
    expect(d.decode(f('99999999999999999999'))).toBe(Decode.NUMBER_FORM);
    expect(d.decode(f('0'))).toBe(Decode.OK);
    expect(d.event.U).toBe(0);
  });

  it('grows its level arrays for a big event and keeps them', () => {
    const { d } = decoderFor(false);
    const levels = Array.from({ length: 1500 }, (_, i) => `["${(1 + i / 10_000).toFixed(4)}","${i}"]`);
    expect(
      d.decode(`{"e":"depthUpdate","E":0,"s":"SUSHIUSDT","U":1,"u":1,"b":[${levels.join(',')}],"a":[]}`),
    ).toBe(Decode.OK);
    expect(d.event.bids.n).toBe(1500);
    expect(d.event.bids.price[1499]).toBe(11499);
    expect(d.event.bids.qty[1499]).toBe(1499);
  });

  it('names every reason', () => {
    const kebab = (k: string) => k.toLowerCase().replaceAll('_', '-');
    for (const [k, v] of Object.entries(Decode)) expect(FALLBACK_REASONS[v]).toBe(v === 0 ? 'ok' : kebab(k));
    expect(FALLBACK_REASONS).toHaveLength(Object.keys(Decode).length);
  });

  it('copies an event out of its reusable arrays', () => {
    const { d } = decoderFor(true);
    expect(d.decode(FUT)).toBe(Decode.OK);
    const copy = d.event.copy();
    expect(copy.reusable).toBe(false);
    expect(d.event.reusable).toBe(true);
    expect(d.decode(FUT.replace('"7.5040","813"', '"7.5050","1"'))).toBe(Decode.OK);
    expect(levelsOf(copy.bids)[0]).toEqual([75040, 813]);
    expect(levelsOf(d.event.bids)[0]).toEqual([75050, 1]);
    expect(copy).toMatchObject({ U: 600859599090, u: 600859600917, pu: 600859598061 });
  });

  describe('falls back, with its reason, on', () => {
    const cases: Array<[string, number, string, boolean?]> = [
      [
        'another event type (aggTrade)',
        Decode.NOT_DEPTH_UPDATE,
        '{"stream":"s@aggTrade","data":{"e":"aggTrade","E":1,"s":"SUSHIUSDT"}}',
      ],
      ['markPriceUpdate', Decode.NOT_DEPTH_UPDATE, '{"e":"markPriceUpdate","E":1,"s":"SUSHIUSDT","p":"7.6"}'],
      ['an escaped event type', Decode.NOT_DEPTH_UPDATE, FUT.replace('"depthUpdate"', '"depth\\u0055pdate"')],
      ['a subscription reply', Decode.NOT_DEPTH_UPDATE, '{"result":null,"id":1}'],
      [
        'a bookTicker (no "e" at all)',
        Decode.NOT_DEPTH_UPDATE,
        '{"u":1,"s":"SUSHIUSDT","b":"7.6","B":"1","a":"7.7","A":"1"}',
      ],
      ['an unknown field', Decode.UNKNOWN_FIELD, FUT.replace('"pu":', '"X":1,"pu":')],
      ['an unknown field in the wrapper', Decode.UNKNOWN_FIELD, FUT.replace(',"data":', ',"id":1,"data":')],
      ['a duplicate field', Decode.DUPLICATE_FIELD, FUT.replace('"pu":', '"u":1,"pu":')],
      [
        'a duplicate wrapper field',
        Decode.DUPLICATE_FIELD,
        FUT.replace('{"stream":', '{"stream":"a","stream":'),
      ],
      ['a missing pu (futures)', Decode.MISSING_FIELD, FUT.replace(/"pu":\d+,/, '')],
      ['a missing T (futures)', Decode.MISSING_FIELD, FUT.replace(/"T":\d+,/, '')],
      ['a missing E', Decode.MISSING_FIELD, SPOT.replace(/"E":\d+,/, ''), false],
      ['a missing U', Decode.MISSING_FIELD, SPOT.replace(/"U":\d+,/, ''), false],
      ['missing bids', Decode.MISSING_FIELD, SPOT.replace(/"b":\[.*?\]\],/, ''), false],
      ['a missing event type', Decode.NOT_DEPTH_UPDATE, SPOT.replace('"e":"depthUpdate",', ''), false],
      ['a wrapper without stream', Decode.MISSING_FIELD, `{"data":${SPOT}}`, false],
      ['whitespace after a colon', Decode.WHITESPACE, SPOT.replace('"U":', '"U": '), false],
      ['whitespace between levels', Decode.WHITESPACE, FUT.replace('],["7.6090"', '], ["7.6090"')],
      ['pretty-printed JSON', Decode.WHITESPACE, JSON.stringify(JSON.parse(FUT), null, 2)],
      ['a trailing newline', Decode.WHITESPACE, `${FUT}\n`],
      ['a leading space', Decode.WHITESPACE, ` ${FUT}`],
      ['an escaped symbol', Decode.ESCAPE, FUT.replace('"SUSHIUSDT"', '"SUSHI\\u0055SDT"')],
      ['an escaped price', Decode.ESCAPE, FUT.replace('"7.5040"', '"\\u0037.5040"')],
      ['an escaped stream name', Decode.ESCAPE, FUT.replace('sushiusdt@depth', 'sushiusdt\\/depth')],
      ['a raw control character in a string', Decode.ESCAPE, FUT.replace('"813"', '"8\u00013"')],
      ['an id as a string', Decode.NUMBER_FORM, FUT.replace('"U":600859599090', '"U":"600859599090"')],
      ['an id with a fraction', Decode.NUMBER_FORM, FUT.replace('"U":600859599090', '"U":600859599090.0')],
      ['an id with an exponent', Decode.NUMBER_FORM, FUT.replace('"U":600859599090', '"U":6008595990e2')],
      ['a negative id', Decode.NUMBER_FORM, FUT.replace('"pu":600859598061', '"pu":-1')],
      ['a leading zero', Decode.NUMBER_FORM, FUT.replace('"U":600859599090', '"U":0600859599090')],
      ['an id beyond 2^53', Decode.NUMBER_FORM, FUT.replace('"U":600859599090', '"U":9007199254740993')],
      ['a null time', Decode.NUMBER_FORM, FUT.replace(/"E":\d+/, '"E":null')],
      ['a level of one string', Decode.LEVEL_FORM, FUT.replace('["7.5040","813"]', '["7.5040"]')],
      [
        'a level of three strings',
        Decode.LEVEL_FORM,
        FUT.replace('["7.5040","813"]', '["7.5040","813","x"]'),
      ],
      ['a level of numbers', Decode.LEVEL_FORM, FUT.replace('["7.5040","813"]', '[7.5040,813]')],
      ['bids as an object', Decode.LEVEL_FORM, SPOT.replace('"a":[]', '"a":{}'), false],
      ['not JSON', Decode.SYNTAX, 'not json'],
      ['an empty frame', Decode.SYNTAX, ''],
      ['an array', Decode.SYNTAX, '[]'],
      ['a truncated frame', Decode.SYNTAX, FUT.slice(0, -5)],
      ['a frame cut inside a string', Decode.SYNTAX, FUT.slice(0, FUT.indexOf('"7.6220') + 4)],
      ['trailing text', Decode.SYNTAX, `${FUT}x`],
      ['a symbol that is not a string', Decode.SYNTAX, FUT.replace('"SUSHIUSDT"', '7')],
      ['data that is not an object', Decode.SYNTAX, '{"stream":"x","data":null}'],
      ['a stream name that is not a string', Decode.SYNTAX, `{"stream":7,"data":${SPOT}}`, false],
      ['a symbol not seen yet', Decode.UNKNOWN_SYMBOL, FUT.replace('"SUSHIUSDT"', '"AKROUSDT"')],
      ['a symbol sent in another case', Decode.UNKNOWN_SYMBOL, FUT.replace('"SUSHIUSDT"', '"sushiusdt"')],
    ];
    for (const [what, reason, frame, futures = true] of cases) {
      it(`${what}: ${FALLBACK_REASONS[reason]}`, () => {
        const { d } = decoderFor(futures);
        expect(FALLBACK_REASONS[d.decode(frame)]).toBe(FALLBACK_REASONS[reason]);
      });
    }

    it('a symbol whose precision is not known yet: no-grid', () => {
      const { d } = decoderFor(true, null);
      expect(d.decode(FUT)).toBe(Decode.NO_GRID);
    });

    it('but not on a tracked-elsewhere symbol: decoded (shape only) with a null target', () => {
      const { d } = decoderFor(true);
      d.register('AKROUSDT', null);
      expect(d.decode(FUT.replace('"SUSHIUSDT"', '"AKROUSDT"'))).toBe(Decode.OK);
      expect(d.target).toBeNull();
    });
  });

  it('tells symbols with colliding hashes apart by their text', () => {
    // "Aa" and "BB" have the same 31-multiplier hash.
    const a = { grids: { price: grid(4), qty: grid(0) } };
    const b = { grids: { price: grid(2), qty: grid(0) } };
    const d = new DepthDecoder<typeof a>(false);
    d.register('XAa', a);
    d.register('XBB', b);
    const f = (s: string) => `{"e":"depthUpdate","E":0,"s":"${s}","U":1,"u":1,"b":[["1.00","1"]],"a":[]}`;
    expect(d.decode(f('XAa'))).toBe(Decode.OK);
    expect(d.target).toBe(a);
    expect(levelsOf(d.event.bids)).toEqual([[10000, 1]]);
    expect(d.decode(f('XBB'))).toBe(Decode.OK);
    expect(d.target).toBe(b);
    expect(levelsOf(d.event.bids)).toEqual([[100, 1]]);
    expect(d.decode(f('XAb'))).toBe(Decode.UNKNOWN_SYMBOL);
    expect(d.decode(f('XA'))).toBe(Decode.UNKNOWN_SYMBOL);
  });
});

// ---------------------------------------------------------------------------------------------
// The feed's entry point.
// ---------------------------------------------------------------------------------------------

describe('BinanceBookFeed.onText', () => {
  const BIDS = '[["7.6110","6"],["7.6080","161"]]';
  const ASKS = '[["7.6120","297"],["7.6150","1563"]]';
  const frame = (U: number, u: number, pu: number, b = '[]', a = '[]') =>
    `{"stream":"sushiusdt@depth@100ms","data":{"e":"depthUpdate","E":${1000 + u},"T":${999 + u},"s":"SUSHIUSDT","U":${U},"u":${u},"pu":${pu},"b":${b},"a":${a}}}`;

  function synced(): { feed: BinanceBookFeed; resyncs: string[] } {
    const resyncs: string[] = [];
    const feed = new BinanceBookFeed('binance-futures', {
      requestResync: (s, r) => resyncs.push(`${s}: ${r}`),
    });
    // First frame for the symbol: unknown to the decoder; the general path creates the sync.
    expect(feed.onText(frame(990, 995, 980), 1)).toBe(false);
    feed.onMessage(JSON.parse(frame(990, 995, 980)), 1);
    feed.onSnapshot('SUSHIUSDT', JSON.parse(`{"lastUpdateId":1000,"E":5,"bids":${BIDS},"asks":${ASKS}}`), 2);
    expect(feed.onText(frame(999, 1001, 995, '[["7.6100","3"]]'), 3)).toBe(true);
    return { feed, resyncs };
  }

  it('returns false and changes nothing for a frame it leaves to JSON.parse', () => {
    const { feed } = synced();
    const sync = feed.sync('SUSHIUSDT');
    const before = JSON.stringify({ stats: sync?.stats, bids: sync?.book.bids.top(10) });
    expect(feed.onText(`${frame(1002, 1003, 1001, '[["7.6100","4"]]')} `, 4)).toBe(false);
    expect(JSON.stringify({ stats: sync?.stats, bids: sync?.book.bids.top(10) })).toBe(before);
    expect(feed.textStats()).toMatchObject({ ok: 1, 'unknown-symbol': 1, whitespace: 1 });
  });

  it('applies a decoded event with the same rules: continuity on pu', () => {
    const { feed, resyncs } = synced();
    const sync = feed.sync('SUSHIUSDT');
    expect(sync?.book.state).toBe('SYNCED');
    expect(feed.onText(frame(1005, 1006, 1001, '[["7.6110","0"]]'), 4)).toBe(true);
    expect(sync?.book.bestBid()).toBe(76100);
    expect(feed.onText(frame(1010, 1011, 1005), 5)).toBe(true); // pu 1005 is not 1006
    expect(sync?.stats).toMatchObject({ gaps: 1, resyncs: 1, applied: 2 });
    expect(resyncs.at(-1)).toBe('SUSHIUSDT: sequence break: expected pu 1006, got pu 1005');
    expect(sync?.book.state).toBe('UNSYNCED');
  });

  it('counts an off-grid level as an error only when the event is applied (a dropped one is not read)', () => {
    const { feed } = synced();
    const sync = feed.sync('SUSHIUSDT');
    expect(feed.onText(frame(900, 950, 890, '[["7.61105","1"]]'), 4)).toBe(true); // stale: pu breaks
    expect(sync?.stats.errors).toBe(0);
    expect(sync?.stats.gaps).toBe(1);
    // Held for the next snapshot, which drops it (u < L): never converted, never an error.
    feed.onSnapshot('SUSHIUSDT', JSON.parse(`{"lastUpdateId":2000,"bids":${BIDS},"asks":${ASKS}}`), 5);
    expect(sync?.stats).toMatchObject({ errors: 0, dropped: 2 });
    expect(feed.onText(frame(1999, 2001, 1990, '[["7.61105","1"]]'), 6)).toBe(true);
    expect(sync?.stats).toMatchObject({ errors: 1, resyncs: 2 });
    expect(sync?.book.reason).toBe('update 2001 unusable: "7.61105" has more than 4 decimals (step 0.0001)');
  });

  it('keeps a quantity beyond 2^53 lots exact (bigint), as the JSON path does', () => {
    const { feed } = synced();
    const sync = feed.sync('SUSHIUSDT');
    expect(feed.onText(frame(1002, 1002, 1001, '[["7.6000","123456789012345678901"]]'), 4)).toBe(true);
    const bids = sync?.book.bids;
    expect(bids?.exactQtyAt((bids.depth ?? 1) - 1)).toBe(123456789012345678901n);
    expect(sync?.stats.errors).toBe(0);
  });

  it('buffers decoded events before a snapshot as copies, not as the reusable event', () => {
    const { feed } = synced();
    const sync = feed.sync('SUSHIUSDT');
    feed.resetAll('connection lost');
    // Three events while waiting: each decoded into the same arrays, each must survive the next.
    expect(feed.onText(frame(3000, 3001, 2990, '[["7.6050","1"]]'), 10)).toBe(true);
    expect(feed.onText(frame(3002, 3003, 3001, '[["7.6060","2"]]'), 11)).toBe(true);
    expect(feed.onText(frame(3004, 3005, 3003, '[["7.6070","3"]]', '[["7.6200","4"]]'), 12)).toBe(true);
    feed.onSnapshot('SUSHIUSDT', JSON.parse(`{"lastUpdateId":3000,"bids":${BIDS},"asks":${ASKS}}`), 13);
    expect(sync?.book.state).toBe('SYNCED');
    expect(sync?.book.bids.top(10)).toEqual([
      [76110, 6],
      [76080, 161],
      [76070, 3],
      [76060, 2],
      [76050, 1],
    ]);
    expect(sync?.book.asks.top(10)).toEqual([
      [76120, 297],
      [76150, 1563],
      [76200, 4],
    ]);
    expect(sync?.book).toMatchObject({ lastUpdateId: 3005, localTs: 12, venueTs: 4005 });
  });

  it('ignores a depth frame of a symbol it does not track, as onMessage does', () => {
    const feed = new BinanceBookFeed(
      'binance-futures',
      { requestResync: () => undefined },
      { only: new Set(['BTCUSDT']) },
    );
    expect(feed.onText(frame(1, 2, 0), 1)).toBe(false);
    feed.onMessage(JSON.parse(frame(1, 2, 0)), 1);
    expect(feed.onText(frame(3, 4, 2, '[["7.6100","3"]]'), 2)).toBe(true);
    expect([...feed.symbols().keys()]).toEqual([]);
  });
});
