import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import type { OrderActivities } from '../../activities/types';
import type { SandboxPaymentGateway } from '../../sandbox';
import { activityHarness } from '../helpers/database';

/** The order activities against a real PostgreSQL and the sandbox providers: locking, facts, refused data. */

const TEA = 'GRO-LJTEA-250'; // only in SH1
const BOOKS = 'BOK-3BODY-SET'; // BJ1 and SH1

const harness = activityHarness('activities');
let pool: Pool;
let gateway: SandboxPaymentGateway;
let act: OrderActivities;

beforeAll(() => {
  ({ pool, gateway, act } = harness);
});

async function reservedConsistently(): Promise<{ levels: number; reservations: number }> {
  const [{ levels, reservations }] = await pool
    .query<{ levels: number; reservations: number }>(
      `select (select coalesce(sum(reserved), 0)::int from stock_levels) as levels,
              (select coalesce(sum(quantity), 0)::int from reservations where status = 'active') as reservations`,
    )
    .then((r) => r.rows);
  return { levels, reservations };
}

test('two reservations for one order at the same moment hold stock once', async () => {
  const before = await reservedConsistently();
  const orderId = 'ord-concurrent-reserve';
  await Promise.all([
    act.reserveStock({ orderId, lines: [{ sku: TEA, quantity: 2 }], actor: 'a' }),
    act.reserveStock({ orderId, lines: [{ sku: TEA, quantity: 3 }], actor: 'b' }),
  ]);
  const after = await reservedConsistently();
  expect(after.levels).toBe(after.reservations);
  expect([2, 3]).toContain(after.reservations - before.reservations);
  await act.releaseStock({ orderId, reason: 'test', actor: 'test' });
  expect(await reservedConsistently()).toEqual(before);
});

test('edits of two orders swapping the same SKUs never deadlock', async () => {
  const before = await reservedConsistently();
  await act.reserveStock({ orderId: 'ord-swap-a', lines: [{ sku: TEA, quantity: 1 }], actor: 'test' });
  await act.reserveStock({ orderId: 'ord-swap-b', lines: [{ sku: BOOKS, quantity: 1 }], actor: 'test' });
  for (let round = 0; round < 10; round += 1) {
    const [a, b] = round % 2 === 0 ? [BOOKS, TEA] : [TEA, BOOKS];
    await Promise.all([
      act.reserveStock({ orderId: 'ord-swap-a', lines: [{ sku: a, quantity: 1 }], actor: 'test' }),
      act.reserveStock({ orderId: 'ord-swap-b', lines: [{ sku: b, quantity: 1 }], actor: 'test' }),
    ]);
  }
  const after = await reservedConsistently();
  expect(after.levels).toBe(after.reservations);
  expect(after.reservations - before.reservations).toBe(2);
  await act.releaseStock({ orderId: 'ord-swap-a', reason: 'test', actor: 'test' });
  await act.releaseStock({ orderId: 'ord-swap-b', reason: 'test', actor: 'test' });
});

test('a bank transfer the gateway captured is written to payments when the order asks the gateway', async () => {
  const orderId = 'ord-transfer-sync';
  const opened = await act.openDeferredPayment({
    orderId,
    attempt: 1,
    method: 'bank_transfer',
    amount: 12_900,
    currency: 'CNY',
  });
  await gateway.simulateTransferReceived(opened.reference!);
  const fact = await act.syncPayment({ orderId, paymentId: opened.paymentId });
  expect(fact).toMatchObject({ status: 'captured', capturedAmount: 12_900, refundedAmount: 0 });
  const { rows } = await pool.query('select status, captured_amount from payments where id = $1', [opened.paymentId]);
  expect(rows[0]).toEqual({ status: 'CAPTURED', captured_amount: 12_900 });
  // Another order's payment is not this order's fact.
  expect(await act.syncPayment({ orderId: 'someone-else', paymentId: opened.paymentId })).toBeNull();
});

test("the order's own refund is a refund of the order: claimed on the payment, sent once, counted on the order", async () => {
  const orderId = 'ord-own-refund';
  await pool.query(
    `insert into orders (id, customer_id, channel, status, currency, subtotal, shipping, total, payment_method,
       shipping_address, request_hash, placed_at)
     values ($1, 'C-1001', 'web', 'PAID', 'CNY', 12900, 0, 12900, 'bank_transfer', '{}', 'h', now())`,
    [orderId],
  );
  const opened = await act.openDeferredPayment({
    orderId,
    attempt: 1,
    method: 'bank_transfer',
    amount: 12_900,
    currency: 'CNY',
  });
  await gateway.simulateTransferReceived(opened.reference!, 15_000);
  await act.syncPayment({ orderId, paymentId: opened.paymentId });

  const excess = { refundId: `${orderId}-excess`, orderId, paymentId: opened.paymentId, amount: 2_100 };
  expect(await act.refundPayment({ ...excess, reason: 'wrong_amount' })).toBe(2_100);
  expect(await act.refundPayment({ ...excess, reason: 'wrong_amount' })).toBe(2_100);
  expect(await gateway.countOperations(opened.paymentId, 'refund')).toBe(1);
  const payment = await pool.query(
    'select status, captured_amount, refunded_amount, refund_claimed from payments where id = $1',
    [opened.paymentId],
  );
  expect(payment.rows[0]).toEqual({
    status: 'PARTIALLY_REFUNDED',
    captured_amount: 15_000,
    refunded_amount: 2_100,
    refund_claimed: 2_100,
  });
  const refund = await pool.query(
    `select origin, status, reason, requested_by, approver, claimed, refunded_at is not null as refunded
       from refunds where id = $1`,
    [excess.refundId],
  );
  expect(refund.rows[0]).toEqual({
    origin: 'order',
    status: 'REFUNDED',
    reason: 'wrong_amount',
    requested_by: 'system',
    approver: 'system',
    claimed: true,
    refunded: true,
  });
  const order = await pool.query('select captured_amount, refunded_amount from orders where id = $1', [orderId]);
  expect(order.rows[0]).toEqual({ captured_amount: 15_000, refunded_amount: 2_100 });
  // A partly refunded payment is still captured at the gateway, and partly refunded in the engine.
  expect(await act.syncPayment({ orderId, paymentId: opened.paymentId })).toMatchObject({ status: 'captured' });
  const synced = await pool.query('select status from payments where id = $1', [opened.paymentId]);
  expect(synced.rows[0]).toEqual({ status: 'PARTIALLY_REFUNDED' });

  const tooMuch = await act
    .refundPayment({ ...excess, refundId: `${orderId}-rest`, amount: 12_901, reason: 'order_cancelled' })
    .catch((caught: unknown) => caught);
  expect(tooMuch).toMatchObject({ type: 'RuleViolation', nonRetryable: true });
  expect(await gateway.countOperations(opened.paymentId, 'refund')).toBe(1);
});

test('payments can never show more refunded than captured', async () => {
  const error = await pool
    .query(
      `insert into payments (id, order_id, method, status, amount, currency, captured_amount, refunded_amount)
       values ('pay-check', 'ord-check', 'card', 'CAPTURED', 100, 'CNY', 100, 101)`,
    )
    .catch((caught: unknown) => caught as { constraint?: string });
  expect(error).toMatchObject({ constraint: 'payments_refunded_le_captured_check' });
});

test('data the database refuses stops the retries as InvalidData instead of looping', async () => {
  const error = await act
    .priceOrder({ customerId: 'C-1001', currency: 'CNY', lines: [{ sku: 'BAD\u0000SKU', quantity: 1 }] })
    .catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect(error).toMatchObject({ type: 'InvalidData', nonRetryable: true });
});
