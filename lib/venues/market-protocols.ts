/**
 * Per-venue facts a market-data connection needs: where to connect, what to subscribe, how to get
 * a book back after a resync, liveness rules and connection limits. Sources: VENUES.md §1–4.
 */
import type { VenueId } from '#core/instrument.ts';

export interface VenueEndpoints {
  /** REST base, e.g. https://fapi.binance.com (the simulator: http://127.0.0.1:port/binance-futures). */
  readonly rest: string;
  /** WebSocket base, e.g. wss://fstream.binance.com. */
  readonly ws: string;
}

export const LIVE_ENDPOINTS: Record<VenueId, VenueEndpoints> = {
  'binance-futures': { rest: 'https://fapi.binance.com', ws: 'wss://fstream.binance.com' },
  'binance-us': { rest: 'https://api.binance.us', ws: 'wss://stream.binance.us:9443' },
  'kraken-spot': { rest: 'https://api.kraken.com', ws: 'wss://ws.kraken.com' },
  'kraken-futures': { rest: 'https://futures.kraken.com', ws: 'wss://futures.kraken.com' },
};

export interface MarketProtocol {
  readonly venue: VenueId;
  /** Symbols one connection carries (streams per connection within the venue's limit). */
  readonly symbolsPerConnection: number;
  wsUrl(base: string, symbols: readonly string[]): string;
  /** Messages sent on every (re)connect. */
  subscribe(symbols: readonly string[]): string[];
  /** Messages that make the venue send a fresh snapshot of one symbol's book (Kraken). */
  resubscribeBook(symbol: string): string[];
  /** REST snapshot URL (Binance) or null when snapshots come over the WebSocket. */
  snapshotUrl(base: string, symbol: string): string | null;
  readonly snapshotWeight: number;
  metadataUrl(base: string): string;
  readonly metadataWeight: number;
  /** REQUEST_WEIGHT per minute (Binance), or a generous public-endpoint budget. */
  readonly weightPerMinute: number;
  /** An application-level ping, where the venue wants one instead of WS ping frames. */
  readonly appPing: (() => string) | undefined;
  readonly pingIntervalMs: number;
  /** Open but silent this long = dead. */
  readonly silentLimitMs: number;
  /** Planned rotation before the venue's own cut (Binance: 24 h). */
  readonly maxAgeMs: number | undefined;
}

const HOUR = 3_600_000;

function binance(venue: 'binance-futures' | 'binance-us'): MarketProtocol {
  const futures = venue === 'binance-futures';
  const streamsOf = (s: string) => {
    const l = s.toLowerCase();
    return futures
      ? [`${l}@depth@100ms`, `${l}@aggTrade`, `${l}@markPrice@1s`]
      : [`${l}@depth@100ms`, `${l}@aggTrade`];
  };
  return {
    venue,
    // USD-M allows 200 streams per connection, Binance.US 1024; 3 or 2 streams per symbol.
    symbolsPerConnection: futures ? 60 : 300,
    wsUrl: (base, symbols) => `${base}/stream?streams=${symbols.flatMap(streamsOf).join('/')}`,
    subscribe: () => [],
    resubscribeBook: () => [],
    snapshotUrl: (base, symbol) =>
      `${base}${futures ? '/fapi/v1' : '/api/v3'}/depth?symbol=${encodeURIComponent(symbol.toUpperCase())}&limit=1000`,
    snapshotWeight: futures ? 20 : 10,
    metadataUrl: (base) => `${base}${futures ? '/fapi/v1' : '/api/v3'}/exchangeInfo`,
    metadataWeight: futures ? 1 : 10,
    weightPerMinute: futures ? 2400 : 1200,
    appPing: undefined,
    // Binance.US counts our pings against 5 messages/s; one every 30 s is far below.
    pingIntervalMs: 30_000,
    silentLimitMs: 10_000,
    maxAgeMs: 23 * HOUR,
  };
}

let krakenReqId = 1;

export const MARKET_PROTOCOLS: Record<VenueId, MarketProtocol> = {
  'binance-futures': binance('binance-futures'),
  'binance-us': binance('binance-us'),
  'kraken-spot': {
    venue: 'kraken-spot',
    symbolsPerConnection: 50,
    wsUrl: (base) => `${base}/v2`,
    subscribe: (symbols) => [
      JSON.stringify({
        method: 'subscribe',
        params: { channel: 'book', symbol: symbols, depth: 10, snapshot: true },
        req_id: krakenReqId++,
      }),
      JSON.stringify({
        method: 'subscribe',
        params: { channel: 'trade', symbol: symbols, snapshot: false },
        req_id: krakenReqId++,
      }),
    ],
    resubscribeBook: (symbol) => [
      JSON.stringify({
        method: 'unsubscribe',
        params: { channel: 'book', symbol: [symbol], depth: 10 },
        req_id: krakenReqId++,
      }),
      JSON.stringify({
        method: 'subscribe',
        params: { channel: 'book', symbol: [symbol], depth: 10, snapshot: true },
        req_id: krakenReqId++,
      }),
    ],
    snapshotUrl: () => null,
    snapshotWeight: 0,
    metadataUrl: (base) => `${base}/0/public/AssetPairs`,
    metadataWeight: 1,
    weightPerMinute: 60,
    appPing: () => JSON.stringify({ method: 'ping', req_id: krakenReqId++ }),
    pingIntervalMs: 20_000,
    // Kraken sends a heartbeat every second while subscribed.
    silentLimitMs: 10_000,
    maxAgeMs: undefined,
  },
  'kraken-futures': {
    venue: 'kraken-futures',
    symbolsPerConnection: 50,
    wsUrl: (base) => `${base}/ws/v1`,
    subscribe: (symbols) => [
      JSON.stringify({ event: 'subscribe', feed: 'heartbeat' }),
      JSON.stringify({ event: 'subscribe', feed: 'book', product_ids: symbols }),
      JSON.stringify({ event: 'subscribe', feed: 'ticker', product_ids: symbols }),
    ],
    resubscribeBook: (symbol) => [
      JSON.stringify({ event: 'unsubscribe', feed: 'book', product_ids: [symbol] }),
      JSON.stringify({ event: 'subscribe', feed: 'book', product_ids: [symbol] }),
    ],
    snapshotUrl: () => null,
    snapshotWeight: 0,
    metadataUrl: (base) => `${base}/derivatives/api/v3/instruments`,
    metadataWeight: 1,
    weightPerMinute: 60,
    // "Send a ping at least every 60 s": WS ping frames every 30 s.
    appPing: undefined,
    pingIntervalMs: 30_000,
    silentLimitMs: 10_000,
    maxAgeMs: undefined,
  },
};
