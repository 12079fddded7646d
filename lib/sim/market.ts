/**
 * A seedable, deterministic synthetic L2 market: the book the local exchange simulator streams in
 * each venue's protocol, the market `npm start` demos trade on, and a backtest's data source.
 *
 * The model, in short:
 * - A latent fair value F (in ticks) takes a small Gaussian step at every order-flow event, leans
 *   toward the thin side of the top 5 (book pressure), and keeps half of each market order's move
 *   of the touch (permanent impact). Busy periods therefore move more: volatility clusters.
 * - Events arrive as a Hawkes process (each event raises the intensity, which decays back with a
 *   1.5 s time constant) on top of calm/busy regimes (busy: 4x the base rate, ~8 s in every ~53 s),
 *   so flow comes in bursts.
 * - Each event is one action: a limit order (mostly near F or joining a level near the top,
 *   Pareto-sized; priced through the opposite best it is marketable and trades), a cancel (likelier
 *   deeper in the book), a market order that walks levels, or — when the book lags F by more than a
 *   level gap — an arbitrage sweep of the stale levels. Deep levels are trimmed, and refilled at
 *   random prices within the side's window, so each side keeps `depth` ± 10 % levels.
 * - Imbalance episodes: now and then one side of the top 5 is stacked 3.5-10x the other for 2-6 s.
 *   With probability `signalAccuracy` F then drifts ~`signalMove` in the stacked direction over
 *   3-10 s (informed pressure); otherwise the stack is pulled and F drifts the other way (a spoof).
 *   Top-of-book imbalance is thus a genuine but noisy predictor.
 *
 * Everything is driven by one PRNG and changes state only at arrivals, so the event stream does not
 * depend on how the caller slices time: step(100) ten times yields the same events and book as
 * step(1000) once (only the netting of the reported changes differs).
 */
import { L2Book } from '#core/book.ts';
import type { BookSide } from '#core/book.ts';
import { Rng } from './rng.ts';

export interface MarketConfig {
  readonly seed: number;
  /** Starting mid in ticks, e.g. 43_000_00 for 43000.00 at tick 0.01. */
  readonly startMidTicks: number;
  /** Levels maintained per side (default 200); the side stays within ±10 % of it. */
  readonly depth?: number;
  /** Typical level size in lots (default 100). */
  readonly meanLevelQtyLots?: number;
  /** Smallest order size in lots (default 1). */
  readonly minQtyLots?: number;
  /** Mean order-flow event rate per second (default 50). */
  readonly eventsPerSecond?: number;
  /**
   * Scale of mid moves: the standard deviation of the relative change of the fair value over one
   * second at the mean event rate, outside imbalance episodes (default 1e-4, i.e. 1 bp/√s).
   */
  readonly volatility?: number;
  /** Mean distance between adjacent deep levels in ticks (default: two per-event moves, ≥ 1). */
  readonly levelGapTicks?: number;
  /** Imbalance episodes per minute (default 3). 0 disables them. */
  readonly signalsPerMinute?: number;
  /** Probability that the mid follows an episode's imbalance (default 0.6). */
  readonly signalAccuracy?: number;
  /** Typical relative size of the move after an episode (default 0.003 = 0.30 %). */
  readonly signalMove?: number;
  /** Symbol of the book (default "SIM"). */
  readonly symbol?: string;
}

/** An absolute level quantity in lots; 0 = the level was removed. */
export interface LevelChange {
  readonly side: 'bid' | 'ask';
  readonly price: number;
  readonly qty: number;
}

export interface TradePrint {
  readonly price: number;
  readonly qty: number;
  readonly takerSide: 'buy' | 'sell';
  /** Event time, integer milliseconds. */
  readonly ts: number;
}

export interface MarketStep {
  /** Time at the end of the step (ms). */
  readonly ts: number;
  /**
   * Net level changes over the step, one per (side, price) whose quantity differs from the start of
   * the step. Removals come first, so applying them in order never crosses a replica, not even
   * half-way through.
   */
  readonly changes: readonly LevelChange[];
  /** Trades in the order they happened; a sweep prints one trade per level it took. */
  readonly trades: readonly TradePrint[];
}

export interface BookSnapshot {
  readonly ts: number;
  /** [price, qty] best first. */
  readonly bids: Array<[number, number]>;
  readonly asks: Array<[number, number]>;
}

/** What the generator has done so far. */
export interface MarketStats {
  /** Order-flow events (each is one action below, or a stacker action). */
  readonly events: number;
  readonly limitOrders: number;
  readonly cancels: number;
  readonly marketOrders: number;
  /** Arbitrage sweeps of levels left on the wrong side of the fair value. */
  readonly sweeps: number;
  readonly trades: number;
  /** Imbalance episodes started. */
  readonly episodes: number;
}

type Counts = { -readonly [K in keyof MarketStats]: number };

/** One imbalance episode. */
interface Episode {
  /** +1: bids stacked, -1: asks stacked. */
  readonly dir: 1 | -1;
  /** The move follows the stack (true) or goes against it (false, a spoof). */
  readonly truthful: boolean;
  /** Top-5 ratio the stacker aims for (same side / other side). */
  readonly target: number;
  readonly stackEnd: number;
  readonly moveStart: number;
  readonly moveEnd: number;
  /** Drift of F while the move lasts, ticks per ms (signed). */
  readonly driftPerMs: number;
  /** Lots the stacker added, by price (on side `dir`). */
  readonly stacked: Map<number, number>;
  pulled: boolean;
}

const TOP = 5;
const HAWKES_BRANCHING = 0.6;
const HAWKES_DECAY_MS = 1500;
/** Regimes: calm most of the time, busy (base rate × BUSY_RATE) now and then. */
const BUSY_RATE = 4;
const CALM_MEAN_MS = 45_000;
const BUSY_MEAN_MS = 8_000;
/** Action mix of ordinary flow. */
const P_MARKET = 0.1;
const P_LIMIT = 0.52;
/** Heavy tails: Pareto indices of limit and market order sizes. */
const ALPHA_LIMIT = 1.6;
/** Orders at the top are less extreme than deep resting size (and natural top-5 extremes rarer). */
const ALPHA_TOP = 2.5;
const ALPHA_MARKET = 1.4;
const MAX_SIZE_MULTIPLE = 50;
/** Share of a market order's move of the touch that is permanent (moves F). */
const IMPACT = 0.5;
/** Drift of F per event, in level gaps, when the top 5 are entirely one-sided. */
const PRESSURE = 0.2;

export class SyntheticMarket {
  /** The truth: always consistent, never crossed, state SYNCED. */
  readonly book: L2Book;
  readonly depth: number;
  private readonly counts: Counts = {
    events: 0,
    limitOrders: 0,
    cancels: 0,
    marketOrders: 0,
    sweeps: 0,
    trades: 0,
    episodes: 0,
  };

  private readonly rng: Rng;
  private readonly minQty: number;
  private readonly meanLevel: number;
  private readonly gap: number;
  /** Target half-spread of new quotes around F, ticks. */
  private readonly halfSpread: number;
  /** The book is stale (swept) when its best is this far on the wrong side of F. */
  private readonly staleTicks: number;
  /** Price span of a side's book, ticks: about depth × gap. */
  private readonly window: number;
  /** Relative standard deviation of F's step per event. */
  private readonly sigmaEvent: number;
  private readonly depthLo: number;
  private readonly depthHi: number;
  private readonly signalRatePerMs: number;
  private readonly signalAccuracy: number;
  private readonly signalMove: number;

  private now: number;
  private fair: number;
  private lastArrival: number;
  // Hawkes intensity (events per ms) = mu + excitation, the excitation decaying since excTs; mu is
  // the calm base rate, or BUSY_RATE times it in the busy regime.
  private readonly calmMu: number;
  private mu: number;
  private busy = false;
  private nextRegimeTs: number;
  private readonly jump: number;
  private exc = 0;
  private excTs: number;
  /** Next candidate arrival of the thinning sampler, and the intensity bound it was drawn with. */
  private candTs: number;
  private candBound: number;

  private episode: Episode | null = null;
  private nextEpisodeTs: number;

  /** Level quantities at the start of the current step, by key (bids: +price, asks: -price). */
  private readonly touched = new Map<number, number>();
  private trades: TradePrint[] = [];

  constructor(cfg: MarketConfig, startTs = 0) {
    const mid = cfg.startMidTicks;
    if (!Number.isSafeInteger(mid) || mid < 2)
      throw new RangeError(`startMidTicks ${mid} must be an integer ≥ 2`);
    if (!Number.isFinite(cfg.seed)) throw new RangeError(`seed ${cfg.seed} must be a finite number`);
    if (!Number.isFinite(startTs)) throw new RangeError(`startTs ${startTs} must be finite`);
    this.depth = positiveInt('depth', cfg.depth ?? 200);
    if (this.depth < TOP) throw new RangeError(`depth ${this.depth} must be at least ${TOP}`);
    this.minQty = positiveInt('minQtyLots', cfg.minQtyLots ?? 1);
    this.meanLevel = positive('meanLevelQtyLots', cfg.meanLevelQtyLots ?? 100);
    const rate = positive('eventsPerSecond', cfg.eventsPerSecond ?? 50);
    const vol = nonNegative('volatility', cfg.volatility ?? 1e-4);
    this.signalRatePerMs = nonNegative('signalsPerMinute', cfg.signalsPerMinute ?? 3) / 60_000;
    this.signalAccuracy = nonNegative('signalAccuracy', cfg.signalAccuracy ?? 0.6);
    if (this.signalAccuracy > 1) throw new RangeError(`signalAccuracy must be in [0, 1]`);
    this.signalMove = nonNegative('signalMove', cfg.signalMove ?? 0.003);

    this.sigmaEvent = vol / Math.sqrt(rate);
    this.gap = cfg.levelGapTicks ?? Math.max(1, Math.round(2 * mid * this.sigmaEvent));
    positive('levelGapTicks', this.gap);
    this.halfSpread = Math.max(0.5, 0.25 * this.gap);
    this.staleTicks = Math.max(1, this.gap);
    this.window = Math.max(this.depth, Math.round(this.depth * this.gap));
    const slack = Math.max(1, Math.round(this.depth * 0.1));
    this.depthLo = this.depth - slack;
    this.depthHi = this.depth + slack;

    this.rng = new Rng(cfg.seed);
    this.book = new L2Book(cfg.symbol ?? 'SIM');
    this.now = startTs;
    this.lastArrival = startTs;
    this.excTs = startTs;
    this.fair = mid;
    // Long-run rate = mean base rate / (1 − branching); the base rate averages over the regimes.
    const busyShare = BUSY_MEAN_MS / (BUSY_MEAN_MS + CALM_MEAN_MS);
    this.calmMu = ((rate / 1000) * (1 - HAWKES_BRANCHING)) / (1 - busyShare + busyShare * BUSY_RATE);
    this.mu = this.calmMu;
    this.jump = HAWKES_BRANCHING / HAWKES_DECAY_MS;
    this.candBound = this.mu;
    this.candTs = startTs + this.rng.exponential(this.candBound);
    this.nextRegimeTs = startTs + this.rng.exponential(1 / CALM_MEAN_MS);
    this.nextEpisodeTs =
      this.signalRatePerMs > 0 ? startTs + this.rng.exponential(this.signalRatePerMs) : Infinity;

    this.seedBook();
    this.book.markSyncing('synthetic market: initial book');
    this.book.markSynced();
    this.book.venueTs = this.book.localTs = Math.floor(startTs);
  }

  /** Counters since construction (a copy). */
  get stats(): MarketStats {
    return { ...this.counts };
  }

  /** Current time of the generator (ms). */
  get ts(): number {
    return this.now;
  }

  bestBid(): number {
    return this.book.bestBid();
  }

  bestAsk(): number {
    return this.book.bestAsk();
  }

  /** Mid in ticks (a half tick when the spread is odd); NaN if a side is empty. */
  mid(): number {
    return (this.book.bestBid() + this.book.bestAsk()) / 2;
  }

  /** Best ask − best bid in ticks. */
  spread(): number {
    return this.book.bestAsk() - this.book.bestBid();
  }

  /** Top-N bid volume / top-N ask volume (the imbalance strategy's signal). */
  imbalance(levels = TOP): number {
    return this.book.imbalance(levels);
  }

  /**
   * A news shock: the fair price jumps by `fraction` of itself (-0.01 = 1 % down). The book does
   * not move by itself; the next order-flow event finds it stale and sweeps it to the new fair.
   */
  shock(fraction: number): void {
    if (!Number.isFinite(fraction) || fraction <= -1)
      throw new RangeError(`shock(${fraction}): fraction must be a finite number > -1`);
    this.fair = Math.max(1, this.fair * (1 + fraction));
  }

  /** The whole book, best first: seed a replica with this, then apply every step's changes. */
  snapshot(): BookSnapshot {
    return { ts: this.now, bids: sideLevels(this.book.bids), asks: sideLevels(this.book.asks) };
  }

  /** Advances time by dtMs and returns every level change (net per price, in order) and trade in that interval. */
  step(dtMs: number): MarketStep {
    if (!(dtMs >= 0) || !Number.isFinite(dtMs)) throw new RangeError(`step(${dtMs}): dtMs must be ≥ 0`);
    const end = this.now + dtMs;
    while (this.candTs <= end) this.candidate();
    this.now = end;
    return this.flush(end);
  }

  /**
   * Advances to the next order-flow event and returns what it changed; its ts is the event time
   * (fractional ms). One event is one taker or maker action, so its trades come from one order.
   */
  nextEvent(): MarketStep {
    const before = this.counts.events;
    while (this.counts.events === before) this.candidate();
    return this.flush(this.now);
  }

  // ------------------------------------------------------------------------------ time and flow

  /** Ogata thinning: the intensity only decays between arrivals, so the bound at a candidate holds. */
  private candidate(): void {
    const t = this.candTs;
    this.now = t;
    this.decayTo(t);
    if (this.rng.uniform() * this.candBound < this.mu + this.exc) {
      this.arrival(t);
      this.exc += this.jump;
    }
    this.candBound = this.mu + this.exc;
    this.candTs = t + this.rng.exponential(this.candBound);
  }

  private decayTo(t: number): void {
    if (t > this.excTs) {
      this.exc *= Math.exp((this.excTs - t) / HAWKES_DECAY_MS);
      this.excTs = t;
    }
  }

  private arrival(t: number): void {
    this.counts.events++;
    // Regime switches take effect at an arrival, so the thinning bound stays valid between them.
    if (t >= this.nextRegimeTs) {
      this.busy = !this.busy;
      this.mu = this.busy ? this.calmMu * BUSY_RATE : this.calmMu;
      this.nextRegimeTs = t + this.rng.exponential(1 / (this.busy ? BUSY_MEAN_MS : CALM_MEAN_MS));
    }
    this.advanceFair(t);
    const ep = this.episode;
    const book = this.book;
    const bb = book.bestBid();
    const ba = book.bestAsk();
    if (ba < this.fair - this.staleTicks) {
      this.sweep(true, t);
    } else if (bb > this.fair + this.staleTicks) {
      this.sweep(false, t);
    } else if (ep !== null && !ep.pulled && t >= ep.stackEnd) {
      this.pullStack(ep);
    } else if (ep !== null && !ep.pulled && this.wantsStack(ep) && this.rng.chance(0.5)) {
      this.stack(ep);
    } else {
      const u = this.rng.uniform();
      if (u < P_MARKET) this.marketOrder(t, ep);
      else if (u < P_MARKET + P_LIMIT) this.limitOrder(t);
      else this.cancel();
    }
    this.maintainDepth(book.bids);
    this.maintainDepth(book.asks);
    if (ep !== null && ep.pulled && t >= ep.moveEnd) {
      this.episode = null;
      this.nextEpisodeTs = t + this.rng.exponential(this.signalRatePerMs);
    }
  }

  /** F: episode drift over the time since the last arrival, then this event's own noise step. */
  private advanceFair(t: number): void {
    const ep = this.episode;
    if (ep !== null) {
      const from = Math.max(this.lastArrival, ep.moveStart);
      const to = Math.min(t, ep.moveEnd);
      if (to > from) this.fair += ep.driftPerMs * (to - from);
    } else if (t >= this.nextEpisodeTs) {
      this.startEpisode(t);
    }
    this.lastArrival = t;
    // Order-book pressure: F leans toward the thin side of the top of book, as real prices do.
    const b5 = this.book.bids.volume(TOP);
    const a5 = this.book.asks.volume(TOP);
    if (b5 + a5 > 0) this.fair += PRESSURE * this.gap * ((b5 - a5) / (b5 + a5));
    this.fair += this.fair * this.sigmaEvent * this.rng.normal();
    if (this.fair < 1) this.fair = 1;
  }

  private startEpisode(t: number): void {
    const rng = this.rng;
    const dir = rng.chance(0.5) ? 1 : -1;
    const truthful = rng.chance(this.signalAccuracy);
    const stackEnd = t + rng.range(2000, 6000);
    const moveStart = truthful ? t + rng.range(300, 1500) : stackEnd + rng.range(0, 1000);
    const moveMs = rng.range(3000, 10_000);
    const moveTicks = this.fair * this.signalMove * rng.range(0.6, 1.4) * (truthful ? dir : -dir);
    this.episode = {
      dir,
      truthful,
      target: rng.range(3.5, 10),
      stackEnd,
      moveStart,
      moveEnd: moveStart + moveMs,
      driftPerMs: moveTicks / moveMs,
      stacked: new Map(),
      pulled: false,
    };
    this.counts.episodes++;
    // Information arriving wakes the market up.
    this.exc += 20 * this.jump;
  }

  // ------------------------------------------------------------------------------ actions

  /** Size of an order in lots: Pareto with the given mean, capped, at least minQty. */
  private size(mean: number, alpha: number): number {
    const x = this.rng.pareto((mean * (alpha - 1)) / alpha, alpha);
    return Math.max(this.minQty, Math.round(Math.min(x, mean * MAX_SIZE_MULTIPLE)));
  }

  /** Index from the top, concentrated near it: geometric, clipped to the side's depth. */
  private nearIndex(n: number, p: number): number {
    const i = this.rng.geometric(p);
    return i < n ? i : n - 1;
  }

  private limitOrder(t: number): void {
    this.counts.limitOrders++;
    const rng = this.rng;
    const isBid = rng.chance(0.5);
    const side = isBid ? this.book.bids : this.book.asks;
    const best = side.bestPrice();
    // How far this side's best is behind F (Infinity when the side is empty, NaN compares false).
    const lag = side.depth === 0 ? Infinity : isBid ? this.fair - best : best - this.fair;
    let off: number;
    if (lag > this.halfSpread + this.gap && rng.chance(0.7)) {
      // A wide spread is an opportunity: makers quote close to F.
      off = this.halfSpread + rng.exponential(2 / this.gap);
    } else {
      const u = rng.uniform();
      if (u < 0.45 && side.depth > 0) {
        // Joins an existing level near the top.
        const p = side.priceAt(this.nearIndex(side.depth, 0.3));
        this.setLevel(side, p, side.qtyAtPrice(p) + this.size(this.meanLevel * 0.4, ALPHA_TOP));
        return;
      }
      if (u < 0.8 || side.depth === 0) off = this.halfSpread + rng.exponential(1 / this.gap);
      else {
        // Anywhere in the side's window behind its best.
        const price = isBid ? best - rng.int(1, this.window) : best + rng.int(1, this.window);
        if (price >= 1)
          this.setLevel(side, price, side.qtyAtPrice(price) + this.size(this.meanLevel, ALPHA_LIMIT));
        return;
      }
    }
    const price = isBid ? Math.floor(this.fair - off) : Math.ceil(this.fair + off);
    if (price < 1) return;
    this.placeLimit(isBid, price, this.size(this.meanLevel * 0.5, ALPHA_TOP), t);
  }

  /** A limit order: the part priced through the opposite best trades, the rest rests. */
  private placeLimit(isBid: boolean, price: number, qty: number, t: number): void {
    const rest = this.take(isBid, qty, price, t);
    if (rest > 0) {
      const side = isBid ? this.book.bids : this.book.asks;
      this.setLevel(side, price, side.qtyAtPrice(price) + rest);
    }
  }

  private cancel(): void {
    this.counts.cancels++;
    const rng = this.rng;
    const side = rng.chance(0.5) ? this.book.bids : this.book.asks;
    const n = side.depth;
    if (n === 0) return;
    // Deeper levels are likelier to go: 35 % near the top, 65 % with probability rising with depth.
    const i = rng.chance(0.35) ? this.nearIndex(n, 0.35) : Math.floor(n * Math.sqrt(rng.uniform()));
    const p = side.priceAt(i);
    const q = side.qtyAt(i);
    const cut = rng.chance(0.35) ? q : Math.max(1, Math.ceil(q * rng.uniform() * 0.7));
    this.setLevel(side, p, q - cut);
  }

  private marketOrder(t: number, ep: Episode | null): void {
    this.counts.marketOrders++;
    const rng = this.rng;
    // While an episode's move runs, takers lean its way.
    const moving = ep !== null && t >= ep.moveStart && t < ep.moveEnd;
    const pBuy = moving ? (ep.driftPerMs > 0 ? 0.7 : 0.3) : 0.5;
    const buy = rng.chance(pBuy);
    const qty = this.size(this.meanLevel * 0.6, ALPHA_MARKET);
    const before = buy ? this.book.asks.bestPrice() : this.book.bids.bestPrice();
    this.take(buy, qty, buy ? Infinity : 0, t);
    const after = buy ? this.book.asks.bestPrice() : this.book.bids.bestPrice();
    // Permanent impact: the taker's information moves F its way, by half of how far the touch moved.
    if (after === after && before === before) this.fair += IMPACT * (after - before);
  }

  /** The book lags F by more than a gap: an arbitrageur takes every level on the wrong side of F. */
  private sweep(buy: boolean, t: number): void {
    this.counts.sweeps++;
    this.take(buy, Infinity, buy ? Math.floor(this.fair) : Math.ceil(this.fair), t);
  }

  /**
   * Takes liquidity from the best level outward up to `qty` lots and the limit price, printing one
   * trade per level. Returns the quantity left over.
   */
  private take(buy: boolean, qty: number, limit: number, t: number): number {
    const side = buy ? this.book.asks : this.book.bids;
    let left = qty;
    const ts = Math.floor(t);
    while (left > 0 && side.depth > 0) {
      const p = side.bestPrice();
      if (buy ? p > limit : p < limit) break;
      const q = side.bestQty();
      const fill = q < left ? q : left;
      this.setLevel(side, p, q - fill);
      this.trades.push({ price: p, qty: fill, takerSide: buy ? 'buy' : 'sell', ts });
      this.counts.trades++;
      left -= fill;
    }
    return left;
  }

  /** Top-5 same/other ratio of the episode's side is below its target. */
  private wantsStack(ep: Episode): boolean {
    const same = ep.dir > 0 ? this.book.bids : this.book.asks;
    const other = ep.dir > 0 ? this.book.asks : this.book.bids;
    return same.depth > 0 && same.volume(TOP) < ep.target * other.volume(TOP);
  }

  /** Adds a slice of the missing volume to one of the stacked side's top-5 levels. */
  private stack(ep: Episode): void {
    const same = ep.dir > 0 ? this.book.bids : this.book.asks;
    const other = ep.dir > 0 ? this.book.asks : this.book.bids;
    const missing = ep.target * other.volume(TOP) - same.volume(TOP);
    const qty = Math.max(this.minQty, Math.ceil(missing * this.rng.range(0.3, 0.8)));
    const i = this.rng.int(0, Math.min(TOP, same.depth) - 1);
    const p = same.priceAt(i);
    this.setLevel(same, p, same.qtyAtPrice(p) + qty);
    ep.stacked.set(p, (ep.stacked.get(p) ?? 0) + qty);
  }

  /** The stack is withdrawn: whatever of it is still resting is cancelled. */
  private pullStack(ep: Episode): void {
    ep.pulled = true;
    const same = ep.dir > 0 ? this.book.bids : this.book.asks;
    for (const [p, q] of ep.stacked) {
      const cur = same.qtyAtPrice(p);
      if (cur > 0) this.setLevel(same, p, cur - Math.min(cur, q));
    }
    ep.stacked.clear();
  }

  /**
   * Keeps a side between depthLo and depthHi levels within `window` ticks of its best: trims the
   * deepest, refills at random prices inside the window (so the book has no holes behind a sweep).
   */
  private maintainDepth(side: BookSide): void {
    const isBid = side.isBid;
    if (side.depth > 0) {
      const limit = isBid ? side.bestPrice() - this.window * 1.25 : side.bestPrice() + this.window * 1.25;
      while (
        side.depth > 1 &&
        (isBid ? side.priceAt(side.depth - 1) < limit : side.priceAt(side.depth - 1) > limit)
      )
        this.setLevel(side, side.priceAt(side.depth - 1), 0);
    }
    while (side.depth > this.depthHi) this.setLevel(side, side.priceAt(side.depth - 1), 0);
    for (let tries = 0; side.depth < this.depthLo && tries < 4 * this.depth; tries++) {
      let price: number;
      if (side.depth === 0) {
        const other = isBid ? this.book.asks : this.book.bids;
        const otherBest = other.bestPrice();
        price = isBid ? Math.floor(this.fair - this.halfSpread) : Math.ceil(this.fair + this.halfSpread);
        if (otherBest === otherBest)
          price = isBid ? Math.min(price, otherBest - 1) : Math.max(price, otherBest + 1);
      } else {
        const off = this.rng.int(1, this.window);
        price = isBid ? side.bestPrice() - off : side.bestPrice() + off;
      }
      if (price < 1 || !Number.isSafeInteger(price) || side.qtyAtPrice(price) > 0) continue;
      this.setLevel(side, price, this.size(this.meanLevel, ALPHA_LIMIT));
    }
  }

  /** The only way the book changes: records the level's quantity at the start of the step. */
  private setLevel(side: BookSide, price: number, qty: number): void {
    const key = side.isBid ? price : -price;
    if (!this.touched.has(key)) this.touched.set(key, side.qtyAtPrice(price));
    side.set(price, qty);
  }

  // ------------------------------------------------------------------------------ output

  private flush(ts: number): MarketStep {
    const removals: LevelChange[] = [];
    const updates: LevelChange[] = [];
    const { bids, asks } = this.book;
    for (const [key, before] of this.touched) {
      const isBid = key > 0;
      const price = isBid ? key : -key;
      const qty = (isBid ? bids : asks).qtyAtPrice(price);
      if (qty === before) continue;
      const change: LevelChange = { side: isBid ? 'bid' : 'ask', price, qty };
      if (qty === 0) removals.push(change);
      else updates.push(change);
    }
    this.touched.clear();
    for (const u of updates) removals.push(u);
    const trades = this.trades;
    this.trades = [];
    this.book.venueTs = this.book.localTs = Math.floor(ts);
    return { ts, changes: removals, trades };
  }

  private seedBook(): void {
    const { bids, asks } = this.book;
    let bid = Math.floor(this.fair - this.halfSpread);
    let ask = Math.ceil(this.fair + this.halfSpread);
    for (let i = 0; i < this.depth; i++) {
      if (bid >= 1) bids.set(bid, this.size(this.meanLevel, ALPHA_LIMIT));
      asks.set(ask, this.size(this.meanLevel, ALPHA_LIMIT));
      const g = () => 1 + (this.gap > 1 ? this.rng.geometric(1 / this.gap) : 0);
      bid -= g();
      ask += g();
    }
  }
}

function sideLevels(side: BookSide): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < side.depth; i++) out.push([side.priceAt(i), side.qtyAt(i)]);
  return out;
}

function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} ${v} must be a positive number`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} ${v} must be ≥ 0`);
  return v;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} ${v} must be a positive integer`);
  return v;
}
