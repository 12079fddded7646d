/**
 * Binance diff-depth book sync, per the venues' published "manage a local order book" procedures.
 *
 * USD-M futures (rules 'futures'):
 *   buffer events → REST snapshot (lastUpdateId L) → drop u < L → the first applied event must
 *   have U <= L <= u → every later event must have pu == previous u; otherwise resync.
 * Binance.US spot (rules 'spot'):
 *   drop u <= L → the first applied event must have U <= L+1 <= u → every later event must have
 *   U == previous u + 1; otherwise resync.
 *
 * Futures update ids are not contiguous (U is never previous u + 1 in real data): only `pu`
 * carries continuity there. A resync of one symbol touches only that symbol.
 */
import { L2Book } from '#core/book.ts';
import { DataError } from '#core/errors.ts';
import { toSteps, toStepsExact } from '#core/grid.ts';
import type { BookSide } from '#core/book.ts';
import type { BookGrids, SyncHooks, SyncStats, SymbolBookView } from '../book-feed.ts';
import { newStats } from '../book-feed.ts';
import type { LevelBuffer } from './depth-decoder.ts';
import { DepthEvent } from './depth-decoder.ts';

export type BinanceRules = 'futures' | 'spot';

/** A `depthUpdate` event as the venue sends it (prices and quantities as text). */
export interface DepthUpdate {
  readonly E: number;
  readonly U: number;
  readonly u: number;
  /** Futures only: the final update id of the previous event. */
  readonly pu?: number;
  readonly b: ReadonlyArray<readonly [string, string]>;
  readonly a: ReadonlyArray<readonly [string, string]>;
}

/** A REST depth snapshot (`/fapi/v1/depth`, `/api/v3/depth`). */
export interface DepthSnapshot {
  readonly lastUpdateId: number;
  readonly E?: number;
  readonly bids: ReadonlyArray<readonly [string, string]>;
  readonly asks: ReadonlyArray<readonly [string, string]>;
}

type Phase = 'AWAIT_SNAPSHOT' | 'AWAIT_FIRST' | 'LIVE';

/** Events kept while waiting for a snapshot; beyond this the oldest are dropped. */
const MAX_BUFFER = 10_000;

interface Buffered {
  /** As JSON.parse made it, or as the text decoder made it (an owned copy, never the reusable one). */
  readonly ev: DepthUpdate | DepthEvent;
  readonly recvTs: number;
}

export class BinanceDepthSync implements SymbolBookView {
  readonly book: L2Book;
  readonly stats: SyncStats = newStats();
  readonly rules: BinanceRules;
  private _grids: BookGrids | null;
  private readonly resolveGrids: (sample: { price: string; qty: string } | undefined) => BookGrids;
  private readonly hooks: SyncHooks;
  private phase: Phase = 'AWAIT_SNAPSHOT';
  private buffer: Buffered[] = [];
  private snapshotId = 0;
  private prevU = 0;
  /** A snapshot has been asked for since the book was last reset. */
  private requested = false;

  constructor(
    symbol: string,
    rules: BinanceRules,
    resolveGrids: (sample: { price: string; qty: string } | undefined) => BookGrids,
    hooks: SyncHooks,
  ) {
    this.book = new L2Book(symbol);
    this.rules = rules;
    this.resolveGrids = resolveGrids;
    this.hooks = hooks;
    this._grids = null;
  }

  get grids(): BookGrids | null {
    return this._grids;
  }

  /** Whether the sync is waiting for a REST snapshot. */
  get awaitingSnapshot(): boolean {
    return this.phase === 'AWAIT_SNAPSHOT';
  }

  onDiff(ev: DepthUpdate, recvTs: number): void {
    this.stats.messages++;
    if (this.phase === 'AWAIT_SNAPSHOT') {
      this.hold(ev, recvTs);
      return;
    }
    this.process(ev, recvTs);
  }

  /**
   * The same as `onDiff`, for an event the text decoder made (depth-decoder.ts): same rules, same
   * counters, same hooks. The event may be the decoder's reusable one: whatever is kept is copied.
   */
  onDecoded(ev: DepthEvent, recvTs: number): void {
    this.stats.messages++;
    if (this.phase === 'AWAIT_SNAPSHOT') {
      this.hold(ev.reusable ? ev.copy() : ev, recvTs);
      return;
    }
    this.processDecoded(ev, recvTs);
  }

  private hold(ev: DepthUpdate | DepthEvent, recvTs: number): void {
    if (!this.requested) {
      // Events are flowing and buffered: now a snapshot can be bracketed by them.
      this.requested = true;
      this.hooks.requestResync(this.book.symbol, 'initial snapshot');
    }
    if (this.buffer.length >= MAX_BUFFER) {
      this.buffer.shift();
      this.stats.dropped++;
    }
    this.buffer.push({ ev, recvTs });
  }

  onSnapshot(snap: DepthSnapshot, recvTs: number): void {
    this.stats.messages++;
    if (this.phase !== 'AWAIT_SNAPSHOT') {
      // Unrequested snapshot (e.g. a recording that holds several): the live stream is authoritative.
      return;
    }
    try {
      this.ensureGrids(snap.bids, snap.asks);
      const book = this.book;
      book.clear();
      this.loadSide('bid', snap.bids);
      this.loadSide('ask', snap.asks);
      book.lastUpdateId = snap.lastUpdateId;
      book.venueTs = snap.E ?? 0;
      book.localTs = recvTs;
    } catch (err) {
      this.stats.errors++;
      this.resync(`snapshot unusable: ${(err as Error).message}`, undefined);
      return;
    }
    this.snapshotId = snap.lastUpdateId;
    this.requested = false;
    this.phase = 'AWAIT_FIRST';
    this.book.markSyncing();
    const buffered = this.buffer;
    this.buffer = [];
    for (const { ev, recvTs: ts } of buffered) {
      // A resync while draining re-buffers the rest behind the offending event.
      if ((this.phase as Phase) === 'AWAIT_SNAPSHOT') this.buffer.push({ ev, recvTs: ts });
      else if (ev instanceof DepthEvent) this.processDecoded(ev, ts);
      else this.process(ev, ts);
    }
  }

  private process(ev: DepthUpdate, recvTs: number): void {
    if (!this.admit(ev.U, ev.u, ev.pu, ev, recvTs)) return;
    try {
      this.ensureGrids(ev.b, ev.a);
      this.applySide('bid', ev.b);
      this.applySide('ask', ev.a);
    } catch (err) {
      this.stats.errors++;
      this.resync(`update ${ev.u} unusable: ${(err as Error).message}`, undefined);
      return;
    }
    this.commit(ev.u, ev.E, recvTs);
  }

  private processDecoded(ev: DepthEvent, recvTs: number): void {
    // `pu` is NaN when absent, which only Binance.US frames may be (it is never read there): a
    // plain double, so nothing is boxed on the way.
    if (!this.admit(ev.U, ev.u, ev.pu, ev, recvTs)) return;
    // The decoder only decodes for a symbol whose grids are known, and grids never change after.
    const grids = this._grids as BookGrids;
    try {
      applyDecoded(this.book.bids, ev.bids, ev.text, grids);
      applyDecoded(this.book.asks, ev.asks, ev.text, grids);
    } catch (err) {
      this.stats.errors++;
      this.resync(`update ${ev.u} unusable: ${(err as Error).message}`, undefined);
      return;
    }
    this.commit(ev.u, ev.E, recvTs);
  }

  /**
   * The sequence rules. False when the event is dropped (too old for the snapshot) or breaks the
   * sequence (then the book is resynced and the event kept for the next snapshot).
   */
  private admit(
    U: number,
    u: number,
    pu: number | undefined,
    ev: DepthUpdate | DepthEvent,
    recvTs: number,
  ): boolean {
    const futures = this.rules === 'futures';
    if (this.phase === 'AWAIT_FIRST') {
      const L = this.snapshotId;
      const target = futures ? L : L + 1;
      if (futures ? u < L : u <= L) {
        this.stats.dropped++;
        return false;
      }
      if (!(U <= target && u >= target)) {
        this.stats.gaps++;
        this.resync(`first event [${U}, ${u}] does not bracket ${target}: the snapshot is too old`, {
          ev: owned(ev),
          recvTs,
        });
        return false;
      }
    } else if (futures ? pu !== this.prevU : U !== this.prevU + 1) {
      this.stats.gaps++;
      const expected = futures ? `pu ${this.prevU}` : `U ${this.prevU + 1}`;
      const got = futures ? `pu ${pu}` : `U ${U}`;
      this.resync(`sequence break: expected ${expected}, got ${got}`, { ev: owned(ev), recvTs });
      return false;
    }
    return true;
  }

  /** After a complete update: ids, times, counters, the crossed-book check, SYNCED, the hook. */
  private commit(u: number, E: number, recvTs: number): void {
    const book = this.book;
    this.prevU = u;
    book.lastUpdateId = u;
    book.venueTs = E;
    book.localTs = recvTs;
    this.stats.applied++;
    if (book.isCrossed()) {
      this.stats.crossed++;
      this.resync(
        `crossed book after update ${u}: bid ${book.bestBid()} >= ask ${book.bestAsk()}`,
        undefined,
      );
      return;
    }
    if (this.phase === 'AWAIT_FIRST') {
      this.phase = 'LIVE';
      book.markSynced();
    }
    this.hooks.onBook?.(book);
  }

  /**
   * The text carries the precision; until some level has been seen (an empty book of an illiquid
   * symbol) there is nothing to convert, so nothing to decide — unless metadata or flags say.
   */
  private ensureGrids(
    bids: ReadonlyArray<readonly [string, string]>,
    asks: ReadonlyArray<readonly [string, string]>,
  ): void {
    if (this._grids) return;
    const sample = sampleOf(bids, asks);
    try {
      this._grids = this.resolveGrids(sample);
    } catch (err) {
      if (sample !== undefined || !(err instanceof DataError) || err.code !== 'NO_PRECISION') throw err;
    }
  }

  private loadSide(side: 'bid' | 'ask', levels: ReadonlyArray<readonly [string, string]>): void {
    const grids = this._grids as BookGrids;
    const target = side === 'bid' ? this.book.bids : this.book.asks;
    for (const [p, q] of levels) {
      const qty = toStepsExact(q, grids.qty);
      if (qty !== 0) target.setExact(toSteps(p, grids.price), qty);
    }
  }

  private applySide(side: 'bid' | 'ask', levels: ReadonlyArray<readonly [string, string]>): void {
    const grids = this._grids as BookGrids;
    const target = side === 'bid' ? this.book.bids : this.book.asks;
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i] as readonly [string, string];
      target.setExact(toSteps(level[0], grids.price), toStepsExact(level[1], grids.qty));
    }
  }

  /** Throws the book away and asks for a new snapshot; `keep` is buffered for it. */
  private resync(reason: string, keep: Buffered | undefined): void {
    this.stats.resyncs++;
    this.reset(reason);
    if (keep) this.buffer.push(keep);
    this.requested = true;
    this.hooks.requestResync(this.book.symbol, reason);
  }

  reset(reason: string): void {
    this.phase = 'AWAIT_SNAPSHOT';
    this.book.markUnsynced(reason);
    this.book.clear();
    this.buffer = [];
    this.requested = false;
  }
}

/** A decoded event the sync may keep: the decoder's reusable one is copied. */
function owned(ev: DepthUpdate | DepthEvent): DepthUpdate | DepthEvent {
  return ev instanceof DepthEvent && ev.reusable ? ev.copy() : ev;
}

/**
 * One side of a decoded event onto the book, level by level in the venue's order. Levels the
 * decoder left to the exact path (off-grid, malformed, beyond 2^53 units) go through `toSteps` and
 * `toStepsExact` on their text here, exactly as `applySide` converts them: same values, same errors.
 */
function applyDecoded(side: BookSide, levels: LevelBuffer, text: string, grids: BookGrids): void {
  const n = levels.n;
  const price = levels.price;
  const qty = levels.qty;
  const slowN = levels.slowN;
  if (slowN === 0) {
    for (let i = 0; i < n; i++) side.set(price[i] as number, qty[i] as number);
    return;
  }
  const slowAt = levels.slowAt;
  const at = levels.slowText;
  let k = 0;
  let next = slowAt[0] as number;
  for (let i = 0; i < n; i++) {
    if (i !== next) {
      side.set(price[i] as number, qty[i] as number);
      continue;
    }
    const o = k * 4;
    side.setExact(
      toSteps(text.slice(at[o], at[o + 1]), grids.price),
      toStepsExact(text.slice(at[o + 2], at[o + 3]), grids.qty),
    );
    k++;
    next = k < slowN ? (slowAt[k] as number) : -1;
  }
}

function sampleOf(
  bids: ReadonlyArray<readonly [string, string]>,
  asks: ReadonlyArray<readonly [string, string]>,
): { price: string; qty: string } | undefined {
  const level = bids[0] ?? asks[0];
  return level ? { price: level[0], qty: level[1] } : undefined;
}

/** Validates the shape of a parsed `depthUpdate` (data errors are counted by the caller). */
export function asDepthUpdate(v: Record<string, unknown>): DepthUpdate {
  const { U, u, b, a } = v;
  if (typeof U !== 'number' || typeof u !== 'number' || !Array.isArray(b) || !Array.isArray(a)) {
    throw new DataError('BAD_MESSAGE', 'depthUpdate without numeric U/u or b/a arrays');
  }
  return v as unknown as DepthUpdate;
}

/** Validates the shape of a parsed REST depth snapshot. */
export function isDepthSnapshot(v: Record<string, unknown>): boolean {
  return typeof v.lastUpdateId === 'number' && Array.isArray(v.bids) && Array.isArray(v.asks);
}
