import { UsageError } from './args.ts';

/** "90", "90s", "5m", "2h", "1d", "250ms" → milliseconds. */
export function parseDuration(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m)
    throw new UsageError(`--${name} must be a duration like 30s, 5m or 2h, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's'] as number;
  const ms = Math.round(Number(m[1]) * unit);
  if (ms <= 0) throw new UsageError(`--${name} must be positive`);
  return ms;
}
