import { WorkflowNotFoundError } from '@temporalio/client';
import { complaintViewFromDb } from '../../api/records';
import { complaintWorkflowId } from '../../workflows/complaint-messages';
import { apiClient, CAPTURED_CABLES } from '../helpers/http';
import { uniqueId } from '../helpers/names';
import { fullStack } from '../helpers/stack';

/**
 * Complaints over real HTTP, with the whole engine behind the API: the staff they go to are set up through the API
 * too, the demo staff taken off duty first. Teams split the categories so each test knows who may get its complaint:
 *   product_quality → team t-quality: alice, bob (junior)
 *   logistics       → team t-logistics: carol, dave (junior)
 *   after_sales     → team t-service: erin (senior), gina (junior)
 *   staff           → nobody at first; team t-people with frank later
 */

const TOKENS = {
  system: 'sys-token',
  alice: 'alice-token',
  bob: 'bob-token',
  carol: 'carol-token',
  dave: 'dave-token',
  erin: 'erin-token',
  frank: 'frank-token',
  supervisor: 'sue-token',
  admin: 'ada-token',
  warehouse: 'wh-token',
  ops: 'ops-token',
};
type Agent = 'alice' | 'bob' | 'carol' | 'dave' | 'erin' | 'frank';

const stack = fullStack('complaints', {
  API_TOKENS: [
    `${TOKENS.system}=system:shop`,
    `${TOKENS.alice}=agent:alice`,
    `${TOKENS.bob}=agent:bob`,
    `${TOKENS.carol}=agent:carol`,
    `${TOKENS.dave}=agent:dave`,
    `${TOKENS.erin}=agent:erin`,
    `${TOKENS.frank}=agent:frank`,
    `${TOKENS.supervisor}=supervisor:sue`,
    `${TOKENS.admin}=admin:ada`,
    `${TOKENS.warehouse}=warehouse:wendy`,
    `${TOKENS.ops}=ops:olga`,
  ].join(','),
  // A complaint continues as new every hundred events or so: the long timeline below spans several runs.
  COMPLAINT_HISTORY_LIMIT: '100',
});

const { call, capturedOrder } = apiClient(() => stack.config.publicUrl, TOKENS.system);

const CABLE = 'ACC-ANKER-USBC1M';
/** Two cables at 39.00 and the 8.00 shipping fee. */
const CAPTURED = CAPTURED_CABLES;

const complaintBody = (extra: Record<string, unknown> = {}) => ({
  channel: 'phone',
  customerId: 'C-1001',
  category: 'product_quality',
  target: 'USB-C cable',
  matter: 'Cable stopped charging',
  reason: 'The cable stopped charging after two days.',
  contact: { name: 'Li Wei', phone: '13800138000' },
  ...extra,
});

const open = (extra: Record<string, unknown> = {}, token = TOKENS.system, headers: Record<string, string> = {}) =>
  call('POST', '/v1/complaints', complaintBody(extra), token, headers);

const act = (complaintId: string, action: string, body: unknown, token: string) =>
  call('POST', `/v1/complaints/${complaintId}/${action}`, body, token);

/** Polls the complaint until `ready` holds. */
async function untilComplaint(complaintId: string, ready: (view: Record<string, any>) => boolean, seconds = 20) {
  for (let i = 0; i < seconds * 10; i += 1) {
    const { body } = await call('GET', `/v1/complaints/${complaintId}`);
    if (ready(body)) return body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`complaint ${complaintId} never reached the expected state`);
}

async function workflowExists(complaintId: string): Promise<boolean> {
  try {
    await stack.temporal.client.workflow.getHandle(complaintWorkflowId(complaintId)).describe();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw error;
  }
}

async function openCounts(teamId: string): Promise<Record<string, number>> {
  const agents = await call('GET', `/v1/agents?teamId=${teamId}`, undefined, TOKENS.alice);
  expect(agents.status).toBe(200);
  return Object.fromEntries(
    agents.body.items.map((a: { agentId: string; openComplaints: number }) => [a.agentId, a.openComplaints]),
  );
}

const kinds = (view: Record<string, any>) => view.timeline.map((entry: { kind: string }) => entry.kind);

let orderId: string;

beforeAll(async () => {
  orderId = await capturedOrder(TOKENS.ops);
});

describe('staff', () => {
  test('the demo staff goes off duty: the tests’ own teams take every complaint', async () => {
    const demo = await call('GET', '/v1/agents?onDuty=true&limit=200', undefined, TOKENS.supervisor);
    expect(demo.status).toBe(200);
    for (const { agentId } of demo.body.items as { agentId: string }[]) {
      const off = await call('POST', `/v1/agents/${agentId}/duty`, { onDuty: false }, TOKENS.supervisor);
      expect(off.status).toBe(200);
      expect(off.body).toMatchObject({ agent: { agentId, onDuty: false }, signalled: 0 });
    }
    expect((await call('GET', '/v1/agents?onDuty=true', undefined, TOKENS.ops)).body.total).toBe(0);
  });

  test('teams and agents are set up by supervisors and admins, and refused otherwise', async () => {
    const put = (path: string, body: unknown, token = TOKENS.supervisor) => call('PUT', path, body, token);
    const quality = await put('/v1/complaint-teams/t-quality', {
      name: 'Product quality',
      categories: ['product_quality'],
      supervisor: 'sue',
    });
    expect(quality.status).toBe(201);
    expect(quality.body).toMatchObject({
      teamId: 't-quality',
      categories: ['product_quality'],
      supervisor: 'sue',
      agents: 0,
      onDuty: 0,
    });
    // The same again replaces it: 200.
    const again = await put('/v1/complaint-teams/t-quality', {
      name: 'Quality',
      categories: ['product_quality'],
      supervisor: 'sue',
    });
    expect(again.status).toBe(200);
    expect(again.body.name).toBe('Quality');
    expect(
      (await put('/v1/complaint-teams/t-logistics', { name: 'Logistics', categories: ['logistics'] })).status,
    ).toBe(201);
    expect(
      (await put('/v1/complaint-teams/t-service', { name: 'After sales', categories: ['after_sales'] }, TOKENS.admin))
        .status,
    ).toBe(201);

    const noCategory = await put('/v1/complaint-teams/empty', { name: 'Nothing', categories: [] });
    expect(noCategory.status).toBe(400);
    expect(noCategory.body.errors).toEqual([{ field: 'categories', reason: expect.any(String) }]);
    const badCategory = await put('/v1/complaint-teams/bad', { name: 'Bad', categories: ['weather'] });
    expect(badCategory.status).toBe(400);
    expect((await put('/v1/complaint-teams/mine', { name: 'Mine', categories: ['staff'] }, TOKENS.alice)).status).toBe(
      403,
    );

    const agents: [Agent | 'gina', string, string][] = [
      ['alice', 't-quality', 'junior'],
      ['bob', 't-quality', 'junior'],
      ['carol', 't-logistics', 'junior'],
      ['dave', 't-logistics', 'junior'],
      ['erin', 't-service', 'senior'],
      ['gina', 't-service', 'junior'],
    ];
    for (const [agentId, teamId, seniority] of agents) {
      const created = await put(`/v1/agents/${agentId}`, { name: agentId, teamId, seniority, onDuty: true });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ agentId, teamId, seniority, skills: [], onDuty: true, openComplaints: 0 });
    }
    const unknownTeam = await put('/v1/agents/henry', { name: 'Henry', teamId: 'nobody', seniority: 'junior' });
    expect(unknownTeam.status).toBe(422);
    expect(unknownTeam.body.errors).toEqual([{ field: 'teamId', reason: 'no such team' }]);
    const badSkill = await put('/v1/agents/henry', {
      name: 'Henry',
      teamId: 't-quality',
      seniority: 'junior',
      skills: ['cooking'],
    });
    expect(badSkill.status).toBe(400);
    expect(
      (await put('/v1/agents/henry', { name: 'H', teamId: 't-quality', seniority: 'junior' }, TOKENS.bob)).status,
    ).toBe(403);

    const teams = await call('GET', '/v1/complaint-teams', undefined, TOKENS.ops);
    expect(teams.status).toBe(200);
    const ours = teams.body.items.filter((t: { teamId: string }) => t.teamId.startsWith('t-'));
    expect(ours.map((t: { teamId: string; onDuty: number }) => [t.teamId, t.onDuty])).toEqual([
      ['t-logistics', 2],
      ['t-quality', 2],
      ['t-service', 2],
    ]);
    const onDuty = await call('GET', '/v1/agents?onDuty=true', undefined, TOKENS.alice);
    expect(onDuty.body.total).toBe(6);
    expect(await openCounts('t-quality')).toEqual({ alice: 0, bob: 0 });

    const audit = await call('GET', '/v1/audit?action=complaint_agent.put', undefined, TOKENS.ops);
    expect(audit.body.items.map((row: { result: string }) => row.result).sort()).toEqual([
      ...Array(6).fill('ok'),
      'rejected',
    ]);
  });

  test('an agent changes only their own duty', async () => {
    const other = await call('POST', '/v1/agents/bob/duty', { onDuty: false }, TOKENS.alice);
    expect(other.status).toBe(403);
    expect(other.type).toContain('application/problem+json');
    const unknown = await call('POST', '/v1/agents/nobody/duty', { onDuty: true }, TOKENS.supervisor);
    expect(unknown.status).toBe(404);
    const own = await call('POST', '/v1/agents/alice/duty', { onDuty: true }, TOKENS.alice);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ agent: { agentId: 'alice', onDuty: true }, signalled: 0 });
    expect((await call('POST', '/v1/agents/alice/duty', {}, TOKENS.alice)).status).toBe(400);
  });
});

describe('refused before any workflow starts', () => {
  test.each([
    ['a bad phone number', { contact: { name: 'Li Wei', phone: '12345' } }, 'contact.phone'],
    ['a one-character name', { contact: { name: 'L', phone: '13800138000' } }, 'contact.name'],
    ['a name of 31 characters', { contact: { name: 'x'.repeat(31), email: 'li@example.com' } }, 'contact.name'],
    ['neither phone nor email', { contact: { name: 'Li Wei' } }, 'contact'],
    ['a bad email', { contact: { name: 'Li Wei', email: 'not-an-email' } }, 'contact.email'],
    ['no matter', { matter: undefined }, 'matter'],
    ['a blank reason', { reason: '   ' }, 'reason'],
    ['NUL in the reason', { reason: 'broken\u0000' }, 'reason'],
    ['a lone surrogate in the target', { target: 'cable\ud800' }, 'target'],
    ['an unknown category', { category: 'weather' }, 'category'],
    ['an unknown channel', { channel: 'pigeon' }, 'channel'],
    ['an unknown priority', { priority: 'someday' }, 'priority'],
  ])('%s is a 400 naming the field', async (_what, change, field) => {
    const complaintId = uniqueId('bad');
    const answer = await open({ complaintId, ...change });
    expect(answer.status).toBe(400);
    expect(answer.type).toContain('application/problem+json');
    expect(answer.body.errors).toEqual([{ field, reason: expect.any(String) }]);
    expect(await workflowExists(complaintId)).toBe(false);
    expect((await call('GET', `/v1/complaints/${complaintId}`)).status).toBe(404);
  });

  test('an unknown customer, or an order that is not theirs, is a 422 naming the field', async () => {
    const complaintId = uniqueId('rule');
    const nobody = await open({ complaintId, customerId: 'C-9999' });
    expect(nobody.status).toBe(422);
    expect(nobody.body.type).toMatch(/unknown-customer$/);
    expect(nobody.body.errors).toEqual([{ field: 'customerId', reason: 'no such customer' }]);

    const notTheirs = await open({ complaintId, customerId: 'C-1002', orderId });
    expect(notTheirs.status).toBe(422);
    expect(notTheirs.body.type).toMatch(/rule-violation$/);
    expect(notTheirs.body.errors).toEqual([{ field: 'orderId', reason: expect.stringContaining('C-1002') }]);

    const noOrder = await open({ complaintId, orderId: 'no-such-order' });
    expect(noOrder.status).toBe(422);
    expect(noOrder.body.errors).toEqual([{ field: 'orderId', reason: 'no such order' }]);

    expect(await workflowExists(complaintId)).toBe(false);
    expect((await call('GET', `/v1/complaints/${complaintId}`)).status).toBe(404);
    const audit = await call('GET', `/v1/audit?caseType=complaint&caseId=${complaintId}`, undefined, TOKENS.ops);
    expect(audit.body.items.map((row: { result: string }) => row.result)).toEqual(Array(3).fill('rejected'));
  });

  test('the wrong role is refused with 403', async () => {
    expect((await open({}, TOKENS.warehouse)).status).toBe(403);
    expect((await open({}, TOKENS.ops)).status).toBe(403);
    expect((await call('GET', '/v1/complaints', undefined, TOKENS.system)).status).toBe(403);
    expect((await act('any', 'respond', { text: 'hello' }, TOKENS.system)).status).toBe(403);
    expect((await act('any', 'assign', { agentId: 'bob' }, TOKENS.alice)).status).toBe(403);
    expect((await act('any', 'rate', { score: 5 }, TOKENS.warehouse)).status).toBe(403);
  });
});

describe('a complaint from opening to its rating', () => {
  /** Opened in the tests below; the first goes to one quality agent, the second to the other. */
  let first: Record<string, any>;
  let second: Record<string, any>;
  const tokenOf = (view: Record<string, any>) => TOKENS[view.assignee.agentId as Agent];

  test('opened, each complaint goes to the on-duty agent with the fewest open complaints', async () => {
    const complaintId = uniqueId('path');
    const opened = await open({ complaintId, orderId });
    expect(opened.status).toBe(201);
    expect(opened.location).toBe(`/v1/complaints/${complaintId}`);
    first = opened.body;
    expect(first).toMatchObject({
      complaintId,
      orderId,
      customerId: 'C-1001',
      customerLevel: 'regular',
      currency: 'CNY',
      channel: 'phone',
      category: 'product_quality',
      priority: 'normal',
      status: 'OPEN',
      needsSenior: false,
      requestedBy: { principal: 'shop', role: 'system' },
      assignee: { teamId: 't-quality', supervisor: 'sue', seniority: 'junior', by: 'system' },
    });
    expect(['alice', 'bob']).toContain(first.assignee.agentId);
    expect(first.firstResponseDeadline).toEqual(expect.any(String));
    expect(kinds(first)).toEqual(['opened', 'assigned']);

    const counts = await openCounts('t-quality');
    expect(counts[first.assignee.agentId]).toBe(1);
    const secondOpened = await open({ target: 'Charger', matter: 'Charger is hot' });
    expect(secondOpened.status).toBe(201);
    second = secondOpened.body;
    expect(second.assignee.agentId).not.toBe(first.assignee.agentId);
    expect(['alice', 'bob']).toContain(second.assignee.agentId);
    expect(second.orderId).toBeUndefined();
    expect(await openCounts('t-quality')).toEqual({ alice: 1, bob: 1 });
  });

  test('an agent not assigned cannot work it, nor can an agent reassign it', async () => {
    const complaintId = first.complaintId as string;
    const other = TOKENS[second.assignee.agentId as Agent];
    const respond = await act(complaintId, 'respond', { text: 'Sorry about that' }, other);
    expect(respond.status).toBe(403);
    expect(respond.body.type).toMatch(/forbidden$/);
    expect(
      (await act(complaintId, 'resolve', { remedy: { kind: 'explanation' }, explanation: 'x' }, other)).status,
    ).toBe(403);
    const reassign = await act(complaintId, 'assign', { agentId: second.assignee.agentId }, tokenOf(first));
    expect(reassign.status).toBe(403);
    const noText = await act(complaintId, 'respond', { text: ' ' }, tokenOf(first));
    expect(noText.status).toBe(400);
    expect(noText.body.errors).toEqual([{ field: 'text', reason: expect.any(String) }]);
    const tooLong = await act(complaintId, 'note', { text: 'x'.repeat(4001) }, tokenOf(first));
    expect(tooLong.status).toBe(400);
    const nul = await act(complaintId, 'note', { text: 'a\u0000b' }, tokenOf(first));
    expect(nul.status).toBe(400);
    expect(nul.body.errors).toEqual([{ field: 'text', reason: expect.any(String) }]);
    const early = await act(complaintId, 'rate', { score: 5 }, TOKENS.system);
    expect(early.status).toBe(409);
    const view = await call('GET', `/v1/complaints/${complaintId}`);
    expect(kinds(view.body)).toEqual(['opened', 'assigned']);
  });

  test('respond, note, resolve with an explanation, rate: CLOSED, with every entry on the timeline', async () => {
    const complaintId = first.complaintId as string;
    const agent = first.assignee.agentId as Agent;
    const token = tokenOf(first);

    const responded = await act(complaintId, 'respond', { text: '  We are sorry; could you send a photo?  ' }, token);
    expect(responded.status).toBe(200);
    expect(responded.body).toMatchObject({ status: 'IN_PROGRESS', firstResponseAt: expect.any(String) });
    expect(responded.body.firstResponseDeadline).toBeUndefined();
    const noted = await act(complaintId, 'note', { text: 'Known batch problem' }, token);
    expect(noted.status).toBe(200);
    const resolved = await act(
      complaintId,
      'resolve',
      { remedy: { kind: 'explanation' }, explanation: 'A replacement batch is on its way to the shops.' },
      token,
    );
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      status: 'RESOLVED',
      resolution: { number: 1, remedy: { kind: 'explanation' }, actor: agent },
      resolvedAt: expect.any(String),
    });
    const rated = await act(complaintId, 'rate', { score: 4, comment: 'Quick answer' }, TOKENS.system);
    expect(rated.status).toBe(200);
    expect(rated.body).toMatchObject({
      status: 'CLOSED',
      outcome: 'rated',
      rating: { score: 4, comment: 'Quick answer' },
      closedAt: expect.any(String),
    });

    const view = (await call('GET', `/v1/complaints/${complaintId}`, undefined, TOKENS.alice)).body;
    expect(view.status).toBe('CLOSED');
    expect(kinds(view)).toEqual(['opened', 'assigned', 'response', 'note', 'resolved', 'rated', 'closed']);
    expect(view.timelineCount).toBe(7);
    expect(view.timeline.map((entry: { seq: number }) => entry.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(view.timeline.map((entry: { actor: string }) => entry.actor)).toEqual([
      'shop',
      'system',
      agent,
      agent,
      agent,
      'shop',
      'shop',
    ]);
    const times = view.timeline.map((entry: { at: string }) => Date.parse(entry.at));
    expect(times.every((t: number) => !Number.isNaN(t))).toBe(true);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(view.timeline[2]).toMatchObject({
      kind: 'response',
      text: 'We are sorry; could you send a photo?',
      internal: false,
      role: 'agent',
    });
    expect(view.timeline[3]).toMatchObject({ kind: 'note', text: 'Known batch problem', internal: true });
    expect(view.history.map((h: { to: string }) => h.to)).toEqual(['OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED']);

    // What the API answers once Temporal no longer holds the complaint. A run that continued as new writes its row a
    // moment after it answers queries.
    let stored = await complaintViewFromDb(stack.orm.em.fork(), complaintId);
    for (let i = 0; i < 50 && stored?.runs !== view.runs; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stored = await complaintViewFromDb(stack.orm.em.fork(), complaintId);
    }
    expect(stored).toEqual({
      ...view,
      assignee: { ...view.assignee, at: expect.any(String) },
      rating: { ...view.rating, at: expect.any(String) },
    });

    const audit = await call('GET', `/v1/audit?caseType=complaint&caseId=${complaintId}`, undefined, TOKENS.ops);
    const apiRows = audit.body.items
      .filter((row: { action: string; principal: string }) => row.principal !== 'system')
      .map((row: { action: string; principal: string; result: string }) => [row.action, row.principal, row.result])
      .reverse();
    expect(apiRows).toEqual(
      expect.arrayContaining([
        ['complaint.open', 'shop', 'ok'],
        ['complaint.respond', agent, 'ok'],
        ['complaint.resolve', agent, 'ok'],
        ['complaint.rate', 'shop', 'ok'],
      ]),
    );
  });

  test('a supervisor reassigns a complaint; an unknown agent is a 422', async () => {
    const complaintId = second.complaintId as string;
    const to = first.assignee.agentId as Agent;
    const unknown = await act(complaintId, 'assign', { agentId: 'nobody' }, TOKENS.supervisor);
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors).toEqual([{ field: 'agentId', reason: 'no such agent' }]);
    const reassigned = await act(
      complaintId,
      'assign',
      { agentId: to, reason: 'knows the product' },
      TOKENS.supervisor,
    );
    expect(reassigned.status).toBe(200);
    expect(reassigned.body.assignee).toMatchObject({ agentId: to, teamId: 't-quality', by: 'sue' });
    expect(reassigned.body.timeline.at(-1)).toMatchObject({
      kind: 'assigned',
      actor: 'sue',
      role: 'supervisor',
      text: 'knows the product',
    });
    // The agent who had it no longer may answer; the new one may.
    expect((await act(complaintId, 'respond', { text: 'On it' }, tokenOf(second))).status).toBe(403);
    expect((await act(complaintId, 'respond', { text: 'On it' }, TOKENS[to])).status).toBe(200);
  });

  test('the customer answers a question, disputes a resolution, and reopens the closed complaint', async () => {
    const opened = await open({ matter: 'Wrong colour' });
    expect(opened.status).toBe(201);
    const complaintId = opened.body.complaintId as string;
    const token = tokenOf(opened.body);

    const asked = await act(complaintId, 'respond', { text: 'Which colour?', awaitCustomer: true }, token);
    expect(asked.body).toMatchObject({ status: 'WAITING_CUSTOMER', slaPaused: true });
    const replied = await act(complaintId, 'reply', { text: 'Blue' }, TOKENS.system);
    expect(replied.body).toMatchObject({ status: 'IN_PROGRESS', slaPaused: false });
    const priority = await act(complaintId, 'priority', { priority: 'high', reason: 'second complaint' }, token);
    expect(priority.body.priority).toBe('high');
    const explanation = { remedy: { kind: 'explanation' }, explanation: 'Blue is out of stock' };
    expect((await act(complaintId, 'resolve', explanation, token)).body.status).toBe('RESOLVED');
    const disputed = await act(complaintId, 'dispute', { reason: 'I want blue' }, TOKENS.system);
    expect(disputed.body.status).toBe('IN_PROGRESS');
    const again = await act(complaintId, 'resolve', { ...explanation, explanation: 'Blue is back' }, token);
    expect(again.body.resolution.number).toBe(2);
    const accepted = await call('POST', `/v1/complaints/${complaintId}/accept`, undefined, TOKENS.system);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ status: 'RESOLVED', accepted: true });
    expect((await act(complaintId, 'rate', { score: 6 }, TOKENS.system)).status).toBe(400);
    expect((await act(complaintId, 'rate', { score: 5 }, TOKENS.system)).body.status).toBe('CLOSED');
    const reopened = await act(complaintId, 'reopen', { reason: 'Blue arrived broken' }, TOKENS.system);
    expect(reopened.body).toMatchObject({ status: 'IN_PROGRESS', reopenCount: 1 });
    expect(kinds(reopened.body)).toEqual([
      'opened',
      'assigned',
      'response',
      'customer_message',
      'priority_changed',
      'resolved',
      'disputed',
      'resolved',
      'accepted',
      'rated',
      'closed',
      'reopened',
    ]);
  });

  test('the view holds the whole timeline across the runs the complaint continued as new into', async () => {
    const complaintId = `cmp-long-${Date.now()}`;
    const opened = await open({ matter: 'Many notes', complaintId });
    const token = tokenOf(opened.body);
    for (let i = 0; i < 60; i += 1) {
      expect((await act(complaintId, 'note', { text: `note ${i}` }, token)).status).toBe(200);
    }
    const last = await act(complaintId, 'note', { text: 'the last note' }, token);
    expect(last.body.timelineCount).toBe(63);
    expect(last.body.timeline).toHaveLength(63);
    const view = (await call('GET', `/v1/complaints/${complaintId}`)).body;
    expect(view.timeline).toHaveLength(63);
    expect(view.timeline.map((entry: { seq: number }) => entry.seq)).toEqual([...Array(63).keys()]);
    expect(view.timeline[2]).toMatchObject({ kind: 'note', text: 'note 0', internal: true });
    expect(view.timeline[62].text).toBe('the last note');
    expect(view.runs).toBeGreaterThan(1);
    // The latest run still knows the request that opened the case: a repeat of it is answered, not started again.
    const repeated = await open({ matter: 'Many notes', complaintId });
    expect(repeated.status).toBe(200);
    expect(repeated.body).toMatchObject({ complaintId, timelineCount: 63, runs: view.runs });
    const other = await open({ matter: 'Something else', complaintId });
    expect(other.status).toBe(409);
  });
});

describe('duty', () => {
  test('an agent going off duty hands their open complaints to another on-duty agent', async () => {
    const opened = await open({ category: 'logistics', target: 'Courier', matter: 'Parcel left in the rain' });
    expect(opened.status).toBe(201);
    const complaintId = opened.body.complaintId as string;
    const from = opened.body.assignee.agentId as Agent;
    const to = from === 'carol' ? 'dave' : 'carol';
    expect(['carol', 'dave']).toContain(from);

    const off = await call('POST', `/v1/agents/${from}/duty`, { onDuty: false }, TOKENS[from]);
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ agent: { agentId: from, onDuty: false }, signalled: 1 });
    const handed = await untilComplaint(complaintId, (v) => v.assignee?.agentId === to);
    expect(handed.assignee).toMatchObject({ teamId: 't-logistics', by: 'system' });
    expect(handed.timeline.at(-1)).toMatchObject({ kind: 'assigned', detail: expect.objectContaining({ from }) });
    expect(await openCounts('t-logistics')).toEqual({ [from]: 0, [to]: 1 });
    // Repeating the call tells nothing that is still the agent's: it has none left.
    const repeated = await call('POST', `/v1/agents/${from}/duty`, { onDuty: false }, TOKENS.supervisor);
    expect(repeated.body.signalled).toBe(0);
    expect((await call('POST', `/v1/agents/${from}/duty`, { onDuty: true }, TOKENS[from])).status).toBe(200);
  });

  test('an agent coming on duty takes the complaints nobody could', async () => {
    const opened = await open({ category: 'staff', target: 'Courier Wang', matter: 'Rude on the phone' });
    expect(opened.status).toBe(201);
    expect(opened.body.status).toBe('OPEN');
    expect(opened.body.assignee).toBeUndefined();
    const complaintId = opened.body.complaintId as string;
    const flagged = await untilComplaint(complaintId, (v) => v.needsAttention);
    expect(flagged.attentionReasons).toContain('complaint_unassigned');

    expect(
      (await call('PUT', '/v1/complaint-teams/t-people', { name: 'People', categories: ['staff'] }, TOKENS.admin))
        .status,
    ).toBe(201);
    const created = await call(
      'PUT',
      '/v1/agents/frank',
      { name: 'Frank', teamId: 't-people', seniority: 'junior' },
      TOKENS.supervisor,
    );
    expect(created.body.onDuty).toBe(false);
    const on = await call('POST', '/v1/agents/frank/duty', { onDuty: true }, TOKENS.frank);
    expect(on.status).toBe(200);
    expect(on.body.signalled).toBeGreaterThanOrEqual(1);
    const assigned = await untilComplaint(complaintId, (v) => v.assignee?.agentId === 'frank');
    expect(assigned).toMatchObject({ needsAttention: false, assignee: { teamId: 't-people' } });
  });

  test('a VIP’s complaint goes to a senior agent', async () => {
    const opened = await open({
      customerId: 'C-1002',
      category: 'after_sales',
      contact: { name: 'Zhang Min', email: 'zm@example.com' },
    });
    expect(opened.status).toBe(201);
    expect(opened.body).toMatchObject({
      customerLevel: 'vip',
      needsSenior: true,
      assignee: { agentId: 'erin', seniority: 'senior' },
    });
  });
});

describe('the queue', () => {
  test('filters by assignee, status and priority, and sorts by SLA deadline', async () => {
    const customerId = 'C-1003';
    const normal = await open({
      customerId,
      category: 'after_sales',
      contact: { name: 'Wang Fang', phone: '+8613900139000' },
    });
    const urgent = await open({
      customerId,
      category: 'after_sales',
      priority: 'urgent',
      contact: { name: 'Wang Fang', phone: '+8613900139000' },
    });
    expect([normal.status, urgent.status]).toEqual([201, 201]);
    const ids = (body: Record<string, any>) => body.items.map((item: { complaintId: string }) => item.complaintId);
    const queue = (query: string) =>
      call('GET', `/v1/complaints?customerId=${customerId}&${query}`, undefined, TOKENS.alice);

    // The snapshot with the SLA deadline is written a moment after the answer.
    for (let i = 0; i < 50; i += 1) {
      const { body } = await queue('');
      if (body.items.every((item: { slaDeadline?: string }) => item.slaDeadline)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const oldest = await queue('');
    expect(oldest.status).toBe(200);
    expect(ids(oldest.body)).toEqual([normal.body.complaintId, urgent.body.complaintId]);
    expect(oldest.body.items[0]).toMatchObject({
      customerId,
      category: 'after_sales',
      priority: 'normal',
      status: 'OPEN',
      agentId: normal.body.assignee.agentId,
      teamId: 't-service',
      needsAttention: false,
      escalationLevel: 0,
      slaDeadline: expect.any(String),
    });
    expect(oldest.body.items[0].orderId).toBeUndefined();
    expect(oldest.body.items[0].ageSeconds).toBeGreaterThanOrEqual(0);

    expect(ids((await queue('sort=sla')).body)).toEqual([urgent.body.complaintId, normal.body.complaintId]);
    expect(ids((await queue('priority=urgent,high')).body)).toEqual([urgent.body.complaintId]);
    expect(ids((await queue('status=CLOSED')).body)).toEqual([]);
    expect(ids((await queue('status=OPEN,IN_PROGRESS&breached=false')).body)).toHaveLength(2);
    const agent = normal.body.assignee.agentId as string;
    const mine = await queue(`assignee=${agent}`);
    expect(mine.body.items.every((item: { agentId: string }) => item.agentId === agent)).toBe(true);
    expect(ids(mine.body)).toContain(normal.body.complaintId);
    const soon = new Date(Date.now() + 60 * 60_000).toISOString();
    expect(ids((await queue(`slaBefore=${soon}`)).body)).toEqual([urgent.body.complaintId]);
    expect(ids((await queue('limit=1&offset=1')).body)).toEqual([urgent.body.complaintId]);

    const closed = await call('GET', '/v1/complaints?status=CLOSED&category=product_quality', undefined, TOKENS.ops);
    expect(closed.body.total).toBeGreaterThanOrEqual(1);
    expect(closed.body.items.every((item: { status: string }) => item.status === 'CLOSED')).toBe(true);
    expect((await call('GET', '/v1/complaints?status=LOST', undefined, TOKENS.alice)).status).toBe(400);
    expect((await call('GET', '/v1/complaints?sort=random', undefined, TOKENS.alice)).status).toBe(400);
  });
});

describe('starting is idempotent', () => {
  test('the same request again is the same complaint; another one under its id is a conflict', async () => {
    const complaintId = uniqueId('same');
    const first = await open({ complaintId });
    expect(first.status).toBe(201);
    const again = await open({ complaintId });
    expect(again.status).toBe(200);
    expect(again.body.complaintId).toBe(complaintId);
    expect(again.body.assignee).toEqual(first.body.assignee);
    const different = await open({ complaintId, matter: 'Something else' });
    expect(different.status).toBe(409);
    expect(different.body.type).toMatch(/conflict$/);

    const key = uniqueId('key');
    const byKey = await open({}, TOKENS.system, { 'idempotency-key': key });
    expect(byKey.status).toBe(201);
    expect(byKey.body.complaintId).toBe(key);
    expect((await open({}, TOKENS.system, { 'idempotency-key': key })).status).toBe(200);
    const both = await open({ complaintId: 'other' }, TOKENS.system, { 'idempotency-key': key });
    expect(both.status).toBe(400);
    expect(both.body.errors).toEqual([{ field: 'complaintId', reason: expect.any(String) }]);
  });
});

describe('remedies', () => {
  test('a refund remedy starts a refund case of the complaint’s order', async () => {
    const opened = await open({ category: 'after_sales', orderId, matter: 'Charged twice for shipping' });
    expect(opened.status).toBe(201);
    const complaintId = opened.body.complaintId as string;
    const token = TOKENS[opened.body.assignee.agentId as Agent] ?? TOKENS.supervisor;

    const tooMuch = await act(
      complaintId,
      'resolve',
      { remedy: { kind: 'refund', amount: CAPTURED + 1 }, explanation: 'Money back' },
      token,
    );
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.errors).toEqual([{ field: 'remedy.amount', reason: expect.stringContaining(`${CAPTURED}`) }]);
    const notDelivered = await act(
      complaintId,
      'resolve',
      {
        remedy: {
          kind: 'return',
          lines: [{ sku: CABLE, quantity: 1 }],
          reason: 'quality',
          type: 'refund',
          method: 'pickup',
        },
        explanation: 'Send it back',
      },
      token,
    );
    expect(notDelivered.status).toBe(422);
    expect(notDelivered.body.errors).toEqual([{ field: 'remedy.kind', reason: expect.stringContaining('delivered') }]);
    const badAmount = await act(
      complaintId,
      'resolve',
      { remedy: { kind: 'refund', amount: 0 }, explanation: 'x' },
      token,
    );
    expect(badAmount.status).toBe(400);
    expect(badAmount.body.errors).toEqual([{ field: 'remedy.amount', reason: expect.any(String) }]);

    const resolved = await act(
      complaintId,
      'resolve',
      { remedy: { kind: 'refund', amount: 800 }, explanation: 'The shipping fee back' },
      TOKENS.supervisor,
    );
    expect(resolved.status).toBe(200);
    expect(resolved.body.resolution).toMatchObject({
      remedy: { kind: 'refund', amount: 800 },
      refundId: expect.any(String),
    });
    const refundId = resolved.body.resolution.refundId as string;
    const refund = await call('GET', `/v1/refunds/${refundId}`, undefined, TOKENS.alice);
    expect(refund.status).toBe(200);
    expect(refund.body).toMatchObject({
      refundId,
      orderId,
      amount: 800,
      origin: 'complaint',
      reason: 'complaint_resolution',
    });
  });

  test('a refund needs a complaint about an order; goodwill above the agent limit needs a supervisor', async () => {
    const opened = await open({ category: 'after_sales', matter: 'Late answer' });
    const complaintId = opened.body.complaintId as string;
    const toErin = await act(complaintId, 'assign', { agentId: 'erin' }, TOKENS.supervisor);
    expect(toErin.body.assignee.agentId).toBe('erin');

    const noOrder = await act(
      complaintId,
      'resolve',
      { remedy: { kind: 'refund', amount: 100 }, explanation: 'x' },
      TOKENS.erin,
    );
    expect(noOrder.status).toBe(422);
    expect(noOrder.body.errors).toEqual([{ field: 'remedy.kind', reason: expect.stringContaining('order') }]);

    const limit = stack.config.COMPLAINT_GOODWILL_AGENT_LIMIT;
    const generous = await act(
      complaintId,
      'resolve',
      { remedy: { kind: 'goodwill_credit', amount: limit + 1 }, explanation: 'Sorry' },
      TOKENS.erin,
    );
    expect(generous.status).toBe(403);
    expect(generous.body.type).toMatch(/forbidden$/);
    expect((await call('GET', `/v1/complaints/${complaintId}`)).body.status).not.toBe('RESOLVED');
    const granted = await act(
      complaintId,
      'resolve',
      { remedy: { kind: 'goodwill_credit', amount: limit + 1 }, explanation: 'Sorry for the wait' },
      TOKENS.supervisor,
    );
    expect(granted.status).toBe(200);
    expect(granted.body.resolution).toMatchObject({
      remedy: { kind: 'goodwill_credit', amount: limit + 1 },
      creditReference: expect.any(String),
    });
  });
});
