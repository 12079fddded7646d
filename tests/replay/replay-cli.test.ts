/** `tradewind replay` as a user runs it: a real process, real files, exit codes and output. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { dataFile, hasExchangeData } from '../support/exchange-data.ts';

const BIN = fileURLToPath(new URL('../../bin/tradewind.ts', import.meta.url));

const symbolsOf = (out: string) => (JSON.parse(out) as { symbols: unknown }).symbols;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'tradewind-replay-'));
function file(name: string, content: string | Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

/** A tiny Binance.US stream: snapshot L=100, one event dropped (u=100), then U=101.. chained. */
const snapshot = { lastUpdateId: 100, bids: [['10.00', '1.0']], asks: [['10.10', '2.0']] };
const ev = (U: number, u: number, b: string[][], a: string[][]) => ({
  stream: 'abcusdt@depth@100ms',
  data: { e: 'depthUpdate', E: 1, s: 'ABCUSDT', U, u, b, a },
});
const stream = [
  ev(99, 100, [['9.99', '5.0']], []),
  snapshot,
  ev(101, 102, [['10.02', '3.0']], []),
  ev(
    103,
    103,
    [],
    [
      ['10.10', '0.0'],
      ['10.20', '4.0'],
    ],
  ),
];
const jsonl = stream.map((m) => JSON.stringify(m)).join('\n') + '\n';

describe('tradewind replay (CLI)', () => {
  it('prints --help for the CLI and for replay, exit 0', () => {
    const top = run('--help');
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/replay/);
    const r = run('replay', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--venue/);
    expect(r.out).toMatch(/--price-precision/);
  });

  it('rejects bad usage with a one-line reason and exit 2', () => {
    for (const args of [
      ['replay', '--input', 'x'],
      ['replay', '--venue', 'nyse', '--input', 'x'],
      ['replay', '--venue', 'binance-us', '--input', join(tmp, 'missing')],
      ['replay', '--venue', 'binance-us', '--input', 'x', '--depth', 'ten'],
      ['frobnicate'],
    ]) {
      const r = run(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });

  it('replays plain JSON lines with the snapshot recognised by shape, and prints exact venue text', () => {
    const r = run('replay', '--venue', 'binance-us', '--input', file('plain.jsonl', jsonl), '--json');
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out) as { symbols: Record<string, Record<string, unknown>> };
    expect(out.symbols.ABCUSDT).toMatchObject({
      bids: [
        ['10.02', '3.0'],
        ['10.00', '1.0'],
      ],
      asks: [['10.20', '4.0']],
      applied: 2,
      dropped: 1,
      gaps: 0,
      checksumOk: 0,
      checksumBad: 0,
    });
  });

  it('reads gzip (by content, not by name) and Tradewind recorder envelopes the same way', () => {
    const gz = run(
      'replay',
      '--venue',
      'binance-us',
      '--input',
      file('stream.data', gzipSync(jsonl)),
      '--json',
    );
    const plain = run('replay', '--venue', 'binance-us', '--input', file('plain2.jsonl', jsonl), '--json');
    expect(gz.code, gz.err).toBe(0);
    expect(symbolsOf(gz.out)).toEqual(symbolsOf(plain.out));
    const env = stream
      .map((m, i) =>
        JSON.stringify({
          tw: 1,
          ts: 1000 + i,
          dir: 'lastUpdateId' in m ? 'rest' : 'in',
          url:
            'lastUpdateId' in m ? 'https://api.binance.us/api/v3/depth?symbol=ABCUSDT&limit=1000' : undefined,
          raw: JSON.stringify(m),
        }),
      )
      .join('\n');
    const rec = run(
      'replay',
      '--venue',
      'binance-us',
      '--input',
      file('rec.jsonl.gz', gzipSync(env)),
      '--json',
    );
    expect(rec.code, rec.err).toBe(0);
    expect(symbolsOf(rec.out)).toEqual(symbolsOf(plain.out));
  });

  it('reports a gap in the counters and exits 3 under --strict', () => {
    const gapped = [snapshot, ev(101, 102, [], []), ev(104, 105, [], [])]
      .map((m) => JSON.stringify(m))
      .join('\n');
    const f = file('gap.jsonl', gapped);
    const r = run('replay', '--venue', 'binance-us', '--input', f, '--json');
    expect(r.code).toBe(0);
    const s = (JSON.parse(r.out) as { symbols: Record<string, { gaps: number; resyncs: number }> }).symbols
      .ABCUSDT;
    expect(s).toMatchObject({ gaps: 1, resyncs: 1 });
    expect(run('replay', '--venue', 'binance-us', '--input', f, '--strict').code).toBe(3);
  });

  it('malformed input: exit 1 and one line naming the file and line', () => {
    const f = file(
      'bad.jsonl',
      `${JSON.stringify(snapshot)}\n${JSON.stringify(stream[2])}\n{"e":"depthUpdate",\n`,
    );
    const r = run('replay', '--venue', 'binance-us', '--input', f);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${f}:3`);
  });

  it('a depthUpdate without its fields is malformed too (file and line named)', () => {
    const f = file('bad2.jsonl', `${JSON.stringify(snapshot)}\n{"e":"depthUpdate","s":"ABCUSDT"}\n`);
    const r = run('replay', '--venue', 'binance-us', '--input', f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:2`);
  });

  it('numeric venues without precision: a clear error that says what to pass', () => {
    const f = file(
      'kf.jsonl',
      JSON.stringify({
        feed: 'book_snapshot',
        product_id: 'PI_XBTUSD',
        seq: 1,
        timestamp: 1,
        bids: [],
        asks: [],
      }),
    );
    const r = run('replay', '--venue', 'kraken-futures', '--input', f);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--instruments|--price-precision/);
    const ok = run(
      'replay',
      '--venue',
      'kraken-futures',
      '--input',
      f,
      '--price-precision',
      '1',
      '--qty-precision',
      '0',
    );
    expect(ok.code, ok.err).toBe(0);
  });

  it.skipIf(!hasExchangeData)(
    'real Kraken v2 fixture via --price-precision/--qty-precision: all checksums match',
    () => {
      const fx = JSON.parse(readFileSync(dataFile('python-kraken-sdk', 'orderbook-v2.json'), 'utf8')) as {
        init: unknown;
        updates: unknown[];
      };
      const f = file('v2.jsonl', [fx.init, ...fx.updates].map((m) => JSON.stringify(m)).join('\n'));
      const r = run(
        'replay',
        '--venue',
        'kraken-spot',
        '--input',
        f,
        '--price-precision',
        '1',
        '--qty-precision',
        '8',
        '--json',
      );
      expect(r.code, r.err).toBe(0);
      const s = (
        JSON.parse(r.out) as { symbols: Record<string, { checksumOk: number; checksumBad: number }> }
      ).symbols['BTC/USD'];
      expect(s).toMatchObject({ checksumOk: fx.updates.length + 1, checksumBad: 0 });
    },
  );

  it.skipIf(!hasExchangeData)(
    'real cryptofeed recording: human table, companions announced on stderr, --symbol filter',
    () => {
      const r = run(
        'replay',
        '--venue',
        'binance-futures',
        '--input',
        dataFile('cryptofeed', 'BINANCE_FUTURES.ws.1.0'),
        '--symbol',
        'SUSHIUSDT',
        '--depth',
        '3',
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/SUSHIUSDT\s+SYNCED/);
      expect(r.out).toMatch(/applied 252\s+dropped 3\s+gaps 0/);
      expect(r.out).not.toMatch(/AKROUSDT/);
      expect(r.err).toMatch(/BINANCE_FUTURES\.http\.0\.0/);
    },
  );
});
