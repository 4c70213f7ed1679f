import { WorkflowNotFoundError } from '@temporalio/client';
import { orderViewFromDb, refundViewFromDb } from '../../api/records';
import { refundWorkflowId } from '../../workflows/refund-messages';
import { SHIPPING_ADDRESS } from '../helpers/fixtures';
import { apiClient, CAPTURED_CABLES } from '../helpers/http';
import { uniqueId } from '../helpers/names';
import { fullStack } from '../helpers/stack';
import { visible } from '../helpers/visibility';

/**
 * Refunds over real HTTP, with the whole engine behind the API. Limits are small so a two-cable order (78.00 + 8.00
 * shipping, captured when the parcel is picked up) covers every approver: up to 5.00 the system approves a refund with
 * an auto-approvable reason, up to 30.00 an agent, above that a supervisor.
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

const stack = fullStack('refunds', {
  API_TOKENS: [
    `${TOKENS.system}=system:shop`,
    `${TOKENS.alice}=agent:alice`,
    `${TOKENS.bob}=agent:bob`,
    `${TOKENS.supervisor}=supervisor:sue`,
    `${TOKENS.warehouse}=warehouse:wendy`,
    `${TOKENS.finance}=finance:fiona`,
    `${TOKENS.ops}=ops:olga`,
  ].join(','),
  REFUND_AUTO_APPROVE_LIMIT: '500',
  REFUND_AGENT_LIMIT: '3000',
});

const { call, untilRefund, capturedOrder } = apiClient(() => stack.config.publicUrl, TOKENS.system);

const CABLE = 'ACC-ANKER-USBC1M';
const SHOES = 'APP-LINING-RUN42';
/** Two cables at 39.00 and the 8.00 shipping fee of a basket under the free-shipping threshold. */
const CAPTURED = CAPTURED_CABLES;

const requestRefund = (body: Record<string, unknown>, token = TOKENS.alice, headers: Record<string, string> = {}) =>
  call('POST', '/v1/refunds', { reason: 'quality_problem', ...body }, token, headers);

async function refundRows(orderId: string): Promise<number> {
  const { rows } = await stack.sql.query('select count(*)::int as n from refunds where order_id = $1', [orderId]);
  return rows[0].n;
}

/** Whether the refund's workflow shows up in a visibility query. */
const visibleRefund = (query: string, refundId: string) =>
  visible(stack.temporal.client, query, refundWorkflowId(refundId));

async function workflowExists(refundId: string): Promise<boolean> {
  try {
    await stack.temporal.client.workflow.getHandle(refundWorkflowId(refundId)).describe();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

let orderId: string;

beforeAll(async () => {
  orderId = await capturedOrder(TOKENS.ops);
});

test('the wrong role is refused and starts nothing', async () => {
  const body = { orderId, amount: 100 };
  expect((await requestRefund(body, TOKENS.warehouse)).status).toBe(403);
  expect((await requestRefund(body, TOKENS.finance)).status).toBe(403);
  expect((await call('GET', '/v1/refunds', undefined, TOKENS.system)).status).toBe(403);
  expect((await call('GET', '/v1/audit', undefined, TOKENS.system)).status).toBe(403);
  const retry = await call('POST', '/v1/refunds/any/retry', { channel: 'balance', reason: 'card closed' }, TOKENS.bob);
  expect(retry.status).toBe(403);
  expect(retry.type).toContain('application/problem+json');
  expect(await refundRows(orderId)).toBe(0);
});

test('a refund the order cannot pay is refused before any workflow starts, naming the field', async () => {
  const refundId = uniqueId('over');
  const over = await requestRefund({ refundId, orderId, amount: CAPTURED + 1 });
  expect(over.status).toBe(422);
  expect(over.body.type).toMatch(/rule-violation$/);
  expect(over.body.errors).toEqual([{ field: 'amount', reason: expect.stringContaining(`${CAPTURED}`) }]);

  const tooMany = await requestRefund({ refundId, orderId, lines: [{ sku: CABLE, quantity: 3 }] });
  expect(tooMany.status).toBe(422);
  expect(tooMany.body.errors).toEqual([{ field: 'lines[0].quantity', reason: 'only 2 of ACC-ANKER-USBC1M ordered' }]);
  const notInOrder = await requestRefund({ refundId, orderId, lines: [{ sku: SHOES, quantity: 1 }] });
  expect(notInOrder.body.errors).toEqual([{ field: 'lines[0].sku', reason: expect.any(String) }]);
  const unknownOrder = await requestRefund({ refundId, orderId: 'no-such-order', amount: 100 });
  expect(unknownOrder.status).toBe(422);
  expect(unknownOrder.body.errors).toEqual([{ field: 'orderId', reason: 'no such order' }]);

  const unpaid = await call('POST', '/v1/orders', {
    customerId: 'C-1001',
    channel: 'web',
    lines: [{ sku: CABLE, quantity: 1 }],
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'bank_transfer' },
  });
  const nothingCaptured = await requestRefund({ refundId, orderId: unpaid.body.orderId, amount: 100 });
  expect(nothingCaptured.status).toBe(422);
  expect(nothingCaptured.body.errors).toEqual([{ field: 'orderId', reason: expect.any(String) }]);

  expect(await workflowExists(refundId)).toBe(false);
  expect(await refundRows(orderId)).toBe(0);
});

test('an agent approves a refund; its requester cannot; the same decision twice is harmless', async () => {
  const requested = await requestRefund({ orderId, amount: 1000, note: 'lid scratched' });
  expect(requested.status).toBe(201);
  const refundId = requested.body.refundId as string;
  expect(requested.location).toBe(`/v1/refunds/${refundId}`);
  expect(requested.body).toMatchObject({
    status: 'PENDING_APPROVAL',
    approver: 'agent',
    origin: 'agent',
    amount: 1000,
    currency: 'CNY',
    requestedBy: { principal: 'alice', role: 'agent' },
  });

  // Self-approval is the workflow's Forbidden: 403, like any action the caller may not take on this refund.
  const own = await call('POST', `/v1/refunds/${refundId}/approve`, {}, TOKENS.alice);
  expect(own.status).toBe(403);
  expect(own.body.detail).toMatch(/requested/);

  const key = { 'idempotency-key': `dec-${refundId}` };
  const approved = await call('POST', `/v1/refunds/${refundId}/approve`, { reason: 'photo' }, TOKENS.bob, key);
  expect(approved.status).toBe(200);
  const again = await call('POST', `/v1/refunds/${refundId}/approve`, { reason: 'photo' }, TOKENS.bob, key);
  expect(again.status).toBe(200);
  expect(again.body.decision).toMatchObject({ decisionId: `dec-${refundId}`, actor: { principal: 'bob' } });

  const refunded = await untilRefund(refundId, (v) => v.status === 'REFUNDED');
  expect(refunded.providerRefundId).toEqual(expect.any(String));
  // What the API answers once Temporal no longer holds the refund; only the gateway attempts are the workflow's alone.
  expect(await refundViewFromDb(stack.orm.em.fork(), refundId)).toEqual({ ...refunded, attempts: [] });
  const rejectLate = await call('POST', `/v1/refunds/${refundId}/reject`, { reason: 'changed mind' }, TOKENS.bob);
  expect(rejectLate.status).toBe(409);

  const audit = await call('GET', `/v1/audit?caseType=refund&caseId=${refundId}`, undefined, TOKENS.ops);
  expect(audit.status).toBe(200);
  const apiRows = audit.body.items
    .filter((row: { action: string }) => ['refund.request', 'refund.approve'].includes(row.action))
    .map((row: { action: string; principal: string; result: string }) => [row.action, row.principal, row.result])
    .reverse();
  expect(apiRows).toEqual([
    ['refund.request', 'alice', 'ok'],
    ['refund.approve', 'alice', 'rejected'],
    ['refund.approve', 'bob', 'ok'],
    ['refund.approve', 'bob', 'ok'],
  ]);
  expect(audit.body.items[0].at >= audit.body.items.at(-1).at).toBe(true);
});

test('above the agent limit only a supervisor approves', async () => {
  const requested = await requestRefund({ orderId, amount: 3001 });
  expect(requested.status).toBe(201);
  expect(requested.body).toMatchObject({ status: 'PENDING_APPROVAL', approver: 'supervisor' });
  const refundId = requested.body.refundId as string;
  // Ops find it in the Temporal UI with the common search attributes every case type keeps current.
  const pending = `CaseType = 'refund' AND CaseStatus = 'PENDING_APPROVAL' AND AwaitingSince <= '${new Date().toISOString()}'`;
  expect(await visibleRefund(pending, refundId)).toBe(true);
  const byAgent = await call('POST', `/v1/refunds/${refundId}/approve`, {}, TOKENS.bob);
  expect(byAgent.status).toBe(403);
  const bySupervisor = await call('POST', `/v1/refunds/${refundId}/approve`, {}, TOKENS.supervisor);
  expect(bySupervisor.status).toBe(200);
  expect(bySupervisor.body.decision).toMatchObject({ decision: 'approve', actor: { principal: 'sue' } });
  await untilRefund(refundId, (v) => v.status === 'REFUNDED');
  expect(
    await visibleRefund(`CaseType = 'refund' AND CaseStatus = 'REFUNDED' AND AwaitingSince IS NULL`, refundId),
  ).toBe(true);
});

test('a rejected refund cannot be approved afterwards', async () => {
  const requested = await requestRefund({ orderId, lines: [{ sku: CABLE, quantity: 1 }] });
  expect(requested.status).toBe(201);
  expect(requested.body).toMatchObject({ amount: 3900, lines: [{ sku: CABLE, quantity: 1 }], approver: 'supervisor' });
  const refundId = requested.body.refundId as string;
  const noReason = await call('POST', `/v1/refunds/${refundId}/reject`, {}, TOKENS.supervisor);
  expect(noReason.status).toBe(400);
  expect(noReason.body.errors).toEqual([{ field: 'reason', reason: expect.any(String) }]);
  const rejected = await call('POST', `/v1/refunds/${refundId}/reject`, { reason: 'no damage' }, TOKENS.supervisor);
  expect(rejected.status).toBe(200);
  expect(rejected.body).toMatchObject({ status: 'REJECTED', rejectReason: 'no damage' });
  const approve = await call('POST', `/v1/refunds/${refundId}/approve`, {}, TOKENS.supervisor);
  expect(approve.status).toBe(409);
  expect(approve.body.type).toMatch(/wrong-state$/);
});

test('the same refund id repeats the refund, or conflicts when the request differs', async () => {
  const refundId = uniqueId('repeat');
  const body = { refundId, orderId, amount: 200, reason: 'wrong_amount' };
  const first = await call('POST', '/v1/refunds', body);
  expect(first.status).toBe(201);
  // Within the auto-approve limit, with an auto-approvable reason, asked by the shop for the customer.
  expect(first.body).toMatchObject({ origin: 'customer', approver: 'system' });
  const again = await call('POST', '/v1/refunds', body);
  expect(again.status).toBe(200);
  expect(again.body.refundId).toBe(refundId);
  const different = await call('POST', '/v1/refunds', { ...body, amount: 300 });
  expect(different.status).toBe(409);
});

test('two requests for the last 50.00 of an order: one is taken, the other refused', async () => {
  const order = await capturedOrder(TOKENS.ops);
  const first = await requestRefund({ orderId: order, amount: CAPTURED - 5000 });
  expect(first.status).toBe(201);
  const racing = await Promise.all([
    requestRefund({ orderId: order, amount: 5000 }),
    requestRefund({ orderId: order, amount: 5000 }, TOKENS.bob),
  ]);
  expect(racing.map((r) => r.status).sort()).toEqual([201, 422]);
  const refused = racing.find((r) => r.status === 422)!;
  expect(refused.body.type).toMatch(/rule-violation$/);
  expect(refused.body.errors).toEqual([{ field: 'amount', reason: expect.any(String) }]);
  const nothingLeft = await requestRefund({ orderId: order, amount: 1 });
  expect(nothingLeft.status).toBe(422);
  const { rows } = await stack.sql.query('select refund_claimed, captured_amount from payments where order_id = $1', [
    order,
  ]);
  expect(rows.reduce((sum, row) => sum + row.refund_claimed, 0)).toBe(CAPTURED);
});

test('the order lists its refunds and the queue shows them oldest first', async () => {
  const view = await call('GET', `/v1/orders/${orderId}`, undefined, TOKENS.bob);
  expect(view.status).toBe(200);
  const listed = view.body.refunds as { refundId: string; requestedAt: string; amount: number; status: string }[];
  expect(listed.length).toBeGreaterThanOrEqual(4);
  expect(listed.map((r) => r.requestedAt)).toEqual([...listed.map((r) => r.requestedAt)].sort());
  expect(listed.map((r) => r.amount)).toEqual(expect.arrayContaining([1000, 3001, 3900, 200]));

  const queue = await call('GET', `/v1/refunds?orderId=${orderId}&limit=2`, undefined, TOKENS.finance);
  expect(queue.status).toBe(200);
  expect(queue.body.total).toBe(listed.length);
  expect(queue.body.items.map((r: { refundId: string }) => r.refundId)).toEqual(
    listed.slice(0, 2).map((r) => r.refundId),
  );
  expect(queue.body.items[0]).toMatchObject({ orderId, customerId: 'C-1001', currency: 'CNY' });
  expect(queue.body.items[0].ageSeconds).toBeGreaterThanOrEqual(0);

  const stored = await orderViewFromDb(stack.orm.em.fork(), orderId);
  expect(stored?.refunds).toEqual(listed);
  expect(stored?.history).toEqual(view.body.history);

  const rejected = await call('GET', `/v1/refunds?orderId=${orderId}&status=REJECTED`, undefined, TOKENS.bob);
  expect(rejected.body.items.map((r: { amount: number }) => r.amount)).toEqual([3900]);
});
