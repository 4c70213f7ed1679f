import { SHIPPING_ADDRESS } from '../helpers/fixtures';
import { apiClient } from '../helpers/http';
import { fullStack } from '../helpers/stack';

/**
 * Notifications end to end: orders placed over HTTP write the outbox, the dispatcher beside the worker sends it, and
 * the messages arrive where people read them: email in the SMTP sink (over real SMTP), SMS at the sandbox gateway,
 * in-app messages in the customer's inbox.
 */

const TOKENS = { system: 'sys-token', ops: 'ops-token', agent: 'agent-token' };

const stack = fullStack('notifications', {
  API_TOKENS: [`${TOKENS.system}=system:shop`, `${TOKENS.ops}=ops:olga`, `${TOKENS.agent}=agent:alice`].join(','),
  NOTIFY_POLL_INTERVAL: '50ms',
  NOTIFY_RETRY_BASE: '200ms',
  NOTIFY_RETRY_MAX: '400ms',
  // Sent at any hour of the day the suite runs; quiet hours are the dispatcher test's.
  NOTIFY_QUIET_HOURS: '',
});

const { call, until } = apiClient(() => stack.config.publicUrl, TOKENS.system);

/** 39.00. */
const CABLE = 'ACC-ANKER-USBC1M';

async function placeOrder(customerId: string): Promise<string> {
  const placed = await call('POST', '/v1/orders', {
    customerId,
    channel: 'web',
    lines: [{ sku: CABLE, quantity: 1 }],
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'card', token: 'tok_visa' },
  });
  expect(placed.status).toBe(201);
  const orderId = placed.body.orderId as string;
  await until(orderId, (v) => v.status === 'FULFILLING');
  return orderId;
}

interface OutboxRow {
  channel: string;
  template: string;
  status: string;
  attempts: number;
  last_error: string | null;
  dedupe_key: string;
}

const outboxOf = async (orderId: string) =>
  (
    await stack.sql.query<OutboxRow>(
      `select channel, template, status, attempts, last_error, dedupe_key from notification_outbox
        where case_type = 'order' and case_id = $1 order by id`,
      [orderId],
    )
  ).rows;

async function eventually<T>(read: () => Promise<T>, ready: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 200; i += 1) {
    const value = await read();
    if (ready(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never happened: ${what}`);
}

test('an order’s email arrives in the SMTP sink, in the customer’s language, with its amount and link', async () => {
  const orderId = await placeOrder('C-1001');
  const mails = await eventually(
    async () => (await call('GET', '/v1/sandbox/mailbox?to=li.wei@example.com&limit=50', undefined, TOKENS.ops)).body,
    (body) => body.items.some((m: { subject: string }) => m.subject.includes(orderId)),
    'an email about the order',
  );
  const mail = mails.items.find((m: { subject: string }) => m.subject.includes(orderId));
  // The demo customer reads Chinese; the order of 39.00 + 8.00 shipping.
  expect(mail.subject).toMatch(/[\u4e00-\u9fff]/);
  expect(mail.text).toContain('¥47.00');
  expect(mail.text).toContain(`https://shop.example.com/orders/${orderId}`);
  expect(mail.html).toContain(orderId);
  expect(mail.from).toContain('no-reply@order-engine.local');

  // Every email and SMS row of the order is sent once: one message per row at each provider.
  const rows = await eventually(
    () => outboxOf(orderId),
    (r) => r.length > 0 && r.every((row) => row.status === 'sent'),
    'every row of the order sent',
  );
  expect(new Set(rows.map((r) => r.channel))).toEqual(new Set(['email', 'sms']));
  const sms = rows.filter((r) => r.channel === 'sms').map((r) => r.dedupe_key);
  const { rows: atGateway } = await stack.sql.query('select key from sandbox.sms_messages where key = any($1)', [sms]);
  expect(atGateway).toHaveLength(sms.length);
});

test('an SMS outage is retried with backoff and each message is sent once the gateway is back', async () => {
  const down = await call('PUT', '/v1/sandbox/faults/sms', { latencyMs: 0, failureRate: 1 }, TOKENS.ops);
  expect(down.status).toBe(200);
  let orderId: string;
  try {
    orderId = await placeOrder('C-1001');
    await eventually(
      () => outboxOf(orderId),
      (rows) => rows.some((r) => r.channel === 'sms' && r.attempts >= 2 && r.status === 'pending'),
      'an SMS retried during the outage',
    );
    const during = await outboxOf(orderId);
    expect(during.filter((r) => r.channel === 'sms').every((r) => r.status !== 'sent')).toBe(true);
    expect(during.find((r) => r.channel === 'sms' && r.attempts >= 2)?.last_error).toMatch(/outage/);
  } finally {
    await call('PUT', '/v1/sandbox/faults/sms', { latencyMs: 0, failureRate: 0 }, TOKENS.ops);
  }
  const after = await eventually(
    () => outboxOf(orderId),
    (rows) => rows.every((r) => r.status === 'sent'),
    'every row sent after the outage',
  );
  const sms = after.filter((r) => r.channel === 'sms');
  expect(sms.some((r) => r.attempts > 1)).toBe(true);
  const { rows: atGateway } = await stack.sql.query<{ key: string }>(
    'select key from sandbox.sms_messages where key = any($1)',
    [sms.map((r) => r.dedupe_key)],
  );
  expect(atGateway.map((r) => r.key).sort()).toEqual(sms.map((r) => r.dedupe_key).sort());
});

test('a message the provider refuses for good is parked as failed with the reason', async () => {
  await stack.sql.query(
    `insert into customers (id, name, email, phone, notify_channels)
     values ('C-UNREACHABLE', 'Zhao Lei', null, '+8613900000000', '["sms"]')`,
  );
  const orderId = await placeOrder('C-UNREACHABLE');
  const rows = await eventually(
    () => outboxOf(orderId),
    (r) => r.length > 0 && r.every((row) => row.status === 'failed'),
    'the order’s SMS parked',
  );
  expect(rows.every((r) => r.attempts === 1)).toBe(true);
  expect(rows[0].last_error).toMatch(/cannot receive SMS \(unreachable\)/);
});

test('in-app messages land in the customer’s inbox, newest first, and are marked read once', async () => {
  const orderId = await placeOrder('C-1003');
  const inbox = await eventually(
    async () => (await call('GET', '/v1/customers/C-1003/messages')).body,
    (body) => body.items.some((m: { link?: string }) => m.link?.includes(orderId)),
    'an in-app message about the order',
  );
  const message = inbox.items.find((m: { link?: string }) => m.link?.includes(orderId));
  expect(message.readAt).toBeUndefined();
  expect(inbox.unread).toBeGreaterThanOrEqual(1);
  const times = inbox.items.map((m: { createdAt: string }) => Date.parse(m.createdAt));
  expect([...times].sort((a, b) => b - a)).toEqual(times);

  const read = await call('POST', `/v1/customers/C-1003/messages/${message.messageId}/read`);
  expect(read.status).toBe(200);
  expect(read.body.readAt).toBeDefined();
  const again = await call('POST', `/v1/customers/C-1003/messages/${message.messageId}/read`);
  expect(again.body.readAt).toBe(read.body.readAt);
  const after = (await call('GET', '/v1/customers/C-1003/messages')).body;
  expect(after.unread).toBe(inbox.unread - 1);
  const unreadOnly = (await call('GET', '/v1/customers/C-1003/messages?unread=true')).body;
  expect(unreadOnly.items.map((m: { messageId: number }) => m.messageId)).not.toContain(message.messageId);

  expect((await call('GET', '/v1/customers/C-404/messages')).status).toBe(404);
  expect((await call('POST', `/v1/customers/C-1001/messages/${message.messageId}/read`)).status).toBe(404);
});

test('the outbox figures are in /metrics: messages by channel and status, retries, the oldest pending', async () => {
  await eventually(
    async () =>
      (await stack.sql.query(`select 1 from notification_outbox where status in ('pending', 'sending')`)).rows,
    (waiting) => waiting.length === 0,
    'the outbox settled',
  );
  const { rows } = await stack.sql.query<{ channel: string; status: string; n: number }>(
    `select channel, status, count(*)::int as n from notification_outbox group by channel, status`,
  );
  expect(rows.length).toBeGreaterThan(0);
  const text = await fetch(`${stack.config.publicUrl}/metrics`).then((r) => r.text());
  for (const { channel, status, n } of rows) {
    expect(text).toContain(`notification_outbox_messages{channel="${channel}",status="${status}"} ${n}`);
  }
  expect(text).toMatch(/notification_outbox_retries\{channel="sms"\} [1-9]/);
  expect(text).toContain('notification_outbox_oldest_pending_seconds 0');
});
