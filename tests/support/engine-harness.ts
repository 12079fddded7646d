/**
 * What the engine integration tests (the engine on real adapters against the simulator) share:
 * cleanups, waiting with a message that says what was awaited, and the market-data client the
 * engine is given.
 */
import type { VenueId } from '#core/instrument.ts';
import type { EngineOptions } from '#engine/engine.ts';
import { MarketDataClient } from '#venues/market-data.ts';

export { cleanupsAfterEach, sleep } from './trading-harness.ts';

/** Waits until `cond` holds; after `timeoutMs` throws, naming `what` (and `detail()`, if given). */
export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
  detail?: () => string,
): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The engine's market-data factory for one venue's symbols at the simulator's endpoints. */
export function marketData(
  venue: VenueId,
  symbols: readonly string[],
  endpoints: { rest: string; ws: string },
): EngineOptions['market'] {
  return (hooks) =>
    new MarketDataClient({
      venue,
      symbols,
      endpoints,
      onBook: hooks.onBook,
      onReceive: hooks.onReceive,
    });
}
