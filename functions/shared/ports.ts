/**
 * Small ports the three function cores share: a logger shape (Powertools' Logger satisfies it, so
 * does a test's capture), scrubbing before anything leaves a core, and bounded waiting on a venue.
 */
import type { VenueId } from '#core/instrument.ts';
import type { VenueTrading } from '#venues/trading.ts';
import { redactKnownSecrets } from '#store/redact.ts';

export interface LogPort {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export const silentLog: LogPort = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * A logger that scrubs every registered secret (lib/store/redact.ts) from the message and the
 * extra fields before the inner logger sees them: a venue error that echoes a signed URL or a key
 * cannot reach CloudWatch.
 */
export function redactingLog(inner: LogPort): LogPort {
  const wrap =
    (level: keyof LogPort) =>
    (message: string, extra?: Record<string, unknown>): void => {
      const m = redactKnownSecrets(message);
      if (extra === undefined) inner[level](m);
      else inner[level](m, redactKnownSecrets(extra));
    };
  return { info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

/**
 * A venue client, or how to build one. Lazy sources let a handler fetch each venue's key only when
 * needed, and let a failure to build one (a missing secret) be that venue's error, not the run's.
 */
export type VenueSource = VenueTrading | (() => Promise<VenueTrading>);
export type VenueMap = Partial<Record<VenueId, VenueSource>>;

export async function resolveVenue(source: VenueSource): Promise<VenueTrading> {
  return typeof source === 'function' ? source() : source;
}

/** Error text safe to answer or log: the message only (no stack), secrets scrubbed. */
export function errorText(e: unknown): string {
  const text =
    e instanceof Error
      ? `${(e as { code?: unknown }).code !== undefined ? `${String((e as { code?: unknown }).code)}: ` : ''}${e.message}`
      : String(e);
  return redactKnownSecrets(text);
}

/** Resolves with `p`, or rejects with a timeout error after `ms` (the promise itself is not cancelled). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
