import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from 'decimal.js';
import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { DynamoJournal, keys, readJournalDay, utcDay } from '#store/dynamo/index.ts';
import type { Fill } from '#core/trading.ts';
import { registerSecret } from '#store/redact.ts';

let db: EmbeddedDynamo;
beforeAll(async () => {
  db = await startEmbeddedDynamo({ stage: 'test' });
});
afterAll(async () => {
  await db.close();
});

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

describe('DynamoJournal', () => {
  it('keeps call order under a burst of appends from concurrent tasks, and flush makes them durable', async () => {
    const j = new DynamoJournal({ doc: db.doc, table: db.table, shard: 1, epoch: 3 });
    const seqs: number[] = [];
    // Appends interleaved from several async tasks: sequence = call order, whatever the writer is doing.
    await Promise.all(
      Array.from({ length: 8 }, async (_, task) => {
        for (let i = 0; i < 25; i++) {
          seqs.push(j.append({ kind: 'signal', ts: T0 + i, task, i }));
          if (i % 5 === 0) await Promise.resolve();
        }
      }),
    );
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    await j.flush();
    expect(j.stats().pending).toBe(0);
    const items = await readJournalDay(db.doc, db.table, 1, utcDay(T0));
    expect(items.map((i) => i.seq)).toEqual(seqs);
    expect(items.every((i) => i.epoch === 3 && i.sk.startsWith('0000000003#'))).toBe(true);
    const recs = items.map((i) => JSON.parse(i.rec) as { seq: number });
    expect(recs.map((r) => r.seq)).toEqual(seqs);
    expect(items[0]!.ttl).toBe(Math.floor(T0 / 1000) + 400 * 86_400);
    const s = j.stats();
    console.log(
      `journal put latency (dynalite, in-process): p50 ${s.putLatencyMs.p50.toFixed(2)} ms, p99 ${s.putLatencyMs.p99.toFixed(2)} ms over ${s.putLatencyMs.count}`,
    );
    await j.close();
  });

  it('flush resolves only once the records can be read back', async () => {
    const j = new DynamoJournal({ doc: db.doc, table: db.table, shard: 2, epoch: 1, concurrency: 1 });
    for (let i = 0; i < 30; i++) j.append({ kind: 'order', ts: T0, i, px: new Decimal('0.1').plus(i) });
    await j.flush();
    const items = await readJournalDay(db.doc, db.table, 2, utcDay(T0));
    expect(items).toHaveLength(30);
    expect((JSON.parse(items[29]!.rec) as { px: string }).px).toBe('29.1');
    expect((await j.read()).map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('re-writing the same record at the same seq is a no-op; a different one is an invariant error', async () => {
    const a = new DynamoJournal({ doc: db.doc, table: db.table, shard: 3, epoch: 1 });
    a.append({ kind: 'fill', ts: T0, tradeId: 't1' });
    a.append({ kind: 'fill', ts: T0, tradeId: 't2' });
    await a.flush();
    // A retry of the same writer after a lost response: same epoch, seq, content.
    const retry = new DynamoJournal({ doc: db.doc, table: db.table, shard: 3, epoch: 1 });
    retry.append({ kind: 'fill', ts: T0, tradeId: 't1' });
    await retry.flush();
    expect(retry.stats().duplicates).toBe(1);
    // A second writer in the same epoch with different content: halt.
    const rogue = new DynamoJournal({ doc: db.doc, table: db.table, shard: 3, epoch: 1 });
    rogue.append({ kind: 'fill', ts: T0, tradeId: 'other' });
    await expect(rogue.flush()).rejects.toMatchObject({ kind: 'invariant', code: 'JOURNAL_SEQ_CONFLICT' });
    expect(() => rogue.append({ kind: 'fill', ts: T0 })).toThrow(/two writers/);
    // A fenced-out engine (older epoch) writing late lands under its own key, never over the new one.
    const newer = new DynamoJournal({ doc: db.doc, table: db.table, shard: 3, epoch: 2 });
    newer.append({ kind: 'engine', ts: T0, event: 'start' });
    await newer.flush();
    const items = await readJournalDay(db.doc, db.table, 3, utcDay(T0));
    expect(items.map((i) => i.sk)).toEqual([
      keys.journalSk(1, 1),
      keys.journalSk(1, 2),
      keys.journalSk(2, 1),
    ]);
  });

  it('open() continues the sequence of the previous life; abandon() loses only what was not durable', async () => {
    const now = () => T0;
    const first = await DynamoJournal.open({ doc: db.doc, table: db.table, shard: 4, epoch: 1, now });
    first.append({ kind: 'engine', ts: T0, n: 1 });
    first.append({ kind: 'engine', ts: T0, n: 2 });
    await first.flush();
    first.abandon(); // crash: nothing appended from here on is written
    first.append({ kind: 'engine', ts: T0, n: 3 });
    const second = await DynamoJournal.open({ doc: db.doc, table: db.table, shard: 4, epoch: 2, now });
    const recovered = await second.read();
    expect(recovered.map((r) => r.seq)).toEqual([1, 2]);
    expect(second.append({ kind: 'engine', ts: T0, n: 4 })).toBe(3);
    await second.flush();
    // A put already in flight at the crash may land later: the epoch in the key keeps it apart.
    expect((await second.read()).map((r) => r.seq)).toEqual([1, 2, 3]);
    await second.close();
  });

  it('never stores secrets: fields named like credentials are redacted at any depth', async () => {
    const SECRET = 'hunter2-SUPER-SECRET-9f8e7d';
    const fill: Fill = {
      venue: 'binance-futures',
      symbol: 'BTCUSDT',
      tradeId: '777',
      clientOrderId: 'tw01000000200000a1',
      side: 'buy',
      priceTicks: 1000,
      qtyLots: 2,
      fee: '0.01',
      feeAsset: 'USDT',
      liquidity: 'maker',
      ts: T0,
    };
    const j = new DynamoJournal({ doc: db.doc, table: db.table, shard: 5, epoch: 1 });
    j.append({ kind: 'fill', ts: T0, fill, apiSecret: SECRET });
    j.append({
      kind: 'order',
      ts: T0,
      request: { params: { signature: SECRET, api_key: SECRET }, headers: { Authorization: SECRET } },
    });
    j.append({
      kind: 'control',
      ts: T0,
      creds: { apiKey: 'k', apiSecret: SECRET, passphrase: SECRET, private_key: SECRET },
    });
    await j.flush();
    expect(j.stats().redacted).toBeGreaterThanOrEqual(7);
    const all = await db.doc.send(new ScanCommand({ TableName: db.table }));
    expect(all.Items!.length).toBeGreaterThan(0);
    expect(JSON.stringify(all.Items)).not.toContain(SECRET);
    const back = await readJournalDay(db.doc, db.table, 5, utcDay(T0));
    expect(JSON.parse(back[0]!.rec)).toMatchObject({
      fill: { tradeId: '777', fee: '0.01' },
      apiSecret: '[REDACTED]',
    });
  });

  it('scrubs secret values the SecretStore registered, whatever field carries them', async () => {
    const SECRET = 'registered-secret-value-42';
    registerSecret(SECRET);
    const j = new DynamoJournal({ doc: db.doc, table: db.table, shard: 7, epoch: 1 });
    j.append({ kind: 'engine', ts: T0, error: `401 for https://x/?k=${SECRET}` });
    await j.flush();
    const back = await readJournalDay(db.doc, db.table, 7, utcDay(T0));
    expect(back[0]!.rec).not.toContain(SECRET);
    expect(back[0]!.rec).toContain('[REDACTED]');
  });

  it('retries through transient failures without losing order', async () => {
    let failures = 3;
    const flaky = {
      send: (cmd: unknown) => {
        if (cmd instanceof PutCommand && failures-- > 0) {
          return Promise.reject(
            Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }),
          );
        }
        return db.doc.send(cmd as PutCommand);
      },
    } as unknown as typeof db.doc;
    const j = new DynamoJournal({ doc: flaky, table: db.table, shard: 6, epoch: 1, maxBackoffMs: 20 });
    for (let i = 0; i < 10; i++) j.append({ kind: 'risk', ts: T0, i });
    await j.flush();
    expect(j.stats().retries).toBe(3);
    expect((await readJournalDay(db.doc, db.table, 6, utcDay(T0))).map((i) => i.seq)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  });
});
