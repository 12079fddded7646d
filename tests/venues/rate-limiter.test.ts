import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '#core/clock.ts';
import { DataError, OperationalError } from '#core/errors.ts';
import { parseIntervalSuffix, RateLimiter } from '#venues/rate-limiter.ts';
import type { RateLimiterOptions } from '#venues/rate-limiter.ts';

// Fake timers move Date.now and setTimeout together; the limiter reads time through this clock.
const fakeClock: Clock = { now: () => Date.now(), monoNs: () => BigInt(Date.now()) * 1_000_000n };
const MIN = 60_000;

function limiter(over: Partial<RateLimiterOptions> = {}): RateLimiter {
  return new RateLimiter({
    name: 'binance-us rest',
    windows: [{ limit: 100, intervalMs: MIN }],
    clock: fakeClock,
    ...over,
  });
}

/** Records the order in which acquires resolve or reject. */
function track(p: Promise<void>, label: string, log: string[]): Promise<void> {
  return p.then(
    () => void log.push(label),
    (err: Error) => void log.push(`${label}: ${err.message}`),
  );
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RateLimiter', () => {
  it('keeps 25 % headroom: plans at most 75 % of the limit per window', async () => {
    const rl = limiter();
    const log: string[] = [];
    await rl.acquire(70);
    void track(rl.acquire(5), 'fits exactly', log); // 75 of 100
    void track(rl.acquire(1), 'over budget', log);
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual(['fits exactly']);
    expect(rl.snapshot()).toMatchObject({ queued: 1, windows: [{ limit: 100, budget: 75, used: 75 }] });
    await vi.advanceTimersByTimeAsync(MIN - 1);
    expect(log).toEqual(['fits exactly']);
    await vi.advanceTimersByTimeAsync(1); // the first grant slides out of the window
    expect(log).toEqual(['fits exactly', 'over budget']);
  });

  it('honours a configured headroom and several windows at once', async () => {
    const rl = limiter({
      windows: [
        { limit: 10, intervalMs: 1000 },
        { limit: 50, intervalMs: MIN },
      ],
      headroom: 0.2,
    });
    let granted = 0;
    const all = Array.from({ length: 40 }, () => rl.acquire(1).then(() => void granted++));
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toBe(8); // 80 % of 10 per second
    await vi.advanceTimersByTimeAsync(4000);
    expect(granted).toBe(40); // 8 per second: all 40 in five seconds, under the 40-per-minute budget
    const next = rl.acquire(1).then(() => void granted++);
    await vi.advanceTimersByTimeAsync(50_000);
    expect(granted).toBe(40); // the minute window is full until the first grants leave it
    await vi.advanceTimersByTimeAsync(10_000);
    expect(granted).toBe(41);
    await Promise.all([...all, next]);
  });

  it('serves waiters strictly first in, first out', async () => {
    const rl = limiter();
    const log: string[] = [];
    await rl.acquire(60);
    void track(rl.acquire(40), 'heavy', log);
    void track(rl.acquire(1), 'light, behind heavy', log); // would fit now, must not overtake
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual([]);
    await vi.advanceTimersByTimeAsync(MIN);
    expect(log).toEqual(['heavy', 'light, behind heavy']);
  });

  it('cancels a waiting acquire on abort with a clear error, and the queue moves on', async () => {
    const rl = limiter();
    const log: string[] = [];
    await rl.acquire(75);
    const ac = new AbortController();
    const aborted = rl.acquire(10, ac.signal);
    void track(rl.acquire(5), 'next', log);
    ac.abort(new Error('shutting down'));
    const err = await aborted.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationalError);
    expect(err).toMatchObject({ kind: 'operational', code: 'ABORTED' });
    expect((err as Error).message).toBe(
      'binance-us rest: request of weight 10 cancelled while waiting for the rate limit (shutting down)',
    );
    expect(rl.snapshot().queued).toBe(1);
    await vi.advanceTimersByTimeAsync(MIN);
    expect(log).toEqual(['next']);
    // An already-aborted signal fails at once.
    await expect(rl.acquire(1, AbortSignal.abort(new Error('gone')))).rejects.toMatchObject({
      code: 'ABORTED',
    });
  });

  it('takes the venue used-weight headers as the truth when they say more', async () => {
    const rl = limiter({
      windows: [
        { limit: 1200, intervalMs: MIN },
        { limit: 100, intervalMs: 10_000 },
      ],
    });
    await rl.acquire(10);
    rl.observe(
      new Headers({
        'X-MBX-USED-WEIGHT-1M': '880',
        'x-mbx-used-weight-10s': '7',
        'X-MBX-ORDER-COUNT-10S': '99',
      }),
    );
    expect(rl.snapshot().windows.map((w) => w.used)).toEqual([880, 10]); // 10 s header said less: kept ours
    const log: string[] = [];
    void track(rl.acquire(21), 'after the venue count', log); // 880 + 21 > 900 = 75 % of 1200
    await vi.advanceTimersByTimeAsync(0);
    expect(log).toEqual([]);
    await vi.advanceTimersByTimeAsync(MIN);
    expect(log).toEqual(['after the venue count']);
    // node:http style headers too; unknown intervals and junk are ignored.
    rl.observe({
      'x-mbx-used-weight-1m': ['1000'],
      'x-mbx-used-weight-1h': '5',
      'x-mbx-used-weight-1m-x': '9',
    });
    expect(rl.snapshot().windows[0]?.used).toBe(1000);
  });

  it('parses interval suffixes S/M/H/D', () => {
    expect(parseIntervalSuffix('1M')).toBe(60_000);
    expect(parseIntervalSuffix('10s')).toBe(10_000);
    expect(parseIntervalSuffix('1H')).toBe(3_600_000);
    expect(parseIntervalSuffix('1d')).toBe(86_400_000);
    expect(parseIntervalSuffix('0M')).toBeUndefined();
    expect(parseIntervalSuffix('M')).toBeUndefined();
  });

  it('penalize blocks every request until the venue says so', async () => {
    const rl = limiter();
    rl.penalize(2000);
    const log: string[] = [];
    void track(rl.acquire(1), 'a', log);
    void track(rl.acquire(0), 'b', log);
    await vi.advanceTimersByTimeAsync(1000);
    rl.penalize(500); // ends before the penalty in force: never shortens it
    await vi.advanceTimersByTimeAsync(999);
    expect(log).toEqual([]);
    expect(rl.snapshot().blockedUntil).toBe(Date.now() + 1);
    await vi.advanceTimersByTimeAsync(1);
    expect(log).toEqual(['a', 'b']);
    expect(rl.snapshot().blockedUntil).toBe(0);
  });

  it('rejects a weight that can never fit, and lets an over-budget one go alone', async () => {
    const rl = limiter();
    await expect(rl.acquire(101)).rejects.toBeInstanceOf(DataError);
    await expect(rl.acquire(-1)).rejects.toMatchObject({ code: 'BAD_WEIGHT' });
    await rl.acquire(90); // over the 75 budget, under the limit: fine on an empty window
    const log: string[] = [];
    void track(rl.acquire(1), 'after', log);
    await vi.advanceTimersByTimeAsync(MIN);
    expect(log).toEqual(['after']);
  });

  it('close() rejects waiters and clears its timer', async () => {
    const rl = limiter();
    await rl.acquire(75);
    const waiting = rl.acquire(1);
    expect(vi.getTimerCount()).toBe(1);
    rl.close();
    await expect(waiting).rejects.toMatchObject({ code: 'LIMITER_CLOSED' });
    expect(vi.getTimerCount()).toBe(0);
    await expect(rl.acquire(1)).rejects.toMatchObject({ code: 'LIMITER_CLOSED' });
  });
});
