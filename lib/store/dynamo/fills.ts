/**
 * Fills, stored once whatever the redelivery: pk `FILL#<venue>#<symbol>#<tradeId>`, sk `FILL`,
 * written with `attribute_not_exists(pk)`. The symbol is in the key because some venues number
 * trades per symbol (Binance), so a venue-wide key could merge two different fills into one.
 * A redelivery that disagrees with the stored fill (price, size, side, order) is an
 * InvariantError, not a silent duplicate. GSI1 `FILLS#<venue>` / `<ts:15>#<symbol>#<tradeId>`
 * lists a venue's fills by time (reconcile, P&L).
 */
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { InvariantError } from '#core/errors.ts';
import type { VenueId } from '#core/instrument.ts';
import type { Fill } from '#core/trading.ts';
import { GSI1, GSI1_PK, GSI1_SK, PK, SK, isConditionalFailure, keys } from './table.ts';

const IDENTITY: ReadonlyArray<keyof Fill> = [
  'venue',
  'symbol',
  'tradeId',
  'clientOrderId',
  'side',
  'priceTicks',
  'qtyLots',
  'fee',
  'feeAsset',
];

export class DynamoFillRepo {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.doc = doc;
    this.table = table;
  }

  async putFill(fill: Fill, shard?: number): Promise<'stored' | 'duplicate'> {
    if (!fill.tradeId)
      throw new InvariantError('FILL_NO_TRADE_ID', `fill for ${fill.clientOrderId} has no trade id`);
    const pk = keys.fill(fill.venue, fill.symbol, fill.tradeId);
    const item = {
      [PK]: pk,
      [SK]: 'FILL',
      [GSI1_PK]: keys.fillsByVenue(fill.venue),
      [GSI1_SK]: keys.fillByTime(fill.ts, fill.symbol, fill.tradeId),
      venue: fill.venue,
      symbol: fill.symbol,
      tradeId: fill.tradeId,
      clientOrderId: fill.clientOrderId,
      side: fill.side,
      priceTicks: fill.priceTicks,
      qtyLots: fill.qtyLots,
      fee: fill.fee,
      feeAsset: fill.feeAsset,
      liquidity: fill.liquidity,
      ts: fill.ts,
      shard,
    };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return 'stored';
    } catch (err) {
      if (!isConditionalFailure(err)) throw err;
    }
    const got = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { [PK]: pk, [SK]: 'FILL' }, ConsistentRead: true }),
    );
    const stored = got.Item ?? {};
    const differs = IDENTITY.filter((f) => stored[f] !== fill[f]);
    if (differs.length > 0) {
      throw new InvariantError(
        'FILL_CONFLICT',
        `fill ${pk} redelivered with different ${differs.join(', ')}`,
      );
    }
    return 'duplicate';
  }

  async getFill(venue: VenueId, symbol: string, tradeId: string): Promise<Fill | null> {
    const got = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { [PK]: keys.fill(venue, symbol, tradeId), [SK]: 'FILL' },
        ConsistentRead: true,
      }),
    );
    return got.Item ? toFill(got.Item) : null;
  }

  /** A venue's fills with ts ≥ sinceTs, oldest first (GSI: eventually consistent). */
  async listFills(venue: VenueId, sinceTs: number): Promise<Fill[]> {
    const out: Fill[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: GSI1,
          KeyConditionExpression: '#g = :g AND #s >= :since',
          ExpressionAttributeNames: { '#g': GSI1_PK, '#s': GSI1_SK },
          ExpressionAttributeValues: {
            ':g': keys.fillsByVenue(venue),
            ':since': keys.fillByTime(Math.max(0, sinceTs), '', ''),
          },
          ExclusiveStartKey: start,
        }),
      );
      out.push(...(r.Items ?? []).map(toFill));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }
}

function toFill(i: Record<string, unknown>): Fill {
  return {
    venue: i.venue as VenueId,
    symbol: String(i.symbol),
    tradeId: String(i.tradeId),
    clientOrderId: String(i.clientOrderId),
    side: i.side as Fill['side'],
    priceTicks: Number(i.priceTicks),
    qtyLots: Number(i.qtyLots),
    fee: String(i.fee),
    feeAsset: String(i.feeAsset),
    liquidity: i.liquidity as Fill['liquidity'],
    ts: Number(i.ts),
  };
}
