/**
 * Fixtures for the function cores: embedded DynamoDB (dynalite), the exchange simulator with a
 * trade key (the "engine") and a cancel-only / read-only key on the same account, and the venue
 * clients built exactly as the Lambda builds them (functions/shared/venues.ts) — real sockets.
 */
import { encodeClientOrderId } from '#core/client-order-id.ts';
import type { Instrument } from '#core/instrument.ts';
import type { OrderIntent, OrderSide } from '#core/trading.ts';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { EnvSecretStore, envVarNames } from '#store/secrets.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import type { VenueTrading } from '#venues/trading.ts';
import { buildVenueTrading } from '#functions/shared/venues.ts';

export const SYMBOL = 'BTCUSDT';
/** Long enough to be registered for redaction (≥ 8 characters); not a real key. */
export const TRADE_KEY = 'trade-key-0123456789';
export const TRADE_SECRET = 'trade-secret-s3cr3t-value-0001';
export const CANCEL_KEY = 'cancel-key-0123456789';
export const CANCEL_SECRET = 'cancel-secret-s3cr3t-value-0002';
export const READ_KEY = 'read-key-0123456789';
export const READ_SECRET = 'read-secret-s3cr3t-value-0003';

export interface Fixture {
  readonly db: EmbeddedDynamo;
  readonly sim: ExchangeSimulator;
  readonly engine: BinanceFuturesTrading;
  readonly inst: Instrument;
  readonly secrets: EnvSecretStore;
  /** A REST-only client with the cancel-only key, built as the control λ builds it. */
  cancelOnly(): Promise<VenueTrading>;
  readOnly(): Promise<VenueTrading>;
  /** Places a passive limit order with the engine's key; returns its client order id. */
  placeResting(side: OrderSide, seq: number, shard?: number, epoch?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startFixture(stage: string): Promise<Fixture> {
  const db = await startEmbeddedDynamo({ stage });
  const sim = new ExchangeSimulator({
    intervalMs: 50,
    seed: 7,
    binanceTrading: {
      accounts: [
        { apiKey: TRADE_KEY, secret: TRADE_SECRET, account: 'main' },
        { apiKey: CANCEL_KEY, secret: CANCEL_SECRET, account: 'main' },
        { apiKey: READ_KEY, secret: READ_SECRET, account: 'main' },
      ],
    },
  });
  await sim.start();
  const base = sim.baseUrl('binance-futures');
  const engine = new BinanceFuturesTrading({
    endpoints: tradingEndpointsFor(base),
    apiKey: TRADE_KEY,
    apiSecret: TRADE_SECRET,
    orderTimeoutMs: 2000,
    deadManSwitch: false,
    backoff: { baseMs: 20, capMs: 100, resetAfterMs: 1000 },
  });
  await engine.start(() => {});
  const inst = engine.instrumentSet.get(SYMBOL) as Instrument;
  const cancelNames = envVarNames('binance-futures', 'cancel-only');
  const readNames = envVarNames('binance-futures', 'read-only');
  const secrets = new EnvSecretStore({
    env: {
      [cancelNames.apiKey]: CANCEL_KEY,
      [cancelNames.apiSecret]: CANCEL_SECRET,
      [readNames.apiKey]: READ_KEY,
      [readNames.apiSecret]: READ_SECRET,
    },
    envFile: null,
  });
  const bases = { 'binance-futures': base };
  return {
    db,
    sim,
    engine,
    inst,
    secrets,
    cancelOnly: () => buildVenueTrading('binance-futures', secrets, 'cancel-only', bases),
    readOnly: () => buildVenueTrading('binance-futures', secrets, 'read-only', bases),
    async placeResting(side, seq, shard = 0, epoch = 1) {
      const book = sim.truth('binance-futures', SYMBOL);
      const priceTicks = side === 'buy' ? book.bestBid() - 300 : book.bestAsk() + 300;
      const intent: OrderIntent = {
        clientOrderId: encodeClientOrderId({ shard, epoch, seq }),
        venue: 'binance-futures',
        symbol: SYMBOL,
        side,
        type: 'limit',
        timeInForce: 'GTC',
        priceTicks,
        qtyLots: 1,
        reduceOnly: false,
        purpose: 'manual',
        createdTs: Date.now(),
      };
      const r = await engine.place(intent, inst);
      if (r.kind !== 'ack') throw new Error(`resting order not placed: ${JSON.stringify(r)}`);
      return intent.clientOrderId;
    },
    async close() {
      await engine.stop();
      await sim.stop();
      await db.close();
    },
  };
}

/** Captures everything written to stdout/stderr while `run` runs (Powertools writes there). */
export async function captureOutput<T>(run: () => Promise<T>): Promise<{ result: T; output: string }> {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (chunk: unknown): boolean => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  };
  process.stdout.write = grab;
  process.stderr.write = grab;
  try {
    const result = await run();
    return { result, output: chunks.join('') };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
