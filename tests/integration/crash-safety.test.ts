/**
 * The test that matters: the engine is killed at each step of the order path and restarted
 * against the same simulator and the same store. After reconciliation there must be zero duplicate
 * orders, zero orphan orders, zero lost fills, and the recorded position must equal the venue's.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEngineConfig } from '#engine/config.ts';
import { Engine } from '#engine/engine.ts';
import type { CrashPoint } from '#engine/execution.ts';
import { FileJournal } from '#engine/journal.ts';
import { FileStateStore } from '#engine/state-store.ts';
import { ExchangeSimulator } from '#sim/exchange-sim.ts';
import { DEFAULT_SYMBOLS } from '#sim/symbols.ts';
import { BinanceFuturesTrading, tradingEndpointsFor } from '#venues/binance/trading-client.ts';
import { marketData, sleep, waitFor } from '#tests/support/engine-harness.ts';

const VENUE = 'binance-futures' as const;
const SYMBOL = 'BTCUSDT';
const ACCOUNT = 'paper';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const until = waitFor;

function engineOn(
  sim: ExchangeSimulator,
  creds: { apiKey: string; apiSecret: string },
  dir: string,
  crashAt?: CrashPoint,
) {
  const endpoints = sim.baseUrl(VENUE);
  const journal = new FileJournal(join(dir, 'journal.jsonl'));
  const engine = new Engine({
    venue: VENUE,
    symbols: [SYMBOL],
    config: parseEngineConfig({}),
    trading: new BinanceFuturesTrading({
      endpoints: tradingEndpointsFor(endpoints),
      ...creds,
      orderTimeoutMs: 1000,
    }),
    journal,
    state: new FileStateStore(join(dir, 'state.json')),
    market: marketData(VENUE, [SYMBOL], endpoints),
    ...(crashAt ? { crashAt } : {}),
  });
  return { engine, journal };
}

const POINTS: CrashPoint[] = ['after-signal', 'after-intent', 'after-send', 'after-ack', 'after-fill'];

describe('crash safety (engine killed mid order path, restarted on the same venue and store)', () => {
  it.each(POINTS)(
    'killed %s: no duplicate, no orphan, no lost fill, positions equal the venue',
    async (point) => {
      const creds = {
        apiKey: `k-${randomBytes(6).toString('hex')}`,
        apiSecret: randomBytes(32).toString('hex'),
      };
      const sim = new ExchangeSimulator({
        intervalMs: 50,
        seed: 9,
        symbols: [{ ...DEFAULT_SYMBOLS[VENUE], market: { signalsPerMinute: 40 } }],
        binanceTrading: { accounts: [{ apiKey: creds.apiKey, secret: creds.apiSecret, account: ACCOUNT }] },
      });
      await sim.start();
      cleanups.push(() => sim.stop());
      const dir = mkdtempSync(join(tmpdir(), `tradewind-crash-${point}-`));

      // Run 1: trade until the engine dies at the chosen point.
      const first = engineOn(sim, creds, dir, point);
      cleanups.push(() => first.engine.kill9());
      await first.engine.start();
      await until(() => first.engine.crashed, 40_000, `the crash ${point}`);
      await first.engine.kill9();
      await first.journal.close();
      // The venue keeps going while we are dead (resting orders could fill, IOCs expire).
      await sleep(300);

      // Run 2: same store, same venue. Recovery, reconciliation, then trading again.
      const second = engineOn(sim, creds, dir);
      cleanups.push(async () => {
        await second.engine.stop({ flatten: false });
        await second.journal.close();
      });
      await second.engine.start();
      expect(second.engine.phase).toBe('READY');
      await until(
        () => second.engine.liveOrders().every((o) => o.state !== 'UNKNOWN'),
        20_000,
        'unknown outcomes to settle',
      );
      const matching = sim.binanceTrading.engine;

      // No duplicate: every client order id reached the venue at most once.
      for (const id of matching.clientOrderIds(ACCOUNT, VENUE)) {
        expect(matching.ordersByClientId(ACCOUNT, VENUE, id), id).toHaveLength(1);
      }
      // No orphan: every order open at the venue is one the running engine tracks as live.
      const live = new Set(second.engine.liveOrders().map((o) => o.clientOrderId));
      for (const o of matching.openOrders(ACCOUNT, VENUE)) {
        expect(live.has(o.request.clientOrderId), o.request.clientOrderId).toBe(true);
      }
      // No lost fill: every venue fill of the account is in the journal.
      await second.journal.flush();
      const recorded = new Set(
        readFileSync(join(dir, 'journal.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { kind: string; fill?: { tradeId: string } })
          .filter((r) => r.kind === 'fill' && r.fill)
          .map((r) => r.fill?.tradeId),
      );
      const venueFills = sim.binanceTrading.fills(ACCOUNT);
      for (const f of venueFills) expect(recorded.has(f.tradeId), `fill ${f.tradeId}`).toBe(true);
      // Positions: the ledger built from the record equals the venue's, without adopting anything.
      const venueLots = matching.positions(ACCOUNT, VENUE).reduce((n, p) => n + p.qtyLots, 0);
      const ours = second.engine.snapshot().symbols[0]?.positionLots ?? NaN;
      expect(ours).toBe(venueLots);
      const text = readFileSync(join(dir, 'journal.jsonl'), 'utf8');
      expect(text).not.toContain('adopted-position');
      // The secret never reached the record.
      expect(text).not.toContain(creds.apiSecret);
    },
    90_000,
  );
});
