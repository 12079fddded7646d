/**
 * Routes Kraken spot book messages to per-symbol syncs. Speaks WS v2 (`{"channel":"book",...}`,
 * numbers) and the legacy v1 arrays (`[channelID, {...}, "book-10", "XBT/USD"]`, decimal text).
 */
import { DataError } from '#core/errors.ts';
import { numberToSteps, toSteps, toStepsExact } from '#core/grid.ts';
import type { BookFeed, BookGrids, PrecisionOptions, SyncHooks } from '../book-feed.ts';
import { asRecord, resolveGrids } from '../book-feed.ts';
import type { KrakenBookMessage, StepLevel } from './book-sync.ts';
import { KrakenBookSync } from './book-sync.ts';

/** Depths Kraken v2 accepts for `book`. */
export const KRAKEN_BOOK_DEPTHS = [10, 25, 100, 500, 1000] as const;

export interface KrakenSpotFeedOptions extends PrecisionOptions {
  readonly only?: ReadonlySet<string> | undefined;
  /** Subscribed depth when no subscription is seen (v2). */
  readonly depth?: number | undefined;
}

export class KrakenSpotBookFeed implements BookFeed {
  readonly venue = 'kraken-spot' as const;
  private readonly syncs = new Map<string, KrakenBookSync>();
  private readonly subscribedDepth = new Map<string, number>();
  private readonly opts: KrakenSpotFeedOptions;
  private readonly hooks: SyncHooks;

  constructor(hooks: SyncHooks, opts: KrakenSpotFeedOptions = {}) {
    this.hooks = hooks;
    this.opts = opts;
  }

  symbols(): ReadonlyMap<string, KrakenBookSync> {
    return this.syncs;
  }

  onMessage(msg: unknown, recvTs: number): void {
    if (Array.isArray(msg)) {
      this.onV1(msg, recvTs);
      return;
    }
    const obj = asRecord(msg);
    if (!obj || obj.channel !== 'book') return;
    const type = obj.type;
    if (type !== 'snapshot' && type !== 'update') return;
    if (!Array.isArray(obj.data)) throw new DataError('BAD_MESSAGE', 'book message without a data array');
    for (const item of obj.data) {
      const d = asRecord(item);
      if (!d || typeof d.symbol !== 'string')
        throw new DataError('BAD_MESSAGE', 'book data without a symbol');
      const sync = this.sync(d.symbol, type === 'snapshot' ? snapshotDepth(d) : undefined);
      if (!sync) continue;
      this.deliver(sync, type === 'snapshot', recvTs, () => {
        const grids = (sync.grids ??= resolveGrids(sync.book.symbol, this.opts));
        return {
          bids: v2Levels(d.bids, grids),
          asks: v2Levels(d.asks, grids),
          checksum: typeof d.checksum === 'number' ? d.checksum : undefined,
          venueTs: typeof d.timestamp === 'string' ? Date.parse(d.timestamp) || 0 : 0,
        };
      });
    }
  }

  resetAll(reason: string): void {
    for (const s of this.syncs.values()) s.reset(reason);
  }

  onSnapshot(): void {
    throw new DataError('BAD_MESSAGE', 'Kraken spot books come from the WebSocket snapshot, not REST');
  }

  onOutbound(msg: unknown): void {
    // v2: {"method":"subscribe","params":{"channel":"book","symbol":[..],"depth":N}}
    const obj = asRecord(msg);
    const params = asRecord(obj?.params);
    if (obj?.method === 'subscribe' && params?.channel === 'book' && Array.isArray(params.symbol)) {
      const depth = typeof params.depth === 'number' ? params.depth : 10;
      for (const s of params.symbol) if (typeof s === 'string') this.subscribedDepth.set(s, depth);
    }
  }

  private sync(symbol: string, fallbackDepth: number | undefined): KrakenBookSync | null {
    let s = this.syncs.get(symbol);
    if (!s) {
      if (this.opts.only && !this.opts.only.has(symbol)) return null;
      const depth = this.subscribedDepth.get(symbol) ?? this.opts.depth ?? fallbackDepth ?? 10;
      s = new KrakenBookSync(symbol, depth, this.hooks);
      this.syncs.set(symbol, s);
    }
    return s;
  }

  private deliver(
    sync: KrakenBookSync,
    snapshot: boolean,
    recvTs: number,
    decode: () => KrakenBookMessage,
  ): void {
    let msg: KrakenBookMessage;
    try {
      msg = decode();
    } catch (err) {
      if (!(err instanceof DataError) || err.code === 'NO_PRECISION') throw err;
      sync.stats.messages++;
      sync.fail(`undecodable book message: ${err.message}`);
      return;
    }
    if (snapshot) sync.onSnapshot(msg, recvTs);
    else sync.onUpdate(msg, recvTs);
  }

  private onV1(msg: unknown[], recvTs: number): void {
    const pair = msg[msg.length - 1];
    const channel = msg[msg.length - 2];
    if (typeof pair !== 'string' || typeof channel !== 'string' || !channel.startsWith('book-')) return;
    const depth = Number(channel.slice(5));
    const parts = msg.slice(1, -2).map(asRecord);
    const snapshot = parts.some((p) => p && ('as' in p || 'bs' in p));
    const sync = this.sync(pair, depth);
    if (!sync) return;
    this.deliver(sync, snapshot, recvTs, () => {
      let bids: StepLevel[] = [];
      let asks: StepLevel[] = [];
      let checksum: number | undefined;
      let venueTs = 0;
      if (!sync.grids) {
        // v1 writes every price and volume at its own fixed width; the checksum is over that text.
        const first = firstV1Level(parts);
        sync.grids = resolveGrids(pair, this.opts, first);
      }
      const grids = sync.grids;
      for (const p of parts) {
        if (!p) throw new DataError('BAD_MESSAGE', 'v1 book message with a non-object part');
        const b = p.bs ?? p.b;
        const a = p.as ?? p.a;
        if (b !== undefined)
          bids = bids.concat(v1Levels(b, grids, (ts) => (venueTs = Math.max(venueTs, ts))));
        if (a !== undefined)
          asks = asks.concat(v1Levels(a, grids, (ts) => (venueTs = Math.max(venueTs, ts))));
        if (typeof p.c === 'string') checksum = Number(p.c);
      }
      return { bids, asks, checksum, venueTs };
    });
  }
}

function snapshotDepth(d: Record<string, unknown>): number {
  const n = Math.max(Array.isArray(d.bids) ? d.bids.length : 0, Array.isArray(d.asks) ? d.asks.length : 0);
  return KRAKEN_BOOK_DEPTHS.find((x) => x >= n) ?? 1000;
}

function v2Levels(levels: unknown, grids: BookGrids): StepLevel[] {
  if (!Array.isArray(levels)) throw new DataError('BAD_MESSAGE', 'book side is not an array');
  return levels.map((l) => {
    const r = asRecord(l);
    if (!r) throw new DataError('BAD_MESSAGE', 'book level is not an object');
    return {
      price: numberToSteps(r.price as number, grids.price),
      qty: numberToSteps(r.qty as number, grids.qty),
    };
  });
}

function v1Levels(levels: unknown, grids: BookGrids, onTs: (ms: number) => void): StepLevel[] {
  if (!Array.isArray(levels)) throw new DataError('BAD_MESSAGE', 'book side is not an array');
  return levels.map((l) => {
    if (!Array.isArray(l) || typeof l[0] !== 'string' || typeof l[1] !== 'string') {
      throw new DataError('BAD_MESSAGE', 'v1 book level is not [price, volume, timestamp]');
    }
    if (typeof l[2] === 'string') onTs(Number(l[2]) * 1000);
    return { price: toSteps(l[0], grids.price), qty: toStepsExact(l[1], grids.qty) };
  });
}

function firstV1Level(
  parts: Array<Record<string, unknown> | undefined>,
): { price: string; qty: string } | undefined {
  for (const p of parts) {
    for (const key of ['as', 'bs', 'a', 'b']) {
      const side = p?.[key];
      if (Array.isArray(side) && Array.isArray(side[0])) {
        const [price, qty] = side[0] as unknown[];
        if (typeof price === 'string' && typeof qty === 'string') return { price, qty };
      }
    }
  }
  return undefined;
}
