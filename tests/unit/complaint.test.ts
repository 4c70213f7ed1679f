import fc from 'fast-check';
import { complaintSla, loadConfig } from '../../config';
import {
  breachDeadline,
  breachPoints,
  complaintContactRefusal,
  needsSeniorAgent,
  remedyNeedsSupervisor,
  remedyRefusal,
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

describe('complaint escalation schedule', () => {
  const targets = fc
    .tuple(fc.integer({ min: 1, max: 100 * HOUR }), fc.integer({ min: 1, max: 100 * HOUR }))
    .map(([firstResponse, resolution]) => ({ firstResponse, resolution }));

  it('escalates at the first response target unless it was met, then at each multiple of the resolution target', () => {
    fc.assert(
      fc.property(targets, fc.boolean(), fc.integer({ min: 1, max: 6 }), (t, met, levels) => {
        const points = breachPoints({ clock: startClock(T0), targets: t, firstResponseMet: met }, levels);
        expect(points).toHaveLength(levels);
        for (let i = 1; i < points.length; i += 1) expect(points[i].after).toBeGreaterThanOrEqual(points[i - 1].after);
        const first = points.filter((p) => p.timer === 'firstResponse');
        if (met) expect(first).toEqual([]);
        else if (t.firstResponse <= t.resolution * levels)
          expect(first).toEqual([{ timer: 'firstResponse', after: t.firstResponse }]);
        const resolution = points.filter((p) => p.timer === 'resolution').map((p) => p.after);
        expect(resolution).toEqual(resolution.map((_, i) => t.resolution * (i + 1)));
      }),
    );
  });

  it('puts each level’s deadline at the start plus its point plus the time paused, and none while paused', () => {
    fc.assert(
      fc.property(pausedClock, targets, fc.integer({ min: 1, max: 3 }), ({ clock, paused, at: now }, t, level) => {
        const schedule = { clock, targets: t, firstResponseMet: false };
        const point = breachPoints(schedule, 3)[level - 1].after;
        const due = breachDeadline(schedule, 3, level, now);
        expect(due).toBe(Math.max(now, T0 + point + paused));
        expect(breachDeadline({ ...schedule, clock: pauseClock(clock, now) }, 3, level, now)).toBeUndefined();
        expect(breachDeadline(schedule, 3, 4, now)).toBeUndefined();
      }),
    );
  });
});

describe('complaint remedies and routing', () => {
  const policy = { goodwillAgentLimit: 5_000, seniorOrderTotal: 100_000 };
  const agentActor = { principal: 'alice', role: 'agent' } as const;
  const sup = { principal: 'sam', role: 'supervisor' } as const;

  it('sends VIP customers and orders above the threshold to senior agents', () => {
    expect(needsSeniorAgent('vip', undefined, policy)).toBe(true);
    expect(needsSeniorAgent('regular', 100_001, policy)).toBe(true);
    expect(needsSeniorAgent('regular', 100_000, policy)).toBe(false);
    expect(needsSeniorAgent('regular', undefined, policy)).toBe(false);
  });

  it('refuses refunds and returns without an order, and amounts that are not positive integers', () => {
    expect(remedyRefusal({ kind: 'refund', amount: 100 }, {})).toEqual({
      field: 'remedy.kind',
      reason: 'a refund needs a complaint about an order',
    });
    expect(remedyRefusal({ kind: 'goodwill_credit', amount: 0 }, {})?.field).toBe('remedy.amount');
    expect(remedyRefusal({ kind: 'goodwill_credit', amount: 1.5 }, {})?.field).toBe('remedy.amount');
    expect(remedyRefusal({ kind: 'refund', amount: 100 }, { orderId: 'o1' })).toBeUndefined();
    expect(remedyRefusal({ kind: 'explanation' }, {})).toBeUndefined();
  });

  it('leaves goodwill above the agent limit to supervisors', () => {
    const big = { kind: 'goodwill_credit', amount: 5_001 } as const;
    expect(remedyNeedsSupervisor(agentActor, big, policy)).toBe(true);
    expect(remedyNeedsSupervisor(agentActor, { ...big, amount: 5_000 }, policy)).toBe(false);
    expect(remedyNeedsSupervisor(sup, big, policy)).toBe(false);
  });
});
