/**
 * What the trading integration tests (tests/integration/*-trading.test.ts) share: a simulator started
 * and stopped per test, client order ids and intents, waiting, the event queries, and the helpers
 * that collect every text a client could leak a secret through.
 */
import { inspect } from 'node:util';
import { afterEach } from 'vitest';
import { L2Book } from '#core/book.ts';
import { SIM_API_KEY, SIM_API_SECRET } from '#sim/binance-trading.ts';
import { buildSignedQuery } from '#venues/binance/signing.ts';
import { encodeClientOrderId } from '#core/client-order-id.ts';
import type { OrderIntent, OrderSide, TimeInForce } from '#core/trading.ts';
import type { UserEvent } from '#venues/trading.ts';
import type { SimOptions } from '#sim/exchange-sim.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Cleanups run after each test, newest first. */
export function cleanupsAfterEach(): Array<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/** Waits until `cond` holds, or throws after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 3000, stepMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/** A source of new deterministic client order ids of one shard and epoch. */
export function clientIds(shard: number, epoch: number): () => string {
  let seq = 0;
  return () => encodeClientOrderId({ shard, epoch, seq: ++seq });
}

/** A manual order intent created now. */
export function manualIntent(o: {
  clientOrderId: string;
  venue: OrderIntent['venue'];
  symbol: string;
  side: OrderSide;
  type: 'market' | 'limit';
  qtyLots: number;
  priceTicks: number | undefined;
  timeInForce: TimeInForce;
  reduceOnly?: boolean;
}): OrderIntent {
  return {
    clientOrderId: o.clientOrderId,
    venue: o.venue,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    priceTicks: o.priceTicks,
    qtyLots: o.qtyLots,
    reduceOnly: o.reduceOnly ?? false,
    purpose: 'manual',
    createdTs: Date.now(),
  };
}

/** Starts a simulator (50 ms steps) that is stopped after the test. */
export async function startSim(
  cleanups: Array<() => Promise<void>>,
  opts: SimOptions,
): Promise<ExchangeSimulator> {
  const sim = new ExchangeSimulator({ intervalMs: 50, ...opts });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

/** The fills and the order statuses the client reported for one client order id. */
export function eventQueries(events: readonly UserEvent[]) {
  const fillsOf = (id: string) =>
    events.flatMap((e) => (e.type === 'fill' && e.fill.clientOrderId === id ? [e.fill] : []));
  const statusesOf = (id: string) =>
    events.flatMap((e) => (e.type === 'order' && e.state.clientOrderId === id ? [e.state.status] : []));
  return { fillsOf, statusesOf };
}

/** A passive price `away` ticks behind the touch. */
export function passivePrice(
  book: { bestBid(): number; bestAsk(): number },
  side: OrderSide,
  away: number,
): number {
  return side === 'buy' ? book.bestBid() - away : book.bestAsk() + away;
}

/** The error a call must fail with (an Error saying so when it succeeds). */
export function rejectionOf(call: () => Promise<unknown>): Promise<Error> {
  return call().then(
    () => new Error('expected a rejection'),
    (e: unknown) => e as Error,
  );
}

/** Every text of an error a secret could leak through. */
export function errorTexts(err: Error): string[] {
  return [err.message, String(err.stack), inspect(err, { depth: 10 })];
}

/** Every text of a client's events, diagnostics and state a secret could leak through. */
export function clientTexts(events: unknown, diagnostics: unknown, client: unknown): string[] {
  return [JSON.stringify(events), JSON.stringify(diagnostics), inspect(client, { depth: 10 })];
}

/**
 * A copy of a book moved `down` ticks (every level of both sides). Stepped into a simulator's
 * trading module while its market is paused, it moves the market through resting stops.
 */
export function shiftedBook(book: L2Book, down: number): L2Book {
  const out = new L2Book(book.symbol);
  for (const [price, qty] of book.bids.top(book.bids.depth)) out.set('bid', price - down, Number(qty));
  for (const [price, qty] of book.asks.top(book.asks.depth)) out.set('ask', price - down, Number(qty));
  return out;
}

/** A signed REST call to a Binance simulator (USD-M or Binance.US), as a raw client would make it. */
export async function rawBinanceRest(
  sim: ExchangeSimulator,
  venue: 'binance-futures' | 'binance-us',
  method: string,
  path: string,
  params: Array<[string, string]>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const q = buildSignedQuery(params, SIM_API_SECRET, { timestamp: Date.now() });
  const res = await fetch(`${sim.baseUrl(venue).rest}${path}?${q}`, {
    method,
    headers: { 'X-MBX-APIKEY': SIM_API_KEY },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
