import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'pg';
import { buildApp } from '../../api/app';
import { ConfigError, loadConfig } from '../../config';
import { type Delivery, PROVIDER_ERRORS } from '../../domain/ports';
import {
  messageIdFor,
  sandboxPushSender,
  sandboxSmsSender,
  SmtpEmailSender,
  smtpError,
} from '../../notifications/senders';
import { SandboxMailbox, SandboxPush, SandboxSms } from '../../sandbox';
import { openSandboxes } from '../../worker/runtime';
import { testDatabase } from '../helpers/database';

const FROM = 'Order Engine <no-reply@order-engine.local>';

const database = testDatabase('notify');
let pool: Pool;
let mailbox: SandboxMailbox;
let email: SmtpEmailSender;
let sms: SandboxSms;
let push: SandboxPush;

beforeAll(async () => {
  pool = new Pool({ connectionString: database.db.url, max: 5 });
  // pool.end() resolves before its sockets have closed, so the server stopping right after can still reach an idle
  // client with "terminating connection" (57P01); anything else is a real failure.
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') throw error;
  });
  mailbox = await SandboxMailbox.create(pool, { port: 0 });
  await mailbox.start();
  email = new SmtpEmailSender({ url: mailbox.url, from: FROM });
  sms = await SandboxSms.create(pool, { latencyMs: 0, failureRate: 0 });
  push = await SandboxPush.create(pool, { latencyMs: 0, failureRate: 0 });
});

afterAll(async () => {
  email?.close();
  await mailbox?.stop();
  await pool?.end();
});

const refused = () => expect.objectContaining({ name: PROVIDER_ERRORS.refused });
const unavailable = () => expect.objectContaining({ name: PROVIDER_ERRORS.unavailable });

const key = (label: string) => `${label}-${randomUUID()}`;
const inbox = () => `customer-${randomUUID()}@example.test`;

const delivery = (overrides: Partial<Delivery> = {}): Delivery => ({
  idempotencyKey: key('notify'),
  to: inbox(),
  subject: 'Your order ORD-1 has shipped',
  text: 'Your parcel is on its way: https://shop.example.test/orders/ORD-1',
  html: '<p>Your parcel is <b>on its way</b>.</p>',
  link: 'https://shop.example.test/orders/ORD-1',
  ...overrides,
});

async function countRows(table: string, where: string, params: unknown[]): Promise<number> {
  const { rows } = await database.sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
    params,
  );
  return rows[0].n;
}

describe('SmtpEmailSender and the sandbox mailbox', () => {
  test('a message goes over SMTP into sandbox.mailbox with its subject, text, html, sender and recipient', async () => {
    const message = delivery();
    const sent = await email.send(message);

    expect(sent.providerMessageId).toBe(messageIdFor(message.idempotencyKey));
    expect(sent.providerMessageId).toMatch(/^<[0-9a-f]{64}@order-engine\.local>$/);
    const { rows } = await database.sql.query('SELECT * FROM sandbox.mailbox WHERE message_id = $1', [
      sent.providerMessageId,
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      from_address: FROM,
      to_addresses: [message.to],
      subject: message.subject,
      html: message.html,
    });
    expect(rows[0].text.trim()).toBe(message.text);
    expect(rows[0].headers['message-id']).toBe(sent.providerMessageId);
    expect(rows[0].received_at).toBeInstanceOf(Date);

    const read = await mailbox.get(sent.providerMessageId);
    expect(read).toMatchObject({ messageId: sent.providerMessageId, from: FROM, to: [message.to] });
    // The id may be given without its angle brackets, as in a URL.
    expect(await mailbox.get(sent.providerMessageId.slice(1, -1))).toEqual(read);
  });

  test('messages share kept-open connections: the relay sees one connection for messages sent one after another', async () => {
    // A counting relay in front of the mailbox: every connection the sender opens passes through it.
    let connections = 0;
    const relay = net.createServer((client) => {
      connections += 1;
      const upstream = net.connect(mailbox.port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const pooled = new SmtpEmailSender({
      url: `smtp://127.0.0.1:${(relay.address() as net.AddressInfo).port}`,
      from: FROM,
    });
    try {
      const sent = [];
      for (let i = 0; i < 4; i += 1) sent.push(await pooled.send(delivery()));
      expect(connections).toBe(1);
      for (const { providerMessageId } of sent) expect(await mailbox.get(providerMessageId)).not.toBeNull();
      // A refused recipient is refused as before (nodemailer retires that connection); the next message goes through.
      await expect(pooled.send(delivery({ to: 'nobody@refused.invalid' }))).rejects.toEqual(refused());
      expect(await mailbox.get((await pooled.send(delivery())).providerMessageId)).not.toBeNull();
    } finally {
      pooled.close();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  test('the same idempotency key sent twice is stored once, under the same provider id', async () => {
    const message = delivery();
    const first = await email.send(message);
    const again = await email.send(message);
    expect(again).toEqual(first);
    expect(await countRows('sandbox.mailbox', 'message_id = $1', [first.providerMessageId])).toBe(1);
    // Another key is another message, even with the same content.
    const other = await email.send({ ...message, idempotencyKey: key('other') });
    expect(other.providerMessageId).not.toBe(first.providerMessageId);
    expect(await countRows('sandbox.mailbox', '$1 = ANY (to_addresses)', [message.to])).toBe(2);
  });

  test('a recipient the relay refuses is ProviderRefused; one it defers is ProviderUnavailable; nothing is stored', async () => {
    await expect(email.send(delivery({ to: 'nobody@refused.invalid' }))).rejects.toEqual(refused());
    await expect(email.send(delivery({ to: 'later@deferred.invalid' }))).rejects.toEqual(unavailable());
    await expect(email.send(delivery({ to: '' }))).rejects.toEqual(refused());
    expect(
      await countRows('sandbox.mailbox', 'to_addresses && $1', [['nobody@refused.invalid', 'later@deferred.invalid']]),
    ).toBe(0);
  });

  test('a message over the size limit is refused for good', async () => {
    const huge = delivery({ html: `<p>${'x'.repeat(1100 * 1024)}</p>` });
    await expect(email.send(huge)).rejects.toEqual(refused());
    expect(await countRows('sandbox.mailbox', '$1 = ANY (to_addresses)', [huge.to])).toBe(0);
  });

  test('with the sink stopped a send is ProviderUnavailable; started again, on the same port, the retry goes through', async () => {
    const port = mailbox.port;
    const message = delivery();
    await mailbox.stop();
    try {
      await expect(email.send(message)).rejects.toEqual(unavailable());
    } finally {
      await mailbox.start();
    }
    expect(mailbox.port).toBe(port);
    const sent = await email.send(message);
    expect(await mailbox.get(sent.providerMessageId)).toMatchObject({ subject: message.subject });
  });

  test('list() is newest first and filters by recipient, case-insensitively', async () => {
    const to = inbox();
    const first = await email.send(delivery({ to, subject: 'first' }));
    const second = await email.send(delivery({ to: to.toUpperCase(), subject: 'second' }));
    const listed = await mailbox.list({ to: to.toUpperCase(), limit: 10 });
    expect(listed.map((m) => m.messageId)).toEqual([second.providerMessageId, first.providerMessageId]);
    expect(listed.map((m) => m.to)).toEqual([[to], [to]]);
    expect(await mailbox.list({ to, limit: 1 })).toHaveLength(1);
  });

  test('SMTP failures map to refused only when the same message would be refused again', () => {
    const failure = (fields: Record<string, unknown>) => Object.assign(new Error('smtp failed'), fields);
    expect(smtpError(failure({ code: 'EENVELOPE', responseCode: 550 }))).toEqual(refused());
    expect(smtpError(failure({ code: 'EMESSAGE', responseCode: 552 }))).toEqual(refused());
    expect(smtpError(failure({ code: 'EENVELOPE' }))).toEqual(refused());
    expect(smtpError(failure({ code: 'EENVELOPE', responseCode: 451 }))).toEqual(unavailable());
    expect(smtpError(failure({ code: 'EPROTOCOL', responseCode: 503 }))).toEqual(unavailable());
    expect(smtpError(failure({ code: 'EAUTH', responseCode: 535 }))).toEqual(unavailable());
    expect(smtpError(failure({ code: 'ESOCKET' }))).toEqual(unavailable());
    expect(smtpError(failure({ code: 'ETIMEDOUT' }))).toEqual(unavailable());
    expect(smtpError(new Error('anything else'))).toEqual(unavailable());
  });
});

describe('SandboxSms', () => {
  const sender = () => sandboxSmsSender(sms);

  afterEach(() => sms.update({ latencyMs: 0, failureRate: 0 }));

  test('is idempotent by key: the same message again gets the first id; another message under the key is refused', async () => {
    const message = delivery({ to: '+8613800138000' });
    const first = await sender().send(message);
    expect(first.providerMessageId).toMatch(/^sms_/);
    expect(await sender().send(message)).toEqual(first);
    await expect(sender().send({ ...message, text: 'something else' })).rejects.toEqual(refused());
    expect(await sms.count(message.idempotencyKey)).toBe(1);
    const [stored] = await sms.list({ to: message.to, limit: 5 });
    expect(stored).toMatchObject({
      messageId: first.providerMessageId,
      idempotencyKey: message.idempotencyKey,
      text: message.text,
      link: message.link,
    });
  });

  test('an outage fails before anything is stored; after recovery the same key sends once', async () => {
    const message = delivery({ to: '+8613800138001' });
    sms.update({ failureRate: 1 });
    expect(sms.faultsInForce).toEqual({ latencyMs: 0, failureRate: 1 });
    await expect(sender().send(message)).rejects.toEqual(unavailable());
    await expect(sender().send(message)).rejects.toEqual(unavailable());
    expect(await sms.count(message.idempotencyKey)).toBe(0);

    sms.update({ failureRate: 0 });
    const sent = await sender().send(message);
    expect(await sender().send(message)).toEqual(sent);
    expect(await sms.count(message.idempotencyKey)).toBe(1);
  });

  test.each([
    ['not E.164', '13800138000'],
    ['too short', '+1234567'],
    ['too long', '+1234567890123456'],
    ['a leading zero', '+0861380013800'],
    ['the unreachable test number', '+8613900000000'],
    ['the landline test number', '+8613900000001'],
  ])('refuses a number that is %s, and stores nothing', async (_what, to) => {
    const message = delivery({ to });
    await expect(sender().send(message)).rejects.toEqual(refused());
    expect(await sms.count(message.idempotencyKey)).toBe(0);
  });

  test('injected latency delays every send', async () => {
    sms.update({ latencyMs: 150 });
    const started = Date.now();
    await sender().send(delivery({ to: '+8613800138002' }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe('SandboxPush', () => {
  const sender = () => sandboxPushSender(push);

  afterEach(() => push.update({ latencyMs: 0, failureRate: 0 }));

  test('sends the subject as title and the text as body, once per key; outages and bad recipients store nothing', async () => {
    const message = delivery({ to: 'C-1001' });
    const first = await sender().send(message);
    expect(first.providerMessageId).toMatch(/^push_/);
    expect(await sender().send(message)).toEqual(first);
    const [stored] = await push.list({ to: 'C-1001', limit: 1 });
    expect(stored).toMatchObject({ title: message.subject, body: message.text, link: message.link });

    const later = delivery({ to: 'C-1001' });
    push.update({ failureRate: 1 });
    await expect(sender().send(later)).rejects.toEqual(unavailable());
    push.update({ failureRate: 0 });
    await sender().send(later);
    expect(await push.count(later.idempotencyKey)).toBe(1);

    for (const to of ['', '  ', 'cus_no_device']) {
      const bad = delivery({ to });
      await expect(sender().send(bad)).rejects.toEqual(refused());
      expect(await push.count(bad.idempotencyKey)).toBe(0);
    }
  });
});

describe('openSandboxes', () => {
  const secret = () => randomBytes(32).toString('hex');
  const production = (env: Record<string, string> = {}) =>
    loadConfig({
      NODE_ENV: 'production',
      API_TOKENS: 'tok=system:shop',
      PAYMENT_WEBHOOK_SECRET: secret(),
      CARRIER_WEBHOOK_SECRET: secret(),
      METRICS_TOKEN: secret(),
      SANDBOX_CARRIER_MODE: 'manual',
      ...env,
    });

  test('outside production it runs the mailbox on a free port and sends email there', async () => {
    const config = loadConfig({ NODE_ENV: 'test', SANDBOX_CARRIER_MODE: 'manual' });
    expect(config.SANDBOX_SMTP_PORT).toBe(0);
    const sandboxes = await openSandboxes(config, database.db.url);
    try {
      expect(sandboxes.mailbox!.port).toBeGreaterThan(0);
      const message = delivery();
      const sent = await sandboxes.senders.email.send(message);
      expect(await sandboxes.mailbox!.get(sent.providerMessageId)).toMatchObject({ from: config.MAIL_FROM });
      expect((await sandboxes.senders.sms.send(delivery({ to: '+8613800138003' }))).providerMessageId).toMatch(/^sms_/);
      expect((await sandboxes.senders.push.send(delivery({ to: 'C-1002' }))).providerMessageId).toMatch(/^push_/);
    } finally {
      await sandboxes.close();
    }
  });

  test('a taken mailbox port gives way to a free one, with a warning', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const sandboxes = await openSandboxes(
        loadConfig({ NODE_ENV: 'test', SANDBOX_CARRIER_MODE: 'manual', SANDBOX_SMTP_PORT: String(port) }),
        database.db.url,
      );
      try {
        expect(sandboxes.mailbox!.port).not.toBe(port);
        expect(warn).toHaveBeenCalledWith(expect.stringContaining(`port ${port} is taken`));
        const sent = await sandboxes.senders.email.send(delivery());
        expect(await sandboxes.mailbox!.get(sent.providerMessageId)).not.toBeNull();
      } finally {
        await sandboxes.close();
      }
    } finally {
      warn.mockRestore();
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('production needs SMTP_URL, runs no mailbox, and sends email to SMTP_URL', async () => {
    await expect(openSandboxes(production(), database.db.url)).rejects.toThrow(ConfigError);
    await expect(openSandboxes(production(), database.db.url)).rejects.toThrow(/SMTP_URL: required in production/);

    // The test's own mailbox stands in for the production relay.
    const sandboxes = await openSandboxes(production({ SMTP_URL: mailbox.url }), database.db.url);
    try {
      expect(sandboxes.mailbox).toBeUndefined();
      const sent = await sandboxes.senders.email.send(delivery());
      expect(await mailbox.get(sent.providerMessageId)).not.toBeNull();
      // SMS and push go through the sandboxes until real adapters exist.
      expect((await sandboxes.senders.sms.send(delivery({ to: '+8613800138004' }))).providerMessageId).toMatch(/^sms_/);
    } finally {
      await sandboxes.close();
    }
  });

  test('SMTP_URL must be an smtp:// or smtps:// URL', () => {
    expect(() => loadConfig({ SMTP_URL: 'http://relay.example.test' })).toThrow(/SMTP_URL/);
    expect(loadConfig({ SMTP_URL: 'smtps://user:pw@relay.example.test:465' }).SMTP_URL).toBe(
      'smtps://user:pw@relay.example.test:465',
    );
    expect(loadConfig({ NODE_ENV: 'development' }).SANDBOX_SMTP_PORT).toBe(2525);
  });
});

describe('sandbox message routes', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    const config = loadConfig({ NODE_ENV: 'test', API_TOKENS: 'tok-ops=ops:olga,tok-agent=agent:alice' });
    // The message routes read only the sandboxes; the engine's own dependencies are never reached.
    app = await buildApp({
      config,
      temporal: {} as Client,
      orm: {} as MikroORM,
      taskQueue: 'orders-test',
      sandbox: { gateway: {} as never, carrier: {} as never, mailbox, sms, push },
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  const call = (method: 'GET' | 'PUT', url: string, token?: string, payload?: unknown) =>
    app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, payload: payload as never });

  test('GET /v1/sandbox/mailbox lists received email newest first; one message reads with its headers', async () => {
    const to = inbox();
    const first = await email.send(delivery({ to, subject: 'first' }));
    const second = await email.send(delivery({ to, subject: 'second' }));

    const listed = await call('GET', `/v1/sandbox/mailbox?to=${encodeURIComponent(to)}&limit=10`, 'tok-ops');
    expect(listed.statusCode).toBe(200);
    const { items } = listed.json();
    expect(items.map((m: any) => m.messageId)).toEqual([second.providerMessageId, first.providerMessageId]);
    expect(items[0]).toEqual({
      messageId: second.providerMessageId,
      from: FROM,
      to: [to],
      subject: 'second',
      text: expect.stringContaining('on its way'),
      html: '<p>Your parcel is <b>on its way</b>.</p>',
      receivedAt: expect.any(String),
    });

    const one = await call('GET', `/v1/sandbox/mailbox/${encodeURIComponent(first.providerMessageId)}`, 'tok-ops');
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ subject: 'first', headers: { 'message-id': first.providerMessageId } });
    const bare = await call('GET', `/v1/sandbox/mailbox/${first.providerMessageId.slice(1, -1)}`, 'tok-ops');
    expect(bare.json().messageId).toBe(first.providerMessageId);

    expect((await call('GET', '/v1/sandbox/mailbox/nothing@here', 'tok-ops')).statusCode).toBe(404);
    expect((await call('GET', '/v1/sandbox/mailbox')).statusCode).toBe(401);
    expect((await call('GET', '/v1/sandbox/mailbox', 'tok-agent')).statusCode).toBe(403);
  });

  test('GET /v1/sandbox/sms and /push list what the sandboxes took in', async () => {
    const phone = '+8613800138005';
    const sent = await sandboxSmsSender(sms).send(delivery({ to: phone }));
    const smsList = await call('GET', `/v1/sandbox/sms?to=${encodeURIComponent(phone)}`, 'tok-ops');
    expect(smsList.statusCode).toBe(200);
    expect(smsList.json().items[0]).toMatchObject({ messageId: sent.providerMessageId, to: phone });

    const pushed = await sandboxPushSender(push).send(delivery({ to: 'C-1003' }));
    const pushList = await call('GET', '/v1/sandbox/push?to=C-1003&limit=1', 'tok-ops');
    expect(pushList.json().items).toEqual([expect.objectContaining({ messageId: pushed.providerMessageId })]);
  });

  test('PUT /v1/sandbox/faults/{channel} injects an outage and lifts it', async () => {
    const down = await call('PUT', '/v1/sandbox/faults/sms', 'tok-ops', { latencyMs: 0, failureRate: 1 });
    expect(down.statusCode).toBe(200);
    expect(down.json()).toEqual({ channel: 'sms', latencyMs: 0, failureRate: 1 });
    try {
      await expect(sandboxSmsSender(sms).send(delivery({ to: '+8613800138006' }))).rejects.toEqual(unavailable());
    } finally {
      const up = await call('PUT', '/v1/sandbox/faults/sms', 'tok-ops', { latencyMs: 0, failureRate: 0 });
      expect(up.json()).toEqual({ channel: 'sms', latencyMs: 0, failureRate: 0 });
    }
    const faults = (channel: string, body: unknown, token = 'tok-ops') =>
      call('PUT', `/v1/sandbox/faults/${channel}`, token, body);
    expect((await faults('sms', {})).statusCode).toBe(400);
    expect((await faults('sms', { failureRate: 1 })).statusCode).toBe(400);
    expect((await faults('sms', { latencyMs: 0, failureRate: 2 })).statusCode).toBe(400);
    expect((await faults('sms', { latencyMs: -1, failureRate: 0 })).statusCode).toBe(400);
    expect((await faults('email', { latencyMs: 0, failureRate: 1 })).statusCode).toBe(400);
    expect((await faults('push', { latencyMs: 0, failureRate: 1 }, 'tok-agent')).statusCode).toBe(403);
    expect(sms.faultsInForce).toEqual({ latencyMs: 0, failureRate: 0 });
    expect(push.faultsInForce).toEqual({ latencyMs: 0, failureRate: 0 });
  });
});
