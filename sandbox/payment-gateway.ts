import { randomInt } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { PaymentMethod } from '../domain/order';
import type {
  AuthorizeRequest,
  AuthorizeResult,
  DeferredRequest,
  DeferredResult,
  GatewayPayment,
  GatewayPaymentStatus,
  GatewayRefund,
  MoneyMovement,
  PaymentGateway,
  PaymentNotification,
  PayoutRequest,
} from '../domain/ports';
import {
  assertAmount,
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

/**
 * Test tokens that make an authorization come back declined, whatever the method they are sent with:
 *
 *   tok_decline             -> card_declined
 *   tok_insufficient_funds  -> insufficient_funds
 *   tok_expired             -> expired_card
 *   wallet_decline          -> wallet_declined
 *   balance_insufficient    -> insufficient_balance
 *
 * Any other token authorizes. card, wallet and instalments need a token (a missing one is refused as a malformed
 * request, as a real provider would); balance may omit it and then authorizes.
 */
export const DECLINE_TOKENS: Readonly<Record<string, string>> = {
  tok_decline: 'card_declined',
  tok_insufficient_funds: 'insufficient_funds',
  tok_expired: 'expired_card',
  wallet_decline: 'wallet_declined',
  balance_insufficient: 'insufficient_balance',
};

/** Operation names as recorded in sandbox.payment_operations. */
export type PaymentOperation = 'authorize' | 'open_deferred' | 'capture' | 'void' | 'refund' | 'payout';

const AUTHORIZE_METHODS: readonly PaymentMethod[] = ['card', 'wallet', 'balance', 'instalments'];
const OPERATIONS_TABLE = 'sandbox.payment_operations';
/** No 0/O or 1/I, so a reference read out over the phone or typed from a receipt survives. */
const REFERENCE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

const SCHEMA = [
  ...WEBHOOK_DELIVERIES_DDL,
  `CREATE TABLE IF NOT EXISTS sandbox.payments (
    id              text PRIMARY KEY,
    order_id        text NOT NULL,
    method          text NOT NULL,
    status          text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        char(3) NOT NULL,
    captured_amount bigint NOT NULL DEFAULT 0,
    refunded_amount bigint NOT NULL DEFAULT 0,
    reference       text UNIQUE,
    decline_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (refunded_amount <= captured_amount)
  )`,
  'CREATE INDEX IF NOT EXISTS payments_order_idx ON sandbox.payments (order_id)',
  `CREATE TABLE IF NOT EXISTS sandbox.refunds (
    id         text PRIMARY KEY,
    payment_id text NOT NULL REFERENCES sandbox.payments (id),
    amount     bigint NOT NULL CHECK (amount > 0),
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  'CREATE INDEX IF NOT EXISTS refunds_payment_idx ON sandbox.refunds (payment_id, created_at)',
  `CREATE TABLE IF NOT EXISTS sandbox.payouts (
    id          text PRIMARY KEY,
    customer_id text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    currency    char(3) NOT NULL,
    reference   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
  )`,
  ...operationsDdl('payment_operations', 'payment_id'),
];

/** The webhook URL receives payment notifications (bank transfer arrivals). */
export interface SandboxPaymentGatewayOptions extends FaultSettings, WebhookSettings {
  /** Source of the fault-injection dice, 0 <= x < 1; inject a fixed sequence to make outages deterministic. */
  random?: () => number;
}

/** What the sandbox knows about a payment, beyond what the PaymentGateway port promises. */
export interface SandboxPayment extends GatewayPayment {
  declineReason?: string;
  createdAt: string;
  updatedAt: string;
}

interface PaymentRow {
  id: string;
  order_id: string;
  method: PaymentMethod;
  status: GatewayPaymentStatus;
  amount: string;
  currency: string;
  captured_amount: string;
  refunded_amount: string;
  reference: string | null;
  decline_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * A payment provider in PostgreSQL: payments keep their state across restarts and processes, every state-changing
 * call is idempotent by key, and the injected latency and outages hit every API call (get() too) before anything
 * is read or changed. Notifications are posted as signed webhooks from the moment create() returns until close().
 *
 * Lifecycle: authorize -> authorized | declined; openDeferred -> pending (bank_transfer settles when the transfer
 * arrives, cod when capture() is called on delivery). capture once, up to the amount (the rest of the authorization
 * is released); void an authorized or pending payment; refund captured money in as many parts as wanted, in total
 * at most what was captured (a partial refund leaves the payment captured, the last part makes it refunded). A payout
 * sends money to a customer outside any payment.
 */
export class SandboxPaymentGateway implements PaymentGateway {
  private readonly faults: FaultInjector;
  private readonly webhooks: WebhookDispatcher;

  private constructor(
    private readonly pool: Pool,
    opts: SandboxPaymentGatewayOptions,
  ) {
    this.faults = new FaultInjector(
      { latencyMs: opts.latencyMs, failureRate: opts.failureRate },
      opts.random ?? Math.random,
    );
    this.webhooks = new WebhookDispatcher(pool, 'payment', opts);
  }

  /** Creates the tables if needed and starts posting webhooks, including any an earlier run left undelivered. */
  static async create(pool: Pool, opts: SandboxPaymentGatewayOptions): Promise<SandboxPaymentGateway> {
    const gateway = new SandboxPaymentGateway(pool, opts);
    await ensureSchema(pool, SCHEMA);
    gateway.webhooks.start();
    return gateway;
  }

  /** Changes injected latency or failure rate at run time (tests, the sandbox control endpoint). */
  configure(settings: Partial<FaultSettings>): void {
    this.faults.update(settings);
  }

  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    await this.faults.apply('authorize');
    const { idempotencyKey, ...request } = req;
    return runIdempotent<AuthorizeResult>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'payment_id',
      key: idempotencyKey,
      operation: 'authorize',
      request,
      execute: async (client) => {
        if (!AUTHORIZE_METHODS.includes(req.method)) {
          throw new ProviderRefusedError(`sandbox: ${req.method} is not authorized up front; use openDeferred`);
        }
        assertAmount(req.amount);
        assertCurrency(req.currency);
        if (!req.token && req.method !== 'balance') {
          throw new ProviderRefusedError(`sandbox: a ${req.method} authorization needs a payment token`);
        }
        const reason = req.token && Object.hasOwn(DECLINE_TOKENS, req.token) ? DECLINE_TOKENS[req.token] : undefined;
        const paymentId = randomId('pay');
        await client.query(
          `INSERT INTO sandbox.payments (id, order_id, method, status, amount, currency, decline_reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [paymentId, req.orderId, req.method, reason ? 'declined' : 'authorized', req.amount, req.currency, reason],
        );
        const response: AuthorizeResult = reason
          ? { status: 'declined', paymentId, reason }
          : { status: 'authorized', paymentId };
        return { response, subject: paymentId };
      },
    });
  }

  async openDeferred(req: DeferredRequest): Promise<DeferredResult> {
    await this.faults.apply('openDeferred');
    const { idempotencyKey, ...request } = req;
    return runIdempotent<DeferredResult>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'payment_id',
      key: idempotencyKey,
      operation: 'open_deferred',
      request,
      execute: async (client) => {
        if (req.method !== 'bank_transfer' && req.method !== 'cod') {
          throw new ProviderRefusedError(`sandbox: ${String(req.method)} is not a deferred method; use authorize`);
        }
        assertAmount(req.amount);
        assertCurrency(req.currency);
        const paymentId = randomId('pay');
        if (req.method === 'cod') {
          await client.query(
            `INSERT INTO sandbox.payments (id, order_id, method, status, amount, currency)
             VALUES ($1, $2, 'cod', 'pending', $3, $4)`,
            [paymentId, req.orderId, req.amount, req.currency],
          );
          return { response: { paymentId }, subject: paymentId };
        }
        // Random references may collide; on a clash nothing is inserted and another one is drawn.
        for (;;) {
          const reference = transferReference();
          const inserted = await client.query(
            `INSERT INTO sandbox.payments (id, order_id, method, status, amount, currency, reference)
             VALUES ($1, $2, 'bank_transfer', 'pending', $3, $4, $5)
             ON CONFLICT (reference) DO NOTHING`,
            [paymentId, req.orderId, req.amount, req.currency, reference],
          );
          if (inserted.rowCount === 1) return { response: { paymentId, reference }, subject: paymentId };
        }
      },
    });
  }

  async capture(req: { idempotencyKey: string; paymentId: string; amount: number }): Promise<MoneyMovement> {
    await this.faults.apply('capture');
    return runIdempotent<MoneyMovement>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'payment_id',
      key: req.idempotencyKey,
      operation: 'capture',
      request: { paymentId: req.paymentId, amount: req.amount },
      execute: async (client) => {
        assertAmount(req.amount);
        const payment = await lockPayment(client, req.paymentId);
        if (payment.method === 'bank_transfer') {
          throw new ProviderRefusedError(`sandbox: bank transfer ${payment.id} settles when the transfer arrives`);
        }
        if (payment.status !== 'authorized' && payment.status !== 'pending') {
          throw new ProviderRefusedError(`sandbox: cannot capture payment ${payment.id}, it is ${payment.status}`);
        }
        if (req.amount > Number(payment.amount)) {
          throw new ProviderRefusedError(
            `sandbox: capture of ${req.amount} exceeds the ${payment.amount} authorized on ${payment.id}`,
          );
        }
        await client.query(
          `UPDATE sandbox.payments SET status = 'captured', captured_amount = $2, updated_at = now() WHERE id = $1`,
          [payment.id, req.amount],
        );
        return { response: { id: randomId('cap'), paymentId: payment.id, amount: req.amount }, subject: payment.id };
      },
    });
  }

  async void(req: { idempotencyKey: string; paymentId: string }): Promise<void> {
    await this.faults.apply('void');
    await runIdempotent<null>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'payment_id',
      key: req.idempotencyKey,
      operation: 'void',
      request: { paymentId: req.paymentId },
      execute: async (client) => {
        const payment = await lockPayment(client, req.paymentId);
        if (payment.status !== 'authorized' && payment.status !== 'pending') {
          throw new ProviderRefusedError(`sandbox: cannot void payment ${payment.id}, it is ${payment.status}`);
        }
        await client.query(`UPDATE sandbox.payments SET status = 'voided', updated_at = now() WHERE id = $1`, [
          payment.id,
        ]);
        return { response: null, subject: payment.id };
      },
    });
  }

  async refund(req: {
    idempotencyKey: string;
    paymentId: string;
    amount: number;
    reason: string;
  }): Promise<MoneyMovement> {
    await this.faults.apply('refund');
    return runIdempotent<MoneyMovement>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'payment_id',
      key: req.idempotencyKey,
      operation: 'refund',
      request: { paymentId: req.paymentId, amount: req.amount, reason: req.reason },
      execute: async (client) => {
        assertAmount(req.amount);
        const payment = await lockPayment(client, req.paymentId);
        if (payment.status !== 'captured') {
          throw new ProviderRefusedError(`sandbox: cannot refund payment ${payment.id}, it is ${payment.status}`);
        }
        const refundable = Number(payment.captured_amount) - Number(payment.refunded_amount);
        if (req.amount > refundable) {
          throw new ProviderRefusedError(
            `sandbox: refund of ${req.amount} exceeds the ${refundable} still refundable on ${payment.id}`,
          );
        }
        const refundId = randomId('re');
        await client.query(
          `UPDATE sandbox.payments
              SET refunded_amount = refunded_amount + $2,
                  status = CASE WHEN refunded_amount + $2 = captured_amount THEN 'refunded' ELSE status END,
                  updated_at = now()
            WHERE id = $1`,
          [payment.id, req.amount],
        );
        await client.query(`INSERT INTO sandbox.refunds (id, payment_id, amount, reason) VALUES ($1, $2, $3, $4)`, [
          refundId,
          payment.id,
          req.amount,
          req.reason,
        ]);
        return { response: { id: refundId, paymentId: payment.id, amount: req.amount }, subject: payment.id };
      },
    });
  }

  /** A payout is an outgoing payment of its own: its id stands as the movement's payment id too. */
  async payout(req: PayoutRequest): Promise<MoneyMovement> {
    await this.faults.apply('payout');
    const { idempotencyKey, ...request } = req;
    return runIdempotent<MoneyMovement>(this.pool, {
      table: OPERATIONS_TABLE,
      subjectColumn: 'payment_id',
      key: idempotencyKey,
      operation: 'payout',
      request,
      execute: async (client) => {
        assertAmount(req.amount);
        assertCurrency(req.currency);
        if (!req.customerId) throw new ProviderRefusedError('sandbox: a payout needs the customer it goes to');
        const payoutId = randomId('po');
        await client.query(
          `INSERT INTO sandbox.payouts (id, customer_id, amount, currency, reference) VALUES ($1, $2, $3, $4, $5)`,
          [payoutId, req.customerId, req.amount, req.currency, req.reference],
        );
        return { response: { id: payoutId, paymentId: payoutId, amount: req.amount }, subject: payoutId };
      },
    });
  }

  async get(paymentId: string): Promise<SandboxPayment | null> {
    await this.faults.apply('get');
    const { rows } = await this.pool.query<PaymentRow>('SELECT * FROM sandbox.payments WHERE id = $1', [paymentId]);
    return rows[0] ? this.withRefunds(rows[0]) : null;
  }

  async findByReference(reference: string): Promise<SandboxPayment | null> {
    const { rows } = await this.pool.query<PaymentRow>('SELECT * FROM sandbox.payments WHERE reference = $1', [
      normalizeReference(reference),
    ]);
    return rows[0] ? this.withRefunds(rows[0]) : null;
  }

  private async withRefunds(row: PaymentRow): Promise<SandboxPayment> {
    const { rows } = await this.pool.query<RefundRow>(
      'SELECT * FROM sandbox.refunds WHERE payment_id = $1 ORDER BY created_at, id',
      [row.id],
    );
    return { ...toPayment(row), refunds: rows.map(toRefund) };
  }

  /** How many times `operation` took effect on the payment; idempotent replays and refusals are not counted. */
  async countOperations(paymentId: string, operation: PaymentOperation): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      `SELECT count(*) FROM ${OPERATIONS_TABLE} WHERE payment_id = $1 AND operation = $2`,
      [paymentId, operation],
    );
    return Number(rows[0].count);
  }

  /**
   * The customer's bank transfer arrives: the pending payment becomes captured with the amount received (the full
   * amount unless told otherwise; a short payment is the engine's to handle) and a signed payment.succeeded
   * notification is queued for the webhook URL in the same transaction. Returns the notification; the post happens in
   * the background.
   */
  async simulateTransferReceived(reference: string, amount?: number): Promise<PaymentNotification> {
    const notification = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<PaymentRow>(
        'SELECT * FROM sandbox.payments WHERE reference = $1 FOR UPDATE',
        [normalizeReference(reference)],
      );
      const payment = rows[0];
      if (!payment) throw new ProviderRefusedError(`sandbox: no bank transfer with reference ${reference}`);
      if (payment.status !== 'pending') {
        throw new ProviderRefusedError(`sandbox: transfer ${payment.reference} is ${payment.status}, not pending`);
      }
      const received = amount ?? Number(payment.amount);
      assertAmount(received);
      await client.query(
        `UPDATE sandbox.payments SET status = 'captured', captured_amount = $2, updated_at = now() WHERE id = $1`,
        [payment.id, received],
      );
      const event: PaymentNotification = {
        eventId: randomId('evt'),
        type: 'payment.succeeded',
        paymentId: payment.id,
        orderId: payment.order_id,
        amount: received,
        currency: payment.currency,
        occurredAt: new Date().toISOString(),
      };
      await this.webhooks.enqueue(client, event.eventId, event, event.paymentId);
      return event;
    });
    this.webhooks.wake();
    return notification;
  }

  /** Waits until no notification this instance queued is waiting for delivery: each has been delivered or given up. */
  flushWebhooks(): Promise<DeliveryOutcome[]> {
    return this.webhooks.flush();
  }

  /**
   * Stops posting webhooks and waits for attempts in progress; undelivered ones stay pending for whichever instance
   * runs next. The pool stays the caller's to end.
   */
  close(): Promise<void> {
    return this.webhooks.stop();
  }
}

interface RefundRow {
  id: string;
  payment_id: string;
  amount: string;
  reason: string;
  created_at: Date;
}

function toRefund(row: RefundRow): GatewayRefund {
  return { id: row.id, amount: Number(row.amount), reason: row.reason, createdAt: row.created_at.toISOString() };
}

async function lockPayment(client: PoolClient, paymentId: string): Promise<PaymentRow> {
  const { rows } = await client.query<PaymentRow>('SELECT * FROM sandbox.payments WHERE id = $1 FOR UPDATE', [
    paymentId,
  ]);
  if (!rows[0]) throw new ProviderRefusedError(`sandbox: no payment ${paymentId}`);
  return rows[0];
}

function assertCurrency(currency: string): void {
  if (!/^[A-Z]{3}$/.test(currency)) throw new ProviderRefusedError(`sandbox: bad currency code ${currency}`);
}

function transferReference(): string {
  const block = () =>
    Array.from({ length: 4 }, () => REFERENCE_ALPHABET[randomInt(REFERENCE_ALPHABET.length)]).join('');
  return `BT-${block()}-${block()}`;
}

/** Customers type references loosely; match them the way a bank's reconciliation would. */
function normalizeReference(reference: string): string {
  return reference.trim().toUpperCase();
}

function toPayment(row: PaymentRow): SandboxPayment {
  return {
    paymentId: row.id,
    orderId: row.order_id,
    method: row.method,
    status: row.status,
    amount: Number(row.amount),
    currency: row.currency,
    capturedAmount: Number(row.captured_amount),
    refundedAmount: Number(row.refunded_amount),
    ...(row.reference ? { reference: row.reference } : {}),
    ...(row.decline_reason ? { declineReason: row.decline_reason } : {}),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
