import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { DynamoJournal } from '#store/dynamo/index.ts';

let db: EmbeddedDynamo;
beforeAll(async () => {
  db = await startEmbeddedDynamo({ stage: 'latency' });
});
afterAll(async () => {
  await db.close();
});

const record = (i: number) => ({
  kind: 'signal' as const,
  ts: Date.UTC(2026, 10, 21) + i,
  i,
  book: { bid: 650_000 + i, ask: 650_001 + i, imbalance: 0.61 },
});

describe('DynamoJournal put latency (embedded dynalite, measured, not asserted tightly)', () => {
  it('measures ms per conditional put, one at a time and pipelined', async () => {
    const N = 400;
    const serial = new DynamoJournal({ doc: db.doc, table: db.table, shard: 1, epoch: 1, concurrency: 1 });
    let t0 = performance.now();
    for (let i = 0; i < N; i++) serial.append(record(i));
    await serial.flush();
    const serialMs = performance.now() - t0;
    const piped = new DynamoJournal({ doc: db.doc, table: db.table, shard: 2, epoch: 1, concurrency: 16 });
    t0 = performance.now();
    for (let i = 0; i < N; i++) piped.append(record(i));
    await piped.flush();
    const pipedMs = performance.now() - t0;
    const s1 = serial.stats().putLatencyMs;
    const s16 = piped.stats().putLatencyMs;
    console.log(
      `journal puts, N=${N}: concurrency 1 → p50 ${s1.p50.toFixed(2)} ms, p99 ${s1.p99.toFixed(2)} ms, ${((N / serialMs) * 1000).toFixed(0)} puts/s; ` +
        `concurrency 16 → p50 ${s16.p50.toFixed(2)} ms, p99 ${s16.p99.toFixed(2)} ms, ${((N / pipedMs) * 1000).toFixed(0)} puts/s`,
    );
    expect(s1.count).toBe(N);
    expect(s16.count).toBe(N);
    // A generous bound: catches a pathological regression (e.g. a per-put reconnect), not noise.
    expect(s1.p50).toBeLessThan(50);
  });
});
