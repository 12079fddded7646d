/**
 * The snapshot of the world the risk gate decides on. Built by the engine from its positions,
 * open orders and account state before each check; the gate only reads it (no I/O, no clock).
 *
 * Money is in the account currency (USD/USDT, treated as one): notional, equity, P&L and every
 * limit. Quantities are integer lots of the instrument's `qty` grid, prices are Money (marks and
 * average entries are not on the tick grid).
 */
import type { Instrument, VenueId } from '#core/instrument.ts';
import type { Money } from '#core/money.ts';

export type TradingState = 'ACTIVE' | 'REDUCING' | 'HALTED';

/** Everything the gate knows about one (venue, symbol). */
export interface SymbolRisk {
  /** Needed to value this symbol's position in the total exposure (grids, contract size, inverse). */
  readonly instrument: Instrument;
  /** Signed position in lots of `instrument.qty`: positive long, negative short, 0 flat. */
  readonly positionLots: number;
  /** Average entry price of the position (quote per unit of base); ignored when flat. */
  readonly avgEntryPrice: Money;
  /** The venue's mark price (derivatives) or last mid (spot): what the position is valued at. */
  readonly markPrice: Money;
  /** Resting orders of ours on this symbol, per side: count and remaining lots. */
  readonly openBuyOrders: number;
  readonly openSellOrders: number;
  readonly openBuyLots: number;
  readonly openSellLots: number;
  /** The leverage the venue account is set to for this symbol (derivatives); null on spot. */
  readonly leverage: Money | null;
  /** Perpetuals: the last funding instant that happened and the next one (ms); null when unknown. */
  readonly lastFundingTs: number | null;
  readonly nextFundingTs: number | null;
}

export interface AccountState {
  /** Current equity (capital plus unrealized P&L): the base of exposure and leverage limits. */
  readonly equity: Money;
  /** Highest equity seen since the last audited reset: the base of the drawdown limit. */
  readonly peakEquity: Money;
  /** Realized P&L (after fees) since 00:00 UTC today. The caller rolls it over at midnight UTC. */
  readonly realizedPnlToday: Money;
  /** Losing round trips in a row since the last winning one. */
  readonly consecutiveLosses: number;
}

export interface RiskContext {
  readonly tradingState: TradingState;
  /** The persisted kill flag (DESIGN.md §4): only cancels and `checkFlatten` orders pass. */
  readonly killSwitch: boolean;
  readonly account: AccountState;
  /** Keyed by `symbolKey(venue, instrument.symbol)`; must hold every symbol with a position or order. */
  readonly symbols: ReadonlyMap<string, SymbolRisk>;
  /** Local send times (ms) of the orders recently sent to each venue, any order, at least the last minute. */
  readonly recentOrderTs: ReadonlyMap<VenueId, readonly number[]>;
}

/** The key of a symbol in `RiskContext.symbols`. */
export function symbolKey(venue: VenueId, symbol: string): string {
  return `${venue}:${symbol}`;
}
