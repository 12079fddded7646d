/**
 * Deterministic client order ids (DESIGN.md §4): every order's id is a pure function of
 * (shard, lease epoch, sequence), so after a crash the engine can ask each venue what became of
 * every id it journalled, and a fenced-out engine (an older epoch) can never collide with the
 * engine that replaced it.
 *
 * One format fits every venue: `tw` + shard (2) + epoch (7) + sequence (7), each a fixed-width,
 * zero-padded, lowercase base-36 number — 18 characters of [0-9a-z]:
 *
 *     tw 01 0000002 00000a1   →  "tw01000000200000a1"  (shard 1, epoch 2, seq 361)
 *
 * - Binance (USD-M and Binance.US) `^[\.A-Z\:/a-z0-9_-]{1,36}$`: alphanumeric, 18 ≤ 36.
 * - Kraken spot `cl_ord_id`: free text of at most 18 characters (or a UUID form): exactly 18.
 * - Kraken Futures `cliOrdId`: at most 100 characters, alphanumeric and dash.
 * Lowercase only, so a venue that folds case cannot turn one id into another; fixed widths, so
 * parsing needs no separator and every (shard, epoch, seq) has exactly one id (injective) and every
 * id exactly one triple. The `tw` prefix tells our ids from the venue's own (Binance `autoclose-*`,
 * web/app orders): `parseClientOrderId` answers null for anything else.
 *
 * Ranges: shard 0..1295 (36^2 − 1), epoch and sequence 0..78,364,164,095 (36^7 − 1). The epoch
 * must be a counter (it is bumped at every lease takeover), not a timestamp. The sequence may
 * restart at 0 in each new epoch: uniqueness comes from the pair. 78 billion orders per epoch is
 * 24 years at 100 orders per second.
 */
import { InvariantError } from './errors.ts';
import type { VenueId } from './instrument.ts';

export interface ClientOrderIdParts {
  readonly shard: number;
  readonly epoch: number;
  readonly seq: number;
}

export const CLIENT_ORDER_ID_PREFIX = 'tw';
export const CLIENT_ORDER_ID_LENGTH = 18;
const SHARD_WIDTH = 2;
const EPOCH_WIDTH = 7;
const SEQ_WIDTH = 7;
export const MAX_SHARD = 36 ** SHARD_WIDTH - 1;
export const MAX_EPOCH = 36 ** EPOCH_WIDTH - 1;
export const MAX_SEQ = 36 ** SEQ_WIDTH - 1;

const OUR_ID = /^tw([0-9a-z]{2})([0-9a-z]{7})([0-9a-z]{7})$/;

function field(name: string, value: number, max: number, width: number): string {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new InvariantError(
      'CLIENT_ORDER_ID_RANGE',
      `client order id ${name} ${value} is not an integer in 0..${max}`,
    );
  }
  return value.toString(36).padStart(width, '0');
}

/** The one id of (shard, epoch, seq). Throws InvariantError when a part is out of range. */
export function encodeClientOrderId(parts: ClientOrderIdParts): string {
  return (
    CLIENT_ORDER_ID_PREFIX +
    field('shard', parts.shard, MAX_SHARD, SHARD_WIDTH) +
    field('epoch', parts.epoch, MAX_EPOCH, EPOCH_WIDTH) +
    field('seq', parts.seq, MAX_SEQ, SEQ_WIDTH)
  );
}

/** (shard, epoch, seq) back from one of our ids; null for any id we did not make. */
export function parseClientOrderId(id: string): ClientOrderIdParts | null {
  const m = OUR_ID.exec(id);
  if (!m) return null;
  return {
    shard: parseInt(m[1] as string, 36),
    epoch: parseInt(m[2] as string, 36),
    seq: parseInt(m[3] as string, 36),
  };
}

export interface ClientOrderIdRule {
  readonly maxLength: number;
  /** What the venue accepts, as documented (see /work/shared/VENUES.md §1.9, §3.4, §4.2). */
  readonly description: string;
  readonly test: (id: string) => boolean;
}

const BINANCE = /^[.A-Z:/a-z0-9_-]{1,36}$/;
const KRAKEN_SPOT_TEXT = /^[\x20-\x7e]{1,18}$/;
const UUID_LONG = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const UUID_SHORT = /^[0-9a-fA-F]{32}$/;
const KRAKEN_FUTURES = /^[A-Za-z0-9-]{1,100}$/;

const binanceRule: ClientOrderIdRule = {
  maxLength: 36,
  description: 'Binance newClientOrderId: ^[\\.A-Z\\:/a-z0-9_-]{1,36}$',
  test: (id) => BINANCE.test(id),
};

/** Each venue's own rule for a client order id, to check ours against (tests, adapters' asserts). */
export const CLIENT_ORDER_ID_RULES: Readonly<Record<VenueId, ClientOrderIdRule>> = {
  'binance-futures': binanceRule,
  'binance-us': binanceRule,
  'kraken-spot': {
    maxLength: 36,
    description: 'Kraken spot cl_ord_id: free text of at most 18 characters, or a long or short UUID',
    test: (id) => KRAKEN_SPOT_TEXT.test(id) || UUID_LONG.test(id) || UUID_SHORT.test(id),
  },
  'kraken-futures': {
    maxLength: 100,
    description: 'Kraken Futures cliOrdId: at most 100 characters, alphanumeric and dash',
    test: (id) => KRAKEN_FUTURES.test(id),
  },
};

export function isValidClientOrderId(venue: VenueId, id: string): boolean {
  return CLIENT_ORDER_ID_RULES[venue].test(id);
}

/**
 * The id source of one engine: a fixed (shard, epoch) from the lease and a sequence that only goes
 * up. A new lease (a new epoch) starts a new sequence; the same engine never reuses a sequence.
 */
export class ClientOrderIdSequence {
  readonly shard: number;
  readonly epoch: number;
  private seq: number;

  constructor(shard: number, epoch: number, firstSeq = 0) {
    // Validates all three parts once, up front: an engine with a bad lease must not start.
    encodeClientOrderId({ shard, epoch, seq: firstSeq });
    this.shard = shard;
    this.epoch = epoch;
    this.seq = firstSeq;
  }

  /** The sequence number the next id will carry. */
  get nextSeq(): number {
    return this.seq;
  }

  /** The next id. Throws InvariantError once the sequence space of this epoch is used up. */
  next(): string {
    const id = encodeClientOrderId({ shard: this.shard, epoch: this.epoch, seq: this.seq });
    this.seq++;
    return id;
  }
}
