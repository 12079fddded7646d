/** `tradewind record`: raw venue traffic → gzip JSON lines rotated hourly (the `replay` format). */
import { isVenueId, VENUES } from '#core/instrument.ts';
import type { VenueId } from '#core/instrument.ts';
import { RecordingWriter } from '#recorder/recording-writer.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { MarketDataClient } from '#venues/market-data.ts';
import { LIVE_ENDPOINTS } from '#venues/market-protocols.ts';
import type { VenueEndpoints } from '#venues/market-protocols.ts';
import { parse, UsageError } from './args.ts';
import { parseDuration } from './duration.ts';

export const recordHelp = `Usage: tradewind record --venue VENUE --symbols A,B --out DIR [options]

Records raw market data exactly as received (WebSocket frames, the frames we sent, and REST
snapshots/metadata), with receive timestamps, as gzip JSON lines rotated hourly — the format
'tradewind replay' reads. Survives reconnects (each one is recorded, and so is the resync);
Ctrl-C flushes and closes the file, losing nothing.

Options:
  --venue VENUE       ${VENUES.join(' | ')}
  --symbols A,B       the venue's own symbols (BTCUSDT, BTC/USD, PF_XBTUSD)
  --out DIR           directory for VENUE-YYYYMMDDTHH.jsonl.gz files (created if missing)
  --duration D        stop after D (30s, 10m, 2h); default: until Ctrl-C
  --sim               record from an embedded local exchange simulator instead of the venue
  --rest-url URL      REST base override (e.g. a simulator elsewhere)
  --ws-url URL        WebSocket base override
  --quiet             no progress on stderr
  -h, --help          this help`;

export async function recordCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    venue: { type: 'string' },
    symbols: { type: 'string' },
    out: { type: 'string' },
    duration: { type: 'string' },
    sim: { type: 'boolean' },
    'rest-url': { type: 'string' },
    'ws-url': { type: 'string' },
    quiet: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${recordHelp}\n`);
    return 0;
  }
  const venue = values.venue;
  if (!venue || !isVenueId(venue)) throw new UsageError(`--venue must be one of ${VENUES.join(', ')}`);
  const symbols = (values.symbols ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (symbols.length === 0) throw new UsageError('--symbols is required (comma-separated)');
  if (!values.out) throw new UsageError('--out is required');
  const durationMs = parseDuration(values.duration, 'duration');

  let sim: ExchangeSimulator | undefined;
  let endpoints: VenueEndpoints = LIVE_ENDPOINTS[venue];
  if (values.sim) {
    sim = new ExchangeSimulator({ symbols: symbols.map((s) => simSymbolFor(venue, s)) });
    await sim.start();
    endpoints = sim.baseUrl(venue);
  }
  endpoints = { rest: values['rest-url'] ?? endpoints.rest, ws: values['ws-url'] ?? endpoints.ws };

  const writer = new RecordingWriter({ dir: values.out, prefix: venue });
  const perSymbol = new Map<string, number>();
  let events = 0;
  const client = new MarketDataClient({
    venue,
    symbols,
    endpoints,
    tap: (r) => writer.write(r),
    onBook: (book) => perSymbol.set(book.symbol, (perSymbol.get(book.symbol) ?? 0) + 1),
    onEvent: (e) => {
      events++;
      if (values.quiet) return;
      if (e.type === 'connection' && e.event.type !== 'backoff')
        process.stderr.write(`record: ${e.event.type}\n`);
      else if (e.type === 'resync') process.stderr.write(`record: resync ${e.symbol}: ${e.reason}\n`);
    },
  });

  const started = Date.now();
  let last = { t: started, n: 0 };
  const progress = setInterval(() => {
    if (values.quiet) return;
    const now = Date.now();
    const rate = Math.round(((writer.written - last.n) * 1000) / Math.max(1, now - last.t));
    last = { t: now, n: writer.written };
    const books = [...client.books()]
      .map(([s, b]) => `${s} ${b.state} ${perSymbol.get(s) ?? 0} upd`)
      .join(', ');
    process.stderr.write(`record: ${writer.written} msgs, ${rate}/s; ${books}\n`);
  }, 1000);

  const done = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('interrupted'));
    process.once('SIGTERM', () => resolve('terminated'));
    if (durationMs !== undefined) setTimeout(() => resolve('duration reached'), durationMs).unref();
  });
  await client.start();
  const why = await done;
  clearInterval(progress);
  await client.stop();
  await writer.close();
  await sim?.stop();
  process.stderr.write(
    `record: ${why}; ${writer.written} messages in ${writer.files.length} file(s), ${events} connection events\n`,
  );
  for (const f of writer.files) process.stdout.write(`${f}\n`);
  return 0;
}

/** An embedded simulator listing exactly the symbols asked for. */
function simSymbolFor(venue: VenueId, symbol: string) {
  const base = {
    'binance-futures': '0.10',
    'binance-us': '0.01',
    'kraken-spot': '0.1',
    'kraken-futures': '0.5',
  }[venue];
  return {
    venue,
    symbol,
    tick: base,
    lot: venue === 'kraken-spot' ? '0.00000001' : '0.001',
    startPrice: '43000.0',
  };
}
