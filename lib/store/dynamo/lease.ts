/**
 * The engine lease per shard (pk `SHARD#<n>`, sk `LEASE`): owner, fencing epoch, expiresAt (ms).
 * Every write is conditional, so the table arbitrates races: of two engines acquiring a free
 * lease exactly one condition passes. The epoch increases by one at every acquisition of a free,
 * expired or released lease and is never reset (release keeps the item), so it is a fencing token.
 * Owners must be unique per process (task id + boot id): a restarted engine is a new owner and
 * gets a new epoch, so its client order ids and journal keys never collide with its previous life.
 * Expiry compares the callers' clocks (`now`): keep ttlMs far above clock skew (Amazon Time Sync).
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Lease, LeaseRepo } from '../ports.ts';
import { PK, SK, isConditionalFailure, keys } from './table.ts';

export class DynamoLeaseRepo implements LeaseRepo {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.doc = doc;
    this.table = table;
  }

  private key(shard: number) {
    return { [PK]: keys.shard(shard), [SK]: keys.lease };
  }

  async acquire(shard: number, owner: string, ttlMs: number, now: number): Promise<Lease | null> {
    if (!owner) throw new Error('lease owner must be non-empty');
    // Take it when absent, expired or released: a new epoch.
    try {
      const r = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(shard),
          UpdateExpression:
            'SET #owner = :owner, #exp = :exp, #epoch = if_not_exists(#epoch, :zero) + :one, #shard = :shard',
          ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
          ExpressionAttributeNames: {
            '#pk': PK,
            '#owner': 'owner',
            '#exp': 'expiresAt',
            '#epoch': 'epoch',
            '#shard': 'shard',
          },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':exp': now + ttlMs,
            ':now': now,
            ':zero': 0,
            ':one': 1,
            ':shard': shard,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toLease(r.Attributes);
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
    }
    // Held and live: ours → extend it (same epoch); theirs → null.
    try {
      const r = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(shard),
          UpdateExpression: 'SET #exp = :exp',
          ConditionExpression: '#owner = :owner AND #exp > :now',
          ExpressionAttributeNames: { '#owner': 'owner', '#exp': 'expiresAt' },
          ExpressionAttributeValues: { ':owner': owner, ':exp': now + ttlMs, ':now': now },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toLease(r.Attributes);
    } catch (err) {
      if (isConditionalFailure(err)) return null;
      throw err;
    }
  }

  /** Fails (false) when the epoch or owner moved on, or the lease already expired: stop trading. */
  async renew(lease: Lease, ttlMs: number, now: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(lease.shard),
          UpdateExpression: 'SET #exp = :exp',
          ConditionExpression: '#owner = :owner AND #epoch = :epoch AND #exp > :now',
          ExpressionAttributeNames: { '#owner': 'owner', '#exp': 'expiresAt', '#epoch': 'epoch' },
          ExpressionAttributeValues: {
            ':owner': lease.owner,
            ':epoch': lease.epoch,
            ':exp': now + ttlMs,
            ':now': now,
          },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionalFailure(err)) return false;
      throw err;
    }
  }

  /** Frees it for the next owner at once; keeps the epoch so it keeps increasing. No-op if not ours. */
  async release(lease: Lease): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(lease.shard),
          UpdateExpression: 'SET #exp = :zero',
          ConditionExpression: '#owner = :owner AND #epoch = :epoch',
          ExpressionAttributeNames: { '#owner': 'owner', '#exp': 'expiresAt', '#epoch': 'epoch' },
          ExpressionAttributeValues: { ':owner': lease.owner, ':epoch': lease.epoch, ':zero': 0 },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
    }
  }

  /** The lease as stored (strongly consistent), or null. For the control API and reconcile. */
  async get(shard: number): Promise<Lease | null> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: this.key(shard), ConsistentRead: true }),
    );
    return r.Item ? toLease(r.Item) : null;
  }
}

function toLease(a: Record<string, unknown> | undefined): Lease {
  if (!a) throw new Error('lease item missing');
  return {
    shard: Number(a.shard),
    owner: String(a.owner),
    epoch: Number(a.epoch),
    expiresAt: Number(a.expiresAt),
  };
}
