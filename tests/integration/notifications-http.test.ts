import { SHIPPING_ADDRESS } from '../helpers/fixtures';
import { apiClient, eventually } from '../helpers/http';
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

test('an order’s email arrives in the SMTP sink, in the customer’s language, with its amount and link', async () => {
  const orderId = await placeOrder('C-1001');
  // The email of the payment, which names the amount; the order's later emails (FULFILLING) may arrive before it, as
  // the dispatcher sends several at once.
  const [{ provider_message_id: messageId }] = await eventually(
    async () =>
      (
        await stack.sql.query<{ provider_message_id: string }>(
          `select provider_message_id from notification_outbox
            where case_type = 'order' and case_id = $1 and template = 'order.paid' and channel = 'email'
              and status = 'sent'`,
          [orderId],
        )
      ).rows,
    (rows) => rows.length === 1,
    'the email of the payment sent',
  );
  const { status, body: mail } = await call(
    'GET',
    `/v1/sandbox/mailbox/${encodeURIComponent(messageId)}`,
    undefined,
    TOKENS.ops,
  );
  expect(status).toBe(200);
  expect(mail.subject).toContain(orderId);
  expect(mail.to).toEqual(['li.wei@example.com']);
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
  // Every message of the order so far delivered (pending payment, paid, fulfilling), so none lands during the test.
  await eventually(
    () => outboxOf(orderId),
    (r) => r.length >= 3 && r.every((row) => row.status === 'sent'),
    'the order’s messages so far sent',
  );
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

describe('notification preferences', () => {
  const CATEGORIES = ['order', 'payment', 'logistics', 'after_sales', 'promotions'] as const;
  const preferencesUrl = (customerId: string) => `/v1/customers/${customerId}/notification-preferences`;
  const getPreferences = (customerId: string, token?: string) =>
    call('GET', preferencesUrl(customerId), undefined, token);
  const putPreferences = (customerId: string, body: unknown, token?: string) =>
    call('PUT', preferencesUrl(customerId), body, token);

  let customers = 0;
  /** A customer of this test alone, signed up for `channels`, so no other test's orders or choices disturb it. */
  async function freshCustomer(
    channels: string[],
    notifyFrequency = 'realtime',
  ): Promise<{ customerId: string; email: string }> {
    customers += 1;
    const customerId = `C-PREF-${Date.now().toString(36)}-${customers}`;
    const email = `${customerId.toLowerCase()}@example.com`;
    await stack.sql.query(
      `insert into customers (id, name, email, phone, notify_channels, notify_frequency)
       values ($1, 'Chen Yu', $2, '+8613700137000', $3, $4)`,
      [customerId, email, JSON.stringify(channels), notifyFrequency],
    );
    return { customerId, email };
  }

  const preferenceRows = async (customerId: string) =>
    (
      await stack.sql.query(
        'select category, channels, frequency, updated_by from notification_preferences where customer_id = $1',
        [customerId],
      )
    ).rows;

  const auditRows = async (customerId: string) =>
    (
      await stack.sql.query<{ principal: string; role: string; object_type: string; result: string }>(
        `select principal, role, object_type, result from audit_log
          where action = 'notification_preferences.put' and object_id = $1 order by id`,
        [customerId],
      )
    ).rows;

  async function scan(waybill: string, type: string): Promise<void> {
    const scanned = await call('POST', `/v1/sandbox/parcels/${waybill}/events`, { type }, TOKENS.ops);
    expect(scanned.status).toBe(202);
  }

  /** Places an order for the customer and waits until the outbox holds the rows of its way to FULFILLING. */
  async function fulfillingOrder(customerId: string): Promise<{ orderId: string; waybill: string }> {
    const orderId = await placeOrder(customerId);
    // The view shows FULFILLING before the write of that transition (and its outbox rows) is done.
    await eventually(
      () => outboxOf(orderId),
      (rows) => rows.some((r) => r.template === 'order.fulfilling'),
      'the outbox rows of the order’s way to FULFILLING',
    );
    const view = (await call('GET', `/v1/orders/${orderId}`)).body;
    return { orderId, waybill: view.shipments[0].waybill as string };
  }

  /** Picks the order's parcel up and waits until its SHIPPED transition is in the outbox. */
  async function ship(orderId: string, waybill: string): Promise<OutboxRow[]> {
    await scan(waybill, 'PICKED_UP');
    await until(orderId, (v) => v.status === 'SHIPPED');
    return eventually(
      () => outboxOf(orderId),
      (rows) => rows.some((r) => r.template === 'order.shipped'),
      'the order’s SHIPPED transition in the outbox',
    );
  }

  test('a customer who never chose hears every category but promotions on their sign-up channels, in real time', async () => {
    const liWei = await getPreferences('C-1001');
    expect(liWei.status).toBe(200);
    const signedUp = { channels: ['email', 'sms'], frequency: 'realtime', chosen: false };
    expect(liWei.body).toEqual({
      customerId: 'C-1001',
      locale: 'zh-CN',
      timeZone: 'Asia/Shanghai',
      categories: {
        order: signedUp,
        payment: signedUp,
        logistics: signedUp,
        after_sales: signedUp,
        promotions: { channels: [], frequency: 'realtime', chosen: false },
      },
    });
    const wangFang = await getPreferences('C-1003', TOKENS.agent);
    expect(wangFang.status).toBe(200);
    for (const category of CATEGORIES.filter((c) => c !== 'promotions')) {
      expect(wangFang.body.categories[category]).toEqual({
        channels: ['in_app'],
        frequency: 'realtime',
        chosen: false,
      });
    }
    expect(wangFang.body.categories.promotions).toMatchObject({ channels: [], chosen: false });

    // A customer who signed up for a weekly round-up hears of everything weekly; still no promotions unasked.
    const { customerId } = await freshCustomer(['sms', 'push'], 'weekly');
    const weekly = await getPreferences(customerId, TOKENS.ops);
    expect(weekly.status).toBe(200);
    for (const category of CATEGORIES.filter((c) => c !== 'promotions')) {
      expect(weekly.body.categories[category]).toEqual({
        channels: ['sms', 'push'],
        frequency: 'weekly',
        chosen: false,
      });
    }
    expect(weekly.body.categories.promotions).toMatchObject({ channels: [], chosen: false });

    const unknown = await getPreferences('C-404');
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
    expect(unknown.body.type).toMatch(/\/not-found$/);
    const put = await putPreferences('C-404', { locale: 'en' });
    expect(put.status).toBe(404);
    expect(put.body.type).toMatch(/\/not-found$/);
    expect(await preferenceRows('C-404')).toEqual([]);
    expect(await auditRows('C-404')).toEqual([
      { principal: 'shop', role: 'system', object_type: 'customer', result: 'rejected' },
    ]);
  });

  test('a change touches only the categories named, records who made it, and keeps the language and time zone', async () => {
    const { customerId } = await freshCustomer(['email', 'sms']);
    const before = Date.now();
    const changed = await putPreferences(
      customerId,
      {
        categories: {
          logistics: { channels: ['in_app', 'email'], frequency: 'daily' },
          promotions: { channels: ['push'], frequency: 'weekly' },
        },
        locale: 'en',
        timeZone: 'Europe/Berlin',
      },
      TOKENS.agent,
    );
    expect(changed.status).toBe(200);
    const signedUp = { channels: ['email', 'sms'], frequency: 'realtime', chosen: false };
    expect(changed.body).toEqual({
      customerId,
      locale: 'en',
      timeZone: 'Europe/Berlin',
      categories: {
        order: signedUp,
        payment: signedUp,
        logistics: {
          channels: expect.arrayContaining(['in_app', 'email']),
          frequency: 'daily',
          chosen: true,
          updatedAt: expect.any(String),
          updatedBy: 'alice',
        },
        after_sales: signedUp,
        promotions: {
          channels: ['push'],
          frequency: 'weekly',
          chosen: true,
          updatedAt: expect.any(String),
          updatedBy: 'alice',
        },
      },
    });
    expect(changed.body.categories.logistics.channels).toHaveLength(2);
    const updatedAt = Date.parse(changed.body.categories.logistics.updatedAt);
    expect(updatedAt).toBeGreaterThanOrEqual(before - 5_000);
    expect(updatedAt).toBeLessThanOrEqual(Date.now() + 5_000);
    expect((await getPreferences(customerId)).body).toEqual(changed.body);

    // A second change by someone else names another category: the first choice, language and zone stay.
    const again = await putPreferences(
      customerId,
      { categories: { order: { channels: [], frequency: 'realtime' } } },
      TOKENS.ops,
    );
    expect(again.status).toBe(200);
    const read = (await getPreferences(customerId)).body;
    expect(read).toEqual(again.body);
    expect(read).toMatchObject({ locale: 'en', timeZone: 'Europe/Berlin' });
    expect(read.categories.order).toEqual({
      channels: [],
      frequency: 'realtime',
      chosen: true,
      updatedAt: expect.any(String),
      updatedBy: 'olga',
    });
    expect(read.categories.logistics).toEqual(changed.body.categories.logistics);
    expect(read.categories.promotions).toEqual(changed.body.categories.promotions);
    expect(read.categories.payment).toEqual(signedUp);
    expect(read.categories.after_sales).toEqual(signedUp);

    // Only the language: nothing else moves.
    const language = await putPreferences(customerId, { locale: 'zh-CN' });
    expect(language.status).toBe(200);
    expect(language.body).toEqual({ ...read, locale: 'zh-CN' });

    const { rows } = await stack.sql.query('select locale, timezone from customers where id = $1', [customerId]);
    expect(rows).toEqual([{ locale: 'zh-CN', timezone: 'Europe/Berlin' }]);
    expect(await auditRows(customerId)).toEqual([
      { principal: 'alice', role: 'agent', object_type: 'customer', result: 'ok' },
      { principal: 'olga', role: 'ops', object_type: 'customer', result: 'ok' },
      { principal: 'shop', role: 'system', object_type: 'customer', result: 'ok' },
    ]);
  });

  describe('a bad change is refused and changes nothing', () => {
    let customerId: string;
    beforeAll(async () => {
      ({ customerId } = await freshCustomer(['email', 'sms']));
    });

    const realtimeEmail = { channels: ['email'], frequency: 'realtime' };
    test.each<[string, Record<string, unknown>, string]>([
      ['an unknown category', { categories: { weather: realtimeEmail }, locale: 'en' }, 'categories'],
      [
        'an unknown channel',
        { categories: { logistics: realtimeEmail, order: { channels: ['pigeon'], frequency: 'realtime' } } },
        'categories.order.channels[0]',
      ],
      [
        'a repeated channel',
        { categories: { order: { channels: ['email', 'sms', 'email'], frequency: 'realtime' } } },
        'categories.order.channels',
      ],
      [
        'an unknown frequency',
        { categories: { order: { channels: ['email'], frequency: 'hourly' } } },
        'categories.order.frequency',
      ],
      ['an invalid time zone', { locale: 'en', timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
      ['an empty body', {}, 'body'],
      ['no category at all', { categories: {} }, 'body'],
      ['an unknown key', { locale: 'en', colour: 'blue' }, 'body'],
    ])('%s is a 400 naming the field', async (_what, body, field) => {
      const before = await getPreferences(customerId);
      const answer = await putPreferences(customerId, body);
      expect(answer.status).toBe(400);
      expect(answer.type).toContain('application/problem+json');
      expect(answer.body.type).toMatch(/\/validation$/);
      expect(answer.body.errors).toEqual([{ field, reason: expect.any(String) }]);
      expect((await getPreferences(customerId)).body).toEqual(before.body);
      expect(await preferenceRows(customerId)).toEqual([]);
      const { rows } = await stack.sql.query('select locale, timezone from customers where id = $1', [customerId]);
      expect(rows).toEqual([{ locale: 'zh-CN', timezone: 'Asia/Shanghai' }]);
    });

    test('an unknown key or category is named in the reason', async () => {
      const key = await putPreferences(customerId, { locale: 'en', colour: 'blue' });
      expect(key.status).toBe(400);
      expect(key.body.errors[0].reason).toContain('colour');
      // Alone, an unknown category is refused for that reason only (not also as a body naming no category).
      const category = await putPreferences(customerId, { categories: { weather: realtimeEmail } });
      expect(category.status).toBe(400);
      expect(category.type).toContain('application/problem+json');
      expect(category.body.errors).toEqual([{ field: 'categories', reason: expect.stringContaining('weather') }]);
      expect(await preferenceRows(customerId)).toEqual([]);
    });

    test('a channel the customer has no address for is a 422 naming it, and changes nothing', async () => {
      const { customerId: noPhone } = await freshCustomer(['email']);
      await stack.sql.query('update customers set phone = null where id = $1', [noPhone]);
      const before = await getPreferences(noPhone);
      const answer = await putPreferences(noPhone, {
        categories: {
          order: { channels: ['email'], frequency: 'daily' },
          logistics: { channels: ['in_app', 'sms'], frequency: 'realtime' },
        },
        locale: 'en',
      });
      expect(answer.status).toBe(422);
      expect(answer.type).toContain('application/problem+json');
      expect(answer.body.errors).toEqual([
        { field: 'categories.logistics.channels[1]', reason: 'the customer has no phone number' },
      ]);
      expect((await getPreferences(noPhone)).body).toEqual(before.body);
      expect(await preferenceRows(noPhone)).toEqual([]);
    });

    test('without a valid token it is a 401', async () => {
      for (const method of ['GET', 'PUT']) {
        const response = await fetch(`${stack.config.publicUrl}${preferencesUrl(customerId)}`, {
          method,
          headers: { 'content-type': 'application/json' },
          body: method === 'PUT' ? JSON.stringify({ locale: 'en' }) : undefined,
        });
        expect(response.status).toBe(401);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
      }
      const forged = await putPreferences(customerId, { locale: 'en' }, 'not-a-token');
      expect(forged.status).toBe(401);
      expect(forged.body.type).toMatch(/\/unauthorized$/);
      const { rows } = await stack.sql.query('select locale from customers where id = $1', [customerId]);
      expect(rows).toEqual([{ locale: 'zh-CN' }]);
      expect(await auditRows(customerId)).toEqual([]);
    });
  });

  test('a change takes effect for the next message; those already written stay on the old channels', async () => {
    const { customerId } = await freshCustomer(['email', 'sms']);
    const { orderId, waybill } = await fulfillingOrder(customerId);
    const written = await outboxOf(orderId);
    expect(written.map((r) => r.template)).toEqual(expect.arrayContaining(['order.paid', 'order.fulfilling']));
    for (const template of new Set(written.map((r) => r.template))) {
      const channels = written.filter((r) => r.template === template).map((r) => r.channel);
      expect(channels.sort()).toEqual(['email', 'sms']);
    }

    const changed = await putPreferences(customerId, {
      categories: { logistics: { channels: ['in_app'], frequency: 'realtime' } },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.categories.logistics).toMatchObject({ channels: ['in_app'], chosen: true });

    const after = await ship(orderId, waybill);
    const key = (r: OutboxRow) => `${r.dedupe_key} ${r.channel} ${r.template}`;
    expect(after.slice(0, written.length).map(key)).toEqual(written.map(key));
    const shipped = after.filter((r) => r.template === 'order.shipped');
    expect(shipped.map((r) => r.channel)).toEqual(['in_app']);
    expect(after.slice(written.length)).toEqual(shipped);

    const inbox = await eventually(
      async () => (await call('GET', `/v1/customers/${customerId}/messages`)).body,
      (body) => body.items.some((m: { link?: string }) => m.link?.includes(orderId)),
      'the in-app message about the shipped order',
    );
    const aboutOrder = inbox.items.filter((m: { link?: string }) => m.link?.includes(orderId));
    expect(aboutOrder).toHaveLength(1);
    // The customer reads Chinese: “您的订单…已发货”.
    expect(aboutOrder[0].subject).toContain('已发货');
    const sentShipped = await eventually(
      () => outboxOf(orderId),
      (rows) => rows.filter((r) => r.template === 'order.shipped').every((r) => r.status === 'sent'),
      'the shipped message sent',
    );
    expect(sentShipped.filter((r) => r.template === 'order.shipped')).toHaveLength(1);
  });

  test('a daily choice holds the messages for the digest, while urgent news still goes at once', async () => {
    const { customerId, email } = await freshCustomer(['email']);
    const daily = { channels: ['email'], frequency: 'daily' };
    const changed = await putPreferences(customerId, { categories: { logistics: daily, order: daily } });
    expect(changed.status).toBe(200);
    expect(changed.body.categories).toMatchObject({ logistics: daily, order: daily });

    const { orderId, waybill } = await fulfillingOrder(customerId);
    const rows = await ship(orderId, waybill);
    const digestOf = async (id: string) =>
      (
        await stack.sql.query<{ template: string; channel: string; status: string; digest: string | null }>(
          `select template, channel, status, digest from notification_outbox where case_type = 'order' and case_id = $1
            order by id`,
          [id],
        )
      ).rows;
    expect(rows.map((r) => r.template)).toEqual([
      'order.pending_payment',
      'order.paid',
      'order.fulfilling',
      'order.shipped',
    ]);
    // Paying is another category, still in real time: those two go out; the logistics news waits for the digest.
    const firstRows = await eventually(
      () => digestOf(orderId),
      (found) => found.filter((r) => r.status === 'sent').length === 2,
      'the payment messages sent',
    );
    expect(firstRows).toEqual([
      { template: 'order.pending_payment', channel: 'email', status: 'sent', digest: null },
      { template: 'order.paid', channel: 'email', status: 'sent', digest: null },
      { template: 'order.fulfilling', channel: 'email', status: 'held', digest: 'daily' },
      { template: 'order.shipped', channel: 'email', status: 'held', digest: 'daily' },
    ]);

    // Cancelled is news of the `order` category, chosen daily: it is urgent, so it still goes at once.
    const other = await fulfillingOrder(customerId);
    const cancelled = await call(
      'POST',
      `/v1/orders/${other.orderId}/cancel`,
      { reason: 'changed my mind' },
      TOKENS.agent,
    );
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');
    const cancelRows = await eventually(
      async () => (await digestOf(other.orderId)).filter((r) => r.template === 'order.cancelled'),
      (found) => found.length > 0 && found.every((r) => r.status === 'sent'),
      'the cancellation sent',
    );
    expect(cancelRows).toEqual([{ template: 'order.cancelled', channel: 'email', status: 'sent', digest: null }]);
    const mails = await eventually(
      async () =>
        (await call('GET', `/v1/sandbox/mailbox?to=${encodeURIComponent(email)}&limit=50`, undefined, TOKENS.ops)).body
          .items as { subject: string }[],
      (items) =>
        items.some((m) => m.subject.includes(other.orderId) && m.subject.includes('取消')) &&
        items.filter((m) => m.subject.includes(orderId)).length >= 2,
      'the cancellation email, and the payment emails of the first order',
    );

    // The cancellation was written after the shipped row and went out; the held rows did not.
    const aboutFirst = mails.filter((m) => m.subject.includes(orderId));
    expect(aboutFirst).toHaveLength(2);
    expect(aboutFirst.some((m) => m.subject.includes('发货') || m.subject.includes('备货'))).toBe(false);
    expect(await digestOf(orderId)).toEqual(firstRows);
  });
});
