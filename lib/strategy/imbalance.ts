/**
 * The L2 order-book-imbalance strategy.
 *
 * ratio = Σ qty of the top N bid levels / Σ qty of the top N ask levels (N = `levels`, 5 by
 * default), in float: it is a signal, not money.
 *
 * Flat (and no entry working):
 * - ratio > buyThreshold (strictly: 3.0 exactly is no signal) → entry buy;
 * - ratio < sellThreshold (strictly) → entry sell, only where the instrument is shortable: spot
 *   venues are long-only, so there a low ratio never opens a short.
 * In a position (and no exit working), first match wins:
 * 1. stop: the exit price reached the stop level;
 * 2. target: the exit price reached the target level;
 * 3. time-stop: held for timeStopSeconds or longer (now − entryTs ≥ limit);
 * 4. opposite-signal: a long sees ratio < sellThreshold, a short ratio > buyThreshold. On spot
 *    this is how a sell signal acts: it closes the long.
 * The exit price is the side you would exit at, not the mid: best bid for a long (you sell into
 * the bids), best ask for a short (you buy from the asks), so a level counts as reached only when
 * an exit there is actually available.
 *
 * Target and stop levels are computed once per entry (when the strategy first sees a position
 * with a new entry price or time), exactly in decimal, and rounded to the tick grid conservatively:
 * - the target away from the entry (long: ceil, short: floor), so reaching it means at least the
 *   configured profit;
 * - the stop toward the entry (long: ceil, short: floor), so the loss when it fires is at most
 *   the configured one. (If the stop distance is under one tick, the stop lands on the entry price:
 *   the position then exits at breakeven or better rather than exceeding its loss limit.)
 *
 * Nothing is signalled from a book that is not usable (not SYNCED, or crossed) or has an empty
 * side (no ratio, no exit price).
 */
import type { L2Book } from '#core/book.ts';
import { InvariantError } from '#core/errors.ts';
import type { Instrument } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import type { BookView, OrderSide } from '#core/trading.ts';
import type { ImbalanceParams } from './config.ts';
import type { ExitReason, Signal, Strategy, StrategyContext } from './strategy.ts';

export interface ExitLevels {
  /** Target price in ticks: long exits when best bid ≥ it, short when best ask ≤ it. */
  readonly targetTicks: number;
  /** Stop price in ticks: long exits when best bid ≤ it, short when best ask ≥ it. */
  readonly stopTicks: number;
}

/**
 * Target and stop of a position entered at `entryTicks` (may be fractional: an average), exact in
 * decimal and rounded as the file comment says:
 *   long:  target = ceil(entry × (1 + target%/100)),  stop = ceil(entry × (1 − stop%/100))
 *   short: target = floor(entry × (1 − target%/100)), stop = floor(entry × (1 + stop%/100))
 */
export function exitLevels(
  side: 'long' | 'short',
  entryTicks: number,
  params: Pick<ImbalanceParams, 'profitTargetPct' | 'stopLossPct'>,
): ExitLevels {
  if (!Number.isFinite(entryTicks) || entryTicks <= 0) {
    throw new InvariantError('ENTRY_PRICE', `entry price ${entryTicks} ticks is not positive`);
  }
  const entry = new Money(entryTicks);
  const target = new Money(params.profitTargetPct).div(100);
  const stop = new Money(params.stopLossPct).div(100);
  const one = new Money(1);
  if (side === 'long') {
    return {
      targetTicks: entry.times(one.plus(target)).ceil().toNumber(),
      stopTicks: entry.times(one.minus(stop)).ceil().toNumber(),
    };
  }
  return {
    targetTicks: entry.times(one.minus(target)).floor().toNumber(),
    stopTicks: entry.times(one.plus(stop)).floor().toNumber(),
  };
}

/** 0 at the threshold, approaching 1 as the ratio goes to infinity (buy) or to 0 (sell). */
function buyStrength(ratio: number, threshold: number): number {
  return ratio === Infinity ? 1 : 1 - threshold / ratio;
}
function sellStrength(ratio: number, threshold: number): number {
  return 1 - ratio / threshold;
}

function fmt(x: number): string {
  return x.toFixed(3);
}

/** One instance per instrument (the parameters are per symbol). */
export class ImbalanceStrategy implements Strategy {
  readonly instrument: Instrument;
  readonly params: ImbalanceParams;
  private readonly timeStopMs: number;
  // Exit levels of the current position, computed once per entry.
  private levelsSide: 'long' | 'short' | null = null;
  private levelsEntryTicks = NaN;
  private levelsEntryTs = NaN;
  private targetTicks = NaN;
  private stopTicks = NaN;

  constructor(instrument: Instrument, params: ImbalanceParams) {
    this.instrument = instrument;
    this.params = params;
    this.timeStopMs = params.timeStopSeconds * 1000;
  }

  /** Exit levels in force for the last position seen (null when none was seen yet). */
  get exitLevels(): ExitLevels | null {
    return this.levelsSide === null ? null : { targetTicks: this.targetTicks, stopTicks: this.stopTicks };
  }

  onBook(book: L2Book, ctx: StrategyContext): Signal | null {
    if (!book.usable) return null;
    if (book.symbol !== this.instrument.symbol) {
      throw new InvariantError(
        'STRATEGY_SYMBOL',
        `${this.instrument.symbol} strategy given the ${book.symbol} book`,
      );
    }
    const bid = book.bestBid();
    const ask = book.bestAsk();
    if (!(bid > 0 && ask > 0)) return null; // an empty side: NaN
    const p = this.params;
    const bidVol = book.bids.volume(p.levels);
    const askVol = book.asks.volume(p.levels);
    const ratio = bidVol / askVol;
    const pos = ctx.position;

    if (pos.side === 'flat') {
      if (ctx.entryPending) return null;
      if (ratio > p.buyThreshold) {
        return this.signal(
          book,
          ctx,
          bidVol,
          askVol,
          ratio,
          'buy',
          'entry',
          buyStrength(ratio, p.buyThreshold),
          `imbalance ${fmt(ratio)} > ${p.buyThreshold}`,
        );
      }
      if (ratio < p.sellThreshold && this.instrument.shortable) {
        return this.signal(
          book,
          ctx,
          bidVol,
          askVol,
          ratio,
          'sell',
          'entry',
          sellStrength(ratio, p.sellThreshold),
          `imbalance ${fmt(ratio)} < ${p.sellThreshold}`,
        );
      }
      return null;
    }

    if (ctx.exitPending) return null;
    const long = pos.side === 'long';
    if (
      this.levelsSide !== pos.side ||
      this.levelsEntryTicks !== pos.entryTicks ||
      this.levelsEntryTs !== pos.entryTs
    ) {
      const levels = exitLevels(pos.side, pos.entryTicks, p);
      this.levelsSide = pos.side;
      this.levelsEntryTicks = pos.entryTicks;
      this.levelsEntryTs = pos.entryTs;
      this.targetTicks = levels.targetTicks;
      this.stopTicks = levels.stopTicks;
    }
    const exitSide: OrderSide = long ? 'sell' : 'buy';
    const exitPx = long ? bid : ask;
    const where = long ? 'best bid' : 'best ask';
    let reason: ExitReason | null = null;
    let text = '';
    let strength = 1;
    if (long ? exitPx <= this.stopTicks : exitPx >= this.stopTicks) {
      reason = 'stop';
      text = `${where} ${exitPx} reached stop ${this.stopTicks}`;
    } else if (long ? exitPx >= this.targetTicks : exitPx <= this.targetTicks) {
      reason = 'target';
      text = `${where} ${exitPx} reached target ${this.targetTicks}`;
    } else if (ctx.now - pos.entryTs >= this.timeStopMs) {
      reason = 'time-stop';
      text = `held ${ctx.now - pos.entryTs} ms ≥ ${this.timeStopMs} ms`;
    } else if (long ? ratio < p.sellThreshold : ratio > p.buyThreshold) {
      reason = 'opposite-signal';
      text = `imbalance ${fmt(ratio)} ${long ? '<' : '>'} ${long ? p.sellThreshold : p.buyThreshold}`;
      strength = long ? sellStrength(ratio, p.sellThreshold) : buyStrength(ratio, p.buyThreshold);
    }
    if (reason === null) return null;
    return this.signal(book, ctx, bidVol, askVol, ratio, exitSide, 'exit', strength, text, reason);
  }

  private signal(
    book: L2Book,
    ctx: StrategyContext,
    bidVol: number,
    askVol: number,
    ratio: number,
    side: OrderSide,
    kind: 'entry' | 'exit',
    strength: number,
    reason: string,
    exitReason?: ExitReason,
  ): Signal {
    const view: BookView = {
      venue: this.instrument.venue,
      symbol: book.symbol,
      state: book.state,
      bestBidTicks: book.bestBid(),
      bestAskTicks: book.bestAsk(),
      bidVolume5Lots: bidVol,
      askVolume5Lots: askVol,
      imbalance: ratio,
      imbalanceLevels: this.params.levels,
      crossed: book.isCrossed(),
      venueTs: book.venueTs,
      localTs: book.localTs,
    };
    const base = {
      venue: this.instrument.venue,
      symbol: book.symbol,
      side,
      strength,
      reason,
      book: view,
      ts: ctx.now,
      kind,
    };
    return exitReason === undefined ? base : { ...base, exitReason };
  }
}
