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

/** Quiet hours as minutes of the day in the customer's time zone; `start` after `end` spans midnight. */
export interface QuietHours {
  startMinute: number;
  endMinute: number;
}

/** `22:00-08:00` as quiet hours; an empty string means none. */
export function parseQuietHours(text: string): QuietHours | undefined {
  if (text.trim() === '') return undefined;
  const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (!match) throw new RangeError(`quiet hours must look like 22:00-08:00, got ${JSON.stringify(text)}`);
  const [, sh, sm, eh, em] = match.map(Number);
  const window = { startMinute: sh * 60 + sm, endMinute: eh * 60 + em };
  if (window.startMinute === window.endMinute) throw new RangeError('quiet hours must not start and end at once');
  return window;
}

/** Minutes since midnight, with the seconds and milliseconds past that minute, at `at` in `timeZone`. */
function localClock(at: Date, timeZone: string): { minute: number; pastMinuteMs: number } {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .formatToParts(at)
    .reduce<Record<string, string>>((all, part) => ({ ...all, [part.type]: part.value }), {});
  return { minute: Number(parts.hour) * 60 + Number(parts.minute), pastMinuteMs: at.getTime() % 60_000 };
}

/**
 * When the quiet hours around `at` end in the customer's time zone, or undefined when `at` is not in them. (A clock
 * change in the night moves the end by its hour; the message then waits an hour more or less.)
 */
export function quietUntil(at: Date, timeZone: string, quiet: QuietHours | undefined): Date | undefined {
  if (!quiet) return undefined;
  const { minute, pastMinuteMs } = localClock(at, timeZone);
  const { startMinute, endMinute } = quiet;
  const inside =
    startMinute < endMinute ? minute >= startMinute && minute < endMinute : minute >= startMinute || minute < endMinute;
  if (!inside) return undefined;
  const minutesLeft = (endMinute - minute + 1440) % 1440;
  return new Date(at.getTime() + minutesLeft * 60_000 - pastMinuteMs);
}

/**
 * Events a customer must hear of at once, quiet hours or not: a payment still to make before the order lapses, an
 * order that was cancelled or failed.
 */
export const URGENT_TEMPLATES: readonly string[] = ['order.pending_payment', 'order.cancelled', 'order.failed'];

/** Channels that wake someone up, and so keep quiet hours; the in-app inbox waits silently anyway. */
export const QUIET_CHANNELS: readonly NotificationChannel[] = ['email', 'sms', 'push'];
