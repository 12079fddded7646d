/**
 * The real recordings through `replay`, checked against an independent reference: a deliberately
 * simple re-implementation of each venue's documented procedure on decimal strings (decimal.js for
 * ordering), written here without any of lib's code.
 */
import { readFileSync } from 'node:fs';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { replay } from '#replay/replay.ts';
import { dataFile, hasExchangeData } from '../support/exchange-data.ts';

type Level = [string, string];

/** Reference Binance book: documented procedure, string prices, sorted on read. */
function referenceBinance(venue: 'futures' | 'spot', symbol: string, ws: string, http: string) {
  const snapLine = readFileSync(http, 'utf8')
    .split('\n')
    .find((l) => l.includes(`symbol=${symbol}&`)) as string;
  const snapTs = Number(/ -> ([\d.]+): /.exec(snapLine)?.[1]);
  const snap = JSON.parse(snapLine.slice(snapLine.indexOf(': ') + 2)) as {
    lastUpdateId: number;
    bids: Level[];
    asks: Level[];
  };
  const bids = new Map<string, string>();
  const asks = new Map<string, string>();
  const events: Array<{ U: number; u: number; pu?: number; b: Level[]; a: Level[]; ts: number }> = [];
  for (const line of readFileSync(ws, 'utf8').split('\n')) {
    const m = /^([\d.]+): (.*)$/.exec(line);
    if (!m) continue;
    const frame = JSON.parse(m[2] as string) as { data: { e: string; s: string } };
    if (frame.data.e === 'depthUpdate' && frame.data.s === symbol) {
      events.push({ ...(frame.data as unknown as (typeof events)[number]), ts: Number(m[1]) });
    }
  }
  for (const [p, q] of snap.bids) bids.set(p, q);
  for (const [p, q] of snap.asks) asks.set(p, q);
  const L = snap.lastUpdateId;
  let applied = 0;
  let dropped = 0;
  let prev: number | undefined;
  for (const e of events) {
    if (venue === 'futures' ? e.u < L : e.u <= L) {
      dropped++;
      continue;
    }
    if (prev === undefined) {
      const t = venue === 'futures' ? L : L + 1;
      if (!(e.U <= t && e.u >= t)) throw new Error('reference: first event does not bracket');
    } else if (venue === 'futures' ? e.pu !== prev : e.U !== prev + 1) {
      throw new Error('reference: gap');
    }
    for (const [side, levels] of [
      [bids, e.b],
      [asks, e.a],
    ] as const) {
      for (const [p, q] of levels) {
        if (new Decimal(q).isZero()) side.delete(p);
        else side.set(p, q);
      }
    }
    prev = e.u;
    applied++;
  }
  const sorted = (m: Map<string, string>, desc: boolean) =>
    [...m.entries()].sort((x, y) => (desc ? -1 : 1) * new Decimal(x[0]).cmp(new Decimal(y[0]))).slice(0, 10);
  return { applied, dropped, bids: sorted(bids, true), asks: sorted(asks, false), snapTs };
}

const cf = (f: string) => dataFile('cryptofeed', f);

describe.skipIf(!hasExchangeData)('replay of the real recordings', () => {
  it('Binance USD-M futures: all 4 symbols sync with zero gaps, and equal the reference book', async () => {
    const r = await replay({ venue: 'binance-futures', inputs: [cf('BINANCE_FUTURES.ws.1.0')], depth: 10 });
    expect(Object.keys(r.symbols).sort()).toEqual(['AKROUSDT', 'CTKUSDT', 'KEEPUSDT', 'SUSHIUSDT']);
    for (const [symbol, s] of Object.entries(r.symbols)) {
      const ref = referenceBinance(
        'futures',
        symbol,
        cf('BINANCE_FUTURES.ws.1.0'),
        cf('BINANCE_FUTURES.http.0.0'),
      );
      expect({ symbol, state: s.state, gaps: s.gaps, resyncs: s.resyncs, errors: s.errors }).toEqual({
        symbol,
        state: 'SYNCED',
        gaps: 0,
        resyncs: 0,
        errors: 0,
      });
      expect(s.applied).toBe(ref.applied);
      expect(s.dropped).toBe(ref.dropped);
      expect(s.bids).toEqual(ref.bids);
      expect(s.asks).toEqual(ref.asks);
    }
    // The README of the recordings: SUSHIUSDT drops the first 3 events and applies 252.
    expect(r.symbols.SUSHIUSDT?.dropped).toBe(3);
    expect(r.symbols.SUSHIUSDT?.applied).toBe(252);
  });

  it('Binance.US spot: all 4 symbols sync under the spot rules, and equal the reference book', async () => {
    const r = await replay({ venue: 'binance-us', inputs: [cf('BINANCE_US.ws.1.0')], depth: 10 });
    expect(Object.keys(r.symbols).sort()).toEqual(['COMPUSDT', 'CRVUSDT', 'OMGBUSD', 'ZRXUSDT']);
    for (const [symbol, s] of Object.entries(r.symbols)) {
      const ref = referenceBinance('spot', symbol, cf('BINANCE_US.ws.1.0'), cf('BINANCE_US.http.0.0'));
      expect([symbol, s.state, s.gaps, s.resyncs]).toEqual([symbol, 'SYNCED', 0, 0]);
      expect([s.applied, s.dropped]).toEqual([ref.applied, ref.dropped]);
      expect(s.bids).toEqual(ref.bids);
      expect(s.asks).toEqual(ref.asks);
    }
  });

  it('Binance futures under the spot rules would drop the u == lastUpdateId event the futures rules keep', async () => {
    // Evidence the two rule sets differ on real data: replaying futures traffic as if it were spot fails to sync.
    const r = await replay({ venue: 'binance-us', inputs: [cf('BINANCE_FUTURES.ws.1.0')], depth: 5 });
    const broken = Object.values(r.symbols).filter((s) => s.gaps > 0);
    expect(broken.length).toBeGreaterThan(0);
  });

  it('Kraken spot v1 (10 pairs, depth 1000): all 4269 checksums match, none fail', async () => {
    const r = await replay({ venue: 'kraken-spot', inputs: [cf('KRAKEN.ws.50.0')], depth: 10 });
    const all = Object.values(r.symbols);
    expect(all).toHaveLength(10);
    expect(all.reduce((n, s) => n + s.checksumOk, 0)).toBe(4269);
    expect(all.reduce((n, s) => n + s.checksumBad + s.resyncs + s.errors, 0)).toBe(0);
    for (const s of all) expect(s.state).toBe('SYNCED');
    // XMR/USD carries a 99,999,997.00000000 ask: exact beyond 2^53 units.
    expect(r.symbols['XMR/USD']?.checksumOk).toBeGreaterThan(800);
  });

  it('Kraken Futures (10 products): every delta applied in seq order, zero gaps', async () => {
    const r = await replay({ venue: 'kraken-futures', inputs: [cf('KRAKEN_FUTURES.ws.1.0')], depth: 10 });
    const all = Object.values(r.symbols);
    expect(all).toHaveLength(10);
    // Independent count of the recording's per-level deltas.
    let deltas = 0;
    for (const line of readFileSync(cf('KRAKEN_FUTURES.ws.1.0'), 'utf8').split('\n')) {
      const m = /^[\d.]+: (.*)$/.exec(line);
      if (!m) continue;
      const msg = JSON.parse(m[1] as string) as { feed?: string; event?: string };
      if (msg.feed === 'book' && msg.event === undefined) deltas++;
    }
    expect(all.reduce((n, s) => n + s.applied, 0)).toBe(deltas);
    expect(all.reduce((n, s) => n + s.gaps + s.resyncs + s.errors, 0)).toBe(0);
    for (const s of all) expect(s.state).toBe('SYNCED');
    // Prices print at the instrument's tick precision (PI_ETHUSD tick 0.05).
    expect(r.symbols.PI_ETHUSD?.bids[0]?.[0]).toMatch(/^\d+\.\d{2}$/);
  });
});
