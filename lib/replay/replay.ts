/**
 * Replays recorded venue traffic through exactly the book sync code the live engine uses, and
 * reports each symbol's final book and sync counters.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BookState } from '#core/book.ts';
import { DataError } from '#core/errors.ts';
import { fromSteps } from '#core/grid.ts';
import type { InstrumentSet, VenueId } from '#core/instrument.ts';
import type { SyncStats } from '#venues/book-feed.ts';
import { createBookFeed, isInstrumentMetadata, loadInstruments, parseMetadataText } from '#venues/feeds.ts';
import type { ReadPosition, ReplayRecord } from './records.ts';
import { InputError, mergeRecords, readRecords } from './records.ts';

export interface ReplayOptions {
  readonly venue: VenueId;
  readonly inputs: readonly string[];
  readonly instrumentsFile?: string | undefined;
  readonly pricePrecision?: number | undefined;
  readonly qtyPrecision?: number | undefined;
  readonly symbol?: string | undefined;
  /** Levels per side to report. */
  readonly depth: number;
  /** Look for cryptofeed companion files (REST snapshots, metadata) beside the inputs. */
  readonly companions?: boolean;
  /** Called about once a second on long replays. */
  readonly onProgress?: (p: ReplayProgress) => void;
  /** Told about each companion file added. */
  readonly onNote?: (note: string) => void;
}

export interface ReplayProgress {
  readonly messages: number;
  readonly elapsedMs: number;
  readonly file: string;
  readonly line: number;
  readonly bytesRead: number;
  readonly bytesTotal: number;
}

export interface SymbolResult extends SyncStats {
  readonly state: BookState;
  readonly reason: string;
  /** [price, qty] as the venue's exact decimal text, best first. */
  readonly bids: Array<[string, string]>;
  readonly asks: Array<[string, string]>;
}

export interface ReplayResult {
  readonly venue: VenueId;
  readonly files: string[];
  /** Messages received from the venue (WebSocket frames and REST responses). */
  readonly messages: number;
  readonly resyncRequests: number;
  readonly symbols: Record<string, SymbolResult>;
}

/** cryptofeed writes NAME.ws.N.0 for the stream, NAME.http.N.0 for REST and NAME.0 for metadata. */
export function cryptofeedCompanions(input: string): { rest: string[]; metadata: string | undefined } {
  const m = /^(.*)\.ws\.\d+\.\d+$/.exec(basename(input));
  if (!m) return { rest: [], metadata: undefined };
  const dir = dirname(input);
  const name = m[1] as string;
  const rest = readdirSync(dir)
    .filter((f) => f.startsWith(`${name}.http.`))
    .sort()
    .map((f) => join(dir, f));
  const meta = join(dir, `${name}.0`);
  return { rest, metadata: existsSync(meta) ? meta : undefined };
}

function symbolFromUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).searchParams.get('symbol') ?? undefined;
  } catch {
    return undefined;
  }
}

export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
  const files = [...opts.inputs];
  let instrumentsFile = opts.instrumentsFile;
  if (opts.companions !== false) {
    for (const input of opts.inputs) {
      const c = cryptofeedCompanions(input);
      for (const f of c.rest) {
        if (!files.includes(f)) {
          files.push(f);
          opts.onNote?.(`also reading ${f} (REST responses recorded beside ${basename(input)})`);
        }
      }
      if (!instrumentsFile && c.metadata && opts.pricePrecision === undefined) {
        instrumentsFile = c.metadata;
        opts.onNote?.(`instrument metadata from ${c.metadata}`);
      }
    }
  }
  const precision: {
    instruments: InstrumentSet | undefined;
    pricePrecision?: number;
    qtyPrecision?: number;
  } = {
    instruments: undefined,
  };
  if (opts.pricePrecision !== undefined) precision.pricePrecision = opts.pricePrecision;
  if (opts.qtyPrecision !== undefined) precision.qtyPrecision = opts.qtyPrecision;
  if (instrumentsFile) {
    precision.instruments = loadInstruments(
      opts.venue,
      parseMetadataText(await readFile(instrumentsFile, 'utf8'), instrumentsFile),
    );
  }
  let resyncRequests = 0;
  const only = opts.symbol ? new Set([opts.symbol.toUpperCase(), opts.symbol]) : undefined;
  const feed = createBookFeed(
    opts.venue,
    { requestResync: () => void resyncRequests++ },
    {
      ...precision,
      only,
      // Metadata may also arrive inside the recording; syncs read it when they first need a grid.
      get instruments() {
        return precision.instruments;
      },
    },
  );

  const positions = new Map<string, ReadPosition>();
  const sources = [];
  for (const f of files) {
    const pos: ReadPosition = { bytesRead: 0, bytesTotal: (await stat(f)).size, line: 0 };
    positions.set(f, pos);
    sources.push(readRecords(f, pos));
  }
  const started = performance.now();
  let lastReport = started;
  let messages = 0;
  let rec: ReplayRecord | undefined;
  try {
    for await (rec of mergeRecords(sources)) {
      if (rec.kind === 'conn') {
        // As live: a (re)opened connection starts every book over.
        feed.resetAll('connection (re)opened');
        continue;
      }
      if (rec.kind !== 'out') messages++;
      const ts = Number.isNaN(rec.recvTs) ? 0 : rec.recvTs;
      // The same path as live: the feed's own text decoder first, JSON.parse for anything else.
      if (rec.kind === 'in' && rec.parsed === undefined && feed.onText?.(rec.text, ts)) continue;
      let value: unknown = rec.parsed;
      if (value === undefined) {
        try {
          value = JSON.parse(rec.text);
        } catch (err) {
          throw new InputError(rec.file, rec.line, `not JSON: ${(err as Error).message}`);
        }
      }
      if (rec.kind === 'out') feed.onOutbound(value);
      else if (rec.kind === 'in') feed.onMessage(value, ts);
      else if (isInstrumentMetadata(opts.venue, value))
        precision.instruments ??= loadInstruments(opts.venue, value);
      else feed.onSnapshot(symbolFromUrl(rec.url), value, ts);
      if ((messages & 1023) === 0 && opts.onProgress) {
        const now = performance.now();
        if (now - lastReport >= 1000) {
          lastReport = now;
          const pos = positions.get(rec.file) as ReadPosition;
          opts.onProgress({
            messages,
            elapsedMs: now - started,
            file: rec.file,
            line: rec.line,
            bytesRead: pos.bytesRead,
            bytesTotal: pos.bytesTotal,
          });
        }
      }
    }
  } catch (err) {
    if (err instanceof InputError || !(err instanceof DataError) || !rec) throw err;
    throw new InputError(rec.file, rec.line, err.message);
  }

  const symbols: Record<string, SymbolResult> = {};
  for (const [symbol, view] of feed.symbols()) {
    const { book, grids, stats } = view;
    const side = (s: typeof book.bids): Array<[string, string]> =>
      grids ? s.top(opts.depth).map(([p, q]) => [fromSteps(p, grids.price), fromSteps(q, grids.qty)]) : [];
    symbols[symbol] = {
      ...stats,
      state: book.state,
      reason: book.reason,
      bids: side(book.bids),
      asks: side(book.asks),
    };
  }
  return { venue: opts.venue, files, messages, resyncRequests, symbols };
}
