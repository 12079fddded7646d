import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PK, keys } from './table.ts';
import type { JournalItem } from './journal.ts';

/** One shard's journal items for a UTC day (yyyymmdd), in (epoch, seq) order. */
export async function readJournalDay(
  doc: DynamoDBDocumentClient,
  table: string,
  shard: number,
  day: string,
): Promise<JournalItem[]> {
  const out: JournalItem[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': PK },
        ExpressionAttributeValues: { ':pk': keys.journalPk(shard, day) },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    out.push(...((r.Items ?? []) as JournalItem[]));
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}
