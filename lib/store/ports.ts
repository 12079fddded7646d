/**
 * The persistence and messaging ports the engine and the Lambda functions talk through. Each has
 * a DynamoDB / SQS / Secrets Manager adapter for AWS and an embedded one for local runs and tests
 * (dynalite in-process for DynamoDB: the same repository code, a real DynamoDB API over HTTP).
 */
import type { VenueId } from '#core/instrument.ts';
import type { Journal } from '#engine/journal.ts';
import type { KillFlag } from '#engine/state-store.ts';

export type { Journal, KillFlag };

/** One engine per shard of symbols. */
export interface Lease {
  readonly shard: number;
  readonly owner: string;
  /** Fencing epoch: strictly increases each time the lease changes hands; part of every client order id. */
  readonly epoch: number;
  readonly expiresAt: number;
}

export interface LeaseRepo {
  /** Takes the lease if free or expired (a new epoch), or renews our own; null when another owner holds it. */
  acquire(shard: number, owner: string, ttlMs: number, now: number): Promise<Lease | null>;
  /** Extends our lease; false when it is no longer ours (fenced out: stop trading at once). */
  renew(lease: Lease, ttlMs: number, now: number): Promise<boolean>;
  release(lease: Lease): Promise<void>;
}

export interface EngineStateRecord {
  readonly shard: number;
  readonly kill: KillFlag | null;
  readonly tradingState: 'ACTIVE' | 'REDUCING' | 'HALTED';
  readonly heartbeatTs: number;
  /** Next client-order sequence reserved (per epoch). */
  readonly nextSeq: number;
  readonly epoch: number;
  readonly version: number;
}

export interface EngineStateRepo {
  load(shard: number): Promise<EngineStateRecord>;
  /** Sets the kill flag (idempotent: the first reason wins) with an audit record, conditionally. */
  setKill(shard: number, kill: KillFlag): Promise<EngineStateRecord>;
  /** Clears it: an explicit, audited resume. */
  clearKill(shard: number, by: string, reason: string, now: number): Promise<EngineStateRecord>;
  heartbeat(
    shard: number,
    epoch: number,
    tradingState: EngineStateRecord['tradingState'],
    now: number,
  ): Promise<void>;
  reserveSeq(shard: number, epoch: number, upTo: number): Promise<void>;
}

/** A control message (control λ → engine). */
export type ControlMessage =
  | {
      readonly v: 1;
      readonly type: 'kill';
      readonly id: string;
      readonly reason: string;
      readonly by: string;
      readonly ts: number;
    }
  | {
      readonly v: 1;
      readonly type: 'resume';
      readonly id: string;
      readonly reason: string;
      readonly by: string;
      readonly ts: number;
    }
  | {
      readonly v: 1;
      readonly type: 'reconcile';
      readonly id: string;
      readonly by: string;
      readonly ts: number;
    };

/** An alert (engine and λ → alerter). */
export interface AlertMessage {
  readonly v: 1;
  readonly id: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly source: string;
  readonly title: string;
  readonly detail: string;
  readonly venue?: VenueId;
  readonly ts: number;
}

export interface Received<T> {
  readonly body: T;
  /** Opaque handle to acknowledge (delete) the message. */
  readonly receipt: string;
}

export interface Queue<T> {
  /** Sends with an idempotency key (SQS FIFO dedup / local dedup window). */
  send(body: T, idempotencyKey: string): Promise<void>;
  receive(max: number, waitMs: number): Promise<Array<Received<T>>>;
  ack(receipt: string): Promise<void>;
}

export type SecretPurpose = 'trade' | 'cancel-only' | 'read-only' | 'slack-webhook';

export interface VenueCredentials {
  readonly apiKey: string;
  /** Never logged, never in errors or stored records. */
  readonly apiSecret: string;
}

export interface SecretStore {
  credentials(venue: VenueId, purpose: Exclude<SecretPurpose, 'slack-webhook'>): Promise<VenueCredentials>;
  slackWebhook(): Promise<string>;
  /** Drops the cached value (after an auth failure) so the next call fetches it fresh. */
  invalidate(venue: VenueId | 'slack', purpose: SecretPurpose): void;
}
