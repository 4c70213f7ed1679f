import type { NotificationChannel } from './ports';

/**
 * Notifications (REQUIREMENTS NOT): what a customer hears on which channel, and how the outbox tracks each message
 * from written to sent. No I/O.
 */

/** The languages messages are written in; a customer's `locale` picks one. */
export const LOCALES = ['zh-CN', 'en'] as const;
export type Locale = (typeof LOCALES)[number];

/** The channels a customer can choose; `staff` is for staff only. */
export const CUSTOMER_CHANNELS = ['email', 'sms', 'push', 'in_app'] as const satisfies readonly NotificationChannel[];
export type CustomerChannel = (typeof CUSTOMER_CHANNELS)[number];

/**
 * pending: waiting to be sent (or to be retried at `next_attempt_at`); sending: leased by a dispatcher until
 * `leased_until`; sent; failed: refused for good, with the reason.
 */
export const OUTBOX_STATUSES = ['pending', 'sending', 'sent', 'failed'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/** How long to wait before attempt `attempt + 1` of a message that failed for now: doubling, capped, with jitter. */
export function retryDelayMs(attempt: number, policy: { baseMs: number; maxMs: number }, random = Math.random): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  // Up to a fifth less, so messages that failed together are not retried together.
  return Math.round(exponential * (1 - random() * 0.2));
}

/** Staff teams whose inbox a staff message lands in. */
export const STAFF_TEAMS = ['agents', 'supervisors', 'warehouse', 'finance', 'ops'] as const;
export type StaffTeam = (typeof STAFF_TEAMS)[number];

/**
 * Which team a staff message is for, by topic: approvals and inspections to whoever does them, breaches and
 * escalations to supervisors, stuck steps and carriers to ops, refused refunds to finance. A refund awaiting a
 * supervisor (above the agent limit) goes to supervisors, others to agents.
 */
export function staffTeamOf(topic: string, payload: { approver?: unknown } = {}): StaffTeam {
  switch (topic) {
    case 'refund_approval_overdue':
      return payload.approver === 'supervisor' ? 'supervisors' : 'agents';
    case 'return_approval_overdue':
    case 'return_parcel_lost':
    case 'return_refund_rejected':
      return 'agents';
    case 'return_to_inspect':
      return 'warehouse';
    case 'refund_failed':
      return 'finance';
    case 'review_sla_breached':
    case 'complaint_sla_breached':
    case 'complaint_unassigned':
      return 'supervisors';
    default:
      return 'ops';
  }
}

/** A customer's phone number as SMS providers take it: E.164, an 11-digit CN mobile number gaining +86. */
export function e164(phone: string): string {
  const digits = phone.replace(/[\s-]/g, '');
  return /^1\d{10}$/.test(digits) ? `+86${digits}` : digits;
}
