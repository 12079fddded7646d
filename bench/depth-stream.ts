/**
 * A deterministic, seeded stream of Binance USD-M diff-depth traffic for one symbol: a REST
 * snapshot (`/fapi/v1/depth?limit=1000`) and combined-stream `@depth@100ms` frames that continue it.
 *
 * Shaped after the real recordings (../shared/exchange-data/cryptofeed/BINANCE_FUTURES.ws.1.0):
 * prices written with the venue's fixed decimals on a tick grid ("43210.10" for a 0.10 tick),
 * quantities on a 0.001 lot ("0.123"), each side's levels in ascending price order, update ids that
 * jump (U is never previous u + 1) with `pu` carrying continuity. Updates cluster near the top of
 * the book, a share of them delete a level ("0.000"), a few delete levels that are not there (the
 * venue sends those too), and the mid takes a random walk that never crosses the book.
 *
 * The generator keeps the true book, so every frame is consistent with the snapshot plus the frames
 * before it; `truth()` exposes it for tests.
 */

/** mulberry32: a small, fast 32-bit PRNG; good enough to shape test traffic, not for anything else. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DepthStreamOptions {
  /** Number of `depthUpdate` frames after the snapshot. */
  readonly messages: number;
  readonly seed?: number;
  /** Levels per side in every frame (default 20). */
  readonly levelsPerSide?: number;
  /** Levels per side in the REST snapshot (default 1000). */
  readonly snapshotLevels?: number;
}

export interface DepthStream {
  readonly symbol: string;
  /** Decimals the venue writes for prices and quantities. */
  readonly priceDecimals: number;
  readonly qtyDecimals: number;
  /** The REST snapshot body, as received. */
  readonly snapshot: string;
  /** Combined-stream frames, as received, in order. */
  readonly frames: readonly string[];
  /** The true book after the last frame: price text → qty text, per side. */
  truth(): { bids: Map<string, string>; asks: Map<string, string> };
}

const SYMBOL = 'BTCUSDT';
const STREAM = 'btcusdt@depth@100ms';
const PRICE_DECIMALS = 2;
/** The tick, 0.10, in units of 10^-PRICE_DECIMALS. */
const TICK_UNITS = 10;
const QTY_DECIMALS = 3;
/** Start near 43,210.10: in ticks of 0.10. */
const START_BID_TICKS = 432_101;
/** Largest lot count: 25.000 BTC. */
const MAX_LOTS = 25_000;
/** Mean distance from the top (in ticks) of the level an update touches. */
const MEAN_DEPTH_TICKS = 12;
/** Share of updates on an existing level that delete it. */
const DELETE_SHARE = 0.22;
/** Share of updates on an absent level that are "0.000" anyway. */
const PHANTOM_DELETE_SHARE = 0.04;

function priceText(ticks: number): string {
  const units = ticks * TICK_UNITS;
  const whole = Math.floor(units / 100);
  const frac = units - whole * 100;
  return `${whole}.${frac < 10 ? '0' : ''}${frac}`;
}

function qtyText(lots: number): string {
  const whole = Math.floor(lots / 1000);
  const frac = lots - whole * 1000;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

function levelsJson(levels: Array<[number, number]>): string {
  let out = '[';
  for (let i = 0; i < levels.length; i++) {
    const [p, q] = levels[i] as [number, number];
    if (i > 0) out += ',';
    out += `["${priceText(p)}","${qtyText(q)}"]`;
  }
  return out + ']';
}

export function generateDepthStream(opts: DepthStreamOptions): DepthStream {
  const rand = mulberry32(opts.seed ?? 1);
  const perSide = opts.levelsPerSide ?? 20;
  const snapshotLevels = opts.snapshotLevels ?? 1000;
  // Sizes: mostly small, a heavy tail of large resting orders (log-uniform in lots).
  const lots = (): number =>
    Math.max(1, Math.min(MAX_LOTS, Math.floor(Math.exp(rand() * Math.log(MAX_LOTS)))));
  const depthTicks = (): number => Math.floor(-Math.log(1 - rand()) * MEAN_DEPTH_TICKS);

  // The true book in ticks → lots. Bids never above bidCap, asks never below askCap > bidCap.
  const bids = new Map<number, number>();
  const asks = new Map<number, number>();
  let bidCap = START_BID_TICKS;
  let askCap = bidCap + 1;
  for (let i = 0, p = bidCap; i < snapshotLevels; p--) {
    if (p !== bidCap && rand() < 0.08) continue; // the odd empty tick deeper in the book
    bids.set(p, lots());
    i++;
  }
  for (let i = 0, p = askCap; i < snapshotLevels; p++) {
    if (p !== askCap && rand() < 0.08) continue;
    asks.set(p, lots());
    i++;
  }

  let E = 1_760_000_000_000;
  let prevU = 7_345_678_901_234;
  const lastUpdateId = prevU + 700;
  const snapBids = [...bids].sort((x, y) => y[0] - x[0]);
  const snapAsks = [...asks].sort((x, y) => x[0] - y[0]);
  const snapshot = `{"lastUpdateId":${lastUpdateId},"E":${E + 40},"T":${E + 31},"bids":${levelsJson(snapBids)},"asks":${levelsJson(snapAsks)}}`;

  const frames: string[] = new Array<string>(opts.messages);
  for (let m = 0; m < opts.messages; m++) {
    const bidOut = new Map<number, number>();
    const askOut = new Map<number, number>();
    const put = (side: Map<number, number>, out: Map<number, number>, p: number, q: number): void => {
      out.set(p, q);
      if (q === 0) side.delete(p);
      else side.set(p, q);
    };

    // Random walk of the touch: mostly still, ±1 tick often, ±2..3 sometimes; the spread is one
    // tick most of the time.
    const r = rand();
    const move =
      r < 0.55
        ? 0
        : r < 0.9
          ? rand() < 0.5
            ? -1
            : 1
          : (rand() < 0.5 ? -1 : 1) * (2 + Math.floor(rand() * 2));
    const spread = rand() < 0.88 ? 1 : 2 + Math.floor(rand() * 2);
    const newBidCap = bidCap + move;
    const newAskCap = newBidCap + spread;
    // Levels the move crossed must go first, in this very frame.
    for (let p = bidCap; p > newBidCap; p--) if (bids.has(p)) put(bids, bidOut, p, 0);
    for (let p = askCap; p < newAskCap; p++) if (asks.has(p)) put(asks, askOut, p, 0);
    bidCap = newBidCap;
    askCap = newAskCap;
    // The touch itself usually trades or refreshes.
    if (rand() < 0.7) put(bids, bidOut, bidCap, lots());
    if (rand() < 0.7) put(asks, askOut, askCap, lots());
    for (const [side, out, top, dir] of [
      [bids, bidOut, bidCap, -1],
      [asks, askOut, askCap, 1],
    ] as const) {
      while (out.size < perSide) {
        const p = top + dir * depthTicks();
        if (out.has(p)) continue;
        const q = side.has(p)
          ? rand() < DELETE_SHARE
            ? 0
            : lots()
          : rand() < PHANTOM_DELETE_SHARE
            ? 0
            : lots();
        put(side, out, p, q);
      }
    }

    E += 90 + Math.floor(rand() * 21);
    const T = E - 1 - Math.floor(rand() * 20);
    // The first frame brackets the snapshot's lastUpdateId (U <= L <= u); later ones chain on pu.
    const U = m === 0 ? lastUpdateId - 300 : prevU + 200 + Math.floor(rand() * 1800);
    const u = m === 0 ? lastUpdateId + 900 : U + Math.floor(rand() * 2000);
    const pu = prevU;
    frames[m] =
      `{"stream":"${STREAM}","data":{"e":"depthUpdate","E":${E},"T":${T},"s":"${SYMBOL}","U":${U},"u":${u},"pu":${pu},` +
      `"b":${levelsJson([...bidOut].sort((x, y) => x[0] - y[0]))},"a":${levelsJson([...askOut].sort((x, y) => x[0] - y[0]))}}}`;
    prevU = u;
  }

  const textMap = (side: Map<number, number>): Map<string, string> =>
    new Map([...side].map(([p, q]) => [priceText(p), qtyText(q)]));
  return {
    symbol: SYMBOL,
    priceDecimals: PRICE_DECIMALS,
    qtyDecimals: QTY_DECIMALS,
    snapshot,
    frames,
    truth: () => ({ bids: textMap(bids), asks: textMap(asks) }),
  };
}
