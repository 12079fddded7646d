/**
 * Typed errors. The kind tells the caller what to do, so no caller has to guess from a message:
 * - `operational`: the world misbehaved (timeout, 5xx, disconnect) — retry with backoff.
 * - `data`: one input is bad (off-grid price, malformed line) — skip it, count it, resync if it
 *   was part of a sequenced stream.
 * - `invariant`: our own state is impossible — halt trading.
 */
export type ErrorKind = 'operational' | 'data' | 'invariant';

export class TradewindError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  constructor(kind: ErrorKind, code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TradewindError';
    this.kind = kind;
    this.code = code;
  }
}

export class DataError extends TradewindError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super('data', code, message, options);
    this.name = 'DataError';
  }
}

export class InvariantError extends TradewindError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super('invariant', code, message, options);
    this.name = 'InvariantError';
  }
}

export class OperationalError extends TradewindError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super('operational', code, message, options);
    this.name = 'OperationalError';
  }
}
