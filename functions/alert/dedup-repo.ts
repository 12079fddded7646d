/**
 * Alert ids already posted, across Lambda containers: pk `ALERT#<id>`, sk `ALERT`, expiring after
 * a day. Needs the table bound to the alert function (lib/infra: bindTable(alert, …)); without it
 * the handler falls back to the per-container InMemoryAlertDedup.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PK, SK, TTL_ATTRIBUTE } from '#store/dynamo/table.ts';
import type { AlertDedup } from './core.ts';

const TTL_SECONDS = 24 * 3600;

export class DynamoAlertDedup implements AlertDedup {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.doc = doc;
    this.table = table;
  }

  private key(id: string) {
    return { [PK]: `ALERT#${id}`, [SK]: 'ALERT' };
  }

  async seen(id: string): Promise<boolean> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: this.key(id), ConsistentRead: true }),
    );
    // An expired item not yet swept still counts as seen: ids are unique, so that is harmless.
    return r.Item !== undefined;
  }

  async mark(id: string, now: number): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...this.key(id), postedTs: now, [TTL_ATTRIBUTE]: Math.floor(now / 1000) + TTL_SECONDS },
      }),
    );
  }
}
