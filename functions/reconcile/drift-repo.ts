/**
 * Drift records: what reconcile found different between a venue and DynamoDB, one item per
 * finding, pk `DRIFT#<yyyymmdd>`, sk `<ts:15>#<runId>#<n>`, expiring after 90 days. Written with
 * `attribute_not_exists` so a retried run cannot double a record.
 */
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { VenueId } from '#core/instrument.ts';
import { redactedJson } from '#store/dynamo/redact.ts';
import { PK, SK, TTL_ATTRIBUTE, isConditionalFailure, pad, utcDay } from '#store/dynamo/table.ts';

export type DriftKind =
  /** Ours by client id format, open at the venue, unknown (or terminal) in the order repo. */
  | 'orphan-order'
  /** Open in the order repo, not open at the venue (past the grace period). */
  | 'order-missing-at-venue'
  /** A venue fill of ours that the fill repo lacked (imported by this run). */
  | 'missing-fill'
  /** A venue fill that disagrees with the stored fill of the same trade id. */
  | 'fill-conflict'
  /** Venue position ≠ the sum of the shards' position snapshots. */
  | 'position-mismatch'
  /** The venue could not be read (no comparison was possible). */
  | 'venue-unreachable';

export interface DriftRecord {
  readonly runId: string;
  readonly ts: number;
  readonly venue: VenueId;
  readonly kind: DriftKind;
  readonly symbol?: string;
  readonly clientOrderId?: string;
  readonly detail: string;
}

export interface DriftRepo {
  record(records: readonly DriftRecord[]): Promise<void>;
}

const RETENTION_DAYS = 90;

export class DynamoDriftRepo implements DriftRepo {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.doc = doc;
    this.table = table;
  }

  async record(records: readonly DriftRecord[]): Promise<void> {
    let n = 0;
    for (const r of records) {
      const clean = JSON.parse(redactedJson(r)) as DriftRecord;
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: {
              [PK]: `DRIFT#${utcDay(r.ts)}`,
              [SK]: `${pad(r.ts, 15)}#${r.runId}#${pad(n++, 5)}`,
              ...clean,
              [TTL_ATTRIBUTE]: Math.floor(r.ts / 1000) + RETENTION_DAYS * 86_400,
            },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          }),
        );
      } catch (err) {
        if (!isConditionalFailure(err)) throw err; // already recorded by an earlier attempt
      }
    }
  }

  async list(day: string): Promise<DriftRecord[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': PK },
        ExpressionAttributeValues: { ':pk': `DRIFT#${day}` },
        ConsistentRead: true,
      }),
    );
    return (r.Items ?? []).map((i) => {
      const { [PK]: _pk, [SK]: _sk, [TTL_ATTRIBUTE]: _ttl, ...rest } = i;
      return rest as DriftRecord;
    });
  }
}
