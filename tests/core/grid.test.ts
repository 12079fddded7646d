import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataError } from '#core/errors.ts';
import type { Grid } from '#core/grid.ts';
import {
  fromSteps,
  gridFromDecimals,
  gridFromNumber,
  gridFromStep,
  numberToSteps,
  plainDecimal,
  toSteps,
  toStepsExact,
} from '#core/grid.ts';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Runs `fn` and returns the DataError code it threw; fails the test when it does not throw one. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    return (err as DataError).code;
  }
  throw new Error('expected a DataError, nothing was thrown');
}

// ---------------------------------------------------------------------------------------------
// Reference model: plain BigInt arithmetic on the decimal text, written independently of grid.ts.
// ---------------------------------------------------------------------------------------------

interface RefGrid {
  scale: number;
  stepUnits: bigint;
}

/** units (integer count of 10^-scale) → text with exactly `scale` decimals. */
function refFormat(units: bigint, scale: number): string {
  const s = units.toString();
  if (scale === 0) return s;
  const padded = s.padStart(scale + 1, '0');
  return `${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

type RefResult = { steps: bigint } | { code: string };

/** What a venue's decimal text is on a grid, per the rules in DESIGN.md §3 (exact, off-grid rejected). */
function refToSteps(text: string, g: RefGrid): RefResult {
  if (text.startsWith('-')) return { code: 'NEGATIVE' };
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return { code: 'NOT_A_NUMBER' };
  const int = m[1] as string;
  const frac = m[2] ?? '';
  if (/[1-9]/.test(frac.slice(g.scale))) return { code: 'OFF_GRID' };
  const units = BigInt(int + frac.slice(0, g.scale).padEnd(g.scale, '0'));
  if (units % g.stepUnits !== 0n) return { code: 'OFF_GRID' };
  return { steps: units / g.stepUnits };
}

function refOf(grid: Grid): RefGrid {
  return { scale: grid.scale, stepUnits: BigInt(grid.stepUnits) };
}

function exactlyDouble(n: bigint): boolean {
  return BigInt(Number(n)) === n;
}

/** A random grid: a scale of 0..12 decimals and a step of a few units (1, 5, 10, 25, ... or random). */
const arbGrid: fc.Arbitrary<Grid> = fc
  .record({
    scale: fc.integer({ min: 0, max: 12 }),
    stepUnits: fc.oneof(
      fc.constantFrom(1, 1, 1, 2, 5, 10, 25, 50, 100, 1000),
      fc.integer({ min: 1, max: 9999 }),
    ),
  })
  .map(({ scale, stepUnits }) => gridFromStep(refFormat(BigInt(stepUnits), scale)));

function digitString(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.array(fc.integer({ min: 0, max: 9 }), { minLength, maxLength }).map((ds) => ds.join(''));
}

/** Decimal text: on-grid values written with 0..3 extra zeros, and arbitrary digit strings. */
function arbTextFor(grid: Grid): fc.Arbitrary<string> {
  const onGrid = fc
    .record({
      steps: fc.bigInt({ min: 0n, max: 10n ** 20n }),
      extraZeros: fc.integer({ min: 0, max: 3 }),
    })
    .map(({ steps, extraZeros }) => {
      const t = refFormat(steps * BigInt(grid.stepUnits), grid.scale);
      return extraZeros === 0 ? t : (grid.scale === 0 ? t + '.' : t) + '0'.repeat(extraZeros);
    });
  const anyDigits = fc
    .tuple(digitString(1, 22), fc.option(digitString(1, grid.scale + 3), { nil: undefined }))
    .map(([int, frac]) => (frac === undefined ? int : `${int}.${frac}`));
  return fc.oneof(onGrid, anyDigits);
}

describe('gridFromStep', () => {
  it('reads a Binance tick "0.0010" as 10 units of 10^-4, keeping the venue scale', () => {
    expect(gridFromStep('0.0010')).toEqual({ step: '0.0010', scale: 4, stepUnits: 10 });
  });

  it('reads whole-number steps with scale 0', () => {
    expect(gridFromStep('1')).toEqual({ step: '1', scale: 0, stepUnits: 1 });
    expect(gridFromStep('1000')).toEqual({ step: '1000', scale: 0, stepUnits: 1000 });
  });

  it('widens the scale to the display precision the venue writes', () => {
    // Kraken v1 writes "27120.00000" for a 0.1 tick.
    const g = gridFromStep('0.1', 5);
    expect(g.scale).toBe(5);
    expect(g.stepUnits).toBe(10_000);
    expect(toSteps('27120.00000', g)).toBe(271_200);
    expect(fromSteps(271_200, g)).toBe('27120.00000');
  });

  it('rejects a zero step (Binance.US MARKET_LOT_SIZE "0.00000000") instead of dividing by it', () => {
    expect(codeOf(() => gridFromStep('0.00000000'))).toBe('BAD_STEP');
    expect(codeOf(() => gridFromStep('0'))).toBe('BAD_STEP');
  });

  it('rejects steps that are not plain positive decimals', () => {
    for (const bad of ['', '-0.01', '1e-3', 'abc', '.5', '0.', ' 1']) {
      expect(
        codeOf(() => gridFromStep(bad)),
        bad,
      ).toBe('BAD_STEP');
    }
  });
});

describe('gridFromDecimals', () => {
  it('gives a grid of 10^-d for non-negative precision', () => {
    expect(gridFromDecimals(8)).toEqual({ step: '0.00000001', scale: 8, stepUnits: 1 });
    expect(gridFromDecimals(1)).toEqual({ step: '0.1', scale: 1, stepUnits: 1 });
    expect(gridFromDecimals(0)).toEqual({ step: '1', scale: 0, stepUnits: 1 });
  });

  it('gives multiples of 1000 for precision -3 (Kraken Futures PF_PEPEUSD sizes)', () => {
    const g = gridFromDecimals(-3);
    expect(g.scale).toBe(0);
    expect(toSteps('3000', g)).toBe(3);
    expect(fromSteps(3, g)).toBe('3000');
    expect(codeOf(() => toSteps('3500', g))).toBe('OFF_GRID');
  });

  it('rejects a precision that is not an integer in range', () => {
    for (const bad of [1.5, 19, -16, NaN]) {
      expect(
        codeOf(() => gridFromDecimals(bad)),
        String(bad),
      ).toBe('BAD_PRECISION');
    }
  });
});

describe('gridFromNumber', () => {
  it('reads Kraken Futures tickSize 0.5 as 5 units of 10^-1', () => {
    const g = gridFromNumber(0.5);
    expect(g).toEqual({ step: '0.5', scale: 1, stepUnits: 5 });
    expect(toSteps('27120.5', g)).toBe(54_241);
    expect(codeOf(() => toSteps('27120.3', g))).toBe('OFF_GRID');
  });

  it('reads tiny ticks written by JSON with an exponent (1e-10)', () => {
    expect(gridFromNumber(1e-10)).toEqual({ step: '0.0000000001', scale: 10, stepUnits: 1 });
    expect(gridFromNumber(0.05)).toEqual({ step: '0.05', scale: 2, stepUnits: 5 });
  });

  it('rejects zero, negative and non-finite steps', () => {
    for (const bad of [0, -0.5, NaN, Infinity]) {
      expect(
        codeOf(() => gridFromNumber(bad)),
        String(bad),
      ).toBe('BAD_STEP');
    }
  });
});

describe('plainDecimal', () => {
  it('writes doubles without an exponent', () => {
    expect(plainDecimal(1e-7)).toBe('0.0000001');
    expect(plainDecimal(1.5e-7)).toBe('0.00000015');
    expect(plainDecimal(-1e-7)).toBe('-0.0000001');
    expect(plainDecimal(1e21)).toBe('1000000000000000000000');
    expect(plainDecimal(1.2345e25)).toBe('12345000000000000000000000');
    expect(plainDecimal(123.456)).toBe('123.456');
    expect(plainDecimal(0.5)).toBe('0.5');
  });

  it('gives plain decimal text that parses back to the same double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const s = plainDecimal(x);
        expect(s).toMatch(/^-?\d+(\.\d+)?$/);
        expect(Number(s)).toBe(x === 0 ? 0 : x); // -0 prints as "0"
      }),
      { numRuns: 2000 },
    );
  });
});

describe('toSteps', () => {
  const tick = gridFromStep('0.0010');

  it('converts a Binance price on tick 0.0010 to ticks and back to the venue text', () => {
    expect(toSteps('7.6110', tick)).toBe(7611);
    expect(fromSteps(7611, tick)).toBe('7.6110');
    expect(toSteps('0.0010', tick)).toBe(1);
    expect(toSteps('0', tick)).toBe(0);
  });

  it('accepts extra trailing zeros and fewer decimals than the scale', () => {
    expect(toSteps('7.611000000', tick)).toBe(7611);
    expect(toSteps('7.611', tick)).toBe(7611);
    expect(toSteps('7', tick)).toBe(7000);
  });

  it('rejects an off-grid value with OFF_GRID', () => {
    expect(codeOf(() => toSteps('7.6115', tick))).toBe('OFF_GRID'); // more decimals than the scale
    expect(codeOf(() => toSteps('7.6111', tick))).toBe('OFF_GRID'); // not a multiple of 10 units
    expect(codeOf(() => toSteps('7.61100001', tick))).toBe('OFF_GRID');
  });

  it('rejects a negative value with NEGATIVE', () => {
    expect(codeOf(() => toSteps('-7.6110', tick))).toBe('NEGATIVE');
    expect(codeOf(() => toSteps('-1', gridFromDecimals(0)))).toBe('NEGATIVE');
  });

  it('rejects text that is not a plain decimal with NOT_A_NUMBER', () => {
    for (const bad of ['abc', '', '.', '1e5', '+1', ' 1', '1 ', '1.2.3', '0x10', '1,5', 'NaN']) {
      expect(
        codeOf(() => toSteps(bad, tick)),
        JSON.stringify(bad),
      ).toBe('NOT_A_NUMBER');
    }
  });

  it('keeps values beyond 2^53 units that a double holds exactly', () => {
    // 99,999,997 coins at 8 decimals = 9,999,999,700,000,000 units > 2^53, a multiple of 2^8.
    const lot = gridFromDecimals(8);
    expect(toSteps('99999997.00000000', lot)).toBe(9_999_999_700_000_000);
    expect(toStepsExact('99999997.00000000', lot)).toBe(9_999_999_700_000_000);
  });

  it('rejects values beyond 2^53 units that a double cannot hold, and toStepsExact returns a bigint', () => {
    const lot = gridFromDecimals(8);
    expect(codeOf(() => toSteps('90071992.54740993', lot))).toBe('OUT_OF_RANGE');
    expect(toStepsExact('90071992.54740993', lot)).toBe(9_007_199_254_740_993n);
    expect(toStepsExact('123456789012345678901.00000001', lot)).toBe(12_345_678_901_234_567_890_100_000_001n);
  });

  it('still rejects off-grid and malformed text beyond 2^53 units (toStepsExact too)', () => {
    const g = gridFromStep('0.10');
    expect(codeOf(() => toStepsExact('90071992547409931.01', g))).toBe('OFF_GRID');
    expect(codeOf(() => toStepsExact('90071992547409931.001', g))).toBe('OFF_GRID');
    expect(codeOf(() => toStepsExact('900719925474099310x', g))).toBe('NOT_A_NUMBER');
    expect(codeOf(() => toStepsExact('-90071992547409931', g))).toBe('NEGATIVE');
  });

  it('equals a BigInt reference for random text on random grids', () => {
    fc.assert(
      fc.property(
        arbGrid.chain((grid) => fc.tuple(fc.constant(grid), arbTextFor(grid))),
        ([grid, text]) => {
          const ref = refToSteps(text, refOf(grid));
          if ('code' in ref) {
            expect(codeOf(() => toSteps(text, grid))).toBe(ref.code);
            expect(codeOf(() => toStepsExact(text, grid))).toBe(ref.code);
            return;
          }
          // A number whenever a double holds the step count exactly, a bigint otherwise.
          const expected = exactlyDouble(ref.steps) ? Number(ref.steps) : ref.steps;
          expect(toStepsExact(text, grid)).toBe(expected);
          if (typeof expected === 'number') expect(toSteps(text, grid)).toBe(expected);
          else expect(codeOf(() => toSteps(text, grid))).toBe('OUT_OF_RANGE');
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('fromSteps', () => {
  it('writes exactly `scale` decimals', () => {
    expect(fromSteps(0, gridFromStep('0.0010'))).toBe('0.0000');
    expect(fromSteps(5, gridFromStep('0.5'))).toBe('2.5');
    expect(fromSteps(12, gridFromDecimals(-3))).toBe('12000');
  });

  it('writes bigints and step counts whose units exceed 2^53 exactly', () => {
    const g = gridFromStep('0.10');
    expect(fromSteps(2 ** 53, g)).toBe('900719925474099.20');
    expect(fromSteps(9_007_199_254_740_993n, gridFromDecimals(8))).toBe('90071992.54740993');
  });

  it('rejects negative and fractional step counts', () => {
    const g = gridFromDecimals(2);
    expect(codeOf(() => fromSteps(-1, g))).toBe('OUT_OF_RANGE');
    expect(codeOf(() => fromSteps(1.5, g))).toBe('OUT_OF_RANGE');
    expect(codeOf(() => fromSteps(-1n, g))).toBe('OUT_OF_RANGE');
  });

  it('round-trips through toSteps for random integer steps on random grids', () => {
    fc.assert(
      fc.property(arbGrid, fc.maxSafeNat(), (grid, raw) => {
        const steps = Math.floor(raw / grid.stepUnits); // units stay within 2^53
        const text = fromSteps(steps, grid);
        expect(text).toBe(refFormat(BigInt(steps) * BigInt(grid.stepUnits), grid.scale));
        expect(toSteps(text, grid)).toBe(steps);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips bigints of any size through toStepsExact', () => {
    fc.assert(
      fc.property(arbGrid, fc.bigInt({ min: 0n, max: 10n ** 30n }), (grid, steps) => {
        const text = fromSteps(steps, grid);
        expect(text).toBe(refFormat(steps * BigInt(grid.stepUnits), grid.scale));
        expect(BigInt(toStepsExact(text, grid))).toBe(steps);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('numberToSteps', () => {
  it('converts Kraken Futures JSON numbers on tick 0.5 and lot 0.001', () => {
    expect(numberToSteps(27120.5, gridFromNumber(0.5))).toBe(54_241);
    expect(numberToSteps(1.234, gridFromDecimals(3))).toBe(1234);
    expect(numberToSteps(0, gridFromDecimals(3))).toBe(0);
  });

  it('is exact where x·10^scale rounds to the wrong neighbour (beyond 2^51 units)', () => {
    // 68195.559293537 · 10^11 evaluates to 6819555929353699, and 6819555929353699 / 10^11 is x too.
    const g = gridFromStep('0.00000007097');
    expect(numberToSteps(68195.559293537, g)).toBe(6_819_555_929_353_700 / 7097);
    expect(numberToSteps(68195.559293537, gridFromDecimals(11))).toBe(6_819_555_929_353_700);
  });

  it('rejects off-grid numbers, including float noise such as 0.1 + 0.2', () => {
    expect(codeOf(() => numberToSteps(27120.3, gridFromNumber(0.5)))).toBe('OFF_GRID');
    expect(codeOf(() => numberToSteps(0.1 + 0.2, gridFromDecimals(1)))).toBe('OFF_GRID');
    expect(codeOf(() => numberToSteps(1.2345, gridFromDecimals(3)))).toBe('OFF_GRID');
  });

  it('rejects negative, non-finite and too large numbers', () => {
    const g = gridFromDecimals(2);
    expect(codeOf(() => numberToSteps(-1, g))).toBe('NEGATIVE');
    expect(codeOf(() => numberToSteps(NaN, g))).toBe('NOT_A_NUMBER');
    expect(codeOf(() => numberToSteps(Infinity, g))).toBe('NOT_A_NUMBER');
    expect(codeOf(() => numberToSteps('1' as unknown as number, g))).toBe('NOT_A_NUMBER');
    expect(codeOf(() => numberToSteps(1e300, g))).toBe('OUT_OF_RANGE');
  });

  it('equals toSteps of the text for on-grid values of at most 15 significant digits', () => {
    const arb = arbGrid.chain((grid) => {
      // units = k · stepUnits · 10^z, with at most 15 significant digits and within 2^53
      const kMax = 999_999_999_999_999n / BigInt(grid.stepUnits);
      return fc
        .record({
          k: fc.oneof(
            fc.bigInt({ min: 0n, max: 999n }),
            fc.bigInt({ min: 0n, max: kMax / 1_000_000n }),
            fc.bigInt({ min: 0n, max: kMax }),
          ),
          z: fc.integer({ min: 0, max: 6 }),
        })
        .map(({ k, z }) => ({ grid, units: k * BigInt(grid.stepUnits) * 10n ** BigInt(z) }))
        .filter(({ units }) => units <= MAX && units.toString().replace(/0+$/, '').length <= 15);
    });
    fc.assert(
      fc.property(arb, ({ grid, units }) => {
        const text = refFormat(units, grid.scale);
        expect(numberToSteps(Number(text), grid)).toBe(toSteps(text, grid));
        expect(numberToSteps(Number(text), grid)).toBe(Number(units / BigInt(grid.stepUnits)));
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects numbers with one more non-zero decimal than the grid has', () => {
    fc.assert(
      fc.property(
        arbGrid,
        fc.integer({ min: 0, max: 99_999_999 }),
        fc.integer({ min: 1, max: 9 }),
        (grid, units, last) => {
          const text = `${refFormat(BigInt(units), grid.scale)}${grid.scale === 0 ? '.' : ''}${last}`;
          expect(codeOf(() => numberToSteps(Number(text), grid))).toBe('OFF_GRID');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
