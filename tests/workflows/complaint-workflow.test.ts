import type { Actor } from '../../domain/case';
import type { ComplaintView } from '../../domain/complaint';
import { CASE_ERRORS } from '../../workflows/case/messages';
import {
  acceptResolutionUpdate,
  assignComplaintUpdate,
  changePriorityUpdate,
  complaintStateQuery,
  customerMessageUpdate,
  disputeResolutionUpdate,
  noteComplaintUpdate,
  rateComplaintUpdate,
  reopenComplaintUpdate,
  resolveComplaintUpdate,
  respondComplaintUpdate,
  staffingChangedSignal,
} from '../../workflows/complaint-messages';
import { refundStateQuery, refundWorkflowId } from '../../workflows/refund-messages';
import { returnWorkflowId } from '../../workflows/return-messages';
import { expectRejection } from '../helpers/assertions';
import { capturedPayment, fakeActivities, type FakeActivities, type FakeAgent } from '../helpers/fake-activities';
import { agent, supervisor } from '../helpers/fixtures';
import { uniqueId } from '../helpers/names';
import {
  complaintInput,
  type ComplaintHandle,
  complaintsPolicy,
  HOUR,
  startComplaint,
  waitForComplaint,
  waitForReturn,
  workflowTestEnv,
} from '../helpers/workflow-env';
import { recordHistory } from '../helpers/histories';

const { withWorker, env } = workflowTestEnv();
const MINUTE = 60_000;
const DAY = 24 * HOUR;
const customer = { principal: 'shop', role: 'system' } as const;
const bob = { principal: 'bob', role: 'agent' } as const;
const key = () => uniqueId('k');

function staff(fakes: FakeActivities, ...agents: Partial<FakeAgent>[]): void {
  for (const a of agents) {
    fakes.agents.push({
      agentId: 'alice',
      teamId: 'logistics',
      supervisor: 'sam',
      seniority: 'junior',
      categories: ['logistics', 'product_quality'],
      onDuty: true,
      ...a,
    });
  }
}

/** Resolves with an explanation alone, as `actor`. */
const explain = (handle: ComplaintHandle, actor: Actor, explanation: string) =>
  handle.executeUpdate(resolveComplaintUpdate, {
    args: [{ actor, key: key(), remedy: { kind: 'explanation' }, explanation }],
  });
/** The customer rates the resolution. */
const rate = (handle: ComplaintHandle, score: number) =>
  handle.executeUpdate(rateComplaintUpdate, { args: [{ actor: customer, key: key(), score }] });

const statuses = (view: ComplaintView) => view.history.map((h) => h.to);
const kinds = (fakes: FakeActivities, complaintId: string) => fakes.timelineOf(complaintId).map((e) => e.kind);

describe('complaint workflow', () => {
  it('takes a complaint from the phone to a rating: assigned, answered, noted, resolved, rated, closed for good', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'alice' }, { agentId: 'bob' });
    fakes.assignees.set('older-complaint', 'alice');
    await withWorker(fakes, async () => {
      const input = complaintInput();
      const { handle, view } = await startComplaint(env().client, input);
      // alice holds an open complaint already: bob has fewer.
      expect(view).toMatchObject({ status: 'OPEN', assignee: { agentId: 'bob', teamId: 'logistics', by: 'system' } });
      expect(view.firstResponseDeadline).toBe(
        new Date(Date.parse(input.requestedAt) + complaintsPolicy.sla.normal.firstResponse).toISOString(),
      );
      expect(view.slaDeadline).toBe(view.firstResponseDeadline);

      const answered = await handle.executeUpdate(respondComplaintUpdate, {
        args: [{ actor: bob, key: key(), text: 'Sorry to hear that: we are checking with the courier.' }],
      });
      expect(answered.status).toBe('IN_PROGRESS');
      expect(answered.firstResponseAt).toBeDefined();
      expect(answered.firstResponseDeadline).toBeUndefined();
      // The first response was in time: the resolution deadline is the one that runs now.
      expect(answered.slaDeadline).toBe(answered.resolutionDeadline);

      const noted = await handle.executeUpdate(noteComplaintUpdate, {
        args: [{ actor: agent, key: key(), text: 'Courier confirms rough handling at the depot.' }],
      });
      expect(noted.timeline.at(-1)).toMatchObject({ kind: 'note', internal: true, actor: 'alice', role: 'agent' });

      const resolved = await handle.executeUpdate(resolveComplaintUpdate, {
        args: [
          {
            actor: bob,
            key: key(),
            remedy: { kind: 'explanation' },
            explanation: 'The courier was told off and will repack fragile parcels.',
          },
        ],
      });
      expect(resolved).toMatchObject({ status: 'RESOLVED', slaPaused: true, resolution: { number: 1 } });
      expect(resolved.slaDeadline).toBeUndefined();

      await handle.executeUpdate(acceptResolutionUpdate, { args: [{ actor: customer, key: key() }] });
      const rated = await handle.executeUpdate(rateComplaintUpdate, {
        args: [{ actor: customer, key: key(), score: 4, comment: 'Quick and polite' }],
      });
      expect(rated).toMatchObject({
        status: 'CLOSED',
        outcome: 'rated',
        accepted: true,
        rating: { score: 4, comment: 'Quick and polite' },
      });
      expect(statuses(rated)).toEqual(['OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED']);

      // Nobody reopens it: once the reopen window has passed, the case is over.
      await env().sleep(complaintsPolicy.reopenWindowMs + HOUR);
      const final = await handle.result();
      expect(final.status).toBe('CLOSED');
      await recordHistory('complaint-rated-closed', handle);
      expect(kinds(fakes, input.complaintId)).toEqual([
        'opened',
        'assigned',
        'response',
        'note',
        'resolved',
        'accepted',
        'rated',
        'closed',
      ]);
      const timeline = fakes.timelineOf(input.complaintId);
      expect(timeline.map((e) => e.seq)).toEqual(timeline.map((_, i) => i));
      expect(timeline[2]).toMatchObject({ actor: 'bob', role: 'agent', internal: false, text: expect.any(String) });
      expect(Date.parse(timeline[2].at)).toBeGreaterThanOrEqual(Date.parse(input.requestedAt));
    });
  });

  it('escalates a missed first response to the team supervisor, then a missed resolution one level higher', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput();
      const { handle } = await startComplaint(env().client, input);
      const start = Date.parse(input.requestedAt);

      await env().sleep(complaintsPolicy.sla.normal.firstResponse + MINUTE);
      const first = await waitForComplaint(handle, (v) => v.status === 'ESCALATED', 'the first escalation');
      expect(first).toMatchObject({
        escalationLevel: 1,
        needsAttention: true,
        attentionReasons: ['sla_breached'],
        breaches: [{ level: 1, timer: 'firstResponse', to: 'sam' }],
      });
      // The next breach due is the resolution's.
      expect(first.slaDeadline).toBe(new Date(start + complaintsPolicy.sla.normal.resolution).toISOString());
      expect(fakes.staffTopics()).toContain('complaint_sla_breached');

      // A late response takes the case back from ESCALATED; the breach stays on record.
      const late = await handle.executeUpdate(respondComplaintUpdate, {
        args: [{ actor: bob, key: key(), text: 'Looking into it now.' }],
      });
      expect(late).toMatchObject({ status: 'IN_PROGRESS', escalationLevel: 1, needsAttention: true });

      await env().sleep(complaintsPolicy.sla.normal.resolution);
      const second = await waitForComplaint(handle, (v) => v.escalationLevel === 2, 'the second escalation');
      expect(second.status).toBe('ESCALATED');
      expect(second.breaches).toEqual([
        expect.objectContaining({ level: 1, timer: 'firstResponse', to: 'sam' }),
        expect.objectContaining({ level: 2, timer: 'resolution', to: 'management' }),
      ]);
      expect(fakes.staffTopics().filter((t) => t === 'complaint_sla_breached')).toHaveLength(2);

      // Resolved at last: the flag and deadline go, the levels reached stay.
      const resolved = await explain(handle, supervisor, 'Done');
      expect(resolved).toMatchObject({ status: 'RESOLVED', escalationLevel: 2, needsAttention: false });
      expect(resolved.slaDeadline).toBeUndefined();
    });
  });

  it('gives urgent complaints their own, tighter first-response target', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput({ priority: 'urgent' });
      const { handle, view } = await startComplaint(env().client, input);
      expect(view.firstResponseDeadline).toBe(
        new Date(Date.parse(input.requestedAt) + complaintsPolicy.sla.urgent.firstResponse).toISOString(),
      );
      expect(complaintsPolicy.sla.urgent.firstResponse).toBe(30 * MINUTE);
      await env().sleep(31 * MINUTE);
      const escalated = await waitForComplaint(handle, (v) => v.escalationLevel === 1, 'an escalation');
      expect(escalated.breaches[0].timer).toBe('firstResponse');
    });
  });

  it('moves the running deadline when the priority changes, from the same start', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput();
      const start = Date.parse(input.requestedAt);
      const { handle } = await startComplaint(env().client, input);
      const answered = await handle.executeUpdate(respondComplaintUpdate, {
        args: [{ actor: bob, key: key(), text: 'On it.' }],
      });
      expect(answered.slaDeadline).toBe(new Date(start + complaintsPolicy.sla.normal.resolution).toISOString());

      await env().sleep(HOUR);
      const urgent = await handle.executeUpdate(changePriorityUpdate, {
        args: [{ actor: bob, key: key(), priority: 'urgent', reason: 'The customer is a hospital' }],
      });
      expect(urgent.priority).toBe('urgent');
      expect(urgent.slaDeadline).toBe(new Date(start + complaintsPolicy.sla.urgent.resolution).toISOString());
      expect(urgent.resolutionDeadline).toBe(urgent.slaDeadline);

      // The moved deadline is the one the timer fires at: 8 h from the start, not 48 h.
      await env().sleep(complaintsPolicy.sla.urgent.resolution - HOUR + MINUTE);
      const breached = await waitForComplaint(handle, (v) => v.escalationLevel === 1, 'a breach at the new deadline');
      expect(breached.breaches[0]).toMatchObject({ timer: 'resolution', level: 1 });
      expect(Date.parse(breached.breaches[0].at)).toBeLessThan(start + complaintsPolicy.sla.normal.resolution);
    });
  });

  it('pauses the SLA clock while waiting on the customer, and runs it on when they answer', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput();
      const start = Date.parse(input.requestedAt);
      const { handle } = await startComplaint(env().client, input);
      await env().sleep(HOUR);
      const waiting = await handle.executeUpdate(respondComplaintUpdate, {
        args: [{ actor: bob, key: key(), text: 'Could you send a photo of the box?', awaitCustomer: true }],
      });
      expect(waiting).toMatchObject({ status: 'WAITING_CUSTOMER', slaPaused: true });
      expect(waiting.slaDeadline).toBeUndefined();
      const pausedAt = Date.parse(waiting.timeline.at(-1)!.at);

      // Longer than the whole resolution target: no breach while the customer has the turn.
      await env().sleep(complaintsPolicy.sla.normal.resolution + HOUR);
      const still = await handle.query(complaintStateQuery);
      expect(still).toMatchObject({ status: 'WAITING_CUSTOMER', escalationLevel: 0, needsAttention: false });

      const back = await handle.executeUpdate(customerMessageUpdate, {
        args: [{ actor: customer, key: key(), text: 'Photo attached.' }],
      });
      const resumedAt = Date.parse(back.timeline.at(-1)!.at);
      expect(back).toMatchObject({ status: 'IN_PROGRESS', slaPaused: false });
      // The deadline moved by exactly the time the clock stood still.
      expect(back.slaDeadline).toBe(
        new Date(start + complaintsPolicy.sla.normal.resolution + (resumedAt - pausedAt)).toISOString(),
      );
    });
  });

  it('puts a complaint the customer never answers back in the agent’s hands after the reply window', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const { handle } = await startComplaint(env().client, complaintInput());
      await handle.executeUpdate(respondComplaintUpdate, {
        args: [{ actor: bob, key: key(), text: 'Which parcel?', awaitCustomer: true }],
      });
      await env().sleep(complaintsPolicy.customerReplyWindowMs + MINUTE);
      const back = await waitForComplaint(handle, (v) => v.status === 'IN_PROGRESS', 'IN_PROGRESS again');
      expect(back.slaPaused).toBe(false);
      expect(back.history.at(-1)).toMatchObject({ actor: 'system', reason: 'no answer from the customer in time' });
    });
  });

  it('resolves with a refund remedy by starting a refund case of its own for the complaint’s order', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    capturedPayment(fakes, 'o-complained', 12_900);
    await withWorker(fakes, async () => {
      const input = complaintInput();
      const { handle } = await startComplaint(env().client, input);
      const resolved = await handle.executeUpdate(resolveComplaintUpdate, {
        args: [
          {
            actor: bob,
            key: key(),
            remedy: { kind: 'refund', amount: 5_000 },
            explanation: 'Part of the price back for the damage',
          },
        ],
      });
      const refundId = resolved.resolution!.refundId!;
      expect(refundId).toBe(`${input.complaintId}-refund-1`);
      const refund = env().client.workflow.getHandle(refundWorkflowId(refundId));
      let state = await refund.query(refundStateQuery);
      for (let i = 0; i < 100 && state.status === 'REQUESTED'; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        state = await refund.query(refundStateQuery);
      }
      expect(state).toMatchObject({
        orderId: 'o-complained',
        amount: 5_000,
        reason: 'complaint_resolution',
        origin: 'complaint',
        requestedBy: { principal: 'bob' },
      });
      // The agent asked for it, so the agent cannot approve it: another person decides.
      expect(state.status).toBe('PENDING_APPROVAL');
      await recordHistory('complaint-refund-remedy', handle);
    });
  });

  it('resolves with a return remedy by starting a return case of the goods it names', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput({ category: 'product_quality' });
      const { handle } = await startComplaint(env().client, input);
      const lines = [{ sku: 'SKU-A', quantity: 1 }];
      const resolved = await handle.executeUpdate(resolveComplaintUpdate, {
        args: [
          {
            actor: bob,
            key: key(),
            remedy: {
              kind: 'return',
              lines,
              reason: 'quality',
              type: 'exchange',
              method: 'pickup',
              failedGoods: 'dispose',
            },
            explanation: 'We take the faulty one back and send another',
          },
        ],
      });
      const returnId = resolved.resolution!.returnId!;
      expect(returnId).toBe(`${input.complaintId}-return-1`);
      const ret = env().client.workflow.getHandle(returnWorkflowId(returnId));
      const view = await waitForReturn(ret, (v) => v.status !== 'REQUESTED', 'claimed');
      expect(view).toMatchObject({
        orderId: 'o-complained',
        customerId: input.customerId,
        lines,
        reason: 'quality',
        type: 'exchange',
        requestedBy: { principal: 'bob' },
        evidence: { text: expect.stringContaining(input.complaintId) },
      });
      // A quality return waits for an agent's approval, like any other.
      expect(view.status).toBe('PENDING_APPROVAL');
      expect(fakes.returnClaims.get(returnId)).toEqual(lines);
    });
  });

  it('lets a supervisor, not an agent, grant goodwill above the agent limit, credited once', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput();
      const { handle } = await startComplaint(env().client, input);
      const big = { kind: 'goodwill_credit' as const, amount: complaintsPolicy.goodwillAgentLimit + 1 };
      await expectRejection(
        handle.executeUpdate(resolveComplaintUpdate, {
          args: [{ actor: bob, key: key(), remedy: big, explanation: 'Sorry' }],
        }),
        CASE_ERRORS.forbidden,
        /needs a supervisor/,
      );
      const asked = { actor: supervisor, key: key(), remedy: big, explanation: 'Sorry' };
      const resolved = await handle.executeUpdate(resolveComplaintUpdate, { args: [asked] });
      // The same request again (a client retry under its key) changes nothing.
      await handle.executeUpdate(resolveComplaintUpdate, { args: [asked] });
      expect(resolved.resolution).toMatchObject({ creditReference: `complaint:${input.complaintId}:goodwill:1` });
      expect([...fakes.credits]).toEqual([[`complaint:${input.complaintId}:goodwill:1`, big.amount]]);
      expect(fakes.argsOf('creditGoodwill')).toHaveLength(1);
    });
  });

  it('sends a disputed resolution back to the agent, and closes an unrated one after the rating window', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const { handle } = await startComplaint(env().client, complaintInput());
      const resolve = () =>
        handle.executeUpdate(resolveComplaintUpdate, {
          args: [{ actor: bob, key: key(), remedy: { kind: 'explanation' }, explanation: 'It was the weather' }],
        });
      await resolve();
      const disputed = await handle.executeUpdate(disputeResolutionUpdate, {
        args: [{ actor: customer, key: key(), reason: 'It was not raining' }],
      });
      expect(disputed).toMatchObject({ status: 'IN_PROGRESS', accepted: false, slaPaused: false });
      await expectRejection(
        handle.executeUpdate(rateComplaintUpdate, { args: [{ actor: customer, key: key(), score: 1 }] }),
        CASE_ERRORS.wrongState,
      );
      const again = await resolve();
      expect(again.resolution!.number).toBe(2);

      await env().sleep(complaintsPolicy.ratingWindowMs + MINUTE);
      const closed = await waitForComplaint(handle, (v) => v.status === 'CLOSED', 'CLOSED');
      expect(closed).toMatchObject({ outcome: 'closed_without_rating' });
      expect(closed.rating).toBeUndefined();
      expect(statuses(closed)).toEqual(['OPEN', 'RESOLVED', 'IN_PROGRESS', 'RESOLVED', 'CLOSED']);
    });
  });

  it('reopens a closed complaint within the reopen window as a new SLA cycle, and not after it', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const { handle } = await startComplaint(env().client, complaintInput());
      await explain(handle, bob, 'Replaced by courier');
      await rate(handle, 5);
      await env().sleep(complaintsPolicy.reopenWindowMs - DAY);
      const reopened = await handle.executeUpdate(reopenComplaintUpdate, {
        args: [{ actor: customer, key: key(), reason: 'The replacement is broken too' }],
      });
      const at = Date.parse(reopened.history.at(-1)!.at);
      expect(reopened).toMatchObject({ status: 'IN_PROGRESS', reopenCount: 1, escalationLevel: 0 });
      expect(reopened.rating).toBeUndefined();
      expect(reopened.slaDeadline).toBe(new Date(at + complaintsPolicy.sla.normal.resolution).toISOString());

      await explain(handle, bob, 'Second replacement');
      await rate(handle, 3);
      await env().sleep(complaintsPolicy.reopenWindowMs + MINUTE);
      // Past the window the case has ended: nothing reopens it any more.
      expect(await handle.result()).toMatchObject({ status: 'CLOSED', reopenCount: 1, outcome: 'rated' });
      await expect(
        handle.executeUpdate(reopenComplaintUpdate, { args: [{ actor: customer, key: key(), reason: 'Again' }] }),
      ).rejects.toThrow();
    });
  });

  it('refuses disputes and messages on a closed complaint: reopening is the way back', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const { handle } = await startComplaint(env().client, complaintInput());
      await explain(handle, bob, 'Explained');
      await rate(handle, 2);
      await expectRejection(
        handle.executeUpdate(disputeResolutionUpdate, { args: [{ actor: customer, key: key(), reason: 'late' }] }),
        CASE_ERRORS.wrongState,
        /CLOSED, not RESOLVED/,
      );
      await expectRejection(
        handle.executeUpdate(customerMessageUpdate, { args: [{ actor: customer, key: key(), text: 'Hello?' }] }),
        CASE_ERRORS.wrongState,
        /reopen it first/,
      );
      await expectRejection(
        handle.executeUpdate(respondComplaintUpdate, { args: [{ actor: bob, key: key(), text: 'Hi' }] }),
        CASE_ERRORS.wrongState,
      );
      expect((await handle.query(complaintStateQuery)).status).toBe('CLOSED');
    });
  });

  it('gives VIP complaints to senior agents, waits for one when none is on duty, and hands over when an agent leaves', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'alice' }, { agentId: 'bob' }, { agentId: 'carol', seniority: 'senior', onDuty: false });
    await withWorker(fakes, async () => {
      const { handle, view } = await startComplaint(env().client, complaintInput({ customerLevel: 'vip' }));
      expect(view).toMatchObject({
        needsSenior: true,
        needsAttention: true,
        attentionReasons: ['complaint_unassigned'],
      });
      expect(view.assignee).toBeUndefined();
      expect(fakes.staffTopics()).toContain('complaint_unassigned');

      // carol comes on duty; the hint brings the case to her.
      fakes.agents.find((a) => a.agentId === 'carol')!.onDuty = true;
      await handle.signal(staffingChangedSignal, { agentId: 'carol', onDuty: true });
      const taken = await waitForComplaint(handle, (v) => v.assignee?.agentId === 'carol', 'assigned to carol');
      expect(taken.needsAttention).toBe(false);

      // Not carol's case any more once she goes off duty: another senior agent, here dave, takes it over.
      staff(fakes, { agentId: 'dave', seniority: 'senior' });
      fakes.agents.find((a) => a.agentId === 'carol')!.onDuty = false;
      await handle.signal(staffingChangedSignal, { agentId: 'carol', onDuty: false });
      const handed = await waitForComplaint(handle, (v) => v.assignee?.agentId === 'dave', 'handed to dave');
      expect(handed.timeline.at(-1)).toMatchObject({ kind: 'assigned', text: 'carol went off duty' });
    });
  });

  it('keeps trying to staff an unassigned complaint across the runs its retries fill, and staffs it when an agent comes', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'carol', onDuty: false });
    await withWorker(fakes, async () => {
      const input = complaintInput({
        policy: { ...complaintsPolicy, historyLimit: 150, assignRetryMs: MINUTE },
      });
      const { handle, view } = await startComplaint(env().client, input);
      expect(view.attentionReasons).toEqual(['complaint_unassigned']);
      // A try a minute for five hours: far more history than one run may hold.
      await env().sleep(5 * HOUR);
      const waiting = await handle.query(complaintStateQuery);
      expect(waiting.runs).toBeGreaterThan(2);
      expect(waiting).toMatchObject({ status: 'ESCALATED', needsAttention: true });
      expect(waiting.assignee).toBeUndefined();
      expect(waiting.attentionReasons).toContain('complaint_unassigned');
      expect(fakes.argsOf('assignComplaint').length).toBeGreaterThan(250);
      // Told once, not at every try.
      expect(fakes.staffTopics().filter((t) => t === 'complaint_unassigned')).toHaveLength(1);

      fakes.agents[0].onDuty = true;
      await handle.signal(staffingChangedSignal, { agentId: 'carol', onDuty: true });
      const taken = await waitForComplaint(handle, (v) => v.assignee?.agentId === 'carol', 'assigned to carol');
      expect(taken.attentionReasons).not.toContain('complaint_unassigned');
    });
  });

  it('hands a complaint over when its agent goes off duty in a later run of the case', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput({ policy: { ...complaintsPolicy, historyLimit: 150 } });
      const { handle } = await startComplaint(env().client, input);
      for (let i = 0; i < 20; i += 1) {
        await handle.executeUpdate(noteComplaintUpdate, { args: [{ actor: bob, key: `n-${i}`, text: `note ${i}` }] });
      }
      expect((await handle.query(complaintStateQuery)).runs).toBeGreaterThan(1);
      staff(fakes, { agentId: 'dave' });
      fakes.agents.find((a) => a.agentId === 'bob')!.onDuty = false;
      await handle.signal(staffingChangedSignal, { agentId: 'bob', onDuty: false });
      const handed = await waitForComplaint(handle, (v) => v.assignee?.agentId === 'dave', 'handed to dave');
      expect(handed.timeline.at(-1)).toMatchObject({ kind: 'assigned', text: 'bob went off duty' });
    });
  });

  it('lets supervisors reassign and only the assigned agent respond; any staff may note', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'alice' }, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const { handle, view } = await startComplaint(env().client, complaintInput());
      expect(view.assignee!.agentId).toBe('alice');
      await expectRejection(
        handle.executeUpdate(assignComplaintUpdate, { args: [{ actor: agent, key: key(), agentId: 'bob' }] }),
        CASE_ERRORS.forbidden,
      );
      const moved = await handle.executeUpdate(assignComplaintUpdate, {
        args: [{ actor: supervisor, key: key(), agentId: 'bob', reason: 'alice is on leave tomorrow' }],
      });
      expect(moved.assignee).toMatchObject({ agentId: 'bob', by: 'sam' });
      await expectRejection(
        handle.executeUpdate(respondComplaintUpdate, { args: [{ actor: agent, key: key(), text: 'Hi' }] }),
        CASE_ERRORS.forbidden,
        /assigned to bob/,
      );
      await handle.executeUpdate(noteComplaintUpdate, {
        args: [{ actor: agent, key: key(), text: 'Context for bob' }],
      });
      await expectRejection(
        handle.executeUpdate(assignComplaintUpdate, { args: [{ actor: supervisor, key: key(), agentId: 'nobody' }] }),
        CASE_ERRORS.ruleViolation,
        /no agent nobody/,
      );
    });
  });

  it('continues as new when its history grows, keeping hundreds of notes on its timeline and its state', async () => {
    const fakes = fakeActivities();
    staff(fakes, { agentId: 'bob' });
    await withWorker(fakes, async () => {
      const input = complaintInput({ policy: { ...complaintsPolicy, historyLimit: 150 } });
      const { handle } = await startComplaint(env().client, input);
      await handle.executeUpdate(respondComplaintUpdate, { args: [{ actor: bob, key: key(), text: 'Hello' }] });
      const notes = 300;
      for (let i = 0; i < notes; i += 1) {
        await handle.executeUpdate(noteComplaintUpdate, {
          args: [{ actor: bob, key: `note-${i}`, text: `note ${i}` }],
        });
      }
      // A retried note (same key) after the hand-overs is not added again.
      await handle.executeUpdate(noteComplaintUpdate, { args: [{ actor: bob, key: 'note-299', text: 'note 299' }] });
      const view = await handle.query(complaintStateQuery);
      expect(view.runs).toBeGreaterThan(3);
      expect(view.timelineCount).toBe(3 + notes);
      expect(view).toMatchObject({ status: 'IN_PROGRESS', assignee: { agentId: 'bob' } });

      const timeline = fakes.timelineOf(input.complaintId);
      expect(timeline.map((e) => e.seq)).toEqual(timeline.map((_, i) => i));
      expect(timeline.filter((e) => e.kind === 'note').map((e) => e.text)).toEqual(
        Array.from({ length: notes }, (_, i) => `note ${i}`),
      );
      // Each run stays small.
      const { historyLength } = await handle.describe();
      expect(historyLength).toBeLessThan(150 + 60);

      // The case goes on in its latest run, SLA and all.
      const resolved = await explain(handle, bob, 'All noted');
      expect(resolved.status).toBe('RESOLVED');
      expect(statuses(resolved)).toEqual(['OPEN', 'IN_PROGRESS', 'RESOLVED']);
      // The first run, which ends handing over to the next.
      const started = (await handle.fetchHistory()).events![0].workflowExecutionStartedEventAttributes!;
      expect(started.firstExecutionRunId).toBeTruthy();
      await recordHistory(
        'complaint-continued-as-new',
        env().client.workflow.getHandle(handle.workflowId, started.firstExecutionRunId!),
      );
    });
  }, 120_000);
});
