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
 * `leased_until`; sent; failed: refused for good, with the reason. held: waiting for the customer's daily or weekly
 * digest (`digest`); digested: gone out in the digest row `digest_key`.
 */
export const OUTBOX_STATUSES = ['pending', 'sending', 'sent', 'failed', 'held', 'digested'] as const;
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

/** What a message is about, as a customer chooses what to hear of: each category has its channels and frequency. */
export const NOTIFICATION_CATEGORIES = ['order', 'payment', 'logistics', 'after_sales', 'promotions'] as const;
export type NotificationCategory = (typeof NOTIFICATION_CATEGORIES)[number];

/** realtime: each message as it happens; daily / weekly: collected into one digest per channel. */
export const NOTIFICATION_FREQUENCIES = ['realtime', 'daily', 'weekly'] as const;
export type NotificationFrequency = (typeof NOTIFICATION_FREQUENCIES)[number];
export type DigestFrequency = Exclude<NotificationFrequency, 'realtime'>;
export const DIGEST_FREQUENCIES = ['daily', 'weekly'] as const satisfies readonly DigestFrequency[];

/** One category's choice: where its messages go (none: not at all) and how often. */
export interface CategoryPreference {
  channels: CustomerChannel[];
  frequency: NotificationFrequency;
}

const ORDER_CATEGORY: Record<string, NotificationCategory> = {
  pending_payment: 'payment',
  paid: 'payment',
  fulfilling: 'logistics',
  shipped: 'logistics',
  delivered: 'logistics',
};

/**
 * The category of a customer template: paying for an order is `payment`, its parcels `logistics`, refunds, returns
 * and complaints `after_sales`, `promotion.*` `promotions`, the rest of an order's life `order`.
 */
export function categoryOf(template: string): NotificationCategory {
  const dot = template.indexOf('.');
  const kind = dot < 0 ? template : template.slice(0, dot);
  const event = dot < 0 ? '' : template.slice(dot + 1);
  switch (kind) {
    case 'refund':
    case 'return':
    case 'complaint':
      return 'after_sales';
    case 'promotion':
      return 'promotions';
    default:
      return ORDER_CATEGORY[event] ?? 'order';
  }
}

/**
 * What a customer who never chose hears of a category: every category on the channels they signed up with
 * (`customers.notify_channels`), as often as they signed up for (`notify_frequency`); promotions only once they
 * opt in.
 */
export function defaultPreference(
  category: NotificationCategory,
  signedUp: readonly string[],
  frequency: NotificationFrequency = 'realtime',
): CategoryPreference {
  if (category === 'promotions') return { channels: [], frequency: 'realtime' };
  return { channels: CUSTOMER_CHANNELS.filter((channel) => signedUp.includes(channel)), frequency };
}

/**
 * How often a message goes out under a preference: urgent news (a payment due before the order lapses, a cancelled or
 * failed order) at once whatever the customer chose, the rest as chosen.
 */
export function frequencyFor(template: string, preference: CategoryPreference): NotificationFrequency {
  return URGENT_TEMPLATES.includes(template) ? 'realtime' : preference.frequency;
}

/** Days of the week, Monday first, as NOTIFY_DIGEST_WEEKDAY names them. */
export const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** When digests go out in each customer's time zone: daily at `hour`:00, weekly on `weekday` at `hour`:00. */
export interface DigestTime {
  hour: number;
  weekday: Weekday;
}

const SHORT_WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/**
 * The digest period of a customer that ended last at or before `at`: it ends at the latest `hour`:00 (on `weekday`
 * for weekly digests) in the customer's time zone, and begins a day (a week) before. (On a day the clocks change,
 * the end moves by that hour, as quiet hours do.)
 */
export function digestPeriod(
  at: Date,
  timeZone: string,
  frequency: DigestFrequency,
  time: DigestTime,
): { from: Date; to: Date } {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  })
    .formatToParts(at)
    .reduce<Record<string, string>>((all, part) => ({ ...all, [part.type]: part.value }), {});
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const start = time.hour * 60;
  let minutesSince = (minute - start + 1440) % 1440;
  const day = 86_400_000;
  if (frequency === 'weekly') {
    const today = SHORT_WEEKDAYS.indexOf(parts.weekday);
    const endDay = minute >= start ? today : (today + 6) % 7;
    minutesSince += ((endDay - WEEKDAYS.indexOf(time.weekday) + 7) % 7) * 1440;
  }
  const to = new Date(at.getTime() - minutesSince * 60_000 - (at.getTime() % 60_000));
  return { from: new Date(to.getTime() - (frequency === 'weekly' ? 7 : 1) * day), to };
}
