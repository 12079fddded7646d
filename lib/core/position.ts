/**
 * A position and its P&L, built only from fills (never from polling the venue: reconciliation
 * compares the two, it does not feed one into the other).
 *
 * The open position is held as a signed lot count and a cost basis: the entry value of the open
 * lots, a positive Money. Realized P&L is the exit value of the lots closed minus the share of the
 * basis they carried; unrealized is the value at the mark minus the remaining basis.
 *
 * Linear instruments (all Binance, Kraken spot, Kraken Futures PF_/FF_), in quote currency:
 *     value(q, p) = q × p × contractSize           (exact)
 *     long:  pnl = exit value − entry value         = (exit − entry) × qty × contractSize
 *     short: pnl = entry value − exit value
 * Inverse instruments (Kraken Futures PI_/FI_, `instrument.inverse`), in BASE currency (the
 * settlement currency: BTC for PI_XBTUSD), as are capital, fees and equity for such a ledger:
 *     value(q, p) = q × contractSize / p            (rounded half-even to 18 decimals)
 *     long:  pnl = entry value − exit value         = qty × contractSize × (1/entry − 1/exit)
 *     short: pnl = exit value − entry value
 * The average entry price of an inverse position is the harmonic mean of the fill prices (the
 * price at which the open contracts are worth the basis), as the venues compute it.
 *
 * Rounding: closing part of a position removes basis × closed/open, which need not terminate
 * (buy 1 @100 and 2 @101, sell 1: 302/3). It is rounded half-even to the ledger's P&L scale
 * (price decimals + qty decimals + contract size decimals, at least 10; 18 for inverse), and
 * whatever rounding leaves in the basis is realized when the position closes. Rounding therefore
 * only moves P&L between the partial closes of one round trip, never creates or loses any:
 * Σ realized + unrealized equals the cash-flow calculation exactly, and a round trip's P&L is exact.
 *
 * A fill that flips the position (long 1, sell 3) realizes on the closing part (1) and opens the
 * rest (2) at the fill price. Its whole fee goes to the round trip it closes.
 *
 * Fees: as the venue reports them (negative = rebate), in the ledger's P&L currency; realized P&L
 * is gross of fees and equity = capital + realized + unrealized − fees. Daily P&L, round-trip
 * results, wins and losses are net of fees.
 *
 * The ledger does not deduplicate fills: feed it the fills `ManagedOrder.applyFill` counted (it
 * answers false for a redelivery).
 */
import { InvariantError } from './errors.ts';
import type { Instrument } from './instrument.ts';
import { Money, money, stepsToMoney } from './money.ts';
import type { Fill, OrderSide } from './trading.ts';

export type PositionSide = 'flat' | 'long' | 'short';

/** Decimals of inverse values (base currency): far below any venue's precision (satoshi = 8). */
export const INVERSE_PNL_SCALE = 18;
/** The least number of decimals basis shares are rounded to for linear instruments. */
export const MIN_LINEAR_PNL_SCALE = 10;
/** Beyond this scale, values of 16 integer digits would exceed Money's 40 significant digits. */
const MAX_PNL_SCALE = 24;
const DAY_MS = 86_400_000;

/** flat → position → flat. */
export interface RoundTrip {
  readonly side: 'long' | 'short';
  readonly openedTs: number;
  readonly closedTs: number;
  /** Σ realized P&L of the trip, gross of fees. */
  readonly realized: Money;
  /** Σ fees of the trip's fills (the whole fee of the fill that closed it). */
  readonly fees: Money;
  /** realized − fees: what decides win or loss. */
  readonly net: Money;
}

export interface PositionFillResult {
  /** P&L this fill realized, gross of its fee. */
  readonly realized: Money;
  readonly fee: Money;
  /** Lots of the fill that reduced the position. */
  readonly closedLots: number;
  /** Lots of the fill that opened or increased a position. */
  readonly openedLots: number;
  /** Signed position after the fill, in lots. */
  readonly positionLots: number;
  /** The round trip this fill completed, if it did. */
  readonly roundTrip: RoundTrip | null;
}

function utcDay(ts: number): number {
  return Math.floor(ts / DAY_MS);
}

function isPositiveInteger(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

const ZERO = new Money(0);

export class PositionLedger {
  readonly instrument: Instrument;
  readonly capital: Money;
  /** Decimals basis shares (and inverse values) are rounded to. */
  readonly pnlScale: number;

  private _lots = 0;
  /** Entry value of the open lots, always ≥ 0. */
  private _basis: Money = ZERO;
  private _entryTs: number | null = null;
  private _avgEntryTicks = NaN;
  private _realized: Money = ZERO;
  private _fees: Money = ZERO;
  private _fillCount = 0;

  private tripRealized: Money = ZERO;
  private tripFees: Money = ZERO;
  private _roundTrips = 0;
  private _wins = 0;
  private _losses = 0;
  private _consecutiveLosses = 0;
  private _lastRoundTrip: RoundTrip | null = null;

  private readonly daily = new Map<number, Money>();
  private _lastMarkTicks: number | null = null;
  private _peakEquity: Money;
  private _lastEquity: Money;

  constructor(instrument: Instrument, capital: Money) {
    this.instrument = instrument;
    this.capital = capital;
    this.pnlScale = instrument.inverse
      ? INVERSE_PNL_SCALE
      : Math.max(
          MIN_LINEAR_PNL_SCALE,
          instrument.price.scale + instrument.qty.scale + instrument.contractSize.decimalPlaces(),
        );
    if (this.pnlScale > MAX_PNL_SCALE) {
      throw new InvariantError(
        'PNL_SCALE',
        `${instrument.venue} ${instrument.symbol}: P&L needs ${this.pnlScale} decimals, more than Money holds exactly`,
      );
    }
    this._peakEquity = capital;
    this._lastEquity = capital;
  }

  /** Signed position in lots: > 0 long, < 0 short. */
  get lots(): number {
    return this._lots;
  }

  get side(): PositionSide {
    return this._lots > 0 ? 'long' : this._lots < 0 ? 'short' : 'flat';
  }

  /** Entry value of the open lots (quote for linear, base for inverse); zero when flat. */
  get costBasis(): Money {
    return this._basis;
  }

  /** When the current position was opened from flat (or by a flip); null when flat. */
  get entryTs(): number | null {
    return this._entryTs;
  }

  /**
   * Average entry price in price units, null when flat. The basis is exact; this quotient is exact
   * when it terminates, else correct to Money's 40 significant digits.
   */
  get avgEntryPrice(): Money | null {
    if (this._lots === 0) return null;
    const units = this.contracts(Math.abs(this._lots));
    return this.instrument.inverse ? units.div(this._basis) : this._basis.div(units);
  }

  /**
   * Average entry price in (fractional) ticks, for the strategy's float math; NaN when flat.
   * Computed once per fill, so reading it on every book update allocates nothing.
   */
  get avgEntryTicks(): number {
    return this._avgEntryTicks;
  }

  /** Σ realized P&L, gross of fees. */
  get realized(): Money {
    return this._realized;
  }

  /** Σ fees; negative = net rebate. */
  get fees(): Money {
    return this._fees;
  }

  get fillCount(): number {
    return this._fillCount;
  }

  /** Completed round trips (flat → position → flat; a flip completes one and starts the next). */
  get roundTrips(): number {
    return this._roundTrips;
  }

  /** Round trips with net P&L > 0. */
  get wins(): number {
    return this._wins;
  }

  /** Round trips with net P&L < 0 (net exactly 0 is neither and ends a losing streak). */
  get losses(): number {
    return this._losses;
  }

  /** wins / round trips; 0 before the first round trip. */
  get winRate(): number {
    return this._roundTrips === 0 ? 0 : this._wins / this._roundTrips;
  }

  /** Losing round trips in a row, up to the last one. */
  get consecutiveLosses(): number {
    return this._consecutiveLosses;
  }

  get lastRoundTrip(): RoundTrip | null {
    return this._lastRoundTrip;
  }

  /** Net P&L (realized − fees) of the fills whose timestamp falls on the UTC day of `ts`. */
  dailyPnl(ts: number): Money {
    return this.daily.get(utcDay(ts)) ?? ZERO;
  }

  /** Unrealized P&L at a mark price in ticks (zero when flat). */
  unrealized(markTicks: number): Money {
    if (this._lots === 0) return ZERO;
    const markValue = this.value(Math.abs(this._lots), markTicks);
    const diff = this._lots > 0 ? markValue.minus(this._basis) : this._basis.minus(markValue);
    return this.instrument.inverse ? diff.neg() : diff;
  }

  /** capital + realized + unrealized − fees, at `markTicks` or else at the last mark. */
  equity(markTicks?: number): Money {
    const mark = markTicks ?? this._lastMarkTicks;
    const unrealized = mark === null ? ZERO : this.unrealized(mark);
    return this.capital.plus(this._realized).plus(unrealized).minus(this._fees);
  }

  /** The mark the peak and drawdown were last computed at (a mark() or the last fill's price). */
  get lastMarkTicks(): number | null {
    return this._lastMarkTicks;
  }

  get peakEquity(): Money {
    return this._peakEquity;
  }

  /** peak − equity at the last mark (≥ 0). */
  get drawdown(): Money {
    return this._peakEquity.minus(this._lastEquity);
  }

  /** drawdown / peak; zero when the peak is not positive. */
  get drawdownFraction(): Money {
    return this._peakEquity.gt(0) ? this.drawdown.div(this._peakEquity) : ZERO;
  }

  /** Marks the position at a price in ticks: updates equity, peak equity and drawdown. */
  mark(markTicks: number): Money {
    if (!isPositiveInteger(markTicks)) {
      throw new InvariantError('BAD_MARK', `${this.instrument.symbol}: mark ${markTicks} ticks`);
    }
    this._lastMarkTicks = markTicks;
    this.updateEquity();
    return this._lastEquity;
  }

  private updateEquity(): void {
    this._lastEquity = this.equity();
    if (this._lastEquity.gt(this._peakEquity)) this._peakEquity = this._lastEquity;
  }

  /** Quantity in contract-size units: lots × lot size × contract size. */
  private contracts(lots: number): Money {
    return stepsToMoney(lots, this.instrument.qty).times(this.instrument.contractSize);
  }

  /** Value of `lots` at `priceTicks` (see the file comment), ≥ 0. */
  private value(lots: number, priceTicks: number): Money {
    const price = stepsToMoney(priceTicks, this.instrument.price);
    const units = this.contracts(lots);
    return this.instrument.inverse
      ? units.div(price).toDecimalPlaces(INVERSE_PNL_SCALE, Money.ROUND_HALF_EVEN)
      : units.times(price);
  }

  /** Applies one fill; validates it fully before changing anything. */
  applyFill(fill: Fill): PositionFillResult {
    const inst = this.instrument;
    if (fill.venue !== inst.venue || fill.symbol !== inst.symbol) {
      throw new InvariantError(
        'FILL_MISMATCH',
        `trade ${fill.tradeId} for ${fill.venue} ${fill.symbol} applied to ${inst.venue} ${inst.symbol}`,
      );
    }
    if (!isPositiveInteger(fill.qtyLots) || !isPositiveInteger(fill.priceTicks)) {
      throw new InvariantError(
        'BAD_FILL',
        `trade ${fill.tradeId}: ${fill.qtyLots} lots @ ${fill.priceTicks} ticks is not positive integers`,
      );
    }
    let fee: Money;
    try {
      fee = money(fill.fee);
    } catch (err) {
      throw new InvariantError('BAD_FILL', `trade ${fill.tradeId}: fee ${JSON.stringify(fill.fee)}`, {
        cause: err,
      });
    }
    const delta = signed(fill.side, fill.qtyLots);
    const before = this._lots;
    const after = before + delta;
    if (!Number.isSafeInteger(after)) {
      throw new InvariantError('POSITION_RANGE', `trade ${fill.tradeId}: position ${after} lots`);
    }

    const fillValue = this.value(fill.qtyLots, fill.priceTicks);
    let realized = ZERO;
    let closedLots = 0;
    let openedLots = fill.qtyLots;
    let roundTrip: RoundTrip | null = null;

    if (before !== 0 && Math.sign(before) !== Math.sign(delta)) {
      const open = Math.abs(before);
      closedLots = Math.min(fill.qtyLots, open);
      openedLots = fill.qtyLots - closedLots;
      // The closing part's value; the opening part gets the rest, so the parts always sum to the
      // fill's value (matters for inverse, whose values are rounded).
      const closeValue = openedLots === 0 ? fillValue : this.value(closedLots, fill.priceTicks);
      const removed =
        closedLots === open
          ? this._basis
          : this._basis.times(closedLots).div(open).toDecimalPlaces(this.pnlScale, Money.ROUND_HALF_EVEN);
      // Linear long: exit value − entry value; inverse flips the sign; a short flips it again.
      const longGain = inst.inverse ? removed.minus(closeValue) : closeValue.minus(removed);
      realized = before > 0 ? longGain : longGain.neg();
      this._basis = this._basis.minus(removed);
      this.tripRealized = this.tripRealized.plus(realized);
      this.tripFees = this.tripFees.plus(fee);
      if (closedLots === open) {
        roundTrip = this.closeRoundTrip(before > 0 ? 'long' : 'short', fill.ts);
        this._basis = fillValue.minus(closeValue); // zero unless the fill flips the position
        this._entryTs = openedLots > 0 ? fill.ts : null;
      }
    } else {
      if (before === 0) this._entryTs = fill.ts;
      this._basis = this._basis.plus(fillValue);
      this.tripFees = this.tripFees.plus(fee);
    }

    this._lots = after;
    const avg = this.avgEntryPrice;
    this._avgEntryTicks = avg === null ? NaN : avg.div(new Money(inst.price.step)).toNumber();
    this._realized = this._realized.plus(realized);
    this._fees = this._fees.plus(fee);
    this._fillCount++;
    const day = utcDay(fill.ts);
    this.daily.set(day, (this.daily.get(day) ?? ZERO).plus(realized).minus(fee));
    this._lastMarkTicks = fill.priceTicks;
    this.updateEquity();
    return { realized, fee, closedLots, openedLots, positionLots: after, roundTrip };
  }

  private closeRoundTrip(side: 'long' | 'short', closedTs: number): RoundTrip {
    const net = this.tripRealized.minus(this.tripFees);
    const trip: RoundTrip = {
      side,
      openedTs: this._entryTs ?? closedTs,
      closedTs,
      realized: this.tripRealized,
      fees: this.tripFees,
      net,
    };
    this._roundTrips++;
    if (net.gt(0)) {
      this._wins++;
      this._consecutiveLosses = 0;
    } else if (net.lt(0)) {
      this._losses++;
      this._consecutiveLosses++;
    } else {
      this._consecutiveLosses = 0;
    }
    this._lastRoundTrip = trip;
    this.tripRealized = ZERO;
    this.tripFees = ZERO;
    return trip;
  }
}

function signed(side: OrderSide, lots: number): number {
  return side === 'buy' ? lots : -lots;
}
