/**
 * Strategy parameters, per symbol, from a config file:
 *
 *     {
 *       "defaults": { "buyThreshold": 3.0, "sellThreshold": 0.33, "profitTargetPct": "0.20",
 *                     "stopLossPct": "0.15", "timeStopSeconds": 60, "levels": 5 },
 *       "symbols": { "binance-futures:BTCUSDT": { "buyThreshold": 4 },
 *                    "kraken-spot:XBT/USD": { "levels": 10 } }
 *     }
 *
 * Every field is optional: `defaults` overrides the built-in defaults (DEFAULT_IMBALANCE_PARAMS),
 * each symbol's entry overrides `defaults`, and the merged result is what gets validated, so a
 * symbol that lowers buyThreshold to 0.9 is caught even though each file entry is a valid number.
 * Symbols are keyed "venue:symbol" (the venue's own symbol; case does not matter). Unknown fields
 * are errors (a misspelt "buyTreshold" must not silently run with the default).
 *
 * Thresholds are float ratios (a signal, not money). Target and stop are percentages written as
 * decimal strings ("0.20" = 0.20 %), because they become exact price levels (see imbalance.ts).
 */
import { DataError } from '#core/errors.ts';
import { isVenueId } from '#core/instrument.ts';
import type { VenueId } from '#core/instrument.ts';
import { Money } from '#core/money.ts';

export interface ImbalanceParams {
  /** Enter long when top-N bid volume / top-N ask volume is strictly above this (> 1). */
  readonly buyThreshold: number;
  /** Enter short (or close a long) when the ratio is strictly below this (0 < x < 1). */
  readonly sellThreshold: number;
  /** Profit target in percent of the entry price, decimal text: "0.20" = +0.20 %. */
  readonly profitTargetPct: string;
  /** Stop loss in percent of the entry price, decimal text: "0.15" = −0.15 %. */
  readonly stopLossPct: string;
  /** Exit a position held this long (seconds, > 0). */
  readonly timeStopSeconds: number;
  /** Book levels per side summed for the ratio (1..50). */
  readonly levels: number;
}

export const DEFAULT_IMBALANCE_PARAMS: ImbalanceParams = Object.freeze({
  buyThreshold: 3.0,
  sellThreshold: 0.33,
  profitTargetPct: '0.20',
  stopLossPct: '0.15',
  timeStopSeconds: 60,
  levels: 5,
});

export const MAX_LEVELS = 50;

export interface StrategyConfig {
  /** Built-in defaults with the file's `defaults` applied. */
  readonly defaults: ImbalanceParams;
  /** Merged parameters of each configured symbol, keyed by `symbolKey(venue, symbol)`. */
  readonly symbols: ReadonlyMap<string, ImbalanceParams>;
}

/** A config error; `issues` lists every problem found, each naming the field. */
export class StrategyConfigError extends DataError {
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super('BAD_STRATEGY_CONFIG', `strategy config: ${issues.join('; ')}`);
    this.name = 'StrategyConfigError';
    this.issues = issues;
  }
}

export function symbolKey(venue: VenueId, symbol: string): string {
  return `${venue}:${symbol.toUpperCase()}`;
}

/** The parameters for one symbol: its override if configured, else the defaults. */
export function paramsFor(config: StrategyConfig, venue: VenueId, symbol: string): ImbalanceParams {
  return config.symbols.get(symbolKey(venue, symbol)) ?? config.defaults;
}

const FIELDS = new Set<keyof ImbalanceParams>([
  'buyThreshold',
  'sellThreshold',
  'profitTargetPct',
  'stopLossPct',
  'timeStopSeconds',
  'levels',
]);
const PERCENT_TEXT = /^\d+(\.\d+)?$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Checks one partial parameter object; returns the fields that passed their own checks. */
function readPartial(raw: unknown, path: string, issues: string[]): Partial<ImbalanceParams> {
  if (!isRecord(raw)) {
    issues.push(`${path}: must be an object`);
    return {};
  }
  const out: { -readonly [K in keyof ImbalanceParams]?: ImbalanceParams[K] } = {};
  for (const [key, v] of Object.entries(raw)) {
    const at = `${path}.${key}`;
    if (!FIELDS.has(key as keyof ImbalanceParams)) {
      issues.push(`${at}: unknown field (expected one of ${[...FIELDS].join(', ')})`);
      continue;
    }
    switch (key as keyof ImbalanceParams) {
      case 'buyThreshold':
      case 'sellThreshold':
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
          issues.push(`${at}: must be a number > 0 (got ${show(v)})`);
        } else out[key as 'buyThreshold' | 'sellThreshold'] = v;
        break;
      case 'profitTargetPct':
      case 'stopLossPct':
        if (typeof v !== 'string' || !PERCENT_TEXT.test(v)) {
          issues.push(`${at}: must be a percentage as decimal text, e.g. "0.20" for 0.20 % (got ${show(v)})`);
        } else if (new Money(v).lte(0) || new Money(v).gte(100)) {
          issues.push(`${at}: must be > 0 and < 100 percent (got ${show(v)})`);
        } else out[key as 'profitTargetPct' | 'stopLossPct'] = v;
        break;
      case 'timeStopSeconds':
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
          issues.push(`${at}: must be a number of seconds > 0 (got ${show(v)})`);
        } else out.timeStopSeconds = v;
        break;
      case 'levels':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LEVELS) {
          issues.push(`${at}: must be an integer in 1..${MAX_LEVELS} (got ${show(v)})`);
        } else out.levels = v;
        break;
    }
  }
  return out;
}

/** The cross-field rule, on merged parameters: buyThreshold > 1 > sellThreshold. */
function checkMerged(p: ImbalanceParams, path: string, issues: string[]): void {
  if (!(p.buyThreshold > 1)) issues.push(`${path}.buyThreshold: must be > 1 (got ${p.buyThreshold})`);
  if (!(p.sellThreshold < 1)) issues.push(`${path}.sellThreshold: must be < 1 (got ${p.sellThreshold})`);
}

/**
 * Parses and validates a strategy config (JSON text or an already-parsed value). Throws one
 * StrategyConfigError listing every problem, each naming its field.
 */
export function parseStrategyConfig(json: unknown): StrategyConfig {
  let root: unknown = json;
  if (typeof json === 'string') {
    try {
      root = JSON.parse(json);
    } catch (err) {
      throw new StrategyConfigError([`not valid JSON: ${(err as Error).message}`]);
    }
  }
  const issues: string[] = [];
  if (!isRecord(root)) throw new StrategyConfigError(['the config must be a JSON object']);
  for (const key of Object.keys(root)) {
    if (key !== 'defaults' && key !== 'symbols')
      issues.push(`${key}: unknown field (expected defaults, symbols)`);
  }
  const fileDefaults = root.defaults === undefined ? {} : readPartial(root.defaults, 'defaults', issues);
  const defaults: ImbalanceParams = Object.freeze({ ...DEFAULT_IMBALANCE_PARAMS, ...fileDefaults });
  const before = issues.length;
  checkMerged(defaults, 'defaults', issues);
  const defaultsOk = issues.length === before;

  const symbols = new Map<string, ImbalanceParams>();
  if (root.symbols !== undefined) {
    if (!isRecord(root.symbols)) {
      issues.push('symbols: must be an object keyed "venue:symbol"');
    } else {
      for (const [name, raw] of Object.entries(root.symbols)) {
        const path = `symbols[${JSON.stringify(name)}]`;
        const colon = name.indexOf(':');
        const venue = colon < 0 ? '' : name.slice(0, colon);
        const symbol = colon < 0 ? '' : name.slice(colon + 1);
        if (!isVenueId(venue) || symbol === '') {
          issues.push(`${path}: key must be "venue:symbol" with venue one of the known venues`);
          continue;
        }
        const key = symbolKey(venue, symbol);
        if (symbols.has(key)) {
          issues.push(`${path}: configured twice (symbols are compared without case)`);
          continue;
        }
        const own = readPartial(raw, path, issues);
        const merged: ImbalanceParams = Object.freeze({ ...defaults, ...own });
        // Broken defaults are reported once, not again for every symbol that inherits them.
        if (defaultsOk || own.buyThreshold !== undefined || own.sellThreshold !== undefined) {
          checkMerged(merged, path, issues);
        }
        symbols.set(key, merged);
      }
    }
  }
  if (issues.length > 0) throw new StrategyConfigError(issues);
  return { defaults, symbols };
}
