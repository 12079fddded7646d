/**
 * Position snapshots per shard and symbol (pk `SHARD#<n>`, sk `POS#<venue>#<symbol>`), written
 * by the engine after each fill, fenced by epoch (an older epoch cannot overwrite a newer one's
 * snapshot). Not the source of truth (fills are): the control API and reconcile read them.
 */
import { Decimal } from 'decimal.js';
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvariantError } from '#core/errors.ts';
import type { VenueId } from '#core/instrument.ts';
import { PK, SK, isConditionalFailure, keys, utcDay } from './table.ts';

export interface PositionSnapshot {
  readonly shard: number;
  readonly venue: VenueId;
  readonly symbol: string;
  /** Signed: long > 0, short < 0. */
  readonly qtyLots: number;
  /** Average entry price as exact decimal text ('0' when flat). */
  readonly avgEntryPrice: string;
  /** Realized P&L of the UTC day `day`, quote currency, exact decimal text, fees included. */
  readonly realizedPnlDay: string;
  readonly day: string;
  readonly epoch: number;
  readonly ts: number;
}

export class DynamoPositionRepo {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.doc = doc;
    this.table = table;
  }

  async put(p: PositionSnapshot): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { [PK]: keys.shard(p.shard), [SK]: keys.position(p.venue, p.symbol), ...p },
          ConditionExpression: 'attribute_not_exists(#pk) OR #epoch <= :epoch',
          ExpressionAttributeNames: { '#pk': PK, '#epoch': 'epoch' },
          ExpressionAttributeValues: { ':epoch': p.epoch },
        }),
      );
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
      throw new InvariantError('FENCED', `position ${p.venue} ${p.symbol}: epoch ${p.epoch} is fenced out`);
    }
  }

  async list(shard: number): Promise<PositionSnapshot[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :p)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': keys.shard(shard), ':p': 'POS#' },
        ConsistentRead: true,
      }),
    );
    return (r.Items ?? []).map((i) => {
      const { pk: _pk, sk: _sk, ...rest } = i;
      return rest as PositionSnapshot;
    });
  }

  /** Sum of today's realized P&L over the shard's symbols (one quote currency per shard assumed). */
  async pnlToday(shard: number, now: number): Promise<string> {
    const today = utcDay(now);
    return (await this.list(shard))
      .filter((p) => p.day === today)
      .reduce((sum, p) => sum.plus(new Decimal(p.realizedPnlDay)), new Decimal(0))
      .toString();
  }
}
