import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { CaseType } from '../domain/case';
import {
  e164,
  QUIET_CHANNELS,
  quietUntil,
  retryDelayMs,
  staffTeamOf,
  URGENT_TEMPLATES,
  type Locale,
  type QuietHours,
} from '../domain/notification';
import {
  NOTIFICATION_CHANNELS,
  PROVIDER_ERRORS,
  type Delivery,
  type MessageSender,
  type NotificationChannel,
} from '../domain/ports';

/** One outbox row as the dispatcher leases it. */
export interface OutboxRow {
  id: number;
  dedupe_key: string;
  customer_id: string;
  case_type: CaseType | null;
  case_id: string | null;
  channel: NotificationChannel;
  template: string;
  payload: Record<string, unknown>;
  attempts: number;
  created_at: Date;
}

/** Who a customer message is for, as `customers` has them. */
export interface Recipient {
  id: string;
  name: string;
  email: string | null;
  phone: string | null;
  locale: Locale;
  /** IANA time zone, for quiet hours. */
  timezone: string;
}

/** What the dispatcher does with a message: its text, written for this recipient (or staff). */
export type Renderer = (
  row: OutboxRow,
  recipient: Recipient | undefined,
) => Pick<Delivery, 'subject' | 'text' | 'html' | 'link'>;

export interface DispatcherOptions {
  pool: Pool;
  senders: Partial<Record<NotificationChannel, MessageSender>>;
  render: Renderer;
  /** Rows leased per round. */
  batchSize: number;
  /** How long a lease holds; a dispatcher that died mid-send loses its rows to another after this. */
  leaseMs: number;
  /** Wait between rounds that found nothing to send. */
  pollMs: number;
  retry: { baseMs: number; maxMs: number };
  /** Attempts before a message that keeps failing for now is parked as failed. */
  maxAttempts: number;
  /** Messages of one round sent at once. */
  concurrency: number;
  /**
   * Non-urgent email, SMS and push are held while it is quiet where the customer lives (e.g. 22:00-08:00), until the
   * quiet hours end; undefined sends at any hour.
   */
  quietHours?: QuietHours;
  /** Told of every outcome, for metrics. */
  observe?(event: { channel: NotificationChannel; outcome: 'sent' | 'retried' | 'failed' | 'held' }): void;
  log?(message: string, detail?: Record<string, unknown>): void;
}

/** Thrown for a message that can never be sent as it is (no address, no template): parked at once. */
class Undeliverable extends Error {}

const isRefusal = (error: unknown) =>
  error instanceof Undeliverable || (error instanceof Error && error.name === PROVIDER_ERRORS.refused);

/**
 * Sends the outbox (NOT-1). A loop in the worker process, not a workflow: the rows are in PostgreSQL already, so
 * leasing them with `FOR UPDATE SKIP LOCKED` lets any number of dispatchers share the work with one statement per
 * batch, where a workflow per message would cost several server round trips each. Exactly once per dedupe key: a row is
 * leased before it is sent and marked sent after; a dispatcher killed in between leaves the lease to run out, and the
 * next one sends again under the same provider idempotency key (the row's dedupe key), which the provider answers
 * with the first send. Transient failures are retried with backoff; refusals are parked as `failed` with the reason.
 */
export class Dispatcher {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private running?: Promise<void>;
  private stopping = false;
  private wake?: () => void;

  /** The channels it has a provider for. */
  private readonly channels: NotificationChannel[];

  constructor(private readonly options: DispatcherOptions) {
    this.channels = NOTIFICATION_CHANNELS.filter((channel) => options.senders[channel]);
  }

  /** Runs rounds until `stop`. */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.running = (async () => {
      while (!this.stopping) {
        let sent = 0;
        try {
          sent = await this.runOnce();
        } catch (error) {
          this.options.log?.('notification round failed', { err: (error as Error).message });
        }
        if (sent === 0 && !this.stopping) await this.pause(this.options.pollMs);
      }
    })();
  }

  /** Stops leasing; the round in flight finishes first. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
    this.running = undefined;
  }

  /** Leases one batch and settles every row of it; answers how many rows it leased. */
  async runOnce(): Promise<number> {
    const rows = await this.lease();
    if (rows.length === 0) return 0;
    const recipients = await this.recipients(rows);
    const queue = [...rows];
    const workers = Array.from({ length: Math.min(this.options.concurrency, rows.length) }, async () => {
      for (let row = queue.shift(); row; row = queue.shift()) {
        await this.deliver(row, recipients.get(row.customer_id));
      }
    });
    await Promise.all(workers);
    return rows.length;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Pending rows due now, and rows whose dispatcher's lease ran out, oldest first: only on the channels this
   * dispatcher has a provider for, so a channel nobody serves waits (and ages on the metrics) instead of failing.
   */
  private async lease(): Promise<OutboxRow[]> {
    const { rows } = await this.options.pool.query<OutboxRow>(
      `update notification_outbox o
          set status = 'sending', leased_until = now() + make_interval(secs => $1::double precision / 1000),
              lease_owner = $2, attempts = o.attempts + 1
        where o.id in (
          select id from notification_outbox
           where ((status = 'pending' and next_attempt_at <= now()) or (status = 'sending' and leased_until < now()))
             and channel = any($4)
           order by next_attempt_at, id
           limit $3
           for update skip locked)
        returning o.id, o.dedupe_key, o.customer_id, o.case_type, o.case_id, o.channel, o.template, o.payload,
                  o.attempts, o.created_at`,
      [this.options.leaseMs, this.owner, this.options.batchSize, this.channels],
    );
    return rows.sort((a, b) => a.id - b.id);
  }

  private async recipients(rows: OutboxRow[]): Promise<Map<string, Recipient>> {
    const ids = [...new Set(rows.filter((r) => r.channel !== 'staff').map((r) => r.customer_id))];
    if (ids.length === 0) return new Map();
    const { rows: found } = await this.options.pool.query<Recipient>(
      'select id, name, email, phone, locale, timezone from customers where id = any($1)',
      [ids],
    );
    return new Map(found.map((r) => [r.id, r]));
  }

  /** Where this row goes on its channel. */
  private async address(row: OutboxRow, recipient: Recipient | undefined): Promise<string> {
    if (row.channel === 'staff') return this.staffTeam(row);
    if (!recipient) throw new Undeliverable(`no customer ${row.customer_id}`);
    switch (row.channel) {
      case 'email':
        if (!recipient.email) throw new Undeliverable(`customer ${recipient.id} has no email address`);
        return recipient.email;
      case 'sms':
        if (!recipient.phone) throw new Undeliverable(`customer ${recipient.id} has no phone number`);
        return e164(recipient.phone);
      default:
        return recipient.id;
    }
  }

  /** When the recipient's quiet hours end, if this message must wait for them; undefined to send now. */
  private quietEnd(row: OutboxRow, recipient: Recipient | undefined): Date | undefined {
    if (!recipient || !QUIET_CHANNELS.includes(row.channel) || URGENT_TEMPLATES.includes(row.template))
      return undefined;
    try {
      return quietUntil(new Date(), recipient.timezone, this.options.quietHours);
    } catch {
      // An unknown time zone: the customer's quiet hours cannot be known, the message goes now.
      return undefined;
    }
  }

  /** The team whose inbox a staff message lands in; a refund's approver decides who hears it is overdue. */
  private async staffTeam(row: OutboxRow): Promise<string> {
    const topic = String(row.payload.topic ?? row.template.replace(/^staff\./, ''));
    if (row.case_type === 'refund' && row.case_id) {
      const { rows } = await this.options.pool.query<{ approver: string }>(
        'select approver from refunds where id = $1',
        [row.case_id],
      );
      return staffTeamOf(topic, { approver: rows[0]?.approver });
    }
    return staffTeamOf(topic);
  }

  private async deliver(row: OutboxRow, recipient: Recipient | undefined): Promise<void> {
    const { pool, senders } = this.options;
    try {
      const sender = senders[row.channel]!;
      const to = await this.address(row, recipient);
      const quietEnd = this.quietEnd(row, recipient);
      if (quietEnd) {
        // Not an attempt: the row waits for the morning as it was.
        await pool.query(
          `update notification_outbox
              set status = 'pending', attempts = attempts - 1, leased_until = null, next_attempt_at = $3
            where id = $1 and lease_owner = $2 and status = 'sending'`,
          [row.id, this.owner, quietEnd],
        );
        this.options.observe?.({ channel: row.channel, outcome: 'held' });
        return;
      }
      let rendered;
      try {
        rendered = this.options.render(row, recipient);
      } catch (error) {
        throw new Undeliverable(`cannot render ${row.template}: ${(error as Error).message}`);
      }
      const about = {
        ...(row.case_type ? { caseType: row.case_type } : {}),
        ...(row.case_id ? { caseId: row.case_id } : {}),
        template: row.template,
        ...(typeof row.payload.topic === 'string' ? { topic: row.payload.topic } : {}),
      };
      const { providerMessageId } = await sender.send({ idempotencyKey: row.dedupe_key, to, ...rendered, about });
      await pool.query(
        `update notification_outbox
            set status = 'sent', sent_at = now(), provider_message_id = $3, leased_until = null, last_error = null
          where id = $1 and lease_owner = $2 and status = 'sending'`,
        [row.id, this.owner, providerMessageId],
      );
      this.options.observe?.({ channel: row.channel, outcome: 'sent' });
    } catch (error) {
      const reason = (error as Error).message.slice(0, 1000);
      const giveUp = isRefusal(error) || row.attempts >= this.options.maxAttempts;
      if (giveUp) {
        await pool.query(
          `update notification_outbox
              set status = 'failed', failed_at = now(), last_error = $3, leased_until = null
            where id = $1 and lease_owner = $2 and status = 'sending'`,
          [row.id, this.owner, isRefusal(error) ? reason : `gave up after ${row.attempts} attempts: ${reason}`],
        );
      } else {
        const delay = retryDelayMs(row.attempts, this.options.retry);
        await pool.query(
          `update notification_outbox
              set status = 'pending', leased_until = null, last_error = $3,
                  next_attempt_at = now() + make_interval(secs => $4::double precision / 1000)
            where id = $1 and lease_owner = $2 and status = 'sending'`,
          [row.id, this.owner, reason, delay],
        );
      }
      this.options.observe?.({ channel: row.channel, outcome: giveUp ? 'failed' : 'retried' });
      this.options.log?.(giveUp ? 'notification parked as failed' : 'notification to be retried', {
        id: row.id,
        channel: row.channel,
        reason,
      });
    }
  }
}
