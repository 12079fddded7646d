/**
 * Exact conversion between venue decimal text and integer steps (ticks for prices, lots for sizes).
 *
 * A grid is "multiples of `step`", written as an integer number of units of 10^-scale:
 * tick "0.0010" → scale 4, stepUnits 10. `scale` is also the number of decimals the venue writes,
 * so formatting back gives the venue's own text ("7.6110", not "7.611").
 *
 * Steps are JavaScript numbers holding integers; every conversion checks the result stays within
 * Number.MAX_SAFE_INTEGER units, so integer arithmetic on them is exact. No float ever touches a
 * price on the way in: text is scanned digit by digit.
 */
import { DataError } from './errors.ts';

export interface Grid {
  /** The step as the venue wrote it, e.g. "0.0010". */
  readonly step: string;
  /** Decimals of the unit: values are integers of 10^-scale. Also the venue's display precision. */
  readonly scale: number;
  /** The step in units of 10^-scale (a positive integer). */
  readonly stepUnits: number;
}

const POW10: number[] = [];
for (let i = 0, p = 1; i <= 22; i++, p *= 10) POW10.push(p);

export function pow10(n: number): number {
  const p = POW10[n];
  if (p === undefined) throw new RangeError(`10^${n} is outside the supported range 0..22`);
  return p;
}

const MAX = Number.MAX_SAFE_INTEGER;
/** Up to here (2^51) x·10^scale rounds to the right integer: its error stays below 0.5. */
const WIDE_PRODUCT = 2 ** 51;

/**
 * Builds a grid from a step written as decimal text ("0.0010", "1", "0.5", "1000").
 * `displayScale` widens the scale when the venue writes more decimals than the step has
 * (Kraken v1 writes "27120.00000" for a 0.1 tick).
 */
export function gridFromStep(step: string, displayScale?: number): Grid {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(step);
  if (!m) throw new DataError('BAD_STEP', `step ${JSON.stringify(step)} is not a plain positive decimal`);
  const frac = m[2] ?? '';
  const scale = Math.max(frac.length, displayScale ?? 0);
  if (scale > 18) throw new DataError('BAD_STEP', `step ${step} has more than 18 decimals`);
  const digits = (m[1] + frac.padEnd(scale, '0')).replace(/^0+/, '');
  const stepUnits = digits === '' ? 0 : Number(digits);
  if (stepUnits <= 0)
    throw new DataError('BAD_STEP', `step ${step} is zero; a zero step means the rule is disabled`);
  if (!Number.isSafeInteger(stepUnits)) throw new DataError('BAD_STEP', `step ${step} is out of range`);
  return { step, scale, stepUnits };
}

/** A grid of 10^-decimals (Kraken's pair_decimals / lot_decimals; negative = multiples of 10^-d). */
export function gridFromDecimals(decimals: number): Grid {
  if (!Number.isInteger(decimals) || decimals > 18 || decimals < -15) {
    throw new DataError('BAD_PRECISION', `precision ${decimals} is not an integer in -15..18`);
  }
  if (decimals >= 0)
    return { step: decimals === 0 ? '1' : `0.${'1'.padStart(decimals, '0')}`, scale: decimals, stepUnits: 1 };
  return { step: String(pow10(-decimals)), scale: 0, stepUnits: pow10(-decimals) };
}

/** A grid from a step the venue sends as a JSON number (Kraken Futures tickSize 0.5, 0.0001). */
export function gridFromNumber(step: number, displayScale?: number): Grid {
  if (!Number.isFinite(step) || step <= 0)
    throw new DataError('BAD_STEP', `step ${step} is not a positive number`);
  return gridFromStep(plainDecimal(step), displayScale);
}

/** Shortest exact decimal text of a finite double, without exponent ("1e-7" → "0.0000001"). */
export function plainDecimal(x: number): string {
  const s = String(x);
  if (!/e/i.test(s)) return s;
  const [mant = '', expText = '0'] = s.toLowerCase().split('e');
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const [int = '', frac = ''] = (neg ? mant.slice(1) : mant).split('.');
  const digits = int + frac;
  const point = int.length + exp;
  let out: string;
  if (point <= 0) out = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = digits.slice(0, point) + '.' + digits.slice(point);
  return (neg ? '-' : '') + out;
}

function fail(code: string, text: string, grid: Grid, why: string): never {
  throw new DataError(code, `${JSON.stringify(text)} ${why} (step ${grid.step})`);
}

/** A character that is neither a digit nor the first '.' (`d` is its code minus '0'). */
function badChar(text: string, grid: Grid, d: number): never {
  if (d === -3) fail('NEGATIVE', text, grid, 'is negative');
  fail('NOT_A_NUMBER', text, grid, 'is not a decimal number');
}

/**
 * Venue decimal text → integer steps. Rejects signs, exponents, empty text, off-grid values and
 * values too large to be exact. This is on the hot path: one pass over the characters, no allocation.
 */
export function toSteps(text: string, grid: Grid): number {
  const len = text.length;
  const scale = grid.scale;
  let units = 0;
  let i = 0;
  // d is the character minus '0': a digit is 0..9, '.' is -2, '-' is -3.
  let d = 0;
  // Two tight loops, integer part then fraction, instead of one loop that asks at every character
  // which part it is in: this runs twice per book level.
  for (; i < len; i++) {
    d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    units = units * 10 + d;
  }
  let digits = i;
  let frac = 0;
  if (i < len) {
    if (d !== -2) badChar(text, grid, d);
    for (i++; i < len; i++) {
      d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) badChar(text, grid, d);
      if (++frac > scale) {
        if (d !== 0) fail('OFF_GRID', text, grid, `has more than ${scale} decimals`);
      } else {
        units = units * 10 + d;
      }
    }
    digits += frac;
  }
  if (digits === 0) fail('NOT_A_NUMBER', text, grid, 'is not a decimal number');
  for (let f = frac; f < scale; f++) units *= 10;
  if (units > MAX) return wideSteps(text, grid);
  const stepUnits = grid.stepUnits;
  if (stepUnits === 1) return units;
  if (units % stepUnits !== 0) fail('OFF_GRID', text, grid, 'is not a multiple of the step');
  return units / stepUnits;
}

/**
 * Beyond 2^53 units the digit loop may have rounded. Redo it exactly; a double can still hold the
 * result exactly when it has enough trailing zero bits (99,999,997.00000000 at 8 decimals does).
 */
function wideSteps(text: string, grid: Grid): number {
  const big = toBigSteps(text, grid);
  const n = Number(big);
  if (!Number.isFinite(n) || BigInt(n) !== big)
    fail('OUT_OF_RANGE', text, grid, 'is too large to hold exactly');
  return n;
}

/** Exact decimal digits of an integer-valued double (String() rounds beyond 2^53). */
export function intText(n: number): string {
  return n <= MAX ? String(n) : BigInt(n).toString();
}

/**
 * Like `toSteps`, for the rare value too large for a safe integer (a 99,999,997-coin level at 8
 * decimals is 10^16 units): exact, as a bigint. Off the hot path — callers reach it only after
 * `toSteps` said OUT_OF_RANGE.
 */
export function toBigSteps(text: string, grid: Grid): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) fail('NOT_A_NUMBER', text, grid, 'is not a decimal number');
  const frac = m[2] ?? '';
  if (frac.length > grid.scale && !/^0*$/.test(frac.slice(grid.scale))) {
    fail('OFF_GRID', text, grid, `has more than ${grid.scale} decimals`);
  }
  const units = BigInt((m[1] as string) + frac.slice(0, grid.scale).padEnd(grid.scale, '0'));
  const step = BigInt(grid.stepUnits);
  if (units % step !== 0n) fail('OFF_GRID', text, grid, 'is not a multiple of the step');
  return units / step;
}

/** `toSteps`, falling back to an exact bigint for values beyond 2^53 units (quantities only). */
export function toStepsExact(text: string, grid: Grid): number | bigint {
  try {
    return toSteps(text, grid);
  } catch (err) {
    if (err instanceof DataError && err.code === 'OUT_OF_RANGE') return toBigSteps(text, grid);
    throw err;
  }
}

/**
 * A JSON number from the venue → integer steps. Exact for any value whose decimal text has at most
 * 15 significant digits: the double must be the one nearest to units/10^scale, or it was off-grid.
 */
export function numberToSteps(x: number, grid: Grid): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) {
    throw new DataError('NOT_A_NUMBER', `${JSON.stringify(x)} is not a finite number (step ${grid.step})`);
  }
  if (x < 0) throw new DataError('NEGATIVE', `${x} is negative (step ${grid.step})`);
  const p = POW10[grid.scale] as number;
  const units = Math.round(x * p);
  if (units > MAX)
    throw new DataError('OUT_OF_RANGE', `${x} is too large to hold exactly (step ${grid.step})`);
  // Beyond 2^51 units x·p can round to a neighbouring integer, and two neighbours can both divide
  // back to x (68195.559293537 at 11 decimals). The double's shortest text is the venue's decimal
  // whenever that had at most 15 significant digits, so convert it exactly instead (rare, off the
  // usual hot path).
  if (units > WIDE_PRODUCT) return toSteps(plainDecimal(x), grid);
  if (units / p !== x)
    throw new DataError('OFF_GRID', `${x} has more than ${grid.scale} decimals (step ${grid.step})`);
  if (units % grid.stepUnits !== 0)
    throw new DataError('OFF_GRID', `${x} is not a multiple of the step ${grid.step}`);
  return units / grid.stepUnits;
}

/** Integer steps → the venue's exact decimal text at the grid's scale ("7.6110"). */
export function fromSteps(steps: number | bigint, grid: Grid): string {
  if (typeof steps === 'bigint') {
    if (steps < 0n) throw new DataError('OUT_OF_RANGE', `${steps} is negative`);
    return unitsToText(steps * BigInt(grid.stepUnits), grid.scale);
  }
  if (!Number.isInteger(steps) || steps < 0) {
    throw new DataError('OUT_OF_RANGE', `${steps} is not a non-negative integer number of steps`);
  }
  const units = steps * grid.stepUnits;
  return unitsToText(
    Number.isSafeInteger(units) ? units : BigInt(steps) * BigInt(grid.stepUnits),
    grid.scale,
  );
}

/** Integer units of 10^-scale → decimal text with exactly `scale` decimals. */
export function unitsToText(units: number | bigint, scale: number): string {
  const digits = typeof units === 'bigint' ? units.toString() : intText(units);
  if (scale === 0) return digits;
  const padded = digits.padStart(scale + 1, '0');
  return `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
}

/** Number of decimals written in a decimal string ("296.58000000" → 8). */
export function decimalsOf(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}
