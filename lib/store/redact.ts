/**
 * Keeping secrets out of logs, errors and stored records.
 *
 * Every SecretStore registers each value it hands out here (`registerSecret`), so the journal,
 * the logger and the alerter can scrub whatever they are about to write with
 * `redactSecrets(value, knownSecrets())` without knowing where a secret might have leaked in
 * (an HTTP error echoing a signed URL, a stack trace, a request dump).
 */

export const REDACTED = '[REDACTED]';

/**
 * Values shorter than this are not registered: no real API key, secret or webhook URL is this
 * short, and scrubbing every "test" or "abc" from the logs would make them useless.
 */
export const MIN_SECRET_LENGTH = 8;

const registry = new Set<string>();

/** Adds a value to the process-wide set of secrets to redact. Short values are ignored (see above). */
export function registerSecret(value: string): void {
  if (value.length >= MIN_SECRET_LENGTH) registry.add(value);
}

/** Every secret value any SecretStore in this process has handed out. */
export function knownSecrets(): readonly string[] {
  return [...registry];
}

/** Shorthand for `redactSecrets(value, knownSecrets())`. */
export function redactKnownSecrets<T>(value: T): T {
  return redactSecrets(value, knownSecrets());
}

/** The forms a secret can take in text: as is, and JSON-escaped (as it appears inside a serialised string). */
function variants(secrets: readonly string[]): string[] {
  const out = new Set<string>();
  for (const s of secrets) {
    if (s.length === 0 || REDACTED.includes(s)) continue;
    out.add(s);
    out.add(JSON.stringify(s).slice(1, -1));
  }
  // Longest first so that a secret containing another is replaced whole.
  return [...out].sort((a, b) => b.length - a.length);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A string scrubber for a fixed set of secrets. */
function scrubber(secrets: readonly string[]): (text: string) => string {
  const forms = variants(secrets);
  if (forms.length === 0) return (text) => text;
  const pattern = new RegExp(forms.map(escapeRegExp).join('|'), 'g');
  return (text) => {
    // One pass replaces every occurrence; a second catches one formed across a marker's edge.
    let out = text;
    for (let pass = 0; pass < 4; pass++) {
      const next = out.replace(pattern, REDACTED);
      if (next === out) return out;
      out = next;
    }
    return out;
  };
}

/** True when any of `secrets` (or its JSON-escaped form) occurs in `text`. */
export function containsSecret(text: string, secrets: readonly string[]): boolean {
  return variants(secrets).some((s) => text.includes(s));
}

/**
 * A deep copy of `value` with every occurrence of each secret replaced by "[REDACTED]": in
 * strings, object keys, array items, Map/Set entries, and in Errors (message, stack, cause and
 * own properties; the copy keeps the error's prototype, so `instanceof` still works). Cycles are
 * preserved. Numbers, booleans, bigints, Dates and functions are copied or kept as they are.
 */
export function redactSecrets<T>(value: T, secrets: readonly string[]): T {
  const scrub = scrubber(secrets);
  const seen = new Map<object, unknown>();

  const copy = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v);
    if (typeof v !== 'object' || v === null) return v;
    const prior = seen.get(v);
    if (prior !== undefined) return prior;

    if (Array.isArray(v)) {
      const out: unknown[] = [];
      seen.set(v, out);
      for (const item of v) out.push(copy(item));
      return out;
    }
    if (v instanceof Date) return new Date(v.getTime());
    if (v instanceof Map) {
      const out = new Map<unknown, unknown>();
      seen.set(v, out);
      for (const [k, item] of v) out.set(copy(k), copy(item));
      return out;
    }
    if (v instanceof Set) {
      const out = new Set<unknown>();
      seen.set(v, out);
      for (const item of v) out.add(copy(item));
      return out;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;

    const out = Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>;
    seen.set(v, out);
    if (v instanceof Error) {
      // message, stack and cause are own but usually non-enumerable: copy them explicitly.
      const define = (key: string, val: unknown): void => {
        Object.defineProperty(out, key, {
          value: val,
          writable: true,
          configurable: true,
          enumerable: false,
        });
      };
      define('message', scrub(v.message));
      if (typeof v.stack === 'string') define('stack', scrub(v.stack));
      if ('cause' in v) define('cause', copy(v.cause));
      if (Object.hasOwn(v, 'name')) define('name', copy((v as { name: unknown }).name));
      if (v instanceof AggregateError) define('errors', copy(v.errors));
    }
    for (const key of Object.keys(v)) {
      out[scrub(key)] = copy((v as Record<string, unknown>)[key]);
    }
    return out;
  };

  return copy(value) as T;
}
