/**
 * The read model, projected from the journal. The engine writes one thing (the journal, enqueued
 * off the hot path); everything the control API and the reconcile λ read about orders, positions
 * and fills is derived from those records here and written to their DynamoDB items (data model in
 * lib/store/README.md):
 *
 * - an `order` record (and the order state a `fill` record carries) → the order item: created
 *   (PENDING, on the shard's open-orders index) the first time an id is seen, then one transition
 *   per change of state, in journal order,
 *   conditional on the item's version (lost updates impossible); a terminal state drops it from
 *   the index. Without this every resting order of ours — a protective stop above all — looks like
 *   an orphan to the reconcile λ, which cancels orphans and raises drift.
 * - a `position` record → the shard's position snapshot of the symbol, fenced by the epoch.
 * - a `fill` record → the fill item, stored once (idempotent by venue, symbol and trade id).
 *
 * Writes never block the engine: records are queued, one chain per order and per symbol keeps
 * each item's writes in journal order, and a failed write is reported (`onError`) and retried
 * from the item's stored state on the next record for it (the journal stays the source of truth;
 * `rebuild` would replay it). `flush()` resolves when every write so far has settled.
 */
import type { VenueId } from '#core/instrument.ts';
import type { OrderState } from '#core/order.ts';
import { InvariantError } from '#core/errors.ts';
import { isTerminal, ORDER_STATES, ORDER_TRANSITIONS } from '#core/order.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';
import type { Journal, JournalRecord } from '#engine/journal.ts';
import { intentOf } from '#engine/recovery.ts';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoFillRepo } from './dynamo/fills.ts';
import { DynamoJournal } from './dynamo/journal.ts';
import { DynamoOrderRepo } from './dynamo/orders.ts';
import { DynamoPositionRepo } from './dynamo/positions.ts';
import { utcDay } from './dynamo/table.ts';

export interface ReadModelProjectionOptions {
  readonly venue: VenueId;
  readonly shard: number;
  /** The lease epoch of this engine (position snapshots are fenced by it). */
  readonly epoch: number;
  readonly orders: Pick<DynamoOrderRepo, 'putIntent' | 'appendState' | 'get'>;
  readonly positions: Pick<DynamoPositionRepo, 'put'>;
  readonly fills: Pick<DynamoFillRepo, 'putFill'>;
  readonly onError?: (what: string, err: Error) => void;
}

const STATES: ReadonlySet<string> = new Set(ORDER_STATES);

export class ReadModelProjection {
  private readonly opts: ReadModelProjectionOptions;
  /** Per item key: the tail of its write chain. */
  private readonly chains = new Map<string, Promise<void>>();
  /** What this process last wrote for an order: its state and the item's version. */
  private readonly known = new Map<string, { state: OrderState; version: number }>();
  private readonly pending = new Set<Promise<void>>();
  /** Writes that failed (reported through onError). */
  failures = 0;

  constructor(opts: ReadModelProjectionOptions) {
    this.opts = opts;
  }

  /** Takes one journal record; writes what it changes, in the background. */
  observe(r: JournalRecord): void {
    if (r.kind === 'order' && typeof r.clientOrderId === 'string' && typeof r.state === 'string') {
      const id = r.clientOrderId;
      this.chain(`order:${id}`, () => this.projectOrder(id, r), `order ${id}`);
    } else if (r.kind === 'position' && typeof r.symbol === 'string' && typeof r.lots === 'number') {
      const symbol = r.symbol;
      this.chain(`pos:${symbol}`, () => this.projectPosition(symbol, r), `position ${symbol}`);
    } else if (r.kind === 'fill' && isFill(r.fill) && r.event !== 'unmatched') {
      // (An unmatched fill is not yet known to be ours: it is stored when it is counted.)
      const f = r.fill;
      this.chain(`fill:${f.symbol}:${f.tradeId}`, () => this.projectFill(f), `fill ${f.tradeId}`);
      // A fill moves its order on (to PARTIALLY_FILLED or FILLED): the journal says so on the fill.
      if (typeof r.orderState === 'string') {
        const id = f.clientOrderId;
        const moved = { ...r, state: r.orderState, event: 'fill' };
        this.chain(`order:${id}`, () => this.projectOrder(id, moved), `order ${id}`);
      }
    }
  }

  /** Resolves when every write queued so far has settled. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private chain(key: string, write: () => Promise<void>, what: string): void {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev
      .then(() => withRetries(write))
      .catch((err: unknown) => {
        this.failures++;
        this.opts.onError?.(what, err as Error);
      });
    this.chains.set(key, next);
    this.pending.add(next);
    void next.finally(() => {
      this.pending.delete(next);
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private async projectOrder(id: string, r: JournalRecord): Promise<void> {
    const to = r.state as string;
    if (!STATES.has(to)) return;
    try {
      await this.moveOrder(id, to as OrderState, r);
    } catch (err) {
      this.known.delete(id); // a retry starts again from the stored item
      throw err;
    }
  }

  private async moveOrder(id: string, target: OrderState, r: JournalRecord): Promise<void> {
    let cur = this.known.get(id);
    if (!cur) {
      // New here: stored by an earlier run (a restart), or new (created from its first record).
      const stored = await this.opts.orders.get(id);
      const intent = stored ? null : intentOf(r, this.opts.venue);
      if (!stored && !intent) return;
      const rec = stored ?? (await this.opts.orders.putIntent(this.opts.shard, intent as OrderIntent));
      cur = { state: rec.state, version: rec.version };
    }
    // The journal is the truth: walk the stored item there through the states in between (a write
    // lost earlier, or states this process never journalled) — never backwards. UNKNOWN is our own
    // doubt after a restart, not venue truth: an item already past it stays where it is.
    const path = cur.state === target ? [] : pathBetween(cur.state, target);
    if (path === null && target !== 'UNKNOWN')
      throw new InvariantError(
        'PROJECTION',
        `stored ${cur.state} cannot become ${target} (${String(r.event)})`,
      );
    const reason = typeof r.event === 'string' ? r.event : 'journal';
    for (const step of path ?? []) {
      const rec = await this.opts.orders.appendState(id, cur.version, {
        from: cur.state,
        to: step,
        ts: r.ts,
        reason: step === target ? reason : `${reason} (via)`,
      });
      cur = { state: rec.state, version: rec.version };
    }
    if (isTerminal(cur.state)) this.known.delete(id);
    else this.known.set(id, cur);
  }

  private async projectPosition(symbol: string, r: JournalRecord): Promise<void> {
    await this.opts.positions.put({
      shard: this.opts.shard,
      venue: this.opts.venue,
      symbol,
      qtyLots: r.lots as number,
      avgEntryPrice: typeof r.avgEntryPrice === 'string' ? r.avgEntryPrice : '0',
      realizedPnlDay: text(r.realizedPnlDay),
      day: utcDay(r.ts),
      epoch: this.opts.epoch,
      ts: r.ts,
    });
  }

  private async projectFill(f: Fill): Promise<void> {
    await this.opts.fills.putFill(f, this.opts.shard);
  }
}

/** A journal that also feeds the read model: every record appended is observed once. */
export class ProjectingJournal implements Journal {
  private readonly inner: Journal;
  readonly projection: ReadModelProjection;
  constructor(inner: Journal, projection: ReadModelProjection) {
    this.inner = inner;
    this.projection = projection;
  }
  get path(): string | undefined {
    return this.inner.path;
  }
  append(record: JournalRecord): number {
    const seq = this.inner.append(record);
    this.projection.observe(record);
    return seq;
  }
  async flush(): Promise<void> {
    await this.inner.flush();
    await this.projection.flush();
  }
  async close(): Promise<void> {
    await this.projection.flush();
    await this.inner.close();
  }
  read(): Promise<Array<JournalRecord & { seq: number }>> {
    return this.inner.read();
  }
  abandon(): void {
    this.inner.abandon();
  }
}

/** The shortest chain of legal transitions from one state to another (excluding `from`); null if none. */
function pathBetween(from: OrderState, to: OrderState): OrderState[] | null {
  const prev = new Map<OrderState, OrderState>();
  const queue: OrderState[] = [from];
  while (queue.length > 0) {
    const s = queue.shift() as OrderState;
    for (const n of ORDER_TRANSITIONS[s]) {
      if (n === from || prev.has(n)) continue;
      prev.set(n, s);
      if (n === to) {
        const path: OrderState[] = [n];
        for (let p = s; p !== from; p = prev.get(p) as OrderState) path.unshift(p);
        return path;
      }
      queue.push(n);
    }
  }
  return null;
}

/** A write retried on failure (throttling, a network blip), 3 attempts with growing pauses. */
async function withRetries(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      if (attempt >= 3 || err instanceof InvariantError) throw err;
      await new Promise((r) => setTimeout(r, 100 * 4 ** (attempt - 1)));
    }
  }
}

function isFill(v: unknown): v is Fill {
  const f = v as Partial<Fill> | null;
  return (
    typeof f === 'object' &&
    f !== null &&
    typeof f.tradeId === 'string' &&
    typeof f.symbol === 'string' &&
    typeof f.venue === 'string'
  );
}

/** Money (decimal.js) or text → exact decimal text. */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && 'toFixed' in v) return (v as { toFixed(): string }).toFixed();
  return '0';
}

/**
 * The engine's journal on DynamoDB with the read model projected from it: what the Fargate task
 * and `npm start` use.
 */
export async function openProjectedJournal(opts: {
  readonly doc: DynamoDBDocumentClient;
  readonly table: string;
  readonly shard: number;
  readonly epoch: number;
  readonly venue: VenueId;
  readonly onError: (what: string, err: Error) => void;
}): Promise<ProjectingJournal> {
  const { doc, table, shard, epoch } = opts;
  const projection = new ReadModelProjection({
    venue: opts.venue,
    shard,
    epoch,
    orders: new DynamoOrderRepo(doc, table),
    positions: new DynamoPositionRepo(doc, table),
    fills: new DynamoFillRepo(doc, table),
    onError: opts.onError,
  });
  return new ProjectingJournal(await DynamoJournal.open({ doc, table, shard, epoch }), projection);
}
