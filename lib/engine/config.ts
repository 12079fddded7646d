/**
 * The engine's configuration file: capital, order sizing, and the strategy and risk documents
 * (each validated by its own parser, which names the bad field).
 *
 *   {
 *     "capital": "10000",
 *     "orderNotional": "1000",                 // quote currency per entry, per symbol overridable
 *     "symbols": { "BTCUSDT": { "orderNotional": "500" } },
 *     "strategy": { ... lib/strategy/config.ts ... },
 *     "risk": { ... lib/risk/limits.ts ... }
 *   }
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
}

const KEYS = new Set(['capital', 'orderNotional', 'symbols', 'strategy', 'risk']);

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
  };
}
