import fc from 'fast-check';
import {
  categoryOf,
  defaultPreference,
  digestPeriod,
  e164,
  frequencyFor,
  parseQuietHours,
  quietUntil,
  retryDelayMs,
  staffTeamOf,
  WEEKDAYS,
} from '../../domain/notification';
import { CUSTOMER_TEMPLATES } from '../../notifications/templates';

const MINUTE = 60_000;
const NIGHT = parseQuietHours('22:00-08:00')!;

/** The wall-clock minute of the day at `at` in `timeZone`. */
function localMinute(at: Date, timeZone: string): number {
  const [hour, minute] = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  })
    .format(at)
    .split(':')
    .map(Number);
  return hour * 60 + minute;
}

const ZONES = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'UTC'];
const instant = fc.date({
  min: new Date('2026-01-01T00:00:00Z'),
  max: new Date('2027-12-31T00:00:00Z'),
  noInvalidDate: true,
});

describe('quiet hours', () => {
  it('holds a message sent between 22:00 and 08:00 local time until 08:00, and lets any other through', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...ZONES), (at, zone) => {
        const minute = localMinute(at, zone);
        const quiet = minute >= 22 * 60 || minute < 8 * 60;
        const until = quietUntil(at, zone, NIGHT);
        if (!quiet) {
          expect(until).toBeUndefined();
          return;
        }
        expect(until).toBeDefined();
        // At 08:00 sharp where the customer lives, within the next ten hours (an hour more or less over a clock change).
        expect(localMinute(until!, zone)).toBeGreaterThanOrEqual(7 * 60);
        expect(localMinute(until!, zone)).toBeLessThanOrEqual(9 * 60);
        expect(until!.getTime() % MINUTE).toBe(0);
        expect(until!.getTime()).toBeGreaterThan(at.getTime());
        expect(until!.getTime() - at.getTime()).toBeLessThanOrEqual(11 * 60 * MINUTE);
      }),
    );
  });

  it('takes windows within a day too, and none when not configured', () => {
    const lunch = parseQuietHours('12:00-13:30')!;
    const noon = new Date('2026-06-01T04:15:30Z'); // 12:15:30 in Shanghai
    expect(quietUntil(noon, 'Asia/Shanghai', lunch)).toEqual(new Date('2026-06-01T05:30:00Z'));
    expect(quietUntil(noon, 'UTC', lunch)).toBeUndefined();
    expect(quietUntil(noon, 'Asia/Shanghai', parseQuietHours(''))).toBeUndefined();
    expect(() => parseQuietHours('22-08')).toThrow(/22:00-08:00/);
    expect(() => parseQuietHours('08:00-08:00')).toThrow();
  });
});

describe('delivery rules', () => {
  it('backs off doubling up to the cap, never more, at most a fifth less', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (attempt, dice) => {
        const delay = retryDelayMs(attempt, { baseMs: 1_000, maxMs: 60_000 }, () => dice);
        const full = Math.min(60_000, 1_000 * 2 ** (attempt - 1));
        expect(delay).toBeLessThanOrEqual(full);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(full * 0.8));
      }),
    );
  });

  it('sends staff messages to the team that acts on them', () => {
    expect(staffTeamOf('refund_approval_overdue', { approver: 'supervisor' })).toBe('supervisors');
    expect(staffTeamOf('refund_approval_overdue', { approver: 'agent' })).toBe('agents');
    expect(staffTeamOf('complaint_sla_breached')).toBe('supervisors');
    expect(staffTeamOf('return_parcel_lost')).toBe('agents');
    expect(staffTeamOf('refund_failed')).toBe('finance');
    expect(staffTeamOf('step_failed')).toBe('ops');
  });

  it('writes CN mobile numbers in E.164 for SMS gateways', () => {
    expect(e164('13800138000')).toBe('+8613800138000');
    expect(e164('138 0013 8000')).toBe('+8613800138000');
    expect(e164('+8613800138000')).toBe('+8613800138000');
  });
});

/** The weekday (Monday first, as WEEKDAYS) at `at` in `timeZone`. */
function localWeekday(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'long' }).format(at).toLowerCase();
}

/** Fixed-offset zones from UTC-12 to UTC+14 (Etc/GMT-8 is UTC+8): no clock changes. */
const FIXED_ZONES = Array.from({ length: 27 }, (_, i) => i - 12).map((offset) =>
  offset === 0 ? 'UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`,
);
const DAY = 24 * 60 * MINUTE;

describe('digest periods', () => {
  const hour = fc.integer({ min: 0, max: 23 });
  const weekday = fc.constantFrom(...WEEKDAYS);

  it('end at the last digest hour of the customer’s day at or before now, and last a day', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...FIXED_ZONES), hour, weekday, (at, zone, h, w) => {
        const { from, to } = digestPeriod(at, zone, 'daily', { hour: h, weekday: w });
        expect(localMinute(to, zone)).toBe(h * 60);
        expect(to.getTime() % MINUTE).toBe(0);
        expect(to.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(at.getTime() - to.getTime()).toBeLessThan(DAY);
        expect(to.getTime() - from.getTime()).toBe(DAY);
        // The period that ends at its own end is itself: a run at the digest hour sends that day's digest.
        expect(digestPeriod(to, zone, 'daily', { hour: h, weekday: w }).to).toEqual(to);
      }),
    );
  });

  it('end weekly on the chosen weekday at the digest hour, and last a week', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...FIXED_ZONES), hour, weekday, (at, zone, h, w) => {
        const { from, to } = digestPeriod(at, zone, 'weekly', { hour: h, weekday: w });
        expect(localMinute(to, zone)).toBe(h * 60);
        expect(localWeekday(to, zone)).toBe(w);
        expect(to.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(at.getTime() - to.getTime()).toBeLessThan(7 * DAY);
        expect(to.getTime() - from.getTime()).toBe(7 * DAY);
      }),
    );
  });

  it('stay within an hour of that in zones whose clocks change', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...ZONES), hour, (at, zone, h) => {
        const { to } = digestPeriod(at, zone, 'daily', { hour: h, weekday: 'monday' });
        expect(to.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(at.getTime() - to.getTime()).toBeLessThan(DAY + 60 * MINUTE);
        expect(Math.abs(localMinute(to, zone) - h * 60) % (23 * 60)).toBeLessThanOrEqual(60);
      }),
    );
  });

  it('in Shanghai: a day’s digest at 08:00 covers the day before it', () => {
    // 2026-11-24 10:30 in Shanghai (UTC+8), a Tuesday.
    const at = new Date('2026-11-24T02:30:00Z');
    expect(digestPeriod(at, 'Asia/Shanghai', 'daily', { hour: 8, weekday: 'monday' })).toEqual({
      from: new Date('2026-11-23T00:00:00Z'),
      to: new Date('2026-11-24T00:00:00Z'),
    });
    // 07:59 the same morning: the digest of the day before has not come yet.
    expect(
      digestPeriod(new Date('2026-11-23T23:59:00Z'), 'Asia/Shanghai', 'daily', { hour: 8, weekday: 'monday' }).to,
    ).toEqual(new Date('2026-11-23T00:00:00Z'));
    // Weekly on Mondays: the week that ended on Monday 23 November, 08:00.
    expect(digestPeriod(at, 'Asia/Shanghai', 'weekly', { hour: 8, weekday: 'monday' })).toEqual({
      from: new Date('2026-11-16T00:00:00Z'),
      to: new Date('2026-11-23T00:00:00Z'),
    });
  });
});

describe('preferences', () => {
  it('file every customer template under a category, paying and parcels apart from the rest of an order', () => {
    const byCategory = new Map<string, string[]>();
    for (const template of CUSTOMER_TEMPLATES) {
      byCategory.set(categoryOf(template), [...(byCategory.get(categoryOf(template)) ?? []), template]);
    }
    expect(byCategory.get('payment')).toEqual(['order.pending_payment', 'order.paid']);
    expect(byCategory.get('logistics')).toEqual(['order.fulfilling', 'order.shipped', 'order.delivered']);
    expect(byCategory.get('order')).toEqual([
      'order.pending_review',
      'order.completed',
      'order.cancelled',
      'order.failed',
    ]);
    expect(byCategory.get('after_sales')!.every((t) => /^(refund|return|complaint)\./.test(t))).toBe(true);
    expect(byCategory.get('after_sales')).toHaveLength(CUSTOMER_TEMPLATES.length - 9);
    expect(categoryOf('promotion.double_eleven')).toBe('promotions');
  });

  it('default to the sign-up channels and frequency, promotions only when opted in', () => {
    expect(defaultPreference('logistics', ['sms', 'email', 'fax'], 'daily')).toEqual({
      channels: ['email', 'sms'],
      frequency: 'daily',
    });
    expect(defaultPreference('order', ['in_app'])).toEqual({ channels: ['in_app'], frequency: 'realtime' });
    expect(defaultPreference('promotions', ['email', 'sms'], 'daily')).toEqual({ channels: [], frequency: 'realtime' });
  });

  it('send urgent news at once whatever the frequency chosen', () => {
    const daily = { channels: ['email' as const], frequency: 'daily' as const };
    expect(frequencyFor('order.pending_payment', daily)).toBe('realtime');
    expect(frequencyFor('order.cancelled', daily)).toBe('realtime');
    expect(frequencyFor('order.shipped', daily)).toBe('daily');
    expect(frequencyFor('refund.refunded', { ...daily, frequency: 'weekly' })).toBe('weekly');
  });
});
