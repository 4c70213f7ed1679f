import { apiClient, CAPTURED_CABLES, eventually } from '../helpers/http';
import { fullStack } from '../helpers/stack';

/**
 * Reports over HTTP on a database holding only this file's cases: orders by status, channel, region and day; sales
 * with the top products; after-sales quality; settlement reconciliation; JSON and CSV; for admins, finance and
 * supervisors only.
 */

const TOKENS = {
  system: 'sys-token',
  ops: 'ops-token',
  finance: 'fin-token',
  agent: 'agent-token',
  admin: 'ada-token',
};

const stack = fullStack('reports', {
  API_TOKENS: [
    `${TOKENS.system}=system:shop`,
    `${TOKENS.ops}=ops:olga`,
    `${TOKENS.finance}=finance:fay`,
    `${TOKENS.agent}=agent:alice`,
    `${TOKENS.admin}=admin:ada`,
  ].join(','),
});

const shop = apiClient(() => stack.config.publicUrl, TOKENS.system);
const { call } = apiClient(() => stack.config.publicUrl, TOKENS.finance);

const CABLE = 'ACC-ANKER-USBC1M';
let completed: string;
let total: number;

/** Waits for the order's row to show `status`. */
const recorded = (orderId: string, status: string) =>
  eventually(
    async () => (await stack.sql.query('select status from orders where id = $1', [orderId])).rows[0]?.status,
    (found) => found === status,
    `order ${orderId} recorded ${status}`,
  );

beforeAll(async () => {
  // One order completed (two cables, captured, delivered, receipt confirmed), one declined, one cancelled.
  completed = await shop.capturedOrder(TOKENS.ops);
  const view = await shop.until(completed, (v) => v.status === 'SHIPPED');
  total = view.totals.total;
  for (const type of ['IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']) {
    await shop.call('POST', `/v1/sandbox/parcels/${view.shipments[0].waybill}/events`, { type }, TOKENS.ops);
  }
  await shop.until(completed, (v) => v.status === 'DELIVERED');
  expect((await shop.call('POST', `/v1/orders/${completed}/confirm-receipt`)).status).toBe(200);
  await recorded(completed, 'COMPLETED');

  const declined = await shop.placeOrder({ channel: 'mobile_app', token: 'tok_decline', city: 'Beijing, Chaoyang' });
  await shop.until(declined, (v) => v.payment.status === 'DECLINED');
  await recorded(declined, 'PENDING_PAYMENT');
  const cancelled = await shop.placeOrder();
  await shop.until(cancelled, (v) => v.status === 'FULFILLING');
  expect((await shop.call('POST', `/v1/orders/${cancelled}/cancel`, { reason: 'changed my mind' })).status).toBe(200);
  await recorded(cancelled, 'CANCELLED');
}, 120_000);

test('orders by status, channel, region and day', async () => {
  const byStatus = await call('GET', '/v1/reports/orders?groupBy=status');
  expect(byStatus.status).toBe(200);
  expect(byStatus.body.items).toEqual([
    { status: 'CANCELLED', orders: 1, value: 3900 + 800 },
    { status: 'COMPLETED', orders: 1, value: CAPTURED_CABLES },
    { status: 'PENDING_PAYMENT', orders: 1, value: 3900 + 800 },
  ]);
  expect(byStatus.body.total).toEqual({ orders: 3, value: CAPTURED_CABLES + 2 * 4700 });
  expect((await call('GET', '/v1/reports/orders?groupBy=channel')).body.items).toEqual([
    { channel: 'mobile_app', orders: 1, value: 4700 },
    { channel: 'web', orders: 2, value: CAPTURED_CABLES + 4700 },
  ]);
  expect((await call('GET', '/v1/reports/orders?groupBy=region')).body.items).toEqual([
    { region: 'Beijing, Chaoyang', orders: 1, value: 4700 },
    { region: 'Shanghai', orders: 2, value: CAPTURED_CABLES + 4700 },
  ]);
  // Placed moments ago: today (UTC), or also yesterday if the suite ran across midnight.
  const days = (await call('GET', '/v1/reports/orders?groupBy=day')).body.items as { day: string; orders: number }[];
  const today = new Date().toISOString().slice(0, 10);
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  expect(days.every((d) => d.day === today || d.day === yesterday)).toBe(true);
  expect(days.reduce((sum, d) => sum + d.orders, 0)).toBe(3);
  // A period before any of them: nothing.
  const before = await call('GET', '/v1/reports/orders?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z');
  expect(before.body).toMatchObject({ items: [], total: { orders: 0, value: 0 } });
});

test('sales count what was not cancelled or failed, with the average order value and top products', async () => {
  const sales = await call('GET', '/v1/reports/sales?top=5');
  expect(sales.status).toBe(200);
  expect(sales.body).toMatchObject({
    orders: 2,
    revenue: total + 4700,
    averageOrderValue: Math.round((total + 4700) / 2),
    topProducts: [{ rank: 1, sku: CABLE, units: 3, revenue: 3 * 3900 }],
  });
});

test('after-sales quality per period and per agent, with the return, refund and complaint rates', async () => {
  const opened = await shop.call('POST', '/v1/complaints', {
    channel: 'phone',
    customerId: 'C-1001',
    orderId: completed,
    category: 'logistics',
    target: 'Parcel',
    matter: 'Box damaged',
    reason: 'The box arrived crushed.',
    contact: { name: 'Li Wei', phone: '13800138000' },
  });
  expect(opened.status).toBe(201);
  for (let i = 0; i < 100; i += 1) {
    const { rows } = await stack.sql.query('select assignee from complaints where id = $1', [opened.body.complaintId]);
    if (rows[0]?.assignee) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { rows } = await stack.sql.query('select assignee from complaints where id = $1', [opened.body.complaintId]);
  // Transparency: the customer hears of the complaint's status changes once the messages are sent.
  await eventually(
    async () =>
      (
        await stack.sql.query<{ n: number }>(
          `select count(*)::int as n from notification_outbox where case_type = 'complaint' and case_id = $1
              and status not in ('sent', 'failed')`,
          [opened.body.complaintId],
        )
      ).rows[0].n,
    (unsent) => unsent === 0,
    'the complaint’s messages sent',
  );
  const report = await call('GET', '/v1/reports/after-sales');
  expect(report.status).toBe(200);
  expect(report.body).toMatchObject({
    orders: 3,
    returnRate: 0,
    refundRate: 0,
    complaintRate: 1 / 3,
    transparency: 1,
    cost: { refunded: 0, goodwill: 0 },
  });
  // A change nobody was told of (no channel chosen, say) lowers it.
  const changes = (
    await stack.sql.query<{ n: number }>(`select count(*)::int as n from case_history where case_type = 'complaint'`)
  ).rows[0].n;
  await stack.sql.query(
    `update notification_outbox set status = 'failed' where case_type = 'complaint' and case_id = $1
        and dedupe_key like '%:0:%'`,
    [opened.body.complaintId],
  );
  expect((await call('GET', '/v1/reports/after-sales')).body.transparency).toBeCloseTo((changes - 1) / changes);
  expect(report.body.items).toEqual([
    expect.objectContaining({ complaints: 1, resolutionRate: 0, rated: 0, ratingAverage: null, handlingSeconds: null }),
  ]);
  const byAgent = await call('GET', '/v1/reports/after-sales?by=agent', undefined, TOKENS.admin);
  expect(byAgent.body.items).toEqual([expect.objectContaining({ agent: rows[0].assignee, complaints: 1 })]);
});

test('settlement: captured − refunded = settled for the completed order, no mismatch; also as CSV', async () => {
  const settlement = await call('GET', '/v1/reports/settlement');
  expect(settlement.status).toBe(200);
  expect(settlement.body).toMatchObject({
    settled: 1,
    captured: total,
    refunded: 0,
    net: total,
    mismatches: [],
    items: [
      { orderId: completed, captured: total, refunded: 0, settled: total, paymentsCaptured: total, mismatch: '' },
    ],
  });
  const response = await fetch(`${stack.config.publicUrl}/v1/reports/orders?groupBy=region&format=csv`, {
    headers: { authorization: `Bearer ${TOKENS.finance}` },
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
  expect(response.headers.get('content-disposition')).toContain('orders-by-region.csv');
  expect(await response.text()).toBe(
    `region,orders,value\r\n"Beijing, Chaoyang",1,4700\r\nShanghai,2,${CAPTURED_CABLES + 4700}\r\n`,
  );
});

test('reports are for admins, finance and supervisors, and refuse a period that ends before it starts', async () => {
  expect((await call('GET', '/v1/reports/sales', undefined, TOKENS.agent)).status).toBe(403);
  expect((await call('GET', '/v1/reports/sales', undefined, TOKENS.system)).status).toBe(403);
  const backwards = await call('GET', '/v1/reports/orders?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z');
  expect(backwards.status).toBe(400);
  expect(backwards.body.errors).toEqual([{ field: 'from', reason: 'must be before to' }]);
  expect((await call('GET', '/v1/reports/orders?groupBy=planet')).status).toBe(400);
});
