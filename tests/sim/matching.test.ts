import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { L2Book } from '#core/book.ts';
import { fromSteps, gridFromStep } from '#core/grid.ts';
import type { VenueId } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import { SimAccounts } from '#sim/accounts.ts';
import type { SimAccountsConfig } from '#sim/accounts.ts';
import { SyntheticMarket } from '#sim/market.ts';
import type {
  PlaceResult,
  SimFill,
  SimInstrumentSpec,
  SimOrder,
  SimOrderRequest,
  SimReject,
} from '#sim/matching.ts';
import {
  instrumentKey,
  MatchingEngine,
  parseOrderAmounts,
  simInstrumentSpec,
  simInstrumentSpecs,
} from '#sim/matching.ts';
import { DEFAULT_SYMBOLS } from '#sim/symbols.ts';

// ------------------------------------------------------------------------------------ fixtures

/** A linear spec on hand-picked grids; fees as in the brief's example (maker 0.02 %, taker 0.04 %). */
function spec(venue: VenueId, symbol: string, over: Partial<SimInstrumentSpec> = {}): SimInstrumentSpec {
  const spot = venue === 'binance-us' || venue === 'kraken-spot';
  return {
    venue,
    symbol,
    base: 'BTC',
    quote: venue.startsWith('binance') ? 'USDT' : 'USD',
    settle: venue.startsWith('binance') ? 'USDT' : 'USD',
    price: gridFromStep('0.1'),
    qty: gridFromStep('0.001'),
    contractSize: new Money(1),
    inverse: false,
    spot,
    minQtyLots: 1,
    maxQtyLots: 100_000,
    minNotional: new Money(venue === 'kraken-futures' ? '0' : '5'),
    makerFee: '0.0002',
    takerFee: '0.0004',
    shortable: !spot,
    ...over,
  };
}

const PERP = 'BTCUSDT';
const SPOT_US = 'BTCUSDT';
const XBT = 'BTC/USD';
const PF = 'PF_XBTUSD';
const PI = 'PI_XBTUSD';

function instruments(...specs: SimInstrumentSpec[]): Map<string, SimInstrumentSpec> {
  return new Map(specs.map((s) => [instrumentKey(s.venue, s.symbol), s]));
}

const ALL = instruments(
  spec('binance-futures', PERP),
  spec('binance-us', SPOT_US),
  spec('kraken-spot', XBT, { minQtyLots: 2, minNotional: new Money('0.5') }),
  spec('kraken-futures', PF),
  spec('kraken-futures', PI, {
    base: 'XBT',
    quote: 'USD',
    settle: 'XBT',
    price: gridFromStep('0.5'),
    qty: gridFromStep('1'),
    inverse: true,
    makerFee: '0.0002',
    takerFee: '0.0005',
  }),
);

/**
 * The hand-built book of most tests, tick 0.1 / lot 0.001 (ticks are price × 10, lots qty × 1000):
 *   asks 43001.0 × 0.010 | 43000.3 × 0.005 | 43000.1 × 0.003 | 43000.0 × 0.002
 *   bids 42999.9 × 0.004 | 42999.5 × 0.006 | 42998.0 × 0.020
 */
function handBook(): L2Book {
  const b = new L2Book('HAND');
  b.set('ask', 430000, 2);
  b.set('ask', 430001, 3);
  b.set('ask', 430003, 5);
  b.set('ask', 430010, 10);
  b.set('bid', 429999, 4);
  b.set('bid', 429995, 6);
  b.set('bid', 429980, 20);
  return b;
}

function engine(accounts?: SimAccountsConfig, onOrderUpdate?: (o: SimOrder, f: SimFill | null) => void) {
  return new MatchingEngine({ instruments: ALL, accounts: accounts ?? {}, onOrderUpdate });
}

let cid = 0;
function req(over: Partial<SimOrderRequest> & Pick<SimOrderRequest, 'side'>): SimOrderRequest {
  return {
    venue: 'binance-futures',
    symbol: PERP,
    clientOrderId: `c${++cid}`,
    type: 'market',
    timeInForce: 'GTC',
    qtyLots: 1,
    reduceOnly: false,
    account: 'acct',
    ts: 1_000,
    ...over,
  };
}

function placed(r: PlaceResult): { order: SimOrder; fills: readonly SimFill[] } {
  if ('reject' in r) throw new Error(`unexpected reject ${r.reject.code}: ${r.reject.message}`);
  return r;
}

function rejected(r: PlaceResult): SimReject {
  if (!('reject' in r)) throw new Error(`expected a reject, got ${r.order.status}`);
  return r.reject;
}

const m = (text: string) => new Money(text);

// ------------------------------------------------------------------------------------ taking

describe('MatchingEngine: market orders', () => {
  it('walks three ask levels with the right VWAP and exact taker fees', () => {
    const e = engine();
    const { order, fills } = placed(e.place(req({ side: 'buy', qtyLots: 8 }), handBook()));
    // 2 @ 43000.0, 3 @ 43000.1, then 3 of the 5 @ 43000.3.
    expect(fills.map((f) => [f.priceTicks, f.qtyLots, f.liquidity])).toEqual([
      [430000, 2, 'taker'],
      [430001, 3, 'taker'],
      [430003, 3, 'taker'],
    ]);
    expect(order.status).toBe('FILLED');
    expect(order.filledLots).toBe(8);
    // (2·430000 + 3·430001 + 3·430003) / 8 = 3440012 / 8 = 430001.5 ticks = 43000.15
    expect(order.avgPriceTicks).toBe(430001.5);
    // Notionals 86.0000 + 129.0003 + 129.0009 = 344.0012; fees at 0.0004 of each.
    expect(fills.map((f) => f.notional)).toEqual(['86', '129.0003', '129.0009']);
    expect(fills.map((f) => f.fee)).toEqual(['0.0344', '0.05160012', '0.05160036']);
    expect(fills.every((f) => f.feeAsset === 'USDT')).toBe(true);
    expect(order.cumNotional).toBe('344.0012');
    // The wallet paid exactly the fees (0.13760048); the position holds the notional as its basis.
    expect(e.accounts.total('acct', 'binance-futures', 'USDT').eq(m('99999.86239952'))).toBe(true);
    const pos = e.positions('acct', 'binance-futures');
    expect(pos.map((p) => [p.symbol, p.qtyLots, p.costBasis.toFixed()])).toEqual([[PERP, 8, '344.0012']]);
    expect(pos[0]?.entryPrice.eq(m('43000.15'))).toBe(true);
    expect(pos[0]?.entryPriceTicks).toBe(430001.5);
  });

  it('fills what the book has and expires the rest when liquidity runs out', () => {
    const e = engine();
    const { order, fills } = placed(e.place(req({ side: 'buy', qtyLots: 30 }), handBook()));
    expect(fills.reduce((s, f) => s + f.qtyLots, 0)).toBe(20); // 2 + 3 + 5 + 10
    expect(order.status).toBe('EXPIRED');
    expect(order.reason).toBe('market');
    expect(order.filledLots).toBe(20);
    expect(e.openOrders('acct', 'binance-futures')).toEqual([]);
  });

  it('never fills twice on the same liquidity until the market changes the level', () => {
    const e = engine();
    const book = handBook();
    placed(e.place(req({ side: 'buy', qtyLots: 4 }), book)); // 2 @ 430000, 2 @ 430001
    // Same book: 430000 is used up, 1 lot is left at 430001.
    const second = placed(e.place(req({ side: 'buy', qtyLots: 3, account: 'other' }), book));
    expect(second.fills.map((f) => [f.priceTicks, f.qtyLots])).toEqual([
      [430001, 1],
      [430003, 2],
    ]);
    // The truth book is untouched.
    expect(book.asks.qtyAtPrice(430000)).toBe(2);
    // The market re-quotes 430000: it is available again (at its new quantity).
    book.set('ask', 430000, 7);
    e.onBookChange('binance-futures', PERP, book, 2_000);
    const third = placed(e.place(req({ side: 'buy', qtyLots: 7 }), book));
    expect(third.fills.map((f) => [f.priceTicks, f.qtyLots])).toEqual([[430000, 7]]);
  });

  it('sells walk the bids the same way', () => {
    const e = engine();
    const { fills } = placed(e.place(req({ side: 'sell', qtyLots: 5 }), handBook()));
    expect(fills.map((f) => [f.priceTicks, f.qtyLots])).toEqual([
      [429999, 4],
      [429995, 1],
    ]);
    expect(e.accounts.positionLots('acct', 'binance-futures', PERP)).toBe(-5);
  });
});

describe('MatchingEngine: limit orders', () => {
  it('a GTC limit takes what crosses, then rests the remainder', () => {
    const e = engine();
    const { order, fills } = placed(
      e.place(req({ side: 'buy', type: 'limit', priceTicks: 430001, qtyLots: 8 }), handBook()),
    );
    expect(fills.map((f) => [f.priceTicks, f.qtyLots])).toEqual([
      [430000, 2],
      [430001, 3],
    ]);
    expect(order.status).toBe('PARTIALLY_FILLED');
    expect(e.openOrders('acct', 'binance-futures').map((o) => [o.orderId, o.filledLots])).toEqual([
      [order.orderId, 5],
    ]);
  });

  it('rests below the market, then fills as maker at its limit when the market moves through it', () => {
    const updates: Array<[string, number]> = [];
    const e = engine(undefined, (o) => updates.push([o.status, o.filledLots]));
    const book = handBook();
    const { order, fills } = placed(
      e.place(req({ side: 'buy', type: 'limit', priceTicks: 429990, qtyLots: 4 }), book),
    );
    expect(fills).toEqual([]);
    expect(order.status).toBe('NEW');
    // A book change that does not reach 42999.0 fills nothing.
    book.set('bid', 429999, 9);
    expect(e.onBookChange('binance-futures', PERP, book, 1_500)).toEqual([]);
    // The market drops: bids above 42998.0 go, asks come down to 42998.5 × 3 and 42999.0 × 1.
    book.set('bid', 429999, 0);
    book.set('bid', 429995, 0);
    book.set('ask', 429985, 3);
    book.set('ask', 429990, 1);
    const made = e.onBookChange('binance-futures', PERP, book, 2_000);
    // One maker fill at OUR price 42999.0 for the 3 + 1 lots at or through it.
    expect(made.map((f) => [f.priceTicks, f.qtyLots, f.liquidity, f.ts])).toEqual([
      [429990, 4, 'maker', 2_000],
    ]);
    // 42999.0 × 0.004 = 171.996; × 0.0002 = 0.0343992
    expect(made[0]?.fee).toBe('0.0343992');
    const done = e.order('acct', 'binance-futures', { orderId: order.orderId });
    expect(done?.status).toBe('FILLED');
    expect(done?.updatedTs).toBe(2_000);
    expect(e.openOrders('acct', 'binance-futures')).toEqual([]);
    expect(updates).toEqual([
      ['NEW', 0],
      ['FILLED', 4],
    ]);
    // A second book change cannot fill it again.
    book.set('ask', 429985, 5);
    expect(e.onBookChange('binance-futures', PERP, book, 3_000)).toEqual([]);
  });

  it('fills resting orders best price first, then oldest first, on shared liquidity', () => {
    const e = engine();
    const book = handBook();
    const a = placed(e.place(req({ side: 'buy', type: 'limit', priceTicks: 429980, qtyLots: 3 }), book));
    const b = placed(e.place(req({ side: 'buy', type: 'limit', priceTicks: 429990, qtyLots: 3 }), book));
    const c = placed(e.place(req({ side: 'buy', type: 'limit', priceTicks: 429990, qtyLots: 3 }), book));
    for (const p of [429999, 429995, 429980]) book.set('bid', p, 0);
    book.set('ask', 429975, 5); // crosses all three: 5 lots for 9 wanted
    const made = e.onBookChange('binance-futures', PERP, book, 2_000);
    expect(made.map((f) => [f.orderId, f.priceTicks, f.qtyLots])).toEqual([
      [b.order.orderId, 429990, 3],
      [c.order.orderId, 429990, 2],
    ]);
    expect(e.order('acct', 'binance-futures', { orderId: a.order.orderId })?.filledLots).toBe(0);
  });

  it('IOC takes what it can and expires the rest', () => {
    const e = engine();
    const { order, fills } = placed(
      e.place(
        req({ side: 'buy', type: 'limit', timeInForce: 'IOC', priceTicks: 430001, qtyLots: 10 }),
        handBook(),
      ),
    );
    expect(fills.map((f) => f.qtyLots)).toEqual([2, 3]);
    expect(order.status).toBe('EXPIRED');
    expect(order.reason).toBe('ioc');
    expect(e.openOrders('acct', 'binance-futures')).toEqual([]);
  });

  it('an IOC that cannot trade: EXPIRED on Binance, iocWouldNotExecute on Kraken Futures', () => {
    const e = engine();
    const ioc = { side: 'buy', type: 'limit', timeInForce: 'IOC', priceTicks: 429000, qtyLots: 1 } as const;
    const bin = placed(e.place(req(ioc), handBook()));
    expect([bin.order.status, bin.order.filledLots]).toEqual(['EXPIRED', 0]);
    expect(rejected(e.place(req({ ...ioc, venue: 'kraken-futures', symbol: PF }), handBook())).code).toBe(
      'iocWouldNotExecute',
    );
  });
});

describe('MatchingEngine: post-only', () => {
  const cases: Array<[VenueId, string, string, string]> = [
    ['binance-futures', PERP, '-5022', 'Due to the order could not be executed as maker'],
    ['binance-us', SPOT_US, '-2010', 'Order would immediately match and take.'],
    ['kraken-spot', XBT, 'EOrder:Post only order', 'EOrder:Post only order'],
    ['kraken-futures', PF, 'postWouldExecute', 'post-only order would be filled'],
  ];
  for (const [venue, symbol, code, text] of cases) {
    it(`${venue}: rejected with ${code} when it would take, rests when it would not`, () => {
      const e = engine();
      const book = handBook();
      const po = { venue, symbol, side: 'buy', type: 'limit', timeInForce: 'POST_ONLY', qtyLots: 2 } as const;
      const r = rejected(e.place(req({ ...po, priceTicks: 430000 }), book));
      expect(r.code).toBe(code);
      expect(r.message).toContain(text);
      // Rejected means not recorded: nothing open, nothing filled.
      expect(e.openOrders('acct', venue)).toEqual([]);
      const ok = placed(e.place(req({ ...po, priceTicks: 429999 }), book));
      expect([ok.order.status, ok.fills.length]).toEqual(['NEW', 0]);
    });
  }
});

describe('MatchingEngine: reduce-only', () => {
  it('is rejected when it would open or increase a position (-2022 / wouldNotReducePosition)', () => {
    const e = engine();
    const book = handBook();
    expect(rejected(e.place(req({ side: 'sell', reduceOnly: true }), book))).toEqual({
      code: '-2022',
      message: 'ReduceOnly Order is rejected.',
    });
    placed(e.place(req({ side: 'buy', qtyLots: 2 }), book)); // long 2
    expect(rejected(e.place(req({ side: 'buy', qtyLots: 1, reduceOnly: true }), book)).code).toBe('-2022');
    const kf = { venue: 'kraken-futures', symbol: PF, side: 'sell', reduceOnly: true } as const;
    expect(rejected(e.place(req(kf), book)).code).toBe('wouldNotReducePosition');
  });

  it('is capped at the position: the remainder expires and the position only reaches flat', () => {
    const e = engine();
    const book = handBook();
    placed(e.place(req({ side: 'buy', qtyLots: 3 }), book)); // long 3
    const { order, fills } = placed(e.place(req({ side: 'sell', qtyLots: 8, reduceOnly: true }), book));
    expect(fills.map((f) => [f.priceTicks, f.qtyLots])).toEqual([[429999, 3]]);
    expect([order.status, order.reason, order.filledLots]).toEqual(['EXPIRED', 'reduce-only', 3]);
    expect(e.accounts.positionLots('acct', 'binance-futures', PERP)).toBe(0);
  });

  it('a resting reduce-only order fills at most the position and expires once it is flat', () => {
    const e = engine();
    const book = handBook();
    placed(e.place(req({ side: 'buy', qtyLots: 2 }), book)); // long 2
    const ro = placed(
      e.place(req({ side: 'sell', type: 'limit', priceTicks: 430020, qtyLots: 5, reduceOnly: true }), book),
    );
    expect(ro.order.status).toBe('NEW');
    placed(
      e.place(req({ side: 'sell', type: 'limit', priceTicks: 440000, qtyLots: 1, reduceOnly: true }), book),
    );
    // The market rallies through 43002.0: the bids there would fill 9 lots; the position is 2.
    book.set('bid', 430030, 9);
    for (const p of [430000, 430001, 430003, 430010]) book.set('ask', p, 0);
    book.set('ask', 430040, 5);
    const made = e.onBookChange('binance-futures', PERP, book, 2_000);
    expect(made.map((f) => [f.orderId, f.priceTicks, f.qtyLots])).toEqual([[ro.order.orderId, 430020, 2]]);
    expect(e.accounts.positionLots('acct', 'binance-futures', PERP)).toBe(0);
    // Both reduce-only orders are done: one partly filled and expired, the other expired unfilled.
    expect(e.openOrders('acct', 'binance-futures')).toEqual([]);
    const after = e.order('acct', 'binance-futures', { orderId: ro.order.orderId });
    expect([after?.status, after?.reason, after?.filledLots]).toEqual(['EXPIRED', 'reduce-only', 2]);
  });

  it('Binance exempts reduce-only orders from MIN_NOTIONAL (-4164 "unless you choose reduce only")', () => {
    const e = engine();
    const book = handBook();
    placed(e.place(req({ side: 'sell', qtyLots: 2 }), book)); // short 2
    // 0.001 @ 4000.0 = 4 USDT < 5.
    const small = { side: 'buy', type: 'limit', priceTicks: 40000, qtyLots: 1 } as const;
    expect(rejected(e.place(req(small), book)).code).toBe('-4164');
    expect(placed(e.place(req({ ...small, reduceOnly: true }), book)).order.status).toBe('NEW');
  });

  it('spot venues have no positions to reduce: Binance.US -1104, Kraken EOrder:Reduce only', () => {
    const e = engine();
    const book = handBook();
    const base = { side: 'sell', qtyLots: 2, reduceOnly: true } as const;
    expect(rejected(e.place(req({ ...base, venue: 'binance-us', symbol: SPOT_US }), book)).code).toBe(
      '-1104',
    );
    expect(rejected(e.place(req({ ...base, venue: 'kraken-spot', symbol: XBT }), book)).code).toBe(
      'EOrder:Reduce only:No position exists',
    );
  });
});

describe('MatchingEngine: filters and their codes per venue', () => {
  // 0.001 @ 4000.0 = 4 < 5 (Binance), 0.002 @ 200.0 = 0.4 < 0.5 (Kraken costmin).
  const cases: Array<{
    venue: VenueId;
    symbol: string;
    minNotional: [number, number, string] | null;
    tick: string;
    lot: string;
  }> = [
    { venue: 'binance-futures', symbol: PERP, minNotional: [40000, 1, '-4164'], tick: '-4014', lot: '-4023' },
    { venue: 'binance-us', symbol: SPOT_US, minNotional: [40000, 1, '-1013'], tick: '-1013', lot: '-1013' },
    {
      venue: 'kraken-spot',
      symbol: XBT,
      minNotional: [2000, 2, 'EOrder:Cost minimum not met'],
      tick: 'EOrder:Tick size check failed',
      lot: 'EGeneral:Invalid arguments:volume',
    },
    { venue: 'kraken-futures', symbol: PF, minNotional: null, tick: 'invalidPrice', lot: 'invalidSize' },
  ];
  for (const c of cases) {
    it(`${c.venue}: min notional, tick and lot rejections`, () => {
      const e = engine();
      const book = handBook();
      const lim = { venue: c.venue, symbol: c.symbol, side: 'buy', type: 'limit' } as const;
      if (c.minNotional) {
        const [priceTicks, qtyLots, code] = c.minNotional;
        expect(rejected(e.place(req({ ...lim, priceTicks, qtyLots }), book)).code).toBe(code);
      } else {
        // Kraken Futures has no minimum notional: 0.001 @ 4000.0 rests.
        expect(placed(e.place(req({ ...lim, priceTicks: 40000, qtyLots: 1 }), book)).order.status).toBe(
          'NEW',
        );
      }
      expect(rejected(e.place(req({ ...lim, priceTicks: 429990.5, qtyLots: 2 }), book)).code).toBe(c.tick);
      expect(rejected(e.place(req({ ...lim, priceTicks: 429990, qtyLots: 2.5 }), book)).code).toBe(c.lot);
    });
  }

  it('Binance messages say which filter failed', () => {
    const e = engine();
    const book = handBook();
    const us = { venue: 'binance-us', symbol: SPOT_US, side: 'buy', type: 'limit' } as const;
    expect(rejected(e.place(req({ ...us, priceTicks: 40000, qtyLots: 1 }), book)).message).toBe(
      'Filter failure: MIN_NOTIONAL',
    );
    expect(rejected(e.place(req({ ...us, priceTicks: 0.5, qtyLots: 1 }), book)).message).toBe(
      'Filter failure: PRICE_FILTER',
    );
    expect(rejected(e.place(req({ ...us, priceTicks: 429990, qtyLots: 0 }), book)).message).toBe(
      'Filter failure: LOT_SIZE',
    );
    const fut = rejected(e.place(req({ side: 'buy', type: 'limit', priceTicks: 40000, qtyLots: 1 }), book));
    expect(fut.message).toBe("Order's notional must be no smaller than 5 (unless you choose reduce only)");
    expect(rejected(e.place(req({ side: 'buy', type: 'limit', qtyLots: 1 }), book)).code).toBe('-1102');
  });

  it('Kraken spot enforces ordermin with its own code', () => {
    const e = engine();
    const r = e.place(
      req({ venue: 'kraken-spot', symbol: XBT, side: 'buy', type: 'limit', priceTicks: 429990 }),
      handBook(),
    );
    expect(rejected(r).code).toBe('EOrder:Order minimum not met');
  });

  it('an unknown symbol is the venue’s bad-symbol code', () => {
    const e = engine();
    expect(rejected(e.place(req({ side: 'buy', symbol: 'NOPE' }), handBook())).code).toBe('-1121');
    expect(
      rejected(e.place(req({ side: 'buy', venue: 'kraken-spot', symbol: 'NOPE/USD' }), handBook())).code,
    ).toBe('EQuery:Unknown asset pair');
  });

  it('parseOrderAmounts maps venue text to ticks and lots, or to precision / tick / step codes', () => {
    const perp = simInstrumentSpec(DEFAULT_SYMBOLS['binance-futures']); // tick 0.10, lot 0.001
    expect(parseOrderAmounts(perp, '43000.10', '0.0010')).toEqual({ priceTicks: 430001, qtyLots: 1 });
    expect(parseOrderAmounts(perp, undefined, '2')).toEqual({ priceTicks: undefined, qtyLots: 2000 });
    const code = (p: string | undefined, q: string) => {
      const r = parseOrderAmounts(perp, p, q);
      return 'reject' in r ? r.reject.code : 'ok';
    };
    expect(code('43000.05', '0.001')).toBe('-4014'); // two decimals, not a multiple of 0.10
    expect(code('43000.123', '0.001')).toBe('-1111'); // more decimals than the tick has
    expect(code('43000.1', '0.0015')).toBe('-1111');
    expect(code('43000.1', '-1')).toBe('-4003');
    const us = simInstrumentSpec(DEFAULT_SYMBOLS['binance-us']);
    const r = parseOrderAmounts(us, '43000.005', '0.00001');
    expect('reject' in r && r.reject.message).toBe('Filter failure: PRICE_FILTER');
  });
});

describe('MatchingEngine: spot balances', () => {
  it('a sell needs free base: Binance.US -2010, Kraken EOrder:Insufficient funds', () => {
    const e = engine({ balances: { 'binance-us': { USDT: '100000' }, 'kraken-spot': { USD: '100000' } } });
    const book = handBook();
    const us = rejected(
      e.place(req({ venue: 'binance-us', symbol: SPOT_US, side: 'sell', qtyLots: 1 }), book),
    );
    expect(us).toEqual({ code: '-2010', message: 'Account has insufficient balance for requested action.' });
    const kr = rejected(e.place(req({ venue: 'kraken-spot', symbol: XBT, side: 'sell', qtyLots: 2 }), book));
    expect(kr.code).toBe('EOrder:Insufficient funds');
    // Buy first, then the sell of what was bought goes through.
    placed(e.place(req({ venue: 'binance-us', symbol: SPOT_US, side: 'buy', qtyLots: 2 }), book));
    placed(e.place(req({ venue: 'binance-us', symbol: SPOT_US, side: 'sell', qtyLots: 2 }), book));
    expect(e.accounts.total('acct', 'binance-us', 'BTC').isZero()).toBe(true);
  });

  it('open orders hold funds: a second sell of the same base is refused', () => {
    const e = engine({ balances: { 'binance-us': { USDT: '0', BTC: '0.003' } } });
    const book = handBook();
    const sell = {
      venue: 'binance-us',
      symbol: SPOT_US,
      side: 'sell',
      type: 'limit',
      priceTicks: 430100,
    } as const;
    placed(e.place(req({ ...sell, qtyLots: 2 }), book));
    expect(e.accounts.free('acct', 'binance-us', 'BTC').eq(m('0.001'))).toBe(true);
    expect(rejected(e.place(req({ ...sell, qtyLots: 2 }), book)).code).toBe('-2010');
    e.cancelAll('acct', 'binance-us');
    expect(e.accounts.free('acct', 'binance-us', 'BTC').eq(m('0.003'))).toBe(true);
  });

  it('a buy moves quote and base exactly, fees in quote', () => {
    const e = engine({ balances: { 'kraken-spot': { USD: '1000', BTC: '0' } } });
    // 0.002 @ 43000.0 = 86 USD; 0.0004 taker → 0.0344 fee.
    const book = handBook();
    const { fills } = placed(
      e.place(req({ venue: 'kraken-spot', symbol: XBT, side: 'buy', qtyLots: 2 }), book),
    );
    expect(fills.map((f) => [f.notional, f.fee, f.feeAsset])).toEqual([['86', '0.0344', 'USD']]);
    expect(
      e.balances('acct', 'kraken-spot').map((b) => [b.asset, b.total.toFixed(), b.free.toFixed()]),
    ).toEqual([
      ['BTC', '0.002', '0.002'],
      ['USD', '913.9656', '913.9656'],
    ]);
    // Spot has no positions: the balance is the position.
    expect(e.positions('acct', 'kraken-spot')).toEqual([]);
  });
});

describe('MatchingEngine: client order ids', () => {
  it('a duplicate among OPEN orders is rejected (-4116), a reused id of a done order is accepted', () => {
    const e = engine();
    const book = handBook();
    const rest = {
      side: 'buy',
      type: 'limit',
      priceTicks: 429000,
      qtyLots: 1,
      clientOrderId: 'dup',
    } as const;
    const first = placed(e.place(req(rest), book));
    expect(rejected(e.place(req(rest), book))).toEqual({
      code: '-4116',
      message: 'clientOrderId is duplicated',
    });
    e.cancel('acct', 'binance-futures', PERP, { clientOrderId: 'dup' });
    // Binance only checks open orders: after the cancel the id is free again.
    const second = placed(e.place(req(rest), book));
    expect(second.order.orderId).not.toBe(first.order.orderId);
    // And after a fill too.
    const mkt = { side: 'buy', qtyLots: 1, clientOrderId: 'once' } as const;
    expect(placed(e.place(req(mkt), book)).order.status).toBe('FILLED');
    expect(placed(e.place(req(mkt), book)).order.status).toBe('FILLED');
  });

  it('Kraken Futures answers clientOrderIdAlreadyExist, Kraken spot its duplicate error', () => {
    const e = engine();
    const book = handBook();
    const kf = {
      venue: 'kraken-futures',
      symbol: PF,
      side: 'buy',
      type: 'limit',
      priceTicks: 429000,
    } as const;
    placed(e.place(req({ ...kf, clientOrderId: 'k1' }), book));
    expect(rejected(e.place(req({ ...kf, clientOrderId: 'k1' }), book)).code).toBe(
      'clientOrderIdAlreadyExist',
    );
    const ks = {
      venue: 'kraken-spot',
      symbol: XBT,
      side: 'buy',
      type: 'limit',
      priceTicks: 429000,
      qtyLots: 2,
    } as const;
    placed(e.place(req({ ...ks, clientOrderId: 'k1' }), book));
    expect(rejected(e.place(req({ ...ks, clientOrderId: 'k1' }), book)).code).toMatch(/^EOrder:/);
  });
});

describe('MatchingEngine: cancel, cancelAll, openOrders, order lookup', () => {
  it('cancels by id or client id; unknown or done orders are the venue’s unknown-order reject', () => {
    const e = engine();
    const book = handBook();
    const lim = { side: 'buy', type: 'limit', priceTicks: 429000, qtyLots: 1 } as const;
    const a = placed(e.place(req({ ...lim, clientOrderId: 'a' }), book));
    placed(e.place(req({ ...lim, clientOrderId: 'b' }), book));
    expect(e.openOrders('acct', 'binance-futures').map((o) => o.request.clientOrderId)).toEqual(['a', 'b']);
    const c = e.cancel('acct', 'binance-futures', PERP, { orderId: a.order.orderId }, 1_234);
    expect('reject' in c ? c.reject.code : [c.status, c.reason, c.updatedTs]).toEqual([
      'CANCELED',
      'canceled',
      1_234,
    ]);
    expect(e.cancel('acct', 'binance-futures', PERP, { orderId: a.order.orderId })).toEqual({
      reject: { code: '-2011', message: 'Unknown order sent.' },
    });
    expect(e.cancel('acct', 'binance-futures', PERP, { orderId: '42' })).toHaveProperty(
      'reject.code',
      '-2011',
    );
    // Another account cannot cancel it.
    expect(e.cancel('them', 'binance-futures', PERP, { clientOrderId: 'b' })).toHaveProperty(
      'reject.code',
      '-2011',
    );
    const kf = e.cancel('acct', 'kraken-futures', PF, { orderId: 'nope' });
    expect(kf).toHaveProperty('reject.code', 'notFound');
    expect(e.cancel('acct', 'kraken-spot', XBT, { orderId: 'nope' })).toHaveProperty(
      'reject.code',
      'EOrder:Unknown order',
    );
  });

  it('cancelAll cancels every open order of the account (or one symbol), and releases the margin', () => {
    const e = engine();
    const book = handBook();
    const lim = { side: 'buy', type: 'limit', priceTicks: 429000, qtyLots: 10 } as const;
    placed(e.place(req(lim), book));
    placed(e.place(req(lim), book));
    placed(e.place(req({ ...lim, account: 'them' }), book));
    // 2 × 0.010 × 42900.0 / 10 = 85.8 USDT held.
    expect(e.accounts.locked('acct', 'binance-futures', 'USDT').eq(m('85.8'))).toBe(true);
    const gone = e.cancelAll('acct', 'binance-futures', PERP, 5_000);
    expect(gone.map((o) => o.status)).toEqual(['CANCELED', 'CANCELED']);
    expect(e.openOrders('acct', 'binance-futures')).toEqual([]);
    expect(e.openOrders('them', 'binance-futures')).toHaveLength(1);
    expect(e.accounts.locked('acct', 'binance-futures', 'USDT').isZero()).toBe(true);
  });

  it('finds a filled order by client id after an unknown outcome, and the latest of a reused id', () => {
    const e = engine();
    const book = handBook();
    const first = placed(e.place(req({ side: 'buy', qtyLots: 2, clientOrderId: 'x' }), book));
    const found = e.order('acct', 'binance-futures', { clientOrderId: 'x' });
    expect([found?.orderId, found?.status, found?.filledLots]).toEqual([first.order.orderId, 'FILLED', 2]);
    expect(found?.fills.map((f) => f.tradeId)).toEqual(first.fills.map((f) => f.tradeId));
    const again = placed(
      e.place(req({ side: 'buy', type: 'limit', priceTicks: 429000, clientOrderId: 'x' }), book),
    );
    expect(e.order('acct', 'binance-futures', { clientOrderId: 'x' })?.orderId).toBe(again.order.orderId);
    expect(e.order('acct', 'binance-futures', { orderId: first.order.orderId })?.status).toBe('FILLED');
    expect(e.order('acct', 'binance-futures', { clientOrderId: 'nope' })).toBeUndefined();
    expect(e.order('them', 'binance-futures', { clientOrderId: 'x' })).toBeUndefined();
  });

  it('ids are deterministic and in each venue’s style', () => {
    const run = () => {
      const e = engine();
      const book = handBook();
      return (['binance-futures', 'kraken-spot', 'kraken-futures'] as const).map((venue) => {
        const symbol = venue === 'binance-futures' ? PERP : venue === 'kraken-spot' ? XBT : PF;
        const r = placed(
          e.place(req({ venue, symbol, side: 'buy', qtyLots: 2, clientOrderId: 'same' }), book),
        );
        return [r.order.orderId, r.fills[0]?.tradeId];
      });
    };
    const ids = run();
    expect(run()).toEqual(ids);
    expect(ids[0]?.[0]).toMatch(/^\d+$/);
    expect(ids[1]?.[0]).toMatch(/^O[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{6}$/);
    expect(ids[1]?.[1]).toMatch(/^T[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{6}$/);
    expect(ids[2]?.[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('MatchingEngine: fees and P&L, exact', () => {
  it('linear futures: realized P&L and fees move the wallet exactly', () => {
    const e = engine();
    const book = handBook();
    // Buy 0.002 @ 43000.0 (fee 0.0344), then sell 0.002 @ 42999.9 (fee 85.9998 × 0.0004 = 0.03439992).
    placed(e.place(req({ side: 'buy', qtyLots: 2 }), book));
    const { fills } = placed(e.place(req({ side: 'sell', qtyLots: 2 }), book));
    expect(fills.map((f) => [f.notional, f.fee])).toEqual([['85.9998', '0.03439992']]);
    // P&L −0.0002, fees 0.06879992: 100000 − 0.06899992.
    expect(e.accounts.total('acct', 'binance-futures', 'USDT').toFixed()).toBe('99999.93100008');
    expect(e.accounts.position('acct', 'binance-futures', PERP).realizedPnl.toFixed()).toBe('-0.0002');
    expect(e.positions('acct', 'binance-futures')).toEqual([]);
  });

  it('a maker rebate (negative maker fee) is paid to the account', () => {
    const specs = instruments(spec('binance-futures', PERP, { makerFee: '-0.0001' }));
    const e = new MatchingEngine({ instruments: specs });
    const book = handBook();
    placed(e.place(req({ side: 'sell', type: 'limit', priceTicks: 430020, qtyLots: 5 }), book));
    book.set('bid', 430020, 5);
    for (const p of [430000, 430001, 430003, 430010]) book.set('ask', p, 0);
    const [f] = e.onBookChange('binance-futures', PERP, book, 2_000);
    // 43002.0 × 0.005 = 215.01; × −0.0001 = −0.021501
    expect([f?.liquidity, f?.fee]).toEqual(['maker', '-0.021501']);
    expect(e.accounts.total('acct', 'binance-futures', 'USDT').toFixed()).toBe('100000.021501');
  });

  it('inverse contracts: value = qty × contract size / price, fees and P&L in the base', () => {
    const e = engine();
    const book = new L2Book('PI'); // tick 0.5 (ticks = price × 2), lot 1 contract of 1 USD
    book.set('ask', 80000, 600); // 40000.0
    book.set('ask', 100000, 1000); // 50000.0
    book.set('bid', 79000, 2000); // 39500.0
    const pi = { venue: 'kraken-futures', symbol: PI } as const;
    const { order, fills } = placed(e.place(req({ ...pi, side: 'buy', qtyLots: 1000 }), book));
    // 600 / 40000 = 0.015 XBT, 400 / 50000 = 0.008 XBT; taker 0.0005 → 0.0000075 and 0.000004.
    expect(fills.map((f) => [f.qtyLots, f.notional, f.fee, f.feeAsset])).toEqual([
      [600, '0.015', '0.0000075', 'XBT'],
      [400, '0.008', '0.000004', 'XBT'],
    ]);
    expect(order.cumNotional).toBe('0.023');
    const pos = e.accounts.position('acct', 'kraken-futures', PI);
    expect([pos.qtyLots, pos.costBasis.toFixed(), pos.settle]).toEqual([1000, '0.023', 'XBT']);
    // Entry is the harmonic mean: 1000 / 0.023 USD per XBT.
    expect(pos.entryPrice.eq(m('1000').div(m('0.023')))).toBe(true);
    // The market rallies to 50000.0 and we sell 1000 into it: value 0.02, P&L 0.023 − 0.02 = 0.003 XBT.
    book.set('bid', 100000, 5000);
    book.set('ask', 80000, 0);
    book.set('ask', 100000, 0);
    book.set('ask', 100002, 5000);
    e.onBookChange('kraken-futures', PI, book, 2_000);
    const close = placed(e.place(req({ ...pi, side: 'sell', qtyLots: 1000 }), book));
    expect(close.fills.map((f) => [f.notional, f.fee])).toEqual([['0.02', '0.00001']]);
    expect(e.accounts.position('acct', 'kraken-futures', PI).realizedPnl.toFixed()).toBe('0.003');
    // 2 + 0.003 − (0.0000075 + 0.000004 + 0.00001)
    expect(e.accounts.total('acct', 'kraken-futures', 'XBT').toFixed()).toBe('2.0029785');
    // The USD collateral of the linear contracts is untouched.
    expect(e.accounts.total('acct', 'kraken-futures', 'USD').toFixed()).toBe('100000');
  });

  it('margin: an order whose initial margin exceeds the free balance is -2019 / insufficientAvailableFunds', () => {
    const e = engine({
      balances: { 'binance-futures': { USDT: '50' }, 'kraken-futures': { USD: '50' } },
      leverage: 10,
    });
    const book = handBook();
    // 0.012 @ 43000.0 = 516 notional → 51.6 margin > 50.
    const lim = { side: 'buy', type: 'limit', priceTicks: 430000, qtyLots: 12 } as const;
    expect(rejected(e.place(req(lim), book))).toEqual({ code: '-2019', message: 'Margin is insufficient.' });
    expect(rejected(e.place(req({ ...lim, venue: 'kraken-futures', symbol: PF }), book)).code).toBe(
      'insufficientAvailableFunds',
    );
    // 0.011 @ 42900.0 = 471.9 → 47.19: fine.
    placed(e.place(req({ ...lim, priceTicks: 429000, qtyLots: 11 }), book));
  });
});

describe('simInstrumentSpec', () => {
  it('derives the venue’s filters, fees and settlement from the simulator symbols', () => {
    const specs = simInstrumentSpecs(Object.values(DEFAULT_SYMBOLS));
    const perp = specs.get(instrumentKey('binance-futures', 'BTCUSDT'));
    expect([perp?.base, perp?.quote, perp?.settle, perp?.minNotional.toFixed(), perp?.spot]).toEqual([
      'BTC',
      'USDT',
      'USDT',
      '5',
      false,
    ]);
    expect(perp?.maxMarketQtyLots).toBe(1_000_000); // 1000 BTC in 0.001 lots
    const kr = specs.get(instrumentKey('kraken-spot', 'BTC/USD'));
    expect([kr?.base, kr?.quote, kr?.minNotional.toFixed(), kr?.shortable, kr?.spot]).toEqual([
      'BTC',
      'USD',
      '0.5',
      false,
      true,
    ]);
    const pi = simInstrumentSpec({
      venue: 'kraken-futures',
      symbol: 'PI_XBTUSD',
      tick: '0.5',
      lot: '1',
      startPrice: '1',
    });
    expect([pi.base, pi.settle, pi.inverse]).toEqual(['XBT', 'XBT', true]);
  });
});

// ------------------------------------------------------------------------------------ properties

/** Exact quote notional of a fill, recomputed here from ticks and lots (tick 0.1, lot 0.001). */
function notionalOf(f: SimFill): Money {
  return m(fromSteps(f.priceTicks, gridFromStep('0.1'))).times(
    m(fromSteps(f.qtyLots, gridFromStep('0.001'))),
  );
}

type Cmd =
  | {
      kind: 'place';
      spot: boolean;
      account: number;
      side: 'buy' | 'sell';
      type: 'market' | 'limit';
      tif: 'GTC' | 'IOC' | 'POST_ONLY';
      offset: number;
      qty: number;
      reduceOnly: boolean;
      cid: number;
    }
  | { kind: 'book'; spot: boolean; bid: boolean; offset: number; qty: number }
  | { kind: 'cancel'; spot: boolean; account: number; cid: number }
  | { kind: 'cancelAll'; spot: boolean; account: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('place' as const),
      spot: fc.boolean(),
      account: fc.integer({ min: 0, max: 1 }),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      type: fc.constantFrom('market' as const, 'limit' as const),
      tif: fc.constantFrom('GTC' as const, 'IOC' as const, 'POST_ONLY' as const),
      offset: fc.integer({ min: -6, max: 6 }),
      qty: fc.integer({ min: 1, max: 30 }),
      reduceOnly: fc.boolean(),
      cid: fc.integer({ min: 0, max: 5 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('book' as const),
      spot: fc.boolean(),
      bid: fc.boolean(),
      offset: fc.integer({ min: -6, max: 6 }),
      qty: fc.integer({ min: 0, max: 12 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('cancel' as const),
      spot: fc.boolean(),
      account: fc.integer({ min: 0, max: 1 }),
      cid: fc.integer({ min: 0, max: 5 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('cancelAll' as const),
      spot: fc.boolean(),
      account: fc.integer({ min: 0, max: 1 }),
    }),
  },
);

const MID = 10_000; // 1000.0 at tick 0.1

function startBook(): L2Book {
  const b = new L2Book('P');
  for (let i = 1; i <= 5; i++) {
    b.set('bid', MID - i, 3 + i);
    b.set('ask', MID + i, 3 + i);
  }
  return b;
}

/** Sets a level the way a market does: a bid through the asks removes them first (and vice versa). */
function setLevel(b: L2Book, bid: boolean, price: number, qty: number): void {
  if (qty > 0) {
    const other = bid ? b.asks : b.bids;
    while (other.depth > 0 && (bid ? other.bestPrice() <= price : other.bestPrice() >= price))
      other.set(other.bestPrice(), 0);
  }
  b.set(bid ? 'bid' : 'ask', price, qty);
}

describe('MatchingEngine properties', () => {
  it('positions equal Σ signed fills, balances conserve value exactly, no order overfills, no level is taken twice', () => {
    const INIT = { futUSDT: '3000', usUSDT: '2000', usBTC: '0.05' };
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 20, maxLength: 120 }), (cmds) => {
        const orders = new Map<string, SimOrder>();
        const e = new MatchingEngine({
          instruments: instruments(spec('binance-futures', PERP), spec('binance-us', SPOT_US)),
          accounts: new SimAccounts({
            balances: {
              'binance-futures': { USDT: INIT.futUSDT },
              'binance-us': { USDT: INIT.usUSDT, BTC: INIT.usBTC },
            },
            leverage: 5,
          }),
          onOrderUpdate: (o) => orders.set(o.orderId, o),
        });
        const books = { fut: startBook(), spot: startBook() };
        // Taker consumption per level since the level last changed (our own, independent tracker).
        const taken = { fut: new Map<number, number>(), spot: new Map<number, number>() };
        const fills: SimFill[] = [];
        let ts = 0;
        for (const c of cmds) {
          ts += 10;
          const which = c.spot ? 'spot' : 'fut';
          const venue: VenueId = c.spot ? 'binance-us' : 'binance-futures';
          const book = books[which];
          const account = c.kind === 'book' ? '' : `a${c.account}`;
          if (c.kind === 'book') {
            const price = MID + c.offset;
            const before = new Map<number, number>();
            for (const s of [book.bids, book.asks])
              for (let i = 0; i < s.depth; i++)
                before.set(s.isBid ? s.priceAt(i) : -s.priceAt(i), s.qtyAt(i));
            setLevel(book, c.bid, price, c.qty);
            // Forget taker consumption of every level whose quantity changed.
            for (const [k] of taken[which]) {
              const s = k > 0 ? book.bids : book.asks;
              if (s.qtyAtPrice(Math.abs(k)) !== before.get(k)) taken[which].delete(k);
            }
            fills.push(...e.onBookChange(venue, SPOT_US, book, ts));
          } else if (c.kind === 'cancel') {
            e.cancel(account, venue, SPOT_US, { clientOrderId: `c${c.cid}` }, ts);
          } else if (c.kind === 'cancelAll') {
            e.cancelAll(account, venue, SPOT_US, ts);
          } else {
            const posBefore = e.accounts.positionLots(account, venue, SPOT_US);
            const r = e.place(
              {
                venue,
                symbol: SPOT_US,
                clientOrderId: `c${c.cid}`,
                side: c.side,
                type: c.type,
                timeInForce: c.type === 'market' && c.tif === 'POST_ONLY' ? 'GTC' : c.tif,
                priceTicks: c.type === 'limit' ? MID + c.offset : undefined,
                qtyLots: c.qty,
                reduceOnly: c.reduceOnly && !c.spot,
                account,
                ts,
              },
              book,
            );
            if ('order' in r) {
              for (const f of r.fills) {
                const side = f.side === 'buy' ? book.asks : book.bids;
                const k = f.side === 'buy' ? -f.priceTicks : f.priceTicks;
                const used = (taken[which].get(k) ?? 0) + f.qtyLots;
                if (used > side.qtyAtPrice(f.priceTicks))
                  throw new Error(
                    `took ${used} at ${f.priceTicks}, displayed ${side.qtyAtPrice(f.priceTicks)}`,
                  );
                taken[which].set(k, used);
                expect(f.liquidity).toBe('taker');
              }
              fills.push(...r.fills);
              if (r.order.request.reduceOnly) {
                const after = e.accounts.positionLots(account, venue, SPOT_US);
                expect(Math.abs(after)).toBeLessThanOrEqual(Math.abs(posBefore));
                expect(after === 0 || Math.sign(after) === Math.sign(posBefore)).toBe(true);
              }
            }
          }
          check(e, orders, fills, INIT);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('with the synthetic market: fills never exceed orders and the ledger matches the fills', () => {
    const market = new SyntheticMarket({
      seed: 11,
      startMidTicks: 430_000,
      meanLevelQtyLots: 5,
      symbol: PERP,
    });
    const orders = new Map<string, SimOrder>();
    const e = new MatchingEngine({
      instruments: instruments(spec('binance-futures', PERP), spec('binance-us', SPOT_US)),
      accounts: {
        balances: { 'binance-futures': { USDT: '3000' }, 'binance-us': { USDT: '2000', BTC: '0.05' } },
      },
      onOrderUpdate: (o) => orders.set(o.orderId, o),
    });
    const fills: SimFill[] = [];
    const rnd = fc.sample(
      fc.tuple(fc.integer({ min: -20, max: 20 }), fc.integer({ min: 1, max: 8 }), fc.boolean()),
      {
        seed: 5,
        numRuns: 300,
      },
    );
    let ts = 0;
    for (const [offset, qty, buy] of rnd) {
      ts += 100;
      market.step(100);
      fills.push(...e.onBookChange('binance-futures', PERP, market.book, ts));
      const mid = Math.round(market.mid());
      const r = e.place(
        {
          venue: 'binance-futures',
          symbol: PERP,
          clientOrderId: `m${ts}`,
          side: buy ? 'buy' : 'sell',
          type: 'limit',
          timeInForce: 'GTC',
          priceTicks: mid + offset,
          qtyLots: qty,
          reduceOnly: false,
          account: 'a0',
          ts,
        },
        market.book,
      );
      if ('order' in r) fills.push(...r.fills);
    }
    expect(fills.some((f) => f.liquidity === 'maker')).toBe(true);
    expect(fills.some((f) => f.liquidity === 'taker')).toBe(true);
    check(e, orders, fills, { futUSDT: '3000', usUSDT: '2000', usBTC: '0.05' });
  });
});

/** The invariants both property tests check after every step. */
function check(
  e: MatchingEngine,
  orders: Map<string, SimOrder>,
  fills: readonly SimFill[],
  init: { futUSDT: string; usUSDT: string; usBTC: string },
): void {
  // Orders: never over-filled, fills add up, statuses consistent.
  for (const o of orders.values()) {
    const sum = o.fills.reduce((s, f) => s + f.qtyLots, 0);
    if (o.filledLots > o.request.qtyLots || sum !== o.filledLots)
      throw new Error(`order ${o.orderId}: filled ${o.filledLots} of ${o.request.qtyLots}, fills ${sum}`);
    if ((o.status === 'FILLED') !== (o.filledLots === o.request.qtyLots))
      throw new Error(`order ${o.orderId}: status ${o.status} with ${o.filledLots}/${o.request.qtyLots}`);
  }
  for (const account of ['a0', 'a1']) {
    const mine = fills.filter((f) => f.account === account);
    // Futures: position = Σ signed fills; wallet − cost basis = initial − Σ signed notional − Σ fees.
    const fut = mine.filter((f) => f.venue === 'binance-futures');
    let pos = 0;
    let cash = m(init.futUSDT);
    for (const f of fut) {
      const n = notionalOf(f);
      if (n.toFixed() !== f.notional) throw new Error(`notional ${f.notional} ≠ ${n.toFixed()}`);
      const fee = n.times(m(f.liquidity === 'maker' ? '0.0002' : '0.0004'));
      if (fee.toFixed() !== f.fee) throw new Error(`fee ${f.fee} ≠ ${fee.toFixed()}`);
      pos += f.side === 'buy' ? f.qtyLots : -f.qtyLots;
      cash = cash.plus(f.side === 'buy' ? n.neg() : n).minus(fee);
    }
    const p = e.accounts.position(account, 'binance-futures', PERP);
    expect(p.qtyLots).toBe(pos);
    const wallet = e.accounts.total(account, 'binance-futures', 'USDT');
    if (!wallet.minus(p.costBasis).eq(cash))
      throw new Error(
        `futures ${account}: wallet ${wallet.toFixed()} − basis ${p.costBasis.toFixed()} ≠ ${cash.toFixed()}`,
      );
    if (pos === 0 && !p.costBasis.isZero()) throw new Error('flat position with a cost basis');
    // Spot: quote and base move exactly with the fills and fees; never negative, never over-locked.
    const spot = mine.filter((f) => f.venue === 'binance-us');
    let usdt = m(init.usUSDT);
    let btc = m(init.usBTC);
    for (const f of spot) {
      const n = notionalOf(f);
      const fee = n.times(m(f.liquidity === 'maker' ? '0.0002' : '0.0004'));
      const q = m(fromSteps(f.qtyLots, gridFromStep('0.001')));
      usdt = f.side === 'buy' ? usdt.minus(n).minus(fee) : usdt.plus(n).minus(fee);
      btc = f.side === 'buy' ? btc.plus(q) : btc.minus(q);
    }
    for (const [asset, want] of [
      ['USDT', usdt],
      ['BTC', btc],
    ] as const) {
      const b = e.accounts.balance(account, 'binance-us', asset);
      if (!b.total.eq(want))
        throw new Error(`spot ${account} ${asset}: ${b.total.toFixed()} ≠ ${want.toFixed()}`);
      if (b.total.isNeg() || b.free.isNeg() || b.locked.isNeg())
        throw new Error(`spot ${account} ${asset}: total ${b.total.toFixed()} free ${b.free.toFixed()}`);
    }
  }
}
