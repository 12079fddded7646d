/**
 * The single DynamoDB table (`tradewind-<stage>`): its key schema, its one GSI and the key
 * builders every repository uses. Infra (CDK) and the embedded table are built from the same
 * constants, so the local table is the AWS table. The access patterns are in lib/store/README.md.
 */
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

export function tableName(stage: string): string {
  if (!/^[a-z0-9-]{1,40}$/.test(stage)) throw new Error(`bad stage name ${JSON.stringify(stage)}`);
  return `tradewind-${stage}`;
}

/** Key attributes: generic names, so one table holds every item type. */
export const PK = 'pk';
export const SK = 'sk';
/** The one GSI: sparse, only items that set gsi1pk are in it (open orders, fills by venue). */
export const GSI1 = 'gsi1';
export const GSI1_PK = 'gsi1pk';
export const GSI1_SK = 'gsi1sk';
/** DynamoDB TTL attribute (epoch seconds); set on journal items only. */
export const TTL_ATTRIBUTE = 'ttl';
/** Journal items expire after this many days (audit retention; export to S3 first if longer is needed). */
export const JOURNAL_TTL_DAYS = 400;

/** Zero-padded decimal, so string order = numeric order in sort keys. */
export function pad(n: number, width: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`cannot pad ${n}`);
  const s = String(n);
  if (s.length > width) throw new Error(`${n} does not fit in ${width} digits`);
  return s.padStart(width, '0');
}

/** UTC day of a ms timestamp as yyyymmdd. */
export function utcDay(ts: number): string {
  const d = new Date(ts);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}`;
}

export const keys = {
  shard: (shard: number) => `SHARD#${shard}`,
  state: 'STATE',
  lease: 'LEASE',
  audit: (ts: number, id: string) => `AUDIT#${pad(ts, 15)}#${id}`,
  position: (venue: string, symbol: string) => `POS#${venue}#${symbol}`,
  journalPk: (shard: number, day: string) => `SHARD#${shard}#DAY#${day}`,
  journalSk: (epoch: number, seq: number) => `${pad(epoch, 10)}#${pad(seq, 12)}`,
  order: (clientOrderId: string) => `ORDER#${clientOrderId}`,
  openOrders: (shard: number) => `OPEN#SHARD#${shard}`,
  fill: (venue: string, symbol: string, tradeId: string) => `FILL#${venue}#${symbol}#${tradeId}`,
  fillsByVenue: (venue: string) => `FILLS#${venue}`,
  fillByTime: (ts: number, symbol: string, tradeId: string) => `${pad(ts, 15)}#${symbol}#${tradeId}`,
} as const;

/** The CreateTable input; infra mirrors it (PAY_PER_REQUEST, PITR and TTL on `ttl` are set there). */
export function tableDefinition(name: string) {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [
      { AttributeName: PK, AttributeType: 'S' as const },
      { AttributeName: SK, AttributeType: 'S' as const },
      { AttributeName: GSI1_PK, AttributeType: 'S' as const },
      { AttributeName: GSI1_SK, AttributeType: 'S' as const },
    ],
    KeySchema: [
      { AttributeName: PK, KeyType: 'HASH' as const },
      { AttributeName: SK, KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: GSI1,
        KeySchema: [
          { AttributeName: GSI1_PK, KeyType: 'HASH' as const },
          { AttributeName: GSI1_SK, KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'ALL' as const },
      },
    ],
  };
}

/** Creates the table if absent (idempotent) and waits until it is ACTIVE. */
export async function ensureTable(client: DynamoDBClient, name: string, timeoutMs = 10_000): Promise<void> {
  try {
    await client.send(new CreateTableCommand(tableDefinition(name)));
  } catch (err) {
    if ((err as Error).name !== 'ResourceInUseException') throw err;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await client.send(new DescribeTableCommand({ TableName: name }));
    const gsiActive = (d.Table?.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE');
    if (d.Table?.TableStatus === 'ACTIVE' && gsiActive) return;
    if (Date.now() > deadline) throw new Error(`table ${name} not ACTIVE after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function isConditionalFailure(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'ConditionalCheckFailedException';
}
