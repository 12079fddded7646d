/**
 * A chaos run: the real market-data clients of every venue against the simulator over real
 * sockets, while faults land at random (drops, silent stalls, skipped / duplicated / reordered
 * sequence numbers, corrupted checksums, refused handshakes). Used by the integration test (which
 * checks correctness) and by `npm run bench:reconnect` (which reports recovery times).
 */
import type { L2Book } from '#core/book.ts';
import { fromSteps } from '#core/grid.ts';
import type { BookGrids } from '#venues/book-feed.ts';
import type { VenueId } from '#core/instrument.ts';
import { VENUES } from '#core/instrument.ts';
import { MarketDataClient } from '#venues/market-data.ts';
import type { MarketEvent } from '#venues/market-data.ts';
import { ExchangeSimulator } from './exchange-sim.ts';
import { mulberry } from './rng.ts';

export type ChaosFault =
  'drop' | 'stall' | 'skip' | 'duplicate' | 'reorder' | 'corrupt-checksum' | 'reject-429';

export interface ChaosOptions {
  readonly faults: number;
  readonly seed?: number;
  readonly venues?: readonly VenueId[];
  /** Mean time between faults (ms). */
  readonly faultEveryMs?: number;
  /** Market step cadence of the simulator (ms). */
  readonly intervalMs?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface Recovery {
  readonly venue: VenueId;
  readonly fault: ChaosFault;
  /** Fault → book SYNCED again, in ms (connection-level faults only). */
  readonly ms: number;
}

export interface ChaosResult {
  readonly injected: Record<ChaosFault, number>;
  /** Time from each connection fault until the venue's book was SYNCED again. */
  readonly recoveries: Recovery[];
  /** onBook emissions while a book was not SYNCED or was crossed: must be zero. */
  readonly violations: string[];
  /** Books that did not converge to the simulator's truth at the end (must be empty). */
  readonly mismatches: string[];
  readonly resyncs: number;
  readonly reconnects: number;
  /** Book updates handed on, per venue. */
  readonly emitted: Record<string, number>;
}

const CONNECTION_FAULTS: readonly ChaosFault[] = ['drop', 'stall', 'reject-429'];

function faultsFor(venue: VenueId): ChaosFault[] {
  const f: ChaosFault[] = ['drop', 'stall', 'skip', 'duplicate', 'reorder', 'reject-429'];
  if (venue === 'kraken-spot') f.push('corrupt-checksum');
  return f;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The top `n` levels of a book as the venue's decimal text (books may count in different units). */
export function topText(book: L2Book, grids: BookGrids | null, n: number): string {
  if (!grids) return '(no grids)';
  const side = (s: L2Book['bids']) =>
    s
      .top(n)
      .map(([p, q]) => `${fromSteps(p, grids.price)}:${fromSteps(q, grids.qty)}`)
      .join(' ');
  return `${side(book.bids)} | ${side(book.asks)}`;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const venues = opts.venues ?? VENUES;
  const rand = mulberry(opts.seed ?? 1);
  const sim = new ExchangeSimulator({ intervalMs: opts.intervalMs ?? 25, seed: opts.seed ?? 1 });
  await sim.start();
  const violations: string[] = [];
  const emitted: Record<string, number> = {};
  let resyncs = 0;
  let reconnects = 0;
  const clients = new Map<VenueId, MarketDataClient>();
  for (const venue of venues) {
    const symbols = sim.symbols(venue).map((s) => s.symbol);
    const client = new MarketDataClient({
      venue,
      symbols,
      endpoints: sim.baseUrl(venue),
      staleAfterMs: 5_000,
      resyncTimeoutMs: 1_500,
      backoff: { baseMs: 20, capMs: 250 },
      protocol: { silentLimitMs: 400, pingIntervalMs: 100 },
      onBook: (book) => {
        emitted[venue] = (emitted[venue] ?? 0) + 1;
        if (book.state !== 'SYNCED') violations.push(`${venue} ${book.symbol} emitted while ${book.state}`);
        if (book.isCrossed()) violations.push(`${venue} ${book.symbol} emitted crossed`);
      },
      onEvent: (e: MarketEvent) => {
        if (e.type === 'resync') resyncs++;
        if (e.type === 'connection' && e.event.type === 'open') reconnects++;
      },
    });
    clients.set(venue, client);
    await client.start();
  }
  const allSynced = (venue: VenueId) =>
    [...(clients.get(venue)?.books().values() ?? [])].every((b) => b.state === 'SYNCED');
  const waitSynced = async (venue: VenueId, timeoutMs: number) => {
    const start = performance.now();
    while (!allSynced(venue)) {
      if (performance.now() - start > timeoutMs) return NaN;
      await sleep(5);
    }
    return performance.now() - start;
  };
  for (const v of venues) await waitSynced(v, 10_000);

  const injected = Object.fromEntries(
    ['drop', 'stall', 'skip', 'duplicate', 'reorder', 'corrupt-checksum', 'reject-429'].map((f) => [f, 0]),
  ) as Record<ChaosFault, number>;
  const recoveries: Recovery[] = [];
  const pending: Array<Promise<void>> = [];
  const every = opts.faultEveryMs ?? 120;
  for (let i = 0; i < opts.faults; i++) {
    const venue = venues[Math.floor(rand() * venues.length)] as VenueId;
    const choices = faultsFor(venue);
    const fault = choices[Math.floor(rand() * choices.length)] as ChaosFault;
    const symbol = sim.symbols(venue)[0]?.symbol as string;
    injected[fault]++;
    const t0 = performance.now();
    switch (fault) {
      case 'drop':
        sim.dropConnections(venue);
        break;
      case 'stall':
        sim.faults.stall(venue, 600 + rand() * 600, Date.now());
        break;
      case 'reject-429':
        sim.faults.rejectHandshake(venue, { status: 429, retryAfterSec: 1 });
        sim.dropConnections(venue);
        break;
      default:
        sim.faults.bookEvent(venue, symbol, fault);
    }
    if (CONNECTION_FAULTS.includes(fault)) {
      pending.push(
        (async () => {
          // Recovery = the book went down and came back: wait for it to leave SYNCED first.
          const down = performance.now();
          while (allSynced(venue) && performance.now() - down < 1500) await sleep(2);
          const back = await waitSynced(venue, 15_000);
          if (!Number.isNaN(back)) recoveries.push({ venue, fault, ms: performance.now() - t0 });
        })(),
      );
    }
    opts.onProgress?.(i + 1, opts.faults);
    await sleep(every * (0.5 + rand()));
  }
  await Promise.all(pending);
  sim.faults.clear();
  for (const v of venues) await waitSynced(v, 15_000);

  // Freeze the market and check every client converged to the simulator's truth.
  sim.pause();
  const mismatches: string[] = [];
  for (const venue of venues) {
    const client = clients.get(venue) as MarketDataClient;
    for (const [symbol, view] of client.feed.symbols()) {
      const book = view.book;
      const truth = sim.truth(venue, symbol);
      const sym = sim.symbols(venue).find((s) => s.symbol === symbol);
      const truthGrids = sym ? { price: sym.price, qty: sym.qty } : null;
      const start = performance.now();
      let ok = false;
      while (performance.now() - start < 3000) {
        if (book.state === 'SYNCED' && topText(book, view.grids, 10) === topText(truth, truthGrids, 10)) {
          ok = true;
          break;
        }
        await sleep(10);
      }
      if (!ok) {
        const got = topText(book, view.grids, 3);
        mismatches.push(`${venue} ${symbol}: ${book.state} ${got} vs truth ${topText(truth, truthGrids, 3)}`);
      }
    }
  }
  for (const c of clients.values()) await c.stop();
  await sim.stop();
  return { injected, recoveries, violations, mismatches, resyncs, reconnects, emitted };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
