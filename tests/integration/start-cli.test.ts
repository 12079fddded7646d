/** `npm start` as a newcomer runs it: a real process paper-trading the simulator, then a summary. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/tradewind.ts', import.meta.url));

function start(dir: string, ...args: string[]) {
  const r = spawnSync(
    process.execPath,
    [BIN, 'start', '--state', join(dir, 'state.json'), '--runs', join(dir, 'runs'), ...args],
    { encoding: 'utf8', timeout: 90_000 },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('tradewind start', () => {
  it('paper-trades for --duration, exits 0 and prints the JSON summary with the journal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradewind-start-'));
    const r = start(dir, '--duration', '8s', '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as Record<string, unknown>;
    for (const k of [
      'trades',
      'winRate',
      'pnl',
      'fees',
      'maxDrawdown',
      'rejections',
      'latencyUs',
      'journal',
    ]) {
      expect(s, k).toHaveProperty(k);
    }
    const lat = s.latencyUs as Record<string, number>;
    for (const k of ['p50', 'p99', 'p999', 'max']) expect(typeof lat[k]).toBe('number');
    expect(lat.count).toBeGreaterThan(10);
    expect(typeof s.pnl).toBe('string');
    expect(existsSync(s.journal as string)).toBe(true);
    const journal = readFileSync(s.journal as string, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; phase?: string });
    expect(journal.some((j) => j.kind === 'engine' && j.phase === 'READY')).toBe(true);
    expect(r.err).toMatch(/READY/);
  }, 120_000);

  it('--flatten-on-exit ends flat; a persisted kill flag keeps the next start HALTED', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradewind-start-'));
    const first = start(dir, '--duration', '4s', '--json', '--flatten-on-exit');
    expect(first.code, first.err).toBe(0);
    const s1 = JSON.parse(first.out) as { positions: Array<{ position: string }>; kill: unknown };
    for (const p of s1.positions) expect(Number(p.position)).toBe(0);
    expect(s1.kill).not.toBeNull();
    const second = start(dir, '--duration', '3s', '--json');
    expect(second.code, second.err).toBe(0);
    const s2 = JSON.parse(second.out) as { tradingState: string; orders: number };
    expect(second.err).toMatch(/kill flag is set/);
    expect(s2.tradingState).toBe('HALTED');
    expect(s2.orders).toBe(0);
  }, 120_000);

  it('a bad config is a one-line error naming the field, exit 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tradewind-start-'));
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ capital: 'lots' }));
    const r = start(dir, '--config', cfg, '--duration', '1s');
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/capital/);
  });
});
