/**
 * Cancel-all, sparing some orders: what a kill does while protective stops must keep guarding
 * positions it cannot (yet) close. Through the venue port only, so the engine and the kill λ share
 * it.
 */
import type { VenueOrderState, VenueTrading } from './trading.ts';

/**
 * Cancels every open order of ours at the venue (of `symbol`, or all) except those in `keep`: one
 * by one, then lists again (an order placed meanwhile, a cancel refused because the order had just
 * ended) and sweeps once more; an order still open after that is a failure (thrown). With nothing
 * to keep, or when the venue cannot list its open orders (a key without read access), it is the
 * venue's own cancel-all: losing the stops is better than cancelling nothing.
 */
export async function cancelAllBut(
  t: VenueTrading,
  keep: ReadonlySet<string>,
  symbol?: string,
): Promise<{ cancelled: number; kept: number }> {
  if (keep.size === 0) return { cancelled: await t.cancelAll(symbol), kept: 0 };
  let listed: VenueOrderState[];
  try {
    listed = await t.openOrders(symbol);
  } catch {
    return { cancelled: await t.cancelAll(symbol), kept: 0 };
  }
  let cancelled = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (const o of listed) {
      if (keep.has(o.clientOrderId)) continue;
      const r = await t.cancel(o.symbol, o.clientOrderId);
      if (r.kind === 'ok') cancelled++;
    }
    listed = await t.openOrders(symbol);
  }
  const left = listed.filter((o) => !keep.has(o.clientOrderId));
  if (left.length > 0)
    throw new Error(`still open after cancelling: ${left.map((o) => o.clientOrderId).join(', ')}`);
  return { cancelled, kept: listed.length };
}
