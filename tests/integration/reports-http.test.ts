import { chromium, type Browser, type Page } from 'playwright-core';
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
  // The after-sales report waits for the complaint's messages to be sent, at whatever hour the suite runs: quiet
  // hours (22:00-08:00 in the customer's zone by default) would hold them until the morning.
  NOTIFY_QUIET_HOURS: '',
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

/** A phone complaint of C-1001 about the completed order's parcel, filed as the shop. */
async function complainAboutParcel(matter: string, reason: string) {
  const opened = await shop.call('POST', '/v1/complaints', {
    channel: 'phone',
    customerId: 'C-1001',
    orderId: completed,
    category: 'logistics',
    target: 'Parcel',
    matter,
    reason,
    contact: { name: 'Li Wei', phone: '13800138000' },
  });
  expect(opened.status).toBe(201);
  return opened;
}

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
  const opened = await complainAboutParcel('Box damaged', 'The box arrived crushed.');
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

describe('the report page, in headless Chromium', () => {
  const DAY_MS = 86_400_000;
  const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);
  // Set once every order is placed: yesterday and today (UTC), should the suite run across midnight. The page takes
  // both days whole, so the JSON is asked for the same period.
  let from: string;
  let to: string;
  let period: string;
  const CANVASES = [
    'orders-by-status',
    'orders-by-channel',
    'orders-by-region',
    'orders-by-day',
    'sales-top-products',
    'after-sales-ratings',
    'after-sales-agents',
    'settlement',
  ];
  // Functions passed to the page run there, as their source: they reach the DOM through `globalThis as any` (the
  // tests compile without the DOM library) and cannot use this file's variables.
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 60_000,
    });
    // A complaint answered, resolved and rated, so that the satisfaction and per-agent charts have figures.
    const opened = await complainAboutParcel('Parcel late', 'The parcel came a week late.');
    const complaintId = opened.body.complaintId as string;
    const complaint = () => stack.sql.query('select * from complaints where id = $1', [complaintId]);
    await eventually(complaint, ({ rows }) => Boolean(rows[0]?.assignee), 'the complaint assigned');
    const act = (action: string, body: unknown, token: string) =>
      call('POST', `/v1/complaints/${complaintId}/${action}`, body, token);
    // A second before each step: the reports count whole seconds, and a bar of zero seconds shows nothing.
    const aSecond = () => new Promise((resolve) => setTimeout(resolve, 1_000));
    await aSecond();
    expect((await act('respond', { text: 'Sorry; we are asking the carrier.' }, TOKENS.admin)).status).toBe(200);
    await aSecond();
    const explanation = { remedy: { kind: 'explanation' }, explanation: 'The carrier was short of drivers.' };
    expect((await act('resolve', explanation, TOKENS.admin)).status).toBe(200);
    expect((await act('rate', { score: 4 }, TOKENS.system)).status).toBe(200);
    await eventually(
      complaint,
      ({ rows }) => rows[0]?.rating === 4 && rows[0].resolved_at !== null && rows[0].first_response_at !== null,
      'the complaint recorded rated',
    );
    [from, to] = [day(-1), day(0)];
    period = `from=${from}T00:00:00.000Z&to=${day(1)}T00:00:00.000Z`;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** Opens the report page in a fresh context, recording console errors, uncaught errors and CSP violations. */
  async function open(fragment: string) {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
    page.on('request', (request) => requests.push(request.url()));
    await page.addInitScript(() =>
      (globalThis as any).document.addEventListener('securitypolicyviolation', (event: any) =>
        (globalThis as any).console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`),
      ),
    );
    await page.goto(`${stack.config.publicUrl}/reports#${fragment}`);
    return { page, problems, requests, close: () => context.close() };
  }

  /** Waits until every chart is drawn or empty, or the page shows an error; answers each canvas's state. */
  async function settled(page: Page): Promise<Record<string, string | undefined>> {
    await page.waitForFunction(() => {
      const { document } = globalThis as any;
      const canvases = [...document.querySelectorAll('canvas')];
      return !document.getElementById('error').hidden || canvases.every((c: any) => c.dataset.state);
    });
    return page.evaluate(() =>
      Object.fromEntries(
        [...(globalThis as any).document.querySelectorAll('canvas')].map((c: any) => [c.id, c.dataset.state]),
      ),
    );
  }

  /**
   * Each chart as Chart.js holds it (type, labels, datasets), and what its canvas shows: how many pixels are painted
   * at all, and whether the pixel at the centre of each bar, arc or point of a value other than zero is painted.
   */
  const charts = (page: Page) =>
    page.evaluate(() =>
      Object.fromEntries(
        [...(globalThis as any).document.querySelectorAll('canvas')].map((canvas: any) => {
          const chart = (globalThis as any).Chart.getChart(canvas);
          const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
          const ratio = chart?.currentDevicePixelRatio ?? 1;
          const marks = (chart?.data.datasets ?? []).flatMap((dataset: any, index: number) =>
            chart.getDatasetMeta(index).data.flatMap((element: any, i: number) => {
              if (!dataset.data[i]) return [];
              const { x, y } = element.getCenterPoint();
              return [pixels[(Math.round(y * ratio) * canvas.width + Math.round(x * ratio)) * 4 + 3] > 0];
            }),
          );
          return [
            canvas.id,
            {
              type: chart?.config.type,
              labels: chart?.data.labels,
              datasets: chart?.data.datasets.map((d: any) => d.data),
              paintedShare: painted / (canvas.width * canvas.height),
              marks,
            },
          ];
        }),
      ),
    );

  const report = async (path: string) => {
    const answer = await call('GET', `${path}${path.includes('?') ? '&' : '?'}${period}`);
    expect(answer.status).toBe(200);
    return answer.body;
  };

  test('draws every report for the period as the JSON API answers it, without errors or CSP violations', async () => {
    const { page, problems, requests, close } = await open(`token=${TOKENS.finance}&from=${from}&to=${to}`);
    expect(await settled(page)).toEqual(Object.fromEntries(CANVASES.map((id) => [id, 'drawn'])));

    const drawn = await charts(page);
    for (const id of CANVASES) {
      const { paintedShare, marks } = drawn[id];
      expect({
        id,
        painted: paintedShare > 0.01,
        marks: marks.length > 0,
        unpainted: marks.filter((m: boolean) => !m),
      }).toEqual({ id, painted: true, marks: true, unpainted: [] });
    }

    const [status, days, channel, region, sales, afterSales, agents, settlement] = await Promise.all([
      report('/v1/reports/orders?groupBy=status'),
      report('/v1/reports/orders?groupBy=day'),
      report('/v1/reports/orders?groupBy=channel'),
      report('/v1/reports/orders?groupBy=region'),
      report('/v1/reports/sales?top=10'),
      report('/v1/reports/after-sales'),
      report('/v1/reports/after-sales?by=agent'),
      report('/v1/reports/settlement'),
    ]);
    expect(status.items.map((i: any) => i.orders)).toEqual([1, 1, 1]);
    expect(drawn['orders-by-status']).toMatchObject({
      type: 'bar',
      labels: status.items.map((i: any) => i.status),
      datasets: [status.items.map((i: any) => i.orders)],
    });
    const onDay = (d: string) => days.items.find((i: any) => i.day === d);
    expect(drawn['orders-by-day']).toMatchObject({
      type: 'bar',
      labels: [from, to],
      datasets: [[from, to].map((d) => onDay(d)?.orders ?? 0), [from, to].map((d) => onDay(d)?.value ?? 0)],
    });
    for (const [id, answer, key] of [
      ['orders-by-channel', channel, 'channel'],
      ['orders-by-region', region, 'region'],
    ] as const) {
      expect(drawn[id]).toMatchObject({
        type: 'doughnut',
        labels: answer.items.map((i: any) => i[key]),
        datasets: [answer.items.map((i: any) => i.orders)],
      });
    }
    expect(drawn['sales-top-products']).toMatchObject({
      labels: sales.topProducts.map((p: any) => p.name),
      datasets: [sales.topProducts.map((p: any) => p.revenue)],
    });
    const [all] = afterSales.items;
    expect([all.rating1, all.rating2, all.rating3, all.rating4, all.rating5]).toEqual([0, 0, 0, 1, 0]);
    expect(drawn['after-sales-ratings'].datasets).toEqual([[0, 0, 0, 1, 0]]);
    expect(drawn['after-sales-agents']).toMatchObject({
      labels: agents.items.map((a: any) => a.agent),
      datasets: [agents.items.map((a: any) => a.firstResponseSeconds), agents.items.map((a: any) => a.handlingSeconds)],
    });
    expect(settlement.settled).toBe(1);
    expect(drawn.settlement.datasets).toEqual([[settlement.captured, settlement.refunded, settlement.net]]);

    // The headline figures, formatted as an en-US browser shows them; no mismatch to list.
    const money = (minor: number) => (minor / 100).toLocaleString('en-US', { minimumFractionDigits: 2 });
    const text = (selector: string) => page.locator(selector).innerText();
    expect(await text('#sales-figures')).toEqual(
      expect.stringContaining(
        `Revenue\n${money(sales.revenue)}\nAverage order value\n${money(sales.averageOrderValue)}`,
      ),
    );
    expect(await text('#after-sales-figures')).toContain(`Satisfaction\n4.00 / 5 (1 rated)`);
    expect(await text('#settlement-figures')).toContain(`Settled\n${money(settlement.net)}`);
    expect(await text('#settlement-mismatches tbody')).toBe('No mismatches');

    // The page asked for that very period, and the token left the address bar for the tab's session storage.
    const asked = requests.filter((url) => url.includes('/v1/reports/')).map((url) => new URL(url).searchParams);
    expect(asked).toHaveLength(8);
    for (const params of asked) expect(`from=${params.get('from')}&to=${params.get('to')}`).toBe(period);
    expect(await page.evaluate(() => (globalThis as any).location.href)).toBe(`${stack.config.publicUrl}/reports`);
    expect(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('order-engine.reports.token'))).toBe(
      TOKENS.finance,
    );
    expect(problems).toEqual([]);
    await close();
  });

  test('an agent (not a report role) sees the refusal’s detail and no chart', async () => {
    const refusal = await call('GET', `/v1/reports/orders?groupBy=status&${period}`, undefined, TOKENS.agent);
    expect(refusal.status).toBe(403);
    const { page, problems, close } = await open(`token=${TOKENS.agent}&from=${from}&to=${to}`);
    await settled(page);
    expect(await page.locator('#error').innerText()).toBe(refusal.body.detail);
    expect(await page.locator('#report').isHidden()).toBe(true);
    expect(Object.values(await charts(page))).toEqual(
      CANVASES.map(() => expect.objectContaining({ type: undefined, paintedShare: 0 })),
    );
    expect(await page.locator('canvas[data-state]').count()).toBe(0);
    // Chromium logs each refused request; nothing else went wrong.
    expect(problems.filter((p) => !/status of 403/.test(p))).toEqual([]);
    await close();
  });

  test('a period without orders, chosen in the form: every chart says it has no data', async () => {
    const { page, problems, close } = await open(`token=${TOKENS.finance}`);
    // The last 30 days by default, today included.
    expect(await settled(page)).toEqual(Object.fromEntries(CANVASES.map((id) => [id, 'drawn'])));
    await page.fill('#from', '2020-01-01');
    await page.fill('#to', '2020-01-31');
    await page.click('button[type=submit]');
    await page.waitForFunction(() =>
      [...(globalThis as any).document.querySelectorAll('canvas')].every((c: any) => c.dataset.state === 'empty'),
    );
    expect(Object.values(await charts(page)).every((chart: any) => chart.type === undefined)).toBe(true);
    expect(await page.locator('.no-data:visible').count()).toBe(CANVASES.length);
    expect(await page.locator('#sales-figures').innerText()).toContain('Revenue\n0.00');
    expect(problems).toEqual([]);
    await close();
  });

  test('the page is served with a strict CSP, its scripts as JavaScript', async () => {
    const html = await fetch(`${stack.config.publicUrl}/reports`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'",
    );
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(html.headers.get('cache-control')).toBe('no-store');
    expect(await html.text()).not.toMatch(/<script>|\sstyle=|https?:\/\//);
    for (const script of ['/reports/chart.umd.js', '/reports/reports.js']) {
      const response = await fetch(`${stack.config.publicUrl}${script}`);
      expect([script, response.status, response.headers.get('content-type')]).toEqual([
        script,
        200,
        'text/javascript; charset=utf-8',
      ]);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect(await (await fetch(`${stack.config.publicUrl}/reports/chart.umd.js`)).text()).toMatch(
      /^\/\*!\n \* Chart\.js v4/,
    );
    expect((await fetch(`${stack.config.publicUrl}/reports/reports.css`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
  });
});
