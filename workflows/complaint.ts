import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  makeContinueAsNewFunc,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import type { ComplaintActivities } from '../activities/types';
import type { Actor, CaseAudit } from '../domain/case';
import { SYSTEM_ACTOR } from '../domain/case';
import type {
  Assignment,
  ComplaintInput,
  ComplaintOutcome,
  ComplaintView,
  Remedy,
  SlaTimer,
} from '../domain/complaint';
import { breachPoints, remedyNeedsSupervisor, remedyRefusal } from '../domain/complaint';
import {
  COMPLAINT_CUSTOMER_ROLES,
  COMPLAINT_STAFF_ROLES,
  COMPLAINT_SUPERVISOR_ROLES,
  type Role,
} from '../domain/roles';
import { caseCore, reject } from './case/core';
import { CASE_ERRORS } from './case/messages';
import { caseActivities, failureType, StepAbandoned } from './case/steps';
import { startRefundCase, startReturnCase } from './child-cases';
import { ComplaintCase } from './complaint-case';
import {
  acceptResolutionUpdate,
  assignComplaintUpdate,
  awaitComplaintUpdate,
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
} from './complaint-messages';
import { AssigneeKey, WaitingOnKey } from './search-attributes';

const raw = caseActivities<ComplaintActivities>([CASE_ERRORS.ruleViolation]);

/**
 * One complaint from the customer's first contact to their rating (DESIGN §3 Complaint): given to an on-duty agent of
 * the category's team, answered and worked within the SLA of its priority (the clock pausing while the customer has
 * the turn), escalated to the team's supervisor on each breach, resolved with a remedy (an explanation, goodwill on
 * the platform balance, or a refund or return case of its own), then rated or closed when not rated in time, and
 * reopenable for a while after. A long case continues as new, handing its state on; its timeline lives in PostgreSQL.
 */
export async function complaintWorkflow(input: ComplaintInput): Promise<ComplaintView> {
  const c = new ComplaintCase(input);
  const { complaintId, policy } = input;
  const settled = () => c.writing === 0;
  let assignmentTried = c.continued;
  /** An SLA breach is being recorded: the case does not hand over to its next run halfway through it. */
  let escalating = false;

  /** The history is long: the next run takes over, once no handler is halfway through its work. */
  const historyFull = () => {
    const info = workflowInfo();
    return info.historyLength >= policy.historyLimit || info.continueAsNewSuggested;
  };

  const core = caseCore({
    caseType: 'complaint',
    caseId: complaintId,
    state: c,
    isTerminal: (status) => status === 'CLOSED',
    view: () => c.view(),
    write: async (record): Promise<void> => {
      const entries = c.pendingEntries();
      await act.recordComplaint({ ...record, entries, requestHash: input.requestHash });
      c.written(entries);
    },
    notifyStaff: raw.notifyStaff,
    stepAttentionAfterMs: policy.stepAttentionAfterMs,
    searchAttributes: () => [
      { key: WaitingOnKey, value: c.status === 'CLOSED' ? null : c.working ? 'agent' : 'customer' },
      { key: AssigneeKey, value: c.assignee?.agentId ?? null },
    ],
    interrupt: {
      pending: () => historyFull() && allHandlersFinished() && !c.busy && !escalating && settled(),
      honour: () => {
        const { memo, typedSearchAttributes } = workflowInfo();
        return makeContinueAsNewFunc<typeof complaintWorkflow>({ memo, typedSearchAttributes })({
          ...input,
          carried: c.handOver(),
        });
      },
      refusal: 'the complaint is being handed over to its next run; try again',
    },
  });
  const act: ComplaintActivities = core.guard(raw, {
    assignComplaint: [CASE_ERRORS.ruleViolation],
    creditGoodwill: [CASE_ERRORS.ruleViolation],
  });

  setHandler(complaintStateQuery, () => c.view());

  setHandler(awaitComplaintUpdate, async () => {
    await condition(() => (assignmentTried && settled()) || !!c.parked);
    return c.view();
  });

  setHandler(staffingChangedSignal, ({ agentId, onDuty }) => {
    if (!onDuty && c.assignee?.agentId === agentId) c.offDuty.add(agentId);
    if (onDuty ? !c.assignee : c.offDuty.has(agentId)) c.assignmentWanted = true;
  });

  // ---- what people do to the complaint -------------------------------------------------------------------------

  /**
   * Registers one action: its rules are checked by the validator and again once it has the case to itself (the case
   * may have moved on meanwhile), the work is stored before the answer, and a request key seen before (a client's
   * retry, also across runs) changes nothing.
   */
  function action<A extends { actor: Actor; key: string }>(
    update: UpdateDefinition<ComplaintView, [A]>,
    check: (request: A) => void,
    work: (request: A) => Promise<void>,
  ): void {
    setHandler(
      update,
      async (request) => {
        if (!c.knows(request.key)) {
          await core.exclusive(async () => {
            if (c.knows(request.key)) return;
            check(request);
            await work(request);
            c.seen(request.key);
          });
        }
        await condition(settled);
        return c.view();
      },
      {
        validator: (request) => {
          if (!c.knows(request.key)) check(request);
        },
      },
    );
  }

  const may = (actor: Actor, roles: readonly Role[], what: string) => {
    if (!roles.includes(actor.role)) reject(CASE_ERRORS.forbidden, `role ${actor.role} cannot ${what}`);
  };
  /** Agents work the complaints assigned to them; supervisors and admins any. */
  const handles = (actor: Actor, what: string) => {
    may(actor, COMPLAINT_STAFF_ROLES, what);
    if (actor.role === 'agent' && c.assignee?.agentId !== actor.principal) {
      reject(
        CASE_ERRORS.forbidden,
        `complaint ${complaintId} is assigned to ${c.assignee?.agentId ?? 'nobody'}, not ${actor.principal}`,
      );
    }
  };
  const isWorking = () => {
    if (!c.working) reject(CASE_ERRORS.wrongState, `the complaint is ${c.status}`);
  };
  const audit = (actor: Actor, name: string, detail?: Record<string, unknown>): CaseAudit => ({
    actor,
    action: `complaint.${name}`,
    detail,
  });

  action(
    assignComplaintUpdate,
    ({ actor }) => {
      may(actor, COMPLAINT_SUPERVISOR_ROLES, 'reassign complaints');
      if (c.status === 'CLOSED') reject(CASE_ERRORS.wrongState, 'the complaint is CLOSED');
    },
    async ({ actor, agentId, reason }) => {
      if (c.assignee?.agentId === agentId) return;
      let picked;
      try {
        picked = await act.assignComplaint({ complaintId, category: input.category, senior: c.needsSenior, agentId });
      } catch (error) {
        // No such agent: the supervisor's request is refused, the case stays as it was.
        if (failureType(error) === CASE_ERRORS.ruleViolation) {
          reject(CASE_ERRORS.ruleViolation, (error as Error & { cause: Error }).cause.message);
        }
        throw error;
      }
      await assign(picked!, actor, reason ?? 'reassigned');
    },
  );

  action(
    respondComplaintUpdate,
    ({ actor }) => {
      handles(actor, 'respond to complaints');
      isWorking();
    },
    async ({ actor, text, awaitCustomer }) => {
      const now = Date.now();
      const detail = { firstResponse: !c.firstResponseAt };
      c.note('response', actor, text, awaitCustomer ? { awaitCustomer } : undefined);
      if (!c.firstResponseAt) {
        c.firstResponseAt = new Date(now).toISOString();
        c.slaVersion += 1;
      }
      if (awaitCustomer) {
        c.pause(now);
        await core.moveTo('WAITING_CUSTOMER', actor, 'waiting for the customer', audit(actor, 'responded', detail));
      } else if (c.status !== 'IN_PROGRESS') {
        c.resume(now);
        await core.moveTo('IN_PROGRESS', actor, 'responded', audit(actor, 'responded', detail));
      } else {
        await core.persist(undefined, audit(actor, 'responded', detail));
      }
    },
  );

  action(
    noteComplaintUpdate,
    ({ actor }) => may(actor, COMPLAINT_STAFF_ROLES, 'note on complaints'),
    async ({ actor, text }) => {
      c.note('note', actor, text, undefined, true);
      await core.persist();
    },
  );

  action(
    customerMessageUpdate,
    ({ actor }) => {
      may(actor, COMPLAINT_CUSTOMER_ROLES, "record the customer's messages");
      if (c.status === 'CLOSED') reject(CASE_ERRORS.wrongState, 'the complaint is CLOSED: reopen it first');
    },
    async ({ actor, text }) => {
      c.note('customer_message', actor, text);
      if (c.status === 'WAITING_CUSTOMER') {
        c.resume(Date.now());
        await core.moveTo('IN_PROGRESS', actor, 'the customer answered');
      } else {
        await core.persist();
      }
    },
  );

  action(
    changePriorityUpdate,
    ({ actor }) => {
      handles(actor, 'change the priority of complaints');
      isWorking();
    },
    async ({ actor, priority, reason }) => {
      if (priority === c.priority) return;
      const from = c.priority;
      c.priority = priority;
      c.slaVersion += 1;
      c.note('priority_changed', actor, reason, { from, to: priority });
      await core.persist(undefined, audit(actor, 'priority_changed', { from, to: priority, reason }));
    },
  );

  action(
    resolveComplaintUpdate,
    ({ actor, remedy }) => {
      handles(actor, 'resolve complaints');
      isWorking();
      if (remedyNeedsSupervisor(actor, remedy, policy)) {
        reject(CASE_ERRORS.forbidden, `goodwill above ${policy.goodwillAgentLimit} needs a supervisor`);
      }
      const refusal = remedyRefusal(remedy, input);
      if (refusal) reject(CASE_ERRORS.ruleViolation, `${refusal.field}: ${refusal.reason}`);
    },
    ({ actor, remedy, explanation }) => resolve(actor, remedy, explanation),
  );

  action(
    acceptResolutionUpdate,
    ({ actor }) => {
      may(actor, COMPLAINT_CUSTOMER_ROLES, 'accept resolutions');
      if (c.status !== 'RESOLVED') reject(CASE_ERRORS.wrongState, `the complaint is ${c.status}, not RESOLVED`);
    },
    async ({ actor }) => {
      if (c.accepted) return;
      c.accepted = true;
      c.note('accepted', actor);
      await core.persist(undefined, audit(actor, 'accepted'));
    },
  );

  action(
    disputeResolutionUpdate,
    ({ actor }) => {
      may(actor, COMPLAINT_CUSTOMER_ROLES, 'dispute resolutions');
      if (c.status !== 'RESOLVED') reject(CASE_ERRORS.wrongState, `the complaint is ${c.status}, not RESOLVED`);
    },
    async ({ actor, reason }) => {
      c.accepted = false;
      c.resolvedAt = undefined;
      c.note('disputed', actor, reason);
      c.resume(Date.now());
      await core.moveTo('IN_PROGRESS', actor, reason, audit(actor, 'disputed', { reason }));
    },
  );

  action(
    rateComplaintUpdate,
    ({ actor, score }) => {
      may(actor, COMPLAINT_CUSTOMER_ROLES, 'rate complaints');
      if (c.status !== 'RESOLVED') reject(CASE_ERRORS.wrongState, `the complaint is ${c.status}, not RESOLVED`);
      if (!Number.isInteger(score) || score < 1 || score > 5) {
        reject(CASE_ERRORS.ruleViolation, 'score: must be an integer from 1 to 5');
      }
    },
    async ({ actor, score, comment }) => {
      const at = new Date().toISOString();
      c.rating = { score, ...(comment ? { comment } : {}), at };
      c.accepted ??= true;
      c.note('rated', actor, comment, { score });
      await close('rated', actor, `rated ${score}`);
    },
  );

  action(
    reopenComplaintUpdate,
    ({ actor }) => {
      may(actor, COMPLAINT_CUSTOMER_ROLES, 'reopen complaints');
      if (c.status !== 'CLOSED') reject(CASE_ERRORS.wrongState, `the complaint is ${c.status}, not CLOSED`);
      const until = Date.parse(c.closedAt!) + policy.reopenWindowMs;
      if (Date.now() > until) {
        reject(CASE_ERRORS.wrongState, `the complaint can be reopened until ${new Date(until).toISOString()} only`);
      }
    },
    async ({ actor, reason }) => {
      c.reopenCount += 1;
      c.closedAt = undefined;
      c.outcome = undefined;
      c.rating = undefined;
      c.accepted = undefined;
      c.resolvedAt = undefined;
      c.restartClock(Date.now());
      c.note('reopened', actor, reason);
      if (!c.assignee) c.assignmentWanted = true;
      await core.moveTo('IN_PROGRESS', actor, reason, audit(actor, 'reopened', { reason }));
    },
  );

  // ---- the case's own steps ------------------------------------------------------------------------------------

  async function assign(picked: Omit<Assignment, 'at' | 'by'>, by: Actor, reason: string | undefined): Promise<void> {
    const from = c.assignee?.agentId;
    c.assignee = { ...picked, at: new Date().toISOString(), by: by.principal };
    c.clear('complaint_unassigned');
    c.note('assigned', by, reason, { agentId: picked.agentId, teamId: picked.teamId, ...(from ? { from } : {}) });
    await core.persist(undefined, audit(by, 'assigned', { agentId: picked.agentId, from, reason }));
  }

  /**
   * Gives the case to an agent when it has none or its agent went off duty; nobody free leaves it unassigned and
   * flagged, and tries again after a while or when an agent comes on duty. Runs beside the lifecycle.
   */
  async function staffing(): Promise<void> {
    for (;;) {
      await condition(() => c.assignmentWanted && c.status !== 'CLOSED');
      c.assignmentWanted = false;
      let refused = false;
      try {
        await core.exclusive(async () => {
          const leaving = c.assignee && c.offDuty.has(c.assignee.agentId) ? c.assignee.agentId : undefined;
          c.offDuty.clear();
          // Reassigned by a supervisor meanwhile: nothing to do.
          if (c.assignee && !leaving) return;
          const picked = await act.assignComplaint({
            complaintId,
            category: input.category,
            senior: c.needsSenior,
            exclude: leaving ? [leaving] : [],
          });
          if (picked) {
            await assign(picked, SYSTEM_ACTOR, leaving ? `${leaving} went off duty` : undefined);
            return;
          }
          if (leaving) {
            c.assignee = undefined;
            c.note('unassigned', SYSTEM_ACTOR, `${leaving} went off duty and nobody else is free`);
          }
          if (c.attention.has('complaint_unassigned')) {
            await core.persist();
            return;
          }
          await core.raise('complaint_unassigned', input.category, {
            topic: 'complaint_unassigned',
            message: `complaint ${complaintId} (${input.category}${c.needsSenior ? ', senior' : ''}) has no agent on duty`,
          });
        });
      } catch (error) {
        // Refused while the case hands over to its next run (which takes the wish over), or ops gave the step up:
        // tried again after the retry interval, never at once, which would spin without yielding.
        if (!(error instanceof ApplicationFailure)) throw error;
        refused = true;
      } finally {
        assignmentTried = true;
      }
      if ((refused || !c.assignee) && !(await condition(() => c.assignmentWanted, policy.assignRetryMs))) {
        c.assignmentWanted = true;
      }
    }
  }

  async function resolve(actor: Actor, remedy: Remedy, explanation: string): Promise<void> {
    const number = (c.resolution?.number ?? 0) + 1;
    const at = new Date().toISOString();
    const started: { refundId?: string; returnId?: string; creditReference?: string } = {};
    if (remedy.kind === 'goodwill_credit') {
      started.creditReference = `complaint:${complaintId}:goodwill:${number}`;
      await act.creditGoodwill({
        complaintId,
        customerId: input.customerId,
        amount: remedy.amount,
        currency: input.currency,
        reference: started.creditReference,
      });
    } else if (remedy.kind === 'refund') {
      started.refundId = `${complaintId}-refund-${number}`;
      await startRefundCase({
        refundId: started.refundId,
        orderId: input.orderId!,
        customerId: input.customerId,
        currency: input.currency,
        amount: remedy.amount,
        reason: 'complaint_resolution',
        note: explanation,
        origin: 'complaint',
        requestedBy: actor,
        requestedAt: at,
        policy: policy.refundPolicy,
      });
    } else if (remedy.kind === 'return') {
      started.returnId = `${complaintId}-return-${number}`;
      await startReturnCase({
        returnId: started.returnId,
        orderId: input.orderId!,
        customerId: input.customerId,
        currency: input.currency,
        lines: remedy.lines,
        reason: remedy.reason,
        type: remedy.type,
        method: remedy.method,
        failedGoods: remedy.failedGoods,
        evidence: { text: `complaint ${complaintId}: ${input.matter}` },
        requestedBy: actor,
        requestedAt: at,
        policy: policy.returnPolicy,
        refundPolicy: policy.refundPolicy,
      });
    }
    c.resolution = { number, remedy, explanation, actor: actor.principal, at, ...started };
    // The resolution reaches the customer: it answers them, if nothing did before.
    c.firstResponseAt ??= at;
    c.resolvedAt = at;
    c.accepted = undefined;
    // The customer has the turn: the clock waits for their verdict.
    c.pause(Date.now());
    c.note('resolved', actor, explanation, { remedy, ...started });
    await core.moveTo('RESOLVED', actor, explanation, audit(actor, 'resolved', { remedy, ...started }));
  }

  async function close(outcome: ComplaintOutcome, actor: Actor, reason: string): Promise<void> {
    c.outcome = outcome;
    c.closedAt = new Date().toISOString();
    c.note('closed', actor, reason, { outcome });
    await core.moveTo('CLOSED', actor, reason, audit(actor, 'closed', { outcome }));
  }

  /**
   * SLA breach `level` is due: recorded on the case (stored with the escalation's flag), and whom it goes to. The
   * first goes to the team's supervisor, later ones to management. Answers the staff message.
   */
  function breach(level: number): string {
    escalating = true;
    const timer: SlaTimer = breachPoints(c.schedule(), policy.escalationLevels)[level - 1]?.timer ?? 'resolution';
    if (timer === 'firstResponse') c.firstResponseBreached = true;
    const to = level === 1 ? (c.assignee?.supervisor ?? 'supervisors') : 'management';
    c.breaches.push({ level, timer, at: new Date().toISOString(), to });
    const what = timer === 'firstResponse' ? 'first response' : 'resolution';
    c.note('escalated', SYSTEM_ACTOR, `${what} SLA breached: escalated to ${to}`, { level, timer, to }, true);
    return `complaint ${complaintId} (${c.priority}, ${input.category}) breached its ${what} SLA: escalated to ${to} (level ${level})`;
  }

  /** The case shows ESCALATED until an agent responds. */
  async function escalated(level: number): Promise<void> {
    try {
      const { timer, to } = c.breaches.at(-1)!;
      if (c.status === 'OPEN' || c.status === 'IN_PROGRESS') {
        await core.moveTo('ESCALATED', SYSTEM_ACTOR, `${timer} SLA breached (level ${level}): escalated to ${to}`);
      }
    } finally {
      escalating = false;
    }
  }

  /** The agents' part: until resolved, with the SLA's escalations; while the customer has the turn, their wait. */
  async function work(): Promise<void> {
    while (c.working) {
      if (c.status === 'WAITING_CUSTOMER') {
        await awaitCustomer();
        continue;
      }
      await core.escalateAfter(() => !c.working || c.status === 'WAITING_CUSTOMER', {
        afterMs: 0,
        levels: policy.escalationLevels,
        reason: 'sla_breached',
        topic: 'complaint_sla_breached',
        message: breach,
        action: 'complaint.escalated',
        schedule: { deadline: (level) => c.breachDeadline(level, Date.now()), version: () => c.slaVersion },
        fromLevel: c.escalationLevel + 1,
        escalated: (level) => core.exclusive(() => escalated(level), true),
      });
    }
  }

  /** Waits for the customer's answer; past the reply window, the case goes back to the agent with its clock running. */
  async function awaitCustomer(): Promise<void> {
    const since = c.clock.pauses.at(-1)?.from ?? Date.now();
    const left = since + policy.customerReplyWindowMs - Date.now();
    if (await core.waitFor(() => c.status !== 'WAITING_CUSTOMER', Math.max(0, left))) return;
    await core.exclusive(async () => {
      if (c.status !== 'WAITING_CUSTOMER') return;
      c.resume(Date.now());
      c.note('note', SYSTEM_ACTOR, 'no answer from the customer in time', undefined, true);
      await core.moveTo('IN_PROGRESS', SYSTEM_ACTOR, 'no answer from the customer in time');
    }, true);
  }

  /** Waits for the customer's verdict on a resolution: a dispute reopens the work, no rating in time closes the case. */
  async function awaitVerdict(): Promise<void> {
    const left = Date.parse(c.resolvedAt!) + policy.ratingWindowMs - Date.now();
    if (await core.waitFor(() => c.status !== 'RESOLVED', Math.max(0, left))) return;
    await core.exclusive(async () => {
      if (c.status === 'RESOLVED') await close('closed_without_rating', SYSTEM_ACTOR, 'not rated in time');
    }, true);
  }

  /** Waits out the reopen window of a closed case; true when it was reopened. */
  async function awaitReopen(): Promise<boolean> {
    const left = Date.parse(c.closedAt!) + policy.reopenWindowMs - Date.now();
    if (await core.waitFor(() => c.status !== 'CLOSED', Math.max(0, left))) return true;
    // A reopen accepted just as the window closed is still carried out.
    await condition(() => allHandlersFinished() && !c.busy && settled());
    return c.status !== 'CLOSED';
  }

  try {
    if (!c.continued) {
      c.note('opened', input.requestedBy, input.matter, {
        channel: input.channel,
        category: input.category,
        priority: input.priority,
        target: input.target,
      });
      await core.moveTo('OPEN', input.requestedBy, input.reason, audit(input.requestedBy, 'opened'));
    } else {
      // The row says which run the case is in.
      await core.persist();
    }
    void staffing();
    for (;;) {
      if (c.working) await work();
      else if (c.status === 'RESOLVED') await awaitVerdict();
      else if (!(await awaitReopen())) break;
    }
  } catch (error) {
    if (error instanceof StepAbandoned) {
      c.flag('failed', error.message);
      await core.compensate(() => close('abandoned', core.recoveredBy(), error.message));
    } else if (isCancellation(error)) {
      // Cancelled in Temporal by ops: the case is closed as it stands; cases it started run on.
      await core.compensate(() =>
        close('abandoned', { principal: workflowInfo().workflowId, role: 'system' }, 'workflow cancelled'),
      );
      throw error;
    } else {
      throw error;
    }
  }
  return c.view();
}
