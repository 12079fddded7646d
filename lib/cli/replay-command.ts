/** `tradewind replay`: recorded venue traffic → the live book sync code → final books and counters. */
import { existsSync } from 'node:fs';
import { isVenueId, VENUES } from '#core/instrument.ts';
import type { ReplayProgress, ReplayResult } from '#replay/replay.ts';
import { replay } from '#replay/replay.ts';
import { intOption, parse, UsageError } from './args.ts';

export const replayHelp = `Usage: tradewind replay --venue VENUE --input FILE [options]

Feeds recorded raw venue traffic through the same book sync code as live trading and prints the
final top-N book of every symbol with its sync counters.

Options:
  --venue VENUE           ${VENUES.join(' | ')}
  --input FILE            a recording; repeat to merge several by receive time. Formats:
                          JSON lines of raw messages, Tradewind recorder files, cryptofeed
                          raw-recorder files; gzip or plain. For cryptofeed NAME.ws.N.0 inputs,
                          NAME.http.* (REST snapshots) and NAME.0 (metadata) are read too.
  --symbol S              report only this symbol
  --depth N               levels per side to print (default 10)
  --instruments FILE      the venue's metadata response (exchangeInfo, AssetPairs, instruments)
  --price-precision P     price decimals, when messages and metadata do not carry them
  --qty-precision Q       quantity decimals, likewise
  --strict                exit 3 if any gap, checksum mismatch or resync happened
  --json                  print one JSON object on stdout instead of tables
  -h, --help              this help

Exit codes: 0 done, 1 bad input (file:line named), 2 bad usage, 3 --strict found a problem.`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    venue: { type: 'string' },
    input: { type: 'string', multiple: true },
    symbol: { type: 'string' },
    depth: { type: 'string' },
    instruments: { type: 'string' },
    'price-precision': { type: 'string' },
    'qty-precision': { type: 'string' },
    strict: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${replayHelp}\n`);
    return 0;
  }
  const venue = values.venue;
  if (!venue) throw new UsageError('--venue is required');
  if (!isVenueId(venue))
    throw new UsageError(`--venue must be one of ${VENUES.join(', ')}, got ${JSON.stringify(venue)}`);
  const inputs = values.input ?? [];
  if (inputs.length === 0) throw new UsageError('--input is required');
  for (const f of [...inputs, ...(values.instruments ? [values.instruments] : [])]) {
    if (!existsSync(f)) throw new UsageError(`no such file: ${f}`);
  }
  const pricePrecision = intOption(values['price-precision'], 'price-precision', -15, 18);
  const qtyPrecision = intOption(values['qty-precision'], 'qty-precision', -15, 18);
  const depth = intOption(values.depth, 'depth', 1, 1000) ?? 10;
  const tty = process.stderr.isTTY;
  const result = await replay({
    venue,
    inputs,
    instrumentsFile: values.instruments,
    pricePrecision,
    qtyPrecision,
    symbol: values.symbol,
    depth,
    onNote: (note) => process.stderr.write(`replay: ${note}\n`),
    onProgress: (p) => process.stderr.write(`${progressLine(p)}${tty ? '\r' : '\n'}`),
  });
  if (tty) process.stderr.write('\x1b[K');
  process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : formatResult(result));
  if (values.strict) {
    const bad = Object.values(result.symbols).some((s) => s.gaps + s.checksumBad + s.resyncs + s.errors > 0);
    if (bad) return 3;
  }
  return 0;
}

function progressLine(p: ReplayProgress): string {
  const rate = p.messages / (p.elapsedMs / 1000);
  const pct = p.bytesTotal > 0 ? ((100 * p.bytesRead) / p.bytesTotal).toFixed(1) : '?';
  return `replay: ${p.messages} messages, ${Math.round(rate)} msg/s, ${p.file} line ${p.line} (${pct}% read)`;
}

export function formatResult(r: ReplayResult): string {
  const lines: string[] = [];
  const names = Object.keys(r.symbols);
  lines.push(`${r.venue}: ${r.messages} messages from ${r.files.length} file(s), ${names.length} symbol(s)`);
  for (const name of names) {
    const s = r.symbols[name];
    if (!s) continue;
    lines.push('');
    lines.push(`${name}  ${s.state}${s.reason ? ` (${s.reason})` : ''}`);
    lines.push(
      `  messages ${s.messages}  applied ${s.applied}  dropped ${s.dropped}  gaps ${s.gaps}  resyncs ${s.resyncs}  ` +
        `checksum ok ${s.checksumOk} bad ${s.checksumBad}  crossed ${s.crossed}  errors ${s.errors}`,
    );
    const rows = Math.max(s.bids.length, s.asks.length);
    if (rows === 0) continue;
    const w = (i: 0 | 1, side: Array<[string, string]>) => Math.max(3, ...side.map((l) => l[i].length));
    const [bq, bp, ap, aq] = [w(1, s.bids), w(0, s.bids), w(0, s.asks), w(1, s.asks)];
    lines.push(
      `  ${'bid qty'.padStart(bq)}  ${'bid'.padStart(bp)} | ${'ask'.padEnd(ap)}  ${'ask qty'.padEnd(aq)}`,
    );
    for (let i = 0; i < rows; i++) {
      const b = s.bids[i];
      const a = s.asks[i];
      lines.push(
        `  ${(b?.[1] ?? '').padStart(bq)}  ${(b?.[0] ?? '').padStart(bp)} | ${(a?.[0] ?? '').padEnd(ap)}  ${(a?.[1] ?? '').padEnd(aq)}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
