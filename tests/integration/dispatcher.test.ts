import type { Pool } from 'pg';
import type { Delivery, MessageSender, NotificationChannel } from '../../domain/ports';
import { parseQuietHours, quietUntil } from '../../domain/notification';
import { Dispatcher, type DispatcherOptions, type OutboxRow } from '../../notifications/dispatcher';
import { inAppSender, staffSender } from '../../notifications/inboxes';
import { sandboxSmsSender } from '../../notifications/senders';
import { ProviderRefusedError, ProviderUnavailableError, SandboxSms } from '../../sandbox';
import { activityHarness } from '../helpers/database';
import { uniqueId } from '../helpers/names';
import { alive, spawnTypeScript } from '../helpers/process';

/**
 * The outbox dispatcher against a real PostgreSQL: leases, sends once per dedupe key, retries what failed for now,
 * parks what was refused, and takes over what a dead dispatcher left leased.
 */

const harness = activityHarness('dispatcher');
let pool: Pool;
beforeAll(() => {
  ({ pool } = harness);
});

/** A provider that keeps what it was sent, answers a repeated key with the first send, and fails as told. */
function recordingSender(channel: NotificationChannel) {
  const sent = new Map<string, Delivery>();
  const calls: string[] = [];
  const faults: ('outage' | 'refuse')[] = [];
  const sender: MessageSender = {
    channel,
    async send(delivery) {
      calls.push(delivery.idempotencyKey);
      const fault = faults.shift();
      if (fault === 'outage') throw new ProviderUnavailableError('provider down');
      if (fault === 'refuse') throw new ProviderRefusedError('number unreachable');
      if (!sent.has(delivery.idempotencyKey)) sent.set(delivery.idempotencyKey, delivery);
      return { providerMessageId: `msg-${delivery.idempotencyKey}` };
    },
  };
  return { sender, sent, calls, faults };
}

const render = (row: OutboxRow) => {
  if (row.template === 'no.such.template') throw new Error('unknown template no.such.template');
  return { subject: `${row.template} ${row.case_id}`, text: `About ${row.case_id}`, link: `/cases/${row.case_id}` };
};

function dispatcher(senders: DispatcherOptions['senders'], overrides: Partial<DispatcherOptions> = {}) {
  const outcomes: string[] = [];
  const d = new Dispatcher({
    pool,
    senders,
    render,
    batchSize: 50,
    leaseMs: 60_000,
    pollMs: 20,
    retry: { baseMs: 1_000, maxMs: 60_000 },
    maxAttempts: 5,
    concurrency: 4,
    observe: ({ channel, outcome }) => outcomes.push(`${channel}:${outcome}`),
    ...overrides,
  });
  return { d, outcomes };
}

async function enqueue(
  rows: { customerId?: string; channel: NotificationChannel; template?: string; payload?: object; caseType?: string }[],
): Promise<string[]> {
  const keys: string[] = [];
  for (const row of rows) {
    const key = uniqueId('n');
    keys.push(key);
    await pool.query(
      `insert into notification_outbox (dedupe_key, customer_id, case_type, case_id, channel, template, payload)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        key,
        row.customerId ?? 'C-1001',
        row.caseType ?? 'order',
        key,
        row.channel,
        row.template ?? 'order.shipped',
        JSON.stringify(row.payload ?? {}),
      ],
    );
  }
  return keys;
}

async function outbox(keys: string[]) {
  const { rows } = await pool.query<{
    dedupe_key: string;
    status: string;
    attempts: number;
    last_error: string | null;
    provider_message_id: string | null;
    next_attempt_at: Date;
  }>(
    `select dedupe_key, status, attempts, last_error, provider_message_id, next_attempt_at
       from notification_outbox where dedupe_key = any($1) order by id`,
    [keys],
  );
  return rows;
}

/** Makes retries due now instead of after their backoff. */
const dueNow = (keys: string[]) =>
  pool.query(`update notification_outbox set next_attempt_at = now() where dedupe_key = any($1)`, [keys]);

test('sends each pending message once, to the customer’s address on its channel, and records the provider’s id', async () => {
  const email = recordingSender('email');
  const sms = recordingSender('sms');
  const keys = await enqueue([{ channel: 'email' }, { channel: 'sms' }, { channel: 'email', customerId: 'C-1002' }]);
  const { d, outcomes } = dispatcher({ email: email.sender, sms: sms.sender });
  expect(await d.runOnce()).toBeGreaterThanOrEqual(3);
  expect(await d.runOnce()).toBe(0);

  expect((await outbox(keys)).map((r) => [r.status, r.attempts, r.provider_message_id])).toEqual(
    keys.map((k) => ['sent', 1, `msg-${k}`]),
  );
  expect(email.sent.get(keys[0])).toMatchObject({ to: 'li.wei@example.com', subject: `order.shipped ${keys[0]}` });
  expect(email.sent.get(keys[2])?.to).toBe('zhang.min@example.com');
  expect(sms.sent.get(keys[1])).toMatchObject({ to: '+8613800138000', about: { caseType: 'order', caseId: keys[1] } });
  expect([...email.calls, ...sms.calls].filter((k) => keys.includes(k))).toHaveLength(3);
  expect(outcomes.filter((o) => o.endsWith(':sent')).length).toBeGreaterThanOrEqual(3);
});

test('retries a provider outage with backoff and sends once it recovers', async () => {
  const sms = recordingSender('sms');
  sms.faults.push('outage', 'outage');
  const [key] = await enqueue([{ channel: 'sms' }]);
  const { d, outcomes } = dispatcher({ sms: sms.sender });

  const before = Date.now();
  await d.runOnce();
  const [first] = await outbox([key]);
  expect(first).toMatchObject({ status: 'pending', attempts: 1, last_error: 'provider down' });
  // Not before the backoff: 1 s less up to a fifth.
  expect(first.next_attempt_at.getTime()).toBeGreaterThanOrEqual(before + 800 - 50);
  expect(await d.runOnce()).toBe(0);

  await dueNow([key]);
  await d.runOnce();
  expect((await outbox([key]))[0]).toMatchObject({ status: 'pending', attempts: 2 });
  await dueNow([key]);
  await d.runOnce();
  expect((await outbox([key]))[0]).toMatchObject({ status: 'sent', attempts: 3, last_error: null });
  expect(sms.sent.size).toBe(1);
  expect(outcomes).toEqual(['sms:retried', 'sms:retried', 'sms:sent']);
});

test('parks refused messages as failed with the reason, and never sends them again', async () => {
  const sms = recordingSender('sms');
  const email = recordingSender('email');
  sms.faults.push('refuse');
  const keys = await enqueue([
    { channel: 'sms' },
    // C-1003 has no email address.
    { channel: 'email', customerId: 'C-1003' },
    { channel: 'email', template: 'no.such.template' },
    { channel: 'push' },
    { channel: 'email', customerId: 'C-404' },
  ]);
  const { d } = dispatcher({ sms: sms.sender, email: email.sender });
  await d.runOnce();
  await dueNow(keys);
  expect(await d.runOnce()).toBe(0);
  expect((await outbox(keys)).map((r) => [r.status, r.last_error])).toEqual([
    ['failed', 'number unreachable'],
    ['failed', 'customer C-1003 has no email address'],
    ['failed', 'cannot render no.such.template: unknown template no.such.template'],
    ['pending', null],
    ['failed', 'no customer C-404'],
  ]);
  expect(email.sent.size).toBe(0);
});

test('leaves a channel it has no provider for to a dispatcher that has one', async () => {
  const [key] = await enqueue([{ channel: 'push' }]);
  const { d } = dispatcher({ email: recordingSender('email').sender });
  await d.runOnce();
  expect((await outbox([key]))[0]).toMatchObject({ status: 'pending', attempts: 0, last_error: null });
  const push = recordingSender('push');
  await dispatcher({ push: push.sender }).d.runOnce();
  expect((await outbox([key]))[0]).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: `msg-${key}` });
  expect(push.calls.filter((k) => k === key)).toHaveLength(1);
});

test('gives a message up after the attempts allowed', async () => {
  const sms = recordingSender('sms');
  sms.faults.push('outage', 'outage', 'outage');
  const [key] = await enqueue([{ channel: 'sms' }]);
  const { d } = dispatcher({ sms: sms.sender }, { maxAttempts: 3 });
  for (let i = 0; i < 3; i += 1) {
    await d.runOnce();
    await dueNow([key]);
  }
  expect((await outbox([key]))[0]).toMatchObject({
    status: 'failed',
    attempts: 3,
    last_error: 'gave up after 3 attempts: provider down',
  });
});

test('takes over what a dead dispatcher left leased once its lease runs out, under the same idempotency key', async () => {
  const email = recordingSender('email');
  const [key] = await enqueue([{ channel: 'email' }]);
  // A dispatcher leased it, sent it, and died before recording the send.
  await pool.query(
    `update notification_outbox set status = 'sending', attempts = 1, lease_owner = 'dead',
       leased_until = now() + interval '1 hour' where dedupe_key = $1`,
    [key],
  );
  await email.sender.send({ idempotencyKey: key, to: 'li.wei@example.com', subject: 's', text: 't' });
  const { d } = dispatcher({ email: email.sender });
  expect(await d.runOnce()).toBe(0);
  await pool.query(`update notification_outbox set leased_until = now() - interval '1 second' where dedupe_key = $1`, [
    key,
  ]);
  await d.runOnce();
  expect((await outbox([key]))[0]).toMatchObject({ status: 'sent', attempts: 2 });
  // Sent twice under one key: the provider delivered it once.
  expect(email.calls.filter((k) => k === key)).toHaveLength(2);
  expect(email.sent.size).toBe(1);
});

test('dispatchers running side by side share the outbox without sending any message twice', async () => {
  const email = recordingSender('email');
  const keys = await enqueue(Array.from({ length: 120 }, () => ({ channel: 'email' as const })));
  const a = dispatcher({ email: email.sender }, { batchSize: 7 }).d;
  const b = dispatcher({ email: email.sender }, { batchSize: 7 }).d;
  a.start();
  b.start();
  for (let i = 0; i < 200; i += 1) {
    const rows = await outbox(keys);
    if (rows.every((r) => r.status === 'sent')) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await Promise.all([a.stop(), b.stop()]);
  expect((await outbox(keys)).every((r) => r.status === 'sent' && r.attempts === 1)).toBe(true);
  const ours = email.calls.filter((k) => keys.includes(k));
  expect(ours).toHaveLength(120);
  expect(new Set(ours).size).toBe(120);
});

test('the in-app inbox keeps one message per key; staff messages land in the team’s inbox', async () => {
  const keys = await enqueue([
    { channel: 'in_app', customerId: 'C-1003' },
    {
      channel: 'staff',
      customerId: 'staff',
      caseType: 'complaint',
      template: 'staff.complaint_sla_breached',
      payload: { topic: 'complaint_sla_breached' },
    },
    {
      channel: 'staff',
      customerId: 'staff',
      caseType: 'order',
      template: 'staff.step_failed',
      payload: { topic: 'step_failed' },
    },
  ]);
  const inbox = inAppSender(pool);
  const { d } = dispatcher({ in_app: inbox, staff: staffSender(pool) });
  await d.runOnce();
  expect((await outbox(keys)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
  // The same key again (a dispatcher that died after storing) stores nothing new.
  const again = await inbox.send({ idempotencyKey: keys[0], to: 'C-1003', subject: 'x', text: 'y' });
  expect(again.providerMessageId).toBe((await outbox([keys[0]]))[0].provider_message_id);
  const { rows: messages } = await pool.query(
    'select customer_id, template, subject, link from customer_messages where dedupe_key = $1',
    [keys[0]],
  );
  expect(messages).toEqual([
    {
      customer_id: 'C-1003',
      template: 'order.shipped',
      subject: `order.shipped ${keys[0]}`,
      link: `/cases/${keys[0]}`,
    },
  ]);
  const { rows: staff } = await pool.query(
    'select team, topic, case_type, case_id from staff_messages where dedupe_key = any($1) order by topic',
    [keys.slice(1)],
  );
  expect(staff).toEqual([
    { team: 'supervisors', topic: 'complaint_sla_breached', case_type: 'complaint', case_id: keys[1] },
    { team: 'ops', topic: 'step_failed', case_type: 'order', case_id: keys[2] },
  ]);
});

test('a dispatcher killed mid-batch (SIGKILL) loses nothing and sends nothing twice: the next one takes its rows over', async () => {
  const keys = await enqueue(Array.from({ length: 30 }, () => ({ channel: 'sms' as const })));
  const sms = await SandboxSms.create(pool, { latencyMs: 0, failureRate: 0 });
  const counted = async () =>
    (await pool.query<{ n: number }>('select count(*)::int as n from sandbox.sms_messages where key = any($1)', [keys]))
      .rows[0].n;
  const child = spawnTypeScript('tests/fixtures/dispatcher-process.ts', {
    env: { ...process.env, DATABASE_URL: harness.url(), SMS_LATENCY_MS: '150', LEASE_MS: '1500' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    // Killed once it has sent some of the batch it holds, with more of it in flight.
    for (let i = 0; i < 300 && (await counted()) < 5; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  // The dispatcher itself is gone, not only a launcher in front of it.
  expect(alive(child.pid)).toBe(false);
  const atKill = await outbox(keys);
  expect(atKill.some((r) => r.status === 'sending')).toBe(true);
  expect(atKill.some((r) => r.status !== 'sent')).toBe(true);

  // Renders as the killed one did (tests/fixtures/dispatcher-process.ts): a resend must be the same message, or the
  // provider refuses the key it already holds.
  const { d } = dispatcher(
    { sms: sandboxSmsSender(sms) },
    { batchSize: 50, render: (row) => ({ subject: row.template, text: `${row.template} ${row.case_id}` }) },
  );
  d.start();
  try {
    for (let i = 0; i < 300; i += 1) {
      if ((await outbox(keys)).every((r) => r.status === 'sent')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await d.stop();
  }
  const after = await outbox(keys);
  expect(after.map((r) => r.status)).toEqual(keys.map(() => 'sent'));
  // One message per row at the gateway, whatever was sent before the kill and sent again after it.
  expect(await counted()).toBe(30);
  const { rows } = await pool.query<{ key: string; id: string }>(
    'select key, id from sandbox.sms_messages where key = any($1)',
    [keys],
  );
  expect(new Map(rows.map((r) => [r.key, r.id]))).toEqual(
    new Map(after.map((r) => [r.dedupe_key, r.provider_message_id])),
  );
}, 30_000);

/** A fixed-offset zone where the local hour is `hour` now (Etc/GMT-8 is UTC+8). */
function zoneAt(hour: number): string {
  const offset = ((hour - new Date().getUTCHours() + 36) % 24) - 12;
  return offset === 0 ? 'UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

test('keeps quiet hours where the customer lives: non-urgent email waits for the morning, urgent news goes at once', async () => {
  const night = zoneAt(23);
  const day = zoneAt(12);
  const id = uniqueId('C');
  await pool.query(
    `insert into customers (id, name, email, timezone) values ($1, 'Night Owl', 'owl@example.com', $2),
       ($3, 'Day Bird', 'bird@example.com', $4)`,
    [`${id}-night`, night, `${id}-day`, day],
  );
  const email = recordingSender('email');
  const keys = await enqueue([
    { channel: 'email', customerId: `${id}-night`, template: 'order.shipped' },
    { channel: 'email', customerId: `${id}-night`, template: 'order.cancelled' },
    { channel: 'email', customerId: `${id}-day`, template: 'order.shipped' },
  ]);
  const { d, outcomes } = dispatcher({ email: email.sender }, { quietHours: parseQuietHours('22:00-08:00') });
  const before = new Date();
  await d.runOnce();
  const [held, urgent, awake] = await outbox(keys);
  expect(urgent.status).toBe('sent');
  expect(awake.status).toBe('sent');
  // Not an attempt: it waits as it was, until 08:00 in the customer's zone.
  expect(held).toMatchObject({ status: 'pending', attempts: 0, last_error: null });
  const morning = quietUntil(before, night, parseQuietHours('22:00-08:00'))!;
  expect(Math.abs(held.next_attempt_at.getTime() - morning.getTime())).toBeLessThanOrEqual(60_000);
  expect(email.calls).not.toContain(keys[0]);
  expect(outcomes).toContain('email:held');
  // Morning comes: it is sent.
  await dueNow([keys[0]]);
  await dispatcher({ email: email.sender }).d.runOnce();
  expect((await outbox([keys[0]]))[0]).toMatchObject({ status: 'sent', attempts: 1 });
});
