/**
 * The trading vocabulary shared by strategy, risk, execution and the simulator. Prices and sizes
 * are integer ticks and lots of the instrument (lib/core/grid.ts); money is decimal.js (Money).
 */
import type { VenueId } from './instrument.ts';

export type OrderSide = 'buy' | 'sell';
/**
 * market / limit act now. The stop types rest at the venue untriggered until the market reaches
 * `triggerTicks`, then become a market order (stop-market) or a limit at `priceTicks` (stop-limit):
 * the venue-side protective stop that still protects a position when the engine cannot.
 */
export type OrderType = 'market' | 'limit' | 'stop-market' | 'stop-limit';

/** True for the order types that rest untriggered at the venue. */
export function isStopType(t: OrderType): t is 'stop-market' | 'stop-limit' {
  return t === 'stop-market' || t === 'stop-limit';
}
/** GTC rests; IOC takes what it can now and expires the rest; POST_ONLY must not take. */
export type TimeInForce = 'GTC' | 'IOC' | 'POST_ONLY';

/**
 * Why an order exists: the strategy's entry or one of its exits, the kill switch, or the
 * venue-side protective stop that guards an open position ('stop' is the engine's own stop exit).
 */
export type OrderPurpose =
  'entry' | 'target' | 'stop' | 'time-stop' | 'exit-signal' | 'flatten' | 'manual' | 'protective-stop';

/** An order as the engine decides it, before any venue has seen it. */
export interface OrderIntent {
  /** Deterministic: shard, lease epoch and sequence (see DESIGN.md §4). */
  readonly clientOrderId: string;
  readonly venue: VenueId;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  /** Limit price in ticks: limit and stop-limit orders; undefined for market and stop-market. */
  readonly priceTicks?: number | undefined;
  /** Stop orders only: the price in ticks at which the venue triggers it. */
  readonly triggerTicks?: number | undefined;
  readonly qtyLots: number;
  readonly reduceOnly: boolean;
  readonly purpose: OrderPurpose;
  /** Local time the intent was created (ms). */
  readonly createdTs: number;
}

/** A fill as the venue reports it (keyed by the venue's trade id: stored once, whatever the redelivery). */
export interface Fill {
  readonly venue: VenueId;
  readonly symbol: string;
  readonly tradeId: string;
  readonly clientOrderId: string;
  readonly side: OrderSide;
  readonly priceTicks: number;
  readonly qtyLots: number;
  /** Fee in quote currency as exact decimal text; negative = rebate. */
  readonly fee: string;
  readonly feeAsset: string;
  readonly liquidity: 'maker' | 'taker';
  readonly ts: number;
}

/** The book state a decision saw, carried with every signal and risk decision for the audit trail. */
export interface BookView {
  readonly venue: VenueId;
  readonly symbol: string;
  readonly state: 'UNSYNCED' | 'SYNCING' | 'SYNCED';
  readonly bestBidTicks: number;
  readonly bestAskTicks: number;
  readonly bidVolume5Lots: number;
  readonly askVolume5Lots: number;
  /** top-5 bid volume / top-5 ask volume. */
  readonly imbalance: number;
  /**
   * Levels per side the two volumes and the imbalance were summed over when a strategy configured
   * a depth other than 5 (absent = 5): the *5Lots fields then hold that depth's volumes.
   */
  readonly imbalanceLevels?: number;
  readonly crossed: boolean;
  /** Venue and local timestamps of the book's last update (ms). */
  readonly venueTs: number;
  readonly localTs: number;
}
