import { signPayload, verifySignature } from '../../sandbox/signing';

const PAYMENT_SECRET = 'test-payment-webhook-secret';
const CARRIER_SECRET = 'test-carrier-webhook-secret';

describe('signing', () => {
  const body = JSON.stringify({ hello: 'world' });
  const now = () => Math.floor(Date.now() / 1000);

  test('accepts its own signature and rejects tampering, a wrong secret, staleness and garbage', () => {
    const header = signPayload(PAYMENT_SECRET, body, now());
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(PAYMENT_SECRET, body, header)).toBe(true);
    expect(verifySignature(PAYMENT_SECRET, Buffer.from(body), header)).toBe(true);
    expect(verifySignature(PAYMENT_SECRET, body.replace('world', 'World'), header)).toBe(false);
    expect(verifySignature(CARRIER_SECRET, body, header)).toBe(false);
    expect(verifySignature(PAYMENT_SECRET, body, signPayload(PAYMENT_SECRET, body, now() - 301))).toBe(false);
    expect(verifySignature(PAYMENT_SECRET, body, signPayload(PAYMENT_SECRET, body, now() - 301), 600)).toBe(true);
    expect(verifySignature(PAYMENT_SECRET, body, undefined)).toBe(false);
    expect(verifySignature(PAYMENT_SECRET, body, 'v1=abc')).toBe(false);
    expect(verifySignature(PAYMENT_SECRET, body, header.replace(/t=\d+/, `t=${now() + 1}`))).toBe(false);
  });

  test('accepts a header carrying the old and the new secret during rotation', () => {
    const t = now();
    const rotated = `${signPayload('old-secret-0123456789', body, t)},v1=${signPayload(PAYMENT_SECRET, body, t).split('v1=')[1]}`;
    expect(verifySignature(PAYMENT_SECRET, body, rotated)).toBe(true);
  });
});
