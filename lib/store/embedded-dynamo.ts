/**
 * DynamoDB in-process for local runs and tests: dynalite (a real DynamoDB API over HTTP, backed
 * by in-memory LevelDB) on 127.0.0.1 at a random port, with the table created as on AWS. The
 * repositories run unchanged against it — no mocks. Dynalite has no transactions and does not
 * expire TTL items; nothing here relies on either.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ensureTable, tableName } from './dynamo/table.ts';

type DynaliteFactory = (opts: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

export interface EmbeddedDynamo {
  readonly client: DynamoDBClient;
  /** Document client (marshalls plain objects; undefined values dropped). */
  readonly doc: DynamoDBDocumentClient;
  readonly endpoint: string;
  readonly table: string;
  close(): Promise<void>;
}

/** The document-client settings every repository expects (shared with the AWS wiring). */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

export async function startEmbeddedDynamo(
  opts: { stage?: string; path?: string } = {},
): Promise<EmbeddedDynamo> {
  // With a path the data lives on disk (LevelDB) and survives restarts: `npm start` resumes from it.
  if (opts.path) mkdirSync(opts.path, { recursive: true });
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(opts.path ? { path: opts.path } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
  const table = tableName(opts.stage ?? 'local');
  try {
    await ensureTable(client, table);
  } catch (err) {
    client.destroy();
    server.close();
    throw err;
  }
  return {
    client,
    doc: documentClient(client),
    endpoint,
    table,
    async close() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
