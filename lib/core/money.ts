/**
 * Money: notional, P&L, fees, limits. Always decimal.js, created at the boundaries (never per book
 * level on the hot path). One configured constructor for the whole process so precision and
 * rounding never depend on who imported decimal.js first.
 */
import { Decimal } from 'decimal.js';
import { DataError } from './errors.ts';
import type { Grid } from './grid.ts';
import { fromSteps } from './grid.ts';

export const Money = Decimal.clone({
  precision: 40,
  rounding: Decimal.ROUND_HALF_EVEN,
  toExpNeg: -30,
  toExpPos: 40,
});
export type Money = Decimal;

const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;

/** Parses decimal text as money, rejecting anything that is not a plain decimal. */
export function money(text: string): Money {
  if (!DECIMAL_TEXT.test(text))
    throw new DataError('NOT_A_NUMBER', `${JSON.stringify(text)} is not a decimal amount`);
  return new Money(text);
}

/** The decimal value of integer steps on a grid, as money (e.g. a price for a notional). */
export function stepsToMoney(steps: number, grid: Grid): Money {
  return new Money(fromSteps(steps, grid));
}

/** price × qty × contract size, exact. */
export function notional(
  priceSteps: number,
  price: Grid,
  qtySteps: number,
  qty: Grid,
  contractSize: Money,
): Money {
  return stepsToMoney(priceSteps, price).times(stepsToMoney(qtySteps, qty)).times(contractSize);
}
