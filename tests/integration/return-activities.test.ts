import { MikroORM } from '@mikro-orm/postgresql';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Pool } from 'pg';
import type { Activities } from '../../activities';
import { returnActivities } from '../../activities/returns';
import { orderViewFromDb } from '../../api/records';
import { migrationsList } from '../../db/migrations';
import { ormConfig } from '../../db/mikro-orm.config';
import type { HistoryEntry } from '../../domain/case';
import type { LineRequest, OrderStatus, OrderView, PricedLine } from '../../domain/order';
import type { Carrier, ReturnBookingRequest } from '../../domain/ports';
import type { ReturnStatus, ReturnView } from '../../domain/return';
import { activityFailure } from '../helpers/assertions';
import { activityHarness } from '../helpers/database';
import { SHIPPING_ADDRESS } from '../helpers/fixtures';

/** The return case's activities against a real PostgreSQL and the sandbox providers. */

const CUSTOMER = 'C-1001'; // notified by email and sms
const DAY = 86_400_000;
const WINDOW = 7 * DAY;
const PHONE = 'PHN-XM14-256';
const BOOK = 'BOK-3BODY-SET';
const CABLE = 'ACC-ANKER-USBC1M';
const TEA = 'GRO-LJTEA-250'; // not returnable

const harness = activityHarness('return-activities');
const { row, count } = harness;
let orm: MikroORM;
let pool: Pool;
let act: Activities;

beforeAll(() => {
  ({ orm, pool, act } = harness);
});

interface OrderLineSpec {
  sku: string;
  quantity: number;
  unitPrice: number;
}

function orderView(orderId: string, lines: OrderLineSpec[], status: OrderStatus): OrderView {
  const priced: PricedLine[] = lines.map((line) => ({
    ...line,
    name: line.sku,
    lineTotal: line.unitPrice * line.quantity,
  }));
  const total = priced.reduce((sum, line) => sum + line.lineTotal, 0);
  return {
    orderId,
    customerId: CUSTOMER,
    channel: 'web',
    status,
    placedAt: new Date(Date.now() - 10 * DAY).toISOString(),
    lines: priced,
    totals: { currency: 'CNY', subtotal: total, shipping: 0, total },
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'card', status: 'CAPTURED', attempts: 1, amount: total, captured: total, refunded: 0 },
    shipments: [],
    history: [],
    edits: 0,
    needsAttention: false,
    attentionReasons: [],
    reviewReasons: [],
    refunds: [],
  };
}

/**
 * An order recorded as its workflow would, its parcels booked from the given warehouses in order, and delivered at
 * `deliveredAt` unless that is null (then it stays SHIPPED).
 */
async function shippedOrder(
  orderId: string,
  lines: OrderLineSpec[],
  parcels: { warehouseCode: string; lines: LineRequest[] }[],
  deliveredAt: Date | null = new Date(Date.now() - DAY),
): Promise<void> {
  await act.recordOrder({ version: 1, requestHash: 'h', view: orderView(orderId, lines, 'SHIPPED') });
  for (const [index, parcel] of parcels.entries()) {
    await act.bookShipment({ orderId, shipmentId: `${orderId}-S${index + 1}`, address: SHIPPING_ADDRESS, ...parcel });
  }
  if (!deliveredAt) return;
  await act.recordOrder({
    version: 2,
    requestHash: 'h',
    view: orderView(orderId, lines, 'DELIVERED'),
    transition: { seq: 5, from: 'SHIPPED', to: 'DELIVERED', at: deliveredAt.toISOString(), actor: 'system' },
  });
}

/** A delivered order of `quantity` books at 90.00 each, shipped from SH1. */
const bookOrder = (orderId: string, quantity: number) =>
  shippedOrder(
    orderId,
    [{ sku: BOOK, quantity, unitPrice: 9_000 }],
    [{ warehouseCode: 'SH1', lines: [{ sku: BOOK, quantity }] }],
  );

function returnView(
  returnId: string,
  orderId: string,
  lines: LineRequest[],
  overrides: Partial<ReturnView> = {},
): ReturnView {
  return {
    returnId,
    orderId,
    customerId: CUSTOMER,
    status: 'REQUESTED',
    currency: 'CNY',
    lines,
    reason: 'changed_mind',
    type: 'refund',
    method: 'pickup',
    failedGoods: 'send_back',
    requestedBy: { principal: 'alice', role: 'agent' },
    requestedAt: new Date().toISOString(),
    approver: 'system',
    waitingOn: 'none',
    parcels: [],
    history: [],
    needsAttention: false,
    attentionReasons: [],
    escalationLevel: 0,
    ...overrides,
  };
}

/** A return recorded by its workflow and its lines claimed. */
async function claimedReturn(returnId: string, orderId: string, lines: LineRequest[]) {
  await act.recordReturn({ version: 1, view: returnView(returnId, orderId, lines) });
  return act.claimReturn({ returnId, orderId, lines, reason: 'changed_mind', windowMs: WINDOW });
}

const claimLines = (returnId: string) =>
  pool
    .query('select sku, quantity, released from return_lines where return_id = $1 order by sku', [returnId])
    .then((result) => result.rows);
const isClaimed = (returnId: string) =>
  row<{ claimed: boolean }>('select claimed from returns where id = $1', [returnId]).then((r) => r.claimed);

test('a claim on a delivered order answers the prices paid, the shipping warehouse, the address and delivery', async () => {
  const orderId = 'ord-claim';
  const deliveredAt = new Date(Date.now() - 2 * DAY);
  await shippedOrder(
    orderId,
    [
      { sku: PHONE, quantity: 1, unitPrice: 350_000 },
      { sku: BOOK, quantity: 2, unitPrice: 9_000 },
    ],
    [
      { warehouseCode: 'BJ1', lines: [{ sku: PHONE, quantity: 1 }] },
      { warehouseCode: 'SH1', lines: [{ sku: BOOK, quantity: 2 }] },
    ],
    deliveredAt,
  );
  const lines = [
    { sku: BOOK, quantity: 1 },
    { sku: PHONE, quantity: 1 },
  ];
  const expected = {
    // The prices the order paid, not the catalogue's (the phone lists at 3,999.00).
    unitPrices: { [BOOK]: 9_000, [PHONE]: 350_000 },
    // The book, the first line returned, left from SH1; the order's first parcel came from BJ1.
    warehouseCode: 'SH1',
    address: { ...SHIPPING_ADDRESS },
    deliveredAt: deliveredAt.toISOString(),
  };
  expect(await claimedReturn('ret-claim', orderId, lines)).toEqual(expected);
  expect(await claimLines('ret-claim')).toEqual([
    { sku: BOOK, quantity: 1, released: false },
    { sku: PHONE, quantity: 1, released: false },
  ]);
  expect(await isClaimed('ret-claim')).toBe(true);

  // A claim made stands when retried, even once the window has passed meanwhile.
  await pool.query(
    `update case_history set at = now() - interval '30 days' where case_type = 'order' and case_id = $1
    and to_status = 'DELIVERED'`,
    [orderId],
  );
  const retried = await act.claimReturn({
    returnId: 'ret-claim',
    orderId,
    lines,
    reason: 'changed_mind',
    windowMs: WINDOW,
  });
  expect(retried).toEqual({ ...expected, deliveredAt: expect.any(String) });
  expect(await claimLines('ret-claim')).toHaveLength(2);
});

test("the warehouse falls back to the order's first live parcel when none lists the returned SKU", async () => {
  const orderId = 'ord-fallback';
  await shippedOrder(
    orderId,
    [{ sku: CABLE, quantity: 2, unitPrice: 3_900 }],
    [
      { warehouseCode: 'BJ1', lines: [{ sku: PHONE, quantity: 1 }] },
      { warehouseCode: 'GZ1', lines: [{ sku: PHONE, quantity: 1 }] },
    ],
  );
  await pool.query(`update shipments set status = 'CANCELLED' where id = $1`, [`${orderId}-S1`]);
  const claim = await claimedReturn('ret-fallback', orderId, [
    { sku: CABLE, quantity: 1 },
    { sku: CABLE, quantity: 1 },
  ]);
  expect(claim.warehouseCode).toBe('GZ1');
  expect(await claimLines('ret-fallback')).toEqual([{ sku: CABLE, quantity: 2, released: false }]);
});

describe('a claim the rules refuse is a non-retryable RuleViolation and claims nothing', () => {
  async function refused(returnId: string, orderId: string, lines: LineRequest[], message: RegExp) {
    await act.recordReturn({ version: 1, view: returnView(returnId, orderId, lines) });
    const refusal = await activityFailure(
      act.claimReturn({ returnId, orderId, lines, reason: 'changed_mind', windowMs: WINDOW }),
    );
    expect(refusal).toMatchObject({ type: 'RuleViolation', nonRetryable: true });
    expect(refusal.message).toMatch(message);
    expect(await claimLines(returnId)).toEqual([]);
    expect(await isClaimed(returnId)).toBe(false);
  }

  test('the order is not delivered', async () => {
    await shippedOrder(
      'ord-undelivered',
      [{ sku: BOOK, quantity: 1, unitPrice: 9_000 }],
      [{ warehouseCode: 'SH1', lines: [{ sku: BOOK, quantity: 1 }] }],
      null,
    );
    await refused('ret-undelivered', 'ord-undelivered', [{ sku: BOOK, quantity: 1 }], /the order is SHIPPED/);
  });

  test('the return window has passed', async () => {
    await shippedOrder(
      'ord-late',
      [{ sku: BOOK, quantity: 1, unitPrice: 9_000 }],
      [{ warehouseCode: 'SH1', lines: [{ sku: BOOK, quantity: 1 }] }],
      new Date(Date.now() - WINDOW - 60_000),
    );
    await refused('ret-late', 'ord-late', [{ sku: BOOK, quantity: 1 }], /return window of 7 days after delivery/);
  });

  test('the window is judged when the customer asked, not when an outage let the claim run', async () => {
    await shippedOrder(
      'ord-asked-in-time',
      [{ sku: BOOK, quantity: 1, unitPrice: 9_000 }],
      [{ warehouseCode: 'SH1', lines: [{ sku: BOOK, quantity: 1 }] }],
      new Date(Date.now() - WINDOW - 60_000),
    );
    const lines = [{ sku: BOOK, quantity: 1 }];
    // Asked an hour before the window closed; claimed now, after it.
    const requestedAt = new Date(Date.now() - 60_000 - 3_600_000).toISOString();
    await act.recordReturn({
      version: 1,
      view: returnView('ret-asked-in-time', 'ord-asked-in-time', lines, { requestedAt }),
    });
    const claim = { returnId: 'ret-asked-in-time', orderId: 'ord-asked-in-time', lines, windowMs: WINDOW };
    expect(await act.claimReturn({ ...claim, reason: 'changed_mind' })).toMatchObject({ warehouseCode: 'SH1' });
    expect(await claimLines('ret-asked-in-time')).toEqual([{ sku: BOOK, quantity: 1, released: false }]);
  });

  test('the SKU is not on the order', async () => {
    await bookOrder('ord-other-sku', 1);
    await refused('ret-other-sku', 'ord-other-sku', [{ sku: PHONE, quantity: 1 }], /PHN-XM14-256 is not on the order/);
  });

  test('the product is not returnable', async () => {
    await shippedOrder(
      'ord-tea',
      [{ sku: TEA, quantity: 1, unitPrice: 26_800 }],
      [{ warehouseCode: 'SH1', lines: [{ sku: TEA, quantity: 1 }] }],
    );
    await refused('ret-tea', 'ord-tea', [{ sku: TEA, quantity: 1 }], /GRO-LJTEA-250 cannot be returned/);
  });

  test('more units than another open return leaves', async () => {
    await bookOrder('ord-left', 3);
    await claimedReturn('ret-left-1', 'ord-left', [{ sku: BOOK, quantity: 2 }]);
    await refused(
      'ret-left-2',
      'ord-left',
      [{ sku: BOOK, quantity: 2 }],
      /2 × BOK-3BODY-SET asked, but only 1 of 3 are left to return/,
    );
  });
});

test('a claim for a return not recorded yet is retryable and claims nothing', async () => {
  await bookOrder('ord-unrecorded', 1);
  const claim = { returnId: 'ret-unrecorded', orderId: 'ord-unrecorded', lines: [{ sku: BOOK, quantity: 1 }] };
  const error = await act.claimReturn({ ...claim, reason: 'changed_mind', windowMs: WINDOW }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  // Anything but an ApplicationFailure is retried under the workflow's retry policy.
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(ApplicationFailure);
  expect((error as Error).message).toBe('return ret-unrecorded is not recorded yet');
  expect(await count('return_lines where order_id = $1', ['ord-unrecorded'])).toBe(0);
});

test('two returns racing for the last unit: exactly one wins, every time', async () => {
  for (let round = 0; round < 5; round += 1) {
    const orderId = `ord-race-${round}`;
    await bookOrder(orderId, 1);
    const returnIds = [`ret-race-${round}-a`, `ret-race-${round}-b`];
    for (const returnId of returnIds) {
      await act.recordReturn({ version: 1, view: returnView(returnId, orderId, [{ sku: BOOK, quantity: 1 }]) });
    }
    const results = await Promise.allSettled(
      returnIds.map((returnId) =>
        act.claimReturn({
          returnId,
          orderId,
          lines: [{ sku: BOOK, quantity: 1 }],
          reason: 'changed_mind',
          windowMs: WINDOW,
        }),
      ),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const lost = results.filter((result) => result.status === 'rejected');
    expect(lost).toHaveLength(1);
    expect(await activityFailure(Promise.reject(lost[0].reason))).toMatchObject({
      type: 'RuleViolation',
      nonRetryable: true,
    });
    expect(await count('return_lines where order_id = $1 and not released', [orderId])).toBe(1);
    expect(await count('returns where order_id = $1 and claimed', [orderId])).toBe(1);
  }
});

test('a released claim frees its units for another return, once', async () => {
  const orderId = 'ord-release';
  await bookOrder(orderId, 1);
  await claimedReturn('ret-release-1', orderId, [{ sku: BOOK, quantity: 1 }]);
  await act.recordReturn({ version: 1, view: returnView('ret-release-2', orderId, [{ sku: BOOK, quantity: 1 }]) });
  const second = {
    returnId: 'ret-release-2',
    orderId,
    lines: [{ sku: BOOK, quantity: 1 }],
    reason: 'changed_mind' as const,
    windowMs: WINDOW,
  };
  expect(await activityFailure(act.claimReturn(second))).toMatchObject({ type: 'RuleViolation' });

  await act.releaseReturn({ returnId: 'ret-release-1' });
  await act.releaseReturn({ returnId: 'ret-release-1' });
  await act.releaseReturn({ returnId: 'ret-never-recorded' });
  expect(await claimLines('ret-release-1')).toEqual([{ sku: BOOK, quantity: 1, released: true }]);
  expect(await isClaimed('ret-release-1')).toBe(false);

  expect(await act.claimReturn(second)).toMatchObject({ warehouseCode: 'SH1', unitPrices: { [BOOK]: 9_000 } });
  expect(await count('return_lines where order_id = $1 and not released', [orderId])).toBe(1);
  // The first return's units are now the second's: claimed again, it is refused.
  const again = await activityFailure(act.claimReturn({ ...second, returnId: 'ret-release-1' }));
  expect(again.message).toMatch(/only 0 of 1 are left/);
});

test('restocking a return puts its goods back once, one ledger movement per line', async () => {
  const onHand = async (sku: string) =>
    (
      await row<{ on_hand: number }>(`select on_hand from stock_levels where warehouse_code = 'SH1' and sku = $1`, [
        sku,
      ])
    ).on_hand;
  const before = { book: await onHand(BOOK), cable: await onHand(CABLE) };
  const restock = {
    returnId: 'ret-restock',
    warehouseCode: 'SH1',
    lines: [
      { sku: CABLE, quantity: 2 },
      { sku: BOOK, quantity: 1 },
    ],
    actor: 'wang',
  };
  await act.restockReturn(restock);
  await Promise.all([act.restockReturn(restock), act.restockReturn(restock)]);
  await act.restockReturn(restock);

  expect({ book: await onHand(BOOK), cable: await onHand(CABLE) }).toEqual({
    book: before.book + 1,
    cable: before.cable + 2,
  });
  const { rows } = await pool.query(
    `select warehouse_code, sku, delta, reserved_delta, kind, reason, actor from stock_ledger where order_id = $1
      order by sku`,
    ['ret-restock'],
  );
  expect(rows).toEqual([
    { warehouse_code: 'SH1', sku: CABLE, delta: 2, reserved_delta: 0, kind: 'return', reason: 'return', actor: 'wang' },
    { warehouse_code: 'SH1', sku: BOOK, delta: 1, reserved_delta: 0, kind: 'return', reason: 'return', actor: 'wang' },
  ]);
});

test("a return's row, history and notifications are written once; an older snapshot never overwrites a newer", async () => {
  const orderId = 'ord-records';
  await bookOrder(orderId, 2);
  const returnId = 'ret-records';
  const lines = [{ sku: BOOK, quantity: 2 }];
  const entry = (
    seq: number,
    from: ReturnStatus | null,
    to: ReturnStatus,
    reason?: string,
  ): HistoryEntry<ReturnStatus> => ({
    seq,
    from,
    to,
    at: new Date().toISOString(),
    actor: 'alice',
    ...(reason ? { reason } : {}),
  });
  const requested = {
    version: 1,
    view: returnView(returnId, orderId, lines, {
      status: 'PENDING_APPROVAL',
      approver: 'agent',
      reason: 'quality',
      evidence: { photos: ['https://img.example/1.jpg'], text: 'cover torn' },
      waitingOn: 'agent',
    }),
    transition: entry(0, null, 'PENDING_APPROVAL'),
    audit: { actor: { principal: 'alice', role: 'agent' as const }, action: 'return.request' },
  };
  const env = new MockActivityEnvironment({ activityId: 'record-1' });
  await env.run(act.recordReturn, requested);
  await env.run(act.recordReturn, requested);

  expect(
    await row(
      `select order_id, customer_id, currency, status, reason, type, method, failed_goods, lines, evidence, requested_by,
              requested_role, approver, waiting_on, claimed, snapshot_version
         from returns where id = $1`,
      [returnId],
    ),
  ).toEqual({
    order_id: orderId,
    customer_id: CUSTOMER,
    currency: 'CNY',
    status: 'PENDING_APPROVAL',
    reason: 'quality',
    type: 'refund',
    method: 'pickup',
    failed_goods: 'send_back',
    lines,
    evidence: { photos: ['https://img.example/1.jpg'], text: 'cover torn' },
    requested_by: 'alice',
    requested_role: 'agent',
    approver: 'agent',
    waiting_on: 'agent',
    claimed: false,
    snapshot_version: 1,
  });
  expect(await count(`case_history where case_type = 'return' and case_id = $1`, [returnId])).toBe(1);
  expect(await count(`audit_log where object_type = 'return' and object_id = $1`, [returnId])).toBe(1);
  const outbox = async (seq: number) =>
    (
      await pool.query(
        `select dedupe_key, case_type, case_id, order_id, template, payload from notification_outbox
          where case_id = $1 and dedupe_key like $2 order by dedupe_key`,
        [returnId, `return:${returnId}:${seq}:%`],
      )
    ).rows;
  expect(await outbox(0)).toEqual(
    ['email', 'sms'].map((channel) => ({
      dedupe_key: `return:${returnId}:0:${channel}`,
      case_type: 'return',
      case_id: returnId,
      order_id: null,
      template: 'return.pending_approval',
      payload: { returnId, orderId, type: 'refund', status: 'PENDING_APPROVAL' },
    })),
  );

  await act.claimReturn({ returnId, orderId, lines, reason: 'quality', windowMs: WINDOW });
  const decision = {
    decisionId: 'dec-ret-records',
    decision: 'reject' as const,
    actor: { principal: 'sue', role: 'supervisor' as const },
    reason: 'wear, not a fault',
    at: '2026-11-23T10:15:30.123Z',
  };
  const rejected = returnView(returnId, orderId, lines, {
    status: 'REJECTED',
    approver: 'agent',
    reason: 'quality',
    decision,
    rejectReason: decision.reason,
    waitingOn: 'none',
    escalationLevel: 1,
  });
  await act.recordReturn({
    version: 3,
    view: rejected,
    transition: entry(1, 'PENDING_APPROVAL', 'REJECTED', decision.reason),
  });
  await act.recordReturn({ version: 2, view: returnView(returnId, orderId, lines, { status: 'APPROVED' }) });
  expect(
    await row(
      `select status, decided_by, decided_role, decision, decision_id, decision_reason, decided_at, reject_reason,
              escalation_level, claimed, snapshot_version
         from returns where id = $1`,
      [returnId],
    ),
  ).toEqual({
    status: 'REJECTED',
    decided_by: 'sue',
    decided_role: 'supervisor',
    decision: 'reject',
    decision_id: 'dec-ret-records',
    decision_reason: 'wear, not a fault',
    decided_at: new Date(decision.at),
    reject_reason: 'wear, not a fault',
    escalation_level: 1,
    // The snapshot does not know of the claim: only releasing it gives the units back.
    claimed: true,
    snapshot_version: 3,
  });
  expect((await outbox(1)).map((r) => [r.template, r.payload])).toEqual(
    ['email', 'sms'].map(() => [
      'return.rejected',
      {
        returnId,
        orderId,
        type: 'refund',
        rejectReason: 'wear, not a fault',
        status: 'REJECTED',
        reason: 'wear, not a fault',
      },
    ]),
  );
});

test("a return's later facts land in its row: receipt, inspection, refund and outcome", async () => {
  const orderId = 'ord-closed';
  await bookOrder(orderId, 1);
  const inspection = {
    lines: [{ sku: BOOK, quantity: 1, passed: true }],
    actor: 'wang',
    at: '2026-11-24T09:00:00.000Z',
  };
  await act.recordReturn({
    version: 1,
    view: returnView('ret-closed', orderId, [{ sku: BOOK, quantity: 1 }], {
      status: 'CLOSED',
      receivedAt: '2026-11-24T08:00:00.000Z',
      receivedBy: 'wang',
      inspection,
      refund: { refundId: 'ref-ret-closed', amount: 9_000, status: 'REFUNDED' },
      outcome: 'refunded',
      needsAttention: true,
      attentionReasons: ['return_parcel_lost', 'sla_breached'],
      slaDeadline: '2026-11-25T00:00:00.000Z',
    }),
  });
  expect(
    await row(
      `select received_at, received_by, inspection, refund_id, refund_amount, outcome, needs_attention,
              attention_reason, sla_deadline
         from returns where id = $1`,
      ['ret-closed'],
    ),
  ).toEqual({
    received_at: new Date('2026-11-24T08:00:00.000Z'),
    received_by: 'wang',
    inspection,
    refund_id: 'ref-ret-closed',
    refund_amount: 9_000,
    outcome: 'refunded',
    needs_attention: true,
    attention_reason: 'return_parcel_lost,sla_breached',
    sla_deadline: new Date('2026-11-25T00:00:00.000Z'),
  });
});

test("resettling recomputes a settled order's refunded and net money, and leaves an unsettled order alone", async () => {
  const orderId = 'ord-resettle';
  await act.recordOrder({
    version: 1,
    requestHash: 'h',
    view: orderView(orderId, [{ sku: BOOK, quantity: 1, unitPrice: 10_000 }], 'COMPLETED'),
  });
  const { paymentId } = await act.authorizePayment({
    orderId,
    attempt: 1,
    method: 'card',
    token: 'tok_visa',
    amount: 10_000,
    currency: 'CNY',
  });
  await act.capturePayment({ orderId, paymentId, amount: 10_000 });
  await act.recordSettlement({ orderId, currency: 'CNY', total: 10_000, shipping: 0 });
  const settlement = () => row('select captured, refunded, net from settlements where order_id = $1', [orderId]);
  expect(await settlement()).toEqual({ captured: 10_000, refunded: 0, net: 10_000 });

  await act.recordRefund({
    version: 1,
    view: {
      refundId: 'ref-resettle',
      orderId,
      customerId: CUSTOMER,
      status: 'APPROVED',
      amount: 9_000,
      currency: 'CNY',
      reason: 'quality_problem',
      origin: 'return',
      requestedBy: { principal: 'system', role: 'system' },
      requestedAt: new Date().toISOString(),
      approver: 'system',
      channel: 'original',
      attempts: [],
      history: [],
      needsAttention: false,
      attentionReasons: [],
      escalationLevel: 0,
    },
  });
  await act.claimRefund({ refundId: 'ref-resettle', orderId, amount: 9_000 });
  await act.executeRefund({
    refundId: 'ref-resettle',
    orderId,
    paymentId,
    amount: 9_000,
    reason: 'quality_problem',
    attempt: 1,
  });
  expect(await settlement()).toEqual({ captured: 10_000, refunded: 0, net: 10_000 });
  await act.resettleOrder({ orderId });
  await act.resettleOrder({ orderId });
  expect(await settlement()).toEqual({ captured: 10_000, refunded: 9_000, net: 1_000 });

  await act.resettleOrder({ orderId: 'ord-never-settled' });
  expect(await count('settlements where order_id = $1', ['ord-never-settled'])).toBe(0);
});

test('an order does not settle while one of its returns is open; once closed it settles, once', async () => {
  const orderId = 'ord-settle-open';
  await act.recordOrder({
    version: 1,
    requestHash: 'h',
    view: orderView(orderId, [{ sku: BOOK, quantity: 1, unitPrice: 10_000 }], 'DELIVERED'),
  });
  const settlement = { orderId, currency: 'CNY', total: 10_000, shipping: 0 };
  await act.recordReturn({ version: 1, view: returnView('ret-settle-open', orderId, [{ sku: BOOK, quantity: 1 }]) });
  expect(await act.recordSettlement(settlement)).toBe(false);
  expect(await count('settlements where order_id = $1', [orderId])).toBe(0);

  await act.recordReturn({
    version: 2,
    view: returnView('ret-settle-open', orderId, [{ sku: BOOK, quantity: 1 }], { status: 'REJECTED' }),
  });
  expect(await act.recordSettlement(settlement)).toBe(true);
  expect(await act.recordSettlement(settlement)).toBe(true);
  expect(await count('settlements where order_id = $1', [orderId])).toBe(1);
});

test('openReturns counts the returns of the order that are not closed, rejected or expired', async () => {
  const orderId = 'ord-open-returns';
  const statuses: ReturnStatus[] = ['REQUESTED', 'APPROVED', 'RECEIVED', 'CLOSED', 'REJECTED', 'EXPIRED'];
  for (const [index, status] of statuses.entries()) {
    await act.recordReturn({
      version: 1,
      view: returnView(`ret-open-${index}`, orderId, [{ sku: BOOK, quantity: 1 }], { status }),
    });
  }
  await act.recordReturn({ version: 1, view: returnView('ret-open-other', 'ord-other', [{ sku: BOOK, quantity: 1 }]) });
  expect(await act.openReturns({ orderId })).toBe(3);
  await act.recordReturn({
    version: 2,
    view: returnView('ret-open-0', orderId, [{ sku: BOOK, quantity: 1 }], { status: 'EXPIRED' }),
  });
  expect(await act.openReturns({ orderId })).toBe(2);
  expect(await act.openReturns({ orderId: 'ord-without-returns' })).toBe(0);
});

test("parcels name their case: the order's own, a return's replacement and its parcel back", async () => {
  const orderId = 'ord-parcels';
  await bookOrder(orderId, 2);
  await act.bookShipment({
    orderId,
    shipmentId: 'ret-parcels-R1',
    warehouseCode: 'SH1',
    lines: [{ sku: BOOK, quantity: 1 }],
    address: SHIPPING_ADDRESS,
    caseType: 'return',
    caseId: 'ret-parcels',
  });

  const requests: ReturnBookingRequest[] = [];
  const carrier = {
    async bookReturn(req: ReturnBookingRequest) {
      requests.push(req);
      return { carrier: 'SF', waybill: 'SFRET0001', labelUrl: 'https://label.example/SFRET0001.pdf' };
    },
  } as unknown as Carrier;
  const returns = returnActivities(() => orm.em.fork(), carrier);
  const from = { ...SHIPPING_ADDRESS, line1: '9 Huaihai Rd' };
  const parcel = {
    returnId: 'ret-parcels',
    orderId,
    shipmentId: 'ret-parcels-B1',
    method: 'label' as const,
    from,
    warehouseCode: 'SH1',
    lines: [{ sku: BOOK, quantity: 1 }],
  };
  const booking = await returns.bookReturnParcel(parcel);
  expect(await returns.bookReturnParcel(parcel)).toEqual(booking);
  expect(booking).toEqual({ carrier: 'SF', waybill: 'SFRET0001', labelUrl: 'https://label.example/SFRET0001.pdf' });
  expect(requests).toHaveLength(2);
  expect(requests[0]).toEqual({
    idempotencyKey: 'ret-parcels-B1:book-return',
    shipmentId: 'ret-parcels-B1',
    orderId,
    method: 'label',
    from,
    toWarehouse: 'SH1',
    lines: [{ sku: BOOK, quantity: 1 }],
  });

  const { rows } = await pool.query(
    `select id, order_id, case_type, case_id, direction, warehouse_code, carrier, waybill, status, address
       from shipments where order_id = $1 order by id`,
    [orderId],
  );
  expect(rows.map(({ address, ...rest }) => ({ ...rest, line1: address.line1 }))).toEqual([
    {
      id: `${orderId}-S1`,
      order_id: orderId,
      case_type: 'order',
      case_id: orderId,
      direction: 'outbound',
      warehouse_code: 'SH1',
      carrier: expect.any(String),
      waybill: expect.any(String),
      status: 'BOOKED',
      line1: SHIPPING_ADDRESS.line1,
    },
    {
      id: 'ret-parcels-B1',
      order_id: orderId,
      case_type: 'return',
      case_id: 'ret-parcels',
      direction: 'return',
      warehouse_code: 'SH1',
      carrier: 'SF',
      waybill: 'SFRET0001',
      status: 'BOOKED',
      line1: '9 Huaihai Rd',
    },
    {
      id: 'ret-parcels-R1',
      order_id: orderId,
      case_type: 'return',
      case_id: 'ret-parcels',
      direction: 'outbound',
      warehouse_code: 'SH1',
      carrier: expect.any(String),
      waybill: expect.any(String),
      status: 'BOOKED',
      line1: SHIPPING_ADDRESS.line1,
    },
  ]);
  // The order lists its own parcel only.
  const view = await orderViewFromDb(orm.em.fork(), orderId);
  expect(view?.shipments.map((s) => s.shipmentId)).toEqual([`${orderId}-S1`]);
});

test('a return parcel the carrier refuses is a non-retryable ProviderRefused and records nothing', async () => {
  const carrier = {
    async bookReturn() {
      throw Object.assign(new Error('no pickup in that area'), { name: 'ProviderRefused' });
    },
  } as unknown as Carrier;
  const returns = returnActivities(() => orm.em.fork(), carrier);
  const refusal = await activityFailure(
    returns.bookReturnParcel({
      returnId: 'ret-refused',
      orderId: 'ord-refused',
      shipmentId: 'ret-refused-B1',
      method: 'pickup',
      from: SHIPPING_ADDRESS,
      warehouseCode: 'SH1',
      lines: [{ sku: BOOK, quantity: 1 }],
    }),
  );
  expect(refusal).toMatchObject({ type: 'ProviderRefused', nonRetryable: true, message: 'no pickup in that area' });
  expect(await count('shipments where id = $1', ['ret-refused-B1'])).toBe(0);
});

test('the returns migration makes every parcel booked before it an outbound parcel of its order; down undoes it', async () => {
  const name = 'before_returns';
  await pool.query(`create database ${name}`);
  const url = orm.config.get('clientUrl')!.replace(/\/[^/]+$/, `/${name}`);
  const migrated = await MikroORM.init(ormConfig(url));
  try {
    const connection = migrated.em.getConnection();
    const returns = migrationsList.findIndex((m) => m.name.endsWith('_returns'));
    await migrated.migrator.up({ to: migrationsList[returns - 1].name });
    await connection.execute(
      `insert into shipments (id, order_id, warehouse_code, status, lines, address)
       values ('ORD-OLD-S1', 'ORD-OLD', 'SH1', 'DELIVERED', '[]', '{}')`,
    );

    await migrated.migrator.up({ to: migrationsList[returns].name });
    expect(await connection.execute('select id, case_type, case_id, direction from shipments')).toEqual([
      { id: 'ORD-OLD-S1', case_type: 'order', case_id: 'ORD-OLD', direction: 'outbound' },
    ]);
    const parcelBack = `insert into shipments (id, order_id, case_type, case_id, direction, warehouse_code, status, lines,
        address) values ('RET-OLD-B1', 'ORD-OLD', 'return', 'RET-OLD', ?, 'SH1', 'BOOKED', '[]', '{}')`;
    await expect(connection.execute(parcelBack, ['sideways'])).rejects.toMatchObject({
      constraint: 'shipments_direction_check',
    });
    await connection.execute(parcelBack, ['return']);
    await expect(
      connection.execute(`insert into return_lines (return_id, order_id, sku, quantity) values ('R', 'O', 'S', 0)`),
    ).rejects.toMatchObject({ constraint: 'return_lines_quantity_check' });

    await migrated.migrator.down({ to: migrationsList[returns].name });
    expect(await connection.execute('select id from shipments')).toEqual([{ id: 'ORD-OLD-S1' }]);
    expect(
      await connection.execute(
        `select table_name, column_name from information_schema.columns
          where (table_name = 'shipments' and column_name in ('case_type', 'case_id', 'direction'))
             or (table_name = 'refunds' and column_name = 'decision_id')`,
      ),
    ).toEqual([{ table_name: 'refunds', column_name: 'decision_id' }]);
    expect(
      await connection.execute(`select to_regclass('returns') as returns, to_regclass('return_lines') as lines`),
    ).toEqual([{ returns: null, lines: null }]);
  } finally {
    await migrated.close(true);
  }
});
