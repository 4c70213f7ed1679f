import type { Actor, CaseStateCarry, HistoryEntry } from './case';
import type { LineRequest } from './order';
import { PHONE_PATTERN } from './phone';
import type { RefundPolicy } from './refund';
import type { FailedGoodsChoice, ReturnMethod, ReturnPolicy, ReturnReason, ReturnType } from './return';
import type { Role } from './roles';

/**
 * Complaint cases (DESIGN §3 Complaint, REQUIREMENTS CS): what a complaint is made of, and the SLA clock its timers
 * run on. No I/O: the workflow keeps the clock in its state and asks it for deadlines.
 */

/** Where the customer complained (CS-1). */
export const COMPLAINT_CHANNELS = ['phone', 'email', 'chat', 'app'] as const;
export type ComplaintChannel = (typeof COMPLAINT_CHANNELS)[number];

/** CS-4's categories; each has a team of agents. */
export const COMPLAINT_CATEGORIES = ['product_quality', 'logistics', 'after_sales', 'staff'] as const;
export type ComplaintCategory = (typeof COMPLAINT_CATEGORIES)[number];

export const COMPLAINT_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type ComplaintPriority = (typeof COMPLAINT_PRIORITIES)[number];

/**
 * OPEN → IN_PROGRESS (responses, notes) ⇄ WAITING_CUSTOMER (the SLA clock pauses) → RESOLVED with a remedy → CLOSED
 * (rated, or not rated in time); ESCALATED while an SLA is breached; a dispute sends a resolved case back to
 * IN_PROGRESS, and a closed one may be reopened within the reopen window.
 */
export const COMPLAINT_STATUSES = [
  'OPEN',
  'IN_PROGRESS',
  'WAITING_CUSTOMER',
  'ESCALATED',
  'RESOLVED',
  'CLOSED',
] as const;
export type ComplaintStatus = (typeof COMPLAINT_STATUSES)[number];

/** The two timers every complaint runs: the first response to the customer, and the resolution. */
export type SlaTimer = 'firstResponse' | 'resolution';

/** How long each timer runs, per priority (configuration). */
export type ComplaintSlaPolicy = Record<ComplaintPriority, Record<SlaTimer, number>>;

/** Milliseconds, with when the clock started and every pause (waiting on the customer) since. */
export interface SlaClock {
  startedAt: number;
  /** Closed pauses first to last; the last may still be open (`to` undefined). */
  pauses: { from: number; to?: number }[];
}

export const startClock = (at: number): SlaClock => ({ startedAt: at, pauses: [] });

/** The clock stopped at `at` (the case waits on the customer); pausing a paused clock changes nothing. */
export function pauseClock(clock: SlaClock, at: number): SlaClock {
  if (isPaused(clock)) return clock;
  return { ...clock, pauses: [...clock.pauses, { from: Math.max(at, clock.startedAt) }] };
}

/** The clock running again from `at`; resuming a running clock changes nothing. */
export function resumeClock(clock: SlaClock, at: number): SlaClock {
  if (!isPaused(clock)) return clock;
  const last = clock.pauses.at(-1)!;
  return { ...clock, pauses: [...clock.pauses.slice(0, -1), { from: last.from, to: Math.max(at, last.from) }] };
}

export const isPaused = (clock: SlaClock): boolean => clock.pauses.length > 0 && clock.pauses.at(-1)!.to === undefined;

/** Time the clock has run by `now`: from its start, less every pause. */
export function elapsed(clock: SlaClock, now: number): number {
  const paused = clock.pauses.reduce((sum, p) => sum + (Math.min(p.to ?? now, now) - Math.min(p.from, now)), 0);
  return Math.max(0, now - clock.startedAt - paused);
}

/**
 * When a timer of `targetMs` breaches, seen at `now`: the start plus the target plus every pause so far. Undefined
 * while the clock is paused, as no deadline runs then. A new priority's target moves the deadline of a running timer
 * by the difference, from the same start.
 */
export function deadlineOf(clock: SlaClock, targetMs: number, now: number): number | undefined {
  if (isPaused(clock)) return undefined;
  return now + Math.max(0, targetMs - elapsed(clock, now));
}

/** The SLA policy from the configured defaults: urgent complaints have their own, tighter targets. */
export function complaintSlaPolicy(targets: {
  firstResponseMs: number;
  firstResponseUrgentMs: number;
  resolutionMs: number;
  resolutionUrgentMs: number;
}): ComplaintSlaPolicy {
  const normal = { firstResponse: targets.firstResponseMs, resolution: targets.resolutionMs };
  return {
    low: normal,
    normal,
    high: normal,
    urgent: { firstResponse: targets.firstResponseUrgentMs, resolution: targets.resolutionUrgentMs },
  };
}

/** Why the complaint's contact and names are not acceptable (CS-4); undefined when they are. */
export function complaintContactRefusal(contact: {
  name: string;
  phone?: string;
  email?: string;
}): { field: string; reason: string } | undefined {
  const name = contact.name.trim();
  if ([...name].length < 2 || [...name].length > 30) {
    return { field: 'contact.name', reason: 'must be 2-30 characters' };
  }
  if (!contact.phone && !contact.email) return { field: 'contact', reason: 'a phone number or an email is required' };
  if (contact.phone && !PHONE_PATTERN.test(contact.phone)) {
    return { field: 'contact.phone', reason: 'must be E.164 (+8613800138000) or an 11-digit CN mobile number' };
  }
  return undefined;
}

/** Customer segments (CS-8): VIP customers' complaints go to senior agents. */
export const CUSTOMER_LEVELS = ['regular', 'vip'] as const;
export type CustomerLevel = (typeof CUSTOMER_LEVELS)[number];

export const AGENT_SENIORITIES = ['junior', 'senior'] as const;
export type AgentSeniority = (typeof AGENT_SENIORITIES)[number];

/** What a resolution gives the customer (DESIGN §3 Complaint). */
export const REMEDY_KINDS = ['explanation', 'goodwill_credit', 'refund', 'return'] as const;
export type RemedyKind = (typeof REMEDY_KINDS)[number];

export type Remedy =
  | { kind: 'explanation' }
  /** Credit to the customer's platform balance, minor units. */
  | { kind: 'goodwill_credit'; amount: number }
  /** Money back on the complaint's order: a refund case of its own. */
  | { kind: 'refund'; amount: number }
  /** Goods of the complaint's order taken back: a return case of its own. */
  | {
      kind: 'return';
      lines: LineRequest[];
      reason: ReturnReason;
      type: ReturnType;
      method: ReturnMethod;
      failedGoods: FailedGoodsChoice;
    };

export interface ComplaintContact {
  name: string;
  phone?: string;
  email?: string;
}

export interface ComplaintPolicy {
  sla: ComplaintSlaPolicy;
  /** How many SLA breaches escalate, one level each; later breaches change nothing. */
  escalationLevels: number;
  /** Complaints about orders totalling more than this (minor units) go to senior agents. */
  seniorOrderTotal: number;
  /** Goodwill an agent may grant; above it a supervisor must resolve. */
  goodwillAgentLimit: number;
  /** After resolution: no rating within this closes the case. */
  ratingWindowMs: number;
  /** After closing: the customer may reopen within this. */
  reopenWindowMs: number;
  /** Waiting on the customer longer than this puts the case back in the agent's hands, its clock running. */
  customerReplyWindowMs: number;
  /** No agent on duty for the case: try again after this, or when one comes on duty. */
  assignRetryMs: number;
  /** Events in one run's history before the case continues as new. */
  historyLimit: number;
  stepAttentionAfterMs: number;
  refundPolicy: RefundPolicy;
  returnPolicy: ReturnPolicy;
}

/** Who looks after a complaint. */
export interface Assignment {
  agentId: string;
  teamId: string;
  /** The team's supervisor: escalations go to them. */
  supervisor?: string;
  seniority: AgentSeniority;
  at: string;
  /** `system` for automatic assignment, else the supervisor who reassigned. */
  by: string;
}

export const TIMELINE_KINDS = [
  'opened',
  'assigned',
  'unassigned',
  'response',
  'note',
  'customer_message',
  'priority_changed',
  'escalated',
  'resolved',
  'accepted',
  'disputed',
  'rated',
  'closed',
  'reopened',
] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

/** One thing that happened on a complaint, timestamped with its actor; notes are internal, responses reach the customer. */
export interface TimelineEntry {
  seq: number;
  kind: TimelineKind;
  at: string;
  actor: string;
  role: Role;
  text?: string;
  internal: boolean;
  detail?: Record<string, unknown>;
}

export interface ComplaintResolution {
  /** Counts resolutions of this case from 1: a disputed one is followed by another. */
  number: number;
  remedy: Remedy;
  explanation: string;
  actor: string;
  at: string;
  /** The case the remedy started, or the balance entry it credited. */
  refundId?: string;
  returnId?: string;
  creditReference?: string;
}

export interface SlaBreach {
  level: number;
  timer: SlaTimer;
  at: string;
  /** Whom it was escalated to: the team's supervisor, then management. */
  to: string;
}

/** How a complaint closed: rated by the customer, not rated in time, or given up (cancelled or failed for good). */
export const COMPLAINT_OUTCOMES = ['rated', 'closed_without_rating', 'abandoned'] as const;
export type ComplaintOutcome = (typeof COMPLAINT_OUTCOMES)[number];

export interface ComplaintInput {
  complaintId: string;
  channel: ComplaintChannel;
  customerId: string;
  customerLevel: CustomerLevel;
  orderId?: string;
  /** The order's total, minor units, when the complaint is about an order. */
  orderTotal?: number;
  currency: string;
  category: ComplaintCategory;
  /** Whom or what the complaint is about (a product, a courier, a person). */
  target: string;
  matter: string;
  reason: string;
  contact: ComplaintContact;
  priority: ComplaintPriority;
  requestedBy: Actor;
  requestedAt: string;
  policy: ComplaintPolicy;
  /** Digest of the request that opened the complaint. */
  requestHash: string;
  /** What an earlier run of this case hands on when it continues as new. */
  carried?: ComplaintCarry;
}

/** Everything a complaint's run hands its next run, beside the input. */
export interface ComplaintCarry {
  core: CaseStateCarry<ComplaintStatus>;
  priority: ComplaintPriority;
  assignee?: Assignment;
  clock: SlaClock;
  firstResponseAt?: string;
  firstResponseBreached: boolean;
  breaches: SlaBreach[];
  resolution?: ComplaintResolution;
  accepted?: boolean;
  rating?: ComplaintRating;
  resolvedAt?: string;
  closedAt?: string;
  outcome?: ComplaintOutcome;
  reopenCount: number;
  timelineCount: number;
  /** The latest entries, for the view; every entry is in PostgreSQL. */
  recentTimeline: TimelineEntry[];
  /** Request keys already acted on, so a client's retry after the hand-over changes nothing. */
  doneKeys: string[];
  /** Agents who went off duty holding the case, not yet handed over. */
  offDuty?: string[];
  runs: number;
}

export interface ComplaintRating {
  score: number;
  comment?: string;
  at: string;
}

export interface ComplaintView {
  complaintId: string;
  channel: ComplaintChannel;
  customerId: string;
  customerLevel: CustomerLevel;
  orderId?: string;
  currency: string;
  category: ComplaintCategory;
  target: string;
  matter: string;
  reason: string;
  contact: ComplaintContact;
  priority: ComplaintPriority;
  status: ComplaintStatus;
  requestedBy: Actor;
  requestedAt: string;
  /** VIP customer or a large order: only senior agents take it. */
  needsSenior: boolean;
  assignee?: Assignment;
  firstResponseAt?: string;
  /** The running timers' deadlines; absent once met or while the clock is paused. */
  firstResponseDeadline?: string;
  resolutionDeadline?: string;
  slaPaused: boolean;
  breaches: SlaBreach[];
  escalationLevel: number;
  resolution?: ComplaintResolution;
  accepted?: boolean;
  rating?: ComplaintRating;
  resolvedAt?: string;
  closedAt?: string;
  outcome?: ComplaintOutcome;
  reopenCount: number;
  /** The latest entries of the timeline (all of them from the API); `timelineCount` counts every entry. */
  timeline: TimelineEntry[];
  timelineCount: number;
  /** How many runs the case has had (it continues as new when its history grows). */
  runs: number;
  history: HistoryEntry<ComplaintStatus>[];
  needsAttention: boolean;
  attentionReasons: string[];
  slaDeadline?: string;
}

/** Who takes complaints about this customer and order: senior agents for VIPs and large orders. */
export function needsSeniorAgent(
  customerLevel: CustomerLevel,
  orderTotal: number | undefined,
  policy: Pick<ComplaintPolicy, 'seniorOrderTotal'>,
): boolean {
  return customerLevel === 'vip' || (orderTotal ?? 0) > policy.seniorOrderTotal;
}

/** The state an SLA schedule reads: the clock, the targets in force, and whether the first response is settled. */
export interface SlaSchedule {
  clock: SlaClock;
  targets: Record<SlaTimer, number>;
  /** Responded before its deadline: the first-response timer no longer counts. */
  firstResponseMet: boolean;
}

/**
 * The breaches an open complaint escalates at, in the clock's time (ms it has run): the first response target unless
 * it was met, then the resolution target and each further multiple of it, up to `levels`. Level L escalates at
 * `points[L-1]`.
 */
export function breachPoints(schedule: SlaSchedule, levels: number): { timer: SlaTimer; after: number }[] {
  const points: { timer: SlaTimer; after: number }[] = [];
  if (!schedule.firstResponseMet) points.push({ timer: 'firstResponse', after: schedule.targets.firstResponse });
  for (let k = 1; points.length < levels; k += 1) {
    points.push({ timer: 'resolution', after: schedule.targets.resolution * k });
  }
  return points.sort((a, b) => a.after - b.after).slice(0, levels);
}

/** Wall-clock deadline of escalation `level` seen at `now`; undefined beyond the last level or while paused. */
export function breachDeadline(schedule: SlaSchedule, levels: number, level: number, now: number): number | undefined {
  const point = breachPoints(schedule, levels)[level - 1];
  return point && deadlineOf(schedule.clock, point.after, now);
}

/** Why this remedy cannot resolve this complaint; undefined when it can. Who may grant it is `remedyNeedsSupervisor`. */
export function remedyRefusal(
  remedy: Remedy,
  complaint: { orderId?: string },
): { field: string; reason: string } | undefined {
  if ((remedy.kind === 'refund' || remedy.kind === 'return') && !complaint.orderId) {
    return { field: 'remedy.kind', reason: `a ${remedy.kind} needs a complaint about an order` };
  }
  if (
    (remedy.kind === 'refund' || remedy.kind === 'goodwill_credit') &&
    !(Number.isSafeInteger(remedy.amount) && remedy.amount > 0)
  ) {
    return { field: 'remedy.amount', reason: 'must be a positive integer (minor units)' };
  }
  if (remedy.kind === 'return' && remedy.lines.length === 0) {
    return { field: 'remedy.lines', reason: 'a return needs at least one line' };
  }
  return undefined;
}

/** Goodwill above the agent limit is a supervisor's to grant. */
export function remedyNeedsSupervisor(
  actor: Actor,
  remedy: Remedy,
  policy: Pick<ComplaintPolicy, 'goodwillAgentLimit'>,
): boolean {
  return actor.role === 'agent' && remedy.kind === 'goodwill_credit' && remedy.amount > policy.goodwillAgentLimit;
}
