import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Delivery, MessageSender } from '../domain/ports';
import { ProviderRefusedError, ProviderUnavailableError, type SandboxPush, type SandboxSms } from '../sandbox';

/** The domain of the Message-IDs the engine makes; no mailbox lives there. */
export const MESSAGE_ID_DOMAIN = 'order-engine.local';

/**
 * The Message-ID of the email sent under an idempotency key: the same key always makes the same id, so a relay or
 * mailbox that deduplicates by Message-ID (the sandbox mailbox does) delivers a resend once.
 */
export function messageIdFor(idempotencyKey: string): string {
  return `<${createHash('sha256').update(idempotencyKey).digest('hex')}@${MESSAGE_ID_DOMAIN}>`;
}

export interface SmtpEmailSenderOptions {
  /** `smtp://host:port`, `smtps://user:pass@host:465`, …: where mail is handed over. */
  url: string;
  /** The From header: `Order Engine <no-reply@order-engine.local>`. */
  from: string;
  /** Limit on opening the connection and on the server's greeting; 10 s unless told. */
  connectTimeoutMs?: number;
  /** Limit on a silent connection once open; 30 s unless told. */
  socketTimeoutMs?: number;
  /**
   * Connections kept open to the relay at most, one message at a time each; 5 unless told (the worker passes
   * NOTIFY_CONCURRENCY, the dispatcher's sends at once).
   */
  maxConnections?: number;
}

/** Messages one pooled connection carries before it is closed and another opened, as relays expect. */
const MESSAGES_PER_CONNECTION = 100;

/** What nodemailer's errors carry: its own code (ECONNECTION, EENVELOPE, …) and the SMTP reply, if one came. */
interface SmtpFailure {
  code?: string;
  responseCode?: number;
  message?: string;
}

/** Failures of the sender's own set-up (credentials, TLS): the message is fine, the operator fixes the relay. */
const SETUP_FAILURES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2', 'ETLS', 'EREQUIRETLS', 'ECONFIG', 'EPROXY', 'EDNS']);
/** Refused before any reply: no recipient, too many, a message that cannot be built. */
const MESSAGE_FAILURES = new Set(['EENVELOPE', 'EMESSAGE', 'EMAXRECIPIENTS']);

/**
 * ProviderRefused for what retrying the same message would get again: a permanent 5xx reply (550 recipient refused,
 * 552 too large, 553 bad address) or a message refused before sending. Everything else is ProviderUnavailable: no
 * connection, a timeout, a 4xx reply (try again later), 503 (a session out of step), and failures of the relay's
 * set-up such as a refused login, which the operator fixes while the delivery retries.
 */
export function smtpError(error: unknown): ProviderRefusedError | ProviderUnavailableError {
  const { code, responseCode, message } = (error ?? {}) as SmtpFailure;
  const what = `smtp: ${message ?? String(error)}`;
  const setup = code !== undefined && SETUP_FAILURES.has(code);
  if (!setup && responseCode !== undefined && responseCode >= 500 && responseCode < 600 && responseCode !== 503) {
    return new ProviderRefusedError(what);
  }
  if (responseCode === undefined && code !== undefined && MESSAGE_FAILURES.has(code)) {
    return new ProviderRefusedError(what);
  }
  return new ProviderUnavailableError(what);
}

/**
 * The email channel over SMTP (nodemailer, over a pool of kept-open connections, so a message costs its envelope and
 * data, not a connection and greeting): the sandbox mailbox outside production, the relay of SMTP_URL in production.
 * A connection the relay closed is replaced on the next message; a message it was carrying fails as unavailable and
 * is retried. The Message-ID comes from the idempotency key (messageIdFor) and is the provider's message id. SMTP
 * gives no idempotency of its own: a resend is recognised only by a relay that deduplicates by Message-ID (the sandbox
 * mailbox does); any other may deliver a resent message twice.
 */
export class SmtpEmailSender implements MessageSender {
  readonly channel = 'email' as const;
  private readonly transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(private readonly opts: SmtpEmailSenderOptions) {
    const connectTimeout = opts.connectTimeoutMs ?? 10_000;
    this.transport = nodemailer.createTransport({
      url: opts.url,
      pool: true,
      maxConnections: opts.maxConnections ?? 5,
      maxMessages: MESSAGES_PER_CONNECTION,
      connectionTimeout: connectTimeout,
      greetingTimeout: connectTimeout,
      socketTimeout: opts.socketTimeoutMs ?? 30_000,
    });
  }

  async send(delivery: Delivery): Promise<{ providerMessageId: string }> {
    if (!delivery.idempotencyKey) throw new ProviderRefusedError('smtp: an idempotency key is required');
    if (!delivery.to) throw new ProviderRefusedError('smtp: an email needs a recipient');
    const messageId = messageIdFor(delivery.idempotencyKey);
    try {
      await this.transport.sendMail({
        from: this.opts.from,
        to: delivery.to,
        subject: delivery.subject,
        text: delivery.text,
        ...(delivery.html === undefined ? {} : { html: delivery.html }),
        messageId,
        // The content is the engine's own text: never let it make nodemailer read a file or fetch a URL.
        disableFileAccess: true,
        disableUrlAccess: true,
      });
    } catch (error) {
      throw smtpError(error);
    }
    return { providerMessageId: messageId };
  }

  /** Closes the pooled connections; messages in flight finish. */
  close(): void {
    this.transport.close();
  }
}

/** The SMS channel through the sandbox gateway: the delivery's text (its subject is not sent) and link. */
export function sandboxSmsSender(sms: SandboxSms): MessageSender {
  return {
    channel: 'sms',
    async send(delivery) {
      const { messageId } = await sms.send({
        idempotencyKey: delivery.idempotencyKey,
        to: delivery.to,
        text: delivery.text,
        ...(delivery.link === undefined ? {} : { link: delivery.link }),
      });
      return { providerMessageId: messageId };
    },
  };
}

/** The push channel through the sandbox push service: the subject as title, the text as body, and the link. */
export function sandboxPushSender(push: SandboxPush): MessageSender {
  return {
    channel: 'push',
    async send(delivery) {
      const { messageId } = await push.send({
        idempotencyKey: delivery.idempotencyKey,
        to: delivery.to,
        title: delivery.subject,
        body: delivery.text,
        ...(delivery.link === undefined ? {} : { link: delivery.link }),
      });
      return { providerMessageId: messageId };
    },
  };
}
