/**
 * SecretStore adapters: Secrets Manager for AWS, environment / `.env` for local runs.
 *
 * One secret per purpose (DESIGN.md §4): the engine gets the trade key, the kill λ the
 * cancel-only key, reconcile the read-only key, the alerter the Slack webhook. Values are loaded
 * at runtime, cached, registered with the redaction registry (so the journal and logger scrub
 * them), and never appear in an error message: errors name the secret or variable, not its value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { inspect } from 'node:util';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DataError, OperationalError } from '#core/errors.ts';
import type { VenueId } from '#core/instrument.ts';
import type { SecretPurpose, SecretStore, VenueCredentials } from './ports.ts';
import { REDACTED, registerSecret } from './redact.ts';

export type VenuePurpose = Exclude<SecretPurpose, 'slack-webhook'>;

const STAGE_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

/** The Secrets Manager name of a secret: `tradewind/<stage>/<venue>/<purpose>` (Slack: venue `slack`). */
export function secretName(stage: string, venue: VenueId | 'slack', purpose: SecretPurpose): string {
  if (!STAGE_PATTERN.test(stage)) {
    throw new DataError('BAD_STAGE', `stage "${stage}" must be lower-case letters, digits and dashes`);
  }
  if ((venue === 'slack') !== (purpose === 'slack-webhook')) {
    throw new DataError('BAD_SECRET_PURPOSE', `purpose ${purpose} does not belong to ${venue}`);
  }
  // The Slack webhook is one secret per stage (as the CDK stateful stack creates it).
  return venue === 'slack' ? `tradewind/${stage}/slack-webhook` : `tradewind/${stage}/${venue}/${purpose}`;
}

/**
 * Credentials whose serialised and inspected forms hide the values, so a stray
 * `log(credentials)` or `JSON.stringify(config)` leaks nothing. The fields read as usual.
 */
export function makeCredentials(apiKey: string, apiSecret: string): VenueCredentials {
  registerSecret(apiKey);
  registerSecret(apiSecret);
  const hidden = { apiKey: REDACTED, apiSecret: REDACTED };
  const creds = { apiKey, apiSecret };
  Object.defineProperty(creds, 'toJSON', { value: () => hidden, enumerable: false });
  Object.defineProperty(creds, inspect.custom, {
    value: () => 'VenueCredentials { [REDACTED] }',
    enumerable: false,
  });
  return Object.freeze(creds);
}

function cacheKey(venue: VenueId | 'slack', purpose: SecretPurpose): string {
  return `${venue}/${purpose}`;
}

// ---------------------------------------------------------------------------------------------
// Secrets Manager

export interface SecretsManagerStoreOptions {
  readonly client: SecretsManagerClient;
  /** Deployment stage in secret names (`staging`, `prod`). */
  readonly stage: string;
  /** How long a fetched value is reused. Rotation is picked up within this. @default 5 min */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Overrides the naming scheme. @default secretName */
  readonly name?: (stage: string, venue: VenueId | 'slack', purpose: SecretPurpose) => string;
}

interface CacheEntry {
  readonly value: Promise<VenueCredentials | string>;
  readonly fetchedAt: number;
}

/**
 * Secrets Manager adapter. Venue secrets are JSON `{"apiKey": "…", "apiSecret": "…"}`; the Slack
 * secret is the webhook URL itself or JSON `{"webhookUrl": "…"}`. Concurrent callers share one
 * fetch; a failed fetch is not cached.
 */
export class SecretsManagerStore implements SecretStore {
  readonly #client: SecretsManagerClient;
  readonly #stage: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #name: (stage: string, venue: VenueId | 'slack', purpose: SecretPurpose) => string;
  readonly #cache = new Map<string, CacheEntry>();

  constructor(options: SecretsManagerStoreOptions) {
    this.#client = options.client;
    this.#stage = options.stage;
    this.#ttlMs = options.ttlMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#name = options.name ?? secretName;
    secretName(options.stage, 'slack', 'slack-webhook'); // validates the stage up front
  }

  async credentials(venue: VenueId, purpose: VenuePurpose): Promise<VenueCredentials> {
    const value = await this.#cached(venue, purpose, async (name) =>
      parseCredentials(name, await this.#fetch(name)),
    );
    return value as VenueCredentials;
  }

  async slackWebhook(): Promise<string> {
    const value = await this.#cached('slack', 'slack-webhook', async (name) =>
      parseWebhook(name, await this.#fetch(name)),
    );
    return value as string;
  }

  invalidate(venue: VenueId | 'slack', purpose: SecretPurpose): void {
    this.#cache.delete(cacheKey(venue, purpose));
  }

  #cached(
    venue: VenueId | 'slack',
    purpose: SecretPurpose,
    load: (name: string) => Promise<VenueCredentials | string>,
  ): Promise<VenueCredentials | string> {
    const key = cacheKey(venue, purpose);
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit !== undefined && now - hit.fetchedAt < this.#ttlMs) return hit.value;
    const name = this.#name(this.#stage, venue, purpose);
    const value = load(name);
    const entry = { value, fetchedAt: now };
    this.#cache.set(key, entry);
    value.catch(() => {
      if (this.#cache.get(key) === entry) this.#cache.delete(key);
    });
    return value;
  }

  async #fetch(name: string): Promise<string> {
    let out;
    try {
      out = await this.#client.send(new GetSecretValueCommand({ SecretId: name }));
    } catch (e) {
      const errName = e instanceof Error ? e.name : 'Error';
      if (errName === 'ResourceNotFoundException') {
        throw new OperationalError('SECRET_NOT_FOUND', `secret ${name} does not exist`, { cause: e });
      }
      throw new OperationalError('SECRET_FETCH_FAILED', `fetching secret ${name} failed: ${errName}`, {
        cause: e,
      });
    }
    if (typeof out.SecretString !== 'string') {
      throw new DataError(
        'SECRET_MALFORMED',
        `secret ${name} has no SecretString (binary secrets are not supported)`,
      );
    }
    return out.SecretString;
  }
}

/** Parses `{"apiKey","apiSecret"}`. Errors name the field, never echo the text (it is the secret). */
export function parseCredentials(name: string, secretString: string): VenueCredentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    // No cause: a SyntaxError quotes the input.
    throw new DataError('SECRET_MALFORMED', `secret ${name} is not JSON {"apiKey","apiSecret"}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DataError('SECRET_MALFORMED', `secret ${name} is not a JSON object {"apiKey","apiSecret"}`);
  }
  const o = parsed as Record<string, unknown>;
  for (const field of ['apiKey', 'apiSecret']) {
    const v = o[field];
    if (typeof v !== 'string' || v.length === 0) {
      // Register whatever is there first, so it is scrubbed if anything else leaks it.
      for (const value of Object.values(o)) if (typeof value === 'string') registerSecret(value);
      throw new DataError(
        'SECRET_MALFORMED',
        `secret ${name}: field "${field}" is missing or not a non-empty string`,
      );
    }
  }
  return makeCredentials(o['apiKey'] as string, o['apiSecret'] as string);
}

/** The Slack webhook URL from a plain string or `{"webhookUrl": "…"}`. */
export function parseWebhook(name: string, secretString: string): string {
  let url = secretString.trim();
  if (url.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(url);
    } catch {
      throw new DataError('SECRET_MALFORMED', `secret ${name} is neither a URL nor JSON {"webhookUrl"}`);
    }
    const v = (parsed as Record<string, unknown> | null)?.['webhookUrl'];
    if (typeof v !== 'string') {
      throw new DataError(
        'SECRET_MALFORMED',
        `secret ${name}: field "webhookUrl" is missing or not a string`,
      );
    }
    url = v.trim();
  }
  registerSecret(url);
  if (!url.startsWith('https://')) {
    throw new DataError('SECRET_MALFORMED', `secret ${name} is not an https:// webhook URL`);
  }
  return url;
}

// ---------------------------------------------------------------------------------------------
// Environment / .env

/** `binance-futures` + `cancel-only` → TRADEWIND_BINANCE_FUTURES_CANCEL_ONLY_API_KEY / _API_SECRET. */
export function envVarNames(venue: VenueId, purpose: VenuePurpose): { apiKey: string; apiSecret: string } {
  const stem = `TRADEWIND_${venue}_${purpose}`.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  return { apiKey: `${stem}_API_KEY`, apiSecret: `${stem}_API_SECRET` };
}

export const SLACK_WEBHOOK_ENV = 'TRADEWIND_SLACK_WEBHOOK_URL';

/**
 * Parses `.env` text: `KEY=VALUE` lines, `#` comments, blank lines, an optional `export ` prefix,
 * single-quoted (literal) or double-quoted (\n, \t, \", \\ escapes) values, and ` #` comments
 * after unquoted values. A bad line is reported by its number only — its text may be a secret.
 */
export function parseDotEnv(text: string, source = '.env'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) {
      throw new DataError('BAD_DOTENV', `${source}:${i + 1}: expected KEY=VALUE`);
    }
    const key = m[1] as string;
    const rest = m[2] as string;
    let value: string;
    if (rest.startsWith('"') || rest.startsWith("'")) {
      const quote = rest[0] as string;
      const end = closingQuote(rest, quote);
      if (end < 0)
        throw new DataError(
          'BAD_DOTENV',
          `${source}:${i + 1}: unterminated ${quote}-quoted value for ${key}`,
        );
      const trailing = rest.slice(end + 1).trim();
      if (trailing !== '' && !trailing.startsWith('#')) {
        throw new DataError(
          'BAD_DOTENV',
          `${source}:${i + 1}: unexpected text after the quoted value for ${key}`,
        );
      }
      const inner = rest.slice(1, end);
      value = quote === "'" ? inner : unescapeDouble(inner);
    } else {
      const hash = rest.search(/\s#/);
      value = (hash >= 0 ? rest.slice(0, hash) : rest).trim();
    }
    out[key] = value;
  }
  return out;
}

function closingQuote(s: string, quote: string): number {
  for (let j = 1; j < s.length; j++) {
    if (quote === '"' && s[j] === '\\') {
      j++;
      continue;
    }
    if (s[j] === quote) return j;
  }
  return -1;
}

function unescapeDouble(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c));
}

export interface EnvSecretStoreOptions {
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * A `.env` file (git-ignored) read after the environment: a variable set in the environment
   * wins. Missing is fine. `null` disables it. @default `.env` in the working directory
   */
  readonly envFile?: string | null;
}

/** Local SecretStore: variables from the environment, then from a `.env` file. */
export class EnvSecretStore implements SecretStore {
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #envFile: string | null;
  #fileVars: Record<string, string> | undefined;

  constructor(options: EnvSecretStoreOptions = {}) {
    this.#env = options.env ?? process.env;
    this.#envFile = options.envFile === null ? null : resolve(options.envFile ?? '.env');
  }

  credentials(venue: VenueId, purpose: VenuePurpose): Promise<VenueCredentials> {
    try {
      const names = envVarNames(venue, purpose);
      const apiKey = this.#lookup(names.apiKey);
      const apiSecret = this.#lookup(names.apiSecret);
      return Promise.resolve(makeCredentials(apiKey, apiSecret));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  slackWebhook(): Promise<string> {
    try {
      return Promise.resolve(parseWebhook(SLACK_WEBHOOK_ENV, this.#lookup(SLACK_WEBHOOK_ENV)));
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Forgets the parsed `.env` file, so edits (a rotated key) are read on the next call. */
  invalidate(_venue: VenueId | 'slack', _purpose: SecretPurpose): void {
    this.#fileVars = undefined;
  }

  #lookup(name: string): string {
    const fromEnv = this.#env[name];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    const fromFile = this.#file()[name];
    if (fromFile !== undefined && fromFile !== '') return fromFile;
    const where = this.#envFile === null ? 'the environment' : `the environment or ${this.#envFile}`;
    throw new OperationalError('SECRET_MISSING', `${name} is not set (looked in ${where})`);
  }

  #file(): Record<string, string> {
    if (this.#fileVars !== undefined) return this.#fileVars;
    const path = this.#envFile;
    const vars = path !== null && existsSync(path) ? parseDotEnv(readFileSync(path, 'utf8'), path) : {};
    this.#fileVars = vars;
    return vars;
  }
}
