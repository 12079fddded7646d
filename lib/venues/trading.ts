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
  /** A stop order (resting untriggered while NEW). */
  readonly stop?: boolean;
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

/**
 * What a venue's orders can do, for the engine's protective stops (lib/engine/protective-stops.ts).
 */
export interface TradingCapabilities {
  /**
   * Stop types this client can place (`place` with an intent of that type): protective stops use
   * 'stop-market' when listed, else 'stop-limit'. Empty = no venue-side stops.
   */
  readonly stopTypes: readonly ('stop-market' | 'stop-limit')[];
  /**
   * The venue honours reduce-only (futures): an exit can go out while the protective stop still
   * rests, and whichever fills second is cut to the position. Spot has no reduce-only and a resting
   * sell stop holds the base: the stop must be cancelled before an exit is sent.
   */
  readonly reduceOnly: boolean;
  /**
   * The dead man's switch this client arms would also cancel resting stop orders (Kraken's
   * cancel-after cancels every order of the account), so it must stay off while protective stops
   * are relied on. False when the switch spares stops (Binance USD-M: stops live in the Algo
   * Service, cancelled by their own endpoints) or the venue has no switch (Binance.US).
   */
  readonly dmsCancelsStops: boolean;
}

export interface VenueTrading {
  readonly venue: VenueId;
  readonly capabilities: TradingCapabilities;
  /** Opens the private order/fill stream; events arrive in venue order. */
  start(onEvent: (e: UserEvent) => void): Promise<void>;
  stop(): Promise<void>;
  /**
   * Sends an order. `onWritten` is called synchronously the moment the request bytes are handed to
   * the socket (the latency measurement point), before any await.
   */
  place(intent: OrderIntent, instrument: Instrument, onWritten?: () => void): Promise<PlaceResult>;
  /** Cancels one order by our client id, stop orders included. */
  cancel(symbol: string, clientOrderId: string): Promise<CancelResult>;
  /**
   * Cancels every open order (of a symbol, or all), untriggered stops included; resolves with how
   * many the venue cancelled.
   */
  cancelAll(symbol?: string): Promise<number>;
  /**
   * The venue's record of an order by our client id (stop orders included: an untriggered stop is
   * NEW); null when the venue has never seen it.
   */
  queryOrder(symbol: string, clientOrderId: string): Promise<VenueOrderState | null>;
  /** Open orders, untriggered stops included (`stop: true` on those). */
  openOrders(symbol?: string): Promise<VenueOrderState[]>;
  positions(): Promise<VenuePosition[]>;
  /**
   * Our account's fills of a symbol since `sinceTs` (ms), oldest first, from the venue's trade
   * history: crash recovery imports the ones the journal lacks (no lost fill).
   */
  fillsSince(symbol: string, sinceTs: number): Promise<Fill[]>;
}
