/**
 * The audit journal: every signal, risk decision, order state change, fill and control action is
 * appended, in order, with full context. The hot path only enqueues (no await); a single writer
 * drains the queue in order. `flush()` resolves when everything enqueued so far is durable, so a
 * caller that must not acknowledge before persistence (a fill) awaits it.
 *
 * Locally the journal is a JSON-lines file; on AWS the same port is backed by DynamoDB.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { knownSecrets, REDACTED } from '#store/redact.ts';

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
  /** Every durable record, in sequence order (crash recovery). */
  read(): Promise<Array<JournalRecord & { seq: number }>>;
  /**
   * Crash simulation for tests: what is not durable yet is lost and nothing more is written, as
   * when the process dies.
   */
  abandon(): void;
}

/**
 * JSON-serialises records; Decimal (decimal.js) values serialise as their exact text via toJSON.
 * Any secret the process has handed out (lib/store/secrets.ts registers them) is redacted: a
 * secret must never reach a stored record, whatever a caller put in it.
 */
function line(seq: number, r: JournalRecord): string {
  let text = JSON.stringify({ seq, ...r }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  for (const secret of knownSecrets()) if (text.includes(secret)) text = text.split(secret).join(REDACTED);
  return `${text}\n`;
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

  private abandoned = false;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
    // A journal that outlives the process continues its sequence.
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8').trimEnd();
      const last = text.slice(text.lastIndexOf('\n') + 1);
      if (last) this.seq = (JSON.parse(last) as { seq: number }).seq;
    }
    this.handle = open(path, 'a');
  }

  async read(): Promise<Array<JournalRecord & { seq: number }>> {
    await this.flush();
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as JournalRecord & { seq: number });
  }

  abandon(): void {
    this.abandoned = true;
    this.queue = [];
  }

  append(record: JournalRecord): number {
    if (this.abandoned) return ++this.seq;
    if (this.closed) throw new Error(`journal ${this.path} is closed`);
    const seq = ++this.seq;
    this.queue.push(line(seq, record));
    if (this.queue.length === 1) this.draining = this.draining.then(() => this.drain());
    return seq;
  }

  private async drain(): Promise<void> {
    const fh = await this.handle;
    while (this.queue.length > 0 && !this.abandoned) {
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
    if (!this.abandoned) await this.flush();
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
    if (this.abandoned) return seq;
    this.records.push(JSON.parse(line(seq, record)) as JournalRecord & { seq: number });
    return seq;
  }
  private abandoned = false;
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  read(): Promise<Array<JournalRecord & { seq: number }>> {
    return Promise.resolve([...this.records]);
  }
  /** Memory is durable the moment it is appended; after a crash nothing more is. */
  abandon(): void {
    this.abandoned = true;
  }
  /** A journal that survives a crash, as the store would: the next engine reads it and appends to it. */
  revive(): void {
    this.abandoned = false;
  }
}
