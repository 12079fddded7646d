/**
 * Building venue clients inside a function: which venues this function has keys for (from the
 * `TRADEWIND_SECRET_<VENUE>_<PURPOSE>` variables the CDK `bindSecret` sets), and a client per
 * venue built lazily from the SecretStore. Functions never start() a client: they only use its REST
 * calls (no user stream, no dead man's switch, no WebSocket), so instruments are fetched here from
 * the venue's public metadata endpoint.
 */
import { isVenueId, VENUES, type InstrumentSet, type VenueId } from '#core/instrument.ts';
import type { SecretStore } from '#store/ports.ts';
import type { VenuePurpose } from '#store/secrets.ts';
import { binanceInstruments } from '#venues/binance/instruments.ts';
import { BINANCE_FUTURES_TRADING_ENDPOINTS, BinanceFuturesTrading } from '#venues/binance/trading-client.ts';
import { BINANCE_US_TRADING_ENDPOINTS, BinanceUsTrading } from '#venues/binance/us-trading-client.ts';
import { krakenFuturesInstruments } from '#venues/kraken-futures/instruments.ts';
import {
  KRAKEN_FUTURES_TRADING_ENDPOINTS,
  KrakenFuturesTrading,
} from '#venues/kraken-futures/trading-client.ts';
import { krakenSpotInstruments } from '#venues/kraken-spot/instruments.ts';
import { KRAKEN_SPOT_TRADING_ENDPOINTS, KrakenSpotTrading } from '#venues/kraken-spot/trading-client.ts';
import type { VenueTrading } from '#venues/trading.ts';
import type { VenueMap } from './ports.ts';

/**
 * `TRADEWIND_SECRET_BINANCE_FUTURES_CANCEL_ONLY`: mirrors lib/infra/tradewind-function.ts
 * `secretEnvName` (not imported: that module pulls aws-cdk-lib into the Lambda bundle).
 */
export function secretEnvName(venue: string, purpose: string): string {
  return `TRADEWIND_SECRET_${venue}_${purpose}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Venues whose `purpose` secret is bound to this function. */
export function venuesWithSecret(
  env: Readonly<Record<string, string | undefined>>,
  purpose: VenuePurpose,
): VenueId[] {
  return VENUES.filter((v) => isVenueId(v) && (env[secretEnvName(v, purpose)] ?? '') !== '');
}

/** REST base per venue: production by default; tests and local runs point at the simulator. */
export type VenueRestBases = Partial<Record<VenueId, { readonly rest: string; readonly ws: string }>>;

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${new URL(url).pathname} answered ${res.status}`);
  return await res.json();
}

async function instrumentsOf(venue: VenueId, rest: string, timeoutMs: number): Promise<InstrumentSet> {
  switch (venue) {
    case 'binance-futures':
      return binanceInstruments(await getJson(`${rest}/fapi/v1/exchangeInfo`, timeoutMs), venue);
    case 'binance-us':
      return binanceInstruments(await getJson(`${rest}/api/v3/exchangeInfo`, timeoutMs), venue);
    case 'kraken-spot':
      return krakenSpotInstruments(await getJson(`${rest}/0/public/AssetPairs`, timeoutMs));
    case 'kraken-futures':
      return krakenFuturesInstruments(await getJson(`${rest}/derivatives/api/v3/instruments`, timeoutMs));
  }
}

/** A REST-only client for one venue with the given key purpose (not started: no streams, no DMS). */
export async function buildVenueTrading(
  venue: VenueId,
  secrets: SecretStore,
  purpose: VenuePurpose,
  bases: VenueRestBases = {},
  timeoutMs = 8000,
): Promise<VenueTrading> {
  const { apiKey, apiSecret } = await secrets.credentials(venue, purpose);
  const requestTimeoutMs = timeoutMs;
  switch (venue) {
    case 'binance-futures': {
      const b = bases[venue];
      const endpoints = b
        ? { rest: b.rest, ws: b.ws, wsApi: `${b.ws}/ws-fapi/v1` }
        : BINANCE_FUTURES_TRADING_ENDPOINTS;
      const instruments = await instrumentsOf(venue, endpoints.rest, timeoutMs);
      return new BinanceFuturesTrading({
        endpoints,
        apiKey,
        apiSecret,
        instruments,
        requestTimeoutMs,
        useWsApi: false,
        deadManSwitch: false,
      });
    }
    case 'binance-us': {
      const endpoints = bases[venue] ?? BINANCE_US_TRADING_ENDPOINTS;
      const instruments = await instrumentsOf(venue, endpoints.rest, timeoutMs);
      return new BinanceUsTrading({ endpoints, apiKey, apiSecret, instruments });
    }
    case 'kraken-spot': {
      const b = bases[venue];
      const endpoints = b ? { rest: b.rest, wsAuth: `${b.ws}/v2-auth` } : KRAKEN_SPOT_TRADING_ENDPOINTS;
      const instruments = await instrumentsOf(venue, endpoints.rest, timeoutMs);
      return new KrakenSpotTrading({
        endpoints,
        apiKey,
        apiSecret,
        instruments,
        requestTimeoutMs,
        useWs: false,
        dms: false,
      });
    }
    case 'kraken-futures': {
      const b = bases[venue];
      const endpoints = b ? { rest: b.rest, ws: `${b.ws}/ws/v1` } : KRAKEN_FUTURES_TRADING_ENDPOINTS;
      const instruments = await instrumentsOf(venue, endpoints.rest, timeoutMs);
      return new KrakenFuturesTrading({ endpoints, apiKey, apiSecret, instruments, requestTimeoutMs });
    }
  }
}

/**
 * A lazy VenueMap: each venue's client is built (secret fetched, instruments loaded) on first use
 * and reused by later invocations of the same Lambda container. A failed build is not cached.
 */
export function lazyVenueMap(
  venues: readonly VenueId[],
  build: (venue: VenueId) => Promise<VenueTrading>,
): VenueMap {
  const map: VenueMap = {};
  for (const venue of venues) {
    let cached: Promise<VenueTrading> | null = null;
    map[venue] = () => {
      if (cached === null) {
        const p = build(venue);
        cached = p;
        p.catch(() => {
          if (cached === p) cached = null;
        });
      }
      return cached;
    };
  }
  return map;
}
