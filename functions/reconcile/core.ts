/**
 * Reconcile: venue truth (read-only key) vs what DynamoDB believes, every minute and on demand.
 *
 * Per venue:
 * - open orders at the venue whose client id is ours (lib/core/client-order-id.ts, a shard we
 *   own) but unknown to (once older than `orphanGraceMs`) — or terminal in — the order repo are
 *   orphans: recorded, and cancelled
 *   when a cancel-capable client is configured for the venue (the read-only key cannot cancel);
 * - open orders in the repo that the venue does not list, once older than `graceMs` (an order in
 *   flight is not drift), are recorded with what the venue says became of them;
 * - our fills since `now - fillLookbackMs` are put into the fill repo (stored once: the repo's
 *   conditional write), each one that was missing recorded as imported; a fill that disagrees
 *   with the stored one is a conflict;
 * - positions (futures venues by default: a spot "position" is a balance that holds more than the
 *   strategy's inventory) are compared with the sum of the shards' snapshots.
 *
 * Drift score = orphans + orders missing at the venue + position mismatches (+ `haltAt` for any
 * fill conflict: an invariant). Imported fills heal themselves and do not count; an unreachable
 * venue is recorded and alerted, not scored. Score ≥ `reduceAt` → REDUCING on every shard that is
 * ACTIVE (compare-and-set on the state's version); score ≥ `haltAt` → HALTED via the kill flag
 * (`by: reconcile`), which only an audited resume clears. Any finding sends one alert per run.
 */
import { randomUUID } from 'node:crypto';
import { parseClientOrderId } from '#core/client-order-id.ts';
import { TradewindError } from '#core/errors.ts';
import type { VenueId } from '#core/instrument.ts';
import { isTerminal } from '#core/order.ts';
import type { Fill } from '#core/trading.ts';
import type { EngineStatePatch } from '#store/dynamo/engine-state.ts';
import type { OrderRecord } from '#store/dynamo/orders.ts';
import type { PositionSnapshot } from '#store/dynamo/positions.ts';
import type { AlertMessage, EngineStateRecord, EngineStateRepo, Queue } from '#store/ports.ts';
import type { VenueOrderState, VenuePosition, VenueTrading } from '#venues/trading.ts';
import {
  errorText,
  redactingLog,
  resolveVenue,
  silentLog,
  withTimeout,
  type LogPort,
  type VenueMap,
} from '../shared/ports.ts';
import type { DriftRecord, DriftRepo } from './drift-repo.ts';

export interface ReconcileOrderRepo {
  get(clientOrderId: string): Promise<OrderRecord | null>;
  openOrders(shard: number): Promise<OrderRecord[]>;
}

export interface ReconcileFillRepo {
  putFill(fill: Fill, shard?: number): Promise<'stored' | 'duplicate'>;
}

export interface ReconcilePositionRepo {
  list(shard: number): Promise<PositionSnapshot[]>;
}

/** The state repo plus compare-and-set (DynamoEngineStateRepo satisfies it). */
export interface ReconcileStateRepo extends EngineStateRepo {
  update(shard: number, expectedVersion: number, patch: EngineStatePatch): Promise<EngineStateRecord>;
}

export interface ReconcileThresholds {
  /** @default 1 */
  readonly reduceAt: number;
  /** @default 3 */
  readonly haltAt: number;
}

export interface ReconcileDeps {
  readonly shards: readonly number[];
  /** Venue → client with the read-only key. */
  readonly venues: VenueMap;
  /** Venue → client able to cancel (cancel-only key); orphans at a venue without one are only reported. */
  readonly cancellers?: VenueMap;
  readonly orders: ReconcileOrderRepo;
  readonly fills: ReconcileFillRepo;
  readonly positions: ReconcilePositionRepo;
  readonly state: ReconcileStateRepo;
  readonly drift: DriftRepo;
  readonly alerts: Queue<AlertMessage>;
  readonly now: () => number;
  readonly log?: LogPort;
  readonly thresholds?: ReconcileThresholds;
  /** Symbols to ask for fills even when nothing is open there now. @default none */
  readonly symbols?: Partial<Record<VenueId, readonly string[]>>;
  /** @default 10 min (a 1-minute schedule overlaps ten times: a missed run loses nothing) */
  readonly fillLookbackMs?: number;
  /** @default 30 s */
  readonly graceMs?: number;
  /**
   * An open order of ours at the venue that the order repo does not know yet is not an orphan
   * while younger than this (by the venue's timestamp): the engine's read model is written just
   * after the venue acknowledges, and a listing can fall in between. @default 10 s
   */
  readonly orphanGraceMs?: number;
  /** @default futures venues */
  readonly comparePositions?: (venue: VenueId) => boolean;
  /** @default 20 s per venue */
  readonly venueTimeoutMs?: number;
}

export interface VenueReconcileReport {
  readonly ok: boolean;
  readonly error?: string;
  readonly openAtVenue: number;
  readonly orphans: ReadonlyArray<{
    clientOrderId: string;
    symbol: string;
    cancelled: boolean;
    error?: string;
  }>;
  readonly missingAtVenue: readonly string[];
  readonly fillsImported: number;
  readonly fillsSeen: number;
  readonly positionMismatches: ReadonlyArray<{ symbol: string; venueLots: number; storedLots: number }>;
}

export interface ReconcileReport {
  readonly runId: string;
  readonly ts: number;
  readonly venues: Readonly<Partial<Record<VenueId, VenueReconcileReport>>>;
  readonly score: number;
  readonly action: 'none' | 'REDUCING' | 'HALTED';
  readonly drift: number;
  readonly alerted: boolean;
}

const FUTURES: readonly VenueId[] = ['binance-futures', 'kraken-futures'];

export async function reconcile(deps: ReconcileDeps, runId: string = randomUUID()): Promise<ReconcileReport> {
  const log = redactingLog(deps.log ?? silentLog);
  const ts = deps.now();
  const thresholds = deps.thresholds ?? { reduceAt: 1, haltAt: 3 };
  const drift: DriftRecord[] = [];
  const venues: Partial<Record<VenueId, VenueReconcileReport>> = {};
  let score = 0;

  // The store side once for all venues.
  const [repoOpen, snapshots] = await Promise.all([
    Promise.all(deps.shards.map((s) => deps.orders.openOrders(s))).then((x) => x.flat()),
    Promise.all(deps.shards.map((s) => deps.positions.list(s))).then((x) => x.flat()),
  ]);

  for (const [venue, source] of Object.entries(deps.venues) as Array<
    [VenueId, NonNullable<VenueMap[VenueId]>]
  >) {
    const ctx: VenueCtx = {
      deps,
      log,
      runId,
      ts,
      venue,
      drift,
      repoOpen,
      snapshots,
      haltAt: thresholds.haltAt,
    };
    try {
      const r = await withTimeout(
        reconcileVenue(ctx, await resolveVenue(source)),
        deps.venueTimeoutMs ?? 20_000,
        `${venue} reconcile`,
      );
      venues[venue] = r.report;
      score += r.score;
    } catch (e) {
      const error = errorText(e);
      log.error('reconcile: venue unreachable', { venue, error });
      drift.push({ runId, ts, venue, kind: 'venue-unreachable', detail: error });
      venues[venue] = {
        ok: false,
        error,
        openAtVenue: 0,
        orphans: [],
        missingAtVenue: [],
        fillsImported: 0,
        fillsSeen: 0,
        positionMismatches: [],
      };
    }
  }

  await deps.drift.record(drift);
  const action = score >= thresholds.haltAt ? 'HALTED' : score >= thresholds.reduceAt ? 'REDUCING' : 'none';
  if (action === 'HALTED') await halt(deps, log, runId, ts, score);
  else if (action === 'REDUCING') await reduce(deps, log);

  let alerted = false;
  if (drift.length > 0) {
    const severity =
      action === 'none'
        ? drift.some((d) => d.kind === 'venue-unreachable')
          ? 'warning'
          : 'info'
        : 'critical';
    await deps.alerts.send(
      {
        v: 1,
        id: `reconcile-${runId}`,
        severity,
        source: 'reconcile',
        title:
          action === 'none'
            ? `Reconcile: ${drift.length} finding(s)`
            : `Reconcile: drift score ${score} → ${action}`,
        detail: summarize(drift).slice(0, 7900),
        ts,
      },
      `reconcile-${runId}`,
    );
    alerted = true;
  }
  log.info('reconcile done', { runId, score, action, drift: drift.length });
  return { runId, ts, venues, score, action, drift: drift.length, alerted };
}

interface VenueCtx {
  readonly deps: ReconcileDeps;
  readonly log: LogPort;
  readonly runId: string;
  readonly ts: number;
  readonly venue: VenueId;
  readonly drift: DriftRecord[];
  readonly repoOpen: readonly OrderRecord[];
  readonly snapshots: readonly PositionSnapshot[];
  readonly haltAt: number;
}

function ours(deps: ReconcileDeps, clientOrderId: string): number | null {
  const parts = parseClientOrderId(clientOrderId);
  return parts !== null && deps.shards.includes(parts.shard) ? parts.shard : null;
}

async function reconcileVenue(
  ctx: VenueCtx,
  venue: VenueTrading,
): Promise<{ report: VenueReconcileReport; score: number }> {
  const { deps, runId, ts } = ctx;
  const v = ctx.venue;
  let score = 0;
  const [atVenue, venuePositions] = await Promise.all([
    venue.openOrders(),
    (deps.comparePositions ?? ((x: VenueId) => FUTURES.includes(x)))(v)
      ? venue.positions()
      : Promise.resolve(null),
  ]);

  // Orders: ours at the venue vs the repo.
  const orphans: Array<{ clientOrderId: string; symbol: string; cancelled: boolean; error?: string }> = [];
  const venueIds = new Set(atVenue.map((o) => o.clientOrderId));
  for (const o of atVenue) {
    if (ours(deps, o.clientOrderId) === null) continue;
    const known = await deps.orders.get(o.clientOrderId);
    if (known !== null && !isTerminal(known.state)) continue;
    if (known === null && ts - o.ts < (deps.orphanGraceMs ?? 10_000)) continue;
    score += 1;
    const orphan = await cancelOrphan(ctx, o);
    orphans.push(orphan);
    ctx.drift.push({
      runId,
      ts,
      venue: v,
      kind: 'orphan-order',
      symbol: o.symbol,
      clientOrderId: o.clientOrderId,
      detail: `${known === null ? 'unknown to the order repo' : `repo says ${known.state}`}; venue says ${o.status}; ${orphan.cancelled ? 'cancelled' : `NOT cancelled: ${orphan.error ?? ''}`}`,
    });
  }
  const missingAtVenue: string[] = [];
  for (const r of ctx.repoOpen) {
    if (r.intent.venue !== v || venueIds.has(r.intent.clientOrderId)) continue;
    if (ts - r.intent.createdTs < (deps.graceMs ?? 30_000)) continue;
    let what = 'not open at the venue';
    try {
      const q = await venue.queryOrder(r.intent.symbol, r.intent.clientOrderId);
      what =
        q === null ? 'the venue has never seen it' : `venue says ${q.status} (filled ${q.filledLots} lots)`;
    } catch (e) {
      what = `not open at the venue; query failed: ${errorText(e)}`;
    }
    score += 1;
    missingAtVenue.push(r.intent.clientOrderId);
    ctx.drift.push({
      runId,
      ts,
      venue: v,
      kind: 'order-missing-at-venue',
      symbol: r.intent.symbol,
      clientOrderId: r.intent.clientOrderId,
      detail: `repo says ${r.state}; ${what}`,
    });
  }

  // Fills: import ours the repo lacks (stored once, whatever the overlap between runs).
  const symbols = new Set<string>([
    ...(deps.symbols?.[v] ?? []),
    ...atVenue.map((o) => o.symbol),
    ...(venuePositions ?? []).map((p) => p.symbol),
    ...ctx.snapshots.filter((s) => s.venue === v).map((s) => s.symbol),
    ...ctx.repoOpen.filter((r) => r.intent.venue === v).map((r) => r.intent.symbol),
  ]);
  let fillsImported = 0;
  let fillsSeen = 0;
  for (const symbol of symbols) {
    const fills = await venue.fillsSince(symbol, ts - (deps.fillLookbackMs ?? 10 * 60_000));
    for (const f of fills) {
      const shard = ours(deps, f.clientOrderId);
      if (shard === null) continue; // not an engine order (manual trade, another system)
      fillsSeen++;
      try {
        if ((await deps.fills.putFill(f, shard)) === 'stored') {
          fillsImported++;
          ctx.drift.push({
            runId,
            ts,
            venue: v,
            kind: 'missing-fill',
            symbol,
            clientOrderId: f.clientOrderId,
            detail: `trade ${f.tradeId} ${f.side} ${f.qtyLots} lots @ ${f.priceTicks} ticks imported`,
          });
        }
      } catch (e) {
        if (!(e instanceof TradewindError && e.code === 'FILL_CONFLICT')) throw e;
        score += ctx.haltAt; // the store contradicts the venue about money: an invariant
        ctx.drift.push({
          runId,
          ts,
          venue: v,
          kind: 'fill-conflict',
          symbol,
          clientOrderId: f.clientOrderId,
          detail: errorText(e),
        });
      }
    }
  }

  // Positions (futures): the venue's vs the sum of the shards' snapshots.
  const positionMismatches: Array<{ symbol: string; venueLots: number; storedLots: number }> = [];
  if (venuePositions !== null) {
    const stored = new Map<string, number>();
    for (const s of ctx.snapshots)
      if (s.venue === v) stored.set(s.symbol, (stored.get(s.symbol) ?? 0) + s.qtyLots);
    const atV = new Map<string, number>(venuePositions.map((p: VenuePosition) => [p.symbol, p.qtyLots]));
    for (const symbol of new Set([...stored.keys(), ...atV.keys()])) {
      const venueLots = atV.get(symbol) ?? 0;
      const storedLots = stored.get(symbol) ?? 0;
      if (venueLots === storedLots) continue;
      score += 1;
      positionMismatches.push({ symbol, venueLots, storedLots });
      ctx.drift.push({
        runId,
        ts,
        venue: v,
        kind: 'position-mismatch',
        symbol,
        detail: `venue ${venueLots} lots, stored snapshots ${storedLots} lots`,
      });
    }
  }

  return {
    report: {
      ok: true,
      openAtVenue: atVenue.length,
      orphans,
      missingAtVenue,
      fillsImported,
      fillsSeen,
      positionMismatches,
    },
    score,
  };
}

async function cancelOrphan(
  ctx: VenueCtx,
  o: VenueOrderState,
): Promise<{ clientOrderId: string; symbol: string; cancelled: boolean; error?: string }> {
  const base = { clientOrderId: o.clientOrderId, symbol: o.symbol };
  const source = ctx.deps.cancellers?.[ctx.venue];
  if (source === undefined)
    return { ...base, cancelled: false, error: 'no cancel-capable key configured for this venue' };
  try {
    const r = await (await resolveVenue(source)).cancel(o.symbol, o.clientOrderId);
    if (r.kind === 'ok') {
      ctx.log.warn('reconcile: orphan cancelled', { venue: ctx.venue, clientOrderId: o.clientOrderId });
      return { ...base, cancelled: true };
    }
    return {
      ...base,
      cancelled: false,
      error: r.kind === 'rejected' ? `${r.code}: ${r.message}` : `unknown: ${r.reason}`,
    };
  } catch (e) {
    return { ...base, cancelled: false, error: errorText(e) };
  }
}

async function halt(
  deps: ReconcileDeps,
  log: LogPort,
  runId: string,
  ts: number,
  score: number,
): Promise<void> {
  for (const shard of deps.shards) {
    await deps.state.setKill(shard, {
      reason: `reconcile run ${runId}: drift score ${score}`,
      by: 'reconcile',
      ts,
    });
  }
  log.error('reconcile: HALTED', { runId, score });
}

async function reduce(deps: ReconcileDeps, log: LogPort): Promise<void> {
  for (const shard of deps.shards) {
    // Compare-and-set; one retry on a concurrent heartbeat. Never lowers HALTED or a kill.
    for (let attempt = 0; attempt < 2; attempt++) {
      const s = await deps.state.load(shard);
      if (s.kill !== null || s.tradingState !== 'ACTIVE') break;
      try {
        await deps.state.update(shard, s.version, { tradingState: 'REDUCING' });
        log.warn('reconcile: REDUCING', { shard });
        break;
      } catch (e) {
        if (!(e instanceof TradewindError && e.code === 'VERSION_CONFLICT') || attempt === 1) throw e;
      }
    }
  }
}

function summarize(drift: readonly DriftRecord[]): string {
  return drift
    .slice(0, 40)
    .map(
      (d) =>
        `• ${d.venue} ${d.kind}${d.symbol ? ` ${d.symbol}` : ''}${d.clientOrderId ? ` ${d.clientOrderId}` : ''}: ${d.detail}`,
    )
    .concat(drift.length > 40 ? [`… and ${drift.length - 40} more`] : [])
    .join('\n');
}
