/**
 * The alerter's core: alerts from the SQS queue (engine, control, reconcile) and CloudWatch alarm
 * notifications from SNS, to Slack; and the daily summary.
 *
 * - Deduplicated by alert id: an id already posted is acknowledged without posting again (SQS
 *   redelivery, a producer's retry). The id is marked only after Slack accepted the post, so a
 *   failed post is retried, never lost.
 * - Rate-limited per source (`perSourceLimit` posts per `windowMs`): past the limit an alert is
 *   counted and dropped (acknowledged), and the next post from that source says how many were
 *   suppressed. Critical alerts are never rate-limited: a kill must always be seen.
 * - An SQS batch reports per-record failures (`batchItemFailures`): only the records whose Slack
 *   post failed — or that are malformed, so they reach the DLQ for inspection — are redelivered.
 * - Every text is scrubbed of known secrets before it leaves; the webhook URL is never logged.
 */
import { Decimal } from 'decimal.js';
import { utcDay } from '#store/dynamo/table.ts';
import { parseAlertMessage } from '#store/messages.ts';
import type { AlertMessage, SecretStore } from '#store/ports.ts';
import { redactKnownSecrets } from '#store/redact.ts';
import { errorText, redactingLog, silentLog, type LogPort } from '../shared/ports.ts';

// -------------------------------------------------------------------------------------- ports

/** The Slack edge: POST a JSON payload to the webhook; rejects on a non-2xx answer. */
export type SlackPost = (webhookUrl: string, payload: SlackPayload) => Promise<void>;

export interface SlackPayload {
  readonly text: string;
  readonly channel?: string;
}

/** Alert ids already posted (in-memory per container, or DynamoDB across containers). */
export interface AlertDedup {
  seen(id: string): Promise<boolean>;
  mark(id: string, now: number): Promise<void>;
}

export interface AlertDeps {
  readonly secrets: Pick<SecretStore, 'slackWebhook' | 'invalidate'>;
  readonly post: SlackPost;
  readonly dedup: AlertDedup;
  readonly limiter: SourceRateLimiter;
  readonly now: () => number;
  readonly channel?: string;
  readonly log?: LogPort;
}

/** Posts JSON with fetch (the production edge). The URL is a secret: errors never include it. */
export const fetchSlackPost: SlackPost = async (url, payload) => {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(5000),
    });
  } catch (e) {
    throw new Error(`Slack webhook unreachable: ${e instanceof Error ? e.name : 'error'}`);
  }
  await res.text().catch(() => '');
  if (!res.ok) throw new Error(`Slack webhook answered ${res.status}`);
};

export class InMemoryAlertDedup implements AlertDedup {
  readonly #ids = new Map<string, number>();
  readonly #ttlMs: number;
  constructor(ttlMs = 24 * 3_600_000) {
    this.#ttlMs = ttlMs;
  }
  seen(id: string): Promise<boolean> {
    return Promise.resolve(this.#ids.has(id));
  }
  mark(id: string, now: number): Promise<void> {
    for (const [k, at] of this.#ids) {
      if (now - at < this.#ttlMs) break;
      this.#ids.delete(k);
    }
    this.#ids.set(id, now);
    return Promise.resolve();
  }
}

/** Fixed-window limit per source, with a count of what it suppressed. */
export class SourceRateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, { start: number; used: number; suppressed: number }>();
  constructor(perSourceLimit = 10, windowMs = 60_000) {
    this.#limit = perSourceLimit;
    this.#windowMs = windowMs;
  }
  /** Takes a slot: allowed (with how many were suppressed since the last allowed one) or not. */
  take(source: string, now: number): { allowed: boolean; suppressedBefore: number } {
    let w = this.#windows.get(source);
    if (w === undefined || now - w.start >= this.#windowMs) {
      w = { start: now, used: 0, suppressed: w?.suppressed ?? 0 };
      this.#windows.set(source, w);
    }
    if (w.used >= this.#limit) {
      w.suppressed++;
      return { allowed: false, suppressedBefore: 0 };
    }
    w.used++;
    const suppressedBefore = w.suppressed;
    w.suppressed = 0;
    return { allowed: true, suppressedBefore };
  }
  /** Posting failed: give the slot and the suppressed count back. */
  giveBack(source: string, suppressed: number): void {
    const w = this.#windows.get(source);
    if (w === undefined) return;
    w.used = Math.max(0, w.used - 1);
    w.suppressed += suppressed;
  }
}

// -------------------------------------------------------------------------------- formatting

const ICON: Record<AlertMessage['severity'], string> = {
  info: ':information_source:',
  warning: ':warning:',
  critical: ':rotating_light:',
};

export function formatAlert(a: AlertMessage, suppressedBefore = 0): string {
  const where = [a.source, a.venue].filter(Boolean).join(' · ');
  const lines = [
    `${ICON[a.severity]} *${a.severity.toUpperCase()}* ${a.title} _(${where}, ${new Date(a.ts).toISOString()})_`,
    a.detail,
  ];
  if (suppressedBefore > 0)
    lines.push(`_${suppressedBefore} earlier alert(s) from ${a.source} were rate-limited_`);
  return redactKnownSecrets(lines.join('\n'));
}

// ---------------------------------------------------------------------------------- delivery

export type DeliveryOutcome = 'posted' | 'duplicate' | 'rate-limited';

/** Delivers one alert; throws when Slack did not take it (the caller retries the record). */
export async function deliverAlert(deps: AlertDeps, alert: AlertMessage): Promise<DeliveryOutcome> {
  const log = redactingLog(deps.log ?? silentLog);
  if (await deps.dedup.seen(alert.id)) return 'duplicate';
  const now = deps.now();
  const slot =
    alert.severity === 'critical'
      ? { allowed: true, suppressedBefore: 0 }
      : deps.limiter.take(alert.source, now);
  if (!slot.allowed) {
    log.warn('alert rate-limited', { id: alert.id, source: alert.source });
    return 'rate-limited';
  }
  try {
    const url = await deps.secrets.slackWebhook();
    await deps.post(url, {
      text: formatAlert(alert, slot.suppressedBefore),
      ...(deps.channel ? { channel: deps.channel } : {}),
    });
  } catch (e) {
    if (alert.severity !== 'critical') deps.limiter.giveBack(alert.source, slot.suppressedBefore);
    // A rotated webhook: fetch it fresh next time.
    deps.secrets.invalidate('slack', 'slack-webhook');
    log.error('alert post failed', { id: alert.id, error: errorText(e) });
    throw e;
  }
  await deps.dedup.mark(alert.id, now);
  log.info('alert posted', { id: alert.id, source: alert.source, severity: alert.severity });
  return 'posted';
}

export interface SqsRecordLike {
  readonly messageId: string;
  readonly body: string;
}

export interface BatchResult {
  readonly batchItemFailures: Array<{ itemIdentifier: string }>;
}

/** An SQS batch: each record on its own; only failed records are reported back for redelivery. */
export async function handleAlertBatch(
  deps: AlertDeps,
  records: readonly SqsRecordLike[],
): Promise<BatchResult> {
  const log = redactingLog(deps.log ?? silentLog);
  const failures: Array<{ itemIdentifier: string }> = [];
  // In order: Slack shows alerts in the order they were queued.
  for (const r of records) {
    let alert: AlertMessage;
    try {
      alert = parseAlertMessage(r.body);
    } catch (e) {
      // Malformed: let SQS redeliver it into the DLQ, where it can be inspected.
      log.error('malformed alert message', { messageId: r.messageId, error: errorText(e) });
      failures.push({ itemIdentifier: r.messageId });
      continue;
    }
    try {
      await deliverAlert(deps, alert);
    } catch {
      failures.push({ itemIdentifier: r.messageId });
    }
  }
  return { batchItemFailures: failures };
}

export interface SnsRecordLike {
  readonly Sns: {
    readonly MessageId: string;
    readonly Message: string;
    readonly Subject?: string | null;
    readonly Timestamp?: string;
  };
}

/** A CloudWatch alarm notification as an alert: ALARM → critical, OK → info, else warning. */
export function alarmToAlert(r: SnsRecordLike, now: number): AlertMessage {
  let m: {
    AlarmName?: string;
    NewStateValue?: string;
    NewStateReason?: string;
    AlarmDescription?: string | null;
  } = {};
  try {
    m = JSON.parse(r.Sns.Message) as typeof m;
  } catch {
    m = { AlarmName: r.Sns.Subject ?? 'SNS notification', NewStateReason: r.Sns.Message };
  }
  const name = (m.AlarmName ?? r.Sns.Subject ?? 'alarm').slice(0, 200);
  const state = m.NewStateValue ?? 'UNKNOWN';
  const ts = r.Sns.Timestamp ? Date.parse(r.Sns.Timestamp) : now;
  return parseAlertMessage({
    v: 1,
    id: `alarm-${r.Sns.MessageId}`.slice(0, 128),
    severity: state === 'ALARM' ? 'critical' : state === 'OK' ? 'info' : 'warning',
    source: `cloudwatch:${name}`.slice(0, 256),
    title: `${name} is ${state}`.slice(0, 256),
    detail:
      [m.NewStateReason, m.AlarmDescription].filter(Boolean).join('\n').slice(0, 7900) || '(no reason given)',
    ts: Number.isFinite(ts) ? ts : now,
  });
}

/** SNS records: throws if any post failed (Lambda retries the async invocation; dedup skips the ones posted). */
export async function handleAlarmNotifications(
  deps: AlertDeps,
  records: readonly SnsRecordLike[],
): Promise<DeliveryOutcome[]> {
  const out: DeliveryOutcome[] = [];
  let failed: Error | null = null;
  for (const r of records) {
    try {
      out.push(await deliverAlert(deps, alarmToAlert(r, deps.now())));
    } catch (e) {
      failed = e instanceof Error ? e : new Error(errorText(e));
    }
  }
  if (failed !== null) throw failed;
  return out;
}

// ----------------------------------------------------------------------------- daily summary

/** A journal item as stored (lib/store/dynamo/journal.ts JournalItem: `rec` is JSON). */
export interface JournalRow {
  readonly kind: string;
  readonly ts: number;
  readonly rec: string;
}

export interface SummarySource {
  journalDay(shard: number, day: string): Promise<JournalRow[]>;
  pnlToday(shard: number, now: number): Promise<string>;
}

export interface DailySummary {
  readonly day: string;
  /** Σ realized − fees from the journal's position records (quote currency, exact text). */
  readonly netPnl: string;
  /** The read model's realized P&L today (position snapshots), for cross-checking. */
  readonly snapshotPnl: string;
  readonly trades: number;
  readonly roundTrips: number;
  readonly wins: number;
  /** wins / round trips (0..1); null without a round trip. */
  readonly winRate: number | null;
  /** Largest peak-to-trough fall of the day's cumulative net P&L (≥ 0, exact text). */
  readonly maxDrawdown: string;
  readonly rejections: number;
  readonly rejectionsByReason: Readonly<Record<string, number>>;
}

function dec(v: unknown): Decimal {
  try {
    return new Decimal(typeof v === 'string' || typeof v === 'number' ? v : 0);
  } catch {
    return new Decimal(0);
  }
}

/** Pure: the day's numbers from journal rows (all shards) and the read model's P&L. */
export function buildDailySummary(
  day: string,
  rows: readonly JournalRow[],
  snapshotPnl: string,
): DailySummary {
  let net = new Decimal(0);
  let peak = new Decimal(0);
  let maxDd = new Decimal(0);
  let trades = 0;
  let roundTrips = 0;
  let wins = 0;
  let rejections = 0;
  const byReason: Record<string, number> = {};
  for (const row of [...rows].sort((a, b) => a.ts - b.ts)) {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(row.rec) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (row.kind === 'position') {
      trades++;
      net = net.plus(dec(rec['realized'])).minus(dec(rec['fee']));
      if (net.gt(peak)) peak = net;
      if (peak.minus(net).gt(maxDd)) maxDd = peak.minus(net);
      const trip = rec['roundTrip'] as { net?: unknown } | null | undefined;
      if (trip && typeof trip === 'object') {
        roundTrips++;
        if (dec(trip.net).gt(0)) wins++;
      }
    } else if (row.kind === 'risk') {
      const d = rec['decision'] as { approved?: unknown; reason?: unknown } | undefined;
      if (d && d.approved === false) {
        rejections++;
        const reason = typeof d.reason === 'string' ? d.reason : 'unknown';
        byReason[reason] = (byReason[reason] ?? 0) + 1;
      }
    }
  }
  return {
    day,
    netPnl: net.toString(),
    snapshotPnl,
    trades,
    roundTrips,
    wins,
    winRate: roundTrips === 0 ? null : wins / roundTrips,
    maxDrawdown: maxDd.toString(),
    rejections,
    rejectionsByReason: byReason,
  };
}

export function formatDailySummary(s: DailySummary): string {
  const reasons = Object.entries(s.rejectionsByReason)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  return [
    `:bar_chart: *Daily summary ${s.day.slice(0, 4)}-${s.day.slice(4, 6)}-${s.day.slice(6, 8)} (UTC)*`,
    `P&L (net of fees): ${s.netPnl} · snapshots: ${s.snapshotPnl}`,
    `Trades: ${s.trades} · round trips: ${s.roundTrips} · win rate: ${s.winRate === null ? 'n/a' : `${(s.winRate * 100).toFixed(1)} %`}`,
    `Max drawdown: ${s.maxDrawdown}`,
    `Risk rejections: ${s.rejections}${reasons ? ` (${reasons})` : ''}`,
  ].join('\n');
}

/** Builds the summary of the UTC day containing `forTs` over `shards` and posts it (id-deduplicated). */
export async function postDailySummary(
  deps: AlertDeps,
  source: SummarySource,
  shards: readonly number[],
  forTs: number,
): Promise<DailySummary> {
  const day = utcDay(forTs);
  const rows = (await Promise.all(shards.map((s) => source.journalDay(s, day)))).flat();
  const pnls = await Promise.all(shards.map((s) => source.pnlToday(s, forTs)));
  const summary = buildDailySummary(
    day,
    rows,
    pnls.reduce((a, p) => a.plus(dec(p)), new Decimal(0)).toString(),
  );
  await deliverAlert(deps, {
    v: 1,
    id: `daily-summary-${day}`,
    severity: 'info',
    source: 'daily-summary',
    title: `Daily summary ${day}`,
    detail: formatDailySummary(summary),
    ts: deps.now(),
  });
  return summary;
}
