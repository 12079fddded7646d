/**
 * Queue<T> adapters: SqsQueue for AWS and InProcessQueue for local runs and tests.
 *
 * Both validate bodies with a MessageCodec. A body that fails validation is a poison message: it
 * is reported through `onPoison` and never handed to the consumer, so one bad producer cannot
 * crash the engine's control inbox. (There is no npm SQS emulator that speaks the current SDK's
 * JSON protocol, so the local queue is in-process and mimics the SQS semantics that matter:
 * FIFO order per message group, a deduplication window, visibility timeout and redelivery.)
 */
import { createHash } from 'node:crypto';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SendMessageCommandInput,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DataError, OperationalError } from '#core/errors.ts';
import type { MessageCodec } from './messages.ts';
import type { Queue, Received } from './ports.ts';
import { redactKnownSecrets } from './redact.ts';

/** A message that failed validation and was withheld from the consumer. */
export interface PoisonMessage {
  readonly queue: string;
  readonly messageId: string;
  /** How many times it has been received, including this one (when known). */
  readonly receiveCount: number;
  /** The validation error, with known secrets redacted. */
  readonly error: Error;
  /** The first 512 characters of the body, with known secrets redacted. */
  readonly bodyPreview: string;
}

export type PoisonHandler = (poison: PoisonMessage) => void;

const PREVIEW_CHARS = 512;

function preview(body: string): string {
  return redactKnownSecrets(body.length > PREVIEW_CHARS ? `${body.slice(0, PREVIEW_CHARS)}…` : body);
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Reports a poison message; a throwing handler must not turn a bad message into an engine crash. */
function report(handler: PoisonHandler, poison: PoisonMessage): void {
  try {
    handler(poison);
  } catch {
    // Deliberately swallowed: the handler is a logger/metric, and the message is already withheld.
  }
}

const defaultPoisonHandler: PoisonHandler = (p) => {
  console.error(
    `poison message on ${p.queue} (id ${p.messageId}, receive #${p.receiveCount}): ${p.error.message}`,
  );
};

// ---------------------------------------------------------------------------------------------
// SQS

export interface SqsQueueOptions<T> {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly codec: MessageCodec<T>;
  /** FIFO message group: messages in one group are delivered strictly in order. @default 'tradewind' */
  readonly messageGroupId?: (body: T) => string;
  /** Called for each message that fails validation. @default logs one line to stderr */
  readonly onPoison?: PoisonHandler;
  /**
   * What to do with a poison message: 'leave' lets it become visible again until the queue's
   * redrive policy moves it to the dead-letter queue (where it can be inspected); 'delete'
   * drops it at once (for queues without a DLQ). @default 'leave'
   */
  readonly poisonPolicy?: 'leave' | 'delete';
  /** Overrides the queue's visibility timeout on receive. @default the queue's own */
  readonly visibilityTimeoutSeconds?: number;
}

/** SQS caps a long poll at 20 s and a batch at 10 messages. */
const SQS_MAX_WAIT_SECONDS = 20;
const SQS_MAX_BATCH = 10;
/** Characters SQS accepts in a MessageDeduplicationId (at most 128 of them). */
const DEDUP_ID_PATTERN = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;

/** The idempotency key as a valid SQS deduplication id: verbatim when allowed, else its SHA-256. */
export function sqsDeduplicationId(idempotencyKey: string): string {
  if (DEDUP_ID_PATTERN.test(idempotencyKey)) return idempotencyKey;
  return createHash('sha256').update(idempotencyKey).digest('hex');
}

export function isFifoQueueUrl(queueUrl: string): boolean {
  return queueUrl.endsWith('.fifo');
}

export class SqsQueue<T> implements Queue<T> {
  readonly queueUrl: string;
  readonly fifo: boolean;
  readonly #client: SQSClient;
  readonly #codec: MessageCodec<T>;
  readonly #groupId: (body: T) => string;
  readonly #onPoison: PoisonHandler;
  readonly #poisonPolicy: 'leave' | 'delete';
  readonly #visibilityTimeout: number | undefined;

  constructor(options: SqsQueueOptions<T>) {
    this.queueUrl = options.queueUrl;
    this.fifo = isFifoQueueUrl(options.queueUrl);
    this.#client = options.client;
    this.#codec = options.codec;
    this.#groupId = options.messageGroupId ?? (() => 'tradewind');
    this.#onPoison = options.onPoison ?? defaultPoisonHandler;
    this.#poisonPolicy = options.poisonPolicy ?? 'leave';
    this.#visibilityTimeout = options.visibilityTimeoutSeconds;
  }

  async send(body: T, idempotencyKey: string): Promise<void> {
    if (idempotencyKey.length === 0)
      throw new DataError('EMPTY_IDEMPOTENCY_KEY', 'idempotency key must not be empty');
    // Encoding validates: an invalid message fails here, at the producer, not at the consumer.
    const input: SendMessageCommandInput = {
      QueueUrl: this.queueUrl,
      MessageBody: this.#codec.encode(body),
      // Also on standard queues, so a consumer can deduplicate what SQS does not.
      MessageAttributes: { idempotencyKey: { DataType: 'String', StringValue: idempotencyKey } },
      ...(this.fifo
        ? { MessageGroupId: this.#groupId(body), MessageDeduplicationId: sqsDeduplicationId(idempotencyKey) }
        : {}),
    };
    try {
      await this.#client.send(new SendMessageCommand(input));
    } catch (e) {
      throw new OperationalError(
        'SQS_SEND_FAILED',
        `sending to ${this.queueUrl} failed: ${asError(e).name}`,
        {
          cause: e,
        },
      );
    }
  }

  async receive(max: number, waitMs: number): Promise<Array<Received<T>>> {
    const batch = Math.min(SQS_MAX_BATCH, Math.max(1, Math.floor(max)));
    // Rounds up: long polling is the point, and SQS counts whole seconds.
    const waitSeconds = Math.min(SQS_MAX_WAIT_SECONDS, Math.max(0, Math.ceil(waitMs / 1000)));
    let messages;
    try {
      const out = await this.#client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: batch,
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          MessageAttributeNames: ['idempotencyKey'],
          ...(this.#visibilityTimeout === undefined ? {} : { VisibilityTimeout: this.#visibilityTimeout }),
        }),
      );
      messages = out.Messages ?? [];
    } catch (e) {
      throw new OperationalError(
        'SQS_RECEIVE_FAILED',
        `receiving from ${this.queueUrl} failed: ${asError(e).name}`,
        { cause: e },
      );
    }

    const received: Array<Received<T>> = [];
    for (const m of messages) {
      if (m.ReceiptHandle === undefined) continue;
      const raw = m.Body ?? '';
      try {
        received.push({ body: this.#codec.parse(raw), receipt: m.ReceiptHandle });
      } catch (e) {
        report(this.#onPoison, {
          queue: this.queueUrl,
          messageId: m.MessageId ?? '?',
          receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
          error: redactKnownSecrets(asError(e)),
          bodyPreview: preview(raw),
        });
        if (this.#poisonPolicy === 'delete') {
          // Best effort: if it fails the message comes back and is reported again.
          await this.ack(m.ReceiptHandle).catch(() => undefined);
        }
      }
    }
    return received;
  }

  async ack(receipt: string): Promise<void> {
    try {
      await this.#client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receipt }));
    } catch (e) {
      throw new OperationalError(
        'SQS_ACK_FAILED',
        `deleting from ${this.queueUrl} failed: ${asError(e).name}`,
        {
          cause: e,
        },
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// In-process

export interface InProcessQueueOptions<T> {
  /** A name for reports. @default 'in-process' */
  readonly name?: string;
  /**
   * When given, bodies are encoded on send and parsed on receive, exactly as over SQS (so a
   * message that would not survive the wire fails locally too, and poison is reported).
   */
  readonly codec?: MessageCodec<T>;
  /** A repeated idempotency key within this window is accepted and dropped. @default 5 min (SQS FIFO) */
  readonly dedupWindowMs?: number;
  /** A received, unacknowledged message becomes visible again after this. @default 30 s (SQS) */
  readonly visibilityTimeoutMs?: number;
  /** After this many receives without an ack the message moves to `deadLetters()`. @default unlimited */
  readonly maxReceiveCount?: number;
  readonly messageGroupId?: (body: T) => string;
  readonly onPoison?: PoisonHandler;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Entry<T> {
  readonly seq: number;
  readonly group: string;
  /** The body as sent. */
  readonly body: T;
  /** Its encoding when a codec is set: what a consumer decodes, as over the wire. */
  readonly wire: string | undefined;
  receiveCount: number;
  /** Not deliverable before this instant (0: visible). */
  invisibleUntil: number;
  /** The receipt of the latest delivery; only it can ack. */
  receipt: string | null;
}

/**
 * A local Queue<T> with SQS FIFO semantics: per-group order (a group is blocked while one of its
 * messages is in flight), idempotency-key deduplication window, visibility timeout and redelivery
 * until acknowledged. `receive` sleeps until a message arrives, a visibility timeout lapses or
 * `waitMs` passes — it never spins.
 */
export class InProcessQueue<T> implements Queue<T> {
  readonly name: string;
  readonly #codec: MessageCodec<T> | undefined;
  readonly #dedupWindowMs: number;
  readonly #visibilityTimeoutMs: number;
  readonly #maxReceiveCount: number;
  readonly #groupId: (body: T) => string;
  readonly #onPoison: PoisonHandler;
  readonly #now: () => number;
  #entries: Array<Entry<T>> = [];
  readonly #dedup = new Map<string, number>();
  readonly #dead: T[] = [];
  readonly #waiters = new Set<() => void>();
  #seq = 0;
  #closed = false;

  constructor(options: InProcessQueueOptions<T> = {}) {
    this.name = options.name ?? 'in-process';
    this.#codec = options.codec;
    this.#dedupWindowMs = options.dedupWindowMs ?? 5 * 60_000;
    this.#visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000;
    this.#maxReceiveCount = options.maxReceiveCount ?? Number.POSITIVE_INFINITY;
    this.#groupId = options.messageGroupId ?? (() => 'default');
    this.#onPoison = options.onPoison ?? defaultPoisonHandler;
    this.#now = options.now ?? (() => Date.now());
  }

  send(body: T, idempotencyKey: string): Promise<void> {
    if (this.#closed)
      return Promise.reject(new OperationalError('QUEUE_CLOSED', `queue ${this.name} is closed`));
    if (idempotencyKey.length === 0) {
      return Promise.reject(new DataError('EMPTY_IDEMPOTENCY_KEY', 'idempotency key must not be empty'));
    }
    const now = this.#now();
    this.#pruneDedup(now);
    if (this.#dedup.has(idempotencyKey)) return Promise.resolve();
    let wire: string | undefined;
    try {
      wire = this.#codec?.encode(body);
    } catch (e) {
      return Promise.reject(asError(e));
    }
    this.#dedup.set(idempotencyKey, now);
    this.#entries.push({
      seq: ++this.#seq,
      group: this.#groupId(body),
      body,
      wire,
      receiveCount: 0,
      invisibleUntil: 0,
      receipt: null,
    });
    this.#wake();
    return Promise.resolve();
  }

  async receive(max: number, waitMs: number): Promise<Array<Received<T>>> {
    const deadline = this.#now() + Math.max(0, waitMs);
    for (;;) {
      const got = this.#take(Math.max(1, Math.floor(max)));
      const now = this.#now();
      if (got.length > 0 || now >= deadline || this.#closed) return got;
      // Sleep until woken by send/ack/close, the next visibility expiry, or the deadline.
      const nextVisible = this.#nextVisibleAt(now);
      const sleepMs = Math.min(deadline, nextVisible) - now;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(1, sleepMs));
        this.#waiters.add(wake);
      });
    }
  }

  ack(receipt: string): Promise<void> {
    // A stale receipt (the message was redelivered since) or a repeated ack is a no-op.
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => e.receipt !== receipt);
    // Acking the head of a group unblocks the rest of it.
    if (this.#entries.length !== before) this.#wake();
    return Promise.resolve();
  }

  /** Messages that exceeded `maxReceiveCount` (the local dead-letter queue). */
  deadLetters(): readonly T[] {
    return [...this.#dead];
  }

  /** Messages not yet acknowledged (in flight or waiting). */
  get depth(): number {
    return this.#entries.length;
  }

  /** Wakes every pending `receive` (they return what is available, usually nothing); later sends fail. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #pruneDedup(now: number): void {
    for (const [key, at] of this.#dedup) {
      // Insertion order is time order, so the first live entry ends the scan.
      if (now - at < this.#dedupWindowMs) break;
      this.#dedup.delete(key);
    }
  }

  #nextVisibleAt(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.#entries) if (e.invisibleUntil > now) next = Math.min(next, e.invisibleUntil);
    return next;
  }

  #take(max: number): Array<Received<T>> {
    const now = this.#now();
    const blocked = new Set<string>();
    const out: Array<Received<T>> = [];
    const dead = new Set<Entry<T>>();
    for (const e of this.#entries) {
      if (out.length >= max) break;
      if (blocked.has(e.group)) continue;
      if (e.invisibleUntil > now) {
        // In flight: later messages of its group wait (FIFO).
        blocked.add(e.group);
        continue;
      }
      if (e.receiveCount >= this.#maxReceiveCount) {
        dead.add(e);
        continue;
      }
      e.receiveCount += 1;
      e.invisibleUntil = now + this.#visibilityTimeoutMs;
      e.receipt = `${this.name}:${e.seq}:${e.receiveCount}`;
      const body = this.#decode(e);
      if (body === undefined) {
        dead.add(e);
        continue;
      }
      out.push({ body: body.value, receipt: e.receipt });
    }
    if (dead.size > 0) {
      for (const e of dead) this.#dead.push(e.body);
      this.#entries = this.#entries.filter((e) => !dead.has(e));
    }
    return out;
  }

  /** The body of an entry, or undefined (after reporting) when it fails validation. */
  #decode(e: Entry<T>): { value: T } | undefined {
    if (this.#codec === undefined || e.wire === undefined) return { value: e.body };
    const raw = e.wire;
    try {
      return { value: this.#codec.parse(raw) };
    } catch (err) {
      report(this.#onPoison, {
        queue: this.name,
        messageId: String(e.seq),
        receiveCount: e.receiveCount,
        error: redactKnownSecrets(asError(err)),
        bodyPreview: preview(raw),
      });
      return undefined;
    }
  }
}
