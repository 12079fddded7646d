/**
 * `tradewind start`: the local simulator on a synthetic market and the engine paper-trading on
 * it — the real venue adapters over real sockets, embedded defaults, no AWS, no network.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DataError } from '#core/errors.ts';
import { isVenueId, VENUES } from '#core/instrument.ts';
import type { VenueId } from '#core/instrument.ts';
import type { EngineConfig } from '#engine/config.ts';
import { parseEngineConfig } from '#engine/config.ts';
import { Engine } from '#engine/engine.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { runControlInbox } from '#engine/control-inbox.ts';
import { startLocalControlServer } from '#control/local-server.ts';
import { ControlReadModel } from '#store/dynamo/control-read.ts';
import { DynamoEngineStateRepo } from '#store/dynamo/engine-state.ts';
import { openProjectedJournal } from '#store/read-model-projection.ts';
import { DynamoLeaseRepo } from '#store/dynamo/lease.ts';
import { controlCodec } from '#store/messages.ts';
import type { ControlMessage } from '#store/ports.ts';
import { InProcessQueue } from '#store/queues.ts';
import { DynamoStateStore } from '#store/dynamo/sync-state-store.ts';
import { startEmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { registerSecret } from '#store/redact.ts';
import { DEFAULT_SYMBOLS } from '#sim/symbols.ts';
import { MarketDataClient } from '#venues/market-data.ts';
import { createTrading } from '#venues/trading-factory.ts';
import { parse, intOption, UsageError } from './args.ts';
import { parseDuration } from './duration.ts';

/**
 * The simulator's private API for `venue`, with a fresh credential for this run and a flat
 * account: the quote currency only, so the engine starts with no position to adopt.
 */
function simTrading(venue: VenueId, apiKey: string, apiSecret: string) {
  const account = { apiKey, secret: apiSecret, account: 'paper' };
  const quote = venue === 'binance-futures' || venue === 'binance-us' ? 'USDT' : 'USD';
  const ledger = { balances: { [venue]: { [quote]: '100000' } } };
  switch (venue) {
    case 'binance-futures':
      return { binanceTrading: { accounts: [account], ledger } };
    case 'binance-us':
      return { binanceUsTrading: { accounts: [account], ledger } };
    case 'kraken-spot':
      return { krakenSpotTrading: { accounts: [account], ledger } };
    case 'kraken-futures':
      return { krakenFuturesTrading: { accounts: [account], ledger } };
  }
}

export const startHelp = `Usage: tradewind start [options]

Starts the local exchange simulator on a synthetic market and the engine paper-trading on it: the
real venue adapters over real sockets, the order-book-imbalance strategy, the risk gate and the
kill switch. No AWS account, no network. A live status line on stderr; on exit (Ctrl-C or
--duration) a summary and where the full record (the journal) is.

Options:
  --venue VENUE          venue to paper-trade (default binance-futures): ${VENUES.join(', ')}
  --symbols A,B          symbols (default BTCUSDT)
  --duration D           stop after D (30s, 10m); default: until Ctrl-C
  --config FILE          engine config JSON: capital, orderNotional, strategy, risk, protectiveStop, entry (see README)
  --seed N               synthetic market seed (default 7)
  --flatten-on-exit      on Ctrl-C/--duration: kill switch (cancel all + flatten) before exiting
  --resume REASON        clear a persisted kill flag (audited) and trade; without it a set flag keeps the engine HALTED
  --state DIR            local state: embedded DynamoDB with the journal, kill flag, lease (default .tradewind)
  --runs DIR             where journals go (default runs/)
  --json                 print the summary as one JSON object on stdout
  -h, --help             this help`;

interface Summary {
  trades: number;
  winRate: number;
  pnl: string;
  fees: string;
  maxDrawdown: string;
  equity: string;
  signals: number;
  orders: number;
  rejections: Record<string, number>;
  latencyUs: { count: number; p50: number; p99: number; p999: number; max: number };
  stagesUs: Record<string, unknown>;
  signalToOrderUs: unknown;
  tradingState: string;
  kill: unknown;
  positions: Array<{ symbol: string; position: string; protectiveStop: string | null }>;
  protectiveStops: { placed: number; triggered: number; refused: Record<string, number> };
  journal: string | undefined;
  durationMs: number;
}

export async function startCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    venue: { type: 'string' },
    symbols: { type: 'string' },
    duration: { type: 'string' },
    config: { type: 'string' },
    seed: { type: 'string' },
    'flatten-on-exit': { type: 'boolean' },
    resume: { type: 'string' },
    state: { type: 'string' },
    runs: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${startHelp}\n`);
    return 0;
  }
  const venue = values.venue ?? 'binance-futures';
  if (!isVenueId(venue)) throw new UsageError(`--venue must be one of ${VENUES.join(', ')}`);
  const symbols = (values.symbols ?? DEFAULT_SYMBOLS[venue].symbol)
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  if (symbols.length === 0) throw new UsageError('--symbols needs at least one symbol');
  const durationMs = parseDuration(values.duration, 'duration');
  const seed = intOption(values.seed, 'seed', 0, 2 ** 31 - 1) ?? 7;
  let config: EngineConfig;
  try {
    config = parseEngineConfig(
      values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as unknown) : {},
    );
  } catch (err) {
    if (err instanceof SyntaxError)
      throw new DataError('BAD_CONFIG', `${values.config}: not JSON: ${err.message}`);
    if (err instanceof Error && 'code' in err && (err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UsageError(`no such file: ${values.config}`);
    throw new DataError('BAD_CONFIG', `${values.config ?? 'config'}: ${(err as Error).message}`);
  }

  const stateDir = resolve(values.state ?? '.tradewind');
  // Engine state (kill flag, order ids), the lease and the journal live in embedded DynamoDB
  // (dynalite, on disk): the same repository code as on AWS, and a restart resumes from it.
  const dynamo = await startEmbeddedDynamo({ stage: 'local', path: join(stateDir, 'dynamo') });
  const leases = new DynamoLeaseRepo(dynamo.doc, dynamo.table);
  const lease = await leases.acquire(
    0,
    `local-${process.pid}-${randomBytes(4).toString('hex')}`,
    60_000,
    Date.now(),
  );
  if (!lease)
    throw new UsageError(
      `another engine holds the local lease in ${stateDir}; stop it first (or wait a minute)`,
    );
  const epoch = lease.epoch;
  const stateRepo = new DynamoEngineStateRepo(dynamo.doc, dynamo.table);
  const state = await DynamoStateStore.open(stateRepo, 0, (err) =>
    process.stderr.write(`state store: ${err.message}\n`),
  );
  const journal = await openProjectedJournal({
    doc: dynamo.doc,
    table: dynamo.table,
    shard: 0,
    epoch,
    venue,
    onError: (what, err) => process.stderr.write(`read model: ${what}: ${err.message}\n`),
  });
  const exportPath = join(
    resolve(values.runs ?? 'runs'),
    new Date().toISOString().replace(/[:.]/g, '-'),
    'journal.jsonl',
  );
  // A fresh credential per run: the simulator is local, and no secret lives in the code.
  const apiKey = `paper-${randomBytes(8).toString('hex')}`;
  // Kraken issues base64 secrets; Binance hex-like ones.
  const apiSecret = venue.startsWith('kraken')
    ? randomBytes(64).toString('base64')
    : randomBytes(32).toString('hex');
  registerSecret(apiKey);
  registerSecret(apiSecret);
  const sim = new ExchangeSimulator({
    seed,
    // A lively demo market: an imbalance episode every ~8 s, so a 30 s session trades.
    symbols: symbols.map((symbol) => ({
      ...DEFAULT_SYMBOLS[venue],
      symbol,
      market: { signalsPerMinute: 8 },
    })),
    ...simTrading(venue, apiKey, apiSecret),
  });
  await sim.start();
  const endpoints = sim.baseUrl(venue);
  const trading = createTrading(venue, { apiKey, apiSecret }, endpoints, {
    protectiveStops: config.protectiveStop.enabled,
  });
  const tty = process.stderr.isTTY;
  const log = (line: string) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
  const engine = new Engine({
    venue,
    symbols,
    config,
    trading,
    journal,
    state,
    epoch,
    onLog: log,
    market: (hooks) =>
      new MarketDataClient({
        venue,
        symbols,
        endpoints,
        onBook: hooks.onBook,
        onReceive: hooks.onReceive,
        onEvent: (e) => {
          if (e.type === 'connection' && (e.event.type === 'close' || e.event.type === 'open'))
            log(`market: ${e.event.type}`);
          else if (e.type === 'resync') log(`market: resync ${e.symbol} (${e.reason})`);
        },
      }),
  });

  // The control API's handlers on 127.0.0.1, as on AWS: kill / resume / status / positions / orders / pnl.
  const controlQueue = new InProcessQueue<ControlMessage>({ name: 'control', codec: controlCodec });
  const control = await startLocalControlServer({
    deps: {
      stage: 'local',
      shards: [0],
      state: stateRepo,
      reads: new ControlReadModel(dynamo.doc, dynamo.table),
      control: controlQueue,
      venues: { [venue]: trading },
      now: () => Date.now(),
    },
  });
  log(
    `control API: ${control.url} (Authorization: Bearer ${control.token}) — POST /kill {"reason":"…"}, GET /status`,
  );
  const renew = setInterval(
    () => void leases.renew(lease, 60_000, Date.now()).catch(() => undefined),
    20_000,
  );
  // Liveness for the control API's /status, as the Fargate process reports it.
  const heartbeat = setInterval(
    () => void stateRepo.heartbeat(0, epoch, engine.tradingState, Date.now()).catch(() => undefined),
    5_000,
  );

  const started = Date.now();
  let stopping = false;
  const stopRequested = new Promise<string>((res) => {
    process.once('SIGINT', () => res('interrupted'));
    process.once('SIGTERM', () => res('terminated'));
    if (durationMs !== undefined) setTimeout(() => res('duration reached'), durationMs).unref();
  });

  await Promise.race([engine.start(), stopRequested]);
  const stopInbox = runControlInbox(controlQueue, engine, journal, log, 1_000);
  if (values.resume !== undefined && engine.killFlag) engine.resume('cli --resume', values.resume);
  const status = setInterval(
    () => {
      if (stopping) return;
      const s = engine.snapshot();
      const sym = s.symbols[0];
      const line =
        `${sym?.symbol ?? ''} ${sym?.book ?? ''} | pos ${sym?.position ?? '0'}${sym?.avgEntry ? ` @ ${sym.avgEntry}` : ''}` +
        `${sym?.protectiveStop ? ` (stop ${sym.protectiveStop})` : ''} | ` +
        `pnl ${s.pnl.toFixed(2)} fees ${s.fees.toFixed(2)} | ${s.trades} trades | ${s.tradingState}${s.kill ? ' KILL' : ''} | ` +
        `p99 tick→decision ${s.latencyUs.p99} µs | ${sym?.lastSignal ?? 'no signal yet'}`;
      process.stderr.write(
        tty ? `\r\x1b[K${line.slice(0, (process.stderr.columns || 160) - 1)}` : `${line}\n`,
      );
    },
    tty ? 500 : 5000,
  );

  const why = await stopRequested;
  stopping = true;
  clearInterval(status);
  if (tty) process.stderr.write('\r\x1b[K');
  log(`stopping: ${why}`);
  stopInbox();
  clearInterval(renew);
  clearInterval(heartbeat);
  await control.close();
  await engine.stop({ flatten: values['flatten-on-exit'] === true });
  await state.flush();
  // A readable copy of this run's record beside the durable one.
  const records = (await journal.read()).filter(
    (r) => (r as { epoch?: number }).epoch === undefined || (r as { epoch?: number }).epoch === epoch,
  );
  mkdirSync(dirname(exportPath), { recursive: true });
  writeFileSync(exportPath, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await journal.close();
  await leases.release(lease).catch(() => undefined);
  await dynamo.close();
  await sim.stop();

  const s = engine.snapshot();
  const summary: Summary = {
    trades: s.trades,
    winRate: s.winRate,
    pnl: s.pnl.toFixed(2),
    fees: s.fees.toFixed(2),
    maxDrawdown: s.maxDrawdown.toFixed(2),
    equity: s.equity.toFixed(2),
    signals: s.signals,
    orders: s.orders,
    rejections: s.rejections,
    latencyUs: s.latencyUs,
    stagesUs: s.stagesUs,
    signalToOrderUs: s.signalToOrderUs,
    tradingState: s.tradingState,
    kill: s.kill,
    positions: s.symbols.map((r) => ({
      symbol: r.symbol,
      position: r.position,
      protectiveStop: r.protectiveStop,
    })),
    protectiveStops: s.protectiveStops,
    journal: exportPath,
    durationMs: Date.now() - started,
  };
  process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  return 0;
}

function formatSummary(s: Summary): string {
  const rej = Object.entries(s.rejections);
  const st = s.stagesUs as Record<
    string,
    { p50: number; p99: number; p999: number; max: number; count: number }
  >;
  const lat = (
    name: string,
    h: { p50: number; p99: number; p999: number; max: number; count: number } | undefined,
  ) =>
    h
      ? `  ${name.padEnd(22)} ${String(h.count).padStart(7)} ${String(h.p50).padStart(9)} ${String(h.p99).padStart(9)} ${String(h.p999).padStart(9)} ${String(h.max).padStart(9)}`
      : '';
  return [
    '',
    `Tradewind paper session: ${(s.durationMs / 1000).toFixed(1)} s, trading ${s.tradingState}${s.kill ? ' (kill flag set)' : ''}`,
    '',
    `  trades (round trips)   ${s.trades}`,
    `  win rate               ${(s.winRate * 100).toFixed(1)} %`,
    `  P&L (net of fees)      ${s.pnl}`,
    `  fees                   ${s.fees}`,
    `  max drawdown           ${s.maxDrawdown}`,
    `  equity                 ${s.equity}`,
    `  signals / orders       ${s.signals} / ${s.orders}`,
    `  positions              ${s.positions
      .map(
        (p) =>
          `${p.symbol} ${p.position}${p.protectiveStop ? ` (left guarded by its stop: ${p.protectiveStop})` : ''}`,
      )
      .join(', ')}`,
    `  protective stops       ${s.protectiveStops.placed} placed, ${s.protectiveStops.triggered} triggered at the venue${
      Object.keys(s.protectiveStops.refused).length
        ? `, refused: ${Object.entries(s.protectiveStops.refused)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`
        : ''
    }`,
    `  rejections             ${rej.length ? rej.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`,
    '',
    `  latency (µs)              count       p50       p99     p99.9       max`,
    lat('tick → decision', s.latencyUs),
    lat('receive → book', st.book),
    lat('receive → signal', st.signal),
    lat('receive → risk', st.risk),
    lat('receive → order bytes', st.written),
    lat('signal → order bytes', s.signalToOrderUs as typeof s.latencyUs),
    '',
    `  full record: ${s.journal}`,
    '',
  ]
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}
