/**
 * Orders: one item per order, pk `ORDER#<clientOrderId>`, sk `ORDER`, holding the intent, the
 * current state, a version and the full history of transitions (appended with list_append,
 * conditional on the version: a lost update is impossible). Legal transitions are checked with
 * the core FSM before writing. While an order is not terminal it carries GSI1
 * `OPEN#SHARD#<n>` / `<clientOrderId>` (a sparse index: terminal orders drop out), which is how
 * the control API and startup reconciliation list open orders.
 */
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { InvariantError } from '#core/errors.ts';
import { canTransition, isTerminal, type OrderState, type OrderTransition } from '#core/order.ts';
import type { OrderIntent } from '#core/trading.ts';
import { redactedJson } from './redact.ts';
import { GSI1, GSI1_PK, GSI1_SK, PK, SK, isConditionalFailure, keys } from './table.ts';
import { VersionConflictError } from './engine-state.ts';

export interface OrderRecord {
  readonly shard: number;
  readonly intent: OrderIntent;
  readonly state: OrderState;
  readonly version: number;
  readonly history: readonly OrderTransition[];
}

export class OrderVersionConflictError extends VersionConflictError {}

export class DynamoOrderRepo {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.doc = doc;
    this.table = table;
  }

  private key(clientOrderId: string) {
    return { [PK]: keys.order(clientOrderId), [SK]: 'ORDER' };
  }

  /** Stores a new order in PENDING (version 1). Idempotent for the same intent; a different intent under the id is an InvariantError. */
  async putIntent(shard: number, intent: OrderIntent): Promise<OrderRecord> {
    const clean = JSON.parse(redactedJson(intent)) as OrderIntent;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...this.key(intent.clientOrderId),
            [GSI1_PK]: keys.openOrders(shard),
            [GSI1_SK]: intent.clientOrderId,
            shard,
            intent: clean,
            state: 'PENDING',
            version: 1,
            history: [],
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
      const existing = await this.get(intent.clientOrderId);
      if (!existing || redactedJson(sortKeys(existing.intent)) !== redactedJson(sortKeys(clean))) {
        throw new InvariantError(
          'ORDER_ID_REUSED',
          `client order id ${intent.clientOrderId} already holds a different intent`,
        );
      }
      return existing;
    }
    return { shard, intent: clean, state: 'PENDING', version: 1, history: [] };
  }

  /** Appends a transition from the current state, conditional on `expectedVersion`. */
  async appendState(
    clientOrderId: string,
    expectedVersion: number,
    t: OrderTransition,
  ): Promise<OrderRecord> {
    if (!canTransition(t.from, t.to))
      throw new InvariantError('ILLEGAL_TRANSITION', `${clientOrderId}: ${t.from} → ${t.to}`);
    const terminal = isTerminal(t.to);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(clientOrderId),
          UpdateExpression:
            'SET #state = :to, #ver = :next, #hist = list_append(#hist, :t)' +
            (terminal ? ' REMOVE #gpk, #gsk' : ''),
          ConditionExpression: '#ver = :expected AND #state = :from',
          ExpressionAttributeNames: {
            '#state': 'state',
            '#ver': 'version',
            '#hist': 'history',
            ...(terminal ? { '#gpk': GSI1_PK, '#gsk': GSI1_SK } : {}),
          },
          ExpressionAttributeValues: {
            ':to': t.to,
            ':from': t.from,
            ':next': expectedVersion + 1,
            ':expected': expectedVersion,
            ':t': [JSON.parse(redactedJson(t)) as OrderTransition],
          },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
      const cur = await this.get(clientOrderId);
      if (!cur) throw new InvariantError('ORDER_UNKNOWN', `no order ${clientOrderId}`);
      if (cur.version === expectedVersion) {
        throw new InvariantError('ORDER_STATE_MISMATCH', `${clientOrderId} is ${cur.state}, not ${t.from}`);
      }
      throw new OrderVersionConflictError(cur.shard, expectedVersion);
    }
    const rec = await this.get(clientOrderId);
    if (!rec) throw new InvariantError('ORDER_UNKNOWN', `no order ${clientOrderId}`);
    return rec;
  }

  async get(clientOrderId: string): Promise<OrderRecord | null> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: this.key(clientOrderId), ConsistentRead: true }),
    );
    return r.Item ? toOrder(r.Item) : null;
  }

  /** Orders of a shard not yet terminal (GSI: eventually consistent, lags writes by ~ms). */
  async openOrders(shard: number): Promise<OrderRecord[]> {
    const out: OrderRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI1,
          KeyConditionExpression: '#g = :g',
          ExpressionAttributeNames: { '#g': GSI1_PK },
          ExpressionAttributeValues: { ':g': keys.openOrders(shard) },
          ExclusiveStartKey: start,
        }),
      );
      out.push(...(r.Items ?? []).map(toOrder));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }
}

function toOrder(i: Record<string, unknown>): OrderRecord {
  return {
    shard: Number(i.shard),
    intent: i.intent as OrderIntent,
    state: i.state as OrderState,
    version: Number(i.version),
    history: (i.history as OrderTransition[] | undefined) ?? [],
  };
}

function sortKeys(o: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
