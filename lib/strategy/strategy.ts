/**
 * The strategy interface. A strategy looks at a book and the position it is in and may emit one
 * signal; it never creates, sizes, prices or cancels orders (that is risk and execution), and it
 * holds no I/O. It runs on the hot path: synchronous, and allocation-light — returning null (the
 * overwhelmingly common answer) must allocate nothing.
 */
import type { L2Book } from '#core/book.ts';
import type { VenueId } from '#core/instrument.ts';
import type { BookView, OrderSide } from '#core/trading.ts';

export type ExitReason = 'target' | 'stop' | 'time-stop' | 'opposite-signal';

export interface Signal {
  readonly venue: VenueId;
  readonly symbol: string;
  readonly side: OrderSide;
  /** 0..1: how far past its threshold the signal is (1 for target, stop and time-stop exits). */
  readonly strength: number;
  /** Human-readable why, for the journal ("imbalance 4.20 > 3"). */
  readonly reason: string;
  /** The book as the strategy saw it. */
  readonly book: BookView;
  /** ctx.now when the signal was made (ms, injected clock). */
  readonly ts: number;
  readonly kind: 'entry' | 'exit';
  /** Set on exits only. */
  readonly exitReason?: ExitReason;
}

/**
 * The position of the strategy's symbol as the position ledger has it. `entryTicks` is the average
 * entry price in ticks (fractional after fills at several prices); `entryTs` is when the position
 * was opened from flat (the fill timestamp).
 */
export type StrategyPosition =
  | { readonly side: 'flat' }
  | {
      readonly side: 'long' | 'short';
      readonly entryTicks: number;
      readonly entryTs: number;
    };

/** The one flat position, so contexts need not allocate one. */
export const FLAT: StrategyPosition = Object.freeze({ side: 'flat' });

export interface StrategyContext {
  /** Local time from the injected clock (ms). */
  readonly now: number;
  readonly position: StrategyPosition;
  /** An entry order is working (submitted, unknown, open or partly filled): no new entry. */
  readonly entryPending: boolean;
  /** An exit order is working: no further exit signal until it resolves. */
  readonly exitPending: boolean;
}

export interface Strategy {
  /** Called for every update of a book the strategy watches. Synchronous; null = nothing to do. */
  onBook(book: L2Book, ctx: StrategyContext): Signal | null;
}

/** What `strategyPosition` needs of a position ledger (lib/core/position.ts). */
export interface PositionSource {
  readonly lots: number;
  readonly avgEntryTicks: number;
  readonly entryTs: number | null;
}

/** The last view made for each ledger: the hot path asks every book update, positions change on fills. */
const views = new WeakMap<PositionSource, StrategyPosition>();

/**
 * The strategy-facing view of a position ledger. Returns the same object while the position is
 * unchanged, so calling it on every book update allocates nothing.
 */
export function strategyPosition(ledger: PositionSource): StrategyPosition {
  const lots = ledger.lots;
  const entryTs = ledger.entryTs;
  if (lots === 0 || entryTs === null) return FLAT;
  const side = lots > 0 ? 'long' : 'short';
  const entryTicks = ledger.avgEntryTicks;
  const last = views.get(ledger);
  if (
    last !== undefined &&
    last.side === side &&
    last.entryTicks === entryTicks &&
    last.entryTs === entryTs
  ) {
    return last;
  }
  const view: StrategyPosition = Object.freeze({ side, entryTicks, entryTs });
  views.set(ledger, view);
  return view;
}
