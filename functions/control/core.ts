/**
 * The control API's core: kill, resume and the read routes, as a pure function of a request and
 * ports. The Lambda handler (API Gateway, IAM) and the local server (`npm start`, bearer token)
 * are both thin adapters over `handleControl`, so the kill path tested locally is the deployed one.
 *
 * Kill (DESIGN.md §4) does three things and reports each one, never hiding a failure:
 *   1. the kill flag on every configured shard (conditional write: the first reason wins; the
 *      audit record is written by the repo before the flag),
 *   2. a `kill` control message to the engine (idempotency key = the kill id, so a retried
 *      request never produces two),
 *   3. cancel at every configured venue directly with the cancel-only key, so the kill works
 *      when the engine is dead: every open order except our protective stops (by the read model),
 *      which keep guarding the positions this key cannot close; a live engine flattens and cancels
 *      them on its kill message, and a restarted one starts HALTED with them still in place.
 * Steps 2 and 3 run even when step 1 fails: stopping the bleeding is never wrong, and the answer
 * says the flag was NOT set (500) so the operator retries.
 *
 * Status codes: 200 everything done · 400 bad input (the reason is in `error`) · 403 no
 * authenticated identity · 404 unknown route · 405 wrong method · 409 resume refused by the
 * stage's rules or nothing to resume · 500 the kill flag / state write failed · 502 the flag is
 * set but the engine message or a venue's cancel-all failed (per-venue detail in the body).
 */
import { randomUUID } from 'node:crypto';
import type { VenueId } from '#core/instrument.ts';
import { cancelAllBut } from '#venues/cancel-all-but.ts';
import type { AuditRecord } from '#store/dynamo/engine-state.ts';
import type { ShardStatus } from '#store/dynamo/control-read.ts';
import type { OrderRecord } from '#store/dynamo/orders.ts';
import type { PositionSnapshot } from '#store/dynamo/positions.ts';
import { MAX_ID_LENGTH } from '#store/messages.ts';
import type {
  AlertMessage,
  ControlMessage,
  EngineStateRecord,
  EngineStateRepo,
  Queue,
} from '#store/ports.ts';
import { redactKnownSecrets } from '#store/redact.ts';
import {
  errorText,
  redactingLog,
  resolveVenue,
  silentLog,
  withTimeout,
  type LogPort,
  type VenueMap,
} from '../shared/ports.ts';

// ------------------------------------------------------------------------------------ stage rules

/**
 * What a resume needs, per stage. A "trip" is any kill audit record (an operator's kill, a risk
 * trip, an alarm): the cooldown counts from the most recent one, so a strategy that keeps tripping
 * cannot be resumed in a loop.
 */
export interface ResumeRules {
  /** The body must carry `confirm: true`. */
  readonly requireConfirm: boolean;
  /** No kill audit record (trip) within this many ms before the resume. */
  readonly cooldownMs: number;
  /** The reason must be at least this long (a real sentence in the audit trail, not "ok"). */
  readonly minReasonLength: number;
}

export type StageId = 'local' | 'staging' | 'prod';

export const RESUME_RULES: Readonly<Record<StageId, ResumeRules>> = {
  local: { requireConfirm: true, cooldownMs: 0, minReasonLength: 1 },
  staging: { requireConfirm: true, cooldownMs: 60_000, minReasonLength: 1 },
  prod: { requireConfirm: true, cooldownMs: 15 * 60_000, minReasonLength: 10 },
};

export function stageRules(stage: string): ResumeRules {
  return stage in RESUME_RULES ? RESUME_RULES[stage as StageId] : RESUME_RULES.prod; // unknown = strictest
}

// ------------------------------------------------------------------------------------------ ports

/** The state repo plus its audit trail (DynamoEngineStateRepo satisfies it). */
export interface ControlStateRepo extends EngineStateRepo {
  auditTrail(shard: number, limit?: number): Promise<AuditRecord[]>;
}

/** The read side (lib/store/dynamo/control-read.ts ControlReadModel satisfies it). */
export interface ControlReads {
  status(shard: number, now: number, staleMs?: number): Promise<ShardStatus>;
  openOrders(shard: number): Promise<OrderRecord[]>;
  positions(shard: number): Promise<PositionSnapshot[]>;
  pnlToday(shard: number, now: number): Promise<string>;
}

export interface ControlDeps {
  readonly stage: string;
  readonly rules?: ResumeRules;
  /** Shards the kill applies to and the reads cover. */
  readonly shards: readonly number[];
  readonly state: ControlStateRepo;
  readonly reads: ControlReads;
  readonly control: Queue<ControlMessage>;
  /** A critical alert on every kill (optional: the local server has no alerter). */
  readonly alerts?: Queue<AlertMessage>;
  /** Venue → its trading client with the cancel-only key. */
  readonly venues: VenueMap;
  readonly now: () => number;
  readonly log?: LogPort;
  /** Bound on one venue's cancel-all. @default 10000 */
  readonly venueTimeoutMs?: number;
  /** New ids for kills without a client-given idempotency key. @default randomUUID */
  readonly newId?: () => string;
}

// -------------------------------------------------------------------------------- request/answer

export interface ControlRequest {
  readonly method: string;
  /** `/kill`, `/status`, … (a stage prefix or trailing slash is tolerated). */
  readonly path: string;
  /** Raw body text (JSON) or null. */
  readonly body: string | null;
  /** The authenticated caller (IAM user ARN, `local:operator`); null = not authenticated. */
  readonly identity: string | null;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** An `Idempotency-Key` header, when the client sent one. */
  readonly idempotencyKey?: string | undefined;
}

export interface ControlResponse {
  readonly statusCode: number;
  readonly body: Record<string, unknown>;
}

export type StepResult = { readonly ok: true } | { readonly ok: false; readonly error: string };
export type VenueCancelResult =
  | {
      readonly ok: true;
      readonly cancelled: number;
      /** Our protective stops left resting to guard the positions the kill cannot close from here. */
      readonly keptProtectiveStops?: number;
    }
  | { readonly ok: false; readonly error: string };

export interface KillReport {
  readonly id: string;
  readonly by: string;
  readonly reason: string;
  readonly ts: number;
  /** Per shard: the flag now stored (the first reason wins) or the write error. */
  readonly shards: ReadonlyArray<
    | {
        readonly shard: number;
        readonly ok: true;
        readonly tradingState: EngineStateRecord['tradingState'];
        readonly kill: EngineStateRecord['kill'];
        /** True when a kill was already set: this request's reason is audited but not the flag's. */
        readonly alreadyKilled: boolean;
      }
    | { readonly shard: number; readonly ok: false; readonly error: string }
  >;
  readonly engineNotified: StepResult;
  readonly alerted?: StepResult;
  readonly venues: Readonly<Partial<Record<VenueId, VenueCancelResult>>>;
}

const MAX_REASON = 1024;
const MAX_BY = 256;
const ID_PATTERN = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]+$/;
const ROUTES: Readonly<Record<string, 'GET' | 'POST'>> = {
  kill: 'POST',
  resume: 'POST',
  status: 'GET',
  positions: 'GET',
  orders: 'GET',
  pnl: 'GET',
};

class BadRequest extends Error {}

function answer(statusCode: number, body: Record<string, unknown>): ControlResponse {
  // Whatever a core answers passes through the scrubber: a venue error echoing a key never leaves.
  return { statusCode, body: redactKnownSecrets(body) };
}

function routeOf(path: string): string {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  return parts[parts.length - 1] ?? '';
}

/** The one entry point: authenticates, routes, validates, acts. Never throws. */
export async function handleControl(deps: ControlDeps, req: ControlRequest): Promise<ControlResponse> {
  const log = redactingLog(deps.log ?? silentLog);
  const route = routeOf(req.path);
  const method = ROUTES[route];
  if (method === undefined) return answer(404, { error: `no route ${req.method} ${req.path}` });
  if (req.identity === null || req.identity.trim() === '') {
    log.warn('control request without an authenticated identity', { route });
    return answer(403, { error: 'forbidden: no authenticated identity' });
  }
  if (req.method.toUpperCase() !== method) {
    return answer(405, { error: `${route} takes ${method}, not ${req.method}` });
  }
  const by = req.identity.slice(0, MAX_BY);
  try {
    switch (route) {
      case 'kill':
        return await kill(deps, log, by, parseKill(req));
      case 'resume':
        return await resume(deps, log, by, parseResume(req, deps.rules ?? stageRules(deps.stage)));
      default:
        return await read(deps, route, shardsOf(deps, req));
    }
  } catch (e) {
    if (e instanceof BadRequest) return answer(400, { error: e.message });
    log.error('control request failed', { route, error: errorText(e) });
    return answer(500, { error: `${route} failed: ${errorText(e)}` });
  }
}

// ------------------------------------------------------------------------------------ validation

function jsonObject(body: string | null): Record<string, unknown> {
  if (body === null || body.trim() === '') throw new BadRequest('body must be a JSON object');
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new BadRequest('body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new BadRequest('body must be a JSON object');
  return v as Record<string, unknown>;
}

function onlyFields(o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k))
      throw new BadRequest(`field "${k}" is not allowed (allowed: ${allowed.join(', ')})`);
  }
}

function reasonOf(o: Record<string, unknown>, minLength: number): string {
  const r = o['reason'];
  if (r === undefined) throw new BadRequest('field "reason" is missing');
  if (typeof r !== 'string') throw new BadRequest('field "reason" must be a string');
  const t = r.trim();
  if (t.length === 0) throw new BadRequest('field "reason" must not be empty');
  if (t.length < minLength) throw new BadRequest(`field "reason" must be at least ${minLength} characters`);
  if (t.length > MAX_REASON) throw new BadRequest(`field "reason" must be at most ${MAX_REASON} characters`);
  return t;
}

function idOf(o: Record<string, unknown>, header: string | undefined): string | undefined {
  const raw = o['id'] ?? header;
  if (raw === undefined) return undefined;
  if (
    typeof raw !== 'string' ||
    raw.length === 0 ||
    raw.length > MAX_ID_LENGTH - 8 ||
    !ID_PATTERN.test(raw)
  ) {
    throw new BadRequest(
      `idempotency key must be 1..${MAX_ID_LENGTH - 8} letters, digits or ASCII punctuation`,
    );
  }
  return raw;
}

interface KillInput {
  readonly reason: string;
  readonly id: string | undefined;
}

function parseKill(req: ControlRequest): KillInput {
  const o = jsonObject(req.body);
  onlyFields(o, ['reason', 'id']);
  return { reason: reasonOf(o, 1), id: idOf(o, req.idempotencyKey) };
}

interface ResumeInput extends KillInput {
  readonly rules: ResumeRules;
}

function parseResume(req: ControlRequest, rules: ResumeRules): ResumeInput {
  const o = jsonObject(req.body);
  onlyFields(o, ['confirm', 'reason', 'id']);
  if (rules.requireConfirm && o['confirm'] !== true) {
    throw new BadRequest('field "confirm" must be true (resume clears the kill switch and allows trading)');
  }
  if (o['confirm'] !== undefined && typeof o['confirm'] !== 'boolean') {
    throw new BadRequest('field "confirm" must be a boolean');
  }
  return { reason: reasonOf(o, rules.minReasonLength), id: idOf(o, req.idempotencyKey), rules };
}

function shardsOf(deps: ControlDeps, req: ControlRequest): readonly number[] {
  const raw = req.query?.['shard'];
  if (raw === undefined || raw === '') return deps.shards;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !deps.shards.includes(n)) {
    throw new BadRequest(`query "shard" must be one of ${deps.shards.join(', ')}`);
  }
  return [n];
}

// ------------------------------------------------------------------------------------------ kill

async function kill(deps: ControlDeps, log: LogPort, by: string, input: KillInput): Promise<ControlResponse> {
  const ts = deps.now();
  const id = input.id ?? (deps.newId ?? randomUUID)();
  const flag = { reason: input.reason, by, ts };
  log.warn('kill requested', { id, by, reason: input.reason });

  // 1. The flag first: it is what a restarting engine reads.
  const shards = await Promise.all(
    deps.shards.map(async (shard): Promise<KillReport['shards'][number]> => {
      try {
        const s = await deps.state.setKill(shard, flag);
        const alreadyKilled =
          s.kill !== null && (s.kill.ts !== ts || s.kill.by !== by || s.kill.reason !== flag.reason);
        return { shard, ok: true, tradingState: s.tradingState, kill: s.kill, alreadyKilled };
      } catch (e) {
        log.error('kill flag write failed', { shard, error: errorText(e) });
        return { shard, ok: false, error: errorText(e) };
      }
    }),
  );

  // 2 and 3 concurrently: the engine message and the venues do not depend on each other.
  const message: ControlMessage = { v: 1, type: 'kill', id: `kill-${id}`, reason: input.reason, by, ts };
  const notify = step(() => deps.control.send(message, message.id));
  const alert =
    deps.alerts === undefined
      ? undefined
      : step(() =>
          (deps.alerts as Queue<AlertMessage>).send(
            {
              v: 1,
              id: `kill-alert-${id}`,
              severity: 'critical',
              source: 'control',
              title: 'Kill switch engaged',
              detail: `by ${by}: ${input.reason}`,
              ts,
            },
            `kill-alert-${id}`,
          ),
        );
  const venues = protectiveStops(deps, log).then((keep) => cancelEverywhere(deps, log, keep));
  const [engineNotified, alerted, venueResults] = await Promise.all([notify, alert, venues]);

  const report: KillReport = {
    id,
    by,
    reason: input.reason,
    ts,
    shards,
    engineNotified,
    ...(alerted === undefined ? {} : { alerted }),
    venues: venueResults,
  };
  const flagOk = shards.every((s) => s.ok);
  const venuesOk = Object.values(venueResults).every((v) => v.ok);
  const status = !flagOk ? 500 : engineNotified.ok && venuesOk ? 200 : 502;
  const summary = !flagOk
    ? 'KILL FLAG NOT SET on every shard: retry the kill; venues were still told to cancel'
    : status === 200
      ? 'killed: flag set, engine notified, every venue cancelled'
      : 'kill flag set, but some steps failed: see engineNotified and venues';
  log[status === 200 ? 'warn' : 'error']('kill done', {
    id,
    status,
    report: report as unknown as Record<string, unknown>,
  });
  return answer(status, { ok: status === 200, summary, ...report });
}

async function step(run: () => Promise<void>): Promise<StepResult> {
  try {
    await run();
    return { ok: true };
  } catch (e) {
    return { ok: false, error: errorText(e) };
  }
}

/**
 * Our protective stops resting at the venues, by the read model. This λ holds cancel-only keys: it
 * cannot flatten a position, only the engine can. A kill that cancelled the stops too would leave
 * the positions open AND unguarded while the engine is down; so the stops stay (they can only
 * reduce a position), everything else is cancelled, and a live engine flattens and cancels the rest
 * when its kill message arrives. If the read model cannot be read, everything is cancelled.
 */
async function protectiveStops(deps: ControlDeps, log: LogPort): Promise<ReadonlySet<string>> {
  try {
    const open = (await Promise.all(deps.shards.map((s) => deps.reads.openOrders(s)))).flat();
    return new Set(
      open.filter((o) => o.intent.purpose === 'protective-stop').map((o) => o.intent.clientOrderId),
    );
  } catch (e) {
    log.error('read model unreadable: the kill cancels protective stops too', { error: errorText(e) });
    return new Set();
  }
}

/**
 * Cancels at every configured venue, concurrently (one venue's failure never hides another's
 * result): cancel-all, or, when there are protective stops to keep, every other open order one by
 * one.
 */
export async function cancelEverywhere(
  deps: Pick<ControlDeps, 'venues' | 'venueTimeoutMs'> & { log?: LogPort },
  log: LogPort = deps.log ?? silentLog,
  keep: ReadonlySet<string> = new Set(),
): Promise<Partial<Record<VenueId, VenueCancelResult>>> {
  const timeout = deps.venueTimeoutMs ?? 10_000;
  const entries = Object.entries(deps.venues) as Array<[VenueId, NonNullable<VenueMap[VenueId]>]>;
  const results = await Promise.all(
    entries.map(async ([venue, source]): Promise<[VenueId, VenueCancelResult]> => {
      try {
        const { cancelled, kept } = await withTimeout(
          resolveVenue(source).then((t) => cancelAllBut(t, keep)),
          timeout,
          `${venue} cancel-all`,
        );
        log.warn('venue cancel-all done', { venue, cancelled, keptProtectiveStops: kept });
        return [
          venue,
          kept > 0 ? { ok: true, cancelled, keptProtectiveStops: kept } : { ok: true, cancelled },
        ];
      } catch (e) {
        log.error('venue cancel-all failed', { venue, error: errorText(e) });
        return [venue, { ok: false, error: errorText(e) }];
      }
    }),
  );
  return Object.fromEntries(results);
}

// ---------------------------------------------------------------------------------------- resume

async function resume(
  deps: ControlDeps,
  log: LogPort,
  by: string,
  input: ResumeInput,
): Promise<ControlResponse> {
  const now = deps.now();
  const states = await Promise.all(deps.shards.map((s) => deps.state.load(s)));
  const killed = states.filter((s) => s.kill !== null);
  if (killed.length === 0)
    return answer(409, { error: 'not killed: nothing to resume', shards: deps.shards });

  if (input.rules.cooldownMs > 0) {
    const trails = await Promise.all(killed.map((s) => deps.state.auditTrail(s.shard, 50)));
    const lastTrip = Math.max(
      0,
      ...trails.flat().flatMap((a) => (a.action === 'kill' ? [a.ts] : [])),
      ...killed.map((s) => s.kill?.ts ?? 0),
    );
    const waitMs = lastTrip + input.rules.cooldownMs - now;
    if (waitMs > 0) {
      log.warn('resume refused: cooldown', { by, lastTrip, waitMs });
      return answer(409, {
        error: `resume refused by the ${deps.stage} rules: the last trip was ${Math.round((now - lastTrip) / 1000)} s ago; wait ${Math.ceil(waitMs / 1000)} s more (cooldown ${input.rules.cooldownMs / 60_000} min)`,
        lastTripTs: lastTrip,
        retryAfterMs: waitMs,
      });
    }
  }

  const id = input.id ?? (deps.newId ?? randomUUID)();
  const shards = await Promise.all(
    killed.map(async (s) => {
      try {
        const after = await deps.state.clearKill(s.shard, by, input.reason, now);
        return { shard: s.shard, ok: true as const, tradingState: after.tradingState, previousKill: s.kill };
      } catch (e) {
        return { shard: s.shard, ok: false as const, error: errorText(e) };
      }
    }),
  );
  const message: ControlMessage = {
    v: 1,
    type: 'resume',
    id: `resume-${id}`,
    reason: input.reason,
    by,
    ts: now,
  };
  const engineNotified = await step(() => deps.control.send(message, message.id));
  const cleared = shards.every((s) => s.ok);
  const status = !cleared ? 500 : engineNotified.ok ? 200 : 502;
  log.warn('resume done', { id, by, reason: input.reason, status });
  return answer(status, {
    ok: status === 200,
    summary: !cleared
      ? 'resume NOT complete: some shards are still killed'
      : engineNotified.ok
        ? 'resumed: kill cleared (audited), engine notified'
        : 'kill cleared (audited) but the engine was not notified: it picks the state up at its next read',
    id,
    by,
    reason: input.reason,
    ts: now,
    shards,
    engineNotified,
  });
}

// ----------------------------------------------------------------------------------------- reads

async function read(deps: ControlDeps, route: string, shards: readonly number[]): Promise<ControlResponse> {
  const now = deps.now();
  switch (route) {
    case 'status': {
      const all = await Promise.all(shards.map((s) => deps.reads.status(s, now)));
      return answer(200, {
        stage: deps.stage,
        now,
        venues: Object.keys(deps.venues),
        shards: all.map((s) => ({
          shard: s.state.shard,
          tradingState: s.state.tradingState,
          kill: s.state.kill,
          engineAlive: s.engineAlive,
          heartbeatTs: s.state.heartbeatTs,
          epoch: s.state.epoch,
          lease: s.lease,
        })),
      });
    }
    case 'positions': {
      const all = await Promise.all(shards.map((s) => deps.reads.positions(s)));
      return answer(200, { now, positions: all.flat() });
    }
    case 'orders': {
      const all = await Promise.all(shards.map((s) => deps.reads.openOrders(s)));
      return answer(200, {
        now,
        orders: all.flat().map((o) => ({ shard: o.shard, state: o.state, ...o.intent })),
      });
    }
    default: {
      const all = await Promise.all(
        shards.map(async (s) => ({ shard: s, realizedToday: await deps.reads.pnlToday(s, now) })),
      );
      return answer(200, { now, day: new Date(now).toISOString().slice(0, 10), pnl: all });
    }
  }
}
