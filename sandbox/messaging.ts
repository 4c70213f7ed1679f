import { createHash } from 'node:crypto';
import type { Pool, QueryResultRow } from 'pg';
import { ensureSchema, FaultInjector, type FaultSettings, ProviderRefusedError, randomId } from './common';

/**
 * Test numbers the sandbox SMS gateway refuses, whatever the message, as a real gateway refuses a number that can
 * never receive it (ProviderRefused, nothing stored):
 *
 *   +8613900000000  -> unreachable (no such subscriber)
 *   +8613900000001  -> landline (cannot receive SMS)
 *   +15005550001    -> blocked (the subscriber opted out)
 *
 * Any other E.164 number (`+`, then 8 to 15 digits, the first not 0) is accepted.
 */
export const UNREACHABLE_NUMBERS: Readonly<Record<string, string>> = {
  '+8613900000000': 'unreachable',
  '+8613900000001': 'landline',
  '+15005550001': 'blocked',
};

/**
 * Recipients the sandbox push service refuses: a customer with no registered device. Any other non-empty recipient
 * (a customer id) is accepted.
 */
export const UNREGISTERED_PUSH_RECIPIENTS: readonly string[] = ['cus_no_device'];

/** As long as a real gateway takes in one (concatenated) message. */
export const SMS_MAX_LENGTH = 1600;

const E164 = /^\+[1-9]\d{7,14}$/;

const SCHEMA = [
  'CREATE SCHEMA IF NOT EXISTS sandbox',
  `CREATE TABLE IF NOT EXISTS sandbox.sms_messages (
    key          text PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    "to"         text NOT NULL,
    text         text NOT NULL,
    link         text,
    request_hash text NOT NULL,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    created_at   timestamptz NOT NULL DEFAULT now()
  )`,
  'CREATE INDEX IF NOT EXISTS sms_messages_to_idx ON sandbox.sms_messages ("to", seq)',
  `CREATE TABLE IF NOT EXISTS sandbox.push_messages (
    key          text PRIMARY KEY,
    id           text NOT NULL UNIQUE,
    "to"         text NOT NULL,
    title        text NOT NULL,
    body         text NOT NULL,
    link         text,
    request_hash text NOT NULL,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    created_at   timestamptz NOT NULL DEFAULT now()
  )`,
  'CREATE INDEX IF NOT EXISTS push_messages_to_idx ON sandbox.push_messages ("to", seq)',
];

export interface SandboxMessagingOptions extends FaultSettings {
  /** Source of the fault-injection dice, 0 <= x < 1; inject a fixed sequence to make outages deterministic. */
  random?: () => number;
}

export interface SmsRequest {
  idempotencyKey: string;
  /** E.164: `+8613800138000`. */
  to: string;
  text: string;
  link?: string;
}

export interface PushRequest {
  idempotencyKey: string;
  /** Whose devices the notification goes to: a customer id. */
  to: string;
  title: string;
  body: string;
  link?: string;
}

/** The gateway's id of a message it took in. */
export interface SentMessage {
  messageId: string;
}

export interface SandboxSmsMessage {
  messageId: string;
  idempotencyKey: string;
  to: string;
  text: string;
  link?: string;
  createdAt: string;
}

export interface SandboxPushMessage {
  messageId: string;
  idempotencyKey: string;
  to: string;
  title: string;
  body: string;
  link?: string;
  createdAt: string;
}

export interface MessageQuery {
  to?: string;
  /** Newest first, at most this many; 50 unless told. */
  limit?: number;
}

/**
 * What both sandboxes share: the message table is the idempotency record. The first send under a key stores the
 * message and its id; the same key with the same message answers that id and stores nothing; the same key with a
 * different message is refused. Concurrent sends under one key meet at the primary key: the loser waits for the
 * winner's commit and then reads its row.
 */
abstract class SandboxMessaging<Request extends { idempotencyKey: string; to: string }> {
  private readonly faults: FaultInjector;
  private faultSettings: FaultSettings;

  protected constructor(
    protected readonly pool: Pool,
    private readonly table: string,
    private readonly idPrefix: string,
    opts: SandboxMessagingOptions,
  ) {
    this.faultSettings = { latencyMs: opts.latencyMs, failureRate: opts.failureRate };
    this.faults = new FaultInjector(this.faultSettings, opts.random ?? Math.random);
  }

  /** Changes injected latency or failure rate at run time (tests, PUT /v1/sandbox/faults/{channel}). */
  update(settings: Partial<FaultSettings>): void {
    const next = { ...this.faultSettings, ...settings };
    this.faults.update(next);
    this.faultSettings = next;
  }

  /** The injected latency and failure rate now in force. */
  get faultsInForce(): FaultSettings {
    return { ...this.faultSettings };
  }

  /** Why the provider can never deliver `request`, or undefined when it can. */
  protected abstract refusal(request: Request): string | undefined;

  /** The message's own columns, in the order of `columns`. */
  protected abstract values(request: Request): unknown[];

  protected abstract readonly columns: readonly string[];

  async send(request: Request): Promise<SentMessage> {
    await this.faults.apply(`${this.idPrefix}.send`);
    const key = request.idempotencyKey;
    if (!key) throw new ProviderRefusedError('sandbox: an idempotency key is required');
    const values = this.values(request);
    // The fields in a fixed order, absent ones as null: equal messages hash equally.
    const requestHash = createHash('sha256')
      .update(JSON.stringify([request.to, ...values]))
      .digest('hex');
    const stored = await this.pool.query<{ id: string; request_hash: string }>(
      `SELECT id, request_hash FROM ${this.table} WHERE key = $1`,
      [key],
    );
    if (stored.rows[0]) return this.replay(key, stored.rows[0], requestHash);
    // A message the provider cannot take is refused before it is stored, so the key stays free.
    const reason = this.refusal(request);
    if (reason) throw new ProviderRefusedError(`sandbox: ${reason}`);
    const id = randomId(this.idPrefix);
    const columns = ['key', 'id', '"to"', ...this.columns, 'request_hash'];
    const inserted = await this.pool.query<{ id: string }>(
      `INSERT INTO ${this.table} (${columns.join(', ')})
       VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})
       ON CONFLICT (key) DO NOTHING
       RETURNING id`,
      [key, id, request.to, ...values, requestHash],
    );
    if (inserted.rows[0]) return { messageId: inserted.rows[0].id };
    // Another send under the key committed in between.
    const winner = await this.pool.query<{ id: string; request_hash: string }>(
      `SELECT id, request_hash FROM ${this.table} WHERE key = $1`,
      [key],
    );
    return this.replay(key, winner.rows[0], requestHash);
  }

  private replay(key: string, row: { id: string; request_hash: string }, requestHash: string): SentMessage {
    if (row.request_hash !== requestHash) {
      throw new ProviderRefusedError(`sandbox: idempotency key ${key} was already used for a different message`);
    }
    return { messageId: row.id };
  }

  protected async rows<Row extends QueryResultRow>(query: MessageQuery): Promise<Row[]> {
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 50), 1), 500);
    const { rows } = await this.pool.query<Row>(
      `SELECT * FROM ${this.table} WHERE ($1::text IS NULL OR "to" = $1) ORDER BY seq DESC LIMIT $2`,
      [query.to ?? null, limit],
    );
    return rows;
  }

  /** How many messages are stored under the key: 0 or 1. */
  async count(idempotencyKey: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.table} WHERE key = $1`,
      [idempotencyKey],
    );
    return rows[0].n;
  }
}

interface SmsRow {
  key: string;
  id: string;
  to: string;
  text: string;
  link: string | null;
  created_at: Date;
}

/**
 * An SMS gateway in PostgreSQL (`sandbox.sms_messages`): each accepted message is stored once per idempotency key,
 * with injected latency and outages (an outage fails before anything is read or stored). Refuses a number that is not
 * E.164, the test numbers of UNREACHABLE_NUMBERS, and an empty text or one longer than SMS_MAX_LENGTH.
 */
export class SandboxSms extends SandboxMessaging<SmsRequest> {
  protected readonly columns = ['text', 'link'] as const;

  private constructor(pool: Pool, opts: SandboxMessagingOptions) {
    super(pool, 'sandbox.sms_messages', 'sms', opts);
  }

  /** Creates the tables if needed. The pool stays the caller's to end. */
  static async create(pool: Pool, opts: SandboxMessagingOptions): Promise<SandboxSms> {
    await ensureSchema(pool, SCHEMA);
    return new SandboxSms(pool, opts);
  }

  protected refusal(request: SmsRequest): string | undefined {
    if (!E164.test(request.to)) return `${JSON.stringify(request.to)} is not an E.164 phone number`;
    if (Object.hasOwn(UNREACHABLE_NUMBERS, request.to)) {
      return `${request.to} cannot receive SMS (${UNREACHABLE_NUMBERS[request.to]})`;
    }
    if (!request.text) return 'an SMS needs a text';
    if (request.text.length > SMS_MAX_LENGTH) {
      return `an SMS text is at most ${SMS_MAX_LENGTH} characters, got ${request.text.length}`;
    }
    return undefined;
  }

  protected values(request: SmsRequest): unknown[] {
    return [request.text, request.link ?? null];
  }

  /** Newest first. */
  async list(query: MessageQuery = {}): Promise<SandboxSmsMessage[]> {
    return (await this.rows<SmsRow>(query)).map((row) => ({
      messageId: row.id,
      idempotencyKey: row.key,
      to: row.to,
      text: row.text,
      ...(row.link === null ? {} : { link: row.link }),
      createdAt: row.created_at.toISOString(),
    }));
  }
}

interface PushRow {
  key: string;
  id: string;
  to: string;
  title: string;
  body: string;
  link: string | null;
  created_at: Date;
}

/**
 * A push notification service in PostgreSQL (`sandbox.push_messages`), idempotent and faulty like SandboxSms.
 * Refuses an empty recipient, the recipients of UNREGISTERED_PUSH_RECIPIENTS and a notification with neither title
 * nor body.
 */
export class SandboxPush extends SandboxMessaging<PushRequest> {
  protected readonly columns = ['title', 'body', 'link'] as const;

  private constructor(pool: Pool, opts: SandboxMessagingOptions) {
    super(pool, 'sandbox.push_messages', 'push', opts);
  }

  /** Creates the tables if needed. The pool stays the caller's to end. */
  static async create(pool: Pool, opts: SandboxMessagingOptions): Promise<SandboxPush> {
    await ensureSchema(pool, SCHEMA);
    return new SandboxPush(pool, opts);
  }

  protected refusal(request: PushRequest): string | undefined {
    if (!request.to.trim()) return 'a push notification needs a recipient';
    if (UNREGISTERED_PUSH_RECIPIENTS.includes(request.to)) return `${request.to} has no registered device`;
    if (!request.title && !request.body) return 'a push notification needs a title or a body';
    return undefined;
  }

  protected values(request: PushRequest): unknown[] {
    return [request.title, request.body, request.link ?? null];
  }

  /** Newest first. */
  async list(query: MessageQuery = {}): Promise<SandboxPushMessage[]> {
    return (await this.rows<PushRow>(query)).map((row) => ({
      messageId: row.id,
      idempotencyKey: row.key,
      to: row.to,
      title: row.title,
      body: row.body,
      ...(row.link === null ? {} : { link: row.link }),
      createdAt: row.created_at.toISOString(),
    }));
  }
}
