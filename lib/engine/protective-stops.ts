/**
 * Venue-side protective stops: what the engine should do about the stop guarding one symbol's
 * position. Pure: it sees the position, the stop the strategy's levels call for and the protective
 * stop orders it has, and answers with the orders to place and cancel. The engine (engine.ts) runs
 * every answer through the risk gate (`checkProtectiveStop`) and execution, and asks again after
 * every fill, acknowledgement and order end.
 *
 * Why a stop at the venue: the engine's own stop exit needs the engine. A process that died, a
 * network that split, a venue that stopped answering our socket: the position is then unguarded
 * until someone notices. A resting stop order at the venue keeps guarding it.
 *
 * Rules:
 * - One stop per position, placed once the entry has finished filling (an IOC entry ends within
 *   milliseconds), for the whole position, at the strategy's stop level for the average entry.
 * - Replaced atomically: when the position or the level changes, the new stop is placed and only
 *   once the venue has acknowledged it is the old one cancelled — at no instant is the position
 *   unguarded. (Spot is the exception the venues force: a resting sell stop holds the base, so a
 *   second one cannot be placed while it rests; there the old is cancelled first, and the engine,
 *   alive to do it, watches the gap.)
 * - One change at a time: while a stop is on its way (sent, outcome unknown) nothing else is sent.
 * - Flat: every protective stop is cancelled.
 */
import type { OrderState } from '#core/order.ts';
import type { OrderSide } from '#core/trading.ts';

/** A protective stop order as the planner sees it. */
export interface ProtectiveStopView {
  readonly clientOrderId: string;
  readonly state: OrderState;
  readonly side: OrderSide;
  /** What it can still fill (order qty minus filled). */
  readonly remainingLots: number;
  readonly triggerTicks: number;
  /** A cancel has been requested and not yet answered. */
  readonly cancelling: boolean;
}

export interface ProtectiveStopInput {
  /** Signed position in lots. */
  readonly positionLots: number;
  /** The strategy's stop level for this position (ticks); null when flat. */
  readonly stopTicks: number | null;
  /** The live protective stop orders of this symbol, oldest first. */
  readonly stops: readonly ProtectiveStopView[];
  /** An entry order is still working: wait until it is done, then guard all it filled. */
  readonly entryWorking: boolean;
  /** False on spot: a resting sell stop holds the base, so the old stop goes before the new. */
  readonly makeBeforeBreak: boolean;
}

export type ProtectiveStopAction =
  | {
      readonly kind: 'place';
      readonly side: OrderSide;
      readonly qtyLots: number;
      readonly triggerTicks: number;
    }
  | { readonly kind: 'cancel'; readonly clientOrderId: string; readonly why: string };

/** Acknowledged by the venue and resting (a triggered stop-limit that partly filled still guards the rest). */
function confirmed(s: ProtectiveStopView): boolean {
  return s.state === 'OPEN' || s.state === 'PARTIALLY_FILLED';
}

/** Decided, sent or unknown: the venue may or may not have it yet. */
function inFlight(s: ProtectiveStopView): boolean {
  return s.state === 'PENDING' || s.state === 'SUBMITTED' || s.state === 'UNKNOWN';
}

export function planProtectiveStop(input: ProtectiveStopInput): ProtectiveStopAction[] {
  const { positionLots: pos, stops } = input;
  const cancel = (s: ProtectiveStopView, why: string): ProtectiveStopAction => ({
    kind: 'cancel',
    clientOrderId: s.clientOrderId,
    why,
  });
  if (pos === 0 || input.stopTicks === null) {
    // Nothing to guard. A stop still on its way is cancelled once the venue has answered for it.
    return stops.filter((s) => confirmed(s) && !s.cancelling).map((s) => cancel(s, 'position closed'));
  }
  if (input.entryWorking || stops.some(inFlight)) return [];

  const side: OrderSide = pos > 0 ? 'sell' : 'buy';
  const qtyLots = Math.abs(pos);
  const live = stops.filter((s) => confirmed(s) && !s.cancelling);
  const wanted = live.find(
    (s) => s.side === side && s.remainingLots === qtyLots && s.triggerTicks === input.stopTicks,
  );
  if (wanted) {
    // The current stop is in place: any other is the one it replaced.
    return live.filter((s) => s !== wanted).map((s) => cancel(s, `replaced by ${wanted.clientOrderId}`));
  }
  if (!input.makeBeforeBreak && stops.some((s) => confirmed(s))) {
    // Spot: the old stop holds the base the new one would sell; it goes first.
    return live.map((s) => cancel(s, 'to be replaced (spot: the stop holds the base)'));
  }
  return [{ kind: 'place', side, qtyLots, triggerTicks: input.stopTicks }];
}

/**
 * Whether the engine's own stop exit should stand aside for the venue's stop: a confirmed stop
 * guards the whole position and the market has not gone past its trigger by more than
 * `fallbackBps`. Beyond that the venue's stop is taken to have failed (its trigger reference lags,
 * it was rejected at trigger) and the engine exits itself.
 */
export function leaveStopToVenue(
  positionLots: number,
  exitPriceTicks: number,
  stops: readonly ProtectiveStopView[],
  fallbackBps: number,
): boolean {
  const long = positionLots > 0;
  const guard = stops.find(
    (s) =>
      confirmed(s) &&
      !s.cancelling &&
      s.remainingLots >= Math.abs(positionLots) &&
      s.side === (long ? 'sell' : 'buy'),
  );
  if (!guard || positionLots === 0) return false;
  const slack = Math.floor((guard.triggerTicks * fallbackBps) / 10_000);
  return long ? exitPriceTicks > guard.triggerTicks - slack : exitPriceTicks < guard.triggerTicks + slack;
}
