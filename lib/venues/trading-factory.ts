/** One place that knows which private-API client belongs to which venue, live or on the simulator. */
import type { VenueId } from '#core/instrument.ts';
import {
  BINANCE_FUTURES_TRADING_ENDPOINTS,
  BinanceFuturesTrading,
  tradingEndpointsFor,
} from './binance/trading-client.ts';
import { BINANCE_US_TRADING_ENDPOINTS, BinanceUsTrading } from './binance/us-trading-client.ts';
import {
  KRAKEN_FUTURES_TRADING_ENDPOINTS,
  KrakenFuturesTrading,
  krakenFuturesTradingEndpointsFor,
} from './kraken-futures/trading-client.ts';
import {
  KRAKEN_SPOT_TRADING_ENDPOINTS,
  KrakenSpotTrading,
  krakenTradingEndpointsFor,
} from './kraken-spot/trading-client.ts';
import type { VenueEndpoints } from './market-protocols.ts';
import type { VenueTrading } from './trading.ts';

export interface TradingCredentials {
  readonly apiKey: string;
  /** Binance: the HMAC secret; Kraken: base64, as issued. Never logged. */
  readonly apiSecret: string;
}

export interface TradingOptions {
  /**
   * The engine relies on venue-side protective stops (engine config `protectiveStop.enabled`).
   * Kraken's dead man's switches cancel every order of the account when they fire — the
   * protective stops with them, exactly when the engine is gone and they are all that guards the
   * position — so on Kraken the switch stays off while stops are relied on (every other order
   * the engine sends is an IOC that never rests, or a post-only entry the engine cancels at its
   * TTL). Binance USD-M's countdown spares stops (they live in the Algo Service [ASSUMED: the docs
   * do not say; see the client]) and stays armed; Binance.US has no switch.
   */
  readonly protectiveStops?: boolean;
}

/** Whether a venue's dead man's switch is armed, given whether protective stops are relied on. */
export function deadMansSwitchArmed(venue: VenueId, opts: TradingOptions = {}): boolean {
  if (venue === 'binance-us') return false;
  const cancelsStops = venue === 'kraken-spot' || venue === 'kraken-futures';
  return !(cancelsStops && opts.protectiveStops === true);
}

/**
 * The venue's trading client. `base` points it at a simulator (the same REST/WS bases the market
 * data client uses); without it, the live venue.
 */
export function createTrading(
  venue: VenueId,
  creds: TradingCredentials,
  base?: VenueEndpoints,
  opts: TradingOptions = {},
): VenueTrading {
  const dms = deadMansSwitchArmed(venue, opts);
  switch (venue) {
    case 'binance-futures':
      return new BinanceFuturesTrading({
        endpoints: base ? tradingEndpointsFor(base) : BINANCE_FUTURES_TRADING_ENDPOINTS,
        ...creds,
      });
    case 'binance-us':
      return new BinanceUsTrading({ endpoints: base ?? BINANCE_US_TRADING_ENDPOINTS, ...creds });
    case 'kraken-spot':
      return new KrakenSpotTrading({
        endpoints: base ? krakenTradingEndpointsFor(base) : KRAKEN_SPOT_TRADING_ENDPOINTS,
        ...creds,
        ...(dms ? {} : { dms: false as const }),
      });
    case 'kraken-futures':
      return new KrakenFuturesTrading({
        endpoints: base ? krakenFuturesTradingEndpointsFor(base) : KRAKEN_FUTURES_TRADING_ENDPOINTS,
        ...creds,
        ...(dms ? {} : { dmsTimeoutSec: 0 }),
      });
  }
}
