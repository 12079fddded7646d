/**
 * Risk limits: the configuration of the pre-trade gate, one document per stage (staging, prod),
 * with per-symbol overrides. Parsed and validated once at startup into Money, so the per-order
 * path never parses text.
 *
 * JSON shape (every section and field optional; what is absent takes the default below):
 *
 *   {
 *     "account":  { "maxTotalExposure": "50000", "maxOpenOrders": 50, "dailyLossLimit": "-500",
 *                   "maxDrawdown": "-1000", "maxConsecutiveLosses": 5, "maxAccountLeverage": "10" },
 *     "defaults": { "maxOrderNotional": "10000", ...SymbolLimits },
 *     "symbols":  { "binance-futures": { "BTCUSDT": { "maxOrderNotional": "10" } } },
 *     "venues":   { "binance-futures": { "ordersPerSecond": 10, "ordersPerMinute": 100,
 *                                        "reduceOnlyMinNotionalExempt": true } }
 *   }
 *
 * Amounts of money, percentages and leverage are decimal strings (never JSON numbers: a float is
 * not an amount); counts and durations are JSON integers. Unknown fields are errors, so a typo
 * ("maxOrderNotinal") can never silently leave the default in force.
 */
import { DataError } from '#core/errors.ts';
import type { VenueId } from '#core/instrument.ts';
import { VENUES, isVenueId } from '#core/instrument.ts';
import { Money } from '#core/money.ts';

/** Limits that apply per (venue, symbol); `defaults` holds them for every symbol without an override. */
export interface SymbolLimits {
  /** Largest notional of one order (inclusive), default 10000. */
  readonly maxOrderNotional: Money;
  /** Largest |position| notional on the symbol, resting orders included (inclusive), default 25000. */
  readonly maxPositionNotional: Money;
  /** Largest |position| notional on the symbol as a percentage of equity (inclusive), default 25. */
  readonly maxInstrumentExposurePct: Money;
  /** Most resting orders on the symbol, the new one included (inclusive), default 10. */
  readonly maxOpenOrdersPerSymbol: number;
  /** How far past the mid (bps) a limit price or a market order's touch may be (inclusive), default 50. */
  readonly priceBandBps: number;
  /** Oldest book (ms since its last local update) the gate trades on (inclusive), default 2000. */
  readonly maxBookAgeMs: number;
  /** Perpetuals: no new exposure this many seconds either side of funding (inclusive), default 60. */
  readonly fundingWindowSec: number;
  /** Highest venue leverage setting allowed for the symbol (inclusive), default 10. */
  readonly maxLeverage: Money;
  /** Closest the estimated liquidation price may be to the mark, in percent (inclusive), default 2. */
  readonly minLiquidationDistancePct: Money;
  /** Maintenance margin rate used to estimate liquidation (fraction), default 0.01. */
  readonly maintenanceMarginRate: Money;
}

/** Limits on the whole account (every venue and symbol the engine trades). */
export interface AccountLimits {
  /** Largest sum of |position notional| over symbols, resting orders included (inclusive), default 50000. */
  readonly maxTotalExposure: Money;
  /** Most resting orders in total, the new one included (inclusive), default 50. */
  readonly maxOpenOrders: number;
  /** Realized P&L today at or below this (negative) trips KILL, default -500. */
  readonly dailyLossLimit: Money;
  /** Equity minus peak equity at or below this (negative) trips KILL, default -1000. */
  readonly maxDrawdown: Money;
  /** This many losses in a row trips HALT, default 5. */
  readonly maxConsecutiveLosses: number;
  /** Largest total exposure / equity (inclusive), default 10. */
  readonly maxAccountLeverage: Money;
}

/** Limits per venue: our own order rate caps under the venue's, and venue rule switches. */
export interface VenueLimits {
  /** Orders in any sliding 1 s window, the new one included (inclusive), default 10. */
  readonly ordersPerSecond: number;
  /** Orders in any sliding 60 s window, the new one included (inclusive), default 100. */
  readonly ordersPerMinute: number;
  /**
   * Whether the venue accepts reduce-only orders below its minimum notional (Binance USD-M:
   * "must be no smaller than %s (unless you choose reduce only)"). Default true on
   * binance-futures only.
   */
  readonly reduceOnlyMinNotionalExempt: boolean;
}

export interface RiskLimits {
  readonly account: AccountLimits;
  readonly defaults: SymbolLimits;
  /** Fully merged limits (defaults + override) per venue, keyed by upper-case symbol. */
  readonly symbols: ReadonlyMap<VenueId, ReadonlyMap<string, SymbolLimits>>;
  readonly venues: Readonly<Record<VenueId, VenueLimits>>;
}

/** One thing wrong in a risk-limits document, named by its path ("defaults.maxOrderNotional"). */
export interface RiskLimitsIssue {
  readonly field: string;
  readonly message: string;
}

/** Invalid risk limits: the message lists every issue, each naming its field. */
export class RiskLimitsError extends DataError {
  readonly issues: readonly RiskLimitsIssue[];
  constructor(issues: readonly RiskLimitsIssue[]) {
    super(
      'BAD_RISK_LIMITS',
      `invalid risk limits: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    );
    this.name = 'RiskLimitsError';
    this.issues = issues;
  }
}

/** The limits for one symbol: its override when configured, else the defaults. */
export function symbolLimits(limits: RiskLimits, venue: VenueId, symbol: string): SymbolLimits {
  const perVenue = limits.symbols.get(venue);
  if (perVenue === undefined) return limits.defaults;
  // Overrides are keyed upper-case (venues vary the case of one symbol, e.g. pi_xbtusd / PI_XBTUSD):
  // a missed override would silently apply the defaults, e.g. a $10 cap becoming $10,000.
  return perVenue.get(symbol) ?? perVenue.get(symbol.toUpperCase()) ?? limits.defaults;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

type Raw = Record<string, unknown>;

const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;

/** Reads fields off one JSON object, recording issues instead of throwing at the first. */
class FieldReader {
  readonly path: string;
  private readonly raw: Raw;
  private readonly issues: RiskLimitsIssue[];
  private readonly known = new Set<string>();

  constructor(raw: Raw, path: string, issues: RiskLimitsIssue[]) {
    this.raw = raw;
    this.path = path;
    this.issues = issues;
  }

  field(name: string): string {
    return `${this.path}.${name}`;
  }

  issue(name: string, message: string): void {
    this.issues.push({ field: this.field(name), message });
  }

  has(name: string): boolean {
    this.known.add(name);
    return this.raw[name] !== undefined;
  }

  /** A decimal string checked by `ok`; `want` says what it must be. Absent → `fallback`. */
  decimal(name: string, fallback: Money, ok: (v: Money) => boolean, want: string): Money {
    if (!this.has(name)) return fallback;
    const v = this.raw[name];
    if (typeof v !== 'string' || !DECIMAL_TEXT.test(v)) {
      this.issue(name, `expected a decimal string (${want}), got ${JSON.stringify(v)}`);
      return fallback;
    }
    const m = new Money(v);
    if (!ok(m)) {
      this.issue(name, `must be ${want}, got "${v}"`);
      return fallback;
    }
    return m;
  }

  /** A JSON integer in [min, max]. Absent → `fallback`. */
  integer(name: string, fallback: number, min: number, max: number): number {
    if (!this.has(name)) return fallback;
    const v = this.raw[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.issue(name, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  }

  boolean(name: string, fallback: boolean): boolean {
    if (!this.has(name)) return fallback;
    const v = this.raw[name];
    if (typeof v !== 'boolean') {
      this.issue(name, `expected true or false, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  }

  /** Call after reading every field: anything not read is a typo or a field this version lacks. */
  rejectUnknown(): void {
    for (const k of Object.keys(this.raw)) {
      if (!this.known.has(k)) this.issues.push({ field: this.field(k), message: 'unknown field' });
    }
  }
}

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional object section; anything else is an issue and reads as empty. */
function section(parent: Raw, name: string, path: string, issues: RiskLimitsIssue[]): Raw {
  const v = parent[name];
  if (v === undefined) return {};
  if (!isObject(v)) {
    issues.push({ field: path, message: `expected an object, got ${JSON.stringify(v)}` });
    return {};
  }
  return v;
}

const ZERO = new Money(0);
const ONE = new Money(1);
const HUNDRED = new Money(100);
const positive = (v: Money): boolean => v.gt(ZERO);
const negative = (v: Money): boolean => v.lt(ZERO);

const SECTIONS = ['account', 'defaults', 'symbols', 'venues'];
const DAY_MS = 86_400_000;
const DAY_S = 86_400;
const BIG_COUNT = 1_000_000;

export const DEFAULT_SYMBOL_LIMITS: SymbolLimits = Object.freeze({
  maxOrderNotional: new Money('10000'),
  maxPositionNotional: new Money('25000'),
  maxInstrumentExposurePct: new Money('25'),
  maxOpenOrdersPerSymbol: 10,
  priceBandBps: 50,
  maxBookAgeMs: 2000,
  fundingWindowSec: 60,
  maxLeverage: new Money('10'),
  minLiquidationDistancePct: new Money('2'),
  maintenanceMarginRate: new Money('0.01'),
});

export const DEFAULT_ACCOUNT_LIMITS: AccountLimits = Object.freeze({
  maxTotalExposure: new Money('50000'),
  maxOpenOrders: 50,
  dailyLossLimit: new Money('-500'),
  maxDrawdown: new Money('-1000'),
  maxConsecutiveLosses: 5,
  maxAccountLeverage: new Money('10'),
});

function defaultVenueLimits(venue: VenueId): VenueLimits {
  return Object.freeze({
    ordersPerSecond: 10,
    ordersPerMinute: 100,
    reduceOnlyMinNotionalExempt: venue === 'binance-futures',
  });
}

function readSymbolLimits(r: FieldReader, base: SymbolLimits): SymbolLimits {
  const out: SymbolLimits = {
    maxOrderNotional: r.decimal('maxOrderNotional', base.maxOrderNotional, positive, '> 0'),
    maxPositionNotional: r.decimal('maxPositionNotional', base.maxPositionNotional, positive, '> 0'),
    maxInstrumentExposurePct: r.decimal(
      'maxInstrumentExposurePct',
      base.maxInstrumentExposurePct,
      (v) => v.gt(ZERO) && v.lte(HUNDRED),
      '> 0 and <= 100',
    ),
    maxOpenOrdersPerSymbol: r.integer('maxOpenOrdersPerSymbol', base.maxOpenOrdersPerSymbol, 1, BIG_COUNT),
    priceBandBps: r.integer('priceBandBps', base.priceBandBps, 1, 10_000),
    maxBookAgeMs: r.integer('maxBookAgeMs', base.maxBookAgeMs, 1, DAY_MS),
    fundingWindowSec: r.integer('fundingWindowSec', base.fundingWindowSec, 0, DAY_S),
    maxLeverage: r.decimal('maxLeverage', base.maxLeverage, (v) => v.gte(ONE), '>= 1'),
    minLiquidationDistancePct: r.decimal(
      'minLiquidationDistancePct',
      base.minLiquidationDistancePct,
      (v) => v.gte(ZERO) && v.lt(HUNDRED),
      '>= 0 and < 100',
    ),
    maintenanceMarginRate: r.decimal(
      'maintenanceMarginRate',
      base.maintenanceMarginRate,
      (v) => v.gte(ZERO) && v.lt(ONE),
      '>= 0 and < 1 (a fraction, 0.01 = 1 %)',
    ),
  };
  r.rejectUnknown();
  return Object.freeze(out);
}

function readAccountLimits(r: FieldReader): AccountLimits {
  const d = DEFAULT_ACCOUNT_LIMITS;
  const out: AccountLimits = {
    maxTotalExposure: r.decimal('maxTotalExposure', d.maxTotalExposure, positive, '> 0'),
    maxOpenOrders: r.integer('maxOpenOrders', d.maxOpenOrders, 1, BIG_COUNT),
    dailyLossLimit: r.decimal('dailyLossLimit', d.dailyLossLimit, negative, 'negative, e.g. "-500"'),
    maxDrawdown: r.decimal('maxDrawdown', d.maxDrawdown, negative, 'negative, e.g. "-1000"'),
    maxConsecutiveLosses: r.integer('maxConsecutiveLosses', d.maxConsecutiveLosses, 1, BIG_COUNT),
    maxAccountLeverage: r.decimal('maxAccountLeverage', d.maxAccountLeverage, positive, '> 0'),
  };
  r.rejectUnknown();
  return Object.freeze(out);
}

function readVenueLimits(r: FieldReader, base: VenueLimits): VenueLimits {
  const out: VenueLimits = {
    ordersPerSecond: r.integer('ordersPerSecond', base.ordersPerSecond, 1, BIG_COUNT),
    ordersPerMinute: r.integer('ordersPerMinute', base.ordersPerMinute, 1, BIG_COUNT),
    reduceOnlyMinNotionalExempt: r.boolean('reduceOnlyMinNotionalExempt', base.reduceOnlyMinNotionalExempt),
  };
  r.rejectUnknown();
  if (out.ordersPerMinute < out.ordersPerSecond) {
    r.issue(
      'ordersPerMinute',
      `must be >= ordersPerSecond (${out.ordersPerSecond}), got ${out.ordersPerMinute}`,
    );
  }
  return Object.freeze(out);
}

/**
 * Parses and validates one stage's risk limits (an object, or its JSON text). Throws a
 * RiskLimitsError listing every bad field by path; never returns partially valid limits.
 */
export function parseRiskLimits(json: unknown): RiskLimits {
  const issues: RiskLimitsIssue[] = [];
  let doc: unknown = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json);
    } catch (err) {
      throw new RiskLimitsError([{ field: '(document)', message: `not JSON: ${(err as Error).message}` }]);
    }
  }
  if (!isObject(doc)) {
    throw new RiskLimitsError([
      { field: '(document)', message: `expected an object, got ${JSON.stringify(doc)}` },
    ]);
  }
  for (const k of Object.keys(doc)) {
    if (!SECTIONS.includes(k)) issues.push({ field: k, message: 'unknown field' });
  }

  const account = readAccountLimits(
    new FieldReader(section(doc, 'account', 'account', issues), 'account', issues),
  );
  const defaults = readSymbolLimits(
    new FieldReader(section(doc, 'defaults', 'defaults', issues), 'defaults', issues),
    DEFAULT_SYMBOL_LIMITS,
  );

  const symbols = new Map<VenueId, Map<string, SymbolLimits>>();
  const rawSymbols = section(doc, 'symbols', 'symbols', issues);
  for (const venue of Object.keys(rawSymbols)) {
    const vpath = `symbols.${venue}`;
    if (!isVenueId(venue)) {
      issues.push({ field: vpath, message: `unknown venue (expected one of ${VENUES.join(', ')})` });
      continue;
    }
    const rawVenue = section(rawSymbols, venue, vpath, issues);
    const map = new Map<string, SymbolLimits>();
    for (const symbol of Object.keys(rawVenue)) {
      const spath = `${vpath}.${symbol}`;
      const key = symbol.toUpperCase();
      if (symbol.trim() === '') {
        issues.push({ field: spath, message: 'empty symbol' });
        continue;
      }
      if (map.has(key)) {
        issues.push({
          field: spath,
          message: `duplicate of another key for ${key} (symbols are case-insensitive)`,
        });
        continue;
      }
      map.set(
        key,
        readSymbolLimits(new FieldReader(section(rawVenue, symbol, spath, issues), spath, issues), defaults),
      );
    }
    symbols.set(venue, map);
  }

  const venues = {} as Record<VenueId, VenueLimits>;
  const rawVenues = section(doc, 'venues', 'venues', issues);
  for (const venue of Object.keys(rawVenues)) {
    if (!isVenueId(venue)) {
      issues.push({
        field: `venues.${venue}`,
        message: `unknown venue (expected one of ${VENUES.join(', ')})`,
      });
    }
  }
  for (const venue of VENUES) {
    const vpath = `venues.${venue}`;
    venues[venue] = readVenueLimits(
      new FieldReader(section(rawVenues, venue, vpath, issues), vpath, issues),
      defaultVenueLimits(venue),
    );
  }

  if (issues.length > 0) throw new RiskLimitsError(issues);
  return Object.freeze({ account, defaults, symbols, venues: Object.freeze(venues) });
}

/** The built-in limits (what an empty document parses to). */
export const DEFAULT_RISK_LIMITS: RiskLimits = parseRiskLimits({});
