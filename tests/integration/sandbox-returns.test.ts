import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'pg';
import { buildApp } from '../../api/app';
import { PROBLEM_BASE } from '../../api/problems';
import { loadConfig } from '../../config';
import type { Address, CarrierEventType } from '../../domain/order';
import { type CarrierEvent, PROVIDER_ERRORS, type ReturnBookingRequest } from '../../domain/ports';
import {
  type Parcel,
  SandboxCarrier,
  type SandboxCarrierOptions,
  SIGNATURE_HEADER,
  verifySignature,
} from '../../sandbox';
import { testDatabase } from '../helpers/database';

const SECRET = 'test-carrier-webhook-secret-0123456789';
const LABEL_BASE_URL = 'http://shop.example.test:8080';

interface Delivery {
  signature: string | undefined;
  rawBody: string;
}

/** Stands in for the engine's carrier webhook endpoint: records each signed post and acknowledges it. */
class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.deliveries.push({
        signature: request.headers[SIGNATURE_HEADER] as string | undefined,
        rawBody: Buffer.concat(chunks).toString('utf8'),
      });
      response.statusCode = 204;
      response.end();
    });
  });

  start(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/carrier`;
  }

  /** The events posted for the parcel, in arrival order. */
  events(waybill: string): CarrierEvent[] {
    return this.deliveries
      .map((delivery) => JSON.parse(delivery.rawBody) as CarrierEvent)
      .filter((event) => event.waybill === waybill);
  }

  stop(): Promise<void> {
    return new Promise((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
  }
}

const refused = () => expect.objectContaining({ name: PROVIDER_ERRORS.refused });
const unavailable = () => expect.objectContaining({ name: PROVIDER_ERRORS.unavailable });
const key = (label: string) => `${label}-${randomUUID()}`;

const customer: Address = {
  name: 'Li Wei',
  phone: '+86 138 0000 0000',
  line1: '1 Century Avenue',
  line2: 'Flat 1203',
  city: 'Shanghai',
  postalCode: '200120',
  country: 'CN',
};
const returnRequest = (overrides: Partial<ReturnBookingRequest> = {}): ReturnBookingRequest => ({
  idempotencyKey: key('return'),
  shipmentId: key('rshp'),
  orderId: key('order'),
  method: 'pickup',
  from: customer,
  toWarehouse: 'WH-SH',
  lines: [{ sku: 'SKU-1', quantity: 2 }],
  ...overrides,
});

let pool: Pool;
let receiver: WebhookReceiver;
let manual: SandboxCarrier;
const carriers: SandboxCarrier[] = [];

// Declared before the database so that it runs before the database stops: jest runs afterAll hooks in declaration
// order, and a ticker or webhook dispatcher still running would meet a server shutting down.
afterAll(async () => {
  await Promise.all(carriers.map((created) => created.stop()));
  await pool?.end();
  await receiver?.stop();
});

const database = testDatabase('sandbox-returns');

async function carrier(opts: Partial<SandboxCarrierOptions> = {}): Promise<SandboxCarrier> {
  const created = await SandboxCarrier.create(pool, {
    mode: 'manual',
    stepMs: 100,
    latencyMs: 0,
    failureRate: 0,
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    webhookBackoffMs: 20,
    // A trailing slash is dropped rather than doubled in the label URLs.
    labelBaseUrl: `${LABEL_BASE_URL}/`,
    ...opts,
  });
  carriers.push(created);
  return created;
}

async function parcelsOf(shipmentId: string): Promise<number> {
  const { rows } = await pool.query<{ count: string }>('SELECT count(*) FROM sandbox.parcels WHERE shipment_id = $1', [
    shipmentId,
  ]);
  return Number(rows[0].count);
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`not met within ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  pool = new Pool({ connectionString: database.db.url, max: 10 });
  // pool.end() resolves before its sockets have closed, so the server stopping right after can still reach an idle
  // client with "terminating connection" (57P01); anything else is a real failure.
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') throw error;
  });
  receiver = new WebhookReceiver();
  await receiver.start();
  manual = await carrier();
});

describe('SandboxCarrier.bookReturn', () => {
  test('a pickup and a label return are stored as return parcels to the warehouse; only the label one has a URL', async () => {
    const pickupRequest = returnRequest();
    const pickup = await manual.bookReturn(pickupRequest);
    expect(pickup).toEqual({ carrier: 'sandbox', waybill: expect.stringMatching(/^SR\d{12}$/) });
    expect(await manual.get(pickup.waybill)).toEqual<Parcel>({
      waybill: pickup.waybill,
      shipmentId: pickupRequest.shipmentId,
      orderId: pickupRequest.orderId,
      direction: 'return',
      method: 'pickup',
      fromWarehouse: 'customer',
      toWarehouse: 'WH-SH',
      address: customer,
      lines: [{ sku: 'SKU-1', quantity: 2 }],
      status: 'BOOKED',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });

    const labelled = await manual.bookReturn(returnRequest({ method: 'label', toWarehouse: 'WH-BJ' }));
    expect(labelled).toEqual({
      carrier: 'sandbox',
      waybill: expect.stringMatching(/^SR\d{12}$/),
      labelUrl: `${LABEL_BASE_URL}/v1/sandbox/carrier/labels/${labelled.waybill}`,
    });
    expect(await manual.get(labelled.waybill)).toMatchObject({
      direction: 'return',
      method: 'label',
      toWarehouse: 'WH-BJ',
      status: 'BOOKED',
    });

    const outbound = await manual.book({
      idempotencyKey: key('book'),
      shipmentId: key('shp'),
      orderId: key('order'),
      fromWarehouse: 'WH-SH',
      to: customer,
      lines: [{ sku: 'SKU-1', quantity: 1 }],
    });
    const outboundParcel = await manual.get(outbound.waybill);
    expect(outboundParcel).toMatchObject({ direction: 'outbound', fromWarehouse: 'WH-SH' });
    expect(outboundParcel).not.toHaveProperty('method');
    expect(outboundParcel).not.toHaveProperty('toWarehouse');
  });

  test('the same key gives the same booking and books one parcel, even when the calls race', async () => {
    const request = returnRequest({ method: 'label' });
    const bookings = await Promise.all(Array.from({ length: 4 }, () => manual.bookReturn({ ...request })));
    expect(new Set(bookings.map((booking) => booking.waybill)).size).toBe(1);
    expect(bookings.every((booking) => booking.labelUrl?.endsWith(bookings[0].waybill))).toBe(true);
    expect(await manual.bookReturn(request)).toEqual(bookings[0]);
    expect(await parcelsOf(request.shipmentId)).toBe(1);
  });

  test('a key reused for a different request is refused, and nothing is booked for it', async () => {
    const request = returnRequest();
    const { waybill } = await manual.bookReturn(request);
    const { idempotencyKey } = request;
    await expect(manual.bookReturn({ ...request, method: 'label' })).rejects.toEqual(refused());
    await expect(manual.bookReturn({ ...request, toWarehouse: 'WH-BJ' })).rejects.toEqual(refused());
    await expect(manual.bookReturn({ ...request, lines: [{ sku: 'SKU-1', quantity: 3 }] })).rejects.toEqual(refused());
    // An outbound booking under a return's key is another request too.
    await expect(
      manual.book({
        idempotencyKey,
        shipmentId: request.shipmentId,
        orderId: request.orderId,
        fromWarehouse: 'WH-SH',
        to: customer,
        lines: request.lines,
      }),
    ).rejects.toEqual(refused());
    expect(await parcelsOf(request.shipmentId)).toBe(1);
    expect(await manual.get(waybill)).toMatchObject({ method: 'pickup', toWarehouse: 'WH-SH' });
  });

  test('invalid requests are refused and book nothing; a refused key can be used again once the request is right', async () => {
    const invalid: Partial<ReturnBookingRequest>[] = [
      { from: { ...customer, name: '' } },
      { from: { ...customer, postalCode: undefined as unknown as string } },
      { from: undefined as unknown as Address },
      { lines: [] },
      { lines: [{ sku: 'SKU-1', quantity: 0 }] },
      { method: 'courier' as ReturnBookingRequest['method'] },
      { toWarehouse: '' },
      { shipmentId: '' },
      { orderId: '' },
      { idempotencyKey: '' },
    ];
    for (const overrides of invalid) {
      const request = returnRequest(overrides);
      await expect(manual.bookReturn(request)).rejects.toEqual(refused());
      if (request.shipmentId) expect(await parcelsOf(request.shipmentId)).toBe(0);
    }

    const bad = returnRequest({ lines: [] });
    await expect(manual.bookReturn(bad)).rejects.toThrow(/lines/);
    const fixed = await manual.bookReturn({ ...bad, lines: [{ sku: 'SKU-2', quantity: 1 }] });
    expect(await manual.get(fixed.waybill)).toMatchObject({ lines: [{ sku: 'SKU-2', quantity: 1 }] });
  });

  test('an injected outage fails before anything is booked; the same key then succeeds', async () => {
    const flaky = await carrier({ failureRate: 1 });
    const request = returnRequest({ method: 'label' });
    await expect(flaky.bookReturn(request)).rejects.toEqual(unavailable());
    await expect(flaky.bookReturn(request)).rejects.toThrow(/bookReturn/);
    expect(await parcelsOf(request.shipmentId)).toBe(0);
    const { rows } = await pool.query('SELECT 1 FROM sandbox.carrier_operations WHERE key = $1', [
      request.idempotencyKey,
    ]);
    expect(rows).toHaveLength(0);

    flaky.configure({ failureRate: 0 });
    const booking = await flaky.bookReturn(request);
    expect(booking.labelUrl).toBe(`${LABEL_BASE_URL}/v1/sandbox/carrier/labels/${booking.waybill}`);
    expect(await parcelsOf(request.shipmentId)).toBe(1);
  });
});

describe('a return parcel on its way', () => {
  const STEPS: CarrierEventType[] = ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED'];

  test('moves from hand-over to the warehouse by emit(); each event is posted signed, in order, and tracked', async () => {
    const { waybill } = await manual.bookReturn(returnRequest({ toWarehouse: 'WH-GZ' }));
    const emitted: CarrierEvent[] = [];
    emitted.push(await manual.emit(waybill, 'PICKED_UP'));
    emitted.push(await manual.injectException(waybill, 'delayed'));
    for (const step of STEPS.slice(1)) emitted.push(await manual.emit(waybill, step));
    await manual.flushWebhooks();

    expect(emitted.map((event) => [event.type, event.exception, event.detail])).toEqual([
      ['PICKED_UP', undefined, 'Collected from Li Wei'],
      ['EXCEPTION', 'delayed', 'Delayed at sorting centre'],
      ['IN_TRANSIT', undefined, 'Departed origin sorting centre'],
      ['OUT_FOR_DELIVERY', undefined, 'Out for delivery to warehouse WH-GZ'],
      ['DELIVERED', undefined, 'Delivered to warehouse WH-GZ'],
    ]);
    expect(receiver.events(waybill)).toEqual(emitted);
    const posted = receiver.deliveries.filter((delivery) => delivery.rawBody.includes(waybill));
    expect(posted).toHaveLength(5);
    for (const delivery of posted) expect(verifySignature(SECRET, delivery.rawBody, delivery.signature)).toBe(true);
    expect(verifySignature('another-secret-0123456789abcdef', posted[0].rawBody, posted[0].signature)).toBe(false);

    expect(await manual.track(waybill)).toEqual({ waybill, status: 'DELIVERED', events: emitted });
    expect((await manual.events(waybill)).every((event) => event.delivered)).toBe(true);
  });

  test('a label return is handed over at a drop-off point', async () => {
    const { waybill } = await manual.bookReturn(returnRequest({ method: 'label' }));
    const event = await manual.emit(waybill, 'PICKED_UP');
    expect(event.detail).toBe('Dropped off by Li Wei');
    expect(await manual.get(waybill)).toMatchObject({ status: 'PICKED_UP' });
  });

  test('the auto-mode ticker walks a return to the warehouse', async () => {
    const auto = await carrier({ mode: 'auto', stepMs: 50 });
    auto.start();
    const { waybill } = await auto.bookReturn(returnRequest({ toWarehouse: 'WH-CD' }));
    await eventually(
      async () => (await auto.get(waybill))?.status,
      (status) => status === 'DELIVERED',
    );
    await auto.flushWebhooks();
    const events = await auto.events(waybill);
    expect(events.map((event) => event.type)).toEqual(STEPS);
    expect(events.at(-1)?.detail).toBe('Delivered to warehouse WH-CD');
    expect(receiver.events(waybill).map((event) => event.type)).toEqual(STEPS);
  });

  test('can be cancelled while booked, and not once handed over', async () => {
    const { waybill } = await manual.bookReturn(returnRequest());
    const cancelKey = key('cancel');
    await manual.cancel({ idempotencyKey: cancelKey, waybill });
    await manual.cancel({ idempotencyKey: cancelKey, waybill });
    expect(await manual.get(waybill)).toMatchObject({ status: 'CANCELLED' });
    expect(await manual.track(waybill)).toEqual({ waybill, status: 'CANCELLED', events: [] });

    const picked = await manual.bookReturn(returnRequest());
    await manual.emit(picked.waybill, 'PICKED_UP');
    await expect(manual.cancel({ idempotencyKey: key('cancel'), waybill: picked.waybill })).rejects.toEqual(refused());
    expect(await manual.get(picked.waybill)).toMatchObject({ status: 'PICKED_UP' });
  });
});

describe('return labels', () => {
  test('label() gives the printable label of a label return, and null for any other parcel', async () => {
    const request = returnRequest({
      method: 'label',
      toWarehouse: 'WH-BJ',
      lines: [
        { sku: 'SKU-1', quantity: 2 },
        { sku: 'SKU-9', quantity: 1 },
      ],
    });
    const { waybill } = await manual.bookReturn(request);
    expect(await manual.label(waybill)).toBe(
      [
        'sandbox carrier - RETURN',
        `Waybill: ${waybill}`,
        '',
        'From:',
        '  Li Wei',
        '  +86 138 0000 0000',
        '  1 Century Avenue',
        '  Flat 1203',
        '  Shanghai',
        '  200120',
        '  CN',
        '',
        'To: warehouse WH-BJ',
        '',
        'Contents:',
        '  2 x SKU-1',
        '  1 x SKU-9',
        '',
        `Return shipment: ${request.shipmentId}`,
        `Order: ${request.orderId}`,
        '',
      ].join('\n'),
    );

    const pickup = await manual.bookReturn(returnRequest());
    expect(await manual.label(pickup.waybill)).toBeNull();
    expect(await manual.label('SR000000000000')).toBeNull();
  });

  describe('GET /v1/sandbox/carrier/labels/:waybill', () => {
    let app: FastifyInstance;

    beforeAll(async () => {
      const config = loadConfig({ NODE_ENV: 'test', API_TOKENS: 'tok-ops=ops:olga,tok-agent=agent:alice' });
      // The label route reads only the carrier; the engine's own dependencies are never reached.
      app = await buildApp({
        config,
        temporal: {} as Client,
        orm: {} as MikroORM,
        taskQueue: 'orders-test',
        sandbox: { gateway: {} as never, carrier: manual },
      });
      await app.ready();
    });

    afterAll(async () => {
      await app?.close();
    });

    const get = (url: string, token?: string) =>
      app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

    test('answers the label at the booking’s labelUrl as text, and a problem for anything else', async () => {
      const { waybill, labelUrl } = await manual.bookReturn(returnRequest({ method: 'label' }));
      const path = new URL(labelUrl!).pathname;

      const answer = await get(path, 'tok-ops');
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(answer.body).toBe(await manual.label(waybill));

      const pickup = await manual.bookReturn(returnRequest());
      for (const unknown of [pickup.waybill, 'SR000000000000']) {
        const missing = await get(`/v1/sandbox/carrier/labels/${unknown}`, 'tok-ops');
        expect(missing.statusCode).toBe(404);
        expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(missing.json()).toMatchObject({
          type: `${PROBLEM_BASE}not-found`,
          detail: expect.stringContaining(unknown),
        });
      }

      expect((await get(path)).statusCode).toBe(401);
      expect((await get(path, 'tok-agent')).statusCode).toBe(403);
    });
  });
});

describe('schema evolution', () => {
  test('a parcels table from before returns gains the columns; its parcels read as outbound', async () => {
    const name = `legacy_${randomUUID().replace(/-/g, '')}`;
    await database.sql.query(`CREATE DATABASE ${name}`);
    const legacy = new Pool({ connectionString: database.db.url.replace(/\/[^/]+$/, `/${name}`) });
    try {
      await legacy.query('CREATE SCHEMA sandbox');
      await legacy.query(`CREATE TABLE sandbox.parcels (
        waybill        text PRIMARY KEY,
        shipment_id    text NOT NULL,
        order_id       text NOT NULL,
        from_warehouse text NOT NULL,
        address        jsonb NOT NULL,
        lines          jsonb NOT NULL,
        status         text NOT NULL,
        exception      text,
        next_event_at  timestamptz,
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now()
      )`);
      await legacy.query(
        `INSERT INTO sandbox.parcels (waybill, shipment_id, order_id, from_warehouse, address, lines, status)
         VALUES ('SF000000000001', 'shp-old', 'ord-old', 'WH-SH', $1, '[{"sku":"SKU-1","quantity":1}]', 'BOOKED')`,
        [JSON.stringify(customer)],
      );
      const options = { mode: 'manual', stepMs: 100, latencyMs: 0, failureRate: 0, webhookSecret: SECRET } as const;
      const upgraded = await SandboxCarrier.create(legacy, options);
      // A second start finds the columns there and changes nothing.
      const again = await SandboxCarrier.create(legacy, options);
      try {
        expect(await upgraded.get('SF000000000001')).toMatchObject({ direction: 'outbound', fromWarehouse: 'WH-SH' });
        expect(await upgraded.get('SF000000000001')).not.toHaveProperty('method');
        const { waybill, labelUrl } = await again.bookReturn(returnRequest({ method: 'label' }));
        expect(labelUrl).toBe(`http://127.0.0.1:3000/v1/sandbox/carrier/labels/${waybill}`);
        expect(await upgraded.get(waybill)).toMatchObject({ direction: 'return', method: 'label' });
        // The table itself refuses a return without a destination.
        await expect(
          legacy.query(`UPDATE sandbox.parcels SET to_warehouse = NULL WHERE waybill = $1`, [waybill]),
        ).rejects.toThrow(/parcels_direction_check/);
      } finally {
        await upgraded.stop();
        await again.stop();
      }
    } finally {
      await legacy.end();
    }
  });
});
