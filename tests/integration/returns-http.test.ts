import { WorkflowNotFoundError } from '@temporalio/client';
import { returnViewFromDb } from '../../api/records';
import { SIGNATURE_HEADER, signPayload } from '../../sandbox/signing';
import { returnWorkflowId } from '../../workflows/return-messages';
import { SHIPPING_ADDRESS } from '../helpers/fixtures';
import { apiClient } from '../helpers/http';
import { uniqueId } from '../helpers/names';
import { fullStack } from '../helpers/stack';
import { visible } from '../helpers/visibility';

/**
 * Returns over real HTTP, with the whole engine behind the API and the sandbox carrier in manual mode: every parcel
 * moves only when a test scans it, and each scan reaches the case that owns the parcel through the signed carrier
 * webhook. The carrier is otherwise polled once an hour, so a return that moves on proves the webhook found it.
 */

const TOKENS = {
  system: 'sys-token',
  alice: 'alice-token',
  bob: 'bob-token',
  supervisor: 'sue-token',
  warehouse: 'wh-token',
  finance: 'fin-token',
  ops: 'ops-token',
};

const stack = fullStack('returns', {
  API_TOKENS: [
    `${TOKENS.system}=system:shop`,
    `${TOKENS.alice}=agent:alice`,
    `${TOKENS.bob}=agent:bob`,
    `${TOKENS.supervisor}=supervisor:sue`,
    `${TOKENS.warehouse}=warehouse:wendy`,
    `${TOKENS.finance}=finance:fiona`,
    `${TOKENS.ops}=ops:olga`,
  ].join(','),
});

const { call, until, untilRefund, untilReturn } = apiClient(() => stack.config.publicUrl, TOKENS.system);

/** 39.00. */
const CABLE = 'ACC-ANKER-USBC1M';
/** 93.00. */
const BOOK = 'BOK-3BODY-SET';
/** Stocked in GZ1 only, and never ordered here. */
const SHOES = 'APP-LINING-RUN42';

type Line = { sku: string; quantity: number };

async function scan(waybill: string, type: string, extra: Record<string, unknown> = {}) {
  const scanned = await call('POST', `/v1/sandbox/parcels/${waybill}/events`, { type, ...extra }, TOKENS.ops);
  expect(scanned.status).toBe(202);
}

/** A card order of `lines`, once its parcel is booked (FULFILLING). */
async function fulfillingOrder(lines: Line[]): Promise<Record<string, any>> {
  const placed = await call('POST', '/v1/orders', {
    customerId: 'C-1001',
    channel: 'web',
    lines,
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'card', token: 'tok_visa' },
  });
  expect(placed.status).toBe(201);
  return until(placed.body.orderId, (v) => v.status === 'FULFILLING');
}

/** A card order of `lines` whose parcels the carrier delivered. */
async function deliveredOrder(lines: Line[] = [{ sku: CABLE, quantity: 2 }]): Promise<string> {
  const order = await fulfillingOrder(lines);
  for (const shipment of order.shipments) {
    for (const type of ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']) await scan(shipment.waybill, type);
  }
  await until(order.orderId, (v) => v.status === 'DELIVERED');
  // Eligibility is judged on the records, which the workflow writes a moment after its state moved.
  for (let i = 0; i < 100; i += 1) {
    const { rows } = await stack.sql.query(
      `select 1 from orders o join case_history h on h.case_type = 'order' and h.case_id = o.id
        where o.id = $1 and o.status = 'DELIVERED' and h.to_status = 'DELIVERED'`,
      [order.orderId],
    );
    if (rows.length > 0) return order.orderId;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`order ${order.orderId} was never recorded as delivered`);
}

const requestReturn = (body: Record<string, unknown>, token = TOKENS.system, headers: Record<string, string> = {}) =>
  call('POST', '/v1/returns', { reason: 'changed_mind', type: 'refund', method: 'pickup', ...body }, token, headers);

async function returnRows(orderId: string): Promise<number> {
  const { rows } = await stack.sql.query('select count(*)::int as n from returns where order_id = $1', [orderId]);
  return rows[0].n;
}

async function workflowExists(returnId: string): Promise<boolean> {
  try {
    await stack.temporal.client.workflow.getHandle(returnWorkflowId(returnId)).describe();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

async function onHand(warehouseCode: string, sku: string): Promise<number> {
  const { rows } = await stack.sql.query('select on_hand from stock_levels where warehouse_code = $1 and sku = $2', [
    warehouseCode,
    sku,
  ]);
  return rows[0].on_hand;
}

/** What the carrier's webhook answers for an event of `waybill`, posted as the carrier would. */
async function carrierWebhook(waybill: string, type: string): Promise<{ status: number; body: unknown }> {
  const payload = JSON.stringify({ eventId: uniqueId('evt'), waybill, type, occurredAt: new Date().toISOString() });
  const signature = signPayload(stack.config.CARRIER_WEBHOOK_SECRET, payload, Math.floor(Date.now() / 1000));
  const response = await fetch(`${stack.config.publicUrl}/v1/webhooks/carrier`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
    body: payload,
  });
  return { status: response.status, body: await response.json() };
}

/** Waits for the return's workflow to end, by when its last snapshot is written. */
const finished = (returnId: string) => stack.temporal.client.workflow.getHandle(returnWorkflowId(returnId)).result();

const actions = (view: Record<string, any>) => view.history.map((h: { to: string }) => h.to);

/** Two cables and a book, delivered: the order most refusals are judged against. */
let orderId: string;

beforeAll(async () => {
  orderId = await deliveredOrder([
    { sku: CABLE, quantity: 2 },
    { sku: BOOK, quantity: 1 },
  ]);
});

describe('refused before any workflow starts', () => {
  test('the wrong role is refused with 403', async () => {
    const body = { orderId, lines: [{ sku: CABLE, quantity: 1 }] };
    expect((await requestReturn(body, TOKENS.finance)).status).toBe(403);
    expect((await requestReturn(body, TOKENS.warehouse)).status).toBe(403);
    expect((await call('GET', '/v1/returns', undefined, TOKENS.system)).status).toBe(403);
    const refusals = await Promise.all([
      call('POST', '/v1/returns/any/approve', {}, TOKENS.warehouse),
      call('POST', '/v1/returns/any/reject', { reason: 'no' }, TOKENS.finance),
      call('POST', '/v1/returns/any/receive', {}, TOKENS.alice),
      call('POST', '/v1/returns/any/inspect', { lines: [{ sku: CABLE, quantity: 1, passed: true }] }, TOKENS.alice),
      call('POST', '/v1/returns/any/refund-without-receipt', { reason: 'lost' }, TOKENS.warehouse),
      call('POST', '/v1/returns/any/recover', { action: 'retry', reason: 'back' }, TOKENS.alice),
    ]);
    for (const refused of refusals) {
      expect(refused.status).toBe(403);
      expect(refused.type).toContain('application/problem+json');
      expect(refused.body.type).toMatch(/forbidden$/);
    }
    expect(await returnRows(orderId)).toBe(0);
  });

  test.each([
    ['an unknown reason', { reason: 'bored' }, 'reason'],
    ['no lines', { lines: [] }, 'lines'],
    ['a line of no units', { lines: [{ sku: CABLE, quantity: 0 }] }, 'lines[0].quantity'],
    ['an unknown type', { type: 'swap' }, 'type'],
    ['an unknown method', { method: 'drone' }, 'method'],
    ['an unknown choice for failed goods', { failedGoods: 'keep' }, 'failedGoods'],
    ['NUL in the evidence text', { evidence: { text: 'scratched\u0000' } }, 'evidence.text'],
    ['evidence text over 2000 characters', { evidence: { text: 'x'.repeat(2001) } }, 'evidence.text'],
    ['a photo that is not http(s)', { evidence: { photos: ['ftp://photos.example.com/1.jpg'] } }, 'evidence.photos[0]'],
    [
      'more than 10 photos',
      { evidence: { photos: Array.from({ length: 11 }, (_, i) => `https://photos.example.com/${i}.jpg`) } },
      'evidence.photos',
    ],
  ])('%s is a 400 naming the field', async (_what, change, field) => {
    const returnId = uniqueId('bad');
    const answer = await requestReturn({ returnId, orderId, lines: [{ sku: CABLE, quantity: 1 }], ...change });
    expect(answer.status).toBe(400);
    expect(answer.type).toContain('application/problem+json');
    expect(answer.body.errors).toEqual([{ field, reason: expect.any(String) }]);
    expect(await workflowExists(returnId)).toBe(false);
  });

  test('an unknown order or return is a 404', async () => {
    const unknownOrder = await requestReturn({ orderId: 'no-such-order', lines: [{ sku: CABLE, quantity: 1 }] });
    expect(unknownOrder.status).toBe(404);
    expect(unknownOrder.body.errors).toEqual([{ field: 'orderId', reason: 'no such order' }]);
    const unknownReturn = await call('GET', '/v1/returns/no-such-return');
    expect(unknownReturn.status).toBe(404);
    expect(unknownReturn.body.type).toMatch(/not-found$/);
    const action = await call('POST', '/v1/returns/no-such-return/receive', {}, TOKENS.warehouse);
    expect(action.status).toBe(404);
  });

  test('goods that cannot come back are a 422 naming the field and the reason', async () => {
    const returnId = uniqueId('ineligible');
    const refused = async (body: Record<string, unknown>) => {
      const answer = await requestReturn({ returnId, ...body });
      expect(answer.status).toBe(422);
      expect(answer.body.type).toMatch(/rule-violation$/);
      return answer.body.errors;
    };

    const fulfilling = await fulfillingOrder([{ sku: CABLE, quantity: 1 }]);
    expect(await refused({ orderId: fulfilling.orderId, lines: [{ sku: CABLE, quantity: 1 }] })).toEqual([
      { field: 'orderId', reason: expect.stringMatching(/^the order is \w+: only delivered goods can be returned$/) },
    ]);
    expect(await refused({ orderId, lines: [{ sku: SHOES, quantity: 1 }] })).toEqual([
      { field: 'lines', reason: `${SHOES} is not on the order` },
    ]);
    expect(await refused({ orderId, lines: [{ sku: CABLE, quantity: 3 }] })).toEqual([
      { field: 'lines', reason: `3 × ${CABLE} asked, but only 2 of 2 are left to return` },
    ]);
    // Two lines of one SKU count together.
    expect(
      await refused({
        orderId,
        lines: [
          { sku: CABLE, quantity: 2 },
          { sku: CABLE, quantity: 1 },
        ],
      }),
    ).toEqual([{ field: 'lines', reason: `3 × ${CABLE} asked, but only 2 of 2 are left to return` }]);

    await stack.sql.query('update products set returnable = false where sku = $1', [BOOK]);
    try {
      expect(await refused({ orderId, lines: [{ sku: BOOK, quantity: 1 }] })).toEqual([
        { field: 'lines', reason: `${BOOK} cannot be returned` },
      ]);
    } finally {
      await stack.sql.query('update products set returnable = true where sku = $1', [BOOK]);
    }

    const old = await deliveredOrder([{ sku: CABLE, quantity: 1 }]);
    await stack.sql.query(
      `update case_history set at = now() - interval '8 days'
        where case_type = 'order' and case_id = $1 and to_status = 'DELIVERED'`,
      [old],
    );
    expect(await refused({ orderId: old, lines: [{ sku: CABLE, quantity: 1 }] })).toEqual([
      { field: 'orderId', reason: 'the return window of 7 days after delivery has passed' },
    ]);

    expect(await workflowExists(returnId)).toBe(false);
    for (const order of [orderId, fulfilling.orderId, old]) expect(await returnRows(order)).toBe(0);
    const audit = await call('GET', `/v1/audit?caseType=return&caseId=${returnId}`, undefined, TOKENS.ops);
    expect(audit.body.items.map((row: { result: string }) => row.result)).toEqual(Array(6).fill('rejected'));
  });
});

describe('claims on an order’s goods', () => {
  test('partial returns use the order up: what is left is what the next one may take', async () => {
    const order = await deliveredOrder([{ sku: CABLE, quantity: 3 }]);
    const returnId = uniqueId('first');
    const body = { returnId, orderId: order, lines: [{ sku: CABLE, quantity: 1 }] };
    const first = await requestReturn(body);
    expect(first.status).toBe(201);
    expect(first.location).toBe(`/v1/returns/${returnId}`);
    expect(first.body).toMatchObject({
      returnId,
      orderId: order,
      customerId: 'C-1001',
      currency: 'CNY',
      status: 'APPROVED',
      approver: 'system',
      failedGoods: 'send_back',
      requestedBy: { principal: 'shop', role: 'system' },
    });

    // The same request again is the same return; another one under its id is a conflict.
    const again = await requestReturn(body);
    expect(again.status).toBe(200);
    expect(again.body.returnId).toBe(returnId);
    expect((await requestReturn({ ...body, method: 'label' })).status).toBe(409);

    const tooMany = await requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 3 }] });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.errors).toEqual([
      { field: 'lines', reason: `3 × ${CABLE} asked, but only 2 of 3 are left to return` },
    ]);

    const second = await requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }] });
    expect(second.status).toBe(201);

    // Both may pass the early check for the last cable; the claim takes one and refuses the other.
    const racing = await Promise.all([
      requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }] }),
      requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }] }, TOKENS.alice),
    ]);
    expect(racing.map((r) => r.status).sort()).toEqual([201, 422]);
    const loser = racing.find((r) => r.status === 422)!;
    expect(loser.body.errors).toEqual([{ field: 'lines', reason: expect.stringContaining('only 0 of 3') }]);

    const nothingLeft = await requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }] });
    expect(nothingLeft.status).toBe(422);
    expect(nothingLeft.body.errors).toEqual([
      { field: 'lines', reason: `1 × ${CABLE} asked, but only 0 of 3 are left to return` },
    ]);

    const { rows } = await stack.sql.query(
      'select sum(quantity)::int as claimed from return_lines where order_id = $1 and not released',
      [order],
    );
    expect(rows[0].claimed).toBe(3);
  });

  test('an agent rejects a return saying why, and its units can be asked for again', async () => {
    const order = await deliveredOrder([{ sku: CABLE, quantity: 1 }]);
    const requested = await requestReturn({
      orderId: order,
      lines: [{ sku: CABLE, quantity: 1 }],
      reason: 'quality',
      evidence: { photos: ['https://photos.example.com/frayed.jpg'], text: 'frayed at the plug' },
    });
    expect(requested.status).toBe(201);
    const returnId = requested.body.returnId as string;
    expect(requested.body).toMatchObject({
      status: 'PENDING_APPROVAL',
      approver: 'agent',
      waitingOn: 'agent',
      evidence: { photos: ['https://photos.example.com/frayed.jpg'], text: 'frayed at the plug' },
    });

    const early = await call('POST', `/v1/returns/${returnId}/receive`, {}, TOKENS.warehouse);
    expect(early.status).toBe(409);
    expect(early.body.type).toMatch(/wrong-state$/);
    const noReason = await call('POST', `/v1/returns/${returnId}/reject`, {}, TOKENS.alice);
    expect(noReason.status).toBe(400);
    expect(noReason.body.errors).toEqual([{ field: 'reason', reason: expect.any(String) }]);

    const rejected = await call(
      'POST',
      `/v1/returns/${returnId}/reject`,
      { reason: 'wear, not a defect' },
      TOKENS.alice,
    );
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({
      status: 'REJECTED',
      rejectReason: 'wear, not a defect',
      waitingOn: 'none',
      decision: { decision: 'reject', actor: { principal: 'alice', role: 'agent' } },
    });
    const late = await call('POST', `/v1/returns/${returnId}/approve`, {}, TOKENS.bob);
    expect(late.status).toBe(409);

    // The rejection released the claim: the cable may be asked for again.
    const again = await requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }] });
    expect(again.status).toBe(201);

    const queue = await call('GET', `/v1/returns?orderId=${order}&status=REJECTED`, undefined, TOKENS.bob);
    expect(queue.status).toBe(200);
    expect(queue.body).toMatchObject({ total: 1, items: [{ returnId, status: 'REJECTED', reason: 'quality' }] });
  });
});

test('the queue lists returns oldest first, filtered and paged', async () => {
  const order = await deliveredOrder([{ sku: CABLE, quantity: 2 }]);
  const pending = await requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }], reason: 'wrong_item' });
  const approved = await requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }] });
  expect([pending.status, approved.status]).toEqual([201, 201]);

  const all = await call('GET', `/v1/returns?orderId=${order}`, undefined, TOKENS.warehouse);
  expect(all.status).toBe(200);
  expect(all.body.total).toBe(2);
  expect(all.body.items.map((r: { returnId: string }) => r.returnId)).toEqual([
    pending.body.returnId,
    approved.body.returnId,
  ]);
  expect(all.body.items[0]).toMatchObject({
    orderId: order,
    customerId: 'C-1001',
    lines: [{ sku: CABLE, quantity: 1 }],
    status: 'PENDING_APPROVAL',
    waitingOn: 'agent',
    needsAttention: false,
    escalationLevel: 0,
  });
  expect(all.body.items[0].ageSeconds).toBeGreaterThanOrEqual(0);

  const page = await call('GET', `/v1/returns?orderId=${order}&limit=1&offset=1`, undefined, TOKENS.alice);
  expect(page.body).toMatchObject({ total: 2, limit: 1, offset: 1, items: [{ returnId: approved.body.returnId }] });
  const waiting = await call('GET', `/v1/returns?orderId=${order}&waitingOn=agent`, undefined, TOKENS.alice);
  expect(waiting.body.items.map((r: { returnId: string }) => r.returnId)).toEqual([pending.body.returnId]);
  const statuses = await call(
    'GET',
    `/v1/returns?orderId=${order}&status=PENDING_APPROVAL,CLOSED&needsAttention=false`,
    undefined,
    TOKENS.alice,
  );
  expect(statuses.body.items.map((r: { returnId: string }) => r.returnId)).toEqual([pending.body.returnId]);
  const flagged = await call('GET', `/v1/returns?orderId=${order}&needsAttention=true`, undefined, TOKENS.alice);
  expect(flagged.body).toMatchObject({ total: 0, items: [] });
  const badStatus = await call('GET', '/v1/returns?status=APPROVED,LOST', undefined, TOKENS.alice);
  expect(badStatus.status).toBe(400);

  const view = await call('GET', `/v1/orders/${order}`, undefined, TOKENS.alice);
  expect(view.body.returns).toEqual([
    {
      returnId: pending.body.returnId,
      status: 'PENDING_APPROVAL',
      type: 'refund',
      lines: [{ sku: CABLE, quantity: 1 }],
      requestedAt: pending.body.requestedAt,
    },
    expect.objectContaining({ returnId: approved.body.returnId, type: 'refund' }),
  ]);
});

describe('end to end', () => {
  test('a change of mind: approved by the system, picked up, received, inspected, refunded, closed', async () => {
    const order = await deliveredOrder([
      { sku: CABLE, quantity: 1 },
      { sku: BOOK, quantity: 1 },
    ]);
    const requested = await requestReturn({ orderId: order, lines: [{ sku: BOOK, quantity: 1 }] });
    expect(requested.status).toBe(201);
    expect(requested.body).toMatchObject({ status: 'APPROVED', approver: 'system' });
    const returnId = requested.body.returnId as string;

    const booked = await untilReturn(returnId, (v) => v.parcels.length > 0);
    const parcel = booked.parcels[0];
    // The goods go back to the warehouse that shipped them.
    const { rows: shipped } = await stack.sql.query('select warehouse_code from shipments where case_id = $1', [order]);
    expect(parcel).toMatchObject({
      purpose: 'return',
      method: 'pickup',
      status: 'BOOKED',
      warehouseCode: shipped[0].warehouse_code,
    });
    expect(booked.waitingOn).toBe('carrier');
    const { rows } = await stack.sql.query('select case_type, case_id, direction from shipments where waybill = $1', [
      parcel.waybill,
    ]);
    expect(rows).toEqual([{ case_type: 'return', case_id: returnId, direction: 'return' }]);

    // The carrier's webhooks reach the return, not the order whose goods the parcel carries.
    await scan(parcel.waybill, 'PICKED_UP');
    await untilReturn(returnId, (v) => v.status === 'IN_TRANSIT');
    const inspectEarly = await call(
      'POST',
      `/v1/returns/${returnId}/inspect`,
      { lines: [{ sku: BOOK, quantity: 1, passed: true }] },
      TOKENS.warehouse,
    );
    expect(inspectEarly.status).toBe(409);
    await scan(parcel.waybill, 'IN_TRANSIT');
    await scan(parcel.waybill, 'DELIVERED');
    await untilReturn(returnId, (v) => v.parcels[0].status === 'DELIVERED' && v.waitingOn === 'warehouse');
    const orderView = await call('GET', `/v1/orders/${order}`);
    expect(orderView.body.shipments).toHaveLength(1);

    const received = await call('POST', `/v1/returns/${returnId}/receive`, { note: 'box intact' }, TOKENS.warehouse);
    expect(received.status).toBe(200);
    expect(received.body).toMatchObject({ status: 'RECEIVED', receivedBy: 'wendy', waitingOn: 'warehouse' });

    const mismatched = await call(
      'POST',
      `/v1/returns/${returnId}/inspect`,
      { lines: [{ sku: BOOK, quantity: 2, passed: true }] },
      TOKENS.warehouse,
    );
    expect(mismatched.status).toBe(422);
    expect(mismatched.body.type).toMatch(/rule-violation$/);

    const shelf = await onHand(parcel.warehouseCode, BOOK);
    const inspected = await call(
      'POST',
      `/v1/returns/${returnId}/inspect`,
      { lines: [{ sku: BOOK, quantity: 1, passed: true, note: 'unread' }] },
      TOKENS.warehouse,
    );
    expect(inspected.status).toBe(200);
    expect(inspected.body.inspection).toMatchObject({
      actor: 'wendy',
      lines: [{ sku: BOOK, quantity: 1, passed: true, note: 'unread' }],
    });

    const closed = await untilReturn(returnId, (v) => v.status === 'CLOSED');
    expect(closed).toMatchObject({ outcome: 'refunded', waitingOn: 'none', refund: { amount: 9300 } });
    expect(actions(closed)).toEqual(['REQUESTED', 'APPROVED', 'IN_TRANSIT', 'RECEIVED', 'INSPECTED', 'CLOSED']);
    expect(await onHand(parcel.warehouseCode, BOOK)).toBe(shelf + 1);
    const refund = await untilRefund(closed.refund.refundId, (v) => v.status === 'REFUNDED');
    expect(refund).toMatchObject({ orderId: order, amount: 9300, reason: 'return_received', origin: 'return' });
    expect(closed.refund.status).toBe('REFUNDED');

    const listed = await call('GET', `/v1/orders/${order}`);
    expect(listed.body.returns).toEqual([
      {
        returnId,
        status: 'CLOSED',
        type: 'refund',
        lines: [{ sku: BOOK, quantity: 1 }],
        outcome: 'refunded',
        requestedAt: closed.requestedAt,
      },
    ]);
    expect(listed.body.refunds).toEqual([expect.objectContaining({ refundId: refund.refundId, amount: 9300 })]);

    // What the API answers once Temporal no longer holds the return.
    await finished(returnId);
    expect(await returnViewFromDb(stack.orm.em.fork(), returnId)).toEqual(closed);
    // A late scan of the finished return's parcel is acknowledged and changes nothing.
    expect(await carrierWebhook(parcel.waybill, 'DELIVERED')).toEqual({
      status: 200,
      body: { status: 'ignored', eventId: expect.any(String) },
    });

    const audit = await call('GET', `/v1/audit?caseType=return&caseId=${returnId}`, undefined, TOKENS.ops);
    const apiRows = audit.body.items
      .filter((row: { action: string }) => ['return.request', 'return.receive', 'return.inspect'].includes(row.action))
      .map((row: { action: string; principal: string; result: string }) => [row.action, row.principal, row.result])
      .reverse();
    expect(apiRows).toEqual([
      ['return.request', 'shop', 'ok'],
      ['return.inspect', 'wendy', 'rejected'],
      ['return.receive', 'wendy', 'ok'],
      ['return.inspect', 'wendy', 'rejected'],
      ['return.inspect', 'wendy', 'ok'],
    ]);
  });

  test('an exchange: approved by another agent, dropped off with a label, replaced, closed', async () => {
    const order = await deliveredOrder([{ sku: CABLE, quantity: 2 }]);
    const requested = await requestReturn(
      { orderId: order, lines: [{ sku: CABLE, quantity: 1 }], reason: 'quality', type: 'exchange', method: 'label' },
      TOKENS.alice,
    );
    expect(requested.status).toBe(201);
    expect(requested.body).toMatchObject({ status: 'PENDING_APPROVAL', requestedBy: { principal: 'alice' } });
    const returnId = requested.body.returnId as string;

    const own = await call('POST', `/v1/returns/${returnId}/approve`, {}, TOKENS.alice);
    expect(own.status).toBe(403);
    expect(own.body.detail).toMatch(/requested/);
    const key = { 'idempotency-key': `dec-${returnId}` };
    const approved = await call('POST', `/v1/returns/${returnId}/approve`, { reason: 'photo' }, TOKENS.bob, key);
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('APPROVED');
    const again = await call('POST', `/v1/returns/${returnId}/approve`, { reason: 'photo' }, TOKENS.bob, key);
    expect(again.status).toBe(200);
    expect(again.body.decision).toMatchObject({ decisionId: `dec-${returnId}`, actor: { principal: 'bob' } });

    const labelled = await untilReturn(returnId, (v) => v.parcels.length > 0);
    const parcel = labelled.parcels[0];
    expect(parcel).toMatchObject({ purpose: 'return', method: 'label', labelUrl: expect.any(String) });
    expect(labelled.waitingOn).toBe('customer');
    // Ops find it in the Temporal UI with the README's queries, by whom it waits for.
    const listed = (query: string) => visible(stack.temporal.client, query, returnWorkflowId(returnId));
    expect(await listed(`CaseType = 'return' AND WaitingOn = 'customer'`)).toBe(true);
    const label = await fetch(parcel.labelUrl, { headers: { authorization: `Bearer ${TOKENS.ops}` } });
    expect(label.status).toBe(200);
    expect(await label.text()).toContain(parcel.waybill);

    await scan(parcel.waybill, 'PICKED_UP');
    await scan(parcel.waybill, 'DELIVERED');
    await untilReturn(returnId, (v) => v.status === 'IN_TRANSIT' && v.parcels[0].status === 'DELIVERED');
    expect(await listed(`CaseType = 'return' AND WaitingOn = 'warehouse'`)).toBe(true);
    expect((await call('POST', `/v1/returns/${returnId}/receive`, {}, TOKENS.warehouse)).status).toBe(200);
    const inspected = await call(
      'POST',
      `/v1/returns/${returnId}/inspect`,
      { lines: [{ sku: CABLE, quantity: 1, passed: true }] },
      TOKENS.warehouse,
    );
    expect(inspected.status).toBe(200);

    const shipping = await untilReturn(returnId, (v) => v.parcels.some((p: any) => p.purpose === 'replacement'));
    const replacement = shipping.parcels.find((p: { purpose: string }) => p.purpose === 'replacement');
    const { rows } = await stack.sql.query('select case_type, case_id, direction from shipments where waybill = $1', [
      replacement.waybill,
    ]);
    expect(rows).toEqual([{ case_type: 'return', case_id: returnId, direction: 'outbound' }]);
    expect(await listed(`CaseType = 'return' AND CaseStatus = 'INSPECTED' AND WaitingOn = 'carrier'`)).toBe(true);
    for (const type of ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED'])
      await scan(replacement.waybill, type);

    const closed = await untilReturn(returnId, (v) => v.status === 'CLOSED');
    expect(closed).toMatchObject({ outcome: 'replaced', type: 'exchange' });
    expect(closed.refund).toBeUndefined();
    expect(closed.parcels.map((p: { purpose: string; status: string }) => [p.purpose, p.status])).toEqual([
      ['return', 'DELIVERED'],
      ['replacement', 'DELIVERED'],
    ]);
    await finished(returnId);
    expect(await returnViewFromDb(stack.orm.em.fork(), returnId)).toEqual(closed);
  });

  test('a parcel the carrier lost: flagged for an agent, refunded without receipt', async () => {
    const order = await deliveredOrder([{ sku: CABLE, quantity: 1 }]);
    const requested = await requestReturn({ orderId: order, lines: [{ sku: CABLE, quantity: 1 }] });
    expect(requested.status).toBe(201);
    const returnId = requested.body.returnId as string;
    const { parcels } = await untilReturn(returnId, (v) => v.parcels.length > 0);
    await scan(parcels[0].waybill, 'PICKED_UP');
    await untilReturn(returnId, (v) => v.status === 'IN_TRANSIT');

    const tooSoon = await call('POST', `/v1/returns/${returnId}/refund-without-receipt`, { reason: 'x' }, TOKENS.bob);
    expect(tooSoon.status).toBe(409);
    await scan(parcels[0].waybill, 'EXCEPTION', { exception: 'lost' });
    const lost = await untilReturn(returnId, (v) => v.needsAttention);
    expect(lost).toMatchObject({ attentionReasons: ['return_parcel_lost'], waitingOn: 'agent' });
    // The queue reads PostgreSQL, which the workflow writes a moment after its state moved.
    const flaggedIds = async () => {
      const flagged = await call('GET', `/v1/returns?flagged=true&orderId=${order}`, undefined, TOKENS.bob);
      return flagged.body.items.map((r: { returnId: string }) => r.returnId);
    };
    for (let i = 0; i < 50 && (await flaggedIds()).length === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await flaggedIds()).toEqual([returnId]);

    const refunded = await call(
      'POST',
      `/v1/returns/${returnId}/refund-without-receipt`,
      { reason: 'carrier confirmed the loss' },
      TOKENS.bob,
    );
    expect(refunded.status).toBe(200);
    const closed = await untilReturn(returnId, (v) => v.status === 'CLOSED');
    expect(closed).toMatchObject({
      outcome: 'refunded_without_receipt',
      needsAttention: false,
      refund: { amount: 3900, status: 'REFUNDED' },
    });
  });
});

describe('a return racing the order’s cancellation', () => {
  async function refundsOf(orderId: string): Promise<{ reason: string; amount: number; status: string }[]> {
    const { rows } = await stack.sql.query(
      'select reason, amount, status from refunds where order_id = $1 order by created_at',
      [orderId],
    );
    return rows;
  }

  test('a delivered order refuses the cancel: only the return gives money back', async () => {
    const orderId = await deliveredOrder([{ sku: CABLE, quantity: 1 }]);
    const [cancelled, returned] = await Promise.all([
      call('POST', `/v1/orders/${orderId}/cancel`, { reason: 'changed mind' }, TOKENS.alice),
      // The longest id a client may choose: the refund named after it is still reachable.
      requestReturn({ orderId, lines: [{ sku: CABLE, quantity: 1 }], returnId: `race-${'x'.repeat(59)}` }),
    ]);
    expect(cancelled.status).toBe(409);
    expect(returned.status).toBe(201);
    const returnId = returned.body.returnId as string;
    expect(returnId).toHaveLength(64);
    const booked = await untilReturn(returnId, (v) => v.parcels.length > 0);
    for (const type of ['PICKED_UP', 'IN_TRANSIT', 'DELIVERED']) await scan(booked.parcels[0].waybill, type);
    await untilReturn(returnId, (v) => v.waitingOn === 'warehouse');
    expect((await call('POST', `/v1/returns/${returnId}/receive`, {}, TOKENS.warehouse)).status).toBe(200);
    const inspect = { lines: [{ sku: CABLE, quantity: 1, passed: true }] };
    expect((await call('POST', `/v1/returns/${returnId}/inspect`, inspect, TOKENS.warehouse)).status).toBe(200);
    await untilReturn(returnId, (v) => v.status === 'CLOSED');

    expect(await refundsOf(orderId)).toEqual([{ reason: 'return_received', amount: 3900, status: 'REFUNDED' }]);
    const refund = await call('GET', `/v1/refunds/${returnId}-refund`, undefined, TOKENS.alice);
    expect(refund.status).toBe(200);
    expect(refund.body).toMatchObject({ origin: 'return', amount: 3900, status: 'REFUNDED' });
    const order = await until(orderId, (v) => v.payment.refunded === 3900);
    expect(order.status).not.toBe('CANCELLED');
  });

  test('a paid order not yet handed to the carrier refuses the return: only the cancel gives money back', async () => {
    const placed = await call('POST', '/v1/orders', {
      customerId: 'C-1001',
      channel: 'web',
      lines: [{ sku: CABLE, quantity: 1 }],
      shippingAddress: { ...SHIPPING_ADDRESS },
      payment: { method: 'bank_transfer' },
    });
    expect(placed.status).toBe(201);
    const orderId = placed.body.orderId as string;
    const reference = placed.body.payment.transferReference as string;
    expect((await call('POST', `/v1/sandbox/bank-transfers/${reference}/receive`, {}, TOKENS.ops)).status).toBe(202);
    const paid = await until(orderId, (v) => v.status === 'FULFILLING');

    const [cancelled, returned] = await Promise.all([
      call('POST', `/v1/orders/${orderId}/cancel`, { reason: 'changed mind' }, TOKENS.alice),
      requestReturn({ orderId, lines: [{ sku: CABLE, quantity: 1 }] }),
    ]);
    expect(returned.status).toBe(422);
    expect(returned.body.errors).toEqual([{ field: 'orderId', reason: expect.stringMatching(/only delivered goods/) }]);
    expect(cancelled.status).toBe(200);
    const refunds = await (async () => {
      for (let i = 0; i < 100; i += 1) {
        const rows = await refundsOf(orderId);
        if (rows.some((r) => r.status === 'REFUNDED')) return rows;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return refundsOf(orderId);
    })();
    expect(refunds).toEqual([{ reason: 'order_cancelled', amount: paid.totals.total, status: 'REFUNDED' }]);
    expect(await returnRows(orderId)).toBe(0);
  });
});
