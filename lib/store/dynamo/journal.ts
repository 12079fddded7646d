/**
 * The audit journal on DynamoDB. `append()` is synchronous and cheap (serialise + enqueue); one
 * writer drains the queue in sequence order, `concurrency` conditional PutItems at a time, and
 * `flush()` resolves once every record appended before the call is durable.
 *
 * Item: pk `SHARD#<n>#DAY#<yyyymmdd>`, sk `<epoch:10>#<seq:12>`. The epoch (the lease's fencing
 * epoch) is in the key, so a fenced-out engine's late writes land beside, never over, the new
 * engine's records and are told apart by key alone. The day is the record's UTC day, made
 * monotonic (never earlier than the previous record's), so reading the day partitions in order
 * and each in sk order yields the records in sequence order.
 *
 * Idempotent: every put is `attribute_not_exists(pk)`. Re-writing an identical record at the
 * same (epoch, seq) — a retry after a timeout whose first attempt did land — is a no-op; a
 * different record there is an InvariantError (two writers share an epoch: halt).
 * BatchWriteItem is not used because it cannot be conditional, so it could silently overwrite.
 *
 * Failures: throttling and network errors are retried forever with capped backoff (records stay
 * queued; `stats().consecutiveFailures` lets health checks halt trading); an invariant error is
 * fatal: flush() rejects and append() throws from then on.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvariantError } from '#core/errors.ts';
import type { Journal, JournalRecord } from '#engine/journal.ts';
import { readJournalDay } from './journal-read.ts';
import { knownSecrets, redactKnownSecrets } from '../redact.ts';
import { redactingReplacer } from './redact.ts';
import { JOURNAL_TTL_DAYS, PK, SK, isConditionalFailure, keys, utcDay } from './table.ts';

export interface DynamoJournalOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly table: string;
  readonly shard: number;
  /** The lease epoch this engine holds. */
  readonly epoch: number;
  /** Puts in flight at once (default 16). 1 = strict prefix durability even across a crash. */
  readonly concurrency?: number;
  /** First sequence number (default 1). */
  readonly firstSeq?: number;
  readonly ttlDays?: number;
  /** Backoff cap for retried puts (default 2000 ms). */
  readonly maxBackoffMs?: number;
  /** How many UTC days back read() (crash recovery) looks, today included (default 3). */
  readonly recoveryDays?: number;
  /** Wall clock for read()'s day window (default Date.now). */
  readonly now?: () => number;
}

export interface JournalItem {
  readonly pk: string;
  readonly sk: string;
  readonly shard: number;
  readonly epoch: number;
  readonly seq: number;
  readonly kind: string;
  readonly ts: number;
  /** The record as JSON (exact decimals as text, secrets redacted). */
  readonly rec: string;
  readonly ttl: number;
}

export interface DynamoJournalStats {
  readonly appended: number;
  readonly durableSeq: number;
  readonly pending: number;
  readonly duplicates: number;
  readonly redacted: number;
  readonly retries: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | undefined;
  /** Put latency (ms) over the last 10 000 puts. */
  readonly putLatencyMs: {
    readonly count: number;
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
  };
}

const LATENCY_WINDOW = 10_000;

export class DynamoJournal implements Journal {
  readonly path: string;
  private readonly o: Required<DynamoJournalOptions>;
  private seq: number;
  private durableSeq: number;
  private dayTs = 0;
  private queue: JournalItem[] = [];
  private writer: Promise<void> | null = null;
  private waiters: Array<{ target: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private fatal: Error | null = null;
  private closed = false;
  private abandoned = false;
  private readonly counter = { redacted: 0 };
  private readonly replacer: (key: string, value: unknown) => unknown;
  private duplicates = 0;
  private retries = 0;
  private consecutiveFailures = 0;
  private lastError: string | undefined;
  private readonly latencies: number[] = [];
  private latencyNext = 0;

  constructor(opts: DynamoJournalOptions) {
    this.o = {
      concurrency: 16,
      firstSeq: 1,
      ttlDays: JOURNAL_TTL_DAYS,
      maxBackoffMs: 2000,
      recoveryDays: 3,
      now: Date.now,
      ...opts,
    };
    if (!Number.isSafeInteger(opts.epoch) || opts.epoch < 0) throw new Error(`bad epoch ${opts.epoch}`);
    this.seq = this.o.firstSeq - 1;
    this.durableSeq = this.seq;
    this.path = `dynamodb://${opts.table}/${keys.shard(opts.shard)}/epoch/${opts.epoch}`;
    this.replacer = redactingReplacer(this.counter);
  }

  /**
   * Opens a journal that continues the shard's sequence: firstSeq = the highest seq stored in the
   * recovery window + 1, so (epoch, seq) and seq alone both stay ordered across restarts.
   */
  static async open(opts: Omit<DynamoJournalOptions, 'firstSeq'>): Promise<DynamoJournal> {
    const probe = new DynamoJournal(opts);
    const items = await probe.readItems();
    const last = items.reduce((m, i) => Math.max(m, i.seq), 0);
    return new DynamoJournal({ ...opts, firstSeq: last + 1 });
  }

  append(record: JournalRecord): number {
    if (this.abandoned) return ++this.seq;
    if (this.fatal) throw this.fatal;
    if (this.closed) throw new Error(`journal ${this.path} is closed`);
    const seq = ++this.seq;
    if (Number.isFinite(record.ts) && record.ts > this.dayTs) this.dayTs = record.ts;
    const ts = Number.isFinite(record.ts) ? record.ts : this.dayTs;
    this.queue.push({
      pk: keys.journalPk(this.o.shard, utcDay(this.dayTs)),
      sk: keys.journalSk(this.o.epoch, seq),
      shard: this.o.shard,
      epoch: this.o.epoch,
      seq,
      kind: String(record.kind),
      ts,
      rec: JSON.stringify({ seq, ...record }, this.replacer),
      ttl: Math.floor(ts / 1000) + this.o.ttlDays * 86_400,
    });
    this.writer ??= this.run();
    return seq;
  }

  flush(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.abandoned) return Promise.resolve(); // a dead process waits for nothing
    const target = this.seq;
    if (this.durableSeq >= target) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ target, resolve, reject }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.abandoned) await this.flush();
    } finally {
      this.closed = true;
    }
  }

  /** The shard's durable records (every epoch) in the recovery window, ordered by (epoch, seq). */
  async read(): Promise<Array<JournalRecord & { seq: number }>> {
    if (!this.abandoned) await this.flush();
    return (await this.readItems()).map((i) => JSON.parse(i.rec) as JournalRecord & { seq: number });
  }

  /** Crash simulation: what is not durable is lost and nothing more is written. */
  abandon(): void {
    this.abandoned = true;
    this.queue = [];
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  private async readItems(): Promise<JournalItem[]> {
    const now = this.o.now();
    const days = new Set<string>();
    for (let d = this.o.recoveryDays - 1; d >= 0; d--) days.add(utcDay(now - d * 86_400_000));
    if (this.dayTs > 0) days.add(utcDay(this.dayTs));
    const items: JournalItem[] = [];
    for (const day of [...days].sort())
      items.push(...(await readJournalDay(this.o.doc, this.o.table, this.o.shard, day)));
    return items.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
  }

  stats(): DynamoJournalStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
    return {
      appended: this.seq - (this.o.firstSeq - 1),
      durableSeq: this.durableSeq,
      pending: this.seq - this.durableSeq,
      duplicates: this.duplicates,
      redacted: this.counter.redacted,
      retries: this.retries,
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
      putLatencyMs: { count: sorted.length, p50: q(0.5), p99: q(0.99), max: sorted.at(-1) ?? 0 },
    };
  }

  /** The single writer: windows of up to `concurrency` puts, in sequence order. */
  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.fatal && !this.abandoned) {
        // Value scrubbing (secrets registered by the SecretStore) runs here, off the hot path.
        const scrub = knownSecrets().length > 0;
        const window = this.queue
          .splice(0, this.o.concurrency)
          .map((item) => (scrub ? { ...item, rec: redactKnownSecrets(item.rec) } : item));
        await Promise.all(window.map((item) => this.putDurably(item)));
        if (this.fatal || this.abandoned) break;
        this.durableSeq = window.at(-1)!.seq;
        this.waiters = this.waiters.filter((w) => {
          if (w.target > this.durableSeq) return true;
          w.resolve();
          return false;
        });
      }
    } finally {
      this.writer = null;
      if (this.fatal) {
        for (const w of this.waiters) w.reject(this.fatal);
        this.waiters = [];
      } else if (this.queue.length > 0) {
        this.writer = this.run();
      }
    }
  }

  private async putDurably(item: JournalItem): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.fatal || this.abandoned) return;
      const t0 = performance.now();
      try {
        await this.o.doc.send(
          new PutCommand({
            TableName: this.o.table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          }),
        );
        this.recordLatency(performance.now() - t0);
        this.consecutiveFailures = 0;
        return;
      } catch (err) {
        if (isConditionalFailure(err)) {
          await this.checkSame(item);
          this.consecutiveFailures = 0;
          return;
        }
        this.retries++;
        this.consecutiveFailures++;
        this.lastError = `${(err as Error).name}: ${(err as Error).message}`;
        const backoff = Math.min(this.o.maxBackoffMs, 10 * 2 ** Math.min(attempt, 10));
        await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random() / 2)));
      }
    }
  }

  /** The key exists: identical record = an earlier attempt landed; anything else = two writers. */
  private async checkSame(item: JournalItem): Promise<void> {
    const got = await this.o.doc.send(
      new GetCommand({
        TableName: this.o.table,
        Key: { [PK]: item.pk, [SK]: item.sk },
        ConsistentRead: true,
      }),
    );
    if (got.Item?.rec === item.rec) {
      this.duplicates++;
      return;
    }
    this.fatal = new InvariantError(
      'JOURNAL_SEQ_CONFLICT',
      `journal ${item.pk} ${item.sk} already holds a different record: two writers share epoch ${item.epoch}`,
    );
  }

  private recordLatency(ms: number): void {
    if (this.latencies.length < LATENCY_WINDOW) this.latencies.push(ms);
    else this.latencies[this.latencyNext] = ms;
    this.latencyNext = (this.latencyNext + 1) % LATENCY_WINDOW;
  }
}

export { readJournalDay } from './journal-read.ts';
