/**
 * The port the engine trades through. One implementation per venue speaks that venue's private
 * API exactly (signing, client order ids, error codes); paper mode is the same implementation
 * pointed at the local simulator. Nothing reaches a venue except through the risk gate and then
 * this port.
 */
import type { Instrument, VenueId } from '#core/instrument.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';

/** The venue's view of one of our orders. */
export type VenueOrderStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED' | 'REJECTED';

export interface VenueOrderState {
  readonly symbol: string;
  readonly clientOrderId: string;
  readonly venueOrderId: string;
  readonly status: VenueOrderStatus;
  /** Cumulative filled quantity in lots. */
  readonly filledLots: number;
  readonly ts: number;
}

export type PlaceResult =
  | { readonly kind: 'ack'; readonly state: VenueOrderState }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string }
  /** Timeout, Binance 503 "unknown", -1007: the order may exist. Ask the venue by client id; never resend blindly. */
  | { readonly kind: 'unknown'; readonly reason: string };

export type CancelResult =
  | { readonly kind: 'ok'; readonly state: VenueOrderState }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string }
  | { readonly kind: 'unknown'; readonly reason: string };

export type UserEvent =
  | { readonly type: 'order'; readonly state: VenueOrderState }
  | { readonly type: 'fill'; readonly fill: Fill }
  /** The private stream is down or replaced: fills may be missing until reconciled. */
  | { readonly type: 'stream-down'; readonly reason: string }
  | { readonly type: 'stream-up' };

export interface VenuePosition {
  readonly symbol: string;
  /** Signed quantity in lots (spot: the base balance). */
  readonly qtyLots: number;
  /** Average entry price as the venue's decimal text ("0" when flat). */
  readonly entryPrice: string;
}

export interface VenueTrading {
  readonly venue: VenueId;
  /** Opens the private order/fill stream; events arrive in venue order. */
  start(onEvent: (e: UserEvent) => void): Promise<void>;
  stop(): Promise<void>;
  /**
   * Sends an order. `onWritten` is called synchronously the moment the request bytes are handed to
   * the socket (the latency measurement point), before any await.
   */
  place(intent: OrderIntent, instrument: Instrument, onWritten?: () => void): Promise<PlaceResult>;
  cancel(symbol: string, clientOrderId: string): Promise<CancelResult>;
  /** Cancels every open order (of a symbol, or all); resolves with how many the venue cancelled. */
  cancelAll(symbol?: string): Promise<number>;
  /** The venue's record of an order by our client id; null when the venue has never seen it. */
  queryOrder(symbol: string, clientOrderId: string): Promise<VenueOrderState | null>;
  openOrders(symbol?: string): Promise<VenueOrderState[]>;
  positions(): Promise<VenuePosition[]>;
  /**
   * Our account's fills of a symbol since `sinceTs` (ms), oldest first, from the venue's trade
   * history: crash recovery imports the ones the journal lacks (no lost fill).
   */
  fillsSince(symbol: string, sinceTs: number): Promise<Fill[]>;
}
