/**
 * The audit journal: every signal, risk decision, order state change, fill and control action is
 * appended, in order, with full context. The hot path only enqueues (no await); a single writer
 * drains the queue in order. `flush()` resolves when everything enqueued so far is durable, so a
 * caller that must not acknowledge before persistence (a fill) awaits it.
 *
 * Locally the journal is a JSON-lines file; on AWS the same port is backed by DynamoDB.
 */
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export type JournalKind =
  'engine' | 'signal' | 'risk' | 'order' | 'fill' | 'position' | 'control' | 'kill' | 'market' | 'reconcile';

export interface JournalRecord {
  readonly kind: JournalKind;
  /** Local wall time (ms) when it happened. */
  readonly ts: number;
  readonly [field: string]: unknown;
}

export interface Journal {
  /** Enqueues a record; never blocks. Sequence numbers are assigned in call order. */
  append(record: JournalRecord): number;
  /** Resolves when every record appended so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly path: string | undefined;
}

/** JSON-serialises records; Decimal (decimal.js) values serialise as their exact text via toJSON. */
function line(seq: number, r: JournalRecord): string {
  return `${JSON.stringify({ seq, ...r }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`;
}

export class FileJournal implements Journal {
  readonly path: string;
  private seq = 0;
  private queue: string[] = [];
  private handle: Promise<FileHandle>;
  private draining: Promise<void> = Promise.resolve();
  private closed = false;
  /** Records written and synced. */
  durable = 0;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
    this.handle = open(path, 'a');
  }

  append(record: JournalRecord): number {
    if (this.closed) throw new Error(`journal ${this.path} is closed`);
    const seq = ++this.seq;
    this.queue.push(line(seq, record));
    if (this.queue.length === 1) this.draining = this.draining.then(() => this.drain());
    return seq;
  }

  private async drain(): Promise<void> {
    const fh = await this.handle;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await fh.write(batch.join(''));
      await fh.datasync();
      this.durable += batch.length;
    }
  }

  async flush(): Promise<void> {
    // Chain behind whatever is draining now, and whatever gets queued before it finishes.
    this.draining = this.draining.then(() => this.drain());
    await this.draining;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await (await this.handle).close();
  }
}

/** A journal in memory, for tests and backtests. */
export class MemoryJournal implements Journal {
  readonly path = undefined;
  readonly records: Array<JournalRecord & { seq: number }> = [];
  append(record: JournalRecord): number {
    const seq = this.records.length + 1;
    this.records.push(JSON.parse(line(seq, record)) as JournalRecord & { seq: number });
    return seq;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
