/**
 * The engine's configuration file: capital, order sizing, and the strategy and risk documents
 * (each validated by its own parser, which names the bad field).
 *
 *   {
 *     "capital": "10000",
 *     "orderNotional": "1000",                 // quote currency per entry, per symbol overridable
 *     "symbols": { "BTCUSDT": { "orderNotional": "500" } },
 *     "strategy": { ... lib/strategy/config.ts ... },
 *     "risk": { ... lib/risk/limits.ts ... },
 *     "protectiveStop": { "enabled": true, "fallbackBps": 10, "stopLimitBandBps": 50 },
 *     "entry": { "timeInForce": "IOC", "ttlMs": 2000 }
 *   }
 *
 * protectiveStop (lib/engine/protective-stops.ts): a stop order resting at the venue guards every
 * open position at the strategy's stop level, so a dead engine does not leave it unguarded.
 * `fallbackBps`: how far past the stop's trigger the market may go before the engine stops
 * waiting for the venue's stop and exits itself. `stopLimitBandBps`: on a venue without
 * stop-market orders, how far past the trigger the stop-limit's limit sits.
 *
 * entry: "IOC" (default) takes liquidity with a marketable limit, whatever is not filled at once
 * expires; "POST_ONLY" joins the near touch as a maker and is cancelled after `ttlMs` (the order
 * TTL: every order the engine has resting, other than protective stops, is cancelled at its TTL).
 */
import { DataError } from '#core/errors.ts';
import { Money, money } from '#core/money.ts';
import type { RiskLimits } from '#risk/limits.ts';
import { parseRiskLimits } from '#risk/limits.ts';
import type { StrategyConfig } from '#strategy/config.ts';
import { parseStrategyConfig } from '#strategy/config.ts';

export interface EngineConfig {
  readonly capital: Money;
  readonly orderNotional: Money;
  readonly orderNotionalBySymbol: ReadonlyMap<string, Money>;
  readonly strategy: StrategyConfig;
  readonly risk: RiskLimits;
  readonly protectiveStop: ProtectiveStopConfig;
  readonly entry: EntryConfig;
}

export interface ProtectiveStopConfig {
  readonly enabled: boolean;
  readonly fallbackBps: number;
  readonly stopLimitBandBps: number;
}

export interface EntryConfig {
  readonly timeInForce: 'IOC' | 'POST_ONLY';
  /** Resting orders (other than protective stops) are cancelled this long after they were sent. */
  readonly ttlMs: number;
}

export const DEFAULT_PROTECTIVE_STOP: ProtectiveStopConfig = {
  enabled: true,
  fallbackBps: 10,
  stopLimitBandBps: 50,
};
export const DEFAULT_ENTRY: EntryConfig = { timeInForce: 'IOC', ttlMs: 2000 };

const KEYS = new Set(['capital', 'orderNotional', 'symbols', 'strategy', 'risk', 'protectiveStop', 'entry']);

/** A JSON object section with only the given keys (clear errors naming the field). */
function section(v: unknown, name: string, keys: readonly string[]): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new DataError('BAD_CONFIG', `${name} must be an object`);
  for (const k of Object.keys(v))
    if (!keys.includes(k))
      throw new DataError('BAD_CONFIG', `unknown field "${name}.${k}" (expected one of ${keys.join(', ')})`);
  return v as Record<string, unknown>;
}

function intIn(v: unknown, field: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new DataError(
      'BAD_CONFIG',
      `${field} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`,
    );
  return v;
}

function parseProtectiveStop(v: unknown): ProtectiveStopConfig {
  const o = section(v, 'protectiveStop', ['enabled', 'fallbackBps', 'stopLimitBandBps']);
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean')
    throw new DataError(
      'BAD_CONFIG',
      `protectiveStop.enabled must be true or false, got ${JSON.stringify(o.enabled)}`,
    );
  const d = DEFAULT_PROTECTIVE_STOP;
  return {
    enabled: o.enabled ?? d.enabled,
    fallbackBps: intIn(o.fallbackBps, 'protectiveStop.fallbackBps', d.fallbackBps, 0, 1000),
    stopLimitBandBps: intIn(
      o.stopLimitBandBps,
      'protectiveStop.stopLimitBandBps',
      d.stopLimitBandBps,
      1,
      1000,
    ),
  };
}

function parseEntry(v: unknown): EntryConfig {
  const o = section(v, 'entry', ['timeInForce', 'ttlMs']);
  if (o.timeInForce !== undefined && o.timeInForce !== 'IOC' && o.timeInForce !== 'POST_ONLY')
    throw new DataError(
      'BAD_CONFIG',
      `entry.timeInForce must be "IOC" or "POST_ONLY", got ${JSON.stringify(o.timeInForce)}`,
    );
  return {
    timeInForce: o.timeInForce ?? DEFAULT_ENTRY.timeInForce,
    ttlMs: intIn(o.ttlMs, 'entry.ttlMs', DEFAULT_ENTRY.ttlMs, 100, 86_400_000),
  };
}

function positiveMoney(v: unknown, field: string, fallback: string): Money {
  if (v === undefined) return new Money(fallback);
  if (typeof v !== 'string')
    throw new DataError(
      'BAD_CONFIG',
      `${field} must be a decimal string like "1000", got ${JSON.stringify(v)}`,
    );
  let m: Money;
  try {
    m = money(v);
  } catch {
    throw new DataError(
      'BAD_CONFIG',
      `${field} must be a decimal string like "1000", got ${JSON.stringify(v)}`,
    );
  }
  if (!m.gt(0)) throw new DataError('BAD_CONFIG', `${field} must be > 0, got ${v}`);
  return m;
}

export function parseEngineConfig(json: unknown): EngineConfig {
  const root = (json ?? {}) as Record<string, unknown>;
  if (typeof root !== 'object' || Array.isArray(root))
    throw new DataError('BAD_CONFIG', 'the config must be a JSON object');
  for (const k of Object.keys(root)) {
    if (!KEYS.has(k))
      throw new DataError(
        'BAD_CONFIG',
        `unknown config field "${k}" (expected one of ${[...KEYS].join(', ')})`,
      );
  }
  const bySymbol = new Map<string, Money>();
  const symbols = root.symbols ?? {};
  if (typeof symbols !== 'object' || symbols === null || Array.isArray(symbols)) {
    throw new DataError('BAD_CONFIG', 'symbols must be an object of per-symbol settings');
  }
  for (const [sym, v] of Object.entries(symbols as Record<string, unknown>)) {
    const o = (v ?? {}) as Record<string, unknown>;
    bySymbol.set(sym.toUpperCase(), positiveMoney(o.orderNotional, `symbols.${sym}.orderNotional`, '1000'));
  }
  return {
    capital: positiveMoney(root.capital, 'capital', '10000'),
    orderNotional: positiveMoney(root.orderNotional, 'orderNotional', '1000'),
    orderNotionalBySymbol: bySymbol,
    strategy: parseStrategyConfig(root.strategy ?? {}),
    risk: parseRiskLimits(root.risk ?? {}),
    protectiveStop: parseProtectiveStop(root.protectiveStop),
    entry: parseEntry(root.entry),
  };
}
