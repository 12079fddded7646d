/**
 * Wire schemas for the two queues: control (control λ → engine: kill / resume / reconcile) and
 * alerts (engine and λ → alerter). Every message carries a schema version `v` and an `id` that is
 * its idempotency key (SQS FIFO deduplication id, local dedup window), so a retried send never
 * kills, resumes or pages twice.
 *
 * Validation is hand-written and strict: a message that is not exactly right is a DataError that
 * names the offending field, and the queue adapters treat it as a poison message (reported, never
 * thrown into the engine). Unknown fields are rejected too, so a producer typo is loud.
 */
import { DataError } from '#core/errors.ts';
import { isVenueId, type VenueId } from '#core/instrument.ts';
import type { AlertMessage, ControlMessage } from './ports.ts';

export type { AlertMessage, ControlMessage };

/** The schema versions this build reads and writes. */
export const CONTROL_MESSAGE_VERSION = 1;
export const ALERT_MESSAGE_VERSION = 1;

export const CONTROL_TYPES = ['kill', 'resume', 'reconcile'] as const;
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;

/** SQS's MessageDeduplicationId limit; ids longer than this cannot be a FIFO dedup key verbatim. */
export const MAX_ID_LENGTH = 128;
const MAX_SHORT_TEXT = 256;
const MAX_REASON = 1024;
/** Slack truncates long sections anyway; this keeps an alert far below SQS's 256 KiB body limit. */
const MAX_DETAIL = 8000;
/** Letters, digits and the punctuation SQS accepts in a deduplication id. */
const ID_PATTERN = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]+$/;

/** A message that failed validation. `field` is the dotted path of the first bad field. */
export class MessageError extends DataError {
  readonly field: string;
  constructor(
    code: 'BAD_MESSAGE_FIELD' | 'UNKNOWN_MESSAGE_VERSION' | 'BAD_MESSAGE_JSON',
    field: string,
    message: string,
  ) {
    super(code, message);
    this.name = 'MessageError';
    this.field = field;
  }
}

/** A parser/encoder pair the queue adapters use to (de)serialise bodies. */
export interface MessageCodec<T> {
  /** Validates a decoded JSON value or a raw JSON string; throws MessageError. */
  parse(json: unknown): T;
  /** Validates, then serialises with a stable field order. */
  encode(body: T): string;
  /** The idempotency key of a message (its `id`). */
  idempotencyKey(body: T): string;
}

type Obj = Record<string, unknown>;

function decode(kind: string, json: unknown): Obj {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json) as unknown;
    } catch {
      // The SyntaxError quotes the input; the input is not ours to echo into logs.
      throw new MessageError('BAD_MESSAGE_JSON', '$', `${kind} message is not valid JSON`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MessageError('BAD_MESSAGE_FIELD', '$', `${kind} message must be a JSON object`);
  }
  return value as Obj;
}

function bad(kind: string, field: string, why: string): MessageError {
  return new MessageError('BAD_MESSAGE_FIELD', field, `${kind} message: field "${field}" ${why}`);
}

function checkVersion(kind: string, o: Obj, supported: number): void {
  const v = o['v'];
  if (v === undefined) throw bad(kind, 'v', 'is missing (the schema version)');
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw bad(kind, 'v', 'must be an integer schema version');
  if (v !== supported) {
    throw new MessageError(
      'UNKNOWN_MESSAGE_VERSION',
      'v',
      `${kind} message has schema version ${v}; this build understands only v${supported} — upgrade the consumer or downgrade the producer`,
    );
  }
}

function checkFields(kind: string, o: Obj, allowed: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw bad(kind, key, 'is not part of the schema');
  }
}

function text(kind: string, o: Obj, field: string, max: number): string {
  const value = o[field];
  if (value === undefined) throw bad(kind, field, 'is missing');
  if (typeof value !== 'string') throw bad(kind, field, `must be a string, got ${typeName(value)}`);
  if (value.trim().length === 0) throw bad(kind, field, 'must not be empty');
  if (value.length > max) throw bad(kind, field, `must be at most ${max} characters, got ${value.length}`);
  return value;
}

function id(kind: string, o: Obj): string {
  const value = text(kind, o, 'id', MAX_ID_LENGTH);
  if (!ID_PATTERN.test(value)) {
    throw bad(kind, 'id', 'may contain only letters, digits and ASCII punctuation (an SQS deduplication id)');
  }
  return value;
}

function timestamp(kind: string, o: Obj): number {
  const value = o['ts'];
  if (value === undefined) throw bad(kind, 'ts', 'is missing');
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw bad(kind, 'ts', 'must be a non-negative integer (epoch milliseconds)');
  }
  return value;
}

function oneOf<T extends string>(kind: string, o: Obj, field: string, allowed: readonly T[]): T {
  const value = o[field];
  if (value === undefined) throw bad(kind, field, 'is missing');
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw bad(kind, field, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Validates a control message (a JSON string or an already-decoded value). Throws MessageError. */
export function parseControlMessage(json: unknown): ControlMessage {
  const kind = 'control';
  const o = decode(kind, json);
  checkVersion(kind, o, CONTROL_MESSAGE_VERSION);
  const type = oneOf(kind, o, 'type', CONTROL_TYPES);
  if (type === 'reconcile') {
    checkFields(kind, o, ['v', 'type', 'id', 'by', 'ts']);
    return { v: 1, type, id: id(kind, o), by: text(kind, o, 'by', MAX_SHORT_TEXT), ts: timestamp(kind, o) };
  }
  checkFields(kind, o, ['v', 'type', 'id', 'reason', 'by', 'ts']);
  return {
    v: 1,
    type,
    id: id(kind, o),
    reason: text(kind, o, 'reason', MAX_REASON),
    by: text(kind, o, 'by', MAX_SHORT_TEXT),
    ts: timestamp(kind, o),
  };
}

/** Validates an alert message (a JSON string or an already-decoded value). Throws MessageError. */
export function parseAlertMessage(json: unknown): AlertMessage {
  const kind = 'alert';
  const o = decode(kind, json);
  checkVersion(kind, o, ALERT_MESSAGE_VERSION);
  checkFields(kind, o, ['v', 'id', 'severity', 'source', 'title', 'detail', 'venue', 'ts']);
  let venue: VenueId | undefined;
  if (o['venue'] !== undefined) {
    const raw = o['venue'];
    if (typeof raw !== 'string' || !isVenueId(raw)) throw bad(kind, 'venue', 'is not a known venue id');
    venue = raw;
  }
  const alert: AlertMessage = {
    v: 1,
    id: id(kind, o),
    severity: oneOf(kind, o, 'severity', ALERT_SEVERITIES),
    source: text(kind, o, 'source', MAX_SHORT_TEXT),
    title: text(kind, o, 'title', MAX_SHORT_TEXT),
    detail: text(kind, o, 'detail', MAX_DETAIL),
    ts: timestamp(kind, o),
  };
  return venue === undefined ? alert : { ...alert, venue };
}

/** Validates and serialises a control message (stable field order). */
export function encodeControlMessage(message: ControlMessage): string {
  return JSON.stringify(parseControlMessage(message));
}

/** Validates and serialises an alert message (stable field order). */
export function encodeAlertMessage(message: AlertMessage): string {
  return JSON.stringify(parseAlertMessage(message));
}

export const controlCodec: MessageCodec<ControlMessage> = {
  parse: parseControlMessage,
  encode: encodeControlMessage,
  idempotencyKey: (m) => m.id,
};

export const alertCodec: MessageCodec<AlertMessage> = {
  parse: parseAlertMessage,
  encode: encodeAlertMessage,
  idempotencyKey: (m) => m.id,
};
