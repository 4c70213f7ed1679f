import fc from 'fast-check';
import { complaintSla, loadConfig } from '../../config';
import {
  complaintContactRefusal,
  deadlineOf,
  elapsed,
  isPaused,
  pauseClock,
  resumeClock,
  startClock,
  type SlaClock,
} from '../../domain/complaint';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-23T09:00:00Z');

/** A clock driven through alternating pauses and resumes at increasing times; returns it with the time paused. */
const pausedClock = fc.array(fc.integer({ min: 0, max: 10 * HOUR }), { maxLength: 8 }).map((gaps) => {
  let clock: SlaClock = startClock(T0);
  let at = T0;
  let paused = 0;
  gaps.forEach((gap, index) => {
    at += gap;
    if (index % 2 === 0) clock = pauseClock(clock, at);
    else {
      clock = resumeClock(clock, at);
      paused += gap;
    }
  });
  // End running, so a deadline exists.
  if (isPaused(clock)) {
    at += HOUR;
    paused += HOUR;
    clock = resumeClock(clock, at);
  }
  return { clock, at, paused };
});

describe('the complaint SLA clock', () => {
  test('a running clock breaches its target after the target plus every pause', () => {
    fc.assert(
      fc.property(pausedClock, fc.integer({ min: 1, max: 48 * HOUR }), ({ clock, at, paused }, target) => {
        expect(elapsed(clock, at)).toBe(at - T0 - paused);
        expect(deadlineOf(clock, target, at)).toBe(Math.max(at, T0 + target + paused));
      }),
    );
  });

  test('no deadline runs while the case waits on the customer, and the wait moves it back by its length', () => {
    let clock = startClock(T0);
    expect(deadlineOf(clock, 2 * HOUR, T0 + HOUR)).toBe(T0 + 2 * HOUR);
    clock = pauseClock(clock, T0 + HOUR);
    expect(isPaused(clock)).toBe(true);
    expect(deadlineOf(clock, 2 * HOUR, T0 + 5 * HOUR)).toBeUndefined();
    expect(elapsed(clock, T0 + 5 * HOUR)).toBe(HOUR);
    // Pausing again, or resuming twice, changes nothing.
    expect(pauseClock(clock, T0 + 2 * HOUR)).toBe(clock);
    clock = resumeClock(clock, T0 + 5 * HOUR);
    expect(resumeClock(clock, T0 + 6 * HOUR)).toBe(clock);
    expect(deadlineOf(clock, 2 * HOUR, T0 + 5 * HOUR)).toBe(T0 + 6 * HOUR);
  });

  test('a new priority moves a running deadline by the difference of the targets, never before now', () => {
    fc.assert(
      fc.property(
        pausedClock,
        fc.integer({ min: 1, max: 48 * HOUR }),
        fc.integer({ min: 1, max: 48 * HOUR }),
        ({ clock, at }, before, after) => {
          const old = deadlineOf(clock, before, at)!;
          const moved = deadlineOf(clock, after, at)!;
          const left = (target: number) => Math.max(0, target - elapsed(clock, at));
          expect(moved - old).toBe(left(after) - left(before));
          expect(moved).toBeGreaterThanOrEqual(at);
        },
      ),
    );
  });

  test('the default targets: 2 h to first response and 48 h to resolution, urgent 30 min and 8 h', () => {
    const sla = complaintSla(loadConfig({ API_TOKENS: 't=admin:test' }));
    expect(sla.normal).toEqual({ firstResponse: 2 * HOUR, resolution: 48 * HOUR });
    expect(sla.low).toEqual(sla.normal);
    expect(sla.urgent).toEqual({ firstResponse: HOUR / 2, resolution: 8 * HOUR });
    const tighter = complaintSla(loadConfig({ API_TOKENS: 't=admin:test', COMPLAINT_RESOLUTION_SLA_URGENT: '4h' }));
    expect(tighter.urgent.resolution).toBe(4 * HOUR);
  });
});

describe('complaint contact (CS-4)', () => {
  test.each([
    [{ name: 'Li Lei', phone: '13800138000' }, undefined],
    [{ name: '李雷', phone: '+8613800138000' }, undefined],
    [{ name: 'Han Meimei', email: 'mm@example.com' }, undefined],
    [{ name: '李', phone: '13800138000' }, 'contact.name'],
    [{ name: 'x'.repeat(31), phone: '13800138000' }, 'contact.name'],
    [{ name: 'Li Lei', phone: '1380013800' }, 'contact.phone'],
    [{ name: 'Li Lei', phone: '23800138000' }, 'contact.phone'],
    [{ name: 'Li Lei' }, 'contact'],
  ])('%j: refused field %s (undefined when accepted)', (contact, field) => {
    expect(complaintContactRefusal(contact)?.field).toBe(field);
  });
});
