import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Pool } from 'pg';
import type { Activities } from '../../activities';
import type { HistoryEntry } from '../../domain/case';
import {
  COMPLAINT_CATEGORIES,
  type ComplaintCategory,
  type ComplaintStatus,
  type ComplaintView,
  type TimelineEntry,
} from '../../domain/complaint';
import { DEMO_AGENTS } from '../../db/seed';
import { activityFailure } from '../helpers/assertions';
import { activityHarness } from '../helpers/database';
import { uniqueId } from '../helpers/names';

/** The complaint case's activities against a real PostgreSQL. */

const CUSTOMER = 'C-1001'; // notified by email and sms
const HOUR = 3_600_000;

const harness = activityHarness('complaint-activities');
const { row, count } = harness;
let pool: Pool;
let act: Activities;

beforeAll(() => {
  ({ pool, act } = harness);
});

function complaintView(complaintId: string, overrides: Partial<ComplaintView> = {}): ComplaintView {
  return {
    complaintId,
    channel: 'app',
    customerId: CUSTOMER,
    customerLevel: 'regular',
    currency: 'CNY',
    category: 'logistics',
    target: 'SF Express',
    matter: 'late delivery',
    reason: 'the parcel came a week late',
    contact: { name: 'Li Wei', phone: '+8613800138000' },
    priority: 'normal',
    status: 'OPEN',
    requestedBy: { principal: 'dev-agent', role: 'agent' },
    requestedAt: '2026-11-24T08:00:00.000Z',
    needsSenior: false,
    slaPaused: false,
    breaches: [],
    escalationLevel: 0,
    reopenCount: 0,
    timeline: [],
    timelineCount: 0,
    runs: 1,
    history: [],
    needsAttention: false,
    attentionReasons: [],
    ...overrides,
  };
}

/**
 * Each test's agents take categories of its own, so neither the seeded staff nor another test's agents compete for
 * its complaints; the activities compare categories as text and never list them.
 */
const ownCategory = () => uniqueId('cat') as ComplaintCategory;

/** A complaint recorded as its workflow would before assigning it, assigned to `assignee` when given. */
async function complaint(
  category: ComplaintCategory,
  { status = 'OPEN', assignee }: { status?: ComplaintStatus; assignee?: string } = {},
): Promise<string> {
  const complaintId = uniqueId('cmp');
  await act.recordComplaint({
    version: 1,
    view: complaintView(complaintId, { category, status }),
    entries: [],
    requestHash: 'h',
  });
  if (assignee) await pool.query('update complaints set assignee = $2 where id = $1', [complaintId, assignee]);
  return complaintId;
}

async function team(categories: string[], supervisor: string | null = 'sue'): Promise<string> {
  const id = uniqueId('team');
  await pool.query('insert into complaint_teams (id, name, categories, supervisor) values ($1, $1, $2, $3)', [
    id,
    categories,
    supervisor,
  ]);
  return id;
}

async function agent(
  teamId: string,
  {
    id = uniqueId('agent'),
    onDuty = true,
    seniority = 'junior',
    skills = [],
    lastAssignedAt = null,
  }: { id?: string; onDuty?: boolean; seniority?: string; skills?: string[]; lastAssignedAt?: Date | null } = {},
): Promise<string> {
  await pool.query(
    `insert into complaint_agents (id, name, team_id, seniority, skills, on_duty, last_assigned_at)
     values ($1, $1, $2, $3, $4, $5, $6)`,
    [id, teamId, seniority, skills, onDuty, lastAssignedAt],
  );
  return id;
}

/** Gives an agent `n` more complaints in `status`. */
async function load(agentId: string, n: number, status: ComplaintStatus = 'IN_PROGRESS'): Promise<void> {
  for (let i = 0; i < n; i += 1) await complaint(ownCategory(), { status, assignee: agentId });
}

type AssignRequest = Parameters<Activities['assignComplaint']>[0];

/** One call of the activity, as the workflow makes it: its own activity id unless `env` repeats an earlier one. */
const assign = (
  req: AssignRequest,
  env = new MockActivityEnvironment({ activityId: uniqueId('assign') }),
): ReturnType<Activities['assignComplaint']> => env.run(act.assignComplaint, req);

const assignment = (complaintId: string) =>
  row<{ assignee: string | null; team_id: string | null; assigned: boolean; op: boolean }>(
    `select assignee, team_id, assigned_at is not null as assigned, assignment_op is not null as op
       from complaints where id = $1`,
    [complaintId],
  );

test("a complaint's row, timeline, history and notifications are written once; an older snapshot never overwrites a newer; the snapshot leaves the assignment alone", async () => {
  const complaintId = uniqueId('cmp');
  const entry = (seq: number, overrides: Partial<TimelineEntry> = {}): TimelineEntry => ({
    seq,
    kind: 'note',
    at: `2026-11-24T08:0${seq}:00.000Z`,
    actor: 'dev-agent',
    role: 'agent',
    internal: true,
    ...overrides,
  });
  const transition = (seq: number, from: ComplaintStatus | null, to: ComplaintStatus): HistoryEntry => ({
    seq,
    from,
    to,
    at: '2026-11-24T08:00:00.000Z',
    actor: 'dev-agent',
  });
  const opened = entry(0, { kind: 'opened', internal: false, text: 'the parcel came a week late' });
  const note = entry(1, { text: 'courier confirms the delay', detail: { waybill: 'SF123' } });
  const requested = {
    version: 1,
    view: complaintView(complaintId, {
      orderId: 'ord-cmp',
      timeline: [opened, note],
      timelineCount: 2,
      slaDeadline: '2026-11-24T10:00:00.000Z',
      firstResponseDeadline: '2026-11-24T10:00:00.000Z',
      resolutionDeadline: '2026-11-27T08:00:00.000Z',
    }),
    transition: transition(0, null, 'OPEN'),
    audit: { actor: { principal: 'dev-agent', role: 'agent' as const }, action: 'complaint.open' },
    entries: [opened, note],
    requestHash: 'hash-1',
  };
  const env = new MockActivityEnvironment({ activityId: uniqueId('record') });
  await env.run(act.recordComplaint, requested);
  await env.run(act.recordComplaint, requested);

  expect(
    await row(
      `select customer_id, order_id, channel, category, priority, status, target, matter, reason, contact, currency,
              customer_level, needs_senior, assignee, team_id, assigned_at, assignment_op, first_response_deadline,
              resolution_deadline, sla_paused, breaches, remedy, resolution, rating, timeline_count, runs, requested_by,
              requested_role, request_hash, needs_attention, sla_deadline, snapshot_version, created_at
         from complaints where id = $1`,
      [complaintId],
    ),
  ).toEqual({
    customer_id: CUSTOMER,
    order_id: 'ord-cmp',
    channel: 'app',
    category: 'logistics',
    priority: 'normal',
    status: 'OPEN',
    target: 'SF Express',
    matter: 'late delivery',
    reason: 'the parcel came a week late',
    contact: { name: 'Li Wei', phone: '+8613800138000' },
    currency: 'CNY',
    customer_level: 'regular',
    needs_senior: false,
    assignee: null,
    team_id: null,
    assigned_at: null,
    assignment_op: null,
    first_response_deadline: new Date('2026-11-24T10:00:00.000Z'),
    resolution_deadline: new Date('2026-11-27T08:00:00.000Z'),
    sla_paused: false,
    breaches: [],
    remedy: null,
    resolution: null,
    rating: null,
    timeline_count: 2,
    runs: 1,
    requested_by: 'dev-agent',
    requested_role: 'agent',
    request_hash: 'hash-1',
    needs_attention: false,
    sla_deadline: new Date('2026-11-24T10:00:00.000Z'),
    snapshot_version: 1,
    created_at: new Date('2026-11-24T08:00:00.000Z'),
  });
  const entries = () =>
    pool
      .query(
        `select seq, kind, at, actor, role, text, internal, detail from complaint_entries where complaint_id = $1
          order by seq`,
        [complaintId],
      )
      .then((result) => result.rows);
  expect(await entries()).toEqual([
    {
      seq: 0,
      kind: 'opened',
      at: new Date(opened.at),
      actor: 'dev-agent',
      role: 'agent',
      text: 'the parcel came a week late',
      internal: false,
      detail: null,
    },
    {
      seq: 1,
      kind: 'note',
      at: new Date(note.at),
      actor: 'dev-agent',
      role: 'agent',
      text: 'courier confirms the delay',
      internal: true,
      detail: { waybill: 'SF123' },
    },
  ]);
  expect(await count(`case_history where case_type = 'complaint' and case_id = $1`, [complaintId])).toBe(1);
  expect(await count(`audit_log where object_type = 'complaint' and object_id = $1`, [complaintId])).toBe(1);
  const { rows: outbox } = await pool.query(
    `select dedupe_key, case_type, order_id, template, payload from notification_outbox where case_id = $1
      order by dedupe_key`,
    [complaintId],
  );
  expect(outbox).toEqual(
    ['email', 'sms'].map((channel) => ({
      dedupe_key: `complaint:${complaintId}:0:${channel}`,
      case_type: 'complaint',
      order_id: null,
      template: 'complaint.open',
      payload: { complaintId, orderId: 'ord-cmp', category: 'logistics', priority: 'normal', status: 'OPEN' },
    })),
  );

  // Assigned, then a snapshot naming someone else (as a late one would) changes nothing of the assignment.
  const teamId = await team([ownCategory()]);
  const agentId = await agent(teamId);
  await assign({ complaintId, category: 'logistics', senior: false, agentId });
  const assigned = await assignment(complaintId);
  expect(assigned).toEqual({ assignee: agentId, team_id: teamId, assigned: true, op: true });

  const response = entry(2, { kind: 'response', internal: false, text: 'we are sorry' });
  const resolution = {
    number: 1,
    remedy: { kind: 'goodwill_credit' as const, amount: 2_000 },
    explanation: 'a week late',
    actor: 'dev-agent',
    at: '2026-11-24T09:00:00.000Z',
    creditReference: 'gw-1',
  };
  const closed = complaintView(complaintId, {
    orderId: 'ord-cmp',
    status: 'CLOSED',
    priority: 'high',
    assignee: {
      agentId: 'someone-else',
      teamId: 'elsewhere',
      seniority: 'senior',
      at: '2026-11-24T08:30:00.000Z',
      by: 'sue',
    },
    firstResponseAt: '2026-11-24T08:02:00.000Z',
    breaches: [{ level: 1, timer: 'resolution', at: '2026-11-24T08:50:00.000Z', to: 'sue' }],
    escalationLevel: 1,
    resolution,
    accepted: true,
    rating: { score: 4, comment: 'fine', at: '2026-11-24T09:30:00.000Z' },
    outcome: 'rated',
    resolvedAt: '2026-11-24T09:00:00.000Z',
    closedAt: '2026-11-24T09:30:00.000Z',
    reopenCount: 1,
    timelineCount: 3,
    runs: 2,
    needsAttention: true,
    attentionReasons: ['sla_breached'],
  });
  await act.recordComplaint({
    version: 3,
    view: closed,
    transition: transition(1, 'OPEN', 'CLOSED'),
    entries: [note, response],
    requestHash: 'hash-1',
  });
  // An older snapshot, late, with entries already stored.
  await act.recordComplaint({
    version: 2,
    view: complaintView(complaintId, { status: 'IN_PROGRESS', timelineCount: 3 }),
    entries: [response],
    requestHash: 'hash-1',
  });

  expect(
    await row(
      `select status, priority, first_response_at, breaches, escalation_level, remedy, resolution, accepted, rating,
              rating_comment, outcome, resolved_at, closed_at, reopen_count, timeline_count, runs, needs_attention,
              attention_reason, snapshot_version
         from complaints where id = $1`,
      [complaintId],
    ),
  ).toEqual({
    status: 'CLOSED',
    priority: 'high',
    first_response_at: new Date('2026-11-24T08:02:00.000Z'),
    breaches: [{ level: 1, timer: 'resolution', at: '2026-11-24T08:50:00.000Z', to: 'sue' }],
    escalation_level: 1,
    remedy: 'goodwill_credit',
    resolution,
    accepted: true,
    rating: 4,
    rating_comment: 'fine',
    outcome: 'rated',
    resolved_at: new Date('2026-11-24T09:00:00.000Z'),
    closed_at: new Date('2026-11-24T09:30:00.000Z'),
    reopen_count: 1,
    timeline_count: 3,
    runs: 2,
    needs_attention: true,
    attention_reason: 'sla_breached',
    snapshot_version: 3,
  });
  expect(await assignment(complaintId)).toEqual(assigned);
  expect((await entries()).map((e: { seq: number; kind: string }) => [e.seq, e.kind])).toEqual([
    [0, 'opened'],
    [1, 'note'],
    [2, 'response'],
  ]);
  const { rows: closedNotices } = await pool.query(`select payload from notification_outbox where dedupe_key like $1`, [
    `complaint:${complaintId}:1:%`,
  ]);
  expect(closedNotices.map((notice: { payload: unknown }) => notice.payload)).toEqual(
    ['email', 'sms'].map(() => ({
      complaintId,
      orderId: 'ord-cmp',
      category: 'logistics',
      priority: 'high',
      outcome: 'rated',
      status: 'CLOSED',
    })),
  );
});

test('the database refuses a rating outside 1-5 as data no retry can cure', async () => {
  const complaintId = uniqueId('cmp');
  const refusal = await activityFailure(
    act.recordComplaint({
      version: 1,
      view: complaintView(complaintId, { rating: { score: 6, at: '2026-11-24T09:30:00.000Z' } }),
      entries: [],
      requestHash: 'h',
    }),
  );
  expect(refusal).toMatchObject({ type: 'InvalidData', nonRetryable: true });
  expect(await count('complaints where id = $1', [complaintId])).toBe(0);
});

test('assignment picks the on-duty agent with the fewest open complaints, among those who may take the case', async () => {
  const category = ownCategory();
  const other = ownCategory();
  const teamId = await team([category, other]);
  const busy = await agent(teamId); // 2 open
  const light = await agent(teamId); // 1 open, and 2 closed that do not count
  const offDuty = await agent(teamId, { onDuty: false });
  const otherSkill = await agent(teamId, { skills: [other] });
  const idle = await agent(teamId, { skills: [category, other] }); // none open
  const senior = await agent(teamId, { seniority: 'senior' }); // 3 open
  await agent(teamId, { seniority: 'senior', onDuty: false });
  // Agents of a team that does not take the category never count.
  await agent(await team([other]));
  await load(busy, 2);
  await load(light, 1, 'WAITING_CUSTOMER');
  await load(light, 2, 'CLOSED');
  await load(senior, 3, 'ESCALATED');

  const complaintId = await complaint(category);
  const expected = (agentId: string, seniority = 'junior') => ({ agentId, teamId, supervisor: 'sue', seniority });
  expect(await assign({ complaintId, category, senior: false })).toEqual(expected(idle));
  expect(await assignment(complaintId)).toEqual({ assignee: idle, team_id: teamId, assigned: true, op: true });
  const stamped = await row<{ last_assigned_at: Date | null }>(
    'select last_assigned_at from complaint_agents where id = $1',
    [idle],
  );
  expect(stamped.last_assigned_at).toBeInstanceOf(Date);

  // Reassigned away from the idle agent: this complaint itself is not counted against anyone.
  expect(await assign({ complaintId, category, senior: false, exclude: [idle] })).toEqual(expected(light));
  // Counted against the light agent, it would tie them with the busy one, who waited longer (never assigned).
  expect(await assign({ complaintId, category, senior: false, exclude: [idle] })).toEqual(expected(light));
  expect(await assign({ complaintId, category, senior: false, exclude: [idle, light] })).toEqual(expected(busy));
  expect(await assign({ complaintId, category, senior: true })).toEqual(expected(senior, 'senior'));

  // Nobody left who may take it: null, and the row unassigned.
  expect(await assign({ complaintId, category, senior: true, exclude: [senior] })).toBeNull();
  expect(await assignment(complaintId)).toEqual({ assignee: null, team_id: null, assigned: false, op: true });
  expect(await assign({ complaintId, category, senior: false, exclude: [idle, light, busy, senior] })).toBeNull();
  for (const skipped of [offDuty, otherSkill]) {
    expect(await count(`complaints where assignee = $1`, [skipped])).toBe(0);
  }
});

test('equally loaded agents take turns: never assigned first, then the longest waiting, then by id', async () => {
  const category = ownCategory();
  const teamId = await team([category], null);
  const base = uniqueId('agent');
  const recent = await agent(teamId, { id: `${base}-a`, lastAssignedAt: new Date(Date.now() - HOUR) });
  const never = await agent(teamId, { id: `${base}-b` });
  const longAgo = await agent(teamId, { id: `${base}-c`, lastAssignedAt: new Date(Date.now() - 2 * HOUR) });
  const order: string[] = [];
  for (let i = 0; i < 4; i += 1) {
    const assigned = await assign({ complaintId: await complaint(category), category, senior: false });
    // A team without a supervisor names none.
    expect(assigned).toEqual({ agentId: expect.any(String), teamId, seniority: 'junior' });
    order.push(assigned!.agentId);
  }
  expect(order).toEqual([never, longAgo, recent, never]);
});

test('a retried assignment answers what the first call did, even once the counts changed', async () => {
  const category = ownCategory();
  const teamId = await team([category]);
  const base = uniqueId('agent');
  const first = await agent(teamId, { id: `${base}-a` });
  const second = await agent(teamId, { id: `${base}-b` });
  const complaintId = await complaint(category);
  const env = new MockActivityEnvironment({ activityId: uniqueId('assign') });
  const req = { complaintId, category, senior: false };
  expect(await assign(req, env)).toMatchObject({ agentId: first });

  await load(first, 3);
  await pool.query('update complaint_agents set on_duty = false where id = $1', [first]);
  expect(await assign(req, env)).toEqual({ agentId: first, teamId, supervisor: 'sue', seniority: 'junior' });
  expect(await assignment(complaintId)).toMatchObject({ assignee: first });

  // Another call (a new activity) chooses again.
  expect(await assign(req)).toMatchObject({ agentId: second });

  // A retried call that found nobody finds nobody again, though an agent came on duty meanwhile.
  const nobody = new MockActivityEnvironment({ activityId: uniqueId('assign') });
  expect(await assign({ ...req, exclude: [second] }, nobody)).toBeNull();
  await agent(teamId);
  expect(await assign({ ...req, exclude: [second] }, nobody)).toBeNull();
  expect(await assignment(complaintId)).toMatchObject({ assignee: null });
});

test("a supervisor's choice needs only an agent that exists; an unknown one is a non-retryable RuleViolation", async () => {
  const category = ownCategory();
  const teamId = await team([ownCategory()]);
  // Off duty, and their team does not take the category: the supervisor decides.
  const chosen = await agent(teamId, { onDuty: false, seniority: 'senior' });
  const complaintId = await complaint(category);
  expect(await assign({ complaintId, category, senior: false, agentId: chosen })).toEqual({
    agentId: chosen,
    teamId,
    supervisor: 'sue',
    seniority: 'senior',
  });
  expect(await assignment(complaintId)).toMatchObject({ assignee: chosen, team_id: teamId });

  const refusal = await activityFailure(
    assign({ complaintId, category, senior: false, agentId: 'nobody-by-that-name' }),
  );
  expect(refusal).toMatchObject({ type: 'RuleViolation', nonRetryable: true, message: 'no agent nobody-by-that-name' });
  expect(await assignment(complaintId)).toMatchObject({ assignee: chosen, team_id: teamId });
});

test('assigning a complaint not recorded yet is retryable', async () => {
  const error = await assign({ complaintId: 'cmp-never-recorded', category: ownCategory(), senior: false }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  // Anything but an ApplicationFailure is retried under the workflow's retry policy.
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(ApplicationFailure);
  expect((error as Error).message).toBe('complaint cmp-never-recorded is not recorded yet');
});

test('two complaints assigned at once with two free agents get one each, every time', async () => {
  for (let round = 0; round < 5; round += 1) {
    // Even round: one category. Odd round: two categories of one team, whose agents both calls want.
    const categories = round % 2 === 0 ? [ownCategory()] : [ownCategory(), ownCategory()];
    const teamId = await team(categories);
    const agents = [await agent(teamId), await agent(teamId)];
    const cases = [categories[0], categories.at(-1)!];
    const complaints = [await complaint(cases[0]), await complaint(cases[1])];
    const results = await Promise.all(
      complaints.map((complaintId, i) => assign({ complaintId, category: cases[i], senior: false })),
    );
    expect(results.map((result) => result!.agentId).sort()).toEqual([...agents].sort());
  }
});

test('goodwill is credited once per reference, and only a positive whole amount', async () => {
  const reference = uniqueId('goodwill');
  const credit = { complaintId: 'cmp-goodwill', customerId: CUSTOMER, amount: 2_000, currency: 'CNY', reference };
  await act.creditGoodwill(credit);
  await Promise.all([act.creditGoodwill(credit), act.creditGoodwill(credit)]);
  const { rows } = await pool.query(
    'select customer_id, amount, currency, kind from customer_balance_ledger where reference = $1',
    [reference],
  );
  expect(rows).toEqual([{ customer_id: CUSTOMER, amount: 2_000, currency: 'CNY', kind: 'goodwill' }]);

  for (const amount of [0, -5, 12.5]) {
    const refusal = await activityFailure(act.creditGoodwill({ ...credit, amount, reference: uniqueId('goodwill') }));
    expect(refusal).toMatchObject({ type: 'RuleViolation', nonRetryable: true });
  }
  expect(
    await count(`customer_balance_ledger where reference like 'goodwill-%' and customer_id = $1`, [CUSTOMER]),
  ).toBe(1);
});

test('the demo staff: the development agent takes complaints of every category, VIP ones go to seniors', async () => {
  const named = DEMO_AGENTS.map((demo) => demo.id).filter((id) => id !== 'dev-agent');
  for (const category of COMPLAINT_CATEGORIES) {
    const complaintId = await complaint(category);
    expect(await assign({ complaintId, category, senior: false, exclude: named })).toEqual({
      agentId: 'dev-agent',
      teamId: 'general',
      supervisor: 'dev-supervisor',
      seniority: 'junior',
    });
    const vip = await complaint(category);
    expect(await assign({ complaintId: vip, category, senior: true })).toMatchObject({ seniority: 'senior' });
  }
  expect(await row(`select level from customers where id = 'C-1002'`, [])).toEqual({ level: 'vip' });
});
