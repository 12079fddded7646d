/**
 * Kraken spot REST signing (VENUES.md 3.5): the REST client signs with it, the exchange simulator
 * verifies with it.
 *
 *   API-Sign = base64( HMAC_SHA512( key = base64decode(secret),
 *                                   msg = uriPath bytes ‖ SHA256(nonce + postData) ) )
 *
 * - `uriPath` is the part of the URL from `/0/private/...`.
 * - The SHA-256 digest is the raw 32 bytes, not hex.
 * - `postData` is the exact form-encoded body as sent, and it itself contains `nonce=<nonce>`;
 *   the nonce is hashed again in front of it.
 *
 * Nonces come from NonceSource (lib/venues/nonce.ts). Secrets never appear in errors or return
 * values (other than through the signature itself).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DataError } from '#core/errors.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^\d+$/;
/** An HMAC-SHA512 output is 64 bytes: 88 base64 characters with padding. */
const SHA512_BYTES = 64;

/**
 * Strict base64 decoding of a Kraken API secret. Node's decoder silently skips invalid characters
 * and truncates bad lengths, which would turn a pasted-wrong secret into a wrong key and an
 * opaque `EAPI:Invalid key` (and, repeated, a lockout). The error never quotes the secret.
 */
export function decodeKrakenSecret(secretBase64: string): Buffer {
  if (typeof secretBase64 !== 'string' || secretBase64.length === 0 || !BASE64.test(secretBase64)) {
    throw new DataError('BAD_SECRET', 'Kraken API secret is not valid standard base64');
  }
  return Buffer.from(secretBase64, 'base64');
}

/** The bytes of `text` when it is valid base64 of an HMAC-SHA512 output (64 bytes), else undefined. */
function decodeSignature(text: string): Buffer | undefined {
  if (typeof text !== 'string' || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === SHA512_BYTES ? bytes : undefined;
}

/** Constant-time comparison of a received base64 HMAC-SHA512 with the expected bytes. */
export function base64SignatureMatches(expected: Buffer, received: string): boolean {
  const bytes = decodeSignature(received);
  if (bytes === undefined || bytes.length !== expected.length) return false;
  return timingSafeEqual(expected, bytes);
}

/** The `nonce` value of a form-encoded body, or undefined when it has none (or several). */
export function krakenNonceOf(postData: string): string | undefined {
  let found: string | undefined;
  for (const part of postData.split('&')) {
    if (!part.startsWith('nonce=')) continue;
    if (found !== undefined) return undefined;
    found = part.slice('nonce='.length);
  }
  return found;
}

function checkInputs(uriPath: string, nonce: string, postData: string): void {
  if (typeof uriPath !== 'string' || !uriPath.startsWith('/')) {
    throw new DataError('BAD_PATH', 'Kraken URI path must start with "/" (e.g. /0/private/AddOrder)');
  }
  if (uriPath.includes('?')) {
    throw new DataError('BAD_PATH', 'Kraken URI path must not carry a query string');
  }
  if (!DECIMAL.test(nonce)) {
    throw new DataError('BAD_NONCE', 'Kraken nonce must be an unsigned decimal integer');
  }
  if (krakenNonceOf(postData) !== nonce) {
    throw new DataError(
      'BAD_NONCE',
      'Kraken postData must contain exactly one nonce= equal to the nonce signed',
    );
  }
}

function rawSignature(key: Buffer, uriPath: string, nonce: string, postData: string): Buffer {
  const digest = createHash('sha256')
    .update(nonce + postData, 'utf8')
    .digest();
  return createHmac('sha512', key).update(Buffer.from(uriPath, 'utf8')).update(digest).digest();
}

/**
 * The `API-Sign` header for a private spot REST call.
 * @param postData the exact form-encoded body to be sent, containing `nonce=<nonce>`.
 */
export function signKraken(
  secretBase64: string,
  uriPath: string,
  nonce: string | bigint,
  postData: string,
): string {
  const nonceText = typeof nonce === 'bigint' ? nonce.toString() : nonce;
  checkInputs(uriPath, nonceText, postData);
  return rawSignature(decodeKrakenSecret(secretBase64), uriPath, nonceText, postData).toString('base64');
}

/**
 * Simulator side: constant-time check of a received `API-Sign` against the raw body as received.
 * The nonce is read from the body. False for any malformed input (no nonce, bad signature text).
 * Nonce ordering (greater than the last accepted) is the caller's check.
 */
export function verifyKraken(
  secretBase64: string,
  uriPath: string,
  postData: string,
  apiSign: string,
): boolean {
  const key = decodeKrakenSecret(secretBase64);
  const nonce = krakenNonceOf(postData);
  if (nonce === undefined || !DECIMAL.test(nonce)) return false;
  if (typeof uriPath !== 'string' || !uriPath.startsWith('/')) return false;
  return base64SignatureMatches(rawSignature(key, uriPath, nonce, postData), apiSign);
}
