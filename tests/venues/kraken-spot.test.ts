import { crc32 } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { L2Book } from '#core/book.ts';
import { gridFromDecimals, toSteps } from '#core/grid.ts';
import { checksumText, bookChecksum } from '#venues/kraken-spot/checksum.ts';
import { KrakenSpotBookFeed } from '#venues/kraken-spot/book-feed.ts';
import { krakenSpotInstruments } from '#venues/kraken-spot/instruments.ts';
import { parseMetadataText } from '#venues/feeds.ts';
import { dataFile, hasExchangeData } from '../support/exchange-data.ts';

const grids = (p: number, q: number) => ({ price: gridFromDecimals(p), qty: gridFromDecimals(q) });

function feedWith(opts: ConstructorParameters<typeof KrakenSpotBookFeed>[1] = {}) {
  const resyncs: string[] = [];
  const feed = new KrakenSpotBookFeed({ requestResync: (s, why) => void resyncs.push(`${s}: ${why}`) }, opts);
  return { feed, resyncs };
}

/** A v2 book message in the documented shape. */
function v2(
  type: 'snapshot' | 'update',
  bids: Array<[number, number]>,
  asks: Array<[number, number]>,
  checksum: number,
) {
  return {
    channel: 'book',
    type,
    data: [
      {
        symbol: 'BTC/USD',
        bids: bids.map(([price, qty]) => ({ price, qty })),
        asks: asks.map(([price, qty]) => ({ price, qty })),
        checksum,
        timestamp: '2023-10-06T17:35:55.440295Z',
      },
    ],
  };
}

/** The documented construction, written independently of lib: text at precision, '.' and leading zeros removed. */
function referenceChecksum(asks: string[][], bids: string[][]): number {
  const fmt = (t: string) => t.replace('.', '').replace(/^0+/, '');
  const s = [...asks.slice(0, 10), ...bids.slice(0, 10)]
    .map(([p, q]) => fmt(p as string) + fmt(q as string))
    .join('');
  return crc32(s) >>> 0;
}

describe('Kraken spot checksum', () => {
  it('is IEEE CRC32 (the standard check value of "123456789" is 0xCBF43926)', () => {
    expect(crc32('123456789') >>> 0).toBe(0xcbf43926);
  });

  it('writes a level as the docs show: 45285.2 / 0.00100000 → "452852100000"', () => {
    const g = grids(1, 8);
    const book = new L2Book('BTC/USD');
    book.asks.set(toSteps('45285.2', g.price), toSteps('0.00100000', g.qty));
    expect(checksumText(book, g)).toBe('452852100000');
  });

  it('strips leading zeros as the v1 docs show: 0.05000 / 0.00000304 → "5000304"', () => {
    const g = grids(5, 8);
    const book = new L2Book('X');
    book.asks.set(toSteps('0.05000', g.price), toSteps('0.00000304', g.qty));
    expect(checksumText(book, g)).toBe('5000304');
  });

  it('takes asks low→high then bids high→low, top 10 only', () => {
    const g = grids(1, 8);
    const book = new L2Book('BTC/USD');
    const asks: string[][] = [];
    const bids: string[][] = [];
    for (let i = 0; i < 15; i++) {
      asks.push([(100 + i).toFixed(1), `0.${String(i + 1).padStart(8, '0')}`]);
      bids.push([(99 - i).toFixed(1), `${i + 1}.00000000`]);
    }
    // inserted in scrambled order: the book sorts
    for (const [p, q] of [...asks].reverse())
      book.asks.set(toSteps(p as string, g.price), toSteps(q as string, g.qty));
    for (const [p, q] of [...bids].reverse())
      book.bids.set(toSteps(p as string, g.price), toSteps(q as string, g.qty));
    expect(bookChecksum(book, g)).toBe(referenceChecksum(asks, bids));
  });

  it('stays exact for quantities beyond 2^53 units (a 99,999,997-coin level at 8 decimals)', () => {
    const g = grids(2, 8);
    const book = new L2Book('XMR/USD');
    book.asks.setExact(toSteps('354.48', g.price), 1234567890123456789n);
    expect(checksumText(book, g)).toBe('354481234567890123456789');
  });
});

describe('KrakenSpotBookFeed (WS v2)', () => {
  const g = grids(1, 8);
  const snapBids: Array<[number, number]> = [
    [100.1, 1],
    [100.0, 2],
  ];
  const snapAsks: Array<[number, number]> = [
    [100.5, 0.5],
    [100.6, 0.25],
  ];
  const text = (levels: Array<[number, number]>) => levels.map(([p, q]) => [p.toFixed(1), q.toFixed(8)]);
  const snapSum = referenceChecksum(text(snapAsks), text(snapBids));

  it('verifies the snapshot checksum and goes SYNCED', () => {
    const { feed } = feedWith({ pricePrecision: 1, qtyPrecision: 8 });
    feed.onMessage(v2('snapshot', snapBids, snapAsks, snapSum), 1);
    const s = feed.symbols().get('BTC/USD');
    expect(s?.book.state).toBe('SYNCED');
    expect(s?.stats.checksumOk).toBe(1);
  });

  it('a checksum mismatch makes the book UNSYNCED, asks for a resubscribe and ignores updates until a snapshot', () => {
    const { feed, resyncs } = feedWith({ pricePrecision: 1, qtyPrecision: 8 });
    feed.onMessage(v2('snapshot', snapBids, snapAsks, snapSum), 1);
    feed.onMessage(v2('update', [[100.2, 3]], [], 12345), 2);
    const s = feed.symbols().get('BTC/USD');
    expect(s?.book.state).toBe('UNSYNCED');
    expect(s?.book.usable).toBe(false);
    expect(s?.stats.checksumBad).toBe(1);
    expect(resyncs).toHaveLength(1);
    feed.onMessage(v2('update', [[100.3, 1]], [], 0), 3);
    expect(s?.stats.dropped).toBe(1);
    feed.onMessage(v2('snapshot', snapBids, snapAsks, snapSum), 4);
    expect(s?.book.state).toBe('SYNCED');
  });

  it('truncates each side to the subscribed depth after every message', () => {
    const { feed } = feedWith({ pricePrecision: 1, qtyPrecision: 8 });
    feed.onOutbound({ method: 'subscribe', params: { channel: 'book', symbol: ['BTC/USD'], depth: 10 } });
    const bids: Array<[number, number]> = Array.from({ length: 10 }, (_, i) => [100 - i, 1]);
    const asks: Array<[number, number]> = Array.from({ length: 10 }, (_, i) => [101 + i, 1]);
    feed.onMessage(v2('snapshot', bids, asks, referenceChecksum(text(asks), text(bids))), 1);
    // A new best bid pushes the worst bid (91.0) out of scope; Kraken sends no delete for it.
    const after: Array<[number, number]> = [[100.5, 2], ...bids.slice(0, 9)];
    feed.onMessage(v2('update', [[100.5, 2]], [], referenceChecksum(text(asks), text(after))), 2);
    const s = feed.symbols().get('BTC/USD');
    expect(s?.stats.checksumOk).toBe(2);
    expect(s?.book.bids.depth).toBe(10);
    expect(s?.book.bids.qtyAtPrice(toSteps('91.0', g.price))).toBe(0);
  });

  it('refuses to guess precision for numeric messages', () => {
    const { feed } = feedWith();
    expect(() => feed.onMessage(v2('snapshot', snapBids, snapAsks, snapSum), 1)).toThrow(
      /--instruments|precision/,
    );
  });

  it('an off-grid number makes the book UNSYNCED instead of rounding it', () => {
    const { feed } = feedWith({ pricePrecision: 1, qtyPrecision: 8 });
    feed.onMessage(v2('snapshot', snapBids, snapAsks, snapSum), 1);
    feed.onMessage(v2('update', [[100.25, 1]], [], 0), 2);
    const s = feed.symbols().get('BTC/USD');
    expect(s?.book.state).toBe('UNSYNCED');
    expect(s?.stats.errors).toBe(1);
  });
});

type V1Fixture = { init: unknown[]; updates: unknown[] };
type V2Fixture = { init: unknown; updates: unknown[] };
const readJson = <T>(...parts: string[]) => JSON.parse(readFileSync(dataFile(...parts), 'utf8')) as T;

describe.skipIf(!hasExchangeData)('KrakenSpotBookFeed on real recordings', () => {
  it('python-kraken-sdk v1 XBT/USD book-10: every checksum matches', () => {
    const fx = readJson<V1Fixture>('python-kraken-sdk', 'orderbook-v1.json');
    const { feed, resyncs } = feedWith();
    for (const m of [...fx.init, ...fx.updates]) feed.onMessage(m, 0);
    const s = feed.symbols().get('XBT/USD');
    const expected = fx.updates.filter((u) => Array.isArray(u)).length;
    expect(expected).toBeGreaterThan(900);
    expect(s?.stats.checksumOk).toBe(expected);
    expect(s?.stats.checksumBad).toBe(0);
    expect(resyncs).toEqual([]);
    expect(s?.book.state).toBe('SYNCED');
  });

  it('python-kraken-sdk v2 BTC/USD depth 10 (numbers lost trailing zeros): every checksum matches at precision 1/8', () => {
    const fx = readJson<V2Fixture>('python-kraken-sdk', 'orderbook-v2.json');
    const { feed } = feedWith({ pricePrecision: 1, qtyPrecision: 8 });
    for (const m of [fx.init, ...fx.updates]) feed.onMessage(m, 0);
    const s = feed.symbols().get('BTC/USD');
    expect(s?.stats.checksumOk).toBe(fx.updates.length + 1);
    expect(s?.stats.checksumBad).toBe(0);
  });

  it('takes v2 precision from AssetPairs, where BTC/USD is listed as XBT/USD', () => {
    const meta = readFileSync(dataFile('cryptofeed', 'KRAKEN.0'), 'utf8');
    const instruments = krakenSpotInstruments(parseMetadataText(meta, 'KRAKEN.0'));
    expect(instruments.get('BTC/USD')?.price.scale).toBe(1);
    const fx = readJson<V2Fixture>('python-kraken-sdk', 'orderbook-v2.json');
    const { feed } = feedWith({ instruments });
    for (const m of [fx.init, ...fx.updates]) feed.onMessage(m, 0);
    expect(feed.symbols().get('BTC/USD')?.stats.checksumOk).toBe(fx.updates.length + 1);
  });

  it('a corrupted real update is caught by the checksum', () => {
    const fx = readJson<V1Fixture>('python-kraken-sdk', 'orderbook-v1.json');
    const updates = structuredClone(fx.updates);
    const idx = updates.findIndex((u) => Array.isArray(u) && 'b' in (u[1] as object));
    const level = ((updates[idx] as unknown[])[1] as { b: string[][] }).b[0] as string[];
    level[1] = level[1] === '1.00000000' ? '2.00000000' : '1.00000000';
    const { feed, resyncs } = feedWith();
    for (const m of [...fx.init, ...updates]) feed.onMessage(m, 0);
    expect(feed.symbols().get('XBT/USD')?.stats.checksumBad).toBe(1);
    expect(resyncs).toHaveLength(1);
  });
});
