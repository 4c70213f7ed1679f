import { PHONE_PATTERN } from './phone';

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
