/**
 * Per-stage configuration: the one place where Staging and Prod differ. Constructs and stacks
 * take these values as props and never read `process.env` themselves; bin/app.ts builds the
 * config from the environment once (account and region), with defaults that let `cdk synth`
 * run offline without credentials.
 */
import type { VenueId } from '#core/instrument.ts';

export type StageName = 'Staging' | 'Prod';

/** One engine process (one Fargate service, desiredCount 1) trades one shard of symbols. */
export interface ShardConfig {
  readonly id: number;
  /** The venue symbols this shard trades, per venue (the venue's own spelling). */
  readonly symbols: Partial<Record<VenueId, readonly string[]>>;
}

export interface StageConfig {
  readonly stage: StageName;
  /** Lower-case stage name used in resource names: `tradewind-<stageId>`. */
  readonly stageId: 'staging' | 'prod';
  readonly env: { readonly account: string; readonly region: string };
  /** Venues with API keys in this stage; one secret per (venue, purpose). */
  readonly venues: readonly VenueId[];
  readonly shards: readonly ShardConfig[];
  /** Risk limits document (lib/risk/limits.ts shape), a path inside the engine image. */
  readonly riskLimitsPath: string;
  /** Slack channel the alert function posts to (the webhook itself is a secret). */
  readonly alertChannel: string;
  readonly engine: {
    /** Fargate task size. */
    readonly cpu: 256 | 512 | 1024 | 2048 | 4096;
    readonly memoryMiB: number;
    /** Seconds without a heartbeat before the heartbeat alarm fires (the metric period). */
    readonly heartbeatPeriodSeconds: number;
  };
  readonly lambda: { readonly memoryMiB: number; readonly timeoutSeconds: number };
  /** CloudWatch Logs retention, days. */
  readonly logRetentionDays: 7 | 14 | 30 | 90 | 365;
  /** DynamoDB items with a `ttl` attribute (journal, audit copies) expire after this many days. */
  readonly journalTtlDays: number;
  /** Prod keeps its data when a stack is deleted; staging is disposable. */
  readonly retainData: boolean;
  /** Alarm thresholds (per 5-minute period unless stated). */
  readonly thresholds: {
    readonly bookResyncs: number;
    readonly wsDisconnects: number;
    readonly rateLimited: number;
    readonly orderRejects: number;
    /** Percent of the daily loss limit used at which to alert before risk halts trading. */
    readonly dailyLossUsedPercent: number;
  };
}

/** The account/region inputs; unset values fall back to placeholders so synth works offline. */
export interface StageEnvInput {
  readonly stagingAccount?: string | undefined;
  readonly prodAccount?: string | undefined;
  readonly region?: string | undefined;
}

/** A syntactically valid placeholder account, used only when none is configured (synth, tests). */
export const PLACEHOLDER_ACCOUNT = '000000000000';
export const DEFAULT_REGION = 'ap-northeast-1';

const SHARDS: readonly ShardConfig[] = [
  { id: 0, symbols: { 'binance-futures': ['BTCUSDT', 'ETHUSDT'], 'kraken-spot': ['BTC/USD', 'ETH/USD'] } },
];

export function stageConfigs(input: StageEnvInput = {}): readonly StageConfig[] {
  const region = input.region ?? DEFAULT_REGION;
  const staging: StageConfig = {
    stage: 'Staging',
    stageId: 'staging',
    env: { account: input.stagingAccount ?? PLACEHOLDER_ACCOUNT, region },
    venues: ['binance-futures', 'kraken-spot'],
    shards: SHARDS,
    riskLimitsPath: 'config/risk/staging.json',
    alertChannel: '#tradewind-staging',
    engine: { cpu: 512, memoryMiB: 1024, heartbeatPeriodSeconds: 60 },
    lambda: { memoryMiB: 256, timeoutSeconds: 30 },
    logRetentionDays: 14,
    journalTtlDays: 30,
    retainData: false,
    thresholds: {
      bookResyncs: 10,
      wsDisconnects: 10,
      rateLimited: 5,
      orderRejects: 20,
      dailyLossUsedPercent: 80,
    },
  };
  const prod: StageConfig = {
    ...staging,
    stage: 'Prod',
    stageId: 'prod',
    env: { account: input.prodAccount ?? input.stagingAccount ?? PLACEHOLDER_ACCOUNT, region },
    riskLimitsPath: 'config/risk/prod.json',
    alertChannel: '#tradewind-prod',
    engine: { cpu: 1024, memoryMiB: 2048, heartbeatPeriodSeconds: 60 },
    logRetentionDays: 90,
    journalTtlDays: 365,
    retainData: true,
    thresholds: { ...staging.thresholds, rateLimited: 1, orderRejects: 10 },
  };
  return [staging, prod];
}

/** Secret names, one per purpose (DESIGN.md §4): the engine trades, kill cancels, reconcile reads. */
export type VenueKeyPurpose = 'trade' | 'cancel-only' | 'read-only';
export const VENUE_KEY_PURPOSES: readonly VenueKeyPurpose[] = ['trade', 'cancel-only', 'read-only'];

export function venueSecretName(stageId: string, venue: VenueId, purpose: VenueKeyPurpose): string {
  return `tradewind/${stageId}/${venue}/${purpose}`;
}

export function slackSecretName(stageId: string): string {
  return `tradewind/${stageId}/slack-webhook`;
}
