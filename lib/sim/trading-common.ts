/**
 * What the simulator's private-API modules (binance-trading.ts, binance-us-trading.ts,
 * kraken-spot-trading.ts, kraken-futures-trading.ts) share: the API-key registry, the scriptable
 * order-fault queue, the per-account fill log, request body and header reading, the matching
 * engine set-up and fault-aware delivery to a WebSocket.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import type { L2Book } from '#core/book.ts';
import type { VenueId } from '#core/instrument.ts';
import type { SimAccountsConfig } from './accounts.ts';
import type { FaultPlan } from './faults.ts';
import type { SimFill, SimInstrumentSpec, SimOrder } from './matching.ts';
import { MatchingEngine, simInstrumentSpecs } from './matching.ts';
import type { SimSymbolConfig } from './symbols.ts';

export type Send = (status: number, body: unknown, headers?: Record<string, string>) => void;

/** What the exchange simulator hands a trading module. */
export interface TradingHost {
  readonly symbols: readonly SimSymbolConfig[];
  readonly book: (symbol: string) => L2Book | undefined;
  readonly now: () => number;
  readonly faults: FaultPlan;
}

/** An API credential of a simulated account. */
export interface SimCredential {
  readonly apiKey: string;
  readonly secret: string;
  /** Ledger account name (default: the API key). */
  readonly account?: string;
}

/** API key → secret and ledger account; `fallback` (ledger "sim") when no accounts are given. */
export function accountRegistry(
  accounts: readonly SimCredential[] | undefined,
  fallback: { readonly apiKey: string; readonly secret: string },
): Map<string, { secret: string; account: string }> {
  const byKey = new Map<string, { secret: string; account: string }>();
  for (const a of accounts ?? [{ ...fallback, account: 'sim' }]) {
    byKey.set(a.apiKey, { secret: a.secret, account: a.account ?? a.apiKey });
  }
  return byKey;
}

/** The instrument specs of one venue and a MatchingEngine over them. */
export function tradingEngine(
  venue: VenueId,
  host: TradingHost,
  opts: { readonly ledger?: SimAccountsConfig; readonly makerFee?: string; readonly takerFee?: string },
  onOrderUpdate: (order: SimOrder, fill: SimFill | null) => void,
): { specs: Map<string, SimInstrumentSpec>; engine: MatchingEngine } {
  const fees: { makerFee?: string; takerFee?: string } = {};
  if (opts.makerFee !== undefined) fees.makerFee = opts.makerFee;
  if (opts.takerFee !== undefined) fees.takerFee = opts.takerFee;
  const specs = simInstrumentSpecs(
    host.symbols.filter((s) => s.venue === venue),
    () => fees,
  );
  const engine = new MatchingEngine({
    instruments: specs,
    ...(opts.ledger ? { accounts: opts.ledger } : {}),
    onOrderUpdate,
  });
  return { specs, engine };
}

export type SilentFault = { readonly kind: 'silent' };
export type UnknownFault = { readonly kind: 'unknown' };

/** A queue of faults, each consumed by the next order; every venue can leave an order unanswered. */
export class OrderFaults<X extends { readonly kind: string } = never> {
  private readonly orders: Array<SilentFault | X> = [];

  protected enqueue(fault: SilentFault | X, count: number): void {
    for (let i = 0; i < count; i++) this.orders.push(fault);
  }

  /** The next `count` orders are placed and never answered. */
  silentAfterPlace(count = 1): void {
    this.enqueue({ kind: 'silent' }, count);
  }

  clear(): void {
    this.orders.length = 0;
  }

  takeOrder(): SilentFault | X | undefined {
    return this.orders.shift();
  }
}

/** Faults of a venue that answers "unknown" after placing and can fail a signed request. */
export class PlaceAndSignFaults<X extends { readonly kind: string }> extends OrderFaults<UnknownFault | X> {
  /** Signed requests still to fail (the venue's timestamp or nonce error). */
  private signed = 0;

  /** The next `count` orders are placed, then answered with the venue's unknown-outcome error. */
  unknownAfterPlace(count = 1): void {
    this.enqueue({ kind: 'unknown' }, count);
  }

  protected failSigned(count: number): void {
    this.signed += count;
  }

  protected takeSigned(): boolean {
    if (this.signed <= 0) return false;
    this.signed--;
    return true;
  }

  override clear(): void {
    super.clear();
    this.signed = 0;
  }
}

/** Every fill, in order, per ledger account. */
export class FillLog<F extends SimFill> {
  private readonly byAccount = new Map<string, F[]>();

  record(account: string, fill: F): void {
    let log = this.byAccount.get(account);
    if (!log) this.byAccount.set(account, (log = []));
    log.push(fill);
  }

  of(account: string): readonly F[] {
    return this.byAccount.get(account) ?? [];
  }
}

/** Reads a request's whole body as UTF-8, then calls `onBody`. */
export function readBody(req: IncomingMessage, onBody: (body: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => onBody(Buffer.concat(chunks).toString('utf8')));
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A WebSocket message's text. */
export function rawText(data: unknown): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return String(data);
}

/** Sends on an open socket unless the venue is stalled, after the venue's latency. */
export function deliverText(host: TradingHost, venue: VenueId, ws: WebSocket, text: string): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  const faults = host.faults;
  if (faults.isStalled(venue, host.now())) return;
  const delay = faults.latencyOf(venue);
  if (delay > 0) setTimeout(() => ws.readyState === WebSocket.OPEN && ws.send(text), delay);
  else ws.send(text);
}

/** Keeps a request log to its last 5,000–10,000 entries. */
export function logBounded<T>(log: T[], entry: T): void {
  log.push(entry);
  if (log.length > 10_000) log.splice(0, 5_000);
}

/** A Binance user-data-stream key: its account, when it lapses, and the sockets streaming it. */
export interface ListenKey {
  readonly key: string;
  readonly account: string;
  expiresAt: number;
  readonly sockets: Set<WebSocket>;
}

/** The listenKeys of a Binance-style venue and the user-stream sockets on them (/ws/<listenKey>). */
export class ListenKeyStreams {
  private readonly keys = new Map<string, ListenKey>();
  /** Account → its current listenKey. */
  private readonly active = new Map<string, string>();
  private readonly validityMs: number;

  constructor(validityMs: number) {
    this.validityMs = validityMs;
  }

  get(key: string): ListenKey | undefined {
    return this.keys.get(key);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** The account's current listenKey while it is live. */
  liveOf(account: string, now: number): ListenKey | undefined {
    const key = this.active.get(account);
    const lk = key ? this.keys.get(key) : undefined;
    return lk && lk.expiresAt > now ? lk : undefined;
  }

  /** POST: keeps the account's live key alive, or makes a new one; returns it. */
  open(account: string, now: number): string {
    const live = this.liveOf(account, now);
    if (live) {
      this.keepAlive(live, now);
      return live.key;
    }
    const fresh: ListenKey = {
      key: randomBytes(32).toString('hex'),
      account,
      expiresAt: now + this.validityMs,
      sockets: new Set(),
    };
    this.keys.set(fresh.key, fresh);
    this.active.set(account, fresh.key);
    return fresh.key;
  }

  keepAlive(lk: ListenKey, now: number): void {
    lk.expiresAt = now + this.validityMs;
  }

  /** DELETE: the key lapses now and its streams are closed. */
  close(lk: ListenKey, now: number): void {
    lk.expiresAt = now;
    for (const ws of lk.sockets) ws.close(1000, 'listenKey deleted');
    lk.sockets.clear();
  }

  /** A socket opened on /ws/<key>: streamed while the key is live, else closed. */
  attach(key: string, ws: WebSocket, now: () => number): void {
    const lk = this.keys.get(key);
    if (!lk || lk.expiresAt <= now()) {
      ws.close(1008, 'listenKey expired');
      return;
    }
    lk.sockets.add(ws);
    const gone = () => lk.sockets.delete(ws);
    ws.on('close', gone);
    ws.on('error', gone);
  }

  socketCount(): number {
    let n = 0;
    for (const k of this.keys.values()) n += k.sockets.size;
    return n;
  }

  /** Sends to every stream of the account's live listenKey. */
  push(account: string, now: number, text: string, deliver: (ws: WebSocket, text: string) => void): void {
    const lk = this.liveOf(account, now);
    if (!lk) return;
    for (const ws of lk.sockets) deliver(ws, text);
  }

  /** Closes every user-stream socket (the venue dropped them); returns how many. */
  dropAll(): number {
    let n = 0;
    for (const lk of this.keys.values()) {
      for (const ws of lk.sockets) {
        ws.terminate();
        n++;
      }
      lk.sockets.clear();
    }
    return n;
  }

  /** Makes every live listenKey lapse now: `listenKeyExpired` is pushed and the streams closed. */
  expireAll(now: number, deliver: (ws: WebSocket, text: string) => void): void {
    for (const lk of this.keys.values()) if (lk.expiresAt > now) lk.expiresAt = now;
    this.sweep(now, deliver);
  }

  /** Pushes `listenKeyExpired` to the streams of every lapsed key and closes them. */
  sweep(now: number, deliver: (ws: WebSocket, text: string) => void): void {
    for (const lk of this.keys.values()) {
      if (lk.expiresAt > now || lk.sockets.size === 0) continue;
      const msg = JSON.stringify({ e: 'listenKeyExpired', E: now, listenKey: lk.key });
      for (const ws of lk.sockets) {
        deliver(ws, msg);
        ws.close(1000, 'listenKey expired');
      }
      lk.sockets.clear();
    }
  }
}
