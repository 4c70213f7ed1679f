import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Actor } from '../domain/case';
import type { ComplaintPriority, ComplaintView, Remedy } from '../domain/complaint';

/** Messages of the complaint workflow, shared by the workflow and every client (API, tests). */

export const complaintWorkflowId = (complaintId: string): string => `complaint-${complaintId}`;

/** Every action names itself with `key` (the request's Idempotency-Key): the same key again changes nothing. */
interface Keyed {
  actor: Actor;
  key: string;
}

/** Completes once the complaint is stored and its first assignment tried; the API answers the request with it. */
export const awaitComplaintUpdate = defineUpdate<ComplaintView>('awaitComplaint');

/** A supervisor gives the complaint to another agent. */
export const assignComplaintUpdate = defineUpdate<ComplaintView, [Keyed & { agentId: string; reason?: string }]>(
  'assignComplaint',
);
/** A response to the customer; `awaitCustomer` pauses the SLA clock until the customer answers. */
export const respondComplaintUpdate = defineUpdate<ComplaintView, [Keyed & { text: string; awaitCustomer?: boolean }]>(
  'respondComplaint',
);
/** An internal note: never shown to the customer, does not count as a response. */
export const noteComplaintUpdate = defineUpdate<ComplaintView, [Keyed & { text: string }]>('noteComplaint');
/** The customer wrote back (through the upstream system, or told an agent): the SLA clock runs again. */
export const customerMessageUpdate = defineUpdate<ComplaintView, [Keyed & { text: string }]>(
  'complaintCustomerMessage',
);
/** A new priority: the running timers' deadlines move to its targets, from the same start. */
export const changePriorityUpdate = defineUpdate<
  ComplaintView,
  [Keyed & { priority: ComplaintPriority; reason: string }]
>('changeComplaintPriority');
/** Resolves the complaint with a remedy; a refund or return remedy starts its own case. */
export const resolveComplaintUpdate = defineUpdate<ComplaintView, [Keyed & { remedy: Remedy; explanation: string }]>(
  'resolveComplaint',
);
export const acceptResolutionUpdate = defineUpdate<ComplaintView, [Keyed]>('acceptComplaintResolution');
/** The customer does not accept the resolution: the case goes back to the agent. */
export const disputeResolutionUpdate = defineUpdate<ComplaintView, [Keyed & { reason: string }]>(
  'disputeComplaintResolution',
);
/** The customer's satisfaction, 1–5: closes the case. */
export const rateComplaintUpdate = defineUpdate<ComplaintView, [Keyed & { score: number; comment?: string }]>(
  'rateComplaint',
);
/** Reopens a closed case within the reopen window. */
export const reopenComplaintUpdate = defineUpdate<ComplaintView, [Keyed & { reason: string }]>('reopenComplaint');

/**
 * Staffing changed for this complaint (its agent went off duty, an agent came on duty for its team): a hint to assign
 * it again; who is on duty is read from PostgreSQL.
 */
export const staffingChangedSignal = defineSignal<[{ agentId: string; onDuty: boolean }]>('complaintStaffingChanged');

export const complaintStateQuery = defineQuery<ComplaintView>('complaintState');
