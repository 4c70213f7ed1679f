import { randomBytes } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { buildApp } from '../../api/app';
import { fieldPath, PROBLEM_BASE, toProblem } from '../../api/problems';
import { loadConfig, ROLES, type Role } from '../../config';
import { SIGNATURE_HEADER, signPayload } from '../../sandbox/signing';
import { WORKER_POLL_WINDOW_MS } from '../../api/routes/health';

const TOKENS = {
  agent: 'tok-agent',
  supervisor: 'tok-supervisor',
  warehouse: 'tok-warehouse',
  finance: 'tok-finance',
  ops: 'tok-ops',
  admin: 'tok-admin',
  system: 'tok-system',
} satisfies Record<Role, string>;

const PRINCIPALS: Record<Role, string> = {
  agent: 'alice',
  supervisor: 'sam',
  warehouse: 'wh-bot',
  finance: 'fiona',
  ops: 'olga',
  admin: 'ada',
  system: 'storefront',
};

const config = loadConfig({
  NODE_ENV: 'test',
  API_TOKENS: ROLES.map((role) => `${TOKENS[role]}=${role}:${PRINCIPALS[role]}`).join(','),
});

/** A refund as its workflow would answer an update with it. */
const refundView = (refundId: string) => ({
  refundId,
  orderId: 'ord-1',
  customerId: 'cus_1',
  status: 'APPROVED',
  amount: 5000,
  currency: 'CNY',
  reason: 'quality_problem',
  origin: 'agent',
  requestedBy: { principal: 'bob', role: 'agent' },
  requestedAt: '2026-11-23T10:00:00.000Z',
  approver: 'agent',
  channel: 'original',
  attempts: [],
  history: [],
  needsAttention: false,
  attentionReasons: [],
  escalationLevel: 0,
});

/**
 * Records the signals, updates and starts (each with its first update) routes send. An update answers with `updateAnswer` (a refund's view unless
 * a test says otherwise), or fails with `updateFailure`; no workflow exists until a route starts one.
 */
const signals: { workflowId: string; name: string; args: unknown[] }[] = [];
const updates: { workflowId: string; name: string; args?: unknown[]; updateId?: string }[] = [];
const starts: { workflowId: string; args: unknown[]; memo?: Record<string, unknown> }[] = [];
let updateFailure: Error | undefined;
let updateAnswer: (workflowId: string) => unknown;
const handle = (workflowId: string) => ({
  signal: async (def: { name: string }, ...args: unknown[]) => {
    signals.push({ workflowId, name: def.name, args });
  },
  executeUpdate: async (def: { name: string }, options?: { args: unknown[]; updateId?: string }) => {
    updates.push({ workflowId, name: def.name, args: options?.args, updateId: options?.updateId });
    if (updateFailure) throw updateFailure;
    return updateAnswer(workflowId);
  },
  describe: async () => {
    throw new WorkflowNotFoundError('not found', workflowId, undefined);
  },
});
const temporal = {
  workflow: {
    getHandle: handle,
    // A start comes with its first update (update-with-start).
    executeUpdateWithStart: async (
      def: { name: string },
      options: { startWorkflowOperation: { options: (typeof starts)[number] } },
    ) => {
      const start = options.startWorkflowOperation.options;
      starts.push(start);
      return handle(start.workflowId).executeUpdate(def);
    },
  },
} as unknown as Client;

/**
 * The database, as far as these tests reach it: audit rows are recorded, and a raw query gets what `answer` gives for
 * its SQL (nothing unless a test says otherwise). Every other request is refused or answered before a route reads.
 */
const audits: Record<string, unknown>[] = [];
let answer: (sql: string) => Record<string, unknown>[];
const orm = {
  em: {
    fork: () => ({
      insert: async (_entity: unknown, row: Record<string, unknown>) => void audits.push(row),
      execute: async (sql: string) => answer(sql),
    }),
  },
} as unknown as MikroORM;

/** Every route as it was added, to check them all, including ones added later. */
const routes: RouteOptions[] = [];

let app: FastifyInstance;

beforeAll(async () => {
  app = await buildApp({ config, temporal, orm, taskQueue: 'orders-test', onRoute: (route) => routes.push(route) });
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

beforeEach(() => {
  updates.length = 0;
  starts.length = 0;
  audits.length = 0;
  updateFailure = undefined;
  updateAnswer = (workflowId) => refundView(workflowId.replace(/^refund-/, ''));
  answer = () => [];
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function validOrder(): Record<string, unknown> {
  return {
    orderId: 'ord-test-1',
    customerId: 'cus_1',
    channel: 'web',
    currency: 'CNY',
    lines: [{ sku: 'SKU-1', quantity: 2, unitPrice: 1 }],
    shippingAddress: {
      name: 'Li Lei',
      phone: '13800138000',
      line1: '1 Zhongshan Rd',
      city: 'Shanghai',
      postalCode: '200000',
      country: 'CN',
    },
    payment: { method: 'card', token: 'tok_visa' },
  };
}

function placeOrder(body: unknown, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/v1/orders',
    headers: { ...bearer(TOKENS.agent), ...headers },
    payload: body as Record<string, unknown>,
  });
}

function expectProblem(
  response: { statusCode: number; headers: Record<string, unknown>; json(): any },
  status: number,
  type: string,
) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = response.json();
  expect(body).toMatchObject({ type: PROBLEM_BASE + type, status });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(typeof body.instance).toBe('string');
  return body;
}

describe('authentication and roles', () => {
  it('answers 401 without a token', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/orders/ord-1' });
    expectProblem(response, 401, 'unauthorized');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('answers 401 for an unknown token', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/orders/ord-1', headers: bearer('nope') });
    expectProblem(response, 401, 'unauthorized');
  });

  it('answers 401 for a malformed Authorization header', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/products', headers: { authorization: TOKENS.agent } });
    expectProblem(response, 401, 'unauthorized');
  });

  it('answers 403 when the role may not call the route', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/orders',
      headers: bearer(TOKENS.warehouse),
      payload: validOrder(),
    });
    expectProblem(response, 403, 'forbidden');
  });

  it('checks the role before validating the body', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/orders/ord-1/review',
      headers: bearer(TOKENS.system),
      payload: {},
    });
    expectProblem(response, 403, 'forbidden');
  });

  it('needs no token for the metrics and the API description', async () => {
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('http_requests_total');
    const docs = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(docs.statusCode).toBe(200);
    expect(Object.keys(docs.json().paths)).toEqual(
      expect.arrayContaining([
        '/v1/orders',
        '/v1/orders/{orderId}',
        '/v1/refunds',
        '/v1/refunds/{refundId}/approve',
        '/v1/audit',
        '/v1/webhooks/payment',
        '/health',
        '/ready',
      ]),
    );
  });
});

describe('POST /v1/orders validation', () => {
  const cases: [string, (body: any) => void, string][] = [
    ['customerId missing', (b) => delete b.customerId, 'customerId'],
    ['channel invalid', (b) => (b.channel = 'fax'), 'channel'],
    ['lines empty', (b) => (b.lines = []), 'lines'],
    ['quantity 0', (b) => (b.lines[0].quantity = 0), 'lines[0].quantity'],
    ['quantity 1.5', (b) => (b.lines[0].quantity = 1.5), 'lines[0].quantity'],
    ['quantity over 999', (b) => b.lines.push({ sku: 'SKU-2', quantity: 1000 }), 'lines[1].quantity'],
    ['phone invalid', (b) => (b.shippingAddress.phone = '12345'), 'shippingAddress.phone'],
    ['name too short', (b) => (b.shippingAddress.name = 'L'), 'shippingAddress.name'],
    ['country invalid', (b) => (b.shippingAddress.country = 'CHN'), 'shippingAddress.country'],
    ['postal code missing', (b) => delete b.shippingAddress.postalCode, 'shippingAddress.postalCode'],
    ['payment method invalid', (b) => (b.payment.method = 'cheque'), 'payment.method'],
    ['currency not 3 letters', (b) => (b.currency = 'YUAN'), 'currency'],
    ['orderId with bad characters', (b) => (b.orderId = 'ord/1'), 'orderId'],
  ];

  it.each(cases)('%s → 400 naming only that field', async (_name, breakIt, field) => {
    const body = validOrder();
    breakIt(body);
    const problem = expectProblem(await placeOrder(body), 400, 'validation');
    expect(problem.errors).toHaveLength(1);
    expect(problem.errors[0]).toEqual({ field, reason: expect.any(String) });
  });

  it('reports every invalid field, one entry each', async () => {
    const body = validOrder() as any;
    delete body.customerId;
    body.shippingAddress.phone = 'x';
    body.shippingAddress.name = '';
    const problem = expectProblem(await placeOrder(body), 400, 'validation');
    expect(problem.errors.map((e: { field: string }) => e.field).sort()).toEqual(
      ['customerId', 'shippingAddress.name', 'shippingAddress.phone'].sort(),
    );
  });

  it('refuses an orderId that differs from the Idempotency-Key header', async () => {
    const problem = expectProblem(
      await placeOrder(validOrder(), { 'idempotency-key': 'ord-other' }),
      400,
      'validation',
    );
    expect(problem.errors).toEqual([{ field: 'orderId', reason: expect.any(String) }]);
  });

  it('needs a token for card, wallet and instalment payments, and none for the others', async () => {
    for (const method of ['card', 'wallet', 'instalments']) {
      const problem = expectProblem(await placeOrder({ ...validOrder(), payment: { method } }), 400, 'validation');
      expect(problem.errors).toEqual([{ field: 'payment.token', reason: `a ${method} payment needs a token` }]);
    }
    for (const method of ['balance', 'bank_transfer', 'cod']) {
      const response = await placeOrder({ ...validOrder(), payment: { method } });
      // Valid input gets past validation and then needs the database, which this suite does not have.
      expect(response.statusCode).not.toBe(400);
    }
  });

  it('refuses an invalid Idempotency-Key header', async () => {
    const body = validOrder();
    delete body.orderId;
    const problem = expectProblem(await placeOrder(body, { 'idempotency-key': 'bad key!' }), 400, 'validation');
    expect(problem.errors).toEqual([{ field: 'idempotency-key', reason: expect.any(String) }]);
  });

  it('answers malformed JSON with 400, not 500', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/orders',
      headers: { ...bearer(TOKENS.agent), 'content-type': 'application/json' },
      payload: '{"customerId": "cus_1",',
    });
    expectProblem(response, 400, 'validation');
  });
});

describe('other request validation', () => {
  it('needs a reason to reject a review', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/orders/ord-1/review',
      headers: bearer(TOKENS.agent),
      payload: { decision: 'reject' },
    });
    const problem = expectProblem(response, 400, 'validation');
    expect(problem.errors).toEqual([{ field: 'reason', reason: expect.any(String) }]);
  });

  it('validates list filters', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/orders?status=PAID,LOST&limit=500',
      headers: bearer(TOKENS.agent),
    });
    const problem = expectProblem(response, 400, 'validation');
    expect(problem.errors.map((e: { field: string }) => e.field).sort()).toEqual(['limit', 'status[1]']);
  });

  it('answers unknown routes with a not-found problem', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/v2/nothing' }), 404, 'not-found');
  });
});

describe('roles of every route', () => {
  const own = (route: RouteOptions) => route.method !== 'HEAD' && !String(route.url).startsWith('/docs');
  /** The URL with every path parameter filled in, e.g. /v1/refunds/x1/approve. */
  const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, 'x1');

  it('declares roles, or is public on purpose', () => {
    const undeclared = routes.filter((route) => own(route) && !route.config?.roles && !route.config?.public);
    expect(undeclared.map((route) => `${route.method} ${route.url}`)).toEqual([]);
    const open = routes.filter((route) => own(route) && route.config?.public).map((route) => route.url);
    expect([...new Set(open)].sort()).toEqual([
      '/health',
      '/metrics',
      '/ready',
      '/reports',
      '/reports/chart.umd.js',
      '/reports/reports.css',
      '/reports/reports.js',
      '/v1/webhooks/carrier',
      '/v1/webhooks/payment',
    ]);
  });

  it('lists the new routes', () => {
    const declared = new Set(routes.filter(own).map((route) => `${route.method} ${route.url}`));
    for (const route of [
      'POST /v1/refunds',
      'GET /v1/refunds',
      'GET /v1/refunds/:refundId',
      'POST /v1/refunds/:refundId/approve',
      'POST /v1/refunds/:refundId/reject',
      'POST /v1/refunds/:refundId/retry',
      'POST /v1/refunds/:refundId/recover',
      'POST /v1/returns',
      'GET /v1/returns',
      'GET /v1/returns/:returnId',
      'POST /v1/returns/:returnId/approve',
      'POST /v1/returns/:returnId/reject',
      'POST /v1/returns/:returnId/receive',
      'POST /v1/returns/:returnId/inspect',
      'POST /v1/returns/:returnId/refund-without-receipt',
      'POST /v1/returns/:returnId/recover',
      'GET /v1/audit',
    ]) {
      expect(declared).toContain(route);
    }
  });

  const restricted = () =>
    routes
      .filter((route) => own(route) && Array.isArray(route.config?.roles))
      .flatMap((route) => {
        const allowed = route.config!.roles as readonly Role[];
        return ROLES.filter((role) => !allowed.includes(role)).map((role) => ({ route, role }));
      });

  it('refuses every role outside a route’s list with 403, before reading the body or touching anything', async () => {
    const cases = restricted();
    expect(cases.length).toBeGreaterThan(50);
    for (const { route, role } of cases) {
      const method = route.method as 'GET' | 'POST' | 'PUT' | 'PATCH';
      const response = await app.inject({
        method,
        url: concrete(route.url),
        headers: bearer(TOKENS[role]),
        ...(method === 'GET' ? {} : { payload: {} }),
      });
      expect({ route: `${method} ${route.url}`, role, status: response.statusCode }).toEqual({
        route: `${method} ${route.url}`,
        role,
        status: 403,
      });
    }
    expect(updates).toEqual([]);
    expect(audits).toEqual([]);
  });

  it.each([
    ['agent', 'POST', '/v1/refunds/r1/retry', { channel: 'original', reason: 'try again' }],
    ['warehouse', 'POST', '/v1/refunds/r1/approve', {}],
    ['finance', 'POST', '/v1/refunds/r1/approve', {}],
    ['ops', 'POST', '/v1/refunds/r1/reject', { reason: 'no' }],
    ['system', 'POST', '/v1/refunds/r1/approve', {}],
    ['agent', 'POST', '/v1/refunds/r1/recover', { action: 'retry', reason: 'gateway back' }],
    ['finance', 'POST', '/v1/refunds', { orderId: 'ord-1', amount: 100, reason: 'wrong_amount' }],
    ['warehouse', 'POST', '/v1/refunds', { orderId: 'ord-1', amount: 100, reason: 'wrong_amount' }],
    ['warehouse', 'GET', '/v1/refunds/r1', undefined],
    ['warehouse', 'POST', '/v1/returns/r1/approve', {}],
    ['agent', 'POST', '/v1/returns/r1/inspect', { lines: [{ sku: 'S1', quantity: 1, passed: true }] }],
    ['finance', 'POST', '/v1/returns', { orderId: 'ord-1', lines: [{ sku: 'S1', quantity: 1 }] }],
    ['system', 'GET', '/v1/returns', undefined],
    ['system', 'GET', '/v1/refunds', undefined],
    ['system', 'GET', '/v1/audit', undefined],
    ['agent', 'GET', '/v1/audit', undefined],
    ['finance', 'GET', '/v1/audit', undefined],
  ] as const)('%s may not %s %s', async (role, method, url, payload) => {
    const response = await app.inject({ method, url, headers: bearer(TOKENS[role]), payload });
    expectProblem(response, 403, 'forbidden');
    expect(updates).toEqual([]);
  });
});

describe('POST /v1/refunds validation', () => {
  const request = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/v1/refunds',
      headers: { ...bearer(TOKENS.agent), ...headers },
      payload: body,
    });
  const valid = () => ({ orderId: 'ord-1', amount: 1500, reason: 'quality_problem', note: 'scratched lid' });

  const cases: [string, (body: any) => void, string][] = [
    ['amount and lines both', (b) => (b.lines = [{ sku: 'SKU-1', quantity: 1 }]), 'amount'],
    ['neither amount nor lines', (b) => delete b.amount, 'amount'],
    ['amount 0', (b) => (b.amount = 0), 'amount'],
    ['amount negative', (b) => (b.amount = -100), 'amount'],
    ['amount not whole minor units', (b) => (b.amount = 12.5), 'amount'],
    ['amount as a string', (b) => (b.amount = '1500'), 'amount'],
    ['lines empty', (b) => ((b.lines = []), delete b.amount), 'lines'],
    ['quantity 0', (b) => ((b.lines = [{ sku: 'SKU-1', quantity: 0 }]), delete b.amount), 'lines[0].quantity'],
    ['shipping without lines', (b) => (b.includeShipping = true), 'includeShipping'],
    ['orderId missing', (b) => delete b.orderId, 'orderId'],
    ['orderId with bad characters', (b) => (b.orderId = 'ord/1'), 'orderId'],
    ['refundId with bad characters', (b) => (b.refundId = 'ref 1'), 'refundId'],
    ['reason unknown', (b) => (b.reason = 'changed_mind'), 'reason'],
    ['reason only a cancelled order gives', (b) => (b.reason = 'order_cancelled'), 'reason'],
    ['reason only a return gives', (b) => (b.reason = 'return_received'), 'reason'],
    ['reason only a complaint gives', (b) => (b.reason = 'complaint_resolution'), 'reason'],
    ['note over 500 characters', (b) => (b.note = 'x'.repeat(501)), 'note'],
  ];

  it.each(cases)('%s → 400 naming only that field', async (_name, breakIt, field) => {
    const body = valid();
    breakIt(body);
    const problem = expectProblem(await request(body), 400, 'validation');
    expect(problem.errors).toEqual([{ field, reason: expect.any(String) }]);
  });

  it('says what to give when amount and lines are both missing, or both given', async () => {
    const neither = expectProblem(await request({ orderId: 'ord-1', reason: 'quality_problem' }), 400, 'validation');
    expect(neither.errors).toEqual([{ field: 'amount', reason: 'required unless lines are given' }]);
    const both = expectProblem(
      await request({ ...valid(), lines: [{ sku: 'SKU-1', quantity: 1 }], includeShipping: true }),
      400,
      'validation',
    );
    expect(both.errors).toEqual([{ field: 'amount', reason: 'give either amount or lines, not both' }]);
  });

  it('refuses a refundId that differs from the Idempotency-Key header', async () => {
    const problem = expectProblem(
      await request({ ...valid(), refundId: 'ref-1' }, { 'idempotency-key': 'ref-2' }),
      400,
      'validation',
    );
    expect(problem.errors).toEqual([{ field: 'refundId', reason: expect.any(String) }]);
  });

  it('refuses text that cannot be stored in the note', async () => {
    const problem = expectProblem(await request({ ...valid(), note: 'bad\u0000note' }), 400, 'validation');
    expect(problem.errors).toEqual([{ field: 'note', reason: expect.any(String) }]);
  });
});

describe('POST /v1/refunds against the order', () => {
  /** Order ord-1 as the database holds it: two cables at 39.00, 8.00 shipping, card payments as given. */
  function orderWith(payments: { captured: number; claimed: number }[], recorded?: Record<string, unknown>) {
    answer = (sql) => {
      if (/from orders/.test(sql)) return [{ customer_id: 'cus_1', currency: 'CNY', shipping: 800 }];
      if (/from order_lines/.test(sql)) return [{ sku: 'CABLE', quantity: 2, unit_price: 3900 }];
      if (/from payments/.test(sql)) {
        const left = payments.map((p) => p.captured - p.claimed);
        return [
          {
            captured: payments.reduce((sum, p) => sum + p.captured, 0),
            refundable: left.reduce((sum, n) => sum + Math.max(n, 0), 0),
            largest: Math.max(0, ...left),
          },
        ];
      }
      if (/from refunds where id/.test(sql)) return recorded ? [recorded] : [];
      return [];
    };
  }
  const request = (body: Record<string, unknown>, role: Role = 'agent', headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/v1/refunds',
      headers: { ...bearer(TOKENS[role]), ...headers },
      payload: { orderId: 'ord-1', reason: 'quality_problem', ...body },
    });
  const onlyError = (response: Parameters<typeof expectProblem>[0], status: number, field: string) => {
    const problem = expectProblem(response, status, status === 422 ? 'rule-violation' : 'validation');
    expect(problem.errors).toEqual([{ field, reason: expect.any(String) }]);
    expect(starts).toEqual([]);
    return problem;
  };

  it('refuses an unknown order, and an order with nothing captured, naming orderId', async () => {
    onlyError(await request({ amount: 100 }), 422, 'orderId');
    orderWith([{ captured: 0, claimed: 0 }]);
    onlyError(await request({ amount: 100 }), 422, 'orderId');
  });

  it('refuses more than is left to refund, saying how much is', async () => {
    orderWith([{ captured: 8600, claimed: 3600 }]);
    const problem = onlyError(await request({ amount: 5001 }), 422, 'amount');
    expect(problem.errors[0].reason).toBe('5001 asked, 5000 CNY is still refundable');
    expect(audits).toEqual([expect.objectContaining({ action: 'refund.request', result: 'rejected' })]);
  });

  it('refuses more than one payment holds, as a refund is paid back on one', async () => {
    orderWith([
      { captured: 3000, claimed: 0 },
      { captured: 3000, claimed: 0 },
    ]);
    const problem = onlyError(await request({ amount: 4000 }), 422, 'amount');
    expect(problem.errors[0].reason).toBe('4000 asked, at most 3000 CNY in one refund');
  });

  it('refuses lines the order does not have, or more units than it has', async () => {
    orderWith([{ captured: 8600, claimed: 0 }]);
    const problem = expectProblem(
      await request({
        lines: [
          { sku: 'SHOES', quantity: 1 },
          { sku: 'CABLE', quantity: 2 },
          { sku: 'CABLE', quantity: 1 },
        ],
      }),
      422,
      'rule-violation',
    );
    expect(problem.errors).toEqual([
      { field: 'lines[0].sku', reason: 'order ord-1 has no line of SHOES' },
      { field: 'lines[2].quantity', reason: 'only 2 of CABLE ordered' },
    ]);
    expect(starts).toEqual([]);
  });

  it('prices lines as paid, adds the shipping when asked, and starts the refund for the customer', async () => {
    orderWith([{ captured: 8600, claimed: 0 }]);
    const response = await request(
      { lines: [{ sku: 'CABLE', quantity: 2 }], includeShipping: true, reason: 'logistics_failure' },
      'system',
      { 'idempotency-key': 'ref-9' },
    );
    expect(response.statusCode).toBe(201);
    expect(response.headers.location).toBe('/v1/refunds/ref-9');
    expect(starts).toEqual([
      expect.objectContaining({
        workflowId: 'refund-ref-9',
        memo: { requestHash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        args: [
          expect.objectContaining({
            refundId: 'ref-9',
            orderId: 'ord-1',
            customerId: 'cus_1',
            currency: 'CNY',
            amount: 8600,
            lines: [{ sku: 'CABLE', quantity: 2 }],
            includeShipping: true,
            reason: 'logistics_failure',
            origin: 'customer',
            requestedBy: { principal: 'storefront', role: 'system' },
            policy: expect.objectContaining({ autoApproveLimit: 10_000, agentLimit: 200_000 }),
          }),
        ],
      }),
    ]);
    expect(updates.map((u) => u.name)).toEqual(['awaitRefundRequest']);
    expect(audits).toEqual([
      expect.objectContaining({
        action: 'refund.request',
        result: 'ok',
        detail: expect.objectContaining({ amount: 8600 }),
      }),
    ]);
  });

  it('answers 422 when the refund’s claim lost the money to another refund meanwhile', async () => {
    orderWith([{ captured: 8600, claimed: 0 }]);
    updateAnswer = (workflowId) => ({
      ...refundView(workflowId.replace(/^refund-/, '')),
      status: 'REJECTED',
      rejectReason: 'only 0 left to refund on order ord-1',
    });
    const problem = expectProblem(await request({ amount: 5000 }), 422, 'rule-violation');
    expect(problem.errors).toEqual([{ field: 'amount', reason: 'only 0 left to refund on order ord-1' }]);
    expect(audits).toEqual([expect.objectContaining({ action: 'refund.request', result: 'rejected' })]);
  });

  it('answers a repeat of a refund Temporal no longer holds from its row: the same request 200, another 409', async () => {
    const recorded = {
      order_id: 'ord-1',
      amount: 1500,
      lines: null,
      include_shipping: false,
      reason: 'quality_problem',
      note: 'scratched',
    };
    orderWith([{ captured: 8600, claimed: 8600 }], recorded);
    const same = await request({ refundId: 'ref-old', amount: 1500, note: 'scratched' });
    expect(same.statusCode).toBe(200);
    expectProblem(await request({ refundId: 'ref-old', amount: 1500 }), 409, 'conflict');
    expect(starts).toEqual([]);
  });
});

describe('refund actions', () => {
  const act = (role: Role, action: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: `/v1/refunds/ref-1/${action}`,
      headers: { ...bearer(TOKENS[role]), ...headers },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  it.each([
    ['reject without a reason', 'reject', {}, 'reason'],
    ['reject with a blank reason', 'reject', { reason: '   ' }, 'reason'],
    ['approve with a reason over 500 characters', 'approve', { reason: 'x'.repeat(501) }, 'reason'],
    ['retry on an unknown channel', 'retry', { channel: 'cheque', reason: 'customer asked' }, 'channel'],
    ['retry without a reason', 'retry', { channel: 'balance' }, 'reason'],
    ['recover with an unknown action', 'recover', { action: 'skip', reason: 'stuck' }, 'action'],
  ] as const)('%s → 400 naming %s, and no update', async (_name, action, payload, field) => {
    const role: Role = action === 'retry' ? 'finance' : action === 'recover' ? 'ops' : 'supervisor';
    const problem = expectProblem(await act(role, action, payload), 400, 'validation');
    expect(problem.errors).toEqual([{ field: field, reason: expect.any(String) }]);
    expect(updates).toEqual([]);
  });

  it('approves under the Idempotency-Key as decision and update id, and audits the outcome', async () => {
    const response = await act(
      'supervisor',
      'approve',
      { reason: 'photo shows the damage' },
      { 'idempotency-key': 'k-1' },
    );
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ refundId: 'ref-1', status: 'APPROVED' });
    expect(updates).toEqual([
      {
        workflowId: 'refund-ref-1',
        name: 'decideRefund',
        args: [
          {
            decision: 'approve',
            reason: 'photo shows the damage',
            decisionId: 'k-1',
            actor: { principal: 'sam', role: 'supervisor' },
          },
        ],
        updateId: 'decideRefund:k-1',
      },
    ]);
    expect(audits).toEqual([
      expect.objectContaining({
        principal: 'sam',
        role: 'supervisor',
        action: 'refund.approve',
        objectType: 'refund',
        objectId: 'ref-1',
        result: 'ok',
        detail: {
          decisionId: 'k-1',
          reason: 'photo shows the damage',
          amount: 5000,
          currency: 'CNY',
          status: 'APPROVED',
        },
      }),
    ]);
  });

  it('takes an approval without a body, naming each decision afresh when no key is sent', async () => {
    expect((await act('agent', 'approve')).statusCode).toBe(200);
    expect((await act('agent', 'approve', {})).statusCode).toBe(200);
    const [first, second] = updates.map((u) => (u.args?.[0] as { decisionId: string }).decisionId);
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).not.toBe(first);
    expect(updates.map((u) => u.updateId)).toEqual([undefined, undefined]);
  });

  it('rejects with the reason, and retries on the chosen channel', async () => {
    expect((await act('agent', 'reject', { reason: 'outside policy' })).statusCode).toBe(200);
    expect((await act('finance', 'retry', { channel: 'balance', reason: 'card closed' })).statusCode).toBe(200);
    expect((await act('ops', 'recover', { action: 'fail', reason: 'gateway gone' })).statusCode).toBe(200);
    expect(updates.map((u) => [u.name, u.args?.[0]])).toEqual([
      ['decideRefund', expect.objectContaining({ decision: 'reject', reason: 'outside policy' })],
      ['retryRefund', { channel: 'balance', reason: 'card closed', actor: { principal: 'fiona', role: 'finance' } }],
      ['recoverStep', { action: 'fail', reason: 'gateway gone', actor: { principal: 'olga', role: 'ops' } }],
    ]);
    expect(audits.map((a) => a.action)).toEqual(['refund.reject', 'refund.retry', 'refund.recover_fail']);
  });

  it('answers the workflow’s refusal as a problem and audits it as rejected', async () => {
    updateFailure = new WorkflowUpdateFailedError(
      'update failed',
      ApplicationFailure.nonRetryable('nobody decides on a refund they requested', 'Forbidden'),
    );
    const problem = expectProblem(await act('agent', 'approve', {}), 403, 'forbidden');
    expect(problem.detail).toBe('nobody decides on a refund they requested');
    expect(audits).toEqual([
      expect.objectContaining({
        action: 'refund.approve',
        result: 'rejected',
        detail: expect.objectContaining({ problem: PROBLEM_BASE + 'forbidden' }),
      }),
    ]);
  });

  it('answers 409 for a refund whose workflow has ended, 404 for one that never was', async () => {
    updateFailure = new WorkflowNotFoundError('not found', 'refund-ref-1', undefined);
    answer = (sql) => (/select status from refunds/.test(sql) ? [{ status: 'REFUNDED' }] : []);
    const ended = expectProblem(await act('agent', 'approve', {}), 409, 'wrong-state');
    expect(ended.detail).toBe('refund ref-1 is REFUNDED and can no longer change');
    answer = () => [];
    expectProblem(await act('agent', 'approve', {}), 404, 'not-found');
  });
});

describe('refund and audit list validation', () => {
  const get = (url: string, role: Role = 'supervisor') =>
    app.inject({ method: 'GET', url, headers: bearer(TOKENS[role]) });
  const fields = (problem: { errors: { field: string }[] }) => problem.errors.map((e) => e.field).sort();

  it('validates the refund queue’s filters', async () => {
    const problem = expectProblem(
      await get('/v1/refunds?status=APPROVED,LOST&escalated=maybe&needsAttention=1x&offset=-1'),
      400,
      'validation',
    );
    expect(fields(problem)).toEqual(['escalated', 'needsAttention', 'offset', 'status[1]']);
  });

  it('validates the audit filters', async () => {
    expect(fields(expectProblem(await get('/v1/audit?caseId=ref-1'), 400, 'validation'))).toEqual(['caseType']);
    expect(fields(expectProblem(await get('/v1/audit?caseType=invoice'), 400, 'validation'))).toEqual(['caseType']);
    const backwards = '/v1/audit?from=2026-11-23T12:00:00Z&to=2026-11-23T11:00:00Z';
    expect(fields(expectProblem(await get(backwards), 400, 'validation'))).toEqual(['to']);
    expect(fields(expectProblem(await get('/v1/audit?from=yesterday'), 400, 'validation'))).toEqual(['from']);
  });
});

/** A payment provider's notification for order ord-1, as the gateway would sign and post it. */
function paymentNotification(eventId: string) {
  return {
    eventId,
    type: 'payment.succeeded',
    paymentId: 'pay_1',
    orderId: 'ord-1',
    amount: 1200,
    currency: 'CNY',
    occurredAt: new Date().toISOString(),
  };
}

describe('webhooks', () => {
  const notification = paymentNotification('evt_1');
  const now = () => Math.floor(Date.now() / 1000);
  const post = (url: string, payload: string, signature?: string) =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...(signature ? { [SIGNATURE_HEADER]: signature } : {}) },
      payload,
    });

  it('answers 401 without a signature', async () => {
    expectProblem(await post('/v1/webhooks/payment', JSON.stringify(notification)), 401, 'unauthorized');
  });

  it('answers 401 for a signature made with another secret', async () => {
    const body = JSON.stringify(notification);
    const signature = signPayload('some-other-secret-entirely', body, now());
    expectProblem(await post('/v1/webhooks/payment', body, signature), 401, 'unauthorized');
  });

  it('answers 401 when the signed bytes were altered', async () => {
    const body = JSON.stringify(notification);
    const signature = signPayload(config.PAYMENT_WEBHOOK_SECRET, body, now());
    const altered = JSON.stringify({ ...notification, amount: 1 });
    expectProblem(await post('/v1/webhooks/payment', altered, signature), 401, 'unauthorized');
  });

  it('answers 401 for a stale signature', async () => {
    const body = JSON.stringify(notification);
    const signature = signPayload(config.PAYMENT_WEBHOOK_SECRET, body, now() - 3600);
    expectProblem(await post('/v1/webhooks/payment', body, signature), 401, 'unauthorized');
  });

  it('answers 401 for a carrier event signed with the payment secret', async () => {
    const body = JSON.stringify({
      eventId: 'e',
      waybill: 'W1',
      type: 'PICKED_UP',
      occurredAt: new Date().toISOString(),
    });
    const signature = signPayload(config.PAYMENT_WEBHOOK_SECRET, body, now());
    expectProblem(await post('/v1/webhooks/carrier', body, signature), 401, 'unauthorized');
  });

  it('checks the signature before parsing the body', async () => {
    expectProblem(await post('/v1/webhooks/payment', '{not json'), 401, 'unauthorized');
  });

  it('answers malformed but signed JSON with 400', async () => {
    const body = '{not json';
    const signature = signPayload(config.PAYMENT_WEBHOOK_SECRET, body, now());
    expectProblem(await post('/v1/webhooks/payment', body, signature), 400, 'validation');
  });

  it('verifies the exact bytes, whitespace included, and signals the order', async () => {
    signals.length = 0;
    const body = JSON.stringify(notification, null, 2);
    const signature = signPayload(config.PAYMENT_WEBHOOK_SECRET, body, now());
    const response = await post('/v1/webhooks/payment', body, signature);
    expect(response.statusCode).toBe(202);
    expect(signals).toEqual([
      {
        workflowId: 'order-ord-1',
        name: 'paymentNotification',
        args: [{ eventId: 'evt_1', paymentId: 'pay_1', succeeded: true, amount: 1200, currency: 'CNY' }],
      },
    ]);
  });
});

describe('mapping failures to problems', () => {
  const updateFailed = (type: string, message: string) =>
    new WorkflowUpdateFailedError('update failed', ApplicationFailure.nonRetryable(message, type));

  it.each([
    ['WrongState', 409, 'wrong-state'],
    ['RuleViolation', 422, 'rule-violation'],
    ['Forbidden', 403, 'forbidden'],
    ['OutOfStock', 422, 'out-of-stock'],
    ['UnknownSku', 422, 'unknown-sku'],
    ['PaymentDeclined', 422, 'payment-declined'],
  ])('update failure %s → %i %s with the failure message', (type, status, problemType) => {
    const problem = toProblem(updateFailed(type, 'order is PAID'));
    expect(problem).toMatchObject({ status, problemType, detail: 'order is PAID' });
  });

  it('finds the application failure under an activity failure', () => {
    const cause = new ActivityFailure(
      'activity failed',
      'reserveStock',
      '1',
      RetryState.NON_RETRYABLE_FAILURE,
      undefined,
      ApplicationFailure.nonRetryable('only 1 left of SKU-1', 'OutOfStock'),
    );
    expect(toProblem(new WorkflowUpdateFailedError('update failed', cause))).toMatchObject({
      status: 422,
      problemType: 'out-of-stock',
    });
  });

  it('treats an unknown update failure as a bug', () => {
    expect(toProblem(updateFailed('Surprise', 'boom'))).toBeUndefined();
  });

  it('maps a missing workflow to 404', () => {
    expect(toProblem(new WorkflowNotFoundError('not found', 'order-x', undefined))).toMatchObject({ status: 404 });
  });

  it('writes field paths the way clients address JSON', () => {
    expect(fieldPath('/lines/0/quantity'.split('/'))).toBe('lines[0].quantity');
    expect(fieldPath(['shippingAddress', 'postalCode'])).toBe('shippingAddress.postalCode');
    expect(fieldPath(['lines', 3])).toBe('lines[3]');
  });
});

describe('sandbox routes', () => {
  const sandboxLookups: string[] = [];
  const sandbox = {
    gateway: { findByReference: async (reference: string) => void sandboxLookups.push(reference) },
    carrier: { get: async (waybill: string) => void sandboxLookups.push(waybill) },
  } as unknown as NonNullable<Parameters<typeof buildApp>[0]['sandbox']>;
  const secret = () => randomBytes(32).toString('hex');
  const METRICS_TOKEN = secret();

  async function appIn(nodeEnv: 'production' | 'test') {
    const appConfig = loadConfig({
      NODE_ENV: nodeEnv,
      API_TOKENS: 'tok-ops=ops:olga',
      PAYMENT_WEBHOOK_SECRET: secret(),
      CARRIER_WEBHOOK_SECRET: secret(),
      METRICS_TOKEN: METRICS_TOKEN,
    });
    const built = await buildApp({ config: appConfig, temporal, orm, taskQueue: 'orders-test', sandbox });
    await built.ready();
    return built;
  }

  it('leave /metrics to the bearer of the scrape token in production', async () => {
    const production = await appIn('production');
    try {
      expectProblem(await production.inject({ method: 'GET', url: '/metrics' }), 401, 'unauthorized');
      expectProblem(
        await production.inject({ method: 'GET', url: '/metrics', headers: bearer('tok-ops') }),
        401,
        'unauthorized',
      );
      const scraped = await production.inject({ method: 'GET', url: '/metrics', headers: bearer(METRICS_TOKEN) });
      expect(scraped.statusCode).toBe(200);
      expect(scraped.body).toContain('http_requests_total');
    } finally {
      await production.close();
    }
  });

  it('are not mounted in production, even when the process has sandboxes', async () => {
    const production = await appIn('production');
    try {
      sandboxLookups.length = 0;
      const response = await production.inject({
        method: 'POST',
        url: '/v1/sandbox/parcels/W1/events',
        headers: bearer('tok-ops'),
        payload: { type: 'PICKED_UP' },
      });
      expectProblem(response, 404, 'not-found');
      expect(sandboxLookups).toEqual([]);
      const docs = (await production.inject({ method: 'GET', url: '/docs/json' })).json();
      expect(Object.keys(docs.paths).filter((p) => p.startsWith('/v1/sandbox'))).toEqual([]);
    } finally {
      await production.close();
    }
  });

  it('are mounted outside production, and refuse text that cannot be stored before asking the sandbox', async () => {
    const development = await appIn('test');
    try {
      const scan = (waybill: string) =>
        development.inject({
          method: 'POST',
          url: `/v1/sandbox/parcels/${waybill}/events`,
          headers: bearer('tok-ops'),
          payload: { type: 'PICKED_UP' },
        });
      sandboxLookups.length = 0;
      expect((await scan('W1')).json().detail).toMatch(/waybill W1/);
      const problem = expectProblem(await scan('W%001'), 400, 'validation');
      expect(problem.errors).toEqual([{ field: 'waybill', reason: expect.any(String) }]);
      expect(sandboxLookups).toEqual(['W1']);
    } finally {
      await development.close();
    }
  });
});

describe('GET /health and GET /ready', () => {
  const leaky = 'password authentication failed for user "orders" at 10.1.2.3:5432';
  const secondsAgo = (s: number) => ({ seconds: Math.floor((Date.now() - s * 1000) / 1000) });
  interface Probes {
    postgres: () => Promise<unknown>;
    temporal: () => Promise<unknown>;
    pollers?: () => Promise<{ lastAccessTime?: { seconds: number } }[]>;
  }
  async function ask(url: '/health' | '/ready', probes: Probes) {
    const asked: unknown[] = [];
    const fakeOrm = {
      em: { fork: () => ({ getConnection: () => ({ execute: probes.postgres }) }) },
    } as unknown as MikroORM;
    const fakeTemporal = {
      options: { namespace: 'orders-ns' },
      withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
      workflowService: {
        getSystemInfo: probes.temporal,
        describeTaskQueue: async (request: unknown) => {
          asked.push(request);
          return { pollers: probes.pollers ? await probes.pollers() : [] };
        },
      },
    } as unknown as Client;
    const logged: string[] = [];
    const built = await buildApp({
      config,
      temporal: fakeTemporal,
      orm: fakeOrm,
      taskQueue: 'orders-test',
      logger: { level: 'warn', stream: { write: (line: string) => void logged.push(line) } },
    });
    try {
      return { response: await built.inject({ method: 'GET', url }), logged, asked };
    } finally {
      await built.close();
    }
  }
  const down = async () => Promise.reject(new Error(leaky));

  it('/health is liveness: ok while the process serves, whatever its dependencies say', async () => {
    const { response } = await ask('/health', { postgres: down, temporal: down });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
    expect(response.body).not.toMatch(/10\.1\.2|password/);
  });

  it('/ready is ok when PostgreSQL and Temporal answer and a worker polled the task queue lately', async () => {
    const { response, asked } = await ask('/ready', {
      postgres: async () => [],
      temporal: async () => ({}),
      pollers: async () => [{ lastAccessTime: secondsAgo(900) }, { lastAccessTime: secondsAgo(20) }],
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', checks: { postgres: 'ok', temporal: 'ok', worker: 'ok' } });
    expect(asked).toEqual([
      expect.objectContaining({ namespace: 'orders-ns', taskQueue: expect.objectContaining({ name: 'orders-test' }) }),
    ]);
  });

  it('/ready is unavailable when no worker polled within the window, or none ever did', async () => {
    for (const pollers of [[{ lastAccessTime: secondsAgo(WORKER_POLL_WINDOW_MS / 1000 + 30) }], []]) {
      const { response } = await ask('/ready', {
        postgres: async () => [],
        temporal: async () => ({}),
        pollers: async () => pollers,
      });
      expect(response.statusCode).toBe(503);
      expect(response.json().checks).toEqual({ postgres: 'ok', temporal: 'ok', worker: 'unavailable' });
    }
  });

  it('/ready tells anonymous callers only which dependency is unavailable, and logs why', async () => {
    const { response, logged } = await ask('/ready', {
      postgres: down,
      temporal: async () => Promise.reject(new Error('14 UNAVAILABLE: No connection established to 10.1.2.4')),
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      status: 'unavailable',
      checks: { postgres: 'unavailable', temporal: 'unavailable', worker: 'unavailable' },
    });
    expect(response.body).not.toMatch(/10\.1\.2|password|UNAVAILABLE/);
    expect(logged.map((line) => JSON.parse(line).err?.message)).toContain(leaky);
  });
});

describe('text that cannot be stored', () => {
  const cancel = (orderId: string, reason: string) =>
    app.inject({
      method: 'POST',
      url: `/v1/orders/${orderId}/cancel`,
      headers: bearer(TOKENS.agent),
      payload: { reason },
    });
  const onlyError = (response: Parameters<typeof expectProblem>[0], field: string) => {
    const problem = expectProblem(response, 400, 'validation');
    expect(problem.errors).toEqual([{ field, reason: expect.any(String) }]);
    return problem;
  };

  const NUL = 'a\u0000b';
  const LONE_SURROGATE = 'a\ud800b';

  const storedFields = [
    'customerId',
    'lines[0].sku',
    ...['name', 'line1', 'city', 'postalCode'].map((f) => `shippingAddress.${f}`),
  ];
  const unstorable: [string, string][] = storedFields.flatMap((field) =>
    [NUL, LONE_SURROGATE, 'a\udc00b'].map((value): [string, string] => [field, value]),
  );

  it.each(unstorable)('POST /v1/orders refuses %s holding %j', async (field, value) => {
    const body = validOrder() as any;
    const keys = field.replace(/\[(\d+)\]/g, '.$1').split('.');
    const parent = keys.slice(0, -1).reduce((target, key) => target[key], body);
    parent[keys[keys.length - 1]] = value;
    onlyError(await placeOrder(body), field);
  });

  it('refuses other control characters, and names a bad key', async () => {
    const body = validOrder() as any;
    body.shippingAddress.line2 = 'bell\u0007';
    body['extra\u0000'] = 1;
    const problem = expectProblem(await placeOrder(body), 400, 'validation');
    expect(problem.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'extra\ufffd',
      'shippingAddress.line2',
    ]);
  });

  it('refuses them in free text of an action', async () => {
    onlyError(await cancel('ord-1', 'changed\u0000mind'), 'reason');
    onlyError(await cancel('ord-1', 'changed\u001bmind'), 'reason');
  });

  it.each([
    ['/v1/products?q=a%00b', 'q'],
    ['/v1/products?category=a%01b', 'category'],
    ['/v1/orders?customerId=a%00b', 'customerId'],
    ['/v1/orders?sku=a%00b', 'sku'],
    ['/v1/inventory/SKU%00', 'sku'],
  ])('GET %s → 400 naming %s', async (url, field) => {
    onlyError(await app.inject({ method: 'GET', url, headers: bearer(TOKENS.agent) }), field);
  });

  it('refuses them in path parameters', async () => {
    onlyError(await cancel('ord%00', 'changed mind'), 'orderId');
  });

  it('answers a path that is not percent-encoded UTF-8, or a parameter too long to route, with a problem', async () => {
    const get = (url: string) => app.inject({ method: 'GET', url, headers: bearer(TOKENS.agent) });
    expectProblem(await get('/v1/inventory/a%ED%A0%80'), 400, 'validation');
    expectProblem(await get(`/v1/inventory/${'A'.repeat(101)}`), 414, 'uri-too-long');
  });

  it('refuses them in the Idempotency-Key header', async () => {
    const body = validOrder();
    delete body.orderId;
    onlyError(await placeOrder(body, { 'idempotency-key': 'ord\u00001' }), 'idempotency-key');
  });

  describe('in signed webhooks', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const signed = (url: string, secret: string, body: unknown) => {
      const raw = JSON.stringify(body);
      return app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signPayload(secret, raw, now()) },
        payload: raw,
      });
    };
    const payment = paymentNotification;

    it('refuses them before signalling the order', async () => {
      signals.length = 0;
      onlyError(await signed('/v1/webhooks/payment', config.PAYMENT_WEBHOOK_SECRET, payment('evt\u00001')), 'eventId');
      onlyError(await signed('/v1/webhooks/payment', config.PAYMENT_WEBHOOK_SECRET, payment('evt\ud8001')), 'eventId');
      expect(signals).toEqual([]);
    });

    it('refuses them before looking up the shipment', async () => {
      const event = { eventId: 'e1', waybill: 'W\u00001', type: 'PICKED_UP', occurredAt: new Date().toISOString() };
      onlyError(await signed('/v1/webhooks/carrier', config.CARRIER_WEBHOOK_SECRET, event), 'waybill');
    });

    it('still checks the signature first', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/webhooks/payment',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payment('evt\u00001')),
      });
      expectProblem(response, 401, 'unauthorized');
    });

    it('lets tabs and line breaks through', async () => {
      signals.length = 0;
      const response = await signed('/v1/webhooks/payment', config.PAYMENT_WEBHOOK_SECRET, payment('evt\t1\r\n'));
      expect(response.statusCode).toBe(202);
      expect(signals).toHaveLength(1);
    });
  });
});

describe('requests HTTP itself refuses', () => {
  async function raw(request: string): Promise<{ status: number; type: string; body: any }> {
    const server = await buildApp({ config, temporal, orm, taskQueue: 'orders-test' });
    await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.server.address() as AddressInfo;
      const response = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = connect(port, '127.0.0.1', () => socket.end(request));
        socket.on('data', (chunk) => chunks.push(chunk));
        socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
        socket.on('error', reject);
      });
      const [head, body] = response.split('\r\n\r\n');
      return {
        status: Number(head.split(' ')[1]),
        type: /content-type: (.*)/i.exec(head)?.[1] ?? '',
        body: JSON.parse(body),
      };
    } finally {
      await server.close();
    }
  }

  it('answers headers over the size limit with a problem', async () => {
    const answer = await raw(`GET /v1/products?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(answer).toMatchObject({ status: 431, type: expect.stringMatching(/^application\/problem\+json/) });
    expect(answer.body).toMatchObject({ type: PROBLEM_BASE + 'headers-too-large', status: 431 });
  });

  it('answers a request that is not HTTP with a problem', async () => {
    const answer = await raw('HELLO\r\n\r\n');
    expect(answer).toMatchObject({ status: 400, type: expect.stringMatching(/^application\/problem\+json/) });
    expect(answer.body).toMatchObject({ type: PROBLEM_BASE + 'validation', status: 400 });
  });
});
