import { describe, expect, it } from 'vitest';
import { Money } from '#core/money.ts';
import type { RiskContext } from '#risk/context.ts';
import { evaluateAccount } from '#risk/gate.ts';
import { BTCUSDT, DEFAULTS, ETHUSDT, PI_XBTUSD, context, limitsWith, lots, symbolRisk } from './support.ts';

const reasons = (ctx: RiskContext, limits = DEFAULTS): string[] =>
  evaluateAccount(ctx, limits).breaches.map((b) => b.reason);

describe('evaluateAccount', () => {
  it('stays ACTIVE with no breach and no action', () => {
    const e = evaluateAccount(context(), DEFAULTS);
    expect(e).toEqual({ state: 'ACTIVE', breaches: [] });
  });

  it('KILLs at the daily loss limit (-$500 reached), not before', () => {
    expect(
      evaluateAccount(context({ account: { realizedPnlToday: new Money('-499.99') } }), DEFAULTS).state,
    ).toBe('ACTIVE');
    const e = evaluateAccount(context({ account: { realizedPnlToday: new Money('-500') } }), DEFAULTS);
    expect(e.state).toBe('HALTED');
    expect(e.action).toBe('KILL');
    expect(e.breaches[0]?.reason).toBe('DAILY_LOSS');
    expect(e.breaches[0]?.detail).toContain('-500');
  });

  it('KILLs at a drawdown of -$1,000 from peak, not before', () => {
    expect(evaluateAccount(context({ account: { equity: new Money('99000.01') } }), DEFAULTS).state).toBe(
      'ACTIVE',
    );
    const e = evaluateAccount(context({ account: { equity: new Money('99000') } }), DEFAULTS);
    expect(e).toMatchObject({ state: 'HALTED', action: 'KILL' });
    expect(reasons(context({ account: { equity: new Money('99000') } }))).toEqual(['DRAWDOWN']);
  });

  it('HALTs at 5 losses in a row, not 4', () => {
    expect(evaluateAccount(context({ account: { consecutiveLosses: 4 } }), DEFAULTS).state).toBe('ACTIVE');
    expect(evaluateAccount(context({ account: { consecutiveLosses: 5 } }), DEFAULTS)).toMatchObject({
      state: 'HALTED',
      action: 'HALT',
    });
  });

  it('reports every breach, and KILL wins over HALT', () => {
    const ctx = context({
      account: { realizedPnlToday: new Money('-600'), equity: new Money('98000'), consecutiveLosses: 7 },
    });
    const e = evaluateAccount(ctx, DEFAULTS);
    expect(e.breaches.map((b) => b.reason)).toEqual(['DAILY_LOSS', 'DRAWDOWN', 'CONSECUTIVE_LOSSES']);
    expect(e.action).toBe('KILL');
  });

  it('goes REDUCING when positions are over their caps (a price move needs no order)', () => {
    // 0.26 BTC at mark 100000 = $26,000 > $25,000, and > 25 % of $100,000.
    const over = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', {
          positionLots: lots(BTCUSDT, '0.26'),
          avgEntryPrice: new Money('90000'),
        }),
      ],
    });
    const e = evaluateAccount(over, DEFAULTS);
    expect(e.state).toBe('REDUCING');
    expect(e.action).toBeUndefined();
    expect(e.breaches.map((b) => b.reason)).toEqual(['MAX_POSITION', 'INSTRUMENT_EXPOSURE']);
    // Exactly at the cap is fine.
    const at = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', {
          positionLots: lots(BTCUSDT, '0.25'),
          avgEntryPrice: new Money('90000'),
        }),
      ],
    });
    expect(evaluateAccount(at, DEFAULTS).state).toBe('ACTIVE');
  });

  it('counts resting orders in the worst case, like checkOrder', () => {
    const ctx = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', {
          positionLots: lots(BTCUSDT, '0.2'),
          avgEntryPrice: new Money('100000'),
          openBuyOrders: 1,
          openBuyLots: lots(BTCUSDT, '0.06'),
        }),
      ],
    });
    expect(reasons(ctx)).toContain('MAX_POSITION');
  });

  it('goes REDUCING on total exposure and account leverage', () => {
    const ctx = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', {
          positionLots: lots(BTCUSDT, '0.2'),
          avgEntryPrice: new Money('100000'),
        }),
        symbolRisk(ETHUSDT, '3000', { positionLots: -lots(ETHUSDT, '5'), avgEntryPrice: new Money('3000') }),
        symbolRisk(PI_XBTUSD, '50000', { positionLots: 15000, avgEntryPrice: new Money('50000') }),
      ],
    });
    // 20000 + 15000 + 15000 = 50000: at the cap.
    expect(evaluateAccount(ctx, DEFAULTS).state).toBe('ACTIVE');
    expect(reasons(ctx, limitsWith({ account: { maxTotalExposure: '49999.99' } }))).toEqual(['MAX_EXPOSURE']);
    expect(reasons(ctx, limitsWith({ account: { maxAccountLeverage: '0.49' } }))).toEqual(['LEVERAGE']);
  });

  it('goes REDUCING when a held symbol is set above the leverage cap', () => {
    const ctx = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', {
          positionLots: lots(BTCUSDT, '0.01'),
          avgEntryPrice: new Money('100000'),
          leverage: new Money(20),
        }),
      ],
    });
    expect(reasons(ctx)).toEqual(['LEVERAGE']);
    // Without a position the setting is harmless: checkOrder blocks new exposure.
    expect(
      reasons(context({ symbols: [symbolRisk(BTCUSDT, '100000', { leverage: new Money(20) })] })),
    ).toEqual([]);
  });

  it('never lowers the current state: leaving HALTED or REDUCING is an explicit resume', () => {
    expect(evaluateAccount({ ...context(), tradingState: 'HALTED' }, DEFAULTS).state).toBe('HALTED');
    expect(evaluateAccount({ ...context(), tradingState: 'REDUCING' }, DEFAULTS).state).toBe('REDUCING');
    expect(evaluateAccount({ ...context(), killSwitch: true }, DEFAULTS).state).toBe('HALTED');
    // A REDUCING breach does not lift HALTED to REDUCING either.
    const over = context({
      symbols: [
        symbolRisk(BTCUSDT, '100000', { positionLots: lots(BTCUSDT, '0.3'), avgEntryPrice: new Money('1') }),
      ],
    });
    expect(evaluateAccount({ ...over, tradingState: 'HALTED' }, DEFAULTS).state).toBe('HALTED');
  });

  it('HALTs on an impossible context', () => {
    const e = evaluateAccount(context({ account: { equity: new Money(NaN) } }), DEFAULTS);
    expect(e).toMatchObject({ state: 'HALTED', action: 'HALT' });
    expect(e.breaches[0]?.reason).toBe('BAD_CONTEXT');
    const badSym = evaluateAccount(context({ symbols: [symbolRisk(BTCUSDT, '0')] }), DEFAULTS);
    expect(badSym).toMatchObject({ state: 'HALTED', action: 'HALT' });
    const badState = evaluateAccount({ ...context(), tradingState: 'PAUSED' as 'ACTIVE' }, DEFAULTS);
    expect(badState).toMatchObject({ state: 'HALTED', action: 'HALT' });
  });
});

describe('evaluateAccount never throws', () => {
  it('HALTs on an unreadable input', () => {
    const broken = { ...context(), account: null } as unknown as RiskContext;
    expect(evaluateAccount(broken, DEFAULTS)).toMatchObject({ state: 'HALTED', action: 'HALT' });
  });
});
