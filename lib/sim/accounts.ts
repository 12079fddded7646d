/**
 * The simulator's ledger of OUR accounts: balances per venue and asset, futures positions, and the
 * funds that open orders hold. Everything is exact Money (decimal.js); the matching engine
 * (./matching.ts) is the only writer, through `applyFill` and `setLock`.
 *
 * Accounting model, per venue kind:
 * - Spot (binance-us, kraken-spot): the position IS the balance. A buy fill pays notional + fee in
 *   quote and receives base; a sell fill delivers base and receives notional − fee. Fees are always
 *   charged in the quote currency (Kraken's default; Binance charges a buy's commission in the
 *   received asset unless BNB pays it — a simplification noted here so nobody mistakes it for
 *   venue truth).
 * - Futures (binance-futures, kraken-futures): one-way positions (signed lots) with a signed cost
 *   basis in the settlement asset (quote for linear contracts, base for inverse ones). Fees and
 *   realized P&L move the wallet balance; unrealized P&L never does. A partial close takes the
 *   pro-rata share `r` of the cost basis (rounded to DIVISION_DP places) and realizes `exit − r`
 *   (linear long); the same `r` leaves the basis, so wallet − basis changes by exactly the fill's
 *   cash flow whatever the rounding of `r` — the property tests rely on that identity.
 * - Margin: initial margin = notional / leverage (default 10×), held for positions (on their cost
 *   basis) and for open non-reduce-only orders (as a lock). No maintenance margin, no liquidation,
 *   no funding: the wallet may go negative after losses, and the simulator still lets reducing
 *   orders through.
 */
import type { VenueId } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import { fromSteps } from '#core/grid.ts';
import type { Grid } from '#core/grid.ts';

/** Starting balances per venue, asset → decimal text. */
export type VenueBalances = Partial<Record<VenueId, Readonly<Record<string, string>>>>;

export interface SimAccountsConfig {
  /** Starting balances of every account (default DEFAULT_BALANCES). */
  readonly balances?: VenueBalances;
  /** Per-account overrides of the starting balances, by account name (replace the venue's map). */
  readonly accounts?: Readonly<Record<string, VenueBalances>>;
  /** Futures leverage for initial margin (default 10). */
  readonly leverage?: number;
}

/**
 * 100,000 in each venue's quote currency, and some base on the spot venues so a first sell is
 * possible. Kraken Futures also holds XBT: inverse contracts (PI_) margin and settle in the base.
 */
export const DEFAULT_BALANCES: Readonly<Record<VenueId, Readonly<Record<string, string>>>> = {
  'binance-futures': { USDT: '100000' },
  'binance-us': { USDT: '100000', BTC: '2' },
  'kraken-spot': { USD: '100000', BTC: '2' },
  'kraken-futures': { USD: '100000', XBT: '2' },
};

export const DEFAULT_LEVERAGE = 10;

/**
 * Decimal places every division is rounded to (half-even): the pro-rata basis of a partial close,
 * and inverse contracts' value qty × size / price. Money has 40 significant digits, so a result
 * kept at full precision would be rounded again when added to a balance; at 18 places every later
 * sum and product stays exact, and the ledger's identities hold to the last digit.
 */
export const DIVISION_DP = 18;

/** What the ledger needs to know about an instrument to book a fill on it. */
export interface LedgerInstrument {
  readonly venue: VenueId;
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  /** Asset that fees, P&L and margin are in: quote for spot and linear, base for inverse. */
  readonly settle: string;
  readonly price: Grid;
  readonly qty: Grid;
  readonly contractSize: Money;
  readonly inverse: boolean;
  /** Spot instruments book fills into balances; everything else into positions. */
  readonly spot: boolean;
}

export interface SimBalance {
  readonly asset: string;
  /** Wallet balance (futures) or total holding (spot). */
  readonly total: Money;
  /** Held by open orders and, on futures, by open positions' initial margin. */
  readonly locked: Money;
  /** total − locked; what a new order may use. */
  readonly free: Money;
}

export interface SimPosition {
  readonly symbol: string;
  /** Signed: positive long, negative short. */
  readonly qtyLots: number;
  /** Signed cost basis in the settlement asset: entry notional (linear) or entry value (inverse). */
  readonly costBasis: Money;
  /** Average entry price (harmonic for inverse contracts); zero when flat. */
  readonly entryPrice: Money;
  /** The same in ticks, possibly fractional (display only); 0 when flat. */
  readonly entryPriceTicks: number;
  /** Realized P&L since the account was created, before fees. */
  readonly realizedPnl: Money;
  readonly settle: string;
}

interface PositionState {
  readonly inst: LedgerInstrument;
  qty: number;
  cost: Money;
  realized: Money;
}

interface Lock {
  readonly asset: string;
  readonly amount: Money;
}

interface AccountState {
  readonly balances: Map<string, Money>;
  readonly positions: Map<string, PositionState>;
  /** Order id → what that open order holds. */
  readonly locks: Map<string, Lock>;
}

const ZERO = new Money(0);

export class SimAccounts {
  readonly leverage: number;
  private readonly cfg: SimAccountsConfig;
  private readonly state = new Map<string, AccountState>();

  constructor(cfg: SimAccountsConfig = {}) {
    this.cfg = cfg;
    const lev = cfg.leverage ?? DEFAULT_LEVERAGE;
    if (!(lev > 0) || !Number.isFinite(lev))
      throw new RangeError(`leverage ${lev} must be a positive number`);
    this.leverage = lev;
  }

  /** The balances an account starts with on a venue. */
  initialBalances(account: string, venue: VenueId): Readonly<Record<string, string>> {
    return this.cfg.accounts?.[account]?.[venue] ?? this.cfg.balances?.[venue] ?? DEFAULT_BALANCES[venue];
  }

  private get(account: string, venue: VenueId): AccountState {
    const key = `${account}\u0000${venue}`;
    let s = this.state.get(key);
    if (!s) {
      const balances = new Map<string, Money>();
      for (const [asset, text] of Object.entries(this.initialBalances(account, venue)))
        balances.set(asset, new Money(text));
      s = { balances, positions: new Map(), locks: new Map() };
      this.state.set(key, s);
    }
    return s;
  }

  /** Wallet balance (futures) or holding (spot) of one asset. */
  total(account: string, venue: VenueId, asset: string): Money {
    return this.get(account, venue).balances.get(asset) ?? ZERO;
  }

  /** Held by open orders plus, for futures, the initial margin of positions settling in `asset`. */
  locked(account: string, venue: VenueId, asset: string): Money {
    const s = this.get(account, venue);
    let sum = ZERO;
    for (const l of s.locks.values()) if (l.asset === asset) sum = sum.plus(l.amount);
    for (const p of s.positions.values())
      if (p.inst.settle === asset && !p.cost.isZero()) sum = sum.plus(p.cost.abs().div(this.leverage));
    return sum;
  }

  free(account: string, venue: VenueId, asset: string): Money {
    return this.total(account, venue, asset).minus(this.locked(account, venue, asset));
  }

  balance(account: string, venue: VenueId, asset: string): SimBalance {
    const total = this.total(account, venue, asset);
    const locked = this.locked(account, venue, asset);
    return { asset, total, locked, free: total.minus(locked) };
  }

  /** Every asset the account has held on the venue, sorted by name. */
  balances(account: string, venue: VenueId): SimBalance[] {
    const s = this.get(account, venue);
    const assets = new Set(s.balances.keys());
    for (const l of s.locks.values()) assets.add(l.asset);
    return [...assets].sort().map((a) => this.balance(account, venue, a));
  }

  /** The position in one symbol (flat when never traded). */
  position(account: string, venue: VenueId, symbol: string): SimPosition {
    const p = this.get(account, venue).positions.get(symbol);
    return p ? view(p) : flat(symbol);
  }

  /** Signed position in lots (0 when flat or never traded). */
  positionLots(account: string, venue: VenueId, symbol: string): number {
    return this.get(account, venue).positions.get(symbol)?.qty ?? 0;
  }

  /** Open (non-flat) positions, sorted by symbol. */
  positions(account: string, venue: VenueId): SimPosition[] {
    return [...this.get(account, venue).positions.values()]
      .filter((p) => p.qty !== 0)
      .sort((a, b) => (a.inst.symbol < b.inst.symbol ? -1 : a.inst.symbol > b.inst.symbol ? 1 : 0))
      .map(view);
  }

  /** Sets what an open order holds (an amount of zero releases it). */
  setLock(account: string, venue: VenueId, orderId: string, asset: string, amount: Money): void {
    const locks = this.get(account, venue).locks;
    if (amount.isZero()) locks.delete(orderId);
    else locks.set(orderId, { asset, amount });
  }

  lockOf(account: string, venue: VenueId, orderId: string): Money {
    return this.get(account, venue).locks.get(orderId)?.amount ?? ZERO;
  }

  /**
   * Books one fill. `notional` is price × qty × contract size in quote (linear, spot) or
   * qty × contract size / price in base (inverse); `fee` is in the settlement asset.
   */
  applyFill(
    account: string,
    inst: LedgerInstrument,
    side: 'buy' | 'sell',
    qtyLots: number,
    notional: Money,
    fee: Money,
  ): void {
    const s = this.get(account, inst.venue);
    const add = (asset: string, amount: Money) =>
      s.balances.set(asset, (s.balances.get(asset) ?? ZERO).plus(amount));
    if (inst.spot) {
      const baseQty = new Money(fromSteps(qtyLots, inst.qty));
      if (side === 'buy') {
        add(inst.quote, notional.plus(fee).neg());
        add(inst.base, baseQty);
      } else {
        add(inst.base, baseQty.neg());
        add(inst.quote, notional.minus(fee));
      }
      return;
    }
    let p = s.positions.get(inst.symbol);
    if (!p) {
      p = { inst, qty: 0, cost: ZERO, realized: ZERO };
      s.positions.set(inst.symbol, p);
    }
    const d = side === 'buy' ? qtyLots : -qtyLots;
    // Signed notional of the fill: what a long's basis gains when buying.
    const signed = side === 'buy' ? notional : notional.neg();
    let realized = ZERO;
    if (p.qty === 0 || Math.sign(p.qty) === Math.sign(d)) {
      p.qty += d;
      p.cost = p.cost.plus(signed);
    } else {
      const held = Math.abs(p.qty);
      const closing = Math.min(held, qtyLots);
      // The closed share of the basis (exact when the whole position closes).
      const r = closing === held ? p.cost : p.cost.times(closing).div(held).toDecimalPlaces(DIVISION_DP);
      // The share of this fill's notional that closes (exact when the fill only closes).
      const exit =
        closing === qtyLots ? signed : signed.times(closing).div(qtyLots).toDecimalPlaces(DIVISION_DP);
      // Linear long: sell at exit, bought at r → exit − r; signs make the short case r − exit.
      // Inverse contracts are valued in base (1/price): the sign flips.
      const pnl = r.plus(exit).neg();
      realized = inst.inverse ? pnl.neg() : pnl;
      p.cost = p.cost.minus(r);
      p.qty += side === 'buy' ? closing : -closing;
      if (closing < qtyLots) {
        // A flip: the rest opens a position the other way.
        p.qty += side === 'buy' ? qtyLots - closing : -(qtyLots - closing);
        p.cost = p.cost.plus(signed.minus(exit));
      }
      if (p.qty === 0) p.cost = ZERO;
    }
    p.realized = p.realized.plus(realized);
    add(inst.settle, realized.minus(fee));
  }
}

function flat(symbol: string): SimPosition {
  return {
    symbol,
    qtyLots: 0,
    costBasis: ZERO,
    entryPrice: ZERO,
    entryPriceTicks: 0,
    realizedPnl: ZERO,
    settle: '',
  };
}

function view(p: PositionState): SimPosition {
  const { inst } = p;
  let entryPrice = ZERO;
  if (p.qty !== 0) {
    const units = new Money(fromSteps(Math.abs(p.qty), inst.qty)).times(inst.contractSize);
    const basis = p.cost.abs();
    entryPrice = inst.inverse ? units.div(basis) : basis.div(units);
  }
  const tick = new Money(inst.price.step);
  return {
    symbol: inst.symbol,
    qtyLots: p.qty,
    costBasis: p.cost,
    entryPrice,
    entryPriceTicks: p.qty === 0 ? 0 : entryPrice.div(tick).toNumber(),
    realizedPnl: p.realized,
    settle: inst.settle,
  };
}
