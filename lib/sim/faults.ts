/**
 * Fault injection for the simulator, scriptable per test: every fault is a plain queue or timer the
 * server consults at the point where the real failure would happen (handshake, REST response,
 * per-symbol book event, per-connection delivery).
 */
import type { VenueId } from '#core/instrument.ts';

export interface HttpFault {
  readonly status: number;
  readonly retryAfterSec?: number;
  /** Only requests whose path starts with this (default: any). */
  readonly path?: string;
  /** Response body (default: the venue's error shape for the status). */
  readonly body?: string;
}

export type EventFault = 'skip' | 'duplicate' | 'reorder' | 'corrupt-checksum';

export class FaultPlan {
  private readonly http = new Map<VenueId, HttpFault[]>();
  private readonly handshake = new Map<VenueId, HttpFault[]>();
  private readonly events = new Map<string, EventFault[]>();
  private readonly stalledUntil = new Map<VenueId, number>();
  private readonly latencyMs = new Map<VenueId, number>();

  /** The next `count` REST requests to `venue` (optionally only under `path`) answer with `fault`. */
  httpError(venue: VenueId, fault: HttpFault, count = 1): void {
    const q = this.http.get(venue) ?? [];
    for (let i = 0; i < count; i++) q.push(fault);
    this.http.set(venue, q);
  }

  /** The next `count` WebSocket handshakes to `venue` are refused with an HTTP status (429, 418, 503). */
  rejectHandshake(venue: VenueId, fault: HttpFault, count = 1): void {
    const q = this.handshake.get(venue) ?? [];
    for (let i = 0; i < count; i++) q.push(fault);
    this.handshake.set(venue, q);
  }

  /** The next book event(s) of a symbol: skipped (a gap), sent twice, swapped with the one after, or (Kraken spot) a wrong checksum. */
  bookEvent(venue: VenueId, symbol: string, fault: EventFault, count = 1): void {
    const key = `${venue} ${symbol}`;
    const q = this.events.get(key) ?? [];
    for (let i = 0; i < count; i++) q.push(fault);
    this.events.set(key, q);
  }

  /** Connections stay open but deliver nothing (not even pongs) until `now + ms`. */
  stall(venue: VenueId, ms: number, now: number): void {
    this.stalledUntil.set(venue, now + ms);
  }

  /** Every message to `venue`'s connections is delayed by `ms` (order kept). */
  latency(venue: VenueId, ms: number): void {
    this.latencyMs.set(venue, ms);
  }

  clear(): void {
    this.http.clear();
    this.handshake.clear();
    this.events.clear();
    this.stalledUntil.clear();
    this.latencyMs.clear();
  }

  takeHttp(venue: VenueId, path: string): HttpFault | undefined {
    const q = this.http.get(venue);
    if (!q) return undefined;
    const i = q.findIndex((f) => !f.path || path.startsWith(f.path));
    return i < 0 ? undefined : q.splice(i, 1)[0];
  }

  takeHandshake(venue: VenueId): HttpFault | undefined {
    return this.handshake.get(venue)?.shift();
  }

  takeEvent(venue: VenueId, symbol: string): EventFault | undefined {
    return this.events.get(`${venue} ${symbol}`)?.shift();
  }

  isStalled(venue: VenueId, now: number): boolean {
    return (this.stalledUntil.get(venue) ?? 0) > now;
  }

  latencyOf(venue: VenueId): number {
    return this.latencyMs.get(venue) ?? 0;
  }
}
