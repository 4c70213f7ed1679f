import type { MikroORM } from '@mikro-orm/postgresql';
import { ApplicationFailure } from '@temporalio/common';
import { Pool } from 'pg';
import { createActivities } from '../../activities';
import type { OrderActivities } from '../../activities/types';
import { openOrm } from '../../db/orm';
import { seedDemoData } from '../../db/seed';
import { SandboxCarrier, SandboxPaymentGateway } from '../../sandbox';
import { testDatabase } from '../helpers/database';

/** The order activities against a real PostgreSQL and the sandbox providers: locking, facts, refused data. */

const TEA = 'GRO-LJTEA-250'; // only in SH1
const BOOKS = 'BOK-3BODY-SET'; // BJ1 and SH1
const SECRET = 'activities-test-secret-0123456789abcdef';

const database = testDatabase('activities');
let orm: MikroORM;
let pool: Pool;
let gateway: SandboxPaymentGateway;
let carrier: SandboxCarrier;
let act: OrderActivities;

beforeAll(async () => {
  orm = await openOrm(database.db.url);
  await seedDemoData(orm.em);
  pool = new Pool({ connectionString: database.db.url, max: 10 });
  gateway = await SandboxPaymentGateway.create(pool, { latencyMs: 0, failureRate: 0, webhookSecret: SECRET });
  carrier = await SandboxCarrier.create(pool, {
    mode: 'manual',
    stepMs: 1_000,
    latencyMs: 0,
    failureRate: 0,
    webhookSecret: SECRET,
  });
  act = createActivities({ orm, gateway, carrier, pricing: { shippingFee: 800, freeShippingOver: 9_900 } });
});

afterAll(async () => {
  await carrier?.stop();
  await gateway?.close();
  await pool?.end();
  await orm?.close();
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
