import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '#store/embedded-dynamo.ts';
import { DynamoLeaseRepo } from '#store/dynamo/index.ts';
import type { Lease } from '#store/ports.ts';

let db: EmbeddedDynamo;
let repo: DynamoLeaseRepo;
beforeAll(async () => {
  db = await startEmbeddedDynamo({ stage: 'test' });
  repo = new DynamoLeaseRepo(db.doc, db.table);
});
afterAll(async () => {
  await db.close();
});

const TTL = 10_000;

describe('DynamoLeaseRepo', () => {
  it('acquires a free lease at epoch 1, renews it, and lets another owner take it only after expiry (epoch + 1)', async () => {
    const a = await repo.acquire(1, 'engine-a', TTL, 1_000);
    expect(a).toMatchObject({ shard: 1, owner: 'engine-a', epoch: 1, expiresAt: 11_000 });
    expect(await repo.acquire(1, 'engine-b', TTL, 5_000)).toBeNull();
    expect(await repo.renew(a!, TTL, 6_000)).toBe(true);
    expect(await repo.acquire(1, 'engine-b', TTL, 15_000)).toBeNull(); // renewed to 16 000
    // Re-acquire by the holder extends it without a new epoch.
    expect(await repo.acquire(1, 'engine-a', TTL, 7_000)).toMatchObject({ epoch: 1, expiresAt: 17_000 });
    const b = await repo.acquire(1, 'engine-b', TTL, 17_000);
    expect(b).toMatchObject({ owner: 'engine-b', epoch: 2 });
    // The old holder is fenced: its renewal fails even though its owner name is unchanged.
    expect(await repo.renew(a!, TTL, 17_001)).toBe(false);
    expect(await repo.renew({ ...b!, epoch: 1 }, TTL, 17_001)).toBe(false);
    expect(await repo.renew(b!, TTL, 17_001)).toBe(true);
  });

  it('fails renewal of an expired lease even when nobody took it (must re-acquire: new epoch)', async () => {
    const a = await repo.acquire(2, 'engine-a', TTL, 0);
    expect(await repo.renew(a!, TTL, TTL + 1)).toBe(false);
    expect(await repo.acquire(2, 'engine-a', TTL, TTL + 1)).toMatchObject({ epoch: 2 });
  });

  it('release frees it at once and the epoch keeps increasing', async () => {
    const a = (await repo.acquire(3, 'engine-a', TTL, 0))!;
    await repo.release({ ...a, epoch: a.epoch + 7 }); // not ours: no-op
    expect(await repo.acquire(3, 'engine-b', TTL, 1)).toBeNull();
    await repo.release(a);
    expect(await repo.acquire(3, 'engine-b', TTL, 2)).toMatchObject({ owner: 'engine-b', epoch: 2 });
  });

  it('of engines racing for a free lease exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const shard = 100 + round;
      const now = 1_000;
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => repo.acquire(shard, `engine-${i}`, TTL, now)),
      );
      const winners = results.filter((r): r is Lease => r !== null);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.epoch).toBe(1);
      // And racing for the expired lease: one winner, epoch 2.
      const again = await Promise.all(
        Array.from({ length: 8 }, (_, i) => repo.acquire(shard, `engine-x${i}`, TTL, now + TTL + 1)),
      );
      expect(again.filter((r) => r !== null).map((r) => r.epoch)).toEqual([2]);
    }
  });

  it('property: at any time at most one owner holds a live lease, and epochs only grow', async () => {
    let shard = 1_000;
    const op = fc.record({
      engine: fc.integer({ min: 0, max: 2 }),
      action: fc.constantFrom('acquire', 'renew', 'release'),
      advance: fc.integer({ min: 0, max: 12_000 }),
      concurrent: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        shard++;
        let now = 0;
        const held: Array<Lease | null> = [null, null, null];
        let maxEpoch = 0;
        const run = async (o: (typeof ops)[number], at: number) => {
          const mine = held[o.engine] ?? null;
          if (o.action === 'acquire') {
            const l = await repo.acquire(shard, `e${o.engine}`, TTL, at);
            if (l) held[o.engine] = l;
          } else if (o.action === 'renew' && mine) {
            if (await repo.renew(mine, TTL, at)) held[o.engine] = { ...mine, expiresAt: at + TTL };
            else held[o.engine] = null;
          } else if (o.action === 'release' && mine) {
            await repo.release(mine);
            held[o.engine] = null;
          }
        };
        for (let i = 0; i < ops.length; i++) {
          const o = ops[i]!;
          now += o.advance;
          const next = ops[i + 1];
          if (o.concurrent && next && next.engine !== o.engine) {
            await Promise.all([run(o, now), run(next, now)]);
            i++;
          } else {
            await run(o, now);
          }
          const live = held.filter((l) => l !== null && l.expiresAt > now);
          // Engines that think they hold a live lease: at most one has the current epoch.
          const stored = await repo.get(shard);
          const current = live.filter(
            (l) => stored && l!.epoch === stored.epoch && l!.owner === stored.owner,
          );
          expect(current.length).toBeLessThanOrEqual(1);
          if (stored) {
            expect(stored.epoch).toBeGreaterThanOrEqual(maxEpoch);
            maxEpoch = stored.epoch;
          }
          // Any other engine that believes it is live holds an older epoch: its renewal fails.
          for (const l of live) {
            if (stored && l!.epoch !== stored.epoch) expect(await repo.renew(l!, TTL, now)).toBe(false);
          }
        }
      }),
      { numRuns: 40 },
    );
  });
});
