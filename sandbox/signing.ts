import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, in the scheme both sandboxes use and the API verifies:
 *
 *   x-sandbox-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of `${t}.${rawBody}` keyed with the webhook secret>
 *
 * The timestamp is signed with the body so a captured request cannot be replayed outside the tolerance window.
 * Several v1 entries may appear (a provider rotating secrets signs with both); one match is enough.
 */
export const SIGNATURE_HEADER = 'x-sandbox-signature';

function hmac(secret: string, rawBody: string | Buffer, timestamp: number): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
}

/** Returns the header value for `rawBody` signed at `timestamp` (unix seconds). */
export function signPayload(secret: string, rawBody: string | Buffer, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, rawBody, timestamp).toString('hex')}`;
}

/**
 * True when `header` carries a v1 signature of exactly these bytes made with `secret`, at a timestamp no further than
 * `toleranceSeconds` from now. Verify the raw request body: re-serialised JSON need not match byte for byte.
 */
export function verifySignature(
  secret: string,
  rawBody: string | Buffer,
  header: string | undefined,
  toleranceSeconds = 300,
): boolean {
  if (!header) return false;
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't' && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) candidates.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(Math.floor(Date.now() / 1000) - timestamp) > toleranceSeconds) return false;
  const expected = hmac(secret, rawBody, timestamp);
  // Compare every candidate so the time taken does not reveal which one matched.
  return candidates.reduce((matched, candidate) => timingSafeEqual(candidate, expected) || matched, false);
}
