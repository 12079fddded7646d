/** Read helpers for the control API: status, open orders, positions, P&L today. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { EngineStateRecord, Lease } from '../ports.ts';
import { DynamoEngineStateRepo } from './engine-state.ts';
import { DynamoLeaseRepo } from './lease.ts';
import { DynamoOrderRepo, type OrderRecord } from './orders.ts';
import { DynamoPositionRepo, type PositionSnapshot } from './positions.ts';

export interface ShardStatus {
  readonly state: EngineStateRecord;
  readonly lease: Lease | null;
  /** Lease held and unexpired at `now`, and a heartbeat within `staleMs`. */
  readonly engineAlive: boolean;
}

export class ControlReadModel {
  private readonly state: DynamoEngineStateRepo;
  private readonly lease: DynamoLeaseRepo;
  private readonly orders: DynamoOrderRepo;
  private readonly positionsRepo: DynamoPositionRepo;
  constructor(doc: DynamoDBDocumentClient, table: string) {
    this.state = new DynamoEngineStateRepo(doc, table);
    this.lease = new DynamoLeaseRepo(doc, table);
    this.orders = new DynamoOrderRepo(doc, table);
    this.positionsRepo = new DynamoPositionRepo(doc, table);
  }

  async status(shard: number, now: number, staleMs = 30_000): Promise<ShardStatus> {
    const [state, lease] = await Promise.all([this.state.load(shard), this.lease.get(shard)]);
    const engineAlive = lease !== null && lease.expiresAt > now && now - state.heartbeatTs <= staleMs;
    return { state, lease, engineAlive };
  }

  openOrders(shard: number): Promise<OrderRecord[]> {
    return this.orders.openOrders(shard);
  }

  positions(shard: number): Promise<PositionSnapshot[]> {
    return this.positionsRepo.list(shard);
  }

  pnlToday(shard: number, now: number): Promise<string> {
    return this.positionsRepo.pnlToday(shard, now);
  }
}
