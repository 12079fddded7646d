/**
 * The secrets guard for everything we persist: a field whose name looks like a credential
 * (apiSecret, secret, signature, passphrase, password, privateKey, apiKey, listenKey, token,
 * authorization, webhook) is replaced by REDACTED, at any depth, before a record leaves the
 * process. Names, not values, are checked: the journal cannot know every secret's value, but the
 * code that carries one names it. Values the SecretStore handed out are scrubbed as well, by
lib/store/redact.ts (`redactKnownSecrets`). FileJournal should apply both (see the README).
 */
import { REDACTED } from '../redact.ts';

export { REDACTED };

const SECRET_NAME =
  /secret|signature|passphrase|password|privatekey|apikey|listenkey|token|authorization|webhook/;

export function isSecretFieldName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[^a-z]/g, ''));
}

/**
 * A JSON.stringify replacer that redacts secret-named fields and writes bigint as text; counts
 * what it redacted in `counter.redacted`.
 */
export function redactingReplacer(counter: { redacted: number }): (key: string, value: unknown) => unknown {
  return (key, value) => {
    if (key !== '' && isSecretFieldName(key) && value !== undefined && value !== null) {
      counter.redacted++;
      return REDACTED;
    }
    return typeof value === 'bigint' ? value.toString() : value;
  };
}

/** Serialises a value with secrets redacted (Decimal values become their exact text via toJSON). */
export function redactedJson(value: unknown, counter: { redacted: number } = { redacted: 0 }): string {
  return JSON.stringify(value, redactingReplacer(counter));
}
