import { randomInt } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import {
  type Address,
  CARRIER_EVENT_TYPES,
  CARRIER_EXCEPTION_KINDS,
  type CarrierEventType,
  type CarrierExceptionKind,
  type LineRequest,
  type ShipmentStatus,
} from '../domain/order';
import type {
  Booking,
  BookingRequest,
  Carrier,
  CarrierEvent,
  ReturnBooking,
  ReturnBookingRequest,
  Tracking,
} from '../domain/ports';
import {
  ensureSchema,
  FaultInjector,
  type FaultSettings,
  operationsDdl,
  ProviderRefusedError,
  randomId,
  runIdempotent,
  withTransaction,
} from './common';
import { type DeliveryOutcome, WEBHOOK_DELIVERIES_DDL, WebhookDispatcher, type WebhookSettings } from './webhooks';

export const CARRIER_NAME = 'sandbox';

/** Where the automatic ticker takes a parcel next, one step per stepMs. */
const NEXT_STEP: Partial<Record<ShipmentStatus, CarrierEventType>> = {
  BOOKED: 'PICKED_UP',
  PICKED_UP: 'IN_TRANSIT',
  IN_TRANSIT: 'OUT_FOR_DELIVERY',
  OUT_FOR_DELIVERY: 'DELIVERED',
};
const ADVANCING_STATUSES = Object.keys(NEXT_STEP);
/** A delay pushes the next step back by this many steps unless the caller says otherwise. */
const DEFAULT_DELAY_STEPS = 3;
/** The ticker's shortest round: with a step of 0 (benchmarks), parcels move one step every round. */
const MIN_TICK_MS = 20;
/** Parcels advanced per ticker round; the rest wait for the next round rather than hold one long transaction. */
const TICK_BATCH = 100;
const OPERATIONS_TABLE = 'sandbox.carrier_operations';
/**
 * What a return parcel holds in from_warehouse, which stays NOT NULL: it comes from a customer, not from a warehouse,
 * and a warehouse code here would count the return among that warehouse's outbound parcels.
 */
const RETURN_ORIGIN = 'customer';
const RETURN_METHODS = ['pickup', 'label'] as const satisfies readonly ReturnMethod[];
const DEFAULT_LABEL_BASE_URL = 'http://127.0.0.1:3000';

export type ParcelDirection = 'outbound' | 'return';
export type ReturnMethod = ReturnBookingRequest['method'];

const SCHEMA = [
  ...WEBHOOK_DELIVERIES_DDL,
  `CREATE TABLE IF NOT EXISTS sandbox.parcels (
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
  )`,
  // Return parcels came later: tables from before gain their columns. Guarded by the last column it adds because ALTER
  // TABLE locks the table exclusively even with nothing to add, and every start would then wait for tickers and
  // bookings. It comes before the indexes, so that the exclusive lock is the first one taken on the table here and
  // never an upgrade of a weaker one, which could deadlock with a ticker.
  `DO $$
   BEGIN
     IF NOT EXISTS (SELECT 1 FROM pg_attribute
                     WHERE attrelid = 'sandbox.parcels'::regclass
                       AND attname = 'to_warehouse' AND NOT attisdropped) THEN
       ALTER TABLE sandbox.parcels
         ADD COLUMN IF NOT EXISTS direction    text NOT NULL DEFAULT 'outbound',
         ADD COLUMN IF NOT EXISTS method       text,
         ADD COLUMN IF NOT EXISTS to_warehouse text,
         ADD CONSTRAINT parcels_direction_check CHECK (
           direction = 'outbound' AND method IS NULL AND to_warehouse IS NULL
           OR direction = 'return' AND method IN ('pickup', 'label') AND to_warehouse IS NOT NULL
         );
     END IF;
   END $$`,
  'CREATE INDEX IF NOT EXISTS parcels_due_idx ON sandbox.parcels (next_event_at) WHERE next_event_at IS NOT NULL',
  'CREATE INDEX IF NOT EXISTS parcels_shipment_idx ON sandbox.parcels (shipment_id)',
  `CREATE TABLE IF NOT EXISTS sandbox.events (
    event_id    text PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    waybill     text NOT NULL REFERENCES sandbox.parcels (waybill),
    type        text NOT NULL,
    exception   text,
    detail      text,
    occurred_at timestamptz NOT NULL DEFAULT now(), -- transaction time, the clock next_event_at is reckoned on
    delivered   boolean NOT NULL DEFAULT false
  )`,
  'CREATE INDEX IF NOT EXISTS events_waybill_idx ON sandbox.events (waybill, seq)',
  ...operationsDdl('carrier_operations', 'waybill'),
];

const addressSchema = z.object({
  name: z.string().min(1),
  phone: z.string().min(1),
  line1: z.string().min(1),
  line2: z.string().optional(),
  city: z.string().min(1),
  region: z.string().optional(),
  postalCode: z.string().min(1),
  country: z.string().min(2),
});
const linesSchema = z.array(z.object({ sku: z.string().min(1), quantity: z.number().int().positive() })).min(1);
const returnMethodSchema = z.enum(RETURN_METHODS);

export interface SandboxCarrierOptions extends FaultSettings, WebhookSettings {
  /** auto: a ticker walks parcels to DELIVERED; manual: parcels move only through emit() and injectException(). */
  mode: 'auto' | 'manual';
  /** Time between two tracking steps of a parcel in auto mode. */
  stepMs: number;
  /** Source of the fault-injection dice, 0 <= x < 1. */
  random?: () => number;
  /** Where the API serving /v1/sandbox/carrier/labels is reached; the label URLs handed out start with it. */
  labelBaseUrl?: string;
}

export interface Parcel {
  waybill: string;
  shipmentId: string;
  orderId: string;
  direction: ParcelDirection;
  /** How a return is handed over; absent for outbound parcels. */
  method?: ReturnMethod;
  /** The warehouse code for outbound parcels; 'customer' for returns. */
  fromWarehouse: string;
  /** Where a return goes; absent for outbound parcels, which go to `address`. */
  toWarehouse?: string;
  /** Outbound: the recipient's address. Return: the customer's, where the courier collects or the label's sender. */
  address: Address;
  lines: LineRequest[];
  status: ShipmentStatus;
  exception?: CarrierExceptionKind;
  nextEventAt?: string;
  createdAt: string;
  updatedAt: string;
}

export interface RecordedCarrierEvent extends CarrierEvent {
  /** True once the webhook receiver acknowledged the event. */
  delivered: boolean;
}

interface ParcelRow {
  waybill: string;
  shipment_id: string;
  order_id: string;
  direction: ParcelDirection;
  method: ReturnMethod | null;
  from_warehouse: string;
  to_warehouse: string | null;
  address: Address;
  lines: LineRequest[];
  status: ShipmentStatus;
  exception: CarrierExceptionKind | null;
  next_event_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

type NewParcel = Pick<
  ParcelRow,
  'shipment_id' | 'order_id' | 'direction' | 'method' | 'from_warehouse' | 'to_warehouse' | 'address' | 'lines'
>;

interface EventRow {
  event_id: string;
  waybill: string;
  type: CarrierEventType;
  exception: CarrierExceptionKind | null;
  detail: string | null;
  occurred_at: Date;
  delivered: boolean;
}

/** A parcel joined with its events: one row per event, or a single row with no event. */
type TrackingRow = Pick<ParcelRow, 'status'> & { parcel_exception: CarrierExceptionKind | null } & (
    Omit<EventRow, 'delivered'> | { event_id: null }
  );

/**
 * A parcel carrier in PostgreSQL, carrying parcels out to customers and back from them (returns), both alike once
 * booked. Bookings, cancellations, address changes and tracking reads are subject to injected latency and outages, and
 * the changes are idempotent by key; tracking events are stored and posted as signed webhooks, in order per parcel,
 * from the moment create() returns. In auto mode start() also runs a ticker; tickers and webhook dispatchers in
 * several processes share the work through row locks.
 */
export class SandboxCarrier implements Carrier {
  private readonly faults: FaultInjector;
  private readonly webhooks: WebhookDispatcher;
  private readonly mode: 'auto' | 'manual';
  private readonly stepMs: number;
  private readonly labelBaseUrl: string;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  private constructor(
    private readonly pool: Pool,
    opts: SandboxCarrierOptions,
  ) {
    if (!(opts.stepMs >= 0 && Number.isFinite(opts.stepMs))) {
      throw new RangeError(`stepMs must be >= 0, got ${opts.stepMs}`);
    }
    this.mode = opts.mode;
    this.stepMs = opts.stepMs;
    this.labelBaseUrl = (opts.labelBaseUrl ?? DEFAULT_LABEL_BASE_URL).replace(/\/+$/, '');
    this.faults = new FaultInjector(
      { latencyMs: opts.latencyMs, failureRate: opts.failureRate },
      opts.random ?? Math.random,
    );
    this.webhooks = new WebhookDispatcher(pool, 'carrier', opts, (client, eventId) =>
      client.query('UPDATE sandbox.events SET delivered = true WHERE event_id = $1', [eventId]),
    );
  }

  /** Creates the tables if needed and starts posting webhooks, including any an earlier run left undelivered. */
  static async create(pool: Pool, opts: SandboxCarrierOptions): Promise<SandboxCarrier> {
    const carrier = new SandboxCarrier(pool, opts);
    await ensureSchema(pool, SCHEMA);
    carrier.webhooks.start();
    return carrier;
  }

  /** Changes injected latency or failure rate at run time (tests, the sandbox control endpoint). */
  configure(settings: Partial<FaultSettings>): void {
    this.faults.update(settings);
  }

  async book(req: BookingRequest): Promise<Booking> {
    await this.faults.apply('book');
    const { idempotencyKey, ...request } = req;
    return runIdempotent<Booking>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'waybill',
      key: idempotencyKey,
      operation: 'book',
      request,
      execute: async (client) => {
        const address = parse(addressSchema, req.to, 'address');
        const lines = parse(linesSchema, req.lines, 'lines');
        if (!req.shipmentId || !req.orderId || !req.fromWarehouse) {
          throw new ProviderRefusedError('sandbox: shipmentId, orderId and fromWarehouse are required');
        }
        const waybill = await this.insertParcel(client, 'SF', {
          shipment_id: req.shipmentId,
          order_id: req.orderId,
          direction: 'outbound',
          method: null,
          from_warehouse: req.fromWarehouse,
          to_warehouse: null,
          address,
          lines,
        });
        return { response: { carrier: CARRIER_NAME, waybill }, subject: waybill };
      },
    });
  }

  async bookReturn(req: ReturnBookingRequest): Promise<ReturnBooking> {
    await this.faults.apply('bookReturn');
    const { idempotencyKey, ...request } = req;
    return runIdempotent<ReturnBooking>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'waybill',
      key: idempotencyKey,
      operation: 'book_return',
      request,
      execute: async (client) => {
        const method = parse(returnMethodSchema, req.method, 'method');
        const address = parse(addressSchema, req.from, 'from');
        const lines = parse(linesSchema, req.lines, 'lines');
        if (!req.shipmentId || !req.orderId || !req.toWarehouse) {
          throw new ProviderRefusedError('sandbox: shipmentId, orderId and toWarehouse are required');
        }
        const waybill = await this.insertParcel(client, 'SR', {
          shipment_id: req.shipmentId,
          order_id: req.orderId,
          direction: 'return',
          method,
          from_warehouse: RETURN_ORIGIN,
          to_warehouse: req.toWarehouse,
          address,
          lines,
        });
        const labelUrl = method === 'label' ? `${this.labelBaseUrl}/v1/sandbox/carrier/labels/${waybill}` : undefined;
        return { response: { carrier: CARRIER_NAME, waybill, ...(labelUrl ? { labelUrl } : {}) }, subject: waybill };
      },
    });
  }

  async cancel(req: { idempotencyKey: string; waybill: string }): Promise<void> {
    await this.faults.apply('cancel');
    await runIdempotent<null>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'waybill',
      key: req.idempotencyKey,
      operation: 'cancel',
      request: { waybill: req.waybill },
      execute: async (client) => {
        const parcel = await lockParcel(client, req.waybill);
        if (parcel.status !== 'BOOKED') {
          throw new ProviderRefusedError(
            `sandbox: parcel ${parcel.waybill} is ${parcel.status}; only BOOKED can be cancelled`,
          );
        }
        await client.query(
          `UPDATE sandbox.parcels SET status = 'CANCELLED', next_event_at = NULL, updated_at = now() WHERE waybill = $1`,
          [parcel.waybill],
        );
        return { response: null, subject: parcel.waybill };
      },
    });
  }

  async changeAddress(req: { idempotencyKey: string; waybill: string; address: Address }): Promise<void> {
    await this.faults.apply('changeAddress');
    await runIdempotent<null>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'waybill',
      key: req.idempotencyKey,
      operation: 'change_address',
      request: { waybill: req.waybill, address: req.address },
      execute: async (client) => {
        const address = parse(addressSchema, req.address, 'address');
        const parcel = await lockParcel(client, req.waybill);
        if (parcel.status !== 'BOOKED') {
          throw new ProviderRefusedError(
            `sandbox: parcel ${parcel.waybill} is ${parcel.status}; the address can change only while BOOKED`,
          );
        }
        await client.query(`UPDATE sandbox.parcels SET address = $2, updated_at = now() WHERE waybill = $1`, [
          parcel.waybill,
          JSON.stringify(address),
        ]);
        return { response: null, subject: parcel.waybill };
      },
    });
  }

  /**
   * Starts the ticker in auto mode (in manual mode parcels never move by themselves) and restarts webhook delivery
   * after a stop().
   */
  start(): void {
    this.webhooks.start();
    if (this.mode !== 'auto' || this.running) return;
    this.running = true;
    this.schedule();
  }

  /**
   * Stops the ticker and webhook delivery, waiting for a round or attempt in progress and leaving no timers behind.
   * Undelivered events stay pending for whichever instance runs next.
   */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.webhooks.stop();
  }

  /**
   * Records a tracking event as if the carrier had scanned the parcel, moves the parcel accordingly and posts the event.
   * Deliberately permissive (any type, any order) so tests can replay what real carriers do: skip, repeat, reorder.
   */
  async emit(waybill: string, type: CarrierEventType, exception?: CarrierExceptionKind): Promise<CarrierEvent> {
    if (!CARRIER_EVENT_TYPES.includes(type)) throw new ProviderRefusedError(`sandbox: unknown event type ${type}`);
    if ((type === 'EXCEPTION') !== (exception !== undefined)) {
      throw new ProviderRefusedError('sandbox: an exception kind goes with, and only with, an EXCEPTION event');
    }
    if (exception !== undefined && !CARRIER_EXCEPTION_KINDS.includes(exception)) {
      throw new ProviderRefusedError(`sandbox: unknown exception kind ${exception}`);
    }
    const event = await withTransaction(this.pool, async (client) =>
      this.record(client, await lockParcel(client, waybill), type, exception),
    );
    this.webhooks.wake();
    return event;
  }

  /**
   * Reports trouble with a parcel on its way: lost and damaged end the automatic advance (status EXCEPTION); delayed
   * keeps the status and pushes the next step back by `delayMs` (three steps unless given).
   */
  async injectException(waybill: string, kind: CarrierExceptionKind, delayMs?: number): Promise<CarrierEvent> {
    if (!CARRIER_EXCEPTION_KINDS.includes(kind)) {
      throw new ProviderRefusedError(`sandbox: unknown exception kind ${kind}`);
    }
    if (delayMs !== undefined && (!Number.isInteger(delayMs) || delayMs < 0)) {
      throw new ProviderRefusedError(`sandbox: delayMs must be a whole number of milliseconds >= 0, got ${delayMs}`);
    }
    const event = await withTransaction(this.pool, async (client) => {
      const parcel = await lockParcel(client, waybill);
      if (parcel.status === 'DELIVERED' || parcel.status === 'CANCELLED') {
        throw new ProviderRefusedError(`sandbox: parcel ${waybill} is ${parcel.status}; nothing can happen to it now`);
      }
      return this.record(client, parcel, 'EXCEPTION', kind, delayMs);
    });
    this.webhooks.wake();
    return event;
  }

  async track(waybill: string): Promise<Tracking | null> {
    await this.faults.apply('track');
    // One statement, one snapshot: the status and the events cannot disagree about a step taken in between.
    const { rows } = await this.pool.query<TrackingRow>(
      `SELECT waybill, p.status, p.exception AS parcel_exception,
              e.event_id, e.type, e.exception, e.detail, e.occurred_at
         FROM sandbox.parcels p LEFT JOIN sandbox.events e USING (waybill)
        WHERE p.waybill = $1
        ORDER BY e.seq`,
      [waybill],
    );
    if (!rows[0]) return null;
    const { status, parcel_exception: exception } = rows[0];
    return {
      waybill,
      status,
      ...(exception ? { exception } : {}),
      events: rows.flatMap((row) => (row.event_id === null ? [] : [toEvent(row)])),
    };
  }

  async get(waybill: string): Promise<Parcel | null> {
    const { rows } = await this.pool.query<ParcelRow>('SELECT * FROM sandbox.parcels WHERE waybill = $1', [waybill]);
    return rows[0] ? toParcel(rows[0]) : null;
  }

  /** The label the customer prints for a return booked with one, as plain text; null for any other parcel. */
  async label(waybill: string): Promise<string | null> {
    const { rows } = await this.pool.query<ParcelRow>(
      `SELECT * FROM sandbox.parcels WHERE waybill = $1 AND direction = 'return' AND method = 'label'`,
      [waybill],
    );
    return rows[0] ? labelText(rows[0]) : null;
  }

  /** The parcel's tracking history, oldest first. */
  async events(waybill: string): Promise<RecordedCarrierEvent[]> {
    const { rows } = await this.pool.query<EventRow>('SELECT * FROM sandbox.events WHERE waybill = $1 ORDER BY seq', [
      waybill,
    ]);
    return rows.map((row) => ({ ...toEvent(row), delivered: row.delivered }));
  }

  /** Waits until no event this instance recorded is waiting for delivery: each has been delivered or given up. */
  flushWebhooks(): Promise<DeliveryOutcome[]> {
    return this.webhooks.flush();
  }

  private schedule(): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.ticking = this.tick()
          .catch((error: unknown) => process.emitWarning(`sandbox carrier ticker: ${(error as Error).message}`))
          .finally(() => {
            this.ticking = undefined;
            if (this.running) this.schedule();
          });
      },
      Math.min(Math.max(this.stepMs, MIN_TICK_MS), 1000),
    );
  }

  /**
   * One ticker round: every due parcel moves one step. SKIP LOCKED lets tickers in other processes take the rest. A
   * round with nothing due costs one indexed read and no transaction: the ticker runs every 20 ms at a step of 0.
   */
  private async tick(): Promise<void> {
    const due = await this.pool.query(
      'SELECT 1 FROM sandbox.parcels WHERE next_event_at <= now() AND status = ANY($1) LIMIT 1',
      [ADVANCING_STATUSES],
    );
    if (due.rowCount === 0) return;
    const events = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<ParcelRow>(
        `SELECT * FROM sandbox.parcels
          WHERE next_event_at <= now() AND status = ANY($1)
          ORDER BY next_event_at
          LIMIT ${TICK_BATCH}
          FOR UPDATE SKIP LOCKED`,
        [ADVANCING_STATUSES],
      );
      const recorded: CarrierEvent[] = [];
      for (const parcel of rows) {
        const next = NEXT_STEP[parcel.status];
        if (next) recorded.push(await this.record(client, parcel, next));
      }
      return recorded;
    });
    if (events.length > 0) this.webhooks.wake();
  }

  /** Stores the event, applies it to the (locked) parcel and queues its webhook, all in the caller's transaction. */
  private async record(
    client: PoolClient,
    parcel: ParcelRow,
    type: CarrierEventType,
    exception?: CarrierExceptionKind,
    delayMs = DEFAULT_DELAY_STEPS * this.stepMs,
  ): Promise<CarrierEvent> {
    if (type !== 'EXCEPTION') {
      // Progress ends any earlier delay; the next step is due a full step from now, or never once delivered.
      await client.query(
        `UPDATE sandbox.parcels
            SET status = $2, exception = NULL, updated_at = now(),
                next_event_at = CASE WHEN $2 = 'DELIVERED' THEN NULL ELSE ${this.nextStepSql()} END
          WHERE waybill = $1`,
        [parcel.waybill, type],
      );
    } else if (exception === 'delayed') {
      await client.query(
        `UPDATE sandbox.parcels
            SET exception = 'delayed', updated_at = now(),
                next_event_at = next_event_at + $2::integer * interval '1 millisecond'
          WHERE waybill = $1`,
        [parcel.waybill, delayMs],
      );
    } else {
      await client.query(
        `UPDATE sandbox.parcels SET status = 'EXCEPTION', exception = $2, next_event_at = NULL, updated_at = now()
          WHERE waybill = $1`,
        [parcel.waybill, exception],
      );
    }
    const { rows } = await client.query<EventRow>(
      `INSERT INTO sandbox.events (event_id, waybill, type, exception, detail) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [randomId('evt'), parcel.waybill, type, exception ?? null, detailFor(parcel, type, exception)],
    );
    const event = toEvent(rows[0]);
    await this.webhooks.enqueue(client, event.eventId, event, event.waybill);
    return event;
  }

  /** Inserts a BOOKED parcel under a new waybill; random waybills may collide, and on a clash another one is drawn. */
  private async insertParcel(client: PoolClient, prefix: 'SF' | 'SR', parcel: NewParcel): Promise<string> {
    for (;;) {
      const waybill = `${prefix}${String(randomInt(1e12)).padStart(12, '0')}`;
      const inserted = await client.query(
        `INSERT INTO sandbox.parcels (waybill, shipment_id, order_id, direction, method, from_warehouse, to_warehouse,
                                      address, lines, status, next_event_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'BOOKED', ${this.nextStepSql()})
         ON CONFLICT (waybill) DO NOTHING`,
        [
          waybill,
          parcel.shipment_id,
          parcel.order_id,
          parcel.direction,
          parcel.method,
          parcel.from_warehouse,
          parcel.to_warehouse,
          JSON.stringify(parcel.address),
          JSON.stringify(parcel.lines),
        ],
      );
      if (inserted.rowCount === 1) return waybill;
    }
  }

  /** In manual mode parcels get no due time at all, so no auto-mode ticker elsewhere will move them either. */
  private nextStepSql(): string {
    return this.mode === 'auto' ? `now() + ${this.stepMs} * interval '1 millisecond'` : 'NULL::timestamptz';
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${[what, ...issue.path].join('.')}: ${issue.message}`);
    throw new ProviderRefusedError(`sandbox: ${issues.join('; ')}`);
  }
  return result.data;
}

async function lockParcel(client: PoolClient, waybill: string): Promise<ParcelRow> {
  const { rows } = await client.query<ParcelRow>('SELECT * FROM sandbox.parcels WHERE waybill = $1 FOR UPDATE', [
    waybill,
  ]);
  if (!rows[0]) throw new ProviderRefusedError(`sandbox: no parcel ${waybill}`);
  return rows[0];
}

function detailFor(parcel: ParcelRow, type: CarrierEventType, exception?: CarrierExceptionKind): string {
  const returning = parcel.direction === 'return';
  switch (type) {
    case 'PICKED_UP':
      if (!returning) return `Picked up at ${parcel.from_warehouse}`;
      return parcel.method === 'label'
        ? `Dropped off by ${parcel.address.name}`
        : `Collected from ${parcel.address.name}`;
    case 'IN_TRANSIT':
      return 'Departed origin sorting centre';
    case 'OUT_FOR_DELIVERY':
      return returning
        ? `Out for delivery to warehouse ${parcel.to_warehouse}`
        : `Out for delivery in ${parcel.address.city}`;
    case 'DELIVERED':
      return returning ? `Delivered to warehouse ${parcel.to_warehouse}` : `Delivered to ${parcel.address.name}`;
    case 'EXCEPTION':
      return exception === 'lost'
        ? 'Parcel reported lost'
        : exception === 'damaged'
          ? 'Parcel damaged in transit'
          : 'Delayed at sorting centre';
  }
}

function labelText(parcel: ParcelRow): string {
  const from = parcel.address;
  return [
    `${CARRIER_NAME} carrier - RETURN`,
    `Waybill: ${parcel.waybill}`,
    '',
    'From:',
    ...[from.name, from.phone, from.line1, from.line2, from.city, from.region, from.postalCode, from.country]
      .filter((field) => field)
      .map((field) => `  ${field}`),
    '',
    `To: warehouse ${parcel.to_warehouse}`,
    '',
    'Contents:',
    ...parcel.lines.map((line) => `  ${line.quantity} x ${line.sku}`),
    '',
    `Return shipment: ${parcel.shipment_id}`,
    `Order: ${parcel.order_id}`,
    '',
  ].join('\n');
}

function toEvent(row: Omit<EventRow, 'delivered'>): CarrierEvent {
  return {
    eventId: row.event_id,
    waybill: row.waybill,
    type: row.type,
    ...(row.exception ? { exception: row.exception } : {}),
    occurredAt: row.occurred_at.toISOString(),
    ...(row.detail ? { detail: row.detail } : {}),
  };
}

function toParcel(row: ParcelRow): Parcel {
  return {
    waybill: row.waybill,
    shipmentId: row.shipment_id,
    orderId: row.order_id,
    direction: row.direction,
    ...(row.method ? { method: row.method } : {}),
    fromWarehouse: row.from_warehouse,
    ...(row.to_warehouse ? { toWarehouse: row.to_warehouse } : {}),
    address: row.address,
    lines: row.lines,
    status: row.status,
    ...(row.exception ? { exception: row.exception } : {}),
    ...(row.next_event_at ? { nextEventAt: row.next_event_at.toISOString() } : {}),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
