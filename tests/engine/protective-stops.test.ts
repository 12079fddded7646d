import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OrderState } from '#core/order.ts';
import type { ProtectiveStopInput, ProtectiveStopView } from '#engine/protective-stops.ts';
import { leaveStopToVenue, planProtectiveStop } from '#engine/protective-stops.ts';

let n = 0;
function stopView(over: Partial<ProtectiveStopView> = {}): ProtectiveStopView {
  return {
    clientOrderId: `s${++n}`,
    state: 'OPEN',
    side: 'sell',
    remainingLots: 10,
    triggerTicks: 9985,
    cancelling: false,
    ...over,
  };
}

function plan(over: Partial<ProtectiveStopInput>) {
  return planProtectiveStop({
    positionLots: 10,
    stopTicks: 9985,
    stops: [],
    entryWorking: false,
    makeBeforeBreak: true,
    ...over,
  });
}

describe('planProtectiveStop', () => {
  it('guards a new long with one sell stop for the whole position at the stop level', () => {
    expect(plan({})).toEqual([{ kind: 'place', side: 'sell', qtyLots: 10, triggerTicks: 9985 }]);
    expect(plan({ positionLots: -4, stopTicks: 10015 })).toEqual([
      { kind: 'place', side: 'buy', qtyLots: 4, triggerTicks: 10015 },
    ]);
  });

  it('waits for a working entry to finish, so one stop covers everything it filled', () => {
    expect(plan({ entryWorking: true })).toEqual([]);
  });

  it('does nothing while the right stop rests', () => {
    expect(plan({ stops: [stopView()] })).toEqual([]);
  });

  it('sends one change at a time: nothing while a stop is on its way', () => {
    for (const state of ['PENDING', 'SUBMITTED', 'UNKNOWN'] as OrderState[])
      expect(plan({ positionLots: 12, stops: [stopView(), stopView({ state, remainingLots: 12 })] })).toEqual(
        [],
      );
  });

  it('replaces make-before-break: the new stop first, the old one only once the new is acknowledged', () => {
    const old = stopView();
    // the position grew: a new stop for 12 is placed, the old one stays
    expect(plan({ positionLots: 12, stops: [old] })).toEqual([
      { kind: 'place', side: 'sell', qtyLots: 12, triggerTicks: 9985 },
    ]);
    // the new one is on its way: the old one still stays
    const fresh = stopView({ state: 'SUBMITTED', remainingLots: 12 });
    expect(plan({ positionLots: 12, stops: [old, fresh] })).toEqual([]);
    // acknowledged: now the old one goes
    const acked = { ...fresh, state: 'OPEN' as const };
    expect(plan({ positionLots: 12, stops: [old, acked] })).toEqual([
      { kind: 'cancel', clientOrderId: old.clientOrderId, why: `replaced by ${acked.clientOrderId}` },
    ]);
  });

  it('a new stop level (new average entry) is a replacement too', () => {
    expect(plan({ stopTicks: 9990, stops: [stopView()] })).toEqual([
      { kind: 'place', side: 'sell', qtyLots: 10, triggerTicks: 9990 },
    ]);
  });

  it('on spot (no make-before-break) cancels the old stop first, then places the new one', () => {
    const old = stopView();
    expect(plan({ positionLots: 6, stops: [old], makeBeforeBreak: false })).toEqual([
      {
        kind: 'cancel',
        clientOrderId: old.clientOrderId,
        why: 'to be replaced (spot: the stop holds the base)',
      },
    ]);
    expect(plan({ positionLots: 6, stops: [{ ...old, cancelling: true }], makeBeforeBreak: false })).toEqual(
      [],
    );
    expect(plan({ positionLots: 6, stops: [], makeBeforeBreak: false })).toEqual([
      { kind: 'place', side: 'sell', qtyLots: 6, triggerTicks: 9985 },
    ]);
  });

  it('flat: cancels every confirmed stop not already being cancelled, and waits for those on their way', () => {
    const a = stopView();
    const b = stopView({ cancelling: true });
    const c = stopView({ state: 'SUBMITTED' });
    expect(plan({ positionLots: 0, stopTicks: null, stops: [a, b, c] })).toEqual([
      { kind: 'cancel', clientOrderId: a.clientOrderId, why: 'position closed' },
    ]);
  });

  it('property: never places while any stop is on its way, never places more than the position, never leaves the position unguarded by its own action', () => {
    const states: OrderState[] = ['PENDING', 'SUBMITTED', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED'];
    const arbStop = fc.record({
      state: fc.constantFrom(...states),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      remainingLots: fc.integer({ min: 1, max: 20 }),
      triggerTicks: fc.integer({ min: 9980, max: 9990 }),
      cancelling: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: -20, max: 20 }),
        fc.array(arbStop, { maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        (pos, raw, entryWorking, makeBeforeBreak) => {
          const stops = raw.map((r, i) => ({ ...r, clientOrderId: `p${i}` }));
          const actions = planProtectiveStop({
            positionLots: pos,
            stopTicks: pos === 0 ? null : pos > 0 ? 9985 : 10015,
            stops,
            entryWorking,
            makeBeforeBreak,
          });
          const places = actions.filter((a) => a.kind === 'place');
          const cancels = actions.filter((a) => a.kind === 'cancel');
          expect(places.length).toBeLessThanOrEqual(1);
          for (const p of places) {
            expect(p.qtyLots).toBe(Math.abs(pos));
            expect(p.side).toBe(pos > 0 ? 'sell' : 'buy');
            expect(stops.some((s) => ['PENDING', 'SUBMITTED', 'UNKNOWN'].includes(s.state))).toBe(false);
            expect(entryWorking).toBe(false);
          }
          // Only confirmed stops not already being cancelled are ever cancelled, each once.
          const ids = cancels.map((c) => c.clientOrderId);
          expect(new Set(ids).size).toBe(ids.length);
          for (const id of ids) {
            const s = stops.find((x) => x.clientOrderId === id);
            expect(s && !s.cancelling && (s.state === 'OPEN' || s.state === 'PARTIALLY_FILLED')).toBe(true);
          }
          // Make-before-break with a position: a cancel only ever removes a stop while another
          // confirmed stop that fits the position stays.
          if (makeBeforeBreak && pos !== 0 && cancels.length > 0) {
            const kept = stops.filter(
              (s) =>
                !ids.includes(s.clientOrderId) &&
                !s.cancelling &&
                (s.state === 'OPEN' || s.state === 'PARTIALLY_FILLED') &&
                s.remainingLots === Math.abs(pos) &&
                s.side === (pos > 0 ? 'sell' : 'buy'),
            );
            expect(kept.length).toBeGreaterThan(0);
          }
        },
      ),
    );
  });
});

describe('leaveStopToVenue', () => {
  it('stands aside while a confirmed stop covers the position and the market is within the fallback band', () => {
    const s = stopView({ triggerTicks: 10_000 });
    // 10 bps of 10,000 ticks = 10 ticks of slack: the engine takes over below 9,990
    expect(leaveStopToVenue(10, 9_999, [s], 10)).toBe(true);
    expect(leaveStopToVenue(10, 9_991, [s], 10)).toBe(true);
    expect(leaveStopToVenue(10, 9_990, [s], 10)).toBe(false);
    const b = stopView({ side: 'buy', triggerTicks: 10_000 });
    expect(leaveStopToVenue(-10, 10_009, [b], 10)).toBe(true);
    expect(leaveStopToVenue(-10, 10_010, [b], 10)).toBe(false);
  });

  it('does not stand aside for a stop that is unconfirmed, being cancelled, too small or on the wrong side', () => {
    expect(leaveStopToVenue(10, 9_999, [stopView({ state: 'SUBMITTED', triggerTicks: 10_000 })], 10)).toBe(
      false,
    );
    expect(leaveStopToVenue(10, 9_999, [stopView({ cancelling: true, triggerTicks: 10_000 })], 10)).toBe(
      false,
    );
    expect(leaveStopToVenue(10, 9_999, [stopView({ remainingLots: 9, triggerTicks: 10_000 })], 10)).toBe(
      false,
    );
    expect(leaveStopToVenue(10, 9_999, [stopView({ side: 'buy', triggerTicks: 10_000 })], 10)).toBe(false);
    expect(leaveStopToVenue(0, 9_999, [stopView({ triggerTicks: 10_000 })], 10)).toBe(false);
  });
});
