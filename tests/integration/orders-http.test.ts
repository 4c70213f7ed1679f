import { apiClient } from '../helpers/http';
import { SHIPPING_ADDRESS } from '../helpers/fixtures';
import { fullStack } from '../helpers/stack';
import { SIGNATURE_HEADER, signPayload } from '../../sandbox/signing';

/**
 * The whole engine over real HTTP: embedded PostgreSQL, the Temporal dev server, the worker with
 * the sandbox providers (carrier in manual mode, driven through the sandbox endpoints), and the API.
 */

const TOKENS = { system: 'sys-token', agent: 'agent-token', warehouse: 'wh-token', ops: 'ops-token' };
const CABLE = 'ACC-ANKER-USBC1M';
const SHOES = 'APP-LINING-RUN42';
/** Above the review threshold; stocked in BJ1 only. */
const LAPTOP = 'LAP-LNXX16-512';

const stack = fullStack('http', {
  API_TOKENS: `${TOKENS.system}=system:shop,${TOKENS.agent}=agent:alice,${TOKENS.warehouse}=warehouse:bob,${TOKENS.ops}=ops:olga`,
  // Short enough for a test to watch an unpaid order expire.
  ORDER_PAYMENT_WINDOW: '4s',
});

const { call, until } = apiClient(() => stack.config.publicUrl, TOKENS.system);

function orderRequest(overrides: Record<string, unknown> = {}) {
  return {
    customerId: 'C-1001',
    channel: 'web',
    lines: [{ sku: CABLE, quantity: 2, unitPrice: 1 }],
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'card', token: 'tok_visa' },
    ...overrides,
  };
}

async function stock(sku: string): Promise<{ onHand: number; reserved: number }> {
  const { rows } = await stack.sql.query<{ on_hand: number; reserved: number }>(
    'select sum(on_hand)::int as on_hand, sum(reserved)::int as reserved from stock_levels where sku = $1',
    [sku],
  );
  return { onHand: rows[0].on_hand, reserved: rows[0].reserved };
}

async function scan(waybill: string, type: string, extra: Record<string, unknown> = {}) {
  const { status } = await call('POST', `/v1/sandbox/parcels/${waybill}/events`, { type, ...extra }, TOKENS.ops);
  expect(status).toBe(202);
}

test('the stack is ready: PostgreSQL and Temporal answer, the worker polls its task queue', async () => {
  const response = await fetch(`${stack.config.publicUrl}/ready`);
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ status: 'ok', checks: { postgres: 'ok', temporal: 'ok', worker: 'ok' } });
  expect((await fetch(`${stack.config.publicUrl}/health`)).status).toBe(200);
});

test('a card order runs from placement to completion, pricing from the catalogue and capturing once', async () => {
  const before = await stock(CABLE);
  const placed = await call('POST', '/v1/orders', orderRequest());
  expect(placed.status).toBe(201);
  const orderId = placed.body.orderId as string;
  expect(placed.body.lines[0]).toMatchObject({ sku: CABLE, unitPrice: 3900, lineTotal: 7800 });
  expect(placed.body.payment.status).toBe('AUTHORIZED');
  expect(await stock(CABLE)).toEqual({ onHand: before.onHand, reserved: before.reserved + 2 });

  const fulfilling = await until(orderId, (v) => v.status === 'FULFILLING');
  const waybill = fulfilling.shipments[0].waybill!;
  for (const type of ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']) await scan(waybill, type);
  const delivered = await until(orderId, (v) => v.status === 'DELIVERED');
  expect(delivered.payment).toMatchObject({ status: 'CAPTURED', captured: 7800 + delivered.totals.shipping });

  const completed = await call('POST', `/v1/orders/${orderId}/confirm-receipt`);
  expect(completed.status).toBe(200);
  expect(completed.body.status).toBe('COMPLETED');
  expect(completed.body.history.map((h: { to: string }) => h.to)).toEqual([
    'PENDING_PAYMENT',
    'PAID',
    'FULFILLING',
    'SHIPPED',
    'DELIVERED',
    'COMPLETED',
  ]);
  expect(await stock(CABLE)).toEqual({ onHand: before.onHand - 2, reserved: before.reserved });
  expect(await stack.sandboxes.gateway.countOperations(delivered.payment.authorizationId!, 'capture')).toBe(1);

  const { rows: orderRows } = await stack.sql.query('select status, total from orders where id = $1', [orderId]);
  expect(orderRows[0]).toEqual({ status: 'COMPLETED', total: delivered.totals.total });
  const { rows: settlement } = await stack.sql.query('select net from settlements where order_id = $1', [orderId]);
  expect(settlement[0].net).toBe(delivered.totals.total);
  const { rows: outbox } = await stack.sql.query(
    'select channel from notification_outbox where order_id = $1 and customer_id = $2',
    [orderId, 'C-1001'],
  );
  // C-1001 wants email and SMS: one message per channel for each of the six transitions.
  expect(outbox).toHaveLength(12);

  const listed = await call('GET', `/v1/orders?customerId=C-1001&status=COMPLETED`);
  expect(listed.body.items.map((o: { orderId: string }) => o.orderId)).toContain(orderId);

  // A late redelivery for the finished order is acknowledged, so the carrier stops retrying, and changes nothing.
  const late = JSON.stringify({
    eventId: 'evt-late',
    waybill,
    type: 'DELIVERED',
    occurredAt: new Date().toISOString(),
  });
  const signature = signPayload(stack.config.CARRIER_WEBHOOK_SECRET, late, Math.floor(Date.now() / 1000));
  const response = await fetch(`${stack.config.publicUrl}/v1/webhooks/carrier`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature },
    body: late,
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ status: 'ignored', eventId: 'evt-late' });
});

test('a bank transfer is paid by the signed payment webhook', async () => {
  const placed = await call('POST', '/v1/orders', orderRequest({ payment: { method: 'bank_transfer' } }));
  expect(placed.status).toBe(201);
  expect(placed.body.payment.status).toBe('AWAITING_TRANSFER');
  const reference = placed.body.payment.transferReference as string;
  const received = await call('POST', `/v1/sandbox/bank-transfers/${reference}/receive`, {}, TOKENS.ops);
  expect(received.status).toBe(202);
  const paid = await until(placed.body.orderId, (v) => v.status === 'FULFILLING');
  expect(paid.payment).toMatchObject({ status: 'CAPTURED', captured: paid.totals.total });
});

test('placing the same order twice returns it; the same id with another request is a conflict', async () => {
  const orderId = `dup-${Date.now()}`;
  const first = await call('POST', '/v1/orders', { ...orderRequest(), orderId });
  expect(first.status).toBe(201);
  const again = await call('POST', '/v1/orders', { ...orderRequest(), orderId });
  expect(again.status).toBe(200);
  // The same order answered again, not a second one placed.
  expect(again.body).toMatchObject({ orderId, placedAt: first.body.placedAt, totals: first.body.totals });
  expect(again.body.history[0]).toEqual(first.body.history[0]);
  const conflicting = await call('POST', '/v1/orders', {
    ...orderRequest({ lines: [{ sku: CABLE, quantity: 3 }] }),
    orderId,
  });
  expect(conflicting.status).toBe(409);
  expect(conflicting.type).toContain('application/problem+json');
  expect(conflicting.body.type).toMatch(/\/conflict$/);
});

test('cancelling a paid order voids the payment, cancels the bookings and releases the stock', async () => {
  const before = { shoes: await stock(SHOES), cable: await stock(CABLE) };
  const placed = await call(
    'POST',
    '/v1/orders',
    orderRequest({
      lines: [
        { sku: SHOES, quantity: 1 },
        { sku: CABLE, quantity: 1 },
      ],
    }),
  );
  expect(placed.status).toBe(201);
  const fulfilling = await until(placed.body.orderId, (v) => v.status === 'FULFILLING');
  // Only GZ1 stocks the shoes, and it has the cable too: one parcel from there with both lines.
  expect(fulfilling.shipments).toEqual([
    expect.objectContaining({
      warehouseCode: 'GZ1',
      status: 'BOOKED',
      lines: [
        { sku: SHOES, quantity: 1 },
        { sku: CABLE, quantity: 1 },
      ],
    }),
  ]);
  expect(await stock(SHOES)).toEqual({ onHand: before.shoes.onHand, reserved: before.shoes.reserved + 1 });
  const cancelled = await call(
    'POST',
    `/v1/orders/${placed.body.orderId}/cancel`,
    { reason: 'customer changed mind' },
    TOKENS.agent,
  );
  expect(cancelled.status).toBe(200);
  expect(cancelled.body.status).toBe('CANCELLED');
  expect(cancelled.body.payment.status).toBe('VOIDED');
  expect(cancelled.body.shipments.map((s: { status: string }) => s.status)).toEqual(['CANCELLED']);
  expect(await stock(SHOES)).toEqual(before.shoes);
  expect(await stock(CABLE)).toEqual(before.cable);
  const again = await call('POST', `/v1/orders/${placed.body.orderId}/cancel`, { reason: 'twice' }, TOKENS.agent);
  expect(again.status).toBe(409);
  expect(again.body.type).toMatch(/\/wrong-state$/);
});

test('a carrier exception flags the order for attention', async () => {
  const placed = await call('POST', '/v1/orders', orderRequest());
  const fulfilling = await until(placed.body.orderId, (v) => v.status === 'FULFILLING');
  const waybill = fulfilling.shipments[0].waybill!;
  await scan(waybill, 'PICKED_UP');
  await scan(waybill, 'EXCEPTION', { exception: 'damaged' });
  const flagged = await until(placed.body.orderId, (v) => v.needsAttention);
  expect(flagged.attentionReasons).toContain('carrier_exception');
  expect(flagged.shipments[0]).toMatchObject({ status: 'EXCEPTION', exception: 'damaged' });
});

test('bad input and the wrong role change nothing', async () => {
  const before = await stack.sql.query('select count(*)::int as n from orders');
  const invalid = await call('POST', '/v1/orders', orderRequest({ lines: [{ sku: CABLE, quantity: 0 }] }));
  expect(invalid.status).toBe(400);
  expect(invalid.body.errors).toEqual([expect.objectContaining({ field: 'lines[0].quantity' })]);
  const unknown = await call('POST', '/v1/orders', orderRequest({ lines: [{ sku: 'NO-SUCH-SKU', quantity: 1 }] }));
  expect(unknown.status).toBe(422);
  expect(unknown.body.type).toMatch(/unknown-sku$/);
  const soldOut = await call('POST', '/v1/orders', orderRequest({ lines: [{ sku: 'HOM-XM-AP4', quantity: 1 }] }));
  expect(soldOut.status).toBe(422);
  expect(soldOut.body.type).toMatch(/\/out-of-stock$/);
  // The checks read together but answer in order: an unknown customer before an unknown SKU, that before stock.
  const nobody = await call(
    'POST',
    '/v1/orders',
    orderRequest({ customerId: 'C-NOBODY', lines: [{ sku: 'NO-SUCH-SKU', quantity: 1 }] }),
  );
  expect(nobody.status).toBe(422);
  expect(nobody.body.type).toMatch(/\/unknown-customer$/);
  expect(nobody.body.errors).toEqual([{ field: 'customerId', reason: 'no such customer' }]);
  const unknownBeforeStock = await call(
    'POST',
    '/v1/orders',
    orderRequest({
      lines: [
        { sku: 'HOM-XM-AP4', quantity: 1 },
        { sku: 'NO-SUCH-SKU', quantity: 1 },
      ],
    }),
  );
  expect(unknownBeforeStock.status).toBe(422);
  expect(unknownBeforeStock.body.type).toMatch(/\/unknown-sku$/);
  expect(unknownBeforeStock.body.errors).toEqual([{ field: 'lines[1].sku', reason: 'no product NO-SUCH-SKU on sale' }]);
  const wrongRole = await call('POST', '/v1/orders', orderRequest(), TOKENS.warehouse);
  expect(wrongRole.status).toBe(403);
  expect(wrongRole.body.type).toMatch(/\/forbidden$/);
  const noToken = await call('POST', '/v1/orders', orderRequest(), 'nope');
  expect(noToken.status).toBe(401);
  expect(noToken.body.type).toMatch(/\/unauthorized$/);
  const after = await stack.sql.query('select count(*)::int as n from orders');
  expect(after.rows[0].n).toBe(before.rows[0].n);
});

test('an unpaid order is cancelled when the payment window ends and its stock is released', async () => {
  const before = await stock(CABLE);
  const placed = await call('POST', '/v1/orders', orderRequest({ payment: { method: 'bank_transfer' } }));
  expect(placed.status).toBe(201);
  expect((await stock(CABLE)).reserved).toBe(before.reserved + 2);
  const expired = await until(placed.body.orderId, (v) => v.status === 'CANCELLED');
  expect(expired.cancelReason).toBe('payment window expired');
  expect(expired.payment.status).toBe('VOIDED');
  expect(await stock(CABLE)).toEqual(before);
});

test('a declined card is retried with a wallet inside the window', async () => {
  const placed = await call('POST', '/v1/orders', orderRequest({ payment: { method: 'card', token: 'tok_decline' } }));
  expect(placed.status).toBe(201);
  expect(placed.body.payment).toMatchObject({ status: 'DECLINED', lastDeclineReason: 'card_declined' });
  const retried = await call('POST', `/v1/orders/${placed.body.orderId}/payment`, {
    method: 'wallet',
    token: 'wallet_ok',
  });
  expect(retried.status).toBe(200);
  expect(retried.body.payment).toMatchObject({ method: 'wallet', status: 'AUTHORIZED', attempts: 2 });
  await until(placed.body.orderId, (v) => v.status === 'FULFILLING');
});

test('cash on delivery ships unpaid and is captured on delivery', async () => {
  const placed = await call('POST', '/v1/orders', orderRequest({ payment: { method: 'cod' } }));
  const fulfilling = await until(placed.body.orderId, (v) => v.status === 'FULFILLING');
  expect(fulfilling.payment.status).toBe('COD_PENDING');
  const waybill = fulfilling.shipments[0].waybill!;
  await scan(waybill, 'PICKED_UP');
  const shipped = await until(placed.body.orderId, (v) => v.status === 'SHIPPED');
  expect(shipped.payment).toMatchObject({ status: 'COD_PENDING', captured: 0 });
  await scan(waybill, 'DELIVERED');
  const delivered = await until(placed.body.orderId, (v) => v.status === 'DELIVERED');
  expect(delivered.payment).toMatchObject({ status: 'CAPTURED', captured: delivered.totals.total });
});

test('a large order waits for review and a rejection cancels it and releases its stock', async () => {
  const before = await stock(LAPTOP);
  const placed = await call('POST', '/v1/orders', orderRequest({ lines: [{ sku: LAPTOP, quantity: 1 }] }));
  expect(placed.status).toBe(201);
  expect(placed.body.status).toBe('PENDING_REVIEW');
  expect(await stock(LAPTOP)).toEqual({ onHand: before.onHand, reserved: before.reserved + 1 });
  const noReason = await call('POST', `/v1/orders/${placed.body.orderId}/review`, { decision: 'reject' }, TOKENS.agent);
  expect(noReason.status).toBe(400);
  expect(noReason.body.type).toMatch(/\/validation$/);
  const byShop = await call('POST', `/v1/orders/${placed.body.orderId}/review`, { decision: 'approve' });
  expect(byShop.status).toBe(403);
  expect(byShop.body.type).toMatch(/\/forbidden$/);
  expect(await stock(LAPTOP)).toEqual({ onHand: before.onHand, reserved: before.reserved + 1 });
  const rejected = await call(
    'POST',
    `/v1/orders/${placed.body.orderId}/review`,
    { decision: 'reject', reason: 'address on a fraud list' },
    TOKENS.agent,
  );
  expect(rejected.status).toBe(200);
  expect(rejected.body).toMatchObject({
    status: 'CANCELLED',
    cancelReason: 'review rejected: address on a fraud list',
  });
  expect(await stock(LAPTOP)).toEqual(before);
});

test('line edits are re-priced, limited to three, and refused once paid', async () => {
  const placed = await call('POST', '/v1/orders', orderRequest({ payment: { method: 'bank_transfer' } }));
  const orderId = placed.body.orderId as string;
  for (let quantity = 1; quantity <= 3; quantity += 1) {
    const edited = await call('PATCH', `/v1/orders/${orderId}`, { lines: [{ sku: CABLE, quantity }] });
    expect(edited.status).toBe(200);
    expect(edited.body.lines).toEqual([expect.objectContaining({ sku: CABLE, quantity, lineTotal: 3900 * quantity })]);
  }
  const fourth = await call('PATCH', `/v1/orders/${orderId}`, { lines: [{ sku: CABLE, quantity: 4 }] });
  expect(fourth.status).toBe(422);
  expect(fourth.body.type).toMatch(/rule-violation$/);
  const cardOrder = await call('POST', '/v1/orders', orderRequest());
  const paidEdit = await call('PATCH', `/v1/orders/${cardOrder.body.orderId}`, {
    lines: [{ sku: CABLE, quantity: 1 }],
  });
  expect(paidEdit.status).toBe(409);
  expect(paidEdit.body.type).toMatch(/\/wrong-state$/);
});
