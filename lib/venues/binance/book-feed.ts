/**
 * Routes Binance market-data messages (raw `/ws/<stream>` or combined `/stream?streams=` frames)
 * to per-symbol depth syncs. Used unchanged by the live connection and by replay.
 *
 * Two ways in, one set of rules: `onText` decodes the depth frames it fully understands straight
 * from the text (depth-decoder.ts) and says false for everything else, which the caller then
 * JSON.parses and hands to `onMessage`. Both end in the same sync with the same results.
 */
import { DataError } from '#core/errors.ts';
import type { VenueId } from '#core/instrument.ts';
import type { BookFeed, PrecisionOptions, SyncHooks } from '../book-feed.ts';
import { asRecord, resolveGrids } from '../book-feed.ts';
import { Decode, DepthDecoder, FALLBACK_REASONS } from './depth-decoder.ts';
import type { DecodeReason } from './depth-decoder.ts';
import type { BinanceRules, DepthSnapshot } from './depth-sync.ts';
import { BinanceDepthSync, asDepthUpdate, isDepthSnapshot } from './depth-sync.ts';

export interface BinanceFeedOptions extends PrecisionOptions {
  /** Track only these symbols (uppercase); all when absent. */
  readonly only?: ReadonlySet<string> | undefined;
}

export class BinanceBookFeed implements BookFeed {
  readonly venue: VenueId;
  private readonly rules: BinanceRules;
  private readonly syncs = new Map<string, BinanceDepthSync>();
  private readonly bySent = new Map<string, BinanceDepthSync | null>();
  private readonly opts: BinanceFeedOptions;
  private readonly hooks: SyncHooks;
  /** A snapshot that arrived, without a symbol, before any symbol did. */
  private pending: { snap: DepthSnapshot; recvTs: number } | undefined;
  private readonly decoder: DepthDecoder<BinanceDepthSync>;
  /** onText outcomes, indexed like FALLBACK_REASONS (0: decoded). */
  private readonly textCounts = new Float64Array(FALLBACK_REASONS.length);

  constructor(venue: 'binance-futures' | 'binance-us', hooks: SyncHooks, opts: BinanceFeedOptions = {}) {
    this.venue = venue;
    this.rules = venue === 'binance-futures' ? 'futures' : 'spot';
    this.hooks = hooks;
    this.opts = opts;
    this.decoder = new DepthDecoder(this.rules === 'futures');
  }

  symbols(): ReadonlyMap<string, BinanceDepthSync> {
    return this.syncs;
  }

  /** The sync for a symbol, created on first use (null when filtered out). */
  sync(symbol: string): BinanceDepthSync | null {
    const key = symbol.toUpperCase();
    let s = this.syncs.get(key);
    if (!s) {
      if (this.opts.only && !this.opts.only.has(key)) return null;
      s = new BinanceDepthSync(key, this.rules, (sample) => resolveGrids(key, this.opts, sample), this.hooks);
      this.syncs.set(key, s);
      if (this.pending) {
        s.onSnapshot(this.pending.snap, this.pending.recvTs);
        this.pending = undefined;
      }
    }
    return s;
  }

  onMessage(msg: unknown, recvTs: number): void {
    let obj = asRecord(msg);
    if (!obj) return;
    // Combined stream frames wrap the event: {"stream":"sushiusdt@depth@100ms","data":{...}}.
    if (typeof obj.stream === 'string' && 'data' in obj) obj = asRecord(obj.data);
    if (!obj || obj.e !== 'depthUpdate') return;
    if (typeof obj.s !== 'string') throw new DataError('BAD_MESSAGE', 'depthUpdate without a symbol');
    // Hot path: one map lookup on the symbol exactly as sent (no toUpperCase per message).
    let sync = this.bySent.get(obj.s);
    if (sync === undefined) {
      sync = this.sync(obj.s);
      this.bySent.set(obj.s, sync);
      this.decoder.register(obj.s, sync);
    }
    if (sync) sync.onDiff(asDepthUpdate(obj), recvTs);
  }

  /**
   * The hot path: a depth frame decoded from its text, no JSON.parse. False, with nothing
   * touched, for any frame the decoder does not fully understand (another event, a symbol not
   * seen yet, whitespace, escapes, odd numbers…): the caller then JSON.parses it for `onMessage`.
   */
  onText(text: string, recvTs: number): boolean {
    const d = this.decoder;
    const status = d.decode(text);
    this.textCounts[status] = (this.textCounts[status] as number) + 1;
    if (status !== Decode.OK) return false;
    // A symbol this feed does not track decodes with a null target: ignored, as onMessage does.
    d.target?.onDecoded(d.event, recvTs);
    return true;
  }

  /** How many frames `onText` decoded ("ok") and why it left the others to JSON.parse. */
  textStats(): Record<DecodeReason, number> {
    const out = {} as Record<DecodeReason, number>;
    for (let i = 0; i < FALLBACK_REASONS.length; i++)
      out[FALLBACK_REASONS[i] as DecodeReason] = this.textCounts[i] as number;
    return out;
  }

  onSnapshot(symbol: string | undefined, body: unknown, recvTs: number): void {
    const obj = asRecord(body);
    if (!obj || !isDepthSnapshot(obj)) throw new DataError('BAD_MESSAGE', 'not a depth snapshot');
    const snap = obj as unknown as DepthSnapshot;
    if (!symbol && this.syncs.size === 0 && !this.opts.only) {
      // A recording that starts with its snapshot: it belongs to the first symbol that shows up.
      this.pending = { snap, recvTs };
      return;
    }
    const sync = symbol ? this.sync(symbol) : this.waitingSync();
    if (sync) sync.onSnapshot(snap, recvTs);
  }

  resetAll(reason: string): void {
    for (const s of this.syncs.values()) s.reset(reason);
  }

  onOutbound(): void {
    // Binance subscriptions carry nothing the book needs.
  }

  /** A snapshot without a symbol belongs to the one symbol waiting for one; anything else is ambiguous. */
  private waitingSync(): BinanceDepthSync | null {
    const waiting = [...this.syncs.values()].filter((s) => s.awaitingSnapshot);
    if (waiting.length === 1) return waiting[0] as BinanceDepthSync;
    if (waiting.length === 0 && this.opts.only?.size === 1)
      return this.sync([...this.opts.only][0] as string);
    throw new DataError(
      'AMBIGUOUS_SNAPSHOT',
      `a depth snapshot without a symbol, and ${waiting.length} symbols are waiting for one: record snapshots with their URL or pass --symbol`,
    );
  }
}
