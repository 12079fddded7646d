/**
 * Crash recovery: what the journal says happened, rebuilt, and then squared with the venue — the
 * source of truth. The journal is written without waiting on the hot path, so the last moments
 * before a crash may be missing from it; the venue is asked about everything that could have
 * happened since (orders with our client-id format, trades on our account), so that after
 * reconciliation there is no duplicate order (ids are never reused: a new lease epoch), no orphan
 * order (ours left open are cancelled), and no lost fill (venue trades not on the record are
 * imported, on the record).
 */
import type { OrderState } from '#core/order.ts';
import type { Fill, OrderIntent } from '#core/trading.ts';
import type { JournalRecord } from './journal.ts';

export interface RecoveredOrder {
  readonly intent: OrderIntent;
  /** Every state the journal saw, in order (the last is the latest known). */
  readonly states: OrderState[];
  readonly venueOrderId: string | null;
}

export interface RecoveredJournal {
  readonly orders: Map<string, RecoveredOrder>;
  /** Fills on record, by venue trade id, in journal order. */
  readonly fills: Map<string, Fill>;
  /** The earliest and latest record timestamps (ms); NaN when the journal is empty. */
  readonly firstTs: number;
  readonly lastTs: number;
  readonly records: number;
  /** The kill flag events seen (the state store is the authority; this is for the report). */
  readonly kills: number;
}

const INTENT_FIELDS = [
  'clientOrderId',
  'symbol',
  'side',
  'type',
  'tif',
  'qtyLots',
  'reduceOnly',
  'purpose',
] as const;

/** The intent an order record of the journal carries (every order record does); null when incomplete. */
export function intentOf(r: JournalRecord, venue: OrderIntent['venue']): OrderIntent | null {
  for (const f of INTENT_FIELDS) if (r[f] === undefined) return null;
  return {
    clientOrderId: r.clientOrderId as string,
    venue,
    symbol: r.symbol as string,
    side: r.side as OrderIntent['side'],
    type: r.type as OrderIntent['type'],
    timeInForce: r.tif as OrderIntent['timeInForce'],
    priceTicks: typeof r.priceTicks === 'number' ? r.priceTicks : undefined,
    triggerTicks: typeof r.triggerTicks === 'number' ? r.triggerTicks : undefined,
    qtyLots: r.qtyLots as number,
    reduceOnly: r.reduceOnly as boolean,
    purpose: r.purpose as OrderIntent['purpose'],
    createdTs: r.ts,
  };
}

/** Rebuilds orders and fills from journal records (any order: they are sorted by `seq`). */
export function rebuildFromJournal(
  records: Iterable<JournalRecord>,
  venue: OrderIntent['venue'],
): RecoveredJournal {
  const sorted = [...records].sort((a, b) => ((a.seq as number) ?? 0) - ((b.seq as number) ?? 0));
  const orders = new Map<string, RecoveredOrder>();
  const fills = new Map<string, Fill>();
  let firstTs = NaN;
  let lastTs = NaN;
  let kills = 0;
  for (const r of sorted) {
    if (!(r.ts >= firstTs)) firstTs = Number.isNaN(firstTs) ? r.ts : Math.min(firstTs, r.ts);
    lastTs = Number.isNaN(lastTs) ? r.ts : Math.max(lastTs, r.ts);
    if (r.kind === 'order' && typeof r.clientOrderId === 'string') {
      let o = orders.get(r.clientOrderId);
      if (!o) {
        const intent = intentOf(r, venue);
        if (!intent) continue;
        o = { intent, states: [], venueOrderId: null };
        orders.set(r.clientOrderId, o);
      }
      const state = r.state as OrderState | undefined;
      if (state && o.states[o.states.length - 1] !== state) o.states.push(state);
      if (typeof r.venueOrderId === 'string')
        orders.set(r.clientOrderId, { ...o, venueOrderId: r.venueOrderId });
    } else if (r.kind === 'fill' && r.fill && typeof r.fill === 'object') {
      const f = r.fill as Fill;
      if (typeof f.tradeId === 'string' && !fills.has(f.tradeId)) fills.set(f.tradeId, f);
    } else if (r.kind === 'kill') {
      kills++;
    }
  }
  return { orders, fills, firstTs, lastTs, records: sorted.length, kills };
}
