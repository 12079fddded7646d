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

/**
 * The venue's trading client. `base` points it at a simulator (the same REST/WS bases the market
 * data client uses); without it, the live venue.
 */
export function createTrading(
  venue: VenueId,
  creds: TradingCredentials,
  base?: VenueEndpoints,
): VenueTrading {
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
      });
    case 'kraken-futures':
      return new KrakenFuturesTrading({
        endpoints: base ? krakenFuturesTradingEndpointsFor(base) : KRAKEN_FUTURES_TRADING_ENDPOINTS,
        ...creds,
      });
  }
}
