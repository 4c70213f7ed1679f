import type { MikroORM } from '@mikro-orm/postgresql';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Pool } from 'pg';
import type { Activities } from '../../activities';
import { refundViewFromDb } from '../../api/records';
import type { HistoryEntry } from '../../domain/case';
import type { OrderView } from '../../domain/order';
import type { RefundDecisionView, RefundStatus, RefundView } from '../../domain/refund';
import type { SandboxPaymentGateway } from '../../sandbox';
import { activityFailure } from '../helpers/assertions';
import { activityHarness } from '../helpers/database';
import { SHIPPING_ADDRESS } from '../helpers/fixtures';

/** The refund case's activities and the order's money records against a real PostgreSQL and the sandbox gateway. */

const CUSTOMER = 'C-1001'; // notified by email and sms
const BOOKS_SKU = 'BOK-3BODY-SET';

const harness = activityHarness('refund-activities');
const { row, count } = harness;
let orm: MikroORM;
let pool: Pool;
let gateway: SandboxPaymentGateway;
let act: Activities;

beforeAll(() => {
  ({ orm, pool, gateway, act } = harness);
});

function orderView(orderId: string, total: number, overrides: Partial<OrderView> = {}): OrderView {
  return {
    orderId,
    customerId: CUSTOMER,
    channel: 'web',
    status: 'PAID',
    placedAt: new Date().toISOString(),
    lines: [{ sku: 'GRO-LJTEA-250', name: 'Tea', quantity: 1, unitPrice: total, lineTotal: total }],
    totals: { currency: 'CNY', subtotal: total, shipping: 0, total },
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'card', status: 'CAPTURED', attempts: 1, amount: total, captured: 0, refunded: 0 },
    shipments: [],
    history: [],
    edits: 0,
    needsAttention: false,
    attentionReasons: [],
    reviewReasons: [],
    refunds: [],
    ...overrides,
  };
}

/** An order recorded as its workflow would, with one payment per amount, each captured in full, oldest first. */
async function paidOrder(orderId: string, ...captures: number[]): Promise<string[]> {
  const total = captures.reduce((sum, amount) => sum + amount, 0);
  await act.recordOrder({ version: 1, requestHash: 'h', view: orderView(orderId, total) });
  const paymentIds: string[] = [];
  for (const [attempt, amount] of captures.entries()) {
    const { paymentId } = await act.authorizePayment({
      orderId,
      attempt: attempt + 1,
      method: 'card',
      token: 'tok_visa',
      amount,
      currency: 'CNY',
    });
    await act.capturePayment({ orderId, paymentId, amount });
    paymentIds.push(paymentId);
  }
  return paymentIds;
}

function refundView(
  refundId: string,
  orderId: string,
  amount: number,
  overrides: Partial<RefundView> = {},
): RefundView {
  return {
    refundId,
    orderId,
    customerId: CUSTOMER,
    status: 'APPROVED',
    amount,
    currency: 'CNY',
    reason: 'quality_problem',
    origin: 'agent',
    requestedBy: { principal: 'agent-1', role: 'agent' },
    requestedAt: new Date().toISOString(),
    approver: 'agent',
    channel: 'original',
    attempts: [],
    history: [],
    needsAttention: false,
    attentionReasons: [],
    escalationLevel: 0,
    ...overrides,
  };
}

/** A refund recorded by its workflow and claimed on the order's money. */
async function claimedRefund(refundId: string, orderId: string, amount: number, paymentId?: string) {
  await act.recordRefund({ version: 1, view: refundView(refundId, orderId, amount) });
  return act.claimRefund({ refundId, orderId, paymentId, amount });
}

function entry(seq: number, from: RefundStatus | null, to: RefundStatus): HistoryEntry<RefundStatus> {
  return { seq, from, to, at: new Date().toISOString(), actor: 'agent-1' };
}

const orderMoney = (orderId: string) =>
  row<{ captured_amount: number; refunded_amount: number }>(
    'select captured_amount, refunded_amount from orders where id = $1',
    [orderId],
  );
const paymentRow = (paymentId: string) =>
  row<{ status: string; captured_amount: number; refunded_amount: number; refund_claimed: number }>(
    'select status, captured_amount, refunded_amount, refund_claimed from payments where id = $1',
    [paymentId],
  );
const gatewayRefunds = (paymentId: string) => count('sandbox.refunds where payment_id = $1', [paymentId]);

test("an order's lines are written when it is first recorded and on an edit; other snapshots leave them be", async () => {
  const orderId = 'ord-lines-written';
  const lines = async () =>
    (await harness.pool.query('select id, sku, quantity from order_lines where order_id = $1 order by id', [orderId]))
      .rows;
  await act.recordOrder({ version: 1, requestHash: 'h', view: orderView(orderId, 5_000) });
  const first = await lines();
  expect(first).toEqual([expect.objectContaining({ sku: 'GRO-LJTEA-250', quantity: 1 })]);
  // A later snapshot (status, money) with the same edits count keeps the rows as they are, ids included.
  await act.recordOrder({ version: 2, requestHash: 'h', view: orderView(orderId, 5_000, { status: 'FULFILLING' }) });
  expect(await lines()).toEqual(first);
  const edited = [{ sku: BOOKS_SKU, name: 'Books', quantity: 2, unitPrice: 2_500, lineTotal: 5_000 }];
  await act.recordOrder({ version: 3, requestHash: 'h', view: orderView(orderId, 5_000, { lines: edited, edits: 1 }) });
  expect(await lines()).toEqual([expect.objectContaining({ sku: BOOKS_SKU, quantity: 2 })]);
  // A stale snapshot arriving late (an earlier version) changes nothing.
  const now = await lines();
  await act.recordOrder({ version: 1, requestHash: 'h', view: orderView(orderId, 5_000) });
  expect(await lines()).toEqual(now);
});

test("carrier events go into the order's snapshot transaction once each; a stale snapshot sets no parcel back", async () => {
  const orderId = 'ord-events-with-snapshot';
  const shipmentId = `${orderId}-S1`;
  await act.recordOrder({ version: 1, requestHash: 'h', view: orderView(orderId, 5_000, { status: 'FULFILLING' }) });
  await harness.pool.query(
    `insert into shipments (id, order_id, case_type, case_id, warehouse_code, carrier, waybill, status, lines, address)
     values ($1, $2, 'order', $2, 'SH1', 'sandbox', 'SF000000000001', 'BOOKED', '[]', '{}')`,
    [shipmentId, orderId],
  );
  const event = (eventId: string, status: 'PICKED_UP' | 'IN_TRANSIT', minute: number) => ({
    orderId,
    shipmentId,
    eventId,
    status,
    occurredAt: new Date(Date.UTC(2026, 10, 24, 9, minute)).toISOString(),
  });
  const shipment = () =>
    row<{ status: string; last_event_at: Date }>('select * from shipments where id = $1', [shipmentId]);
  const tracked = () => count('tracking_events where shipment_id = $1', [shipmentId]);

  const shipped = {
    version: 3,
    requestHash: 'h',
    view: orderView(orderId, 5_000, { status: 'SHIPPED' }),
    shipmentEvents: [event('evt-1', 'PICKED_UP', 1), event('evt-2', 'IN_TRANSIT', 2)],
  };
  await act.recordOrder(shipped);
  expect(await tracked()).toBe(2);
  expect(await shipment()).toMatchObject({
    status: 'IN_TRANSIT',
    last_event_at: new Date(shipped.shipmentEvents[1].occurredAt),
  });
  expect((await row<{ status: string }>('select status from orders where id = $1', [orderId])).status).toBe('SHIPPED');
  // The same write again (a retried local step) adds nothing.
  await act.recordOrder(shipped);
  expect(await tracked()).toBe(2);
  // An earlier snapshot arriving late, carrying the pickup again, leaves the parcel where the later one put it.
  await act.recordOrder({ ...shipped, version: 2, shipmentEvents: [event('evt-1', 'PICKED_UP', 1)] });
  expect(await shipment()).toMatchObject({ status: 'IN_TRANSIT' });
  expect(await tracked()).toBe(2);
});

test('two partial refunds of one payment both reach the gateway and add up on the order', async () => {
  const orderId = 'ord-two-partials';
  const [paymentId] = await paidOrder(orderId, 10_000);

  await claimedRefund('ref-partial-1', orderId, 3_000);
  const first = await act.executeRefund({
    refundId: 'ref-partial-1',
    orderId,
    paymentId,
    amount: 3_000,
    reason: 'quality_problem',
    attempt: 1,
  });
  expect(await gatewayRefunds(paymentId)).toBe(1);
  expect(await paymentRow(paymentId)).toEqual({
    status: 'PARTIALLY_REFUNDED',
    captured_amount: 10_000,
    refunded_amount: 3_000,
    refund_claimed: 3_000,
  });
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 10_000, refunded_amount: 3_000 });
  expect(
    await row('select refunded_at is not null as refunded, provider_refund_id from refunds where id = $1', [
      'ref-partial-1',
    ]),
  ).toEqual({ refunded: true, provider_refund_id: first.providerRefundId });

  await claimedRefund('ref-partial-2', orderId, 7_000);
  await act.executeRefund({
    refundId: 'ref-partial-2',
    orderId,
    paymentId,
    amount: 7_000,
    reason: 'wrong_amount',
    attempt: 1,
  });
  expect(await gatewayRefunds(paymentId)).toBe(2);
  expect(await paymentRow(paymentId)).toMatchObject({ status: 'REFUNDED', refunded_amount: 10_000 });
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 10_000, refunded_amount: 10_000 });
  expect((await gateway.get(paymentId))?.refunds?.map((r) => r.reason)).toEqual(['quality_problem', 'wrong_amount']);
});

test('executeRefund repeated with the same refund and attempt moves no money', async () => {
  const orderId = 'ord-repeat';
  const [paymentId] = await paidOrder(orderId, 8_000);
  await claimedRefund('ref-repeat', orderId, 2_000);
  const request = { refundId: 'ref-repeat', orderId, paymentId, amount: 2_000, reason: 'quality_problem', attempt: 1 };
  const first = await act.executeRefund({ ...request, reason: 'quality_problem' });
  expect(await act.executeRefund({ ...request, reason: 'quality_problem' })).toEqual(first);
  // The worker died after the gateway answered and before the refund was recorded: the retry reaches the gateway under
  // the same key and gets the same refund back.
  await pool.query('update refunds set refunded_at = null, provider_refund_id = null where id = $1', ['ref-repeat']);
  expect(await act.executeRefund({ ...request, reason: 'quality_problem' })).toEqual(first);

  expect(await gatewayRefunds(paymentId)).toBe(1);
  expect(await gateway.countOperations(paymentId, 'refund')).toBe(1);
  expect(await paymentRow(paymentId)).toMatchObject({ refunded_amount: 2_000, refund_claimed: 2_000 });
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 8_000, refunded_amount: 2_000 });
});

test('claims racing for the last 50.00: exactly one wins, the other is a non-retryable RuleViolation', async () => {
  const orderId = 'ord-race';
  const [paymentId] = await paidOrder(orderId, 10_000);
  await claimedRefund('ref-race-0', orderId, 5_000);
  for (const refundId of ['ref-race-a', 'ref-race-b']) {
    await act.recordRefund({ version: 1, view: refundView(refundId, orderId, 5_000) });
  }
  const results = await Promise.allSettled(
    ['ref-race-a', 'ref-race-b'].map((refundId) => act.claimRefund({ refundId, orderId, amount: 5_000 })),
  );
  const won = results.filter((result) => result.status === 'fulfilled');
  const lost = results.filter((result) => result.status === 'rejected');
  expect(won).toHaveLength(1);
  expect(won[0]).toMatchObject({ value: { paymentId, method: 'card' } });
  expect(lost).toHaveLength(1);
  const refusal = await activityFailure(Promise.reject(lost[0].reason));
  expect(refusal).toMatchObject({ type: 'RuleViolation', nonRetryable: true });
  expect(refusal.message).toMatch(/still refundable on order ord-race: 0/);
  expect(await paymentRow(paymentId)).toMatchObject({ refund_claimed: 10_000 });
  expect(await count('refunds where order_id = $1 and claimed', [orderId])).toBe(2);
});

test('a claim is made once per refund, on the latest payment with enough left unless one is named', async () => {
  const orderId = 'ord-claims';
  const [older, newer] = await paidOrder(orderId, 10_000, 6_000);

  expect(await claimedRefund('ref-claim-1', orderId, 4_000)).toEqual({ paymentId: newer, method: 'card' });
  expect(await act.claimRefund({ refundId: 'ref-claim-1', orderId, amount: 4_000 })).toEqual({
    paymentId: newer,
    method: 'card',
  });
  expect(await paymentRow(newer)).toMatchObject({ refund_claimed: 4_000 });

  expect(await claimedRefund('ref-claim-2', orderId, 5_000)).toEqual({ paymentId: older, method: 'card' });
  const named = await activityFailure(claimedRefund('ref-claim-3', orderId, 3_000, newer));
  expect(named).toMatchObject({ type: 'RuleViolation', nonRetryable: true });
  expect(named.message).toMatch(new RegExp(`payment ${newer} of order ${orderId}: 2000`));
  const split = await activityFailure(claimedRefund('ref-claim-4', orderId, 7_000));
  expect(split.message).toMatch(/: 7000 \(at most 5000 on one payment\)/);

  expect(await paymentRow(older)).toMatchObject({ refund_claimed: 5_000 });
  expect(await paymentRow(newer)).toMatchObject({ refund_claimed: 4_000 });
  expect(await count('refunds where order_id = $1 and claimed', [orderId])).toBe(2);
});

test('a claim for a refund not recorded yet is retryable and writes nothing', async () => {
  const orderId = 'ord-unrecorded';
  const [paymentId] = await paidOrder(orderId, 5_000);
  const claim = { refundId: 'ref-unrecorded', orderId, amount: 5_000 };
  const error = await act.claimRefund(claim).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  // Anything but an ApplicationFailure is retried under the workflow's retry policy.
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(ApplicationFailure);
  expect((error as Error).message).toBe('refund ref-unrecorded is not recorded yet');
  expect(await count('refunds where order_id = $1', [orderId])).toBe(0);
  expect(await paymentRow(paymentId)).toMatchObject({ refund_claimed: 0 });

  await act.recordRefund({ version: 1, view: refundView(claim.refundId, orderId, 5_000) });
  expect(await act.claimRefund(claim)).toEqual({ paymentId, method: 'card' });
  expect(await paymentRow(paymentId)).toMatchObject({ refund_claimed: 5_000 });
});

test('releaseRefund gives the claim back once; a refund paid out keeps it', async () => {
  const orderId = 'ord-release';
  const [paymentId] = await paidOrder(orderId, 5_000);
  await claimedRefund('ref-release', orderId, 5_000);
  await act.releaseRefund({ refundId: 'ref-release' });
  await act.releaseRefund({ refundId: 'ref-release' });
  await act.releaseRefund({ refundId: 'ref-never-recorded' });
  expect(await paymentRow(paymentId)).toMatchObject({ refund_claimed: 0 });
  expect(await row('select claimed from refunds where id = $1', ['ref-release'])).toEqual({ claimed: false });

  await claimedRefund('ref-after-release', orderId, 5_000);
  await act.executeRefund({
    refundId: 'ref-after-release',
    orderId,
    paymentId,
    amount: 5_000,
    reason: 'quality_problem',
    attempt: 1,
  });
  const refusal = await activityFailure(act.releaseRefund({ refundId: 'ref-after-release' }));
  expect(refusal).toMatchObject({ type: 'WrongState', nonRetryable: true });
  expect(await paymentRow(paymentId)).toMatchObject({ refund_claimed: 5_000 });
});

test('money the refund has not claimed is never sent', async () => {
  const orderId = 'ord-unclaimed';
  const [paymentId] = await paidOrder(orderId, 5_000);
  await act.recordRefund({ version: 1, view: refundView('ref-unclaimed', orderId, 1_000) });
  const request = { refundId: 'ref-unclaimed', orderId, paymentId, amount: 1_000, reason: 'quality_problem' as const };
  expect(await activityFailure(act.executeRefund({ ...request, attempt: 1 }))).toMatchObject({
    type: 'WrongState',
    nonRetryable: true,
  });
  await act.claimRefund({ refundId: 'ref-unclaimed', orderId, amount: 1_000 });
  expect(await activityFailure(act.executeRefund({ ...request, amount: 1_500, attempt: 1 }))).toMatchObject({
    type: 'WrongState',
  });
  const payout = { refundId: 'ref-unclaimed', orderId, customerId: CUSTOMER, currency: 'CNY', attempt: 1 };
  expect(await activityFailure(act.payoutRefund({ ...payout, channel: 'balance', amount: 2_000 }))).toMatchObject({
    type: 'WrongState',
  });
  expect(await gatewayRefunds(paymentId)).toBe(0);
  expect(await count('customer_balance_ledger where reference like $1', ['ref-unclaimed:%'])).toBe(0);
});

test('a refund the gateway refuses is paid to the platform balance instead, once', async () => {
  const orderId = 'ord-balance';
  const [paymentId] = await paidOrder(orderId, 6_000);
  await claimedRefund('ref-balance', orderId, 6_000);
  // The payment is gone at the gateway (say the card account was closed), so it refuses the refund.
  await pool.query(`update sandbox.payments set status = 'voided' where id = $1`, [paymentId]);
  const refused = await activityFailure(
    act.executeRefund({
      refundId: 'ref-balance',
      orderId,
      paymentId,
      amount: 6_000,
      reason: 'quality_problem',
      attempt: 1,
    }),
  );
  expect(refused).toMatchObject({ type: 'ProviderRefused', nonRetryable: true });
  expect(await orderMoney(orderId)).toMatchObject({ refunded_amount: 0 });

  const request = {
    refundId: 'ref-balance',
    orderId,
    customerId: CUSTOMER,
    channel: 'balance' as const,
    amount: 6_000,
    currency: 'CNY',
    attempt: 2,
  };
  const paid = await act.payoutRefund(request);
  expect(await act.payoutRefund(request)).toEqual(paid);
  await pool.query('update refunds set refunded_at = null where id = $1', ['ref-balance']);
  expect(await act.payoutRefund(request)).toEqual(paid);

  const { rows } = await pool.query('select customer_id, amount, kind, reference from customer_balance_ledger');
  expect(rows.filter((r) => r.reference === 'ref-balance:2')).toEqual([
    { customer_id: CUSTOMER, amount: 6_000, kind: 'refund', reference: 'ref-balance:2' },
  ]);
  expect(
    await row('select channel, provider_refund_id, refunded_at is not null as refunded from refunds where id = $1', [
      'ref-balance',
    ]),
  ).toEqual({ channel: 'balance', provider_refund_id: paid.providerRefundId, refunded: true });
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 6_000, refunded_amount: 6_000 });
});

test('a refund paid out by bank transfer is sent once', async () => {
  const orderId = 'ord-transfer-out';
  await paidOrder(orderId, 4_000);
  await claimedRefund('ref-transfer-out', orderId, 4_000);
  const request = {
    refundId: 'ref-transfer-out',
    orderId,
    customerId: CUSTOMER,
    channel: 'bank_transfer' as const,
    amount: 4_000,
    currency: 'CNY',
    attempt: 2,
  };
  const paid = await act.payoutRefund(request);
  expect(await act.payoutRefund(request)).toEqual(paid);
  await pool.query('update refunds set refunded_at = null where id = $1', ['ref-transfer-out']);
  expect(await act.payoutRefund(request)).toEqual(paid);

  expect(await gateway.countOperations(paid.providerRefundId, 'payout')).toBe(1);
  expect(await count('sandbox.payouts where reference = $1', ['ref-transfer-out'])).toBe(1);
  expect(await row('select channel from refunds where id = $1', ['ref-transfer-out'])).toEqual({
    channel: 'bank_transfer',
  });
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 4_000, refunded_amount: 4_000 });
});

test("a refund's history, notifications and audit are written once; a late snapshot changes nothing", async () => {
  const orderId = 'ord-refund-records';
  const [paymentId] = await paidOrder(orderId, 9_000);
  const refundId = 'ref-records';
  const env = new MockActivityEnvironment({ activityId: 'record-1' });
  const requested = {
    version: 1,
    view: refundView(refundId, orderId, 9_000, { status: 'PENDING_APPROVAL' }),
    transition: entry(0, null, 'PENDING_APPROVAL'),
    audit: { actor: { principal: 'agent-1', role: 'agent' as const }, action: 'refund.request' },
  };
  await env.run(act.recordRefund, requested);
  await env.run(act.recordRefund, requested);

  expect(await count(`case_history where case_type = 'refund' and case_id = $1`, [refundId])).toBe(1);
  const { rows: outbox } = await pool.query(
    'select dedupe_key, case_type, case_id, order_id, template, payload from notification_outbox where case_id = $1 order by dedupe_key',
    [refundId],
  );
  expect(outbox).toEqual(
    ['email', 'sms'].map((channel) => ({
      dedupe_key: `refund:${refundId}:0:${channel}`,
      case_type: 'refund',
      case_id: refundId,
      order_id: null,
      template: 'refund.pending_approval',
      payload: { refundId, orderId, amount: 9_000, currency: 'CNY', status: 'PENDING_APPROVAL' },
    })),
  );
  expect(await count(`audit_log where object_type = 'refund' and object_id = $1`, [refundId])).toBe(1);

  await act.claimRefund({ refundId, orderId, amount: 9_000 });
  await act.executeRefund({ refundId, orderId, paymentId, amount: 9_000, reason: 'quality_problem', attempt: 1 });
  // Snapshots taken before the claim and the refund: the newer one must not undo them, the older one changes nothing.
  await act.recordRefund({
    version: 3,
    view: refundView(refundId, orderId, 9_000, { status: 'APPROVED', escalationLevel: 1 }),
  });
  await act.recordRefund({ version: 2, view: refundView(refundId, orderId, 9_000, { status: 'PENDING_APPROVAL' }) });
  expect(
    await row(
      `select status, escalation_level, claimed, payment_id, refunded_at is not null as refunded,
              provider_refund_id is not null as has_provider_id, snapshot_version
         from refunds where id = $1`,
      [refundId],
    ),
  ).toEqual({
    status: 'APPROVED',
    escalation_level: 1,
    claimed: true,
    payment_id: paymentId,
    refunded: true,
    has_provider_id: true,
    snapshot_version: 3,
  });
});

test("the refund's row keeps the decision its snapshot carries", async () => {
  const orderId = 'ord-refund-decision';
  await paidOrder(orderId, 3_000);
  const refundId = 'ref-decision';
  await act.recordRefund({ version: 1, view: refundView(refundId, orderId, 3_000, { status: 'PENDING_APPROVAL' }) });
  expect((await refundViewFromDb(orm.em.fork(), refundId))?.decision).toBeUndefined();

  const decision: RefundDecisionView = {
    decisionId: 'dec-ref-decision',
    decision: 'reject',
    actor: { principal: 'sue', role: 'supervisor' },
    reason: 'no proof of the fault',
    at: '2026-11-23T10:15:30.123Z',
  };
  await act.recordRefund({
    version: 2,
    view: refundView(refundId, orderId, 3_000, { status: 'REJECTED', decision, rejectReason: decision.reason }),
  });
  expect(
    await row(
      `select decided_by, decided_role, decision, decision_id, decision_reason, decided_at from refunds where id = $1`,
      [refundId],
    ),
  ).toEqual({
    decided_by: 'sue',
    decided_role: 'supervisor',
    decision: 'reject',
    decision_id: 'dec-ref-decision',
    decision_reason: 'no proof of the fault',
    decided_at: new Date(decision.at),
  });
  expect((await refundViewFromDb(orm.em.fork(), refundId))?.decision).toEqual(decision);
});

test('the order snapshot and its settlement take captured and refunded money from payments and refunds', async () => {
  const orderId = 'ord-money-facts';
  const [paymentId] = await paidOrder(orderId, 10_000);
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 0, refunded_amount: 0 });
  const paid = {
    version: 2,
    requestHash: 'h',
    view: orderView(orderId, 10_000),
    transition: {
      seq: 1,
      from: 'PENDING_PAYMENT' as const,
      to: 'PAID' as const,
      at: new Date().toISOString(),
      actor: 'system',
    },
  };
  await act.recordOrder(paid);
  await act.recordOrder(paid);
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 10_000, refunded_amount: 0 });
  expect(await count(`case_history where case_type = 'order' and case_id = $1`, [orderId])).toBe(1);
  expect(
    (await pool.query('select dedupe_key, order_id, case_type from notification_outbox where case_id = $1', [orderId]))
      .rows,
  ).toEqual(
    expect.arrayContaining(
      ['email', 'sms'].map((channel) => ({
        dedupe_key: `order:${orderId}:1:${channel}`,
        order_id: orderId,
        case_type: 'order',
      })),
    ),
  );
  expect(await count('notification_outbox where case_id = $1', [orderId])).toBe(2);

  await claimedRefund('ref-money-facts', orderId, 2_500);
  await act.executeRefund({
    refundId: 'ref-money-facts',
    orderId,
    paymentId,
    amount: 2_500,
    reason: 'quality_problem',
    attempt: 1,
  });
  // The workflow's view knows nothing of the refund case: its snapshot must not take the refund back.
  await act.recordOrder({ version: 3, requestHash: 'h', view: orderView(orderId, 10_000, { status: 'COMPLETED' }) });
  expect(await orderMoney(orderId)).toEqual({ captured_amount: 10_000, refunded_amount: 2_500 });

  await act.recordSettlement({ orderId, currency: 'CNY', total: 10_000, shipping: 0 });
  expect(await row('select captured, refunded, net from settlements where order_id = $1', [orderId])).toEqual({
    captured: 10_000,
    refunded: 2_500,
    net: 7_500,
  });
});

test('staff notifications name the case they are about', async () => {
  const env = new MockActivityEnvironment({ activityId: 'notify-1' });
  const notice = { caseType: 'refund' as const, caseId: 'ref-staff', topic: 'sla_breached', message: 'waits' };
  await env.run(act.notifyStaff, notice);
  await env.run(act.notifyStaff, notice);
  const { rows } = await pool.query(
    `select customer_id, order_id, case_type, case_id, channel, template, payload from notification_outbox
      where case_id = 'ref-staff'`,
  );
  expect(rows).toEqual([
    {
      customer_id: 'staff',
      order_id: null,
      case_type: 'refund',
      case_id: 'ref-staff',
      channel: 'staff',
      template: 'staff.sla_breached',
      payload: notice,
    },
  ]);
});
