/**
 * Engine state per shard (pk `SHARD#<n>`, sk `STATE`) and its audit trail (sk `AUDIT#<ts>#<id>`).
 * Every write bumps `version`; generic updates are compare-and-set on it. The kill flag is only
 * ever set by setKill (first reason wins: `attribute_not_exists(kill)`) and only cleared by
 * clearKill, so no stale whole-state write can clear it. Dynalite has no transactions, so the
 * audit item is written before the state change: an audit record may describe a request whose
 * state write then failed, but a state change without its audit record cannot happen.
 */
import { randomUUID } from 'node:crypto';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { InvariantError, OperationalError } from '#core/errors.ts';
import type { EngineStateRecord, EngineStateRepo, KillFlag } from '../ports.ts';
import { redactedJson } from './redact.ts';
import { PK, SK, isConditionalFailure, keys } from './table.ts';

export interface AuditRecord {
  readonly shard: number;
  readonly action: 'kill' | 'resume';
  readonly by: string;
  readonly reason: string;
  readonly ts: number;
  readonly id: string;
}

export type EngineStatePatch = Partial<
  Pick<EngineStateRecord, 'tradingState' | 'nextSeq' | 'epoch' | 'heartbeatTs'>
>;

export class VersionConflictError extends OperationalError {
  constructor(shard: number, expected: number) {
    super(
      'VERSION_CONFLICT',
      `engine state of shard ${shard} is not at version ${expected}: reload and retry`,
    );
    this.name = 'VersionConflictError';
  }
}

export class DynamoEngineStateRepo implements EngineStateRepo {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.doc = doc;
    this.table = table;
  }

  private key(shard: number) {
    return { [PK]: keys.shard(shard), [SK]: keys.state };
  }

  async load(shard: number): Promise<EngineStateRecord> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: this.key(shard), ConsistentRead: true }),
    );
    const a = r.Item;
    return {
      shard,
      kill: (a?.kill as KillFlag | undefined) ?? null,
      tradingState: (a?.tradingState as EngineStateRecord['tradingState'] | undefined) ?? 'ACTIVE',
      heartbeatTs: Number(a?.heartbeatTs ?? 0),
      nextSeq: Number(a?.nextSeq ?? 1),
      epoch: Number(a?.epoch ?? 0),
      version: Number(a?.version ?? 0),
    };
  }

  async setKill(shard: number, kill: KillFlag): Promise<EngineStateRecord> {
    await this.audit(shard, 'kill', kill.by, kill.reason, kill.ts);
    const clean = JSON.parse(redactedJson({ reason: kill.reason, ts: kill.ts, by: kill.by })) as KillFlag;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(shard),
          UpdateExpression:
            'SET #kill = :kill, #ts = :halted, #shard = :shard, #ver = if_not_exists(#ver, :zero) + :one',
          ConditionExpression: 'attribute_not_exists(#kill)',
          ExpressionAttributeNames: {
            '#kill': 'kill',
            '#ts': 'tradingState',
            '#shard': 'shard',
            '#ver': 'version',
          },
          ExpressionAttributeValues: {
            ':kill': clean,
            ':halted': 'HALTED',
            ':shard': shard,
            ':zero': 0,
            ':one': 1,
          },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err; // already killed: the first reason stands
    }
    return this.load(shard);
  }

  async clearKill(shard: number, by: string, reason: string, now: number): Promise<EngineStateRecord> {
    if (!by || !reason) throw new Error('resume needs who and why (audited)');
    await this.audit(shard, 'resume', by, reason, now);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(shard),
          UpdateExpression: 'REMOVE #kill SET #ts = :active, #ver = #ver + :one',
          ConditionExpression: 'attribute_exists(#kill)',
          ExpressionAttributeNames: { '#kill': 'kill', '#ts': 'tradingState', '#ver': 'version' },
          ExpressionAttributeValues: { ':active': 'ACTIVE', ':one': 1 },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err; // not killed: nothing to clear
    }
    return this.load(shard);
  }

  /**
   * Heartbeat from the engine holding `epoch`. Throws InvariantError FENCED when a newer epoch
   * has written the state. While the kill flag is set the stored trading state stays HALTED
   * whatever the engine reports.
   */
  async heartbeat(
    shard: number,
    epoch: number,
    tradingState: EngineStateRecord['tradingState'],
    now: number,
  ): Promise<void> {
    const base = { TableName: this.table, Key: this.key(shard) };
    const names = { '#hb': 'heartbeatTs', '#epoch': 'epoch', '#ver': 'version', '#kill': 'kill' };
    try {
      await this.doc.send(
        new UpdateCommand({
          ...base,
          UpdateExpression:
            'SET #hb = :now, #ts = :state, #epoch = :epoch, #shard = :shard, #ver = if_not_exists(#ver, :zero) + :one',
          ConditionExpression:
            '(attribute_not_exists(#epoch) OR #epoch <= :epoch) AND (attribute_not_exists(#kill) OR :state = :halted)',
          ExpressionAttributeNames: { ...names, '#ts': 'tradingState', '#shard': 'shard' },
          ExpressionAttributeValues: {
            ':now': now,
            ':state': tradingState,
            ':epoch': epoch,
            ':shard': shard,
            ':zero': 0,
            ':one': 1,
            ':halted': 'HALTED',
          },
        }),
      );
      return;
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
    }
    try {
      // Killed: record the heartbeat only.
      await this.doc.send(
        new UpdateCommand({
          ...base,
          UpdateExpression: 'SET #hb = :now, #epoch = :epoch, #ver = #ver + :one',
          ConditionExpression: '#epoch <= :epoch AND attribute_exists(#kill)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':now': now, ':epoch': epoch, ':one': 1 },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
      const s = await this.load(shard);
      if (s.epoch > epoch) throw fenced(shard, epoch, s.epoch);
      throw err;
    }
  }

  /** Records that client order sequences up to `upTo` may be used in `epoch` (monotonic; fenced). */
  async reserveSeq(shard: number, epoch: number, upTo: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(shard),
          UpdateExpression:
            'SET #seq = :upTo, #epoch = :epoch, #shard = :shard, #ver = if_not_exists(#ver, :zero) + :one',
          ConditionExpression:
            'attribute_not_exists(#epoch) OR #epoch < :epoch OR (#epoch = :epoch AND #seq < :upTo)',
          ExpressionAttributeNames: {
            '#seq': 'nextSeq',
            '#epoch': 'epoch',
            '#shard': 'shard',
            '#ver': 'version',
          },
          ExpressionAttributeValues: {
            ':upTo': upTo,
            ':epoch': epoch,
            ':shard': shard,
            ':zero': 0,
            ':one': 1,
          },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
      const s = await this.load(shard);
      if (s.epoch > epoch) throw fenced(shard, epoch, s.epoch);
      // Same epoch, already reserved at least this far: nothing to do.
    }
  }

  /** Compare-and-set on version for trading state / seq / epoch; never touches the kill flag. */
  async update(shard: number, expectedVersion: number, patch: EngineStatePatch): Promise<EngineStateRecord> {
    const sets = ['#ver = :next', '#shard = :shard'];
    const values: Record<string, unknown> = {
      ':next': expectedVersion + 1,
      ':expected': expectedVersion,
      ':shard': shard,
    };
    const names: Record<string, string> = { '#ver': 'version', '#shard': 'shard' };
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      if (!['tradingState', 'nextSeq', 'epoch', 'heartbeatTs'].includes(field))
        throw new Error(`cannot patch ${field}`);
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    let condition =
      expectedVersion === 0 ? '(attribute_not_exists(#ver) OR #ver = :expected)' : '#ver = :expected';
    if (patch.tradingState !== undefined && patch.tradingState !== 'HALTED') {
      names['#kill'] = 'kill';
      condition += ' AND attribute_not_exists(#kill)';
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(shard),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
      const s = await this.load(shard);
      if (s.version === expectedVersion && s.kill) {
        throw new InvariantError(
          'KILLED',
          `shard ${shard} is killed (${s.kill.reason}): only resume may leave HALTED`,
        );
      }
      throw new VersionConflictError(shard, expectedVersion);
    }
    return this.load(shard);
  }

  async auditTrail(shard: number, limit = 100): Promise<AuditRecord[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :p)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': keys.shard(shard), ':p': 'AUDIT#' },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (r.Items ?? []).map((i) => ({
      shard,
      action: i.action as AuditRecord['action'],
      by: String(i.by),
      reason: String(i.reason),
      ts: Number(i.ts),
      id: String(i.id),
    }));
  }

  private async audit(
    shard: number,
    action: AuditRecord['action'],
    by: string,
    reason: string,
    ts: number,
  ): Promise<void> {
    const id = randomUUID();
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { [PK]: keys.shard(shard), [SK]: keys.audit(ts, id), shard, action, by, reason, ts, id },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      }),
    );
  }
}

function fenced(shard: number, epoch: number, current: number): InvariantError {
  return new InvariantError(
    'FENCED',
    `shard ${shard}: epoch ${epoch} is fenced out by epoch ${current}: stop trading`,
  );
}
