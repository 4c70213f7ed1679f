import fc from 'fast-check';
import { e164, parseQuietHours, quietUntil, retryDelayMs, staffTeamOf } from '../../domain/notification';

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
