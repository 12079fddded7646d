/**
 * Kraken Futures (derivatives) signing (VENUES.md 4.1): REST `Authent` and the WebSocket challenge.
 * The REST client and the WS client sign with it; the exchange simulator verifies with it.
 *
 *   Authent          = base64( HMAC_SHA512( base64decode(secret), SHA256(postData + nonce + endpointPath) ) )
 *   signed_challenge = base64( HMAC_SHA512( base64decode(secret), SHA256(challenge) ) )
 *
 * Easy to get wrong (VENUES.md 5 item 7):
 * - The order is postData + nonce + path: the opposite of spot's nonce + postData.
 * - `endpointPath` has NO `/derivatives` prefix: `/api/v3/sendorder`, even though the URL is
 *   `https://futures.kraken.com/derivatives/api/v3/sendorder`. A given prefix is stripped here.
 * - `postData` is the URL-encoded string exactly as sent (query string or body), without a
 *   leading `?` (one is stripped here). Since 2024-02-20 the encoded form is hashed, not the
 *   decoded one; this matters for `batchorder`, whose parameter is JSON.
 * - The `Nonce` header is optional; without it the nonce is the empty string.
 * - The docs' example secret (`rttp4Azw…`, 87 characters) is not valid base64 and is rejected.
 *
 * Secrets never appear in errors or return values (other than through the signature itself).
 */
import { createHash, createHmac } from 'node:crypto';
import { DataError } from '#core/errors.ts';
import { base64SignatureMatches, decodeKrakenSecret } from '#venues/kraken-spot/signing.ts';

const DERIVATIVES_PREFIX = '/derivatives';
const NONCE = /^\d*$/;

/**
 * The endpoint path as signed: `/derivatives/api/v3/sendorder` and `/api/v3/sendorder` both give
 * `/api/v3/sendorder`.
 */
export function futuresSigningPath(endpointPath: string): string {
  if (typeof endpointPath !== 'string' || !endpointPath.startsWith('/')) {
    throw new DataError(
      'BAD_PATH',
      'Kraken Futures endpoint path must start with "/" (e.g. /api/v3/sendorder)',
    );
  }
  if (endpointPath.includes('?')) {
    throw new DataError(
      'BAD_PATH',
      'Kraken Futures endpoint path must not carry a query string; pass it as postData',
    );
  }
  if (endpointPath === DERIVATIVES_PREFIX || endpointPath.startsWith(`${DERIVATIVES_PREFIX}/`)) {
    return endpointPath.slice(DERIVATIVES_PREFIX.length) || '/';
  }
  return endpointPath;
}

function nonceText(nonce: string | bigint | undefined): string {
  const text = nonce === undefined ? '' : typeof nonce === 'bigint' ? nonce.toString() : nonce;
  if (!NONCE.test(text)) {
    throw new DataError('BAD_NONCE', 'Kraken Futures nonce must be a decimal integer or empty');
  }
  return text;
}

function rawAuthent(key: Buffer, endpointPath: string, nonce: string, postData: string): Buffer {
  const data = postData.startsWith('?') ? postData.slice(1) : postData;
  const digest = createHash('sha256')
    .update(data + nonce + futuresSigningPath(endpointPath), 'utf8')
    .digest();
  return createHmac('sha512', key).update(digest).digest();
}

/**
 * The `Authent` header for a private Futures REST call.
 * @param endpointPath `/api/v3/...` (a `/derivatives` prefix is stripped).
 * @param nonce the `Nonce` header value, or '' / undefined when the header is not sent.
 * @param postData the URL-encoded parameters exactly as sent, '' when there are none.
 */
export function signKrakenFutures(
  secretBase64: string,
  endpointPath: string,
  nonce: string | bigint | undefined,
  postData: string,
): string {
  const nonceValue = nonceText(nonce);
  return rawAuthent(decodeKrakenSecret(secretBase64), endpointPath, nonceValue, postData).toString('base64');
}

/** Simulator side: constant-time check of a received `Authent`. False for malformed input. */
export function verifyKrakenFutures(
  secretBase64: string,
  endpointPath: string,
  nonce: string | undefined,
  postData: string,
  authent: string,
): boolean {
  const key = decodeKrakenSecret(secretBase64);
  let expected: Buffer;
  try {
    expected = rawAuthent(key, endpointPath, nonceText(nonce), postData);
  } catch (err) {
    if (err instanceof DataError) return false;
    throw err;
  }
  return base64SignatureMatches(expected, authent);
}

/** The WebSocket `signed_challenge` for the challenge (a UUID string) the server sent. */
export function signChallenge(secretBase64: string, challenge: string): string {
  if (typeof challenge !== 'string' || challenge.length === 0) {
    throw new DataError('BAD_CHALLENGE', 'Kraken Futures challenge is empty');
  }
  const digest = createHash('sha256').update(challenge, 'utf8').digest();
  return createHmac('sha512', decodeKrakenSecret(secretBase64)).update(digest).digest('base64');
}

/** Simulator side: constant-time check of a `signed_challenge`. */
export function verifyChallenge(secretBase64: string, challenge: string, signedChallenge: string): boolean {
  const key = decodeKrakenSecret(secretBase64);
  if (typeof challenge !== 'string' || challenge.length === 0) return false;
  const digest = createHash('sha256').update(challenge, 'utf8').digest();
  return base64SignatureMatches(createHmac('sha512', key).update(digest).digest(), signedChallenge);
}
