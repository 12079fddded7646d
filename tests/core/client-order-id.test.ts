import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_ORDER_ID_RULES,
  ClientOrderIdSequence,
  MAX_EPOCH,
  MAX_SEQ,
  MAX_SHARD,
  encodeClientOrderId,
  isValidClientOrderId,
  parseClientOrderId,
} from '#core/client-order-id.ts';
import { InvariantError } from '#core/errors.ts';
import { VENUES } from '#core/instrument.ts';

// The venues' own rules, written out here independently of the module under test.
const BINANCE = /^[.A-Z:/a-z0-9_-]{1,36}$/;
const KRAKEN_FUTURES = /^[A-Za-z0-9-]{1,100}$/;
const KRAKEN_SPOT_MAX_TEXT = 18;

const parts = fc.record({
  shard: fc.integer({ min: 0, max: 36 ** 2 - 1 }),
  epoch: fc.integer({ min: 0, max: 36 ** 7 - 1 }),
  seq: fc.integer({ min: 0, max: 36 ** 7 - 1 }),
});

describe('encodeClientOrderId', () => {
  it('writes tw + shard(2) + epoch(7) + seq(7) in zero-padded lowercase base 36', () => {
    // 361 = 10·36 + 1 → "a1"
    expect(encodeClientOrderId({ shard: 1, epoch: 2, seq: 361 })).toBe('tw01000000200000a1');
    expect(encodeClientOrderId({ shard: 0, epoch: 0, seq: 0 })).toBe('tw0000000000000000');
    // 35 → "z", 36 → "10", 1295 = 36² − 1 → "zz"
    expect(encodeClientOrderId({ shard: 35, epoch: 36, seq: 1295 })).toBe('tw0z000001000000zz');
  });

  it('reaches the top of every range in 18 characters', () => {
    expect(MAX_SHARD).toBe(1295);
    expect(MAX_EPOCH).toBe(78_364_164_095);
    expect(MAX_SEQ).toBe(78_364_164_095);
    expect(encodeClientOrderId({ shard: 1295, epoch: 78_364_164_095, seq: 78_364_164_095 })).toBe(
      'twzzzzzzzzzzzzzzzz',
    );
  });

  it('gives the same id for the same inputs', () => {
    fc.assert(
      fc.property(parts, (p) => {
        expect(encodeClientOrderId({ ...p })).toBe(encodeClientOrderId({ ...p }));
      }),
    );
  });

  it.each([
    { shard: 1296, epoch: 0, seq: 0 },
    { shard: -1, epoch: 0, seq: 0 },
    { shard: 1.5, epoch: 0, seq: 0 },
    { shard: 0, epoch: 36 ** 7, seq: 0 },
    { shard: 0, epoch: NaN, seq: 0 },
    { shard: 0, epoch: 0, seq: 36 ** 7 },
    { shard: 0, epoch: 0, seq: -1 },
  ])('refuses out-of-range parts %o with an InvariantError', (p) => {
    expect(() => encodeClientOrderId(p)).toThrow(InvariantError);
  });
});

describe('client order ids and the venues', () => {
  it("fit every venue's format", () => {
    fc.assert(
      fc.property(parts, (p) => {
        const id = encodeClientOrderId(p);
        expect(id).toHaveLength(18);
        expect(id).toMatch(BINANCE);
        expect(id).toMatch(KRAKEN_FUTURES);
        expect(id.length).toBeLessThanOrEqual(KRAKEN_SPOT_MAX_TEXT);
        expect(id).toMatch(/^[0-9a-z]+$/); // no case a venue could fold
        for (const venue of VENUES) expect(isValidClientOrderId(venue, id)).toBe(true);
      }),
    );
  });

  it('the extreme ids fit too', () => {
    for (const id of ['tw0000000000000000', 'twzzzzzzzzzzzzzzzz']) {
      for (const venue of VENUES) expect(isValidClientOrderId(venue, id)).toBe(true);
    }
  });

  it('the venue rules reject what each venue rejects', () => {
    expect(isValidClientOrderId('binance-futures', 'a'.repeat(37))).toBe(false);
    expect(isValidClientOrderId('binance-futures', 'a'.repeat(36))).toBe(true);
    expect(isValidClientOrderId('binance-us', 'has space')).toBe(false);
    expect(isValidClientOrderId('binance-futures', '')).toBe(false);
    expect(isValidClientOrderId('kraken-spot', 'a'.repeat(19))).toBe(false);
    expect(isValidClientOrderId('kraken-spot', 'a'.repeat(18))).toBe(true);
    expect(isValidClientOrderId('kraken-spot', '123e4567-e89b-12d3-a456-426614174000')).toBe(true);
    expect(isValidClientOrderId('kraken-spot', '123e4567e89b12d3a456426614174000')).toBe(true);
    expect(isValidClientOrderId('kraken-futures', 'with_underscore')).toBe(false);
    expect(isValidClientOrderId('kraken-futures', 'a'.repeat(101))).toBe(false);
    expect(isValidClientOrderId('kraken-futures', 'a-'.repeat(50))).toBe(true);
    expect(CLIENT_ORDER_ID_RULES['kraken-futures'].maxLength).toBe(100);
  });
});

describe('parseClientOrderId', () => {
  it('reads back (shard, epoch, seq) from every id', () => {
    fc.assert(
      fc.property(parts, (p) => {
        expect(parseClientOrderId(encodeClientOrderId(p))).toEqual(p);
      }),
    );
  });

  it('reads a hand-made id', () => {
    expect(parseClientOrderId('tw01000000200000a1')).toEqual({ shard: 1, epoch: 2, seq: 361 });
  });

  it('different inputs never share an id', () => {
    fc.assert(
      fc.property(parts, parts, (a, b) => {
        fc.pre(a.shard !== b.shard || a.epoch !== b.epoch || a.seq !== b.seq);
        expect(encodeClientOrderId(a)).not.toBe(encodeClientOrderId(b));
      }),
    );
  });

  it.each([
    'autoclose-1234',
    'adl_autoclose',
    'web_abcdef',
    'TW01000000200000A1',
    'tw01000000200000a',
    'tw01000000200000a10',
    'xx01000000200000a1',
    'tw01-00000200000a1',
    '',
  ])('answers null for %j, which is not ours', (id) => {
    expect(parseClientOrderId(id)).toBeNull();
  });
});

describe('ClientOrderIdSequence', () => {
  it('issues consecutive sequence numbers under one shard and epoch', () => {
    const ids = new ClientOrderIdSequence(3, 7, 35);
    expect(ids.next()).toBe('tw030000007000000z');
    expect(ids.next()).toBe('tw0300000070000010');
    expect(ids.nextSeq).toBe(37);
    expect(parseClientOrderId(ids.next())).toEqual({ shard: 3, epoch: 7, seq: 37 });
  });

  it('a new epoch restarts the sequence without colliding with the old one', () => {
    const old = new ClientOrderIdSequence(1, 4);
    const fresh = new ClientOrderIdSequence(1, 5);
    const a = new Set(Array.from({ length: 100 }, () => old.next()));
    const b = Array.from({ length: 100 }, () => fresh.next());
    for (const id of b) expect(a.has(id)).toBe(false);
  });

  it('refuses a bad lease up front and stops at the end of the sequence space', () => {
    expect(() => new ClientOrderIdSequence(2000, 1)).toThrow(InvariantError);
    expect(() => new ClientOrderIdSequence(1, -1)).toThrow(InvariantError);
    const ids = new ClientOrderIdSequence(1, 1, MAX_SEQ);
    expect(ids.next()).toBe('tw010000001zzzzzzz');
    expect(() => ids.next()).toThrow(InvariantError);
  });
});
