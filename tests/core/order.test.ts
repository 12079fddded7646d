import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvariantError } from '#core/errors.ts';
import { gridFromStep } from '#core/grid.ts';
import type { Instrument } from '#core/instrument.ts';
import { Money } from '#core/money.ts';
import type { OrderState } from '#core/order.ts';
import {
  ManagedOrder,
  ORDER_STATES,
  ORDER_TRANSITIONS,
  canTransition,
  isLive,
  isTerminal,
} from '#core/order.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';

// Price in 0.1 steps, quantity in 0.001 steps: 1000 ticks = 100.0, 5 lots = 0.005.
const instrument: Instrument = {
  venue: 'binance-futures',
  symbol: 'BTCUSDT',
  kind: 'perpetual',
  base: 'BTC',
  quote: 'USDT',
  price: gridFromStep('0.1'),
  qty: gridFromStep('0.001'),
  marketQty: null,
  minQty: new Money('0.001'),
  maxQty: null,
  minPrice: null,
  maxPrice: null,
  minNotional: new Money(0),
  contractSize: new Money(1),
  inverse: false,
  shortable: true,
};

function intent(over: Partial<OrderIntent> = {}): OrderIntent {
  return {
    clientOrderId: 'tw01000000200000a1',
    venue: 'binance-futures',
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTC',
    priceTicks: 1000,
    qtyLots: 5,
    reduceOnly: false,
    purpose: 'entry',
    createdTs: 1_000,
    ...over,
  };
}

function fill(
  tradeId: string,
  qtyLots: number,
  priceTicks = 1000,
  fee = '0',
  over: Partial<Fill> = {},
): Fill {
  return {
    venue: 'binance-futures',
    symbol: 'BTCUSDT',
    tradeId,
    clientOrderId: 'tw01000000200000a1',
    side: 'buy',
    priceTicks,
    qtyLots,
    fee,
    feeAsset: 'USDT',
    liquidity: 'maker',
    ts: 2_000,
    ...over,
  };
}

/**
 * The transition table, written out again from venue behaviour (not read from the module): the
 * test then checks the module's table against it, pair by pair.
 */
const LEGAL: Record<OrderState, OrderState[]> = {
  PENDING: ['SUBMITTED', 'REJECTED', 'FAILED'],
  SUBMITTED: ['UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'EXPIRED', 'REJECTED', 'FAILED'],
  UNKNOWN: ['OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'EXPIRED', 'REJECTED', 'FAILED'],
  OPEN: ['PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'EXPIRED'],
  PARTIALLY_FILLED: ['FILLED', 'CANCELLED', 'EXPIRED'],
  FILLED: [],
  CANCELLED: [],
  REJECTED: [],
  EXPIRED: [],
  FAILED: [],
};

/** A legal path from PENDING to each state. */
const PATH: Record<OrderState, OrderState[]> = {
  PENDING: [],
  SUBMITTED: ['SUBMITTED'],
  UNKNOWN: ['SUBMITTED', 'UNKNOWN'],
  OPEN: ['SUBMITTED', 'OPEN'],
  PARTIALLY_FILLED: ['SUBMITTED', 'OPEN', 'PARTIALLY_FILLED'],
  FILLED: ['SUBMITTED', 'FILLED'],
  CANCELLED: ['SUBMITTED', 'OPEN', 'CANCELLED'],
  REJECTED: ['SUBMITTED', 'REJECTED'],
  EXPIRED: ['SUBMITTED', 'EXPIRED'],
  FAILED: ['FAILED'],
};

function orderIn(state: OrderState, over: Partial<OrderIntent> = {}): ManagedOrder {
  const o = new ManagedOrder(intent(over), instrument);
  let ts = 1_000;
  for (const s of PATH[state]) o.transition(s, ++ts);
  expect(o.state).toBe(state);
  return o;
}

const pairs = ORDER_STATES.flatMap((from) => ORDER_STATES.map((to) => [from, to] as const));
const legalPairs = pairs.filter(([from, to]) => LEGAL[from].includes(to));
const illegalPairs = pairs.filter(([from, to]) => !LEGAL[from].includes(to));

describe('order transition table', () => {
  it('has ten states, 25 legal transitions and 75 illegal ones', () => {
    expect(ORDER_STATES).toHaveLength(10);
    expect(legalPairs).toHaveLength(25);
    expect(illegalPairs).toHaveLength(75);
  });

  it('matches the table derived from venue behaviour', () => {
    for (const s of ORDER_STATES) expect([...ORDER_TRANSITIONS[s]].sort()).toEqual([...LEGAL[s]].sort());
  });

  it('terminal states are exactly the five final outcomes', () => {
    const terminal = ORDER_STATES.filter(isTerminal).sort();
    expect(terminal).toEqual(['CANCELLED', 'EXPIRED', 'FAILED', 'FILLED', 'REJECTED']);
    expect(ORDER_STATES.filter(isLive).sort()).toEqual(['OPEN', 'PARTIALLY_FILLED', 'SUBMITTED', 'UNKNOWN']);
  });

  it.each(legalPairs)('%s → %s is legal', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    const o = orderIn(from);
    const before = o.history.length;
    o.transition(to, 9_999, 'venue said so');
    expect(o.state).toBe(to);
    expect(o.history).toHaveLength(before + 1);
    expect(o.history.at(-1)).toEqual({ from, to, ts: 9_999, reason: 'venue said so' });
    expect(o.timestamps[to]).toBe(9_999);
  });

  it.each(illegalPairs)('%s → %s throws an InvariantError and changes nothing', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    const o = orderIn(from);
    const history = [...o.history];
    let err: unknown;
    try {
      o.transition(to, 9_999);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvariantError);
    expect((err as InvariantError).code).toBe('ORDER_TRANSITION');
    expect((err as InvariantError).kind).toBe('invariant');
    expect(o.state).toBe(from);
    expect(o.history).toEqual(history);
  });
});

describe('ManagedOrder', () => {
  it('records the intent, the venue order id and the time of every state', () => {
    const o = new ManagedOrder(intent(), instrument);
    expect(o.state).toBe('PENDING');
    expect(o.timestamps.PENDING).toBe(1_000);
    o.transition('SUBMITTED', 1_001, 'ws add_order');
    o.setVenueOrderId('8389765');
    o.setVenueOrderId('8389765'); // the same id again: a no-op
    o.transition('OPEN', 1_005, 'NEW');
    expect(o.venueOrderId).toBe('8389765');
    expect(o.timestamps).toEqual({ PENDING: 1_000, SUBMITTED: 1_001, OPEN: 1_005 });
    expect(o.history.map((t) => `${t.from}>${t.to}`)).toEqual(['PENDING>SUBMITTED', 'SUBMITTED>OPEN']);
    expect(() => o.setVenueOrderId('999')).toThrow(InvariantError);
  });

  it('refuses an intent with no quantity, a limit order without a price, or the wrong instrument', () => {
    expect(() => new ManagedOrder(intent({ qtyLots: 0 }), instrument)).toThrow(InvariantError);
    expect(() => new ManagedOrder(intent({ qtyLots: 1.5 }), instrument)).toThrow(InvariantError);
    expect(() => new ManagedOrder(intent({ priceTicks: undefined }), instrument)).toThrow(InvariantError);
    expect(() => new ManagedOrder(intent({ type: 'market' }), instrument)).toThrow(InvariantError);
    expect(() => new ManagedOrder(intent({ symbol: 'ETHUSDT' }), instrument)).toThrow(InvariantError);
    expect(
      new ManagedOrder(intent({ type: 'market', priceTicks: undefined, timeInForce: 'IOC' }), instrument)
        .state,
    ).toBe('PENDING');
  });
});

describe('ManagedOrder.applyFill', () => {
  it('counts fills: quantity, exact average price and fees', () => {
    const o = orderIn('OPEN');
    expect(o.avgFillPrice).toBeNull();
    expect(o.applyFill(fill('t1', 2, 1000, '0.02'))).toBe(true);
    expect(o.state).toBe('PARTIALLY_FILLED');
    expect(o.filledLots).toBe(2);
    expect(o.remainingLots).toBe(3);
    // 0.002 BTC at 100.0
    expect(o.fillValue.eq('0.2')).toBe(true);
    expect(o.applyFill(fill('t2', 3, 999, '0.03'))).toBe(true);
    expect(o.state).toBe('FILLED');
    expect(o.fullyFilled).toBe(true);
    // (0.002 × 100.0 + 0.003 × 99.9) / 0.005 = (0.2 + 0.2997) / 0.005 = 99.94
    expect(o.avgFillPrice?.toString()).toBe('99.94');
    expect(o.fees.toString()).toBe('0.05');
    expect(o.history.map((t) => t.to)).toEqual(['SUBMITTED', 'OPEN', 'PARTIALLY_FILLED', 'FILLED']);
    expect(o.history.at(-1)?.reason).toBe('fill t2');
    expect(o.timestamps.FILLED).toBe(2_000);
  });

  it('keeps an average that does not terminate exact in its parts', () => {
    const o = orderIn('OPEN', { qtyLots: 3 });
    o.applyFill(fill('a', 1, 1000));
    o.applyFill(fill('b', 2, 1001));
    // 0.001 × 100.0 + 0.002 × 100.1 = 0.3002; / 0.003 = 100.0666…
    expect(o.fillValue.toString()).toBe('0.3002');
    expect(o.avgFillPrice?.toString()).toBe('100.0666666666666666666666666666666666667');
  });

  it('ignores a redelivered trade id: a fill is counted once', () => {
    const o = orderIn('OPEN');
    expect(o.applyFill(fill('t1', 2, 1000, '0.02'))).toBe(true);
    const history = o.history.length;
    expect(o.applyFill(fill('t1', 2, 1000, '0.020'))).toBe(false);
    expect(o.applyFill(fill('t1', 2, 1000, '0.02', { ts: 5_000 }))).toBe(false);
    expect(o.filledLots).toBe(2);
    expect(o.fees.toString()).toBe('0.02');
    expect(o.history).toHaveLength(history);
    expect(o.fills).toHaveLength(1);
  });

  it('counts any redelivery pattern once (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.nat(),
        (sizes, redeliveries, seed) => {
          const total = sizes.reduce((a, b) => a + b, 0);
          const o = orderIn('SUBMITTED', { qtyLots: total });
          const fills = sizes.map((q, i) => fill(`t${i}`, q, 1000 + i));
          // Every fill once plus random redeliveries, in a scrambled order.
          const stream = [...fills, ...redeliveries.map((r) => fills[r % fills.length] as Fill)];
          for (let i = stream.length - 1; i > 0; i--) {
            const j = (seed + i * 7919) % (i + 1);
            [stream[i], stream[j]] = [stream[j] as Fill, stream[i] as Fill];
          }
          let counted = 0;
          for (const f of stream) if (o.applyFill(f)) counted++;
          expect(counted).toBe(sizes.length);
          expect(o.filledLots).toBe(total);
          expect(o.state).toBe('FILLED');
        },
      ),
    );
  });

  it('throws when a trade id comes back with different content', () => {
    const o = orderIn('OPEN');
    o.applyFill(fill('t1', 2));
    expect(() => o.applyFill(fill('t1', 3))).toThrow(/FILL_CONFLICT|different content/);
    expect(() => o.applyFill(fill('t1', 2, 1001))).toThrow(InvariantError);
    expect(() => o.applyFill(fill('t1', 2, 1000, '0.01'))).toThrow(InvariantError);
    expect(o.filledLots).toBe(2);
  });

  it('throws on an overfill and leaves the order unchanged', () => {
    const o = orderIn('OPEN');
    o.applyFill(fill('t1', 3, 1000, '0.03'));
    let err: unknown;
    try {
      o.applyFill(fill('t2', 3));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvariantError);
    expect((err as InvariantError).code).toBe('OVERFILL');
    expect(o.filledLots).toBe(3);
    expect(o.fees.toString()).toBe('0.03');
    expect(o.state).toBe('PARTIALLY_FILLED');
    expect(o.hasFill('t2')).toBe(false);
  });

  it('throws for a fill of another order, symbol or side', () => {
    const o = orderIn('OPEN');
    expect(() => o.applyFill(fill('x', 1, 1000, '0', { clientOrderId: 'tw0100000020000000' }))).toThrow(
      InvariantError,
    );
    expect(() => o.applyFill(fill('x', 1, 1000, '0', { symbol: 'ETHUSDT' }))).toThrow(InvariantError);
    expect(() => o.applyFill(fill('x', 1, 1000, '0', { side: 'sell' }))).toThrow(InvariantError);
    expect(() => o.applyFill(fill('x', 0))).toThrow(InvariantError);
    expect(() => o.applyFill(fill('x', 1, 1000, 'abc'))).toThrow(InvariantError);
    expect(o.filledLots).toBe(0);
  });

  it.each(['PENDING', 'REJECTED', 'FAILED'] as const)('throws for a fill on a %s order', (state) => {
    const o = orderIn(state);
    expect(() => o.applyFill(fill('t1', 1))).toThrow(InvariantError);
    expect(o.filledLots).toBe(0);
  });

  it('a market order goes SUBMITTED → FILLED on its fill, without OPEN', () => {
    const o = orderIn('SUBMITTED', { type: 'market', priceTicks: undefined, timeInForce: 'IOC' });
    o.applyFill(fill('t1', 5, 1002));
    expect(o.state).toBe('FILLED');
    expect(o.history.map((t) => t.to)).toEqual(['SUBMITTED', 'FILLED']);
  });

  it('a fill proves an UNKNOWN order exists', () => {
    const o = orderIn('UNKNOWN');
    o.applyFill(fill('t1', 1));
    expect(o.state).toBe('PARTIALLY_FILLED');
  });

  it('counts fills that arrive after the venue reported FILLED', () => {
    const o = orderIn('SUBMITTED');
    o.transition('FILLED', 1_500, 'ws response status FILLED');
    expect(o.fullyFilled).toBe(false);
    o.applyFill(fill('t1', 2));
    o.applyFill(fill('t2', 3));
    expect(o.state).toBe('FILLED');
    expect(o.fullyFilled).toBe(true);
    expect(() => o.applyFill(fill('t3', 1))).toThrow(InvariantError);
  });

  it.each(['CANCELLED', 'EXPIRED'] as const)(
    'counts a late partial fill on a %s order, but not one that fills it all',
    (state) => {
      const o = orderIn(state);
      expect(o.applyFill(fill('t1', 4))).toBe(true);
      expect(o.state).toBe(state);
      expect(o.filledLots).toBe(4);
      expect(() => o.applyFill(fill('t2', 1))).toThrow(InvariantError);
      expect(o.filledLots).toBe(4);
    },
  );
});
