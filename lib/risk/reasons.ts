/**
 * What the pre-trade risk gate answers. Every rejection names one typed reason, a detail with the
 * numbers as exact decimal text (for the audit trail and the operator), and, when the breach means
 * trading itself must stop, the action the engine must take.
 */

/** Why an order was rejected. One reason per rule, so alerts and metrics can key on it. */
export const REJECT_REASONS = [
  // Trading state
  'KILL_SWITCH',
  'HALTED',
  'REDUCING_ONLY',
  'NOT_REDUCING',
  // Account trip levels
  'DAILY_LOSS',
  'DRAWDOWN',
  'CONSECUTIVE_LOSSES',
  // Inputs that cannot be trusted
  'BAD_ORDER',
  'BAD_CONTEXT',
  'BOOK_NOT_SYNCED',
  'BOOK_STALE',
  'BOOK_CROSSED',
  'BOOK_EMPTY',
  // Order validity on the venue's rules
  'BAD_QTY',
  'BAD_PRICE',
  'MIN_NOTIONAL',
  'PRICE_SANITY',
  'INSUFFICIENT_DEPTH',
  // Size and exposure
  'MAX_ORDER_NOTIONAL',
  'MAX_OPEN_ORDERS',
  'ORDER_RATE',
  'SPOT_SHORT',
  'MAX_POSITION',
  'INSTRUMENT_EXPOSURE',
  'MAX_EXPOSURE',
  'LEVERAGE',
  'LIQUIDATION_DISTANCE',
  'FUNDING_WINDOW',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * HALT: stop opening orders (state HALTED) until an explicit, audited resume.
 * KILL: HALT + cancel all + flatten (DESIGN.md §4).
 */
export type RiskAction = 'HALT' | 'KILL';

/** The checks an approved order passed, in the order they ran (the audit trail of an approval). */
export type RiskCheck =
  | 'KILL_SWITCH'
  | 'TRADING_STATE'
  | 'ORDER_SHAPE'
  | 'CONTEXT'
  | 'ACCOUNT'
  | 'REDUCE_ONLY'
  | 'BOOK'
  | 'QTY'
  | 'PRICE'
  | 'PRICE_SANITY'
  | 'MIN_NOTIONAL'
  | 'MAX_ORDER_NOTIONAL'
  | 'MAX_OPEN_ORDERS'
  | 'ORDER_RATE'
  | 'SPOT_SHORT'
  | 'FUNDING_WINDOW'
  | 'MAX_POSITION'
  | 'INSTRUMENT_EXPOSURE'
  | 'MAX_EXPOSURE'
  | 'LEVERAGE'
  | 'LIQUIDATION_DISTANCE';

export interface RiskApproval {
  readonly approved: true;
  readonly checks: readonly RiskCheck[];
}

export interface RiskRejection {
  readonly approved: false;
  readonly reason: RejectReason;
  readonly detail: string;
  readonly action?: RiskAction;
}

export type RiskDecision = RiskApproval | RiskRejection;

export function reject(reason: RejectReason, detail: string, action?: RiskAction): RiskRejection {
  return action === undefined
    ? { approved: false, reason, detail }
    : { approved: false, reason, detail, action };
}
