import { describe, expect, it } from 'vitest';
import { DEFAULT_ENTRY, DEFAULT_PROTECTIVE_STOP, parseEngineConfig } from '#engine/config.ts';

describe('engine config: protective stops and entries', () => {
  it('defaults: protective stops on, IOC entries with a 2 s TTL for anything resting', () => {
    const c = parseEngineConfig({});
    expect(c.protectiveStop).toEqual({ enabled: true, fallbackBps: 10, stopLimitBandBps: 50 });
    expect(c.entry).toEqual({ timeInForce: 'IOC', ttlMs: 2000 });
    expect(c.protectiveStop).toEqual(DEFAULT_PROTECTIVE_STOP);
    expect(c.entry).toEqual(DEFAULT_ENTRY);
  });

  it('reads every field', () => {
    const c = parseEngineConfig({
      protectiveStop: { enabled: false, fallbackBps: 0, stopLimitBandBps: 100 },
      entry: { timeInForce: 'POST_ONLY', ttlMs: 500 },
    });
    expect(c.protectiveStop).toEqual({ enabled: false, fallbackBps: 0, stopLimitBandBps: 100 });
    expect(c.entry).toEqual({ timeInForce: 'POST_ONLY', ttlMs: 500 });
  });

  it.each([
    [{ protectiveStop: { enabled: 'yes' } }, /protectiveStop.enabled must be true or false/],
    [{ protectiveStop: { fallbackBps: -1 } }, /protectiveStop.fallbackBps must be an integer in 0..1000/],
    [
      { protectiveStop: { stopLimitBandBps: 0 } },
      /protectiveStop.stopLimitBandBps must be an integer in 1..1000/,
    ],
    [{ protectiveStop: { trailing: true } }, /unknown field "protectiveStop.trailing"/],
    [{ protectiveStop: [] }, /protectiveStop must be an object/],
    [{ entry: { timeInForce: 'GTC' } }, /entry.timeInForce must be "IOC" or "POST_ONLY"/],
    [{ entry: { ttlMs: 1.5 } }, /entry.ttlMs must be an integer in 100..86400000/],
    [{ entry: { ttlMs: 50 } }, /entry.ttlMs must be an integer/],
  ])('refuses %j with a clear error', (json, msg) => {
    expect(() => parseEngineConfig(json)).toThrow(msg);
  });
});
