/**
 * A decoder for Binance `depthUpdate` frames that reads the raw text once and writes integer steps
 * straight into reusable typed arrays: no JSON.parse, no objects, no strings per message.
 *
 * It takes the two forms the venues send — raw `{"e":"depthUpdate",...}` (`/ws/<stream>`) and
 * combined `{"stream":"…","data":{…}}` (`/stream?streams=`) — for USD-M futures (with `T` and `pu`)
 * and Binance.US spot (neither), in any field order. It accepts only a strict subset of JSON: no
 * whitespace, no escapes, integers only for ids and times, each level exactly two strings, no
 * duplicate or unknown field. Anything else gets a fallback reason and nothing is touched, so the
 * caller hands the same text to JSON.parse and the general path: the decoder never guesses.
 *
 * Prices and quantities follow `toSteps` exactly. A value `toSteps` would take without a second
 * look — plain digits, optional fraction, on the grid, within 2^53 units — is converted here. Any
 * other value (off-grid, negative, non-numeric, too large, odd forms like "5." or ".5") marks its
 * level "slow": the text offsets are kept and the sync converts that level with
 * `toSteps`/`toStepsExact` when (and only if) it applies the event, so errors, messages and the
 * exact bigint path for huge quantities are the very same as on the general path.
 */
import type { BookGrids } from '../book-feed.ts';

/** Why a frame was left to JSON.parse; 0 means decoded. Indexes FALLBACK_REASONS. */
export const Decode = {
  OK: 0,
  /** Another event (aggTrade, bookTicker, markPriceUpdate, kline…) or a subscription reply. */
  NOT_DEPTH_UPDATE: 1,
  /** A field this decoder does not know; it does not skip what it cannot interpret. */
  UNKNOWN_FIELD: 2,
  DUPLICATE_FIELD: 3,
  /** e, E, s, U, u, b or a absent (futures also need T and pu); combined frame without stream/data. */
  MISSING_FIELD: 4,
  /** Whitespace between tokens (valid JSON, not what the venue sends). */
  WHITESPACE: 5,
  /** A backslash escape or a raw control character inside a string. */
  ESCAPE: 6,
  /** E/T/U/u/pu not a plain non-negative integer within 2^53 (sign, fraction, exponent, string). */
  NUMBER_FORM: 7,
  /** b or a not an array of exactly-two-string arrays. */
  LEVEL_FORM: 8,
  /** Anything else: not an object, truncated, trailing text, a non-string symbol. */
  SYNTAX: 9,
  /** The symbol has not been seen through the general path yet (it creates the sync). */
  UNKNOWN_SYMBOL: 10,
  /** The symbol's precision is not known yet (its first levels decide it, on the general path). */
  NO_GRID: 11,
} as const;

export const FALLBACK_REASONS = [
  'ok',
  'not-depth-update',
  'unknown-field',
  'duplicate-field',
  'missing-field',
  'whitespace',
  'escape',
  'number-form',
  'level-form',
  'syntax',
  'unknown-symbol',
  'no-grid',
] as const;

export type DecodeReason = (typeof FALLBACK_REASONS)[number];

const MAX = Number.MAX_SAFE_INTEGER;
const POW10: number[] = [];
for (let i = 0, p = 1; i <= 22; i++, p *= 10) POW10.push(p);

const QUOTE = 34;
const COMMA = 44;
const DOT = 46;
const COLON = 58;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;

// Field bits, to catch duplicates and missing fields.
const F_e = 1;
const F_E = 2;
const F_T = 4;
const F_s = 8;
const F_U = 16;
const F_u = 32;
const F_pu = 64;
const F_b = 128;
const F_a = 256;
const REQUIRED = F_e | F_E | F_s | F_U | F_u | F_b | F_a;
const REQUIRED_FUTURES = REQUIRED | F_T | F_pu;

const INITIAL_LEVELS = 64;

/** One side's levels of a decoded event: steps, plus the levels left to the exact slow path. */
export class LevelBuffer {
  /** Levels in the event, in the venue's order. */
  n = 0;
  /** Price steps; meaningless at a slow level. */
  price: Float64Array;
  /** Quantity steps; meaningless at a slow level. */
  qty: Float64Array;
  /** How many levels must be converted from their text (ascending indices in `slowAt`). */
  slowN = 0;
  slowAt: Int32Array;
  /** Per slow level: price start, price end, qty start, qty end (text offsets, end exclusive). */
  slowText: Int32Array;

  constructor(capacity = INITIAL_LEVELS) {
    this.price = new Float64Array(capacity);
    this.qty = new Float64Array(capacity);
    this.slowAt = new Int32Array(8);
    this.slowText = new Int32Array(32);
  }

  /** Room for level index `i` (growth is the only allocation, and only when a bigger event comes). */
  reserve(i: number): void {
    if (i < this.price.length) return;
    const cap = Math.max(i + 1, this.price.length * 2);
    const price = new Float64Array(cap);
    const qty = new Float64Array(cap);
    price.set(this.price);
    qty.set(this.qty);
    this.price = price;
    this.qty = qty;
  }

  addSlow(i: number, ps: number, pe: number, qs: number, qe: number): void {
    const k = this.slowN;
    if (k === this.slowAt.length) {
      const at = new Int32Array(k * 2);
      const tx = new Int32Array(k * 8);
      at.set(this.slowAt);
      tx.set(this.slowText);
      this.slowAt = at;
      this.slowText = tx;
    }
    this.slowAt[k] = i;
    const o = k * 4;
    this.slowText[o] = ps;
    this.slowText[o + 1] = pe;
    this.slowText[o + 2] = qs;
    this.slowText[o + 3] = qe;
    this.slowN = k + 1;
  }

  copy(): LevelBuffer {
    const c = new LevelBuffer(0);
    c.n = this.n;
    c.price = this.price.slice(0, this.n);
    c.qty = this.qty.slice(0, this.n);
    c.slowN = this.slowN;
    c.slowAt = this.slowAt.slice(0, this.slowN);
    c.slowText = this.slowText.slice(0, this.slowN * 4);
    return c;
  }
}

/** A decoded `depthUpdate`. The decoder's own instance is overwritten by the next frame. */
export class DepthEvent {
  E = 0;
  U = 0;
  u = 0;
  /** The previous event's final update id (futures); NaN when the frame has none. */
  pu = NaN;
  hasPu = false;
  /** The frame, for the slow levels' offsets. */
  text = '';
  readonly bids: LevelBuffer;
  readonly asks: LevelBuffer;
  /** True for the decoder's reusable instance: whoever keeps it past this frame must copy it. */
  readonly reusable: boolean;

  constructor(reusable: boolean, bids = new LevelBuffer(), asks = new LevelBuffer()) {
    this.reusable = reusable;
    this.bids = bids;
    this.asks = asks;
  }

  /** An owned copy (for the buffer before a snapshot, or the event a resync keeps). */
  copy(): DepthEvent {
    const c = new DepthEvent(false, this.bids.copy(), this.asks.copy());
    c.E = this.E;
    c.U = this.U;
    c.u = this.u;
    c.pu = this.pu;
    c.hasPu = this.hasPu;
    // The frame is only needed for slow levels: a buffer of 10 000 events need not keep 10 000 frames.
    c.text = this.bids.slowN + this.asks.slowN > 0 ? this.text : '';
    return c;
  }
}

/** Whatever the decoder routes a symbol to: it needs the symbol's grids to convert levels. */
export interface GridSource {
  readonly grids: BookGrids | null;
}

interface SymbolEntry<T> {
  readonly key: string;
  readonly target: T | null;
  next: SymbolEntry<T> | null;
}

/** `scanDecimal`'s results (module state: no object per value, nothing boxed). */
let scanned = 0;
let scannedSlow = false;

/**
 * The string content at `p` (just after its opening quote) as steps into `scanned`, the way
 * `toSteps` would convert it; `scannedSlow` when `toSteps` must see it (it may throw, or go wide).
 * Returns the index after the closing quote, or minus a Decode reason.
 */
function scanDecimal(text: string, p: number, scale: number, stepUnits: number): number {
  const start = p;
  let units = 0;
  let c = text.charCodeAt(p);
  let d = c - 48;
  while (d >= 0 && d <= 9) {
    units = units * 10 + d;
    c = text.charCodeAt(++p);
    d = c - 48;
  }
  let slow = p === start; // no integer digits (".5", "", "-1", "abc"): toSteps decides
  if (c === DOT) {
    const fracStart = ++p;
    const fracEnd = fracStart + scale;
    c = text.charCodeAt(p);
    d = c - 48;
    // The grid's decimals, then any more, which must be zeros (else off-grid).
    while (d >= 0 && d <= 9 && p < fracEnd) {
      units = units * 10 + d;
      c = text.charCodeAt(++p);
      d = c - 48;
    }
    while (d >= 0 && d <= 9) {
      if (d !== 0) slow = true;
      c = text.charCodeAt(++p);
      d = c - 48;
    }
    const frac = p - fracStart;
    if (frac === 0)
      slow = true; // "5."
    else if (frac < scale) units *= POW10[scale - frac] as number;
  } else {
    units *= POW10[scale] as number;
  }
  if (c !== QUOTE) {
    // Something toSteps rejects (a sign, an exponent, letters): find the end, then let it say why.
    slow = true;
    for (;;) {
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < 32) return -Decode.ESCAPE;
      if (c !== c) return -Decode.SYNTAX; // NaN: the text ended
      c = text.charCodeAt(++p);
    }
  }
  if (!slow && units > MAX) slow = true;
  if (!slow && stepUnits !== 1) {
    if (units % stepUnits !== 0) slow = true;
    else units /= stepUnits;
  }
  scanned = units;
  scannedSlow = slow;
  return p + 1;
}

function isWhitespace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Placeholder grids for levels seen before the symbol: scanned for shape, converted again later. */
const NO_GRIDS: BookGrids = {
  price: { step: '1', scale: 0, stepUnits: 1 },
  qty: { step: '1', scale: 0, stepUnits: 1 },
};

export class DepthDecoder<T extends GridSource> {
  /** The last decoded event (valid until the next `decode`). */
  readonly event = new DepthEvent(true);
  /** The last decoded event's symbol target; null for a symbol the feed does not track. */
  target: T | null = null;
  private readonly futures: boolean;
  /** Symbols as sent, by a 30-bit hash of their characters (a small integer key: no boxing). */
  private readonly table = new Map<number, SymbolEntry<T>>();
  private text = '';
  private reason = 0;
  private seen = 0;
  private num = 0;
  private grids: BookGrids | null = null;

  /** `futures`: USD-M frames, which must carry `T` and `pu`. */
  constructor(futures: boolean) {
    this.futures = futures;
  }

  /** Routes frames whose symbol is sent exactly as `symbol` to `target` (null: ignore them). */
  register(symbol: string, target: T | null): void {
    let h = 0;
    for (let i = 0; i < symbol.length; i++) h = (Math.imul(h, 31) + symbol.charCodeAt(i)) & 0x3fffffff;
    let e = this.table.get(h) ?? null;
    for (let x = e; x !== null; x = x.next) if (x.key === symbol) return;
    e = { key: symbol, target, next: e };
    this.table.set(h, e);
  }

  /**
   * Decodes one frame into `event` and `target`. Returns Decode.OK, or the reason the frame must
   * go through JSON.parse instead (then `event` and `target` are meaningless).
   */
  decode(text: string): number {
    this.text = text;
    this.reason = Decode.OK;
    this.seen = 0;
    this.grids = null;
    this.target = null;
    const ev = this.event;
    ev.text = text;
    ev.hasPu = false;
    ev.pu = NaN;
    let p: number;
    if (text.charCodeAt(0) !== LBRACE) p = this.syntaxAt(0);
    else if (text.startsWith('"stream":', 1) || text.startsWith('"data":', 1)) p = this.combined();
    else p = this.object(0);
    if (p >= 0 && p !== text.length) this.syntaxAt(p);
    return this.reason;
  }

  /** `{"stream":"…","data":{…}}`, in either order. */
  private combined(): number {
    const text = this.text;
    let p = 1;
    let stream = false;
    let data = false;
    for (;;) {
      if (text.startsWith('"stream":', p)) {
        if (stream) return this.fail(Decode.DUPLICATE_FIELD);
        stream = true;
        p = this.skipString(p + 9);
      } else if (text.startsWith('"data":', p)) {
        if (data) return this.fail(Decode.DUPLICATE_FIELD);
        data = true;
        p = this.object(p + 7);
      } else {
        return text.charCodeAt(p) === QUOTE ? this.fail(Decode.UNKNOWN_FIELD) : this.syntaxAt(p);
      }
      if (p < 0) return p;
      const c = text.charCodeAt(p);
      if (c === COMMA) p++;
      else if (c === RBRACE) break;
      else return this.syntaxAt(p);
    }
    if (!stream || !data) return this.fail(Decode.MISSING_FIELD);
    return p + 1;
  }

  /** The event object at `p` (its `{`); returns the index after its `}`. */
  private object(p: number): number {
    const text = this.text;
    const ev = this.event;
    if (text.charCodeAt(p) !== LBRACE) return this.syntaxAt(p);
    p++;
    // Where b and a start, when they came before the symbol told their grids (-1: converted).
    let bAt = -1;
    let aAt = -1;
    for (;;) {
      if (text.charCodeAt(p) !== QUOTE) return this.syntaxAt(p);
      const k = text.charCodeAt(p + 1);
      let bit: number;
      if (text.charCodeAt(p + 2) === QUOTE) {
        p += 3;
        bit =
          k === 101 // e
            ? F_e
            : k === 69 // E
              ? F_E
              : k === 84 // T
                ? F_T
                : k === 115 // s
                  ? F_s
                  : k === 85 // U
                    ? F_U
                    : k === 117 // u
                      ? F_u
                      : k === 98 // b
                        ? F_b
                        : k === 97 // a
                          ? F_a
                          : 0;
      } else if (k === 112 && text.charCodeAt(p + 2) === 117 && text.charCodeAt(p + 3) === QUOTE) {
        p += 4;
        bit = F_pu;
      } else {
        bit = 0;
      }
      if (bit === 0) return this.fail(Decode.UNKNOWN_FIELD);
      if ((this.seen & bit) !== 0) return this.fail(Decode.DUPLICATE_FIELD);
      this.seen |= bit;
      if (text.charCodeAt(p) !== COLON) return this.syntaxAt(p);
      p++;
      switch (bit) {
        case F_e:
          if (!text.startsWith('"depthUpdate"', p)) return this.fail(Decode.NOT_DEPTH_UPDATE);
          p += 13;
          break;
        case F_s:
          p = this.symbol(p);
          break;
        case F_b:
          if (this.grids === null) bAt = p;
          p = this.levels(p, ev.bids);
          break;
        case F_a:
          if (this.grids === null) aAt = p;
          p = this.levels(p, ev.asks);
          break;
        default:
          p = this.integer(p);
          if (p < 0) return p;
          if (bit === F_U) ev.U = this.num;
          else if (bit === F_u) ev.u = this.num;
          else if (bit === F_E) ev.E = this.num;
          else if (bit === F_pu) {
            ev.pu = this.num;
            ev.hasPu = true;
          }
      }
      if (p < 0) return p;
      const c = text.charCodeAt(p);
      if (c === COMMA) p++;
      else if (c === RBRACE) break;
      else return this.syntaxAt(p);
    }
    const required = this.futures ? REQUIRED_FUTURES : REQUIRED;
    if ((this.seen & required) !== required) return this.fail(Decode.MISSING_FIELD);
    // Levels that came before the symbol were only checked for shape: convert them now.
    if (this.target !== null) {
      if (bAt >= 0 && this.levels(bAt, ev.bids) < 0) return -1;
      if (aAt >= 0 && this.levels(aAt, ev.asks) < 0) return -1;
    }
    return p + 1;
  }

  /** The symbol string at `p`: looked up without making a string. */
  private symbol(p: number): number {
    const text = this.text;
    if (text.charCodeAt(p) !== QUOTE) return this.fail(Decode.SYNTAX);
    const start = p + 1;
    let h = 0;
    let i = start;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < 32) return this.fail(Decode.ESCAPE);
      if (c !== c) return this.fail(Decode.SYNTAX); // NaN: the text ended
      h = (Math.imul(h, 31) + c) & 0x3fffffff;
      i++;
    }
    const len = i - start;
    let e = this.table.get(h) ?? null;
    while (e !== null && !(e.key.length === len && text.startsWith(e.key, start))) e = e.next;
    if (e === null) return this.fail(Decode.UNKNOWN_SYMBOL);
    const target = e.target;
    if (target !== null) {
      const grids = target.grids;
      if (grids === null) return this.fail(Decode.NO_GRID);
      this.grids = grids;
      this.target = target;
    }
    return i + 1;
  }

  /** A plain non-negative JSON integer within 2^53 at `p`, into `num`. */
  private integer(p: number): number {
    const text = this.text;
    const start = p;
    let v = 0;
    let d = text.charCodeAt(p) - 48;
    if (d === 0) {
      // "0" alone; a leading zero before more digits is not JSON.
      p++;
    } else {
      while (d >= 0 && d <= 9) {
        v = v * 10 + d;
        d = text.charCodeAt(++p) - 48;
      }
    }
    if (p === start)
      return isWhitespace(text.charCodeAt(p)) ? this.fail(Decode.WHITESPACE) : this.fail(Decode.NUMBER_FORM);
    const c = text.charCodeAt(p);
    // A fraction, an exponent or more digits after a leading zero; beyond 2^53 the sum rounded
    // (and once above, it stays above: rounding is monotonic).
    if (c === DOT || c === 101 || c === 69 || (c >= 48 && c <= 57) || v > MAX)
      return this.fail(Decode.NUMBER_FORM);
    this.num = v;
    return p;
  }

  /** A string at `p` that is only checked (the combined stream's name). */
  private skipString(p: number): number {
    const text = this.text;
    if (text.charCodeAt(p) !== QUOTE) return this.syntaxAt(p);
    for (p++; ; p++) {
      const c = text.charCodeAt(p);
      if (c === QUOTE) return p + 1;
      if (c === BACKSLASH || c < 32) return this.fail(Decode.ESCAPE);
      if (c !== c) return this.fail(Decode.SYNTAX);
    }
  }

  /** `[["price","qty"],…]` at `p` into `buf`; returns the index after `]`. */
  private levels(p: number, buf: LevelBuffer): number {
    const text = this.text;
    const grids = this.grids ?? NO_GRIDS;
    const pScale = grids.price.scale;
    const pStep = grids.price.stepUnits;
    const qScale = grids.qty.scale;
    const qStep = grids.qty.stepUnits;
    buf.n = 0;
    buf.slowN = 0;
    if (text.charCodeAt(p) !== LBRACKET) return this.levelError(p);
    p++;
    if (text.charCodeAt(p) === RBRACKET) return p + 1;
    let n = 0;
    for (;;) {
      if (text.charCodeAt(p) !== LBRACKET || text.charCodeAt(p + 1) !== QUOTE) return this.levelError(p);
      const ps = p + 2;
      p = scanDecimal(text, ps, pScale, pStep);
      if (p < 0) return this.fail(-p);
      const price = scanned;
      let slow = scannedSlow;
      const pe = p - 1;
      if (text.charCodeAt(p) !== COMMA || text.charCodeAt(p + 1) !== QUOTE) return this.levelError(p);
      const qs = p + 2;
      p = scanDecimal(text, qs, qScale, qStep);
      if (p < 0) return this.fail(-p);
      slow ||= scannedSlow;
      if (text.charCodeAt(p) !== RBRACKET) return this.levelError(p);
      if (n >= buf.price.length) buf.reserve(n);
      buf.price[n] = price;
      buf.qty[n] = scanned;
      if (slow) buf.addSlow(n, ps, pe, qs, p - 1);
      n++;
      const c = text.charCodeAt(++p);
      if (c === COMMA) p++;
      else if (c === RBRACKET) break;
      else return this.levelError(p);
    }
    buf.n = n;
    return p + 1;
  }

  private levelError(p: number): number {
    return isWhitespace(this.text.charCodeAt(p))
      ? this.fail(Decode.WHITESPACE)
      : this.fail(Decode.LEVEL_FORM);
  }

  private syntaxAt(p: number): number {
    return isWhitespace(this.text.charCodeAt(p)) ? this.fail(Decode.WHITESPACE) : this.fail(Decode.SYNTAX);
  }

  private fail(reason: number): number {
    // Off the hot path: a frame that stopped before its type was read, and is no depthUpdate at
    // all (a bookTicker has no "e"; a reply has no event), is reported as what it is.
    this.reason =
      reason !== Decode.SYNTAX &&
      reason !== Decode.WHITESPACE &&
      (this.seen & F_e) === 0 &&
      !this.text.includes('"e":"depthUpdate"')
        ? Decode.NOT_DEPTH_UPDATE
        : reason;
    return -1;
  }
}
