import { describe, expect, it } from 'vitest';
import { Money } from '#core/money.ts';
import { estimateLiquidationPrice } from '#risk/gate.ts';
import { inverseBaseValue, notionalAt } from '#risk/notional.ts';
import { BTCUSDT, PI_XBTUSD, SUSHIUSDT, lots } from './support.ts';

describe('notionalAt', () => {
  it('is price × qty × contract size for linear instruments, exactly', () => {
    expect(notionalAt(BTCUSDT, new Money('100000.1'), lots(BTCUSDT, '0.1')).toString()).toBe('10000.01');
    expect(notionalAt(SUSHIUSDT, new Money('9.99'), 1).toString()).toBe('9.99');
    const tenDollarContracts = { ...BTCUSDT, contractSize: new Money('10') };
    expect(notionalAt(tenDollarContracts, new Money('3.5'), lots(BTCUSDT, '2')).toString()).toBe('70');
  });

  it('is qty × contract size in USD for inverse instruments, whatever the price', () => {
    expect(notionalAt(PI_XBTUSD, new Money('50000'), 10000).toString()).toBe('10000');
    expect(notionalAt(PI_XBTUSD, new Money('20000'), 10000).toString()).toBe('10000');
    const hundred = { ...PI_XBTUSD, contractSize: new Money('100') };
    expect(notionalAt(hundred, new Money('50000'), 3).toString()).toBe('300');
  });

  it('gives the base-currency value of inverse contracts as qty × contract size / price', () => {
    expect(inverseBaseValue(PI_XBTUSD, new Money('50000'), 10000).toString()).toBe('0.2');
  });
});

describe('estimateLiquidationPrice', () => {
  const e = new Money('100000');
  const at = (inverse: boolean, long: boolean, l: string, m: string): string | undefined =>
    estimateLiquidationPrice(inverse, long, e, new Money(l), new Money(m))?.toString();

  it('linear: long E(1 − 1/L)/(1 − m), short E(1 + 1/L)/(1 + m)', () => {
    expect(at(false, true, '10', '0')).toBe('90000');
    expect(at(false, false, '10', '0')).toBe('110000');
    expect(at(false, true, '4', '0.5')).toBe('150000'); // 0.75 / 0.5: liquidated at once
    expect(at(false, false, '4', '0.25')).toBe('100000'); // 1.25 / 1.25
    expect(at(false, true, '1', '0')).toBe('0');
  });

  it('inverse: long E(1 + m)/(1 + 1/L), short E(1 − m)/(1 − 1/L), none for a 1x short', () => {
    expect(at(true, true, '2', '0.2')).toBe('80000');
    expect(at(true, false, '2', '0')).toBe('200000');
    expect(at(true, false, '2', '0.5')).toBe('100000');
    expect(at(true, false, '1', '0.1')).toBeUndefined();
  });
});
