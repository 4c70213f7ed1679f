import { readFileSync } from 'node:fs';
import path from 'node:path';
import { complaintWorkflowId } from '../../workflows/complaint-messages';
import { orderWorkflowId } from '../../workflows/messages';
import { refundWorkflowId } from '../../workflows/refund-messages';
import { returnWorkflowId } from '../../workflows/return-messages';
import { apiClient, eventually } from '../helpers/http';
import { fullStack } from '../helpers/stack';
import { visible } from '../helpers/visibility';

/**
 * Ops over HTTP: the cases of every type that need a person, oldest flag first; notes on a case; clearing a flag with
 * a reason; forcing an order's cancellation, which runs its compensations. Each action leaves an audit row.
 */

const TOKENS = { system: 'sys-token', ops: 'ops-token', agent: 'agent-token', supervisor: 'sue-token' };

const stack = fullStack('ops', {
  API_TOKENS: [
    `${TOKENS.system}=system:shop`,
    `${TOKENS.ops}=ops:olga`,
    `${TOKENS.agent}=agent:alice`,
    `${TOKENS.supervisor}=supervisor:sue`,
  ].join(','),
});

const { call, until, untilReturn } = apiClient(() => stack.config.publicUrl, TOKENS.ops);
/** The shop places orders. */
const { capturedOrder, placeOrder } = apiClient(() => stack.config.publicUrl, TOKENS.system);

const attention = (query = '') => call('GET', `/v1/ops/attention${query}`);
const auditOf = async (objectId: string) =>
  (
    await stack.sql.query<{ principal: string; action: string; result: string; detail: Record<string, unknown> }>(
      `select principal, action, result, detail from audit_log where object_id = $1 order by id`,
      [objectId],
    )
  ).rows;

/** A complaint nobody on duty can take: flagged `complaint_unassigned` as soon as it is opened. */
async function unassignedComplaint(): Promise<string> {
  const opened = await call(
    'POST',
    '/v1/complaints',
    {
      channel: 'phone',
      customerId: 'C-1002',
      category: 'logistics',
      target: 'Parcel',
      matter: 'Parcel late',
      reason: 'The parcel has not arrived.',
      contact: { name: 'Han Meimei', phone: '13900139000' },
    },
    TOKENS.system,
  );
  expect(opened.status).toBe(201);
  const complaintId = opened.body.complaintId as string;
  await eventually(
    async () =>
      (
        await stack.sql.query<{ needs_attention: boolean }>('select needs_attention from complaints where id = $1', [
          complaintId,
        ])
      ).rows[0],
    (row) => row?.needs_attention === true,
    'the complaint flagged in PostgreSQL',
  );
  return complaintId;
}

beforeAll(async () => {
  // Nobody on duty: complaints wait for an agent, flagged.
  await stack.sql.query('update complaint_agents set on_duty = false');
});

/** An order whose parcel the carrier reports damaged: flagged `carrier_exception`. */
async function orderWithCarrierException(): Promise<string> {
  const orderId = await placeOrder();
  const fulfilling = await until(orderId, (v) => v.status === 'FULFILLING');
  const event = await call('POST', `/v1/sandbox/parcels/${fulfilling.shipments[0].waybill}/events`, {
    type: 'EXCEPTION',
    exception: 'damaged',
  });
  expect(event.status).toBe(202);
  await until(orderId, (v) => v.attentionReasons?.includes('carrier_exception'));
  return orderId;
}

/** A refund of a captured order (30.01) an agent asked for: it waits for another agent's approval. */
async function refundAwaitingAgent() {
  const orderId = await capturedOrder(TOKENS.ops);
  const requested = await call(
    'POST',
    '/v1/refunds',
    { orderId, amount: 3001, reason: 'quality_problem' },
    TOKENS.agent,
  );
  expect(requested.body).toMatchObject({ status: 'PENDING_APPROVAL', approver: 'agent' });
  return requested;
}

describe('the attention list', () => {
  test('lists flagged cases of every type, oldest flag first, filtered by type and reason, for ops only', async () => {
    const order = await orderWithCarrierException();
    const first = await unassignedComplaint();
    const second = await unassignedComplaint();
    await stack.sql.query(`update complaints set attention_since = now() - interval '2 hours' where id = $1`, [first]);

    const listed = await attention('?caseType=complaint&limit=200');
    expect(listed.status).toBe(200);
    const ids = listed.body.items.map((i: { caseId: string }) => i.caseId);
    expect(ids.indexOf(first)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(first)).toBeLessThan(ids.indexOf(second));
    const item = listed.body.items.find((i: { caseId: string }) => i.caseId === first);
    expect(item).toMatchObject({
      caseType: 'complaint',
      status: 'OPEN',
      reasons: ['complaint_unassigned'],
      customerId: 'C-1002',
      notes: 0,
      href: `/v1/complaints/${first}`,
    });
    expect(item.ageSeconds).toBeGreaterThanOrEqual(2 * 3600);
    expect(item.ageSeconds).toBeLessThan(2 * 3600 + 120);
    expect(Date.parse(item.slaDeadline)).toBeGreaterThan(Date.now());
    const times = listed.body.items.map((i: { attentionSince: string }) => Date.parse(i.attentionSince));
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    const byReason = await attention('?reason=complaint_unassigned&limit=200');
    expect(byReason.status).toBe(200);
    expect(byReason.body.items.map((i: any) => i.caseId)).toEqual(expect.arrayContaining([first, second]));
    const other = await attention('?reason=carrier_silent&limit=200');
    expect(other.body.items.map((i: { caseId: string }) => i.caseId)).not.toContain(first);
    const orders = await attention('?caseType=order&limit=200');
    expect(orders.status).toBe(200);
    expect(orders.body.items.every((i: { caseType: string }) => i.caseType === 'order')).toBe(true);
    expect(orders.body.items.map((i: { caseId: string }) => i.caseId)).toContain(order);
    // Every type at once; the order was flagged before the second complaint.
    const all = await attention('?limit=200');
    expect(all.status).toBe(200);
    const everyType = all.body.items.map((i: { caseId: string }) => i.caseId);
    expect(everyType.indexOf(order)).toBeGreaterThanOrEqual(0);
    expect(everyType.indexOf(order)).toBeLessThan(everyType.indexOf(second));
    expect(everyType.indexOf(first)).toBeLessThan(everyType.indexOf(order));
    expect(all.body.items.find((i: { caseId: string }) => i.caseId === order)).toMatchObject({
      caseType: 'order',
      orderId: order,
      reasons: ['carrier_exception'],
      escalationLevel: 0,
      href: `/v1/orders/${order}`,
    });
    const exceptions = await attention('?reason=carrier_exception&limit=200');
    expect(exceptions.body.items.map((i: { caseId: string }) => i.caseId)).toEqual([order]);

    expect((await call('GET', '/v1/ops/attention', undefined, TOKENS.agent)).status).toBe(403);
    expect((await call('GET', '/v1/ops/attention', undefined, TOKENS.supervisor)).status).toBe(200);
    const bad = await attention('?caseType=parcel');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('caseType');
  });
});

describe('acting on a flagged case', () => {
  test('a note is kept on the case, counted on the list and audited; bad notes and unknown cases are refused', async () => {
    const complaintId = await unassignedComplaint();
    const note = await call('POST', `/v1/ops/cases/complaint/${complaintId}/notes`, {
      text: 'Called the logistics lead: two agents start at 14:00.',
    });
    expect(note.status).toBe(201);
    expect(note.body).toMatchObject({ caseType: 'complaint', caseId: complaintId, author: 'olga', role: 'ops' });
    const notes = await call('GET', `/v1/ops/cases/complaint/${complaintId}/notes`);
    expect(notes.body.items.map((n: { text: string }) => n.text)).toEqual([
      'Called the logistics lead: two agents start at 14:00.',
    ]);
    const listed = await attention('?caseType=complaint&limit=200');
    expect(listed.body.items.find((i: { caseId: string }) => i.caseId === complaintId).notes).toBe(1);

    expect((await call('POST', `/v1/ops/cases/complaint/${complaintId}/notes`, { text: '  ' })).status).toBe(400);
    expect((await call('POST', '/v1/ops/cases/refund/no-such-refund/notes', { text: 'x' })).status).toBe(404);
    expect(
      (await call('POST', `/v1/ops/cases/complaint/${complaintId}/notes`, { text: 'x' }, TOKENS.agent)).status,
    ).toBe(403);
    // Refused before it reached the case (bad input, a role that may not): no audit row.
    expect((await auditOf(complaintId)).filter((a) => a.action === 'complaint.note')).toEqual([
      expect.objectContaining({ principal: 'olga', result: 'ok' }),
    ]);
  });

  test('clearing a flag with a reason takes the case off the list; a flag it does not have is a 409', async () => {
    const complaintId = await unassignedComplaint();
    const cleared = await call('POST', `/v1/complaints/${complaintId}/clear-flag`, {
      flag: 'complaint_unassigned',
      reason: 'Assigned by phone to the weekend team',
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ complaintId, needsAttention: false });
    const { rows } = await stack.sql.query('select needs_attention, attention_since from complaints where id = $1', [
      complaintId,
    ]);
    expect(rows).toEqual([{ needs_attention: false, attention_since: null }]);
    const listed = await attention('?caseType=complaint&limit=200');
    expect(listed.body.items.map((i: { caseId: string }) => i.caseId)).not.toContain(complaintId);

    const again = await call('POST', `/v1/complaints/${complaintId}/clear-flag`, {
      flag: 'complaint_unassigned',
      reason: 'again',
    });
    expect(again.status).toBe(409);
    const failedStep = await call('POST', `/v1/complaints/${complaintId}/clear-flag`, {
      flag: 'step_failed',
      reason: 'not this way',
    });
    expect(failedStep.status).toBe(409);
    const byAgent = await call(
      'POST',
      `/v1/complaints/${complaintId}/clear-flag`,
      { flag: 'complaint_unassigned', reason: 'x' },
      TOKENS.agent,
    );
    expect(byAgent.status).toBe(403);
    expect((await auditOf(complaintId)).filter((a) => a.action === 'complaint.clear_flag')).toEqual([
      expect.objectContaining({
        principal: 'olga',
        result: 'ok',
        detail: expect.objectContaining({
          flag: 'complaint_unassigned',
          reason: 'Assigned by phone to the weekend team',
        }),
      }),
      expect.objectContaining({ result: 'rejected' }),
      expect.objectContaining({ result: 'rejected' }),
    ]);
  });
});

describe('forcing an order’s cancellation', () => {
  test('runs the compensations: payment voided, parcel cancelled, stock released; an ended order is a 409', async () => {
    const orderId = await placeOrder();
    const fulfilling = await until(orderId, (v) => v.status === 'FULFILLING');

    expect((await call('POST', `/v1/orders/${orderId}/force-cancel`, { reason: 'x' }, TOKENS.agent)).status).toBe(403);
    expect((await call('POST', `/v1/orders/${orderId}/force-cancel`, {})).status).toBe(400);
    const forced = await call('POST', `/v1/orders/${orderId}/force-cancel`, {
      reason: 'Fraud confirmed by the bank',
    });
    expect(forced.status).toBe(200);
    expect(forced.body).toEqual({ orderId, status: 'CANCELLED' });
    const view = (await call('GET', `/v1/orders/${orderId}`)).body;
    expect(view.payment.status).toBe('VOIDED');
    expect(view.shipments.map((s: { status: string }) => s.status)).toEqual(['CANCELLED']);
    const reserved = await stack.sql.query(
      `select count(*)::int as n from reservations where order_id = $1 and status = 'active'`,
      [orderId],
    );
    expect(reserved.rows[0].n).toBe(0);
    expect(fulfilling.payment.authorizationId).toBeTruthy();
    expect(await stack.sandboxes.gateway.get(fulfilling.payment.authorizationId)).toMatchObject({ status: 'voided' });

    const again = await call('POST', `/v1/orders/${orderId}/force-cancel`, { reason: 'again' });
    expect(again.status).toBe(409);
    expect((await call('POST', '/v1/orders/no-such-order/force-cancel', { reason: 'x' })).status).toBe(404);
    expect((await auditOf(orderId)).filter((a) => a.action === 'order.force_cancel')).toEqual([
      expect.objectContaining({
        principal: 'olga',
        result: 'ok',
        detail: expect.objectContaining({ reason: 'Fraud confirmed by the bank' }),
      }),
      expect.objectContaining({ result: 'rejected' }),
    ]);
  });
});

describe('the README’s ready-made Temporal UI queries', () => {
  /** The rows of the README's ready-made query table: what ops look for, and the query. */
  function readmeQueries(): Map<string, string> {
    const readme = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| looking for'));
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
    return new Map(
      rows.map((row) => {
        const [, name, query] = /^\| (.+?) +\| `(.+)` +\|$/.exec(row) ?? [];
        expect(name && query).toBeTruthy();
        return [name, query] as const;
      }),
    );
  }

  /** Each row's case, made to be found: its workflow id, and the time to put in for `<…>`. */
  const cases: Record<string, () => Promise<{ workflowId: string; at?: Date }>> = {
    'orders waiting on a carrier for over a day': async () => {
      const orderId = await orderWithCarrierException();
      // A day from now, the order placed now has waited a day.
      return { workflowId: orderWorkflowId(orderId), at: new Date(Date.now() + 60_000) };
    },
    'refunds pending past their approval SLA': async () => {
      const requested = await refundAwaitingAgent();
      // Asked once its deadline has passed.
      const at = new Date(Date.parse(requested.body.slaDeadline) + 60_000);
      return { workflowId: refundWorkflowId(requested.body.refundId), at };
    },
    'returns waiting on the warehouse': async () => {
      const orderId = await capturedOrder(TOKENS.ops);
      const order = (await call('GET', `/v1/orders/${orderId}`)).body;
      for (const type of ['IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']) {
        await call('POST', `/v1/sandbox/parcels/${order.shipments[0].waybill}/events`, { type });
      }
      await until(orderId, (v) => v.status === 'DELIVERED');
      await eventually(
        async () => (await stack.sql.query(`select status from orders where id = $1`, [orderId])).rows[0].status,
        (status) => status === 'DELIVERED',
        'the order recorded DELIVERED',
      );
      const requested = await call(
        'POST',
        '/v1/returns',
        {
          orderId,
          lines: [{ sku: 'ACC-ANKER-USBC1M', quantity: 1 }],
          reason: 'changed_mind',
          type: 'refund',
          method: 'pickup',
        },
        TOKENS.system,
      );
      expect(requested.status).toBe(201);
      const returnId = requested.body.returnId as string;
      const booked = await untilReturn(returnId, (v) => v.parcels.length > 0);
      for (const type of ['PICKED_UP', 'DELIVERED']) {
        await call('POST', `/v1/sandbox/parcels/${booked.parcels[0].waybill}/events`, { type });
      }
      await untilReturn(returnId, (v) => v.waitingOn === 'warehouse');
      return { workflowId: returnWorkflowId(returnId) };
    },
    'orders whose payment is failing': async () => {
      const orderId = await placeOrder({ token: 'tok_decline' });
      await until(orderId, (v) => v.status === 'PENDING_PAYMENT' && v.payment.status === 'DECLINED');
      return { workflowId: orderWorkflowId(orderId) };
    },
    'complaints nobody on duty can take': async () => ({
      workflowId: complaintWorkflowId(await unassignedComplaint()),
    }),
    'anything waiting for a person': async () => ({
      workflowId: orderWorkflowId(await orderWithCarrierException()),
    }),
  };

  test('each query finds the case it is for', async () => {
    const queries = readmeQueries();
    expect([...queries.keys()].sort()).toEqual(Object.keys(cases).sort());
    for (const [name, query] of queries) {
      const { workflowId, at } = await cases[name]();
      const filled = query.replace(/<[a-z ]+>/g, () => {
        expect(at).toBeDefined();
        return at!.toISOString();
      });
      expect([name, await visible(stack.temporal.client, filled, workflowId)]).toEqual([name, true]);
    }
  }, 120_000);
});

describe('/metrics', () => {
  /**
   * The samples of one metric in a Prometheus text scrape, summed over those whose labels include `labels`; 0 when
   * none does (a series appears once it has a value).
   */
  function sample(scrape: string, name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const line of scrape.split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? ([-+\w.]+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const has = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (Object.entries(labels).every(([key, value]) => has[key] === value)) sum += Number(match[3]);
    }
    return sum;
  }
  const scrape = async () => {
    const response = await fetch(`${stack.config.publicUrl}/metrics`);
    expect(response.status).toBe(200);
    return response.text();
  };

  test('move by what a scenario did: orders, a declined payment, a refund waiting for an agent', async () => {
    const before = await scrape();
    // A card the gateway declines, then an order paid, shipped and partly refunded, waiting for an agent's approval.
    const declined = await placeOrder({ token: 'tok_decline' });
    await until(declined, (v) => v.payment.status === 'DECLINED');
    const refund = await refundAwaitingAgent();
    await eventually(
      async () => (await stack.sql.query(`select status from refunds where id = $1`, [refund.body.refundId])).rows[0],
      (row) => row?.status === 'PENDING_APPROVAL',
      'the refund recorded',
    );
    const after = await scrape();

    const moved = (name: string, labels: Record<string, string> = {}) =>
      sample(after, name, labels) - sample(before, name, labels);
    for (const name of ['cases', 'payments', 'payment_success_ratio', 'refunds_pending_approval', 'sla_breaches']) {
      expect(after).toContain(`# TYPE ${name} gauge`);
    }
    expect(moved('http_requests_total', { method: 'POST', route: '/v1/orders', status: '201' })).toBe(2);
    expect(moved('http_requests_total', { method: 'POST', route: '/v1/refunds', status: '201' })).toBe(1);
    expect(moved('cases', { case_type: 'order' })).toBe(2);
    expect(moved('cases', { case_type: 'refund', status: 'PENDING_APPROVAL' })).toBe(1);
    expect(moved('payments', { method: 'card', status: 'DECLINED' })).toBe(1);
    expect(moved('refunds_pending_approval', { approver: 'agent' })).toBe(1);
    expect(moved('refunds_pending_approval', { approver: 'supervisor' })).toBe(0);

    // The figures read from PostgreSQL agree with it.
    const { rows } = await stack.sql.query<{ answered: number; declined: number; low: number }>(
      `select (select count(*)::int from payments where status not in ('NONE', 'AWAITING_TRANSFER', 'COD_PENDING')
                 and created_at > now() - interval '24 hours') as answered,
              (select count(*)::int from payments where status = 'DECLINED'
                 and created_at > now() - interval '24 hours') as declined,
              (select count(*)::int from stock_levels where on_hand - reserved <= low_stock_threshold) as low`,
    );
    expect(sample(after, 'payment_success_ratio')).toBeCloseTo(
      (rows[0].answered - rows[0].declined) / rows[0].answered,
    );
    expect(sample(after, 'payment_success_ratio')).toBeLessThan(1);
    expect(sample(after, 'stock_low')).toBe(rows[0].low);
    expect(sample(after, 'sla_breaches', { case_type: 'complaint' })).toBeGreaterThanOrEqual(0);
  });
});
