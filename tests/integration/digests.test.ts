import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { recordTransition } from '../../activities/case-records';
import type { DigestRequest } from '../../activities/types';
import { digestPeriod, type DigestTime } from '../../domain/notification';
import type { Delivery, MessageSender } from '../../domain/ports';
import { startDevServer, startTimeSkippingServer } from '../../infra/temporal';
import { Dispatcher } from '../../notifications/dispatcher';
import { digestScheduleId, ensureDigestSchedules } from '../../notifications/schedules';
import { renderNotification } from '../../notifications/templates';
import type { notificationDigestWorkflow } from '../../workflows';
import { activityHarness } from '../helpers/database';
import { uniqueId } from '../helpers/names';
import { recordHistory } from '../helpers/histories';

/**
 * Daily and weekly digests: messages of a category the customer wants daily are held, a digest run collects those of
 * every period that has ended in the customer's zone into one message per channel (exactly once), and the
 * dispatcher sends that. The digest workflow runs against a time-skipping server; the schedules on a dev server.
 */

const harness = activityHarness('digests');
const HOUR = 3_600_000;
/** UTC+8 without clock changes. */
const ZONE = 'Etc/GMT-8';

/** The hour of the day in ZONE `hoursAhead` hours from now. */
const hourAhead = (hoursAhead: number) => (new Date().getUTCHours() + 8 + hoursAhead) % 24;

async function customer(preferences: Record<string, { channels: string[]; frequency: string }>): Promise<string> {
  const id = uniqueId('C');
  await harness.pool.query(
    `insert into customers (id, name, email, phone, notify_channels, locale, timezone)
     values ($1, 'Dana Digest', $2, '13800138000', '["email", "sms"]', 'en', $3)`,
    [id, `${id.toLowerCase()}@example.com`, ZONE],
  );
  for (const [category, { channels, frequency }] of Object.entries(preferences)) {
    await harness.pool.query(
      `insert into notification_preferences (customer_id, category, channels, frequency, updated_by)
       values ($1, $2, $3, $4, 'test')`,
      [id, category, JSON.stringify(channels), frequency],
    );
  }
  return id;
}

/** The order's status changes from `statuses[first]` on, as the order workflow records them. */
async function transitions(customerId: string, orderId: string, statuses: string[], first = 0): Promise<void> {
  let from: string | null = first > 0 ? statuses[first - 1] : null;
  for (const [i, to] of statuses.slice(first).entries()) {
    const seq = first + i;
    await harness.orm.em.fork().transactional((em) =>
      recordTransition(em, {
        caseType: 'order',
        caseId: orderId,
        customerId,
        transition: { seq, from, to, at: new Date().toISOString(), actor: 'system' },
        payload: { orderId, total: 4700, currency: 'CNY' },
      }),
    );
    from = to;
  }
}

interface Row {
  id: number;
  dedupe_key: string;
  channel: string;
  template: string;
  status: string;
  digest: string | null;
  digest_key: string | null;
  payload: { period?: { from: string; to: string }; items?: { template: string; at: string }[] };
}

const rowsOf = async (customerId: string) =>
  (
    await harness.pool.query<Row>(
      `select id, dedupe_key, channel, template, status, digest, digest_key, payload from notification_outbox
        where customer_id = $1 order by id`,
      [customerId],
    )
  ).rows;

/** Digests whatever earlier tests left held, so each test's figures are its own. */
async function digestEverythingHeld(): Promise<void> {
  const later = new Date(Date.now() + 30 * 24 * HOUR).toISOString();
  for (const frequency of ['daily', 'weekly'] as const) {
    await harness.act.collectDigests({ frequency, hour: 0, weekday: 'monday', at: later });
  }
}

describe('preferences when a case changes', () => {
  test('write each category to its channels, held for the digest unless real time, urgent news at once', async () => {
    const id = await customer({
      logistics: { channels: ['email', 'in_app'], frequency: 'daily' },
      order: { channels: ['push'], frequency: 'weekly' },
      payment: { channels: [], frequency: 'realtime' },
    });
    await transitions(id, uniqueId('o'), ['PENDING_PAYMENT', 'PAID', 'FULFILLING', 'SHIPPED', 'COMPLETED']);
    await transitions(id, uniqueId('o'), ['CANCELLED']);
    expect((await rowsOf(id)).map((r) => [r.template, r.channel, r.status, r.digest])).toEqual([
      // payment: no channels chosen, so nothing, not even the urgent pending_payment.
      ['order.fulfilling', 'email', 'held', 'daily'],
      ['order.fulfilling', 'in_app', 'held', 'daily'],
      ['order.shipped', 'email', 'held', 'daily'],
      ['order.shipped', 'in_app', 'held', 'daily'],
      ['order.completed', 'push', 'held', 'weekly'],
      // Weekly for the order category, but a cancellation is news the customer needs now.
      ['order.cancelled', 'push', 'pending', null],
    ]);
  });

  test('follow the sign-up channels and frequency for categories never chosen', async () => {
    const id = await customer({});
    await harness.pool.query(`update customers set notify_frequency = 'daily' where id = $1`, [id]);
    await transitions(id, uniqueId('o'), ['PENDING_PAYMENT', 'PAID']);
    expect((await rowsOf(id)).map((r) => [r.template, r.channel, r.status])).toEqual([
      ['order.pending_payment', 'email', 'pending'],
      ['order.pending_payment', 'sms', 'pending'],
      ['order.paid', 'email', 'held'],
      ['order.paid', 'sms', 'held'],
    ]);
  });
});

describe('collecting digests', () => {
  const time: DigestTime = { hour: 8, weekday: 'monday' };
  const collect = (req: Partial<DigestRequest> & { at: string }) =>
    harness.act.collectDigests({ frequency: 'daily', ...time, ...req });
  const backdate = (customerId: string, to: Date) =>
    harness.pool.query(`update notification_outbox set created_at = $2 where customer_id = $1 and status = 'held'`, [
      customerId,
      to,
    ]);

  beforeEach(digestEverythingHeld);

  test('one digest per customer and channel for the period that ended, once; later messages wait', async () => {
    const id = await customer({ logistics: { channels: ['email', 'sms'], frequency: 'daily' } });
    const orderId = uniqueId('o');
    await transitions(id, orderId, ['FULFILLING', 'SHIPPED']);
    // Written yesterday at 15:00 in the customer's zone; the digest of that day goes out at 08:00 today.
    const run = new Date();
    const { to } = digestPeriod(run, ZONE, 'daily', time);
    await backdate(id, new Date(to.getTime() - 17 * HOUR));
    // One more today, after the period ended: it waits for tomorrow's digest.
    await transitions(id, orderId, ['FULFILLING', 'SHIPPED', 'DELIVERED'], 2);
    await harness.pool.query(
      `update notification_outbox set created_at = $2 where customer_id = $1 and template = 'order.delivered'`,
      [id, new Date(Math.min(to.getTime() + 1, run.getTime() - 1))],
    );

    // Not before 08:00: a run at 07:59 sends nothing.
    expect(await collect({ at: new Date(to.getTime() - 60_000).toISOString() })).toEqual({ digests: 0, messages: 0 });
    expect(await collect({ at: run.toISOString() })).toEqual({ digests: 2, messages: 4 });
    expect(await collect({ at: run.toISOString() })).toEqual({ digests: 0, messages: 0 });

    const rows = await rowsOf(id);
    const digests = rows.filter((r) => r.template === 'digest.daily');
    expect(digests.map((r) => [r.channel, r.status])).toEqual([
      ['email', 'pending'],
      ['sms', 'pending'],
    ]);
    for (const digest of digests) {
      expect(digest.payload.period).toEqual({
        from: new Date(to.getTime() - 24 * HOUR).toISOString(),
        to: to.toISOString(),
      });
      expect(digest.payload.items!.map((i) => i.template)).toEqual(['order.fulfilling', 'order.shipped']);
      const carried = rows.filter((r) => r.digest_key === digest.dedupe_key);
      expect(carried.map((r) => [r.template, r.channel, r.status])).toEqual([
        ['order.fulfilling', digest.channel, 'digested'],
        ['order.shipped', digest.channel, 'digested'],
      ]);
    }
    expect(rows.filter((r) => r.template === 'order.delivered').map((r) => r.status)).toEqual(['held', 'held']);
  });

  test('weekly digests wait for the week to end on the digest weekday', async () => {
    const id = await customer({ after_sales: { channels: ['email'], frequency: 'weekly' } });
    await harness.orm.em.fork().transactional((em) =>
      recordTransition(em, {
        caseType: 'refund',
        caseId: uniqueId('r'),
        customerId: id,
        transition: { seq: 0, from: null, to: 'REFUNDED', at: new Date().toISOString(), actor: 'system' },
        payload: { amount: 4700, currency: 'CNY' },
      }),
    );
    const run = new Date();
    const week = digestPeriod(run, ZONE, 'weekly', time);
    await backdate(id, new Date(week.to.getTime() + HOUR));
    // The daily digest does not take it, nor does the weekly run before the week is over.
    expect((await collect({ at: run.toISOString() })).digests).toBe(0);
    expect(await collect({ frequency: 'weekly', at: run.toISOString() })).toEqual({ digests: 0, messages: 0 });
    const nextWeek = new Date(week.to.getTime() + 7 * 24 * HOUR);
    expect(await collect({ frequency: 'weekly', at: nextWeek.toISOString() })).toEqual({ digests: 1, messages: 1 });
    const [digest] = (await rowsOf(id)).filter((r) => r.template === 'digest.weekly');
    expect(digest.payload.items!.map((i) => i.template)).toEqual(['refund.refunded']);
  });
});

describe('the digest workflow, with time skipping', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingServer();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  beforeEach(digestEverythingHeld);

  test('a daily customer’s updates come as one email the next morning, in their language, exactly once', async () => {
    // Digests at the hour two hours from now where the customer lives.
    const time: DigestTime = { hour: hourAhead(2), weekday: 'monday' };
    const id = await customer({ logistics: { channels: ['email'], frequency: 'daily' } });
    const orderId = uniqueId('o');
    await transitions(id, orderId, ['FULFILLING', 'SHIPPED', 'DELIVERED']);
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'digests',
      workflowsPath: require.resolve('../../workflows/digest'),
      activities: { collectDigests: harness.act.collectDigests },
    });
    let runs = 0;
    const run = async () => {
      const handle = await env.client.workflow.start<typeof notificationDigestWorkflow>('notificationDigestWorkflow', {
        taskQueue: 'digests',
        workflowId: uniqueId('digest'),
        args: [{ frequency: 'daily', ...time }],
      });
      const summary = await handle.result();
      runs += 1;
      // The run that sends the digest.
      if (runs === 2) await recordHistory('digest-daily', handle);
      return summary;
    };

    await worker.runUntil(async () => {
      // The day is not over where the customer lives: nothing yet.
      expect(await run()).toEqual({ digests: 0, messages: 0 });
      expect((await rowsOf(id)).every((r) => r.status === 'held')).toBe(true);
      await env.sleep('3h');
      expect(await run()).toEqual({ digests: 1, messages: 3 });
      await env.sleep('1h');
      expect(await run()).toEqual({ digests: 0, messages: 0 });
    });

    const [digest] = (await rowsOf(id)).filter((r) => r.template === 'digest.daily');
    expect(digest).toMatchObject({ channel: 'email', status: 'pending' });
    const sent: Delivery[] = [];
    const email: MessageSender = {
      channel: 'email',
      async send(delivery) {
        sent.push(delivery);
        return { providerMessageId: delivery.idempotencyKey };
      },
    };
    const dispatcher = new Dispatcher({
      pool: harness.pool,
      senders: { email },
      render: (row, recipient) =>
        renderNotification(row.template, row.channel, row.payload, {
          locale: recipient!.locale,
          customerName: recipient?.name,
          timeZone: recipient?.timezone,
          linkBase: 'https://shop.example.com',
          opsBase: 'http://ops.local',
        }),
      batchSize: 50,
      leaseMs: 60_000,
      pollMs: 20,
      retry: { baseMs: 1_000, maxMs: 60_000 },
      maxAttempts: 5,
      concurrency: 2,
    });
    await dispatcher.runOnce();
    const mine = sent.filter((d) => d.idempotencyKey === digest.dedupe_key);
    expect(mine).toHaveLength(1);
    expect(mine[0].to).toBe(`${id.toLowerCase()}@example.com`);
    expect(mine[0].subject).toMatch(/daily/i);
    expect(mine[0].subject).toContain('3');
    expect(mine[0].text).toContain('Dana Digest');
    for (const line of mine[0].text.split('\n').filter((l) => l.startsWith('• ')))
      expect(line).toMatch(/^• \d\d:\d\d /);
    expect(mine[0].text.match(new RegExp(orderId, 'g'))!.length).toBeGreaterThanOrEqual(3);
  }, 60_000);
});

describe('the digest schedules, on a dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startDevServer();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  test('are created hourly for each frequency, brought up to date when the configuration changes, and run', async () => {
    await ensureDigestSchedules(env.client, { hour: 8, weekday: 'monday' }, 'digest-schedules');
    // Another worker starting, with a new digest hour: the same schedules, updated.
    await ensureDigestSchedules(env.client, { hour: 9, weekday: 'friday' }, 'digest-schedules');
    for (const frequency of ['daily', 'weekly'] as const) {
      const described = await env.client.schedule.getHandle(digestScheduleId(frequency)).describe();
      expect(described.spec.intervals?.map((i) => i.every)).toEqual([HOUR]);
      expect(described.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'notificationDigestWorkflow',
        taskQueue: 'digest-schedules',
        args: [{ frequency, hour: 9, weekday: 'friday' }],
      });
      expect(described.state.paused).toBe(false);
    }

    // A run of the daily schedule, now: the customer's period ended at the digest hour this morning.
    const id = await customer({ logistics: { channels: ['email'], frequency: 'daily' } });
    await transitions(id, uniqueId('o'), ['SHIPPED']);
    await harness.pool.query(
      `update notification_outbox set created_at = now() - interval '2 days' where customer_id = $1`,
      [id],
    );
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'digest-schedules',
      workflowsPath: require.resolve('../../workflows/digest'),
      activities: { collectDigests: harness.act.collectDigests },
    });
    await worker.runUntil(async () => {
      const handle = env.client.schedule.getHandle(digestScheduleId('daily'));
      await handle.trigger();
      for (let i = 0; i < 200; i += 1) {
        const { info } = await handle.describe();
        const last = info.recentActions.at(-1);
        if (last) {
          const result = await env.client.workflow.getHandle(last.action.workflow.workflowId).result();
          expect(result.digests).toBeGreaterThanOrEqual(1);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    expect((await rowsOf(id)).map((r) => [r.template, r.status])).toEqual([
      ['order.shipped', 'digested'],
      ['digest.daily', 'pending'],
    ]);
  }, 60_000);
});
